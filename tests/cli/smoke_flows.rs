//! Flows: a login step captures a token and a session header, later steps
//! use them; a failed step stops its flow; placeholders must be captured
//! earlier in the flow (issue 5).

use serde_json::json;

use crate::support::Test;
use crate::support::http::{Reply, Scripted, Server};

fn shop() -> Server {
    let json_reply = |status: u16, body: serde_json::Value| Scripted {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string(),
        delay: None,
    };
    Server::builder()
        .route(
            "/login",
            Reply::script(move |request, earlier| {
                let body: serde_json::Value =
                    serde_json::from_str(&request.body).unwrap_or_default();
                if body == json!({ "user": "demo", "password": "pa55word" }) {
                    let mut reply = json_reply(200, json!({ "token": format!("tok-{earlier}") }));
                    reply.headers.push(("x-session".into(), "s-42".into()));
                    reply
                } else {
                    json_reply(401, json!({ "error": "bad credentials" }))
                }
            }),
        )
        .route(
            "/me",
            Reply::script(move |request, _| {
                let authorized = request
                    .headers
                    .iter()
                    .any(|(name, value)| name == "authorization" && value == "Bearer tok-0");
                if authorized {
                    json_reply(200, json!({ "user": "demo" }))
                } else {
                    json_reply(401, json!({ "error": "no token" }))
                }
            }),
        )
        .route(
            "/cart",
            Reply::script(move |request, _| {
                if request.uri == "/cart?session=s-42" {
                    json_reply(200, json!({ "items": [] }))
                } else {
                    json_reply(403, json!({ "error": "no session" }))
                }
            }),
        )
        .start()
}

fn config(url: &str) -> String {
    format!(
        r#"
[environments.local]
url = "{url}"

[smoke]
ready_within = "300ms"

[[smoke.check]]
name = "login"
flow = "checkout"
method = "POST"
path = "/login"
json = {{ user = "demo", password = "${{SMOKE_PASSWORD}}" }}
capture = {{ token = 'jsonpath "$.token"', session = 'header "X-Session"' }}

[[smoke.check]]
name = "me"
flow = "checkout"
path = "/me"
headers = {{ Authorization = "Bearer {{{{token}}}}" }}
assert = ['jsonpath "$.user" == "demo"']

[[smoke.check]]
name = "cart"
flow = "checkout"
path = "/cart"
query = {{ session = "{{{{session}}}}" }}
assert = ['jsonpath "$.items" count == 0']
"#
    )
}

#[test]
fn a_login_flow_captures_a_token_for_the_next_steps() {
    let server = shop();
    let output = Test::new()
        .config(&config(&server.url()))
        .env("SMOKE_PASSWORD", "pa55word")
        .args(["smoke"])
        .run(0);
    output
        .stdout_has("✓ smoke 3 of 3 passed")
        .stdout_has(&format!("  ✓ cart GET {}/cart?session=*** ", server.url()));
    let uris: Vec<String> = server.requests().into_iter().map(|r| r.uri).collect();
    assert_eq!(
        uris,
        ["/login", "/me", "/cart?session=s-42"],
        "steps out of order"
    );
    assert!(!output.stdout.contains("s-42") && !output.stdout.contains("pa55word"));
}

#[test]
fn a_failed_step_stops_its_flow() {
    let server = shop();
    let output = Test::new()
        .config(&config(&server.url()))
        .env("SMOKE_PASSWORD", "wrong")
        .args(["smoke"])
        .run(1);
    output
        .stdout_has("✗ smoke 0 of 3 passed")
        .stdout_has("      expected: status 200\n      got:      status 401\n")
        .stdout_has(&format!(
            "  - me GET {}/me not sent: `login`, an earlier step of its flow, failed\n",
            server.url()
        ));
    assert!(
        server
            .requests()
            .iter()
            .all(|request| request.uri == "/login"),
        "a later step was sent"
    );
}

#[test]
fn a_capture_that_reads_nothing_fails_the_step() {
    let server = Server::builder()
        .json("/login", 200, json!({ "ok": true }))
        .json("/me", 200, json!({}))
        .start();
    let config = format!(
        r#"
[environments.local]
url = "{}"

[smoke]
ready_within = "100ms"

[[smoke.check]]
name = "login"
flow = "f"
path = "/login"
capture = {{ token = 'jsonpath "$.token"' }}

[[smoke.check]]
name = "me"
flow = "f"
path = "/me"
headers = {{ Authorization = "Bearer {{{{token}}}}" }}
"#,
        server.url()
    );
    let output = Test::new().config(&config).args(["smoke"]).run(1);
    output.stdout_has(
        "      expected: capture `token` from jsonpath \"$.token\"\n      got:      \"$.token\" selected nothing in {\"ok\":true}\n",
    );
}

#[test]
fn a_placeholder_not_captured_earlier_in_its_flow_is_a_config_error() {
    let config = r#"
[environments.local]
url = "http://127.0.0.1:9"

[[smoke.check]]
name = "me"
flow = "checkout"
path = "/me"
headers = { Authorization = "Bearer {{token}}" }

[[smoke.check]]
name = "login"
flow = "checkout"
path = "/login"
capture = { token = 'jsonpath "$.token"' }
"#;
    let output = Test::new().config(config).args(["check"]).run(2);
    output
        .stderr_has("error: check `me` uses `{{token}}`, but no earlier check of flow `checkout` captures it\n")
        .stderr_has("shipgate.toml:6:8");
}
