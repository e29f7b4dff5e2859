//! Short, printable excerpts of response bodies and JSON documents for failure
//! reports.
//!
//! Excerpts are cut on character boundaries (never inside a UTF-8 sequence) and
//! control characters are replaced, so a hostile body cannot drive the
//! terminal. Masking secrets is left to the printer, which redacts every line.

use serde_json::Value;

/// How many characters of a response body a failing check shows.
pub(crate) const BODY_EXCERPT_CHARS: usize = 300;

/// How many characters of a JSON document an assertion's `actual` shows.
pub(crate) const DOCUMENT_EXCERPT_CHARS: usize = 200;

/// Marks text that was cut.
const ELLIPSIS: char = '…';

/// The first `max_chars` characters of `body`, decoded lossily, with control
/// characters other than newline and tab replaced; `…` marks a cut.
pub(crate) fn body(body: &[u8], max_chars: usize) -> String {
    // Every character takes at most four bytes, so this prefix holds enough.
    let prefix = &body[..body
        .len()
        .min(max_chars.saturating_mul(4).saturating_add(4))];
    let text = String::from_utf8_lossy(prefix);
    let mut out = String::with_capacity(max_chars.min(text.len()));
    let mut chars = text.chars();
    for character in chars.by_ref().take(max_chars) {
        match character {
            '\r' => {}
            '\n' | '\t' => out.push(character),
            character if character.is_control() => out.push(char::REPLACEMENT_CHARACTER),
            character => out.push(character),
        }
    }
    if chars.next().is_some() || prefix.len() < body.len() {
        out.push(ELLIPSIS);
    }
    out
}

/// The body excerpt on one line (newlines and tabs become spaces), for
/// `actual` values that the report prints on a single line.
pub(crate) fn one_line(body_bytes: &[u8], max_chars: usize) -> String {
    let text = body(body_bytes, max_chars);
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// `value` as compact JSON, cut after `max_chars` characters.
pub(crate) fn json(value: &Value, max_chars: usize) -> String {
    let text = value.to_string();
    body(text.as_bytes(), max_chars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_bodies_are_kept_whole() {
        assert_eq!(body(b"{\"status\":\"ok\"}", 300), "{\"status\":\"ok\"}");
        assert_eq!(body(b"", 300), "");
    }

    #[test]
    fn long_bodies_are_cut_on_character_boundaries() {
        let text = "é".repeat(400);
        let excerpt = body(text.as_bytes(), 300);
        assert_eq!(excerpt.chars().count(), 301);
        assert!(excerpt.ends_with("é…"));
    }

    #[test]
    fn a_cut_inside_a_multibyte_character_is_not_garbled() {
        let text = "€".repeat(5);
        assert_eq!(body(text.as_bytes(), 2), "€€…");
    }

    #[test]
    fn control_characters_are_replaced() {
        assert_eq!(body(b"a\x1b[31mb\r\nc\td", 300), "a\u{fffd}[31mb\nc\td");
    }

    #[test]
    fn invalid_utf8_is_decoded_lossily() {
        assert_eq!(body(&[b'a', 0xff, b'b'], 300), "a\u{fffd}b");
    }

    #[test]
    fn one_line_collapses_whitespace() {
        assert_eq!(
            one_line(b"<html>\n  <body>oops</body>\n</html>", 300),
            "<html> <body>oops</body> </html>"
        );
    }

    #[test]
    fn json_is_compact_and_cut() {
        let value = serde_json::json!({ "checks": [1, 2, 3], "status": "degraded" });
        assert_eq!(
            json(&value, 200),
            r#"{"checks":[1,2,3],"status":"degraded"}"#
        );
        assert_eq!(json(&value, 10), r#"{"checks":…"#);
    }
}
