//! Destructive rules: statements that lose data or take away something the
//! running (old) app version still uses — drops of tables, columns, schemas,
//! databases and types, renames, and column type changes PostgreSQL cannot
//! do in place.

use pg_query::NodeEnum;
use pg_query::protobuf::{AlterTableType, ObjectType};

use super::{ColumnType, Effect, FileContext, Finding, object_name, relation_name};

type At<'a> = dyn Fn(&'static str, String, &str) -> Finding + 'a;

pub(super) fn check(
    node: &NodeEnum,
    context: &mut FileContext<'_>,
    findings: &mut Vec<Finding>,
    effect: &mut Effect,
    at: &At<'_>,
) {
    match node {
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
                    effect.destructive = Some(format!("drops {names}"));
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
            effect.destructive = Some(format!("drops {what} {names}"));
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
            effect.destructive = Some(format!("drops database {}", drop.dbname));
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
                    effect.destructive =
                        Some(format!("renames table {table} to {}", rename.newname));
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
                    effect.destructive = Some(format!(
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
        NodeEnum::AlterTableStmt(alter) => alter_table(alter, context, findings, effect, at),
        _ => {}
    }
}

fn alter_table(
    alter: &pg_query::protobuf::AlterTableStmt,
    context: &mut FileContext<'_>,
    findings: &mut Vec<Finding>,
    effect: &mut Effect,
    at: &At<'_>,
) {
    let table = relation_name(alter.relation.as_ref());
    for command in &alter.cmds {
        let Some(NodeEnum::AlterTableCmd(command)) = &command.node else {
            continue;
        };
        match command.subtype() {
            AlterTableType::AtDropColumn if !context.is_new(&table) => {
                effect.destructive = Some(format!("drops column {table}.{}", command.name));
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
                    continue;
                };
                let Some(type_name) = &column.type_name else {
                    continue;
                };
                let new = ColumnType::from_type_name(type_name);
                let old = context.schema.column(&table, &command.name).cloned();
                context
                    .schema
                    .set_column(&table, &command.name, new.clone());
                if context.is_new(&table) || safe_type_change(old.as_ref(), &new) {
                    continue;
                }
                effect.destructive = Some(format!(
                    "changes the type of column {table}.{}",
                    command.name
                ));
                let from =
                    old.map_or_else(String::new, |old| format!(" from `{}`", display_type(&old)));
                findings.push(at(
                    "change-column-type",
                    format!(
                        "changing `{table}.{}`{from} to `{}` rewrites the table and its indexes under an ACCESS EXCLUSIVE lock: reads and writes wait until it finishes",
                        command.name,
                        display_type(&new)
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
                            &table,
                            &column.colname,
                            ColumnType::from_type_name(type_name),
                        );
                    }
                }
            }
            _ => {}
        }
    }
}

/// Whether changing a column from `old` to `new` needs no rewrite: string
/// types to `text` or unbounded `varchar`, `varchar(n)` widening, `numeric`
/// precision widening at the same scale. An unknown old type is only
/// assumed safe when the new type is `text` or unbounded `varchar`.
fn safe_type_change(old: Option<&ColumnType>, new: &ColumnType) -> bool {
    let unbounded_text = new.name == "text" || (new.name == "varchar" && new.modifiers.is_empty());
    let Some(old) = old else {
        return unbounded_text;
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

fn display_type(column_type: &ColumnType) -> String {
    if column_type.modifiers.is_empty() {
        column_type.name.clone()
    } else {
        let modifiers: Vec<String> = column_type
            .modifiers
            .iter()
            .map(ToString::to_string)
            .collect();
        format!("{}({})", column_type.name, modifiers.join(","))
    }
}
