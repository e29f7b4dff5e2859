//! A dbmate migration file read exactly as dbmate reads it
//! (amacneil/dbmate, `pkg/dbmate/migration.go`), so shipgate runs the same
//! statements `dbmate up` would and refuses what dbmate refuses.
//!
//! dbmate's rules, restated:
//! - a marker is `--`, optional blanks, `migrate:up` or `migrate:down`, then
//!   either nothing but blanks to the end of the line or blanks and a word
//!   (an option such as `transaction:false`), at the START of a line: an
//!   indented `-- migrate:down` or `-- migrate:downgrade …` is a comment;
//! - only blank and comment lines may precede the first `-- migrate:up`;
//! - each section needs a `-- migrate:down` after its `-- migrate:up`, and
//!   only one (so a file whose down section comes first is refused: its
//!   down statements precede the up marker);
//! - the up section is the text from its marker to the down marker; options
//!   are `key:value` words on the up line, and `transaction:false` (exactly)
//!   runs it outside a transaction.
//!
//! "Blank" is Go's `\s`: space, tab, newline, carriage return, form feed.
//! Several up/down sections in one file (dbmate 2.22) each run in their own
//! transaction; shipgate refuses them rather than run them differently.

use std::sync::LazyLock;

use regex::Regex;

/// Go's `\s` and `\S` (RE2's Perl classes), spelled out: Rust's `\s` is
/// Unicode-aware and would also match a no-break space.
macro_rules! go_regex {
    ($pattern:literal) => {
        LazyLock::new(|| {
            Regex::new(
                &$pattern
                    .replace(r"\S", r"[^\t\n\x0C\r ]")
                    .replace(r"\s", r"[\t\n\x0C\r ]"),
            )
            .expect("a valid pattern")
        })
    };
}

static UP: LazyLock<Regex> = go_regex!(r"(?m)^--\s*migrate:up(\s*$|\s+\S+)");
static DOWN: LazyLock<Regex> = go_regex!(r"(?m)^--\s*migrate:down(\s*$|\s+\S+)");
static DIRECTIVE: LazyLock<Regex> = go_regex!(r"^--\s*migrate:(up|down)");
static BLANK_LINE: LazyLock<Regex> = go_regex!(r"^\s*$");
static COMMENT_LINE: LazyLock<Regex> = go_regex!(r"^\s*--");
static BLANKS: LazyLock<Regex> = go_regex!(r"\s+");
/// A marker dbmate does not see because it is indented, for the hint.
static INDENTED_MARKER: LazyLock<Regex> = go_regex!(r"(?m)^[ \t]+--\s*migrate:(up|down)\b");

/// The up section of a file dbmate accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UpSection {
    /// Byte offset of the `-- migrate:up` marker.
    pub(crate) start: usize,
    /// Byte offset of the `-- migrate:down` marker (the up section's end).
    pub(crate) end: usize,
    /// Whether the up line says `transaction:false`.
    pub(crate) no_transaction: bool,
}

/// Why dbmate refuses a file: its reason, and the byte offset it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// dbmate's own message.
    pub(crate) reason: &'static str,
    /// Where (0 when the file as a whole is at fault).
    pub(crate) offset: usize,
    /// How to fix it.
    pub(crate) hint: String,
}

const MISSING_UP: &str =
    "dbmate requires each migration to define an up block with '-- migrate:up'";
const MISSING_DOWN: &str =
    "dbmate requires each migration to define a down block with '-- migrate:down'";
const UNEXPECTED_STATEMENT: &str =
    "dbmate does not support statements preceding the '-- migrate:up' block";
const MULTIPLE_DOWN: &str =
    "dbmate requires every '-- migrate:down' to be preceded by a '-- migrate:up'";
const SEVERAL_SECTIONS: &str = "shipgate runs one '-- migrate:up' section per dbmate file (dbmate runs each section in its own transaction)";

/// Reads `text` as dbmate does.
pub(crate) fn parse(text: &str) -> Result<UpSection, Refusal> {
    let ups: Vec<usize> = UP.find_iter(text).map(|found| found.start()).collect();
    let Some(&first) = ups.first() else {
        return Err(refusal(text, MISSING_UP, 0));
    };
    if let Some(offset) = statement_before(text, first) {
        return Err(refusal(text, UNEXPECTED_STATEMENT, offset));
    }
    if let Some(&second) = ups.get(1) {
        return Err(Refusal {
            reason: SEVERAL_SECTIONS,
            offset: second,
            hint: "move each `-- migrate:up` … `-- migrate:down` pair into a file of its own"
                .to_owned(),
        });
    }
    let section = &text[first..];
    let mut downs = DOWN.find_iter(section).map(|found| first + found.start());
    let Some(down) = downs.next() else {
        return Err(refusal(text, MISSING_DOWN, first));
    };
    if let Some(extra) = downs.next() {
        return Err(refusal(text, MULTIPLE_DOWN, extra));
    }
    Ok(UpSection {
        start: first,
        end: down,
        no_transaction: transaction_option(&text[first..down]).as_deref() == Some("false"),
    })
}

/// The down section of a file dbmate accepts: from its `-- migrate:down`
/// marker to the end of the file (one section per file), as `dbmate
/// rollback` runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DownSection {
    /// Byte offset of the `-- migrate:down` marker.
    pub(crate) start: usize,
    /// Whether the down line says `transaction:false`.
    pub(crate) no_transaction: bool,
}

/// Reads the down section of `text` as dbmate does (refusing what
/// [`parse`] refuses).
pub(crate) fn parse_down(text: &str) -> Result<DownSection, Refusal> {
    let up = parse(text)?;
    Ok(DownSection {
        start: up.end,
        no_transaction: transaction_option(&text[up.end..]).as_deref() == Some("false"),
    })
}

/// Whether `text` has a `-- migrate:up` marker dbmate sees.
pub(crate) fn has_up_marker(text: &str) -> bool {
    UP.is_match(text)
}

/// The offset of the first line before `up` that is neither blank nor a
/// comment (dbmate's `statementsPrecedeMigrateBlocks`).
fn statement_before(text: &str, up: usize) -> Option<usize> {
    let mut offset = 0;
    for line in text[..up].split('\n') {
        if !(BLANK_LINE.is_match(line) || COMMENT_LINE.is_match(line)) {
            return Some(offset);
        }
        offset += line.len() + 1;
    }
    None
}

/// The last `transaction:VALUE` option on the section's first line, as
/// dbmate's `parseMigrationOptions` reads it (later keys win; a word that
/// is not exactly `key:value` is ignored).
fn transaction_option(section: &str) -> Option<String> {
    let line = section.split('\n').next().unwrap_or_default();
    let options = DIRECTIVE.replace(line, "");
    let options = options.trim();
    if options.is_empty() {
        return None;
    }
    BLANKS
        .split(options)
        .filter_map(|word| {
            let mut parts = word.split(':');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("transaction"), Some(value), None) => Some(value.to_owned()),
                _ => None,
            }
        })
        .last()
}

/// A refusal at `offset`, with a hint that points out an indented marker
/// (the usual cause in real histories) when there is one.
fn refusal(text: &str, reason: &'static str, offset: usize) -> Refusal {
    let hint = match INDENTED_MARKER.find(text) {
        Some(indented) => {
            let line = text[..indented.start()].matches('\n').count() + 1;
            let offset_note = if matches!(reason, MISSING_UP | MISSING_DOWN) {
                ""
            } else {
                " (and check the rest of the file)"
            };
            format!(
                "line {line} holds an indented `{}`: dbmate reads markers only at the start of a line, so remove the indentation{offset_note}",
                indented.as_str().trim_start()
            )
        }
        None => match reason {
            MISSING_UP => "start the file with a `-- migrate:up` line".to_owned(),
            MISSING_DOWN => {
                "add a `-- migrate:down` line (at the start of a line) after the up statements"
                    .to_owned()
            }
            UNEXPECTED_STATEMENT => {
                "move the statement below `-- migrate:up`, or into a migration of its own"
                    .to_owned()
            }
            _ => "keep one `-- migrate:down` per section; indent or reword the others if they are comments"
                .to_owned(),
        },
    };
    Refusal {
        reason,
        offset,
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up_sql(text: &str) -> &str {
        let section = parse(text).unwrap();
        &text[section.start..section.end]
    }

    #[test]
    fn the_down_section_runs_from_its_marker_to_the_end() {
        let text =
            "-- migrate:up\nCREATE TABLE a ();\n-- migrate:down transaction:false\nDROP TABLE a;\n";
        let down = parse_down(text).unwrap();
        assert_eq!(
            &text[down.start..],
            "-- migrate:down transaction:false\nDROP TABLE a;\n"
        );
        assert!(down.no_transaction);
        let plain = "-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT 2;\n";
        assert!(!parse_down(plain).unwrap().no_transaction);
        assert!(parse_down("-- migrate:up\nSELECT 1;\n").is_err());
    }

    #[test]
    fn reads_the_up_section_and_its_options() {
        let text = "-- a comment\n\n-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY i ON t (a);\n-- migrate:down\nDROP INDEX i;\n";
        let section = parse(text).unwrap();
        assert!(section.no_transaction);
        assert_eq!(
            up_sql(text),
            "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY i ON t (a);\n"
        );
        assert!(
            !parse("--migrate:up\nSELECT 1;\n--   migrate:down\n")
                .unwrap()
                .no_transaction
        );
        assert!(
            !parse("-- migrate:up transaction:falsey\n-- migrate:down\n")
                .unwrap()
                .no_transaction
        );
        assert!(
            !parse("-- migrate:up\r\ntransaction:false\r\n-- migrate:down\r\n")
                .unwrap()
                .no_transaction
        );
        assert!(
            parse("-- migrate:up foo transaction:true transaction:false\r\n-- migrate:down\r\n")
                .unwrap()
                .no_transaction
        );
    }

    /// Issue 11, item 1: each of these used to cut or skip statements and
    /// record the file as applied.
    #[test]
    fn indented_and_longer_words_are_comments_not_markers() {
        let text = "-- migrate:up\nCREATE TABLE widget (id int);\n    -- migrate:down must also drop widget_audit\nCREATE TABLE widget_audit (id int);\n-- migrate:downgrade path: see docs\nCREATE TABLE widget_log (id int);\n-- migrate:down\nDROP TABLE widget;\n";
        let up = up_sql(text);
        assert!(
            up.contains("widget_audit (id int)") && up.contains("widget_log"),
            "{up}"
        );
        let function = "-- migrate:up\nCREATE FUNCTION f() RETURNS int AS $$\n    -- migrate:down inside a body\n  SELECT 1;\n$$ LANGUAGE sql;\n-- migrate:down\nDROP FUNCTION f;\n";
        assert!(up_sql(function).contains("$$ LANGUAGE sql;"));
    }

    #[test]
    fn refuses_what_dbmate_refuses() {
        let reason = |text: &str| parse(text).unwrap_err().reason;
        assert_eq!(reason("CREATE TABLE a (id int);\n"), MISSING_UP);
        assert_eq!(
            reason("-- migrate:up\nCREATE TABLE a (id int);\n"),
            MISSING_DOWN
        );
        assert_eq!(
            reason("CREATE TYPE s AS ENUM ('a');\n-- migrate:up\nSELECT 1;\n-- migrate:down\n"),
            UNEXPECTED_STATEMENT
        );
        assert_eq!(
            reason("-- migrate:down\nDROP TABLE a;\n-- migrate:up\nCREATE TABLE a (id int);\n"),
            UNEXPECTED_STATEMENT
        );
        assert_eq!(
            reason("-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT 2;\n-- migrate:down\n"),
            MULTIPLE_DOWN
        );
        assert_eq!(
            reason(
                "-- migrate:up\nSELECT 1;\n-- migrate:down\n-- migrate:up\nSELECT 2;\n-- migrate:down\n"
            ),
            SEVERAL_SECTIONS
        );
        let indented = parse("  -- migrate:up\nSELECT 1;\n  -- migrate:down\n").unwrap_err();
        assert_eq!(indented.reason, MISSING_UP);
        assert!(
            indented
                .hint
                .starts_with("line 1 holds an indented `-- migrate:up`"),
            "{}",
            indented.hint
        );
        let statement = parse("\n\nSELECT 0;\n-- migrate:up\n-- migrate:down\n").unwrap_err();
        assert_eq!(statement.offset, 2);
    }

    mod properties {
        //! The parser on arbitrary text: no panic, and an accepted file's up
        //! section starts at a column-0 marker before its down marker.
        use proptest::prelude::*;

        use super::super::*;

        fn within_bounds(text: &str) -> Result<(), TestCaseError> {
            match parse(text) {
                Ok(section) => {
                    prop_assert!(section.start <= section.end && section.end <= text.len());
                    prop_assert!(text[section.start..].starts_with("--"));
                    prop_assert!(section.start == 0 || text.as_bytes()[section.start - 1] == b'\n');
                    prop_assert!(text[section.end..].starts_with("--"));
                }
                Err(refusal) => {
                    prop_assert!(refusal.offset <= text.len());
                    prop_assert!(!refusal.hint.is_empty());
                }
            }
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn marker_soup_is_read_or_refused_within_bounds(
                text in "((-- ?migrate:(up|down)( transaction:false|grade| x)?| +-- migrate:down|SELECT 1;|\\r|\\$\\$|-- c)\\n?){0,12}"
            ) {
                within_bounds(&text)?;
            }

            #[test]
            fn any_text_is_read_or_refused_within_bounds(text in ".{0,200}") {
                within_bounds(&text)?;
            }
        }
    }
}
