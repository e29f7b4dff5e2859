//! The deploy summary of `shipgate run` (issue 14): the rollback plan decided
//! before deploying and shown before the results, the commits since the
//! last healthy release from the GitHub compare API (a wiremock fake
//! asserting method, path and headers), and the watch's p95 latency and
//! error rate per interval as a Mermaid chart and in the JSON report.

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::Test;
use crate::support::app::ReleaseApp;

const FIRST: &str = "1111111111111111111111111111111111111111";
const SECOND: &str = "2222222222222222222222222222222222222222";

/// A Mermaid `xychart-beta` block: `x-axis` with `labels` labels and every
/// `line` with as many numbers. Returns how many lines it draws.
fn check_chart(block: &str, labels: usize) -> usize {
    let mut lines = block.lines().map(str::trim);
    assert_eq!(lines.next(), Some("xychart-beta"), "{block}");
    let mut series = 0;
    let mut axis = None;
    for line in lines {
        if let Some(rest) = line.strip_prefix("x-axis ") {
            let inner = rest
                .trim()
                .strip_prefix('[')
                .unwrap()
                .strip_suffix(']')
                .unwrap();
            let names: Vec<&str> = inner.split(',').map(str::trim).collect();
            assert!(
                names
                    .iter()
                    .all(|name| name.starts_with('"') && name.ends_with('"')),
                "{block}"
            );
            axis = Some(names.len());
        } else if let Some(rest) = line.strip_prefix("line ") {
            let inner = rest
                .trim()
                .strip_prefix('[')
                .unwrap()
                .strip_suffix(']')
                .unwrap();
            let numbers: Vec<f64> = inner
                .split(',')
                .map(|number| number.trim().parse::<f64>().unwrap())
                .collect();
            assert_eq!(numbers.len(), labels, "{block}");
            series += 1;
        } else {
            assert!(
                line.starts_with("title ") || line.starts_with("y-axis "),
                "unexpected line `{line}` in {block}"
            );
        }
    }
    assert_eq!(axis, Some(labels), "{block}");
    series
}

/// GitHub answering the compare of the two deploys' commits, once.
fn compare_fake(runtime: &tokio::runtime::Runtime) -> MockServer {
    let github = runtime.block_on(MockServer::start());
    runtime.block_on(async {
        crate::support::github_headers(
            Mock::given(method("GET"))
                .and(path(format!("/repos/acme/shop/compare/{FIRST}...{SECOND}"))),
            "ghs_summary",
        )
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "status": "ahead",
            "commits": [
                {"sha": "abcdef0123456789abcdef0123456789abcdef01",
                 "commit": {"message": "checkout: retry payment (#41)\n\nlong body",
                            "author": {"name": "Ana Souza"}},
                 "author": {"login": "ana"}},
                {"sha": "0123456789abcdef0123456789abcdef01234567",
                 "commit": {"message": "docs: typo", "author": {"name": "Bo"}},
                 "author": null}
            ]
        })))
        .expect(1)
        .mount(&github)
        .await;
    });
    github
}

#[test]
fn run_summary_has_the_plan_before_the_results_the_commits_and_a_watch_chart() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let github = compare_fake(&runtime);
    let test = Test::new()
        .file("build/v1/status", "200")
        .file("build/v2/status", "200")
        .file(
            "migrations/0001_create_users.sql",
            "CREATE TABLE users (id INTEGER PRIMARY KEY);\n",
        );
    let app = ReleaseApp::start(test.path().join("srv"));
    let config = format!(
        r#"
[environments.prod]
url = "{app}"
database = "sqlite://app.db"

[migrate]
dir = "migrations"

[environments.prod.releases]
root = "srv"
restart = "true"

[smoke]
ready_within = "1s"

[[smoke.check]]
name = "health"
path = "/health"
max_latency = "2s"

[watch]
for = "150ms"
interval = "50ms"
checks = ["health"]
max_error_rate = 0.25
"#,
        app = app.url()
    );
    let test = test
        .config(&config)
        .env("GITHUB_TOKEN", "ghs_summary")
        .env("GITHUB_REPOSITORY", "acme/shop")
        .env("GITHUB_API_URL", &github.uri());
    // v1 has no healthy release before it: nothing to compare.
    let summary = test.path().join("summary.md");
    let report = test.path().join("report.json");
    let outputs = test.path().join("outputs");
    let test = test
        .env("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())
        .env("GITHUB_OUTPUT", outputs.to_str().unwrap());
    Test::args_for(
        &test,
        [
            "run", "--source", "build/v1", "--id", "v1", "--commit", FIRST,
        ],
    )
    .run(0);
    let second = [
        "run",
        "--source",
        "build/v2",
        "--id",
        "v2",
        "--commit",
        SECOND,
        "--format",
        "github",
        "--report",
        report.to_str().unwrap(),
    ];
    fs_err::write(
        test.path().join("migrations/0002_create_orders.sql"),
        "CREATE TABLE orders (id INTEGER PRIMARY KEY);\nCREATE INDEX users_id_idx ON users (id);\n",
    )
    .unwrap();
    // The log (and `--format human`) carries the same page in text: the
    // plan before the phases, then the migrations and the commits.
    let output = Test::args_for(&test, second).run(0);
    output
        .stdout_has("rollback plan: if this deploy fails, the app goes back to `v1`; database: keep the database")
        .stdout_has("migrations applied\n  0002 (additive, locking)\n      lint: line 1 serial-primary-key: `orders.id` is a 32-bit")
        .stdout_has("\n      lint: line 2 create-index-non-concurrently: `CREATE INDEX` without")
        .stdout_has("what changed: 2 commit(s) since the last healthy release\n  `abcdef0` checkout: retry payment (#41) — @ana · PR #41\n  `0123456` docs: typo — Bo\n");
    let log = &output.stdout;
    assert!(
        log.find("rollback plan:").unwrap() < log.find("✓ deploy").expect(log),
        "{log}"
    );
    runtime.block_on(github.verify());

    let json: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(&report).unwrap()).unwrap();
    let whole = fs_err::read_to_string(&summary).unwrap();
    // The second run's summary, appended after the first one's.
    let markdown = &whole[whole.rfind("### shipgate run").unwrap()..];
    check_markdown(markdown, &json);
    check_json_report(&json);
}

/// The step summary: the plan first, results, warnings, migrations with
/// their lint findings, the commits, and two valid Mermaid charts.
fn check_markdown(markdown: &str, json: &serde_json::Value) {
    let plan = markdown.find("#### Rollback plan").expect(markdown);
    let results = markdown.find("#### Results").expect(markdown);
    assert!(plan < results, "{markdown}");
    assert!(markdown.contains("- app: back to `v1`"), "{markdown}");
    assert!(
        markdown.contains("- database: keep the database"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| deploy | ✓ pass |") && markdown.contains("| watch | ✓ pass |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("- `abcdef0` checkout: retry payment (#41) — @ana · PR #41\n"),
        "{markdown}"
    );
    assert!(
        markdown.contains("- `0123456` docs: typo — Bo\n"),
        "{markdown}"
    );
    assert!(!markdown.contains("long body"), "{markdown}");
    // This fake GitHub has no Deployments API: the recording failure is a
    // warning on the page and in the JSON report, and the run still passed.
    assert!(
        markdown.contains("#### Warnings\n\n- could not record the deployment of `v2` in GitHub Deployments: `POST /repos/acme/shop/deployments` returned 404"),
        "{markdown}"
    );
    assert!(
        json["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("could not record the deployment of `v2` in GitHub Deployments"),
        "{json}"
    );
    assert!(
        markdown.contains("- `0002` (additive, locking)\n  - lint: line 1 serial-primary-key: ")
            && markdown.contains("\n  - lint: line 2 create-index-non-concurrently: "),
        "{markdown}"
    );

    let blocks: Vec<&str> = markdown
        .split("```mermaid\n")
        .skip(1)
        .map(|rest| rest.split("\n```").next().unwrap())
        .collect();
    assert_eq!(blocks.len(), 2, "{markdown}");
    assert_eq!(check_chart(blocks[0], 3), 2, "error rate and its limit");
    assert_eq!(check_chart(blocks[1], 3), 2, "p95 latency and its limit");
    assert!(blocks[1].contains("line [2000, 2000, 2000]"), "{markdown}");
    assert!(
        blocks[0].contains("line [25.00, 25.00, 25.00]"),
        "{markdown}"
    );
}

/// The JSON report carries the plan, the commits and the watch's numbers.
fn check_json_report(json: &serde_json::Value) {
    let outputs = json["outputs"].as_array().unwrap();
    assert!(
        outputs.contains(&serde_json::json!(["rollback_target", "v1"])),
        "{json}"
    );
    assert_eq!(json["changes"][0]["pull_request"], 41, "{json}");
    let watch = json["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|phase| phase["name"] == "watch")
        .unwrap();
    assert_eq!(watch["series"]["max_error_rate"], 0.25);
    assert_eq!(watch["series"]["max_latency_ms"], 2000);
    let points = watch["series"]["points"].as_array().unwrap();
    assert_eq!(points.len(), 3, "{watch}");
    for point in points {
        assert_eq!(point["error_rate"], 0.0, "{watch}");
        assert!(
            point["p95_ms"].is_u64() && point["at_ms"].is_u64(),
            "{watch}"
        );
    }
}

/// `shipgate run` publishes `shipgate / run` like `shipgate gate` publishes
/// its gates, with the failing migration annotated on its real line.
#[test]
fn run_publishes_its_check_run_with_the_migration_annotated_on_its_line() {
    use wiremock::Request;
    use wiremock::matchers::query_param;

    const SHA: &str = "3333333333333333333333333333333333333333";
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let github = runtime.block_on(MockServer::start());
    let auth = |builder| crate::support::github_headers(builder, "ghs_run");
    runtime.block_on(async {
        auth(
            Mock::given(method("GET"))
                .and(path(format!("/repos/acme/shop/commits/{SHA}/check-runs"))),
        )
        .and(query_param("check_name", "shipgate / run"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"total_count": 0, "check_runs": []})),
        )
        .expect(1)
        .mount(&github)
        .await;
        auth(Mock::given(method("POST")).and(path("/repos/acme/shop/check-runs")))
            .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({"id": 7})))
            .expect(1)
            .mount(&github)
            .await;
    });
    let output = Test::new()
        .config(
            "[environments.prod]\ndatabase = \"sqlite://app.db\"\n\n[migrate]\ndir = \"migrations\"\n",
        )
        .file(
            "migrations/0001_broken.sql",
            "CREATE TABLE fine (id INTEGER PRIMARY KEY);\n\nCREATE TABLE oops (;\n",
        )
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_TOKEN", "ghs_run")
        .env("GITHUB_REPOSITORY", "acme/shop")
        .env("GITHUB_SHA", SHA)
        .env("GITHUB_API_URL", &github.uri())
        .args(["run", "--format", "json"])
        .run(1);
    output.nowhere("ghs_run");
    let report = output.json();
    assert!(
        report["outputs"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!(["check_run_id", "7"])),
        "{report}"
    );
    runtime.block_on(github.verify());
    let requests: Vec<Request> = runtime.block_on(github.received_requests()).unwrap();
    let post = requests
        .iter()
        .find(|request| request.method.as_str() == "POST")
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&post.body).unwrap();
    assert_eq!(body["name"], "shipgate / run");
    assert_eq!(body["head_sha"], SHA);
    assert_eq!(body["conclusion"], "failure");
    assert_eq!(body["output"]["title"], "deploy failed (exit 1)");
    let annotations = body["output"]["annotations"].as_array().unwrap();
    assert_eq!(annotations.len(), 1, "{body}");
    assert_eq!(annotations[0]["path"], "migrations/0001_broken.sql");
    assert_eq!(annotations[0]["start_line"], 3, "{body}");
    assert_eq!(annotations[0]["annotation_level"], "failure");
    assert!(
        body["output"]["summary"]
            .as_str()
            .unwrap()
            .contains("| migrate | 0001_broken | ✗ fail |"),
        "{body}"
    );
}
