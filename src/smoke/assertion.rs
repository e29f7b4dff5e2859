//! Judging a response against a check's [`Expectations`]: pure data in, typed
//! results out, nothing printed.
//!
//! Status assertions are judged first; when one fails the others are skipped,
//! because judging the body of an error page only adds noise. A `JSONPath`
//! that selects nothing fails (unless the assertion is `not exists`) and
//! shows the path with a compact view of the document; a comparison needs
//! exactly one node. Values of the wrong type never pass, even under `not`.
//! Turning results into report lines is left to `outcome.rs`.

use std::cmp::Ordering;
use std::fmt;

use serde_json::Value;

use super::excerpt;
use super::request::{MAX_BODY_BYTES, ReceivedResponse};
use crate::config::{
    Assertion, CertificateField, Comparison, Expectations, Operand, Predicate, Subject,
};
use crate::report::format_duration;

/// How many characters of the body a `body` assertion shows as `got`.
const BODY_ACTUAL_CHARS: usize = 120;

/// What the response held for an assertion's subject.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Observed {
    /// The status code.
    Status(u16),
    /// A JSON value: the node a path selected, a header's value.
    Value(Value),
    /// A description: `count 2`, `312ms`, `header `X` is absent`, a body excerpt.
    Text(String),
    /// The path selected no node; `document` is a compact excerpt.
    Nothing {
        /// The path as written.
        path: String,
        /// The start of the document, compact.
        document: String,
    },
    /// The path selected more than one node.
    Many {
        /// The path as written.
        path: String,
        /// How many nodes.
        count: usize,
    },
    /// The body does not parse as JSON; `excerpt` is its start, on one line.
    NotJson {
        /// The start of the body.
        excerpt: String,
    },
    /// The body is larger than the most shipgate reads.
    TooLarge,
}

impl fmt::Display for Observed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status(status) => write!(f, "status {status}"),
            Self::Value(value) => {
                f.write_str(&excerpt::json(value, excerpt::DOCUMENT_EXCERPT_CHARS))
            }
            Self::Text(text) => f.write_str(text),
            Self::Nothing { path, document } => {
                write!(f, "{} selected nothing in {document}", quoted(path))
            }
            Self::Many { path, count } => write!(
                f,
                "{} selected {count} nodes, not exactly one",
                quoted(path)
            ),
            Self::NotJson { excerpt } if excerpt.is_empty() => {
                f.write_str("response body is not JSON: it is empty")
            }
            Self::NotJson { excerpt } => write!(f, "response body is not JSON: {excerpt}"),
            Self::TooLarge => write!(
                f,
                "response body is larger than {} MiB, too large to judge",
                MAX_BODY_BYTES >> 20
            ),
        }
    }
}

/// The result of one assertion: `passed`, what was expected and what was found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AssertionResult {
    /// Whether the response satisfied it.
    pub(crate) passed: bool,
    /// The assertion as written, e.g. `jsonpath "$.status" == "ok"`.
    pub(crate) expected: String,
    /// What the response held.
    pub(crate) actual: Observed,
    /// Whether it judged the status.
    pub(crate) is_status: bool,
}

/// Every assertion evaluated for one response, status ones first.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Evaluation {
    /// The results; only the status ones when a status assertion failed.
    pub(crate) results: Vec<AssertionResult>,
}

impl Evaluation {
    /// Whether every assertion passed.
    pub(crate) fn passed(&self) -> bool {
        self.results.iter().all(|result| result.passed)
    }

    /// The failed assertions, in order.
    pub(crate) fn failures(&self) -> impl Iterator<Item = &AssertionResult> {
        self.results.iter().filter(|result| !result.passed)
    }
}

/// Judges `response` against `expect`: the status assertions first, then,
/// only when they all passed, the others in order.
pub(crate) fn evaluate(expect: &Expectations, response: &ReceivedResponse) -> Evaluation {
    let mut document = None;
    let (status, others): (Vec<&Assertion>, Vec<&Assertion>) = expect
        .assertions
        .iter()
        .partition(|assertion| assertion.is_status());
    let mut results: Vec<AssertionResult> = status
        .into_iter()
        .map(|assertion| judge(assertion, response, &mut document))
        .collect();
    if results.iter().all(|result| result.passed) {
        for assertion in others {
            results.push(judge(assertion, response, &mut document));
        }
    }
    Evaluation { results }
}

/// The parsed body, or why it cannot be judged; parsed at most once.
type Document = Option<Result<Value, Observed>>;

fn judge(
    assertion: &Assertion,
    response: &ReceivedResponse,
    document: &mut Document,
) -> AssertionResult {
    let (outcome, actual) = observe(assertion, response, document);
    AssertionResult {
        passed: outcome.is_some_and(|held| held != assertion.negated),
        expected: assertion.text.clone(),
        actual,
        is_status: assertion.is_status(),
    }
}

/// Whether the predicate held (`None`: it cannot apply, e.g. a missing
/// subject or a value of the wrong type), and what the response held.
fn observe(
    assertion: &Assertion,
    response: &ReceivedResponse,
    document: &mut Document,
) -> (Option<bool>, Observed) {
    let predicate = &assertion.predicate;
    let exists_only = matches!(predicate, Predicate::Exists);
    match &assertion.subject {
        Subject::Status => (
            test(predicate, &Value::from(response.status)),
            Observed::Status(response.status),
        ),
        Subject::Header(name) => {
            let values: Vec<Value> = response
                .headers
                .get_all(name.as_str())
                .iter()
                .map(|value| Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned()))
                .collect();
            match values.as_slice() {
                [] => (
                    exists_only.then_some(false),
                    Observed::Text(format!("header `{name}` is absent")),
                ),
                [one] => (test(predicate, one), Observed::Value(one.clone())),
                many => (
                    any(predicate, many),
                    Observed::Value(Value::Array(many.to_vec())),
                ),
            }
        }
        Subject::ContentType => match response.headers.get(reqwest::header::CONTENT_TYPE) {
            None => (
                exists_only.then_some(false),
                Observed::Text("no `Content-Type` header".to_owned()),
            ),
            Some(value) => {
                let text = String::from_utf8_lossy(value.as_bytes());
                let essence = text
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase();
                let essence = Value::String(essence);
                (test(predicate, &essence), Observed::Value(essence))
            }
        },
        Subject::Body => {
            let text = Value::String(String::from_utf8_lossy(&response.body).into_owned());
            let shown = excerpt::one_line(&response.body, BODY_ACTUAL_CHARS);
            let shown = if shown.is_empty() {
                "empty body".to_owned()
            } else {
                format!("body {shown}")
            };
            (test(predicate, &text), Observed::Text(shown))
        }
        Subject::Duration => {
            let millis = u64::try_from(response.elapsed.as_millis()).unwrap_or(u64::MAX);
            (
                test(predicate, &Value::from(millis)),
                Observed::Text(format_duration(response.elapsed)),
            )
        }
        Subject::Certificate(field) => certificate(*field, predicate, response),
        Subject::JsonPath { text, path, count } => {
            json_path(text, path, *count, predicate, response, document)
        }
    }
}

/// A field of the server certificate.
fn certificate(
    field: CertificateField,
    predicate: &Predicate,
    response: &ReceivedResponse,
) -> (Option<bool>, Observed) {
    let exists_only = matches!(predicate, Predicate::Exists);
    match &response.certificate {
        None => (
            exists_only.then_some(false),
            Observed::Text("no TLS certificate: the response did not come over HTTPS".to_owned()),
        ),
        Some(certificate) => match field {
            CertificateField::Subject => {
                let value = Value::String(certificate.subject.clone());
                (test(predicate, &value), Observed::Value(value))
            }
            CertificateField::Issuer => {
                let value = Value::String(certificate.issuer.clone());
                (test(predicate, &value), Observed::Value(value))
            }
            CertificateField::ExpireDays => {
                let days = certificate.days_left();
                (
                    test(predicate, &Value::from(days)),
                    Observed::Text(format!("{days} days")),
                )
            }
        },
    }
}

/// The nodes `path` selects in the body, or how many with `count`.
fn json_path(
    text: &str,
    path: &serde_json_path::JsonPath,
    count: bool,
    predicate: &Predicate,
    response: &ReceivedResponse,
    document: &mut Document,
) -> (Option<bool>, Observed) {
    let exists_only = matches!(predicate, Predicate::Exists);
    let document = document.get_or_insert_with(|| parse_document(response));
    let document = match document {
        Ok(document) => document,
        Err(observed) => return (None, observed.clone()),
    };
    let nodes = path.query(document).all();
    if count {
        let selected = match nodes.as_slice() {
            [Value::Array(items)] => items.len(),
            [Value::Object(members)] => members.len(),
            other => other.len(),
        };
        return (
            test(predicate, &Value::from(selected)),
            Observed::Text(format!("count {selected}")),
        );
    }
    match nodes.as_slice() {
        [] => (
            exists_only.then_some(false),
            Observed::Nothing {
                path: text.to_owned(),
                document: excerpt::json(document, excerpt::DOCUMENT_EXCERPT_CHARS),
            },
        ),
        [one] => (test(predicate, one), Observed::Value((*one).clone())),
        many if exists_only => (
            Some(true),
            Observed::Many {
                path: text.to_owned(),
                count: many.len(),
            },
        ),
        many => (
            None,
            Observed::Many {
                path: text.to_owned(),
                count: many.len(),
            },
        ),
    }
}

fn parse_document(response: &ReceivedResponse) -> Result<Value, Observed> {
    if response.truncated {
        return Err(Observed::TooLarge);
    }
    serde_json::from_slice::<Value>(&response.body).map_err(|_| Observed::NotJson {
        excerpt: excerpt::one_line(&response.body, excerpt::DOCUMENT_EXCERPT_CHARS),
    })
}

/// The predicate holds for one of several values (a repeated header).
fn any(predicate: &Predicate, values: &[Value]) -> Option<bool> {
    let results: Vec<Option<bool>> = values.iter().map(|value| test(predicate, value)).collect();
    if results.contains(&Some(true)) {
        Some(true)
    } else if results.contains(&None) {
        None
    } else {
        Some(false)
    }
}

/// Whether `predicate` holds for `actual`; `None` when it cannot apply.
fn test(predicate: &Predicate, actual: &Value) -> Option<bool> {
    match predicate {
        Predicate::Exists => Some(true),
        Predicate::Compare(comparison, Operand::StatusClass(class)) => {
            let same = actual
                .as_u64()
                .is_some_and(|code| code / 100 == u64::from(*class));
            Some(comparison.holds(if same {
                Ordering::Equal
            } else {
                Ordering::Less
            }))
        }
        Predicate::Compare(comparison, Operand::Value(expected)) => match comparison {
            Comparison::Equal => Some(json_equal(actual, expected)),
            Comparison::NotEqual => Some(!json_equal(actual, expected)),
            ordering => order(actual, expected).map(|found| ordering.holds(found)),
        },
        Predicate::In(operands) => Some(operands.iter().any(|operand| {
            test(
                &Predicate::Compare(Comparison::Equal, operand.clone()),
                actual,
            ) == Some(true)
        })),
        Predicate::Contains(expected) => match (actual, expected) {
            (Value::String(text), Value::String(part)) => Some(text.contains(part.as_str())),
            (Value::Array(items), expected) => {
                Some(items.iter().any(|item| json_equal(item, expected)))
            }
            _ => None,
        },
        Predicate::Matches(regex) => actual.as_str().map(|text| regex.is_match(text)),
    }
}

/// Numbers by value, strings lexicographically; other pairs do not order.
fn order(actual: &Value, expected: &Value) -> Option<Ordering> {
    match (actual, expected) {
        (Value::Number(left), Value::Number(right)) => left.as_f64()?.partial_cmp(&right.as_f64()?),
        (Value::String(left), Value::String(right)) => Some(left.cmp(right)),
        _ => None,
    }
}

/// JSON equality where numbers compare by value, so `1` equals `1.0`.
fn json_equal(left: &Value, right: &Value) -> bool {
    match (left, right) {
        // Exact comparison is the point: `1` and `1.0` are the same JSON number.
        #[allow(clippy::float_cmp)]
        (Value::Number(left), Value::Number(right)) => {
            left == right || matches!((left.as_f64(), right.as_f64()), (Some(l), Some(r)) if l == r)
        }
        (Value::Array(left), Value::Array(right)) => {
            left.len() == right.len() && left.iter().zip(right).all(|(l, r)| json_equal(l, r))
        }
        (Value::Object(left), Value::Object(right)) => {
            left.len() == right.len()
                && left
                    .iter()
                    .all(|(key, l)| right.get(key).is_some_and(|r| json_equal(l, r)))
        }
        (left, right) => left == right,
    }
}

/// `text` as a JSON string literal, the way paths are shown.
fn quoted(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;
    use serde_json_path::JsonPath;

    use super::*;

    fn expect(status: u16, json: &[(&str, Value)]) -> Expectations {
        let mut assertions = vec![Assertion::status(vec![Operand::Value(status.into())])];
        assertions.extend(json.iter().map(|(path, value)| {
            Assertion::json_equals(path, JsonPath::parse(path).unwrap(), value.clone())
        }));
        Expectations { assertions }
    }

    fn response(status: u16, body: &str) -> ReceivedResponse {
        ReceivedResponse {
            status,
            body: body.as_bytes().to_vec(),
            ..ReceivedResponse::default()
        }
    }

    fn texts(evaluation: &Evaluation) -> Vec<(bool, String, String)> {
        evaluation
            .results
            .iter()
            .map(|r| (r.passed, r.expected.clone(), r.actual.to_string()))
            .collect()
    }

    #[test]
    fn a_matching_response_passes() {
        let evaluation = evaluate(
            &expect(
                200,
                &[
                    ("$.status", json!("healthy")),
                    ("$.database.status", json!("connected")),
                ],
            ),
            &response(
                200,
                r#"{"status":"healthy","database":{"status":"connected"}}"#,
            ),
        );
        assert!(evaluation.passed());
        assert_eq!(evaluation.results.len(), 3);
        assert_eq!(evaluation.failures().count(), 0);
    }

    #[test]
    fn a_wrong_status_skips_the_body_checks() {
        let evaluation = evaluate(
            &expect(200, &[("$.status", json!("healthy"))]),
            &response(503, "<html>down</html>"),
        );
        assert!(!evaluation.passed());
        assert_eq!(
            texts(&evaluation),
            vec![(false, "status 200".into(), "status 503".into())]
        );
    }

    #[test]
    fn a_wrong_json_value_shows_expected_and_got_compactly() {
        let evaluation = evaluate(
            &expect(200, &[("$.status", json!("healthy"))]),
            &response(200, r#"{"status": "degraded"}"#),
        );
        assert_eq!(
            texts(&evaluation),
            vec![
                (true, "status 200".into(), "status 200".into()),
                (
                    false,
                    r#""$.status" == "healthy""#.into(),
                    r#""degraded""#.into()
                ),
            ]
        );
    }

    #[test]
    fn every_equality_is_judged_in_order() {
        let evaluation = evaluate(
            &expect(
                200,
                &[
                    ("$.a", json!(1)),
                    ("$.b", json!({"x": [true, null]})),
                    ("$.c", json!("z")),
                ],
            ),
            &response(200, r#"{"a": 1.0, "b": {"x": [true, null]}, "c": "y"}"#),
        );
        let failures: Vec<String> = evaluation.failures().map(|r| r.expected.clone()).collect();
        assert_eq!(failures, vec![r#""$.c" == "z""#]);
    }

    #[test]
    fn a_path_selecting_nothing_names_the_path_and_shows_the_document() {
        let evaluation = evaluate(
            &expect(200, &[("$.db.status", json!("up"))]),
            &response(200, r#"{"status": "ok"}"#),
        );
        let failure = evaluation.failures().next().unwrap();
        assert_eq!(
            failure.actual.to_string(),
            r#""$.db.status" selected nothing in {"status":"ok"}"#
        );
    }

    #[test]
    fn a_path_selecting_many_nodes_fails() {
        let evaluation = evaluate(
            &expect(200, &[("$.items[*].ok", json!(true))]),
            &response(200, r#"{"items":[{"ok":true},{"ok":true}]}"#),
        );
        let failure = evaluation.failures().next().unwrap();
        assert_eq!(
            failure.actual.to_string(),
            r#""$.items[*].ok" selected 2 nodes, not exactly one"#
        );
    }

    #[test]
    fn a_body_that_is_not_json_fails_every_equality_with_an_excerpt() {
        let evaluation = evaluate(
            &expect(200, &[("$.a", json!(1)), ("$.b", json!(2))]),
            &response(200, "<!doctype html>\n<p>Maintenance</p>"),
        );
        let actual: Vec<String> = evaluation
            .failures()
            .map(|r| r.actual.to_string())
            .collect();
        assert_eq!(
            actual,
            vec!["response body is not JSON: <!doctype html> <p>Maintenance</p>"; 2]
        );
        let empty = evaluate(&expect(200, &[("$.a", json!(1))]), &response(200, ""));
        assert_eq!(
            empty.failures().next().unwrap().actual.to_string(),
            "response body is not JSON: it is empty"
        );
    }

    #[test]
    fn a_truncated_body_is_too_large_to_judge() {
        let mut large = response(200, "{");
        large.truncated = true;
        let evaluation = evaluate(&expect(200, &[("$.a", json!(1))]), &large);
        assert_eq!(
            evaluation.failures().next().unwrap().actual,
            Observed::TooLarge
        );
    }

    #[test]
    fn without_json_expectations_the_body_is_not_parsed() {
        let evaluation = evaluate(&expect(204, &[]), &response(204, "not json"));
        assert!(evaluation.passed());
        assert_eq!(evaluation.results.len(), 1);
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(json_equal(&json!(1), &json!(1.0)));
        assert!(!json_equal(&json!(1), &json!(1.5)));
        assert!(!json_equal(&json!(1), &json!("1")));
        assert!(json_equal(&json!({"a": [1, 2]}), &json!({"a": [1.0, 2]})));
        assert!(!json_equal(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
    }

    mod properties {
        //! Issue 10: assertions parse or refuse any line, and judge any JSON
        //! body, without a panic; the failure text stays bounded.
        use proptest::prelude::*;

        use super::{Assertion, Expectations, Operand, Value, evaluate, response};

        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<f64>()
                    .prop_filter("finite", |f| f.is_finite())
                    .prop_map(Value::from),
                ".{0,12}".prop_map(Value::from),
            ];
            leaf.prop_recursive(4, 48, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                    prop::collection::btree_map("[a-z$.\\[\\]'*]{0,4}", inner, 0..6)
                        .prop_map(|map| Value::Object(map.into_iter().collect())),
                ]
            })
        }

        fn assertion_line() -> impl Strategy<Value = String> {
            let path = prop_oneof![
                "\\$(\\.[a-z*]{1,3}|\\[[0-9*]\\]|\\[\\?@\\.[a-z]{1,2} ?[<=>!]{1,2} ?[0-9]\\]|\\.\\.[a-z]){0,4}",
                ".{0,10}",
            ];
            let operand = prop_oneof![
                "-?[0-9]{1,25}(\\.[0-9]{1,3})?",
                "\"[^\"\\\\]{0,8}\"",
                Just("true".to_owned()),
                Just("null".to_owned()),
                "[0-9]{1,3}(ms|s|m|h|y)",
                ".{0,6}",
            ];
            let predicate = prop_oneof![
                Just("==".to_owned()),
                Just("!=".to_owned()),
                Just(">=".to_owned()),
                Just("<".to_owned()),
                Just("contains".to_owned()),
                Just("matches".to_owned()),
                Just("startsWith".to_owned()),
                Just("exists".to_owned()),
                Just("isEmpty".to_owned()),
                Just("in".to_owned()),
            ];
            let subject = prop_oneof![
                path.prop_map(|path| format!("jsonpath {}", Value::String(path))),
                Just("status".to_owned()),
                Just("body".to_owned()),
                Just("duration".to_owned()),
                Just("header \"X-A\"".to_owned()),
            ];
            (subject, any::<bool>(), any::<bool>(), predicate, operand).prop_map(
                |(subject, count, not, predicate, operand)| {
                    let count = if count { " count" } else { "" };
                    let not = if not { " not" } else { "" };
                    format!("{subject}{count}{not} {predicate} {operand}")
                },
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn any_line_parses_or_is_refused_with_a_reason(line in ".{0,60}") {
                if let Err(reason) = crate::config::assertion::parse(&line) {
                    prop_assert!(!reason.is_empty());
                }
            }

            #[test]
            fn parsed_assertions_judge_any_json_body(
                lines in prop::collection::vec(assertion_line(), 1..5),
                body in json_value(),
                status in 100_u16..600,
            ) {
                let mut assertions = vec![Assertion::status(vec![Operand::Value(200.into())])];
                assertions.extend(lines.iter().filter_map(|line| crate::config::assertion::parse(line).ok()));
                let expectations = Expectations { assertions };
                let response = response(status, &body.to_string());
                let evaluation = evaluate(&expectations, &response);
                for result in &evaluation.results {
                    prop_assert!(result.expected.len() <= 4096);
                    prop_assert!(result.actual.to_string().len() <= 4096);
                }
            }
        }
    }
}
