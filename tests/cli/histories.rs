//! Real-world-shaped histories (issue 11, Tests): a Prisma and a dbmate
//! history of a few dozen files each, in `tests/fixtures/histories/`, run
//! end to end against real databases.
//!
//! For each history: `migrate apply` runs every file and the schema equals
//! the one `psql` builds from the same SQL file by file (so shipgate ran
//! every statement and nothing else); the tool's own history table holds
//! the rows the tool would write; `migrate lint --all` parses every file;
//! and a database where the first files were applied by hand, with their
//! history rows, gets exactly the remaining ones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::Digest;

use crate::support::Test;
use crate::support::postgres::TestDatabase;

/// Files applied by hand before shipgate is adopted.
const ADOPTED: usize = 20;

#[derive(Clone, Copy, PartialEq)]
enum Layout {
    Prisma,
    Dbmate,
}

/// One migration of a fixture history.
struct Migration {
    /// Prisma's folder name, or dbmate's file name without `.sql`.
    name: String,
    /// The file's bytes, as the tool checksums them.
    bytes: Vec<u8>,
}

struct History {
    layout: Layout,
    /// The fixture project, holding `dir`.
    root: PathBuf,
    /// `[migrate] dir`, relative to `root`.
    dir: &'static str,
    migrations: Vec<Migration>,
}

impl History {
    fn load(layout: Layout) -> Self {
        let (case, dir) = match layout {
            Layout::Prisma => ("prisma", "prisma/migrations"),
            Layout::Dbmate => ("dbmate", "db/migrations"),
        };
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/histories")
            .join(case);
        let mut migrations: Vec<Migration> = fs_err::read_dir(root.join(dir))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter_map(|path| match layout {
                Layout::Prisma => path.is_dir().then(|| Migration {
                    name: path.file_name().unwrap().to_str().unwrap().to_owned(),
                    bytes: fs_err::read(path.join("migration.sql")).unwrap(),
                }),
                Layout::Dbmate => (path.extension()? == "sql").then(|| Migration {
                    name: path.file_stem().unwrap().to_str().unwrap().to_owned(),
                    bytes: fs_err::read(&path).unwrap(),
                }),
            })
            .collect();
        migrations.sort_by(|left, right| left.name.cmp(&right.name));
        assert!(migrations.len() >= 30, "a few dozen files");
        Self {
            layout,
            root,
            dir,
            migrations,
        }
    }

    /// A project in a temp dir with a copy of the history, migrating `database`.
    fn project(&self, database: &TestDatabase) -> Test {
        Test::new()
            .config(&format!(
                "[environments.local]\ndatabase = \"${{DATABASE_URL}}\"\n[migrate]\ndir = \"{}\"\n",
                self.dir
            ))
            .env("DATABASE_URL", database.url())
            .copy_dir(&self.root.join(self.dir), self.dir, &[])
    }

    /// The SQL the tool runs for `migration`: the whole file for Prisma,
    /// the up section for dbmate (between the column-0 marker lines).
    fn up_sql(&self, migration: &Migration) -> String {
        let text = String::from_utf8(migration.bytes.clone()).unwrap();
        match self.layout {
            Layout::Prisma => text,
            Layout::Dbmate => text
                .lines()
                .skip_while(|line| !line.starts_with("-- migrate:up"))
                .skip(1)
                .take_while(|line| !line.starts_with("-- migrate:down"))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    /// Applies `migrations` to `database` with `psql`, file by file.
    fn apply_with_psql(&self, database: &TestDatabase, migrations: &[Migration]) {
        let scratch = tempfile::tempdir().unwrap();
        for migration in migrations {
            let file = scratch.path().join(format!("{}.sql", migration.name));
            fs_err::write(&file, self.up_sql(migration)).unwrap();
            let output = Command::new("psql")
                .args([
                    "-X",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-d",
                    database.url(),
                    "-f",
                ])
                .arg(&file)
                .output()
                .expect("run psql");
            assert!(
                output.status.success(),
                "psql failed on {}: {}",
                migration.name,
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }

    /// Inserts the history rows the tool writes for `migrations`, creating
    /// its table as the tool itself does.
    fn record_by_hand(&self, database: &TestDatabase, migrations: &[Migration]) {
        match self.layout {
            Layout::Prisma => {
                database.query(
                    "CREATE TABLE \"_prisma_migrations\" (\
                     \"id\" VARCHAR(36) NOT NULL, \"checksum\" VARCHAR(64) NOT NULL, \
                     \"finished_at\" TIMESTAMPTZ, \"migration_name\" VARCHAR(255) NOT NULL, \
                     \"logs\" TEXT, \"rolled_back_at\" TIMESTAMPTZ, \
                     \"started_at\" TIMESTAMPTZ NOT NULL DEFAULT now(), \
                     \"applied_steps_count\" INTEGER NOT NULL DEFAULT 0, \
                     CONSTRAINT \"_prisma_migrations_pkey\" PRIMARY KEY (\"id\"))",
                );
                for migration in migrations {
                    database.query(&format!(
                        "INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, applied_steps_count) \
                         VALUES (gen_random_uuid()::text, '{}', now(), '{}', 1)",
                        sha256(&migration.bytes),
                        migration.name
                    ));
                }
            }
            Layout::Dbmate => {
                database.query(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version varchar(128) PRIMARY KEY)",
                );
                for migration in migrations {
                    database.query(&format!(
                        "INSERT INTO schema_migrations (version) VALUES ('{}')",
                        version(&migration.name)
                    ));
                }
            }
        }
    }

    /// Asserts the history table lists exactly `migrations`, as the tool
    /// writes them.
    fn assert_recorded(&self, database: &TestDatabase, migrations: &[Migration]) {
        match self.layout {
            Layout::Prisma => {
                let rows = database.query(
                    "SELECT migration_name, checksum, (finished_at IS NOT NULL)::text, \
                     applied_steps_count::text, (rolled_back_at IS NULL AND logs IS NULL)::text, \
                     (id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$')::text \
                     FROM _prisma_migrations ORDER BY migration_name",
                );
                let expected: Vec<Vec<Option<String>>> = migrations
                    .iter()
                    .map(|migration| {
                        [
                            migration.name.as_str(),
                            &sha256(&migration.bytes),
                            "true",
                            "1",
                            "true",
                            "true",
                        ]
                        .map(|value| Some(value.to_owned()))
                        .to_vec()
                    })
                    .collect();
                assert_eq!(rows, expected);
            }
            Layout::Dbmate => {
                let versions: Vec<String> = migrations
                    .iter()
                    .map(|migration| version(&migration.name).to_owned())
                    .collect();
                assert_eq!(
                    database.column("SELECT version FROM schema_migrations ORDER BY version"),
                    versions
                );
            }
        }
    }
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// dbmate's version: the digits before the first `_`.
fn version(name: &str) -> &str {
    name.split_once('_').unwrap().0
}

/// The schema of `database` as `pg_dump --schema-only` prints it, without
/// the history tables and without the random `\restrict` key lines.
fn schema(database: &TestDatabase) -> String {
    let output = Command::new("pg_dump")
        .args(["--schema-only", "--no-owner", "--no-privileges"])
        .args(["-T", "public._prisma_migrations"])
        .args(["-T", "public.schema_migrations"])
        .args(["-T", "public.shipgate_failed_migrations"])
        .args(["-d", database.url()])
        .output()
        .expect("run pg_dump");
    assert!(
        output.status.success(),
        "pg_dump failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter(|line| !line.starts_with("\\restrict") && !line.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[track_caller]
fn assert_same_schema(actual: &str, expected: &str, what: &str) {
    if actual != expected {
        let only_in = |left: &str, right: &str| -> Vec<String> {
            let right: Vec<&str> = right.lines().collect();
            left.lines()
                .filter(|line| !right.contains(line))
                .map(str::to_owned)
                .collect()
        };
        panic!(
            "{what}: the schema differs from psql's\n--- only after shipgate\n{}\n--- only after psql\n{}",
            only_in(actual, expected).join("\n"),
            only_in(expected, actual).join("\n")
        );
    }
}

/// Rule ids of the findings of `migrate lint --all`, with their counts.
fn lint_rules(test: &Test, files: usize) -> BTreeMap<String, usize> {
    let output = Test::args_for(test, ["--format", "json", "migrate", "lint", "--all"]).run(1);
    let report = output.json();
    let phase = &report["phases"][0];
    let summary = phase["summary"].as_str().unwrap();
    assert!(
        summary.starts_with(&format!("lint: {files} file(s)")),
        "{summary}"
    );
    let mut rules = BTreeMap::new();
    let mut linted = 0;
    for check in phase["checks"].as_array().unwrap() {
        if check.get("location").is_some() {
            *rules
                .entry(check["name"].as_str().unwrap().to_owned())
                .or_insert(0) += 1;
        } else {
            linted += 1;
        }
    }
    assert_eq!(linted, files, "one check per file: {report:#}");
    assert!(!rules.contains_key("parse-error"), "{report:#}");
    rules
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs
        .iter()
        .map(|(rule, count)| ((*rule).to_owned(), *count))
        .collect()
}

/// Applies the whole history with shipgate and with psql, compares them,
/// then adopts a database the first [`ADOPTED`] files were applied to by hand.
fn run_history(history: &History) -> Test {
    let total = history.migrations.len();

    let by_psql = TestDatabase::new();
    history.apply_with_psql(&by_psql, &history.migrations);
    let expected = schema(&by_psql);
    assert!(expected.contains("CREATE TABLE"), "{expected}");

    let by_shipgate = TestDatabase::new();
    let test = history.project(&by_shipgate).args(["migrate", "apply"]);
    let output = test.run(0);
    output.stdout_has(&format!("✓ migrate {total} applied"));
    for migration in &history.migrations {
        output.stdout_has(&format!("✓ {} applied", migration.name));
    }
    Test::args_for(&test, ["migrate", "status"])
        .run(0)
        .stdout_has(&format!("{total} applied, 0 pending"));
    history.assert_recorded(&by_shipgate, &history.migrations);
    assert_same_schema(&schema(&by_shipgate), &expected, "full apply");

    // Adoption: the first files ran by hand and were recorded as the tool would.
    let adopted = TestDatabase::new();
    let (before, after) = history.migrations.split_at(ADOPTED);
    history.apply_with_psql(&adopted, before);
    history.record_by_hand(&adopted, before);
    let adoption = history.project(&adopted).args(["migrate", "status"]);
    adoption
        .run(0)
        .stdout_has(&format!("{ADOPTED} applied, {} pending", after.len()));
    let output = Test::args_for(&adoption, ["migrate", "apply"]).run(0);
    output.stdout_has(&format!("✓ migrate {} applied", after.len()));
    let applied = output
        .stdout
        .lines()
        .filter(|line| line.trim_start().starts_with("✓ ") && line.contains(" applied "))
        .filter_map(|line| line.trim_start().strip_prefix("✓ ")?.split(' ').next())
        .filter(|name| *name != "migrate")
        .map(str::to_owned)
        .collect::<Vec<_>>();
    let remaining: Vec<String> = after
        .iter()
        .map(|migration| migration.name.clone())
        .collect();
    assert_eq!(applied, remaining, "{}", output.stdout);
    history.assert_recorded(&adopted, &history.migrations);
    assert_same_schema(&schema(&adopted), &expected, "adoption");
    test
}

#[test]
fn prisma_history_applies_like_psql_and_records_rows_as_prisma() {
    let history = History::load(Layout::Prisma);
    assert!(
        history
            .migrations
            .iter()
            .any(|migration| migration.bytes.windows(2).any(|pair| pair == b"\r\n")),
        "the history keeps a CRLF file (its checksum covers the CR bytes)"
    );
    let test = run_history(&history);
    assert_eq!(
        lint_rules(&test, history.migrations.len()),
        counts(&[
            ("add-column-volatile-default", 1),
            ("add-enum-value-in-transaction", 3),
            ("change-column-type", 3),
            ("constraint-without-not-valid", 1),
            ("create-index-non-concurrently", 6),
            ("drop-column", 1),
            ("drop-index-non-concurrently", 1),
            ("drop-table", 1),
            ("drop-type", 1),
            ("missing-lock-timeout", 15),
            ("rename-column", 1),
            ("rename-table", 1),
            ("serial-primary-key", 7),
            ("set-not-null", 2),
        ])
    );
}

#[test]
fn dbmate_history_applies_like_psql_and_records_versions() {
    let history = History::load(Layout::Dbmate);
    let test = run_history(&history);
    assert_eq!(
        lint_rules(&test, history.migrations.len()),
        counts(&[
            ("add-enum-value-in-transaction", 1),
            ("change-column-type", 2),
            // No `concurrently-in-transaction`: the four files with
            // `CONCURRENTLY` say `-- migrate:up transaction:false`, which
            // lint reads as `apply` does.
            ("drop-column", 1),
            ("missing-lock-timeout", 9),
            ("rename-column", 1),
        ])
    );
}
