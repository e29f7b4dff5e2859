//! Where an error points and how to fix it: the parts every message shares.
//!
//! Errors implement [`Diagnostic`] so the printer can show, after the message,
//! the source line with a caret, the cause chain and a hint that names an exact
//! command or flag.

use std::fmt;
use std::path::{Path, PathBuf};

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
    pub fn snippet(&self) -> String {
        let number = self.line.to_string();
        let pad = " ".repeat(number.len());
        let indent = " ".repeat(self.column.saturating_sub(1));
        format!(
            "{pad} |\n{number} | {}\n{pad} | {indent}{}",
            self.line_text,
            "^".repeat(self.width)
        )
    }
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.path.display(), self.line, self.column)
    }
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
    fn suggests_close_names_only() {
        assert_eq!(suggest("ur", ["url", "database"]), Some("url"));
        assert_eq!(
            suggest("ready_witin", ["ready_within", "samples"]),
            Some("ready_within")
        );
        assert_eq!(suggest("zzzzzz", ["url", "database"]), None);
    }
}
