//! Suppressions that leave a trail: `-- shipgate:allow rule-id reason: …` on
//! the line (or comment block) right above a statement, and the file marker
//! `-- shipgate:no-transaction`. A suppression without a reason, or naming
//! no known rule, suppresses nothing and is itself a finding.

use super::rules::{self, Finding};
use crate::diagnostic::suggest;

const ALLOW: &str = "-- shipgate:allow";
const NO_TRANSACTION: &str = "-- shipgate:no-transaction";

/// One `-- shipgate:allow` comment.
#[derive(Debug, Clone)]
pub(crate) struct Suppression {
    /// 1-based line of the comment.
    pub(crate) line: usize,
    /// Rule ids it allows.
    pub(crate) rules: Vec<String>,
    /// Why; never empty.
    pub(crate) reason: String,
}

/// The suppressions of a file, by line, and the findings about bad ones.
#[derive(Debug, Default)]
pub(crate) struct Suppressions {
    valid: Vec<Suppression>,
    /// Byte offset where each line starts.
    line_starts: Vec<usize>,
    /// Whether each line is only a `--` comment (or blank).
    comment_lines: Vec<bool>,
}

/// Whether the file is marked to run outside a transaction: shipgate's
/// marker or sqlx's `-- no-transaction`, the markers `migrate apply` honours.
pub(crate) fn no_transaction(sql: &str) -> bool {
    sql.lines().any(|line| {
        line.trim()
            .strip_prefix("--")
            .map(str::trim)
            .is_some_and(|comment| {
                comment.eq_ignore_ascii_case(&NO_TRANSACTION[3..])
                    || comment.eq_ignore_ascii_case("no-transaction")
            })
    })
}

/// Reads every `-- shipgate:allow` comment in `sql`.
pub(crate) fn read(sql: &str) -> (Suppressions, Vec<Finding>) {
    let mut suppressions = Suppressions::default();
    let mut findings = Vec::new();
    let mut offset = 0;
    for (index, line) in sql.split('\n').enumerate() {
        suppressions.line_starts.push(offset);
        let trimmed = line.trim();
        suppressions.comment_lines.push(trimmed.starts_with("--"));
        if let Some(rest) = trimmed.strip_prefix(ALLOW) {
            let start = offset + line.find(ALLOW).unwrap_or(0);
            let end = offset + line.trim_end().len();
            let finding = |rule: &'static str, message: String, alternative: &str| Finding {
                rule,
                start,
                end,
                message,
                alternative: alternative.to_owned(),
            };
            let (ids, reason) = match rest.split_once("reason:") {
                Some((ids, reason)) => (ids, reason.trim()),
                None => (rest, ""),
            };
            let ids: Vec<String> = ids
                .split([',', ' '])
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
                .collect();
            let mut ok = true;
            if ids.is_empty() {
                ok = false;
                findings.push(finding(
                    "invalid-suppression",
                    "`shipgate:allow` names no rule, so it suppresses nothing".to_owned(),
                    "write `-- shipgate:allow <rule-id> reason: <why it is safe>` (rule ids are in docs/lint-rules.md)",
                ));
            }
            for id in &ids {
                if rules::find(id).is_none() {
                    ok = false;
                    let hint = suggest(id, rules::RULES.iter().map(|rule| rule.id))
                        .map(|close| format!("did you mean `{close}`? "))
                        .unwrap_or_default();
                    findings.push(finding(
                        "invalid-suppression",
                        format!(
                            "`shipgate:allow` names unknown rule `{id}`, so it suppresses nothing"
                        ),
                        &format!("{hint}use a rule id from docs/lint-rules.md"),
                    ));
                }
            }
            if reason.is_empty() {
                ok = false;
                findings.push(finding(
                    "suppression-without-reason",
                    format!(
                        "`shipgate:allow {}` gives no reason, so it suppresses nothing",
                        ids.join(", ")
                    ),
                    "say why it is safe: `-- shipgate:allow <rule-id> reason: the table is empty in production`",
                ));
            }
            if ok {
                suppressions.valid.push(Suppression {
                    line: index + 1,
                    rules: ids,
                    reason: reason.to_owned(),
                });
            }
        }
        offset += line.len() + 1;
    }
    (suppressions, findings)
}

impl Suppressions {
    /// The suppression allowing `rule` for a statement starting at byte
    /// `start`: in the block of comment lines directly above its first line.
    pub(crate) fn allowing(&self, rule: &str, start: usize) -> Option<&Suppression> {
        let line = self
            .line_starts
            .partition_point(|&line_start| line_start <= start);
        // `line` is the statement's 1-based line; walk the comments above it.
        let mut above = line.checked_sub(1)?;
        while above >= 1 && self.comment_lines.get(above - 1).copied().unwrap_or(false) {
            if let Some(found) = self
                .valid
                .iter()
                .find(|s| s.line == above && s.rules.iter().any(|id| id == rule))
            {
                return Some(found);
            }
            above -= 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The markers `migrate apply` honours, spelled as it accepts them
    /// (found by a real-shaped dbmate history: lint used to know only one).
    #[test]
    fn knows_the_no_transaction_markers_apply_honours() {
        for marked in [
            "-- shipgate:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);",
            "--shipgate:no-transaction\n",
            "  -- no-transaction\n",
            "-- NO-TRANSACTION\n",
        ] {
            assert!(no_transaction(marked), "{marked:?}");
        }
        assert!(!no_transaction("-- no transaction here\nSELECT 1;"));
        assert!(crate::migrate::layout::dbmate::runs_outside_transaction(
            "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY i ON t (a);\n-- migrate:down\n"
        ));
        assert!(!crate::migrate::layout::dbmate::runs_outside_transaction(
            "-- migrate:up\nSELECT 1;\n-- migrate:down\n"
        ));
    }

    #[test]
    fn finds_the_suppression_in_the_comment_block_above() {
        let sql = "SELECT 1;\n-- shipgate:allow drop-table reason: empty table\n-- more words\nDROP TABLE t;\n";
        let (suppressions, findings) = read(sql);
        assert!(findings.is_empty());
        let start = sql.find("DROP").unwrap();
        let found = suppressions.allowing("drop-table", start).unwrap();
        assert_eq!((found.line, found.reason.as_str()), (2, "empty table"));
        assert!(suppressions.allowing("truncate", start).is_none());
        assert!(suppressions.allowing("drop-table", 0).is_none());
    }

    #[test]
    fn reasonless_and_unknown_suppressions_are_findings() {
        let (suppressions, findings) = read(
            "-- shipgate:allow drop-table\n-- shipgate:allow drop-tabel reason: x\nDROP TABLE t;",
        );
        let rules: Vec<&str> = findings.iter().map(|f| f.rule).collect();
        assert_eq!(rules, ["suppression-without-reason", "invalid-suppression"]);
        assert!(
            findings[1]
                .alternative
                .contains("did you mean `drop-table`")
        );
        assert!(suppressions.valid.is_empty());
    }
}
