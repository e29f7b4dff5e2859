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

const GITHUB_TOKEN: &str = "ghs_promote_secret";

/// GitHub's Deployments API for a repository where `COMMIT` was deployed
/// to `staging` as `release` with latest status `state`; production's list
/// is empty and what shipgate records there is accepted.
fn staging_github(runtime: &tokio::runtime::Runtime, release: &str, state: &str) -> MockServer {
    let github = runtime.block_on(MockServer::start());
    let staged = json!([{
        "id": 7, "sha": COMMIT, "environment": "staging", "created_at": "2026-12-01T10:00:00Z",
        "payload": {"shipgate": true, "provider": "vercel", "release": release,
                    "url": format!("https://my-app-{release}.vercel.app"),
                    "migrations": [], "backup": null}
    }]);
    let statuses = json!([{
        "id": 9, "state": state, "description": format!("shipgate: {release} {state}"),
        "log_url": "https://github.com/acme/shop/actions/runs/77",
        "created_at": "2026-12-01T10:05:00Z"
    }]);
    runtime.block_on(async {
        let mock = |method_name: &str, route: &str| {
            crate::support::github_headers(
                Mock::given(method(method_name)).and(path(route.to_owned())),
                GITHUB_TOKEN,
            )
        };
        mock("GET", "/repos/acme/shop/deployments")
            .and(query_param("environment", "staging"))
            .respond_with(ResponseTemplate::new(200).set_body_json(staged))
            .mount(&github)
            .await;
        mock("GET", "/repos/acme/shop/deployments")
            .and(query_param("environment", "production"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
            .mount(&github)
            .await;
        mock("GET", "/repos/acme/shop/deployments/7/statuses")
            .respond_with(ResponseTemplate::new(200).set_body_json(statuses))
            .mount(&github)
            .await;
        mock("POST", "/repos/acme/shop/deployments")
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({
                "id": 8, "sha": COMMIT, "environment": "production", "payload": {},
                "created_at": "2026-12-01T11:00:00Z"
            })))
            .mount(&github)
            .await;
        mock("POST", "/repos/acme/shop/deployments/8/statuses")
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({
                "id": 10, "state": "in_progress", "created_at": "2026-12-01T11:00:01Z"
            })))
            .mount(&github)
            .await;
    });
    github
}

/// `GET /v13/deployments/{id}` answering `body`.
fn serve_deployment(fake: &Fake, id: &str, body: Value) {
    fake.runtime.block_on(
        Mock::given(method("GET"))
            .and(path(format!("/v13/deployments/{id}")))
            .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&fake.vercel),
    );
}

const PROMOTE_CONFIG: &str = "deploy = \"promote\"\npromote_from = \"staging\"\n";

/// The config with `settings` added to `[environments.production.vercel]`.
fn with_vercel(fake: &Fake, settings: &str) -> String {
    config(fake, "").replace(
        "project = \"my-app\"\n",
        &format!("project = \"my-app\"\n{settings}"),
    )
}

fn promoting(fake: &Fake, github: &MockServer) -> Test {
    let config = with_vercel(fake, PROMOTE_CONFIG);
    Test::new()
        .config(&config)
        .env("VERCEL_TOKEN", TOKEN)
        .env("GITHUB_API_URL", &github.uri())
        .env("GITHUB_TOKEN", GITHUB_TOKEN)
        .env("GITHUB_REPOSITORY", "acme/shop")
        .env("GITHUB_SHA", COMMIT)
}

fn vercel_posts(fake: &Fake) -> Vec<String> {
    requests(fake)
        .into_iter()
        .filter(|request| request.method == wiremock::http::Method::POST)
        .map(|request| request.url.path().to_owned())
        .collect()
}

/// The SOP runbook's "promote staging to production": production gets the
/// very deployment that passed on staging, promoted without a build, and
/// its GitHub deployment names it.
#[test]
fn promote_mode_promotes_the_deployment_that_passed_in_staging() {
    let fake = fake("dpl_prev");
    fake.runtime.block_on(
        Mock::given(method("POST"))
            .and(path("/v10/projects/prj_1/promote/dpl_staged"))
            .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
            .respond_with(Rollback(fake.live.clone()))
            .expect(1)
            .mount(&fake.vercel),
    );
    serve_deployment(
        &fake,
        "dpl_staged",
        deployment("dpl_staged", 1_700_000_400_000, COMMIT),
    );
    let github = staging_github(&fake.runtime, "dpl_staged", "success");
    let test = promoting(&fake, &github);
    Test::args_for(&test, ["deploy"])
        .run(0)
        .stdout_has("dpl_staged")
        .stderr_has("`dpl_staged` passed in `staging`; it will be promoted")
        .nowhere(TOKEN)
        .nowhere(GITHUB_TOKEN);
    assert_eq!(fake.live.get(), "dpl_staged");
    assert_eq!(
        vercel_posts(&fake),
        ["/v10/projects/prj_1/promote/dpl_staged"],
        "promoted once, nothing built"
    );
    let created: Vec<Value> = fake
        .runtime
        .block_on(github.received_requests())
        .unwrap()
        .into_iter()
        .filter(|request| {
            request.method == wiremock::http::Method::POST
                && request.url.path() == "/repos/acme/shop/deployments"
        })
        .map(|request| serde_json::from_slice(&request.body).unwrap())
        .collect();
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["environment"], "production");
    assert_eq!(created[0]["ref"], COMMIT);
    assert_eq!(created[0]["payload"]["release"], "dpl_staged");
    fake.runtime.block_on(fake.vercel.verify());
}

/// Nothing is promoted unless this commit passed there and what passed is
/// a production build of this project: each refusal says why and changes
/// nothing.
#[test]
fn promote_mode_refuses_what_did_not_pass_or_cannot_be_promoted_as_tested() {
    let fake = fake("dpl_prev");
    // Failed on staging.
    let github = staging_github(&fake.runtime, "dpl_staged", "failure");
    Test::args_for(&promoting(&fake, &github), ["deploy"])
        .run(1)
        .stderr_has("`0123456789ab` failed on `staging` at 2026-12-01T10:05:00Z in run https://github.com/acme/shop/actions/runs/77: shipgate: dpl_staged failure")
        .stderr_has("production promotes only what passed in `staging`; nothing was changed");
    // Still being verified there.
    let github = staging_github(&fake.runtime, "dpl_staged", "in_progress");
    Test::args_for(&promoting(&fake, &github), ["deploy"])
        .run(1)
        .stderr_has("`0123456789ab` is still being verified on `staging`");
    // Passed, but built as a preview: Vercel would build it again.
    let mut preview = deployment("dpl_preview", 1_700_000_400_000, COMMIT);
    preview["target"] = Value::Null;
    serve_deployment(&fake, "dpl_preview", preview);
    let github = staging_github(&fake.runtime, "dpl_preview", "success");
    Test::args_for(&promoting(&fake, &github), ["deploy"])
        .run(1)
        .stderr_has("`dpl_preview` was built for `preview`: Vercel builds such a deployment again with production's variables when it is promoted, so production would not run what `staging` tested")
        .stderr_has("`staged = true` with `vercel deploy --prod --skip-domain`");
    // Passed, but from another commit.
    serve_deployment(
        &fake,
        "dpl_other",
        deployment("dpl_other", 1_700_000_400_000, "feedface"),
    );
    let github = staging_github(&fake.runtime, "dpl_other", "success");
    Test::args_for(&promoting(&fake, &github), ["deploy"])
        .run(1)
        .stderr_has(
            "`dpl_other` was built from `feedface`, not `0123456789abcdef0123456789abcdef01234567`",
        );
    // A payload that names no Vercel deployment id never reaches a request path.
    let github = staging_github(&fake.runtime, "../v9/projects/prj_1", "success");
    Test::args_for(&promoting(&fake, &github), ["deploy"])
        .run(1)
        .stderr_has("names `../v9/projects/prj_1`, which is not a Vercel deployment id (`dpl_…`)");
    // Outside GitHub there is no record of what passed.
    let config = with_vercel(&fake, PROMOTE_CONFIG);
    Test::new()
        .config(&config)
        .env("VERCEL_TOKEN", TOKEN)
        .args(["deploy", "--commit", COMMIT])
        .run(2)
        .stderr_has("GitHub Deployments are not available: `GITHUB_TOKEN` or `GITHUB_REPOSITORY` is not set");
    assert!(vercel_posts(&fake).is_empty(), "nothing promoted");
    assert_eq!(fake.live.get(), "dpl_prev");
}

#[test]
fn promote_config_mistakes_point_at_the_line() {
    let fake = fake("dpl_prev");
    let rejects = |vercel_extra: &str, fragments: &[&str]| {
        let config = with_vercel(&fake, vercel_extra);
        let output = Test::new()
            .config(&config)
            .env("VERCEL_TOKEN", TOKEN)
            .args(["check"])
            .run(2);
        for fragment in fragments {
            output.stderr_has(fragment);
        }
    };
    rejects(
        "deploy = \"promote\"\n",
        &[
            "shipgate.toml:",
            "`environments.production.vercel.deploy = \"promote\"` needs `promote_from`",
            "add `promote_from = \"staging\"`",
        ],
    );
    rejects(
        "deploy = \"promote\"\npromote_from = \"production\"\n",
        &[
            "`environments.production.vercel.promote_from` must name another environment, not `production`",
        ],
    );
    rejects(
        "promote_from = \"staging\"\n",
        &["`environments.production.vercel.promote_from` is set but `deploy` is not `\"promote\"`"],
    );
    rejects(
        "deploy = \"promote\"\npromote_from = \"staging\"\ncommand = \"vercel deploy\"\n",
        &[
            "`environments.production.vercel.command` is set but `deploy = \"promote\"` builds nothing",
        ],
    );
    rejects(
        "deploy = \"promote\"\npromote_from = \"staging\"\nstaged = true\n",
        &["promotes to production, so it cannot be `staged = true`"],
    );
}

/// `staged = true` (the environment promoted from): the commit's production
/// build is waited for and left staged, never made production here; its
/// own URL is the step's `url` output, and there is nothing to roll back.
#[test]
fn a_staged_environment_waits_for_the_build_and_never_promotes_it() {
    let fake = fake("dpl_prev");
    let config = with_vercel(&fake, "staged = true\n");
    let test = Test::new().config(&config).env("VERCEL_TOKEN", TOKEN);
    let report = Test::args_for(&test, ["deploy", "--commit", COMMIT, "--format", "json"])
        .run(0)
        .json();
    let outputs = report["outputs"].as_array().unwrap();
    assert!(outputs.contains(&json!(["release", "dpl_new"])), "{report}");
    assert!(
        outputs.contains(&json!(["url", "https://my-app-dpl_new.vercel.app"])),
        "{report}"
    );
    assert!(
        vercel_posts(&fake).is_empty(),
        "nothing promoted or rolled back"
    );
    Test::args_for(&test, ["rollback", "--to", "dpl_prev", "--yes"])
        .run(2)
        .stderr_has("environment `production` deploys staged builds that serve no traffic, so there is nothing to roll back")
        .stderr_has("roll back production from its own environment");
    assert!(vercel_posts(&fake).is_empty());
}

/// A staged build that fails its checks is recorded failed (so production
/// never promotes it) and nothing is rolled back: it never served traffic.
#[test]
fn a_staged_build_that_fails_smoke_is_recorded_failed_and_not_rolled_back() {
    let fake = fake("dpl_prev");
    let config = with_vercel(&fake, "staged = true\n");
    let test = Test::new().config(&config).env("VERCEL_TOKEN", TOKEN);
    Test::args_for(&test, ["run", "--commit", COMMIT])
        .run(1)
        .stdout_has("nothing to roll back: `dpl_new` is a staged build that serves no traffic; it is recorded failed, so it is never promoted");
    assert!(
        vercel_posts(&fake).is_empty(),
        "nothing promoted or rolled back"
    );
    let health = fs_err::read_to_string(test.path().join(".state/health-production.json")).unwrap();
    let health: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["releases"]["dpl_new"]["state"], "failed");
}
