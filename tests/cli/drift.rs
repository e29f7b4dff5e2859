//! Schema drift (issue 16) on a real PostgreSQL: `migrate drift` replays
//! the applied migrations on a scratch database and names every difference
//! with the target; a clean apply (plain, Prisma- and Supabase-shaped) has
//! none; `allow` patterns silence exactly what they match; the `drift`
//! gate fails before migrating and, with `after_migrate`, after; and the
//! scratch database is gone after success, failure and Ctrl-C.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::postgres::{TestDatabase, query, server_url, wait_until};
use crate::support::{Output, Test};

fn config(extra: &str) -> String {
    format!(
        r#"
[environments.production]
database = "${{DATABASE_URL}}"

[migrate]
dir = "migrations"
backup = "none"
{extra}
"#
    )
}

/// One object of each kind the issue lists, built by migrations.
const SCHEMA: &[(&str, &str)] = &[
    (
        "0001_users.sql",
        "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE SEQUENCE invoice_numbers START 1000;
CREATE TABLE users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL,
    name text,
    feeling mood DEFAULT 'ok',
    credits int NOT NULL DEFAULT 0 CONSTRAINT credits_positive CHECK (credits >= 0),
    email_lower text GENERATED ALWAYS AS (lower(email)) STORED
);
CREATE UNIQUE INDEX users_email_key ON users (email);
",
    ),
    (
        "0002_orders.sql",
        "CREATE TABLE orders (
    id serial PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_user_idx ON orders (user_id, created_at);
CREATE VIEW recent_orders AS SELECT id, user_id FROM orders WHERE created_at > now() - interval '1 day';
CREATE FUNCTION order_count(uid bigint) RETURNS bigint LANGUAGE sql STABLE AS $$ SELECT count(*) FROM orders WHERE user_id = uid $$;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.created_at := now(); RETURN NEW; END $$;
CREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION touch();
",
    ),
    (
        "0003_profiles.sql",
        "CREATE TABLE profiles (user_id bigint PRIMARY KEY REFERENCES users (id), bio text);
ALTER TABLE profiles ENABLE ROW LEVEL SECURITY;
CREATE POLICY profiles_select ON profiles FOR SELECT USING (true);
",
    ),
];

/// A project whose migrations are [`SCHEMA`] (plus `more`), applied to a
/// new database.
fn applied_project(extra: &str, more: &[(&str, &str)]) -> (Test, TestDatabase) {
    let database = TestDatabase::new();
    let mut test = Test::new()
        .config(&config(extra))
        .env("DATABASE_URL", database.url());
    for (name, sql) in SCHEMA.iter().chain(more) {
        test = test.file(&format!("migrations/{name}"), sql);
    }
    Test::args_for(&test, ["migrate", "apply"]).run(0);
    (test, database)
}

/// `migrate drift --format json`, asserting the exit code.
#[track_caller]
fn drift(test: &Test, code: i32) -> Output {
    Test::args_for(test, ["migrate", "drift", "--format", "json"]).run(code)
}

/// Each failed check's detail (one per difference).
fn sentences(output: &Output) -> Vec<String> {
    output.json()["phases"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|check| check["name"] != "scratch")
        .map(|check| check["detail"].as_str().unwrap().to_owned())
        .collect()
}

/// The scratch database's name, from the report, and that it is gone.
#[track_caller]
fn assert_scratch_dropped(output: &Output) {
    let text = format!("{}{}", output.stdout, output.stderr);
    let start = text
        .find("`shipgate_drift_")
        .unwrap_or_else(|| panic!("no scratch database named in\n{text}"));
    let name: String = text[start + 1..]
        .chars()
        .take_while(|c| *c != '`')
        .collect();
    assert_eq!(
        databases_like(&name),
        Vec::<String>::new(),
        "{name} remains"
    );
}

/// The databases on the server whose names start with `prefix`.
fn databases_like(prefix: &str) -> Vec<String> {
    let rows = query(
        &server_url(),
        &format!(
            "SELECT datname FROM pg_database WHERE starts_with(datname, '{prefix}') ORDER BY 1"
        ),
    )
    .unwrap();
    rows.into_iter()
        .map(|row| row.into_iter().next().flatten().unwrap_or_default())
        .collect()
}

#[test]
fn a_clean_apply_shows_no_drift_and_drops_the_scratch_database() {
    let (test, _database) = applied_project("", &[]);
    let output = drift(&test, 0);
    assert_eq!(sentences(&output), Vec::<String>::new());
    let json = output.json();
    assert_eq!(json["phases"][0]["summary"], "no drift");
    assert_eq!(
        json["outputs"][0],
        serde_json::json!(["drift", "0"]),
        "{json}"
    );
    let scratch = json["phases"][0]["checks"][0]["detail"].as_str().unwrap();
    assert!(scratch.contains("applied 3 migration(s)"), "{scratch}");
    assert_scratch_dropped(&output);

    // The human report says the same.
    Test::args_for(&test, ["migrate", "drift"])
        .run(0)
        .stdout_has("no drift");
}

#[test]
fn each_hand_made_drift_is_named_in_words() {
    let (test, database) = applied_project("", &[]);
    database.query(
        "ALTER TABLE users ADD COLUMN legacy_flag boolean;
         ALTER TABLE users ALTER COLUMN name TYPE varchar(80);
         ALTER TABLE users ALTER COLUMN credits SET DEFAULT 10;
         ALTER TABLE users ALTER COLUMN name SET NOT NULL;
         ALTER TABLE users ALTER COLUMN id SET GENERATED BY DEFAULT;
         ALTER TABLE users DROP COLUMN email_lower;
         ALTER TABLE users ADD COLUMN email_lower text GENERATED ALWAYS AS (upper(email)) STORED;
         CREATE TABLE hotfix_audit (id int);
         DROP INDEX orders_user_idx;
         CREATE INDEX orders_user_idx ON orders (user_id);
         ALTER TABLE users DROP CONSTRAINT credits_positive;
         ALTER TABLE users ADD CONSTRAINT credits_positive CHECK (credits >= 0) NOT VALID;
         ALTER TYPE mood ADD VALUE 'meh' BEFORE 'ok';
         CREATE OR REPLACE VIEW recent_orders AS SELECT id, user_id FROM orders;
         CREATE OR REPLACE FUNCTION order_count(uid bigint) RETURNS bigint LANGUAGE sql STABLE AS $$ SELECT count(*) + 0 FROM orders WHERE user_id = uid $$;
         DROP TRIGGER orders_touch ON orders;
         ALTER TABLE profiles DISABLE ROW LEVEL SECURITY;
         DROP POLICY profiles_select ON profiles;
         CREATE EXTENSION IF NOT EXISTS citext;
         ALTER SEQUENCE invoice_numbers INCREMENT BY 5;",
    );
    // An index that a failed `CREATE INDEX CONCURRENTLY` left invalid.
    database.query(
        "DROP INDEX users_email_key; INSERT INTO users (email, name) VALUES ('a@x', 'a'), ('a@x', 'b');",
    );
    let error =
        database.query_error("CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email)");
    assert!(error.contains("could not create unique index"), "{error}");

    let output = drift(&test, 1);
    let found = sentences(&output);
    let expected = [
        "production has column `users.legacy_flag` that no migration creates",
        "column `users.name` differs: `character varying(80) not null` in production, `text` from the migrations",
        "column `users.credits` differs: `integer not null default 10` in production, `integer not null default 0` from the migrations",
        "column `users.id` differs: `bigint not null identity d` in production, `bigint not null identity a` from the migrations",
        "column `users.email_lower` differs: `text generated default upper(email)` in production, `text generated default lower(email)` from the migrations",
        "production has table `hotfix_audit` that no migration creates",
        "index `orders_user_idx` differs: `btree (user_id)` in production, `btree (user_id, created_at)` from the migrations",
        "index `users_email_key` differs: `unique btree (email) INVALID` in production, `unique btree (email)` from the migrations",
        "constraint `credits_positive` on `users` differs: `CHECK ((credits >= 0)) NOT VALID` in production, `CHECK ((credits >= 0))` from the migrations",
        "type `mood` differs: `enum ('sad', 'meh', 'ok', 'happy')` in production, `enum ('sad', 'ok', 'happy')` from the migrations",
        "trigger `orders_touch` on `orders` is missing in production: the migrations create it",
        "table `profiles` differs: `table row level security off` in production, `table row level security on` from the migrations",
        "policy `profiles_select` on `profiles` is missing in production: the migrations create it",
        "production has extension `citext` that no migration creates",
    ];
    for sentence in expected {
        assert!(
            found.iter().any(|line| line == sentence),
            "missing {sentence:?} in\n{}",
            found.join("\n")
        );
    }
    for prefix in [
        "view `recent_orders` differs: `view  SELECT",
        "function `order_count(uid bigint)` differs: `function returns bigint body md5 ",
        "sequence `invoice_numbers` differs: `bigint start 1000 increment 5",
    ] {
        assert!(
            found.iter().any(|line| line.starts_with(prefix)),
            "missing {prefix:?}… in\n{}",
            found.join("\n")
        );
    }
    assert_eq!(found.len(), expected.len() + 3, "{}", found.join("\n"));
    let json = output.json();
    let column = json["phases"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|check| check["detail"].as_str().unwrap().contains("legacy_flag"))
        .unwrap();
    assert_eq!(column["expected"], "absent");
    assert_eq!(column["actual"], "boolean");
    let artifacts: Vec<(&str, &str)> = column["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|artifact| {
            (
                artifact["name"].as_str().unwrap(),
                artifact["value"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        artifacts,
        [
            ("class", "column"),
            ("object", "public.users.legacy_flag"),
            ("difference", "extra")
        ]
    );
    assert_scratch_dropped(&output);
}

#[test]
fn pending_migrations_are_not_drift_and_comments_and_grants_are_opt_in() {
    let (test, database) = applied_project("", &[]);
    // A pending migration is this deploy's, not drift.
    let test = test.file(
        "migrations/0004_pending.sql",
        "CREATE TABLE later (id int);\n",
    );
    database.query("COMMENT ON TABLE users IS 'people'; GRANT SELECT ON users TO PUBLIC;");
    let output = drift(&test, 0);
    let scratch = output.json()["phases"][0]["checks"][0]["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        scratch.contains("1 pending migration(s) not compared"),
        "{scratch}"
    );

    let test = test.config(&config("[gate.drift]\ncomments = true\ngrants = true\n"));
    let output = drift(&test, 1);
    let found = sentences(&output);
    assert_eq!(found.len(), 2, "{}", found.join("\n"));
    assert_eq!(
        found[0],
        "production has comment `table users` that no migration creates"
    );
    assert!(
        found[1].starts_with("grant `users` differs: `table: owner DELETE, owner INSERT, "),
        "{}",
        found[1]
    );
    assert!(
        found[1].contains(", public SELECT` in production, `table: owner DELETE, "),
        "{}",
        found[1]
    );
    assert!(
        !found[1].ends_with("public SELECT` from the migrations"),
        "{}",
        found[1]
    );
}

#[test]
fn allow_patterns_silence_exactly_what_they_match() {
    let (test, database) = applied_project("", &[]);
    database.query(
        "CREATE SCHEMA auth;
         CREATE TABLE auth.users (id uuid);
         CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql AS $$ SELECT NULL::uuid $$;
         CREATE TABLE legacy_orders (id int);
         CREATE TABLE legacy_users (id int);
         ALTER TABLE users ADD COLUMN legacy_flag boolean;",
    );
    let output = drift(&test, 1);
    assert_eq!(
        sentences(&output),
        [
            "production has schema `auth` that no migration creates",
            "production has table `auth.users` that no migration creates",
            "production has table `legacy_orders` that no migration creates",
            "production has table `legacy_users` that no migration creates",
            "production has column `users.legacy_flag` that no migration creates",
            "production has function `auth.uid()` that no migration creates",
        ]
    );

    let test = test.config(&config(
        "[gate.drift]\nallow = [\"schema:auth\", \"table:public.legacy_*\"]\n",
    ));
    let output = drift(&test, 1);
    assert_eq!(
        sentences(&output),
        ["production has column `users.legacy_flag` that no migration creates"]
    );
    assert_eq!(
        output.json()["phases"][0]["summary"],
        "1 difference (5 allowed)"
    );

    let test = test.config(&config(
        "[gate.drift]\nallow = [\"schema:auth\", \"table:legacy_orders\", \"column:users.legacy_flag\"]\n",
    ));
    let output = drift(&test, 1);
    assert_eq!(
        sentences(&output),
        ["production has table `legacy_users` that no migration creates"]
    );

    let test = test.config(&config(
        "[gate.drift]\nallow = [\"schema:auth\", \"*:public.legacy_*\", \"column:users.legacy_flag\"]\n",
    ));
    drift(&test, 0);
}

#[test]
fn a_bad_allow_pattern_is_a_config_error_naming_its_line() {
    let test = Test::new()
        .config(&config("[gate.drift]\nallow = [\"tabel:users\"]\n"))
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")
        .args(["migrate", "drift"]);
    let output = test.run(2);
    output.stderr_has("names no object class `tabel`");
    output.stderr_has("did you mean `table:users`?");
    output.stderr_has("shipgate.toml:9:10");
}

#[test]
fn a_prisma_history_is_clean_after_apply() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/histories/prisma");
    let database = TestDatabase::new();
    let test = Test::new()
        .config(
            "[environments.production]\ndatabase = \"${DATABASE_URL}\"\n[migrate]\ndir = \"prisma/migrations\"\nbackup = \"none\"\n",
        )
        .env("DATABASE_URL", database.url())
        .copy_dir(&root.join("prisma/migrations"), "prisma/migrations", &[]);
    Test::args_for(&test, ["migrate", "apply"]).run(0);
    let output = drift(&test, 0);
    assert_eq!(sentences(&output), Vec::<String>::new());
    assert_scratch_dropped(&output);
}

/// What the platform provides before any migration runs (Supabase's
/// `auth` schema and roles), in both the target and the shadow database.
const PLATFORM: &str = "DO $$ BEGIN
    CREATE ROLE authenticated NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;
DO $$ BEGIN
    CREATE ROLE anon NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;
CREATE SCHEMA auth;
CREATE TABLE auth.users (id uuid PRIMARY KEY, email text);
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::uuid
$$;";

#[test]
fn a_supabase_history_is_clean_after_apply_on_a_shadow_database() {
    let database = TestDatabase::new();
    let shadow = TestDatabase::new();
    database.query(PLATFORM);
    shadow.query(PLATFORM);
    let test = Test::new()
        .config(
            "[environments.production]\ndatabase = \"${DATABASE_URL}\"\nshadow_database = \"${SHADOW_DATABASE_URL}\"\n\
             [migrate]\ndir = \"supabase/migrations\"\nbackup = \"none\"\n\
             [gate.drift]\nallow = [\"schema:auth\"]\n",
        )
        .env("DATABASE_URL", database.url())
        .env("SHADOW_DATABASE_URL", shadow.url())
        .file(
            "supabase/migrations/20240101000000_extensions.sql",
            "CREATE EXTENSION IF NOT EXISTS pgcrypto;\n",
        )
        .file(
            "supabase/migrations/20240102000000_profiles.sql",
            "CREATE TABLE public.profiles (
    id uuid PRIMARY KEY REFERENCES auth.users (id) ON DELETE CASCADE,
    username text UNIQUE,
    updated_at timestamptz DEFAULT now()
);
ALTER TABLE public.profiles ENABLE ROW LEVEL SECURITY;
CREATE POLICY \"Public profiles are viewable by everyone.\" ON public.profiles FOR SELECT USING (true);
CREATE POLICY \"Users can update own profile.\" ON public.profiles FOR UPDATE TO authenticated USING ((SELECT auth.uid()) = id);
",
        )
        .file(
            "supabase/migrations/20240103000000_handle_new_user.sql",
            "CREATE FUNCTION public.handle_new_user() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
  INSERT INTO public.profiles (id, username) VALUES (new.id, new.email);
  RETURN new;
END;
$$;
CREATE TRIGGER on_auth_user_created AFTER INSERT ON auth.users
  FOR EACH ROW EXECUTE PROCEDURE public.handle_new_user();
CREATE FUNCTION public.token() RETURNS text LANGUAGE sql AS $$ SELECT encode(gen_random_bytes(8), 'hex') $$;
",
        );
    Test::args_for(&test, ["migrate", "apply"]).run(0);
    let output = drift(&test, 0);
    assert_eq!(sentences(&output), Vec::<String>::new());
    let scratch = output.json()["phases"][0]["checks"][0]["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        scratch.contains(&format!("the shadow database `{}`", shadow.name())),
        "{scratch}"
    );
    // The migrations' objects are in the shadow database, the platform's kept.
    assert_eq!(
        shadow.column(
            "SELECT count(*)::text FROM pg_policy WHERE polrelid = 'public.profiles'::regclass"
        ),
        ["2"]
    );

    // A hand edit in the dashboard is drift; the platform's schema is not.
    database.query(
        "DROP POLICY \"Users can update own profile.\" ON public.profiles; CREATE TABLE auth.sessions (id uuid);",
    );
    let output = drift(&test, 1);
    assert_eq!(
        sentences(&output),
        [
            "policy `Users can update own profile.` on `profiles` is missing in production: the migrations create it"
        ]
    );
}

#[test]
fn a_shadow_database_that_is_the_target_is_refused() {
    let database = TestDatabase::new();
    let test = Test::new()
        .config(
            "[environments.production]\ndatabase = \"${DATABASE_URL}\"\nshadow_database = \"${DATABASE_URL}\"\n[migrate]\ndir = \"migrations\"\n",
        )
        .env("DATABASE_URL", database.url())
        .file("migrations/0001_a.sql", "CREATE TABLE a (id int);\n")
        .args(["migrate", "drift"]);
    let output = test.run(2);
    output.stderr_has("`shadow_database` is the environment's own database");
}

#[test]
fn a_migration_that_fails_on_the_scratch_database_is_reported_and_the_scratch_dropped() {
    let database = TestDatabase::new();
    // A function made by hand, which the migration then relied on.
    database.query("CREATE FUNCTION made_by_hand() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;");
    let test = Test::new()
        .config(&config(""))
        .env("DATABASE_URL", database.url())
        .file(
            "migrations/0001_uses_it.sql",
            "CREATE TABLE a (id int DEFAULT made_by_hand());\n",
        );
    Test::args_for(&test, ["migrate", "apply"]).run(0);
    let output = drift(&test, 1);
    let json = output.json();
    let scratch = &json["phases"][0]["checks"][0];
    assert_eq!(scratch["status"], "fail");
    let detail = scratch["detail"].as_str().unwrap();
    assert!(detail.contains("`0001_uses_it` failed there"), "{detail}");
    assert!(detail.contains("made_by_hand() does not exist"), "{detail}");
    assert_scratch_dropped(&output);
}

/// Starts `args` on a history whose second migration sleeps, sends SIGINT
/// once that migration runs on the scratch database, and returns the exit
/// code and stdout after asserting the scratch database is gone.
fn interrupt_during_replay(args: &[&str], extra: &str) -> (Option<i32>, String) {
    let database = TestDatabase::new();
    let test = Test::new()
        .config(&config(extra))
        .env("DATABASE_URL", database.url())
        .file(
            "migrations/0001_first.sql",
            "CREATE TABLE first (id int);\n",
        )
        .file(
            "migrations/0002_slow.sql",
            "SELECT pg_sleep(1.5);\nCREATE TABLE slow (id int);\n",
        );
    Test::args_for(&test, ["migrate", "apply"]).run(0);
    let child = crate::support::shipgate(test.path())
        .args(args)
        .env("DATABASE_URL", database.url())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let prefix = format!("shipgate_drift_{}_", child.id());
    let sleeping = format!(
        "SELECT count(*)::text FROM pg_stat_activity WHERE starts_with(datname, '{prefix}') AND query LIKE '%pg_sleep%' AND state = 'active'"
    );
    wait_until(
        "the slow migration to run on the scratch database",
        Duration::from_secs(30),
        || {
            query(&server_url(), &sleeping).is_ok_and(|rows| {
                rows.first().and_then(|row| row.first().cloned().flatten()) == Some("1".to_owned())
            })
        },
    );
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(databases_like(&prefix), Vec::<String>::new());
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn sigint_during_drift_drops_the_scratch_database_and_exits_130() {
    let (code, stdout) = interrupt_during_replay(&["migrate", "drift"], "");
    assert_eq!(code, Some(130), "{stdout}");
    assert!(stdout.contains("interrupted"), "{stdout}");
    assert!(!stdout.contains("no drift"), "{stdout}");
}

#[test]
fn sigint_during_the_drift_gate_drops_the_scratch_database_and_exits_130() {
    let (code, stdout) = interrupt_during_replay(&["gate"], "[gate.drift]\n");
    assert_eq!(code, Some(130), "{stdout}");
    assert!(stdout.contains("interrupted"), "{stdout}");
}

#[test]
fn the_drift_gate_fails_before_migrating_and_checks_again_after() {
    // A migration whose DDL depends on the data: it lies on a database
    // with rows, which only the check after migrating can see.
    let (test, database) = applied_project("[gate.drift]\nafter_migrate = true\n", &[]);
    database.query("ALTER TABLE users ADD COLUMN legacy_flag boolean;");
    let output = Test::args_for(&test, ["gate"]).run(1);
    output.stdout_has(
        "✗ drift 1 difference: production has column `users.legacy_flag` that no migration creates",
    );
    assert_scratch_dropped(&output);

    database.query(
        "ALTER TABLE users DROP COLUMN legacy_flag; INSERT INTO users (email) VALUES ('a@x');",
    );
    Test::args_for(&test, ["gate"])
        .run(0)
        .stdout_has("✓ drift no drift");
    let test = test.file(
        "migrations/0004_conditional.sql",
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM users) THEN CREATE INDEX users_name_idx ON users (name); END IF; END $$;\n",
    );
    let output = Test::args_for(&test, ["run", "--format", "json"]).run(1);
    let json = output.json();
    let phases = json["phases"].as_array().unwrap();
    let names: Vec<&str> = phases
        .iter()
        .map(|phase| phase["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["gate", "migrate", "migrate"], "{json}");
    assert_eq!(phases[0]["checks"][0]["status"], "pass", "{json}");
    assert!(
        phases[1]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|check| check["name"] == "0004_conditional" && check["status"] == "pass"),
        "{json}"
    );
    let after = &phases[2]["checks"][0];
    assert_eq!(after["name"], "drift after migrate");
    assert_eq!(after["status"], "fail");
    assert!(
        after["detail"]
            .as_str()
            .unwrap()
            .contains("production has index `users_name_idx` that no migration creates"),
        "{after}"
    );
    assert_eq!(phases[2]["summary"], "after migrating: 1 difference");
    // Nothing was deployed: the database stays migrated.
    assert_eq!(
        database.column("SELECT count(*)::text FROM pg_indexes WHERE indexname = 'users_name_idx'"),
        ["1"]
    );
}
