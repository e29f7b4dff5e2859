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
        }
    );
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
        },
        LintSource {
            path: "2.sql".into(),
            sql: "SET lock_timeout = '1s';\nALTER TABLE t ALTER COLUMN name TYPE varchar(80);\nALTER TABLE t ALTER COLUMN price TYPE numeric(12,2);\nALTER TABLE t ALTER COLUMN name TYPE varchar(20);\nALTER TABLE t ALTER COLUMN n TYPE text;\n".to_owned(),
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

#[test]
fn classify_sql_separates_additive_from_destructive() {
    assert_eq!(
        classify_sql("CREATE TABLE a (id bigint); ALTER TABLE b ADD COLUMN c text;").class,
        MigrationClass::Additive
    );
    let destructive = classify_sql("ALTER TABLE users DROP COLUMN legacy_id;");
    assert_eq!(destructive.reasons, ["drops column users.legacy_id"]);
    assert_eq!(
        classify_sql("CREATE TABEL x").class,
        MigrationClass::Destructive
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
