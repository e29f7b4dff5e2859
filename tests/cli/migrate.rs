//! `shipgate migrate status|plan|apply` against a real SQLite file: what runs,
//! what is refused, and that a refused or failed run leaves the database as
//! it was. The database is inspected with rusqlite directly.

use std::path::Path;

use rusqlite::Connection;

use crate::support::{Output, Test};

const CONFIG: &str = r#"
[environments.local]
database = "sqlite://app.db"

[migrate]
dir = "migrations"
"#;

const CREATE_USERS: &str =
    "CREATE TABLE users (\n    id INTEGER PRIMARY KEY,\n    name TEXT NOT NULL\n);\n";
const ADD_EMAIL: &str = "ALTER TABLE users ADD COLUMN email TEXT;\n";

/// A project with the config and two migrations.
fn project() -> Test {
    Test::new()
        .config(CONFIG)
        .file("migrations/0001_create_users.sql", CREATE_USERS)
        .file("migrations/0002_add_email.sql", ADD_EMAIL)
}

/// Runs `args` against `project`'s config (and so its database and
/// migrations), from a fresh temp dir with its own state dir.
fn run_in(project: &Test, args: &[&str], code: i32) -> (Test, Output) {
    let config = project.path().join("shipgate.toml");
    let test = Test::new()
        .args(["--config", config.to_str().expect("test fixture")])
        .args(args.iter().copied());
    let output = test.run(code);
    (test, output)
}

fn write(project: &Test, relative: &str, contents: &str) {
    fs_err::write(project.path().join(relative), contents).expect("test fixture");
}

/// Tables (not indexes, not SQLite's own), sorted.
fn tables(project: &Test) -> Vec<String> {
    let connection = Connection::open(project.path().join("app.db")).expect("test fixture");
    let mut statement = connection
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .expect("test fixture");
    statement
        .query_map([], |row| row.get(0))
        .expect("test fixture")
        .map(|row| row.expect("row"))
        .collect()
}

/// The history rows: (version, name, checksum, `applied_at`).
fn history(project: &Test) -> Vec<(String, String, String, String)> {
    let connection = Connection::open(project.path().join("app.db")).expect("test fixture");
    let mut statement = connection
        .prepare(
            "SELECT version, name, checksum, applied_at FROM shipgate_migrations ORDER BY version",
        )
        .expect("test fixture");
    statement
        .query_map([], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .expect("test fixture")
        .map(|row| row.expect("row"))
        .collect()
}

fn backups(project: &Test) -> Vec<String> {
    let dir = project.path().join(".shipgate/backups");
    if !dir.exists() {
        return Vec::new();
    }
    let mut names: Vec<String> = fs_err::read_dir(dir)
        .expect("test fixture")
        .map(|entry| {
            entry
                .expect("test fixture")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

fn sha256_of(path: &Path) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(
        fs_err::read(path).expect("test fixture"),
    ))
}

#[test]
fn apply_creates_the_database_then_a_second_apply_is_a_no_op() {
    let project = project().args(["migrate", "apply"]);
    let output = project.run(0);
    output
        .stdout_has("✓ migrate 2 applied")
        .stdout_has("✓ 0001_create_users applied")
        .stdout_has("✓ 0002_add_email applied")
        .stdout_has("not needed: `sqlite://app.db` does not exist yet");
    assert_eq!(tables(&project), ["shipgate_migrations", "users"]);
    let rows = history(&project);
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0].0.as_str(), rows[0].1.as_str()),
        ("0001", "create_users")
    );
    assert_eq!(
        rows[0].2,
        sha256_of(&project.path().join("migrations/0001_create_users.sql"))
    );
    assert!(
        rows[0].3.ends_with('Z') && rows[0].3.contains('T'),
        "RFC 3339 UTC: {}",
        rows[0].3
    );
    assert!(
        backups(&project).is_empty(),
        "a new database needs no backup"
    );
    let state = fs_err::read_to_string(project.path().join(".state/state.json")).unwrap();
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    assert_eq!(
        state["migrations_applied"],
        serde_json::json!(["0001", "0002"])
    );

    let (_, output) = run_in(&project, &["migrate", "apply"], 0);
    output
        .stdout_has("✓ migrate nothing pending")
        .stdout_has("is up to date (2 applied)");
    assert_eq!(history(&project), rows, "the history must not change");
    assert!(backups(&project).is_empty(), "nothing pending: no backup");
}

#[test]
fn apply_backs_up_an_existing_database_before_migrating() {
    let project = project().args(["migrate", "apply"]);
    project.run(0);
    write(
        &project,
        "migrations/0003_create_orders.sql",
        "CREATE TABLE orders (id INTEGER PRIMARY KEY);\n",
    );
    let (_, output) = run_in(&project, &["migrate", "apply"], 0);
    output
        .stdout_has("✓ migrate 1 applied")
        .stdout_has("✓ 0003_create_orders applied");
    let names = backups(&project);
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(
        names[0].starts_with("app-") && names[0].ends_with(".sqlite"),
        "{names:?}"
    );
    output.stdout_has(&format!(
        "backup: {}",
        project
            .path()
            .join(".shipgate/backups")
            .join(&names[0])
            .display()
    ));
    // The backup is the database as it was before 0003.
    let backup =
        Connection::open(project.path().join(".shipgate/backups").join(&names[0])).unwrap();
    let versions: Vec<String> = backup
        .prepare("SELECT version FROM shipgate_migrations ORDER BY version")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(versions, ["0001", "0002"]);
}

#[test]
fn status_and_plan_list_states_without_creating_the_database() {
    let project = project().args(["migrate", "status"]);
    project
        .run(0)
        .stdout_has("`sqlite://app.db`: 0 applied, 2 pending")
        .stdout_has("- 0001_create_users pending")
        .stdout_has("- 0002_add_email pending");
    assert!(
        !project.path().join("app.db").exists(),
        "status must not create the database"
    );

    let (_, output) = run_in(&project, &["migrate", "plan"], 0);
    output.stdout_has("migrate 2 pending");
    let first = output
        .stdout
        .find("0001_create_users would apply")
        .expect("0001 in the plan");
    let second = output
        .stdout
        .find("0002_add_email would apply")
        .expect("0002 in the plan");
    assert!(
        first < second,
        "the plan lists migrations in apply order:\n{}",
        output.stdout
    );
    assert!(
        !project.path().join("app.db").exists(),
        "plan must not create the database"
    );

    // Apply only the first, then look again.
    fs_err::rename(
        project.path().join("migrations/0002_add_email.sql"),
        project.path().join("0002_add_email.sql"),
    )
    .unwrap();
    run_in(&project, &["migrate", "apply"], 0);
    fs_err::rename(
        project.path().join("0002_add_email.sql"),
        project.path().join("migrations/0002_add_email.sql"),
    )
    .unwrap();
    let (_, output) = run_in(&project, &["migrate", "status"], 0);
    output
        .stdout_has("1 applied, 1 pending")
        .stdout_has("✓ 0001_create_users applied 20")
        .stdout_has("- 0002_add_email pending");
    let (_, output) = run_in(&project, &["migrate", "plan"], 0);
    output
        .stdout_has("0002_add_email would apply")
        .nowhere("0001_create_users");
}

#[test]
fn an_edited_applied_migration_stops_apply_before_anything_changes() {
    let project = project().args(["migrate", "apply"]);
    project.run(0);
    let before = (tables(&project), history(&project));
    let recorded = history(&project)[0].2.clone();
    write(
        &project,
        "migrations/0001_create_users.sql",
        &format!("{CREATE_USERS}-- tweak\n"),
    );
    write(
        &project,
        "migrations/0003_create_orders.sql",
        "CREATE TABLE orders (id INTEGER);\n",
    );
    let local = sha256_of(&project.path().join("migrations/0001_create_users.sql"));

    let (_, output) = run_in(&project, &["migrate", "apply"], 2);
    output
        .stderr_has("error: applied migration `migrations/0001_create_users.sql` was edited after it ran")
        .stderr_has(&recorded)
        .stderr_has(&local)
        .stderr_has("--> migrations/0001_create_users.sql:1:1")
        .stderr_has("hint: nothing was changed; restore the file with `git checkout -- migrations/0001_create_users.sql`");
    assert_eq!(
        (tables(&project), history(&project)),
        before,
        "the database must be untouched"
    );
    assert!(
        backups(&project).is_empty(),
        "a refused run takes no backup"
    );

    let (_, output) = run_in(&project, &["migrate", "plan"], 2);
    output.stderr_has("was edited after it ran");
    let (_, output) = run_in(&project, &["migrate", "status"], 1);
    output
        .stdout_has("✗ 0001_create_users edited after it was applied")
        .stdout_has(&format!("expected: checksum {recorded}"))
        .stdout_has(&format!("got:      checksum {local}"));
}

#[test]
fn a_failing_migration_restores_the_backup_and_names_file_and_line() {
    let project = Test::new()
        .config(CONFIG)
        .file("migrations/0001_create_users.sql", CREATE_USERS)
        .args(["migrate", "apply"]);
    project.run(0);
    let before = (tables(&project), history(&project));
    write(
        &project,
        "migrations/0002_create_orders.sql",
        "CREATE TABLE orders (id INTEGER PRIMARY KEY);\n",
    );
    write(
        &project,
        "migrations/0003_seed.sql",
        "INSERT INTO users (id, name) VALUES (1, 'ada');\n-- the same id again\nINSERT INTO users (id, name) VALUES (1, 'grace');\n",
    );
    write(
        &project,
        "migrations/0004_later.sql",
        "CREATE TABLE later (id INTEGER);\n",
    );

    let (run, output) = run_in(&project, &["migrate", "apply"], 1);
    let names = backups(&project);
    assert_eq!(names.len(), 1, "{names:?}");
    let backup = project.path().join(".shipgate/backups").join(&names[0]);
    output
        .stdout_has("✓ 0002_create_orders applied")
        .stdout_has("✗ 0003_seed UNIQUE constraint failed: users.id")
        .stdout_has("--> migrations/0003_seed.sql:3:1")
        .stdout_has(&format!("backup: {}", backup.display()))
        .stdout_has("✓ restore backup restored into `sqlite://app.db`; undid `0002`")
        .stdout_has("- 0004_later not applied: `0003_seed` failed")
        .stdout_has("✗ migrate `0003_seed` failed; backup restored")
        .stdout_has("(exit 1");
    assert_eq!(
        (tables(&project), history(&project)),
        before,
        "0002 must be undone by the restore"
    );
    let state = fs_err::read_to_string(run.path().join(".state/state.json")).unwrap();
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    assert_eq!(
        state["migrations_applied"],
        serde_json::json!([]),
        "restored migrations are not applied"
    );
    assert_eq!(
        state["backup"],
        serde_json::json!(backup.display().to_string())
    );
}

#[test]
fn a_syntax_error_on_a_new_database_leaves_it_empty() {
    let project = Test::new()
        .config(CONFIG)
        .file("migrations/0001_create_users.sql", CREATE_USERS)
        .file(
            "migrations/0002_broken.sql",
            "-- broken on purpose\n\nCREATE TABLE oops (;\n",
        )
        .args(["migrate", "apply"]);
    project
        .run(1)
        .stdout_has("✓ 0001_create_users applied")
        .stdout_has("✗ 0002_broken near \";\": syntax error")
        .stdout_has("--> migrations/0002_broken.sql:3:")
        .stdout_has(
            "✓ restore emptied `sqlite://app.db` (it did not exist before this run); undid `0001`",
        );
    assert!(
        tables(&project).is_empty(),
        "0001 must be undone: {:?}",
        tables(&project)
    );
    assert!(backups(&project).is_empty());
}

#[test]
fn dry_run_apply_changes_nothing() {
    let project = project().args(["migrate", "apply", "--dry-run"]);
    project
        .run(0)
        .stdout_has("- 0001_create_users would apply")
        .stdout_has("- 0002_add_email would apply")
        .stdout_has("dry run: nothing was changed");
    assert!(
        !project.path().join("app.db").exists(),
        "dry run must not create the database"
    );

    run_in(&project, &["migrate", "apply"], 0);
    write(
        &project,
        "migrations/0003_create_orders.sql",
        "CREATE TABLE orders (id INTEGER);\n",
    );
    let before = (tables(&project), history(&project));
    let (run, output) = run_in(&project, &["--dry-run", "migrate", "apply"], 0);
    output
        .stdout_has("- backup would back up `sqlite://app.db` into `.shipgate/backups`")
        .stdout_has("- 0003_create_orders would apply")
        .nowhere("0001_create_users");
    assert_eq!((tables(&project), history(&project)), before);
    assert!(backups(&project).is_empty(), "dry run takes no backup");
    assert!(
        !run.path().join(".state/state.json").exists(),
        "dry run records nothing"
    );
}

#[test]
fn json_apply_reports_the_documented_fields() {
    let project = project().args(["--format", "json", "migrate", "apply"]);
    let output = project.run(0);
    let report = output.json();
    assert_eq!(report["version"], 1);
    assert_eq!(report["command"], "migrate apply");
    assert_eq!(report["environment"], "local");
    assert_eq!(report["dry_run"], false);
    assert_eq!(report["outcome"], "success");
    assert_eq!(report["exit_code"], 0);
    assert!(report["duration_ms"].is_u64());
    let phase = &report["phases"][0];
    assert_eq!(phase["name"], "migrate");
    assert_eq!(phase["status"], "pass");
    assert_eq!(phase["summary"], "2 applied");
    let names: Vec<&str> = phase["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["backup", "0001_create_users", "0002_add_email"]);
    assert_eq!(phase["checks"][1]["status"], "pass");
    assert_eq!(phase["checks"][1]["detail"], "applied");
    assert!(phase["checks"][1]["duration_ms"].is_u64());
    assert_eq!(
        report["outputs"],
        serde_json::json!([["migrations_applied", "0001,0002"]])
    );
    assert!(
        output.stderr.is_empty(),
        "JSON mode prints no progress: {}",
        output.stderr
    );

    write(
        &project,
        "migrations/0003_create_orders.sql",
        "CREATE TABLE orders (id INTEGER);\n",
    );
    let (_, output) = run_in(&project, &["--format", "json", "migrate", "apply"], 0);
    let report = output.json();
    let backup = &report["phases"][0]["checks"][0];
    assert_eq!(backup["name"], "backup");
    assert_eq!(backup["artifacts"][0]["name"], "backup");
    let path = backup["artifacts"][0]["value"].as_str().unwrap();
    assert!(
        Path::new(path).is_file(),
        "the backup artifact names a file: {path}"
    );
    assert_eq!(report["outputs"][1], serde_json::json!(["backup", path]));
    assert_eq!(report["files"], serde_json::json!([path]));
}

#[test]
fn a_misnamed_migration_file_is_a_usage_error() {
    let project = project().file(
        "migrations/add_orders.sql",
        "CREATE TABLE orders (id INTEGER);\n",
    );
    for action in ["apply", "status", "plan"] {
        let (_, output) = run_in(&project, &["migrate", action], 2);
        output
            .stderr_has("error: migration file `migrations/add_orders.sql` does not match `<version>_<name>.sql`")
            .stderr_has("hint: rename it to `<digits>_<name>.sql`, e.g. `0001_add_orders.sql`");
    }
    assert!(!project.path().join("app.db").exists());
}

#[test]
fn duplicate_versions_and_a_missing_dir_are_usage_errors() {
    let project = project().file("migrations/2_other.sql", "SELECT 1;\n");
    let (_, output) = run_in(&project, &["migrate", "apply"], 2);
    output.stderr_has("error: migrations `migrations/0002_add_email.sql` and `migrations/2_other.sql` share version `2`");

    Test::new()
        .config(CONFIG)
        .args(["migrate", "status"])
        .run(2)
        .stderr_has("error: the migrations directory `migrations` does not exist")
        .stderr_has("hint: create `migrations`");
}

#[test]
fn a_database_that_cannot_be_opened_is_an_infrastructure_error() {
    // `app.db` is a directory: SQLite cannot open it.
    let project = project().file("app.db/keep", "").args(["migrate", "apply"]);
    project
        .run(3)
        .stderr_has("error: failed to open the database `sqlite://app.db`");
}

#[test]
fn down_migrations_are_not_applied() {
    let project = project()
        .file("migrations/0002_add_email.down.sql", "DROP TABLE users;\n")
        .args(["migrate", "apply"]);
    project.run(0).stdout_has("2 applied").nowhere("down");
    assert_eq!(tables(&project), ["shipgate_migrations", "users"]);
}

#[test]
fn without_a_backup_a_half_applied_run_needs_a_human() {
    let config = format!("{CONFIG}backup = \"none\"\n");
    let project = Test::new()
        .config(&config)
        .file("migrations/0001_create_users.sql", CREATE_USERS)
        .args(["migrate", "apply"]);
    project
        .run(0)
        .stdout_has("- backup disabled by `migrate.backup = \"none\"`");
    write(
        &project,
        "migrations/0002_create_orders.sql",
        "CREATE TABLE orders (id INTEGER);\n",
    );
    write(
        &project,
        "migrations/0003_broken.sql",
        "SELECT * FROM nowhere;\n",
    );

    let (_, output) = run_in(&project, &["migrate", "apply"], 5);
    output
        .stdout_has("✗ 0003_broken no such table: nowhere")
        .stdout_has("! restore no backup to restore: `0002` stays applied")
        .stdout_has("✗ migrate 1 applied, `0003_broken` failed")
        .stdout_has("a human is needed now (exit 5")
        .nowhere("backup:");
    assert!(backups(&project).is_empty());
    assert_eq!(
        tables(&project),
        ["orders", "shipgate_migrations", "users"],
        "0002 stays: nothing to restore"
    );
}
