//! Where an error points and how to fix it: the parts every message shares.
//!
//! Errors implement [`Diagnostic`] so the printer can show, after the message,
//! the source line with a caret, the cause chain and a hint that names an exact
//! command or flag.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::config::Redactor;

/// A position in a file the user wrote (config, migration), 1-based.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SourceLocation {
    /// The file, as the user named it (relative paths stay relative).
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The text of that line, for the snippet.
    #[serde(skip)]
    pub line_text: String,
    /// How many characters to underline (at least one).
    #[serde(skip)]
    pub width: usize,
}

impl SourceLocation {
    /// Locates byte range `start..end` of `source`, read from `path`.
    pub fn from_span(path: &Path, source: &str, start: usize, end: usize) -> Self {
        let start = floor_char_boundary(source, start.min(source.len()));
        let end = floor_char_boundary(source, end.clamp(start, source.len()));
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[start..]
            .find('\n')
            .map_or(source.len(), |i| start + i);
        let line = source[..start].matches('\n').count() + 1;
        let column = source[line_start..start].chars().count() + 1;
        let line_text = source[line_start..line_end]
            .trim_end_matches('\r')
            .to_owned();
        let width = source[start..end.min(line_end)].chars().count().max(1);
        Self {
            path: path.to_owned(),
            line,
            column,
            line_text,
            width,
        }
    }

    /// The snippet: the line with its number and a caret under the span.
    ///
    /// A long line is cut to a window around the span, and a long span's
    /// caret to [`SNIPPET_CHARS`], so a 10 MB value gives a one-screen
    /// snippet (issue 10, item 11).
    pub fn snippet(&self) -> String {
        let number = self.line.to_string();
        let pad = " ".repeat(number.len());
        let line_length = self.line_text.chars().count();
        let span_start = self.column.saturating_sub(1).min(line_length);
        // Up to a third of the window before the span, then the span (its
        // caret capped to what is left), then what follows while room is left.
        let context = span_start.min(SNIPPET_CHARS / 3);
        let width = self.width.clamp(1, SNIPPET_CHARS - context);
        let window_start = span_start - context;
        let window_end = (window_start + SNIPPET_CHARS).min(line_length);
        let before = if window_start > 0 { "…" } else { "" };
        let after = if window_end < line_length { "…" } else { "" };
        let shown: String = self
            .line_text
            .chars()
            .skip(window_start)
            .take(window_end - window_start)
            .collect();
        let indent = " ".repeat(span_start - window_start + before.chars().count());
        format!(
            "{pad} |\n{number} | {before}{shown}{after}\n{pad} | {indent}{}",
            "^".repeat(width)
        )
    }

    /// A copy with the path and line masked by `redactor`.
    #[must_use]
    pub fn redacted(&self, redactor: &Redactor) -> Self {
        let line_text = redactor.redact(&self.line_text);
        let path = self.path.to_string_lossy();
        let masked_path = redactor.redact(&path);
        Self {
            path: if masked_path == path {
                self.path.clone()
            } else {
                PathBuf::from(masked_path)
            },
            line: self.line,
            // The caret stays under the span only while the line is unchanged.
            column: if line_text == self.line_text {
                self.column
            } else {
                1
            },
            width: if line_text == self.line_text {
                self.width
            } else {
                line_text.chars().count().max(1)
            },
            line_text,
        }
    }
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.path.display(), self.line, self.column)
    }
}

/// How many characters of a source line a snippet shows.
pub const SNIPPET_CHARS: usize = 120;

/// How many characters of a user's value a message quotes.
pub const QUOTED_CHARS: usize = 200;

/// `value` as a message may quote it: whole when short, else its first
/// [`QUOTED_CHARS`] characters and how long it was, so a 10 MB value gives a
/// one-screen error (issue 10, item 11).
pub fn shorten(value: &str) -> Cow<'_, str> {
    match value.char_indices().nth(QUOTED_CHARS) {
        None => Cow::Borrowed(value),
        Some((end, _)) => Cow::Owned(format!("{}… ({} bytes)", &value[..end], value.len())),
    }
}

/// How many characters of one message line are shown.
pub const MESSAGE_LINE_CHARS: usize = 1000;

/// `message` with every `` `quoted` `` value [`shorten`]ed and every line cut
/// to [`MESSAGE_LINE_CHARS`]: the printer's net for errors that quote a
/// user's value whole. Mask secrets first, so a cut never leaves part of one.
pub fn shorten_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(4 * MESSAGE_LINE_CHARS));
    let mut parts = message.split('`');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    for (index, part) in parts.enumerate() {
        out.push('`');
        // Odd pieces (index 0, 2, …) sit between a pair of backticks.
        if index % 2 == 0 {
            out.push_str(&shorten(part));
        } else {
            out.push_str(part);
        }
    }
    out.split('\n')
        .map(|line| match line.char_indices().nth(MESSAGE_LINE_CHARS) {
            None => Cow::Borrowed(line),
            Some((end, _)) => Cow::Owned(format!("{}… ({} bytes)", &line[..end], line.len())),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while index > 0 && !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// Extra context an error can offer beyond its message and source chain.
pub trait Diagnostic: std::error::Error {
    /// Where in the user's files the problem is.
    fn location(&self) -> Option<&SourceLocation> {
        None
    }
    /// How to fix it: an exact command, flag or edit.
    fn hint(&self) -> Option<String> {
        None
    }
}

/// `a`, `b` → "`a`, `b`": names listed in a message.
pub fn backticked(names: &[String]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The name in `candidates` closest to `name`, when it is close enough to be a
/// likely typo ("did you mean").
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(distance, candidate)| *distance <= 2.max(candidate.len() / 3))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_spans_with_line_and_column() {
        let source = "a = 1\n[smoke]\nready_within = \"soon\"\n";
        let start = source.find("\"soon\"").unwrap();
        let location = SourceLocation::from_span(Path::new("x.toml"), source, start, start + 6);
        assert_eq!((location.line, location.column, location.width), (3, 16, 6));
        assert_eq!(location.to_string(), "x.toml:3:16");
        assert!(location.snippet().ends_with("|                ^^^^^^"));
    }

    #[test]
    fn long_lines_and_values_are_cut_to_one_screen() {
        // issue 10, item 11: a 10 MB value must not be echoed whole.
        let value = "x".repeat(10_000_000);
        let source = format!("url = \"{value}\"\n");
        let location = SourceLocation::from_span(Path::new("x.toml"), &source, 6, 6 + value.len());
        let snippet = location.snippet();
        assert!(snippet.len() < 2 * 4 * SNIPPET_CHARS, "{}", snippet.len());
        assert!(snippet.contains("1 | url = \"xxx"), "{snippet}");
        let caret_line = snippet.lines().last().unwrap();
        assert!(caret_line.trim_start_matches([' ', '|']).len() <= SNIPPET_CHARS);
        assert!(caret_line.starts_with("  |       ^"), "{caret_line}");
        let shortened = shorten(&value);
        assert!(shortened.ends_with("… (10000000 bytes)"), "{shortened}");
        assert!(shortened.len() < QUOTED_CHARS + 30);
        assert_eq!(shorten("short"), "short");
    }

    #[test]
    fn messages_quote_long_values_shortened() {
        // issue 10, item 11
        let value = "d".repeat(5000);
        let message = format!("invalid duration `{value}`: expected `5m`, not `{value}`");
        let shown = shorten_message(&message);
        assert_eq!(shown.matches("… (5000 bytes)`").count(), 2, "{shown}");
        assert!(shown.contains("`: expected `5m`, not `"), "{shown}");
        assert!(shown.len() < 2 * QUOTED_CHARS + 100);
        let unquoted = "e".repeat(5000);
        assert!(shorten_message(&unquoted).ends_with("… (5000 bytes)"));
        assert_eq!(shorten_message("a `b` c\nd"), "a `b` c\nd");
    }

    #[test]
    fn a_span_far_along_a_long_line_keeps_its_caret_under_it() {
        let source = format!("{} = bad", "k".repeat(1000));
        let start = source.find("bad").unwrap();
        let location = SourceLocation::from_span(Path::new("x.toml"), &source, start, start + 3);
        let snippet = location.snippet();
        let lines: Vec<&str> = snippet.lines().collect();
        let caret = lines[2].find('^').unwrap();
        let text: Vec<char> = lines[1].chars().collect();
        let caret_chars = lines[2][..caret].chars().count();
        assert_eq!(
            text[caret_chars..caret_chars + 3]
                .iter()
                .collect::<String>(),
            "bad",
            "{snippet}"
        );
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(suggest("ur", ["url", "database"]), Some("url"));
        assert_eq!(
            suggest("ready_witin", ["ready_within", "samples"]),
            Some("ready_within")
        );
        assert_eq!(suggest("zzzzzz", ["url", "database"]), None);
    }
}
