//! One classification (issue 11, item 3): `migrate plan`'s printed class,
//! `migrate apply`'s run state (`migration_classes`, which
//! `rollback.database = "auto"` reads), `migrate lint --pending` and the
//! `migrations` gate agree on every pending migration, each judged against
//! the whole history (applied files, then pending ones).

use crate::support::Test;
use crate::support::postgres::TestDatabase;

/// The applied history every case starts from; Prisma-style qualified and
/// quoted names on purpose.
const BASE: &str = "CREATE TABLE t (n int, id uuid, name varchar(100), note varchar(100), legacy text);\n\
CREATE TABLE \"public\".\"Widget\" (\"n\" INTEGER, \"label\" VARCHAR(10));\n";

const PENDING: &str = "db/migrations/0002_change.sql";

fn git(dir: &std::path::Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(status.status.success(), "git {args:?}: {status:?}");
}

/// What plan, the run state, lint and the gate call the pending `change`.
fn classes(change: &str) -> [String; 4] {
    let database = TestDatabase::new();
    let test = Test::new()
        .config(
            "[environments.local]\ndatabase = \"${DATABASE_URL}\"\n[migrate]\ndir = \"db/migrations\"\n[gate.migrations]\nlint = \"warn\"\n",
        )
        .env("DATABASE_URL", database.url())
        .file(".gitignore", ".state/\nbackups/\n.shipgate/\n")
        .file("db/migrations/0001_base.sql", BASE)
        .args(["migrate", "lint", "--pending", "--format", "json"]);
    let dir = test.path();
    git(dir, &["init", "-q"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "base"]);
    Test::args_for(&test, ["migrate", "apply"]).run(0);
    fs_err::write(dir.join(PENDING), change).unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "change"]);

    let plan = Test::args_for(&test, ["migrate", "plan"]).run(0).stdout;
    let plan = ["additive", "destructive"]
        .into_iter()
        .find(|class| plan.contains(&format!("0002_change would apply ({class})")))
        .unwrap_or_else(|| panic!("no class in plan: {plan}"));

    let lint = test.output();
    let report: serde_json::Value =
        serde_json::from_str(&lint.stdout).unwrap_or_else(|_| panic!("lint JSON: {lint:?}"));
    let detail = report["phases"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|check| check["name"] == PENDING)
        .unwrap_or_else(|| panic!("no check for {PENDING}: {report}"))["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    let lint = if detail.starts_with("destructive") {
        "destructive"
    } else {
        "additive"
    };

    let gate = Test::args_for(&test, ["gate"]).run(0).stdout;
    assert!(gate.contains("lint `warn`: 1 migration(s)"), "{gate}");
    let gate = if gate.contains(&format!("destructive: `{PENDING}`")) {
        "destructive"
    } else {
        "additive"
    };

    Test::args_for(&test, ["migrate", "apply"]).run(0);
    let state: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(dir.join(".state/state.json")).unwrap())
            .unwrap();
    let recorded = state["migration_classes"]["0002"]
        .as_str()
        .unwrap_or_else(|| panic!("no class recorded: {state}"))
        .to_owned();
    [plan.to_owned(), recorded, lint.to_owned(), gate.to_owned()]
}

#[test]
fn plan_run_state_lint_and_gate_classify_each_migration_alike() {
    // issue 11, item 3: plan and apply classified each file alone, so
    // int->text was "additive" in the run state and varchar widening
    // "destructive".
    let cases = [
        (
            "int to text",
            "ALTER TABLE t ALTER COLUMN n TYPE text;\n",
            "destructive",
        ),
        (
            "uuid to text",
            "ALTER TABLE t ALTER COLUMN id TYPE text;\n",
            "destructive",
        ),
        (
            "varchar widened",
            "ALTER TABLE t ALTER COLUMN name TYPE varchar(200);\n",
            "additive",
        ),
        (
            "varchar to text",
            "ALTER TABLE t ALTER COLUMN note TYPE text;\n",
            "additive",
        ),
        (
            "drop column",
            "ALTER TABLE t DROP COLUMN legacy;\n",
            "destructive",
        ),
        (
            "add nullable column",
            "ALTER TABLE t ADD COLUMN extra text;\n",
            "additive",
        ),
        (
            "add index",
            "CREATE INDEX t_name_idx ON t (name);\n",
            "additive",
        ),
        (
            "rename column",
            "ALTER TABLE t RENAME COLUMN note TO remark;\n",
            "destructive",
        ),
        (
            "unqualified name of a qualified table, widened",
            "ALTER TABLE \"Widget\" ALTER COLUMN \"label\" SET DATA TYPE VARCHAR(20);\n",
            "additive",
        ),
        (
            "qualified name, int to text",
            "ALTER TABLE public.\"Widget\" ALTER COLUMN \"n\" SET DATA TYPE TEXT;\n",
            "destructive",
        ),
    ];
    for (case, change, expected) in cases {
        assert_eq!(
            classes(change),
            [expected; 4],
            "{case}: plan, run state, lint, gate"
        );
    }
}
