//! Schema drift (issue 16): does the database's schema match what its
//! applied migrations build?
//!
//! The check applies, to a scratch database, exactly the migrations the
//! target's history table records as applied (pending ones are the next
//! deploy's, not drift), then compares the two catalogs with
//! [`crate::db::postgres::catalog`] and says each difference in words. The
//! scratch database is a temporary `shipgate_drift_<pid>_<random>` on the
//! target's server, dropped on success, failure, deadline and Ctrl-C; or,
//! when the environment sets `shadow_database`, that database, emptied
//! first. Nothing is ever written to the target: it is only read.
//!
//! This module owns the check and its report; the scratch database's
//! lifecycle is `scratch`'s, the noise rules (history tables, column order,
//! `public.`) and the sentences are `words`', the `allow` patterns
//! `allow`'s. The `drift` gate and the pipeline render [`DriftOutcome`]
//! with [`one_check`].

mod allow;
mod scratch;
mod words;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use super::MigrateError;
use super::layout::Layout;
use super::plan::{MigrationPlan, MigrationState};
use crate::config::{DatabaseUrl, DriftGate};
use crate::context::Context;
use crate::db::postgres::PostgresDatabase;
use crate::db::postgres::catalog::{self, Catalog, CatalogOptions, ObjectClass};
use crate::db::{self, Database as _, DatabaseError, Migration};
use crate::report::{Check, Phase, PhaseName, Report, Status, format_duration};

use self::allow::Allow;
use self::scratch::Scratch;
use self::words::{finding, fold, is_bookkeeping, normalize, shown_name};

pub use self::words::identifiers;

/// The deadline of `migrate drift` (the gate uses its own `timeout`).
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(600);

/// Which side of the comparison has an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftKind {
    /// Only the database has it: no migration creates it.
    Extra,
    /// Only the migrations create it.
    Missing,
    /// Both have it, defined differently.
    Changed,
}

impl DriftKind {
    /// The kind as the JSON report spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Extra => "extra",
            Self::Missing => "missing",
            Self::Changed => "changed",
        }
    }
}

/// One difference between the database and its migrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftFinding {
    /// The object's class.
    pub class: ObjectClass,
    /// Its qualified name, as the catalog has it (`public.users.email`).
    pub name: String,
    /// Which side has it.
    pub kind: DriftKind,
    /// Its definition in the database, when it has it.
    pub database: Option<String>,
    /// Its definition as the migrations build it, when they do.
    pub migrations: Option<String>,
    /// The difference in words.
    pub sentence: String,
}

/// How the check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriftVerdict {
    /// The catalogs were compared.
    Compared {
        /// Differences no `allow` pattern matched.
        findings: Vec<DriftFinding>,
        /// Differences an `allow` pattern silenced.
        allowed: usize,
        /// Objects compared (the database's side).
        objects: usize,
    },
    /// An applied migration failed on the scratch database, so the
    /// migrations' schema could not be built.
    ReplayFailed {
        /// The migration, `<version>_<name>`.
        migration: String,
        /// Why, with the engine's message.
        reason: String,
    },
    /// Stopped by Ctrl-C or SIGTERM.
    Interrupted,
    /// The deadline passed first.
    TimedOut(Duration),
}

/// What a drift check found and did.
#[derive(Debug, Clone)]
pub struct DriftOutcome {
    /// The verdict.
    pub verdict: DriftVerdict,
    /// How many migrations were applied to the scratch database.
    pub replayed: usize,
    /// Pending migrations, not part of the comparison.
    pub pending: usize,
    /// The scratch database, and what became of it.
    pub scratch: String,
    /// Set when the scratch database could not be dropped (a human should).
    pub cleanup_failed: Option<String>,
    /// Wall time.
    pub duration: Duration,
}

impl DriftOutcome {
    /// Whether the check passed: compared and nothing unexplained differs.
    pub fn passed(&self) -> bool {
        matches!(&self.verdict, DriftVerdict::Compared { findings, .. } if findings.is_empty())
            && self.cleanup_failed.is_none()
    }
}

/// The `[gate.drift]` settings `migrate drift` uses: the gate's when the
/// config has one, else the defaults (no `allow`, no comments, no grants).
pub fn settings(ctx: &Context) -> DriftGate {
    ctx.config
        .gates
        .iter()
        .find_map(|gate| match &gate.kind {
            crate::config::GateKind::Drift(drift) => Some(drift.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// `shipgate migrate drift`: the check as a report; exit 1 on drift.
pub async fn command(ctx: &Context) -> Result<Report, MigrateError> {
    let settings = settings(ctx);
    let environment = ctx.config.environment.name.clone();
    let mut report = Report::new("migrate drift", Some(&environment), ctx.dry_run);
    if ctx.dry_run {
        let check = Check::new("drift", Status::Skip).detail(
            "would apply the applied migrations to a scratch database and compare its schema with the database's",
        );
        report.push(Phase::new(PhaseName::Migrate, vec![check], Duration::ZERO));
        return Ok(report);
    }
    let outcome = check(ctx, &settings, DEFAULT_DEADLINE).await?;
    let summary = summary(&outcome);
    let mut checks = vec![scratch_check(&outcome)];
    if let DriftVerdict::Compared { findings, .. } = &outcome.verdict {
        report.output("drift", findings.len().to_string());
        checks.extend(findings.iter().map(finding_check));
    }
    report.push(Phase::new(PhaseName::Migrate, checks, outcome.duration).summary(summary));
    Ok(report)
}

/// The check as one line: how many differences, or why none were counted.
pub fn summary(outcome: &DriftOutcome) -> String {
    match &outcome.verdict {
        DriftVerdict::Compared {
            findings, allowed, ..
        } => {
            let mut text = match findings.len() {
                0 => "no drift".to_owned(),
                1 => "1 difference".to_owned(),
                count => format!("{count} differences"),
            };
            if *allowed > 0 {
                let _ = write!(text, " ({allowed} allowed)");
            }
            text
        }
        DriftVerdict::ReplayFailed { migration, .. } => {
            format!("could not rebuild the schema: `{migration}` failed")
        }
        DriftVerdict::Interrupted => "interrupted".to_owned(),
        DriftVerdict::TimedOut(deadline) => {
            format!("timed out after {}", format_duration(*deadline))
        }
    }
}

/// The line that says what was replayed where, and how it ended.
pub fn scratch_check(outcome: &DriftOutcome) -> Check {
    let mut detail = format!(
        "applied {} migration(s) to {}",
        outcome.replayed, outcome.scratch
    );
    if outcome.pending > 0 {
        let _ = write!(
            detail,
            "; {} pending migration(s) not compared (this deploy's)",
            outcome.pending
        );
    }
    let mut check = match &outcome.verdict {
        DriftVerdict::Compared {
            objects, allowed, ..
        } => {
            let _ = write!(detail, "; compared {objects} objects");
            if *allowed > 0 {
                let _ = write!(detail, ", {allowed} difference(s) allowed by `allow`");
            }
            Check::pass("scratch").detail(detail)
        }
        DriftVerdict::ReplayFailed { migration, reason } => Check::fail("scratch").detail(format!(
            "{detail}; `{migration}` failed there: {reason}; a migration that needs objects the platform provides (Supabase's `auth.uid()`) needs a `shadow_database` that has them, with `allow = [\"schema:auth\"]`"
        )),
        DriftVerdict::Interrupted => {
            Check::new("scratch", Status::Skip).detail(format!("{detail}; interrupted"))
        }
        DriftVerdict::TimedOut(deadline) => Check::fail("scratch").detail(format!(
            "{detail}; timed out after {}",
            format_duration(*deadline)
        )),
    };
    if let Some(problem) = &outcome.cleanup_failed {
        check.status = Status::Fail;
        let detail = check.detail.take().unwrap_or_default();
        check = check.detail(format!("{detail}; {problem}"));
    }
    check.duration(outcome.duration)
}

/// The whole check as one line, for the `drift` gate and the pipeline's
/// check after migrating: the differences in the detail (the first few)
/// and the log (all of them).
pub fn one_check(name: &str, outcome: &DriftOutcome) -> Check {
    let scratch = scratch_check(outcome);
    let mut check = Check::new(name, scratch.status).duration(outcome.duration);
    match &outcome.verdict {
        DriftVerdict::Compared { findings, .. } if !findings.is_empty() => {
            const SHOWN: usize = 3;
            let mut detail = format!("{}: ", summary(outcome));
            let sentences: Vec<&str> = findings
                .iter()
                .map(|finding| finding.sentence.as_str())
                .collect();
            detail.push_str(&sentences[..sentences.len().min(SHOWN)].join("; "));
            if sentences.len() > SHOWN {
                let _ = write!(detail, "; and {} more", sentences.len() - SHOWN);
            }
            check.status = Status::Fail;
            check = check.detail(detail).log(format!(
                "{}\n{}",
                sentences.join("\n"),
                scratch.detail.unwrap_or_default()
            ));
        }
        _ => {
            check = check.detail(format!(
                "{}; {}",
                summary(outcome),
                scratch.detail.unwrap_or_default()
            ));
        }
    }
    check
}

/// One finding as a failed check: the sentence, both definitions, and its
/// class, name and kind as artifacts (the JSON report lists them).
pub fn finding_check(finding: &DriftFinding) -> Check {
    let mut check = Check::fail(format!("{} {}", finding.class, shown_name(finding)))
        .detail(finding.sentence.clone())
        .artifact("class", finding.class.key())
        .artifact("object", finding.name.clone())
        .artifact("difference", finding.kind.as_str());
    check.expected = Some(
        finding
            .migrations
            .clone()
            .unwrap_or_else(|| "absent".to_owned()),
    );
    check.actual = Some(
        finding
            .database
            .clone()
            .unwrap_or_else(|| "absent".to_owned()),
    );
    check
}

/// Runs the check within `deadline`: replays the applied migrations on a
/// scratch database, compares, and drops the scratch database whatever
/// happened (also on Ctrl-C).
pub async fn check(
    ctx: &Context,
    settings: &DriftGate,
    deadline: Duration,
) -> Result<DriftOutcome, MigrateError> {
    let started = Instant::now();
    let layout = Layout::of(&ctx.config);
    let url = target_url(ctx)?;
    let target = db::connect_postgres(&ctx.config, url, layout.history())?;
    let plan = read_plan(ctx, layout, &target).await?;
    let (replay, pending) = replay_list(ctx, &plan)?;
    let shadow = match &ctx.config.environment.shadow_database {
        Some(DatabaseUrl::Postgres { url }) => {
            let shadow = db::connect_postgres(&ctx.config, url, layout.history())?;
            if shadow.is_same_database(&target) {
                return Err(MigrateError::ShadowIsTarget {
                    database: shadow.database_name().to_owned(),
                });
            }
            Some(shadow)
        }
        Some(DatabaseUrl::Sqlite { .. }) => {
            return Err(MigrateError::DriftNeedsPostgres {
                key: "shadow_database",
            });
        }
        None => None,
    };
    let mut scratch = Scratch::open(ctx, &target, shadow, layout, settings).await?;
    let options = CatalogOptions {
        comments: settings.comments,
        grants: settings.grants,
    };
    let work = compare(ctx, &target, &scratch.database, &replay, settings, options);
    let verdict = tokio::select! {
        finished = tokio::time::timeout(deadline, work) => match finished {
            Ok(verdict) => verdict,
            Err(_) => Ok(DriftVerdict::TimedOut(deadline)),
        },
        () = ctx.cancel.cancelled() => Ok(DriftVerdict::Interrupted),
    };
    let description = scratch.describe();
    let cleanup_failed = scratch.close().await;
    let verdict = verdict?;
    let replayed = match &verdict {
        DriftVerdict::ReplayFailed { migration, .. } => replay
            .iter()
            .position(|entry| entry.id() == *migration)
            .unwrap_or(0),
        DriftVerdict::Compared { .. } => replay.len(),
        DriftVerdict::Interrupted | DriftVerdict::TimedOut(_) => 0,
    };
    Ok(DriftOutcome {
        verdict,
        replayed,
        pending,
        scratch: description,
        cleanup_failed,
        duration: started.elapsed(),
    })
}

/// The target's URL: `direct_url` when set, else `database`; PostgreSQL only.
fn target_url(ctx: &Context) -> Result<&crate::config::Masked, MigrateError> {
    let environment = &ctx.config.environment;
    match environment
        .direct_database
        .as_ref()
        .or(environment.database.as_ref())
    {
        Some(DatabaseUrl::Postgres { url }) => Ok(url),
        Some(DatabaseUrl::Sqlite { .. }) => {
            Err(MigrateError::DriftNeedsPostgres { key: "database" })
        }
        None => Err(DatabaseError::NotConfigured {
            environment: environment.name.clone(),
        }
        .into()),
    }
}

/// The files and the target's history, merged.
async fn read_plan(
    ctx: &Context,
    layout: Layout,
    target: &PostgresDatabase,
) -> Result<MigrationPlan, MigrateError> {
    let local = layout.read(&ctx.config.migrate.dir, &ctx.config.base_dir)?;
    let mut applied = target.applied().await?;
    layout.reconcile(&local, &mut applied);
    Ok(MigrationPlan::new(local, applied, layout.identity()))
}

/// The migrations to replay (those the target records as applied, in
/// order) and how many are pending. Refuses when the history cannot be
/// rebuilt from the files: an applied migration edited, missing or failed
/// part-way.
fn replay_list(
    ctx: &Context,
    plan: &MigrationPlan,
) -> Result<(Vec<Migration>, usize), MigrateError> {
    super::apply::refuse_failed(plan)?;
    super::apply::refuse_edited(plan)?;
    let mut replay = Vec::new();
    let mut pending = 0;
    for entry in &plan.entries {
        match (&entry.state, &entry.local) {
            (MigrationState::Applied { .. }, Some(local)) => replay.push(local.clone()),
            (MigrationState::Pending, _) => pending += 1,
            (MigrationState::MissingLocally { .. } | MigrationState::Applied { .. }, _) => {
                return Err(MigrateError::DriftMissingFile {
                    name: entry.id.clone(),
                    dir: super::source::relative_to(&ctx.config.migrate.dir, &ctx.config.base_dir),
                });
            }
            (MigrationState::Edited { .. } | MigrationState::Failed { .. }, _) => {}
        }
    }
    Ok((replay, pending))
}

/// Replays, reads both catalogs and compares them.
async fn compare(
    ctx: &Context,
    target: &PostgresDatabase,
    scratch: &PostgresDatabase,
    replay: &[Migration],
    settings: &DriftGate,
    options: CatalogOptions,
) -> Result<DriftVerdict, MigrateError> {
    scratch.ensure_history().await?;
    for migration in replay {
        ctx.printer
            .progress(&format!("replaying `{}`", migration.path.display()));
        if let Err(error) = scratch.apply(migration).await {
            if !error.is_migration_failure() {
                return Err(error.into());
            }
            let mut reason = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                let _ = write!(reason, ": {cause}");
                source = cause.source();
            }
            return Ok(DriftVerdict::ReplayFailed {
                migration: migration.id(),
                reason,
            });
        }
    }
    let (database, migrations) =
        tokio::try_join!(target.read_catalog(options), scratch.read_catalog(options))?;
    let matchers = Allow::compile(&settings.allow);
    let keep = |catalog: Catalog| Catalog {
        version: catalog.version,
        objects: catalog
            .objects
            .into_iter()
            .filter(|object| !is_bookkeeping(object))
            .map(normalize)
            .collect(),
    };
    let (database, migrations) = (keep(database), keep(migrations));
    let mut findings = Vec::new();
    let mut allowed = 0;
    let all: Vec<DriftFinding> = catalog::diff(&migrations, &database)
        .iter()
        .map(|difference| finding(difference, &ctx.config.environment.name))
        .collect();
    for finding in fold(all) {
        if matchers.iter().any(|allow| allow.matches(&finding)) {
            allowed += 1;
        } else {
            findings.push(finding);
        }
    }
    Ok(DriftVerdict::Compared {
        findings,
        allowed,
        objects: database.objects.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_lists_every_class() {
        let keys: Vec<String> = ObjectClass::ALL.iter().map(|class| class.key()).collect();
        assert_eq!(keys, crate::config::DRIFT_CLASSES);
        for key in crate::config::DRIFT_CLASSES {
            assert_eq!(ObjectClass::from_key(key).unwrap().key(), key);
        }
    }
}
