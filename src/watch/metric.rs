//! One `[[watch.metric]]` measurement: build the query for its kind over a
//! time window, read the series from the backend's documented response,
//! reduce it to one value, and judge it with `fail_if` / `pass_if` and the
//! `compare = "previous"` baseline (issue 15, item 3).
//!
//! The shapes follow each backend's documentation:
//! - Prometheus, "HTTP API → Range queries": `GET /api/v1/query_range?query=
//!   &start=&end=&step=`, answering `{"status":"success","data":{"resultType":
//!   "matrix","result":[{"metric":{},"values":[[ts,"v"],…]}]}}`;
//! - Datadog, "Metrics → Query timeseries points" (v1): `GET /api/v1/query?
//!   from=&to=&query=` with `DD-API-KEY` / `DD-APPLICATION-KEY`, answering
//!   `{"status":"ok","series":[{"pointlist":[[ms, v],…]}]}`;
//! - Sentry, "Events → event stats": `GET /api/0/organizations/{org}/
//!   events-stats/?query=&yAxis=&start=&end=&interval=` with a bearer token,
//!   answering `{"data":[[ts,[{"count":n}]],…]}`.
//!
//! Anything that keeps the value from being read (unreachable API, non-2xx
//! status, a body that is not JSON, no series, no number) is an
//! [`Verdict::Error`], not a failure, as in Argo Rollouts. The counting is
//! left to `analysis.rs`; no message carries the URL (it may hold a secret).

use std::time::Duration;

use reqwest::RequestBuilder;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use url::Url;

use super::analysis::Verdict;
use crate::config::time_template::{self, TimeFormat, TimeWindow};
use crate::config::{
    DatadogMetric, HttpMetric, Masked, MetricMethod, MetricSource, PrometheusMetric, Reduce,
    SentryMetric, WatchMetric,
};
use crate::report::format_duration;
use crate::smoke::request::{self, MAX_BODY_BYTES};
use crate::smoke::{HttpClient, excerpt};

/// How many characters of a document an error shows.
const DOCUMENT_EXCERPT_CHARS: usize = excerpt::DOCUMENT_EXCERPT_CHARS;

/// Queries `metric` over `window` and reduces the result to one value.
pub(crate) async fn read(
    client: &HttpClient,
    metric: &WatchMetric,
    window: &TimeWindow,
) -> Result<f64, String> {
    let timeout = metric.timeout;
    let deadline = crate::config::deadline_after(tokio::time::Instant::now(), timeout);
    let request = build(client, &metric.source, window)?.timeout(timeout);
    let response = match tokio::time::timeout_at(deadline, request.send()).await {
        Err(_) => return Err(no_response(timeout)),
        Ok(Err(error)) => return Err(describe(&error, timeout)),
        Ok(Ok(response)) => response,
    };
    let status = response.status();
    let body = match tokio::time::timeout_at(deadline, read_capped(response)).await {
        Err(_) => return Err(no_response(timeout)),
        Ok(Err(message)) => return Err(message),
        Ok(Ok(body)) => body,
    };
    if !status.is_success() {
        if matches!(metric.source, MetricSource::Http(_)) {
            return Err(format!("status {}", status.as_u16()));
        }
        return Err(format!(
            "status {}: {}",
            status.as_u16(),
            excerpt::one_line(&body, DOCUMENT_EXCERPT_CHARS)
        ));
    }
    let document: Value = serde_json::from_slice(&body).map_err(|_| {
        format!(
            "response body is not JSON: {}",
            excerpt::one_line(&body, DOCUMENT_EXCERPT_CHARS)
        )
    })?;
    let points = match &metric.source {
        MetricSource::Http(http) => return http_value(http, metric.reduce, &document),
        MetricSource::Prometheus(_) => prometheus_points(&document)?,
        MetricSource::Datadog(_) => datadog_points(&document)?,
        MetricSource::Sentry(sentry) => sentry_points(&document, &sentry.y_axis)?,
    };
    metric
        .reduce
        .unwrap_or(Reduce::Last)
        .apply(&points)
        .ok_or_else(|| "the series has no points in the window".to_owned())
}

/// The request for `source` over `window`.
fn build(
    client: &HttpClient,
    source: &MetricSource,
    window: &TimeWindow,
) -> Result<RequestBuilder, String> {
    let rfc3339 = |at| time_template::format_time(at, TimeFormat::Rfc3339);
    let unix = |at| time_template::format_time(at, TimeFormat::Unix);
    Ok(match source {
        MetricSource::Http(http) => return build_http(client, http, window),
        MetricSource::Prometheus(PrometheusMetric {
            url,
            token,
            headers,
            query,
            step,
        }) => {
            let mut url = endpoint(url, &["api", "v1", "query_range"])?;
            url.query_pairs_mut()
                .append_pair("query", query)
                .append_pair("start", &rfc3339(window.start))
                .append_pair("end", &rfc3339(window.end))
                .append_pair("step", &seconds(*step));
            let mut headers = header_map(headers)?;
            if let Some(token) = token {
                insert(
                    &mut headers,
                    "authorization",
                    &format!("Bearer {}", token.expose()),
                )?;
            }
            client_for(client, &url)?.get(url).headers(headers)
        }
        MetricSource::Datadog(DatadogMetric {
            url,
            api_key,
            application_key,
            headers,
            query,
        }) => {
            let mut url = endpoint(url, &["api", "v1", "query"])?;
            url.query_pairs_mut()
                .append_pair("from", &unix(window.start))
                .append_pair("to", &unix(window.end))
                .append_pair("query", query);
            let mut headers = header_map(headers)?;
            insert(&mut headers, "dd-api-key", api_key.expose())?;
            insert(&mut headers, "dd-application-key", application_key.expose())?;
            client_for(client, &url)?.get(url).headers(headers)
        }
        MetricSource::Sentry(SentryMetric {
            url,
            token,
            headers,
            organization,
            project,
            query,
            y_axis,
            interval,
        }) => {
            let mut url = endpoint(
                url,
                &[
                    "api",
                    "0",
                    "organizations",
                    organization,
                    "events-stats",
                    "",
                ],
            )?;
            {
                let mut pairs = url.query_pairs_mut();
                pairs
                    .append_pair("query", query)
                    .append_pair("yAxis", y_axis)
                    .append_pair("start", &sentry_time(window.start))
                    .append_pair("end", &sentry_time(window.end))
                    .append_pair("interval", &sentry_interval(*interval));
                if let Some(project) = project {
                    pairs.append_pair("project", &project.to_string());
                }
            }
            let mut headers = header_map(headers)?;
            insert(
                &mut headers,
                "authorization",
                &format!("Bearer {}", token.expose()),
            )?;
            client_for(client, &url)?.get(url).headers(headers)
        }
    })
}

/// The client to query `url` with (the one that verifies certificates for
/// `https://`).
fn client_for<'c>(client: &'c HttpClient, url: &Url) -> Result<&'c reqwest::Client, String> {
    client.for_url(url).map_err(|error| error.to_string())
}

/// The raw form: placeholders filled (percent-encoded in the URL), the
/// body's strings filled (whole Unix placeholders as numbers).
fn build_http(
    client: &HttpClient,
    http: &HttpMetric,
    window: &TimeWindow,
) -> Result<RequestBuilder, String> {
    let url = http.url.render(window, |value| {
        url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
    });
    let url = Url::parse(&url)
        .map_err(|error| format!("the URL with the times filled in is invalid: {error}"))?;
    let headers = header_map(&http.headers)?;
    Ok(match http.method {
        MetricMethod::Get => client_for(client, &url)?.get(url).headers(headers),
        MetricMethod::Post => {
            let body = match &http.body {
                Some(body) => time_template::render_json(body, window).map_err(|error| {
                    format!(
                        "internal error: {} in a checked body; this is a bug",
                        error.message
                    )
                })?,
                None => Value::Object(serde_json::Map::new()),
            };
            client_for(client, &url)?
                .post(url)
                .headers(headers)
                .json(&body)
        }
    })
}

/// `base` with `segments` appended to its path (a path prefix is kept).
fn endpoint(base: &Masked, segments: &[&str]) -> Result<Url, String> {
    let mut url =
        Url::parse(base.expose()).map_err(|error| format!("invalid base URL: {error}"))?;
    url.path_segments_mut()
        .map_err(|()| "the base URL cannot have a path".to_owned())?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

fn header_map(headers: &[(String, Masked)]) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        insert(&mut map, name, value.expose())?;
    }
    Ok(map)
}

/// Adds a sensitive header (never shown by reqwest's `Debug`).
fn insert(map: &mut HeaderMap, name: &str, value: &str) -> Result<(), String> {
    let header = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("invalid header name `{name}`"))?;
    let mut value =
        HeaderValue::from_str(value).map_err(|_| format!("invalid value for header `{name}`"))?;
    value.set_sensitive(true);
    map.append(header, value);
    Ok(())
}

/// Prometheus `step` as float seconds (`15`, `0.5`).
fn seconds(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis % 1000 == 0 {
        (millis / 1000).to_string()
    } else {
        format!("{}.{:03}", millis / 1000, millis % 1000)
            .trim_end_matches('0')
            .to_owned()
    }
}

/// Sentry's `start`/`end`: UTC without offset, as its web UI sends them
/// (`2026-12-06T22:36:47`).
fn sentry_time(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S").to_string()
}

/// Sentry's `interval`: `30s`, `1m`, `1h`, `1d`.
fn sentry_interval(duration: Duration) -> String {
    let secs = duration.as_secs().max(1);
    if secs % 86_400 == 0 {
        format!("{}d", secs / 86_400)
    } else if secs % 3600 == 0 {
        format!("{}h", secs / 3600)
    } else if secs % 60 == 0 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// Reads the body, stopping past [`MAX_BODY_BYTES`].
async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    // Each chunk is non-empty; the loop ends at the body's end or the cap.
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| describe(&error, Duration::ZERO))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_BODY_BYTES {
            return Err(format!(
                "response body is larger than {} MiB",
                MAX_BODY_BYTES >> 20
            ));
        }
    }
    Ok(body)
}

/// A sample as a number: JSON numbers and numeric strings (Prometheus
/// writes `"0.012"`); `None` for `null`, NaN and infinities (gaps).
fn number(value: &Value) -> Result<Option<f64>, String> {
    let parsed = match value {
        Value::Null => return Ok(None),
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse::<f64>().ok(),
        _ => None,
    };
    match parsed {
        Some(number) if number.is_finite() => Ok(Some(number)),
        Some(_) => Ok(None),
        None => Err(format!(
            "{} is not a number",
            excerpt::json(value, DOCUMENT_EXCERPT_CHARS)
        )),
    }
}

/// The raw form: without `reduce` the path must select exactly one number;
/// with it, every number it selects is a point.
fn http_value(http: &HttpMetric, reduce: Option<Reduce>, document: &Value) -> Result<f64, String> {
    let path = &http.value_text;
    let selected = http.value.query(document).all();
    if selected.is_empty() {
        return Err(format!(
            "`{path}` selected nothing in {}",
            excerpt::json(document, DOCUMENT_EXCERPT_CHARS)
        ));
    }
    let Some(reduce) = reduce else {
        return match selected.as_slice() {
            [one] => number(one)
                .map_err(|_| {
                    format!(
                        "`{path}` selected {}, not a number",
                        excerpt::json(one, DOCUMENT_EXCERPT_CHARS)
                    )
                })?
                .ok_or_else(|| {
                    format!(
                        "`{path}` selected {}, not a number",
                        excerpt::json(one, DOCUMENT_EXCERPT_CHARS)
                    )
                }),
            many => Err(format!(
                "`{path}` selected {} values, not exactly one; set `reduce = \"last\"` (or `max`, `min`, `mean`) to judge a series",
                many.len()
            )),
        };
    };
    let mut points = Vec::with_capacity(selected.len());
    for value in selected {
        if let Some(point) =
            number(value).map_err(|message| format!("`{path}` selected {message}"))?
        {
            points.push(point);
        }
    }
    reduce
        .apply(&points)
        .ok_or_else(|| format!("`{path}` selected no number (only gaps)"))
}

/// The one series of a result, or why there is not exactly one.
fn only_series<'a>(series: &'a [Value], aggregate: &str) -> Result<&'a Value, String> {
    match series {
        [one] => Ok(one),
        [] => Err(format!(
            "the query returned no series in the window (no data); {aggregate}"
        )),
        many => Err(format!(
            "the query returned {} series, not one; aggregate them (e.g. with `sum`)",
            many.len()
        )),
    }
}

/// Prometheus range query: `data.result[0].values[*][1]`.
fn prometheus_points(document: &Value) -> Result<Vec<f64>, String> {
    if document["status"] != "success" {
        return Err(format!(
            "Prometheus answered {}",
            excerpt::json(document, DOCUMENT_EXCERPT_CHARS)
        ));
    }
    let result = list_at(document, &["data", "result"])?;
    let series = only_series(
        result,
        "append `or vector(0)` to the query if no data means zero",
    )?;
    samples(&series["values"], 1, |value| Some(value))
}

/// The list at `path` (object keys) in `document`, or an error naming it
/// and quoting the start of the document.
fn list_at<'d>(document: &'d Value, path: &[&str]) -> Result<&'d Vec<Value>, String> {
    path.iter()
        .fold(document, |value, key| &value[*key])
        .as_array()
        .ok_or_else(|| {
            format!(
                "no `{}` list in {}",
                path.join("."),
                excerpt::json(document, DOCUMENT_EXCERPT_CHARS)
            )
        })
}

/// Datadog v1 query: `series[0].pointlist[*][1]` (a `null` value is a gap).
fn datadog_points(document: &Value) -> Result<Vec<f64>, String> {
    if document["status"] == "error" {
        return Err(format!(
            "Datadog answered an error: {}",
            excerpt::json(&document["error"], DOCUMENT_EXCERPT_CHARS)
        ));
    }
    let series = list_at(document, &["series"])?;
    let series = only_series(
        series,
        "use `.fill(zero)` in the query if no data means zero",
    )?;
    samples(&series["pointlist"], 1, |value| Some(value))
}

/// Sentry events-stats: `data[*][1][0].count` (the `yAxis` value is under
/// `count` in each bucket).
fn sentry_points(document: &Value, y_axis: &str) -> Result<Vec<f64>, String> {
    if !document["data"].is_array() {
        return Err(format!(
            "no `data` list for `yAxis={y_axis}` in {}",
            excerpt::json(document, DOCUMENT_EXCERPT_CHARS)
        ));
    }
    samples(&document["data"], 1, |bucket| bucket.get(0)?.get("count"))
}

/// The numbers at `pair[index]` (then `pick`) of each item of `list`.
fn samples(
    list: &Value,
    index: usize,
    pick: impl Fn(&Value) -> Option<&Value>,
) -> Result<Vec<f64>, String> {
    let items = list.as_array().ok_or_else(|| {
        format!(
            "expected a list of points, got {}",
            excerpt::json(list, DOCUMENT_EXCERPT_CHARS)
        )
    })?;
    let mut points = Vec::with_capacity(items.len());
    for item in items {
        let value = item.get(index).and_then(&pick).ok_or_else(|| {
            format!(
                "malformed point {}",
                excerpt::json(item, DOCUMENT_EXCERPT_CHARS)
            )
        })?;
        if let Some(point) = number(value)? {
            points.push(point);
        }
    }
    Ok(points)
}

/// Argo's rules: `fail_if` wins; then a rise over the baseline past
/// `max_increase` fails; with both conditions, meeting neither is
/// inconclusive; with only `pass_if`, missing it fails.
pub(crate) fn judge(metric: &WatchMetric, value: f64, baseline: Option<f64>) -> (Verdict, String) {
    let shown = short(value);
    let compared = match (metric.compare, baseline) {
        (Some(compare), Some(baseline)) => {
            let ratio = if baseline > 0.0 {
                format!("{:.2}×", value / baseline)
            } else {
                "n/a×".to_owned()
            };
            let delta = value - baseline;
            let sign = if delta >= 0.0 { "+" } else { "-" };
            let text = format!(
                "baseline {}: {ratio}, {sign}{}",
                short(baseline),
                short(delta.abs())
            );
            Some((compare, baseline, text))
        }
        _ => None,
    };
    let with = |note: String| match &compared {
        Some((_, _, text)) if note.is_empty() => format!("{shown} ({text})"),
        Some((_, _, text)) => format!("{shown} ({text}; {note})"),
        None if note.is_empty() => shown.clone(),
        None => format!("{shown} ({note})"),
    };
    if let Some(fail_if) = metric
        .fail_if
        .as_ref()
        .filter(|fail_if| fail_if.holds(value))
    {
        return (Verdict::Failed, with(format!("fail_if {}", fail_if.text)));
    }
    if let Some((compare, baseline, _)) = &compared {
        if compare.exceeded(*baseline, value) {
            return (
                Verdict::Failed,
                with(format!("over max_increase {}", compare.limits())),
            );
        }
    }
    match (&metric.pass_if, &metric.fail_if) {
        (Some(pass_if), _) if pass_if.holds(value) => (Verdict::Successful, with(String::new())),
        (Some(pass_if), Some(fail_if)) => (
            Verdict::Inconclusive,
            with(format!(
                "neither pass_if {} nor fail_if {}",
                pass_if.text, fail_if.text
            )),
        ),
        (Some(pass_if), None) => (
            Verdict::Failed,
            with(format!("not pass_if {}", pass_if.text)),
        ),
        (None, _) => (Verdict::Successful, with(String::new())),
    }
}

/// A value as shown: at most 6 decimals, trailing zeros dropped (tiny
/// values keep their exponent form).
fn short(value: f64) -> String {
    if value != 0.0 && value.abs() < 1e-4 {
        return value.to_string();
    }
    let text = format!("{value:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_owned()
    } else {
        text.to_owned()
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
    use crate::config::time_template::TimeTemplate;
    use crate::config::{Baseline, Condition};

    fn metric(fail_if: Option<&str>, pass_if: Option<&str>) -> WatchMetric {
        WatchMetric {
            name: "errors".into(),
            source: MetricSource::Http(HttpMetric {
                method: MetricMethod::Get,
                url: TimeTemplate::parse("http://127.0.0.1:9/").unwrap(),
                headers: Vec::new(),
                body: None,
                value_text: "$.v".into(),
                value: serde_json_path::JsonPath::parse("$.v").unwrap(),
            }),
            reduce: None,
            window: None,
            compare: None,
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
        assert_eq!(judge(&only_fail, 0.01, None).0, Verdict::Successful);
        assert_eq!(
            judge(&only_fail, 0.2, None),
            (Verdict::Failed, "0.2 (fail_if > 0.05)".to_owned())
        );
        let only_pass = metric(None, Some("< 0.01"));
        assert_eq!(judge(&only_pass, 0.001, None).0, Verdict::Successful);
        assert_eq!(
            judge(&only_pass, 0.02, None),
            (Verdict::Failed, "0.02 (not pass_if < 0.01)".to_owned())
        );
        let both = metric(Some("> 0.05"), Some("< 0.01"));
        assert_eq!(
            judge(&both, 0.03, None),
            (
                Verdict::Inconclusive,
                "0.03 (neither pass_if < 0.01 nor fail_if > 0.05)".to_owned()
            )
        );
        assert_eq!(judge(&both, 0.1, None).0, Verdict::Failed);
    }

    #[test]
    fn the_baseline_fails_only_past_every_limit() {
        let mut compared = metric(Some("> 0.05"), None);
        compared.compare = Some(Baseline {
            window: None,
            factor: Some(2.0),
            absolute: Some(0.01),
        });
        assert_eq!(
            judge(&compared, 0.019, Some(0.004)),
            (
                Verdict::Failed,
                "0.019 (baseline 0.004: 4.75×, +0.015; over max_increase 2× and +0.01)".to_owned()
            )
        );
        // 2.5× but only +0.003: within the absolute limit.
        assert_eq!(
            judge(&compared, 0.005, Some(0.002)),
            (
                Verdict::Successful,
                "0.005 (baseline 0.002: 2.50×, +0.003)".to_owned()
            )
        );
        // fail_if still wins.
        assert_eq!(judge(&compared, 0.06, Some(0.059)).0, Verdict::Failed);
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

    #[test]
    fn series_reduce_to_last_max_min_and_mean() {
        let points = [0.2, 0.5, 0.1, 0.4];
        assert_eq!(Reduce::Last.apply(&points), Some(0.4));
        assert_eq!(Reduce::Max.apply(&points), Some(0.5));
        assert_eq!(Reduce::Min.apply(&points), Some(0.1));
        assert_eq!(short(Reduce::Mean.apply(&points).unwrap()), "0.3");
        assert_eq!(Reduce::Mean.apply(&[]), None);
    }

    #[test]
    fn documented_shapes_yield_their_points() {
        let prometheus = serde_json::json!({"status": "success", "data": {"resultType": "matrix",
            "result": [{"metric": {}, "values": [[1_700_000_000, "0.1"], [1_700_000_015, "NaN"], [1_700_000_030, "0.3"]]}]}});
        assert_eq!(prometheus_points(&prometheus).unwrap(), [0.1, 0.3]);
        let datadog = serde_json::json!({"status": "ok", "series": [{"pointlist": [[1.7e12, 2.0], [1.7e12, null], [1.7e12, 4.0]]}]});
        assert_eq!(datadog_points(&datadog).unwrap(), [2.0, 4.0]);
        let sentry = serde_json::json!({"data": [[1_700_000_000, [{"count": 3}]], [1_700_000_060, [{"count": 0}]]]});
        assert_eq!(sentry_points(&sentry, "count()").unwrap(), [3.0, 0.0]);
        let two = serde_json::json!({"status": "success", "data": {"result": [{"values": []}, {"values": []}]}});
        assert_eq!(
            prometheus_points(&two).unwrap_err(),
            "the query returned 2 series, not one; aggregate them (e.g. with `sum`)"
        );
    }

    fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "[0-9.a-zN]{0,6}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("status".to_owned()),
                        Just("data".to_owned()),
                        Just("result".to_owned()),
                        Just("values".to_owned()),
                        Just("series".to_owned()),
                        Just("pointlist".to_owned()),
                        Just("count".to_owned()),
                    ],
                    inner,
                    0..4,
                )
                .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn response_readers_never_panic(document in any_json()) {
            let _ = prometheus_points(&document);
            let _ = datadog_points(&document);
            let _ = sentry_points(&document, "count()");
            let mut wrapped = serde_json::json!({"status": "success", "data": {"result": [{"values": document.clone()}]}});
            let _ = prometheus_points(&wrapped);
            wrapped = serde_json::json!({"series": [{"pointlist": document}]});
            let _ = datadog_points(&wrapped);
        }

        #[test]
        fn reduced_values_lie_within_the_points(points in proptest::collection::vec(-1e6f64..1e6, 1..20)) {
            let (low, high) = points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), point| (low.min(*point), high.max(*point)));
            for reduce in [Reduce::Last, Reduce::Max, Reduce::Min, Reduce::Mean] {
                let value = reduce.apply(&points).unwrap();
                proptest::prop_assert!(value >= low - 1e-6 && value <= high + 1e-6, "{} of {:?} = {}", reduce.name(), points, value);
            }
        }
    }

    #[test]
    fn query_parameters_are_written_as_each_backend_expects() {
        assert_eq!(seconds(Duration::from_secs(15)), "15");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5");
        assert_eq!(sentry_interval(Duration::from_secs(60)), "1m");
        assert_eq!(sentry_interval(Duration::from_secs(90)), "90s");
        assert_eq!(sentry_interval(Duration::from_secs(3600)), "1h");
        assert_eq!(
            sentry_time(jiff::Timestamp::from_millisecond(1_700_000_000_500).unwrap()),
            "2023-11-14T22:13:20"
        );
    }
}
