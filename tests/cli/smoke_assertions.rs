//! Every assertion kind of `[[smoke.check]]`, passing and failing with its
//! exact expected vs got, plus queries, redirects and HTTPS, against real
//! servers on 127.0.0.1 (issue 5).

use std::fmt::Write as _;

use serde_json::json;

use crate::support::Test;
use crate::support::http::{Reply, Server};

fn document() -> serde_json::Value {
    json!({
        "status": "healthy", "version": "1.4.2", "uptime": 3600, "ratio": 0.25,
        "ready": true, "deleted": null, "items": [{"id": 1}, {"id": 2}, {"id": 3}],
        "tags": ["a", "b"]
    })
}

fn server() -> Server {
    Server::builder()
        .route(
            "/api/health",
            Reply::Raw {
                status: 200,
                headers: vec![
                    (
                        "content-type".into(),
                        "application/json; charset=utf-8".into(),
                    ),
                    ("x-cache".into(), "HIT".into()),
                ],
                body: document().to_string(),
            },
        )
        .route(
            "/text",
            Reply::Text {
                status: 200,
                body: "all systems go".into(),
            },
        )
        .start()
}

/// One check per `(name, path, assert lines)`.
fn config(url: &str, checks: &[(&str, &str, &[&str])]) -> String {
    let mut text = format!(
        "[environments.local]\nurl = \"{url}\"\n\n[smoke]\nready_within = \"100ms\"\nconcurrency = 8\n"
    );
    for (name, path, lines) in checks {
        let lines: Vec<String> = lines.iter().map(|line| format!("  '{line}',\n")).collect();
        let _ = write!(
            text,
            "\n[[smoke.check]]\nname = \"{name}\"\npath = \"{path}\"\nassert = [\n{}]\n",
            lines.concat()
        );
    }
    text
}

#[test]
fn every_assertion_kind_passes_on_a_matching_response() {
    let server = server();
    let lines: &[&str] = &[
        "status == 200",
        "status in [200, 204]",
        "status == 2xx",
        "status != 5xx",
        r#"header "X-Cache" == "HIT""#,
        r#"header "Content-Type" contains "json""#,
        r#"header "X-Cache" matches "^H""#,
        r#"header "X-Cache" exists"#,
        r#"header "X-Missing" not exists"#,
        r#"jsonpath "$.status" == "healthy""#,
        r#"jsonpath "$.status" != "down""#,
        r#"jsonpath "$.uptime" > 60"#,
        r#"jsonpath "$.uptime" >= 3600"#,
        r#"jsonpath "$.ratio" < 0.5"#,
        r#"jsonpath "$.ratio" <= 0.25"#,
        r#"jsonpath "$.ready" == true"#,
        r#"jsonpath "$.deleted" == null"#,
        r#"jsonpath "$.version" matches "^1\\.4""#,
        r#"jsonpath "$.status" contains "heal""#,
        r#"jsonpath "$.tags" contains "b""#,
        r#"jsonpath "$.items" count == 3"#,
        r#"jsonpath "$.items[*].id" count >= 3"#,
        r#"jsonpath "$.database" not exists"#,
        r#"jsonpath "$.items" exists"#,
        r#"body contains "healthy""#,
        r#"body matches "\"uptime\":[0-9]+""#,
        "duration < 5000",
        "duration < 5s",
        r#"content-type == "application/json""#,
    ];
    let output = Test::new()
        .config(&config(
            &server.url(),
            &[("everything", "/api/health", lines)],
        ))
        .args(["smoke"])
        .run(0);
    output.stdout_has("✓ smoke 1 of 1 passed");
    assert_eq!(server.hits(), 1);
}

#[test]
#[allow(clippy::too_many_lines)] // one table of cases
fn each_assertion_kind_fails_with_expected_and_got() {
    let server = server();
    let document = serde_json::to_string(&document()).unwrap();
    let cases: &[(&str, &str, &str, String)] = &[
        (
            "status-list",
            "/api/health",
            "status in [201, 204]",
            "status 200".into(),
        ),
        (
            "status-class",
            "/api/health",
            "status == 5xx",
            "status 200".into(),
        ),
        (
            "header-equals",
            "/api/health",
            r#"header "X-Cache" == "MISS""#,
            r#""HIT""#.into(),
        ),
        (
            "header-contains",
            "/api/health",
            r#"header "Content-Type" contains "xml""#,
            r#""application/json; charset=utf-8""#.into(),
        ),
        (
            "header-matches",
            "/api/health",
            r#"header "X-Cache" matches "^M""#,
            r#""HIT""#.into(),
        ),
        (
            "header-exists",
            "/api/health",
            r#"header "X-Request-Id" exists"#,
            "header `X-Request-Id` is absent".into(),
        ),
        (
            "json-equals",
            "/api/health",
            r#"jsonpath "$.status" == "down""#,
            r#""healthy""#.into(),
        ),
        (
            "json-not-equals",
            "/api/health",
            r#"jsonpath "$.status" != "healthy""#,
            r#""healthy""#.into(),
        ),
        (
            "json-less",
            "/api/health",
            r#"jsonpath "$.uptime" < 60"#,
            "3600".into(),
        ),
        (
            "json-less-or-equal",
            "/api/health",
            r#"jsonpath "$.uptime" <= 60"#,
            "3600".into(),
        ),
        (
            "json-greater",
            "/api/health",
            r#"jsonpath "$.ratio" > 0.5"#,
            "0.25".into(),
        ),
        (
            "json-greater-or-equal",
            "/api/health",
            r#"jsonpath "$.ratio" >= 0.5"#,
            "0.25".into(),
        ),
        (
            "json-boolean",
            "/api/health",
            r#"jsonpath "$.ready" == false"#,
            "true".into(),
        ),
        (
            "json-null",
            "/api/health",
            r#"jsonpath "$.deleted" != null"#,
            "null".into(),
        ),
        (
            "json-exists",
            "/api/health",
            r#"jsonpath "$.database" exists"#,
            format!(r#""$.database" selected nothing in {document}"#),
        ),
        (
            "json-selects-nothing",
            "/api/health",
            r#"jsonpath "$.database.status" == "connected""#,
            format!(r#""$.database.status" selected nothing in {document}"#),
        ),
        (
            "json-not-exists",
            "/api/health",
            r#"jsonpath "$.status" not exists"#,
            r#""healthy""#.into(),
        ),
        (
            "json-matches",
            "/api/health",
            r#"jsonpath "$.version" matches "^2\\.""#,
            r#""1.4.2""#.into(),
        ),
        (
            "json-contains",
            "/api/health",
            r#"jsonpath "$.tags" contains "c""#,
            r#"["a","b"]"#.into(),
        ),
        (
            "json-count",
            "/api/health",
            r#"jsonpath "$.items" count == 2"#,
            "count 3".into(),
        ),
        (
            "json-wrong-type",
            "/api/health",
            r#"jsonpath "$.status" > 5"#,
            r#""healthy""#.into(),
        ),
        (
            "body-contains",
            "/text",
            r#"body contains "degraded""#,
            "body all systems go".into(),
        ),
        (
            "body-matches",
            "/text",
            r#"body matches "^ok""#,
            "body all systems go".into(),
        ),
        (
            "content-type",
            "/api/health",
            r#"content-type == "text/html""#,
            r#""application/json""#.into(),
        ),
        (
            "json-on-text",
            "/text",
            r#"jsonpath "$.status" == "ok""#,
            "response body is not JSON: all systems go".into(),
        ),
    ];
    let checks: Vec<(&str, &str, &[&str])> = cases
        .iter()
        .map(|(name, path, line, _)| (*name, *path, std::slice::from_ref(line)))
        .collect();
    let mut checks = checks;
    let duration: &[&str] = &["duration > 60000"];
    checks.push(("duration", "/api/health", duration));
    let output = Test::new()
        .config(&config(&server.url(), &checks))
        .args(["smoke"])
        .run(1);
    output.stdout_has(&format!("✗ smoke 0 of {} passed", cases.len() + 1));
    for (name, _, line, got) in cases {
        output.stdout_has(&format!("  ✗ {name} GET {}", server.url()));
        let block = format!("      expected: {line}\n      got:      {got}\n");
        output.stdout_has(&block);
    }
    let duration = output
        .stdout
        .split("      expected: duration > 60000\n      got:      ")
        .nth(1)
        .expect("duration failure");
    let got = duration.lines().next().unwrap();
    assert!(got.ends_with("ms"), "duration shown as {got:?}");
}

#[test]
fn a_failed_status_skips_the_other_assertions() {
    let server = server();
    let config = format!(
        r#"
[environments.local]
url = "{}"

[smoke]
ready_within = "100ms"

[[smoke.check]]
name = "health"
path = "/api/health"
expect = {{ status = 201 }}
assert = ['jsonpath "$.status" == "down"']
"#,
        server.url()
    );
    let output = Test::new().config(&config).args(["smoke"]).run(1);
    output.stdout_has("      expected: status 201\n      got:      status 200\n");
    assert!(!output.stdout.contains("also failed"), "{}", output.stdout);
}

#[test]
fn expect_status_accepts_a_list_and_a_class() {
    let server = server();
    let config = format!(
        r#"
[environments.local]
url = "{url}"

[[smoke.check]]
name = "listed"
path = "/api/health"
expect = {{ status = [200, 204], json = {{ "$.status" = "healthy", "$.ready" = true }} }}

[[smoke.check]]
name = "class"
path = "/text"
expect = {{ status = "2xx" }}
"#,
        url = server.url()
    );
    Test::new()
        .config(&config)
        .args(["smoke"])
        .run(0)
        .stdout_has("✓ smoke 2 of 2 passed");
}

#[test]
fn an_invalid_assertion_is_a_config_error_pointing_at_the_line() {
    let config = r#"
[environments.local]
url = "http://127.0.0.1:9"

[[smoke.check]]
name = "health"
path = "/api/health"
assert = [
  'jsonpath "$.status" equals "ok"',
]
"#;
    let output = Test::new().config(config).args(["check"]).run(2);
    output
        .stderr_has("error: invalid assertion in check `health`: unknown predicate `equals`: use `==`, `!=`, `<`, `<=`, `>`, `>=`, `exists`, `contains`, `matches` or `in`\n")
        .stderr_has("shipgate.toml:9:3");
}

#[test]
fn query_parameters_are_appended_and_masked() {
    let server = Server::builder()
        .route("/search", Reply::Echo { status: 200 })
        .start();
    let config = format!(
        r#"
[environments.local]
url = "{}/?bypass=1"

[[smoke.check]]
name = "search"
path = "/search"
query = {{ q = "shoes & socks", key = "${{SEARCH_KEY}}" }}
"#,
        server.url()
    );
    let output = Test::new()
        .config(&config)
        .env("SEARCH_KEY", "k3y-s3cret")
        .args(["smoke"])
        .run(0);
    let requests = server.requests();
    assert_eq!(
        requests[0].uri,
        "/search?bypass=1&key=k3y-s3cret&q=shoes+%26+socks"
    );
    output.stdout_has("/search?bypass=1&key=***&q=shoes+%26+socks");
    assert!(!output.stdout.contains("k3y-s3cret"));
}

fn redirects() -> Server {
    let location = |to: &str| Reply::Raw {
        status: 302,
        headers: vec![("location".into(), to.into())],
        body: String::new(),
    };
    Server::builder()
        .route("/old", location("/middle"))
        .route("/middle", location("/new"))
        .json("/new", 200, json!({ "status": "moved" }))
        .route("/loop-a", location("/loop-b"))
        .route("/loop-b", location("/loop-a"))
        .start()
}

fn redirect_config(url: &str, path: &str, extra: &str) -> String {
    format!(
        r#"
[environments.local]
url = "{url}"

[smoke]
ready_within = "100ms"

[[smoke.check]]
name = "redirect"
path = "{path}"
{extra}
"#
    )
}

#[test]
fn redirects_are_not_followed_by_default() {
    let server = redirects();
    let output = Test::new()
        .config(&redirect_config(&server.url(), "/old", ""))
        .args(["smoke"])
        .run(1);
    output.stdout_has("      expected: status 200\n      got:      status 302\n");
}

#[test]
fn redirects_are_followed_when_asked_within_max_hops() {
    let server = redirects();
    let url = server.url();
    let output = Test::new()
        .config(&redirect_config(
            &url,
            "/old",
            "follow_redirects = true\nassert = ['jsonpath \"$.status\" == \"moved\"']",
        ))
        .args(["smoke"])
        .run(0);
    output.stdout_has(&format!("✓ redirect GET {url}/old → {url}/new"));
    let uris: Vec<String> = server.requests().into_iter().map(|r| r.uri).collect();
    assert_eq!(uris, ["/old", "/middle", "/new"]);

    let output = Test::new()
        .config(&redirect_config(
            &url,
            "/old",
            "follow_redirects = true\nmax_redirects = 1",
        ))
        .args(["smoke"])
        .run(1);
    output.stdout_has(&format!(
        "      got:      more than 1 redirects (`max_redirects`): {url}/old → {url}/middle → {url}/new\n"
    ));
}

#[test]
fn a_redirect_loop_is_detected() {
    let server = redirects();
    let url = server.url();
    let output = Test::new()
        .config(&redirect_config(&url, "/loop-a", "follow_redirects = true"))
        .args(["smoke"])
        .run(1);
    output.stdout_has(&format!(
        "      expected: status 200\n      got:      redirect loop: {url}/loop-a → {url}/loop-b → {url}/loop-a\n"
    ));
}

#[test]
fn expect_json_is_judged_in_file_order() {
    let server = server();
    let config = format!(
        r#"
[environments.local]
url = "{}"

[smoke]
ready_within = "100ms"

[[smoke.check]]
name = "ordered"
path = "/api/health"
expect = {{ json = {{ "$.version" = "9", "$.status" = "down" }} }}
"#,
        server.url()
    );
    let output = Test::new().config(&config).args(["smoke"]).run(1);
    output
        .stdout_has("      expected: \"$.version\" == \"9\"\n      got:      \"1.4.2\"\n")
        .stdout_has("      │ also failed: expected \"$.status\" == \"down\", got \"healthy\"\n");
}

/// A member name that is not a valid RFC 9535 shorthand (`X-Probe` has a
/// dash) gets the exact bracket form to write, pointing at the path, in
/// `expect.json`, an `assert` line and a `capture` (issue 15, item 4).
#[test]
fn an_invalid_shorthand_member_name_gets_the_bracket_form() {
    let expect = "[environments.local]\nurl = \"http://127.0.0.1:9\"\n\n[[smoke.check]]\nname = \"probe\"\npath = \"/echo\"\nexpect = { json = { \"$.headers.X-Probe\" = \"1\" } }\n";
    Test::new()
        .config(expect)
        .args(["check"])
        .run(2)
        .stderr_has("error: invalid JSONPath `$.headers.X-Probe` in check `probe`: ")
        .stderr_has("shipgate.toml:7:10")
        .stderr_has("hint: a member name with characters other than letters, digits and `_` needs brackets: write `$.headers['X-Probe']` instead of `$.headers.X-Probe`\n");
    let assert = "[environments.local]\nurl = \"http://127.0.0.1:9\"\n\n[[smoke.check]]\nname = \"probe\"\npath = \"/echo\"\nassert = ['jsonpath \"$.headers.X-Probe\" == \"1\"']\n";
    Test::new()
        .config(assert)
        .args(["check"])
        .run(2)
        .stderr_has("error: invalid assertion in check `probe`: invalid JSONPath `$.headers.X-Probe`: ")
        .stderr_has("shipgate.toml:7:11")
        .stderr_has("hint: a member name with characters other than letters, digits and `_` needs brackets: write `$.headers['X-Probe']` instead of `$.headers.X-Probe` (in TOML, quote a line holding `'` with `'''`: `'''jsonpath \"$.headers['X-Probe']\" …'''`)\n");
    let capture = "[environments.local]\nurl = \"http://127.0.0.1:9\"\n\n[[smoke.check]]\nname = \"probe\"\nflow = \"f\"\npath = \"/echo\"\ncapture = { probe = 'jsonpath \"$..x-probe\"' }\n";
    Test::new()
        .config(capture)
        .args(["check"])
        .run(2)
        .stderr_has(
            "error: invalid capture `probe` in check `probe`: invalid JSONPath `$..x-probe`: ",
        )
        .stderr_has("write `$..['x-probe']` instead of `$..x-probe`");
}

/// The bracket form the hint gives works: it reads the header the server
/// echoes back as JSON.
#[test]
fn the_bracket_form_reads_a_member_with_a_dash() {
    let server = Server::builder()
        .json(
            "/echo",
            200,
            serde_json::json!({ "headers": { "X-Probe": "1" } }),
        )
        .start();
    let config = format!(
        "[environments.local]\nurl = \"{}\"\n\n[[smoke.check]]\nname = \"probe\"\npath = \"/echo\"\nexpect = {{ json = {{ \"$.headers['X-Probe']\" = \"1\" }} }}\nassert = ['''jsonpath \"$.headers['X-Probe']\" == \"1\"''']\n",
        server.url()
    );
    Test::new()
        .config(&config)
        .args(["smoke"])
        .run(0)
        .stdout_has("✓ smoke 1 of 1 passed");
}
