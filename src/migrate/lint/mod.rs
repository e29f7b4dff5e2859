//! `shipgate migrate lint`: read migrations with the real PostgreSQL parser
//! and say, statement by statement, what each does to production — and
//! whether the database can be kept when the release is rolled back.
//!
//! This module owns the entry function, [`LintError`] and the orchestration
//! (parse files in parallel, then run the rules over them in apply order so
//! column types carry from one file to the next). Parsing is `parse`'s job,
//! the rules live in `rules/`, suppressions in `suppress`, the migration's
//! class in `classify` and the report checks in `output`. Issue 4.

mod classify;
mod output;
mod parse;
mod rules;
mod suppress;

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

pub use classify::{Classification, MigrationClass, plan_summary};
pub use rules::{RULES, Rule, Severity};

use self::rules::{Effect, FileContext, Finding, Schema};
use super::MigrateError;
use crate::config::{ConfigError, LintConfig, RuleLevel};
use crate::context::Context;
use crate::diagnostic::{Diagnostic, SourceLocation};
use crate::report::{Phase, PhaseName, Report};

/// Why `migrate lint` could not read what it was asked to lint. Findings are
/// not errors: they are failed or warning checks in the report.
#[derive(Debug, thiserror::Error)]
pub enum LintError {
    /// A file named on the command line could not be read.
    #[error("failed to read `{}`", path.display())]
    ReadFile {
        /// The file, as given.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// A file named on the command line is not UTF-8 text.
    #[error("`{}` is not UTF-8 text", path.display())]
    NotUtf8 {
        /// The file, as given.
        path: PathBuf,
    },
    /// The parser threads stopped unexpectedly; a bug.
    #[error("a lint worker thread panicked; this is a bug in shipgate")]
    Worker,
}

impl Diagnostic for LintError {
    fn hint(&self) -> Option<String> {
        match self {
            Self::ReadFile { path, .. } => Some(format!(
                "check that `{}` exists and is readable, or run `shipgate migrate lint --all`",
                path.display()
            )),
            Self::NotUtf8 { path } => Some(format!("save `{}` as UTF-8", path.display())),
            Self::Worker => Some(
                "re-run `shipgate migrate lint`; report the bug with the files that trigger it"
                    .to_owned(),
            ),
        }
    }
}

/// Which migrations `migrate lint` reads.
#[derive(Debug, Clone, Default)]
pub struct LintSelection {
    /// These files, in this order (paths as given).
    pub files: Vec<PathBuf>,
    /// Only the migrations the database has not applied.
    pub pending: bool,
}

/// A migration's text and the path it is reported under.
#[derive(Debug, Clone)]
pub struct LintSource {
    /// The path shown in findings.
    pub path: PathBuf,
    /// The SQL.
    pub sql: String,
    /// Whether the layout runs it outside a transaction (dbmate's
    /// `transaction:false`), as `migrate apply` does.
    pub outside_transaction: bool,
}

/// One finding after severity overrides and suppressions.
#[derive(Debug, Clone)]
pub(crate) struct Reported {
    pub(crate) finding: Finding,
    pub(crate) severity: Severity,
    /// The suppression's reason, when a `shipgate:allow` allowed it.
    pub(crate) allowed: Option<String>,
}

/// Statement classes in one file; a statement can be destructive and
/// locking, and is additive when it is neither.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatementCounts {
    /// Safe with the release still serving traffic.
    pub additive: usize,
    /// Drops, renames, narrows or deletes.
    pub destructive: usize,
    /// Holds a lock that blocks the app for longer than a moment.
    pub locking: usize,
}

/// The lint of one file.
#[derive(Debug, Clone)]
pub struct FileLint {
    /// The path shown in findings.
    pub path: PathBuf,
    pub(crate) sql: String,
    /// How many statements it has.
    pub statements: usize,
    /// How many statements are additive, destructive, locking.
    pub counts: StatementCounts,
    /// Its class for the rollback plan.
    pub classification: Classification,
    pub(crate) findings: Vec<Reported>,
}

impl FileLint {
    /// Whether a finding at `error` severity remains (not allowed, not off).
    pub fn has_errors(&self) -> bool {
        self.findings
            .iter()
            .any(|reported| reported.allowed.is_none() && reported.severity == Severity::Error)
    }

    /// One line per remaining finding: `path:line:col severity rule: what happens`.
    pub fn describe_findings(&self) -> Vec<String> {
        self.findings
            .iter()
            .filter(|reported| reported.allowed.is_none())
            .map(|reported| {
                let finding = &reported.finding;
                let location = crate::diagnostic::SourceLocation::from_span(
                    &self.path,
                    &self.sql,
                    finding.start,
                    finding.end,
                );
                let severity = match reported.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                };
                format!(
                    "{location} {severity} {}: {}",
                    finding.rule, finding.message
                )
            })
            .collect()
    }

    /// The remaining findings' rule ids and 1-based lines, in file order.
    pub fn finding_lines(&self) -> Vec<(&'static str, usize)> {
        self.findings
            .iter()
            .filter(|reported| reported.allowed.is_none())
            .map(|reported| {
                let line = self.sql[..reported.finding.start.min(self.sql.len())]
                    .matches('\n')
                    .count()
                    + 1;
                (reported.finding.rule, line)
            })
            .collect()
    }
}

/// `migrate lint`: lints the selected migrations into a report; a finding
/// at `error` severity fails the phase (exit 1).
pub async fn execute(ctx: &Context, selection: &LintSelection) -> Result<Report, MigrateError> {
    let started = Instant::now();
    let results = collect(ctx, selection).await?;
    let mut totals = output::Totals::default();
    let mut checks = Vec::new();
    for file in &results {
        checks.extend(output::checks(file, &mut totals));
    }
    let mut report = Report::new(
        "migrate lint",
        Some(&ctx.config.environment.name),
        ctx.dry_run,
    );
    report
        .push(Phase::new(PhaseName::Migrate, checks, started.elapsed()).summary(totals.summary()));
    Ok(report)
}

/// Lints the selected migrations (parsing off the async runtime) and
/// returns the files asked for, in apply order; the `migrations` gate and
/// `migrate lint` share it.
pub async fn collect(
    ctx: &Context,
    selection: &LintSelection,
) -> Result<Vec<FileLint>, MigrateError> {
    let (sources, shown) = select(ctx, selection).await?;
    let lint_config = ctx.config.migrate.lint.clone();
    let results = tokio::task::spawn_blocking(move || lint_sources(sources, &lint_config))
        .await
        .map_err(|_| LintError::Worker)??;
    Ok(results
        .into_iter()
        .filter(|file| {
            shown
                .as_ref()
                .is_none_or(|shown| shown.contains(&file.path))
        })
        .collect())
}

/// The sources to lint, in apply order, and (for `--pending`) the paths to
/// report: earlier files are still read so column types are known.
async fn select(
    ctx: &Context,
    selection: &LintSelection,
) -> Result<(Vec<LintSource>, Option<HashSet<PathBuf>>), MigrateError> {
    if !selection.files.is_empty() {
        let mut sources = Vec::new();
        for path in &selection.files {
            let bytes = fs_err::read(path).map_err(|error| LintError::ReadFile {
                path: path.clone(),
                source: error,
            })?;
            let sql =
                String::from_utf8(bytes).map_err(|_| LintError::NotUtf8 { path: path.clone() })?;
            sources.push(LintSource {
                path: path.clone(),
                outside_transaction: super::layout::dbmate::runs_outside_transaction(&sql),
                sql,
            });
        }
        return Ok((sources, None));
    }
    if selection.pending {
        // The whole history in the order the database meets it, the one
        // `migrate plan` and `apply` classify (issue 11, item 3).
        let (_, plan) = super::load(ctx).await?;
        let history = plan.history();
        let pending: HashSet<PathBuf> = history
            .iter()
            .filter(|(_, pending)| *pending)
            .map(|(migration, _)| migration.path.clone())
            .collect();
        let sources = history
            .into_iter()
            .map(|(migration, _)| LintSource {
                path: migration.path.clone(),
                sql: migration.sql.clone(),
                outside_transaction: migration.outside_transaction.is_some(),
            })
            .collect();
        return Ok((sources, Some(pending)));
    }
    let local = super::layout::Layout::of(&ctx.config)
        .read(&ctx.config.migrate.dir, &ctx.config.base_dir)?;
    Ok((
        local
            .into_iter()
            .map(|migration| LintSource {
                path: migration.path,
                sql: migration.sql,
                outside_transaction: migration.outside_transaction.is_some(),
            })
            .collect(),
        None,
    ))
}

/// Lints `sources` in order: parsing runs on every core, rules run in file
/// order so a type change sees the column's type from an earlier file.
pub fn lint_sources(
    sources: Vec<LintSource>,
    config: &LintConfig,
) -> Result<Vec<FileLint>, LintError> {
    let parsed = parse_parallel(&sources)?;
    let mut schema = Schema::default();
    Ok(sources
        .into_iter()
        .zip(parsed)
        .map(|(source, parsed)| lint_parsed(source, parsed, config, &mut schema))
        .collect())
}

/// The class of each migration in `history`, the whole history in apply
/// order (the applied migrations, then the pending ones): the one model
/// `migrate plan`, `migrate apply`'s run state, `migrate lint` and the
/// `migrations` gate share, so a type change is judged against the column's
/// type from earlier files (issue 11, item 3). A file that does not parse
/// counts as destructive: nothing proves otherwise.
pub fn classify_history(history: &[&str]) -> Vec<Classification> {
    let mut schema = Schema::default();
    let config = LintConfig::default();
    history
        .iter()
        .map(|sql| {
            let source = LintSource {
                path: PathBuf::new(),
                sql: (*sql).to_owned(),
                outside_transaction: false,
            };
            let parsed = parse::parse(sql);
            lint_parsed(source, parsed, &config, &mut schema).classification
        })
        .collect()
}

type Parsed = Result<Vec<parse::Statement>, parse::ParseFailure>;

fn parse_parallel(sources: &[LintSource]) -> Result<Vec<Parsed>, LintError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(sources.len().max(1));
    let chunk = sources.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = sources
            .chunks(chunk)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|source| parse::parse(&source.sql))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut parsed = Vec::with_capacity(sources.len());
        for handle in handles {
            parsed.extend(handle.join().map_err(|_| LintError::Worker)?);
        }
        Ok(parsed)
    })
}

fn lint_parsed(
    source: LintSource,
    parsed: Parsed,
    config: &LintConfig,
    schema: &mut Schema,
) -> FileLint {
    let (suppressions, mut raw) = suppress::read(&source.sql);
    let mut reasons = Vec::new();
    let mut destructive = false;
    let mut counts = StatementCounts::default();
    let statements = match parsed {
        Ok(statements) => {
            let mut context = FileContext {
                no_transaction: source.outside_transaction || suppress::no_transaction(&source.sql),
                created_tables: HashSet::new(),
                validated_tables: HashSet::new(),
                lock_timeout_set: false,
                lock_timeout_reported: false,
                schema,
            };
            for statement in &statements {
                let (
                    findings,
                    Effect {
                        destructive: effect,
                    },
                ) = rules::check(statement, &mut context);
                // `missing-lock-timeout` is about the file, not the statement's lock.
                let locking = findings.iter().any(|finding| {
                    finding.rule != "missing-lock-timeout"
                        && rules::find(finding.rule)
                            .is_some_and(|rule| rule.family == rules::Family::Locking)
                });
                counts.locking += usize::from(locking);
                raw.extend(findings);
                if !effect.is_empty() {
                    destructive = true;
                    counts.destructive += 1;
                    reasons.extend(effect);
                } else if !locking {
                    counts.additive += 1;
                }
            }
            statements.len()
        }
        Err(failure) => {
            destructive = true;
            raw.push(Finding {
                rule: "parse-error",
                start: failure.offset,
                end: failure.offset + 1,
                message: format!("PostgreSQL cannot parse this file: {}", failure.message),
                alternative: "fix the SQL; nothing in this file was linted".to_owned(),
            });
            0
        }
    };
    raw.sort_by_key(|finding| finding.start);
    let findings = raw
        .into_iter()
        .filter_map(|finding| {
            let rule = rules::find(finding.rule)?;
            let severity = match config.rules.get(rule.id) {
                Some(RuleLevel::Off) => return None,
                Some(RuleLevel::Error) => Severity::Error,
                Some(RuleLevel::Warning) => Severity::Warning,
                None => rule.severity,
            };
            let allowed = (rule.family != rules::Family::File)
                .then(|| suppressions.allowing(rule.id, finding.start))
                .flatten()
                .map(|suppression| suppression.reason.clone());
            Some(Reported {
                finding,
                severity,
                allowed,
            })
        })
        .collect();
    let mut lint = FileLint {
        path: source.path,
        sql: source.sql,
        statements,
        counts,
        classification: Classification {
            class: if destructive {
                MigrationClass::Destructive
            } else {
                MigrationClass::Additive
            },
            reasons,
            locking: counts.locking > 0,
            findings: Vec::new(),
        },
        findings,
    };
    lint.classification.findings = lint
        .finding_lines()
        .into_iter()
        .zip(
            lint.findings
                .iter()
                .filter(|reported| reported.allowed.is_none()),
        )
        .map(|((rule, line), reported)| format!("line {line} {rule}: {}", reported.finding.message))
        .collect();
    lint
}

/// Every rule id, for config validation ("did you mean").
pub fn rule_ids() -> impl Iterator<Item = &'static str> {
    RULES.iter().map(|rule| rule.id)
}

/// Refuses a `[migrate.lint]` id that names no rule, at its line in the
/// config, with the closest rule id as a suggestion.
pub fn validate_config(lint: &LintConfig) -> Result<(), ConfigError> {
    let mut unknown: Vec<(&String, &SourceLocation)> = lint
        .locations
        .iter()
        .filter(|(id, _)| rule_ids().all(|known| known != id.as_str()))
        .collect();
    unknown.sort_by_key(|(_, location)| (location.line, location.column));
    let Some((id, location)) = unknown.first() else {
        return Ok(());
    };
    let close = crate::diagnostic::suggest(id, rule_ids());
    Err(ConfigError::Invalid {
        location: (*location).clone(),
        message: format!("unknown lint rule `{id}` in `[migrate.lint]`"),
        hint: Some(close.map_or_else(
            || "use a rule id listed in `docs/lint-rules.md`".to_owned(),
            |close| format!("did you mean `{close}`?"),
        )),
    })
}

#[cfg(test)]
mod tests;
