//! `shipgate run`, `deploy` and `rollback` end to end, against the releases
//! provider, a real SQLite database and a real HTTP server whose answer
//! follows the `current` release.

use rusqlite::Connection;

use crate::support::Test;
use crate::support::app::ReleaseApp;

fn config(app: &ReleaseApp, extra: &str) -> String {
    format!(
        r#"
[environments.prod]
url = "{url}"
database = "sqlite://app.db"

[environments.prod.releases]
root = "srv"
restart = "test -f \"$SHIPGATE_RELEASE_DIR/status\""

[migrate]
dir = "migrations"

[smoke]
ready_within = "1s"

[[smoke.check]]
name = "health"
path = "/health"
timeout = "1s"
{extra}
"#,
        url = app.url()
    )
}

/// A test dir with a good build (`200`) and a bad one (`503`) and one migration.
fn project() -> (Test, ReleaseApp) {
    let test = Test::new()
        .file("build/good/status", "200")
        .file("build/bad/status", "503")
        .file(
            "migrations/0001_create_users.sql",
            "CREATE TABLE users (id INTEGER PRIMARY KEY);\n",
        );
    let app = ReleaseApp::start(test.path().join("srv"));
    (test, app)
}

fn tables(test: &Test) -> Vec<String> {
    let connection = Connection::open(test.path().join("app.db")).unwrap();
    let mut statement = connection
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap();
    statement
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn current(test: &Test) -> String {
    let link = fs_err::read_link(test.path().join("srv/current")).unwrap();
    link.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn failed_smoke_after_a_migration_rolls_back_app_and_restores_the_database() {
    let (test, app) = project();
    let test = test.config(&config(&app, ""));
    Test::args_for(&test, ["run", "--source", "build/good", "--id", "v1"]).run(0);
    assert_eq!(tables(&test), ["shipgate_migrations", "users"]);

    // Destructive (it deletes rows), so `rollback.database = "auto"` restores.
    fs_err::write(
        test.path().join("migrations/0002_create_orders.sql"),
        "CREATE TABLE orders (id INTEGER);\nDELETE FROM users WHERE id < 0;\n",
    )
    .unwrap();
    let output = Test::args_for(&test, ["run", "--source", "build/bad", "--id", "v2"]).run(4);
    output
        .stdout_has("got:      status 503")
        .stdout_has("✓ promote v1")
        .stdout_has("restored `")
        .stdout_has("(exit 4");
    assert_eq!(
        tables(&test),
        ["shipgate_migrations", "users"],
        "the orders migration must be undone"
    );
    assert_eq!(current(&test), "v1");
    let ledger = fs_err::read_to_string(test.path().join("srv/releases.json")).unwrap();
    assert!(
        ledger.contains("\"failed\""),
        "v2 must be recorded as failed: {ledger}"
    );
}

#[test]
fn failed_smoke_after_an_additive_migration_keeps_the_database() {
    let (test, app) = project();
    let test = test.config(&config(&app, ""));
    Test::args_for(&test, ["run", "--source", "build/good", "--id", "v1"]).run(0);
    fs_err::write(
        test.path().join("migrations/0002_create_orders.sql"),
        "CREATE TABLE orders (id INTEGER);\n",
    )
    .unwrap();
    Test::args_for(&test, ["run", "--source", "build/bad", "--id", "v2"])
        .run(4)
        .stdout_has("✓ promote v1")
        .stdout_has("kept (policy `auto`: every migration this run applied was additive)");
    assert_eq!(
        tables(&test),
        ["orders", "shipgate_migrations", "users"],
        "an additive migration is kept under `auto`"
    );
    assert_eq!(current(&test), "v1");
}

fn backups(test: &Test) -> Vec<String> {
    match fs_err::read_dir(test.path().join(".shipgate/backups")) {
        Ok(entries) => entries
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn a_successful_run_removes_its_backup_unless_keep_backups() {
    for keep in [false, true] {
        let (test, app) = project();
        let mut config = config(&app, "");
        if keep {
            config = config.replace(
                "[migrate]\ndir = \"migrations\"",
                "[migrate]\ndir = \"migrations\"\nkeep_backups = true",
            );
        }
        let test = test.config(&config);
        Test::args_for(&test, ["run", "--source", "build/good", "--id", "v1"]).run(0);
        fs_err::write(
            test.path().join("migrations/0002_create_orders.sql"),
            "CREATE TABLE orders (id INTEGER);\n",
        )
        .unwrap();
        Test::args_for(&test, ["run", "--source", "build/good", "--id", "v2"])
            .run(0)
            .stdout_has("✓ 0002_create_orders applied");
        assert_eq!(
            backups(&test).len(),
            usize::from(keep),
            "keep_backups = {keep}: {:?}",
            backups(&test)
        );
    }
}

#[test]
fn failing_gate_stops_before_anything_changes() {
    let (test, app) = project();
    let test = test.config(&config(
        &app,
        "[[gate.command]]\nname = \"tests\"\nrun = \"exit 1\"\n",
    ));
    Test::args_for(&test, ["run", "--source", "build/good", "--id", "v1"])
        .run(1)
        .stdout_has("✗ gate 1 of 1 failed");
    assert!(!test.path().join("app.db").exists());
    assert!(!test.path().join("srv").exists());
    assert_eq!(app.hits(), 0);
}

#[test]
fn smoke_failure_without_the_trigger_does_not_roll_back() {
    let (test, app) = project();
    let test = test.config(&config(&app, "[rollback]\non = [\"deploy\"]\n"));
    Test::args_for(&test, ["run", "--source", "build/good", "--id", "v1"]).run(0);
    Test::args_for(&test, ["run", "--source", "build/bad", "--id", "v2"])
        .run(1)
        .stdout_has("not triggered: `smoke` is not in `[rollback] on`");
    assert_eq!(current(&test), "v2");
}

#[test]
fn first_release_failing_has_nothing_to_roll_back_to() {
    let (test, app) = project();
    let test = test.config(&config(&app, ""));
    Test::args_for(&test, ["run", "--source", "build/bad", "--id", "v1"])
        .run(5)
        .stdout_has("✗ choose target no earlier release passed its checks, so there is nothing safe to roll back to")
        .stdout_has("a human is needed now (exit 5");
}

#[test]
fn failed_restart_rolls_back_through_the_deploy_trigger() {
    let (test, app) = project();
    let test = test
        .config(&config(&app, ""))
        .file("build/broken/readme", "no status file");
    Test::args_for(&test, ["run", "--source", "build/good", "--id", "v1"]).run(0);
    Test::args_for(&test, ["run", "--source", "build/broken", "--id", "v2"])
        .run(4)
        .stdout_has("✗ v2 the restart command")
        .stdout_has("✓ promote v1");
    assert_eq!(current(&test), "v1");
}

#[test]
fn manual_rollback_needs_confirmation_then_promotes_the_previous_release() {
    let (test, app) = project();
    let test = test.config(&config(&app, ""));
    Test::args_for(&test, ["run", "--source", "build/good", "--id", "v1"]).run(0);
    Test::args_for(&test, ["deploy", "--source", "build/bad", "--id", "v2"])
        .run(0)
        .stdout_has("✓ v2 live via `releases` (replacing v1)");
    Test::args_for(&test, ["rollback"])
        .run(2)
        .stderr_has("error: refusing to roll back `prod` without confirmation")
        .stderr_has("hint: pass `--yes`");
    assert_eq!(current(&test), "v2");

    Test::args_for(&test, ["rollback", "--dry-run"])
        .run(0)
        .stdout_has("would make `v1` serve traffic");
    assert_eq!(current(&test), "v2");

    Test::args_for(
        &test,
        ["rollback", "--yes", "--reason", "checkout returns 500"],
    )
    .run(0)
    .stdout_has("✓ reason checkout returns 500")
    .stdout_has("✓ promote v1");
    assert_eq!(current(&test), "v1");

    Test::args_for(&test, ["rollback", "--yes", "--to", "v2"])
        .run(5)
        .stdout_has("release `v2` failed its checks when it was deployed");
    assert_eq!(current(&test), "v1");
}

#[test]
fn dry_run_changes_nothing() {
    let (test, app) = project();
    let test = test.config(&config(&app, ""));
    Test::args_for(
        &test,
        ["run", "--dry-run", "--source", "build/good", "--id", "v1"],
    )
    .run(0)
    .stdout_has("dry run: nothing was changed");
    assert!(!test.path().join("app.db").exists());
    assert!(!test.path().join("srv").exists());
    assert_eq!(app.hits(), 0);
}

#[test]
fn failing_migration_stops_the_run_before_deploying() {
    let (test, app) = project();
    let test = test
        .config(&config(&app, ""))
        .file("migrations/0002_broken.sql", "CREATE TABLE oops (;\n");
    Test::args_for(&test, ["run", "--source", "build/good", "--id", "v1"])
        .run(1)
        .stdout_has("✗ 0002_broken");
    assert!(!test.path().join("srv").exists());
    assert!(
        !tables(&test).contains(&"users".to_owned()),
        "0001 must be undone with the backup"
    );
}

#[test]
fn deploy_without_a_provider_is_a_usage_error() {
    Test::new()
        .config("[environments.prod]\n")
        .args(["deploy", "--source", ".", "--id", "v1"])
        .run(2)
        .stderr_has("error: environment `prod` has no provider")
        .stderr_has("hint: set `provider = \"releases\"`");
}

#[test]
fn invalid_release_id_changes_nothing() {
    let (test, app) = project();
    let test = test.config(&config(&app, ""));
    Test::args_for(
        &test,
        ["deploy", "--source", "build/good", "--id", "../escape"],
    )
    .run(2)
    .stderr_has("invalid release id `../escape`");
    assert!(!test.path().join("srv/current").exists());
}
