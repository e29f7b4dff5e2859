//! `provider = "vercel"` end to end: the real binary against a fake Vercel
//! API (wiremock on 127.0.0.1, on a runtime this test owns) and a real app
//! server whose health follows whichever deployment the fake says is live.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::Test;
use crate::support::http::{Reply, Scripted, Server};

const TOKEN: &str = "vcp_e2e_s3cr3t_token";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// The fake's memory: which deployment production serves.
#[derive(Clone)]
struct Live(Arc<Mutex<String>>);

impl Live {
    fn get(&self) -> String {
        self.0.lock().unwrap().clone()
    }

    fn set(&self, id: &str) {
        id.clone_into(&mut self.0.lock().unwrap());
    }
}

fn deployment(id: &str, created_at: i64, commit: &str) -> Value {
    json!({
        "uid": id,
        "id": id,
        "name": "my-app",
        "url": format!("my-app-{id}.vercel.app"),
        "createdAt": created_at,
        "created": created_at,
        "state": "READY",
        "readyState": "READY",
        "target": "production",
        "isRollbackCandidate": true,
        "inspectorUrl": format!("https://vercel.com/acme/my-app/{id}"),
        "meta": { "githubCommitSha": commit }
    })
}

/// `GET /v9/projects/my-app`: production is whatever is live; the last
/// alias request (a rollback to the live deployment) has succeeded.
struct ProjectRead(Live);

impl Respond for ProjectRead {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let live = self.0.get();
        ResponseTemplate::new(200).set_body_json(json!({
            "id": "prj_1",
            "name": "my-app",
            "targets": { "production": deployment(&live, 1_700_000_300_000, COMMIT) },
            "lastAliasRequest": {
                "fromDeploymentId": "dpl_new",
                "toDeploymentId": live,
                "jobStatus": "succeeded",
                "requestedAt": jiff::Timestamp::now().as_millisecond(),
                "type": "rollback"
            }
        }))
    }
}

/// `POST /v9/projects/prj_1/rollback/{id}`: makes `id` live.
struct Rollback(Live);

impl Respond for Rollback {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let id = request.url.path().rsplit('/').next().unwrap_or_default();
        self.0.set(id);
        ResponseTemplate::new(201)
    }
}

/// `GET /v13/deployments/dpl_new`: READY, and auto-assigned to production.
struct NewDeployment(Live);

impl Respond for NewDeployment {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        self.0.set("dpl_new");
        ResponseTemplate::new(200).set_body_json(deployment("dpl_new", 1_700_000_300_000, COMMIT))
    }
}

/// The fake Vercel API, its runtime (kept alive for the test) and the app.
struct Fake {
    runtime: tokio::runtime::Runtime,
    vercel: MockServer,
    app: Server,
    live: Live,
}

fn fake(live: &str) -> Fake {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let live = Live(Arc::new(Mutex::new(live.to_owned())));
    let vercel = runtime.block_on(MockServer::start());
    let bearer = format!("Bearer {TOKEN}");
    let history = json!({
        "deployments": [
            deployment("dpl_new", 1_700_000_300_000, COMMIT),
            deployment("dpl_prev", 1_700_000_200_000, "bbb"),
            deployment("dpl_old", 1_700_000_100_000, "aaa"),
        ],
        "pagination": { "count": 3, "next": null, "prev": null }
    });
    runtime.block_on(async {
        Mock::given(method("GET"))
            .and(path("/v2/user"))
            .and(header("authorization", bearer.as_str()))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({ "user": { "id": "usr_1", "username": "ada" } })),
            )
            .mount(&vercel)
            .await;
        // Any other token (checked after the one above).
        Mock::given(method("GET"))
            .and(path("/v2/user"))
            .respond_with(ResponseTemplate::new(403).set_body_json(json!({
                "error": { "code": "forbidden", "message": "Not authorized" }
            })))
            .with_priority(10)
            .mount(&vercel)
            .await;
        Mock::given(method("GET"))
            .and(path("/v9/projects/my-app"))
            .and(header("authorization", bearer.as_str()))
            .respond_with(ProjectRead(live.clone()))
            .mount(&vercel)
            .await;
        Mock::given(method("POST"))
            .and(path("/v9/projects/prj_1/rollback/dpl_prev"))
            .and(header("authorization", bearer.as_str()))
            .respond_with(Rollback(live.clone()))
            .mount(&vercel)
            .await;
        Mock::given(method("GET"))
            .and(path("/v6/deployments"))
            .and(header("authorization", bearer.as_str()))
            .and(query_param("projectId", "my-app"))
            .and(query_param("target", "production"))
            .and(query_param("meta-githubCommitSha", COMMIT))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "deployments": [deployment("dpl_new", 1_700_000_300_000, COMMIT)],
                "pagination": { "count": 1, "next": null, "prev": null }
            })))
            .mount(&vercel)
            .await;
        Mock::given(method("GET"))
            .and(path("/v6/deployments"))
            .and(header("authorization", bearer.as_str()))
            .and(query_param("projectId", "my-app"))
            .and(query_param("target", "production"))
            .respond_with(ResponseTemplate::new(200).set_body_json(history))
            .mount(&vercel)
            .await;
        Mock::given(method("GET"))
            .and(path("/v13/deployments/dpl_new"))
            .and(header("authorization", bearer.as_str()))
            .respond_with(NewDeployment(live.clone()))
            .mount(&vercel)
            .await;
    });
    let serving = live.clone();
    let app = Server::builder()
        .route(
            "/health",
            Reply::script(move |_, _| {
                let healthy = serving.get() == "dpl_prev";
                Scripted {
                    status: if healthy { 200 } else { 503 },
                    body: if healthy { "ok" } else { "broken" }.to_owned(),
                    ..Scripted::default()
                }
            }),
        )
        .start();
    Fake {
        runtime,
        vercel,
        app,
        live,
    }
}

fn config(fake: &Fake, extra: &str) -> String {
    format!(
        r#"
[environments.production]
url = "{app}"
provider = "vercel"

[environments.production.vercel]
api_url = "{api}"
token = "${{VERCEL_TOKEN}}"
project = "my-app"

[smoke]
ready_within = "300ms"

[[smoke.check]]
name = "health"
path = "/health"
timeout = "1s"
{extra}
"#,
        app = fake.app.url(),
        api = fake.vercel.uri(),
    )
}

fn requests(fake: &Fake) -> Vec<Request> {
    fake.runtime
        .block_on(fake.vercel.received_requests())
        .unwrap()
}

#[test]
fn check_accepts_a_vercel_table() {
    let fake = fake("dpl_prev");
    Test::new()
        .config(&config(&fake, ""))
        .env("VERCEL_TOKEN", TOKEN)
        .args(["check"])
        .run(0)
        .nowhere(TOKEN);
    assert!(requests(&fake).is_empty(), "check stays offline");
}

#[test]
fn the_provider_gate_passes_with_a_good_token_and_fails_on_a_403() {
    let fake = fake("dpl_prev");
    let test = Test::new()
        .config(&config(&fake, "[gate.provider]\n"))
        .env("VERCEL_TOKEN", TOKEN);
    Test::args_for(&test, ["gate"])
        .run(0)
        .stdout_has("token of `ada` can read project `my-app`")
        .nowhere(TOKEN);

    let refused = Test::new()
        .config(&config(&fake, "[gate.provider]\n"))
        .env("VERCEL_TOKEN", "vcp_revoked_token_456");
    Test::args_for(&refused, ["gate"])
        .run(1)
        .stdout_has("vercel refused the token from `$VERCEL_TOKEN` (403 Forbidden)")
        .nowhere("vcp_revoked_token_456");
}

#[test]
fn rollback_rolls_production_back_to_the_previous_ready_deployment() {
    let fake = fake("dpl_new");
    let test = Test::new()
        .config(&config(&fake, ""))
        .env("VERCEL_TOKEN", TOKEN);
    Test::args_for(&test, ["rollback", "--yes"])
        .run(0)
        .stdout_has("promote dpl_prev")
        .nowhere(TOKEN);
    assert_eq!(fake.live.get(), "dpl_prev");
    let posts: Vec<_> = requests(&fake)
        .into_iter()
        .filter(|request| request.method == wiremock::http::Method::POST)
        .map(|request| request.url.path().to_owned())
        .collect();
    assert_eq!(posts, ["/v9/projects/prj_1/rollback/dpl_prev"]);
}

#[test]
fn run_waits_for_the_commit_then_rolls_back_when_smoke_fails() {
    let fake = fake("dpl_prev");
    let test = Test::new()
        .config(&config(&fake, ""))
        .env("VERCEL_TOKEN", TOKEN);
    let output = Test::args_for(&test, ["run", "--commit", COMMIT]).run(4);
    output
        .stdout_has("dpl_new")
        .stdout_has("promote dpl_prev")
        .nowhere(TOKEN);
    assert_eq!(fake.live.get(), "dpl_prev");
    let health = fs_err::read_to_string(test.path().join(".state/health-production.json")).unwrap();
    let health: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["releases"]["dpl_new"]["state"], "failed");
    assert_eq!(health["releases"]["dpl_prev"]["state"], "healthy");
}
