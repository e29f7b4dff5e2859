//! Data rules: statements that delete or overwrite rows wholesale —
//! `TRUNCATE`, and `DELETE`/`UPDATE` without a `WHERE`.

use pg_query::NodeEnum;

use super::{Effect, Finding, relation_name};

type At<'a> = dyn Fn(&'static str, String, &str) -> Finding + 'a;

pub(super) fn check(
    node: &NodeEnum,
    findings: &mut Vec<Finding>,
    effect: &mut Effect,
    at: &At<'_>,
) {
    match node {
        NodeEnum::TruncateStmt(truncate) => {
            let names: Vec<String> = truncate
                .relations
                .iter()
                .filter_map(|relation| match &relation.node {
                    Some(NodeEnum::RangeVar(range)) => Some(relation_name(Some(range))),
                    _ => None,
                })
                .collect();
            let names = names.join(", ");
            effect.destructive.push(format!("truncates {names}"));
            findings.push(at(
                "truncate",
                format!(
                    "`TRUNCATE {names}` deletes every row under an ACCESS EXCLUSIVE lock; only a backup restore brings them back"
                ),
                "delete the rows you mean with `DELETE … WHERE …` in batches, or drop the table through expand/contract",
            ));
        }
        NodeEnum::DeleteStmt(delete) => {
            let table = relation_name(delete.relation.as_ref());
            effect
                .destructive
                .push(format!("deletes rows from {table}"));
            if delete.where_clause.is_none() {
                findings.push(at(
                    "delete-without-where",
                    format!(
                        "`DELETE FROM {table}` without `WHERE` deletes every row in one transaction, locking each and bloating the table"
                    ),
                    "add the `WHERE` you mean, and delete large sets in batches",
                ));
            }
        }
        NodeEnum::UpdateStmt(update) if update.where_clause.is_none() => {
            let table = relation_name(update.relation.as_ref());
            effect
                .destructive
                .push(format!("updates every row of {table}"));
            findings.push(at(
                "update-without-where",
                format!(
                    "`UPDATE {table}` without `WHERE` rewrites every row in one transaction, holding a row lock on each until it commits"
                ),
                "add the `WHERE` you mean (e.g. `WHERE col IS NULL`) and backfill in batches of a few thousand rows",
            ));
        }
        _ => {}
    }
}
