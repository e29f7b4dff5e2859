//! `[notify]` end to end (issue 14): a real `run` against the releases
//! provider and a real app on 127.0.0.1 that fails smoke and rolls back,
//! with the Slack webhook and GitHub faked by wiremock, asserting each
//! request exactly. A webhook or GitHub failure is a warning, never a
//! different exit code, and neither the webhook URL nor a token ever
//! reaches the output.

use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::support::app::ReleaseApp;
use crate::support::{Output, Test};

const TOKEN: &str = "ghs_notify_token";
/// The secret part of the webhook URL.
const HOOK_PATH: &str = "/services/T0001/B0001/XoXoSecretHookPart";

fn config(app: &ReleaseApp, notify: &str) -> String {
    format!(
        r#"
[environments.prod]
url = "{url}"

[environments.prod.releases]
root = "srv"
restart = "test -f \"$SHIPGATE_RELEASE_DIR/status\""

[smoke]
ready_within = "1s"

[[smoke.check]]
name = "health"
path = "/health"
timeout = "1s"

{notify}
"#,
        url = app.url()
    )
}

/// A test dir with a good build (`200`) and a bad one (`503`), its app, and
/// the Actions environment of run 42, attempt 1.
fn project(notify: &str, hook: &MockServer, github: Option<&MockServer>) -> (Test, ReleaseApp) {
    let test = Test::new()
        .file("build/good/status", "200")
        .file("build/bad/status", "503");
    let app = ReleaseApp::start(test.path().join("srv"));
    let mut test = test
        .config(&config(&app, notify))
        .env("SLACK_WEBHOOK_URL", &format!("{}{HOOK_PATH}", hook.uri()))
        .env("GITHUB_REPOSITORY", "acme/shop")
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_RUN_ID", "42")
        .env("GITHUB_RUN_ATTEMPT", "1");
    if let Some(github) = github {
        test = test
            .env("GITHUB_TOKEN", TOKEN)
            .env("GITHUB_API_URL", &github.uri());
    }
    (test, app)
}

fn hook_bodies(runtime: &tokio::runtime::Runtime, hook: &MockServer) -> Vec<Value> {
    runtime
        .block_on(hook.received_requests())
        .unwrap()
        .iter()
        .map(|request| {
            assert_eq!(request.method.as_str(), "POST");
            assert_eq!(request.url.path(), HOOK_PATH);
            assert_eq!(
                request.headers.get("content-type").unwrap(),
                "application/json"
            );
            serde_json::from_slice(&request.body).unwrap()
        })
        .collect()
}

/// No secret in stdout, stderr or `report.json`. `--format github` may
/// register one with `::add-mask::` (the runner hides that line and masks
/// the value everywhere after it), so those lines are left out.
fn secret_free(output: &Output, test: &Test) {
    let stdout: Vec<&str> = output
        .stdout
        .lines()
        .filter(|line| !line.starts_with("::add-mask::"))
        .collect();
    let stdout = stdout.join("\n");
    let report = test.path().join("report.json");
    let written = if report.is_file() {
        fs_err::read_to_string(&report).unwrap()
    } else {
        String::new()
    };
    for secret in [HOOK_PATH, "XoXoSecretHookPart", TOKEN] {
        for (name, text) in [
            ("stdout", stdout.as_str()),
            ("stderr", output.stderr.as_str()),
            ("--report", written.as_str()),
        ] {
            assert!(!text.contains(secret), "{name} holds {secret}:\n{text}");
        }
    }
}

#[test]
fn a_rollback_posts_started_then_succeeded_to_the_webhook() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let hook = runtime.block_on(MockServer::start());
    runtime.block_on(
        Mock::given(method("POST"))
            .and(path(HOOK_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
            .expect(3)
            .mount(&hook),
    );
    let (test, _app) = project(
        "[notify.webhook]\nurl = \"${SLACK_WEBHOOK_URL}\"\n",
        &hook,
        None,
    );
    Test::args_for(&test, ["run", "--source", "build/good", "--id", "v1"]).run(0);
    let output = Test::args_for(&test, ["run", "--source", "build/bad", "--id", "v2"]).run(4);
    output.stdout_has("✓ promote v1").stdout_has("(exit 4");
    secret_free(&output, &test);

    let run = "https://github.com/acme/shop/actions/runs/42";
    let link = json!({"type": "context", "elements": [
        {"type": "mrkdwn", "text": format!("<{run}|GitHub Actions run>")},
    ]});
    let bodies = hook_bodies(&runtime, &hook);
    assert_eq!(bodies.len(), 3, "{bodies:#?}");
    assert_eq!(
        bodies[0]["text"],
        format!("shipgate: Deployed `v1` to prod {run}")
    );
    assert_eq!(
        bodies[1],
        json!({
            "text": format!("shipgate: Rolling back prod from `v2` (`smoke` failed) {run}"),
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": "*Rolling back prod from `v2`*"}},
                {"type": "section", "fields": [
                    {"type": "mrkdwn", "text": "*Environment*\nprod"},
                    {"type": "mrkdwn", "text": "*Release*\n`v2` → previous healthy release"},
                    {"type": "mrkdwn", "text": "*Reason*\n`smoke` failed"},
                ]},
                link,
            ],
        })
    );
    assert_eq!(
        bodies[2],
        json!({
            "text": format!("shipgate: Rolled back prod: `v2` → `v1` (`smoke` failed) {run}"),
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": "*Rolled back prod: `v2` → `v1`*"}},
                {"type": "section", "fields": [
                    {"type": "mrkdwn", "text": "*Environment*\nprod"},
                    {"type": "mrkdwn", "text": "*Release*\n`v2` → `v1`"},
                    {"type": "mrkdwn", "text": "*Reason*\n`smoke` failed"},
                    {"type": "mrkdwn", "text": "*Database*\nkept (no database is configured)"},
                ]},
                link,
            ],
        })
    );
}

#[test]
fn only_the_listed_events_post() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let hook = runtime.block_on(MockServer::start());
    runtime.block_on(
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .expect(1)
            .mount(&hook),
    );
    let (test, _app) = project(
        "[notify.webhook]\nurl = \"${SLACK_WEBHOOK_URL}\"\nevents = [\"rollback-failed\", \"rollback-succeeded\"]\n",
        &hook,
        None,
    );
    Test::args_for(&test, ["run", "--source", "build/good", "--id", "v1"]).run(0);
    Test::args_for(&test, ["run", "--source", "build/bad", "--id", "v2"]).run(4);
    let bodies = hook_bodies(&runtime, &hook);
    assert_eq!(bodies.len(), 1, "{bodies:#?}");
    assert_eq!(
        bodies[0]["blocks"][0]["text"]["text"],
        "*Rolled back prod: `v2` → `v1`*"
    );
}

#[test]
fn a_failing_webhook_is_a_warning_and_never_changes_the_exit_code() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let hook = runtime.block_on(MockServer::start());
    runtime.block_on(
        Mock::given(method("POST"))
            .and(path(HOOK_PATH))
            .respond_with(ResponseTemplate::new(500).set_body_string("internal error"))
            .expect(5)
            .mount(&hook),
    );
    let (test, _app) = project(
        "[notify.webhook]\nurl = \"${SLACK_WEBHOOK_URL}\"\n",
        &hook,
        None,
    );
    let output = Test::args_for(&test, ["run", "--source", "build/good", "--id", "v1"]).run(0);
    output.stderr_has(
        "warning: webhook `SLACK_WEBHOOK_URL` for `deploy-succeeded` was not delivered: it answered 500: internal error",
    );
    secret_free(&output, &test);

    let output = Test::args_for(
        &test,
        [
            "run",
            "--source",
            "build/bad",
            "--id",
            "v2",
            "--format",
            "json",
            "--report",
            "report.json",
        ],
    )
    .run(4);
    output
        .stderr_has("warning: webhook `SLACK_WEBHOOK_URL` for `rollback-started` was not delivered: it answered 500")
        .stderr_has("warning: webhook `SLACK_WEBHOOK_URL` for `rollback-succeeded` was not delivered: it answered 500");
    secret_free(&output, &test);
    let report = output.json();
    assert_eq!(report["exit_code"], 4);
    let notify: Vec<&Value> = report["phases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|phase| phase["name"] == "notify")
        .collect();
    assert_eq!(
        notify.len(),
        2,
        "one before the rollback, one after: {report:#}"
    );
    assert!(notify.iter().all(|phase| phase["status"] == "warn"));
    assert_eq!(notify[1]["checks"][0]["name"], "webhook");
    assert_eq!(
        notify[1]["checks"][0]["detail"],
        "`rollback-succeeded` not delivered to `${SLACK_WEBHOOK_URL}`: it answered 500: internal error"
    );
    let written: Value =
        serde_json::from_str(&fs_err::read_to_string(test.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(written["exit_code"], 4);

    // A manual rollback from v1 has nothing healthy left: exit 5 stays 5,
    // and the workflow commands carry the warnings, masked too.
    let output = Test::args_for(&test, ["rollback", "--yes", "--format", "github"]).run(5);
    output
        .stdout_has(
            "::warning::webhook `SLACK_WEBHOOK_URL` for `rollback-started` was not delivered",
        )
        .stdout_has(
            "::warning::webhook `SLACK_WEBHOOK_URL` for `rollback-failed` was not delivered",
        );
    secret_free(&output, &test);
}

/// The GitHub fake: the open-issue search, issue creation and comments,
/// each with the exact headers.
fn github_mocks(runtime: &tokio::runtime::Runtime, github: &MockServer, open_issue_body: &str) {
    let auth = |builder: wiremock::MockBuilder| {
        builder
            .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
            .and(header("accept", "application/vnd.github+json"))
    };
    let search = || {
        auth(Mock::given(method("GET")))
            .and(path("/repos/acme/shop/issues"))
            .and(query_param("state", "open"))
            .and(query_param("labels", "incident,prod"))
    };
    runtime.block_on(async {
        // The first search finds nothing; later ones find the issue opened.
        search()
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([
                {"number": 3, "title": "Rollback: staging v8 → v7", "body": "other env"},
                {"number": 4, "title": "Rollback: prod v9 → v8", "body": "a PR", "pull_request": {}},
            ])))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(github)
            .await;
        search()
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([
                {"number": 7, "title": "Rollback: prod v3 → v2", "body": open_issue_body},
            ])))
            .mount(github)
            .await;
        auth(Mock::given(method("POST")))
            .and(path("/repos/acme/shop/issues"))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({
                "number": 7, "html_url": "https://github.com/acme/shop/issues/7",
            })))
            .mount(github)
            .await;
        auth(Mock::given(method("GET")))
            .and(path("/repos/acme/shop/issues/7/comments"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([
                {"body": "a person's note"},
            ])))
            .mount(github)
            .await;
        auth(Mock::given(method("POST")))
            .and(path("/repos/acme/shop/issues/7/comments"))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
            .mount(github)
            .await;
    });
}

fn requests(runtime: &tokio::runtime::Runtime, server: &MockServer) -> Vec<Request> {
    runtime.block_on(server.received_requests()).unwrap()
}

fn posts_to<'r>(requests: &'r [Request], to: &str) -> Vec<&'r Request> {
    requests
        .iter()
        .filter(|request| request.method.as_str() == "POST" && request.url.path() == to)
        .collect()
}

#[test]
fn a_rollback_opens_one_incident_issue_per_run_and_comments_on_a_retry() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let hook = runtime.block_on(MockServer::start());
    let github = runtime.block_on(MockServer::start());
    github_mocks(
        &runtime,
        &github,
        "<!-- shipgate-run: 42.1 -->\n## Rollback: prod v3 → v2",
    );
    let (test, _app) = project(
        "[notify]\ngithub_issue = true\nissue_labels = [\"incident\", \"prod\"]\n",
        &hook,
        Some(&github),
    );
    Test::args_for(&test, ["run", "--source", "build/good", "--id", "v1"]).run(0);
    Test::args_for(&test, ["run", "--source", "build/good", "--id", "v2"]).run(0);
    assert!(
        requests(&runtime, &github).is_empty(),
        "no issue without a rollback"
    );

    let output = Test::args_for(&test, ["run", "--source", "build/bad", "--id", "v3"]).run(4);
    output.stderr_has("opened incident issue https://github.com/acme/shop/issues/7");
    secret_free(&output, &test);
    let seen = requests(&runtime, &github);
    let created = posts_to(&seen, "/repos/acme/shop/issues");
    assert_eq!(created.len(), 1);
    let issue: Value = serde_json::from_slice(&created[0].body).unwrap();
    assert_eq!(issue["title"], "Rollback: prod v3 → v2");
    assert_eq!(issue["labels"], json!(["incident", "prod"]));
    let body = issue["body"].as_str().unwrap();
    assert!(
        body.starts_with("<!-- shipgate-run: 42.1 -->\n## Rollback: prod v3 → v2\n"),
        "{body}"
    );
    for fragment in [
        "**Run:** https://github.com/acme/shop/actions/runs/42",
        " UTC | deploy of `v3` to `prod` started |",
        " UTC | first failing check: smoke `health`: expected status 200, got status 503 |",
        " UTC | decision: roll back automatically (`smoke` failed) |",
        " UTC | rollback done: `v2` serves traffic again |",
        " UTC | re-check passed against `v2` |",
        "- **smoke** `health`: expected `status 200`, got `status 503`",
        "### Database\n\nkept (no database is configured)",
        "## Incident response",
        "## Incident Postmortem",
        "### Root Cause",
        "### Impact",
        "### Resolution\n\nshipgate rolled `prod` back to `v2`",
        "### Action Items",
        "### Prevention",
    ] {
        assert!(body.contains(fragment), "body lacks {fragment:?}:\n{body}");
    }

    // The same step again (same run and attempt): a manual rollback finds
    // its marker on the open issue and records nothing more.
    let output = Test::args_for(&test, ["rollback", "--yes"]).run(0);
    output
        .stdout_has("✓ promote v1")
        .stderr_has("incident issue #7 already records this run");
    secret_free(&output, &test);
    let seen = requests(&runtime, &github);
    assert_eq!(posts_to(&seen, "/repos/acme/shop/issues").len(), 1);
    assert!(posts_to(&seen, "/repos/acme/shop/issues/7/comments").is_empty());

    // A re-run job (attempt 2) comments on the open issue instead of
    // opening another: here a second manual rollback, from v1, which has
    // nothing healthy left to go back to (v2 and v3 are recorded failed).
    let test = test.env("GITHUB_RUN_ATTEMPT", "2");
    let output = Test::args_for(&test, ["rollback", "--yes"]).run(5);
    output.stderr_has("commented on the open incident issue #7");
    let seen = requests(&runtime, &github);
    assert_eq!(posts_to(&seen, "/repos/acme/shop/issues").len(), 1);
    let comments = posts_to(&seen, "/repos/acme/shop/issues/7/comments");
    assert_eq!(comments.len(), 1);
    let comment: Value = serde_json::from_slice(&comments[0].body).unwrap();
    assert_eq!(
        comment.as_object().unwrap().len(),
        1,
        "only `body`: {comment}"
    );
    let body = comment["body"].as_str().unwrap();
    assert!(
        body.starts_with("<!-- shipgate-run: 42.2 -->\n## Rollback: prod v1 → unknown\n"),
        "{body}"
    );
    for fragment in [
        "**Outcome:** the rollback did not complete",
        "decision: roll back (`shipgate rollback`)",
        "rollback did not complete: `choose target`",
        "- [x] Mitigation: rollback attempted and FAILED",
    ] {
        assert!(body.contains(fragment), "body lacks {fragment:?}:\n{body}");
    }
    assert!(
        hook_bodies(&runtime, &hook).is_empty(),
        "no webhook configured"
    );
}

#[test]
fn github_down_while_recording_the_incident_is_a_warning_after_the_rollback() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let hook = runtime.block_on(MockServer::start());
    let github = runtime.block_on(MockServer::start());
    runtime.block_on(
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(503))
            .mount(&github),
    );
    let (test, _app) = project("[notify]\ngithub_issue = true\n", &hook, Some(&github));
    Test::args_for(&test, ["run", "--source", "build/good", "--id", "v1"]).run(0);
    let output = Test::args_for(&test, ["run", "--source", "build/bad", "--id", "v2"]).run(4);
    output
        .stdout_has("✓ promote v1")
        .stderr_has("warning: the incident issue was not recorded: `GET /repos/acme/shop/issues?state=open&labels=incident&per_page=100` returned 503");
    secret_free(&output, &test);
    let seen = requests(&runtime, &github);
    assert!(posts_to(&seen, "/repos/acme/shop/issues").is_empty());
}

/// `check` rejects `config` with exit 2 and every fragment on stderr.
#[track_caller]
fn rejects(notify: &str, fragments: &[&str]) {
    let config = format!("[environments.prod]\nurl = \"http://127.0.0.1:9\"\n{notify}");
    let output = Test::new()
        .config(&config)
        .env(
            "SLACK_WEBHOOK_URL",
            "https://hooks.slack.com/services/T/B/XoXoSecretHookPart",
        )
        .args(["check"])
        .run(2);
    for fragment in fragments {
        output.stderr_has(fragment);
    }
    output.nowhere("XoXoSecretHookPart");
}

#[test]
fn notify_config_errors_point_at_the_line_and_say_how_to_fix_it() {
    rejects(
        "[notify.webhook]\nurl = \"${SLACK_WEBHOOK_URL}\"\nevents = [\"rollback-started\", \"deploy-sucess\"]\n",
        &[
            "error: unknown variant `deploy-sucess`, expected one of `deploy-succeeded`, `deploy-failed`, `rollback-started`, `rollback-succeeded`, `rollback-failed`",
            "--> shipgate.toml:5:",
            "hint: did you mean `deploy-succeeded`?",
        ],
    );
    rejects(
        "[notify.webhook]\nurl = \"https://hooks.slack.com/services/T/B/XoXoSecretHookPart\"\n",
        &[
            "error: `notify.webhook.url` must be a single `${VAR}` reference, so the webhook URL (a secret) stays out of the file",
            "--> shipgate.toml:4:7",
            "hint: write `url = \"${SLACK_WEBHOOK_URL}\"`",
        ],
    );
    rejects(
        "[notify]\ngithub_isue = true\n",
        &[
            "--> shipgate.toml:4:1",
            "hint: did you mean `github_issue`?",
        ],
    );
    rejects(
        "[notify]\nissue_labels = [\"incident\", \"\"]\n",
        &[
            "error: empty label in `notify.issue_labels`",
            "--> shipgate.toml:4:29",
        ],
    );
    rejects(
        "[notify.webhook]\nurl = \"${SLACK_WEBHOOK_URL}\"\nevents = [\"deploy-failed\", \"deploy-failed\"]\n",
        &[
            "error: event `deploy-failed` is listed twice in `notify.webhook.events`",
            "--> shipgate.toml:5:28",
        ],
    );
    rejects(
        "[notify.webhook]\nurl = \"${NOT_SET_HOOK}\"\n",
        &[
            "error: environment variable `NOT_SET_HOOK` is not set (or is empty), for key `notify.webhook.url`",
        ],
    );
}

#[test]
fn notify_config_defaults_and_a_valid_section_pass() {
    Test::new()
        .config("[environments.prod]\nurl = \"http://127.0.0.1:9\"\n[notify]\ngithub_issue = true\n[notify.webhook]\nurl = \"${SLACK_WEBHOOK_URL}\"\nevents = [\"rollback-failed\"]\ntimeout = \"5s\"\n")
        .env("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T/B/XoXoSecretHookPart")
        .args(["check"])
        .run(0)
        .nowhere("XoXoSecretHookPart");
}

#[test]
fn a_failure_without_a_rollback_posts_deploy_failed_with_the_failing_check() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let hook = runtime.block_on(MockServer::start());
    runtime.block_on(
        Mock::given(method("POST"))
            .and(path(HOOK_PATH))
            .respond_with(ResponseTemplate::new(200))
            .expect(1)
            .mount(&hook),
    );
    let (test, _app) = project(
        "[rollback]\non = []\n\n[notify.webhook]\nurl = \"${SLACK_WEBHOOK_URL}\"\nevents = [\"deploy-failed\"]\n",
        &hook,
        None,
    );
    Test::args_for(&test, ["run", "--source", "build/bad", "--id", "v1"]).run(1);
    let bodies = hook_bodies(&runtime, &hook);
    assert_eq!(bodies.len(), 1, "{bodies:#?}");
    assert_eq!(
        bodies[0]["text"],
        "shipgate: Deploy of `v1` to prod failed (smoke `health`: expected status 200, got status 503) https://github.com/acme/shop/actions/runs/42"
    );
    assert_eq!(
        bodies[0]["blocks"][1]["fields"],
        json!([
            {"type": "mrkdwn", "text": "*Environment*\nprod"},
            {"type": "mrkdwn", "text": "*Release*\n`v1`"},
            {"type": "mrkdwn", "text": "*Reason*\nsmoke `health`: expected status 200, got status 503"},
        ])
    );
}

/// The reusable workflow's separate steps: `deploy` says nothing until the
/// release is judged; the `smoke` step that judges it posts
/// `deploy-succeeded` or `deploy-failed`; `rollback --to` names its target
/// from the start; a deploy that fails by itself posts `deploy-failed`.
#[test]
fn separate_deploy_smoke_and_rollback_steps_post_what_each_one_settled() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let hook = runtime.block_on(MockServer::start());
    runtime.block_on(
        Mock::given(method("POST"))
            .and(path(HOOK_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
            .mount(&hook),
    );
    let (test, _app) = project(
        "[notify.webhook]\nurl = \"${SLACK_WEBHOOK_URL}\"\n",
        &hook,
        None,
    );
    let test = test.file(
        "build/broken/README",
        "no status file: the restart check fails",
    );
    let texts = || -> Vec<String> {
        hook_bodies(&runtime, &hook)
            .iter()
            .map(|body| body["text"].as_str().unwrap().to_owned())
            .collect()
    };
    let run = "https://github.com/acme/shop/actions/runs/42";

    Test::args_for(&test, ["deploy", "--source", "build/good", "--id", "v1"]).run(0);
    assert!(
        texts().is_empty(),
        "deploy alone settles nothing: {:?}",
        texts()
    );
    Test::args_for(&test, ["smoke"]).run(0);
    assert_eq!(texts(), [format!("shipgate: Deployed `v1` to prod {run}")]);

    Test::args_for(&test, ["deploy", "--source", "build/bad", "--id", "v2"]).run(0);
    Test::args_for(&test, ["smoke"]).run(1);
    let output = Test::args_for(&test, ["rollback", "--to", "v1", "--yes"]).run(0);
    secret_free(&output, &test);
    let bodies = hook_bodies(&runtime, &hook);
    let posted = texts();
    assert_eq!(posted.len(), 4, "{posted:#?}");
    assert!(
        posted[1].starts_with("shipgate: Deploy of `v2` to prod failed (smoke `health`"),
        "{posted:#?}"
    );
    assert_eq!(
        bodies[2]["blocks"][1]["fields"][1]["text"], "*Release*\n`v2` → `v1`",
        "rollback --to names its target: {bodies:#?}"
    );
    assert!(
        posted[3].starts_with("shipgate: Rolled back prod: `v2` → `v1`"),
        "{posted:#?}"
    );
    // Smoke against the restored release settles nothing more.
    Test::args_for(&test, ["smoke"]).run(0);
    assert_eq!(texts().len(), 4, "{:#?}", texts());

    Test::args_for(&test, ["deploy", "--source", "build/broken", "--id", "v3"]).run(1);
    let posted = texts();
    assert_eq!(posted.len(), 5, "{posted:#?}");
    assert!(
        posted[4].starts_with("shipgate: Deploy of `v3` to prod failed ("),
        "{posted:#?}"
    );
}
