//! `shipgate migrate` against a real PostgreSQL, each test in its own
//! database (see `support::postgres`): applying, adoption, refusals, the
//! advisory lock, lock timeouts with blockers, a real `PgBouncer` refused,
//! files that cannot run in a transaction, failed runs and their
//! resolution, failures that leave no trace, and backup/restore.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use crate::support::Test;
use crate::support::pgbouncer::PgBouncer;
use crate::support::postgres::TestDatabase;

const CONFIG: &str = r#"
[environments.local]
database = "${DATABASE_URL}"

[migrate]
dir = "migrations"
lock_timeout = "300ms"
lock_wait = "20s"
retries = 5
"#;

const CREATE_USERS: &str = "CREATE TABLE users (\n    id serial PRIMARY KEY,\n    name text NOT NULL\n);\nINSERT INTO users (name) VALUES ('ada; lovelace'), ('grace');\n";
const ADD_EMAIL: &str = "-- a function whose body holds semicolons\nCREATE FUNCTION greet(who text) RETURNS text AS $$\nBEGIN\n    RETURN 'hi; ' || who;\nEND;\n$$ LANGUAGE plpgsql;\nALTER TABLE users ADD COLUMN email text;\n";

fn project(database: &TestDatabase) -> Test {
    project_with(database, CONFIG)
}

fn project_with(database: &TestDatabase, config: &str) -> Test {
    Test::new()
        .config(config)
        .env("DATABASE_URL", database.url())
        .file("migrations/0001_create_users.sql", CREATE_USERS)
        .file("migrations/0002_add_email.sql", ADD_EMAIL)
}

fn write(test: &Test, relative: &str, contents: &str) {
    fs_err::write(test.path().join(relative), contents).unwrap();
}

fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn history(database: &TestDatabase) -> Vec<String> {
    database.column(
        "SELECT version || ' ' || name || ' ' || success FROM shipgate_migrations ORDER BY version",
    )
}

#[test]
fn postgres_applies_from_empty_then_a_second_apply_is_a_no_op() {
    let database = TestDatabase::new();
    let test = project(&database).args(["migrate", "apply"]);
    test.run(0)
        .stdout_has("✓ 0001_create_users applied")
        .stdout_has("✓ 0002_add_email applied")
        .stdout_has("✓ backup");
    assert_eq!(
        history(&database),
        ["0001 create_users true", "0002 add_email true"]
    );
    assert_eq!(
        database.column("SELECT checksum FROM shipgate_migrations ORDER BY version"),
        [sha256(CREATE_USERS), sha256(ADD_EMAIL)]
    );
    assert_eq!(
        database.column("SELECT greet(name) FROM users ORDER BY id"),
        ["hi; ada; lovelace", "hi; grace"]
    );
    assert_eq!(test.backups().len(), 1, "one backup before the first run");
    let state: serde_json::Value = serde_json::from_str(
        &fs_err::read_to_string(test.path().join(".state/state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        state["backup_bytes"].as_u64(),
        Some(fs_err::metadata(&test.backups()[0]).unwrap().len())
    );
    assert!(
        state["backup_position"]
            .as_str()
            .is_some_and(|position| position.starts_with("WAL LSN ")),
        "{state}"
    );

    Test::args_for(&test, ["migrate", "apply"])
        .run(0)
        .stdout_has("nothing pending");
    assert_eq!(test.backups().len(), 1, "no backup when nothing is pending");
    Test::args_for(&test, ["migrate", "status"])
        .run(0)
        .stdout_has("2 applied, 0 pending");
}

#[test]
fn postgres_adopts_a_history_written_before_without_reapplying() {
    let database = TestDatabase::new();
    database.query(CREATE_USERS);
    database.query(&format!(
        "CREATE TABLE shipgate_migrations (version text PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, \
         applied_at timestamptz NOT NULL DEFAULT now(), duration_ms bigint NOT NULL DEFAULT 0, applied_by text, \
         success boolean NOT NULL DEFAULT true);
         INSERT INTO shipgate_migrations (version, name, checksum) VALUES ('0001', 'create_users', '{}');",
        sha256(CREATE_USERS)
    ));
    let test = project(&database).args(["migrate", "status"]);
    test.run(0).stdout_has("1 applied, 1 pending");
    Test::args_for(&test, ["migrate", "apply"])
        .run(0)
        .stdout_has("✓ 0002_add_email applied")
        .nowhere("0001_create_users applied");
    assert_eq!(
        database.column("SELECT count(*) FROM users"),
        ["2"],
        "0001 was not applied again"
    );
}

#[test]
fn postgres_refuses_an_edited_applied_migration_before_changing_anything() {
    let database = TestDatabase::new();
    let test = project(&database).args(["migrate", "apply"]);
    test.run(0);
    write(
        &test,
        "migrations/0001_create_users.sql",
        "CREATE TABLE users (id int);\n",
    );
    write(
        &test,
        "migrations/0003_more.sql",
        "CREATE TABLE more (id int);\n",
    );
    Test::args_for(&test, ["migrate", "apply"])
        .run(2)
        .stderr_has("applied migration `migrations/0001_create_users.sql` was edited after it ran");
    assert_eq!(database.tables(), ["shipgate_migrations", "users"]);
}

#[test]
fn postgres_concurrent_runners_apply_each_migration_once() {
    let database = TestDatabase::new();
    let project = project(&database).file(
        "migrations/0001_create_users.sql",
        &format!("SELECT pg_sleep(0.5);\n{CREATE_USERS}"),
    );
    let config = project.path().join("shipgate.toml");
    let runner = || {
        Test::new().env("DATABASE_URL", database.url()).args([
            "--config",
            config.to_str().unwrap(),
            "migrate",
            "apply",
        ])
    };
    let (first, second) = (runner(), runner());
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| first.output());
        let b = scope.spawn(|| second.output());
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!((a.code, b.code), (0, 0), "{a:?}\n{b:?}");
    let applied = [&a, &b]
        .iter()
        .filter(|output| output.stdout.contains("0001_create_users applied"))
        .count();
    assert_eq!(applied, 1, "exactly one runner applies:\n{a:?}\n{b:?}");
    assert!(
        a.stdout.contains("nothing pending") || b.stdout.contains("nothing pending"),
        "the other found nothing pending:\n{a:?}\n{b:?}"
    );
    assert_eq!(
        history(&database),
        ["0001 create_users true", "0002 add_email true"]
    );
    assert_eq!(database.column("SELECT count(*) FROM users"), ["2"]);
}

#[test]
fn postgres_waits_for_the_advisory_lock_then_names_its_holder() {
    let database = TestDatabase::new();
    let holder = database.session();
    holder.query("SET application_name = 'other-runner'; SELECT pg_advisory_lock(1397246288)");
    let test = project_with(
        &database,
        &CONFIG.replace("lock_wait = \"20s\"", "lock_wait = \"1s\""),
    )
    .args(["migrate", "apply"]);
    test.run(3)
        .stderr_has("timed out after 1s waiting for the migration lock")
        .stderr_has(&format!("pid {} (`other-runner`", holder.pid()))
        .stderr_has("hint: wait for the other run to finish, or raise `migrate.lock_wait`");
    assert_eq!(database.tables(), Vec::<String>::new(), "nothing ran");
}

/// Spawns `shipgate migrate apply` for `test` with stderr piped.
fn spawn_apply(test: &Test, database: &TestDatabase) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .args(["migrate", "apply"])
        .current_dir(test.path())
        .env("NO_COLOR", "1")
        .env("SHIPGATE_STATE_DIR", test.path().join(".state"))
        .env("DATABASE_URL", database.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn postgres_lock_timeout_lists_the_blocker_and_retries_until_it_commits() {
    let database = TestDatabase::new();
    let test = project(&database).args(["migrate", "apply"]);
    fs_err::remove_file(test.path().join("migrations/0002_add_email.sql")).unwrap();
    test.run(0);
    write(
        &test,
        "migrations/0002_add_email.sql",
        "ALTER TABLE users ADD COLUMN email text;\n",
    );
    let blocker = database.session();
    blocker.query("BEGIN; SELECT count(*) FROM users");
    let blocker_pid = blocker.pid();

    let mut child = spawn_apply(&test, &database);
    let stderr = child.stderr.take().unwrap();
    let (lines, receiver) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            all.push_str(&line);
            all.push('\n');
            let _ = lines.send(line);
        }
        all
    });
    let retrying = receiver
        .recv_timeout(Duration::from_secs(30))
        .into_iter()
        .chain(receiver.iter())
        .find(|line| line.contains("retrying"))
        .expect("a retry warning");
    assert!(
        retrying.contains("migration `0002` timed out waiting for a lock")
            && retrying.contains(&format!("pid {blocker_pid} ")),
        "{retrying}"
    );
    blocker.query("COMMIT");
    let output = child.wait_with_output().unwrap();
    let stderr = reader.join().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("✓ 0002_add_email applied"), "{stdout}");
    assert_eq!(
        database.column("SELECT column_name FROM information_schema.columns WHERE table_name = 'users' ORDER BY ordinal_position"),
        ["id", "name", "email"]
    );
}

#[test]
fn postgres_lock_timeout_fails_after_its_retries_and_changes_nothing() {
    let database = TestDatabase::new();
    let config = CONFIG.replace("retries = 5", "retries = 1");
    let test = project_with(&database, &config).args(["migrate", "apply"]);
    fs_err::remove_file(test.path().join("migrations/0002_add_email.sql")).unwrap();
    test.run(0);
    write(
        &test,
        "migrations/0002_add_email.sql",
        "ALTER TABLE users ADD COLUMN email text;\n",
    );
    let blocker = database.session();
    blocker.query("BEGIN; SELECT count(*) FROM users");
    // Holds locks too, but not on `users`: PostgreSQL does not name it as
    // a blocker, and neither may shipgate.
    database.query("CREATE TABLE audit (id int)");
    let bystander = database.session();
    bystander.query("BEGIN; SELECT count(*) FROM audit");
    let output = Test::args_for(&test, ["migrate", "apply"]).run(1);
    output
        .stdout_has("✗ 0002_add_email migration `0002` timed out waiting for a lock; blocked by: ")
        .stdout_has(&format!("pid {} ", blocker.pid()))
        .stdout_has("SELECT count(*) FROM users")
        .nowhere(&format!("pid {} ", bystander.pid()))
        .stderr_has("retrying in");
    blocker.query("ROLLBACK");
    bystander.query("ROLLBACK");
    assert_eq!(history(&database), ["0001 create_users true"]);
}

#[test]
fn postgres_runs_create_index_concurrently_outside_a_transaction() {
    let database = TestDatabase::new();
    let test = project(&database)
        .file(
            "migrations/0003_index.sql",
            "CREATE INDEX CONCURRENTLY users_name ON users (name);\n",
        )
        .args(["migrate", "apply"]);
    test.run(0).stdout_has("✓ 0003_index applied");
    assert_eq!(
        database
            .column("SELECT indisvalid FROM pg_index WHERE indexrelid = 'users_name'::regclass"),
        ["t"]
    );
    assert_eq!(
        history(&database),
        [
            "0001 create_users true",
            "0002 add_email true",
            "0003 index true"
        ]
    );
}

#[test]
fn postgres_a_file_failing_outside_a_transaction_says_what_ran_and_blocks_the_next_run() {
    let database = TestDatabase::new();
    let config = format!("{CONFIG}backup = \"none\"\n");
    let test = project_with(&database, &config).args(["migrate", "apply"]);
    test.run(0);
    write(
        &test,
        "migrations/0003_index.sql",
        "-- shipgate:no-transaction\nCREATE INDEX CONCURRENTLY users_name ON users (name);\nUPDATE missing SET x = 1;\n",
    );
    Test::args_for(&test, ["migrate", "apply"])
        .run(5)
        .stdout_has(
            "! restore no backup to restore: the statements of `0003_index` that ran stay applied",
        )
        .stdout_has("relation \"missing\" does not exist (SQLSTATE 42P01, statement at line 3)")
        .stdout_has("the statement at line 2 ran and stays applied")
        .stdout_has("--> migrations/0003_index.sql:3");
    assert_eq!(
        history(&database),
        [
            "0001 create_users true",
            "0002 add_email true",
            "0003 index false"
        ]
    );
    Test::args_for(&test, ["migrate", "apply"])
        .run(1)
        .stderr_has("migration `0003_index` failed part-way in an earlier run and is not resolved; its log: failed to apply migration `0003`\nrelation \"missing\" does not exist")
        .stderr_has("`shipgate migrate resolve --rolled-back 0003_index`");
    Test::args_for(&test, ["migrate", "status"])
        .run(1)
        .stdout_has("2 applied, 0 pending, 1 failed")
        .stdout_has("✗ 0003_index failed part-way in a run started ")
        .stdout_has("relation \"missing\" does not exist")
        .stdout_has("--> migrations/0003_index.sql:1");

    // The human undoes what ran, fixes the file and says so.
    database.query("DROP INDEX users_name");
    write(
        &test,
        "migrations/0003_index.sql",
        "-- shipgate:no-transaction\nCREATE INDEX CONCURRENTLY users_name ON users (name);\n",
    );
    Test::args_for(&test, ["migrate", "resolve", "--rolled-back", "0003_index"])
        .run(0)
        .stdout_has("marked the failed run of `0003_index` as rolled back");
    Test::args_for(&test, ["migrate", "resolve", "--rolled-back", "0003_index"])
        .run(3)
        .stderr_has("cannot resolve migration `0003_index`: it has no failed row");
    Test::args_for(&test, ["migrate", "apply"])
        .run(0)
        .stdout_has("✓ 0003_index applied");
    assert_eq!(
        history(&database),
        [
            "0001 create_users true",
            "0002 add_email true",
            "0003 index true"
        ]
    );
}

#[test]
fn postgres_a_migration_failing_mid_file_leaves_no_trace() {
    let database = TestDatabase::new();
    let config = format!("{CONFIG}backup = \"none\"\n");
    let test = project_with(&database, &config).args(["migrate", "apply"]);
    test.run(0);
    write(
        &test,
        "migrations/0003_broken.sql",
        "CREATE TABLE orders (id int);\nINSERT INTO orders VALUES (1);\nSELECT *\n  FROM missing;\n",
    );
    Test::args_for(&test, ["migrate", "apply"])
        .run(1)
        .stdout_has("✗ 0003_broken relation \"missing\" does not exist (SQLSTATE 42P01, statement at line 3)")
        .stdout_has("--> migrations/0003_broken.sql:4:8");
    assert_eq!(database.tables(), ["shipgate_migrations", "users"]);
    assert_eq!(
        history(&database),
        ["0001 create_users true", "0002 add_email true"]
    );
}

// issue 10, "Performance": a file is sent as one message; a statement that
// fails in the middle of it is still named by its line, both when
// PostgreSQL gives no position (a duplicate key) and when it does (counted
// in the whole message, mapped back into the file), and nothing after it runs.
#[test]
fn postgres_a_failure_mid_batch_is_located_at_its_statement() {
    let database = TestDatabase::new();
    let config = format!("{CONFIG}backup = \"none\"\n");
    let test = project_with(&database, &config).args(["migrate", "apply"]);
    test.run(0);
    write(
        &test,
        "migrations/0003_orders.sql",
        "CREATE TABLE orders (id int PRIMARY KEY);\nINSERT INTO orders VALUES (1); -- the first row\n-- the same row again\nINSERT INTO orders\n  VALUES (1);\nCREATE TABLE after_failure (id int);\n",
    );
    Test::args_for(&test, ["migrate", "apply"])
        .run(1)
        .stdout_has("✗ 0003_orders duplicate key value violates unique constraint \"orders_pkey\"; detail: Key (id)=(1) already exists. (SQLSTATE 23505, statement at line 4)")
        .stdout_has("--> migrations/0003_orders.sql:4:1");
    write(
        &test,
        "migrations/0003_orders.sql",
        "CREATE TABLE orders (id int PRIMARY KEY);\nSELECT 1 -- a comment where the `;` would be\n;\nSELECT id,\n       nickname FROM users;\nCREATE TABLE after_failure (id int);\n",
    );
    Test::args_for(&test, ["migrate", "apply"])
        .run(1)
        .stdout_has("✗ 0003_orders column \"nickname\" does not exist (SQLSTATE 42703, statement at line 4)")
        .stdout_has("--> migrations/0003_orders.sql:5:8");
    assert_eq!(database.tables(), ["shipgate_migrations", "users"]);
    assert_eq!(
        history(&database),
        ["0001 create_users true", "0002 add_email true"]
    );
}

#[test]
fn postgres_backup_then_destructive_migration_then_restore_brings_the_data_back() {
    let database = TestDatabase::new();
    let test = project(&database).args(["migrate", "apply"]);
    test.run(0);
    write(
        &test,
        "migrations/0003_drop_users.sql",
        "DROP TABLE users;\nCREATE TABLE audit (id int);\n",
    );
    let before: Vec<_> = test.backups();
    Test::args_for(&test, ["migrate", "apply"])
        .run(0)
        .stdout_has("✓ 0003_drop_users applied");
    assert_eq!(database.tables(), ["audit", "shipgate_migrations"]);
    let backup = test
        .backups()
        .into_iter()
        .find(|path| !before.contains(path))
        .expect("a backup before 0003");
    Test::args_for(
        &test,
        ["migrate", "restore", "--backup", backup.to_str().unwrap()],
    )
    .run(0)
    .stdout_has("✓ restore restored")
    .stdout_has("its migration history `shipgate_migrations` matches the backup");
    assert_eq!(database.tables(), ["shipgate_migrations", "users"]);
    assert_eq!(
        database.column("SELECT name FROM users ORDER BY id"),
        ["ada; lovelace", "grace"]
    );
    assert_eq!(
        history(&database),
        ["0001 create_users true", "0002 add_email true"]
    );
}

/// The first `name` on `PATH`.
fn on_path(name: &str) -> std::path::PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("`{name}` is not on PATH"))
}

#[test]
fn postgres_a_restore_whose_history_differs_from_the_backup_is_a_failure() {
    let database = TestDatabase::new();
    let test = project(&database);
    let bin = test.path().join("bin");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let test = test.env("PATH", &path).args(["migrate", "apply"]);
    test.run(0);
    write(
        &test,
        "migrations/0003_audit.sql",
        "CREATE TABLE audit (id int);\n",
    );
    let before: Vec<_> = test.backups();
    Test::args_for(&test, ["migrate", "apply"]).run(0);
    let backup = test
        .backups()
        .into_iter()
        .find(|path| !before.contains(path))
        .expect("a backup before 0003");
    // A `pg_restore` that reports success but restores nothing: the real
    // one for everything else (listing, reading the backup's history).
    fs_err::create_dir_all(&bin).unwrap();
    fs_err::write(
        bin.join("pg_restore"),
        format!(
            "#!/bin/sh\ncase \" $* \" in *\" --clean \"*) exit 0;; esac\nexec {} \"$@\"\n",
            on_path("pg_restore").display()
        ),
    )
    .unwrap();
    fs_err::set_permissions(
        bin.join("pg_restore"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    Test::args_for(
        &test,
        ["migrate", "restore", "--backup", backup.to_str().unwrap()],
    )
    .run(3)
    .stderr_has("but its migration history `public.shipgate_migrations` does not match the backup: the backup holds 2 rows, the database 3 after the restore; only in the database: `0003 | audit | ")
    .stderr_has("hint: do not migrate until they agree");
}

#[test]
fn postgres_refuses_a_pg_dump_older_than_the_server_and_migrates_nothing() {
    let database = TestDatabase::new();
    let test = project(&database).file(
        "bin/pg_dump",
        "#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n",
    );
    let bin = test.path().join("bin");
    fs_err::set_permissions(
        bin.join("pg_dump"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let server_major =
        database.column("SELECT current_setting('server_version_num')::int / 10000")[0].clone();
    test.env("PATH", &path)
        .args(["migrate", "apply"])
        .run(3)
        .stderr_has(&format!(
            "error: `pg_dump` is too old for this server: `pg_dump (PostgreSQL) 9.6.24` cannot dump PostgreSQL {server_major}"
        ))
        .stderr_has(&format!("apt-get install postgresql-client-{server_major}"));
    assert_eq!(
        database.tables(),
        Vec::<String>::new(),
        "a failed backup migrates nothing"
    );
}

#[test]
fn postgres_connection_errors_name_the_target_never_the_password() {
    let port = crate::support::free_port();
    Test::new()
        .config(CONFIG)
        .env(
            "DATABASE_URL",
            &format!("postgres://app:hunter2@127.0.0.1:{port}/appdb?sslmode=disable"),
        )
        .file("migrations/0001_a.sql", "SELECT 1;\n")
        .args(["migrate", "status"])
        .run(3)
        .stderr_has(&format!(
            "failed to connect to PostgreSQL at host `127.0.0.1` port {port} database `appdb` as `app`, TLS not tried (`sslmode=disable`)"
        ))
        .nowhere("hunter2");
}

#[test]
fn postgres_a_transaction_pooler_port_asks_for_the_direct_url() {
    Test::new()
        .config(CONFIG)
        .env("DATABASE_URL", "postgres://app@127.0.0.1:6543/appdb")
        .file("migrations/0001_a.sql", "SELECT 1;\n")
        .args(["migrate", "status"])
        .run(3)
        .stderr_has("looks like a transaction pooler")
        .stderr_has("add `direct_url = \"${DIRECT_URL}\"`");
    let database = TestDatabase::new();
    Test::new()
        .config(&CONFIG.replace(
            "database = \"${DATABASE_URL}\"",
            "database = \"postgres://app@127.0.0.1:6543/appdb\"\ndirect_url = \"${DIRECT_URL}\"",
        ))
        .env("DIRECT_URL", database.url())
        .file("migrations/0001_a.sql", "CREATE TABLE a (id int);\n")
        .args(["migrate", "apply"])
        .run(0)
        .stdout_has("✓ 0001_a applied");
    assert_eq!(database.tables(), ["a", "shipgate_migrations"]);
}

#[test]
fn postgres_a_real_pgbouncer_on_any_port_is_caught_by_its_shared_session() {
    let database = TestDatabase::new();
    let bouncer = PgBouncer::start();
    let pooled = bouncer.url(&database);
    let test = project(&database)
        .env("DATABASE_URL", &pooled)
        .args(["migrate", "apply"]);
    test.run(3)
        .stderr_has("looks like a transaction pooler: ")
        .stderr_has("server session")
        .stderr_has("so a session lock would not stay with this run")
        .stderr_has("add `direct_url = \"${DIRECT_URL}\"`");
    assert_eq!(database.tables(), Vec::<String>::new(), "nothing ran");
    // issue 10, item 12: the pooler is detected before any lock is taken,
    // so none is left on the server connections PgBouncer keeps open (this
    // database's only: other tests hold theirs meanwhile).
    assert_eq!(
        database.column(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ),
        ["0"],
        "no session lock is left behind on the pooler's server connection"
    );

    // Reads through the pooler are fine; migrations take the direct URL.
    Test::args_for(&test, ["migrate", "status"])
        .run(0)
        .stdout_has("0 applied, 2 pending");
    let direct = project_with(
        &database,
        &CONFIG.replace(
            "database = \"${DATABASE_URL}\"",
            "database = \"${DATABASE_URL}\"\ndirect_url = \"${DIRECT_URL}\"",
        ),
    )
    .env("DATABASE_URL", &pooled)
    .env("DIRECT_URL", database.url())
    .args(["migrate", "apply"]);
    direct.run(0).stdout_has("✓ 0002_add_email applied");
    drop(bouncer);
}

const PRISMA_CONFIG: &str = r#"
[environments.local]
database = "${DATABASE_URL}"

[migrate]
dir = "prisma/migrations"
lock_wait = "20s"
"#;

const PRISMA_INIT: &str = "-- CreateTable\nCREATE TABLE \"User\" (\n    \"id\" SERIAL NOT NULL,\n    \"email\" TEXT NOT NULL,\n    CONSTRAINT \"User_pkey\" PRIMARY KEY (\"id\")\n);\n";
const PRISMA_POSTS: &str =
    "-- CreateTable\nCREATE TABLE \"Post\" (\"id\" SERIAL NOT NULL, \"title\" TEXT NOT NULL);\n";

/// Prisma's `_prisma_migrations`, as `prisma migrate` creates it.
const PRISMA_TABLE: &str = "CREATE TABLE _prisma_migrations (id VARCHAR(36) PRIMARY KEY NOT NULL, checksum VARCHAR(64) NOT NULL, finished_at TIMESTAMPTZ, migration_name VARCHAR(255) NOT NULL, logs TEXT, rolled_back_at TIMESTAMPTZ, started_at TIMESTAMPTZ NOT NULL DEFAULT now(), applied_steps_count INTEGER NOT NULL DEFAULT 0)";

fn prisma_project(database: &TestDatabase) -> Test {
    Test::new()
        .config(PRISMA_CONFIG)
        .env("DATABASE_URL", database.url())
        .file(
            "prisma/migrations/migration_lock.toml",
            "# Please do not edit this file manually\nprovider = \"postgresql\"\n",
        )
        .file(
            "prisma/migrations/20240101000000_init/migration.sql",
            PRISMA_INIT,
        )
        .file(
            "prisma/migrations/20240102000000_posts/migration.sql",
            PRISMA_POSTS,
        )
}

fn prisma_rows(database: &TestDatabase) -> Vec<String> {
    database.column(
        "SELECT migration_name || ' ' || (finished_at IS NOT NULL) || ' ' || (rolled_back_at IS NOT NULL) || ' ' || applied_steps_count \
         FROM _prisma_migrations ORDER BY started_at, migration_name",
    )
}

#[test]
fn prisma_layout_is_detected_and_rows_are_written_as_prisma_writes_them() {
    let database = TestDatabase::new();
    let test = prisma_project(&database).args(["migrate", "status"]);
    test.run(0)
        .stdout_has("0 applied, 2 pending; layout `prisma` (`_prisma_migrations`)");
    Test::args_for(&test, ["migrate", "apply"])
        .run(0)
        .stdout_has("✓ 20240101000000_init applied")
        .stdout_has("✓ 20240102000000_posts applied");
    assert_eq!(
        prisma_rows(&database),
        [
            "20240101000000_init true false 1",
            "20240102000000_posts true false 1"
        ]
    );
    assert_eq!(
        database.column(
            "SELECT checksum || ' ' || (id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$') \
             FROM _prisma_migrations ORDER BY migration_name"
        ),
        [
            format!("{} true", sha256(PRISMA_INIT)),
            format!("{} true", sha256(PRISMA_POSTS))
        ]
    );
    assert_eq!(database.tables(), ["Post", "User", "_prisma_migrations"]);
    Test::args_for(&test, ["migrate", "apply"])
        .run(0)
        .stdout_has("nothing pending");
}

#[test]
fn prisma_history_is_adopted_with_crlf_and_legacy_checksums() {
    let database = TestDatabase::new();
    database.query(PRISMA_TABLE);
    database.query(PRISMA_INIT);
    database.query(PRISMA_POSTS);
    // As written on Windows (CRLF), and as old Prisma versions wrote
    // checksums: hex without zero padding.
    let crlf = sha256(&PRISMA_INIT.replace('\n', "\r\n"));
    let legacy = Sha256::digest(PRISMA_POSTS.as_bytes())
        .iter()
        .fold(String::new(), |text, byte| text + &format!("{byte:x}"));
    database.query(&format!(
        "INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, started_at, applied_steps_count) VALUES \
         ('0b3c8f0e-6d1a-4c53-9a43-2f0f4a2b9d11', '{crlf}', now(), '20240101000000_init', now() - interval '1 minute', 1), \
         ('5e0f1c1e-8b0e-4f5e-8e7a-9b8c2d3e4f50', '{legacy}', now(), '20240102000000_posts', now(), 1)"
    ));
    let test = prisma_project(&database).args(["migrate", "status"]);
    test.run(0).stdout_has("2 applied, 0 pending");
    Test::args_for(&test, ["migrate", "apply"])
        .run(0)
        .stdout_has("nothing pending");
    write(
        &test,
        "prisma/migrations/20240102000000_posts/migration.sql",
        "CREATE TABLE \"Post\" (\"id\" BIGINT);\n",
    );
    Test::args_for(&test, ["migrate", "apply"])
        .run(2)
        .stderr_has("applied migration `prisma/migrations/20240102000000_posts/migration.sql` was edited after it ran");
}

#[test]
fn prisma_failed_row_stops_the_run_until_resolved_either_way() {
    let database = TestDatabase::new();
    let test = prisma_project(&database)
        .file(
            "prisma/migrations/20240103000000_tags/migration.sql",
            "CREATE TABLE \"Tag\" (\"id\" SERIAL NOT NULL);\n",
        )
        .args(["migrate", "apply"]);
    fs_err::remove_dir_all(test.path().join("prisma/migrations/20240102000000_posts")).unwrap();
    fs_err::remove_dir_all(test.path().join("prisma/migrations/20240103000000_tags")).unwrap();
    test.run(0);
    write_dir(
        &test,
        "prisma/migrations/20240102000000_posts",
        PRISMA_POSTS,
    );
    write_dir(
        &test,
        "prisma/migrations/20240103000000_tags",
        "CREATE TABLE \"Tag\" (\"id\" SERIAL NOT NULL);\n",
    );
    // `prisma migrate deploy` failed on both, as Prisma records it.
    database.query(&format!(
        "INSERT INTO _prisma_migrations (id, checksum, migration_name, logs, started_at, applied_steps_count) VALUES \
         ('7d1b9a52-2c8e-4b7f-9f31-0c5a6e8d2b10', '{}', '20240102000000_posts', 'Database error: boom', now(), 0)",
        sha256(PRISMA_POSTS)
    ));
    Test::args_for(&test, ["migrate", "status"])
        .run(1)
        .stdout_has("1 applied, 1 pending, 1 failed")
        .stdout_has("✗ 20240102000000_posts failed part-way")
        .stdout_has("Database error: boom");
    Test::args_for(&test, ["migrate", "apply"])
        .run(1)
        .stderr_has("migration `20240102000000_posts` failed part-way in an earlier run and is not resolved; its log: Database error: boom")
        .stderr_has("`shipgate migrate resolve --rolled-back 20240102000000_posts`")
        .stderr_has("`shipgate migrate resolve --applied 20240102000000_posts`");
    assert_eq!(
        database.tables(),
        ["User", "_prisma_migrations"],
        "nothing ran"
    );

    Test::args_for(
        &test,
        [
            "migrate",
            "resolve",
            "--rolled-back",
            "20240102000000_posts",
        ],
    )
    .run(0)
    .stdout_has("marked the failed run of `20240102000000_posts` as rolled back");
    Test::args_for(
        &test,
        [
            "migrate",
            "resolve",
            "--rolled-back",
            "20240102000000_posts",
        ],
    )
    .run(3)
    .stderr_has("cannot resolve migration `20240102000000_posts`: it has no failed row");
    database.query(
        "INSERT INTO _prisma_migrations (id, checksum, migration_name, logs, started_at, applied_steps_count) VALUES \
         ('9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d', 'x', '20240103000000_tags', 'Database error: tags', now() + interval '1 second', 0)",
    );
    Test::args_for(
        &test,
        ["migrate", "resolve", "--applied", "20240103000000_tags"],
    )
    .run(0)
    .stdout_has("recorded `20240103000000_tags` as applied");
    Test::args_for(&test, ["migrate", "apply"])
        .run(0)
        .stdout_has("✓ 20240102000000_posts applied")
        .nowhere("20240103000000_tags applied");
    assert_eq!(
        database.tables(),
        ["Post", "User", "_prisma_migrations"],
        "posts ran again, tags was only recorded"
    );
    assert_eq!(
        database.column(
            "SELECT migration_name || ' ' || (finished_at IS NOT NULL) || ' ' || (rolled_back_at IS NOT NULL) \
             FROM _prisma_migrations WHERE migration_name <> '20240101000000_init' ORDER BY migration_name, finished_at IS NOT NULL"
        ),
        [
            "20240102000000_posts false true",
            "20240102000000_posts true false",
            "20240103000000_tags false true",
            "20240103000000_tags true false"
        ]
    );
}

fn write_dir(test: &Test, relative: &str, sql: &str) {
    fs_err::create_dir_all(test.path().join(relative)).unwrap();
    write(test, &format!("{relative}/migration.sql"), sql);
}

#[test]
fn prisma_advisory_lock_is_held_too() {
    let database = TestDatabase::new();
    let prisma = database.session();
    prisma.query("SELECT pg_advisory_lock(72707369)");
    prisma_project(&database)
        .config(&PRISMA_CONFIG.replace("lock_wait = \"20s\"", "lock_wait = \"1s\""))
        .args(["migrate", "apply"])
        .run(3)
        .stderr_has("waiting for the migration lock")
        .stderr_has("held by `prisma migrate` (Prisma's lock)")
        .stderr_has(&format!("pid {} ", prisma.pid()));
    assert_eq!(database.tables(), Vec::<String>::new());
}

#[test]
fn prisma_lock_file_for_another_provider_is_refused() {
    let database = TestDatabase::new();
    prisma_project(&database)
        .file(
            "prisma/migrations/migration_lock.toml",
            "provider = \"mysql\"\n",
        )
        .args(["migrate", "status"])
        .run(2)
        .stderr_has("`prisma/migrations/migration_lock.toml` says `provider = \"mysql\"`");
}

fn layout_project(database: &TestDatabase, dir: &str, files: &[(&str, &str)]) -> Test {
    let mut test = Test::new()
        .config(&format!(
            "[environments.local]\ndatabase = \"${{DATABASE_URL}}\"\n[migrate]\ndir = \"{dir}\"\n"
        ))
        .env("DATABASE_URL", database.url());
    for (name, sql) in files {
        test = test.file(&format!("{dir}/{name}"), sql);
    }
    test
}

#[test]
fn supabase_layout_writes_its_history_and_adopts_an_existing_one() {
    let database = TestDatabase::new();
    database.query(
        "CREATE SCHEMA supabase_migrations; CREATE TABLE supabase_migrations.schema_migrations (version text PRIMARY KEY, statements text[], name text); \
         CREATE TABLE profiles (id int); \
         INSERT INTO supabase_migrations.schema_migrations VALUES ('20240101000000', ARRAY['CREATE TABLE profiles (id int)'], 'profiles')",
    );
    let test = layout_project(
        &database,
        "supabase/migrations",
        &[
            (
                "20240101000000_profiles.sql",
                "CREATE TABLE profiles (id int);\n",
            ),
            (
                "20240102000000_posts.sql",
                "CREATE TABLE posts (id int);\nCREATE INDEX posts_id ON posts (id);\n",
            ),
        ],
    )
    .args(["migrate", "status"]);
    test.run(0).stdout_has(
        "1 applied, 1 pending; layout `supabase` (`supabase_migrations.schema_migrations`)",
    );
    Test::args_for(&test, ["migrate", "apply"])
        .run(0)
        .stdout_has("✓ 20240102000000_posts applied")
        .nowhere("20240101000000_profiles applied");
    assert_eq!(
        database.column(
            "SELECT version || ' ' || name || ' ' || array_to_string(statements, ' | ') FROM supabase_migrations.schema_migrations ORDER BY version"
        ),
        [
            "20240101000000 profiles CREATE TABLE profiles (id int)",
            "20240102000000 posts CREATE TABLE posts (id int) | CREATE INDEX posts_id ON posts (id)"
        ]
    );
}

#[test]
fn supabase_refuses_an_older_local_migration_unless_include_all() {
    let database = TestDatabase::new();
    let test = layout_project(
        &database,
        "supabase/migrations",
        &[("20240102000000_posts.sql", "CREATE TABLE posts (id int);\n")],
    )
    .args(["migrate", "apply"]);
    test.run(0);
    write(
        &test,
        "supabase/migrations/20240101000000_early.sql",
        "CREATE TABLE early (id int);\n",
    );
    Test::args_for(&test, ["migrate", "apply"])
        .run(2)
        .stderr_has("local migrations are older than the newest applied one (`20240102000000`): 20240101000000_early")
        .stderr_has("hint: pass `--include-all`");
    Test::args_for(&test, ["migrate", "apply", "--include-all"])
        .run(0)
        .stdout_has("✓ 20240101000000_early applied");
    assert_eq!(
        database.tables(),
        ["early", "posts"],
        "Supabase's table lives in its own schema"
    );
}

#[test]
fn supabase_dbmate_and_plain_histories_written_by_their_tools_are_adopted_with_nothing_pending() {
    let users = "CREATE TABLE users (id int);\n";
    let posts = "CREATE TABLE posts (id int);\n";
    let dbmate = |sql: &str| format!("-- migrate:up\n{sql}\n-- migrate:down\nSELECT 1;\n");
    let cases = [
        (
            "supabase/migrations",
            [users.to_owned(), posts.to_owned()],
            "CREATE SCHEMA supabase_migrations; \
             CREATE TABLE supabase_migrations.schema_migrations (version text PRIMARY KEY, statements text[], name text); \
             INSERT INTO supabase_migrations.schema_migrations VALUES \
             ('20240101000000', ARRAY['CREATE TABLE users (id int)'], 'users'), \
             ('20240102000000', ARRAY['CREATE TABLE posts (id int)'], 'posts')"
                .to_owned(),
            "layout `supabase`",
        ),
        (
            "db/migrations",
            [dbmate(users), dbmate(posts)],
            "CREATE TABLE schema_migrations (version varchar(255) PRIMARY KEY); \
             INSERT INTO schema_migrations VALUES ('20240101000000'), ('20240102000000')"
                .to_owned(),
            "layout `dbmate`",
        ),
        (
            "migrations",
            [users.to_owned(), posts.to_owned()],
            format!(
                "CREATE TABLE shipgate_migrations (version text PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, \
                 applied_at timestamptz NOT NULL DEFAULT now(), duration_ms bigint NOT NULL DEFAULT 0, applied_by text, \
                 success boolean NOT NULL DEFAULT true); \
                 INSERT INTO shipgate_migrations (version, name, checksum) VALUES \
                 ('20240101000000', 'users', '{}'), ('20240102000000', 'posts', '{}')",
                sha256(users),
                sha256(posts)
            ),
            "layout `plain`",
        ),
    ];
    for (dir, [first, second], history, layout) in cases {
        let database = TestDatabase::new();
        database.query("CREATE TABLE users (id int); CREATE TABLE posts (id int)");
        database.query(&history);
        let test = layout_project(
            &database,
            dir,
            &[
                ("20240101000000_users.sql", &first),
                ("20240102000000_posts.sql", &second),
            ],
        )
        .args(["migrate", "status"]);
        test.run(0)
            .stdout_has(&format!("2 applied, 0 pending; {layout}"));
        Test::args_for(&test, ["migrate", "apply"])
            .run(0)
            .stdout_has("nothing pending");
        assert!(
            test.backups().is_empty(),
            "{dir}: nothing pending, no backup"
        );
    }
}

#[test]
fn supabase_and_dbmate_remember_a_part_way_failure_their_tables_cannot_hold() {
    for (dir, file, table, sql) in [
        (
            "supabase/migrations",
            "20240102000000_index.sql",
            "supabase_migrations.schema_migrations",
            "-- shipgate:no-transaction\nCREATE INDEX CONCURRENTLY users_id ON users (id);\nCREATE INDEX CONCURRENTLY broken ON missing (id);\n",
        ),
        (
            "db/migrations",
            "20240102000000_index.sql",
            "schema_migrations",
            "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY users_id ON users (id);\nCREATE INDEX CONCURRENTLY broken ON missing (id);\n-- migrate:down\nDROP INDEX users_id;\n",
        ),
    ] {
        let database = TestDatabase::new();
        let users = if dir.starts_with("db/") {
            "-- migrate:up\nCREATE TABLE users (id int);\n-- migrate:down\nDROP TABLE users;\n"
        } else {
            "CREATE TABLE users (id int);\n"
        };
        let test = layout_project(&database, dir, &[("20240101000000_users.sql", users)])
            .config(&format!(
                "[environments.local]\ndatabase = \"${{DATABASE_URL}}\"\n[migrate]\ndir = \"{dir}\"\nbackup = \"none\"\n"
            ))
            .args(["migrate", "apply"]);
        test.run(0);
        write(&test, &format!("{dir}/{file}"), sql);
        Test::args_for(&test, ["migrate", "apply"])
            .run(5)
            .stdout_has("the statement at line 2 ran and stays applied");
        let versions = format!("SELECT version FROM {table} ORDER BY version");
        assert_eq!(database.column(&versions), ["20240101000000"], "{dir}");
        assert_eq!(
            database.column("SELECT version || ' ' || (logs LIKE '%relation \"missing\" does not exist%') FROM shipgate_failed_migrations"),
            ["20240102000000 true"],
            "{dir}: the failed run is remembered beside the tool's table"
        );
        Test::args_for(&test, ["migrate", "apply"])
            .run(1)
            .stderr_has("migration `20240102000000_index` failed part-way in an earlier run and is not resolved");
        Test::args_for(&test, ["migrate", "status"])
            .run(1)
            .stdout_has("1 applied, 0 pending, 1 failed");

        // The human finishes the file by hand and records it applied.
        database.query("CREATE INDEX broken ON users (id)");
        Test::args_for(
            &test,
            ["migrate", "resolve", "--applied", "20240102000000_index"],
        )
        .run(0)
        .stdout_has("recorded `20240102000000_index` as applied");
        assert_eq!(
            database.column(&versions),
            ["20240101000000", "20240102000000"],
            "{dir}"
        );
        assert!(
            !database
                .tables()
                .contains(&"shipgate_failed_migrations".to_owned()),
            "{dir}: the table goes once nothing failed is left"
        );
        Test::args_for(&test, ["migrate", "apply"])
            .run(0)
            .stdout_has("nothing pending");
    }
}

#[test]
fn dbmate_layout_runs_the_up_section_and_records_the_version() {
    let database = TestDatabase::new();
    database.query(
        "CREATE TABLE schema_migrations (version varchar(255) PRIMARY KEY); CREATE TABLE users (id int); \
         INSERT INTO schema_migrations VALUES ('20240101000000')",
    );
    let test = layout_project(
        &database,
        "db/migrations",
        &[
            (
                "20240101000000_users.sql",
                "-- migrate:up\nCREATE TABLE users (id int);\n\n-- migrate:down\nDROP TABLE users;\n",
            ),
            (
                "20240102000000_index.sql",
                "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY users_id ON users (id);\n\n-- migrate:down\nDROP INDEX users_id;\n",
            ),
        ],
    )
    .args(["migrate", "apply"]);
    test.run(0)
        .stdout_has("✓ 20240102000000_index applied")
        .nowhere("20240101000000_users applied");
    assert_eq!(
        database.column("SELECT version FROM schema_migrations ORDER BY version"),
        ["20240101000000", "20240102000000"]
    );
    assert_eq!(
        database.column("SELECT indexname FROM pg_indexes WHERE tablename = 'users'"),
        ["users_id"],
        "the up section ran, the down section did not"
    );
    Test::args_for(&test, ["migrate", "status"])
        .run(0)
        .stdout_has("2 applied, 0 pending; layout `dbmate` (`schema_migrations`)");
    write(
        &test,
        "db/migrations/20240103000000_broken.sql",
        "-- migrate:up\nCREATE TABLE broken (id int);\n",
    );
    Test::args_for(&test, ["migrate", "apply"])
        .run(2)
        .stderr_has("error: dbmate migration `db/migrations/20240103000000_broken.sql` is refused: dbmate requires each migration to define a down block with '-- migrate:down'")
        .stderr_has("--> db/migrations/20240103000000_broken.sql:1")
        .stderr_has("hint: add a `-- migrate:down` line");
}

/// Issue 11, item 1: dbmate's markers are whole lines at column 0. An
/// indented `-- migrate:down`, a `-- migrate:downgrade …` comment and a
/// marker-like line inside a function body used to cut the up section,
/// and the file was recorded as applied with statements never run.
#[test]
fn dbmate_runs_every_statement_dbmate_runs_and_refuses_what_it_refuses() {
    let database = TestDatabase::new();
    let test = layout_project(
        &database,
        "db/migrations",
        &[(
            "20240101000000_widgets.sql",
            "-- migrate:up\nCREATE TABLE widget (id int);\n    -- migrate:down must also drop widget_audit\n\
             CREATE TABLE widget_audit (id int);\n-- migrate:downgrade path: see docs\nCREATE TABLE widget_log (id int);\n\
             CREATE FUNCTION widget_count() RETURNS bigint AS $$\n    -- migrate:down inside a body\n    SELECT count(*) FROM widget;\n$$ LANGUAGE sql;\n\
             -- migrate:down\nDROP TABLE widget;\n",
        )],
    )
    .args(["migrate", "apply"]);
    test.run(0).stdout_has("✓ 20240101000000_widgets applied");
    assert_eq!(
        database.column(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE 'widget%' ORDER BY tablename"
        ),
        ["widget", "widget_audit", "widget_log"]
    );
    assert_eq!(database.column("SELECT widget_count()::text"), ["0"]);

    for (file, reason, line) in [
        (
            "-- migrate:down\nDROP TABLE gadget;\n-- migrate:up\nCREATE TABLE gadget (id int);\n",
            "dbmate does not support statements preceding the '-- migrate:up' block",
            2,
        ),
        (
            "CREATE TABLE gadget (id int);\n-- migrate:up\nSELECT 1;\n-- migrate:down\n",
            "dbmate does not support statements preceding the '-- migrate:up' block",
            1,
        ),
        (
            "  -- migrate:up\nCREATE TABLE gadget (id int);\n-- migrate:down\n",
            "dbmate requires each migration to define an up block with '-- migrate:up'",
            1,
        ),
    ] {
        write(&test, "db/migrations/20240102000000_gadget.sql", file);
        Test::args_for(&test, ["migrate", "apply"])
            .run(2)
            .stderr_has(&format!(
                "dbmate migration `db/migrations/20240102000000_gadget.sql` is refused: {reason}"
            ))
            .stderr_has(&format!(
                "--> db/migrations/20240102000000_gadget.sql:{line}"
            ));
        assert!(
            database
                .column("SELECT tablename FROM pg_tables WHERE tablename = 'gadget'")
                .is_empty(),
            "a refused file changes nothing"
        );
    }
    Test::args_for(&test, ["migrate", "apply"])
        .run(2)
        .stderr_has("hint: line 1 holds an indented `-- migrate:up`: dbmate reads markers only at the start of a line, so remove the indentation");
}

#[test]
fn prisma_url_parameters_set_the_schema_and_pgbouncer_asks_for_the_direct_url() {
    let database = TestDatabase::new();
    database.query("CREATE SCHEMA app");
    let test = prisma_project(&database)
        .env(
            "DATABASE_URL",
            &format!("{}?schema=app&connection_limit=5", database.url()),
        )
        .args(["migrate", "apply"]);
    test.run(0).stdout_has("✓ 20240101000000_init applied");
    assert_eq!(
        database.column("SELECT count(*) FROM app._prisma_migrations"),
        ["2"]
    );
    assert_eq!(
        database.tables(),
        Vec::<String>::new(),
        "nothing in `public`"
    );
    prisma_project(&database)
        .env(
            "DATABASE_URL",
            &format!("{}?pgbouncer=true", database.url()),
        )
        .args(["migrate", "status"])
        .run(3)
        .stderr_has("looks like a transaction pooler: the URL says `pgbouncer=true`");
}

#[test]
fn postgres_sslmode_is_honoured() {
    let database = TestDatabase::new();
    let ssl = database.column("SHOW ssl")[0].clone();
    let test = project(&database)
        .env(
            "DATABASE_URL",
            &format!("{}?sslmode=prefer", database.url()),
        )
        .args(["migrate", "status"]);
    test.run(0).stdout_has("0 applied, 2 pending");
    let require = project(&database)
        .env(
            "DATABASE_URL",
            &format!("{}?sslmode=require", database.url()),
        )
        .args(["migrate", "status"]);
    if ssl == "on" {
        require.run(0);
    } else {
        // The server has no TLS: `require` must fail rather than fall back.
        require.run(3).stderr_has("TLS tried (`sslmode=require`)");
    }
    project(&database)
        .env("DATABASE_URL", &format!("{}?sslmode=sometimes", database.url()))
        .args(["migrate", "status"])
        .run(2)
        .stderr_has("`sslmode=sometimes` is not one of `disable`, `allow`, `prefer`, `require`, `verify-ca`, `verify-full`");
}

#[test]
fn prisma_a_migration_failing_part_way_outside_a_transaction_leaves_a_failed_row() {
    let database = TestDatabase::new();
    let test = prisma_project(&database)
        .config(&format!("{PRISMA_CONFIG}backup = \"none\"\n"))
        .args(["migrate", "apply"]);
    test.run(0);
    write_dir(
        &test,
        "prisma/migrations/20240103000000_index/",
        "CREATE INDEX CONCURRENTLY \"User_email\" ON \"User\" (\"email\");\nCREATE INDEX CONCURRENTLY broken ON missing (id);\n",
    );
    Test::args_for(&test, ["migrate", "apply"])
        .run(5)
        .stdout_has("the statement at line 1 ran and stays applied");
    assert_eq!(
        database.column(
            "SELECT (finished_at IS NULL) || ' ' || (rolled_back_at IS NULL) || ' ' || (logs LIKE '%relation \"missing\" does not exist%') \
             FROM _prisma_migrations WHERE migration_name = '20240103000000_index'"
        ),
        ["true true true"],
        "a failed row, as Prisma leaves it"
    );
    Test::args_for(&test, ["migrate", "apply"])
        .run(1)
        .stderr_has(
            "migration `20240103000000_index` failed part-way in an earlier run and is not resolved",
        );
}
