//! Backups that outlive the runner (issue 11, item 6): `migrate apply`
//! uploads its backup encrypted with age to `migrate.backup_to` (a real local
//! S3 server), keeps `backup_retention` of them, and a restore whose local
//! file is gone downloads the copy, refuses it unless its SHA-256 matches the
//! recorded one and the key fits, and restores it exactly. Secrets never
//! reach the output.

use crate::support::postgres::TestDatabase;
use crate::support::s3::{self, S3Server};
use crate::support::{Output, Test};

const BASELINE: &str = "CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL);\n\
     INSERT INTO users VALUES (1, 'ada'), (2, 'grace');\n";

/// Drops the table and its rows: only a restore brings them back.
const DESTRUCTIVE: &str = "DROP TABLE users;\nCREATE TABLE accounts (id int PRIMARY KEY);\n";

/// A key pair for one test.
struct Keys {
    secret: String,
    public: String,
}

fn keys() -> Keys {
    use age::secrecy::ExposeSecret;
    let identity = age::x25519::Identity::generate();
    Keys {
        secret: identity.to_string().expose_secret().to_owned(),
        public: identity.to_public().to_string(),
    }
}

fn config(server: &S3Server, recipient: &str, retention: usize) -> String {
    format!(
        r#"
[environments.production]
database = "${{DATABASE_URL}}"

[migrate]
dir = "migrations"
statement_timeout = "120s"
lock_wait = "20s"
backup_to = "s3://{bucket}/shipgate"
backup_endpoint = "{endpoint}"
backup_recipient = "{recipient}"
backup_retention = {retention}
backup_timeout = "60s"
"#,
        bucket = server.bucket(),
        endpoint = server.endpoint(),
    )
}

/// A project on `database`, which holds the users (created directly, so the
/// first `migrate apply` takes the run's first backup, the one a restore
/// without arguments uses).
fn project(database: &TestDatabase, server: &S3Server, keys: &Keys, retention: usize) -> Test {
    let test = Test::new()
        .config(&config(server, &keys.public, retention))
        .env("DATABASE_URL", database.url())
        .env("AWS_ACCESS_KEY_ID", s3::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", s3::SECRET_ACCESS_KEY)
        .env("AWS_REGION", s3::REGION)
        .file("migrations/.keep", "");
    database.query(BASELINE);
    test
}

/// The value of output `key` in a JSON report.
#[track_caller]
fn output(report: &serde_json::Value, key: &str) -> String {
    report["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|pair| pair[0] == key)
        .unwrap_or_else(|| panic!("no output `{key}` in {report:#}"))[1]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Applies `DESTRUCTIVE` as `0002`, returning the JSON report.
fn apply_destructive(test: &Test) -> serde_json::Value {
    fs_err::write(
        test.path().join("migrations/0002_destructive.sql"),
        DESTRUCTIVE,
    )
    .unwrap();
    Test::args_for(test, ["migrate", "apply", "--format", "json"])
        .run(0)
        .json()
}

/// Removes every local backup (and snapshot): the runner is gone.
fn lose_local_backups(test: &Test) {
    fs_err::remove_dir_all(test.path().join(".shipgate/backups")).unwrap();
}

/// The key of an `s3://bucket/key` URL.
fn key_of(url: &str, server: &S3Server) -> String {
    url.strip_prefix(&format!("s3://{}/", server.bucket()))
        .unwrap()
        .to_owned()
}

fn users(database: &TestDatabase) -> Vec<String> {
    database.column("SELECT id || ':' || name FROM users ORDER BY id")
}

/// `migrate restore ARGS` in `test`'s project with `identity` as the key.
fn restore(test: &Test, database: &TestDatabase, identity: &str, args: &[&str]) -> Output {
    let output = crate::support::shipgate(test.path())
        .args(["migrate", "restore"])
        .args(args)
        .env("DATABASE_URL", database.url())
        .env("AWS_ACCESS_KEY_ID", s3::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", s3::SECRET_ACCESS_KEY)
        .env("AWS_REGION", s3::REGION)
        .env("SHIPGATE_BACKUP_IDENTITY", identity)
        .output()
        .unwrap();
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[track_caller]
fn still_migrated(database: &TestDatabase) {
    let tables = database.tables();
    assert!(
        !tables.contains(&"users".to_owned()) && tables.contains(&"accounts".to_owned()),
        "{tables:?}"
    );
}

#[test]
fn an_encrypted_upload_restores_the_database_after_the_local_backup_is_gone() {
    let (database, server, keys) = (
        TestDatabase::new(),
        S3Server::start("backups-roundtrip"),
        keys(),
    );
    let test = project(&database, &server, &keys, 10);
    let before = database.catalog();

    let report = apply_destructive(&test);
    let url = output(&report, "backup_remote");
    let sha256 = output(&report, "backup_remote_sha256");
    assert!(
        url.starts_with("s3://backups-roundtrip/shipgate/production/")
            && url.ends_with(".dump.age"),
        "{url}"
    );
    let key = key_of(&url, &server);
    let catalog_key = format!("{}.catalog.json.age", key.strip_suffix(".age").unwrap());
    let stored = server.keys();
    assert!(
        stored.contains(&key) && stored.contains(&catalog_key),
        "{stored:?}"
    );
    assert_eq!(stored.len(), 2, "{stored:?}");
    for stored in [&key, &catalog_key] {
        let content = server.get(stored);
        assert!(
            content.starts_with(b"age-encryption.org/v1\n"),
            "{stored} is not age"
        );
        assert!(
            !content.windows(5).any(|window| window == b"PGDMP")
                && !content.windows(5).any(|window| window == b"users"),
            "{stored} holds plaintext"
        );
    }
    let content = server.get(&key);
    assert_eq!(
        output(&report, "backup_remote_bytes"),
        content.len().to_string()
    );
    assert_eq!(
        sha256,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&content))
    );
    still_migrated(&database);

    lose_local_backups(&test);
    let restored = restore(&test, &database, &keys.secret, &[]);
    assert_eq!(restored.code, 0, "{restored:?}");
    restored
        .stdout_has(&format!("downloaded `{url}` and decrypted it"))
        .stdout_has(&format!(
            "its SHA-256 `{sha256}` matches the one recorded at upload"
        ))
        .stdout_has("its schema matches the backup's catalog snapshot (");

    assert_eq!(users(&database), ["1:ada", "2:grace"]);
    crate::support::postgres::assert_same_catalog(&before, &database.catalog());
}

#[test]
fn a_changed_object_is_refused_naming_both_digests_and_the_database_is_untouched() {
    let (database, server, keys) = (
        TestDatabase::new(),
        S3Server::start("backups-corrupt"),
        keys(),
    );
    let test = project(&database, &server, &keys, 10);
    let report = apply_destructive(&test);
    let (url, recorded) = (
        output(&report, "backup_remote"),
        output(&report, "backup_remote_sha256"),
    );
    let key = key_of(&url, &server);
    // A valid age file to the same key, but not the one uploaded.
    let mut other = server.get(&key);
    let last = other.len() - 1;
    other[last] ^= 0x01;
    server.put(&key, other.clone());
    let actual = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&other));
    lose_local_backups(&test);

    let refused = restore(&test, &database, &keys.secret, &[]);
    assert_eq!(refused.code, 5, "{refused:?}");
    refused
        .stderr_has(&format!(
            "refusing to restore `{url}`: its SHA-256 is `{actual}` but `{recorded}` was recorded when it was uploaded; nothing was restored"
        ))
        .stderr_has("hint: the object was changed or damaged after the upload");
    still_migrated(&database);
    assert!(
        fs_err::read_dir(test.path().join(".shipgate/backups")).map_or(0, Iterator::count) == 0,
        "the refused download is not left behind"
    );
}

#[test]
fn a_different_key_is_refused_with_a_clear_error_and_the_database_is_untouched() {
    let (database, server, keys) = (
        TestDatabase::new(),
        S3Server::start("backups-wrong-key"),
        keys(),
    );
    let test = project(&database, &server, &keys, 10);
    let report = apply_destructive(&test);
    let url = output(&report, "backup_remote");
    lose_local_backups(&test);

    let other = self::keys();
    let refused = restore(&test, &database, &other.secret, &["--from", &url]);
    assert_eq!(refused.code, 2, "{refused:?}");
    refused
        .stderr_has(&format!("cannot decrypt `{url}`: the backup was encrypted to a different key: set SHIPGATE_BACKUP_IDENTITY to the private key matching backup_recipient"))
        .nowhere(&other.secret)
        .nowhere("panicked");
    still_migrated(&database);

    let missing = restore(&test, &database, "", &["--from", &url]);
    assert_eq!(missing.code, 2, "{missing:?}");
    missing.stderr_has("`SHIPGATE_BACKUP_IDENTITY` is not set");
    let garbage = restore(
        &test,
        &database,
        "AGE-SECRET-KEY-1NOTAKEY",
        &["--from", &url],
    );
    assert_eq!(garbage.code, 2, "{garbage:?}");
    garbage
        .stderr_has("`SHIPGATE_BACKUP_IDENTITY` does not hold an age secret key")
        .nowhere("AGE-SECRET-KEY-1NOTAKEY");
    still_migrated(&database);

    // The right key, named explicitly: `--from` uses the digest the run
    // state recorded for that URL.
    let restored = restore(&test, &database, &keys.secret, &["--from", &url]);
    assert_eq!(restored.code, 0, "{restored:?}");
    restored.stdout_has("matches the one recorded at upload");
    assert_eq!(users(&database), ["1:ada", "2:grace"]);
}

#[test]
fn retention_keeps_exactly_the_newest_backups_and_nothing_else_under_the_prefix() {
    let (database, server, keys) = (
        TestDatabase::new(),
        S3Server::start("backups-retention"),
        keys(),
    );
    let test = project(&database, &server, &keys, 2);
    server.put("shipgate/production/notes.txt", b"not a backup".to_vec());
    server.put(
        "elsewhere/20200101T000000000Z-1.dump.age",
        b"other prefix".to_vec(),
    );
    let mut uploaded = Vec::new();
    for version in 1..=4 {
        fs_err::write(
            test.path()
                .join(format!("migrations/000{version}_t{version}.sql")),
            format!("CREATE TABLE t{version} (id int);\n"),
        )
        .unwrap();
        let report = Test::args_for(&test, ["migrate", "apply", "--format", "json"])
            .run(0)
            .json();
        uploaded.push(key_of(&output(&report, "backup_remote"), &server));
        let dumps = server
            .keys()
            .into_iter()
            .filter(|key| key.starts_with("shipgate/") && key.ends_with(".dump.age"))
            .count();
        assert_eq!(
            dumps,
            version.min(2),
            "after the upload before `000{version}`"
        );
    }
    let newest: Vec<String> = uploaded[2..]
        .iter()
        .flat_map(|key| {
            [
                format!("{}.catalog.json.age", key.strip_suffix(".age").unwrap()),
                key.clone(),
            ]
        })
        .collect();
    let mut expected = vec!["elsewhere/20200101T000000000Z-1.dump.age".to_owned()];
    expected.extend(newest);
    expected.push("shipgate/production/notes.txt".to_owned());
    expected.sort();
    assert_eq!(server.keys(), expected);
}

/// `check` on `config` fails with exit 2 and every fragment on stderr.
#[track_caller]
fn rejects(migrate: &str, fragments: &[&str]) {
    let config = format!(
        "[environments.production]\ndatabase = \"sqlite://app.db\"\n\n[migrate]\n{migrate}"
    );
    let output = Test::new().config(&config).args(["check"]).run(2);
    for fragment in fragments {
        output.stderr_has(fragment);
    }
}

#[test]
fn check_rejects_each_bad_backup_to_config_with_its_location_and_a_fix() {
    let public = keys().public;
    rejects(
        "backup_to = \"s3://bucket/prefix\"\n",
        &[
            "error: `backup_to` is set but `backup_recipient` is not: backups are only uploaded encrypted",
            "--> shipgate.toml:5:13",
            "hint: make a key pair with `age-keygen -o backup.key`",
        ],
    );
    rejects(
        "backup_to = \"s3://bucket/prefix\"\nbackup_recipient = \"age1nope\"\n",
        &[
            "error: `backup_recipient` is not an age X25519 public key",
            "--> shipgate.toml:6:20",
            "hint: use the public key `age-keygen` prints",
        ],
    );
    let secret = keys().secret;
    rejects(
        &format!("backup_to = \"s3://bucket\"\nbackup_recipient = \"{secret}\"\n"),
        &["hint: this is a private key: never put it in the config"],
    );
    rejects(
        &format!("backup_to = \"https://bucket/prefix\"\nbackup_recipient = \"{public}\"\n"),
        &[
            "error: invalid `backup_to` `https://bucket/prefix`: scheme `https` is not `s3`",
            "--> shipgate.toml:5:13",
            "hint: write `s3://bucket` or `s3://bucket/prefix`",
        ],
    );
    rejects(
        &format!("backup_to = \"s3://Bad_Bucket\"\nbackup_recipient = \"{public}\"\n"),
        &["is not a valid bucket name", "--> shipgate.toml:5:13"],
    );
    rejects(
        &format!(
            "backup = \"none\"\nbackup_to = \"s3://bucket/p\"\nbackup_recipient = \"{public}\"\n"
        ),
        &[
            "error: `backup_to` is set but `backup = \"none\"` takes no backup to upload",
            "--> shipgate.toml:6:13",
            "hint: remove `backup = \"none\"`",
        ],
    );
    rejects(
        &format!(
            "backup_to = \"s3://bucket/p\"\nbackup_recipient = \"{public}\"\nbackup_retention = 0\n"
        ),
        &[
            "error: `backup_retention` must be at least 1, got 0",
            "--> shipgate.toml:7:20",
        ],
    );
    rejects(
        &format!("backup_recipient = \"{public}\"\n"),
        &[
            "error: `backup_recipient` is set but `backup_to` is not",
            "--> shipgate.toml:5:20",
        ],
    );
    Test::new()
        .config(&format!(
            "[environments.production]\ndatabase = \"sqlite://app.db\"\n\n[migrate]\nbackup_to = \"s3://bucket/p\"\nbackup_recipient = \"{public}\"\n"
        ))
        .args(["check"])
        .run(0)
        .stdout_has(&format!(
            "✓ backup_to backups uploaded encrypted to `{public}` under `s3://bucket/p/production/`, the newest 10 kept"
        ));
}

#[test]
fn neither_the_age_secret_key_nor_the_aws_secret_reaches_any_output() {
    let (database, server, keys) = (
        TestDatabase::new(),
        S3Server::start("backups-secrets"),
        keys(),
    );
    let test = project(&database, &server, &keys, 10);
    fs_err::write(
        test.path().join("migrations/0002_destructive.sql"),
        DESTRUCTIVE,
    )
    .unwrap();
    let mut outputs = Vec::new();
    let apply = crate::support::shipgate(test.path())
        .args([
            "migrate",
            "apply",
            "--format",
            "json",
            "--report",
            "apply.json",
        ])
        .env("DATABASE_URL", database.url())
        .env("AWS_ACCESS_KEY_ID", s3::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", s3::SECRET_ACCESS_KEY)
        .env("AWS_REGION", s3::REGION)
        .env("SHIPGATE_BACKUP_IDENTITY", &keys.secret)
        .output()
        .unwrap();
    assert_eq!(apply.status.code(), Some(0));
    outputs.push(without_masks(&String::from_utf8_lossy(&apply.stdout)));
    outputs.push(String::from_utf8_lossy(&apply.stderr).into_owned());
    outputs.push(fs_err::read_to_string(test.path().join("apply.json")).unwrap());
    lose_local_backups(&test);
    for args in [
        &["--format", "json", "--report", "restore.json"][..],
        &["--format", "github"][..],
        &[][..],
    ] {
        let restored = restore(&test, &database, &keys.secret, args);
        assert_eq!(restored.code, 0, "{restored:?}");
        outputs.push(without_masks(&restored.stdout));
        outputs.push(restored.stderr);
    }
    outputs.push(fs_err::read_to_string(test.path().join("restore.json")).unwrap());
    // An error path too: a wrong key, in every format.
    let wrong = self::keys();
    for format in ["json", "human", "github"] {
        let refused = restore(&test, &database, &wrong.secret, &["--format", format]);
        assert_ne!(refused.code, 0, "{refused:?}");
        let shown = without_masks(&refused.stdout) + &refused.stderr;
        assert!(
            !shown.contains(&wrong.secret),
            "the wrong key leaked:\n{shown}"
        );
        // The `github` format registers it with `::add-mask::`, which is how
        // a workflow log learns to hide it.
        if format == "github" {
            refused.stdout_has(&format!("::add-mask::{}", wrong.secret));
        }
        outputs.push(shown);
    }
    for text in &outputs {
        assert!(
            !text.contains(&keys.secret),
            "the age secret key leaked:\n{text}"
        );
        assert!(
            !text.contains(s3::SECRET_ACCESS_KEY),
            "the AWS secret leaked:\n{text}"
        );
    }
    assert_eq!(users(&database), ["1:ada", "2:grace"]);
}

/// `text` without the `::add-mask::` workflow commands (they hand the
/// secret to GitHub so that the log hides it).
fn without_masks(text: &str) -> String {
    text.lines()
        .filter(|line| !line.starts_with("::add-mask::"))
        .flat_map(|line| [line, "\n"])
        .collect()
}

// The case `backup_to` exists for: a successful `run` deletes its local
// backup (no `keep_backups`), and a later rollback restores the run's
// database from the uploaded copy.
#[test]
fn rollback_restores_the_runs_database_from_the_upload_when_the_local_backup_is_gone() {
    let (database, server, keys) = (
        TestDatabase::new(),
        S3Server::start("backups-rollback"),
        keys(),
    );
    let config = config(&server, &keys.public, 10).replace(
        "[migrate]",
        "[environments.production.releases]\nroot = \"srv\"\nrestart = \"true\"\n\n[migrate]",
    );
    let test = Test::new()
        .config(&config)
        .env("DATABASE_URL", database.url())
        .env("AWS_ACCESS_KEY_ID", s3::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", s3::SECRET_ACCESS_KEY)
        .env("AWS_REGION", s3::REGION)
        .file("build/v1/app", "v1")
        .file("build/v2/app", "v2")
        .file("migrations/.keep", "");
    database.query(BASELINE);
    let before = database.catalog();
    Test::args_for(&test, ["run", "--source", "build/v1", "--id", "v1"]).run(0);
    fs_err::write(
        test.path().join("migrations/0001_destructive.sql"),
        DESTRUCTIVE,
    )
    .unwrap();
    let report = Test::args_for(
        &test,
        [
            "run", "--source", "build/v2", "--id", "v2", "--format", "json",
        ],
    )
    .run(0)
    .json();
    let url = output(&report, "backup_remote");
    assert!(
        test.backups().is_empty(),
        "the successful run deleted its local backup"
    );
    still_migrated(&database);

    let rolled_back = crate::support::shipgate(test.path())
        .args(["rollback", "--yes", "--database", "restore"])
        .env("DATABASE_URL", database.url())
        .env("AWS_ACCESS_KEY_ID", s3::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", s3::SECRET_ACCESS_KEY)
        .env("AWS_REGION", s3::REGION)
        .env("SHIPGATE_BACKUP_IDENTITY", &keys.secret)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&rolled_back.stdout);
    assert_eq!(
        rolled_back.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&rolled_back.stderr)
    );
    assert!(stdout.contains("✓ promote v1"), "{stdout}");
    assert!(
        stdout.contains(&format!("downloaded `{url}` and decrypted it")),
        "{stdout}"
    );
    assert_eq!(users(&database), ["1:ada", "2:grace"]);
    crate::support::postgres::assert_same_catalog(&before, &database.catalog());
}

// Every S3 operation has a deadline: an endpoint that accepts connections
// but never answers stops the run after `backup_timeout`, naming the
// object, before any migration.
#[test]
fn a_silent_endpoint_fails_the_upload_at_its_deadline_before_any_migration() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let mut connections = Vec::new();
        while let Ok((stream, _)) = listener.accept() {
            connections.push(stream);
            if connections.len() > 16 {
                break;
            }
        }
    });
    let _ = held;
    let test = Test::new()
        .config(&format!(
            "[environments.production]\ndatabase = \"sqlite://app.db\"\n\n[migrate]\ndir = \"migrations\"\nbackup_to = \"s3://silent-bucket/p\"\nbackup_endpoint = \"http://127.0.0.1:{port}\"\nbackup_recipient = \"{}\"\nbackup_timeout = \"2s\"\n",
            keys().public
        ))
        .env("AWS_ACCESS_KEY_ID", s3::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", s3::SECRET_ACCESS_KEY)
        .env("AWS_REGION", s3::REGION)
        .file("migrations/0001_a.sql", "CREATE TABLE a (id int);\n")
        .args(["migrate", "apply"]);
    test.run(0);
    fs_err::write(
        test.path().join("migrations/0002_b.sql"),
        "CREATE TABLE b (id int);\n",
    )
    .unwrap();
    let started = std::time::Instant::now();
    let failed = test.run_within(3, std::time::Duration::from_secs(60));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    failed
        .stderr_has("error: failed to upload `s3://silent-bucket/p/production/")
        .nowhere(s3::SECRET_ACCESS_KEY);
    let connection = rusqlite::Connection::open(test.path().join("app.db")).unwrap();
    let tables: i64 = connection
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'b'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0, "nothing was migrated");
}

// A backup above the single-request limit (16 MiB) is uploaded in 8 MiB
// parts read one at a time, and restores like any other (SQLite here: its
// backup is an uncompressed copy, so its size is easy to control).
#[test]
fn a_large_backup_is_uploaded_in_parts_and_restores() {
    let (server, keys) = (S3Server::start("backups-large"), keys());
    let test = Test::new()
        .config(&format!(
            "[environments.production]\ndatabase = \"sqlite://app.db\"\n\n[migrate]\ndir = \"migrations\"\nbackup_to = \"s3://{}/p\"\nbackup_endpoint = \"{}\"\nbackup_recipient = \"{}\"\n",
            server.bucket(),
            server.endpoint(),
            keys.public
        ))
        .env("AWS_ACCESS_KEY_ID", s3::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", s3::SECRET_ACCESS_KEY)
        .env("AWS_REGION", s3::REGION)
        .env("SHIPGATE_BACKUP_IDENTITY", &keys.secret)
        .file(
            "migrations/0001_big.sql",
            "CREATE TABLE big (b BLOB);\n\
             INSERT INTO big WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 17) \
             SELECT randomblob(1048576) FROM n;\n",
        );
    Test::args_for(&test, ["migrate", "apply"]).run(0);
    fs_err::write(
        test.path().join("migrations/0002_drop.sql"),
        "DROP TABLE big;\n",
    )
    .unwrap();
    let report = Test::args_for(&test, ["migrate", "apply", "--format", "json"])
        .run(0)
        .json();
    let url = output(&report, "backup_remote");
    let content = server.get(&key_of(&url, &server));
    assert!(content.len() > 16 * 1024 * 1024, "{}", content.len());
    assert_eq!(
        output(&report, "backup_remote_sha256"),
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&content))
    );
    lose_local_backups(&test);

    Test::args_for(&test, ["migrate", "restore"])
        .run(0)
        .stdout_has(&format!("downloaded `{url}` and decrypted it"));
    let connection = rusqlite::Connection::open(test.path().join("app.db")).unwrap();
    let rows: i64 = connection
        .query_row(
            "SELECT count(*) FROM big WHERE length(b) = 1048576",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(rows, 17);
}
