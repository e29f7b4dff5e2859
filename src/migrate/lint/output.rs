//! Turning lint results into report checks: one check per file (its class),
//! then one per finding with the rule id as its name, the statement's
//! location (so the human renderer shows a caret and GitHub annotates the
//! line), the production effect and the safe alternative. Suppressed
//! findings stay in the report as skipped checks naming the reason.

use super::FileLint;
use super::classify::MigrationClass;
use super::rules::Severity;
use crate::diagnostic::SourceLocation;
use crate::report::{Check, Status};

/// Counts for the phase summary.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Totals {
    pub(crate) files: usize,
    pub(crate) statements: usize,
    pub(crate) errors: usize,
    pub(crate) warnings: usize,
    pub(crate) allowed: usize,
}

impl Totals {
    pub(crate) fn summary(self) -> String {
        format!(
            "lint: {} file(s), {} statement(s): {} error(s), {} warning(s), {} allowed",
            self.files, self.statements, self.errors, self.warnings, self.allowed
        )
    }
}

/// The checks for one file, and adds its counts to `totals`.
pub(crate) fn checks(file: &FileLint, totals: &mut Totals) -> Vec<Check> {
    totals.files += 1;
    totals.statements += file.statements;
    let parsed = !file
        .findings
        .iter()
        .any(|reported| reported.finding.rule == "parse-error");
    let class = match file.classification.class {
        MigrationClass::Destructive if !parsed => "not parsed (counts as destructive)".to_owned(),
        MigrationClass::Additive => "additive".to_owned(),
        MigrationClass::Destructive if file.classification.reasons.is_empty() => {
            "destructive".to_owned()
        }
        MigrationClass::Destructive => {
            format!("destructive: {}", file.classification.reasons.join(", "))
        }
    };
    let counts = file.counts;
    let mut checks = vec![Check::pass(file.path.display().to_string()).detail(format!(
        "{class} · {} statement(s): {} additive, {} destructive, {} locking",
        file.statements, counts.additive, counts.destructive, counts.locking
    ))];
    for reported in &file.findings {
        let finding = &reported.finding;
        let location = SourceLocation::from_span(&file.path, &file.sql, finding.start, finding.end);
        let status = match (&reported.allowed, reported.severity) {
            (Some(_), _) => {
                totals.allowed += 1;
                Status::Skip
            }
            (None, Severity::Error) => {
                totals.errors += 1;
                Status::Fail
            }
            (None, Severity::Warning) => {
                totals.warnings += 1;
                Status::Warn
            }
        };
        let detail = match &reported.allowed {
            Some(reason) => format!("allowed at {location} ({reason}): {}", finding.message),
            None => format!("{} — instead: {}", finding.message, finding.alternative),
        };
        checks.push(
            Check::new(finding.rule, status)
                .detail(detail)
                .location(location),
        );
    }
    checks
}
