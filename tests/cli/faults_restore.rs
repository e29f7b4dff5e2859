//! Faults around backups and restores, against a real PostgreSQL and the
//! real binary (issue 10): a run killed mid-way then resumed and rolled
//! back, a backend terminated mid-run, and a state directory that cannot be
//! written.

use std::process::{Child, Stdio};
use std::time::Duration;

use crate::support::Test;
use crate::support::postgres::{TestDatabase, wait_until};

/// Spawns `shipgate args` in `test`'s dir with the harness's environment
/// (the `SHIPGATE_*` variables cleared, its state dir), for a test that has
/// to act while it runs.
fn spawn(test: &Test, database: &TestDatabase, args: &[&str]) -> Child {
    crate::support::shipgate(test.path())
        .args(args)
        .env("DATABASE_URL", database.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn shipgate")
}

/// The exit code, stdout and stderr of a spawned run.
fn finish(child: Child) -> (Option<i32>, String, String) {
    let output = child.wait_with_output().expect("wait for shipgate");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn history(database: &TestDatabase) -> Vec<String> {
    database.column("SELECT version || ' ' || success FROM shipgate_migrations ORDER BY version")
}

/// The backends of shipgate (`application_name`) connected to `database`.
fn shipgate_sessions(database: &TestDatabase, running: &str) -> Vec<String> {
    database.column(&format!(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
         AND application_name = 'shipgate' AND query LIKE '%{running}%' AND pid <> pg_backend_pid()"
    ))
}

/// Terminates the backend(s) of shipgate running `running` once one shows
/// up (polled with a deadline).
fn terminate_when_running(database: &TestDatabase, running: &str) {
    wait_until(
        &format!("a shipgate session running `{running}`"),
        Duration::from_secs(30),
        || !shipgate_sessions(database, running).is_empty(),
    );
    database.query(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() \
         AND application_name = 'shipgate' AND query LIKE '%{running}%' AND pid <> pg_backend_pid()"
    ));
}

const RELEASES_CONFIG: &str = r#"
[environments.prod]
database = "${DATABASE_URL}"

[environments.prod.releases]
root = "srv"
restart = "true"

[migrate]
dir = "migrations"
keep_backups = true
statement_timeout = "120s"
lock_wait = "20s"
"#;

const CREATE_USERS: &str = "CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL, email text);\n\
     INSERT INTO users VALUES (1, 'ada', 'ada@example.com');\n";

// issue 10, item 2: a run killed after a destructive migration committed,
// then resumed, then rolled back, must restore the backup taken before the
// run began (the dropped column's data back), not the resumed run's backup.
#[test]
fn a_resumed_run_keeps_its_first_backup_and_rollback_restores_it() {
    let database = TestDatabase::new();
    let test = Test::new()
        .config(RELEASES_CONFIG)
        .env("DATABASE_URL", database.url())
        .file("build/v1/app", "v1")
        .file("build/v2/app", "v2")
        .file("migrations/0001_create_users.sql", CREATE_USERS);
    Test::args_for(&test, ["run", "--source", "build/v1", "--id", "v1"]).run(0);
    assert_eq!(history(&database), ["0001 true"]);

    // The next run: 0002 drops the column, 0003 runs until the runner is killed.
    let write = |name: &str, sql: &str| {
        fs_err::write(test.path().join("migrations").join(name), sql).unwrap();
    };
    write(
        "0002_drop_email.sql",
        "ALTER TABLE users DROP COLUMN email;\n",
    );
    write("0003_slow.sql", "SELECT pg_sleep(60);\n");
    let before = test.backups();
    let mut child = spawn(&test, &database, &["migrate", "apply"]);
    wait_until("0002 to commit", Duration::from_secs(60), || {
        history(&database).contains(&"0002 true".to_owned())
            && !shipgate_sessions(&database, "pg_sleep").is_empty()
    });
    child.kill().unwrap();
    let (code, _, _) = finish(child);
    assert_eq!(code, None, "killed by SIGKILL");
    // A killed client leaves its backend sleeping (holding the migration
    // lock) until the server notices; end it as an operator would.
    terminate_when_running(&database, "pg_sleep");
    wait_until(
        "the killed run's sessions to end",
        Duration::from_secs(30),
        || shipgate_sessions(&database, "").is_empty(),
    );
    let first = test
        .backups()
        .into_iter()
        .find(|path| !before.contains(path))
        .expect("the backup taken before 0002");

    // Resume the same run, now succeeding, and deploy it.
    write("0003_slow.sql", "CREATE TABLE audit (id int);\n");
    Test::args_for(&test, ["migrate", "apply"])
        .run(0)
        .stdout_has("✓ 0003_slow applied")
        .stdout_has("kept beside this run's first backup `")
        .stdout_has(&format!(
            "{}`, which rollback restores",
            first.file_name().unwrap().to_string_lossy()
        ));
    let all = test.backups();
    assert_eq!(
        all.len(),
        before.len() + 2,
        "both backups of the run exist: {all:?}"
    );
    assert!(all.contains(&first), "{all:?}");
    Test::args_for(&test, ["deploy", "--source", "build/v2", "--id", "v2"]).run(0);

    Test::args_for(&test, ["rollback", "--yes", "--database", "restore"])
        .run(0)
        .stdout_has("✓ promote v1")
        .stdout_has("used the backup taken before this run's first migration, at ")
        .stdout_has("taken when the run resumed, which already holds its changes");
    assert_eq!(
        database.column("SELECT id || ' ' || name || ' ' || email FROM users ORDER BY id"),
        ["1 ada ada@example.com"],
        "the dropped column's data is back"
    );
    assert_eq!(database.tables(), ["shipgate_migrations", "users"]);
    assert_eq!(history(&database), ["0001 true"]);
}

const MIGRATE_CONFIG: &str = r#"
[environments.local]
database = "${DATABASE_URL}"

[migrate]
dir = "migrations"
statement_timeout = "120s"
lock_wait = "20s"
"#;

/// A project whose first migration is applied, and whose next run applies
/// `files` in a spawned `migrate apply`, ending its backend once it runs
/// `pg_sleep`; returns the run's exit code, stdout and stderr.
fn terminated_mid_run(
    database: &TestDatabase,
    config: &str,
    files: &[(&str, &str)],
) -> (Test, Option<i32>, String, String) {
    let mut test = Test::new()
        .config(config)
        .env("DATABASE_URL", database.url())
        .file("migrations/0001_create_users.sql", CREATE_USERS);
    Test::args_for(&test, ["migrate", "apply"]).run(0);
    for (name, sql) in files {
        test = test.file(&format!("migrations/{name}"), sql);
    }
    let child = spawn(&test, database, &["migrate", "apply"]);
    terminate_when_running(database, "pg_sleep");
    let (code, stdout, stderr) = finish(child);
    (test, code, stdout, stderr)
}

// issue 10, item 4: a backend terminated during the second file of a run is
// an infrastructure failure (exit 3), and the automatic restore reconnects
// (taking the migration lock again) instead of reusing the dead session.
#[test]
fn a_backend_terminated_in_a_later_file_restores_the_backup_on_a_new_session() {
    let database = TestDatabase::new();
    let (_test, code, stdout, stderr) = terminated_mid_run(
        &database,
        MIGRATE_CONFIG,
        &[
            ("0002_create_orders.sql", "CREATE TABLE orders (id int);\n"),
            ("0003_slow.sql", "SELECT pg_sleep(60);\n"),
        ],
    );
    assert_eq!(code, Some(3), "{stdout}\n{stderr}");
    for needle in [
        "lost the connection to `***` while applying migration `0003`",
        "terminating connection due to administrator command",
        "restore: backup restored into `***`; undid `0002`",
        "hint: the server ended the session",
    ] {
        assert!(
            stderr.contains(needle),
            "stderr lacks {needle:?}:\n{stderr}"
        );
    }
    assert!(!stderr.contains("connection closed"), "{stderr}");
    assert_eq!(
        database.tables(),
        ["shipgate_migrations", "users"],
        "0002 undone"
    );
    assert_eq!(history(&database), ["0001 true"]);
    assert_eq!(
        database.column("SELECT id || ' ' || name || ' ' || email FROM users"),
        ["1 ada ada@example.com"]
    );
    assert!(
        shipgate_sessions(&database, "").is_empty(),
        "no shipgate session is left behind"
    );
}

// issue 10, item 4: a backend terminated in the first file of a run: its
// transaction never committed, so nothing needs undoing, the backup is not
// restored over production's newer writes, and the run exits 3.
#[test]
fn a_backend_terminated_in_the_first_file_changes_nothing_and_exits_3() {
    let database = TestDatabase::new();
    let (_test, code, stdout, stderr) = terminated_mid_run(
        &database,
        MIGRATE_CONFIG,
        &[(
            "0002_slow.sql",
            "CREATE TABLE orders (id int);\nSELECT pg_sleep(60);\n",
        )],
    );
    assert_eq!(code, Some(3), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("lost the connection to `***` while applying migration `0002`"),
        "{stderr}"
    );
    assert!(!stderr.contains("backup restored"), "{stderr}");
    assert_eq!(database.tables(), ["shipgate_migrations", "users"]);
    assert_eq!(history(&database), ["0001 true"]);
}

// issue 10, item 4: when the undo after a lost connection fails too (here
// the backup vanished), the run says the database needs a human and exits
// 5, never 3 with the failed restore as a mere warning.
#[test]
fn a_lost_connection_whose_restore_fails_exits_5_naming_both_failures() {
    let database = TestDatabase::new();
    let mut test = Test::new()
        .config(MIGRATE_CONFIG)
        .env("DATABASE_URL", database.url())
        .file("migrations/0001_create_users.sql", CREATE_USERS);
    Test::args_for(&test, ["migrate", "apply"]).run(0);
    test = test
        .file(
            "migrations/0002_create_orders.sql",
            "CREATE TABLE orders (id int);\n",
        )
        .file("migrations/0003_slow.sql", "SELECT pg_sleep(60);\n");
    let child = spawn(&test, &database, &["migrate", "apply"]);
    wait_until("0002 to be applied", Duration::from_secs(30), || {
        history(&database).len() == 2
    });
    for backup in test.backups() {
        fs_err::remove_file(backup).unwrap();
    }
    terminate_when_running(&database, "pg_sleep");
    let (code, stdout, stderr) = finish(child);
    assert_eq!(code, Some(5), "{stdout}\n{stderr}");
    for needle in [
        "`0003_slow` failed (lost the connection",
        "the restore failed too: the database needs a human",
        "✗ restore",
    ] {
        assert!(
            stdout.contains(needle),
            "stdout lacks {needle:?}:\n{stdout}\n{stderr}"
        );
    }
    assert!(
        database.tables().contains(&"orders".to_owned()),
        "0002 stays: nothing could undo it"
    );
}

// issue 10, item 4: in a file that runs outside a transaction, the failed
// history row records the lost connection in `logs` (written on a new
// session), and the run is an infrastructure failure (exit 3).
#[test]
fn a_backend_terminated_in_a_no_transaction_file_logs_the_error_in_its_failed_row() {
    let database = TestDatabase::new();
    let config = format!("{MIGRATE_CONFIG}backup = \"none\"\n");
    let (test, code, stdout, stderr) = terminated_mid_run(
        &database,
        &config,
        &[(
            "0002_slow.sql",
            "-- shipgate:no-transaction\nCREATE TABLE orders (id int);\nSELECT pg_sleep(60);\n",
        )],
    );
    assert_eq!(code, Some(3), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("lost the connection to `***` while applying migration `0002`"),
        "{stderr}"
    );
    assert_eq!(history(&database), ["0001 true", "0002 false"]);
    let logs = database.column("SELECT logs FROM shipgate_migrations WHERE version = '0002'");
    assert!(
        logs[0].contains("lost the connection to `")
            && logs[0].contains("terminating connection due to administrator command")
            && logs[0].contains("the statement at line 2 ran and stays applied"),
        "{logs:?}"
    );
    Test::args_for(&test, ["migrate", "status"])
        .run(1)
        .stdout_has("✗ 0002_slow failed part-way in a run started ")
        .stdout_has("terminating connection due to administrator command");
}

/// A project with `0001` pending, no backups and `SHIPGATE_STATE_DIR` set
/// to `state_dir` (relative to the test dir).
fn unwritable_state_project(database: &TestDatabase, state_dir: &str) -> Test {
    let config = format!("{MIGRATE_CONFIG}backup = \"none\"\n");
    let test = Test::new()
        .config(&config)
        .env("DATABASE_URL", database.url())
        .file("migrations/0001_create_users.sql", CREATE_USERS)
        .file("blocker", "a regular file, not a directory");
    let path = test.path().join(state_dir);
    test.env("SHIPGATE_STATE_DIR", path.to_str().unwrap())
        .args(["migrate", "apply"])
}

// issue 10, item 10: with `backup = "none"` and a state directory that
// cannot be created (its parent is a regular file), nothing is migrated.
#[test]
fn an_unwritable_state_dir_under_a_file_fails_before_any_migration() {
    let database = TestDatabase::new();
    let test = unwritable_state_project(&database, "blocker/state");
    test.run(3)
        .stderr_has("blocker/state")
        .stderr_has("hint: ")
        .stderr_has("SHIPGATE_STATE_DIR");
    assert_eq!(database.tables(), Vec::<String>::new(), "nothing changed");
}

// issue 10, item 10: the state file reads as missing (a dangling link) but
// cannot be written; this used to commit `0001` and then fail. Now the run
// checks it can write its state before the first change.
#[test]
fn a_state_dir_that_reads_but_cannot_be_written_fails_before_any_migration() {
    let database = TestDatabase::new();
    let test = unwritable_state_project(&database, "state");
    std::os::unix::fs::symlink(test.path().join("missing/state"), test.path().join("state"))
        .unwrap();
    test.run(3)
        .stderr_has("error: the run state directory `")
        .stderr_has("is not writable")
        .stderr_has("hint: point `SHIPGATE_STATE_DIR` at a writable directory")
        .stderr_has("nothing was changed");
    assert_eq!(database.tables(), Vec::<String>::new(), "nothing changed");
}

// issue 10, item 10: with backups on, a backup directory that cannot be
// written stops the run before anything changes, naming the directory.
#[test]
fn an_unwritable_backup_dir_fails_before_any_change() {
    let database = TestDatabase::new();
    let config = format!("{MIGRATE_CONFIG}backup_dir = \"blocker/backups\"\n");
    let test = Test::new()
        .config(&config)
        .env("DATABASE_URL", database.url())
        .file("migrations/0001_create_users.sql", CREATE_USERS)
        .file("blocker", "a regular file, not a directory")
        .args(["migrate", "apply"]);
    test.run(3)
        .stderr_has("error: the backup directory `blocker/backups` is not writable")
        .stderr_has("hint: set a writable `migrate.backup_dir`");
    assert_eq!(database.tables(), Vec::<String>::new(), "nothing changed");
}
