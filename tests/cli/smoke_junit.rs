//! `--junit PATH`: the report as JUnit XML, parsed back and checked (issue 5).

use serde_json::json;

use crate::support::Test;
use crate::support::http::Server;

#[test]
fn junit_has_one_testcase_per_check_and_the_assertion_as_failure_message() {
    let server = Server::builder()
        .json("/api/health", 200, json!({ "status": "healthy" }))
        .json("/api/db", 503, json!({ "database": "down" }))
        .start();
    let config = format!(
        r#"
[environments.local]
url = "{}"

[smoke]
ready_within = "100ms"

[[smoke.check]]
name = "health"
path = "/api/health"
assert = ['jsonpath "$.status" == "healthy"']

[[smoke.check]]
name = "database"
path = "/api/db"
headers = {{ Authorization = "Bearer ${{TOKEN}}" }}
"#,
        server.url()
    );
    let test = Test::new().config(&config).env("TOKEN", "t0ps3cret").args([
        "smoke",
        "--junit",
        "out/junit.xml",
    ]);
    fs_err::create_dir_all(test.path().join("out")).unwrap();
    test.run(1);
    let xml = fs_err::read_to_string(test.path().join("out/junit.xml")).unwrap();
    let document = roxmltree::Document::parse(&xml).unwrap();
    let root = document.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("tests"), Some("2"));
    assert_eq!(root.attribute("failures"), Some("1"));
    let suite = root
        .children()
        .find(|node| node.has_tag_name("testsuite"))
        .unwrap();
    assert_eq!(suite.attribute("name"), Some("smoke"));
    let cases: Vec<_> = suite
        .children()
        .filter(|node| node.has_tag_name("testcase"))
        .collect();
    let names: Vec<_> = cases
        .iter()
        .map(|case| case.attribute("name").unwrap())
        .collect();
    assert_eq!(names, ["health", "database"]);
    assert!(
        cases[0]
            .children()
            .all(|node| !node.has_tag_name("failure"))
    );
    let failure = cases[1]
        .children()
        .find(|node| node.has_tag_name("failure"))
        .unwrap();
    assert_eq!(
        failure.attribute("message"),
        Some("expected status 200, got status 503")
    );
    assert!(
        failure
            .text()
            .unwrap_or_default()
            .contains(r#"{"database":"down"}"#)
    );
    assert!(!xml.contains("t0ps3cret"));
}

#[test]
fn an_unwritable_junit_path_exits_3_with_a_hint() {
    let server = Server::builder().json("/", 200, json!({})).start();
    let config = format!(
        "[environments.local]\nurl = \"{}\"\n\n[[smoke.check]]\nname = \"home\"\npath = \"/\"\n",
        server.url()
    );
    let output = Test::new()
        .config(&config)
        .args(["smoke", "--junit", "missing/dir/junit.xml"])
        .run(3);
    output
        .stderr_has("error: failed to write the JUnit report to `missing/dir/junit.xml`")
        .stderr_has("hint: pass a writable path to `--junit`");
}
