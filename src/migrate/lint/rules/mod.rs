//! The rule registry and what every rule shares: ids, default severities,
//! the per-file context rules read (tables created in the file, whether
//! `lock_timeout` was set, the `no-transaction` marker) and the [`Finding`]
//! they return. Each rule family lives in its own file.

mod data;
mod destructive;
mod locking;
mod transaction;

use std::collections::{HashMap, HashSet};

use pg_query::NodeEnum;
use pg_query::protobuf::{Node, RangeVar, TypeName};
use serde::Serialize;

use super::parse::Statement;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Reported; the exit code stays 0.
    Warning,
    /// Fails `migrate lint` (exit 1) and the `migrations` gate.
    Error,
}

/// Which kind of hazard a rule reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// Loses data or removes what the running app uses.
    Destructive,
    /// Holds a lock that blocks reads or writes for longer than a moment.
    Locking,
    /// A schema choice that hurts later (32-bit keys).
    Design,
    /// Problems with the file itself (parse errors, suppressions).
    File,
}

/// One rule: its kebab-case id, default severity and family.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Kebab-case id, used in findings, suppressions and `[migrate.lint]`.
    pub id: &'static str,
    /// Severity when the config does not override it.
    pub severity: Severity,
    pub(crate) family: Family,
}

const fn rule(id: &'static str, severity: Severity, family: Family) -> Rule {
    Rule {
        id,
        severity,
        family,
    }
}

/// Every rule, in the order `docs/lint-rules.md` lists them.
pub const RULES: &[Rule] = &[
    rule("drop-table", Severity::Error, Family::Destructive),
    rule("drop-column", Severity::Error, Family::Destructive),
    rule("drop-schema", Severity::Error, Family::Destructive),
    rule("drop-database", Severity::Error, Family::Destructive),
    rule("drop-type", Severity::Error, Family::Destructive),
    rule("rename-table", Severity::Error, Family::Destructive),
    rule("rename-column", Severity::Error, Family::Destructive),
    rule("change-column-type", Severity::Error, Family::Locking),
    rule("truncate", Severity::Error, Family::Destructive),
    rule("delete-without-where", Severity::Error, Family::Destructive),
    rule("update-without-where", Severity::Error, Family::Destructive),
    rule(
        "drop-index-non-concurrently",
        Severity::Error,
        Family::Locking,
    ),
    rule(
        "create-index-non-concurrently",
        Severity::Error,
        Family::Locking,
    ),
    rule("set-not-null", Severity::Error, Family::Locking),
    rule(
        "add-not-null-column-without-default",
        Severity::Error,
        Family::Locking,
    ),
    rule(
        "add-column-volatile-default",
        Severity::Error,
        Family::Locking,
    ),
    rule(
        "constraint-without-not-valid",
        Severity::Error,
        Family::Locking,
    ),
    rule("constraint-without-index", Severity::Error, Family::Locking),
    rule("vacuum-full", Severity::Error, Family::Locking),
    rule("cluster", Severity::Error, Family::Locking),
    rule("lock-table", Severity::Error, Family::Locking),
    rule(
        "concurrently-in-transaction",
        Severity::Error,
        Family::Locking,
    ),
    rule(
        "add-enum-value-in-transaction",
        Severity::Warning,
        Family::Locking,
    ),
    rule("missing-lock-timeout", Severity::Warning, Family::Locking),
    rule("serial-primary-key", Severity::Warning, Family::Design),
    rule("parse-error", Severity::Error, Family::File),
    rule("suppression-without-reason", Severity::Error, Family::File),
    rule("invalid-suppression", Severity::Error, Family::File),
];

/// The rule with id `id`.
pub(crate) fn find(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|rule| rule.id == id)
}

/// What one rule found at one statement.
#[derive(Debug, Clone)]
pub(crate) struct Finding {
    /// The rule's id.
    pub(crate) rule: &'static str,
    /// Byte range in the file it points at.
    pub(crate) start: usize,
    pub(crate) end: usize,
    /// One sentence on what happens in production.
    pub(crate) message: String,
    /// The safe alternative.
    pub(crate) alternative: String,
}

/// What a statement does to the schema for the rollback plan.
#[derive(Debug, Clone, Default)]
pub(crate) struct Effect {
    /// What makes it destructive, one entry per clause that is, e.g.
    /// `drops column users.legacy_id`; empty when it is not.
    pub(crate) destructive: Vec<String>,
}

/// Column types seen so far, across the files linted in order, so a type
/// change can be judged against the type it changes from.
#[derive(Debug, Default)]
pub(crate) struct Schema {
    columns: HashMap<(String, String), ColumnType>,
}

/// A column type, normalised: `varchar(255)` is `("varchar", [255])`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ColumnType {
    pub(crate) name: String,
    pub(crate) modifiers: Vec<i64>,
}

impl ColumnType {
    pub(crate) fn from_type_name(type_name: &TypeName) -> Self {
        let name = type_name
            .names
            .last()
            .and_then(string_value)
            .unwrap_or_default()
            .to_owned();
        let modifiers = type_name
            .typmods
            .iter()
            .filter_map(|node| match &node.node {
                Some(NodeEnum::AConst(constant)) => match &constant.val {
                    Some(pg_query::protobuf::a_const::Val::Ival(integer)) => {
                        Some(i64::from(integer.ival))
                    }
                    _ => None,
                },
                _ => None,
            })
            .collect();
        let name = match name.as_str() {
            "character varying" => "varchar".to_owned(),
            _ => name,
        };
        Self { name, modifiers }
    }
}

impl std::fmt::Display for ColumnType {
    /// `varchar(100)`, `numeric(10,2)`, `text`.
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.name)?;
        if !self.modifiers.is_empty() {
            let modifiers: Vec<String> = self.modifiers.iter().map(ToString::to_string).collect();
            write!(formatter, "({})", modifiers.join(","))?;
        }
        Ok(())
    }
}

impl Schema {
    pub(crate) fn column(&self, table: &str, column: &str) -> Option<&ColumnType> {
        self.columns.get(&(table.to_owned(), column.to_owned()))
    }

    pub(crate) fn set_column(&mut self, table: &str, column: &str, column_type: ColumnType) {
        self.columns
            .insert((table.to_owned(), column.to_owned()), column_type);
    }
}

/// What rules know about the file being linted, updated statement by statement.
pub(crate) struct FileContext<'a> {
    /// Whether the file is marked `-- shipgate:no-transaction`.
    pub(crate) no_transaction: bool,
    /// Tables created earlier in this file (empty, unseen by the app).
    pub(crate) created_tables: HashSet<String>,
    /// Tables with a `VALIDATE CONSTRAINT` earlier in this file.
    pub(crate) validated_tables: HashSet<String>,
    /// Whether a `SET lock_timeout` came earlier in this file.
    pub(crate) lock_timeout_set: bool,
    /// Whether `missing-lock-timeout` was already reported for this file.
    pub(crate) lock_timeout_reported: bool,
    /// Column types across files.
    pub(crate) schema: &'a mut Schema,
}

impl FileContext<'_> {
    /// Whether `table` was created earlier in this file.
    pub(crate) fn is_new(&self, table: &str) -> bool {
        self.created_tables.contains(table)
    }
}

/// Runs every rule on `statement`; returns its findings and its effect.
pub(crate) fn check(
    statement: &Statement,
    context: &mut FileContext<'_>,
) -> (Vec<Finding>, Effect) {
    let mut findings = Vec::new();
    let mut effect = Effect::default();
    let at = |rule: &'static str, message: String, alternative: &str| Finding {
        rule,
        start: statement.start,
        end: statement.end,
        message,
        alternative: alternative.to_owned(),
    };
    destructive::check(statement, context, &mut findings, &mut effect, &at);
    locking::check(statement, context, &mut findings, &mut effect, &at);
    data::check(&statement.node, &mut findings, &mut effect, &at);
    transaction::check(&statement.node, context, &mut findings, &at);
    record(&statement.node, context);
    (findings, effect)
}

/// Updates the file context after a statement ran.
fn record(node: &NodeEnum, context: &mut FileContext<'_>) {
    match node {
        NodeEnum::CreateStmt(create) => {
            let table = relation_name(create.relation.as_ref());
            for element in &create.table_elts {
                if let Some(NodeEnum::ColumnDef(column)) = &element.node {
                    if let Some(type_name) = &column.type_name {
                        context.schema.set_column(
                            &table,
                            &column.colname,
                            ColumnType::from_type_name(type_name),
                        );
                    }
                }
            }
            context.created_tables.insert(table);
        }
        NodeEnum::CreateTableAsStmt(create) => {
            if let Some(into) = &create.into {
                context
                    .created_tables
                    .insert(relation_name(into.rel.as_ref()));
            }
        }
        NodeEnum::VariableSetStmt(set) if set.name == "lock_timeout" => {
            let zero = set.args.iter().any(|arg| match &arg.node {
                Some(NodeEnum::AConst(constant)) => matches!(
                    &constant.val,
                    Some(pg_query::protobuf::a_const::Val::Ival(integer)) if integer.ival == 0
                ) || matches!(
                    &constant.val,
                    Some(pg_query::protobuf::a_const::Val::Sval(text)) if text.sval.trim() == "0"
                ),
                _ => false,
            });
            context.lock_timeout_set = !zero && !set.args.is_empty();
        }
        _ => {}
    }
}

/// Points the findings one `ALTER TABLE` clause added at that clause, so
/// annotations land on its line (issue 11, item 3).
pub(crate) fn in_clause(findings: &mut [Finding], statement: &Statement, index: usize) {
    let (start, end) = statement.clause(index);
    for finding in findings {
        finding.start = start;
        finding.end = end;
    }
}

/// The schema PostgreSQL's default `search_path` resolves unqualified names
/// to: `public.users` and `users` are one table.
const DEFAULT_SCHEMA: &str = "public";

/// A relation's name as PostgreSQL resolves it under the default
/// `search_path`: the parser already folded unquoted identifiers to lower
/// case and kept quoted ones, and `public.` is dropped, so `"public"."Widget"`
/// and `"Widget"` are one name, `Widget` (issue 11, item 3).
pub(crate) fn relation_name(relation: Option<&RangeVar>) -> String {
    match relation {
        Some(relation) => qualified(&[relation.schemaname.as_str(), &relation.relname]),
        None => String::new(),
    }
}

/// Joins name parts with `.`, without empty parts and without a leading
/// `public` schema when more parts follow.
fn qualified(parts: &[&str]) -> String {
    let parts: Vec<&str> = parts
        .iter()
        .copied()
        .filter(|part| !part.is_empty())
        .collect();
    let parts = match parts.as_slice() {
        [schema, rest @ ..] if *schema == DEFAULT_SCHEMA && !rest.is_empty() => rest,
        all => all,
    };
    parts.join(".")
}

/// The text of a `String` node.
pub(crate) fn string_value(node: &Node) -> Option<&str> {
    match &node.node {
        Some(NodeEnum::String(text)) => Some(&text.sval),
        _ => None,
    }
}

/// A dotted object name from a `DROP`'s object list entry, normalised like
/// [`relation_name`]; a function or procedure also shows its argument
/// types when the statement gives them: `f(int4, text)`.
pub(crate) fn object_name(node: &Node) -> String {
    let dotted = |names: &[Node]| {
        let parts: Vec<&str> = names.iter().filter_map(string_value).collect();
        qualified(&parts)
    };
    match &node.node {
        Some(NodeEnum::String(text)) => text.sval.clone(),
        Some(NodeEnum::List(list)) => dotted(&list.items),
        Some(NodeEnum::TypeName(type_name)) => dotted(&type_name.names),
        Some(NodeEnum::ObjectWithArgs(function)) => {
            let name = dotted(&function.objname);
            if function.args_unspecified {
                return name;
            }
            let arguments: Vec<String> = function
                .objargs
                .iter()
                .filter_map(|argument| match &argument.node {
                    Some(NodeEnum::TypeName(type_name)) => {
                        Some(ColumnType::from_type_name(type_name).to_string())
                    }
                    _ => None,
                })
                .collect();
            format!("{name}({})", arguments.join(", "))
        }
        _ => String::new(),
    }
}
