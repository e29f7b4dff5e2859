//! Transaction rules: statements PostgreSQL refuses or mishandles inside a
//! transaction block. shipgate runs each migration in a transaction unless
//! its file says `-- shipgate:no-transaction`.

use pg_query::NodeEnum;
use pg_query::protobuf::ObjectType;

use super::{FileContext, Finding};

type At<'a> = dyn Fn(&'static str, String, &str) -> Finding + 'a;

pub(super) fn check(
    node: &NodeEnum,
    context: &FileContext<'_>,
    findings: &mut Vec<Finding>,
    at: &At<'_>,
) {
    if context.no_transaction {
        return;
    }
    let concurrently = match node {
        NodeEnum::IndexStmt(index) => index.concurrent.then_some("CREATE INDEX CONCURRENTLY"),
        NodeEnum::DropStmt(drop) if drop.remove_type() == ObjectType::ObjectIndex => {
            drop.concurrent.then_some("DROP INDEX CONCURRENTLY")
        }
        NodeEnum::ReindexStmt(reindex) => reindex
            .params
            .iter()
            .any(|param| matches!(&param.node, Some(NodeEnum::DefElem(e)) if e.defname == "concurrently"))
            .then_some("REINDEX CONCURRENTLY"),
        _ => None,
    };
    if let Some(statement) = concurrently {
        findings.push(at(
            "concurrently-in-transaction",
            format!(
                "`{statement}` cannot run inside a transaction block, and shipgate runs this migration in one: PostgreSQL rejects it and the migration fails"
            ),
            "put `-- shipgate:no-transaction` at the top of this migration and keep the statement alone in it",
        ));
    }
    if let NodeEnum::AlterEnumStmt(alter) = node {
        if !alter.new_val.is_empty() && alter.old_val.is_empty() {
            findings.push(at(
                "add-enum-value-in-transaction",
                format!(
                    "`ALTER TYPE … ADD VALUE '{}'` in a transaction fails on PostgreSQL before 12, and on 12+ the new value cannot be used until the transaction commits",
                    alter.new_val
                ),
                "put it in its own migration marked `-- shipgate:no-transaction`, before the migrations that use the value",
            ));
        }
    }
}
