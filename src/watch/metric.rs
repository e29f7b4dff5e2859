//! One `[[watch.metric]]` measurement: query the HTTP JSON API, select the
//! value by JSONPath, and judge it with `fail_if` / `pass_if`.
//!
//! Anything that keeps the value from being read (unreachable API, non-2xx
//! status, a body that is not JSON, a path that selects nothing or no number)
//! is an [`Verdict::Error`], not a failure, as in Argo Rollouts. The
//! counting is left to `analysis.rs`.

use std::time::Duration;

use reqwest::Client;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use super::analysis::Verdict;
use crate::config::WatchMetric;
use crate::report::format_duration;
use crate::smoke::excerpt;
use crate::smoke::request::{self, MAX_BODY_BYTES};

/// How many characters of a document an error shows.
const DOCUMENT_EXCERPT_CHARS: usize = excerpt::DOCUMENT_EXCERPT_CHARS;

/// Queries `metric` once and judges its value: the verdict and what was seen.
pub(crate) async fn measure(client: &Client, metric: &WatchMetric) -> (Verdict, String) {
    match query(client, metric).await {
        Err(message) => (Verdict::Error, message),
        Ok(value) => judge(metric, value),
    }
}

/// Argo's rules: `fail_if` wins; with both conditions, meeting neither is
/// inconclusive; with only `pass_if`, missing it fails.
pub(crate) fn judge(metric: &WatchMetric, value: f64) -> (Verdict, String) {
    if let Some(fail_if) = metric
        .fail_if
        .as_ref()
        .filter(|fail_if| fail_if.holds(value))
    {
        return (
            Verdict::Failed,
            format!("{value} (fail_if {})", fail_if.text),
        );
    }
    match (&metric.pass_if, &metric.fail_if) {
        (Some(pass_if), _) if pass_if.holds(value) => (Verdict::Successful, value.to_string()),
        (Some(pass_if), Some(fail_if)) => (
            Verdict::Inconclusive,
            format!(
                "{value} (neither pass_if {} nor fail_if {})",
                pass_if.text, fail_if.text
            ),
        ),
        (Some(pass_if), None) => (
            Verdict::Failed,
            format!("{value} (not pass_if {})", pass_if.text),
        ),
        (None, _) => (Verdict::Successful, value.to_string()),
    }
}

async fn query(client: &Client, metric: &WatchMetric) -> Result<f64, String> {
    let mut headers = HeaderMap::new();
    for (name, value) in &metric.headers {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid header name `{name}`"))?;
        let mut value = HeaderValue::from_str(value.expose())
            .map_err(|_| format!("invalid value for header `{name}`"))?;
        value.set_sensitive(true);
        headers.append(header, value);
    }
    let timeout = metric.timeout;
    let deadline = crate::config::deadline_after(tokio::time::Instant::now(), timeout);
    let request = client
        .get(metric.url.expose())
        .headers(headers)
        .timeout(timeout);
    let response = match tokio::time::timeout_at(deadline, request.send()).await {
        Err(_) => return Err(no_response(timeout)),
        Ok(Err(error)) => return Err(describe(&error, timeout)),
        Ok(Ok(response)) => response,
    };
    let status = response.status();
    if !status.is_success() {
        return Err(format!("status {}", status.as_u16()));
    }
    let body = match tokio::time::timeout_at(deadline, response.bytes()).await {
        Err(_) => return Err(no_response(timeout)),
        Ok(Err(error)) => return Err(describe(&error, timeout)),
        Ok(Ok(body)) => body,
    };
    if body.len() > MAX_BODY_BYTES {
        return Err(format!(
            "response body is larger than {} MiB",
            MAX_BODY_BYTES >> 20
        ));
    }
    let document: Value = serde_json::from_slice(&body).map_err(|_| {
        format!(
            "response body is not JSON: {}",
            excerpt::one_line(&body, DOCUMENT_EXCERPT_CHARS)
        )
    })?;
    let path = &metric.value_text;
    match metric.value.query(&document).all().as_slice() {
        [] => Err(format!(
            "`{path}` selected nothing in {}",
            excerpt::json(&document, DOCUMENT_EXCERPT_CHARS)
        )),
        [Value::Number(number)] => number
            .as_f64()
            .ok_or_else(|| format!("`{path}` selected {number}, not a number")),
        // Prometheus returns sample values as strings: `[1712, "0.012"]`.
        [Value::String(text)] => text.trim().parse::<f64>().map_err(|_| {
            format!(
                "`{path}` selected {}, not a number",
                Value::String(text.clone())
            )
        }),
        [other] => Err(format!(
            "`{path}` selected {}, not a number",
            excerpt::json(other, DOCUMENT_EXCERPT_CHARS)
        )),
        many => Err(format!(
            "`{path}` selected {} values, not exactly one",
            many.len()
        )),
    }
}

fn no_response(timeout: Duration) -> String {
    format!("no response within {}", format_duration(timeout))
}

/// The error's causes without the URL (it may hold a secret).
fn describe(error: &reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        return no_response(timeout);
    }
    let causes = request::causes(error);
    if causes.is_empty() {
        return "request failed".to_owned();
    }
    format!("request failed: {}", causes.join(": "))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::{Condition, Masked, Redactor};

    fn metric(fail_if: Option<&str>, pass_if: Option<&str>) -> WatchMetric {
        WatchMetric {
            name: "errors".into(),
            url: Masked::new("http://127.0.0.1:9/".into(), &Redactor::default()),
            headers: Vec::new(),
            value_text: "$.v".into(),
            value: serde_json_path::JsonPath::parse("$.v").unwrap(),
            fail_if: fail_if.map(|text| Condition::parse(text).unwrap()),
            pass_if: pass_if.map(|text| Condition::parse(text).unwrap()),
            timeout: Duration::from_secs(1),
            failure_limit: 0,
            consecutive_error_limit: 4,
        }
    }

    #[test]
    fn argo_rules_decide_the_verdict() {
        let only_fail = metric(Some("> 0.05"), None);
        assert_eq!(judge(&only_fail, 0.01).0, Verdict::Successful);
        assert_eq!(
            judge(&only_fail, 0.2),
            (Verdict::Failed, "0.2 (fail_if > 0.05)".to_owned())
        );
        let only_pass = metric(None, Some("< 0.01"));
        assert_eq!(judge(&only_pass, 0.001).0, Verdict::Successful);
        assert_eq!(
            judge(&only_pass, 0.02),
            (Verdict::Failed, "0.02 (not pass_if < 0.01)".to_owned())
        );
        let both = metric(Some("> 0.05"), Some("< 0.01"));
        assert_eq!(
            judge(&both, 0.03),
            (
                Verdict::Inconclusive,
                "0.03 (neither pass_if < 0.01 nor fail_if > 0.05)".to_owned()
            )
        );
        assert_eq!(judge(&both, 0.1).0, Verdict::Failed);
    }

    #[test]
    fn conditions_parse_operator_and_number() {
        let condition = Condition::parse(" >= 0.5 ").unwrap();
        assert!(condition.holds(0.5) && !condition.holds(0.4));
        assert!(Condition::parse("== 0").unwrap().holds(0.0));
        assert!(Condition::parse("> lots").is_none());
        assert!(Condition::parse("~ 1").is_none());
        assert!(Condition::parse("> NaN").is_none());
    }
}
