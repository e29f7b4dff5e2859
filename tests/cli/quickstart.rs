//! The quickstart story, run from a copy of `examples/quickstart/` exactly as
//! its config is written (only the port changes, so tests can run in parallel):
//! v1 goes live green, v2 fails its health check and is rolled back to v1.

use std::path::Path;

use crate::support::{KillOnDrop, Test, free_port};

#[test]
fn quickstart_story_deploys_v1_then_rolls_v2_back() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    let port = free_port().to_string();
    let config = fs_err::read_to_string(example.join("shipgate.toml"))
        .unwrap()
        .replace("18080", &port);
    let test = Test::new()
        .copy_dir(&example, "", &[".state", "main.rs"])
        .config(&config);
    let _app = KillOnDrop(test.path().join(".state/app.pid"));

    let v1 = Test::args_for(&test, ["run", "--source", "app/v1", "--id", "v1"]).run(0);
    v1.stdout_has("✓ gate 2 of 2 passed")
        .stdout_has("✓ 0001_create_users")
        .stdout_has("✓ 0002_add_user_email")
        .stdout_has("✓ v1 live via `releases` (nothing live yet)")
        .stdout_has("✓ health")
        .stdout_has("✓ passed in");

    let v2 = Test::args_for(&test, ["run", "--source", "app/v2", "--id", "v2"]).run(4);
    v2.stdout_has("✓ v2 live via `releases` (replacing v1)")
        .stdout_has("✗ health")
        .stdout_has("expected: status 200")
        .stdout_has("got:      status 503")
        .stdout_has("no such table: accounts")
        .stdout_has("✓ promote v1 `v1` serves traffic again")
        .stdout_has("✓ database kept (policy `auto`: this run applied no migration)")
        .stdout_has(
            "failed and rolled back: the previous release is live and passed its re-check (exit 4",
        );
    let verify = v2.stdout.split("verify").nth(1).expect("a verify phase");
    assert!(
        verify.contains("✓ health"),
        "verify phase not green:\n{}",
        v2.stdout
    );

    let current = fs_err::read_link(test.path().join(".state/releases/current")).unwrap();
    assert!(current.ends_with("v1"), "current points at {current:?}");
}
