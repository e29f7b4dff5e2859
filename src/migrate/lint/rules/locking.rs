//! Locking rules: statements that hold a lock blocking the app's reads or
//! writes for longer than a moment (a table rewrite or a full scan under
//! ACCESS EXCLUSIVE or SHARE), plus `missing-lock-timeout` for statements
//! that queue for ACCESS EXCLUSIVE and `serial-primary-key`.
//!
//! Lock levels follow PostgreSQL's documentation ("Explicit Locking", and
//! each command's page); the ones that matter were confirmed with `pg_locks`
//! (see `docs/lint-rules.md`).

use pg_query::NodeEnum;
use pg_query::protobuf::{AlterTableType, ConstrType, Constraint, Node, ObjectType};

use super::{Effect, FileContext, Finding, Statement, in_clause, relation_name, string_value};

type At<'a> = dyn Fn(&'static str, String, &str) -> Finding + 'a;

/// Functions whose default makes `ADD COLUMN` rewrite the table (volatile).
const VOLATILE_FUNCTIONS: &[&str] = &[
    "random",
    "gen_random_uuid",
    "uuid_generate_v1",
    "uuid_generate_v1mc",
    "uuid_generate_v4",
    "uuidv4",
    "uuidv7",
    "clock_timestamp",
    "timeofday",
    "nextval",
    "txid_current",
];

pub(super) fn check(
    statement: &Statement,
    context: &mut FileContext<'_>,
    findings: &mut Vec<Finding>,
    _effect: &mut Effect,
    at: &At<'_>,
) {
    let node = &statement.node;
    if let Some(table) = access_exclusive_table(node, context) {
        if !context.lock_timeout_set && !context.lock_timeout_reported {
            context.lock_timeout_reported = true;
            findings.push(at(
                "missing-lock-timeout",
                format!(
                    "this statement waits for an ACCESS EXCLUSIVE lock on `{table}` with no `lock_timeout`: while it waits behind a long query, every read and write of `{table}` queues behind it"
                ),
                "put `SET lock_timeout = '5s';` at the top of the migration and retry on timeout",
            ));
        }
    }
    match node {
        NodeEnum::IndexStmt(index) => {
            let table = relation_name(index.relation.as_ref());
            if !index.concurrent && !context.is_new(&table) {
                findings.push(at(
                    "create-index-non-concurrently",
                    format!(
                        "`CREATE INDEX` without `CONCURRENTLY` holds a SHARE lock on `{table}`: every INSERT, UPDATE and DELETE waits until the whole index is built"
                    ),
                    "use `CREATE INDEX CONCURRENTLY` in a migration marked `-- shipgate:no-transaction`",
                ));
            }
        }
        NodeEnum::DropStmt(drop)
            if drop.remove_type() == ObjectType::ObjectIndex && !drop.concurrent =>
        {
            let names: Vec<String> = drop.objects.iter().map(super::object_name).collect();
            findings.push(at(
                "drop-index-non-concurrently",
                format!(
                    "`DROP INDEX {}` takes an ACCESS EXCLUSIVE lock on its table: reads and writes wait for it and for every query it waits behind",
                    names.join(", ")
                ),
                "use `DROP INDEX CONCURRENTLY` in a migration marked `-- shipgate:no-transaction`",
            ));
        }
        NodeEnum::AlterTableStmt(alter) => {
            let table = relation_name(alter.relation.as_ref());
            if context.is_new(&table) {
                return;
            }
            for (index, command) in alter.cmds.iter().enumerate() {
                let Some(NodeEnum::AlterTableCmd(command)) = &command.node else {
                    continue;
                };
                let before = findings.len();
                let def = command.def.as_ref().and_then(|def| def.node.as_ref());
                match (command.subtype(), def) {
                    (AlterTableType::AtSetNotNull, _)
                        if !context.validated_tables.contains(&table) =>
                    {
                        findings.push(at(
                            "set-not-null",
                            format!(
                                "`SET NOT NULL` on `{table}.{}` scans the whole table under an ACCESS EXCLUSIVE lock: reads and writes wait until it finishes",
                                command.name
                            ),
                            "add `CHECK (col IS NOT NULL) NOT VALID`, `VALIDATE CONSTRAINT` it, then `SET NOT NULL` (PostgreSQL 12+ skips the scan) and drop the check",
                        ));
                    }
                    (AlterTableType::AtValidateConstraint, _) => {
                        context.validated_tables.insert(table.clone());
                    }
                    (AlterTableType::AtAddColumn, Some(NodeEnum::ColumnDef(column))) => {
                        add_column(&table, column, findings, at);
                    }
                    (AlterTableType::AtAddConstraint, Some(NodeEnum::Constraint(constraint))) => {
                        add_constraint(&table, constraint, findings, at);
                    }
                    _ => {}
                }
                in_clause(&mut findings[before..], statement, index);
            }
        }
        NodeEnum::VacuumStmt(vacuum) if vacuum.is_vacuumcmd => {
            let full = vacuum.options.iter().any(|option| {
                matches!(&option.node, Some(NodeEnum::DefElem(element)) if element.defname == "full")
            });
            if full {
                findings.push(at(
                    "vacuum-full",
                    "`VACUUM FULL` rewrites each table under an ACCESS EXCLUSIVE lock: the app cannot read or write it until the rewrite ends".to_owned(),
                    "run plain `VACUUM` (no exclusive lock), or `pg_repack` outside the deploy",
                ));
            }
        }
        NodeEnum::ClusterStmt(cluster) => {
            let table = relation_name(cluster.relation.as_ref());
            findings.push(at(
                "cluster",
                format!(
                    "`CLUSTER {table}` rewrites the table under an ACCESS EXCLUSIVE lock: the app cannot read or write it until the rewrite ends"
                ),
                "use `pg_repack` outside the deploy, or leave physical order alone",
            ));
        }
        NodeEnum::LockStmt(lock) => {
            let names: Vec<String> = lock
                .relations
                .iter()
                .filter_map(|relation| match &relation.node {
                    Some(NodeEnum::RangeVar(range)) => Some(relation_name(Some(range))),
                    _ => None,
                })
                .collect();
            findings.push(at(
                "lock-table",
                format!(
                    "`LOCK TABLE {}` blocks the app's queries on it until the migration commits",
                    names.join(", ")
                ),
                "drop the explicit lock and let each statement take the weakest lock it needs; keep the migration short",
            ));
        }
        NodeEnum::CreateStmt(create) => serial_primary_key(create, findings, at),
        _ => {}
    }
}

fn add_column(
    table: &str,
    column: &pg_query::protobuf::ColumnDef,
    findings: &mut Vec<Finding>,
    at: &At<'_>,
) {
    let constraints: Vec<&Constraint> = column
        .constraints
        .iter()
        .filter_map(|node| match &node.node {
            Some(NodeEnum::Constraint(constraint)) => Some(&**constraint),
            _ => None,
        })
        .collect();
    let has = |kind: ConstrType| constraints.iter().any(|c| c.contype() == kind);
    let default = constraints
        .iter()
        .find(|c| c.contype() == ConstrType::ConstrDefault)
        .and_then(|c| c.raw_expr.as_deref());
    let type_name = column
        .type_name
        .as_ref()
        .and_then(|type_name| type_name.names.last())
        .and_then(string_value)
        .unwrap_or_default();
    let serial = matches!(
        type_name,
        "serial" | "bigserial" | "smallserial" | "serial4" | "serial8" | "serial2"
    );
    let not_null = column.is_not_null || has(ConstrType::ConstrNotnull);
    if not_null
        && default.is_none()
        && !serial
        && !has(ConstrType::ConstrIdentity)
        && !has(ConstrType::ConstrGenerated)
    {
        findings.push(at(
            "add-not-null-column-without-default",
            format!(
                "adding `{table}.{}` as `NOT NULL` without a default fails on a table that has rows, and inserts from the release still serving traffic fail once it exists",
                column.colname
            ),
            "add the column nullable (or with a constant default), backfill it, then enforce NOT NULL through a validated `CHECK`",
        ));
    }
    let volatile = default.and_then(volatile_call);
    let what = if let Some(function) = volatile {
        Some(format!("a `{function}()` default"))
    } else if serial {
        Some(format!("a `{type_name}` column"))
    } else if has(ConstrType::ConstrIdentity) {
        Some("an identity (`GENERATED … AS IDENTITY`)".to_owned())
    } else if has(ConstrType::ConstrGenerated) {
        Some("a stored generated expression".to_owned())
    } else {
        None
    };
    if let Some(what) = what {
        findings.push(at(
            "add-column-volatile-default",
            format!(
                "adding `{table}.{}` with {what} rewrites the whole table under an ACCESS EXCLUSIVE lock (a constant or stable default like `now()` would not)",
                column.colname
            ),
            "add the column without a default, set the default in a second statement (new rows only), and backfill old rows in batches",
        ));
    }
    if has(ConstrType::ConstrPrimary) || has(ConstrType::ConstrUnique) {
        findings.push(at(
            "constraint-without-index",
            format!(
                "adding `{table}.{}` with an inline `UNIQUE`/`PRIMARY KEY` builds its index under an ACCESS EXCLUSIVE lock",
                column.colname
            ),
            "add the column, `CREATE UNIQUE INDEX CONCURRENTLY`, then `ADD CONSTRAINT … UNIQUE USING INDEX`",
        ));
    }
}

fn add_constraint(table: &str, constraint: &Constraint, findings: &mut Vec<Finding>, at: &At<'_>) {
    let name = if constraint.conname.is_empty() {
        String::new()
    } else {
        format!(" `{}`", constraint.conname)
    };
    match constraint.contype() {
        ConstrType::ConstrForeign | ConstrType::ConstrCheck if !constraint.skip_validation => {
            let (kind, lock) = if constraint.contype() == ConstrType::ConstrForeign {
                (
                    "FOREIGN KEY",
                    "a SHARE ROW EXCLUSIVE lock on both tables (writes wait)",
                )
            } else {
                ("CHECK", "an ACCESS EXCLUSIVE lock (reads and writes wait)")
            };
            findings.push(at(
                "constraint-without-not-valid",
                format!(
                    "adding {kind}{name} to `{table}` checks every existing row while holding {lock}"
                ),
                "add it with `NOT VALID` (instant), then `ALTER TABLE … VALIDATE CONSTRAINT` in a later statement, which does not block writes",
            ));
        }
        ConstrType::ConstrPrimary | ConstrType::ConstrUnique | ConstrType::ConstrExclusion
            if constraint.indexname.is_empty() =>
        {
            findings.push(at(
                "constraint-without-index",
                format!(
                    "adding a unique or primary key constraint{name} to `{table}` builds its index under an ACCESS EXCLUSIVE lock: reads and writes wait until it is built"
                ),
                "`CREATE UNIQUE INDEX CONCURRENTLY` in a `-- shipgate:no-transaction` migration, then `ADD CONSTRAINT … USING INDEX`",
            ));
        }
        _ => {}
    }
}

/// Warns about `serial`/`int` primary keys in `CREATE TABLE`.
fn serial_primary_key(
    create: &pg_query::protobuf::CreateStmt,
    findings: &mut Vec<Finding>,
    at: &At<'_>,
) {
    let table = relation_name(create.relation.as_ref());
    let mut key_columns: Vec<String> = Vec::new();
    for constraint in &create.constraints {
        if let Some(NodeEnum::Constraint(constraint)) = &constraint.node {
            if constraint.contype() == ConstrType::ConstrPrimary {
                key_columns.extend(
                    constraint
                        .keys
                        .iter()
                        .filter_map(string_value)
                        .map(str::to_owned),
                );
            }
        }
    }
    for element in &create.table_elts {
        match &element.node {
            Some(NodeEnum::Constraint(constraint))
                if constraint.contype() == ConstrType::ConstrPrimary =>
            {
                key_columns.extend(
                    constraint
                        .keys
                        .iter()
                        .filter_map(string_value)
                        .map(str::to_owned),
                );
            }
            _ => {}
        }
    }
    if key_columns.len() > 1 {
        return;
    }
    for element in &create.table_elts {
        let Some(NodeEnum::ColumnDef(column)) = &element.node else {
            continue;
        };
        let inline_key = column.constraints.iter().any(|node| {
            matches!(&node.node, Some(NodeEnum::Constraint(c)) if c.contype() == ConstrType::ConstrPrimary)
        });
        if !inline_key && !key_columns.contains(&column.colname) {
            continue;
        }
        let type_name = column
            .type_name
            .as_ref()
            .and_then(|type_name| type_name.names.last())
            .and_then(string_value)
            .unwrap_or_default();
        if matches!(
            type_name,
            "serial" | "serial4" | "int4" | "int2" | "smallserial" | "serial2"
        ) {
            findings.push(at(
                "serial-primary-key",
                format!(
                    "`{table}.{}` is a 32-bit (`{type_name}`) primary key: it runs out at 2,147,483,647 rows, and widening it later rewrites the table and every referencing table",
                    column.colname
                ),
                "use `bigint GENERATED ALWAYS AS IDENTITY` (Prisma: `BigInt @id @default(autoincrement())`)",
            ));
        }
    }
}

/// The first volatile function called in a default expression.
fn volatile_call(node: &Node) -> Option<String> {
    match node.node.as_ref()? {
        NodeEnum::FuncCall(call) => {
            let name = call
                .funcname
                .last()
                .and_then(string_value)
                .unwrap_or_default();
            if VOLATILE_FUNCTIONS.contains(&name) {
                return Some(name.to_owned());
            }
            call.args.iter().find_map(volatile_call)
        }
        NodeEnum::TypeCast(cast) => cast.arg.as_deref().and_then(volatile_call),
        NodeEnum::AExpr(expression) => expression
            .lexpr
            .as_deref()
            .and_then(volatile_call)
            .or_else(|| expression.rexpr.as_deref().and_then(volatile_call)),
        NodeEnum::CoalesceExpr(coalesce) => coalesce.args.iter().find_map(volatile_call),
        NodeEnum::List(list) => list.items.iter().find_map(volatile_call),
        _ => None,
    }
}

/// The existing table a statement locks in ACCESS EXCLUSIVE mode, if any.
fn access_exclusive_table(node: &NodeEnum, context: &FileContext<'_>) -> Option<String> {
    let existing = |table: String| (!context.is_new(&table)).then_some(table);
    match node {
        NodeEnum::AlterTableStmt(alter) => {
            let weaker = alter.cmds.iter().all(|command| match &command.node {
                Some(NodeEnum::AlterTableCmd(command)) => {
                    let def = command.def.as_ref().and_then(|def| def.node.as_ref());
                    match command.subtype() {
                        // SHARE UPDATE EXCLUSIVE / SHARE ROW EXCLUSIVE.
                        AlterTableType::AtValidateConstraint
                        | AlterTableType::AtSetStatistics
                        | AlterTableType::AtClusterOn
                        | AlterTableType::AtDropCluster
                        | AlterTableType::AtAttachPartition
                        | AlterTableType::AtEnableTrig
                        | AlterTableType::AtDisableTrig
                        | AlterTableType::AtEnableAlwaysTrig
                        | AlterTableType::AtEnableReplicaTrig
                        | AlterTableType::AtEnableTrigAll
                        | AlterTableType::AtDisableTrigAll
                        | AlterTableType::AtEnableTrigUser
                        | AlterTableType::AtDisableTrigUser => true,
                        AlterTableType::AtAddConstraint => matches!(
                            def,
                            Some(NodeEnum::Constraint(c)) if c.contype() == ConstrType::ConstrForeign
                        ),
                        _ => false,
                    }
                }
                _ => true,
            });
            if weaker || alter.objtype() != ObjectType::ObjectTable {
                return None;
            }
            existing(relation_name(alter.relation.as_ref()))
        }
        NodeEnum::DropStmt(drop) if drop.remove_type() == ObjectType::ObjectTable => drop
            .objects
            .iter()
            .map(super::object_name)
            .find(|table| !context.is_new(table)),
        NodeEnum::DropStmt(drop)
            if drop.remove_type() == ObjectType::ObjectIndex && !drop.concurrent =>
        {
            drop.objects
                .first()
                .map(super::object_name)
                .map(|index| format!("the table of index {index}"))
        }
        NodeEnum::RenameStmt(rename)
            if matches!(
                rename.rename_type(),
                ObjectType::ObjectTable | ObjectType::ObjectColumn
            ) =>
        {
            existing(relation_name(rename.relation.as_ref()))
        }
        NodeEnum::TruncateStmt(truncate) => {
            truncate
                .relations
                .iter()
                .find_map(|relation| match &relation.node {
                    Some(NodeEnum::RangeVar(range)) => existing(relation_name(Some(range))),
                    _ => None,
                })
        }
        NodeEnum::CreatePolicyStmt(policy) => existing(relation_name(policy.table.as_ref())),
        NodeEnum::ClusterStmt(cluster) => existing(relation_name(cluster.relation.as_ref())),
        _ => None,
    }
}
