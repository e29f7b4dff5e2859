//! Judging a response against a check's [`Expectations`]: pure data in, typed
//! results out, nothing printed.
//!
//! The status is checked first; when it fails the `JSONPath` equalities are
//! skipped, because judging the body of an error page only adds noise. Each
//! equality's path must select exactly one node. Turning results into report
//! lines is left to `outcome.rs`.

use std::fmt;

use serde_json::Value;

use super::excerpt;
use super::request::{MAX_BODY_BYTES, ReceivedResponse};
use crate::config::{Expectations, JsonEquality};

/// What an assertion wanted.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expected {
    /// `status 200`.
    Status(u16),
    /// `"$.status" == "healthy"`.
    JsonEquals {
        /// The path as written.
        path: String,
        /// The value it must select.
        value: Value,
    },
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status(status) => write!(f, "status {status}"),
            Self::JsonEquals { path, value } => write!(f, "{} == {value}", quoted(path)),
        }
    }
}

/// What the response held for an assertion's subject.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Observed {
    /// The status code.
    Status(u16),
    /// The one node the path selected.
    Node(Value),
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
            Self::Node(value) => write!(f, "{value}"),
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
    /// What it wanted.
    pub(crate) expected: Expected,
    /// What the response held.
    pub(crate) actual: Observed,
}

/// Every assertion evaluated for one response, in config order (status first).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Evaluation {
    /// The results; only the status one when the status failed.
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

/// Judges `response` against `expect`: the status first, then, only when it
/// passed, each `JSONPath` equality.
pub(crate) fn evaluate(expect: &Expectations, response: &ReceivedResponse) -> Evaluation {
    let status = AssertionResult {
        passed: response.status == expect.status,
        expected: Expected::Status(expect.status),
        actual: Observed::Status(response.status),
    };
    if !status.passed || expect.json.is_empty() {
        return Evaluation {
            results: vec![status],
        };
    }
    let mut results = vec![status];
    let document = if response.truncated {
        Err(Observed::TooLarge)
    } else {
        serde_json::from_slice::<Value>(&response.body).map_err(|_| Observed::NotJson {
            excerpt: excerpt::one_line(&response.body, excerpt::DOCUMENT_EXCERPT_CHARS),
        })
    };
    for equality in &expect.json {
        let expected = Expected::JsonEquals {
            path: equality.path_text.clone(),
            value: equality.expected.clone(),
        };
        let result = match &document {
            Ok(document) => judge_equality(equality, document, expected),
            Err(observed) => AssertionResult {
                passed: false,
                expected,
                actual: observed.clone(),
            },
        };
        results.push(result);
    }
    Evaluation { results }
}

fn judge_equality(
    equality: &JsonEquality,
    document: &Value,
    expected: Expected,
) -> AssertionResult {
    let nodes = equality.path.query(document);
    let actual = match nodes.exactly_one() {
        Ok(node) => Observed::Node(node.clone()),
        Err(_) if nodes.is_empty() => Observed::Nothing {
            path: equality.path_text.clone(),
            document: excerpt::json(document, excerpt::DOCUMENT_EXCERPT_CHARS),
        },
        Err(_) => Observed::Many {
            path: equality.path_text.clone(),
            count: nodes.len(),
        },
    };
    let passed = matches!(&actual, Observed::Node(node) if json_equal(node, &equality.expected));
    AssertionResult {
        passed,
        expected,
        actual,
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
        Expectations {
            status,
            json: json
                .iter()
                .map(|(path, value)| JsonEquality {
                    path_text: (*path).to_owned(),
                    path: JsonPath::parse(path).unwrap(),
                    expected: value.clone(),
                })
                .collect(),
        }
    }

    fn response(status: u16, body: &str) -> ReceivedResponse {
        ReceivedResponse {
            status,
            body: body.as_bytes().to_vec(),
            truncated: false,
        }
    }

    fn texts(evaluation: &Evaluation) -> Vec<(bool, String, String)> {
        evaluation
            .results
            .iter()
            .map(|r| (r.passed, r.expected.to_string(), r.actual.to_string()))
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
        let failures: Vec<String> = evaluation
            .failures()
            .map(|r| r.expected.to_string())
            .collect();
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
}
