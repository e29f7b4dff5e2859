//! SQLite under `kill -9` (issue 10's fault suite): a runner killed in the
//! middle of a migration leaves the database as it was before that file,
//! with a history that says so, and the next run finishes the job.

use std::io::{BufRead as _, BufReader};

use crate::support::Test;

const CONFIG: &str = "[environments.local]\ndatabase = \"sqlite://app.db\"\n";

/// Long enough (seconds on this machine) to be killed mid-statement.
const SLOW: &str = "CREATE TABLE slow_marker (id INTEGER);\n\
    WITH RECURSIVE counter(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM counter WHERE x < 200000000)\n\
    SELECT count(*) FROM counter;\n";

fn column(test: &Test, sql: &str) -> Vec<String> {
    let connection = rusqlite::Connection::open(test.path().join("app.db")).unwrap();
    let mut statement = connection.prepare(sql).unwrap();
    statement
        .query_map([], |row| row.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn sqlite_killed_mid_migration_keeps_the_file_undone_and_the_next_run_finishes() {
    let test = Test::new()
        .config(CONFIG)
        .file("migrations/0001_users.sql", "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);\nINSERT INTO users (name) VALUES ('ada');\n")
        .file("migrations/0002_slow.sql", SLOW)
        .file("migrations/0003_orders.sql", "CREATE TABLE orders (id INTEGER);\n")
        .args(["migrate", "apply"]);
    let mut child = test.spawn();
    // The runner says which file it starts before it starts it: kill it
    // once it is inside 0002 (it never finishes that file on its own in time).
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let started_slow = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|line| line.contains("applying `migrations/0002_slow.sql`"));
    assert!(started_slow, "the runner never reached 0002");
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), None, "killed by SIGKILL");

    // 0001 committed; 0002's first statement was rolled back with it.
    assert_eq!(column(&test, "SELECT name FROM users"), ["ada"]);
    assert_eq!(
        column(
            &test,
            "SELECT version FROM shipgate_migrations ORDER BY version"
        ),
        ["0001"]
    );
    assert!(
        column(
            &test,
            "SELECT name FROM sqlite_master WHERE name = 'slow_marker'"
        )
        .is_empty(),
        "the killed file left nothing behind"
    );

    // The team fixes the slow file; the next run applies 0002 and 0003.
    fs_err::write(
        test.path().join("migrations/0002_slow.sql"),
        "CREATE TABLE slow_marker (id INTEGER);\n",
    )
    .unwrap();
    test.run(0)
        .stdout_has("✓ 0002_slow applied")
        .stdout_has("✓ 0003_orders applied");
    assert_eq!(
        column(
            &test,
            "SELECT version FROM shipgate_migrations ORDER BY version"
        ),
        ["0001", "0002", "0003"]
    );
    assert_eq!(column(&test, "PRAGMA integrity_check"), ["ok"]);
}
