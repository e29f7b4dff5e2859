//! Tests of the railway provider against a fake GraphQL API on 127.0.0.1:
//! each mock pins the method, the path, the auth header and the exact
//! document and variables of the call it answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Match, Mock, MockServer, Request, Respond, ResponseTemplate};

use super::graphql::{
    DEPLOYMENT_REDEPLOY, DEPLOYMENT_ROLLBACK, DEPLOYMENT_STATUS, DEPLOYMENTS, PROJECT,
};
use super::*;
use crate::config::{ApiToken, RailwayTokenKind};

const TOKEN: &str = "rw-s3cr3t-token";
const GRAPHQL: &str = "/graphql/v2";

/// Matches a GraphQL POST whose `query` is exactly `document` and whose
/// `variables` equal `variables`.
struct Operation {
    document: &'static str,
    variables: Value,
}

impl Match for Operation {
    fn matches(&self, request: &Request) -> bool {
        let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
            return false;
        };
        body["query"] == self.document && body["variables"] == self.variables
    }
}

fn operation(document: &'static str, variables: Value) -> Operation {
    Operation {
        document,
        variables,
    }
}

/// Matches a request without the header `name`.
struct Without(&'static str);

impl Match for Without {
    fn matches(&self, request: &Request) -> bool {
        !request.headers.contains_key(self.0)
    }
}

/// Answers with each body in turn, then the last one forever.
struct Sequence {
    answers: Vec<Value>,
    calls: Arc<AtomicUsize>,
}

impl Respond for Sequence {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        ResponseTemplate::new(200).set_body_json(&self.answers[call.min(self.answers.len() - 1)])
    }
}

fn sequence(answers: Vec<Value>) -> Sequence {
    Sequence {
        answers,
        calls: Arc::new(AtomicUsize::new(0)),
    }
}

fn list_variables(service: &str, first: usize) -> Value {
    json!({
        "input": { "projectId": "prj", "environmentId": "env", "serviceId": service },
        "first": first,
    })
}

fn node(id: &str, status: &str, minute: u32, commit: &str, can_rollback: bool) -> Value {
    json!({
        "id": id,
        "status": status,
        "createdAt": format!("2025-01-01T10:{minute:02}:00.000Z"),
        "canRollback": can_rollback,
        "canRedeploy": true,
        "meta": { "commitHash": commit, "branch": "main" },
        "url": null,
        "staticUrl": format!("{id}.up.railway.app"),
    })
}

fn listing(nodes: &[Value]) -> Value {
    let edges: Vec<Value> = nodes.iter().map(|node| json!({ "node": node })).collect();
    json!({ "data": { "deployments": { "edges": edges } } })
}

fn status(id: &str, status: &str) -> Value {
    json!({ "data": { "deployment": { "id": id, "status": status } } })
}

struct Fixture {
    server: MockServer,
    _dir: tempfile::TempDir,
    provider: RailwayProvider,
}

async fn fixture(
    kind: RailwayTokenKind,
    services: &[&str],
    mode: RailwayRollbackMode,
    ready_within: Duration,
) -> Fixture {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = RailwayConfig {
        api_url: url::Url::parse(&format!("{}{GRAPHQL}", server.uri())).unwrap(),
        token: ApiToken {
            variable: "RAILWAY_TOKEN".to_owned(),
            value: TOKEN.to_owned(),
        },
        token_kind: kind,
        project: "prj".to_owned(),
        environment: "env".to_owned(),
        services: services.iter().map(|&service| service.to_owned()).collect(),
        deploy: PlatformDeploy::Git,
        ready_within,
        rollback: mode,
    };
    let health =
        crate::provider::health::HealthFile::beside(&dir.path().join("state.json"), "production");
    let provider = RailwayProvider::new(&config, Box::new(health), dir.path().to_owned())
        .with_poll_interval(Duration::from_millis(20));
    Fixture {
        server,
        _dir: dir,
        provider,
    }
}

async fn account(services: &[&str]) -> Fixture {
    fixture(
        RailwayTokenKind::Account,
        services,
        RailwayRollbackMode::Rollback,
        Duration::from_secs(2),
    )
    .await
}

/// A mock of one account-token call.
fn call(document: &'static str, variables: Value) -> wiremock::MockBuilder {
    Mock::given(method("POST"))
        .and(path(GRAPHQL))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("content-type", "application/json"))
        .and(operation(document, variables))
}

fn assert_secret_free(error: &ProviderError) {
    let text = format!("{error} {error:?} {:?}", error.hint());
    assert!(!text.contains(TOKEN), "{text}");
}

#[tokio::test]
async fn history_maps_deployments_to_targets_by_can_rollback_and_failures() {
    let fixture = account(&["api"]).await;
    call(DEPLOYMENTS, list_variables("api", 10))
        .respond_with(ResponseTemplate::new(200).set_body_json(listing(&[
            node("d6", "SUCCESS", 6, "c6", false),
            node("d5", "CRASHED", 5, "c5", true),
            node("d4", "FAILED", 4, "c4", true),
            node("d3", "REMOVED", 3, "c3", false),
            node("d2", "REMOVED", 2, "c2", true),
            node("d1", "REMOVED", 1, "c1", true),
        ])))
        .expect(1)
        .mount(&fixture.server)
        .await;
    fixture
        .provider
        .record(
            &Release::new("d1", ReleaseState::Healthy, jiff::Timestamp::UNIX_EPOCH),
            ReleaseState::Failed,
        )
        .await
        .unwrap();
    let history = fixture.provider.history(10).await.unwrap();
    let states: Vec<(&str, ReleaseState)> = history
        .iter()
        .map(|release| (release.id.as_str(), release.state))
        .collect();
    assert_eq!(
        states,
        [
            ("d6", ReleaseState::Deployed),
            ("d5", ReleaseState::Deployed),
            ("d4", ReleaseState::Deployed),
            ("d3", ReleaseState::Deployed),
            ("d2", ReleaseState::Healthy),
            ("d1", ReleaseState::Failed),
        ]
    );
    let target = &history[4];
    assert_eq!(target.commit.as_deref(), Some("c2"));
    assert_eq!(target.url.as_deref(), Some("https://d2.up.railway.app"));
    assert_eq!(
        target.platform_state.as_deref(),
        Some("REMOVED (canRollback: true)")
    );
    assert_eq!(
        target.deployed_at,
        "2025-01-01T10:02:00Z".parse::<jiff::Timestamp>().unwrap()
    );
}

#[tokio::test]
async fn current_is_the_newest_success_deployment() {
    let fixture = account(&["api"]).await;
    call(DEPLOYMENTS, list_variables("api", LIST_SIZE))
        .respond_with(ResponseTemplate::new(200).set_body_json(listing(&[
            node("d3", "BUILDING", 3, "c3", false),
            node("d2", "SUCCESS", 2, "c2", false),
            node("d1", "REMOVED", 1, "c1", true),
        ])))
        .expect(1)
        .mount(&fixture.server)
        .await;
    let current = fixture.provider.current().await.unwrap().unwrap();
    assert_eq!(current.id, "d2");
    assert_eq!(current.commit.as_deref(), Some("c2"));
}

#[tokio::test]
async fn a_graphql_error_with_http_200_is_a_failure_with_its_message() {
    let fixture = account(&["api"]).await;
    call(DEPLOYMENTS, list_variables("api", 10))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": null,
            "errors": [{ "message": "Service not found", "path": ["deployments"] }],
        })))
        .expect(1)
        .mount(&fixture.server)
        .await;
    let error = fixture.provider.history(10).await.unwrap_err();
    assert!(matches!(error, ProviderError::Api { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "railway could not list the deployments of service `api`: Service not found"
    );
    assert_secret_free(&error);
}

#[tokio::test]
async fn a_not_authorized_graphql_error_names_the_token_variable() {
    let fixture = account(&["api"]).await;
    call(PROJECT, json!({ "id": "prj" }))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": null,
            "errors": [{ "message": "Not Authorized" }],
        })))
        .expect(1)
        .mount(&fixture.server)
        .await;
    let error = fixture.provider.verify_access().await.unwrap_err();
    assert!(
        matches!(&error, ProviderError::Unauthorized { variable, .. } if variable == "RAILWAY_TOKEN"),
        "{error:?}"
    );
    assert!(error.to_string().contains("`$RAILWAY_TOKEN`"), "{error}");
    assert!(error.to_string().contains("Not Authorized"), "{error}");
    assert_secret_free(&error);
}

#[tokio::test]
async fn the_token_check_reads_the_project_with_a_project_token_header() {
    let fixture = fixture(
        RailwayTokenKind::Project,
        &["api"],
        RailwayRollbackMode::Rollback,
        Duration::from_secs(2),
    )
    .await;
    Mock::given(method("POST"))
        .and(path(GRAPHQL))
        .and(header("project-access-token", TOKEN))
        .and(Without("authorization"))
        .and(operation(PROJECT, json!({ "id": "prj" })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": { "project": { "id": "prj", "name": "calibrate" } },
        })))
        .expect(1)
        .mount(&fixture.server)
        .await;
    assert_eq!(
        fixture.provider.verify_access().await.unwrap().as_deref(),
        Some("token can read project `calibrate`")
    );
}

#[tokio::test]
async fn an_http_401_is_unauthorized_without_the_token() {
    let fixture = account(&["api"]).await;
    call(PROJECT, json!({ "id": "prj" }))
        .respond_with(
            ResponseTemplate::new(401).set_body_string("{\"errors\":[{\"message\":\"bad\"}]}"),
        )
        .expect(1)
        .mount(&fixture.server)
        .await;
    let error = fixture.provider.verify_access().await.unwrap_err();
    assert!(
        matches!(error, ProviderError::Unauthorized { .. }),
        "{error:?}"
    );
    assert_secret_free(&error);
}

#[tokio::test]
async fn rollback_lists_again_waits_for_success_and_proves_the_commit_is_live() {
    let fixture = account(&["api"]).await;
    let before = listing(&[
        node("d3", "SUCCESS", 3, "c3", false),
        node("d2", "REMOVED", 2, "c2", true),
    ]);
    let after = listing(&[
        node("d4", "SUCCESS", 4, "c2", false),
        node("d3", "REMOVED", 3, "c3", true),
        node("d2", "REMOVED", 2, "c2", true),
    ]);
    call(DEPLOYMENTS, list_variables("api", 50))
        .respond_with(ResponseTemplate::new(200).set_body_json(&before))
        .expect(1)
        .mount(&fixture.server)
        .await;
    call(DEPLOYMENTS, list_variables("api", LIST_SIZE))
        .respond_with(ResponseTemplate::new(200).set_body_json(&after))
        .expect(2)
        .mount(&fixture.server)
        .await;
    call(DEPLOYMENT_ROLLBACK, json!({ "id": "d2" }))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "data": { "deploymentRollback": true } })),
        )
        .expect(1)
        .mount(&fixture.server)
        .await;
    call(DEPLOYMENT_STATUS, json!({ "id": "d4" }))
        .respond_with(sequence(vec![
            status("d4", "DEPLOYING"),
            status("d4", "SUCCESS"),
        ]))
        .expect(2)
        .mount(&fixture.server)
        .await;
    let target = release(&serde_json::from_value(node("d2", "REMOVED", 2, "c2", true)).unwrap());
    fixture.provider.promote(&target).await.unwrap();
}

#[tokio::test]
async fn rollback_fails_when_another_deployment_is_live_afterwards() {
    let fixture = account(&["api"]).await;
    call(DEPLOYMENTS, list_variables("api", 50))
        .respond_with(ResponseTemplate::new(200).set_body_json(listing(&[
            node("d3", "SUCCESS", 3, "c3", false),
            node("d2", "REMOVED", 2, "c2", true),
        ])))
        .mount(&fixture.server)
        .await;
    call(DEPLOYMENTS, list_variables("api", LIST_SIZE))
        .respond_with(ResponseTemplate::new(200).set_body_json(listing(&[
            node("d5", "SUCCESS", 5, "c9", false),
            node("d4", "REMOVED", 4, "c2", false),
        ])))
        .mount(&fixture.server)
        .await;
    call(DEPLOYMENT_ROLLBACK, json!({ "id": "d2" }))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "data": { "deploymentRollback": true } })),
        )
        .expect(1)
        .mount(&fixture.server)
        .await;
    call(DEPLOYMENT_STATUS, json!({ "id": "d5" }))
        .respond_with(ResponseTemplate::new(200).set_body_json(status("d5", "SUCCESS")))
        .mount(&fixture.server)
        .await;
    let target = release(&serde_json::from_value(node("d2", "REMOVED", 2, "c2", true)).unwrap());
    let error = fixture.provider.promote(&target).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "railway could not confirm the rollback of service `api`: the active deployment is `d5` (commit `c9`), not a deployment of commit `c2`"
    );
}

#[tokio::test]
async fn redeploy_that_ends_failed_is_an_error_with_the_logs_url() {
    let fixture = fixture(
        RailwayTokenKind::Account,
        &["api"],
        RailwayRollbackMode::Redeploy,
        Duration::from_secs(2),
    )
    .await;
    call(DEPLOYMENTS, list_variables("api", 50))
        .respond_with(ResponseTemplate::new(200).set_body_json(listing(&[
            node("d3", "SUCCESS", 3, "c3", false),
            node("d2", "REMOVED", 2, "c2", false),
        ])))
        .expect(1)
        .mount(&fixture.server)
        .await;
    call(DEPLOYMENT_REDEPLOY, json!({ "id": "d2" }))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": { "deploymentRedeploy": { "id": "d9", "status": "INITIALIZING" } },
        })))
        .expect(1)
        .mount(&fixture.server)
        .await;
    call(DEPLOYMENT_STATUS, json!({ "id": "d9" }))
        .respond_with(sequence(vec![
            status("d9", "BUILDING"),
            status("d9", "FAILED"),
        ]))
        .expect(2)
        .mount(&fixture.server)
        .await;
    let target = release(&serde_json::from_value(node("d2", "REMOVED", 2, "c2", false)).unwrap());
    let error = fixture.provider.promote(&target).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "railway deployment `d9` of service `api` ended FAILED"
    );
    assert_eq!(
        error.hint().as_deref(),
        Some(
            "read its build logs at https://railway.com/project/prj/service/api?id=d9&environmentId=env"
        )
    );
    assert_secret_free(&error);
}

#[tokio::test]
async fn a_service_without_a_rollback_candidate_refuses_before_any_mutation() {
    let fixture = account(&["api", "worker"]).await;
    call(DEPLOYMENTS, list_variables("api", 50))
        .respond_with(ResponseTemplate::new(200).set_body_json(listing(&[
            node("a3", "SUCCESS", 3, "c3", false),
            node("a2", "REMOVED", 2, "c2", true),
        ])))
        .expect(1)
        .mount(&fixture.server)
        .await;
    call(DEPLOYMENTS, list_variables("worker", 50))
        .respond_with(ResponseTemplate::new(200).set_body_json(listing(&[
            node("w3", "SUCCESS", 3, "c3", false),
            node("w2b", "CRASHED", 2, "c2", true),
            node("w2", "REMOVED", 1, "c2", false),
        ])))
        .expect(1)
        .mount(&fixture.server)
        .await;
    call(DEPLOYMENT_ROLLBACK, json!({ "id": "a2" }))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "data": { "deploymentRollback": true } })),
        )
        .expect(0)
        .mount(&fixture.server)
        .await;
    let target = release(&serde_json::from_value(node("a2", "REMOVED", 2, "c2", true)).unwrap());
    let error = fixture.provider.promote(&target).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "railway could not roll back to `a2`: service `worker` has no deployment of commit `c2` that Railway can roll back to (`canRollback: true`, never FAILED or CRASHED); nothing was changed"
    );
}

#[tokio::test]
async fn git_deploy_waits_for_the_commit_on_every_service() {
    let fixture = account(&["api", "worker"]).await;
    call(DEPLOYMENTS, list_variables("api", LIST_SIZE))
        .respond_with(sequence(vec![
            listing(&[node("a1", "SUCCESS", 1, "c1", false)]),
            listing(&[
                node("a2", "BUILDING", 2, "c2", false),
                node("a1", "SUCCESS", 1, "c1", false),
            ]),
        ]))
        .expect(2)
        .mount(&fixture.server)
        .await;
    call(DEPLOYMENTS, list_variables("worker", LIST_SIZE))
        .respond_with(ResponseTemplate::new(200).set_body_json(listing(&[
            node("w2", "DEPLOYING", 2, "c2", false),
            node("w1", "SUCCESS", 1, "c1", false),
        ])))
        .expect(1)
        .mount(&fixture.server)
        .await;
    call(DEPLOYMENT_STATUS, json!({ "id": "a2" }))
        .respond_with(sequence(vec![
            status("a2", "BUILDING"),
            status("a2", "SUCCESS"),
        ]))
        .expect(2)
        .mount(&fixture.server)
        .await;
    call(DEPLOYMENT_STATUS, json!({ "id": "w2" }))
        .respond_with(ResponseTemplate::new(200).set_body_json(status("w2", "SUCCESS")))
        .expect(1)
        .mount(&fixture.server)
        .await;
    let spec = DeploySpec {
        id: "c2".to_owned(),
        source: None,
        commit: Some("c2".to_owned()),
    };
    let release = fixture.provider.deploy(&spec).await.unwrap();
    assert_eq!(release.id, "a2");
    assert_eq!(release.commit.as_deref(), Some("c2"));
    assert_eq!(release.state, ReleaseState::Deployed);
    assert_eq!(release.url.as_deref(), Some("https://a2.up.railway.app"));
}

#[tokio::test]
async fn a_deployment_that_never_appears_is_never_appeared_after_ready_within() {
    let fixture = fixture(
        RailwayTokenKind::Account,
        &["api"],
        RailwayRollbackMode::Rollback,
        Duration::from_millis(150),
    )
    .await;
    call(DEPLOYMENTS, list_variables("api", LIST_SIZE))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(listing(&[node("a1", "SUCCESS", 1, "c1", false)])),
        )
        .mount(&fixture.server)
        .await;
    let spec = DeploySpec {
        id: "c2".to_owned(),
        source: None,
        commit: Some("c2".to_owned()),
    };
    let started = std::time::Instant::now();
    let error = fixture.provider.deploy(&spec).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        matches!(&error, ProviderError::NeverAppeared { commit, .. } if commit == "c2"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "railway shows no deployment of commit `c2` after 150ms waiting for service `api`"
    );
    let requests = fixture.server.received_requests().await.unwrap();
    assert!(requests.len() >= 2, "asked again while waiting");
}

#[tokio::test]
async fn git_deploy_without_a_commit_is_refused_in_preflight() {
    let fixture = account(&["api"]).await;
    let spec = DeploySpec {
        id: "v1".to_owned(),
        source: None,
        commit: None,
    };
    let error = fixture.provider.preflight(&spec).await.unwrap_err();
    assert!(error.to_string().contains("no commit is known"), "{error}");
    assert!(fixture.server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn command_deploy_runs_the_command_then_waits_for_the_new_deployment() {
    let mut fixture = account(&["api"]).await;
    fixture.provider.deploy = PlatformDeploy::Command {
        run: "test \"$SHIPGATE_COMMIT\" = c2".to_owned(),
        timeout: Duration::from_secs(2),
    };
    call(DEPLOYMENTS, list_variables("api", LIST_SIZE))
        .respond_with(sequence(vec![
            listing(&[node("a1", "SUCCESS", 1, "c1", false)]),
            listing(&[
                node("a2", "BUILDING", 2, "c2", false),
                node("a1", "SUCCESS", 1, "c1", false),
            ]),
        ]))
        .expect(2)
        .mount(&fixture.server)
        .await;
    call(DEPLOYMENT_STATUS, json!({ "id": "a2" }))
        .respond_with(ResponseTemplate::new(200).set_body_json(status("a2", "SUCCESS")))
        .expect(1)
        .mount(&fixture.server)
        .await;
    let spec = DeploySpec {
        id: "v2".to_owned(),
        source: None,
        commit: Some("c2".to_owned()),
    };
    let release = fixture.provider.deploy(&spec).await.unwrap();
    assert_eq!(release.id, "a2");
}
