//! A restore leaves the database exactly as the backup (issue 11, section
//! 2): objects of every class a migration creates after the backup are gone
//! after `migrate restore` and after the automatic restore of a failed run,
//! proven by comparing catalog snapshots; a difference the restore cannot
//! undo fails it (exit 5), naming the difference.

use std::path::PathBuf;

use shipgate::db::postgres::catalog::{self, Catalog};

use crate::support::Test;
use crate::support::postgres::TestDatabase;

const CONFIG: &str = r#"
[environments.local]
database = "${DATABASE_URL}"

[migrate]
dir = "migrations"
statement_timeout = "120s"
lock_wait = "20s"
"#;

const BASELINE: &str = "CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL);\n\
     INSERT INTO users VALUES (1, 'ada');\n";

/// One object of each class a migration can create.
const EVERY_CLASS: &str = r"CREATE EXTENSION citext;
CREATE SCHEMA billing;
CREATE COLLATION billing.binary (provider = libc, locale = 'C');
CREATE PUBLICATION orders_feed;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE SEQUENCE invoice_numbers START 1000;
CREATE TABLE orders (
    id int PRIMARY KEY,
    user_id int NOT NULL REFERENCES users (id),
    email citext,
    feeling mood DEFAULT 'ok',
    code text COLLATE billing.binary
);
CREATE INDEX orders_user_id ON orders (user_id);
ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_orders ON orders USING (user_id > 0);
ALTER TABLE users ADD COLUMN nickname text;
CREATE FUNCTION order_count() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM orders $$;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION touch();
CREATE VIEW order_emails AS SELECT id, email FROM orders;
CREATE FUNCTION note_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$;
CREATE EVENT TRIGGER note_ddl ON ddl_command_end EXECUTE FUNCTION note_ddl();
";

/// The one backup taken since `earlier` was listed.
#[track_caller]
fn new_backup(test: &Test, earlier: &[PathBuf]) -> PathBuf {
    let [backup] = test
        .backups()
        .into_iter()
        .filter(|path| !earlier.contains(path))
        .collect::<Vec<_>>()
        .try_into()
        .unwrap();
    backup
}

fn write(test: &Test, name: &str, sql: &str) {
    fs_err::write(test.path().join("migrations").join(name), sql).unwrap();
}

/// A project whose baseline migration is applied.
fn baseline(database: &TestDatabase) -> Test {
    let test = Test::new()
        .config(CONFIG)
        .env("DATABASE_URL", database.url())
        .file("migrations/0001_baseline.sql", BASELINE);
    Test::args_for(&test, ["migrate", "apply"]).run(0);
    test
}

fn extensions(database: &TestDatabase) -> Vec<String> {
    database.column("SELECT extname FROM pg_extension ORDER BY extname")
}

// issue 11, section 2: `CREATE EXTENSION` (and collations, publications,
// event triggers…) survived the automatic restore, and the next apply
// failed forever with "extension already exists".
#[test]
fn the_restore_after_a_failed_run_leaves_every_class_of_object_as_the_backup() {
    let database = TestDatabase::new();
    let test = baseline(&database);
    let before = database.catalog();
    let earlier = test.backups();
    write(&test, "0002_every_class.sql", EVERY_CLASS);
    write(&test, "0003_broken.sql", "SELECT * FROM missing;\n");

    Test::args_for(&test, ["migrate", "apply"])
        .run(1)
        .stdout_has("✓ 0002_every_class applied")
        .stdout_has("✗ 0003_broken relation \"missing\" does not exist")
        .stdout_has("its schema matches the backup's catalog snapshot (");

    crate::support::postgres::assert_same_catalog(&before, &database.catalog());
    assert_eq!(extensions(&database), ["plpgsql"]);
    assert_eq!(
        database.column(
            "SELECT count(*) FROM pg_publication UNION ALL SELECT count(*) FROM pg_event_trigger"
        ),
        ["0", "0"]
    );
    assert_eq!(
        database.column("SELECT version FROM shipgate_migrations ORDER BY version"),
        ["0001"]
    );

    // The snapshot stored beside the backup is the state before the run.
    let backup = new_backup(&test, &earlier);
    let stored = Catalog::load(&Catalog::path_beside(&backup))
        .unwrap()
        .expect("a catalog snapshot beside the backup");
    crate::support::postgres::assert_same_catalog(&before, &stored);

    // "already exists" is gone: the fixed run applies from the top.
    write(&test, "0003_broken.sql", "SELECT 1;\n");
    Test::args_for(&test, ["migrate", "apply"])
        .run(0)
        .stdout_has("✓ 0002_every_class applied")
        .stdout_has("✓ 0003_broken applied");
    assert_eq!(extensions(&database), ["citext", "plpgsql"]);
}

#[test]
fn migrate_restore_leaves_every_class_of_object_as_the_backup() {
    let database = TestDatabase::new();
    let test = baseline(&database);
    let before = database.catalog();
    let earlier = test.backups();
    write(&test, "0002_every_class.sql", EVERY_CLASS);
    Test::args_for(&test, ["migrate", "apply"]).run(0);
    assert_eq!(extensions(&database), ["citext", "plpgsql"]);
    let backup = new_backup(&test, &earlier);

    Test::args_for(
        &test,
        ["migrate", "restore", "--backup", backup.to_str().unwrap()],
    )
    .run(0)
    .stdout_has("✓ restore restored")
    .stdout_has("its schema matches the backup's catalog snapshot (");
    crate::support::postgres::assert_same_catalog(&before, &database.catalog());
    assert_eq!(extensions(&database), ["plpgsql"]);

    // Restoring the same backup again (every oid is new now) is exact too.
    Test::args_for(
        &test,
        ["migrate", "restore", "--backup", backup.to_str().unwrap()],
    )
    .run(0)
    .stdout_has("its schema matches the backup's catalog snapshot (");
    crate::support::postgres::assert_same_catalog(&before, &database.catalog());
}

#[test]
fn a_difference_the_restore_cannot_undo_fails_it_by_name_with_exit_5() {
    let database = TestDatabase::new();
    let test = baseline(&database);
    let earlier = test.backups();
    write(
        &test,
        "0002_orders.sql",
        "CREATE TABLE orders (id int PRIMARY KEY);\n",
    );
    Test::args_for(&test, ["migrate", "apply"]).run(0);
    let backup = new_backup(&test, &earlier);
    // The snapshot says the backup held an extension it does not hold: no
    // restore can bring it back, so the restore must not claim success.
    let path = Catalog::path_beside(&backup);
    let mut stored = Catalog::load(&path).unwrap().unwrap();
    stored.objects.push(catalog::CatalogObject {
        class: catalog::ObjectClass::Extension,
        name: "hstore".to_owned(),
        definition: "version 1.8 in public".to_owned(),
    });
    stored.objects.sort();
    stored.save(&path).unwrap();

    Test::args_for(
        &test,
        ["migrate", "restore", "--backup", backup.to_str().unwrap()],
    )
    .run(5)
    .stderr_has("but its schema does not match the backup: extension `hstore` is in the backup but missing now")
    .stderr_has("hint: the database is not as the backup left it");
}

#[test]
fn a_backup_without_a_snapshot_is_restored_with_a_warning_that_the_check_was_skipped() {
    let database = TestDatabase::new();
    let test = baseline(&database);
    let earlier = test.backups();
    write(
        &test,
        "0002_orders.sql",
        "CREATE TABLE orders (id int PRIMARY KEY);\n",
    );
    Test::args_for(&test, ["migrate", "apply"]).run(0);
    let backup = new_backup(&test, &earlier);
    fs_err::remove_file(Catalog::path_beside(&backup)).unwrap();

    Test::args_for(
        &test,
        ["migrate", "restore", "--backup", backup.to_str().unwrap()],
    )
    .run(0)
    .stdout_has("! restore restored")
    .stdout_has("the schema was not compared with the backup (exactness check skipped): the backup has no catalog snapshot beside it");
    assert_eq!(database.tables(), ["shipgate_migrations", "users"]);
}

// `pg_dump` records an extension's name, not its version, so a restore
// recreates it at the default version: a real difference no restore can
// undo. The automatic restore must report it failed (exit 5), not claim
// the database is back.
#[test]
fn an_extension_restored_at_another_version_fails_the_automatic_restore_with_exit_5() {
    let database = TestDatabase::new();
    let test = Test::new()
        .config(CONFIG)
        .env("DATABASE_URL", database.url())
        .file(
            "migrations/0001_baseline.sql",
            "CREATE EXTENSION citext VERSION '1.4';\nCREATE TABLE users (id int PRIMARY KEY);\n",
        );
    Test::args_for(&test, ["migrate", "apply"]).run(0);
    let default = database
        .column("SELECT default_version FROM pg_available_extensions WHERE name = 'citext'");
    assert_ne!(default, ["1.4"], "the test needs a newer default version");
    write(&test, "0002_orders.sql", "CREATE TABLE orders (id int);\n");
    write(&test, "0003_broken.sql", "SELECT * FROM missing;\n");

    Test::args_for(&test, ["migrate", "apply"])
        .run(5)
        .stdout_has("✗ restore restored `***` from `")
        .stdout_has(&format!(
            "but its schema does not match the backup: extension `citext` differs from the backup: `version 1.4 in public` there, `version {} in public` now",
            default[0]
        ));
}
