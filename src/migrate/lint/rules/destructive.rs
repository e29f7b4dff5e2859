//! Destructive rules: statements that lose data or take away something the
//! running (old) app version still uses — drops of tables, columns, schemas,
//! databases and types, renames, and column type changes the previous
//! release cannot live with.
//!
//! A column type change is judged against the column's type from earlier
//! statements and earlier files (the whole history, in apply order). It is
//! safe — additive — only when PostgreSQL changes the type without a
//! rewrite and every value the previous release reads or writes stays valid:
//! `varchar(n)` to `varchar(m)` with `m >= n`, `varchar(n)`/`varchar` to
//! `text` or unbounded `varchar`, `text` to unbounded `varchar`,
//! `numeric(p,s)` to `numeric(q,s)` with `q >= p` or to unconstrained
//! `numeric`, and the same type again. Everything else is destructive: an
//! incompatible type (`int`→`text`, `uuid`→`text`, `text`→`int`) changes
//! what the previous release reads and makes its writes fail, and a
//! narrowing one rejects values it writes. When the previous type is unknown
//! (the column was never seen in the history), nothing proves the change
//! safe, so it is destructive (issue 11, item 3).

use pg_query::NodeEnum;
use pg_query::protobuf::{AlterTableType, ObjectType};

use super::{
    ColumnType, Effect, FileContext, Finding, Statement, in_clause, object_name, relation_name,
};

type At<'a> = dyn Fn(&'static str, String, &str) -> Finding + 'a;

pub(super) fn check(
    statement: &Statement,
    context: &mut FileContext<'_>,
    findings: &mut Vec<Finding>,
    effect: &mut Effect,
    at: &At<'_>,
) {
    match &statement.node {
        NodeEnum::DropStmt(drop) => {
            let names: Vec<String> = drop.objects.iter().map(object_name).collect();
            let names = names.join(", ");
            let (rule, what, alternative) = match drop.remove_type() {
                ObjectType::ObjectTable => (
                    "drop-table",
                    "table",
                    "stop using the table in a release first, rename it aside in a later migration, and drop it once no release needs it (expand/contract)",
                ),
                ObjectType::ObjectSchema => (
                    "drop-schema",
                    "schema",
                    "move what is still used out of the schema first and drop it in its own reviewed migration once no release needs it",
                ),
                ObjectType::ObjectType | ObjectType::ObjectDomain => (
                    "drop-type",
                    "type",
                    "stop using the type in every column and function first, then drop it in a later migration",
                ),
                ObjectType::ObjectView
                | ObjectType::ObjectMatview
                | ObjectType::ObjectFunction
                | ObjectType::ObjectProcedure
                | ObjectType::ObjectSequence => {
                    // Not data loss, but the old release may still use it.
                    let what = match drop.remove_type() {
                        ObjectType::ObjectView => "view",
                        ObjectType::ObjectMatview => "materialized view",
                        ObjectType::ObjectFunction => "function",
                        ObjectType::ObjectProcedure => "procedure",
                        _ => "sequence",
                    };
                    effect.destructive.push(format!("drops {what} {names}"));
                    return;
                }
                _ => return,
            };
            if drop.remove_type() == ObjectType::ObjectTable
                && drop
                    .objects
                    .iter()
                    .all(|object| context.is_new(&object_name(object)))
            {
                return;
            }
            effect.destructive.push(format!("drops {what} {names}"));
            findings.push(at(
                rule,
                format!(
                    "`DROP {}` deletes {what} `{names}` and its data; the release still serving traffic fails on it, and only a backup restore brings it back",
                    what.to_uppercase()
                ),
                alternative,
            ));
        }
        NodeEnum::DropdbStmt(drop) => {
            effect
                .destructive
                .push(format!("drops database {}", drop.dbname));
            findings.push(at(
                "drop-database",
                format!(
                    "`DROP DATABASE` deletes database `{}` with every table in it",
                    drop.dbname
                ),
                "never drop a database from a migration; do it by hand after a verified backup",
            ));
        }
        NodeEnum::RenameStmt(rename) => {
            let table = relation_name(rename.relation.as_ref());
            if context.is_new(&table) {
                return;
            }
            match rename.rename_type() {
                ObjectType::ObjectTable => {
                    effect
                        .destructive
                        .push(format!("renames table {table} to {}", rename.newname));
                    findings.push(at(
                        "rename-table",
                        format!(
                            "renaming `{table}` to `{}` breaks every query of the release still serving traffic the moment it commits",
                            rename.newname
                        ),
                        "expand/contract: create the new table (or a view named the old way), write to both, switch reads, then drop the old name in a later release",
                    ));
                }
                ObjectType::ObjectColumn => {
                    effect.destructive.push(format!(
                        "renames column {table}.{} to {}",
                        rename.subname, rename.newname
                    ));
                    findings.push(at(
                        "rename-column",
                        format!(
                            "renaming `{table}.{}` to `{}` breaks the release still serving traffic, which reads and writes the old name",
                            rename.subname, rename.newname
                        ),
                        "expand/contract: add the new column, write to both and backfill, switch reads, then drop the old column in a later release",
                    ));
                }
                _ => {}
            }
        }
        NodeEnum::AlterTableStmt(alter) => {
            alter_table(statement, alter, context, findings, effect, at);
        }
        _ => {}
    }
}

/// Each clause of an `ALTER TABLE`: every destructive one is listed, and
/// its finding points at the clause.
fn alter_table(
    statement: &Statement,
    alter: &pg_query::protobuf::AlterTableStmt,
    context: &mut FileContext<'_>,
    findings: &mut Vec<Finding>,
    effect: &mut Effect,
    at: &At<'_>,
) {
    let table = relation_name(alter.relation.as_ref());
    for (index, command) in alter.cmds.iter().enumerate() {
        let Some(NodeEnum::AlterTableCmd(command)) = &command.node else {
            continue;
        };
        let before = findings.len();
        alter_table_clause(&table, command, context, findings, effect, at);
        in_clause(&mut findings[before..], statement, index);
    }
}

fn alter_table_clause(
    table: &str,
    command: &pg_query::protobuf::AlterTableCmd,
    context: &mut FileContext<'_>,
    findings: &mut Vec<Finding>,
    effect: &mut Effect,
    at: &At<'_>,
) {
    match command.subtype() {
        AlterTableType::AtDropColumn if !context.is_new(table) => {
            effect
                .destructive
                .push(format!("drops column {table}.{}", command.name));
            findings.push(at(
                    "drop-column",
                    format!(
                        "dropping `{table}.{}` deletes its data, and the release still serving traffic fails on every query naming it",
                        command.name
                    ),
                    "stop reading and writing the column in a release first (e.g. Prisma `@ignore`), then drop it in a later migration",
                ));
        }
        AlterTableType::AtAlterColumnType => {
            let Some(NodeEnum::ColumnDef(column)) =
                command.def.as_ref().and_then(|def| def.node.as_ref())
            else {
                return;
            };
            let Some(type_name) = &column.type_name else {
                return;
            };
            let new = ColumnType::from_type_name(type_name);
            let old = context.schema.column(table, &command.name).cloned();
            context.schema.set_column(table, &command.name, new.clone());
            if context.is_new(table) || safe_type_change(old.as_ref(), &new) {
                return;
            }
            effect.destructive.push(match &old {
                Some(old) => format!(
                    "changes the type of column {table}.{} from {old} to {new}",
                    command.name
                ),
                None => format!(
                    "changes the type of column {table}.{} to {new} (its previous type is unknown)",
                    command.name
                ),
            });
            let from = old.map_or_else(String::new, |old| format!(" from `{old}`"));
            findings.push(at(
                    "change-column-type",
                    format!(
                        "changing `{table}.{}`{from} to `{new}` rewrites the table and its indexes under an ACCESS EXCLUSIVE lock, and the release still serving traffic reads the old type: reads and writes wait until it finishes, then its queries may fail",
                        command.name,
                    ),
                    "add a column of the new type, backfill it in batches, switch the app to it, then drop the old column (widening `varchar(n)` or changing `varchar` to `text` is safe)",
                ));
        }
        AlterTableType::AtAddColumn => {
            if let Some(NodeEnum::ColumnDef(column)) =
                command.def.as_ref().and_then(|def| def.node.as_ref())
            {
                if let Some(type_name) = &column.type_name {
                    context.schema.set_column(
                        table,
                        &column.colname,
                        ColumnType::from_type_name(type_name),
                    );
                }
            }
        }
        _ => {}
    }
}

/// Whether changing a column from `old` to `new` keeps the previous release
/// working without a rewrite (the list is in this module's documentation).
/// An unknown old type is never safe: nothing proves it.
pub(super) fn safe_type_change(old: Option<&ColumnType>, new: &ColumnType) -> bool {
    let unbounded_text = new.name == "text" || (new.name == "varchar" && new.modifiers.is_empty());
    let Some(old) = old else {
        return false;
    };
    let old_is_string = matches!(old.name.as_str(), "varchar" | "text");
    if unbounded_text {
        return old_is_string;
    }
    match (old.name.as_str(), new.name.as_str()) {
        ("varchar", "varchar") => match (old.modifiers.first(), new.modifiers.first()) {
            (Some(old_length), Some(new_length)) => new_length >= old_length,
            _ => false,
        },
        ("numeric", "numeric") => match (old.modifiers.as_slice(), new.modifiers.as_slice()) {
            (_, []) => true,
            ([old_precision], [new_precision]) => new_precision >= old_precision,
            ([old_precision, old_scale], [new_precision, new_scale]) => {
                new_scale == old_scale && new_precision >= old_precision
            }
            _ => false,
        },
        (old_name, new_name) => old_name == new_name && old.modifiers == new.modifiers,
    }
}
