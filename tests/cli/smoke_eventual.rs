//! Smoke flows with side effects (issue 15, items 1, 2 and 4): an
//! `eventually` step polled until a background job completes while the
//! `POST` that started it runs once, sampling that repeats only requests safe
//! to repeat, readiness that retries a `POST` only while it never reached the
//! server, the same flow measured by `watch`, and `{{name}}` placeholders in
//! `url` for a second host. Every server counts requests per method and path.

use std::time::Duration;

use serde_json::json;

use crate::support::http::{Reply, Scripted, Server, closed_port};
use crate::support::{Test, free_port};

fn json_reply(status: u16, body: &serde_json::Value) -> Scripted {
    Scripted {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string(),
        delay: None,
    }
}

/// `POST /api/jobs` starts job `j-N` (N = earlier POSTs); `GET
/// /api/jobs/j-0` says `running` to its first `polls_until_done` polls, then
/// `done` (never, with `usize::MAX`).
fn jobs(polls_until_done: usize) -> Server {
    Server::builder()
        .route(
            "/api/jobs",
            Reply::script(|request, earlier| {
                if request.method == "POST" {
                    json_reply(201, &json!({ "id": format!("j-{earlier}") }))
                } else {
                    json_reply(405, &json!({ "error": "POST only" }))
                }
            }),
        )
        .route(
            "/api/jobs/j-0",
            Reply::script(move |_, earlier| {
                let status = if earlier < polls_until_done {
                    "running"
                } else {
                    "done"
                };
                json_reply(200, &json!({ "id": "j-0", "status": status }))
            }),
        )
        .start()
}

/// The runbook's "trigger the test job and confirm it completes".
fn job_flow(url: &str, smoke: &str, within: &str) -> String {
    format!(
        r#"
[environments.local]
url = "{url}"

[smoke]
{smoke}

[[smoke.check]]
name = "start job"
flow = "background job"
method = "POST"
path = "/api/jobs"
json = {{ kind = "smoke" }}
expect = {{ status = 201 }}
capture = {{ job = 'jsonpath "$.id"' }}

[[smoke.check]]
name = "job completes"
flow = "background job"
path = "/api/jobs/{{{{job}}}}"
eventually = {{ within = "{within}", every = "50ms" }}
expect = {{ status = 200, json = {{ "$.status" = "done" }} }}
"#
    )
}

#[test]
fn an_eventual_step_is_polled_until_the_job_completes_and_the_post_runs_once() {
    let server = jobs(3);
    let output = Test::new()
        .config(&job_flow(
            &server.url(),
            "ready_within = \"200ms\"\nsamples = 5",
            "10s",
        ))
        .args(["smoke"])
        .run(0);
    output
        .stdout_has("✓ smoke 2 of 2 passed")
        .stdout_has(&format!(
            "  ✓ start job POST {}/api/jobs · sent once, not sampled: `POST` is not idempotent",
            server.url()
        ))
        .stdout_has(&format!(
            "  ✓ job completes GET {}/api/jobs/*** · eventually passed after 4 attempts in ",
            server.url()
        ))
        .stdout_has(r#" (before: "$.status" == "done", got "running") · p50 "#)
        .stdout_has("(5 samples)")
        .stderr_has(&format!(
            "polling GET {}/api/jobs/***: \"$.status\" == \"done\", got \"running\", attempt 1, 0s of 10s (`eventually`)\n",
            server.url()
        ))
        .stderr_has(
            "sampling ×5, 8 at a time: GET `job completes`; sent once (not idempotent): POST `start job`\n",
        );
    assert_eq!(
        server.count("POST", "/api/jobs"),
        1,
        "the job was started again"
    );
    assert_eq!(
        server.count("GET", "/api/jobs/j-0"),
        4 + 5,
        "4 polls until done, then 5 samples"
    );
}

#[test]
fn an_eventual_step_that_never_completes_fails_with_its_attempts_and_last_reason() {
    let server = jobs(usize::MAX);
    let test = Test::new()
        .config(&job_flow(&server.url(), "ready_within = \"5s\"", "400ms"))
        .args(["smoke", "--format", "json", "--junit", "junit.xml"]);
    let output = test.run(1);
    let report = output.json();
    let checks = report["phases"][0]["checks"].as_array().unwrap();
    let done = &checks[1];
    assert_eq!(done["name"], "job completes");
    assert_eq!(done["status"], "fail");
    let detail = done["detail"].as_str().unwrap();
    let polls = server.count("GET", "/api/jobs/j-0");
    assert!(
        detail.ends_with(&format!(
            "/api/jobs/*** · still failing after {polls} attempts in 400ms (`eventually.within`)"
        )),
        "{detail}"
    );
    // One poll per 50 ms within 400 ms: at most 9, fewer on a busy machine.
    assert!(
        (2..=9).contains(&polls),
        "{polls} polls at 50ms within 400ms"
    );
    assert_eq!(done["expected"], r#""$.status" == "done""#);
    assert_eq!(done["actual"], r#""running""#);
    assert_eq!(checks[0]["status"], "pass");
    assert_eq!(
        server.count("POST", "/api/jobs"),
        1,
        "the job was started again"
    );
    // JUnit: the attempts in `system-out`, the last expected vs got as the failure.
    let xml = fs_err::read_to_string(test.path().join("junit.xml")).unwrap();
    let document = roxmltree::Document::parse(&xml).unwrap();
    let case = document
        .descendants()
        .find(|node| node.attribute("name") == Some("job completes"))
        .unwrap();
    let failure = case
        .children()
        .find(|node| node.has_tag_name("failure"))
        .unwrap();
    assert_eq!(
        failure.attribute("message"),
        Some(r#"expected "$.status" == "done", got "running""#)
    );
    let out = case
        .children()
        .find(|node| node.has_tag_name("system-out"))
        .and_then(|node| node.text())
        .unwrap();
    assert_eq!(out, detail);
}

#[test]
fn sampling_skips_a_post_check_unless_it_is_marked_idempotent() {
    let server = Server::builder()
        .json("/api/ping", 200, json!({ "ok": true }))
        .json("/api/cache", 200, json!({ "ok": true }))
        .json("/api/health", 200, json!({ "ok": true }))
        .start();
    let config = format!(
        r#"
[environments.local]
url = "{}"

[smoke]
samples = 5

[[smoke.check]]
name = "ping"
method = "POST"
path = "/api/ping"

[[smoke.check]]
name = "cache"
method = "PUT"
path = "/api/cache"
idempotent = true

[[smoke.check]]
name = "health"
method = "HEAD"
path = "/api/health"
"#,
        server.url()
    );
    let output = Test::new().config(&config).args(["smoke"]).run(0);
    output
        .stdout_has("· sent once, not sampled: `POST` is not idempotent")
        .stdout_has("· error rate 0.0% (0 of 10 samples failed)")
        .stderr_has("sampling ×5, 8 at a time: PUT `cache`, HEAD `health`; sent once (not idempotent): POST `ping`\n");
    assert_eq!(server.count("POST", "/api/ping"), 1);
    assert_eq!(server.count("PUT", "/api/cache"), 6);
    assert_eq!(server.count("HEAD", "/api/health"), 6);
}

#[test]
fn a_post_is_retried_while_nothing_listens_and_sent_once_when_the_server_is_up() {
    let port = free_port();
    // The app comes up while the suite already waits for it.
    let late = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(800));
        Server::builder()
            .port(port)
            .json("/api/jobs", 201, json!({ "id": "j-0" }))
            .start()
    });
    let config = format!(
        r#"
[environments.local]
url = "http://127.0.0.1:{port}"

[smoke]
ready_within = "20s"

[[smoke.check]]
name = "start job"
method = "POST"
path = "/api/jobs"
expect = {{ status = 201 }}
"#
    );
    let output = Test::new().config(&config).args(["smoke"]).run(0);
    let server = late.join().unwrap();
    output
        .stdout_has("✓ smoke 1 of 1 passed")
        .stderr_has(&format!(
            "waiting for POST http://127.0.0.1:{port}/api/jobs: connection refused, attempt 1,"
        ));
    assert_eq!(server.count("POST", "/api/jobs"), 1);
}

#[test]
fn a_post_that_got_an_answer_is_not_retried() {
    let server = Server::builder()
        .json("/api/jobs", 500, json!({ "error": "queue down" }))
        .json("/api/retry", 500, json!({ "error": "queue down" }))
        .start();
    let config = format!(
        r#"
[environments.local]
url = "{url}"

[smoke]
ready_within = "1500ms"

[[smoke.check]]
name = "start job"
method = "POST"
path = "/api/jobs"

[[smoke.check]]
name = "retry job"
method = "POST"
path = "/api/retry"
idempotent = true
"#,
        url = server.url()
    );
    let output = Test::new().config(&config).args(["smoke"]).run(1);
    output
        .stdout_has(&format!(
            "  ✗ start job POST {}/api/jobs · not retried: `POST` is not idempotent (`idempotent = true` allows it) ",
            server.url()
        ))
        .stdout_has("      expected: status 200\n      got:      status 500\n");
    assert_eq!(server.count("POST", "/api/jobs"), 1, "a 500 is an answer");
    // The step marked idempotent is retried until `ready_within`.
    let retries = server.count("POST", "/api/retry");
    assert!(
        retries >= 3,
        "{retries} POSTs: the idempotent one was not retried"
    );
    output.stdout_has(&format!(" · {retries} attempts "));
}

#[test]
fn watch_runs_the_flow_each_interval_polling_the_eventual_step() {
    // Every job reports `done` on its third poll.
    let server = Server::builder()
        .route(
            "/api/jobs",
            Reply::script(|_, _| json_reply(201, &json!({ "id": "j" }))),
        )
        .route(
            "/api/jobs/j",
            Reply::script(|_, earlier| {
                let status = if earlier % 3 == 2 { "done" } else { "running" };
                json_reply(200, &json!({ "status": status }))
            }),
        )
        .start();
    let config = format!(
        r#"
[environments.local]
url = "{}"

[[smoke.check]]
name = "start job"
flow = "background job"
method = "POST"
path = "/api/jobs"
expect = {{ status = 201 }}
capture = {{ job = 'jsonpath "$.id"' }}

[[smoke.check]]
name = "job completes"
flow = "background job"
path = "/api/jobs/{{{{job}}}}"
eventually = {{ within = "5s", every = "20ms" }}
assert = ['jsonpath "$.status" == "done"']

[watch]
for = "300ms"
interval = "100ms"
"#,
        server.url()
    );
    let output = Test::new().config(&config).args(["watch"]).run(0);
    let measurements = server.count("POST", "/api/jobs");
    output.stdout_has(&format!(
        "  ✓ smoke {measurements} measurement(s): {measurements} successful, 0 failed"
    ));
    assert!(measurements >= 2, "{measurements} measurement(s)");
    assert_eq!(
        server.count("GET", "/api/jobs/j"),
        3 * measurements,
        "each measurement polls its job until done"
    );
}

#[test]
fn a_url_placeholder_sends_a_captured_value_to_a_second_host() {
    let app = Server::builder()
        .json(
            "/api/workers",
            200,
            json!({ "workers": [{ "name": "emails" }] }),
        )
        .start();
    let worker = Server::builder()
        .json("/health/emails", 200, json!({ "status": "ok" }))
        .start();
    let config = format!(
        r#"
[environments.local]
url = "{}"

[[smoke.check]]
name = "workers"
flow = "workers"
path = "/api/workers"
capture = {{ worker = 'jsonpath "$.workers[0].name"' }}

[[smoke.check]]
name = "worker health"
flow = "workers"
url = "http://127.0.0.1:${{WORKER_PORT}}/health/{{{{worker}}}}"
assert = ['jsonpath "$.status" == "ok"']
"#,
        app.url()
    );
    let output = Test::new()
        .config(&config)
        .env("WORKER_PORT", &worker.port().to_string())
        .args(["smoke"])
        .run(0);
    // The port came from `${WORKER_PORT}` and the name from a capture: both
    // are masked like every secret.
    output.stdout_has("  ✓ worker health GET http://127.0.0.1:***/health/*** ");
    assert_eq!(worker.count("GET", "/health/emails"), 1);
    assert_eq!(app.count("GET", "/health/emails"), 0);
}

#[test]
fn a_url_placeholder_outside_a_flow_or_a_broken_url_template_is_a_config_error() {
    let port = closed_port();
    let outside = format!(
        "[environments.local]\nurl = \"http://127.0.0.1:{port}\"\n\n[[smoke.check]]\nname = \"w\"\nurl = \"http://127.0.0.1:{port}/health/{{{{worker}}}}\"\n"
    );
    Test::new()
        .config(&outside)
        .args(["check"])
        .run(2)
        .stderr_has("error: check `w` uses `{{worker}}` but is in no flow\n");
    let broken = format!(
        "[environments.local]\nurl = \"http://127.0.0.1:{port}\"\n\n[[smoke.check]]\nname = \"a\"\nflow = \"f\"\npath = \"/\"\ncapture = {{ w = 'jsonpath \"$.w\"' }}\n\n[[smoke.check]]\nname = \"w\"\nflow = \"f\"\nurl = \"ftp://127.0.0.1/{{{{w}}}}\"\n"
    );
    Test::new()
        .config(&broken)
        .args(["check"])
        .run(2)
        .stderr_has("error: invalid URL `ftp://127.0.0.1/{{w}}` for key `smoke.check `w` url`: scheme `ftp` is not http or https\n")
        .stderr_has("shipgate.toml:13:7");
}

#[test]
fn an_eventual_step_polling_slower_than_its_deadline_is_a_config_error() {
    let config = "[environments.local]\nurl = \"http://127.0.0.1:9\"\n\n[[smoke.check]]\nname = \"job\"\npath = \"/\"\neventually = { within = \"2s\", every = \"5s\" }\n";
    Test::new()
        .config(config)
        .args(["check"])
        .run(2)
        .stderr_has("error: check `job` polls `every = \"5s\"`, longer than `within = \"2s\"`: it would be tried once\n")
        .stderr_has("shipgate.toml:7:14")
        .stderr_has("hint: poll more often than the step may take, e.g. `eventually = { within = \"2s\", every = \"200ms\" }`\n");
}

/// `--dry-run` sends nothing and says which step would be polled and which
/// would be sent once.
#[test]
fn a_dry_run_names_the_polled_step_and_the_step_sent_once() {
    let server = jobs(0);
    let test = Test::new().config(&job_flow(&server.url(), "samples = 5", "2s"));
    Test::args_for(&test, ["smoke", "--dry-run"])
        .run(0)
        .stdout_has(&format!(
            "start job would POST {}/api/jobs, once: not retried after an answer and not sampled (not idempotent)",
            server.url()
        ))
        .stdout_has(", again every 50ms until it passes (within 2s)");
    assert_eq!(
        server.count("POST", "/api/jobs"),
        0,
        "a dry run sends nothing"
    );
}
