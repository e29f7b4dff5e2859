//! `shipgate migrate lint` through the real binary: located findings in the
//! human, JSON and GitHub formats, exit codes, `--all`/`--pending`, config
//! overrides, and the class summary of `migrate plan`.

use crate::support::Test;

const CONFIG: &str = "[environments.local]\ndatabase = \"sqlite://app.db\"\n";

const DROP_COLUMN: &str = "SET lock_timeout = '5s';\n\nALTER TABLE users DROP COLUMN legacy_id;\n";

#[test]
fn a_destructive_file_fails_with_its_location_and_a_caret() {
    let test = Test::new()
        .config(CONFIG)
        .file("db/0002_drop.sql", DROP_COLUMN)
        .args(["migrate", "lint", "db/0002_drop.sql"]);
    test.run(1)
        .stdout_has("✓ db/0002_drop.sql destructive: drops column users.legacy_id · 2 statement(s): 1 additive, 1 destructive, 0 locking")
        .stdout_has("✗ drop-column dropping `users.legacy_id` deletes its data")
        .stdout_has("instead: stop reading and writing the column")
        .stdout_has("--> db/0002_drop.sql:3:1")
        .stdout_has("3 | ALTER TABLE users DROP COLUMN legacy_id;\n        | ^^^^^^^^^^")
        .stdout_has("1 error(s), 0 warning(s), 0 allowed");
}

#[test]
fn json_and_github_output_carry_rule_and_location() {
    let test = Test::new()
        .config(CONFIG)
        .file("db/0002_drop.sql", DROP_COLUMN);
    let output = Test::args_for(
        &test,
        ["--format", "json", "migrate", "lint", "db/0002_drop.sql"],
    )
    .run(1);
    let json = output.json();
    let checks = json["phases"][0]["checks"].as_array().unwrap();
    let finding = checks
        .iter()
        .find(|check| check["name"] == "drop-column")
        .unwrap();
    assert_eq!(finding["status"], "fail");
    assert_eq!(finding["location"]["path"], "db/0002_drop.sql");
    assert_eq!(finding["location"]["line"], 3);
    assert_eq!(finding["location"]["column"], 1);

    Test::args_for(
        &test,
        ["--format", "github", "migrate", "lint", "db/0002_drop.sql"],
    )
    .run(1)
    .stdout_has("::error title=shipgate migrate%3A drop-column,file=db/0002_drop.sql,line=3,col=1::dropping `users.legacy_id`");
}

#[test]
fn all_lints_the_migrations_dir_and_warnings_do_not_fail() {
    let test = Test::new()
        .config(CONFIG)
        .file(
            "migrations/0001_users.sql",
            "CREATE TABLE users (id serial PRIMARY KEY, name varchar(50));\nCREATE INDEX users_name ON users (name);\n",
        )
        .file(
            "migrations/0002_widen.sql",
            "SET lock_timeout = '5s';\nALTER TABLE users ALTER COLUMN name TYPE varchar(100);\n",
        )
        .args(["migrate", "lint", "--all"]);
    let output = test.run(0);
    output
        .stdout_has("✓ migrations/0001_users.sql additive · 2 statement(s): 2 additive, 0 destructive, 0 locking")
        .stdout_has("! serial-primary-key `users.id` is a 32-bit (`serial`) primary key")
        .stdout_has("--> migrations/0001_users.sql:1:1")
        .stdout_has("✓ migrations/0002_widen.sql additive · 2 statement(s): 2 additive, 0 destructive, 0 locking")
        .stdout_has("0 error(s), 1 warning(s)")
        .nowhere("change-column-type")
        .nowhere("create-index-non-concurrently");
}

#[test]
fn pending_lints_only_what_the_database_has_not_applied() {
    let test = Test::new().config(CONFIG).file(
        "migrations/0001_users.sql",
        "CREATE TABLE users (id bigint PRIMARY KEY, legacy_id int);\n",
    );
    Test::args_for(&test, ["migrate", "apply"]).run(0);
    fs_err::write(
        test.path().join("migrations/0002_drop.sql"),
        "-- shipgate:allow drop-column reason: unused since v40\nALTER TABLE users DROP COLUMN legacy_id;\n",
    )
    .unwrap();
    let output = Test::args_for(&test, ["migrate", "lint", "--pending"]).run(0);
    output
        .stdout_has("- drop-column allowed at migrations/0002_drop.sql:2:1 (unused since v40)")
        .stdout_has("lint: 1 file(s)")
        .nowhere("0001_users.sql");
}

#[test]
fn an_unparsable_file_is_a_finding_with_postgres_message() {
    Test::new()
        .config(CONFIG)
        .file("bad.sql", "SELECT 1;\n\nCREATE TABEL users (id int);\n")
        .args(["migrate", "lint", "bad.sql"])
        .run(1)
        .stdout_has("✓ bad.sql not parsed (counts as destructive)")
        .stdout_has(
            "✗ parse-error PostgreSQL cannot parse this file: syntax error at or near \"TABEL\"",
        )
        .stdout_has("--> bad.sql:3:8");
}

#[test]
fn config_overrides_turn_rules_off_and_unknown_ids_are_refused() {
    let file = ("db/0002_drop.sql", DROP_COLUMN);
    Test::new()
        .config(&format!(
            "{CONFIG}[migrate.lint]\ndrop-column = \"warning\"\n"
        ))
        .file(file.0, file.1)
        .args(["migrate", "lint", file.0])
        .run(0)
        .stdout_has("! drop-column");
    Test::new()
        .config(&format!("{CONFIG}[migrate.lint]\ndrop-colum = \"off\"\n"))
        .file(file.0, file.1)
        .args(["migrate", "lint", file.0])
        .run(2)
        .stderr_has("unknown lint rule `drop-colum` in `[migrate.lint]`")
        .stderr_has("shipgate.toml:4:1")
        .stderr_has("did you mean `drop-column`?");
    Test::new()
        .config(&format!(
            "{CONFIG}[migrate.lint]\ndrop-column = \"never\"\n"
        ))
        .file(file.0, file.1)
        .args(["migrate", "lint", file.0])
        .run(2)
        .stderr_has("invalid level `never` for lint rule `drop-column`");
}

#[test]
fn a_missing_file_is_a_usage_error() {
    Test::new()
        .config(CONFIG)
        .args(["migrate", "lint", "nope.sql"])
        .run(2)
        .stderr_has("failed to read `nope.sql`");
}

#[test]
fn plan_prints_each_pending_migration_class() {
    let test = Test::new()
        .config(CONFIG)
        .file(
            "migrations/0001_users.sql",
            "CREATE TABLE users (id bigint PRIMARY KEY, legacy_id int);\n",
        )
        .file(
            "migrations/0002_email.sql",
            "ALTER TABLE users ADD COLUMN email text;\n",
        )
        .file(
            "migrations/0003_drop.sql",
            "ALTER TABLE users DROP COLUMN legacy_id;\n",
        )
        .args(["migrate", "plan"]);
    test.run(0)
        .stdout_has("3 pending: 2 additive, 1 destructive: drops column users.legacy_id")
        .stdout_has("0003_drop would apply (destructive): drops column users.legacy_id");
}

#[test]
fn all_reads_the_detected_layout_prisma_folders_and_dbmate_up_sections() {
    let prisma = Test::new()
        .config("[environments.local]\n[migrate]\ndir = \"prisma/migrations\"\n")
        .file(
            "prisma/migrations/migration_lock.toml",
            "provider = \"postgresql\"\n",
        )
        .file(
            "prisma/migrations/20260101000000_init/migration.sql",
            "CREATE TABLE \"User\" (\"id\" BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY);\n",
        )
        .file(
            "prisma/migrations/20260102000000_drop/migration.sql",
            "SET lock_timeout = '5s';\nALTER TABLE \"User\" DROP COLUMN \"legacy\";\n",
        )
        .args(["migrate", "lint", "--all"]);
    prisma
        .run(1)
        .stdout_has("--> prisma/migrations/20260102000000_drop/migration.sql:2:1")
        .stdout_has("✗ drop-column");

    // dbmate: only the `migrate:up` section is applied, so only it is linted.
    let dbmate = Test::new()
        .config("[environments.local]\n[migrate]\ndir = \"db/migrations\"\n")
        .file(
            "db/migrations/20260101000000_users.sql",
            "-- migrate:up\nCREATE TABLE users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);\n\n-- migrate:down\nDROP TABLE users;\n",
        )
        .args(["migrate", "lint", "--all"]);
    let output = dbmate.run(0);
    assert!(
        !output.stdout.contains("drop-table"),
        "the down section was linted:\n{}",
        output.stdout
    );
}
