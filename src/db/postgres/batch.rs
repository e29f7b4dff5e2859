//! One migration file as one simple-query message (issue 10, "Performance"):
//! building the text, and telling from PostgreSQL's replies which part of it
//! failed.
//!
//! The message is `BEGIN; SET LOCAL …; SET LOCAL …;`, then the file's
//! statements as [`split`](super::split) found them, then (when the layout's
//! history row can be written as text) the history row and `COMMIT`.
//! PostgreSQL runs it in order, answers each statement with a
//! `CommandComplete` and stops at the first error, so the number of answers
//! before the error names the failing part. Running it, and what an error
//! means for the run, is the engine's (`super`).

use std::future::poll_fn;
use std::pin::pin;

use futures_core::Stream;
use tokio_postgres::{Client, SimpleQueryMessage};

use super::split::Statement;

/// How many statements the prefix holds: `BEGIN` and two `SET LOCAL`s.
const PREFIX_STATEMENTS: usize = 3;

/// The text of one file's message, and where each statement starts in it.
#[derive(Debug)]
pub(super) struct Batch {
    /// What is sent.
    pub(super) text: String,
    /// Byte offset in `text` of each statement's first character.
    pub(super) starts: Vec<usize>,
    /// Byte offset in `text` just past each statement.
    ends: Vec<usize>,
    /// Whether the message ends with the history row and `COMMIT`.
    pub(super) commits: bool,
}

/// The part of a [`Batch`] that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// `BEGIN` or a `SET LOCAL`.
    Begin,
    /// The file's statement at this index.
    Statement(usize),
    /// The history row.
    History,
    /// `COMMIT`.
    Commit,
}

impl Batch {
    /// `prefix` (exactly `BEGIN` and two `SET LOCAL`s, without a final
    /// `;`), then `statements`, then `history` and `COMMIT` when given.
    pub(super) fn new(prefix: &str, statements: &[Statement<'_>], history: Option<&str>) -> Self {
        let length = statements.iter().map(|s| s.text.len() + 3).sum::<usize>();
        let mut text = String::with_capacity(prefix.len() + length + 400);
        text.push_str(prefix);
        text.push_str(";\n");
        let mut starts = Vec::with_capacity(statements.len());
        let mut ends = Vec::with_capacity(statements.len());
        for statement in statements {
            starts.push(text.len());
            text.push_str(statement.text);
            ends.push(text.len());
            // A statement may end in a `--` comment: the `;` goes on a line
            // of its own so it is never commented out.
            text.push_str("\n;\n");
        }
        if let Some(history) = history {
            text.push_str(history);
            text.push_str(";\nCOMMIT");
        }
        Self {
            text,
            starts,
            ends,
            commits: history.is_some(),
        }
    }

    /// The part that failed, from PostgreSQL's error `position` (1-based,
    /// in characters of [`Batch::text`]) when it gave one, else from the
    /// count of parts that completed. A syntax error anywhere fails the
    /// message before any part runs (PostgreSQL parses it whole first), so
    /// only its position names the statement (issue 10).
    pub(super) fn failed_step(&self, position: Option<usize>, completed: usize) -> Step {
        let byte = position
            .and_then(|position| position.checked_sub(1))
            .and_then(|chars| self.text.char_indices().nth(chars))
            .map(|(byte, _)| byte);
        match byte {
            Some(byte) => match self
                .starts
                .iter()
                .zip(&self.ends)
                .position(|(&start, &end)| (start..end).contains(&byte))
            {
                Some(index) => Step::Statement(index),
                None => self.step(completed),
            },
            None => self.step(completed),
        }
    }

    /// The part that failed after `completed` parts succeeded.
    pub(super) fn step(&self, completed: usize) -> Step {
        let statements = self.starts.len();
        match completed.checked_sub(PREFIX_STATEMENTS) {
            None => Step::Begin,
            Some(index) if index < statements => Step::Statement(index),
            Some(index) if index == statements => Step::History,
            Some(_) => Step::Commit,
        }
    }
}

/// Runs `sql` as one simple-query message; on an error, also returns how
/// many of its statements completed before it.
pub(super) async fn run_counted(
    client: &Client,
    sql: &str,
) -> Result<(), (usize, tokio_postgres::Error)> {
    let stream = client
        .simple_query_raw(sql)
        .await
        .map_err(|error| (0, error))?;
    let mut stream = pin!(stream);
    let mut completed = 0;
    while let Some(message) = poll_fn(|context| stream.as_mut().poll_next(context)).await {
        match message {
            Ok(SimpleQueryMessage::CommandComplete(_)) => completed += 1,
            Ok(_) => {}
            Err(error) => return Err((completed, error)),
        }
    }
    Ok(())
}

/// `value` as a PostgreSQL string literal, as libpq's `PQescapeLiteral`
/// writes it: quotes doubled, and with backslashes doubled under an `E`
/// prefix, so it reads the same whatever `standard_conforming_strings` is.
pub(super) fn quote_literal(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 3);
    if value.contains('\\') {
        quoted.push('E');
    }
    quoted.push('\'');
    for character in value.chars() {
        if matches!(character, '\'' | '\\') {
            quoted.push(character);
        }
        quoted.push(character);
    }
    quoted.push('\'');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_statement_keeps_its_place_and_a_trailing_comment_cannot_swallow_the_rest() {
        let sql = "CREATE TABLE a (id int); -- first\nSELECT 1 -- no semicolon after this comment";
        let statements = crate::db::postgres::split::split(sql);
        let batch = Batch::new(
            "BEGIN; SET LOCAL a = 1; SET LOCAL b = 2",
            &statements,
            Some("INSERT 1"),
        );
        assert_eq!(
            batch.text,
            "BEGIN; SET LOCAL a = 1; SET LOCAL b = 2;\nCREATE TABLE a (id int)\n;\nSELECT 1 -- no semicolon after this comment\n;\nINSERT 1;\nCOMMIT"
        );
        for (statement, start) in statements.iter().zip(&batch.starts) {
            assert!(batch.text[*start..].starts_with(statement.text));
        }
        assert!(batch.commits);
    }

    #[test]
    fn the_count_of_answers_names_the_failing_part() {
        let statements = crate::db::postgres::split::split("SELECT 1; SELECT 2;");
        let batch = Batch::new(
            "BEGIN; SET LOCAL a = 1; SET LOCAL b = 2",
            &statements,
            Some("INSERT 1"),
        );
        let steps: Vec<Step> = (0..=6).map(|completed| batch.step(completed)).collect();
        assert_eq!(
            steps,
            [
                Step::Begin,
                Step::Begin,
                Step::Begin,
                Step::Statement(0),
                Step::Statement(1),
                Step::History,
                Step::Commit
            ]
        );
        let without_history =
            Batch::new("BEGIN; SET LOCAL a = 1; SET LOCAL b = 2", &statements, None);
        assert!(!without_history.commits && !without_history.text.contains("COMMIT"));
    }

    /// A syntax error fails the message before anything runs: its position,
    /// not the count of answers (0), names the statement.
    #[test]
    fn an_error_position_names_the_statement_it_falls_in() {
        let statements = crate::db::postgres::split::split("SELECT 1;\nSELECT é x;");
        let batch = Batch::new("BEGIN; SET LOCAL a = 1; SET LOCAL b = 2", &statements, None);
        let at = batch.text.find('x').unwrap();
        let position = batch.text[..at].chars().count() + 1;
        assert_eq!(batch.failed_step(Some(position), 0), Step::Statement(1));
        assert_eq!(batch.failed_step(None, 4), Step::Statement(1));
        assert_eq!(
            batch.failed_step(Some(1), 0),
            Step::Begin,
            "in the prefix: the count decides"
        );
    }

    #[test]
    fn literals_survive_quotes_and_backslashes() {
        assert_eq!(quote_literal("add_email"), "'add_email'");
        assert_eq!(quote_literal("o'brien"), "'o''brien'");
        assert_eq!(quote_literal(r"a\'b"), r"E'a\\''b'");
    }
}
