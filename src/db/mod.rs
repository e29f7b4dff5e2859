//! The database engines migrations run against, behind one [`Database`] trait.
//!
//! This module owns talking to a database: reading and writing the history
//! table, running one migration's SQL together with its history row in a
//! single transaction, and taking and restoring backups. It knows nothing of
//! migration files, plans or reports: `migrate` reads the files, decides what
//! to apply and reports on it.
//!
//! Engines: [`sqlite`] (`sqlite://PATH`, the embedded default). PostgreSQL
//! (tokio-postgres) and the history tables of other tools (Prisma, Supabase,
//! dbmate) implement the same trait; [`connect`] picks the engine from the
//! configured [`DatabaseUrl`].

pub mod sqlite;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{Config, DatabaseUrl};

/// The history table of shipgate's own (plain) layout.
pub const HISTORY_TABLE: &str = "shipgate_migrations";

/// One migration file, ready to apply: what the engine needs to run it and
/// record it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// The version, e.g. `0001` or `20260102120000` (digits only).
    pub version: String,
    /// The name after the version, e.g. `create_users`.
    pub name: String,
    /// The file as the user knows it, relative to the config's directory when
    /// it lies inside it (used in messages and locations).
    pub path: PathBuf,
    /// The file's text.
    pub sql: String,
    /// Lowercase hex SHA-256 of the file's bytes.
    pub checksum: String,
}

impl Migration {
    /// `<version>_<name>`, the name reports use.
    pub fn id(&self) -> String {
        format!("{}_{}", self.version, self.name)
    }
}

/// One row of the history table: a migration the database has applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    /// The version it was recorded under.
    pub version: String,
    /// Its name when it was applied.
    pub name: String,
    /// Lowercase hex SHA-256 of the file when it was applied.
    pub checksum: String,
    /// When it was applied, RFC 3339 UTC, as stored.
    pub applied_at: String,
    /// How long its SQL took.
    pub duration: Duration,
    /// Who applied it (e.g. `shipgate 0.1.0`), when recorded.
    pub applied_by: Option<String>,
}

/// A backup file taken before migrating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// Where it was written.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
}

/// An error reported by the database engine for a statement: its own message
/// and, when it has one, its error code. Engine-neutral, so callers never see
/// a driver type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineMessage {
    /// The engine's message, e.g. `near "CREAT": syntax error`.
    pub message: String,
    /// The engine's error code, e.g. `SQLITE_CONSTRAINT_UNIQUE` or `42P01`.
    pub code: Option<String>,
}

impl fmt::Display for EngineMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} ({code})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for EngineMessage {}

/// Why a database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    /// The environment has no `database` key.
    #[error("environment `{environment}` has no `database` configured")]
    NotConfigured {
        /// The environment's name.
        environment: String,
    },
    /// The database could not be opened.
    #[error("failed to open the database `{database}`")]
    Open {
        /// The masked URL.
        database: String,
        /// The engine's error.
        #[source]
        source: EngineMessage,
    },
    /// The history table could not be read.
    #[error("failed to read the migration history `{table}` of `{database}`")]
    ReadHistory {
        /// The masked URL.
        database: String,
        /// The history table.
        table: String,
        /// The engine's error.
        #[source]
        source: EngineMessage,
    },
    /// The history table could not be created.
    #[error("failed to create the migration history `{table}` in `{database}`")]
    CreateHistory {
        /// The masked URL.
        database: String,
        /// The history table.
        table: String,
        /// The engine's error.
        #[source]
        source: EngineMessage,
    },
    /// A migration's SQL (or its history row) failed; its transaction was
    /// rolled back, so the database is as it was before this migration.
    #[error("failed to apply migration `{version}`")]
    ApplyMigration {
        /// The migration's version.
        version: String,
        /// Byte offset in the file of the failing token or statement, when known.
        offset: Option<usize>,
        /// The engine's error.
        #[source]
        source: EngineMessage,
    },
    /// Another runner recorded this version while this one was planning.
    #[error("migration `{version}` was applied by another runner while this one was running")]
    AlreadyApplied {
        /// The version found in the history table.
        version: String,
    },
    /// A directory for backups could not be created.
    #[error("failed to create the backup directory `{}`", path.display())]
    CreateBackupDir {
        /// The directory.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The backup could not be written.
    #[error("failed to back up `{database}` to `{}`", path.display())]
    Backup {
        /// The masked URL.
        database: String,
        /// The backup file.
        path: PathBuf,
        /// The engine's error.
        #[source]
        source: EngineMessage,
    },
    /// The backup was written but does not read back as a sound database.
    #[error("the backup `{}` failed its integrity check: {detail}", path.display())]
    VerifyBackup {
        /// The backup file.
        path: PathBuf,
        /// What the check reported.
        detail: String,
    },
    /// The backup to restore does not exist.
    #[error("the backup `{}` does not exist", path.display())]
    BackupMissing {
        /// The backup file.
        path: PathBuf,
    },
    /// Restoring a backup (or emptying a new database) failed.
    #[error("failed to restore `{database}` from `{}`", path.display())]
    Restore {
        /// The masked URL.
        database: String,
        /// The backup file.
        path: PathBuf,
        /// The engine's error.
        #[source]
        source: EngineMessage,
    },
    /// Another connection held the database longer than the deadline.
    #[error("timed out after {}s waiting for `{database}` to {operation}", timeout.as_secs())]
    Busy {
        /// The masked URL.
        database: String,
        /// What was waiting, e.g. `restore`.
        operation: &'static str,
        /// The deadline.
        timeout: Duration,
    },
    /// A blocking database task panicked or was cancelled; this is a bug.
    #[error("the database task for `{operation}` stopped unexpectedly; this is a bug")]
    Task {
        /// The operation the task ran.
        operation: &'static str,
        /// The join error.
        #[source]
        source: tokio::task::JoinError,
    },
}

impl DatabaseError {
    /// Whether the error is the user's SQL (not the connection or the disk).
    pub fn is_migration_failure(&self) -> bool {
        matches!(self, Self::ApplyMigration { .. })
    }
}

impl crate::diagnostic::Diagnostic for DatabaseError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::NotConfigured { environment } => format!(
                "add `database = \"sqlite://app.db\"` (or `\"${{DATABASE_URL}}\"`) under `[environments.{environment}]`"
            ),
            Self::Open { .. } | Self::ReadHistory { .. } | Self::CreateHistory { .. } => {
                "check the `database` URL and that the file is readable, then run `shipgate migrate status`".to_owned()
            }
            Self::ApplyMigration { .. } => {
                "fix the migration, then run `shipgate migrate apply` again".to_owned()
            }
            Self::AlreadyApplied { .. } => {
                "run `shipgate migrate status` to see what the other runner applied".to_owned()
            }
            Self::CreateBackupDir { .. } | Self::Backup { .. } | Self::VerifyBackup { .. } => {
                "set a writable `migrate.backup_dir`, or `migrate.backup = \"none\"` to migrate without a backup".to_owned()
            }
            Self::BackupMissing { .. } => {
                "pass the path of a backup `shipgate migrate apply` took (see its `backup` output)".to_owned()
            }
            Self::Restore { path, .. } => format!(
                "the database may be partly restored: copy `{}` over the database file by hand",
                path.display()
            ),
            Self::Busy { .. } => "stop the other process using the database, then run the command again".to_owned(),
            Self::Task { .. } => "run the command again; if it fails the same way, report it with this output".to_owned(),
        })
    }
}

/// A database migrations run against. Engines implement it; `migrate` only
/// talks to this trait.
///
/// Every method is one unit of work: an engine may open a connection per call
/// (SQLite) or keep one session for the run (PostgreSQL, which also holds its
/// advisory lock there).
#[async_trait::async_trait]
pub trait Database: Send + Sync {
    /// The database, safe to print (secrets masked).
    fn describe(&self) -> String;

    /// The history table this engine reads and writes.
    fn history_table(&self) -> &str;

    /// Whether the database holds nothing yet (`SQLite`: no file, or an empty
    /// one): there is nothing to back up, and undoing a failed first run
    /// means [`Database::clear`]. Never creates the database.
    async fn is_new(&self) -> Result<bool, DatabaseError>;

    /// Creates the database (when the engine can) and the history table when
    /// they are missing.
    async fn ensure_history(&self) -> Result<(), DatabaseError>;

    /// The applied migrations, in the order they were applied. A missing
    /// database or history table is an empty history, and is not created.
    async fn applied(&self) -> Result<Vec<AppliedMigration>, DatabaseError>;

    /// Runs `migration`'s SQL and records it in the history table, both in one
    /// transaction: either both happen or neither does.
    async fn apply(&self, migration: &Migration) -> Result<AppliedMigration, DatabaseError>;

    /// Backs the database up into `dir`. `None` when there is nothing to back
    /// up (the database does not exist yet or is empty).
    async fn backup(&self, dir: &Path) -> Result<Option<Backup>, DatabaseError>;

    /// Replaces the database's content with the backup at `path`.
    async fn restore(&self, path: &Path) -> Result<(), DatabaseError>;

    /// Empties the database, back to how it was before a first run created
    /// it: the undo of a failed run that started from a new database.
    async fn clear(&self) -> Result<(), DatabaseError>;
}

/// Opens the engine for the environment's `database` URL.
pub fn connect(config: &Config) -> Result<Box<dyn Database>, DatabaseError> {
    match &config.environment.database {
        None => Err(DatabaseError::NotConfigured {
            environment: config.environment.name.clone(),
        }),
        Some(DatabaseUrl::Sqlite { path, url }) => Ok(Box::new(sqlite::SqliteDatabase::new(
            path.clone(),
            url.to_string(),
        ))),
    }
}
