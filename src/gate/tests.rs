//! The runner and the `github` gate, in process: an injected clock and
//! environment, and wiremock fakes for GitHub asserting every request.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::config::Redactor;
use crate::github::tests::{api, fast_retry, github_env};
use crate::report::{OutputFormat, Printer};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

fn gate_context(dir: &Path, toml: &str, env: &[(&str, &str)]) -> GateContext {
    let path = dir.join("shipgate.toml");
    fs_err::write(&path, toml).unwrap();
    let redactor = Redactor::default();
    let config = crate::config::load(&path, None, &|_| None, &redactor).unwrap();
    let ctx = Context {
        config,
        printer: Printer::new(OutputFormat::Json, redactor),
        dry_run: false,
        cancel: CancellationToken::new(),
        state_path: dir.join("state/state.json"),
    };
    let variables: HashMap<String, String> = env
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
    GateContext {
        ctx,
        now: "2026-11-24T12:00:00Z".parse().unwrap(),
        lookup: Arc::new(move |name| variables.get(name).cloned()),
        window_override: None,
        github: Err("no GitHub environment in this test".to_owned()),
        retry: fast_retry(),
    }
}

async fn run(gate_ctx: &GateContext) -> Phase {
    run_selected(gate_ctx, &GateOptions::default())
        .await
        .unwrap()
}

fn check<'p>(phase: &'p Phase, name: &str) -> &'p Check {
    phase
        .checks
        .iter()
        .find(|check| check.name == name)
        .unwrap_or_else(|| panic!("no check `{name}` in {phase:#?}"))
}

async fn mount_runs(server: &MockServer, runs: serde_json::Value, times: Option<u64>) {
    let mock =
        api(Mock::given(method("GET"))
            .and(path(format!("/repos/acme/shop/commits/{SHA}/check-runs"))))
        .and(query_param("per_page", "100"))
        .and(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "total_count": runs.as_array().map_or(0, Vec::len),
            "check_runs": runs
        })));
    match times {
        Some(times) => mock.up_to_n_times(times).mount(server).await,
        None => mock.mount(server).await,
    }
}

async fn mount_statuses(server: &MockServer, statuses: serde_json::Value) {
    api(Mock::given(method("GET")).and(path(format!("/repos/acme/shop/commits/{SHA}/status"))))
        .and(query_param("per_page", "100"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"state": "success", "statuses": statuses})),
        )
        .mount(server)
        .await;
}

fn run_json(id: u64, name: &str, status: &str, conclusion: Option<&str>) -> serde_json::Value {
    json!({"id": id, "name": name, "status": status, "conclusion": conclusion, "html_url": "https://github.example/x"})
}

const GITHUB_CHECKS: &str = "[environments.production]\n[gate.github]\nchecks = \"all\"\n";

#[tokio::test]
async fn all_green_check_runs_and_statuses_pass() {
    let server = MockServer::start().await;
    mount_runs(
        &server,
        json!([
            run_json(1, "build", "completed", Some("success")),
            run_json(2, "docs", "completed", Some("skipped")),
            // shipgate's own check run never counts.
            run_json(3, "shipgate / gates", "in_progress", None),
        ]),
        None,
    )
    .await;
    mount_statuses(
        &server,
        json!([{"context": "ci/deploy-preview", "state": "success"}]),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut gate_ctx = gate_context(dir.path(), GITHUB_CHECKS, &[]);
    gate_ctx.github = Ok(github_env(&server));
    let phase = run(&gate_ctx).await;
    let github = check(&phase, "github");
    assert_eq!(github.status, Status::Pass, "{github:?}");
    assert_eq!(
        github.detail.as_deref(),
        Some("3 check(s) green on `0123456789ab`")
    );
}

#[tokio::test]
async fn one_failing_check_run_or_status_fails_and_is_named() {
    let server = MockServer::start().await;
    mount_runs(
        &server,
        json!([
            run_json(1, "build", "completed", Some("success")),
            run_json(2, "test", "completed", Some("failure")),
        ]),
        None,
    )
    .await;
    mount_statuses(
        &server,
        json!([{"context": "ci/legacy", "state": "error", "description": "boom"}]),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut gate_ctx = gate_context(dir.path(), GITHUB_CHECKS, &[]);
    gate_ctx.github = Ok(github_env(&server));
    let phase = run(&gate_ctx).await;
    let github = check(&phase, "github");
    assert_eq!(github.status, Status::Fail);
    assert_eq!(
        github.detail.as_deref(),
        Some("failing on `0123456789ab`: `test` (failure), `ci/legacy` (error)")
    );
}

#[tokio::test]
async fn pending_is_not_green_without_wait_for() {
    let server = MockServer::start().await;
    mount_runs(
        &server,
        json!([run_json(1, "build", "completed", Some("success"))]),
        None,
    )
    .await;
    mount_statuses(&server, json!([{"context": "ci/e2e", "state": "pending"}])).await;
    let dir = tempfile::tempdir().unwrap();
    let config =
        "[environments.production]\n[gate.github]\nchecks = [\"build\", \"ci/e2e\", \"lint\"]\n";
    let mut gate_ctx = gate_context(dir.path(), config, &[]);
    gate_ctx.github = Ok(github_env(&server));
    let phase = run(&gate_ctx).await;
    let github = check(&phase, "github");
    assert_eq!(github.status, Status::Fail);
    assert_eq!(
        github.detail.as_deref(),
        Some("not finished: `ci/e2e` (pending), `lint` (not reported yet)")
    );
}

#[tokio::test]
async fn wait_for_polls_a_pending_check_until_it_is_green() {
    let server = MockServer::start().await;
    mount_runs(
        &server,
        json!([run_json(1, "build", "in_progress", None)]),
        Some(2),
    )
    .await;
    mount_runs(
        &server,
        json!([run_json(1, "build", "completed", Some("success"))]),
        None,
    )
    .await;
    mount_statuses(&server, json!([])).await;
    let dir = tempfile::tempdir().unwrap();
    let config = "[environments.production]\n[gate.github]\nchecks = [\"build\"]\nwait_for = \"10s\"\npoll_interval = \"50ms\"\n";
    let mut gate_ctx = gate_context(dir.path(), config, &[]);
    gate_ctx.github = Ok(github_env(&server));
    let started = Instant::now();
    let phase = run(&gate_ctx).await;
    let github = check(&phase, "github");
    assert_eq!(github.status, Status::Pass, "{github:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let polls = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|request| request.url.path().ends_with("/check-runs"))
        .count();
    assert_eq!(polls, 3, "two pending polls, then green");
}

async fn mount_reviews(server: &MockServer, number: u64, reviews: serde_json::Value) {
    api(Mock::given(method("GET")).and(path(format!("/repos/acme/shop/pulls/{number}/reviews"))))
        .and(query_param("per_page", "100"))
        .and(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(reviews))
        .expect(1)
        .mount(server)
        .await;
}

fn review(id: u64, user: &str, state: &str) -> serde_json::Value {
    json!({"id": id, "user": {"login": user}, "state": state, "submitted_at": "2026-11-20T10:00:00Z"})
}

const APPROVALS: &str =
    "[environments.production]\n[gate.github]\nchecks = \"none\"\nmin_approvals = 2\n";

async fn approvals(reviews: serde_json::Value) -> Check {
    let server = MockServer::start().await;
    // No PR in the event: the commit's associated PR is looked up.
    api(Mock::given(method("GET")).and(path(format!("/repos/acme/shop/commits/{SHA}/pulls"))))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"number": 3, "state": "closed"},
            {"number": 9, "state": "open"}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    mount_reviews(&server, 9, reviews).await;
    let dir = tempfile::tempdir().unwrap();
    let mut gate_ctx = gate_context(dir.path(), APPROVALS, &[]);
    gate_ctx.github = Ok(github_env(&server));
    let phase = run(&gate_ctx).await;
    check(&phase, "github").clone()
}

#[tokio::test]
async fn two_distinct_approvals_pass() {
    let check = approvals(json!([
        review(1, "ana", "APPROVED"),
        review(2, "bo", "COMMENTED"),
        review(3, "bo", "APPROVED"),
        review(4, "ana", "COMMENTED"),
    ]))
    .await;
    assert_eq!(check.status, Status::Pass, "{check:?}");
    assert_eq!(
        check.detail.as_deref(),
        Some("PR #9 approved by `ana`, `bo`")
    );
}

#[tokio::test]
async fn the_same_user_approving_twice_counts_once() {
    let check = approvals(json!([
        review(1, "ana", "APPROVED"),
        review(2, "ana", "APPROVED")
    ]))
    .await;
    assert_eq!(check.status, Status::Fail);
    assert_eq!(
        check.detail.as_deref(),
        Some("PR #9 has 1 approval(s), needs 2 (`ana`)")
    );
}

#[tokio::test]
async fn approving_then_requesting_changes_blocks() {
    let check = approvals(json!([
        review(1, "ana", "APPROVED"),
        review(2, "bo", "APPROVED"),
        review(3, "cy", "APPROVED"),
        review(4, "bo", "CHANGES_REQUESTED"),
    ]))
    .await;
    assert_eq!(check.status, Status::Fail);
    assert_eq!(
        check.detail.as_deref(),
        Some("PR #9: changes requested by `bo`")
    );
}

#[tokio::test]
async fn a_dismissed_review_does_not_count() {
    let check = approvals(json!([
        review(1, "ana", "APPROVED"),
        review(2, "bo", "CHANGES_REQUESTED"),
        review(3, "bo", "DISMISSED"),
        review(4, "cy", "APPROVED"),
        review(5, "cy", "DISMISSED"),
    ]))
    .await;
    assert_eq!(check.status, Status::Fail);
    assert_eq!(
        check.detail.as_deref(),
        Some("PR #9 has 1 approval(s), needs 2 (`ana`)")
    );
}

#[tokio::test]
async fn the_pr_from_the_event_is_used_without_a_lookup() {
    let server = MockServer::start().await;
    mount_reviews(
        &server,
        41,
        json!([review(1, "ana", "APPROVED"), review(2, "bo", "APPROVED")]),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let event = dir.path().join("event.json");
    fs_err::write(
        &event,
        json!({"pull_request": {"number": 41, "head": {"sha": SHA}}}).to_string(),
    )
    .unwrap();
    let mut gate_ctx = gate_context(dir.path(), APPROVALS, &[]);
    let uri = server.uri();
    let event = event.display().to_string();
    let lookup = move |name: &str| -> Option<String> {
        match name {
            "GITHUB_TOKEN" => Some("ghs_test_token_123".to_owned()),
            "GITHUB_REPOSITORY" => Some("acme/shop".to_owned()),
            "GITHUB_API_URL" => Some(uri.clone()),
            "GITHUB_SHA" => Some("merge0000".to_owned()),
            "GITHUB_EVENT_PATH" => Some(event.clone()),
            _ => None,
        }
    };
    let github = GithubEnv::from_lookup(&lookup, &Redactor::default()).unwrap();
    assert_eq!(
        github.sha.as_deref(),
        Some(SHA),
        "the PR head, not the merge commit"
    );
    assert_eq!(github.pull_request, Some(41));
    gate_ctx.github = Ok(github);
    let phase = run(&gate_ctx).await;
    assert_eq!(check(&phase, "github").status, Status::Pass);
}

#[tokio::test]
async fn after_orders_gates_and_a_failed_dependency_skips_its_dependants() {
    let dir = tempfile::tempdir().unwrap();
    let config = r#"
[environments.production]
[[gate.command]]
name = "install"
run = "sleep 0.3; echo install >> order"
[[gate.command]]
name = "test"
run = "echo test >> order"
after = ["install"]
[[gate.command]]
name = "broken"
run = "exit 3"
[[gate.command]]
name = "deploy-check"
run = "echo never >> order"
after = ["broken", "test"]
"#;
    let gate_ctx = gate_context(dir.path(), config, &[("PATH", "/usr/bin:/bin")]);
    let phase = run(&gate_ctx).await;
    let order = fs_err::read_to_string(dir.path().join("order")).unwrap();
    assert_eq!(order, "install\ntest\n");
    assert_eq!(check(&phase, "test").status, Status::Pass);
    let skipped = check(&phase, "deploy-check");
    assert_eq!(skipped.status, Status::Skip);
    assert_eq!(
        skipped.detail.as_deref(),
        Some("not run: `broken`, which it runs after, did not pass")
    );
    assert_eq!(phase.summary.as_deref(), Some("1 of 3 failed"));
}

#[tokio::test]
async fn a_gate_past_its_timeout_fails_and_the_others_still_report() {
    let server = MockServer::start().await;
    api(Mock::given(method("GET")).and(path(format!("/repos/acme/shop/commits/{SHA}/check-runs"))))
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(Duration::from_secs(3))
                .set_body_json(json!({"total_count": 0, "check_runs": []})),
        )
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let config = "[environments.production]\n[gate.github]\ntimeout = \"300ms\"\n[[gate.command]]\nname = \"ok\"\nrun = \"true\"\n";
    let mut gate_ctx = gate_context(dir.path(), config, &[("PATH", "/usr/bin:/bin")]);
    gate_ctx.github = Ok(github_env(&server));
    let started = Instant::now();
    let phase = run(&gate_ctx).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    let github = check(&phase, "github");
    assert_eq!(github.status, Status::Fail);
    assert_eq!(
        github.detail.as_deref(),
        Some("the `github` gate timed out after 300ms")
    );
    assert_eq!(github.location.as_ref().unwrap().line, 2);
    assert_eq!(check(&phase, "ok").status, Status::Pass);
}

#[tokio::test]
async fn command_gates_get_a_clean_explicit_environment() {
    let dir = tempfile::tempdir().unwrap();
    let config = r#"
[environments.production]
[[gate.command]]
name = "clean"
run = "test -z \"$DEPLOY_SECRET\" && test -n \"$PATH\""
[[gate.command]]
name = "passed"
run = "test \"$DEPLOY_SECRET\" = s3cret && test \"$STAGE\" = prod"
pass_env = ["DEPLOY_SECRET"]
env = { STAGE = "prod" }
"#;
    let gate_ctx = gate_context(
        dir.path(),
        config,
        &[("PATH", "/usr/bin:/bin"), ("DEPLOY_SECRET", "s3cret")],
    );
    let phase = run(&gate_ctx).await;
    assert_eq!(check(&phase, "clean").status, Status::Pass, "{phase:#?}");
    assert_eq!(check(&phase, "passed").status, Status::Pass, "{phase:#?}");
}

/// A GitHub whose `staging` environment holds `deployments` (newest first),
/// each `(id, sha, shipgate's?, statuses newest first)`.
async fn staging(deployments: &[(u64, &str, bool, serde_json::Value)]) -> MockServer {
    let server = MockServer::start().await;
    let listed: Vec<serde_json::Value> = deployments
        .iter()
        .map(|(id, sha, ours, _)| {
            let payload = if *ours {
                json!({"shipgate": true, "provider": "vercel", "release": format!("dpl_{id}"),
                       "url": null, "migrations": [], "backup": null})
            } else {
                json!({})
            };
            json!({"id": id, "sha": sha, "environment": "staging", "payload": payload,
                   "created_at": "2026-11-24T10:00:00Z"})
        })
        .collect();
    api(Mock::given(method("GET")).and(path("/repos/acme/shop/deployments")))
        .and(query_param("environment", "staging"))
        .and(query_param("per_page", "100"))
        .and(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(listed))
        .expect(1)
        .mount(&server)
        .await;
    for (id, _, _, statuses) in deployments {
        api(Mock::given(method("GET"))
            .and(path(format!("/repos/acme/shop/deployments/{id}/statuses"))))
        .and(query_param("per_page", "100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(statuses.clone()))
        .mount(&server)
        .await;
    }
    server
}

async fn staged_check(server: &MockServer) -> Check {
    let dir = tempfile::tempdir().unwrap();
    let config = "[environments.production]\n[gate.staged]\nenvironment = \"staging\"\n";
    let mut gate_ctx = gate_context(dir.path(), config, &[]);
    gate_ctx.github = Ok(github_env(server));
    let phase = run(&gate_ctx).await;
    server.verify().await;
    check(&phase, "staged").clone()
}

fn deployment_status(state: &str, at: &str) -> serde_json::Value {
    json!({"id": 1, "state": state, "description": format!("shipgate: {state}"),
           "log_url": "https://github.com/acme/shop/actions/runs/77", "created_at": at})
}

#[tokio::test]
async fn staged_passes_on_shipgates_success_for_this_commit_naming_when_and_the_run() {
    let server = staging(&[
        (
            9,
            "another0000",
            true,
            json!([deployment_status("failure", "2026-11-24T11:00:00Z")]),
        ),
        (
            8,
            SHA,
            true,
            json!([
                deployment_status("success", "2026-11-24T10:05:00Z"),
                deployment_status("in_progress", "2026-11-24T10:00:00Z")
            ]),
        ),
    ])
    .await;
    let check = staged_check(&server).await;
    assert_eq!(check.status, Status::Pass, "{check:?}");
    assert_eq!(
        check.detail.as_deref(),
        Some(
            "`0123456789ab` passed its checks on `staging` at 2026-11-24T10:05:00Z in run https://github.com/acme/shop/actions/runs/77"
        )
    );
}

#[tokio::test]
async fn staged_fails_saying_what_is_missing() {
    // (deployment id, shipgate's own?, latest status, when, the detail)
    let cases = [
        // Another tool's deployment does not count.
        (
            5,
            false,
            "success",
            "2026-11-24T10:05:00Z",
            "`0123456789ab` was never deployed to `staging` by shipgate; deploy it there first (`shipgate run --env staging`)",
        ),
        (
            6,
            true,
            "failure",
            "2026-11-24T10:05:00Z",
            "`0123456789ab` failed on `staging` at 2026-11-24T10:05:00Z in run https://github.com/acme/shop/actions/runs/77: shipgate: failure",
        ),
        (
            7,
            true,
            "in_progress",
            "2026-11-24T10:01:00Z",
            "`0123456789ab` is still being verified on `staging` (since 2026-11-24T10:01:00Z in run https://github.com/acme/shop/actions/runs/77); wait for that run to finish",
        ),
    ];
    for (id, own, state, at, detail) in cases {
        let server = staging(&[(id, SHA, own, json!([deployment_status(state, at)]))]).await;
        let check = staged_check(&server).await;
        assert_eq!(check.status, Status::Fail, "{state}");
        assert_eq!(check.detail.as_deref(), Some(detail));
    }
}
