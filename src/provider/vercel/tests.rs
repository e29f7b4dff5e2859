//! The Vercel provider against a fake Vercel API on 127.0.0.1 (wiremock):
//! each test pins method, path, exact query, the `authorization` header and
//! the JSON body of every call it expects, with response shapes from Vercel's
//! REST docs and the Vercel CLI's types.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use url::Url;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Match, Mock, MockServer, Request, Respond, ResponseTemplate};

use super::VercelProvider;
use crate::config::{ApiToken, PlatformDeploy, VercelConfig};
use crate::provider::health::{HealthFile, HealthRecord};
use crate::provider::{DeploySpec, Provider, ProviderError, Release, ReleaseState};

const TOKEN: &str = "vercel-s3cr3t-token";
const TEAM: &str = "team_1";
const PROJECT: &str = "my-app";
const PROJECT_ID: &str = "prj_1";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// Matches when the query is exactly `pairs` (plus `teamId`), in any order.
struct ExactQuery(Vec<(String, String)>);

impl Match for ExactQuery {
    fn matches(&self, request: &Request) -> bool {
        let mut actual: Vec<(String, String)> = request
            .url
            .query_pairs()
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect();
        let mut expected = self.0.clone();
        actual.sort();
        expected.sort();
        actual == expected
    }
}

/// The exact query `pairs`, with `teamId=team_1` added.
fn query(pairs: &[(&str, &str)]) -> ExactQuery {
    let mut all: Vec<(String, String)> = pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    all.push(("teamId".to_owned(), TEAM.to_owned()));
    ExactQuery(all)
}

/// Answers with each body in turn, then the last one forever.
struct Sequence {
    answers: Vec<ResponseTemplate>,
    calls: Arc<AtomicUsize>,
}

fn sequence(answers: Vec<ResponseTemplate>) -> Sequence {
    Sequence {
        answers,
        calls: Arc::new(AtomicUsize::new(0)),
    }
}

impl Respond for Sequence {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        self.answers[call.min(self.answers.len() - 1)].clone()
    }
}

fn ok(body: &Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

/// A mock for `verb path` with the bearer token and the exact query.
fn call(verb: &str, route: &str, pairs: &[(&str, &str)]) -> wiremock::MockBuilder {
    Mock::given(method(verb))
        .and(path(route))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(query(pairs))
}

struct Fixture {
    server: MockServer,
    provider: VercelProvider,
    health: HealthFile,
    _dir: tempfile::TempDir,
}

async fn fixture(deploy: PlatformDeploy, ready_within: Duration) -> Fixture {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let health = HealthFile::beside(&dir.path().join("state.json"), "production");
    let config = VercelConfig {
        api_url: Url::parse(&server.uri()).unwrap(),
        token: ApiToken {
            variable: "VERCEL_TOKEN".to_owned(),
            value: TOKEN.to_owned(),
        },
        project: PROJECT.to_owned(),
        team: Some(TEAM.to_owned()),
        deploy,
        ready_within,
        staged: false,
    };
    let provider = VercelProvider::new(
        &config,
        Box::new(health.clone()),
        dir.path().to_owned(),
        None,
        Duration::from_millis(10),
    );
    Fixture {
        server,
        provider,
        health,
        _dir: dir,
    }
}

/// Every request the fake received carried `teamId=team_1`.
async fn assert_team_on_every_request(server: &MockServer) {
    let requests = server.received_requests().await.unwrap();
    assert!(!requests.is_empty());
    for request in requests {
        assert!(
            request
                .url
                .query_pairs()
                .any(|(name, value)| name == "teamId" && value == TEAM),
            "{} {} has no teamId",
            request.method,
            request.url
        );
    }
}

/// A `GET /v6/deployments` item.
fn listed(uid: &str, state: &str, created_at: i64, commit: &str) -> Value {
    json!({
        "uid": uid,
        "name": PROJECT,
        "url": format!("{PROJECT}-{uid}.vercel.app"),
        "created": created_at,
        "createdAt": created_at,
        "state": state,
        "readyState": state,
        "target": "production",
        "type": "LAMBDAS",
        "inspectorUrl": format!("https://vercel.com/acme/{PROJECT}/{uid}"),
        "meta": { "githubCommitSha": commit, "githubCommitRef": "main" },
        "isRollbackCandidate": state == "READY",
        "creator": { "uid": "usr_1", "username": "ada" }
    })
}

fn page(deployments: &[Value], next: Option<i64>) -> Value {
    json!({
        "deployments": deployments,
        "pagination": { "count": deployments.len(), "next": next, "prev": null }
    })
}

/// A `GET /v13/deployments/{id}` answer.
fn deployment(id: &str, state: &str) -> Value {
    json!({
        "id": id,
        "name": PROJECT,
        "url": format!("{PROJECT}-{id}.vercel.app"),
        "createdAt": 1_700_000_000_000_i64,
        "readyState": state,
        "target": "production",
        "inspectorUrl": format!("https://vercel.com/acme/{PROJECT}/{id}"),
        "meta": { "githubCommitSha": COMMIT }
    })
}

/// A `GET /v9/projects/{idOrName}` answer with `production` live.
fn project(production: &str) -> Value {
    json!({
        "id": PROJECT_ID,
        "name": PROJECT,
        "accountId": TEAM,
        "targets": { "production": {
            "id": production,
            "url": format!("{PROJECT}-{production}.vercel.app"),
            "readyState": "READY",
            "createdAt": 1_700_000_000_000_i64,
            "meta": { "githubCommitSha": COMMIT }
        } }
    })
}

/// The same with `lastAliasRequest` (`rollbackInfo=true`).
fn alias_request(production: &str, to: &str, status: &str, kind: &str) -> Value {
    let mut value = project(production);
    value["lastAliasRequest"] = json!({
        "fromDeploymentId": production,
        "toDeploymentId": to,
        "jobStatus": status,
        "requestedAt": jiff::Timestamp::now().as_millisecond(),
        "type": kind
    });
    value
}

fn git_spec(commit: Option<&str>) -> DeploySpec {
    DeploySpec {
        id: "abc1234".to_owned(),
        source: None,
        commit: commit.map(str::to_owned),
    }
}

fn commit_search() -> [(&'static str, &'static str); 4] {
    [
        ("projectId", PROJECT),
        ("target", "production"),
        ("limit", "20"),
        ("meta-githubCommitSha", COMMIT),
    ]
}

#[tokio::test]
async fn git_deploy_waits_for_the_commit_to_appear_and_become_ready() {
    let fixture = fixture(PlatformDeploy::Git, Duration::from_secs(2)).await;
    call("GET", "/v6/deployments", &commit_search())
        .respond_with(sequence(vec![
            ok(&page(&[], None)),
            ok(&page(
                &[listed("dpl_new", "BUILDING", 1_700_000_000_000, COMMIT)],
                None,
            )),
        ]))
        .expect(2)
        .mount(&fixture.server)
        .await;
    call("GET", "/v13/deployments/dpl_new", &[])
        .respond_with(sequence(vec![
            ok(&deployment("dpl_new", "BUILDING")),
            ok(&deployment("dpl_new", "READY")),
        ]))
        .expect(2)
        .mount(&fixture.server)
        .await;
    // Production domains are auto-assigned: the project already serves it.
    call("GET", "/v9/projects/my-app", &[])
        .respond_with(ok(&project("dpl_new")))
        .expect(1)
        .mount(&fixture.server)
        .await;

    fixture
        .provider
        .preflight(&git_spec(Some(COMMIT)))
        .await
        .unwrap();
    let release = fixture
        .provider
        .deploy(&git_spec(Some(COMMIT)))
        .await
        .unwrap();
    assert_eq!(release.id, "dpl_new");
    assert_eq!(release.commit.as_deref(), Some(COMMIT));
    assert_eq!(
        release.url.as_deref(),
        Some("https://my-app-dpl_new.vercel.app")
    );
    assert_eq!(release.platform_state.as_deref(), Some("READY"));
    assert_eq!(release.state, ReleaseState::Deployed);
    assert_team_on_every_request(&fixture.server).await;
}

#[tokio::test]
async fn a_git_deploy_without_a_commit_is_a_usage_error_naming_the_flag() {
    let fixture = fixture(PlatformDeploy::Git, Duration::from_secs(2)).await;
    let error = fixture
        .provider
        .preflight(&git_spec(None))
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        ProviderError::NoCommit { provider: "vercel" }
    ));
    assert_eq!(error.exit_status(), crate::exit::ExitStatus::Usage);
    let hint = crate::diagnostic::Diagnostic::hint(&error).unwrap();
    assert!(hint.contains("`--commit SHA`") && hint.contains("`GITHUB_SHA`"));
    assert!(fixture.provider.deploy(&git_spec(None)).await.is_err());
    assert!(fixture.server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_git_deploy_that_ends_in_error_carries_the_build_message_and_inspect_url() {
    let fixture = fixture(PlatformDeploy::Git, Duration::from_secs(2)).await;
    call("GET", "/v6/deployments", &commit_search())
        .respond_with(ok(&page(
            &[listed("dpl_bad", "BUILDING", 1_700_000_000_000, COMMIT)],
            None,
        )))
        .expect(1)
        .mount(&fixture.server)
        .await;
    let mut failed = deployment("dpl_bad", "ERROR");
    failed["errorMessage"] = json!("Command \"npm run build\" exited with 1");
    call("GET", "/v13/deployments/dpl_bad", &[])
        .respond_with(sequence(vec![
            ok(&deployment("dpl_bad", "BUILDING")),
            ok(&failed),
        ]))
        .expect(2)
        .mount(&fixture.server)
        .await;

    let error = fixture
        .provider
        .deploy(&git_spec(Some(COMMIT)))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "vercel deployment `dpl_bad` ended ERROR: Command \"npm run build\" exited with 1"
    );
    assert!(
        matches!(&error, ProviderError::DeploymentFailed { inspect_url: Some(url), .. }
            if url == "https://vercel.com/acme/my-app/dpl_bad"),
        "{error:?}"
    );
    assert_eq!(
        crate::diagnostic::Diagnostic::hint(&error).as_deref(),
        Some("read its build logs at https://vercel.com/acme/my-app/dpl_bad")
    );
    assert_eq!(error.exit_status(), crate::exit::ExitStatus::Infrastructure);
}

#[tokio::test]
async fn a_commit_that_never_gets_a_deployment_is_never_appeared_after_ready_within() {
    let fixture = fixture(PlatformDeploy::Git, Duration::from_millis(150)).await;
    call("GET", "/v6/deployments", &commit_search())
        .respond_with(ok(&page(
            &[listed("dpl_other", "READY", 1_700_000_000_000, "fedcba9")],
            None,
        )))
        .mount(&fixture.server)
        .await;
    let started = Instant::now();
    let error = fixture
        .provider
        .deploy(&git_spec(Some(COMMIT)))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(
        error.to_string(),
        format!("vercel shows no deployment of commit `{COMMIT}` after 150ms")
    );
    assert!(matches!(error, ProviderError::NeverAppeared { .. }));
    assert_eq!(error.exit_status(), crate::exit::ExitStatus::Infrastructure);
    assert!(fixture.server.received_requests().await.unwrap().len() >= 2);
}

#[tokio::test]
async fn a_command_deploy_resolves_the_printed_url_waits_and_promotes_it() {
    let fixture = fixture(
        PlatformDeploy::Command {
            run: "echo 'Vercel CLI 39.1.0' >&2; echo 'Inspect: https://vercel.com/acme/my-app/X' >&2; echo https://app-abc123.vercel.app"
                .to_owned(),
            timeout: Duration::from_secs(10),
        },
        Duration::from_secs(2),
    )
    .await;
    let mut created = deployment("dpl_cmd", "BUILDING");
    created["url"] = json!("app-abc123.vercel.app");
    call("GET", "/v13/deployments/app-abc123.vercel.app", &[])
        .respond_with(ok(&created))
        .expect(1)
        .mount(&fixture.server)
        .await;
    call("GET", "/v13/deployments/dpl_cmd", &[])
        .respond_with(ok(&deployment("dpl_cmd", "READY")))
        .expect(1)
        .mount(&fixture.server)
        .await;
    // Staged production: the new deployment is READY but not yet live.
    call("GET", "/v9/projects/my-app", &[])
        .respond_with(sequence(vec![
            ok(&project("dpl_old")),
            ok(&project("dpl_old")),
            ok(&project("dpl_cmd")),
        ]))
        .expect(3)
        .mount(&fixture.server)
        .await;
    call("POST", "/v10/projects/prj_1/promote/dpl_cmd", &[])
        .and(body_json(json!({})))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&fixture.server)
        .await;
    call("GET", "/v9/projects/my-app", &[("rollbackInfo", "true")])
        .respond_with(sequence(vec![
            ok(&alias_request(
                "dpl_old",
                "dpl_cmd",
                "in-progress",
                "promote",
            )),
            ok(&alias_request("dpl_old", "dpl_cmd", "succeeded", "promote")),
        ]))
        .expect(2)
        .mount(&fixture.server)
        .await;

    let release = fixture.provider.deploy(&git_spec(None)).await.unwrap();
    assert_eq!(release.id, "dpl_cmd");
    assert_team_on_every_request(&fixture.server).await;
}

#[tokio::test]
async fn a_command_deploy_that_prints_no_url_is_a_command_error() {
    let fixture = fixture(
        PlatformDeploy::Command {
            run: "echo done".to_owned(),
            timeout: Duration::from_secs(10),
        },
        Duration::from_secs(2),
    )
    .await;
    let error = fixture.provider.deploy(&git_spec(None)).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "the deploy command `echo done` printed no deployment URL (`https://…`) on stdout"
    );
}

/// Mounts the project reads of a rollback from `dpl_bad` to `dpl_prev`:
/// the job goes through `statuses`; production is `proof` afterwards.
async fn mount_rollback(server: &MockServer, statuses: &[&str], proof: &str) {
    call("GET", "/v9/projects/my-app", &[])
        .respond_with(sequence(vec![ok(&project("dpl_bad")), ok(&project(proof))]))
        .mount(server)
        .await;
    call("GET", "/v9/projects/my-app", &[("rollbackInfo", "true")])
        .respond_with(sequence(
            statuses
                .iter()
                .map(|status| ok(&alias_request("dpl_bad", "dpl_prev", status, "rollback")))
                .collect(),
        ))
        .expect(u64::try_from(statuses.len()).unwrap())
        .mount(server)
        .await;
}

fn previous() -> Release {
    Release::new(
        "dpl_prev",
        ReleaseState::Healthy,
        jiff::Timestamp::UNIX_EPOCH,
    )
}

#[tokio::test]
async fn a_rollback_is_requested_polled_until_succeeded_and_proven() {
    let fixture = fixture(PlatformDeploy::Git, Duration::from_secs(2)).await;
    call("POST", "/v9/projects/prj_1/rollback/dpl_prev", &[])
        .and(body_json(json!({})))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&fixture.server)
        .await;
    mount_rollback(
        &fixture.server,
        &["pending", "in-progress", "succeeded"],
        "dpl_prev",
    )
    .await;
    fixture.provider.promote(&previous()).await.unwrap();
    let reads = fixture.server.received_requests().await.unwrap();
    let last = reads.last().unwrap();
    assert_eq!(last.url.path(), "/v9/projects/my-app");
    assert_eq!(last.url.query(), Some("teamId=team_1"), "the proof read");
    assert_team_on_every_request(&fixture.server).await;
}

#[tokio::test]
async fn a_rollback_vercel_calls_done_but_that_production_disproves_is_an_error() {
    let fixture = fixture(PlatformDeploy::Git, Duration::from_secs(2)).await;
    call("POST", "/v9/projects/prj_1/rollback/dpl_prev", &[])
        .respond_with(ResponseTemplate::new(201))
        .mount(&fixture.server)
        .await;
    mount_rollback(&fixture.server, &["succeeded"], "dpl_bad").await;
    let error = fixture.provider.promote(&previous()).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "vercel could not rollback `my-app` to `dpl_prev`: Vercel reported the rollback done, but production serves `dpl_bad`"
    );
}

#[tokio::test]
async fn a_failed_rollback_job_is_an_error_with_what_to_run() {
    let fixture = fixture(PlatformDeploy::Git, Duration::from_secs(2)).await;
    call("POST", "/v9/projects/prj_1/rollback/dpl_prev", &[])
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&fixture.server)
        .await;
    mount_rollback(&fixture.server, &["in-progress", "failed"], "dpl_bad").await;
    let error = fixture.provider.promote(&previous()).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "vercel could not rollback `my-app` to `dpl_prev`: Vercel's rollback job failed: not every production domain moved from `dpl_bad` to `dpl_prev`"
    );
    let hint = crate::diagnostic::Diagnostic::hint(&error).unwrap();
    assert!(hint.contains("`vercel rollback status my-app`"), "{hint}");
}

#[tokio::test]
async fn a_rollback_still_running_at_ready_within_is_an_error() {
    let fixture = fixture(PlatformDeploy::Git, Duration::from_millis(100)).await;
    call("POST", "/v9/projects/prj_1/rollback/dpl_prev", &[])
        .respond_with(ResponseTemplate::new(201))
        .mount(&fixture.server)
        .await;
    call("GET", "/v9/projects/my-app", &[])
        .respond_with(ok(&project("dpl_bad")))
        .mount(&fixture.server)
        .await;
    call("GET", "/v9/projects/my-app", &[("rollbackInfo", "true")])
        .respond_with(ok(&alias_request(
            "dpl_bad",
            "dpl_prev",
            "in-progress",
            "rollback",
        )))
        .mount(&fixture.server)
        .await;
    let error = fixture.provider.promote(&previous()).await.unwrap_err();
    assert!(
        error
            .to_string()
            .ends_with("the rollback is still in-progress after 100ms"),
        "{error}"
    );
}

#[tokio::test]
async fn a_hobby_plan_refusal_shows_vercels_code_and_message_and_what_to_do() {
    let fixture = fixture(PlatformDeploy::Git, Duration::from_secs(2)).await;
    call("GET", "/v9/projects/my-app", &[])
        .respond_with(ok(&project("dpl_bad")))
        .mount(&fixture.server)
        .await;
    // Vercel's error body shape (`{"error": {"code", "message"}}`); the
    // message is the one Vercel's docs quote for the Hobby plan limit.
    call("POST", "/v9/projects/prj_1/rollback/dpl_prev", &[])
        .and(body_json(json!({})))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "error": {
                "code": "forbidden",
                "message": "To roll back further than the previous production deployment, upgrade to pro"
            }
        })))
        .expect(1)
        .mount(&fixture.server)
        .await;
    let error = fixture.provider.promote(&previous()).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "vercel could not rollback `my-app` to `dpl_prev`: HTTP 403 Forbidden: forbidden: To roll back further than the previous production deployment, upgrade to pro"
    );
    let hint = crate::diagnostic::Diagnostic::hint(&error).unwrap();
    assert!(hint.contains("upgrade the team to Pro"), "{hint}");
    assert!(
        hint.contains("`shipgate rollback --to DEPLOYMENT_ID`"),
        "{hint}"
    );
}

#[tokio::test]
async fn a_deployment_that_never_was_production_is_promoted_not_rolled_back_to() {
    let fixture = fixture(PlatformDeploy::Git, Duration::from_secs(2)).await;
    let mut staged = listed("dpl_prev", "READY", 1_700_000_100_000, "aaa");
    staged["isRollbackCandidate"] = json!(false);
    call(
        "GET",
        "/v6/deployments",
        &[
            ("projectId", PROJECT),
            ("target", "production"),
            ("limit", "2"),
        ],
    )
    .respond_with(ok(&page(
        &[listed("dpl_bad", "READY", 1_700_000_200_000, "bbb"), staged],
        None,
    )))
    .expect(1)
    .mount(&fixture.server)
    .await;
    call("POST", "/v10/projects/prj_1/promote/dpl_prev", &[])
        .and(body_json(json!({})))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&fixture.server)
        .await;
    call("GET", "/v9/projects/my-app", &[])
        .respond_with(sequence(vec![
            ok(&project("dpl_bad")),
            ok(&project("dpl_prev")),
        ]))
        .expect(2)
        .mount(&fixture.server)
        .await;
    call("GET", "/v9/projects/my-app", &[("rollbackInfo", "true")])
        .respond_with(ok(&alias_request(
            "dpl_bad",
            "dpl_prev",
            "succeeded",
            "promote",
        )))
        .expect(1)
        .mount(&fixture.server)
        .await;
    let history = fixture.provider.history(2).await.unwrap();
    fixture.provider.promote(&history[1]).await.unwrap();
}

#[tokio::test]
async fn a_429_on_a_list_call_waits_as_retry_after_asks() {
    let fixture = fixture(PlatformDeploy::Git, Duration::from_secs(2)).await;
    call(
        "GET",
        "/v6/deployments",
        &[
            ("projectId", PROJECT),
            ("target", "production"),
            ("limit", "5"),
        ],
    )
    .respond_with(sequence(vec![
        ResponseTemplate::new(429).insert_header("retry-after", "1"),
        ok(&page(
            &[listed("dpl_1", "READY", 1_700_000_000_000, "aaa")],
            None,
        )),
    ]))
    .expect(2)
    .mount(&fixture.server)
    .await;
    let started = Instant::now();
    let history = fixture.provider.history(5).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited as asked"
    );
    assert_eq!(history.len(), 1);
}

#[tokio::test]
async fn a_403_on_the_token_check_is_unauthorized_naming_the_variable_only() {
    let fixture = fixture(PlatformDeploy::Git, Duration::from_secs(2)).await;
    call("GET", "/v2/user", &[])
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "error": { "code": "forbidden", "message": "Not authorized" }
        })))
        .expect(1)
        .mount(&fixture.server)
        .await;
    let error = fixture.provider.verify_access().await.unwrap_err();
    assert!(
        matches!(error, ProviderError::Unauthorized { .. }),
        "{error:?}"
    );
    let hint = crate::diagnostic::Diagnostic::hint(&error).unwrap();
    let text = format!("{error} {error:?} {hint}");
    assert!(text.contains("`$VERCEL_TOKEN`"), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
}

#[tokio::test]
async fn the_token_check_reads_the_user_and_the_project() {
    let fixture = fixture(PlatformDeploy::Git, Duration::from_secs(2)).await;
    call("GET", "/v2/user", &[])
        .respond_with(ok(&json!({
            "user": { "id": "usr_1", "email": "ada@example.com", "username": "ada" }
        })))
        .expect(1)
        .mount(&fixture.server)
        .await;
    call("GET", "/v9/projects/my-app", &[])
        .respond_with(ok(&project("dpl_1")))
        .expect(1)
        .mount(&fixture.server)
        .await;
    assert_eq!(
        fixture.provider.verify_access().await.unwrap().as_deref(),
        Some("token of `ada` can read project `my-app`")
    );
    assert_team_on_every_request(&fixture.server).await;
}

#[tokio::test]
async fn history_pages_with_until_and_applies_recorded_verdicts() {
    let fixture = fixture(PlatformDeploy::Git, Duration::from_secs(2)).await;
    call(
        "GET",
        "/v6/deployments",
        &[
            ("projectId", PROJECT),
            ("target", "production"),
            ("limit", "3"),
        ],
    )
    .respond_with(ok(&page(
        &[
            listed("dpl_3", "ERROR", 1_700_000_300_000, "ccc"),
            listed("dpl_2", "READY", 1_700_000_200_000, "bbb"),
        ],
        Some(1_700_000_200_000),
    )))
    .expect(1)
    .mount(&fixture.server)
    .await;
    call(
        "GET",
        "/v6/deployments",
        &[
            ("projectId", PROJECT),
            ("target", "production"),
            ("limit", "1"),
            ("until", "1700000200000"),
        ],
    )
    .respond_with(ok(&page(
        &[listed("dpl_1", "READY", 1_700_000_100_000, "aaa")],
        Some(1_700_000_100_000),
    )))
    .expect(1)
    .mount(&fixture.server)
    .await;
    fixture
        .health
        .record(
            &Release::new("dpl_2", ReleaseState::Healthy, jiff::Timestamp::UNIX_EPOCH),
            ReleaseState::Failed,
        )
        .await
        .unwrap();

    let history = fixture.provider.history(3).await.unwrap();
    let summary: Vec<_> = history
        .iter()
        .map(|release| {
            (
                release.id.as_str(),
                release.state,
                release.platform_state.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("dpl_3", ReleaseState::Deployed, Some("ERROR")),
            ("dpl_2", ReleaseState::Failed, Some("READY")),
            ("dpl_1", ReleaseState::Healthy, Some("READY")),
        ]
    );
    assert_eq!(history[2].commit.as_deref(), Some("aaa"));
    assert_eq!(
        history[2].deployed_at,
        jiff::Timestamp::from_millisecond(1_700_000_100_000).unwrap()
    );
    assert_team_on_every_request(&fixture.server).await;
}

#[tokio::test]
async fn current_is_the_projects_production_target_else_the_newest_ready() {
    let fixture = fixture(PlatformDeploy::Git, Duration::from_secs(2)).await;
    call("GET", "/v9/projects/my-app", &[])
        .respond_with(sequence(vec![
            ok(&project("dpl_live")),
            ok(&json!({ "id": PROJECT_ID, "name": PROJECT })),
        ]))
        .mount(&fixture.server)
        .await;
    call(
        "GET",
        "/v6/deployments",
        &[
            ("projectId", PROJECT),
            ("target", "production"),
            ("limit", "1"),
            ("state", "READY"),
        ],
    )
    .respond_with(ok(&page(
        &[listed("dpl_ready", "READY", 1_700_000_000_000, "aaa")],
        None,
    )))
    .expect(1)
    .mount(&fixture.server)
    .await;
    let live = fixture.provider.current().await.unwrap().unwrap();
    assert_eq!(live.id, "dpl_live");
    assert_eq!(
        live.url.as_deref(),
        Some("https://my-app-dpl_live.vercel.app")
    );
    let fallback = fixture.provider.current().await.unwrap().unwrap();
    assert_eq!(fallback.id, "dpl_ready");
}
