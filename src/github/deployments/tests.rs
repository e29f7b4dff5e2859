//! The Deployments calls against wiremock: exact method, path, query,
//! headers and JSON bodies as GitHub's REST docs define them.

use serde_json::json;
use wiremock::matchers::{body_json, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::github::tests::{api, fast_retry, github_env};

fn trail(server: &MockServer, environment: &str) -> GithubDeployments {
    let lookup = |name: &str| match name {
        "GITHUB_SERVER_URL" => Some("https://github.com".to_owned()),
        "GITHUB_RUN_ID" => Some("777".to_owned()),
        _ => None,
    };
    GithubDeployments::from_env(&github_env(server), &lookup, environment, fast_retry())
        .unwrap()
        .unwrap()
}

fn payload() -> DeploymentPayload {
    DeploymentPayload {
        shipgate: true,
        provider: "command".to_owned(),
        release: "v2".to_owned(),
        url: Some("https://v2.example".to_owned()),
        migrations: vec![PayloadMigration {
            version: "0002_add_index".to_owned(),
            class: "locking".to_owned(),
        }],
        backup: Some(".state/backup.sqlite".to_owned()),
    }
}

#[tokio::test]
async fn a_deployment_is_created_with_the_documented_body_then_given_a_status() {
    let server = MockServer::start().await;
    api(Mock::given(method("POST")).and(path("/repos/acme/shop/deployments")))
        .and(body_json(json!({
            "ref": "abc123",
            "environment": "production",
            "description": "shipgate: deploy v2",
            "payload": {
                "shipgate": true,
                "provider": "command",
                "release": "v2",
                "url": "https://v2.example",
                "migrations": [{"version": "0002_add_index", "class": "locking"}],
                "backup": ".state/backup.sqlite"
            },
            "auto_merge": false,
            "required_contexts": [],
            "production_environment": true,
            "transient_environment": false
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": 42, "sha": "abc123", "environment": "production",
            "payload": {}, "created_at": "2026-01-01T00:00:00Z"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let long = "x".repeat(200);
    api(Mock::given(method("POST")).and(path("/repos/acme/shop/deployments/42/statuses")))
        .and(body_json(json!({
            "state": "in_progress",
            "description": format!("{}…", "x".repeat(139)),
            "auto_inactive": false,
            "environment_url": "https://v2.example",
            "log_url": "https://github.com/acme/shop/actions/runs/777"
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": 1, "state": "in_progress", "created_at": "2026-01-01T00:00:01Z"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let trail = trail(&server, "production");
    let payload = payload();
    let created = trail
        .create(&NewDeployment {
            commit: "abc123",
            description: "shipgate: deploy v2".to_owned(),
            payload: &payload,
        })
        .await
        .unwrap();
    assert_eq!(created.id, 42);
    let status = trail
        .set_status(
            42,
            &NewStatus {
                state: DeploymentState::InProgress,
                description: &long,
                environment_url: Some("https://v2.example"),
            },
        )
        .await
        .unwrap();
    assert_eq!(status.state, DeploymentState::InProgress);
    server.verify().await;
}

#[tokio::test]
async fn latest_pages_through_deployments_and_reads_only_shipgates() {
    let server = MockServer::start().await;
    let deployment = |id: u64, payload: serde_json::Value| {
        json!({"id": id, "sha": "abc", "environment": "staging", "payload": payload,
               "created_at": "2026-01-01T00:00:00Z"})
    };
    let mut first_page: Vec<serde_json::Value> = (0..100)
        .map(|id| deployment(1000 + id, json!({"from": "vercel"})))
        .collect();
    first_page[0] = deployment(7, serde_json::to_value(payload()).unwrap());
    api(Mock::given(method("GET")).and(path("/repos/acme/shop/deployments")))
        .and(query_param("environment", "staging"))
        .and(query_param("per_page", "100"))
        .and(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(first_page))
        .expect(1)
        .mount(&server)
        .await;
    api(Mock::given(method("GET")).and(path("/repos/acme/shop/deployments")))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([deployment(
            3,
            json!({"shipgate": true, "provider": "command", "release": "v1",
                       "url": null, "migrations": [], "backup": null})
        )])))
        .expect(1)
        .mount(&server)
        .await;
    api(Mock::given(method("GET")).and(path("/repos/acme/shop/deployments/7/statuses")))
        .and(query_param("per_page", "100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 2, "state": "failure", "created_at": "2026-01-01T00:00:02Z"},
            {"id": 1, "state": "in_progress", "created_at": "2026-01-01T00:00:01Z"}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    api(Mock::given(method("GET")).and(path("/repos/acme/shop/deployments/3/statuses")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&server)
        .await;
    let latest = trail(&server, "staging").latest().await.unwrap();
    let summary: Vec<_> = latest
        .iter()
        .map(|(deployment, payload, status)| {
            (
                deployment.id,
                payload.release.clone(),
                status.as_ref().map(|status| status.state),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (7, "v2".to_owned(), Some(DeploymentState::Failure)),
            (3, "v1".to_owned(), None)
        ]
    );
    server.verify().await;
}

#[tokio::test]
async fn without_a_token_or_repository_there_is_no_trail() {
    let server = MockServer::start().await;
    let mut github = github_env(&server);
    github.token = None;
    assert!(
        GithubDeployments::from_env(&github, &|_| None, "prod", fast_retry())
            .unwrap()
            .is_none()
    );
}
