//! `[[watch.metric]]` queries that real backends accept (issue 15, item 3):
//! each preset against a `wiremock` fake that checks the exact method, path,
//! query and auth headers its API documents and answers the documented
//! response shape; the raw form with time placeholders in the URL and a
//! JSON body sent by POST (Datadog v2 timeseries); series reduction;
//! `compare = "previous"` against a baseline read from the window before
//! the deploy; placeholder errors at load; secrets never in output.

use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::support::Test;

/// A fake backend on 127.0.0.1, served by the runtime's workers while the
/// binary runs.
struct Fake {
    runtime: tokio::runtime::Runtime,
    server: MockServer,
}

impl Fake {
    fn start() -> Self {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let server = runtime.block_on(MockServer::start());
        Self { runtime, server }
    }

    fn url(&self) -> String {
        self.server.uri()
    }

    fn mount(&self, mock: Mock) {
        self.runtime.block_on(mock.mount(&self.server));
    }

    fn requests(&self) -> Vec<Request> {
        self.runtime
            .block_on(self.server.received_requests())
            .unwrap()
    }

    /// Every mock's `expect` held.
    fn verify(&self) {
        self.runtime.block_on(self.server.verify());
    }
}

fn param(request: &Request, name: &str) -> Option<String> {
    request
        .url
        .query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

fn rfc3339(text: &str) -> jiff::Timestamp {
    text.parse()
        .unwrap_or_else(|error| panic!("`{text}` is not RFC 3339: {error}"))
}

/// Seconds between the `start` and `end` RFC 3339 query parameters, when
/// both parse and `end` is within a minute of now.
fn rfc3339_span(request: &Request, start: &str, end: &str) -> Option<i64> {
    let start = param(request, start)?.parse::<jiff::Timestamp>().ok()?;
    let end = param(request, end)?.parse::<jiff::Timestamp>().ok()?;
    let lag = jiff::Timestamp::now().as_second() - end.as_second();
    (0..60)
        .contains(&lag)
        .then(|| (end.as_millisecond() - start.as_millisecond()) / 1000)
}

/// Sentry's `start`/`end` (UTC, no offset): the seconds between them.
fn sentry_span(request: &Request) -> Option<i64> {
    let parse = |name| {
        param(request, name)?
            .parse::<jiff::civil::DateTime>()
            .ok()?
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|zoned| zoned.timestamp().as_second())
    };
    Some(parse("end")? - parse("start")?)
}

fn environment(url: &str, watch: &str) -> String {
    format!("[environments.local]\nurl = \"{url}\"\n\n[watch]\n{watch}\n")
}

/// Prometheus, "HTTP API → Range queries": the matrix shape.
fn prometheus_matrix(values: &[&str]) -> Value {
    let values: Vec<Value> = values
        .iter()
        .enumerate()
        .map(|(index, value)| json!([1_765_000_000 + 15 * index, value]))
        .collect();
    json!({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"job": "api"}, "values": values}
    ]}})
}

const PROMQL: &str =
    r#"sum(rate(http_requests_total{status=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))"#;

#[test]
fn prometheus_preset_queries_query_range_over_the_window_with_the_token() {
    let fake = Fake::start();
    fake.mount(
        Mock::given(method("GET"))
            .and(path("/prom/api/v1/query_range"))
            .and(query_param("query", PROMQL))
            .and(query_param("step", "15"))
            .and(header("authorization", "Bearer pr0m-s3cret"))
            // start/end: RFC 3339, 5 minutes apart, ending now.
            .and(|request: &Request| rfc3339_span(request, "start", "end") == Some(300))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(prometheus_matrix(&["0.01", "0.04", "0.02"])),
            )
            .expect(4), // two runs of two measurements
    );
    let config = format!(
        r#"{}
[[watch.metric]]
name = "5xx rate"
kind = "prometheus"
url = "{}/prom"
token = "${{PROM_TOKEN}}"
query = '{PROMQL}'
window = "5m"
reduce = "max"
fail_if = "> 0.05"
"#,
        environment(&fake.url(), "for = \"100ms\"\ninterval = \"50ms\""),
        fake.url()
    );
    let test = Test::new()
        .config(&config)
        .env("PROM_TOKEN", "pr0m-s3cret")
        .args(["watch"]);
    test.run(0)
        .stdout_has("watch 2 measurement(s) over 100ms within limits")
        .stderr_has("watch #1/2 at 0ms of 100ms: 5xx rate ✓ 0.04\n")
        .stderr_has("watch #2/2 at 50ms of 100ms: 5xx rate ✓ 0.04\n")
        .nowhere("pr0m-s3cret");
    let json = Test::args_for(&test, ["watch", "--format", "json"]).run(0);
    json.nowhere("pr0m-s3cret");
    assert_eq!(json.json()["phases"][0]["checks"][0]["name"], "5xx rate");
    let request = &fake.requests()[0];
    assert_eq!(
        request.url.path(),
        "/prom/api/v1/query_range",
        "the base URL's path prefix is kept"
    );
    let start = rfc3339(&param(request, "start").unwrap());
    assert!(
        param(request, "start").unwrap().ends_with('Z'),
        "UTC: {start}"
    );
    fake.verify();
}

#[test]
fn datadog_preset_sends_both_keys_and_seconds_and_skips_null_points() {
    let fake = Fake::start();
    let query = "sum:trace.http.request.errors{service:shop,env:prod}.as_rate()";
    fake.mount(
        Mock::given(method("GET"))
            .and(path("/api/v1/query"))
            .and(query_param("query", query))
            .and(header("dd-api-key", "dd-api-s3cret"))
            .and(header("dd-application-key", "dd-app-s3cret"))
            // from/to: whole Unix seconds, 10 minutes apart.
            .and(|request: &Request| {
                let seconds = |name| param(request, name)?.parse::<i64>().ok();
                matches!((seconds("from"), seconds("to")), (Some(from), Some(to)) if to - from == 600 && to > 1_700_000_000 && to < 10_000_000_000)
            })
            // Datadog, "Metrics → Query timeseries points": `series[].pointlist`.
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "status": "ok", "res_type": "time_series", "query": query,
                "from_date": 1_765_000_000_000_i64, "to_date": 1_765_000_600_000_i64,
                "series": [{"metric": "trace.http.request.errors", "scope": "env:prod,service:shop",
                    "pointlist": [[1_765_000_000_000.0, 1.0], [1_765_000_060_000.0, null], [1_765_000_120_000.0, 3.5]]}]
            })))
            .expect(1),
    );
    let config = format!(
        r#"{}
[[watch.metric]]
name = "errors/s"
kind = "datadog"
url = "{}"
api_key = "${{DD_API_KEY}}"
application_key = "${{DD_APP_KEY}}"
query = "{query}"
window = "10m"
reduce = "mean"
fail_if = "> 2"
"#,
        environment(&fake.url(), "for = \"50ms\"\ninterval = \"50ms\""),
        fake.url()
    );
    let output = Test::new()
        .config(&config)
        .env("DD_API_KEY", "dd-api-s3cret")
        .env("DD_APP_KEY", "dd-app-s3cret")
        .args(["watch"])
        .run(1);
    output
        .stdout_has("got:      1 failed by measurement #1: 2.25 (fail_if > 2)")
        .nowhere("dd-api-s3cret")
        .nowhere("dd-app-s3cret");
    fake.verify();
}

/// Sentry, "Events → event stats": `data[[ts, [{"count": n}]], …]`, one
/// answer for the hour before the deploy and one for the last 5 minutes.
fn sentry(baseline: f64, now: f64) -> Fake {
    let fake = Fake::start();
    let stats = |value: f64| {
        json!({"data": [
            [1_765_000_000, [{"count": value}]],
            [1_765_000_060, [{"count": value}]]
        ], "start": 1_765_000_000, "end": 1_765_000_120})
    };
    let base = || {
        Mock::given(method("GET"))
            .and(path("/api/0/organizations/acme/events-stats/"))
            .and(query_param("query", "transaction:/checkout"))
            .and(query_param("yAxis", "failure_rate()"))
            .and(query_param("interval", "1m"))
            .and(query_param("project", "42"))
            .and(header("authorization", "Bearer sntrys_t0ken"))
    };
    fake.mount(
        base()
            .and(|request: &Request| sentry_span(request) == Some(3600))
            .respond_with(ResponseTemplate::new(200).set_body_json(stats(baseline)))
            .expect(1),
    );
    fake.mount(
        base()
            .and(|request: &Request| sentry_span(request) == Some(300))
            .respond_with(ResponseTemplate::new(200).set_body_json(stats(now))),
    );
    fake
}

fn sentry_config(fake: &Fake, watch: &str) -> String {
    format!(
        r#"{}
[[watch.metric]]
name = "checkout errors"
kind = "sentry"
url = "{}"
token = "${{SENTRY_TOKEN}}"
organization = "acme"
project = 42
query = "transaction:/checkout"
y_axis = "failure_rate()"
step = "1m"
window = "5m"
reduce = "mean"
fail_if = "> 0.05"
compare = "previous"
baseline_window = "1h"
max_increase = {{ factor = 2.0, absolute = 0.01 }}
"#,
        environment(&fake.url(), watch),
        fake.url()
    )
}

#[test]
fn sentry_preset_fails_a_rise_over_the_baseline_before_the_deploy() {
    let fake = sentry(0.004, 0.019);
    let output = Test::new()
        .config(&sentry_config(&fake, "for = \"20s\"\ninterval = \"50ms\""))
        .env("SENTRY_TOKEN", "sntrys_t0ken")
        .args(["watch"])
        .run(1);
    output
        .stdout_has("✗ watch stopped at measurement #1 of 400: `checkout errors` crossed its limit")
        .stdout_has("got:      1 failed by measurement #1: 0.019 (baseline 0.004: 4.75×, +0.015; over max_increase 2× and +0.01)")
        .nowhere("sntrys_t0ken");
    fake.verify();
}

#[test]
fn sentry_preset_passes_within_the_baseline_and_reads_it_once() {
    let fake = sentry(0.004, 0.012);
    let output = Test::new()
        .config(&sentry_config(
            &fake,
            "for = \"150ms\"\ninterval = \"50ms\"",
        ))
        .env("SENTRY_TOKEN", "sntrys_t0ken")
        .args(["watch"])
        .run(0);
    // 3× the baseline but only +0.008: within `absolute = 0.01`.
    output
        .stdout_has("watch 3 measurement(s) over 150ms within limits")
        .stderr_has("watch #3/3 at 100ms of 150ms: checkout errors ✓ 0.012 (baseline 0.004: 3.00×, +0.008)\n");
    assert_eq!(
        fake.requests().len(),
        4,
        "one baseline and three measurements"
    );
    fake.verify();
}

#[test]
fn an_unreadable_baseline_is_an_error_measurement() {
    let fake = Fake::start();
    fake.mount(
        Mock::given(method("GET"))
            .and(path("/api/0/organizations/acme/events-stats/"))
            .respond_with(
                ResponseTemplate::new(400)
                    .set_body_json(json!({"detail": "Invalid query: unknown function"})),
            ),
    );
    let output = Test::new()
        .config(&sentry_config(
            &fake,
            "for = \"20s\"\ninterval = \"50ms\"\nconsecutive_error_limit = 1",
        ))
        .env("SENTRY_TOKEN", "sntrys_t0ken")
        .args(["watch"])
        .run(1);
    output.stdout_has(
        "got:      2 in a row by measurement #2: baseline: status 400: {\"detail\":\"Invalid query: unknown function\"}",
    );
}

#[test]
fn raw_form_posts_a_templated_json_body_like_datadog_v2_timeseries() {
    let fake = Fake::start();
    let query = "sum:trace.http.request.duration.by.service.95p{service:shop}";
    fake.mount(
        Mock::given(method("POST"))
            .and(path("/api/v2/query/timeseries"))
            .and(header("dd-api-key", "dd-api-s3cret"))
            .and(header("dd-application-key", "dd-app-s3cret"))
            .and(header("content-type", "application/json"))
            .and(move |request: &Request| {
                let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
                    return false;
                };
                let attributes = &body["data"]["attributes"];
                let (Some(from), Some(to)) =
                    (attributes["from"].as_i64(), attributes["to"].as_i64())
                else {
                    return false;
                };
                body["data"]["type"] == "timeseries_request"
                    && to - from == 300_000
                    && attributes["queries"]
                        == json!([{"data_source": "metrics", "query": query, "name": "a"}])
                    && attributes["formulas"] == json!([{"formula": "a"}])
            })
            // Datadog v2 "Query timeseries data across multiple products".
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {
                "type": "timeseries_response", "id": "0",
                "attributes": {
                    "series": [{"group_tags": [], "query_index": 0, "unit": null}],
                    "times": [1_765_000_000_000_i64, 1_765_000_060_000_i64, 1_765_000_120_000_i64],
                    "values": [[0.31, 0.45, 0.38]]
                }
            }})))
            .expect(1),
    );
    let config = format!(
        r#"{}
[[watch.metric]]
name = "p95 latency"
method = "POST"
url = "{}/api/v2/query/timeseries"
headers = {{ DD-API-KEY = "${{DD_API_KEY}}", DD-APPLICATION-KEY = "${{DD_APP_KEY}}" }}
value = "$.data.attributes.values[0][*]"
reduce = "last"
pass_if = "< 0.5"
window = "5m"

[watch.metric.body.data]
type = "timeseries_request"

[watch.metric.body.data.attributes]
from = "{{window_start:unix_ms}}"
to = "{{now:unix_ms}}"
queries = [{{ data_source = "metrics", query = "{query}", name = "a" }}]
formulas = [{{ formula = "a" }}]
"#,
        environment(&fake.url(), "for = \"50ms\"\ninterval = \"50ms\""),
        fake.url()
    );
    Test::new()
        .config(&config)
        .env("DD_API_KEY", "dd-api-s3cret")
        .env("DD_APP_KEY", "dd-app-s3cret")
        .args(["watch"])
        .run(0)
        .stderr_has("watch #1/1 at 0ms of 50ms: p95 latency ✓ 0.38\n")
        .nowhere("dd-api-s3cret");
    fake.verify();
}

#[test]
fn raw_form_fills_url_placeholders_percent_encoded_and_keeps_promql_braces() {
    let fake = Fake::start();
    let query = r#"sum(rate(http_requests_total{status=~"5.."}[5m]))"#;
    fake.mount(
        Mock::given(method("GET"))
            .and(path("/api/v1/query_range"))
            .and(query_param("query", query))
            .and(query_param("step", "15"))
            .and(|request: &Request| {
                // `:` of the RFC 3339 times arrives percent-encoded.
                request.url.query().is_some_and(|raw| raw.contains("%3A"))
                    && rfc3339_span(request, "start", "end") == Some(60)
            })
            .respond_with(
                ResponseTemplate::new(200).set_body_json(prometheus_matrix(&["0.1", "0.6", "0.2"])),
            )
            .expect(3),
    );
    let metric = |name: &str, reduce: &str| {
        format!(
            r#"
[[watch.metric]]
name = "{name}"
url = '{url}/api/v1/query_range?query={query}&start={{window_start}}&end={{now:rfc3339}}&step=15'
value = "$.data.result[0].values[*][1]"
reduce = "{reduce}"
window = "1m"
fail_if = "> 1"
"#,
            url = fake.url()
        )
    };
    let config = format!(
        "{}{}{}{}",
        environment(&fake.url(), "for = \"50ms\"\ninterval = \"50ms\""),
        metric("last", "last"),
        metric("max", "max"),
        metric("mean", "mean"),
    );
    Test::new()
        .config(&config)
        .args(["watch"])
        .run(0)
        .stderr_has("watch #1/1 at 0ms of 50ms: last ✓ 0.2 · max ✓ 0.6 · mean ✓ 0.3\n");
    fake.verify();
}

#[test]
fn a_series_without_reduce_in_the_raw_form_is_an_error_naming_the_fix() {
    let fake = Fake::start();
    fake.mount(
        Mock::given(method("GET"))
            .and(path("/api/v1/query_range"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(prometheus_matrix(&["0.1", "0.2"])),
            ),
    );
    let config = format!(
        r#"{}
[[watch.metric]]
name = "rate"
url = "{}/api/v1/query_range?query=up"
value = "$.data.result[0].values[*][1]"
fail_if = "> 1"
"#,
        environment(
            &fake.url(),
            "for = \"50ms\"\ninterval = \"50ms\"\nconsecutive_error_limit = 0"
        ),
        fake.url()
    );
    Test::new()
        .config(&config)
        .args(["watch"])
        .run(1)
        .stdout_has("got:      1 in a row by measurement #1: `$.data.result[0].values[*][1]` selected 2 values, not exactly one; set `reduce = \"last\"` (or `max`, `min`, `mean`) to judge a series");
}

#[test]
fn unknown_placeholders_and_formats_fail_at_load_with_their_location() {
    let config = |url: &str| {
        format!(
            "[environments.local]\nurl = \"http://127.0.0.1:9\"\n\n[watch]\n\n[[watch.metric]]\nname = \"rate\"\nurl = \"{url}\"\nvalue = \"$.v\"\nfail_if = \"> 1\"\n"
        )
    };
    Test::new()
        .config(&config("http://127.0.0.1:9/q?from={window_strat:unix}"))
        .args(["check"])
        .run(2)
        .stderr_has("error: unknown placeholder `window_strat` in `{window_strat:unix}`, for key `watch.metric `rate` url`\n  --> shipgate.toml:8:34\n")
        .stderr_has("hint: did you mean `window_start`?");
    Test::new()
        .config(&config("http://127.0.0.1:9/q?to={now:seconds}"))
        .args(["check"])
        .run(2)
        .stderr_has("error: unknown time format `seconds` in `{now:seconds}`, for key `watch.metric `rate` url`\n  --> shipgate.toml:8:32\n")
        .stderr_has("`:rfc3339`, `:unix` or `:unix_ms`");
}

#[test]
fn preset_fields_are_checked_at_load() {
    let base = "[environments.local]\nurl = \"http://127.0.0.1:9\"\n\n[watch]\n\n[[watch.metric]]\nname = \"errors\"\n";
    Test::new()
        .config(&format!(
            "{base}kind = \"prometheus\"\nurl = \"http://127.0.0.1:9\"\nquery = \"up\"\nvalue = \"$.v\"\nfail_if = \"> 1\"\n"
        ))
        .args(["check"])
        .run(2)
        .stderr_has("error: `value` does not apply to watch metric `errors` of `kind = \"prometheus\"`\n  --> shipgate.toml:11:9\n")
        .stderr_has("hint: remove `value`, or set `kind` to one that takes it: `http`");
    Test::new()
        .config(&format!(
            "{base}kind = \"promethus\"\nquery = \"up\"\nfail_if = \"> 1\"\n"
        ))
        .args(["check"])
        .run(2)
        .stderr_has("hint: did you mean `prometheus`?");
    Test::new()
        .config(&format!(
            "{base}kind = \"sentry\"\ntoken = \"t\"\norganization = \"acme\"\ncompare = \"previous\"\n"
        ))
        .args(["check"])
        .run(2)
        .stderr_has("error: watch metric `errors` sets `compare` without `max_increase`");
}

#[test]
fn a_backend_echoing_the_token_in_an_error_never_shows_it() {
    let fake = Fake::start();
    fake.mount(
        Mock::given(method("GET"))
            .and(path("/api/v1/query_range"))
            .respond_with(ResponseTemplate::new(401).set_body_json(json!({
                "status": "error", "errorType": "unauthorized",
                "error": "token pr0m-s3cret is not valid"
            }))),
    );
    let config = format!(
        r#"{}
[[watch.metric]]
name = "5xx rate"
kind = "prometheus"
url = "{}"
token = "${{PROM_TOKEN}}"
query = "up"
fail_if = "> 1"
"#,
        environment(
            &fake.url(),
            "for = \"20s\"\ninterval = \"50ms\"\nconsecutive_error_limit = 0"
        ),
        fake.url()
    );
    let test = Test::new()
        .config(&config)
        .env("PROM_TOKEN", "pr0m-s3cret")
        .args(["watch"]);
    test.run(1)
        .stdout_has("got:      1 in a row by measurement #1: status 401: {\"error\":\"token ")
        .stderr_has("5xx rate ! status 401")
        .nowhere("pr0m-s3cret");
    Test::args_for(&test, ["watch", "--format", "json"])
        .run(1)
        .nowhere("pr0m-s3cret");
}
