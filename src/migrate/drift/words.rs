//! How drift is said: names split and shown as people read them, the
//! noise dropped before comparing (history tables, column positions) and
//! after (the parts of a table that is itself extra or missing), and one
//! sentence per difference.

use super::{DriftFinding, DriftKind};
use crate::db::postgres::catalog::{CatalogObject, Difference, ObjectClass};

/// How many characters of a definition a sentence shows.
const SHOWN_LIMIT: usize = 160;

/// The parts of a qualified name as the catalog writes it
/// (`public."User".email`), unquoted: split on the dots outside double
/// quotes, up to a routine's argument list, which stays with the last part.
pub fn identifiers(name: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                current.push('"');
            }
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(std::mem::take(&mut current)),
            '(' if !quoted => {
                current.push('(');
                current.extend(chars.by_ref());
            }
            _ => current.push(c),
        }
    }
    parts.push(current);
    parts
}

/// The history tables of every layout, and shipgate's own bookkeeping:
/// each tool writes its own columns, so they are never compared.
pub(super) fn is_bookkeeping(object: &CatalogObject) -> bool {
    const TABLES: [&str; 4] = [
        "shipgate_migrations",
        "shipgate_failed_migrations",
        "_prisma_migrations",
        "schema_migrations",
    ];
    if object.class == ObjectClass::Comment || object.class == ObjectClass::DefaultPrivileges {
        return TABLES.iter().any(|table| object.name.ends_with(table))
            || object.name.contains("supabase_migrations");
    }
    let parts = identifiers(&object.name);
    if parts[0] == "supabase_migrations" {
        return true;
    }
    let Some(second) = parts.get(1) else {
        return false;
    };
    TABLES
        .iter()
        .any(|table| second == table || *second == format!("{table}_pkey"))
}

/// Drops what is noise for drift: a column's position (a column added by
/// hand shifts every later one).
pub(super) fn normalize(mut object: CatalogObject) -> CatalogObject {
    if object.class == ObjectClass::Column && object.definition.starts_with('#') {
        let rest = object
            .definition
            .split_once(' ')
            .map_or("", |(_, rest)| rest);
        object.definition = rest.to_owned();
    }
    object
}

/// Drops the parts of a table or view that is itself extra or missing
/// (its columns, constraints, triggers and policies): the table's own
/// sentence says it all.
pub(super) fn fold(findings: Vec<DriftFinding>) -> Vec<DriftFinding> {
    let whole: Vec<(DriftKind, Vec<String>)> = findings
        .iter()
        .filter(|finding| {
            matches!(finding.class, ObjectClass::Table | ObjectClass::View)
                && finding.kind != DriftKind::Changed
        })
        .map(|finding| (finding.kind, identifiers(&finding.name)))
        .collect();
    findings
        .into_iter()
        .filter(|finding| {
            if !matches!(
                finding.class,
                ObjectClass::Column
                    | ObjectClass::Constraint
                    | ObjectClass::Trigger
                    | ObjectClass::Policy
            ) {
                return true;
            }
            let parts = identifiers(&finding.name);
            let owner = &parts[..parts.len().saturating_sub(1)];
            !whole
                .iter()
                .any(|(kind, table)| *kind == finding.kind && table.as_slice() == owner)
        })
        .collect()
}

/// `diff(migrations, database)` turned into a finding with its sentence.
pub(super) fn finding(difference: &Difference, environment: &str) -> DriftFinding {
    let (object, kind, database, migrations) = match difference {
        Difference::Added(object) => (
            object,
            DriftKind::Extra,
            Some(object.definition.clone()),
            None,
        ),
        Difference::Removed(object) => (
            object,
            DriftKind::Missing,
            None,
            Some(object.definition.clone()),
        ),
        Difference::Changed { before, after } => (
            before,
            DriftKind::Changed,
            Some(after.definition.clone()),
            Some(before.definition.clone()),
        ),
    };
    let mut finding = DriftFinding {
        class: object.class,
        name: object.name.clone(),
        kind,
        database,
        migrations,
        sentence: String::new(),
    };
    let shown = shown_name(&finding);
    let class = finding.class;
    finding.sentence = match kind {
        DriftKind::Extra => {
            format!("{environment} has {class} {shown} that no migration creates")
        }
        DriftKind::Missing => {
            format!("{class} {shown} is missing in {environment}: the migrations create it")
        }
        DriftKind::Changed => format!(
            "{class} {shown} differs: `{}` in {environment}, `{}` from the migrations",
            shown_definition(class, finding.database.as_deref().unwrap_or_default()),
            shown_definition(class, finding.migrations.as_deref().unwrap_or_default()),
        ),
    };
    finding
}

/// The name as sentences show it: without `public.`, and a constraint,
/// trigger or policy as "`name` on `table`".
pub(super) fn shown_name(finding: &DriftFinding) -> String {
    if matches!(
        finding.class,
        ObjectClass::Comment | ObjectClass::DefaultPrivileges
    ) {
        return format!("`{}`", finding.name);
    }
    let mut parts = identifiers(&finding.name);
    if parts.len() > 1 && parts[0] == "public" {
        parts.remove(0);
    }
    match (finding.class, parts.split_last()) {
        (
            ObjectClass::Constraint | ObjectClass::Trigger | ObjectClass::Policy,
            Some((own, table)),
        ) if !table.is_empty() => format!("`{own}` on `{}`", table.join(".")),
        _ => format!("`{}`", parts.join(".")),
    }
}

/// A definition as sentences show it: an index as `btree (user_id)`
/// (`unique btree (…)`), without `public.`, shortened.
fn shown_definition(class: ObjectClass, definition: &str) -> String {
    let mut text = definition.replace("public.", "");
    if class == ObjectClass::Index {
        if let Some((head, method)) = text.split_once(" USING ") {
            let unique = if head.starts_with("CREATE UNIQUE") {
                "unique "
            } else {
                ""
            };
            text = format!("{unique}{method}");
        }
    }
    if text.chars().count() > SHOWN_LIMIT {
        text = text.chars().take(SHOWN_LIMIT).collect::<String>() + "…";
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(class: ObjectClass, name: &str, definition: &str) -> CatalogObject {
        CatalogObject::new(class, name, definition)
    }

    fn extra(class: ObjectClass, name: &str, definition: &str) -> DriftFinding {
        finding(
            &Difference::Added(object(class, name, definition)),
            "production",
        )
    }

    #[test]
    fn names_split_on_dots_outside_quotes() {
        assert_eq!(
            identifiers("public.users.email"),
            ["public", "users", "email"]
        );
        assert_eq!(
            identifiers("public.profiles.\"Users can update own profile.\""),
            ["public", "profiles", "Users can update own profile."]
        );
        assert_eq!(identifiers("public.\"a\"\"b\""), ["public", "a\"b"]);
        assert_eq!(
            identifiers("auth.uid(x public.mood, y text)"),
            ["auth", "uid(x public.mood, y text)"]
        );
        assert_eq!(identifiers("plain"), ["plain"]);
    }

    #[test]
    fn the_parts_of_an_extra_table_are_folded_into_it() {
        let findings = vec![
            extra(ObjectClass::Table, "public.hotfix", "table"),
            extra(ObjectClass::Column, "public.hotfix.id", "integer"),
            extra(
                ObjectClass::Constraint,
                "public.hotfix.hotfix_pkey",
                "PRIMARY KEY (id)",
            ),
            extra(ObjectClass::Column, "public.users.flag", "boolean"),
        ];
        let names: Vec<String> = fold(findings)
            .into_iter()
            .map(|finding| finding.name)
            .collect();
        assert_eq!(names, ["public.hotfix", "public.users.flag"]);
    }

    proptest::proptest! {
        #[test]
        fn splitting_a_quoted_name_gives_back_its_identifiers(
            parts in proptest::collection::vec("[a-zA-Z0-9_ .\"()]{0,12}", 1..4)
        ) {
            let quoted: Vec<String> = parts
                .iter()
                .map(|part| format!("\"{}\"", part.replace('"', "\"\"")))
                .collect();
            proptest::prop_assert_eq!(identifiers(&quoted.join(".")), parts);
        }

        #[test]
        fn any_name_and_definition_make_a_sentence(
            name in "\\PC{0,40}",
            definition in "\\PC{0,300}",
            class in proptest::sample::select(ObjectClass::ALL.to_vec()),
        ) {
            let changed = finding(
                &Difference::Changed {
                    before: object(class, &name, "x"),
                    after: object(class, &name, &definition),
                },
                "production",
            );
            proptest::prop_assert!(changed.sentence.contains("production"));
            proptest::prop_assert!(!identifiers(&name).is_empty());
            let normalized = normalize(object(class, &name, &definition));
            proptest::prop_assert_eq!(normalize(normalized.clone()), normalize(normalized));
        }
    }

    #[test]
    fn sentences_name_the_environment_and_the_migrations() {
        let column = extra(ObjectClass::Column, "public.users.legacy_flag", "boolean");
        assert_eq!(
            column.sentence,
            "production has column `users.legacy_flag` that no migration creates"
        );
        let index = finding(
            &Difference::Changed {
                before: object(
                    ObjectClass::Index,
                    "public.orders_user_idx",
                    "CREATE INDEX orders_user_idx ON public.orders USING btree (user_id, created_at)",
                ),
                after: object(
                    ObjectClass::Index,
                    "public.orders_user_idx",
                    "CREATE INDEX orders_user_idx ON public.orders USING btree (user_id)",
                ),
            },
            "production",
        );
        assert_eq!(
            index.sentence,
            "index `orders_user_idx` differs: `btree (user_id)` in production, `btree (user_id, created_at)` from the migrations"
        );
        let policy = finding(
            &Difference::Removed(object(
                ObjectClass::Policy,
                "public.profiles.profiles_select",
                "permissive for r",
            )),
            "production",
        );
        assert_eq!(
            policy.sentence,
            "policy `profiles_select` on `profiles` is missing in production: the migrations create it"
        );
        assert_eq!(policy.kind, DriftKind::Missing);
    }

    #[test]
    fn column_positions_are_not_drift() {
        let moved = normalize(object(
            ObjectClass::Column,
            "public.t.a",
            "#3 integer not null",
        ));
        assert_eq!(moved.definition, "integer not null");
        let view = normalize(object(ObjectClass::View, "public.v", "#3 x"));
        assert_eq!(view.definition, "#3 x");
    }

    #[test]
    fn history_tables_are_not_compared() {
        assert!(is_bookkeeping(&object(
            ObjectClass::Table,
            "public._prisma_migrations",
            ""
        )));
        assert!(is_bookkeeping(&object(
            ObjectClass::Index,
            "public.shipgate_migrations_pkey",
            ""
        )));
        assert!(is_bookkeeping(&object(
            ObjectClass::Column,
            "supabase_migrations.schema_migrations.version",
            ""
        )));
        assert!(!is_bookkeeping(&object(
            ObjectClass::Table,
            "public.users",
            ""
        )));
        assert!(!is_bookkeeping(&object(ObjectClass::Schema, "public", "")));
    }
}
