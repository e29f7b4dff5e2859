//! The `railway` provider end to end: `check`, the `provider` gate,
//! `rollback` and `run`, against a stateful fake of Railway's GraphQL API
//! (wiremock on 127.0.0.1) and a real HTTP app whose health follows the
//! commit the fake says is live.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::Test;
use crate::support::http::{Reply, Scripted, Server};

const TOKEN: &str = "rw-cli-s3cr3t";

/// One fake deployment of service `api`.
#[derive(Debug, Clone)]
struct Deployment {
    id: String,
    status: &'static str,
    minute: u32,
    commit: String,
    can_rollback: bool,
}

/// What the fake Railway knows: `api`'s deployments, newest first, and the
/// mutations it received.
#[derive(Debug, Default)]
struct World {
    deployments: Vec<Deployment>,
    mutations: Vec<String>,
}

impl World {
    fn active_commit(&self) -> Option<String> {
        self.deployments
            .iter()
            .find(|deployment| deployment.status == "SUCCESS")
            .map(|deployment| deployment.commit.clone())
    }
}

fn deployment(
    id: &str,
    status: &'static str,
    minute: u32,
    commit: &str,
    can_rollback: bool,
) -> Deployment {
    Deployment {
        id: id.to_owned(),
        status,
        minute,
        commit: commit.to_owned(),
        can_rollback,
    }
}

/// Answers Railway's documents from the [`World`]; anything else is a 400.
struct FakeRailway(Arc<Mutex<World>>);

impl Respond for FakeRailway {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let query = body["query"].as_str().unwrap_or_default();
        let variables = &body["variables"];
        let mut world = self.0.lock().unwrap();
        let data = if query.starts_with("query Project(") {
            assert_eq!(variables, &json!({ "id": "prj" }));
            json!({ "project": { "id": "prj", "name": "calibrate" } })
        } else if query.starts_with("query Deployments(") {
            assert_eq!(
                variables["input"],
                json!({ "projectId": "prj", "environmentId": "env", "serviceId": "api" })
            );
            let edges: Vec<Value> = world
                .deployments
                .iter()
                .map(|deployment| {
                    json!({ "node": {
                        "id": deployment.id,
                        "status": deployment.status,
                        "createdAt": format!("2025-01-01T10:{:02}:00.000Z", deployment.minute),
                        "canRollback": deployment.can_rollback,
                        "canRedeploy": true,
                        "meta": { "commitHash": deployment.commit },
                        "url": null,
                        "staticUrl": format!("{}.up.railway.app", deployment.id),
                    }})
                })
                .collect();
            json!({ "deployments": { "edges": edges } })
        } else if query.starts_with("query DeploymentStatus(") {
            let id = variables["id"].as_str().unwrap();
            let found = world
                .deployments
                .iter()
                .find(|deployment| deployment.id == id)
                .unwrap();
            json!({ "deployment": { "id": id, "status": found.status } })
        } else if query.starts_with("mutation DeploymentRollback(") {
            let id = variables["id"].as_str().unwrap().to_owned();
            world.mutations.push(format!("rollback {id}"));
            let source = world
                .deployments
                .iter()
                .find(|deployment| deployment.id == id)
                .unwrap()
                .clone();
            for deployment in &mut world.deployments {
                if deployment.status == "SUCCESS" {
                    deployment.status = "REMOVED";
                    deployment.can_rollback = true;
                }
            }
            let minute = world
                .deployments
                .iter()
                .map(|deployment| deployment.minute)
                .max()
                .unwrap()
                + 1;
            world.deployments.insert(
                0,
                deployment(
                    &format!("d{minute}"),
                    "SUCCESS",
                    minute,
                    &source.commit,
                    false,
                ),
            );
            json!({ "deploymentRollback": true })
        } else {
            return ResponseTemplate::new(400)
                .set_body_json(json!({ "errors": [{ "message": "unknown document" }] }));
        };
        ResponseTemplate::new(200).set_body_json(json!({ "data": data }))
    }
}

/// The fake API (on its own runtime) and the app whose `/health` is 200
/// while commit `good` is live and 503 otherwise.
struct Railway {
    _runtime: tokio::runtime::Runtime,
    api: MockServer,
    app: Server,
    world: Arc<Mutex<World>>,
}

impl Railway {
    fn start(deployments: Vec<Deployment>) -> Self {
        let world = Arc::new(Mutex::new(World {
            deployments,
            mutations: Vec::new(),
        }));
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let api = runtime.block_on(MockServer::start());
        runtime.block_on(
            Mock::given(method("POST"))
                .and(path("/graphql/v2"))
                .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
                .respond_with(FakeRailway(world.clone()))
                .mount(&api),
        );
        // Like Railway: a wrong token is a GraphQL error with HTTP 200.
        runtime.block_on(
            Mock::given(method("POST"))
                .and(path("/graphql/v2"))
                .respond_with(ResponseTemplate::new(200).set_body_json(
                    json!({ "data": null, "errors": [{ "message": "Not Authorized" }] }),
                ))
                .with_priority(10)
                .mount(&api),
        );
        let seen = world.clone();
        let app = Server::builder()
            .route(
                "/health",
                Reply::script(move |_, _| {
                    let good = seen.lock().unwrap().active_commit().as_deref() == Some("good");
                    Scripted {
                        status: if good { 200 } else { 503 },
                        body: if good { "ok" } else { "broken" }.to_owned(),
                        ..Scripted::default()
                    }
                }),
            )
            .start();
        Self {
            _runtime: runtime,
            api,
            app,
            world,
        }
    }

    fn config(&self, extra: &str) -> String {
        format!(
            r#"
[environments.production]
url = "{app}"
provider = "railway"

[environments.production.railway]
api_url = "{api}/graphql/v2"
token = "${{RAILWAY_TOKEN}}"
project = "prj"
environment = "env"
service = "api"
ready_within = "2s"

[smoke]
ready_within = "1s"

[[smoke.check]]
name = "health"
path = "/health"
timeout = "1s"
{extra}
"#,
            app = self.app.url(),
            api = self.api.uri(),
        )
    }

    fn mutations(&self) -> Vec<String> {
        self.world.lock().unwrap().mutations.clone()
    }

    fn active(&self) -> String {
        let world = self.world.lock().unwrap();
        world
            .deployments
            .iter()
            .find(|deployment| deployment.status == "SUCCESS")
            .map(|deployment| deployment.id.clone())
            .unwrap()
    }
}

/// `d2` (commit `bad`) is live; `d1` (commit `good`) was superseded but
/// keeps its image.
fn bad_is_live() -> Vec<Deployment> {
    vec![
        deployment("d2", "SUCCESS", 2, "bad", false),
        deployment("d1", "REMOVED", 1, "good", true),
    ]
}

#[test]
fn check_accepts_a_railway_config() {
    let railway = Railway::start(bad_is_live());
    Test::new()
        .config(&railway.config(""))
        .env("RAILWAY_TOKEN", TOKEN)
        .args(["check"])
        .run(0)
        .nowhere(TOKEN);
}

#[test]
fn the_provider_gate_passes_with_the_token_and_fails_without_it() {
    let railway = Railway::start(bad_is_live());
    let config = railway.config("[gate.provider]\n");
    Test::new()
        .config(&config)
        .env("RAILWAY_TOKEN", TOKEN)
        .args(["gate"])
        .run(0)
        .stdout_has("token can read project `calibrate`")
        .nowhere(TOKEN);
    Test::new()
        .config(&config)
        .env("RAILWAY_TOKEN", "not-the-token")
        .args(["gate"])
        .run(1)
        .stdout_has(
            "railway refused the token from `$RAILWAY_TOKEN` (GraphQL error `Not Authorized`)",
        )
        .nowhere("not-the-token");
}

#[test]
fn rollback_puts_the_previous_commit_back_and_rechecks() {
    let railway = Railway::start(bad_is_live());
    Test::new()
        .config(&railway.config(""))
        .env("RAILWAY_TOKEN", TOKEN)
        .args(["rollback", "--yes"])
        .run(0)
        .stdout_has("promote d1")
        .nowhere(TOKEN);
    assert_eq!(railway.mutations(), ["rollback d1"]);
    assert_eq!(railway.active(), "d3");
    assert!(railway.app.hits() >= 1, "the smoke suite ran again");
}

#[test]
fn run_deploys_the_commit_then_rolls_back_when_smoke_fails() {
    let railway = Railway::start(bad_is_live());
    Test::new()
        .config(&railway.config(""))
        .env("RAILWAY_TOKEN", TOKEN)
        .args(["run", "--commit", "bad"])
        .run(4)
        .stdout_has("got:      status 503")
        .stdout_has("✓ promote d1")
        .stdout_has("(exit 4")
        .nowhere(TOKEN);
    assert_eq!(railway.mutations(), ["rollback d1"]);
    assert_eq!(railway.active(), "d3");
}
