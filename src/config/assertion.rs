//! Smoke assertions as data, and the parser for the hurl-like lines that
//! write them: `assert = ['jsonpath "$.status" == "healthy"']`.
//!
//! A line is `SUBJECT [FILTER] [not] PREDICATE [VALUE]`. Subjects: `status`,
//! `header "NAME"`, `jsonpath "PATH"` (filter `count`), `body`, `duration`
//! (milliseconds, or a value with a unit like `500ms`), `content-type`,
//! `certificate "Subject" | "Issuer" | "Expire-Date" daysAfterNow`.
//! Predicates: `==`, `!=`, `<`, `<=`, `>`, `>=`, `exists`, `contains`,
//! `matches`, `in [..]`. Values are JSON literals (`"text"`, `12`, `0.5`,
//! `true`, `null`), a status class (`2xx`) or a list for `in`. Judging a
//! response is left to `smoke/assertion.rs`.

use std::fmt::{self, Write as _};
use std::time::Duration;

use regex::Regex;
use serde_json::Value;
use serde_json_path::JsonPath;

/// One assertion: what it looks at, how it judges it, and its text for reports.
#[derive(Debug, Clone)]
pub struct Assertion {
    /// How the assertion reads in reports, e.g. `jsonpath "$.status" == "ok"`.
    pub text: String,
    /// What part of the response it judges.
    pub subject: Subject,
    /// `not`: the predicate must fail.
    pub negated: bool,
    /// How it judges.
    pub predicate: Predicate,
}

impl fmt::Display for Assertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The part of a response an assertion judges.
#[derive(Debug, Clone)]
pub enum Subject {
    /// The status code.
    Status,
    /// Every value of a header (name as written).
    Header(String),
    /// The nodes an RFC 9535 path selects in the JSON body.
    JsonPath {
        /// The path as written.
        text: String,
        /// The compiled path.
        path: JsonPath,
        /// `count`: judge how many items were selected.
        count: bool,
    },
    /// The body as text.
    Body,
    /// The time the response took, in milliseconds.
    Duration,
    /// The media type of `Content-Type`, lower case, without parameters.
    ContentType,
    /// A field of the server's TLS certificate.
    Certificate(CertificateField),
}

/// Fields of the server's certificate an assertion can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateField {
    /// The subject's distinguished name, e.g. `CN=app.example.com`.
    Subject,
    /// The issuer's distinguished name.
    Issuer,
    /// Whole days until the certificate expires.
    ExpireDays,
}

/// How an assertion judges its subject.
#[derive(Debug, Clone)]
pub enum Predicate {
    /// `== != < <= > >=` against a value.
    Compare(Comparison, Operand),
    /// `in [a, b]`: equal to one of them.
    In(Vec<Operand>),
    /// `exists`: the subject is present.
    Exists,
    /// `contains`: substring of a string, or element of an array.
    Contains(Value),
    /// `matches`: the string matches a regular expression.
    Matches(Regex),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `==`
    Equal,
    /// `!=`
    NotEqual,
    /// `<`
    Less,
    /// `<=`
    LessOrEqual,
    /// `>`
    Greater,
    /// `>=`
    GreaterOrEqual,
}

impl Comparison {
    /// Whether `ordering` (actual compared with expected) satisfies it.
    pub fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            Self::Equal => ordering == Equal,
            Self::NotEqual => ordering != Equal,
            Self::Less => ordering == Less,
            Self::LessOrEqual => ordering != Greater,
            Self::Greater => ordering == Greater,
            Self::GreaterOrEqual => ordering != Less,
        }
    }

    /// Parses `==`, `<=`, … .
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "==" => Self::Equal,
            "!=" => Self::NotEqual,
            "<" => Self::Less,
            "<=" => Self::LessOrEqual,
            ">" => Self::Greater,
            ">=" => Self::GreaterOrEqual,
            _ => return None,
        })
    }
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A JSON value: string, number, boolean or null.
    Value(Value),
    /// A status class such as `2xx` (the hundreds digit).
    StatusClass(u16),
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Value(value) => write!(f, "{value}"),
            Self::StatusClass(class) => write!(f, "{class}xx"),
        }
    }
}

impl Assertion {
    /// `status 200`, `status in [200, 204]` or `status 2xx` from the
    /// `expect.status` shorthand.
    pub fn status(operands: Vec<Operand>) -> Self {
        let text = match operands.as_slice() {
            [one] => format!("status {one}"),
            many => format!(
                "status in [{}]",
                many.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let predicate = match <[Operand; 1]>::try_from(operands) {
            Ok([one]) => Predicate::Compare(Comparison::Equal, one),
            Err(many) => Predicate::In(many),
        };
        Self {
            text,
            subject: Subject::Status,
            negated: false,
            predicate,
        }
    }

    /// `"$.status" == "healthy"` from the `expect.json` shorthand.
    pub fn json_equals(text: &str, path: JsonPath, value: Value) -> Self {
        Self {
            text: format!("{} == {value}", Value::String(text.to_owned())),
            subject: Subject::JsonPath {
                text: text.to_owned(),
                path,
                count: false,
            },
            negated: false,
            predicate: Predicate::Compare(Comparison::Equal, Operand::Value(value)),
        }
    }

    /// Whether this judges the status (status assertions run first).
    pub fn is_status(&self) -> bool {
        matches!(self.subject, Subject::Status)
    }
}

/// `capture = { token = 'jsonpath "$.token"' }`: a value a flow step takes
/// from its response into a variable for later steps.
#[derive(Debug, Clone)]
pub struct Capture {
    /// The variable, used later as `{{name}}`.
    pub variable: String,
    /// Where the value comes from.
    pub source: CaptureSource,
}

/// Where a captured value comes from.
#[derive(Debug, Clone)]
pub enum CaptureSource {
    /// The one node a path selects (a string as is, anything else as JSON).
    JsonPath {
        /// The path as written.
        text: String,
        /// The compiled path.
        path: JsonPath,
    },
    /// The first value of a header.
    Header(String),
}

impl fmt::Display for CaptureSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::JsonPath { text, .. } => write!(f, "jsonpath {}", Value::String(text.clone())),
            Self::Header(name) => write!(f, "header {}", Value::String(name.clone())),
        }
    }
}

/// Parses a capture source: `jsonpath "PATH"` or `header "NAME"`.
pub(super) fn parse_capture(spec: &str) -> Result<CaptureSource, String> {
    let tokens = tokenize(spec)?;
    match tokens.as_slice() {
        [Token::Word(kind), Token::Quoted(argument)] if kind.eq_ignore_ascii_case("jsonpath") => {
            let path = JsonPath::parse(argument)
                .map_err(|error| format!("invalid JSONPath `{argument}`: {error}"))?;
            Ok(CaptureSource::JsonPath {
                text: argument.clone(),
                path,
            })
        }
        [Token::Word(kind), Token::Quoted(argument)] if kind.eq_ignore_ascii_case("header") => {
            Ok(CaptureSource::Header(argument.clone()))
        }
        _ => Err("write `jsonpath \"PATH\"` or `header \"NAME\"`".to_owned()),
    }
}

/// Parses one `assert` line; the error says what is wrong, for a config error.
pub(crate) fn parse(line: &str) -> Result<Assertion, String> {
    let tokens = tokenize(line)?;
    let mut tokens = tokens.into_iter().peekable();
    let subject_word = match tokens.next() {
        Some(Token::Word(word)) => word.to_ascii_lowercase(),
        Some(other) => return Err(format!("expected a subject, found {other}")),
        None => return Err("the assertion is empty".to_owned()),
    };
    let mut argument = |what: &str| match tokens.next() {
        Some(Token::Quoted(text)) => Ok(text),
        _ => Err(format!(
            "`{subject_word}` needs a quoted {what}, e.g. `{subject_word} \"{}\"`",
            match what {
                "path" => "$.status",
                "field" => "Expire-Date",
                _ => "Content-Type",
            }
        )),
    };
    let subject = match subject_word.as_str() {
        "status" => Subject::Status,
        "body" => Subject::Body,
        "duration" => Subject::Duration,
        "content-type" => Subject::ContentType,
        "header" => Subject::Header(argument("header name")?),
        "jsonpath" => {
            let text = argument("path")?;
            let path = JsonPath::parse(&text)
                .map_err(|error| format!("invalid JSONPath `{text}`: {error}"))?;
            Subject::JsonPath {
                text,
                path,
                count: false,
            }
        }
        "certificate" => {
            let field = argument("field")?;
            Subject::Certificate(match field.to_ascii_lowercase().as_str() {
                "subject" => CertificateField::Subject,
                "issuer" => CertificateField::Issuer,
                "expire-date" => CertificateField::ExpireDays,
                _ => {
                    return Err(format!(
                        "unknown certificate field `{field}`: use `\"Subject\"`, `\"Issuer\"` or `\"Expire-Date\" daysAfterNow`"
                    ));
                }
            })
        }
        other => {
            return Err(format!(
                "unknown subject `{other}`: use `status`, `header`, `jsonpath`, `body`, `duration`, `content-type` or `certificate`"
            ));
        }
    };
    let mut subject = subject;
    // Filters between the subject and the predicate.
    match (&mut subject, tokens.peek()) {
        (Subject::JsonPath { count, .. }, Some(Token::Word(word))) if word == "count" => {
            *count = true;
            tokens.next();
        }
        (Subject::Certificate(CertificateField::ExpireDays), next) => match next {
            Some(Token::Word(word)) if word == "daysAfterNow" => {
                tokens.next();
            }
            _ => {
                return Err(
                    "`certificate \"Expire-Date\"` needs the `daysAfterNow` filter, e.g. `certificate \"Expire-Date\" daysAfterNow > 14`"
                        .to_owned(),
                );
            }
        },
        _ => {}
    }
    let mut negated = false;
    if matches!(tokens.peek(), Some(Token::Word(word)) if word == "not") {
        negated = true;
        tokens.next();
    }
    let predicate = predicate(&subject_word, &subject, &mut tokens)?;
    if let Some(extra) = tokens.next() {
        return Err(format!("unexpected {extra} after the predicate"));
    }
    Ok(Assertion {
        text: line.trim().to_owned(),
        subject,
        negated,
        predicate,
    })
}

type Tokens = std::iter::Peekable<std::vec::IntoIter<Token>>;

/// The predicate and its operand, after the subject and `not`.
fn predicate(
    subject_word: &str,
    subject: &Subject,
    tokens: &mut Tokens,
) -> Result<Predicate, String> {
    let predicate_word = match tokens.next() {
        Some(Token::Word(word)) => word,
        Some(other) => return Err(format!("expected a predicate, found {other}")),
        None => {
            return Err(
                "missing predicate: use `==`, `!=`, `<`, `<=`, `>`, `>=`, `exists`, `contains`, `matches` or `in`"
                    .to_owned(),
            );
        }
    };
    let predicate = if let Some(comparison) = Comparison::parse(&predicate_word) {
        let operand = operand(subject, tokens.next())?;
        if matches!(operand, Operand::StatusClass(_))
            && !matches!(comparison, Comparison::Equal | Comparison::NotEqual)
        {
            return Err("a status class like `2xx` only works with `==`, `!=` or `in`".to_owned());
        }
        check_ordering(subject, comparison, &operand)?;
        Predicate::Compare(comparison, operand)
    } else {
        match predicate_word.as_str() {
            "exists" => {
                if matches!(subject, Subject::Status | Subject::Duration | Subject::Body) {
                    return Err(format!(
                        "`{subject_word}` always exists; compare it instead"
                    ));
                }
                Predicate::Exists
            }
            "contains" => match operand(subject, tokens.next())? {
                Operand::Value(value) => Predicate::Contains(value),
                Operand::StatusClass(_) => return Err("`contains` needs a value".to_owned()),
            },
            "matches" => {
                match tokens.next() {
                    Some(Token::Quoted(pattern)) => {
                        Predicate::Matches(Regex::new(&pattern).map_err(|error| {
                            format!("invalid regular expression `{pattern}`: {error}")
                        })?)
                    }
                    _ => return Err(
                        "`matches` needs a quoted regular expression, e.g. `matches \"^v[0-9]+\"`"
                            .to_owned(),
                    ),
                }
            }
            "in" => {
                if tokens.next() != Some(Token::Open) {
                    return Err("`in` needs a list, e.g. `in [200, 204]`".to_owned());
                }
                let mut operands = Vec::new();
                loop {
                    match tokens.next() {
                        Some(Token::Close) if !operands.is_empty() => break,
                        Some(Token::Comma) if !operands.is_empty() => {}
                        Some(token @ (Token::Word(_) | Token::Quoted(_))) => {
                            operands.push(operand(subject, Some(token))?);
                        }
                        _ => return Err("`in` needs a list, e.g. `in [200, 204]`".to_owned()),
                    }
                }
                Predicate::In(operands)
            }
            other => {
                return Err(format!(
                    "unknown predicate `{other}`: use `==`, `!=`, `<`, `<=`, `>`, `>=`, `exists`, `contains`, `matches` or `in`"
                ));
            }
        }
    };
    Ok(predicate)
}

/// Numbers only for subjects that are numbers.
fn check_ordering(
    subject: &Subject,
    comparison: Comparison,
    operand: &Operand,
) -> Result<(), String> {
    let numeric = matches!(
        subject,
        Subject::Status
            | Subject::Duration
            | Subject::Certificate(CertificateField::ExpireDays)
            | Subject::JsonPath { count: true, .. }
    );
    let is_number = matches!(
        operand,
        Operand::Value(Value::Number(_)) | Operand::StatusClass(_)
    );
    if numeric && !is_number {
        return Err(format!(
            "expected a number after `{}`",
            comparison_text(comparison)
        ));
    }
    Ok(())
}

fn comparison_text(comparison: Comparison) -> &'static str {
    match comparison {
        Comparison::Equal => "==",
        Comparison::NotEqual => "!=",
        Comparison::Less => "<",
        Comparison::LessOrEqual => "<=",
        Comparison::Greater => ">",
        Comparison::GreaterOrEqual => ">=",
    }
}

/// A value token as the subject reads it: `2xx` for status, `500ms` for
/// duration (in milliseconds), else a JSON literal.
fn operand(subject: &Subject, token: Option<Token>) -> Result<Operand, String> {
    match token {
        Some(Token::Quoted(text)) => Ok(Operand::Value(Value::String(text))),
        Some(Token::Word(word)) => {
            if matches!(subject, Subject::Status) {
                if let Some(class) = status_class(&word) {
                    return Ok(Operand::StatusClass(class));
                }
            }
            if matches!(subject, Subject::Duration) && !word.chars().all(|c| c.is_ascii_digit()) {
                let duration: Duration = humantime::parse_duration(&word).map_err(|_| {
                    format!("invalid duration `{word}`: write milliseconds (`500`) or a unit (`500ms`, `2s`)")
                })?;
                return Ok(Operand::Value(Value::from(
                    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
                )));
            }
            match serde_json::from_str::<Value>(&word) {
                Ok(value @ (Value::Number(_) | Value::Bool(_) | Value::Null)) => {
                    Ok(Operand::Value(value))
                }
                _ => Err(format!(
                    "invalid value `{word}`: quote text (`\"{word}\"`), or write a number, `true`, `false` or `null`"
                )),
            }
        }
        Some(other) => Err(format!("expected a value, found {other}")),
        None => Err("missing value after the predicate".to_owned()),
    }
}

/// `2xx` → 2.
pub fn status_class(word: &str) -> Option<u16> {
    let lower = word.to_ascii_lowercase();
    let digit = lower.strip_suffix("xx")?;
    match digit {
        "1" | "2" | "3" | "4" | "5" => digit.parse().ok(),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Open,
    Close,
    Comma,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Word(word) => write!(f, "`{word}`"),
            Self::Quoted(text) => write!(f, "{}", Value::String(text.clone())),
            Self::Open => f.write_str("`[`"),
            Self::Close => f.write_str("`]`"),
            Self::Comma => f.write_str("`,`"),
        }
    }
}

/// The hint for a JSONPath that does not parse because a `.name` shorthand
/// holds characters RFC 9535 does not allow there (only letters, digits and
/// `_`, not starting with a digit): the exact bracket form to write, e.g.
/// `$.headers.X-Probe` → `$.headers['X-Probe']`. `None` for other mistakes.
pub(crate) fn bracket_hint(path: &str) -> Option<String> {
    let fixed = bracket_form(path)?;
    Some(format!(
        "a member name with characters other than letters, digits and `_` needs brackets: write `{fixed}` instead of `{path}`"
    ))
}

/// [`bracket_hint`] for an `assert` line or a `capture` source: the path
/// after `jsonpath`, and how to quote a line that holds `'` in TOML.
pub(crate) fn line_bracket_hint(line: &str) -> Option<String> {
    let tokens = tokenize(line).ok()?;
    match tokens.as_slice() {
        [Token::Word(kind), Token::Quoted(path), ..] if kind.eq_ignore_ascii_case("jsonpath") => {
            bracket_hint(path).map(|hint| {
                format!("{hint} (in TOML, quote a line holding `'` with `'''`: `'''jsonpath \"{}\" …'''`)", bracket_form(path).unwrap_or_default())
            })
        }
        _ => None,
    }
}

/// `path` with every `.name` / `..name` shorthand that is not a valid RFC
/// 9535 member-name-shorthand rewritten as `['name']`, outside brackets;
/// `None` when nothing changed or the result still does not parse.
pub(crate) fn bracket_form(path: &str) -> Option<String> {
    let chars: Vec<char> = path.chars().collect();
    let mut out = String::with_capacity(path.len() + 8);
    let mut changed = false;
    let mut depth = 0_usize;
    let mut quote: Option<char> = None;
    let mut index = 0;
    // Every branch consumes at least one character, so the scan ends.
    while index < chars.len() {
        let character = chars[index];
        if let Some(open) = quote {
            out.push(character);
            index += 1;
            if character == '\\' {
                if let Some(&next) = chars.get(index) {
                    out.push(next);
                    index += 1;
                }
            } else if character == open {
                quote = None;
            }
            continue;
        }
        match character {
            '\'' | '"' if depth > 0 => quote = Some(character),
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            '.' if depth == 0 => {
                let descendant = chars.get(index + 1) == Some(&'.');
                let start = index + if descendant { 2 } else { 1 };
                let mut end = start;
                while end < chars.len() && !matches!(chars[end], '.' | '[') {
                    end += 1;
                }
                let name: String = chars[start..end].iter().collect();
                if name.is_empty() || name == "*" || is_member_shorthand(&name) {
                    out.extend(&chars[index..end]);
                } else {
                    out.push_str(if descendant { ".." } else { "" });
                    out.push_str(&bracketed(&name));
                    changed = true;
                }
                index = end;
                continue;
            }
            _ => {}
        }
        out.push(character);
        index += 1;
    }
    (changed && JsonPath::parse(&out).is_ok()).then_some(out)
}

/// RFC 9535 `member-name-shorthand`: a letter, `_` or non-ASCII character,
/// then also digits.
fn is_member_shorthand(name: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphabetic() || c == '_' || !c.is_ascii();
    let mut chars = name.chars();
    chars.next().is_some_and(allowed) && chars.all(|c| allowed(c) || c.is_ascii_digit())
}

/// `['name']`, escaping `\`, `'` and control characters.
fn bracketed(name: &str) -> String {
    let mut out = String::from("['");
    for c in name.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push_str("']");
    out
}

fn tokenize(line: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = line.char_indices().peekable();
    while let Some(&(start, character)) = chars.peek() {
        match character {
            c if c.is_whitespace() => {
                chars.next();
            }
            '[' | ']' | ',' => {
                chars.next();
                tokens.push(match character {
                    '[' => Token::Open,
                    ']' => Token::Close,
                    _ => Token::Comma,
                });
            }
            '"' => {
                chars.next();
                let mut escaped = false;
                let mut end = None;
                for (index, c) in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        end = Some(index);
                        break;
                    }
                }
                let end = end.ok_or_else(|| "a quoted value is not closed with `\"`".to_owned())?;
                let text: String = serde_json::from_str(&line[start..=end]).map_err(|error| {
                    format!("invalid quoted value {}: {error}", &line[start..=end])
                })?;
                tokens.push(Token::Quoted(text));
            }
            _ => {
                let mut end = line.len();
                while let Some(&(index, c)) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '[' | ']' | ',' | '"') {
                        end = index;
                        break;
                    }
                    chars.next();
                }
                tokens.push(Token::Word(line[start..end].to_owned()));
            }
        }
    }
    Ok(tokens)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parses_every_subject() {
        let line = parse(r#"jsonpath "$.items" count >= 2"#).unwrap();
        assert!(matches!(
            line.subject,
            Subject::JsonPath { count: true, .. }
        ));
        assert!(matches!(
            line.predicate,
            Predicate::Compare(Comparison::GreaterOrEqual, Operand::Value(ref v)) if *v == json!(2)
        ));
        let line = parse(r#"header "X-Cache" not exists"#).unwrap();
        assert!(line.negated && matches!(line.predicate, Predicate::Exists));
        let line = parse("status in [200, 204, 3xx]").unwrap();
        assert!(
            matches!(&line.predicate, Predicate::In(list) if list.len() == 3 && list[2] == Operand::StatusClass(3))
        );
        let line = parse("duration < 1.5s").unwrap();
        assert!(matches!(
            line.predicate,
            Predicate::Compare(Comparison::Less, Operand::Value(ref v)) if *v == json!(1500)
        ));
        let line = parse(r#"certificate "Expire-Date" daysAfterNow > 14"#).unwrap();
        assert!(matches!(
            line.subject,
            Subject::Certificate(CertificateField::ExpireDays)
        ));
        let line = parse(r#"body matches "v[0-9]+""#).unwrap();
        assert!(matches!(line.predicate, Predicate::Matches(_)));
        assert_eq!(line.text, r#"body matches "v[0-9]+""#);
        let line = parse(r#"jsonpath "$.deleted" == null"#).unwrap();
        assert!(matches!(
            line.predicate,
            Predicate::Compare(Comparison::Equal, Operand::Value(Value::Null))
        ));
    }

    #[test]
    fn explains_what_is_wrong() {
        let error = |line: &str| parse(line).unwrap_err();
        assert_eq!(
            error("stauts == 200"),
            "unknown subject `stauts`: use `status`, `header`, `jsonpath`, `body`, `duration`, `content-type` or `certificate`"
        );
        assert_eq!(
            error(r#"jsonpath "$.a" equals 1"#),
            "unknown predicate `equals`: use `==`, `!=`, `<`, `<=`, `>`, `>=`, `exists`, `contains`, `matches` or `in`"
        );
        assert_eq!(
            error(r#"jsonpath "$.a" == healthy"#),
            "invalid value `healthy`: quote text (`\"healthy\"`), or write a number, `true`, `false` or `null`"
        );
        assert!(error(r#"jsonpath "a[" == 1"#).starts_with("invalid JSONPath `a[`"));
        assert_eq!(
            error("duration < fast"),
            "invalid duration `fast`: write milliseconds (`500`) or a unit (`500ms`, `2s`)"
        );
        assert_eq!(
            error("status > 2xx"),
            "a status class like `2xx` only works with `==`, `!=` or `in`"
        );
        assert_eq!(
            error(r#"status == 200 "x""#),
            "unexpected \"x\" after the predicate"
        );
        assert!(error(r#"body matches "(""#).starts_with("invalid regular expression `(`"));
    }

    #[test]
    fn a_shorthand_name_with_a_dash_gets_the_exact_bracket_form() {
        assert!(JsonPath::parse("$.headers.X-Probe").is_err());
        assert_eq!(
            bracket_form("$.headers.X-Probe").as_deref(),
            Some("$.headers['X-Probe']")
        );
        assert_eq!(
            bracket_form("$..content-type").as_deref(),
            Some("$..['content-type']")
        );
        assert_eq!(
            bracket_form("$.a.1st.b-c[0].ok").as_deref(),
            Some("$.a['1st']['b-c'][0].ok")
        );
        assert_eq!(bracket_form("$.it's.x").as_deref(), Some(r"$['it\'s'].x"));
        // Inside brackets nothing is rewritten; valid paths need no hint.
        assert_eq!(bracket_form("$['a.b-c'].d"), None);
        assert_eq!(bracket_form("$.status"), None);
        assert_eq!(bracket_form("$.items[*].id"), None);
        assert_eq!(bracket_form("a["), None);
        assert_eq!(
            line_bracket_hint(r#"jsonpath "$.headers.X-Probe" == "1""#).unwrap(),
            r#"a member name with characters other than letters, digits and `_` needs brackets: write `$.headers['X-Probe']` instead of `$.headers.X-Probe` (in TOML, quote a line holding `'` with `'''`: `'''jsonpath "$.headers['X-Probe']" …'''`)"#
        );
        assert_eq!(line_bracket_hint(r#"jsonpath "$.ok" == "1""#), None);
    }

    proptest::proptest! {
        #[test]
        fn bracket_form_never_panics(path in "\\PC{0,40}") {
            let _ = bracket_form(&path);
            let _ = line_bracket_hint(&path);
        }

        /// Any member names, written as shorthand: the path (or its bracket
        /// form when the shorthand does not parse) selects exactly the leaf
        /// of a document nested by those names.
        #[test]
        fn bracket_form_selects_what_the_shorthand_meant(
            names in proptest::collection::vec("[^.\\[\\]]{1,8}", 1..4)
        ) {
            proptest::prop_assume!(names.iter().all(|name| name != "*" && name.trim() == name));
            let shorthand: String = std::iter::once("$".to_owned())
                .chain(names.iter().map(|name| format!(".{name}")))
                .collect();
            let mut document = json!("leaf");
            for name in names.iter().rev() {
                document = json!({ name.clone(): document });
            }
            let path = if let Ok(path) = JsonPath::parse(&shorthand) {
                path
            } else {
                let fixed = bracket_form(&shorthand);
                proptest::prop_assert!(fixed.is_some(), "no bracket form for {}", shorthand);
                JsonPath::parse(&fixed.unwrap()).unwrap()
            };
            let leaf = json!("leaf");
            proptest::prop_assert_eq!(path.query(&document).all(), vec![&leaf]);
        }
    }
}
