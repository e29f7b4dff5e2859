//! Flows: checks that share a `flow` name run as steps, in file order, and a
//! step's `capture` values fill `{{name}}` placeholders of the later steps
//! (log in → use the token → call an authenticated endpoint), in their
//! `path` or `url`, headers, query and body.
//!
//! A [`Template`] keeps a step's check as written so it can be rendered again
//! once earlier steps captured their values; [`capture`] reads those values
//! from a response. Captured values are treated as secrets (masked in every
//! output). Scheduling the steps is left to `readiness.rs`.

use std::collections::BTreeMap;

use serde_json::Value;
use url::Url;

use super::assertion::{AssertionResult, Observed};
use super::excerpt;
use super::readiness::Job;
use super::request::ReceivedResponse;
use super::{SmokeError, build_job};
use crate::config::template::substitute;
use crate::config::{
    Capture, CaptureSource, CheckTarget, Masked, Redactor, RequestBody, SmokeCheck,
};

/// Values captured so far in one flow, by variable name.
pub(crate) type Values = BTreeMap<String, String>;

/// A flow step's check as written, to render once its values are known.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    /// The check, placeholders intact.
    pub(crate) check: SmokeCheck,
    /// The base URL its `path` joins.
    pub(crate) base: Option<Url>,
    /// Masks secrets, captured values included.
    pub(crate) redactor: Redactor,
    /// The environment's name, for errors.
    pub(crate) environment: String,
}

impl Template {
    /// The step's job with every `{{name}}` filled from `values`.
    pub(crate) fn render(&self, values: &Values) -> Result<Job, SmokeError> {
        let mut check = self.check.clone();
        let fill =
            |masked: &Masked| Masked::new(substitute(masked.expose(), values), &self.redactor);
        check.target = match &check.target {
            CheckTarget::Path(path) => CheckTarget::Path(substitute(path, values)),
            CheckTarget::Url(url) => CheckTarget::Url(fill(url)),
        };
        for (_, value) in check.headers.iter_mut().chain(check.query.iter_mut()) {
            *value = fill(value);
        }
        check.body = match check.body {
            Some(RequestBody::Text(text)) => Some(RequestBody::Text(substitute(&text, values))),
            Some(RequestBody::Json(json)) => Some(RequestBody::Json(fill_json(json, values))),
            None => None,
        };
        build_job(
            &check,
            self.base.as_ref(),
            &self.redactor,
            &self.environment,
        )
    }
}

fn fill_json(value: Value, values: &Values) -> Value {
    match value {
        Value::String(text) => Value::String(substitute(&text, values)),
        Value::Array(items) => items
            .into_iter()
            .map(|item| fill_json(item, values))
            .collect(),
        Value::Object(members) => Value::Object(
            members
                .into_iter()
                .map(|(key, member)| (key, fill_json(member, values)))
                .collect(),
        ),
        other => other,
    }
}

/// Reads every capture from `response`; the first that cannot be read is a
/// failed assertion (`capture `token` from jsonpath "$.token"`).
pub(crate) fn capture(
    captures: &[Capture],
    response: &ReceivedResponse,
) -> Result<Values, AssertionResult> {
    let mut values = Values::new();
    let mut document: Option<Result<Value, Observed>> = None;
    for capture in captures {
        let read = match &capture.source {
            CaptureSource::Header(name) => response
                .headers
                .get(name.as_str())
                .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
                .ok_or_else(|| Observed::Text(format!("header `{name}` is absent"))),
            CaptureSource::JsonPath { text, path } => {
                let document = document.get_or_insert_with(|| {
                    serde_json::from_slice::<Value>(&response.body).map_err(|_| Observed::NotJson {
                        excerpt: excerpt::one_line(&response.body, excerpt::DOCUMENT_EXCERPT_CHARS),
                    })
                });
                match document {
                    Err(observed) => Err(observed.clone()),
                    Ok(document) => match path.query(document).all().as_slice() {
                        [Value::String(text)] => Ok(text.clone()),
                        [one] => Ok(one.to_string()),
                        [] => Err(Observed::Nothing {
                            path: text.clone(),
                            document: excerpt::json(document, excerpt::DOCUMENT_EXCERPT_CHARS),
                        }),
                        many => Err(Observed::Many {
                            path: text.clone(),
                            count: many.len(),
                        }),
                    },
                }
            }
        };
        match read {
            Ok(value) => {
                values.insert(capture.variable.clone(), value);
            }
            Err(actual) => {
                return Err(AssertionResult {
                    passed: false,
                    expected: format!("capture `{}` from {}", capture.variable, capture.source),
                    actual,
                    is_status: false,
                });
            }
        }
    }
    Ok(values)
}
