//! The command line itself: help, version, exit codes and formats.

use crate::support::Test;

#[test]
fn every_subcommand_has_help_with_an_example() {
    for command in [
        "check", "gate", "migrate", "deploy", "smoke", "rollback", "run",
    ] {
        let output = Test::new().args([command, "--help"]).run(0);
        output.stdout_has("Example: `shipgate ");
    }
    for action in ["status", "plan", "apply"] {
        Test::new()
            .args(["migrate", action, "--help"])
            .run(0)
            .stdout_has("Example: `shipgate migrate");
    }
}

#[test]
fn top_level_help_documents_the_exit_codes() {
    Test::new()
        .args(["--help"])
        .run(0)
        .stdout_has("Exit codes:\n  0    everything passed")
        .stdout_has("\n  4    the pipeline failed and the rollback succeeded\n")
        .stdout_has("\n  5    the rollback failed or was impossible: a human is needed\n");
}

#[test]
fn version_prints_the_crate_version() {
    Test::new()
        .args(["--version"])
        .run(0)
        .stdout_has(concat!("shipgate ", env!("CARGO_PKG_VERSION")));
}

#[test]
fn usage_errors_exit_2() {
    let output = Test::new().args(["deploy-everything"]).run(2);
    output.stderr_has("unrecognized subcommand 'deploy-everything'");
    Test::new()
        .args(["check", "--format", "xml"])
        .run(2)
        .stderr_has("invalid value 'xml'");
}

#[test]
fn format_defaults_to_github_inside_actions_and_the_flag_wins() {
    let config = "[environments.production]\n";
    let summary = "summary.md";
    let test = Test::new()
        .config(config)
        .env("GITHUB_ACTIONS", "true")
        .args(["check"]);
    let summary_path = test.path().join(summary).to_string_lossy().into_owned();
    let test = test.env("GITHUB_STEP_SUMMARY", &summary_path);
    let output = test.run(0);
    output.stdout_has("shipgate check · environment production");
    let markdown = fs_err::read_to_string(test.path().join(summary)).unwrap();
    assert!(
        markdown.contains("### shipgate check · `production`: passed"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| config | config | ✓ pass |"),
        "{markdown}"
    );

    let json = Test::new()
        .config(config)
        .env("GITHUB_ACTIONS", "true")
        .args(["check", "--format", "json"])
        .run(0);
    assert_eq!(json.json()["command"], "check");
    let last_wins = Test::new()
        .config(config)
        .args(["check", "--format", "json", "--format", "human"])
        .run(0);
    last_wins.stdout_has("✓ config");
}

#[test]
fn github_outputs_carry_the_exit_code_and_outcome() {
    let test = Test::new()
        .config("[environments.production]\n")
        .args(["check"]);
    let outputs = test.path().join("outputs.txt");
    let output_path = outputs.to_string_lossy().into_owned();
    let test = test
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &output_path);
    test.run(0);
    let written = fs_err::read_to_string(outputs).unwrap();
    assert_eq!(written, "exit-code=0\noutcome=success\n");
}

#[test]
fn config_errors_become_annotations_in_github_format() {
    Test::new()
        .config("[environments.production]\nurl = 3\n")
        .args(["check", "--format", "github"])
        .run(2)
        .stdout_has("::error file=shipgate.toml,line=2,col=7::invalid type: integer `3`, expected a string, for key `environments.production.url`");
}

#[test]
fn config_flag_env_var_and_default() {
    let config = "[environments.production]\n";
    Test::new().config(config).args(["check"]).run(0);
    let moved = Test::new().file("ops/deploy.toml", config);
    moved.args(["check"]).run(2).stderr_has("`shipgate.toml`");
    let by_env = Test::new()
        .file("ops/deploy.toml", config)
        .env("SHIPGATE_CONFIG", "ops/deploy.toml")
        .args(["check"]);
    by_env.run(0).stdout_has("`ops/deploy.toml` is valid");
    let flag_wins = Test::new()
        .file("ops/deploy.toml", config)
        .env("SHIPGATE_CONFIG", "missing.toml")
        .args(["check", "--config", "ops/deploy.toml"]);
    flag_wins.run(0);
}

#[test]
fn ctrl_c_interrupts_a_waiting_smoke_suite_with_exit_130() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let server = crate::support::http::Server::builder()
        .json("/health", 503, serde_json::json!({ "status": "starting" }))
        .start();
    let config = format!(
        "[environments.local]\nurl = \"{}\"\n[smoke]\nready_within = \"60s\"\n[[smoke.check]]\nname = \"health\"\npath = \"/health\"\n",
        server.url()
    );
    let test = Test::new().config(&config);
    let mut child = Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .args(["smoke"])
        .current_dir(test.path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    // Wait until it is polling, so the signal handler is installed.
    while stderr.read_line(&mut line).unwrap() > 0 && !line.contains("waiting for") {
        line.clear();
    }
    assert!(line.contains("waiting for"), "never started waiting");
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
}
