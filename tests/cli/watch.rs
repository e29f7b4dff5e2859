//! `shipgate watch` and the watch phase of `shipgate run`, against real
//! servers on 127.0.0.1 with short intervals: a metric crossing
//! `failure_limit` at the right measurement, query errors against
//! `consecutive_error_limit`, a watch within limits, and a failing watch
//! rolling a deploy back (issue 5).

use serde_json::json;

use crate::support::Test;
use crate::support::app::ReleaseApp;
use crate::support::http::{Reply, Scripted, Server};

/// A Prometheus-like API answering `values[n]` to the n-th query (the last
/// one after that); a negative value answers `500`.
fn prometheus(values: &'static [f64]) -> Server {
    Server::builder()
        .route(
            "/api/v1/query",
            Reply::script(move |_, earlier| {
                let value = values[earlier.min(values.len() - 1)];
                if value < 0.0 {
                    return Scripted {
                        status: 500,
                        body: "upstream error".into(),
                        ..Scripted::default()
                    };
                }
                Scripted {
                    status: 200,
                    headers: vec![("content-type".into(), "application/json".into())],
                    body: json!({ "status": "success", "data": { "result": [
                        { "metric": {}, "value": [1_712_000_000, value.to_string()] }
                    ] } })
                    .to_string(),
                    delay: None,
                }
            }),
        )
        .json("/api/health", 200, json!({ "status": "healthy" }))
        .start()
}

fn config(server: &Server, watch: &str) -> String {
    format!(
        r#"
[environments.local]
url = "{url}"

[[smoke.check]]
name = "health"
path = "/api/health"

[watch]
{watch}

[[watch.metric]]
name = "5xx rate"
url = "{url}/api/v1/query?query=rate"
headers = {{ Authorization = "Bearer ${{PROM_TOKEN}}" }}
value = "$.data.result[0].value[1]"
fail_if = "> 0.05"
"#,
        url = server.url()
    )
}

fn metric_queries(server: &Server) -> usize {
    server
        .requests()
        .iter()
        .filter(|request| request.uri.starts_with("/api/v1/query"))
        .count()
}

#[test]
fn watch_stops_when_failures_cross_the_limit_at_the_right_measurement() {
    let server = prometheus(&[0.01, 0.09, 0.01, 0.2, 0.3, 0.01]);
    let output = Test::new()
        .config(&config(
            &server,
            "for = \"20s\"\ninterval = \"50ms\"\nfailure_limit = 2",
        ))
        .env("PROM_TOKEN", "pr0m-t0ken")
        .args(["watch"])
        .run(1);
    output
        .stdout_has("✗ watch stopped at measurement #5 of 400: `5xx rate` crossed its limit")
        .stdout_has("  ✗ 5xx rate 5 measurement(s): 2 successful, 3 failed, 0 inconclusive, 0 error(s)")
        .stdout_has("      expected: at most 2 failed measurement(s) (`failure_limit`)\n      got:      3 failed by measurement #5: 0.3 (fail_if > 0.05)\n")
        .stdout_has("      │ #1 at 0ms: ✓ 0.01\n")
        .stdout_has("      │ #2 at 50ms: ✗ 0.09 (fail_if > 0.05)\n")
        .stdout_has("      │ #5 at 200ms: ✗ 0.3 (fail_if > 0.05)\n")
        .stdout_has("  ✓ smoke 5 measurement(s): 5 successful, 0 failed, 0 inconclusive, 0 error(s)")
        .stderr_has("watch #1/400 at 0ms of 20.0s: smoke ✓ 1 of 1 passed · 5xx rate ✓ 0.01\n")
        .stderr_has("watch #5/400 at 200ms of 20.0s: smoke ✓ 1 of 1 passed · 5xx rate ✗ 0.3 (fail_if > 0.05)\n");
    assert_eq!(metric_queries(&server), 5, "no measurement after the limit");
    let auth = server.requests()[1..]
        .iter()
        .find(|request| request.uri.starts_with("/api/v1/query"))
        .and_then(|request| {
            request
                .headers
                .iter()
                .find(|(name, _)| name == "authorization")
                .map(|(_, value)| value.clone())
        });
    assert_eq!(auth.as_deref(), Some("Bearer pr0m-t0ken"));
}

#[test]
fn watch_within_limits_passes_after_every_interval() {
    let server = prometheus(&[0.01, 0.2, 0.01]);
    let output = Test::new()
        .config(&config(
            &server,
            "for = \"250ms\"\ninterval = \"50ms\"\nfailure_limit = 1",
        ))
        .env("PROM_TOKEN", "t0ken-value")
        .args(["watch"])
        .run(0);
    output
        .stdout_has("watch 5 measurement(s) over 250ms within limits")
        .stdout_has(
            "  ! 5xx rate 5 measurement(s): 4 successful, 1 failed, 0 inconclusive, 0 error(s)",
        );
    assert_eq!(metric_queries(&server), 5);
}

#[test]
fn for_flag_overrides_the_config() {
    let server = prometheus(&[0.01]);
    Test::new()
        .config(&config(&server, "for = \"1h\"\ninterval = \"50ms\""))
        .env("PROM_TOKEN", "t0ken-value")
        .args(["watch", "--for", "100ms"])
        .run(0)
        .stdout_has("watch 2 measurement(s) over 100ms within limits");
    assert_eq!(metric_queries(&server), 2);
}

#[test]
fn consecutive_query_errors_cross_the_error_limit() {
    let server = prometheus(&[0.01, -1.0, 0.01, -1.0, -1.0]);
    let output = Test::new()
        .config(&config(
            &server,
            "for = \"20s\"\ninterval = \"50ms\"\nconsecutive_error_limit = 1",
        ))
        .env("PROM_TOKEN", "t0ken-value")
        .args(["watch"])
        .run(1);
    output.stdout_has(
        "      expected: at most 1 consecutive error(s) (`consecutive_error_limit`)\n      got:      2 in a row by measurement #5: status 500\n",
    );
}

#[test]
fn watch_without_a_watch_table_is_a_usage_error() {
    Test::new()
        .config("[environments.local]\nurl = \"http://127.0.0.1:9\"\n")
        .args(["watch"])
        .run(2)
        .stderr_has("error: there is nothing to watch: `shipgate.toml` has no `[watch]` table")
        .stderr_has("hint: add `[watch]` with `for = \"10m\"`");
}

#[test]
fn an_unknown_check_in_watch_checks_gets_did_you_mean() {
    let server = prometheus(&[0.01]);
    Test::new()
        .config(&config(&server, "checks = [\"helth\"]"))
        .env("PROM_TOKEN", "t0ken-value")
        .args(["check"])
        .run(2)
        .stderr_has("error: `watch.checks` names `helth`, which is not a smoke check")
        .stderr_has("hint: did you mean `health`?");
}

#[test]
fn a_failing_watch_after_deploy_rolls_back() {
    // Three good measurements for v1's run, then only bad ones.
    let metrics = prometheus(&[0.01, 0.01, 0.01, 0.5]);
    let test = Test::new()
        .file("build/v1/status", "200")
        .file("build/v2/status", "200");
    let app = ReleaseApp::start(test.path().join("srv"));
    let config = format!(
        r#"
[environments.prod]
url = "{app}"

[environments.prod.releases]
root = "srv"
restart = "true"

[smoke]
ready_within = "1s"

[[smoke.check]]
name = "health"
path = "/health"

[watch]
for = "150ms"
interval = "50ms"

[[watch.metric]]
name = "5xx rate"
url = "{metrics}/api/v1/query"
value = "$.data.result[0].value[1]"
fail_if = "> 0.05"
"#,
        app = app.url(),
        metrics = metrics.url()
    );
    let test = test.config(&config);
    Test::args_for(&test, ["run", "--source", "build/v1", "--id", "v1"])
        .run(0)
        .stdout_has("watch 3 measurement(s) over 150ms within limits");
    let output = Test::args_for(&test, ["run", "--source", "build/v2", "--id", "v2"]).run(4);
    output
        .stdout_has("✗ watch stopped at measurement #1 of 3: `5xx rate` crossed its limit")
        .stdout_has("got:      1 failed by measurement #1: 0.5 (fail_if > 0.05)")
        .stdout_has("(exit 4");
    let current = fs_err::read_link(test.path().join("srv/current")).unwrap();
    assert_eq!(current.file_name().unwrap(), "v1");
}

#[test]
fn run_and_a_separate_watch_step_pass_the_deploy_time_to_metric_queries() {
    let metrics = prometheus(&[0.01]);
    let test = Test::new().file("build/v1/status", "200");
    let app = ReleaseApp::start(test.path().join("srv"));
    let config = format!(
        r#"
[environments.prod]
url = "{app}"

[environments.prod.releases]
root = "srv"
restart = "true"

[smoke]
ready_within = "1s"

[[smoke.check]]
name = "health"
path = "/health"

[watch]
for = "100ms"
interval = "50ms"

[[watch.metric]]
name = "5xx rate"
url = "{metrics}/api/v1/query?deploy={{deploy_time:unix_ms}}&start={{window_start:unix_ms}}&end={{now:unix_ms}}"
value = "$.data.result[0].value[1]"
window = "1m"
fail_if = "> 0.05"
"#,
        app = app.url(),
        metrics = metrics.url()
    );
    let before = now_ms();
    let test = test.config(&config);
    Test::args_for(&test, ["run", "--source", "build/v1", "--id", "v1"])
        .run(0)
        .stdout_has("watch 2 measurement(s) over 100ms within limits");
    let times = metric_times(&metrics);
    assert_eq!(times.len(), 2, "{times:?}");
    for [deploy, start, end] in &times {
        assert_eq!(*deploy, times[0][0], "one deploy time for the whole watch");
        assert!(before <= *deploy && deploy <= end, "{times:?}");
        assert_eq!(end - start, 60_000, "the `window`");
    }

    // Separate steps (the reusable workflow): `watch` times the deploy that
    // `shipgate deploy` recorded, not its own start.
    fs_err::create_dir_all(test.path().join("build/v2")).unwrap();
    fs_err::write(test.path().join("build/v2/status"), "200").unwrap();
    let before = now_ms();
    Test::args_for(&test, ["deploy", "--source", "build/v2", "--id", "v2"]).run(0);
    let deployed = now_ms();
    std::thread::sleep(std::time::Duration::from_millis(300));
    Test::args_for(&test, ["watch"]).run(0);
    let times = metric_times(&metrics);
    let [deploy, _, end] = times[times.len() - 1];
    assert!(
        before <= deploy && deploy <= deployed && deployed + 300 <= end,
        "the deploy's time, not the watch's start: {times:?}"
    );
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

/// `deploy`, `start` and `end` of every metric query, in order.
fn metric_times(metrics: &Server) -> Vec<[u128; 3]> {
    metrics
        .requests()
        .iter()
        .filter(|request| request.uri.starts_with("/api/v1/query"))
        .map(|request| {
            let value = |name: &str| {
                request
                    .uri
                    .split(['?', '&'])
                    .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
                    .and_then(|value| value.parse::<u128>().ok())
                    .unwrap_or_else(|| panic!("no `{name}` in {}", request.uri))
            };
            [value("deploy"), value("start"), value("end")]
        })
        .collect()
}
