//! The runner: verify, back up, apply in order, and restore on failure.
//!
//! Order of a run, and why:
//! 1. read the files and the history, and refuse when a migration failed
//!    part-way in an earlier run and is unresolved, or an applied migration
//!    was edited — before anything changes, so a refused run leaves the
//!    database and the backup directory untouched;
//! 2. with nothing pending, stop: no backup, no file created;
//! 3. with `--dry-run` (or `migrate plan`), report what would run and stop;
//! 4. back up (`migrate.backup = "auto"`) — a database that does not exist
//!    yet needs none — and record the backup in the run state;
//! 5. apply each pending migration in its own transaction, recording each in
//!    the run state as it lands (while the next one runs);
//! 6. when one fails, stop and restore the backup, which also undoes the
//!    migrations this run applied before it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::lint::{Classification, MigrationClass};
use super::plan::MigrationPlan;
use super::{MigrateError, MigrateOutcome, first_line, load_locked};
use crate::config::BackupMode;
use crate::context::Context;
use crate::db::{Database, DatabaseError, Exactness, Migration};
use crate::diagnostic::{SourceLocation, backticked};
use crate::report::{Check, Phase, PhaseName, Status};
use crate::state::{RemoteCopy, RunBackup, RunState};

/// Runs `migrate apply`; with `dry_run`, only reports the plan.
pub(super) async fn run(ctx: &Context, dry_run: bool) -> Result<MigrateOutcome, MigrateError> {
    let started = Instant::now();
    let (database, plan) = load_locked(ctx, !dry_run).await?;
    refuse_failed(&plan)?;
    refuse_edited(&plan)?;
    super::layout::Layout::of(&ctx.config).check(&plan, ctx.config.migrate.include_all)?;
    let pending: Vec<Migration> = plan.pending().cloned().collect();
    let outcome = |checks: Vec<Check>, summary: String| MigrateOutcome {
        phase: Phase::new(PhaseName::Migrate, checks, started.elapsed()).summary(summary),
        applied: Vec::new(),
        backup: None,
        remote: None,
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
        let classes = pending_classes(&plan).await?;
        checks.extend(pending.iter().zip(&classes).map(|(migration, class)| {
            let mut detail = format!("would apply ({})", class.class.as_str());
            if !class.reasons.is_empty() {
                detail = format!("{detail}: {}", class.reasons.join(", "));
            }
            Check::new(migration.id(), Status::Skip).detail(detail)
        }));
        return Ok(outcome(checks, super::lint::plan_summary(&classes)));
    }
    // Everything the run writes must be writable before its first change
    // (issue 10, item 10): the state, and the backup directory when it backs up.
    RunState::check_writable(&ctx.state_path)?;
    let state = RunState::load_open_run(&ctx.state_path, &ctx.config.environment.name)?;
    let classes = pending_classes(&plan).await?;
    Runner::new(ctx, database.as_ref(), state, started)
        .apply(&pending, &classes)
        .await
}

/// The pending migrations' classes from the whole history (issue 11,
/// item 3), parsed off the async runtime.
async fn pending_classes(plan: &MigrationPlan) -> Result<Vec<Classification>, MigrateError> {
    let plan = plan.clone();
    tokio::task::spawn_blocking(move || plan.pending_classes())
        .await
        .map_err(|_| super::lint::LintError::Worker.into())
}

/// Stops the run while a migration that failed part-way in an earlier run
/// is unresolved (Prisma's P3009): running anything on top of a half-applied
/// file would bury it.
pub(super) fn refuse_failed(plan: &MigrationPlan) -> Result<(), MigrateError> {
    match plan.failed() {
        None => Ok(()),
        Some((entry, row)) => Err(DatabaseError::FailedMigration {
            name: entry.id.clone(),
            logs: row.failure.clone().unwrap_or_default(),
        }
        .into()),
    }
}

/// Stops the run when any applied migration's file changed since.
pub(super) fn refuse_edited(plan: &MigrationPlan) -> Result<(), MigrateError> {
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

/// The `backup upload` line: where the encrypted copy went, its digest,
/// and what retention deleted.
pub(super) fn upload_check(uploaded: &super::remote::Uploaded) -> Check {
    let copy = &uploaded.copy;
    let mut detail = format!(
        "encrypted and uploaded to `{}` ({} bytes, SHA-256 `{}`)",
        copy.url, copy.bytes, copy.sha256
    );
    if uploaded.with_snapshot {
        detail.push_str(" with its catalog snapshot");
    }
    if uploaded.deleted > 0 {
        let _ = write!(
            detail,
            "; retention deleted {} older object(s)",
            uploaded.deleted
        );
    }
    let mut check = Check::pass("backup upload");
    if let Some(reason) = &uploaded.retention_failed {
        check.status = Status::Warn;
        let _ = write!(
            detail,
            "; retention could not remove older backups ({reason}): they stay until the next upload"
        );
    }
    check
        .detail(detail)
        .artifact("backup_remote", copy.url.clone())
        .artifact("backup_remote_sha256", copy.sha256.clone())
}

/// The backup line of a dry run.
pub(super) async fn planned_backup(
    ctx: &Context,
    database: &dyn Database,
) -> Result<Check, MigrateError> {
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
            let mut detail = format!(
                "would back up `{}` into `{}`",
                database.describe(),
                dir.display()
            );
            if let Some(remote) = &ctx.config.migrate.remote {
                let _ = write!(
                    detail,
                    " and upload it encrypted under `{}/{}/`",
                    remote.url, ctx.config.environment.name
                );
            }
            check.detail(detail)
        }
    })
}

/// One real (not dry) run.
struct Runner<'a> {
    ctx: &'a Context,
    database: &'a dyn Database,
    state: RunState,
    started: Instant,
    checks: Vec<Check>,
    /// Versions this run applied, in order.
    applied: Vec<String>,
    backup: Option<PathBuf>,
    /// The backup's uploaded copy (`migrate.backup_to`).
    remote: Option<RemoteCopy>,
    /// Whether the database was new when the run started (no backup needed;
    /// undoing the run means emptying it).
    was_new: bool,
    /// How many versions the run state listed before this run.
    recorded_before: usize,
}

impl<'a> Runner<'a> {
    fn new(
        ctx: &'a Context,
        database: &'a dyn Database,
        state: RunState,
        started: Instant,
    ) -> Self {
        let recorded_before = state.migrations_applied.len();
        Self {
            ctx,
            database,
            state,
            started,
            checks: Vec::new(),
            applied: Vec::new(),
            backup: None,
            remote: None,
            was_new: false,
            recorded_before,
        }
    }

    /// `classes` holds each pending migration's class, in the same order.
    async fn apply(
        mut self,
        pending: &[Migration],
        classes: &[Classification],
    ) -> Result<MigrateOutcome, MigrateError> {
        self.was_new = self.database.is_new().await?;
        if !self.was_new && self.ctx.config.migrate.backup == BackupMode::Auto {
            let dir = &self.ctx.config.migrate.backup_dir;
            crate::state::probe_writable(dir).map_err(|source| {
                MigrateError::UnwritableBackupDir {
                    path: super::source::relative_to(dir, &self.ctx.config.base_dir),
                    source,
                }
            })?;
        }
        self.backup = if self.was_new {
            self.no_backup_needed()
        } else {
            self.backup().await?
        };
        self.database.ensure_history().await?;
        // The migration that committed last, not yet in the run state: it is
        // recorded while the next one runs on the server (issue 10,
        // "Performance"), so the state file costs no time of its own.
        let mut unrecorded: Option<(&Migration, &Classification)> = None;
        for (index, migration) in pending.iter().enumerate() {
            if self.ctx.cancel.is_cancelled() {
                record(&mut self.state, &self.ctx.state_path, unrecorded.take())?;
                self.checks.extend(pending[index..].iter().map(|migration| {
                    Check::new(migration.id(), Status::Skip).detail("not started: interrupted")
                }));
                let summary = format!("{} applied, interrupted", self.applied.len());
                return Ok(self.finish(summary, None, true));
            }
            self.ctx
                .printer
                .progress(&format!("applying `{}`", migration.path.display()));
            let (ctx, database) = (self.ctx, self.database);
            let state = &mut self.state;
            let (result, recorded) =
                tokio::join!(apply_with_retries(ctx, database, migration), async {
                    record(state, &ctx.state_path, unrecorded.take())
                },);
            recorded?;
            match result {
                Ok(row) => {
                    self.checks.push(
                        Check::pass(migration.id())
                            .detail("applied")
                            .duration(row.duration),
                    );
                    self.applied.push(migration.version.clone());
                    let class = classes.get(index).unwrap_or(&UNCLASSIFIED);
                    unrecorded = Some((migration, class));
                }
                Err(error) => return self.fail(pending, index, error).await,
            }
        }
        record(&mut self.state, &self.ctx.state_path, unrecorded)?;
        let summary = format!("{} applied", self.applied.len());
        Ok(self.finish(summary, None, true))
    }

    /// Stops the run at `pending[index]`, which failed with `error`, and undoes
    /// what the run did.
    async fn fail(
        mut self,
        pending: &[Migration],
        index: usize,
        error: DatabaseError,
    ) -> Result<MigrateOutcome, MigrateError> {
        let failed = &pending[index];
        // A failure its own transaction rolled back, first in the run, left
        // nothing to undo: restoring the backup would only lose the writes
        // production made since it was taken.
        let can_undo = (self.backup.is_some() || self.was_new)
            && !(self.applied.is_empty() && error.rolled_back());
        if let DatabaseError::AlreadyApplied { .. } = error {
            // Another runner is migrating the same database: restoring our
            // backup would undo its work, so leave the database to it.
            return Err(error.into());
        }
        if !error.is_migration_failure() {
            // The database itself failed (IO, connection): still undo what
            // this run did, then report the infrastructure error (exit 3).
            if can_undo {
                let check = self.undo().await;
                if check.status == Status::Fail {
                    // Neither as before nor as planned: a half-done undo is
                    // never left as a warning under an exit 3 (it exits 5).
                    self.checks
                        .push(failed_check(failed, &error, self.backup.as_deref()));
                    self.checks.push(check);
                    let summary = format!(
                        "`{}` failed ({error}) and the restore failed too: the database needs a human",
                        failed.id()
                    );
                    return Ok(self.finish(summary, Some(failed.version.clone()), false));
                }
                let detail = check.detail.as_deref().unwrap_or_default();
                self.ctx
                    .printer
                    .warning(&format!("{}: {detail}", check.name));
            }
            return Err(error.into());
        }
        self.checks
            .push(failed_check(failed, &error, self.backup.as_deref()));
        let (restore_check, restored) = if can_undo {
            let check = self.undo().await;
            let restored = check.status != Status::Fail;
            (check, restored)
        } else if !error.rolled_back() {
            let detail = format!(
                "no backup to restore: the statements of `{}` that ran stay applied",
                failed.id()
            );
            (Check::new("restore", Status::Warn).detail(detail), false)
        } else if self.applied.is_empty() {
            let detail = format!(
                "not needed: `{}` was rolled back by its transaction and nothing else ran",
                failed.id()
            );
            (Check::pass("restore").detail(detail), true)
        } else {
            let verb = if self.applied.len() == 1 {
                "stays"
            } else {
                "stay"
            };
            let detail = format!(
                "no backup to restore: {} {verb} applied",
                backticked(&self.applied)
            );
            (Check::new("restore", Status::Warn).detail(detail), false)
        };
        self.checks.push(restore_check);
        self.checks
            .extend(pending[index + 1..].iter().map(|migration| {
                Check::new(migration.id(), Status::Skip)
                    .detail(format!("not applied: `{}` failed", failed.id()))
            }));
        let summary = match (restored, &self.backup) {
            (true, Some(_)) => format!("`{}` failed; backup restored", failed.id()),
            (true, None) => format!("`{}` failed; nothing stays applied", failed.id()),
            (false, _) => format!("{} applied, `{}` failed", self.applied.len(), failed.id()),
        };
        if restored {
            self.applied.clear();
        }
        Ok(self.finish(summary, Some(failed.version.clone()), restored))
    }

    /// The outcome; `restored` says whether a failure was fully undone
    /// (ignored without a failure).
    fn finish(self, summary: String, failed: Option<String>, restored: bool) -> MigrateOutcome {
        let failed_run = failed.is_some();
        MigrateOutcome {
            phase: Phase::new(PhaseName::Migrate, self.checks, self.started.elapsed())
                .summary(summary),
            applied: self.applied,
            backup: self.backup,
            remote: self.remote,
            failed,
            restored: failed_run && restored,
            needs_attention: failed_run && !restored,
        }
    }

    /// The backup line for a database that does not exist yet.
    fn no_backup_needed(&mut self) -> Option<PathBuf> {
        let (status, detail) = match self.ctx.config.migrate.backup {
            BackupMode::Auto => (
                Status::Pass,
                format!(
                    "not needed: `{}` does not exist yet",
                    self.database.describe()
                ),
            ),
            BackupMode::None => (
                Status::Skip,
                "disabled by `migrate.backup = \"none\"`".to_owned(),
            ),
        };
        self.checks
            .push(Check::new("backup", status).detail(detail));
        None
    }

    /// Takes the backup (when configured) and records it in the run state.
    async fn backup(&mut self) -> Result<Option<PathBuf>, MigrateError> {
        let migrate = &self.ctx.config.migrate;
        if migrate.backup == BackupMode::None {
            return Ok(self.no_backup_needed());
        }
        self.ctx
            .printer
            .progress(&format!("backing up `{}`", self.database.describe()));
        let started = Instant::now();
        let Some(backup) = self.database.backup(&migrate.backup_dir).await? else {
            return Ok(self.no_backup_needed());
        };
        let mut detail = match &backup.position {
            Some(position) => format!("{} bytes, {position}", backup.bytes),
            None => format!("{} bytes", backup.bytes),
        };
        // A resumed run (issue 10, item 2): this backup already holds what
        // the run changed, so rollback keeps restoring the run's first one.
        if let Some(first) = &self.state.backup {
            let _ = write!(
                detail,
                "; kept beside this run's first backup `{}`, which rollback restores",
                first.display()
            );
        }
        self.checks.push(
            Check::pass("backup")
                .detail(detail)
                .duration(started.elapsed())
                .artifact("backup", backup.path.display().to_string()),
        );
        if let Some(remote) = &migrate.remote {
            // Before any migration: a backup that cannot be uploaded stops
            // the run with nothing changed (issue 11, item 6).
            self.ctx.printer.progress(&format!(
                "encrypting the backup and uploading it to `{}`",
                remote.url
            ));
            let started = Instant::now();
            let uploaded =
                super::remote::upload(remote, &self.ctx.config.environment.name, &backup.path)
                    .await?;
            self.checks
                .push(upload_check(&uploaded).duration(started.elapsed()));
            self.remote = Some(uploaded.copy);
        }
        self.state.record_backup(RunBackup {
            path: backup.path.clone(),
            bytes: backup.bytes,
            position: backup.position,
            taken_at: jiff::Timestamp::now()
                .strftime("%Y-%m-%dT%H:%M:%SZ")
                .to_string(),
            after: self.state.migrations_applied.clone(),
            remote: self.remote.clone(),
        });
        self.state.save(&self.ctx.state_path)?;
        Ok(Some(backup.path))
    }

    /// Undoes this run after a failure: restores `backup`, or empties a
    /// database the run created. Forgets, in the run state, the migrations it
    /// undid. Returns the `restore` check.
    async fn undo(&mut self) -> Check {
        let backup = self.backup.clone();
        let backup = backup.as_deref();
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
                self.database.clear().await.map(|()| Exactness::ByCopy),
                format!("emptied `{description}` (it did not exist before this run)"),
            )
        };
        let check = match result {
            Ok(exactness) => {
                let undone = if self.applied.is_empty() {
                    String::new()
                } else {
                    format!("; undid {}", backticked(&self.applied))
                };
                self.state.migrations_applied.truncate(self.recorded_before);
                let check = match self.state.save(&self.ctx.state_path) {
                    Ok(()) => Check::pass("restore"),
                    Err(error) => Check::new("restore", Status::Warn)
                        .log(format!("the run state was not updated: {error}")),
                };
                super::with_exactness(check.detail(format!("{how}{undone}")), &exactness)
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

/// Applies `migration`, retrying with backoff (up to `migrate.retries`)
/// when it timed out waiting for a lock: its transaction was rolled back,
/// so production never queued behind it for longer than `lock_timeout`.
async fn apply_with_retries(
    ctx: &Context,
    database: &dyn Database,
    migration: &Migration,
) -> Result<crate::db::AppliedMigration, DatabaseError> {
    let mut attempt = 0;
    loop {
        match database.apply(migration).await {
            Err(error @ DatabaseError::LockTimeout { .. })
                if attempt < ctx.config.migrate.retries && !ctx.cancel.is_cancelled() =>
            {
                attempt += 1;
                let pause = crate::db::postgres::jitter(crate::db::postgres::backoff(attempt));
                ctx.printer.warning(&format!(
                    "{error}; rolled back, retrying in {}ms (attempt {attempt} of {})",
                    pause.as_millis(),
                    ctx.config.migrate.retries
                ));
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = ctx.cancel.cancelled() => return Err(error),
                }
            }
            other => return other,
        }
    }
}

/// The class of a migration missing from the classification (none is):
/// destructive, as rollback treats a version without a class.
static UNCLASSIFIED: Classification = Classification {
    class: MigrationClass::Destructive,
    reasons: Vec::new(),
    locking: false,
    findings: Vec::new(),
};

/// Records `migration`, which committed, in the run state with its lint
/// class, and saves the state: rollback reads both. A SIGKILL can lose at
/// most the record of the last migration that committed, the same window
/// as saving right after its commit.
fn record(
    state: &mut RunState,
    path: &Path,
    migration: Option<(&Migration, &Classification)>,
) -> Result<(), crate::state::StateError> {
    let Some((migration, classification)) = migration else {
        return Ok(());
    };
    let class = classification.class;
    if classification.locking || !classification.findings.is_empty() {
        let notes = state
            .migration_notes
            .entry(migration.version.clone())
            .or_default();
        notes.locking |= classification.locking;
        notes
            .findings
            .extend(classification.findings.iter().cloned());
    }
    state.migrations_applied.push(migration.version.clone());
    // Prisma folders may share a version (issue 11): one destructive file
    // makes the version destructive.
    state
        .migration_classes
        .entry(migration.version.clone())
        .and_modify(|recorded| {
            if class == MigrationClass::Destructive {
                *recorded = class;
            }
        })
        .or_insert(class);
    state.save(path)
}

/// The failing check for a migration the database rejected.
pub(super) fn failed_check(
    migration: &Migration,
    error: &DatabaseError,
    backup: Option<&Path>,
) -> Check {
    let (offset, message) = match error {
        DatabaseError::ApplyMigration { offset, source, .. }
        | DatabaseError::ApplyOutsideTransaction { offset, source, .. } => {
            (*offset, source.message.clone())
        }
        DatabaseError::LockTimeout { offset, .. } => (*offset, error.to_string()),
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
    // The renderers show the location with its snippet; no log needed.
    let mut check = Check::fail(migration.id())
        .detail(message)
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
