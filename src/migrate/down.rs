//! `shipgate migrate down` and the `down` rollback policy: revert applied
//! migrations with their down sections, newest first (issue 11, section 5).
//!
//! Order of a run, and why:
//! 1. read the files and the history, pick the migrations to revert, and
//!    find each one's down section (`layout::down`): one without a down
//!    section (or whose down section must run outside a transaction) stops
//!    the command before anything changes, naming it and where its down
//!    file would go;
//! 2. with `--dry-run`, report the plan and stop;
//! 3. back up (`migrate.backup = "auto"`), as `apply` does;
//! 4. revert each migration in its own transaction together with its
//!    history update (`Database::revert`); the first failure stops the run,
//!    its transaction rolled back, and the migrations reverted before it
//!    stay reverted.
//!
//! The run state forgets the versions it reverts, so a later rollback does
//! not try to revert them again.

use std::path::PathBuf;
use std::time::Instant;

use super::layout::Layout;
use super::layout::down::{DownSource, MissingDown};
use super::plan::MigrationState;
use super::{MigrateError, load_locked};
use crate::config::BackupMode;
use crate::context::Context;
use crate::db::{Database, DatabaseError, Migration};
use crate::report::{Check, Phase, PhaseName, Status};
use crate::state::RunState;

/// Which applied migrations to revert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownSelection {
    /// The newest `n` (`--steps N`, 1 by default).
    Steps(usize),
    /// Every one applied after this one (`--to NAME`: a `<version>_<name>`
    /// or a version), which stays applied.
    To(String),
    /// Exactly these versions, when applied (the `down` rollback policy:
    /// what this deploy applied).
    Versions(Vec<String>),
}

/// What a `migrate down` run did.
#[derive(Debug)]
pub struct DownOutcome {
    /// The report phase (failed when a down section failed).
    pub phase: Phase,
    /// The versions reverted, newest first.
    pub reverted: Vec<String>,
    /// The backup taken before the first change.
    pub backup: Option<PathBuf>,
}

/// Reverts the migrations `selection` names; with `dry_run`, only reports
/// the plan.
pub(super) async fn run(
    ctx: &Context,
    selection: &DownSelection,
    dry_run: bool,
) -> Result<DownOutcome, MigrateError> {
    let started = Instant::now();
    let (database, plan) = load_locked(ctx, !dry_run).await?;
    if let Some((entry, row)) = plan.failed() {
        return Err(DatabaseError::FailedMigration {
            name: entry.id.clone(),
            logs: row.failure.clone().unwrap_or_default(),
        }
        .into());
    }
    let chosen = choose(&plan, selection, database.as_ref())?;
    let downs = down_sections(ctx, &chosen)?;
    let phase = |checks: Vec<Check>, summary: String| {
        Phase::new(PhaseName::Migrate, checks, started.elapsed()).summary(summary)
    };
    if downs.is_empty() {
        let check = Check::pass("database").detail(format!(
            "nothing to revert: `{}` has {} applied",
            database.describe(),
            plan.applied_count()
        ));
        return Ok(DownOutcome {
            phase: phase(vec![check], "nothing to revert".to_owned()),
            reverted: Vec::new(),
            backup: None,
        });
    }
    if dry_run {
        let mut checks = vec![super::apply::planned_backup(ctx, database.as_ref()).await?];
        checks.extend(downs.iter().map(|down| {
            Check::new(down.id(), Status::Skip)
                .detail(format!("would revert with `{}`", down.path.display()))
        }));
        let summary = format!("{} to revert", downs.len());
        return Ok(DownOutcome {
            phase: phase(checks, summary),
            reverted: Vec::new(),
            backup: None,
        });
    }
    RunState::check_writable(&ctx.state_path)?;
    let mut checks = Vec::new();
    let backup = backup(ctx, database.as_ref(), &mut checks).await?;
    let mut reverted = Vec::new();
    let failure = revert_all(
        ctx,
        database.as_ref(),
        &downs,
        backup.as_deref(),
        &mut checks,
        &mut reverted,
    )
    .await;
    forget_reverted(ctx, &reverted)?;
    let summary = match failure? {
        None => format!("{} reverted", reverted.len()),
        Some(why) => format!("{} reverted, {why}", reverted.len()),
    };
    Ok(DownOutcome {
        phase: phase(checks, summary),
        reverted,
        backup,
    })
}

/// The applied migrations `selection` names, newest first: each one's
/// `<version>_<name>` and its file, when present.
fn choose(
    plan: &super::plan::MigrationPlan,
    selection: &DownSelection,
    database: &dyn Database,
) -> Result<Vec<(String, Option<Migration>)>, MigrateError> {
    // Applied migrations, oldest first.
    let applied: Vec<(&str, &str, Option<&Migration>)> = plan
        .entries
        .iter()
        .filter_map(|entry| match &entry.state {
            MigrationState::Applied { row }
            | MigrationState::Edited { row }
            | MigrationState::MissingLocally { row } => Some((
                entry.id.as_str(),
                row.version.as_str(),
                entry.local.as_ref(),
            )),
            MigrationState::Pending | MigrationState::Failed { .. } => None,
        })
        .collect();
    let chosen: Vec<_> = match selection {
        DownSelection::Steps(steps) => {
            let keep = applied.len().saturating_sub(*steps);
            applied[keep..].to_vec()
        }
        DownSelection::To(name) => {
            let Some(index) = applied
                .iter()
                .rposition(|(id, version, _)| id == name || version == name)
            else {
                return Err(MigrateError::NotApplied {
                    name: name.clone(),
                    database: database.describe(),
                });
            };
            applied[index + 1..].to_vec()
        }
        DownSelection::Versions(versions) => applied
            .iter()
            .copied()
            .filter(|(_, version, _)| versions.iter().any(|wanted| wanted == version))
            .collect(),
    };
    Ok(chosen
        .into_iter()
        .rev()
        .map(|(id, _, local)| (id.to_owned(), local.cloned()))
        .collect())
}

/// The down section of each of `chosen`, in order; refuses, before anything
/// changes, when one has none or cannot run in a transaction.
fn down_sections(
    ctx: &Context,
    chosen: &[(String, Option<Migration>)],
) -> Result<Vec<Migration>, MigrateError> {
    let layout = Layout::of(&ctx.config);
    let mut downs = Vec::new();
    let mut missing: Vec<(String, MissingDown)> = Vec::new();
    for (id, local) in chosen {
        let Some(local) = local else {
            missing.push((
                id.clone(),
                MissingDown {
                    expected: super::source::relative_to(
                        &ctx.config.migrate.dir,
                        &ctx.config.base_dir,
                    ),
                    reason: "its migration file is missing, so its down section is too".to_owned(),
                },
            ));
            continue;
        };
        match layout.down(local, &ctx.config.base_dir)? {
            DownSource::Found(down) => downs.push(down),
            DownSource::Missing(why) => missing.push((id.clone(), why)),
        }
    }
    if let Some((name, first)) = missing.first() {
        return Err(MigrateError::MissingDown {
            name: name.clone(),
            expected: first.expected.clone(),
            reason: first.reason.clone(),
            others: missing[1..].iter().map(|(name, _)| name.clone()).collect(),
        });
    }
    if let Some(down) = downs.iter().find(|down| down.outside_transaction.is_some()) {
        return Err(MigrateError::DownOutsideTransaction {
            name: down.id(),
            path: down.path.clone(),
            reason: down.outside_transaction.clone().unwrap_or_default(),
        });
    }
    Ok(downs)
}

/// Reverts `downs` in order, each in its own transaction, adding a check for
/// each and pushing each reverted version; stops at the first failure and
/// returns why.
async fn revert_all(
    ctx: &Context,
    database: &dyn Database,
    downs: &[Migration],
    backup: Option<&std::path::Path>,
    checks: &mut Vec<Check>,
    reverted: &mut Vec<String>,
) -> Result<Option<String>, MigrateError> {
    for (index, down) in downs.iter().enumerate() {
        if ctx.cancel.is_cancelled() {
            checks.extend(downs[index..].iter().map(|down| {
                Check::new(down.id(), Status::Skip).detail("not reverted: interrupted")
            }));
            return Ok(Some("interrupted".to_owned()));
        }
        ctx.printer.progress(&format!(
            "reverting `{}` with `{}`",
            down.id(),
            down.path.display()
        ));
        let started = Instant::now();
        match database.revert(down).await {
            Ok(()) => {
                checks.push(
                    Check::pass(down.id())
                        .detail(format!("reverted with `{}`", down.path.display()))
                        .duration(started.elapsed()),
                );
                reverted.push(down.version.clone());
            }
            Err(error) if error.is_migration_failure() => {
                let mut check = super::apply::failed_check(down, &error, backup);
                check.detail = check.detail.map(|detail| {
                    format!("{detail}; its transaction was rolled back, so it stays applied")
                });
                checks.push(check);
                checks.extend(downs[index + 1..].iter().map(|later| {
                    Check::new(later.id(), Status::Skip)
                        .detail(format!("not reverted: `{}` failed", down.id()))
                }));
                return Ok(Some(format!("`{}` failed", down.id())));
            }
            Err(error) => return Err(error.into()),
        }
    }
    Ok(None)
}

/// Takes the backup `migrate.backup` asks for, as `apply` does, and adds its
/// check. Not recorded in the run state: rollback keeps restoring the
/// backup taken before the deploy's migrations.
async fn backup(
    ctx: &Context,
    database: &dyn Database,
    checks: &mut Vec<Check>,
) -> Result<Option<PathBuf>, MigrateError> {
    let migrate = &ctx.config.migrate;
    if migrate.backup == BackupMode::None {
        checks.push(
            Check::new("backup", Status::Skip).detail("disabled by `migrate.backup = \"none\"`"),
        );
        return Ok(None);
    }
    crate::state::probe_writable(&migrate.backup_dir).map_err(|source| {
        MigrateError::UnwritableBackupDir {
            path: super::source::relative_to(&migrate.backup_dir, &ctx.config.base_dir),
            source,
        }
    })?;
    ctx.printer
        .progress(&format!("backing up `{}`", database.describe()));
    let started = Instant::now();
    let Some(backup) = database.backup(&migrate.backup_dir).await? else {
        checks.push(Check::new("backup", Status::Skip).detail("not needed: the database is empty"));
        return Ok(None);
    };
    checks.push(
        Check::pass("backup")
            .detail(format!("{} bytes", backup.bytes))
            .duration(started.elapsed())
            .artifact("backup", backup.path.display().to_string()),
    );
    Ok(Some(backup.path))
}

/// Drops `reverted` from the run state's applied migrations.
fn forget_reverted(ctx: &Context, reverted: &[String]) -> Result<(), MigrateError> {
    if reverted.is_empty() {
        return Ok(());
    }
    let mut state = RunState::load(&ctx.state_path, &ctx.config.environment.name)?;
    let before = state.migrations_applied.len();
    state
        .migrations_applied
        .retain(|version| !reverted.contains(version));
    if state.migrations_applied.len() != before {
        for version in reverted {
            state.migration_classes.remove(version);
            state.migration_notes.remove(version);
        }
        state.save(&ctx.state_path)?;
    }
    Ok(())
}
