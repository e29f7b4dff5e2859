//! SIGTERM and SIGINT during a real `migrate apply` on PostgreSQL (issue 10,
//! item 3): the file in progress finishes whole, the rest never starts, and
//! the run exits 130 with outcome `interrupted` in every report, never 0, so
//! `shipgate migrate apply && shipgate deploy` stops.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::Test;
use crate::support::postgres::{TestDatabase, wait_until};

const CONFIG: &str = r#"
[environments.local]
database = "${DATABASE_URL}"

[migrate]
dir = "migrations"
backup = "none"
"#;

/// Three migrations; the second sleeps 2 s before it creates its table, so a
/// signal sent once the first is recorded lands in the middle of it.
fn project(database: &TestDatabase) -> Test {
    Test::new()
        .config(CONFIG)
        .file(
            "migrations/0001_first.sql",
            "CREATE TABLE first (id int);\n",
        )
        .file(
            "migrations/0002_slow.sql",
            "SELECT pg_sleep(2);\nCREATE TABLE slow (id int);\nINSERT INTO slow VALUES (1);\n",
        )
        .file("migrations/0003_last.sql", "CREATE TABLE last (id int);\n")
        .env("DATABASE_URL", database.url())
}

fn applied(database: &TestDatabase) -> Vec<String> {
    let exists = database.column("SELECT (to_regclass('shipgate_migrations') IS NOT NULL)::text");
    if exists != ["true"] {
        return Vec::new();
    }
    database.column("SELECT version FROM shipgate_migrations WHERE success ORDER BY version")
}

/// Runs `migrate apply` with every report sink, sends `signal` once `0001`
/// is recorded, and returns (exit code, stdout, stderr, test dir).
fn interrupt_apply(
    signal: &str,
    format: &[&str],
) -> (Option<i32>, String, String, Test, TestDatabase) {
    let database = TestDatabase::new();
    let test = project(&database);
    let child = crate::support::shipgate(test.path())
        .args([
            "migrate",
            "apply",
            "--report",
            "report.json",
            "--junit",
            "junit.xml",
        ])
        .args(format)
        .env("DATABASE_URL", database.url())
        .env("GITHUB_OUTPUT", test.path().join("output.txt"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("`0001` to be applied", Duration::from_secs(30), || {
        applied(&database) == ["0001"]
    });
    Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        test,
        database,
    )
}

/// The migration in progress finished whole and the one after it never ran.
fn assert_stopped_cleanly_after_the_slow_file(database: &TestDatabase) {
    assert_eq!(applied(database), ["0001", "0002"]);
    assert_eq!(database.column("SELECT count(*)::text FROM slow"), ["1"]);
    assert_eq!(database.tables(), ["first", "shipgate_migrations", "slow"]);
}

#[test]
fn postgres_sigterm_during_migrate_apply_exits_130_and_reports_interrupted() {
    // issue 10, item 3
    let (code, stdout, stderr, test, database) = interrupt_apply("TERM", &["--format", "json"]);
    assert_eq!(code, Some(130), "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["outcome"], "interrupted", "{stdout}");
    assert_eq!(report["exit_code"], 130);
    let check = |name: &str| {
        report["phases"][0]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|check| check["name"] == name)
            .unwrap_or_else(|| panic!("no check `{name}` in {stdout}"))
            .clone()
    };
    assert_eq!(check("0001_first")["status"], "pass", "{stdout}");
    assert_eq!(check("0002_slow")["status"], "pass", "{stdout}");
    assert_eq!(check("0003_last")["status"], "skip", "{stdout}");
    assert_eq!(check("0003_last")["detail"], "not started: interrupted");
    let file: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(test.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(file["outcome"], "interrupted");
    let junit = fs_err::read_to_string(test.path().join("junit.xml")).unwrap();
    assert!(
        junit.contains(r#"<testcase name="interrupted" classname="shipgate">"#)
            && junit.contains(
                "<error message=\"interrupted before `migrate apply` finished (exit 130)\""
            ),
        "{junit}"
    );
    assert_stopped_cleanly_after_the_slow_file(&database);
}

#[test]
fn postgres_sigint_during_migrate_apply_exits_130_and_never_says_passed() {
    // issue 10, item 3
    let (code, stdout, stderr, test, database) = interrupt_apply("INT", &["--format", "github"]);
    assert_eq!(code, Some(130), "{stdout}\n{stderr}");
    assert!(!stdout.contains("passed"), "{stdout}");
    assert!(
        stdout.contains(
            "! interrupted before `migrate apply` finished; what ran is listed above (exit 130"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("2 applied, interrupted"), "{stdout}");
    let outputs = fs_err::read_to_string(test.path().join("output.txt")).unwrap();
    assert!(
        outputs.contains("exit-code=130\noutcome=interrupted\n"),
        "{outputs}"
    );
    assert_stopped_cleanly_after_the_slow_file(&database);
}

#[test]
fn an_interrupted_smoke_suite_still_writes_its_reports() {
    // issue 10, item 3: an abandoned command reports `interrupted` too.
    use std::io::{BufRead, BufReader};
    let server = crate::support::http::Server::builder()
        .json("/health", 503, serde_json::json!({ "status": "starting" }))
        .start();
    let config = format!(
        "[environments.local]\nurl = \"{}\"\n[smoke]\nready_within = \"60s\"\n[[smoke.check]]\nname = \"health\"\npath = \"/health\"\n",
        server.url()
    );
    let test = Test::new().config(&config);
    let mut child = crate::support::shipgate(test.path())
        .args(["smoke", "--report", "report.json", "--junit", "junit.xml"])
        .env("GITHUB_OUTPUT", test.path().join("output.txt"))
        .env("SHIPGATE_FORMAT", "github")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 && !line.contains("waiting for") {
        line.clear();
    }
    assert!(line.contains("waiting for"), "never started waiting");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let report = fs_err::read_to_string(test.path().join("report.json")).unwrap();
    assert!(report.contains(r#""outcome": "interrupted""#), "{report}");
    assert!(report.contains(r#""command": "smoke""#), "{report}");
    let junit = fs_err::read_to_string(test.path().join("junit.xml")).unwrap();
    assert!(junit.contains(r#"<testcase name="interrupted""#), "{junit}");
    let outputs = fs_err::read_to_string(test.path().join("output.txt")).unwrap();
    assert!(
        outputs.contains("exit-code=130\noutcome=interrupted\n"),
        "{outputs}"
    );
}
