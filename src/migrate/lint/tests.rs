//! Rule fixtures (`tests/fixtures/lint/<rule>/`): `trigger.sql` must report
//! the rule on the line after its `-- expect: <rule>` marker, `near_miss.sql`
//! must not report it. Plus real-world-shaped Prisma and Supabase files,
//! suppressions, severity overrides and classification.

use std::path::{Path, PathBuf};

use super::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn lint_one(path: &Path, config: &LintConfig) -> FileLint {
    let sql = fs_err::read_to_string(path).unwrap();
    let mut results = lint_sources(
        vec![LintSource {
            path: path.to_owned(),
            sql,
            outside_transaction: false,
        }],
        config,
    )
    .unwrap();
    results.remove(0)
}

#[test]
fn every_rule_has_a_fixture_that_triggers_it_and_a_near_miss_that_does_not() {
    for rule in RULES {
        let dir = fixtures().join("lint").join(rule.id);
        let trigger = dir.join("trigger.sql");
        let sql = fs_err::read_to_string(&trigger).unwrap();
        let marker = format!("-- expect: {}", rule.id);
        let marker_line = sql
            .lines()
            .position(|line| line.trim() == marker)
            .unwrap_or_else(|| panic!("{} has no `{marker}` line", trigger.display()))
            + 1;
        let linted = lint_one(&trigger, &LintConfig::default());
        let lines: Vec<usize> = linted
            .finding_lines()
            .into_iter()
            .filter(|(id, _)| *id == rule.id)
            .map(|(_, line)| line)
            .collect();
        assert_eq!(
            lines,
            [marker_line + 1],
            "{}: {:?}",
            trigger.display(),
            linted.finding_lines()
        );

        let near_miss = dir.join("near_miss.sql");
        let linted = lint_one(&near_miss, &LintConfig::default());
        assert!(
            linted.finding_lines().iter().all(|(id, _)| *id != rule.id),
            "{}: {:?}",
            near_miss.display(),
            linted.finding_lines()
        );
    }
}

#[test]
fn prisma_migrations_lint_cleanly_except_real_hazards() {
    let real = fixtures().join("lint-real");
    let sources: Vec<LintSource> = ["prisma_init.sql", "prisma_hazard.sql"]
        .iter()
        .map(|name| LintSource {
            path: PathBuf::from(name),
            sql: fs_err::read_to_string(real.join(name)).unwrap(),
            outside_transaction: false,
        })
        .collect();
    let results = lint_sources(sources, &LintConfig::default()).unwrap();
    assert_eq!(results[0].finding_lines(), []);
    assert_eq!(results[0].statements, 5);
    assert_eq!(results[0].classification.class, MigrationClass::Additive);
    // VARCHAR(255) -> TEXT is known safe from the first file's CREATE TABLE.
    assert_eq!(
        results[1].finding_lines(),
        [
            ("drop-column", 8),
            ("missing-lock-timeout", 8),
            ("create-index-non-concurrently", 15)
        ]
    );
    // DROP COLUMN + ADD COLUMN (one statement: destructive), ALTER TYPE to
    // text (additive), CREATE INDEX (locking).
    assert_eq!(
        results[1].counts,
        StatementCounts {
            additive: 1,
            destructive: 1,
            locking: 1
        }
    );
    assert_eq!(
        results[1].classification,
        Classification {
            class: MigrationClass::Destructive,
            reasons: vec!["drops column User.name".to_owned()],
            locking: true,
            findings: results[1].classification.findings.clone(),
        }
    );
    // The summary's findings: one line each, in file order, with line and rule.
    let findings = &results[1].classification.findings;
    assert_eq!(findings.len(), 3, "{findings:?}");
    for (finding, prefix) in findings.iter().zip([
        "line 8 drop-column: ",
        "line 8 missing-lock-timeout: ",
        "line 15 create-index-non-concurrently: ",
    ]) {
        assert!(finding.starts_with(prefix), "{finding}");
    }
}

#[test]
fn supabase_sql_with_policies_functions_and_grants_lints_cleanly() {
    let linted = lint_one(
        &fixtures().join("lint-real/supabase_profiles.sql"),
        &LintConfig::default(),
    );
    assert_eq!(linted.finding_lines(), []);
    assert_eq!(linted.statements, 10);
    assert_eq!(linted.classification.class, MigrationClass::Additive);
}

#[test]
fn a_policy_on_an_existing_table_needs_a_lock_timeout() {
    let sql = "create policy \"read\" on public.profiles for select using (true);\n";
    let linted = lint_sources(
        vec![LintSource {
            path: "x.sql".into(),
            sql: sql.to_owned(),
            outside_transaction: false,
        }],
        &LintConfig::default(),
    )
    .unwrap();
    assert_eq!(linted[0].finding_lines(), [("missing-lock-timeout", 1)]);
}

#[test]
fn a_type_change_is_judged_against_the_type_from_an_earlier_file() {
    let sources = vec![
        LintSource {
            path: "1.sql".into(),
            sql: "CREATE TABLE t (name varchar(50), price numeric(10,2), n int);".to_owned(),
            outside_transaction: false,
        },
        LintSource {
            path: "2.sql".into(),
            sql: "SET lock_timeout = '1s';\nALTER TABLE t ALTER COLUMN name TYPE varchar(80);\nALTER TABLE t ALTER COLUMN price TYPE numeric(12,2);\nALTER TABLE t ALTER COLUMN name TYPE varchar(20);\nALTER TABLE t ALTER COLUMN n TYPE text;\n".to_owned(),
            outside_transaction: false,
        },
    ];
    let results = lint_sources(sources, &LintConfig::default()).unwrap();
    assert_eq!(
        results[1].finding_lines(),
        [("change-column-type", 4), ("change-column-type", 5)]
    );
}

#[test]
fn suppressions_with_a_reason_allow_and_without_one_fail() {
    let sql = "SET lock_timeout = '5s';\n-- shipgate:allow drop-column reason: unused since v40\nALTER TABLE users DROP COLUMN a;\n-- shipgate:allow drop-column\nALTER TABLE users DROP COLUMN b;\n";
    let linted = lint_sources(
        vec![LintSource {
            path: "x.sql".into(),
            sql: sql.to_owned(),
            outside_transaction: false,
        }],
        &LintConfig::default(),
    )
    .unwrap()
    .remove(0);
    assert_eq!(
        linted.finding_lines(),
        [("suppression-without-reason", 4), ("drop-column", 5)]
    );
    let allowed: Vec<&str> = linted
        .findings
        .iter()
        .filter_map(|reported| reported.allowed.as_deref())
        .collect();
    assert_eq!(allowed, ["unused since v40"]);
    assert!(linted.has_errors());
    // Allowed findings still make the migration destructive.
    assert_eq!(linted.classification.class, MigrationClass::Destructive);
}

#[test]
fn config_overrides_change_severity_or_turn_a_rule_off() {
    let sql = "DROP TABLE users;\nTRUNCATE t;\n";
    let source = || {
        vec![LintSource {
            path: "x.sql".into(),
            sql: sql.to_owned(),
            outside_transaction: false,
        }]
    };
    let default = lint_sources(source(), &LintConfig::default()).unwrap();
    assert!(default[0].has_errors());
    let config = LintConfig {
        rules: [
            ("drop-table".to_owned(), RuleLevel::Warning),
            ("truncate".to_owned(), RuleLevel::Off),
            ("missing-lock-timeout".to_owned(), RuleLevel::Error),
        ]
        .into(),
        ..LintConfig::default()
    };
    let linted = lint_sources(source(), &config).unwrap().remove(0);
    let severities: Vec<(&str, Severity)> = linted
        .findings
        .iter()
        .map(|reported| (reported.finding.rule, reported.severity))
        .collect();
    assert_eq!(
        severities,
        [
            ("drop-table", Severity::Warning),
            ("missing-lock-timeout", Severity::Error)
        ]
    );
}

fn classify(sql: &str) -> Classification {
    classify_history(&[sql]).remove(0)
}

#[test]
fn classify_history_separates_additive_from_destructive() {
    assert_eq!(
        classify("CREATE TABLE a (id bigint); ALTER TABLE b ADD COLUMN c text;").class,
        MigrationClass::Additive
    );
    let destructive = classify("ALTER TABLE users DROP COLUMN legacy_id;");
    assert_eq!(destructive.reasons, ["drops column users.legacy_id"]);
    assert_eq!(
        classify("CREATE TABEL x").class,
        MigrationClass::Destructive
    );
}

#[test]
fn classify_history_judges_type_changes_against_earlier_files() {
    // issue 11, item 3: int->text and uuid->text were "additive" per file,
    // varchar widening "destructive".
    let create = "CREATE TABLE t (n int, id uuid, name varchar(100), note varchar(10), s text, price numeric(10,2));";
    let cases = [
        (
            "ALTER TABLE t ALTER COLUMN n TYPE text;",
            Some("changes the type of column t.n from int4 to text"),
        ),
        (
            "ALTER TABLE t ALTER COLUMN id TYPE text;",
            Some("changes the type of column t.id from uuid to text"),
        ),
        (
            "ALTER TABLE t ALTER COLUMN s TYPE int USING s::int;",
            Some("changes the type of column t.s from text to int4"),
        ),
        (
            "ALTER TABLE t ALTER COLUMN name TYPE varchar(50);",
            Some("changes the type of column t.name from varchar(100) to varchar(50)"),
        ),
        ("ALTER TABLE t ALTER COLUMN name TYPE varchar(200);", None),
        ("ALTER TABLE t ALTER COLUMN note TYPE text;", None),
        ("ALTER TABLE t ALTER COLUMN s TYPE varchar;", None),
        ("ALTER TABLE t ALTER COLUMN price TYPE numeric(12,2);", None),
        (
            "ALTER TABLE t ALTER COLUMN price TYPE numeric(12,4);",
            Some("changes the type of column t.price from numeric(10,2) to numeric(12,4)"),
        ),
        (
            "ALTER TABLE unknown ALTER COLUMN c TYPE text;",
            Some("changes the type of column unknown.c to text (its previous type is unknown)"),
        ),
    ];
    for (change, reason) in cases {
        let classes = classify_history(&[create, change]);
        let expected: Vec<&str> = reason.into_iter().collect();
        assert_eq!(classes[1].reasons, expected, "{change}");
    }
}

#[test]
fn quoted_public_and_unqualified_names_are_one_table() {
    // issue 11, item 3: Prisma qualifies names; `public.` is the default schema.
    let classes = classify_history(&[
        "CREATE TABLE \"public\".\"Widget\" (\"n\" INTEGER, \"label\" VARCHAR(10));\nCREATE TABLE public.gadget (name varchar(10));",
        "ALTER TABLE \"Widget\" ALTER COLUMN \"n\" SET DATA TYPE TEXT;",
        "ALTER TABLE \"public\".\"Widget\" ALTER COLUMN \"label\" SET DATA TYPE VARCHAR(20);\nALTER TABLE GADGET ALTER COLUMN name TYPE text;",
        "ALTER TABLE widget ALTER COLUMN label TYPE varchar(30);",
    ]);
    assert_eq!(
        classes[1].reasons,
        ["changes the type of column Widget.n from int4 to text"]
    );
    assert_eq!(
        classes[2].class,
        MigrationClass::Additive,
        "{:?}",
        classes[2]
    );
    // Unquoted `widget` is another table than quoted `Widget`: unknown type.
    assert_eq!(classes[3].class, MigrationClass::Destructive);

    // A table created as `"public"."Widget"` is new to `"Widget"` in the same file.
    let sources = vec![LintSource {
        path: "1.sql".into(),
        sql: "CREATE TABLE \"public\".\"Widget\" (\"id\" TEXT NOT NULL);\nCREATE UNIQUE INDEX \"Widget_id_key\" ON \"Widget\"(\"id\");\nALTER TABLE public.\"Widget\" DROP COLUMN \"id\";\n".to_owned(),
        outside_transaction: false,
    }];
    let results = lint_sources(sources, &LintConfig::default()).unwrap();
    assert_eq!(results[0].finding_lines(), []);
    assert_eq!(results[0].classification.class, MigrationClass::Additive);
}

#[test]
fn drop_function_and_procedure_name_what_they_drop() {
    // issue 11, item 3: the reason read "drops , drops ".
    let class = classify(
        "DROP FUNCTION public.touch(integer, text), other;\nDROP PROCEDURE \"public\".\"Archive\"();\nDROP VIEW v;",
    );
    assert_eq!(
        class.reasons,
        [
            "drops function touch(int4, text), other",
            "drops procedure Archive()",
            "drops view v"
        ]
    );
}

#[test]
fn each_alter_table_clause_is_listed_and_points_at_its_own_line() {
    // issue 11, item 3: annotations landed on the statement's first line
    // and only the last destructive clause was listed.
    let sql = "SET lock_timeout = '5s';\nALTER TABLE \"public\".\"Widget\" ADD COLUMN \"c\" TEXT,\n  DROP COLUMN \"a\",\n  ALTER COLUMN \"b\" SET NOT NULL,\n  DROP COLUMN \"d\";\n";
    let results = lint_sources(
        vec![LintSource {
            path: "1.sql".into(),
            sql: sql.to_owned(),
            outside_transaction: false,
        }],
        &LintConfig::default(),
    )
    .unwrap();
    assert_eq!(
        results[0].finding_lines(),
        [("drop-column", 3), ("set-not-null", 4), ("drop-column", 5)]
    );
    assert_eq!(
        results[0].classification.reasons,
        ["drops column Widget.a", "drops column Widget.d"]
    );
}

#[test]
fn every_rule_is_documented() {
    let docs =
        fs_err::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/lint-rules.md"))
            .unwrap();
    for rule in RULES {
        assert!(
            docs.contains(&format!("## `{}`", rule.id)),
            "docs/lint-rules.md lacks `{}`",
            rule.id
        );
    }
}

#[test]
fn identity_and_stored_generated_columns_are_rewrites_too() {
    let sql = "SET lock_timeout = '5s';\nALTER TABLE u ADD COLUMN b int GENERATED ALWAYS AS (a * 2) STORED;\nALTER TABLE u ADD COLUMN c bigint GENERATED ALWAYS AS IDENTITY;\nALTER TABLE u ADD COLUMN d text DEFAULT 'x';\n";
    let linted = lint_sources(
        vec![LintSource {
            path: "x.sql".into(),
            sql: sql.to_owned(),
            outside_transaction: false,
        }],
        &LintConfig::default(),
    )
    .unwrap()
    .remove(0);
    assert_eq!(
        linted.finding_lines(),
        [
            ("add-column-volatile-default", 2),
            ("add-column-volatile-default", 3)
        ]
    );
}
