//! `shipgate gate`: command gates run concurrently; a failure shows the
//! command's exit code and output tail without hiding the other gates.

use crate::support::Test;

const GATES: &str = r#"
[environments.production]

[[gate.command]]
name = "lint"
run = "echo linting; true"

[[gate.command]]
name = "typecheck"
run = "echo 'src/app.ts(3,1): error TS2304' >&2; exit 2"
"#;

#[test]
fn failing_gate_is_reported_with_exit_code_and_output_and_others_still_run() {
    let output = Test::new().config(GATES).args(["gate"]).run(1);
    output
        .stdout_has("✓ lint `echo linting; true`")
        .stdout_has("✗ typecheck `echo 'src/app.ts(3,1): error TS2304' >&2; exit 2` failed")
        .stdout_has("expected: exit 0")
        .stdout_has("got:      exit 2")
        .stdout_has("│ src/app.ts(3,1): error TS2304")
        .stdout_has("✗ gate 1 of 2 failed");
}

#[test]
fn only_and_skip_select_gates_and_unknown_names_are_usage_errors() {
    Test::new()
        .config(GATES)
        .args(["gate", "--only", "lint"])
        .run(0)
        .stdout_has("- typecheck skipped");
    Test::new()
        .config(GATES)
        .args(["gate", "--skip", "typecheck"])
        .run(0)
        .stdout_has("✓ lint");
    Test::new()
        .config(GATES)
        .args(["gate", "--only", "lnt"])
        .run(2)
        .stderr_has("error: no gate named `lnt` in the config")
        .stderr_has("hint: did you mean `lint`?");
}

#[test]
fn gates_run_concurrently() {
    let config = r#"
[environments.production]
[[gate.command]]
name = "a"
run = "sleep 1"
[[gate.command]]
name = "b"
run = "sleep 1"
"#;
    let started = std::time::Instant::now();
    Test::new().config(config).args(["gate"]).run(0);
    // Two 1 s gates on at least 2 workers: well under the 2 s a sequential run takes.
    assert!(
        started.elapsed() < std::time::Duration::from_millis(1900),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn gate_timeout_kills_the_command() {
    let config = "[environments.production]\n[[gate.command]]\nname = \"slow\"\nrun = \"sleep 30\"\ntimeout = \"300ms\"\n";
    Test::new()
        .config(config)
        .args(["gate"])
        .run(1)
        .stdout_has("`sleep 30` timed out after 300ms and was killed");
}

#[test]
fn dry_run_runs_nothing() {
    let config =
        "[environments.production]\n[[gate.command]]\nname = \"touch\"\nrun = \"touch ran\"\n";
    let test = Test::new().config(config).args(["gate", "--dry-run"]);
    test.run(0).stdout_has("would run `touch ran`");
    assert!(!test.path().join("ran").exists());
}
