//! Sampling after readiness: latency percentiles against `max_latency`, and
//! the suite error rate against `max_error_rate` (issue 5).

use std::time::Duration;

use crate::support::Test;
use crate::support::http::{Reply, Scripted, Server};

fn config(url: &str, smoke: &str, check: &str) -> String {
    format!(
        r#"
[environments.local]
url = "{url}"

[smoke]
ready_within = "2s"
concurrency = 4
{smoke}

[[smoke.check]]
name = "api"
path = "/api"
timeout = "3s"
{check}
"#
    )
}

/// The readiness attempt is request 0; samples are 1..=20. Two of them
/// (5 and 15) take 300 ms.
fn sometimes_slow() -> Server {
    Server::builder()
        .route(
            "/api",
            Reply::script(|_, earlier| Scripted {
                status: 200,
                body: "ok".into(),
                delay: (earlier % 10 == 5).then_some(Duration::from_millis(300)),
                ..Scripted::default()
            }),
        )
        .start()
}

/// `(p95, p50)` in milliseconds from `got: p95 Xms (p50 Yms, …`.
fn percentiles(stdout: &str) -> (u64, u64) {
    let got = stdout
        .split("      got:      p95 ")
        .nth(1)
        .expect("a p95 failure");
    let number = |text: &str| -> u64 {
        text.trim_start()
            .split("ms")
            .next()
            .unwrap()
            .parse()
            .unwrap_or_else(|_| panic!("not milliseconds: {text:?}"))
    };
    let p95 = number(got);
    let p50 = number(got.split("(p50 ").nth(1).unwrap());
    (p95, p50)
}

#[test]
fn a_slow_p95_fails_max_latency_while_the_median_is_fast() {
    let server = sometimes_slow();
    let output = Test::new()
        .config(&config(
            &server.url(),
            "samples = 20",
            "max_latency = \"150ms\"",
        ))
        .args(["smoke"])
        .run(1);
    output.stdout_has("      expected: p95 ≤ 150ms (`max_latency`)\n");
    let (p95, p50) = percentiles(&output.stdout);
    assert!(p95 >= 300, "p95 {p95}ms");
    assert!(p50 < 150, "p50 {p50}ms");
    output.stdout_has("(20 samples)");
    assert_eq!(server.hits(), 21, "one readiness attempt and 20 samples");
}

#[test]
fn a_p95_within_max_latency_passes_and_shows_the_percentiles() {
    let server = sometimes_slow();
    let output = Test::new()
        .config(&config(
            &server.url(),
            "samples = 20",
            "max_latency = \"2s\"",
        ))
        .args(["smoke"])
        .run(0);
    output
        .stdout_has(" · p50 ")
        .stdout_has(" · p95 ")
        .stdout_has(" · max ")
        .stdout_has("(20 samples)")
        .stdout_has("✓ error rate 0.0% (0 of 20 samples failed)");
}

/// Samples 1, 6, 11 and 16 of 20 fail with 500: a 20 % error rate.
fn flaky() -> Server {
    Server::builder()
        .route(
            "/api",
            Reply::script(|_, earlier| Scripted {
                status: if earlier % 5 == 1 { 500 } else { 200 },
                body: "ok".into(),
                ..Scripted::default()
            }),
        )
        .start()
}

#[test]
fn twenty_percent_errors_fail_a_ten_percent_error_budget() {
    let server = flaky();
    let output = Test::new()
        .config(&config(
            &server.url(),
            "samples = 20\nmax_error_rate = 0.1",
            "",
        ))
        .args(["smoke"])
        .run(1);
    output
        .stdout_has(" · 4 of 20 samples failed")
        .stdout_has("      expected: status 200\n      got:      status 500\n")
        .stdout_has("  ✗ error rate 20.0% (4 of 20 samples failed)\n")
        .stdout_has("      expected: at most 10.0% (`max_error_rate`)\n      got:      20.0% (4 of 20 samples failed)\n");
}

#[test]
fn errors_within_the_budget_warn_and_pass() {
    let server = flaky();
    let output = Test::new()
        .config(&config(
            &server.url(),
            "samples = 20\nmax_error_rate = 0.25",
            "",
        ))
        .args(["smoke"])
        .run(0);
    output
        .stdout_has("  ! api GET ")
        .stdout_has(" · 4 of 20 samples failed")
        .stdout_has("  ✓ error rate 20.0% (4 of 20 samples failed)\n");
}

#[test]
fn max_error_rate_out_of_range_is_a_config_error() {
    let output = Test::new()
        .config(&config("http://127.0.0.1:9", "max_error_rate = 10", ""))
        .args(["check"])
        .run(2);
    output.stderr_has("error: `smoke.max_error_rate` must be between 0.0 and 1.0, got 10\n");
    let output = Test::new()
        .config(&config("http://127.0.0.1:9", "max_error_rate = 1.5", ""))
        .args(["check"])
        .run(2);
    output.stderr_has("error: `smoke.max_error_rate` must be between 0.0 and 1.0, got 1.5");
}
