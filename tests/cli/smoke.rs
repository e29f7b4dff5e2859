//! `shipgate smoke` against real HTTP servers on 127.0.0.1: passes, each kind
//! of failure with its expected vs got, readiness waiting, `--url`,
//! `--format json`, secret masking and `--dry-run`.

use std::time::Duration;

use serde_json::json;

use crate::support::Test;
use crate::support::http::{Reply, Server, closed_port};

/// The health check from the README, against `url`, waiting `ready_within`.
fn health_config(url: &str, ready_within: &str) -> String {
    format!(
        r#"
[environments.local]
url = "{url}"

[smoke]
ready_within = "{ready_within}"

[[smoke.check]]
name = "health"
path = "/api/health"
timeout = "2s"
expect = {{ status = 200, json = {{ "$.status" = "healthy" }} }}
"#
    )
}

fn healthy() -> Server {
    Server::builder()
        .json(
            "/api/health",
            200,
            json!({ "status": "healthy", "version": "1.4.2" }),
        )
        .start()
}

#[test]
fn smoke_passes_when_every_check_passes() {
    let server = healthy();
    let output = Test::new()
        .config(&health_config(&server.url(), "3s"))
        .args(["smoke"])
        .run(0);
    output
        .stdout_has("✓ smoke 1 of 1 passed")
        .stdout_has(&format!("  ✓ health GET {}/api/health ", server.url()))
        .stdout_has("✓ passed in ");
    assert_eq!(server.hits(), 1);
}

#[test]
fn smoke_runs_every_check_and_reports_them_in_config_order() {
    let server = Server::builder()
        .json("/api/health", 200, json!({ "status": "healthy" }))
        .json("/api/db", 503, json!({ "database": "down" }))
        .json("/", 200, json!({}))
        .start();
    let config = format!(
        r#"
[environments.local]
url = "{}"

[smoke]
ready_within = "1s"
concurrency = 2

[[smoke.check]]
name = "home"
path = "/"

[[smoke.check]]
name = "database"
path = "/api/db"

[[smoke.check]]
name = "health"
path = "/api/health"
"#,
        server.url()
    );
    let output = Test::new().config(&config).args(["smoke"]).run(1);
    output.stdout_has("✗ smoke 2 of 3 passed");
    let home = output.stdout.find("✓ home").expect("home line");
    let database = output.stdout.find("✗ database").expect("database line");
    let health = output.stdout.find("✓ health").expect("health line");
    assert!(
        home < database && database < health,
        "checks out of config order:\n{}",
        output.stdout
    );
    // Passed checks are done: only the failing one is retried.
    let health_hits = server
        .requests()
        .iter()
        .filter(|request| request.uri == "/api/health")
        .count();
    assert_eq!(health_hits, 1);
}

#[test]
fn smoke_fails_on_a_wrong_status_and_skips_the_body_checks() {
    let server = Server::builder()
        .json("/api/health", 503, json!({ "status": "maintenance" }))
        .start();
    let output = Test::new()
        .config(&health_config(&server.url(), "1s"))
        .args(["smoke"])
        .run(1);
    output
        .stdout_has("✗ smoke 0 of 1 passed")
        .stdout_has(&format!("  ✗ health GET {}/api/health · ", server.url()))
        .stdout_has("      expected: status 200\n      got:      status 503\n")
        .stdout_has("      │ status 503\n")
        .stdout_has("      │ body (first 300 characters):\n      │ {\"status\":\"maintenance\"}\n")
        .stdout_has("✗ smoke failed (exit 1, ");
    assert!(
        !output.stdout.contains("$.status"),
        "body checks ran after a failed status:\n{}",
        output.stdout
    );
}

#[test]
fn smoke_fails_on_a_wrong_json_value_with_expected_and_got() {
    let server = Server::builder()
        .json("/api/health", 200, json!({ "status": "degraded" }))
        .start();
    let output = Test::new()
        .config(&health_config(&server.url(), "1s"))
        .args(["smoke"])
        .run(1);
    output
        .stdout_has("      expected: \"$.status\" == \"healthy\"\n      got:      \"degraded\"\n");
}

#[test]
fn smoke_fails_when_a_json_path_selects_nothing() {
    let server = Server::builder()
        .json("/api/health", 200, json!({ "state": "ok" }))
        .start();
    let output = Test::new()
        .config(&health_config(&server.url(), "1s"))
        .args(["smoke"])
        .run(1);
    output.stdout_has(
        "      expected: \"$.status\" == \"healthy\"\n      got:      \"$.status\" selected nothing in {\"state\":\"ok\"}\n",
    );
}

#[test]
fn smoke_fails_when_the_body_is_not_json() {
    let server = Server::builder()
        .route(
            "/api/health",
            Reply::Text {
                status: 200,
                body: "<html>\n<p>It works</p>\n</html>".into(),
            },
        )
        .start();
    let output = Test::new()
        .config(&health_config(&server.url(), "1s"))
        .args(["smoke"])
        .run(1);
    output
        .stdout_has("      got:      response body is not JSON: <html> <p>It works</p> </html>\n");
}

#[test]
fn smoke_fails_when_the_server_answers_after_the_timeout() {
    let server = Server::builder()
        .route(
            "/api/health",
            Reply::Delayed {
                delay: Duration::from_secs(30),
                status: 200,
                body: json!({ "status": "healthy" }),
            },
        )
        .start();
    let config =
        health_config(&server.url(), "1s").replace("timeout = \"2s\"", "timeout = \"300ms\"");
    let output = Test::new().config(&config).args(["smoke"]).run(1);
    output.stdout_has("      expected: status 200\n      got:      no response within 300ms\n");
    output.stderr_has(&format!(
        "waiting for GET {}/api/health: no response within 300ms, attempt 1, 0s of 1s",
        server.url()
    ));
}

#[test]
fn smoke_fails_when_the_connection_is_refused() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let output = Test::new()
        .config(&health_config(&url, "1s"))
        .args(["smoke"])
        .run(1);
    output
        .stdout_has(&format!("  ✗ health GET {url}/api/health · "))
        .stdout_has("      expected: status 200\n      got:      connection refused\n");
    output.stderr_has(&format!(
        "waiting for GET {url}/api/health: connection refused, attempt 1, 0s of 1s"
    ));
}

#[test]
fn smoke_waits_for_a_server_that_becomes_ready() {
    let server = Server::builder()
        .route(
            "/api/health",
            Reply::ReadyAfter {
                after: Duration::from_secs(2),
            },
        )
        .start();
    let output = Test::new()
        .config(&health_config(&server.url(), "10s"))
        .args(["smoke"])
        .run(0);
    output
        .stdout_has("✓ smoke 1 of 1 passed")
        .stdout_has(" attempts ")
        .stderr_has(&format!(
            "waiting for GET {}/api/health: status 503, attempt 1, 0s of 10s",
            server.url()
        ));
    assert!(
        server.hits() >= 3,
        "expected retries, got {} request(s)",
        server.hits()
    );
}

#[test]
fn smoke_gives_up_when_the_server_is_not_ready_within_the_deadline() {
    let server = Server::builder()
        .route(
            "/api/health",
            Reply::ReadyAfter {
                after: Duration::from_secs(2),
            },
        )
        .start();
    let output = Test::new()
        .config(&health_config(&server.url(), "1s"))
        .args(["smoke"])
        .run(1);
    output
        .stdout_has("✗ smoke 0 of 1 passed")
        .stdout_has("      expected: status 200\n      got:      status 503\n")
        .stderr_has("waiting for GET ");
}

#[test]
fn smoke_url_overrides_the_environment_url_and_keeps_its_path_prefix() {
    let server = Server::builder()
        .json("/app/api/health", 200, json!({ "status": "healthy" }))
        .start();
    let unreachable = format!("http://127.0.0.1:{}", closed_port());
    let base = format!("{}/app", server.url());
    let output = Test::new()
        .config(&health_config(&unreachable, "3s"))
        .args(["smoke", "--url", &base])
        .run(0);
    output.stdout_has(&format!("  ✓ health GET {base}/api/health "));
    assert_eq!(server.requests()[0].uri, "/app/api/health");
}

#[test]
fn smoke_json_format_carries_every_check_result() {
    let server = Server::builder()
        .json("/api/health", 503, json!({ "status": "down" }))
        .start();
    let output = Test::new()
        .config(&health_config(&server.url(), "1s"))
        .args(["smoke", "--format", "json"])
        .run(1);
    let report = output.json();
    assert_eq!(report["command"], "smoke");
    assert_eq!(report["exit_code"], 1);
    let phase = &report["phases"][0];
    assert_eq!(phase["name"], "smoke");
    assert_eq!(phase["status"], "fail");
    assert_eq!(phase["summary"], "0 of 1 passed");
    let check = &phase["checks"][0];
    assert_eq!(check["name"], "health");
    assert_eq!(check["status"], "fail");
    assert_eq!(check["expected"], "status 200");
    assert_eq!(check["actual"], "status 503");
    assert!(
        check["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&format!("GET {}/api/health", server.url()))
    );
    assert!(
        check["log"]
            .as_str()
            .unwrap_or_default()
            .contains(r#"{"status":"down"}"#)
    );
    // JSON mode keeps stderr free of progress lines.
    assert_eq!(output.stderr, "");
}

#[test]
fn smoke_never_prints_secrets_from_headers_or_urls() {
    const SECRET: &str = "tok3n-5ecret-value";
    let server = Server::builder()
        .route("/api/echo", Reply::Echo { status: 500 })
        .start();
    let config = format!(
        r#"
[environments.local]
url = "{url}/?key=${{SMOKE_TOKEN}}"

[smoke]
ready_within = "500ms"

[[smoke.check]]
name = "echo via path"
path = "/api/echo"
headers = {{ Authorization = "Bearer ${{SMOKE_TOKEN}}" }}

[[smoke.check]]
name = "echo via url"
url = "{url}/api/echo?token=${{SMOKE_TOKEN}}"
"#,
        url = server.url()
    );
    let output = Test::new()
        .config(&config)
        .env("SMOKE_TOKEN", SECRET)
        .args(["smoke"])
        .run(1);
    output
        .nowhere(SECRET)
        .stdout_has(&format!(
            "  ✗ echo via path GET {}/api/echo?key=*** · ",
            server.url()
        ))
        .stdout_has(&format!(
            "  ✗ echo via url GET {}/api/echo?token=*** · ",
            server.url()
        ))
        .stdout_has("      │ authorization: Bearer ***\n")
        .stderr_has(&format!(
            "waiting for GET {}/api/echo?key=***: status 500",
            server.url()
        ));
    // The real values did reach the server.
    let requests = server.requests();
    let via_path = requests
        .iter()
        .find(|request| request.uri.starts_with("/api/echo?key="))
        .expect("path request");
    assert_eq!(via_path.uri, format!("/api/echo?key={SECRET}"));
    assert!(
        via_path
            .headers
            .contains(&("authorization".to_owned(), format!("Bearer {SECRET}")))
    );
    assert!(
        requests
            .iter()
            .any(|request| request.uri == format!("/api/echo?token={SECRET}"))
    );
}

#[test]
fn smoke_dry_run_sends_no_request() {
    let server = healthy();
    let output = Test::new()
        .config(&health_config(&server.url(), "3s"))
        .args(["smoke", "--dry-run"])
        .run(0);
    output
        .stdout_has("shipgate smoke · environment local · dry run")
        .stdout_has("- smoke 1 planned, none sent (dry run)")
        .stdout_has(&format!(
            "  - health would GET {}/api/health\n",
            server.url()
        ))
        .stdout_has("✓ dry run: nothing was changed");
    assert_eq!(server.hits(), 0);
}

#[test]
fn smoke_refuses_a_base_url_that_is_not_http() {
    let server = healthy();
    let output = Test::new()
        .config(&health_config(&server.url(), "3s"))
        .args(["smoke", "--url", "ftp://files.example.com/app"])
        .run(2);
    output
        .stderr_has(
            "error: cannot join check `health`'s `path` to base URL `ftp://files.example.com/app`: \
             it is not an `http://` or `https://` URL",
        )
        .stderr_has("hint: pass an absolute URL like `--url http://127.0.0.1:3000`");
    assert_eq!(output.stdout, "");
    assert_eq!(server.hits(), 0);
}

#[test]
fn smoke_refuses_an_invalid_header_before_sending_anything() {
    let server = healthy();
    let config = health_config(&server.url(), "3s").replace(
        "timeout = \"2s\"",
        "timeout = \"2s\"\nheaders = { \"bad header\" = \"x\" }",
    );
    let output = Test::new().config(&config).args(["smoke"]).run(2);
    output
        .stderr_has("error: invalid header name `bad header` in check `health`")
        .stderr_has(
            "hint: fix `headers` of check `health` in the config, then run `shipgate check`",
        );
    assert_eq!(server.hits(), 0);
}

#[test]
fn smoke_sends_post_requests_with_json_and_text_bodies() {
    let server = Server::builder()
        .json("/api/orders", 201, json!({ "id": 7, "state": "created" }))
        .route(
            "/api/ping",
            Reply::Text {
                status: 200,
                body: "pong".into(),
            },
        )
        .start();
    let config = format!(
        r#"
[environments.local]
url = "{url}"

[[smoke.check]]
name = "create order"
method = "POST"
path = "/api/orders"
json = {{ sku = "tea", quantity = 2 }}
expect = {{ status = 201, json = {{ "$.state" = "created", "$.id" = 7 }} }}

[[smoke.check]]
name = "ping"
method = "put"
path = "/api/ping"
body = "hello"
"#,
        url = server.url()
    );
    Test::new()
        .config(&config)
        .args(["smoke"])
        .run(0)
        .stdout_has("✓ create order POST");
    let requests = server.requests();
    let order = requests
        .iter()
        .find(|request| request.uri == "/api/orders")
        .expect("the POST arrived");
    assert_eq!(order.method, "POST");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&order.body).unwrap(),
        json!({ "sku": "tea", "quantity": 2 })
    );
    assert!(
        order
            .headers
            .iter()
            .any(|(name, value)| name == "content-type" && value == "application/json")
    );
    let ping = requests
        .iter()
        .find(|request| request.uri == "/api/ping")
        .expect("the PUT arrived");
    assert_eq!((ping.method.as_str(), ping.body.as_str()), ("PUT", "hello"));
}
