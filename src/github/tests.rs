//! The GitHub client against wiremock fakes: exact method, path, query,
//! headers and bodies as GitHub's REST docs define them, retries on rate
//! limits and server errors, and check-run annotations in batches of 50.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::*;

const TOKEN: &str = "ghs_test_token_123";
const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

pub(crate) fn github_env(server: &MockServer) -> GithubEnv {
    GithubEnv {
        api_url: server.uri(),
        token: Some(Masked::new(TOKEN.to_owned(), &Redactor::default())),
        repository: Some("acme/shop".to_owned()),
        sha: Some(SHA.to_owned()),
        pull_request: None,
        actions: true,
        run_id: None,
    }
}

pub(crate) fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        backoff: Duration::from_millis(10),
        max_wait: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
    }
}

/// The headers every request must carry.
pub(crate) fn api(builder: wiremock::MockBuilder) -> wiremock::MockBuilder {
    builder
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("accept", "application/vnd.github+json"))
        .and(header("x-github-api-version", "2022-11-28"))
}

#[tokio::test]
async fn a_secondary_rate_limit_is_retried_after_retry_after() {
    let server = MockServer::start().await;
    let route = format!("/repos/acme/shop/commits/{SHA}/status");
    api(Mock::given(method("GET")).and(path(route.as_str())))
        .and(query_param("per_page", "100"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("retry-after", "1")
                .set_body_json(json!({"message": "You have exceeded a secondary rate limit."})),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    api(Mock::given(method("GET")).and(path(route.as_str())))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "state": "success",
            "statuses": [{"context": "ci/build", "state": "success", "description": "ok"}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let client = GithubClient::new(&github_env(&server), fast_retry()).unwrap();
    let started = Instant::now();
    let statuses = client.statuses(SHA).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "retry-after was not honoured"
    );
    assert_eq!(statuses[0].context, "ci/build");
}

#[tokio::test]
async fn server_errors_are_retried_for_get_but_a_post_is_sent_once() {
    let server = MockServer::start().await;
    let runs = format!("/repos/acme/shop/commits/{SHA}/check-runs");
    api(Mock::given(method("GET")).and(path(runs.as_str())))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    api(Mock::given(method("GET")).and(path(runs.as_str())))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"total_count": 0, "check_runs": []})),
        )
        .expect(1)
        .mount(&server)
        .await;
    api(Mock::given(method("POST")).and(path("/repos/acme/shop/check-runs")))
        .respond_with(ResponseTemplate::new(502).set_body_json(json!({"message": "Bad Gateway"})))
        .expect(1)
        .mount(&server)
        .await;
    let client = GithubClient::new(&github_env(&server), fast_retry()).unwrap();
    assert!(client.check_runs(SHA).await.unwrap().is_empty());
    let error = client
        .post::<Value>("/repos/acme/shop/check-runs", &json!({"name": "x"}))
        .await
        .unwrap_err();
    assert!(
        matches!(error, GithubError::Status { status: 502, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("Bad Gateway"), "{error}");
}

#[tokio::test]
async fn retries_are_bounded_and_a_long_rate_limit_fails_fast() {
    let server = MockServer::start().await;
    api(Mock::given(method("GET")).and(path(format!("/repos/acme/shop/commits/{SHA}/pulls"))))
        .respond_with(ResponseTemplate::new(503))
        .expect(3)
        .mount(&server)
        .await;
    let reset = jiff::Timestamp::now().as_second() + 3600;
    api(Mock::given(method("GET")).and(path("/repos/acme/shop/pulls/7/reviews")))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.to_string().as_str())
                .set_body_json(json!({"message": "API rate limit exceeded"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = GithubClient::new(&github_env(&server), fast_retry()).unwrap();
    let error = client.pulls_for_commit(SHA).await.unwrap_err();
    assert!(
        matches!(error, GithubError::Status { status: 503, .. }),
        "{error}"
    );
    let started = Instant::now();
    let error = client.reviews(7).await.unwrap_err();
    assert!(matches!(error, GithubError::RateLimited { .. }), "{error}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn rate_limit_waits_come_from_retry_after_or_the_reset_time() {
    let mut headers = HeaderMap::new();
    let now: jiff::Timestamp = "2026-11-22T00:00:00Z".parse().unwrap();
    assert_eq!(rate_limit_wait(&headers, now), None);
    headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
    headers.insert(
        "x-ratelimit-reset",
        (now.as_second() + 30).to_string().parse().unwrap(),
    );
    assert_eq!(
        rate_limit_wait(&headers, now),
        Some(Duration::from_secs(31))
    );
    headers.insert("retry-after", "7".parse().unwrap());
    assert_eq!(rate_limit_wait(&headers, now), Some(Duration::from_secs(7)));
}

fn annotations(count: usize) -> Vec<Annotation> {
    (1..=count)
        .map(|line| Annotation {
            path: "shipgate.toml".to_owned(),
            start_line: line,
            end_line: line,
            annotation_level: AnnotationLevel::Failure,
            message: format!("gate {line} failed"),
            title: format!("shipgate gate: g{line}"),
        })
        .collect()
}

fn annotation_count(request: &Request) -> usize {
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    body["output"]["annotations"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn a_check_run_with_120_annotations_is_created_then_patched_in_batches_of_50() {
    let server = MockServer::start().await;
    api(Mock::given(method("GET")).and(path(format!("/repos/acme/shop/commits/{SHA}/check-runs"))))
        .and(query_param("check_name", "shipgate / gates"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"total_count": 0, "check_runs": []})),
        )
        .expect(1)
        .mount(&server)
        .await;
    api(Mock::given(method("POST")).and(path("/repos/acme/shop/check-runs")))
        .and(header("content-type", "application/json"))
        .and(|request: &Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            body["name"] == "shipgate / gates"
                && body["head_sha"] == SHA
                && body["status"] == "completed"
                && body["conclusion"] == "failure"
                && body["completed_at"].is_string()
                && body["output"]["title"] == "120 gate(s) failed"
                && body["output"]["summary"] == "| table |"
                && body["output"]["annotations"][0]
                    == json!({
                        "path": "shipgate.toml",
                        "start_line": 1,
                        "end_line": 1,
                        "annotation_level": "failure",
                        "message": "gate 1 failed",
                        "title": "shipgate gate: g1"
                    })
                && annotation_count(request) == 50
        })
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 4242})))
        .expect(1)
        .mount(&server)
        .await;
    api(Mock::given(method("PATCH")).and(path("/repos/acme/shop/check-runs/4242")))
        .and(|request: &Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            body["output"]["title"] == "120 gate(s) failed" && body.get("head_sha").is_none()
        })
        .and(|request: &Request| annotation_count(request) == 50)
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 4242})))
        .expect(1)
        .mount(&server)
        .await;
    api(Mock::given(method("PATCH")).and(path("/repos/acme/shop/check-runs/4242")))
        .and(|request: &Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            annotation_count(request) == 20
                && body["output"]["annotations"][19]["start_line"] == 120
        })
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 4242})))
        .expect(1)
        .mount(&server)
        .await;
    let client = GithubClient::new(&github_env(&server), fast_retry()).unwrap();
    let output = CheckRunOutput {
        name: "shipgate / gates".to_owned(),
        conclusion: "failure",
        title: "120 gate(s) failed".to_owned(),
        summary: "| table |".to_owned(),
        annotations: annotations(120),
    };
    assert_eq!(
        publish_check_run(&client, SHA, &output).await.unwrap(),
        4242
    );
}

#[tokio::test]
async fn an_existing_check_run_is_updated_not_duplicated() {
    let server = MockServer::start().await;
    api(Mock::given(method("GET")).and(path(format!("/repos/acme/shop/commits/{SHA}/check-runs"))))
        .and(query_param("check_name", "shipgate / gates"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "total_count": 1,
            "check_runs": [{"id": 77, "name": "shipgate / gates", "status": "completed", "conclusion": "failure"}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    api(Mock::given(method("PATCH")).and(path("/repos/acme/shop/check-runs/77")))
        .and(|request: &Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            body["conclusion"] == "success" && body["status"] == "completed"
        })
        .and(body_json_partial_title("2 of 2 passed"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 77})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let client = GithubClient::new(&github_env(&server), fast_retry()).unwrap();
    let output = CheckRunOutput {
        name: "shipgate / gates".to_owned(),
        conclusion: "success",
        title: "2 of 2 passed".to_owned(),
        summary: "ok".to_owned(),
        annotations: Vec::new(),
    };
    assert_eq!(publish_check_run(&client, SHA, &output).await.unwrap(), 77);
}

fn body_json_partial_title(title: &'static str) -> impl Fn(&Request) -> bool {
    move |request: &Request| {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        body["output"] == json!({"title": title, "summary": "ok", "annotations": []})
    }
}

#[tokio::test]
async fn reviews_and_pulls_use_the_documented_paths_and_pages() {
    let server = MockServer::start().await;
    api(Mock::given(method("GET")).and(path("/repos/acme/shop/pulls/12/reviews")))
        .and(query_param("per_page", "100"))
        .and(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 1, "user": {"login": "ana"}, "state": "APPROVED", "submitted_at": "2026-11-20T10:00:00Z"}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(body_json(json!({})))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let client = GithubClient::new(&github_env(&server), fast_retry()).unwrap();
    let reviews = client.reviews(12).await.unwrap();
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0].user.as_ref().unwrap().login, "ana");
}
