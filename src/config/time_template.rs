//! `{now}`, `{window_start}`, `{window_end}` and `{deploy_time}` placeholders
//! in `[[watch.metric]]` URLs and JSON bodies, with an optional format:
//! `{now:rfc3339}` (the default), `{now:unix}` (seconds) or `{now:unix_ms}`
//! (milliseconds). Issue 15, item 3.
//!
//! A placeholder is `{name}` or `{name:format}` where both are lowercase
//! words and `name` is one of the four. Queries use braces too (`PromQL`
//! matchers `{status=~"5.."}`, Datadog scopes `{service:shop}`), so such a
//! token stays text unless its name is a known one (then its format must
//! be known) or a near miss of one (`{window_strat}`): both of those are
//! rejected at load with the token. `{{` writes a literal `{`.
//! Taking the measurement, and so knowing the times, is left to `watch`.

use std::fmt;

/// A point in time a placeholder names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeName {
    /// `{now}` / `{window_end}`: the end of the queried window.
    WindowEnd,
    /// `{window_start}`: the start of the queried window.
    WindowStart,
    /// `{deploy_time}`: when the deploy finished.
    DeployTime,
}

/// How a time is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeFormat {
    /// `2026-12-06T22:36:47.123Z` (UTC, milliseconds).
    Rfc3339,
    /// Whole Unix seconds.
    Unix,
    /// Unix milliseconds.
    UnixMs,
}

/// The names a placeholder may use, as written.
pub const NAMES: [&str; 4] = ["now", "window_start", "window_end", "deploy_time"];
/// The formats a placeholder may use, as written.
pub const FORMATS: [&str; 3] = ["rfc3339", "unix", "unix_ms"];

/// One piece of a template.
#[derive(Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    Time(TimeName, TimeFormat),
}

/// A parsed template: text with time placeholders.
#[derive(Clone, PartialEq, Eq)]
pub struct TimeTemplate {
    segments: Vec<Segment>,
}

// The text may hold a resolved secret: never print it.
impl fmt::Debug for TimeTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeTemplate")
            .field("segments", &self.segments.len())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(_) => f.write_str("Text(..)"),
            Self::Time(name, format) => write!(f, "Time({name:?}, {format:?})"),
        }
    }
}

/// A placeholder-shaped token that is not a known placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// Byte offset of the `{` in the text.
    pub offset: usize,
    /// The token as written, e.g. `{nwo:unix}`.
    pub token: String,
    /// What is wrong with it.
    pub message: String,
    /// The closest valid name or format, when one is close.
    pub suggestion: Option<String>,
}

/// The times a template is rendered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    /// `{window_start}`.
    pub start: jiff::Timestamp,
    /// `{now}` / `{window_end}`.
    pub end: jiff::Timestamp,
    /// `{deploy_time}`.
    pub deploy: jiff::Timestamp,
}

impl TimeWindow {
    fn get(&self, name: TimeName) -> jiff::Timestamp {
        match name {
            TimeName::WindowEnd => self.end,
            TimeName::WindowStart => self.start,
            TimeName::DeployTime => self.deploy,
        }
    }
}

/// Writes `at` in `format` (RFC 3339 always in UTC with milliseconds, which
/// Prometheus, Sentry and the ISO 8601 parsers of most APIs accept).
pub fn format_time(at: jiff::Timestamp, format: TimeFormat) -> String {
    match format {
        TimeFormat::Rfc3339 => at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        TimeFormat::Unix => at.as_second().to_string(),
        TimeFormat::UnixMs => at.as_millisecond().to_string(),
    }
}

fn is_word(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_')
}

/// The close match of `word` among `known`, for "did you mean".
fn closest(word: &str, known: &[&str]) -> Option<String> {
    crate::diagnostic::suggest(word, known.iter().copied()).map(ToOwned::to_owned)
}

impl TimeTemplate {
    /// Parses `text`; an unknown placeholder name or format is an error.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        let mut offset = 0;
        // Each turn consumes at least one byte of `rest`, so the loop ends.
        while let Some(open) = rest.find('{') {
            literal.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            if let Some(escaped) = after.strip_prefix('{') {
                literal.push('{');
                offset += open + 2;
                rest = escaped;
                continue;
            }
            let token = after.find('}').map(|close| &after[..close]);
            let parsed = token.and_then(|inner| {
                let (name, format) = match inner.split_once(':') {
                    Some((name, format)) => (name, Some(format)),
                    None => (inner, None),
                };
                (is_word(name) && format.is_none_or(is_word)).then_some((inner, name, format))
            });
            let Some((inner, name, format)) = parsed else {
                // Not placeholder-shaped (e.g. a PromQL matcher): text.
                literal.push('{');
                offset += open + 1;
                rest = after;
                continue;
            };
            let error = |message: String, suggestion: Option<String>| TemplateError {
                offset: offset + open,
                token: format!("{{{inner}}}"),
                message,
                suggestion,
            };
            let time = match name {
                "now" | "window_end" => TimeName::WindowEnd,
                "window_start" => TimeName::WindowStart,
                "deploy_time" => TimeName::DeployTime,
                other => {
                    if let Some(close) = closest(other, &NAMES) {
                        return Err(error(format!("unknown placeholder `{other}`"), Some(close)));
                    }
                    // Far from every name: a query's own braces.
                    literal.push('{');
                    offset += open + 1;
                    rest = after;
                    continue;
                }
            };
            let format = match format {
                None | Some("rfc3339") => TimeFormat::Rfc3339,
                Some("unix") => TimeFormat::Unix,
                Some("unix_ms") => TimeFormat::UnixMs,
                Some(other) => {
                    return Err(error(
                        format!("unknown time format `{other}`"),
                        closest(other, &FORMATS),
                    ));
                }
            };
            if !literal.is_empty() {
                segments.push(Segment::Text(std::mem::take(&mut literal)));
            }
            segments.push(Segment::Time(time, format));
            let consumed = open + 1 + inner.len() + 1;
            offset += consumed;
            rest = &rest[consumed..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            segments.push(Segment::Text(literal));
        }
        Ok(Self { segments })
    }

    /// Whether it has at least one placeholder.
    pub fn has_placeholders(&self) -> bool {
        self.segments
            .iter()
            .any(|segment| matches!(segment, Segment::Time(..)))
    }

    /// The text with each placeholder replaced by `encode(time)`.
    pub fn render(&self, window: &TimeWindow, encode: impl Fn(&str) -> String) -> String {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Text(text) => out.push_str(text),
                Segment::Time(name, format) => {
                    out.push_str(&encode(&format_time(window.get(*name), *format)));
                }
            }
        }
        out
    }

    /// A whole-string Unix placeholder (`"{now:unix_ms}"`), which a JSON body
    /// sends as a number.
    pub fn as_number(&self, window: &TimeWindow) -> Option<i64> {
        match self.segments.as_slice() {
            [Segment::Time(name, TimeFormat::Unix)] => Some(window.get(*name).as_second()),
            [Segment::Time(name, TimeFormat::UnixMs)] => Some(window.get(*name).as_millisecond()),
            _ => None,
        }
    }

    /// The template as it could be written again (`{` of text doubled only
    /// where it would otherwise read as a placeholder).
    #[cfg(test)]
    fn source(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Text(text) => out.push_str(&text.replace('{', "{{")),
                Segment::Time(name, format) => {
                    let name = match name {
                        TimeName::WindowEnd => "now",
                        TimeName::WindowStart => "window_start",
                        TimeName::DeployTime => "deploy_time",
                    };
                    let format = match format {
                        TimeFormat::Rfc3339 => "rfc3339",
                        TimeFormat::Unix => "unix",
                        TimeFormat::UnixMs => "unix_ms",
                    };
                    let _ = write!(out, "{{{name}:{format}}}");
                }
            }
        }
        out
    }
}

/// Renders every string of a JSON body; a string that is exactly one Unix
/// placeholder becomes a number. Fails on the first unknown placeholder.
pub fn render_json(
    value: &serde_json::Value,
    window: &TimeWindow,
) -> Result<serde_json::Value, TemplateError> {
    use serde_json::Value;
    Ok(match value {
        Value::String(text) => {
            let template = TimeTemplate::parse(text)?;
            match template.as_number(window) {
                Some(number) => Value::from(number),
                None => Value::String(template.render(window, ToOwned::to_owned)),
            }
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| render_json(item, window))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| Ok((key.clone(), render_json(item, window)?)))
                .collect::<Result<_, TemplateError>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn window() -> TimeWindow {
        TimeWindow {
            start: jiff::Timestamp::from_second(1_700_000_000).unwrap(),
            end: jiff::Timestamp::from_millisecond(1_700_000_300_250).unwrap(),
            deploy: jiff::Timestamp::from_second(1_699_999_000).unwrap(),
        }
    }

    #[test]
    fn placeholders_are_filled_in_their_format() {
        let template =
            TimeTemplate::parse("from={window_start:unix}&to={now:unix_ms}&d={deploy_time}")
                .unwrap();
        assert_eq!(
            template.render(&window(), ToOwned::to_owned),
            "from=1700000000&to=1700000300250&d=2023-11-14T21:56:40.000Z"
        );
        assert_eq!(
            TimeTemplate::parse("{window_end:rfc3339}")
                .unwrap()
                .render(&window(), ToOwned::to_owned),
            "2023-11-14T22:18:20.250Z"
        );
    }

    #[test]
    fn promql_braces_stay_text_and_double_braces_escape() {
        let text = r#"query=sum(rate(x{status=~"5.."}[5m]))&t={{now}"#;
        let template = TimeTemplate::parse(text).unwrap();
        assert!(!template.has_placeholders());
        assert_eq!(
            template.render(&window(), ToOwned::to_owned),
            r#"query=sum(rate(x{status=~"5.."}[5m]))&t={now}"#
        );
        let datadog = "sum:errors{service:shop,env:prod}.as_count(){env:prod}";
        assert_eq!(
            TimeTemplate::parse(datadog)
                .unwrap()
                .render(&window(), ToOwned::to_owned),
            datadog
        );
    }

    #[test]
    fn unknown_names_and_formats_are_rejected_with_a_suggestion() {
        let error = TimeTemplate::parse("a?t={nwo}").unwrap_err();
        assert_eq!(error.offset, 4);
        assert_eq!(error.token, "{nwo}");
        assert_eq!(error.message, "unknown placeholder `nwo`");
        assert_eq!(error.suggestion.as_deref(), Some("now"));
        let error = TimeTemplate::parse("{now:unixms}").unwrap_err();
        assert_eq!(error.message, "unknown time format `unixms`");
        assert_eq!(error.suggestion.as_deref(), Some("unix_ms"));
    }

    #[test]
    fn a_json_body_gets_numbers_for_whole_unix_placeholders() {
        let body =
            serde_json::json!({"from": "{window_start:unix_ms}", "label": "to {now:unix}", "n": 1});
        assert_eq!(
            render_json(&body, &window()).unwrap(),
            serde_json::json!({"from": 1_700_000_000_000_i64, "label": "to 1700000300", "n": 1})
        );
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_known_tokens_never_survive(
            text in "([a-z_{}:\"=~.5 ]|now|unix_ms|window_start|deploy_time){0,40}"
        ) {
            match TimeTemplate::parse(&text) {
                Ok(template) => {
                    // Written back and parsed again, it is the same template.
                    prop_assert_eq!(TimeTemplate::parse(&template.source()).unwrap(), template.clone());
                    // Rendering leaves no known placeholder unfilled.
                    let rendered = template.render(&window(), ToOwned::to_owned);
                    for name in NAMES {
                        let token = format!("{{{name}}}");
                        if rendered.contains(&token) {
                            let escaped = format!("{{{token}");
                            prop_assert!(text.contains(&escaped), "{} came from {}", token, text);
                        }
                    }
                }
                Err(error) => {
                    prop_assert!(text[error.offset..].starts_with(&error.token));
                    // Rejected only when it names, or nearly names, a placeholder.
                    let name = error.token[1..error.token.len() - 1].split(':').next().unwrap_or_default();
                    prop_assert!(NAMES.contains(&name) || error.suggestion.is_some());
                }
            }
        }

        #[test]
        fn any_text_parses_or_fails_without_panicking(text in ".{0,60}") {
            let _ = TimeTemplate::parse(&text);
        }
    }
}
