//! GitHub Deployments end to end (issue 14): the `command` provider's fake
//! platform (see `provider_command.rs`) with a real app on 127.0.0.1, and an
//! in-memory GitHub Deployments API on wiremock that keeps what shipgate
//! posts, answers the lists from it, and refuses any request without the
//! token and the documented `accept` header.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wiremock::matchers::{header, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::provider_command::{LIST, PROMOTE, config, live, next_build, project};
use crate::support::Test;

const TOKEN: &str = "ghs_deployments_secret_token";
const SHA_1: &str = "1111111111111111111111111111111111111111";
const SHA_2: &str = "2222222222222222222222222222222222222222";
const SHA_3: &str = "3333333333333333333333333333333333333333";
const SHA_4: &str = "4444444444444444444444444444444444444444";
const RUN_URL: &str = "https://github.com/acme/shop/actions/runs/4242";

/// What the fake GitHub holds.
#[derive(Default)]
struct Fake {
    /// Newest first, as GitHub lists them.
    deployments: Vec<Value>,
    /// By deployment id, newest first.
    statuses: BTreeMap<u64, Vec<Value>>,
    next_id: u64,
    /// Every POST in order: (path, body).
    posts: Vec<(String, Value)>,
    /// Answer every POST with 500.
    fail_posts: bool,
}

impl Fake {
    fn add_deployment(&mut self, sha: &str, payload: &Value) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.deployments.insert(
            0,
            json!({"id": id, "sha": sha, "environment": "prod", "payload": payload,
                   "created_at": format!("2026-01-01T00:00:{id:02}Z")}),
        );
        id
    }

    fn add_status(&mut self, deployment: u64, body: &Value) -> Value {
        self.next_id += 1;
        let status = json!({"id": self.next_id, "state": body["state"],
                            "description": body["description"], "log_url": body["log_url"],
                            "created_at": format!("2026-01-01T00:01:{:02}Z", self.next_id)});
        self.statuses
            .entry(deployment)
            .or_default()
            .insert(0, status.clone());
        status
    }
}

#[derive(Clone)]
struct FakeGithub(Arc<Mutex<Fake>>);

impl Respond for FakeGithub {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut fake = self.0.lock().unwrap();
        let path = request.url.path().to_owned();
        let rest: Vec<&str> = path
            .trim_start_matches("/repos/acme/shop/deployments")
            .split('/')
            .filter(|segment| !segment.is_empty())
            .collect();
        let body = || serde_json::from_slice::<Value>(&request.body).unwrap();
        match (request.method.as_str(), rest.as_slice()) {
            ("POST", _) if fake.fail_posts => {
                fake.posts.push((path.clone(), body()));
                ResponseTemplate::new(500).set_body_json(json!({"message": "Server Error"}))
            }
            ("POST", []) => {
                let body = body();
                fake.posts.push((path.clone(), body.clone()));
                let sha = body["ref"].as_str().unwrap().to_owned();
                fake.add_deployment(&sha, &body["payload"]);
                ResponseTemplate::new(201).set_body_json(fake.deployments[0].clone())
            }
            ("POST", [id, "statuses"]) => {
                let body = body();
                fake.posts.push((path.clone(), body.clone()));
                let status = fake.add_status(id.parse().unwrap(), &body);
                ResponseTemplate::new(201).set_body_json(status)
            }
            ("GET", []) => {
                let query: BTreeMap<String, String> =
                    request.url.query_pairs().into_owned().collect();
                assert_eq!(query.get("per_page").map(String::as_str), Some("100"));
                let page = query.get("page").map_or("1", String::as_str);
                let environment = query.get("environment").cloned().unwrap_or_default();
                let listed: Vec<Value> = if page == "1" {
                    fake.deployments
                        .iter()
                        .filter(|deployment| deployment["environment"] == environment.as_str())
                        .cloned()
                        .collect()
                } else {
                    Vec::new()
                };
                ResponseTemplate::new(200).set_body_json(listed)
            }
            ("GET", [id, "statuses"]) => {
                let id: u64 = id.parse().unwrap();
                let statuses = fake.statuses.get(&id).cloned().unwrap_or_default();
                ResponseTemplate::new(200).set_body_json(statuses)
            }
            _ => ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})),
        }
    }
}

/// A running fake GitHub; its runtime must outlive the test's runs.
struct Github {
    runtime: tokio::runtime::Runtime,
    server: MockServer,
    fake: Arc<Mutex<Fake>>,
}

impl Github {
    fn start() -> Self {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let fake = Arc::new(Mutex::new(Fake::default()));
        let server = runtime.block_on(async {
            let server = MockServer::start().await;
            Mock::given(path_regex("^/repos/acme/shop/deployments"))
                .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
                .and(header("accept", "application/vnd.github+json"))
                .respond_with(FakeGithub(fake.clone()))
                .mount(&server)
                .await;
            server
        });
        Self {
            runtime,
            server,
            fake,
        }
    }

    /// `test` with the Actions environment pointing at this GitHub.
    fn actions(&self, test: Test, sha: &str) -> Test {
        test.env("GITHUB_API_URL", &self.server.uri())
            .env("GITHUB_TOKEN", TOKEN)
            .env("GITHUB_REPOSITORY", "acme/shop")
            .env("GITHUB_SHA", sha)
            .env("GITHUB_RUN_ID", "4242")
            .env("GITHUB_SERVER_URL", "https://github.com")
    }

    /// Every POST so far, as (path, body), and forgets them.
    fn take_posts(&self) -> Vec<(String, Value)> {
        std::mem::take(&mut self.fake.lock().unwrap().posts)
    }

    /// Every request that reached the server carried the token and the media type.
    fn assert_all_authenticated(&self) {
        let requests = self
            .runtime
            .block_on(self.server.received_requests())
            .unwrap();
        for request in requests {
            assert_eq!(
                request
                    .headers
                    .get("authorization")
                    .unwrap()
                    .to_str()
                    .unwrap(),
                format!("Bearer {TOKEN}"),
                "{} {}",
                request.method,
                request.url
            );
            assert_eq!(
                request.headers.get("accept").unwrap().to_str().unwrap(),
                "application/vnd.github+json"
            );
        }
    }
}

fn payload(release: &str, url: Option<&str>) -> Value {
    json!({"shipgate": true, "provider": "command", "release": release, "url": url,
           "migrations": [], "backup": null})
}

fn status(state: &str, description: &str, environment_url: Option<&str>) -> Value {
    let mut body = json!({"state": state, "description": description, "auto_inactive": false,
                          "log_url": RUN_URL});
    if let Some(url) = environment_url {
        body["environment_url"] = json!(url);
    }
    body
}

fn deployment(sha: &str, release: &str, url: Option<&str>, description: &str) -> Value {
    json!({
        "ref": sha,
        "environment": "prod",
        "description": description,
        "payload": payload(release, url),
        "auto_merge": false,
        "required_contexts": [],
        "production_environment": true,
        "transient_environment": false
    })
}

fn posts(list: &[(&str, Value)]) -> Vec<(String, Value)> {
    list.iter()
        .map(|(path, body)| ((*path).to_owned(), body.clone()))
        .collect()
}

#[test]
fn a_good_run_creates_a_deployment_with_its_payload_then_in_progress_then_success() {
    let github = Github::start();
    let (test, app) = project();
    let test = github.actions(test.config(&config(&app, PROMOTE, LIST, "")), SHA_1);
    Test::args_for(&test, ["run", "--id", "v1"])
        .run(0)
        .nowhere(TOKEN);
    let url = Some("https://v1.example");
    assert_eq!(
        github.take_posts(),
        posts(&[
            (
                "/repos/acme/shop/deployments",
                deployment(SHA_1, "v1", url, "shipgate: deploy v1")
            ),
            (
                "/repos/acme/shop/deployments/1/statuses",
                status("in_progress", "shipgate: v1 is live; verifying", url)
            ),
            (
                "/repos/acme/shop/deployments/1/statuses",
                status("success", "shipgate: v1 passed its checks", url)
            ),
        ])
    );
    github.assert_all_authenticated();
}

#[test]
fn the_environments_deployments_table_sets_the_created_deployments_fields() {
    let github = Github::start();
    let (test, app) = project();
    let settings = "[environments.prod.deployments]\nproduction = false\ntransient = true\nrequired_contexts = [\"ci/build\", \"ci/test\"]\n";
    let test = github.actions(test.config(&config(&app, PROMOTE, LIST, settings)), SHA_1);
    Test::args_for(&test, ["run", "--id", "v1"]).run(0);
    let mut expected = deployment(
        SHA_1,
        "v1",
        Some("https://v1.example"),
        "shipgate: deploy v1",
    );
    expected["production_environment"] = json!(false);
    expected["transient_environment"] = json!(true);
    expected["required_contexts"] = json!(["ci/build", "ci/test"]);
    let posts = github.take_posts();
    assert_eq!(
        posts[0],
        ("/repos/acme/shop/deployments".to_owned(), expected)
    );
    // A context that names nothing is refused where it is written.
    let bad = "[environments.prod.deployments]\nrequired_contexts = [\" \"]\n";
    let test = test.config(&config(&app, PROMOTE, LIST, bad));
    Test::args_for(&test, ["check"])
        .run(2)
        .stderr_has("empty context in `environments.prod.deployments.required_contexts`")
        .stderr_has("shipgate.toml:")
        .stderr_has("name a commit status or check, e.g. `ci/build`, or remove the entry");
}

#[test]
fn a_failing_run_marks_it_failure_restores_the_previous_with_success_and_older_inactive() {
    let github = Github::start();
    let (test, app) = project();
    let test = github.actions(test.config(&config(&app, PROMOTE, LIST, "")), SHA_1);
    Test::args_for(&test, ["run", "--id", "v1"]).run(0);
    github.take_posts();
    next_build(&test, "bad");
    let test = test.env("GITHUB_SHA", SHA_2);
    Test::args_for(&test, ["run", "--id", "v2"])
        .run(4)
        .stdout_has("✓ promote v1")
        .nowhere(TOKEN);
    assert_eq!(live(&test), "v1");
    let (v1, v2) = (Some("https://v1.example"), Some("https://v2.example"));
    assert_eq!(
        github.take_posts(),
        posts(&[
            (
                "/repos/acme/shop/deployments",
                deployment(SHA_2, "v2", v2, "shipgate: deploy v2")
            ),
            (
                "/repos/acme/shop/deployments/4/statuses",
                status("in_progress", "shipgate: v2 is live; verifying", v2)
            ),
            (
                "/repos/acme/shop/deployments/4/statuses",
                status("failure", "shipgate: v2 failed: `smoke` failed", v2)
            ),
            (
                "/repos/acme/shop/deployments",
                deployment(SHA_1, "v1", v1, "shipgate: restore v1")
            ),
            (
                "/repos/acme/shop/deployments/7/statuses",
                status("success", "shipgate: v1 passed its checks", v1)
            ),
            (
                "/repos/acme/shop/deployments/1/statuses",
                status("inactive", "shipgate: replaced by v1", None)
            ),
        ])
    );
    github.assert_all_authenticated();
}

#[test]
fn target_selection_skips_a_release_github_recorded_failure_on_a_fresh_state_dir() {
    let github = Github::start();
    let (test, app) = project();
    // The platform calls every release healthy; only GitHub knows v2 failed.
    let test = test
        .config(&config(&app, PROMOTE, LIST, ""))
        .env("PLATFORM_STATE", "healthy");
    Test::args_for(&test, ["deploy", "--id", "v1", "--commit", SHA_1]).run(0);
    Test::args_for(&test, ["deploy", "--id", "v2", "--commit", SHA_2]).run(0);
    {
        let mut fake = github.fake.lock().unwrap();
        let v1 = fake.add_deployment(SHA_1, &payload("v1", Some("https://v1.example")));
        fake.add_status(
            v1,
            &json!({"state": "success", "description": "shipgate: v1 passed its checks"}),
        );
        let v2 = fake.add_deployment(SHA_2, &payload("v2", Some("https://v2.example")));
        fake.add_status(
            v2,
            &json!({"state": "failure", "description": "shipgate: v2 failed its checks"}),
        );
    }
    next_build(&test, "bad");
    // A new runner: nothing in the state dir.
    let fresh = test.path().join("fresh-runner-state");
    let test = github
        .actions(test, SHA_3)
        .env("SHIPGATE_STATE_DIR", fresh.to_str().unwrap());
    let output = Test::args_for(&test, ["run", "--id", "v3"]).run(4);
    output.stdout_has("✓ promote v1").nowhere(TOKEN);
    assert!(!output.stdout.contains("promote v2"), "{}", output.stdout);
    assert_eq!(live(&test), "v1");
    github.assert_all_authenticated();
}

#[test]
fn github_failing_while_a_rollback_is_recorded_never_stops_the_rollback() {
    let github = Github::start();
    let (test, app) = project();
    let test = test.config(&config(&app, PROMOTE, LIST, ""));
    Test::args_for(&test, ["run", "--id", "v1", "--commit", SHA_1]).run(0);
    github.fake.lock().unwrap().fail_posts = true;
    next_build(&test, "bad");
    let test = github.actions(test, SHA_2);
    let output = Test::args_for(&test, ["run", "--id", "v2"]).run(4);
    output
        .stdout_has("✓ promote v1")
        .stdout_has("(exit 4")
        .stderr_has("warning: could not record the deployment of `v2` in GitHub Deployments: `POST /repos/acme/shop/deployments` returned 500: Server Error")
        .stderr_has("warning: could not record `v2` as failed on GitHub Deployments (the local health record has it)")
        .stderr_has("warning: could not record `v1` as healthy on GitHub Deployments (the local health record has it)")
        .nowhere(TOKEN);
    assert_eq!(live(&test), "v1");
    let record: Value = serde_json::from_str(
        &fs_err::read_to_string(test.path().join(".state/health-prod.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(record["releases"]["v2"]["state"], "failed", "{record}");
    assert_eq!(record["releases"]["v1"]["state"], "healthy", "{record}");
    // Each POST was sent once: a refused POST is never retried blindly.
    let posts = github.take_posts();
    assert_eq!(
        posts
            .iter()
            .map(|(path, _)| path.as_str())
            .collect::<Vec<_>>(),
        ["/repos/acme/shop/deployments"; 3],
        "{posts:?}"
    );
    github.assert_all_authenticated();
}

#[test]
fn the_staged_gate_reads_this_commits_staging_deployment() {
    let github = Github::start();
    {
        let mut fake = github.fake.lock().unwrap();
        let staging = fake.add_deployment(SHA_1, &payload("v1", None));
        fake.deployments[0]["environment"] = json!("staging");
        fake.add_status(
            staging,
            &json!({"state": "success", "description": "shipgate: v1 passed its checks", "log_url": RUN_URL}),
        );
        let failed = fake.add_deployment(SHA_2, &payload("v2", None));
        fake.deployments[0]["environment"] = json!("staging");
        fake.add_status(
            failed,
            &json!({"state": "failure", "description": "shipgate: v2 failed its checks", "log_url": RUN_URL}),
        );
        let verifying = fake.add_deployment(SHA_4, &payload("v4", None));
        fake.deployments[0]["environment"] = json!("staging");
        fake.add_status(
            verifying,
            &json!({"state": "in_progress", "description": "shipgate: v4 is live; verifying", "log_url": RUN_URL}),
        );
    }
    let config = "[environments.prod]\n[gate.staged]\nenvironment = \"staging\"\n";
    let test = github.actions(Test::new().config(config), SHA_1);
    Test::args_for(&test, ["gate"])
        .run(0)
        .stdout_has(&format!(
            "✓ staged `111111111111` passed its checks on `staging` at 2026-01-01T00:01:02Z in run {RUN_URL}"
        ))
        .nowhere(TOKEN);
    let test = test.env("GITHUB_SHA", SHA_2);
    Test::args_for(&test, ["gate"])
        .run(1)
        .stdout_has(&format!(
            "✗ staged `222222222222` failed on `staging` at 2026-01-01T00:01:04Z in run {RUN_URL}: shipgate: v2 failed its checks"
        ));
    let test = test.env("GITHUB_SHA", SHA_3);
    Test::args_for(&test, ["gate"])
        .run(1)
        .stdout_has("✗ staged `333333333333` was never deployed to `staging` by shipgate; deploy it there first (`shipgate run --env staging`)");
    let test = test.env("GITHUB_SHA", SHA_4);
    Test::args_for(&test, ["gate"])
        .run(1)
        .stdout_has(&format!(
            "✗ staged `444444444444` is still being verified on `staging` (since 2026-01-01T00:01:06Z in run {RUN_URL}); wait for that run to finish"
        ));
    github.assert_all_authenticated();
}

#[test]
fn an_empty_staged_environment_is_a_config_error_with_its_location() {
    Test::new()
        .config("[environments.prod]\n[gate.staged]\nenvironment = \" \"\n")
        .args(["check"])
        .run(2)
        .stderr_has("`gate.staged.environment` is empty")
        .stderr_has("shipgate.toml:3");
}
