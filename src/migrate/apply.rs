//! The runner: verify, back up, apply in order, and restore on failure.
//!
//! Order of a run, and why:
//! 1. read the files and the history, and refuse when an applied migration
//!    was edited — before anything changes, so a refused run leaves the
//!    database and the backup directory untouched;
//! 2. with nothing pending, stop: no backup, no file created;
//! 3. with `--dry-run` (or `migrate plan`), report what would run and stop;
//! 4. back up (`migrate.backup = "auto"`) — a database that does not exist
//!    yet needs none — and record the backup in the run state;
//! 5. apply each pending migration in its own transaction, recording each in
//!    the run state as it lands;
//! 6. when one fails, stop and restore the backup, which also undoes the
//!    migrations this run applied before it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::plan::MigrationPlan;
use super::{MigrateError, MigrateOutcome, first_line, load};
use crate::config::BackupMode;
use crate::context::Context;
use crate::db::{Database, DatabaseError, Migration};
use crate::diagnostic::SourceLocation;
use crate::report::{Check, Phase, PhaseName, Status};
use crate::state::RunState;

/// Runs `migrate apply`; with `dry_run`, only reports the plan.
pub(super) async fn run(ctx: &Context, dry_run: bool) -> Result<MigrateOutcome, MigrateError> {
    let started = Instant::now();
    let (database, plan) = load(ctx).await?;
    refuse_edited(&plan)?;
    let pending: Vec<Migration> = plan.pending().cloned().collect();
    let outcome = |checks: Vec<Check>, summary: String| MigrateOutcome {
        phase: Phase::new(PhaseName::Migrate, checks, started.elapsed()).summary(summary),
        applied: Vec::new(),
        backup: None,
        failed: None,
        restored: false,
        needs_attention: false,
    };
    if pending.is_empty() {
        let check = Check::pass("database").detail(format!(
            "`{}` is up to date ({} applied)",
            database.describe(),
            plan.applied_count()
        ));
        return Ok(outcome(vec![check], "nothing pending".to_owned()));
    }
    if dry_run {
        let mut checks = vec![planned_backup(ctx, database.as_ref()).await?];
        checks.extend(
            pending
                .iter()
                .map(|migration| Check::new(migration.id(), Status::Skip).detail("would apply")),
        );
        return Ok(outcome(checks, format!("{} pending", pending.len())));
    }
    let runner = Runner {
        ctx,
        database: database.as_ref(),
        state: RunState::load(&ctx.state_path, &ctx.config.environment.name)?,
    };
    runner.apply(&pending, started).await
}

/// Stops the run when any applied migration's file changed since.
fn refuse_edited(plan: &MigrationPlan) -> Result<(), MigrateError> {
    let mut edited = plan.edited();
    let Some((local, row)) = edited.next() else {
        return Ok(());
    };
    Err(MigrateError::EditedMigration {
        location: Box::new(first_line(local)),
        recorded: row.checksum.clone(),
        local: local.checksum.clone(),
        others: edited.count(),
    })
}

/// The backup line of a dry run.
async fn planned_backup(ctx: &Context, database: &dyn Database) -> Result<Check, MigrateError> {
    let check = Check::new("backup", Status::Skip);
    Ok(match ctx.config.migrate.backup {
        BackupMode::None => check.detail("disabled by `migrate.backup = \"none\"`"),
        BackupMode::Auto if database.is_new().await? => check.detail(format!(
            "not needed: `{}` does not exist yet",
            database.describe()
        )),
        BackupMode::Auto => {
            let dir =
                super::source::relative_to(&ctx.config.migrate.backup_dir, &ctx.config.base_dir);
            check.detail(format!(
                "would back up `{}` into `{}`",
                database.describe(),
                dir.display()
            ))
        }
    })
}

/// One real (not dry) run.
struct Runner<'a> {
    ctx: &'a Context,
    database: &'a dyn Database,
    state: RunState,
}

impl Runner<'_> {
    async fn apply(
        mut self,
        pending: &[Migration],
        started: Instant,
    ) -> Result<MigrateOutcome, MigrateError> {
        let mut checks = Vec::new();
        let was_new = self.database.is_new().await?;
        let backup = if was_new {
            self.no_backup_needed(&mut checks)
        } else {
            self.backup(&mut checks).await?
        };
        self.database.ensure_history().await?;
        let recorded_before = self.state.migrations_applied.len();
        let mut applied = Vec::new();
        let mut failure = None;
        for (index, migration) in pending.iter().enumerate() {
            if self.ctx.cancel.is_cancelled() {
                failure = Some((index, None));
                break;
            }
            self.ctx
                .printer
                .progress(&format!("applying `{}`", migration.path.display()));
            match self.database.apply(migration).await {
                Ok(row) => {
                    checks.push(
                        Check::pass(migration.id())
                            .detail("applied")
                            .duration(row.duration),
                    );
                    applied.push(migration.version.clone());
                    self.state
                        .migrations_applied
                        .push(migration.version.clone());
                    self.state.save(&self.ctx.state_path)?;
                }
                Err(error) => {
                    failure = Some((index, Some(error)));
                    break;
                }
            }
        }
        let Some((index, error)) = failure else {
            let summary = format!("{} applied", applied.len());
            return Ok(MigrateOutcome {
                phase: Phase::new(PhaseName::Migrate, checks, started.elapsed()).summary(summary),
                applied,
                backup,
                failed: None,
                restored: false,
                needs_attention: false,
            });
        };
        let failed = &pending[index];
        let error = match error {
            Some(error) if error.is_migration_failure() => error,
            // Another runner is migrating the same database: restoring our
            // backup would undo its work, so leave the database to it.
            Some(error @ DatabaseError::AlreadyApplied { .. }) => return Err(error.into()),
            Some(error) => {
                // The database itself failed (IO, connection): still undo what
                // this run did, then report the infrastructure error (exit 3).
                if backup.is_some() || was_new {
                    let check = self
                        .undo(backup.as_deref(), &applied, recorded_before)
                        .await;
                    self.ctx.printer.warning(&format!(
                        "{}: {}",
                        check.name,
                        check.detail.as_deref().unwrap_or_default()
                    ));
                }
                return Err(error.into());
            }
            None => {
                checks.extend(pending[index..].iter().map(|migration| {
                    Check::new(migration.id(), Status::Skip).detail("not started: interrupted")
                }));
                let summary = format!("{} applied, interrupted", applied.len());
                return Ok(MigrateOutcome {
                    phase: Phase::new(PhaseName::Migrate, checks, started.elapsed())
                        .summary(summary),
                    applied,
                    backup,
                    failed: None,
                    restored: false,
                    needs_attention: false,
                });
            }
        };
        checks.push(failed_check(failed, &error, backup.as_deref()));
        let (restore_check, restored, needs_attention) = if backup.is_some() || was_new {
            let check = self
                .undo(backup.as_deref(), &applied, recorded_before)
                .await;
            let restored = check.status == Status::Pass;
            (check, restored, !restored)
        } else if applied.is_empty() {
            let detail = format!(
                "not needed: `{}` was rolled back by its transaction and nothing else ran",
                failed.id()
            );
            (Check::pass("restore").detail(detail), false, false)
        } else {
            let detail = format!(
                "no backup to restore: {} stay applied",
                applied
                    .iter()
                    .map(|version| format!("`{version}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            (
                Check::new("restore", Status::Warn).detail(detail),
                false,
                true,
            )
        };
        checks.push(restore_check);
        checks.extend(pending[index + 1..].iter().map(|migration| {
            Check::new(migration.id(), Status::Skip)
                .detail(format!("not applied: `{}` failed", failed.id()))
        }));
        let summary = if restored {
            format!("`{}` failed; backup restored", failed.id())
        } else {
            format!("{} applied, `{}` failed", applied.len(), failed.id())
        };
        Ok(MigrateOutcome {
            phase: Phase::new(PhaseName::Migrate, checks, started.elapsed()).summary(summary),
            applied: if restored { Vec::new() } else { applied },
            backup,
            failed: Some(failed.version.clone()),
            restored,
            needs_attention,
        })
    }

    /// The backup line for a database that does not exist yet.
    fn no_backup_needed(&self, checks: &mut Vec<Check>) -> Option<PathBuf> {
        let detail = match self.ctx.config.migrate.backup {
            BackupMode::Auto => format!(
                "not needed: `{}` does not exist yet",
                self.database.describe()
            ),
            BackupMode::None => "disabled by `migrate.backup = \"none\"`".to_owned(),
        };
        let status = if self.ctx.config.migrate.backup == BackupMode::Auto {
            Status::Pass
        } else {
            Status::Skip
        };
        checks.push(Check::new("backup", status).detail(detail));
        None
    }

    /// Takes the backup (when configured) and records it.
    async fn backup(&mut self, checks: &mut Vec<Check>) -> Result<Option<PathBuf>, MigrateError> {
        let migrate = &self.ctx.config.migrate;
        if migrate.backup == BackupMode::None {
            checks.push(
                Check::new("backup", Status::Skip)
                    .detail("disabled by `migrate.backup = \"none\"`"),
            );
            return Ok(None);
        }
        self.ctx
            .printer
            .progress(&format!("backing up `{}`", self.database.describe()));
        let started = Instant::now();
        let Some(backup) = self.database.backup(&migrate.backup_dir).await? else {
            return Ok(self.no_backup_needed(checks));
        };
        checks.push(
            Check::pass("backup")
                .detail(format!("{} bytes", backup.bytes))
                .duration(started.elapsed())
                .artifact("backup", backup.path.display().to_string()),
        );
        self.state.backup = Some(backup.path.clone());
        self.state.save(&self.ctx.state_path)?;
        Ok(Some(backup.path))
    }

    /// Undoes this run after a failure: restores `backup`, or empties a
    /// database the run created. Forgets, in the run state, the migrations it
    /// undid. Returns the `restore` check.
    async fn undo(
        &mut self,
        backup: Option<&Path>,
        applied: &[String],
        recorded_before: usize,
    ) -> Check {
        let started = Instant::now();
        let description = self.database.describe();
        let (result, how) = if let Some(path) = backup {
            self.ctx.printer.progress(&format!(
                "restoring `{description}` from `{}`",
                path.display()
            ));
            (
                self.database.restore(path).await,
                format!("backup restored into `{description}`"),
            )
        } else {
            self.ctx
                .printer
                .progress(&format!("emptying `{description}`, which this run created"));
            (
                self.database.clear().await,
                format!("emptied `{description}` (it did not exist before this run)"),
            )
        };
        let check = match result {
            Ok(()) => {
                let undone = if applied.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; undid {}",
                        applied
                            .iter()
                            .map(|version| format!("`{version}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                self.state.migrations_applied.truncate(recorded_before);
                let check = match self.state.save(&self.ctx.state_path) {
                    Ok(()) => Check::pass("restore"),
                    Err(error) => Check::new("restore", Status::Warn)
                        .log(format!("the run state was not updated: {error}")),
                };
                check.detail(format!("{how}{undone}"))
            }
            Err(error) => Check::fail("restore")
                .detail(error.to_string())
                .log(causes(&error)),
        };
        let check = check.duration(started.elapsed());
        match backup {
            Some(path) => check.artifact("backup", path.display().to_string()),
            None => check,
        }
    }
}

/// The failing check for a migration the database rejected.
fn failed_check(migration: &Migration, error: &DatabaseError, backup: Option<&Path>) -> Check {
    let (offset, message) = match error {
        DatabaseError::ApplyMigration { offset, source, .. } => (*offset, source.message.clone()),
        other => (None, other.to_string()),
    };
    let location = match offset {
        Some(offset) => {
            let rest = migration.sql.get(offset..).unwrap_or_default();
            let end = rest
                .find(|c: char| c.is_whitespace() || matches!(c, ';' | '(' | ','))
                .unwrap_or(rest.len());
            SourceLocation::from_span(&migration.path, &migration.sql, offset, offset + end.max(1))
        }
        None => first_line(migration),
    };
    let mut check = Check::fail(migration.id())
        .detail(message)
        .log(location.snippet())
        .location(location);
    if let Some(backup) = backup {
        check = check.artifact("backup", backup.display().to_string());
    }
    check
}

/// The cause chain of `error`, one per line.
fn causes(error: &dyn std::error::Error) -> String {
    let mut lines = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        lines.push(format!("caused by: {cause}"));
        source = cause.source();
    }
    lines.join("\n")
}
