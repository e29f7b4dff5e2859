//! `shipgate migrate`: show, plan and apply database migrations, and restore
//! the backup taken before them.
//!
//! This module owns the entry functions and [`MigrateError`]; the files are
//! read by `source`, compared with the history by `plan` and applied by
//! `apply`. Talking to the database is [`crate::db`]'s job, printing is
//! [`crate::report`]'s: everything here returns a [`Report`], a [`Phase`] or
//! an error.
//!
//! Contract used by `lib.rs`, the pipeline and rollback: [`status`],
//! [`plan`], [`apply`], [`apply_phase`] and [`restore`].

mod apply;
mod down;
pub mod drift;
mod layout;
pub mod lint;
mod plan;
mod remote;
mod source;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::context::Context;
use crate::db::{self, Database, DatabaseError};
use crate::diagnostic::{Diagnostic, SourceLocation};
use crate::exit::ExitStatus;
use crate::report::{Check, Phase, PhaseName, Report, Status};
use crate::state::StateError;

use self::plan::{MigrationPlan, MigrationState};

pub use self::down::{DownOutcome, DownSelection};
pub use self::remote::RemoteError;

/// Why a migrate command could not run. A migration the database rejects is
/// not an error: it is a failed check in the report.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// `migrate.dir` does not exist.
    #[error("the migrations directory `{}` does not exist", path.display())]
    MissingDir {
        /// The directory, relative to the config.
        path: PathBuf,
    },
    /// `migrate.dir` could not be listed.
    #[error("failed to read the migrations directory `{}`", path.display())]
    ReadDir {
        /// The directory, relative to the config.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// A migration file could not be read.
    #[error("failed to read migration `{}`", path.display())]
    ReadFile {
        /// The file, relative to the config.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// A `.sql` file whose name is not `<version>_<name>.sql`.
    #[error("migration file `{}` does not match `<version>_<name>.sql`", path.display())]
    InvalidFileName {
        /// The file, relative to the config.
        path: PathBuf,
    },
    /// A migration file that is not UTF-8 text.
    #[error("migration `{}` is not UTF-8 text", path.display())]
    NotUtf8 {
        /// The file, relative to the config.
        path: PathBuf,
    },
    /// Two files with the same version number.
    #[error("migrations `{}` and `{}` share version `{version}`", first.display(), second.display())]
    DuplicateVersion {
        /// The shared version.
        version: String,
        /// The first file.
        first: PathBuf,
        /// The second file.
        second: PathBuf,
    },
    /// A Prisma `migration_lock.toml` for another database.
    #[error("`{}` says `provider = \"{provider}\"`, but shipgate migrates Prisma projects on PostgreSQL only", path.display())]
    PrismaProvider {
        /// The lock file.
        path: PathBuf,
        /// Its provider.
        provider: String,
    },
    /// A Prisma migration folder without `migration.sql`, which Prisma reads
    /// in every folder of the migrations directory (issue 11, item 4).
    #[error("Prisma migration folder `{}` has no `migration.sql`", folder.display())]
    PrismaMissingScript {
        /// The folder, relative to the config.
        folder: PathBuf,
        /// The migrations directory, relative to the config.
        dir: PathBuf,
    },
    /// The Supabase CLI would refuse this plan without `--include-all`.
    #[error("refusing to migrate as `supabase db push` would: {problem}")]
    SupabaseOrder {
        /// What is out of order.
        problem: String,
    },
    /// A dbmate file that `dbmate up` would refuse (issue 11).
    #[error("dbmate migration `{}` is refused: {reason}", location.path.display())]
    DbmateFile {
        /// The line at fault.
        location: Box<SourceLocation>,
        /// dbmate's own reason.
        reason: &'static str,
        /// How to fix it.
        hint: String,
    },
    /// `migrate resolve` names a migration with no local folder.
    #[error("no migration `{name}` in `{}`", dir.display())]
    UnknownMigration {
        /// The name given.
        name: String,
        /// The migrations directory.
        dir: PathBuf,
    },
    /// A migration the database already applied was changed afterwards.
    #[error(
        "applied migration `{}` was edited after it ran: the file's checksum is `{local}` but `{recorded}` was recorded when it was applied{}",
        location.path.display(),
        others_text(*others)
    )]
    EditedMigration {
        /// The file's first line.
        location: Box<SourceLocation>,
        /// The checksum in the history table.
        recorded: String,
        /// The file's checksum now.
        local: String,
        /// How many other applied migrations were edited too.
        others: usize,
    },
    /// `migrate.backup_dir` cannot be written, found before anything changed.
    #[error("the backup directory `{}` is not writable", path.display())]
    UnwritableBackupDir {
        /// The directory, relative to the config.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// `migrate down` would revert a migration that has no down section
    /// (issue 11, section 5); nothing was changed.
    #[error(
        "migration `{name}` has no down section, so it cannot be reverted: {reason}{}",
        others_without_down(others)
    )]
    MissingDown {
        /// The migration, `<version>_<name>`.
        name: String,
        /// Where its down section would go, relative to the config.
        expected: PathBuf,
        /// What is missing.
        reason: String,
        /// The other migrations to revert that lack one.
        others: Vec<String>,
    },
    /// `migrate down` would run a down section that must run outside a
    /// transaction; nothing was changed.
    #[error("the down section of `{name}` in `{}` cannot run inside a transaction: {reason}", path.display())]
    DownOutsideTransaction {
        /// The migration.
        name: String,
        /// Its down file.
        path: PathBuf,
        /// Why it runs outside one.
        reason: String,
    },
    /// `migrate down --to NAME` names no applied migration.
    #[error("no applied migration `{name}` in `{database}`")]
    NotApplied {
        /// The name given.
        name: String,
        /// The masked database URL.
        database: String,
    },
    /// `migrate restore` without `--backup` or `--from`, and the run state
    /// records no backup.
    #[error("no backup to restore: the run state `{}` records none", state.display())]
    NoBackupRecorded {
        /// The run state file.
        state: PathBuf,
    },
    /// `migrate restore --backup FILE`: the file is missing and the run
    /// state records no uploaded copy of it.
    #[error("the backup `{}` does not exist, and the run state records no uploaded copy of it", path.display())]
    MissingBackup {
        /// The backup file.
        path: PathBuf,
    },
    /// The drift check reads PostgreSQL catalogs only (issue 16).
    #[error("the drift check needs PostgreSQL, but `{key}` is a SQLite database")]
    DriftNeedsPostgres {
        /// The environment key at fault.
        key: &'static str,
    },
    /// `shadow_database` names the database the drift check compares: it
    /// would be emptied.
    #[error(
        "`shadow_database` is the environment's own database `{database}`; the drift check empties the shadow database, so refusing"
    )]
    ShadowIsTarget {
        /// The database's name.
        database: String,
    },
    /// An applied migration has no file, so the drift check cannot build
    /// what it did.
    #[error("applied migration `{name}` has no file in `{}`, so the drift check cannot rebuild the schema the migrations make", dir.display())]
    DriftMissingFile {
        /// The migration, `<version>_<name>`.
        name: String,
        /// The migrations directory, relative to the config.
        dir: PathBuf,
    },
    /// Uploading, downloading, verifying or decrypting a backup's encrypted
    /// copy failed (issue 11, item 6).
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// The database could not be opened, read, written or backed up.
    #[error(transparent)]
    Database(#[from] DatabaseError),
    /// The run state could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// `migrate lint` could not read its input.
    #[error(transparent)]
    Lint(#[from] lint::LintError),
}

fn others_without_down(others: &[String]) -> String {
    if others.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = others.iter().map(|name| format!("`{name}`")).collect();
        format!(" (nor do {})", names.join(", "))
    }
}

fn others_text(others: usize) -> String {
    match others {
        0 => String::new(),
        1 => " (and 1 other applied migration was edited)".to_owned(),
        _ => format!(" (and {others} other applied migrations were edited)"),
    }
}

impl MigrateError {
    /// The exit status this error ends the process with.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            // The database is not as the backup left it: a human is needed
            // (issue 11, section 2).
            Self::Database(DatabaseError::CatalogMismatch { .. }) => ExitStatus::RollbackFailed,
            Self::Remote(error) => error.exit_status(),
            Self::MissingDir { .. }
            | Self::InvalidFileName { .. }
            | Self::NotUtf8 { .. }
            | Self::DuplicateVersion { .. }
            | Self::EditedMigration { .. }
            | Self::PrismaProvider { .. }
            | Self::PrismaMissingScript { .. }
            | Self::SupabaseOrder { .. }
            | Self::DbmateFile { .. }
            | Self::UnknownMigration { .. }
            | Self::MissingDown { .. }
            | Self::DownOutsideTransaction { .. }
            | Self::NotApplied { .. }
            | Self::NoBackupRecorded { .. }
            | Self::DriftNeedsPostgres { .. }
            | Self::ShadowIsTarget { .. }
            | Self::DriftMissingFile { .. }
            | Self::Database(
                DatabaseError::NotConfigured { .. }
                | DatabaseError::LayoutNeedsPostgres { .. }
                | DatabaseError::InvalidUrl { .. },
            ) => ExitStatus::Usage,
            Self::Database(error) if error.is_migration_failure() => ExitStatus::CheckFailed,
            Self::Lint(lint::LintError::ReadFile { .. } | lint::LintError::NotUtf8 { .. }) => {
                ExitStatus::Usage
            }
            Self::ReadDir { .. }
            | Self::ReadFile { .. }
            | Self::UnwritableBackupDir { .. }
            | Self::MissingBackup { .. }
            | Self::Database(_)
            | Self::State(_)
            | Self::Lint(lint::LintError::Worker) => ExitStatus::Infrastructure,
        }
    }
}

impl Diagnostic for MigrateError {
    fn location(&self) -> Option<&SourceLocation> {
        match self {
            Self::EditedMigration { location, .. } | Self::DbmateFile { location, .. } => {
                Some(location)
            }
            _ => None,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            Self::MissingDir { path } => Some(format!(
                "create `{}` with a first migration such as `0001_create_users.sql`, or point `migrate.dir` in `shipgate.toml` at your migrations",
                path.display()
            )),
            Self::ReadDir { path, .. } | Self::ReadFile { path, .. } => Some(format!(
                "check the permissions of `{}`, then run `shipgate migrate status`",
                path.display()
            )),
            Self::InvalidFileName { path } => {
                let stem = path
                    .file_stem()
                    .map(|stem| stem.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let name =
                    stem.trim_start_matches(|c: char| c.is_ascii_digit() || c == '_' || c == '-');
                let name = if name.is_empty() { "name" } else { name };
                Some(format!(
                    "rename it to `<digits>_<name>.sql`, e.g. `0001_{name}.sql`; down migrations end in `.down.sql`; move other SQL out of `{}`",
                    path.parent()
                        .map(Path::display)
                        .map(|dir| dir.to_string())
                        .unwrap_or_default()
                ))
            }
            Self::NotUtf8 { path } => Some(format!("save `{}` as UTF-8", path.display())),
            Self::UnwritableBackupDir { .. } => Some(
                "set a writable `migrate.backup_dir` in `shipgate.toml` (or fix its permissions), or `migrate.backup = \"none\"` to migrate without a backup; nothing was changed".to_owned(),
            ),
            Self::DuplicateVersion { second, .. } => Some(format!(
                "give `{}` a version no other migration uses, e.g. the current timestamp `YYYYMMDDHHMMSS`",
                second.display()
            )),
            Self::EditedMigration { location, .. } => Some(format!(
                "nothing was changed; restore the file with `git checkout -- {}` and put the change in a new migration, then run `shipgate migrate status`",
                location.path.display()
            )),
            Self::PrismaProvider { .. } => Some(
                "point `migrate.dir` at a PostgreSQL project's `prisma/migrations`, or set `[migrate] layout = \"plain\"`".to_owned(),
            ),
            Self::PrismaMissingScript { folder, dir } => Some(format!(
                "Prisma reads `migration.sql` in every folder of `{dir}` (`prisma migrate deploy` fails on this one too): add `{folder}/migration.sql`, or move data migrations such as `migration.ts` out of `{dir}`",
                dir = dir.display(),
                folder = folder.display()
            )),
            Self::SupabaseOrder { .. } => Some(
                "pass `--include-all` to apply them anyway, or repair the history with `supabase migration repair`".to_owned(),
            ),
            Self::DbmateFile { hint, .. } => Some(hint.clone()),
            Self::UnknownMigration { .. } | Self::NotApplied { .. } => {
                Some("run `shipgate migrate status` to list the migrations by name".to_owned())
            }
            Self::MissingDown { expected, .. } => Some(format!(
                "nothing was changed; write the statements that undo it in `{}`, then run the command again (`--dry-run` shows the plan)",
                expected.display()
            )),
            Self::DownOutsideTransaction { path, .. } => Some(format!(
                "nothing was changed; `migrate down` runs each down section in a transaction with its history update: revert it by hand, then `shipgate migrate resolve`, or make `{}` transactional",
                path.display()
            )),
            Self::DriftNeedsPostgres { .. } => Some(
                "run the drift check against a PostgreSQL `database` (`postgres://…`); SQLite databases have no catalog to compare".to_owned(),
            ),
            Self::ShadowIsTarget { .. } => Some(
                "point `shadow_database` at a separate, empty database (e.g. `app_shadow` on the same server), or remove it to use a temporary database".to_owned(),
            ),
            Self::DriftMissingFile { name, .. } => Some(format!(
                "restore the file of `{name}` from git history (`git log --all -- '*{name}*'`), then run `shipgate migrate drift` again"
            )),
            Self::Database(error) => error.hint(),
            Self::Remote(error) => error.hint(),
            Self::NoBackupRecorded { .. } => Some(
                "pass `--backup FILE` (a file in `migrate.backup_dir`) or `--from s3://…/NAME.age` (the `backup_remote` the migrate report printed)".to_owned(),
            ),
            Self::MissingBackup { .. } => Some(
                "check the path (relative paths are taken from the working directory), or pass `--from s3://…/NAME.age` to restore an uploaded copy".to_owned(),
            ),
            Self::State(error) => error.hint(),
            Self::Lint(error) => error.hint(),
        }
    }
}

/// What the migrate phase of a pipeline did.
#[derive(Debug)]
pub struct MigrateOutcome {
    /// The report phase (failed when a migration failed).
    pub phase: Phase,
    /// Versions this run applied that are still applied, in order (empty
    /// after the backup was restored).
    pub applied: Vec<String>,
    /// The backup taken before the first pending migration.
    pub backup: Option<PathBuf>,
    /// Its encrypted copy in `migrate.backup_to`, when one was uploaded.
    pub remote: Option<crate::state::RemoteCopy>,
    /// The version that failed, when one did.
    pub failed: Option<String>,
    /// Whether a failure was fully undone: the backup restored (or a
    /// database this run created emptied), so nothing of this run stays.
    pub restored: bool,
    /// Whether a failure left the database in a state shipgate could not
    /// undo (the restore failed, or there was no backup to restore).
    pub needs_attention: bool,
}

/// `migrate status`: every migration, local or recorded, with its state.
pub async fn status(ctx: &Context) -> Result<Report, MigrateError> {
    let started = Instant::now();
    let (database, plan) = load(ctx).await?;
    let mut checks = Vec::new();
    let mut counts = [0_usize; 5];
    for entry in &plan.entries {
        let check = match (&entry.state, &entry.local) {
            (MigrationState::Applied { row }, _) => {
                counts[0] += 1;
                applied_check(&entry.id, row)
            }
            (MigrationState::Pending, _) => {
                counts[1] += 1;
                Check::new(&entry.id, Status::Skip).detail("pending")
            }
            (MigrationState::Failed { row }, local) => {
                counts[4] += 1;
                let mut check = Check::fail(&entry.id).detail(format!(
                    "failed part-way in a run started {}: fix the database, then `shipgate migrate resolve --applied {id}` or `--rolled-back {id}`",
                    row.applied_at,
                    id = entry.id
                ));
                if let Some(local) = local {
                    check = check.location(first_line(local));
                }
                match row.failure.as_deref() {
                    Some(logs) if !logs.is_empty() => check.log(logs),
                    _ => check.log("no error was logged: the run may have been stopped mid-file"),
                }
            }
            (MigrationState::Edited { row }, Some(local)) => {
                counts[2] += 1;
                Check::fail(&entry.id)
                    .detail("edited after it was applied")
                    .expected_actual(
                        format!("checksum {}", row.checksum),
                        format!("checksum {}", local.checksum),
                    )
                    .location(first_line(local))
            }
            (MigrationState::Edited { row } | MigrationState::MissingLocally { row }, _) => {
                counts[3] += 1;
                let applied = if row.applied_at.is_empty() {
                    "applied".to_owned()
                } else {
                    format!("applied {}", row.applied_at)
                };
                Check::new(&entry.id, Status::Warn)
                    .detail(format!("{applied} but its file is missing"))
            }
        };
        checks.push(check);
    }
    let [applied, pending, edited, missing, failed] = counts;
    let mut summary = format!(
        "`{}`: {applied} applied, {pending} pending",
        database.describe()
    );
    if failed > 0 {
        let _ = write!(summary, ", {failed} failed");
    }
    if edited > 0 {
        let _ = write!(summary, ", {edited} edited");
    }
    if missing > 0 {
        let _ = write!(summary, ", {missing} missing locally");
    }
    let _ = write!(
        summary,
        "; layout `{}` (`{}`)",
        layout::Layout::of(&ctx.config).name(),
        database.history_table()
    );
    let mut report = Report::new(
        "migrate status",
        Some(&ctx.config.environment.name),
        ctx.dry_run,
    );
    // The action installs `pg_dump` of this major version before migrating.
    if let Ok(Some(major)) = database.server_version_major().await {
        report.output("server_major", major.to_string());
    }
    report.push(Phase::new(PhaseName::Migrate, checks, started.elapsed()).summary(summary));
    Ok(report)
}

/// The status row of an applied migration: its date and duration when the
/// history keeps them. Supabase's and dbmate's tables keep neither, and a
/// `0ms` there would be made up (issue 11, item 4).
fn applied_check(id: &str, row: &db::AppliedMigration) -> Check {
    let check = Check::pass(id);
    if row.applied_at.is_empty() {
        check.detail("applied")
    } else {
        check
            .detail(format!("applied {}", row.applied_at))
            .duration(row.duration)
    }
}

/// `migrate plan`: the pending migrations in the order `apply` runs them.
/// Refuses, like `apply`, when an applied migration was edited.
pub async fn plan(ctx: &Context) -> Result<Report, MigrateError> {
    let outcome = apply::run(ctx, true).await?;
    let mut report = Report::new(
        "migrate plan",
        Some(&ctx.config.environment.name),
        ctx.dry_run,
    );
    report.push(outcome.phase);
    Ok(report)
}

/// `migrate apply`: back up, then apply the pending migrations (with
/// `--dry-run`: print the plan and change nothing).
pub async fn apply(ctx: &Context) -> Result<Report, MigrateError> {
    let outcome = apply::run(ctx, ctx.dry_run).await?;
    let mut report = Report::new(
        "migrate apply",
        Some(&ctx.config.environment.name),
        ctx.dry_run,
    );
    report.output("migrations_applied", outcome.applied.join(","));
    if let Some(backup) = &outcome.backup {
        report.output("backup", backup.display().to_string());
        report.files.push(backup.clone());
    }
    remote_outputs(&mut report, outcome.remote.as_ref());
    if outcome.needs_attention {
        report.outcome = ExitStatus::RollbackFailed;
    }
    report.push(outcome.phase);
    Ok(report)
}

/// The migrations the current run applied, with the class recorded for
/// each (a version without one counts as destructive, as rollback treats
/// it), for the deploy summary (issue 14). Empty when the run state is
/// unreadable or nothing was applied.
pub fn applied_this_run(ctx: &Context) -> Vec<crate::report::MigrationChange> {
    let Ok(state) = crate::state::RunState::load(&ctx.state_path, &ctx.config.environment.name)
    else {
        return Vec::new();
    };
    state
        .migrations_applied
        .iter()
        .map(|version| {
            let notes = state.migration_notes.get(version);
            crate::report::MigrationChange {
                version: version.clone(),
                class: state
                    .migration_classes
                    .get(version)
                    .copied()
                    .unwrap_or(lint::MigrationClass::Destructive)
                    .as_str()
                    .to_owned(),
                locking: notes.is_some_and(|notes| notes.locking),
                findings: notes
                    .map(|notes| notes.findings.clone())
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// The report outputs of a backup's uploaded copy: what a rollback on
/// another runner passes to `migrate restore --from … --sha256 …`.
pub fn remote_outputs(report: &mut Report, remote: Option<&crate::state::RemoteCopy>) {
    if let Some(copy) = remote {
        report.output("backup_remote", copy.url.clone());
        report.output("backup_remote_sha256", copy.sha256.clone());
        report.output("backup_remote_bytes", copy.bytes.to_string());
    }
}

/// `migrate down`: back up, then revert the selected applied migrations
/// with their down sections, newest first (with `--dry-run`: print the plan
/// and change nothing).
pub async fn down(ctx: &Context, selection: &DownSelection) -> Result<Report, MigrateError> {
    let outcome = down::run(ctx, selection, ctx.dry_run).await?;
    let mut report = Report::new(
        "migrate down",
        Some(&ctx.config.environment.name),
        ctx.dry_run,
    );
    report.output("migrations_reverted", outcome.reverted.join(","));
    if let Some(backup) = &outcome.backup {
        report.output("backup", backup.display().to_string());
        report.files.push(backup.clone());
    }
    report.push(outcome.phase);
    Ok(report)
}

/// The `down` rollback policy: reverts `selection` (the versions a deploy
/// applied), refusing before any change when one has no down section.
pub async fn down_phase(
    ctx: &Context,
    selection: &DownSelection,
) -> Result<DownOutcome, MigrateError> {
    down::run(ctx, selection, ctx.dry_run).await
}

/// `migrate lint`: the selected migrations through the PostgreSQL parser and
/// the lint rules (issue 4).
pub async fn lint(ctx: &Context, selection: &lint::LintSelection) -> Result<Report, MigrateError> {
    lint::execute(ctx, selection).await
}

/// The migrate phase of `shipgate run`.
pub async fn apply_phase(ctx: &Context) -> Result<MigrateOutcome, MigrateError> {
    apply::run(ctx, ctx.dry_run).await
}

/// Which backup a restore uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupSource {
    /// A local file; when it is missing and the run state records an
    /// uploaded copy of it, that copy is downloaded (issue 11, item 6).
    Local(PathBuf),
    /// An uploaded copy, `s3://bucket/…/NAME.age` (`migrate restore --from`).
    Remote {
        /// The object.
        url: String,
        /// The SHA-256 it must have (`--sha256`); else the one the run
        /// state recorded for this URL, when it did.
        sha256: Option<String>,
    },
}

/// Restores the database from `backup` (rollback, `migrate restore`).
pub async fn restore(ctx: &Context, backup: &Path) -> Result<Check, MigrateError> {
    restore_from(ctx, &BackupSource::Local(backup.to_owned())).await
}

/// Restores the database from `source`: a local file is restored as it is;
/// an uploaded copy (named, or recorded for a local file that is gone) is
/// first downloaded into `migrate.backup_dir`, checked against its recorded
/// SHA-256 and decrypted, changing nothing when any of that fails.
pub async fn restore_from(ctx: &Context, source: &BackupSource) -> Result<Check, MigrateError> {
    let started = Instant::now();
    let database = db::connect_with_layout(&ctx.config, layout::Layout::of(&ctx.config).history())?;
    let remote = remote_copy(ctx, source)?;
    if ctx.dry_run {
        let detail = match (&remote, source) {
            (Some((url, _)), _) => format!(
                "would download, verify and decrypt `{url}`, then restore `{}` from it",
                database.describe()
            ),
            (None, BackupSource::Local(path)) => format!(
                "would restore `{}` from `{}`",
                database.describe(),
                path.display()
            ),
            (None, BackupSource::Remote { url, .. }) => {
                format!("would restore `{}` from `{url}`", database.describe())
            }
        };
        return Ok(Check::new("restore", Status::Skip).detail(detail));
    }
    let (backup, downloaded) = match (&remote, source) {
        (Some((url, sha256)), _) => {
            ctx.printer.progress(&format!("downloading `{url}`"));
            let settings = ctx.config.migrate.remote.as_ref();
            let fetched = remote::download(
                url,
                sha256.as_deref(),
                settings.and_then(|remote| remote.endpoint.as_ref()),
                settings.map_or(DEFAULT_REMOTE_TIMEOUT, |remote| remote.timeout),
                &ctx.config.migrate.backup_dir,
                ctx.printer.redactor(),
            )
            .await?;
            let how = match &fetched.verified {
                Some(digest) => format!("its SHA-256 `{digest}` matches the one recorded at upload"),
                None => "no SHA-256 was recorded on this runner (pass `--sha256`), so only age's authenticated encryption vouches for it".to_owned(),
            };
            (
                fetched.path,
                Some(format!("downloaded `{url}` and decrypted it ({how})")),
            )
        }
        (None, BackupSource::Local(path)) => {
            if !path.exists() {
                return Err(MigrateError::MissingBackup { path: path.clone() });
            }
            (path.clone(), None)
        }
        (None, BackupSource::Remote { .. }) => {
            return Err(MigrateError::NoBackupRecorded {
                state: ctx.state_path.clone(),
            });
        }
    };
    database.lock().await?;
    let exactness = database.restore(&backup).await?;
    let mut detail = format!(
        "restored `{}` from the backup; its migration history `{}` matches the backup",
        database.describe(),
        database.history_table()
    );
    if let Some(downloaded) = &downloaded {
        detail = format!("{downloaded}; {detail}");
    }
    let mut check = with_exactness(Check::pass("restore").detail(detail), &exactness)
        .duration(started.elapsed())
        .artifact("backup", backup.display().to_string());
    if let Some((url, _)) = &remote {
        check = check.artifact("backup_remote", url.clone());
    }
    Ok(check)
}

/// The deadline of a download when `migrate.backup_to` is not configured
/// (`migrate restore --from` on a runner with another config).
const DEFAULT_REMOTE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// The uploaded copy `source` restores, with the digest it must have: the
/// named one, or the recorded copy of a local backup that is gone. `None`
/// restores the local file as it is.
fn remote_copy(
    ctx: &Context,
    source: &BackupSource,
) -> Result<Option<(String, Option<String>)>, MigrateError> {
    let state = || crate::state::RunState::load(&ctx.state_path, &ctx.config.environment.name);
    match source {
        BackupSource::Local(path) if path.exists() => Ok(None),
        BackupSource::Local(path) => Ok(state()?
            .backup_at(path)
            .and_then(|backup| backup.remote.as_ref())
            .map(|copy| (copy.url.clone(), Some(copy.sha256.clone())))),
        BackupSource::Remote { url, sha256 } => {
            let recorded = sha256.clone().or_else(|| {
                state().ok().and_then(|state| {
                    state
                        .backups
                        .iter()
                        .filter_map(|backup| backup.remote.as_ref())
                        .find(|copy| &copy.url == url)
                        .map(|copy| copy.sha256.clone())
                })
            });
            Ok(Some((url.clone(), recorded)))
        }
    }
}

/// Adds to a passed `restore` check what the restore proved about the
/// schema: a skipped comparison makes it a warning (issue 11, section 2).
pub(crate) fn with_exactness(mut check: Check, exactness: &db::Exactness) -> Check {
    let detail = check.detail.take().unwrap_or_default();
    match exactness {
        db::Exactness::Verified { objects } => check.detail(format!(
            "{detail}; its schema matches the backup's catalog snapshot ({objects} objects)"
        )),
        db::Exactness::Skipped { reason } => {
            check.status = Status::Warn;
            check.detail(format!(
                "{detail}; the schema was not compared with the backup (exactness check skipped): {reason}"
            ))
        }
        db::Exactness::ByCopy => check.detail(detail),
    }
}

/// `migrate restore [--backup FILE | --from URL]`: replaces the database's
/// content with the backup (relative paths are taken from the working
/// directory); with neither, the run's first backup from the run state.
pub async fn restore_command(
    ctx: &Context,
    source: Option<BackupSource>,
) -> Result<Report, MigrateError> {
    let started = Instant::now();
    let source = if let Some(source) = source {
        source
    } else {
        let state = crate::state::RunState::load(&ctx.state_path, &ctx.config.environment.name)?;
        let Some(path) = state.backup else {
            return Err(MigrateError::NoBackupRecorded {
                state: ctx.state_path.clone(),
            });
        };
        BackupSource::Local(path)
    };
    let check = restore_from(ctx, &source).await?;
    let mut report = Report::new(
        "migrate restore",
        Some(&ctx.config.environment.name),
        ctx.dry_run,
    );
    report.push(Phase::new(PhaseName::Migrate, vec![check], started.elapsed()).summary("restored"));
    Ok(report)
}

/// `migrate resolve --applied NAME | --rolled-back NAME` (Prisma's
/// semantics, for every layout): records how a failed migration was
/// resolved by hand, or (`--applied`) baselines one that ran elsewhere.
pub async fn resolve(
    ctx: &Context,
    name: &str,
    resolution: db::Resolution,
) -> Result<Report, MigrateError> {
    let started = Instant::now();
    let layout = layout::Layout::of(&ctx.config);
    let database = db::connect_with_layout(&ctx.config, layout.history())?;
    let local = layout.read(&ctx.config.migrate.dir, &ctx.config.base_dir)?;
    let Some(migration) = local.iter().find(|migration| migration.id() == name) else {
        return Err(MigrateError::UnknownMigration {
            name: name.to_owned(),
            dir: source::relative_to(&ctx.config.migrate.dir, &ctx.config.base_dir),
        });
    };
    let detail = match resolution {
        db::Resolution::Applied => format!("recorded `{name}` as applied"),
        db::Resolution::RolledBack => format!(
            "marked the failed run of `{name}` as rolled back; it runs again on the next apply"
        ),
    };
    let check = if ctx.dry_run {
        Check::new("resolve", Status::Skip).detail(format!("would have {detail}"))
    } else {
        database.lock().await?;
        database.resolve(migration, resolution).await?;
        Check::pass("resolve").detail(detail)
    };
    let mut report = Report::new(
        "migrate resolve",
        Some(&ctx.config.environment.name),
        ctx.dry_run,
    );
    report.push(
        Phase::new(
            PhaseName::Migrate,
            vec![check.duration(started.elapsed())],
            started.elapsed(),
        )
        .summary(format!("resolved `{name}`")),
    );
    Ok(report)
}

/// Connects, reads the files and the history, and merges them. Reads only:
/// a database that does not exist is not created.
async fn load(ctx: &Context) -> Result<(Box<dyn Database>, MigrationPlan), MigrateError> {
    load_locked(ctx, false).await
}

/// [`load`], taking the migration lock first when `lock` (a real apply), so
/// the plan is read by the only runner.
async fn load_locked(
    ctx: &Context,
    lock: bool,
) -> Result<(Box<dyn Database>, MigrationPlan), MigrateError> {
    let layout = layout::Layout::of(&ctx.config);
    let database = db::connect_with_layout(&ctx.config, layout.history())?;
    let local = layout.read(&ctx.config.migrate.dir, &ctx.config.base_dir)?;
    if lock {
        ctx.printer
            .progress(&format!("locking `{}` for migrations", database.describe()));
        database.lock().await?;
    }
    let mut applied = database.applied().await?;
    layout.reconcile(&local, &mut applied);
    Ok((
        database,
        MigrationPlan::new(local, applied, layout.identity()),
    ))
}

/// Line 1 of a migration, for pointing at the file as a whole.
fn first_line(migration: &db::Migration) -> SourceLocation {
    let end = migration.sql.find('\n').unwrap_or(migration.sql.len());
    SourceLocation::from_span(&migration.path, &migration.sql, 0, end)
}

#[cfg(test)]
mod tests {
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::config::Redactor;
    use crate::report::{OutputFormat, Printer};

    /// A context for the config `toml` written into `dir`.
    fn context(dir: &Path, toml: &str) -> Context {
        let path = dir.join("shipgate.toml");
        fs_err::write(&path, toml).unwrap();
        let redactor = Redactor::default();
        let config = crate::config::load(&path, None, &|_| None, &redactor).unwrap();
        Context {
            config,
            printer: Printer::new(OutputFormat::Json, redactor),
            dry_run: false,
            cancel: CancellationToken::new(),
            state_path: dir.join("state/state.json"),
        }
    }

    const CONFIG: &str = "[environments.local]\ndatabase = \"sqlite://app.db\"\n";

    fn tables(dir: &Path) -> Vec<String> {
        let connection = rusqlite::Connection::open(dir.join("app.db")).unwrap();
        let mut statement = connection
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap();
        statement
            .query_map([], |row| row.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[tokio::test]
    async fn apply_phase_reports_applied_versions_and_restore_undoes_them() {
        let dir = tempfile::tempdir().unwrap();
        let migrations = dir.path().join("migrations");
        fs_err::create_dir_all(&migrations).unwrap();
        fs_err::write(
            migrations.join("0001_a.sql"),
            "CREATE TABLE a (id INTEGER);",
        )
        .unwrap();
        let ctx = context(dir.path(), CONFIG);

        let first = apply_phase(&ctx).await.unwrap();
        assert_eq!(first.applied, ["0001"]);
        assert_eq!(first.backup, None, "a new database needs no backup");
        assert!(!first.phase.failed() && first.failed.is_none() && !first.needs_attention);

        fs_err::write(
            migrations.join("0002_b.sql"),
            "CREATE TABLE b (id INTEGER);",
        )
        .unwrap();
        let second = apply_phase(&ctx).await.unwrap();
        assert_eq!(second.applied, ["0002"]);
        let backup = second.backup.expect("an existing database is backed up");
        assert_eq!(tables(dir.path()), ["a", "b", "shipgate_migrations"]);
        let state = crate::state::RunState::load(&ctx.state_path, "local").unwrap();
        assert_eq!(state.migrations_applied, ["0001", "0002"]);
        assert_eq!(state.backup.as_deref(), Some(backup.as_path()));

        // Rollback's view: restore the backup taken before 0002.
        let check = restore(&ctx, &backup).await.unwrap();
        assert_eq!(check.status, Status::Pass);
        assert_eq!(check.artifacts[0].value, backup.display().to_string());
        assert_eq!(tables(dir.path()), ["a", "shipgate_migrations"]);

        let missing = restore(&ctx, &dir.path().join("nope.sqlite"))
            .await
            .unwrap_err();
        assert_eq!(missing.exit_status(), ExitStatus::Infrastructure);
        assert!(missing.to_string().contains("nope.sqlite"), "{missing}");
    }

    #[tokio::test]
    async fn a_failed_migration_in_apply_phase_is_a_failed_phase_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let migrations = dir.path().join("migrations");
        fs_err::create_dir_all(&migrations).unwrap();
        fs_err::write(
            migrations.join("0001_a.sql"),
            "CREATE TABLE a (id INTEGER);",
        )
        .unwrap();
        let ctx = context(dir.path(), CONFIG);
        apply_phase(&ctx).await.unwrap();
        fs_err::write(
            migrations.join("0002_b.sql"),
            "CREATE TABLE b (id INTEGER);",
        )
        .unwrap();
        fs_err::write(
            migrations.join("0003_c.sql"),
            "CREATE TABLE c (id INTEGER);\n\nSELECT * FROM missing;\n",
        )
        .unwrap();

        let outcome = apply_phase(&ctx).await.unwrap();
        assert!(outcome.phase.failed());
        assert_eq!(outcome.failed.as_deref(), Some("0003"));
        assert!(outcome.restored && !outcome.needs_attention);
        assert!(outcome.applied.is_empty(), "the restore undid 0002");
        let failed = &outcome.phase.checks[2];
        assert_eq!(failed.name, "0003_c");
        assert_eq!(failed.detail.as_deref(), Some("no such table: missing"));
        let location = failed.location.as_ref().unwrap();
        assert_eq!(
            (location.path.as_path(), location.line),
            (Path::new("migrations/0003_c.sql"), 3)
        );
        assert_eq!(tables(dir.path()), ["a", "shipgate_migrations"]);
    }

    #[tokio::test]
    async fn no_database_configured_is_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(dir.path().join("migrations")).unwrap();
        let ctx = context(dir.path(), "[environments.local]\n");
        let error = status(&ctx).await.unwrap_err();
        assert_eq!(error.exit_status(), ExitStatus::Usage);
        assert!(error.hint().unwrap().contains("[environments.local]"));
    }
}
