//! Runs that end in a config or infrastructure error still write every
//! report CI reads (issue 10, item 9), and an error quoting a huge value
//! stays one screen long (issue 10, item 11).

use crate::support::Test;

const BAD_KEY: &str = "[environments.local]\nurl = \"http://127.0.0.1:1\"\nretries = 3\n";

fn read(test: &Test, name: &str) -> String {
    fs_err::read_to_string(test.path().join(name)).unwrap()
}

#[test]
fn a_config_error_writes_the_json_report_junit_and_stdout_json() {
    // issue 10, item 9
    let test = Test::new().config(BAD_KEY).args([
        "check",
        "--format",
        "json",
        "--report",
        "report.json",
        "--junit",
        "junit.xml",
    ]);
    let output = test.run(2);
    output.stderr_has("error: unknown field `retries`");
    let report = output.json();
    assert_eq!(report["outcome"], "usage");
    assert_eq!(report["exit_code"], 2);
    assert_eq!(report["command"], "check");
    let check = &report["phases"][0]["checks"][0];
    assert_eq!(report["phases"][0]["name"], "config");
    assert_eq!(check["status"], "fail");
    assert!(
        check["detail"]
            .as_str()
            .unwrap()
            .contains("unknown field `retries`"),
        "{report}"
    );
    assert_eq!(check["location"]["line"], 3, "{report}");
    assert!(
        check["log"].as_str().unwrap().contains("hint: "),
        "{report}"
    );
    let file: serde_json::Value = serde_json::from_str(&read(&test, "report.json")).unwrap();
    assert_eq!(file, report);
    let junit = read(&test, "junit.xml");
    assert!(
        junit.contains(r#"<testcase name="error" classname="shipgate.config">"#)
            && junit.contains("<failure message=\"unknown field `retries`"),
        "{junit}"
    );
}

#[test]
fn an_infrastructure_error_in_actions_writes_github_output_and_the_summary() {
    // issue 10, item 9
    let port = crate::support::http::closed_port();
    let test = Test::new()
        .config(&format!(
            "[environments.local]\ndatabase = \"postgres://app@127.0.0.1:{port}/app\"\n"
        ))
        .file("migrations/0001_a.sql", "CREATE TABLE a (id int);\n");
    let outputs = test.path().join("output.txt");
    let summary = test.path().join("summary.md");
    let test = test
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", outputs.to_str().unwrap())
        .env("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())
        .args(["migrate", "status", "--junit", "junit.xml"]);
    let output = test.run(3);
    output.stdout_has("::error::failed to connect to PostgreSQL");
    let outputs = read(&test, "output.txt");
    assert!(
        outputs.starts_with("exit-code=3\noutcome=infrastructure\nerror=failed to connect to PostgreSQL at host `127.0.0.1`"),
        "{outputs}"
    );
    let summary = read(&test, "summary.md");
    assert!(
        summary.contains("### shipgate migrate status: infrastructure error"),
        "{summary}"
    );
    assert!(
        read(&test, "junit.xml")
            .contains(r#"<testcase name="error" classname="shipgate.migrate">"#)
    );
}

#[test]
fn a_human_error_prints_no_report_on_stdout() {
    // issue 10, item 9: stderr says it all; the files are still written.
    let test = Test::new()
        .config(BAD_KEY)
        .args(["check", "--report", "report.json"]);
    let output = test.run(2);
    assert_eq!(output.stdout, "");
    assert!(read(&test, "report.json").contains(r#""outcome": "usage""#));
}

#[test]
fn a_ten_megabyte_value_gives_a_one_screen_error() {
    // issue 10, item 11: the value was printed whole, three times.
    let value = "x".repeat(10_000_000);
    for config in [
        format!("[environments.local]\nurl = \"{value}\"\n"),
        format!("[environments.local]\nurl = \"http://a\"\n[smoke]\nready_within = \"{value}\"\n"),
    ] {
        let test = Test::new()
            .config(&config)
            .args(["check", "--format", "json"]);
        let output = test.run(2);
        assert!(
            output.stderr.len() < 2_000,
            "{} bytes:\n{}",
            output.stderr.len(),
            &output.stderr[..output.stderr.len().min(3000)]
        );
        output.stderr_has("… (10000000 bytes)`");
        assert!(output.stdout.len() < 4_000, "{} bytes", output.stdout.len());
    }
}
