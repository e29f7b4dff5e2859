//! The database engines migrations run against, behind one [`Database`] trait.
//!
//! This module owns talking to a database: reading and writing the history
//! table, running one migration's SQL together with its history row in a
//! single transaction, and taking and restoring backups. It knows nothing of
//! migration files, plans or reports: `migrate` reads the files, decides what
//! to apply and reports on it.
//!
//! Engines: [`sqlite`] (`sqlite://PATH`, the embedded default) and
//! [`postgres`] (`postgres://…`, tokio-postgres). The history tables of other
//! tools (Prisma, Supabase, dbmate) are to implement the same trait;
//! [`connect`] picks the engine from the configured [`DatabaseUrl`].

pub mod postgres;
pub mod sqlite;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{Config, DatabaseUrl};

/// The history table of shipgate's own (plain) layout.
pub const HISTORY_TABLE: &str = "shipgate_migrations";

/// Whose history table the engine reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryLayout {
    /// shipgate's own `shipgate_migrations`.
    Plain,
    /// Prisma's `_prisma_migrations` (PostgreSQL only).
    Prisma,
    /// The Supabase CLI's `supabase_migrations.schema_migrations`.
    Supabase,
    /// dbmate's `schema_migrations`.
    Dbmate,
}

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
    /// Why the layout says the file runs outside a transaction (dbmate's
    /// `-- migrate:up transaction:false`), when it does.
    pub outside_transaction: Option<String>,
}

impl Migration {
    /// `<version>_<name>`, the name reports use.
    pub fn id(&self) -> String {
        format!("{}_{}", self.version, self.name)
    }
}

/// One row of the history table: a migration the database has applied, or
/// one that failed part-way outside a transaction and waits for a human
/// ([`AppliedMigration::failure`]).
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
    /// `Some` when the migration failed part-way in an earlier run (outside
    /// a transaction, so some statements stay applied) and nobody resolved
    /// it yet: the error it logged, empty when none was recorded (the
    /// process was stopped mid-file). Nothing runs until it is resolved.
    pub failure: Option<String>,
}

/// How a human resolved a failed migration (`migrate resolve`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// `--applied`: the migration's effects are in place; record it applied.
    Applied,
    /// `--rolled-back`: its effects were undone; run it again next time.
    RolledBack,
}

/// A backup file taken before migrating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// Where it was written.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Where the server was when it was taken (PostgreSQL: time and WAL
    /// LSN), when the engine knows.
    pub position: Option<String>,
}

/// What a restore proved about the restored schema (issue 11, section 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exactness {
    /// The restored catalog equals the snapshot taken with the backup.
    Verified {
        /// How many catalog objects were compared.
        objects: usize,
    },
    /// The catalog was not compared, and why (e.g. a backup taken before
    /// snapshots were stored beside backups).
    Skipped {
        /// Why, in words.
        reason: String,
    },
    /// The engine restores by copying the whole database file, which is
    /// exact by construction (`SQLite`).
    ByCopy,
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
            // PostgreSQL's messages already say `SQLSTATE <code>`.
            Some(code) if !self.message.contains(code.as_str()) => {
                write!(f, "{} ({code})", self.message)
            }
            _ => f.write_str(&self.message),
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
    /// A migration running outside a transaction failed after some of its
    /// statements ran: they stay applied, and its history row says
    /// `success = false`.
    #[error("failed to apply migration `{version}` part-way, outside a transaction")]
    ApplyOutsideTransaction {
        /// The migration's version.
        version: String,
        /// Byte offset in the file of the failing token or statement.
        offset: Option<usize>,
        /// The engine's error, naming the statements that ran.
        #[source]
        source: EngineMessage,
    },
    /// Another runner recorded this version while this one was planning.
    #[error("migration `{version}` was applied by another runner while this one was running")]
    AlreadyApplied {
        /// The version found in the history table.
        version: String,
    },
    /// `migrate down` found no history row to remove for a migration it
    /// reverted (another runner reverted it meanwhile); its transaction was
    /// rolled back.
    #[error("migration `{version}` is no longer recorded in `{table}`: another runner reverted it")]
    NotRecorded {
        /// The migration's version.
        version: String,
        /// The history table.
        table: String,
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
    /// `pg_dump` waited longer than `lock_timeout` for a table lock and
    /// gave up; nothing was changed.
    #[error(
        "the backup timed out after {} waiting for a lock on table `{table}`{}",
        seconds(*waited),
        blockers_text(blockers)
    )]
    BackupLockTimeout {
        /// The table, as `pg_dump` named it.
        table: String,
        /// How long it waited (`migrate.lock_timeout`).
        waited: Duration,
        /// The sessions holding or queueing for an exclusive lock on it.
        blockers: Vec<String>,
        /// What `pg_dump` printed.
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
    /// The restore finished, but the history table does not hold what the
    /// backup holds: the database and its recorded migrations disagree.
    #[error(
        "restored `{database}` from `{}`, but its migration history `{table}` does not match the backup: {detail}",
        path.display()
    )]
    HistoryMismatch {
        /// The masked URL.
        database: String,
        /// The backup file.
        path: PathBuf,
        /// The history table.
        table: String,
        /// How they differ.
        detail: String,
    },
    /// The restore finished, but the schema differs from the catalog
    /// snapshot taken with the backup: the database is not as it was.
    #[error(
        "restored `{database}` from `{}`, but its schema does not match the backup: {}",
        path.display(),
        differences.join("; ")
    )]
    CatalogMismatch {
        /// The masked URL.
        database: String,
        /// The backup file.
        path: PathBuf,
        /// Each difference in words.
        differences: Vec<String>,
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
    /// The database URL cannot be used.
    #[error("invalid database URL `{database}`: {reason}")]
    InvalidUrl {
        /// The masked URL.
        database: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The server could not be reached or refused the login.
    #[error("failed to connect to PostgreSQL at {target}, {tls}")]
    Connect {
        /// Host, port, database and user (never the password).
        target: String,
        /// Whether TLS was tried, and the `sslmode`.
        tls: String,
        /// The driver's error.
        #[source]
        source: EngineMessage,
    },
    /// The server did not finish the connection handshake (TCP, TLS and
    /// PostgreSQL's startup) within the deadline: often a port where
    /// something other than PostgreSQL listens.
    #[error(
        "the server at `{address}` did not complete PostgreSQL's startup handshake within {}",
        seconds(*timeout)
    )]
    ConnectTimeout {
        /// `host:port`.
        address: String,
        /// The deadline (the URL's `connect_timeout`, 10 s by default).
        timeout: Duration,
    },
    /// The server answered the connection with something other than
    /// PostgreSQL's protocol.
    #[error("the server at `{address}` did not speak PostgreSQL's protocol")]
    NotPostgres {
        /// `host:port`.
        address: String,
        /// The driver's error.
        #[source]
        source: EngineMessage,
    },
    /// The connection goes through a transaction pooler, where a session
    /// lock (and so a safe migration) is impossible.
    #[error("`{database}` looks like a transaction pooler: {reason}")]
    Pooler {
        /// The masked URL.
        database: String,
        /// What gave it away.
        reason: String,
    },
    /// Another runner held the migration lock for longer than `lock_wait`.
    #[error(
        "timed out after {}s waiting for the migration lock on `{database}`, held by {owner}{}",
        waited.as_secs(),
        holders_text(holders)
    )]
    LockBusy {
        /// The masked URL.
        database: String,
        /// Who is expected to hold it.
        owner: String,
        /// How long this run waited.
        waited: Duration,
        /// The sessions holding it.
        holders: Vec<String>,
    },
    /// A statement waited longer than `lock_timeout` for a lock; its
    /// migration was rolled back.
    #[error(
        "migration `{version}` timed out waiting for a lock{}",
        blockers_text(blockers)
    )]
    LockTimeout {
        /// The migration's version.
        version: String,
        /// Byte offset in the file of the statement.
        offset: Option<usize>,
        /// The sessions PostgreSQL said the statement waited behind
        /// (`pg_blocking_pids`), last seen before the timeout.
        blockers: Vec<String>,
        /// PostgreSQL's error.
        #[source]
        source: EngineMessage,
    },
    /// `pg_dump` is older than the server, so it cannot dump it faithfully.
    #[error(
        "`{tool}` is too old for this server: `{tool_version}` cannot dump PostgreSQL {server_major}"
    )]
    ClientTooOld {
        /// The tool.
        tool: &'static str,
        /// What `--version` printed.
        tool_version: String,
        /// The server's major version.
        server_major: u32,
    },
    /// A client tool could not be started.
    #[error("failed to run `{tool}`")]
    RunTool {
        /// The tool.
        tool: &'static str,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// A client tool exited with an error.
    #[error("`{tool}` failed ({status}): {stderr}")]
    ToolFailed {
        /// The tool.
        tool: &'static str,
        /// Its exit status.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// A client tool ran past its deadline and was killed.
    #[error("`{tool}` did not finish within {}s and was stopped", deadline.as_secs())]
    ToolTimeout {
        /// The tool.
        tool: &'static str,
        /// The deadline (`migrate.statement_timeout`).
        deadline: Duration,
    },
    /// A migration failed part-way in an earlier run and its history says
    /// so (Prisma's P3009): nothing runs until a human resolves it.
    #[error(
        "migration `{name}` failed part-way in an earlier run and is not resolved{}",
        logs_text(logs)
    )]
    FailedMigration {
        /// The migration's name (`<version>_<name>`).
        name: String,
        /// The error it logged; empty when none was recorded.
        logs: String,
    },
    /// `migrate resolve` could not record the resolution.
    #[error("cannot resolve migration `{name}`: {reason}")]
    Resolve {
        /// The migration's name.
        name: String,
        /// Why.
        reason: String,
    },
    /// A layout other than plain on SQLite.
    #[error("the `{layout}` layout needs a PostgreSQL database")]
    LayoutNeedsPostgres {
        /// The layout.
        layout: &'static str,
    },
    /// The session to the server ended in the middle of an operation (the
    /// backend was terminated, the server shut down or restarted, the
    /// network dropped it): an infrastructure failure, not the SQL's fault
    /// (issue 10, item 4).
    #[error("lost the connection to `{database}` while {operation}")]
    ConnectionLost {
        /// The masked URL.
        database: String,
        /// What was running, e.g. "applying migration `0002`".
        operation: String,
        /// Whether nothing the operation did survives: it ran inside a
        /// transaction that was never committed, so PostgreSQL rolled it back.
        rolled_back: bool,
        /// The driver's error.
        #[source]
        source: EngineMessage,
    },
    /// Creating, resetting, reading or dropping the scratch database of a
    /// drift check failed (issue 16).
    #[error("failed to {operation} on `{database}`")]
    Scratch {
        /// The masked URL or the scratch database's name.
        database: String,
        /// What was being done, e.g. "create the scratch database `shipgate_drift_1_ab`".
        operation: String,
        /// The engine's error.
        #[source]
        source: EngineMessage,
    },
    /// The session was lost between two calls; this is a bug.
    #[error("the database session is gone; this is a bug")]
    NotConnected,
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
        matches!(
            self,
            Self::ApplyMigration { .. }
                | Self::LockTimeout { .. }
                | Self::ApplyOutsideTransaction { .. }
                | Self::FailedMigration { .. }
        )
    }

    /// Whether the failed migration left nothing behind (its transaction was
    /// rolled back), so there is nothing of it to undo.
    pub fn rolled_back(&self) -> bool {
        matches!(
            self,
            Self::ApplyMigration { .. }
                | Self::LockTimeout { .. }
                | Self::ConnectionLost {
                    rolled_back: true,
                    ..
                }
        )
    }
}

/// `1s`, or `1.5s` for a deadline under a minute that is not whole seconds.
fn seconds(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{:.1}s", duration.as_secs_f64())
    }
}

fn holders_text(holders: &[String]) -> String {
    if holders.is_empty() {
        String::new()
    } else {
        format!(": {}", holders.join("; "))
    }
}

fn logs_text(logs: &str) -> String {
    if logs.is_empty() {
        "; it logged no error (the run may have been stopped mid-file)".to_owned()
    } else {
        format!("; its log: {logs}")
    }
}

fn blockers_text(blockers: &[String]) -> String {
    if blockers.is_empty() {
        String::new()
    } else {
        format!("; blocked by: {}", blockers.join("; "))
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
            Self::ApplyOutsideTransaction { .. } => {
                "finish or undo the statements that ran by hand, then record what you did with `shipgate migrate resolve --applied NAME` or `--rolled-back NAME` (`shipgate migrate status` lists it)".to_owned()
            }
            Self::AlreadyApplied { .. } => {
                "run `shipgate migrate status` to see what the other runner applied".to_owned()
            }
            Self::NotRecorded { .. } => {
                "run `shipgate migrate status` to see what the other runner reverted".to_owned()
            }
            Self::CreateBackupDir { .. } | Self::Backup { .. } | Self::VerifyBackup { .. } => {
                "set a writable `migrate.backup_dir`, or `migrate.backup = \"none\"` to migrate without a backup".to_owned()
            }
            Self::BackupLockTimeout { .. } => "wait for the sessions above to finish (or end them with `SELECT pg_terminate_backend(PID)`), or raise `migrate.lock_timeout`, then run `shipgate migrate apply` again".to_owned(),
            Self::BackupMissing { .. } => {
                "pass the path of a backup `shipgate migrate apply` took (see its `backup` output)".to_owned()
            }
            Self::Restore { path, .. } => format!(
                "the database may be partly restored: restore `{}` by hand (SQLite: copy it over the database file; PostgreSQL: `pg_restore --clean --if-exists --single-transaction --no-owner --dbname=DB FILE`)",
                path.display()
            ),
            Self::HistoryMismatch { table, path, .. } => format!(
                "do not migrate until they agree: compare `shipgate migrate status` with `pg_restore --data-only --table={table} --file=- {}`; another runner may have migrated meanwhile, or the restore skipped the table",
                path.display()
            ),
            Self::CatalogMismatch { path, .. } => format!(
                "the database is not as the backup left it: drop or recreate the objects named above by hand (compare with `pg_restore --schema-only --file=- {}`), then run `shipgate migrate status` before migrating again",
                path.display()
            ),
            Self::InvalidUrl { .. } => "write `postgres://USER:PASSWORD@HOST:5432/DATABASE?sslmode=require`".to_owned(),
            Self::Connect { .. } => "check the host, port, user and password of `database` (or `direct_url`), and `sslmode`; `psql \"$DATABASE_URL\" -c 'SELECT 1'` tests the same URL".to_owned(),
            Self::ConnectTimeout { address, .. } => format!(
                "is `{address}` a PostgreSQL server? check the host and port of `database` (or `direct_url`); on a slow network raise the URL's `connect_timeout` (e.g. `?connect_timeout=30`)"
            ),
            Self::NotPostgres { address, .. } => format!(
                "`{address}` is not a PostgreSQL server: check the host and port of `database` (or `direct_url`); PostgreSQL listens on 5432 by default"
            ),
            Self::Pooler { .. } => "migrate through a direct connection: add `direct_url = \"${DIRECT_URL}\"` under the environment in `shipgate.toml` (the server's port 5432, not the pooler's 6543)".to_owned(),
            Self::LockBusy { .. } => "wait for the other run to finish, or raise `migrate.lock_wait`; `SELECT pg_terminate_backend(PID)` stops a stuck holder".to_owned(),
            Self::LockTimeout { .. } => "wait for the sessions above to finish (or end them with `SELECT pg_terminate_backend(PID)`), or raise `migrate.lock_timeout` / `migrate.retries`, then run `shipgate migrate apply` again".to_owned(),
            Self::ClientTooOld { server_major, .. } => format!(
                "install the PostgreSQL {server_major} client tools (e.g. `apt-get install postgresql-client-{server_major}`) and put them first on `PATH`"
            ),
            Self::RunTool { tool, .. } => format!(
                "install the PostgreSQL client tools so `{tool}` is on `PATH` (e.g. `apt-get install postgresql-client`), or set `migrate.backup = \"none\"`"
            ),
            Self::ToolFailed { tool, .. } => format!("run `{tool}` by hand with the same `PG*` settings to see more"),
            Self::FailedMigration { name, .. } => format!(
                "finish or undo the statements that ran by hand, then either `shipgate migrate resolve --rolled-back {name}` (it runs again next time) or `shipgate migrate resolve --applied {name}` (it is recorded as applied)"
            ),
            Self::LayoutNeedsPostgres { .. } => "set `database = \"postgres://…\"`, or `[migrate] layout = \"plain\"`".to_owned(),
            Self::Resolve { .. } => "run `shipgate migrate status` to see the migration's state".to_owned(),
            Self::ToolTimeout { .. } => "raise `migrate.statement_timeout`".to_owned(),
            Self::Busy { .. } => "stop the other process using the database, then run the command again".to_owned(),
            Self::ConnectionLost { .. } => "the server ended the session (a restart, a failover, `pg_terminate_backend`) or the network dropped it; check the server, then run `shipgate migrate status` to see what is applied and `shipgate migrate apply` again".to_owned(),
            Self::Scratch { source, .. } if source.code.as_deref() == Some("42501") => "the role may not `CREATE DATABASE`: give it `CREATEDB`, or set `shadow_database = \"${SHADOW_DATABASE_URL}\"` under the environment in `shipgate.toml` (an empty database the check may reset, as Prisma's `shadowDatabaseUrl`)".to_owned(),
            Self::Scratch { .. } => "check that the role may create and drop databases (or that `shadow_database` is reachable), then run `shipgate migrate drift` again".to_owned(),
            Self::Task { .. } | Self::NotConnected => "run the command again; if it fails the same way, report it with this output".to_owned(),
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

    /// `migrate down`: runs `down` (the down section of an applied
    /// migration: its version and name, the down file's path and SQL) and
    /// removes the migration from the history (Prisma: marks its row
    /// `rolled_back_at`, as `prisma migrate resolve --rolled-back` would),
    /// both in one transaction: either both happen or neither does.
    async fn revert(&self, down: &Migration) -> Result<(), DatabaseError>;

    /// Backs the database up into `dir`. `None` when there is nothing to back
    /// up (the database does not exist yet or is empty).
    async fn backup(&self, dir: &Path) -> Result<Option<Backup>, DatabaseError>;

    /// The server's major version (PostgreSQL: 17), for picking client
    /// tools that can dump it; `None` for an engine without a server.
    async fn server_version_major(&self) -> Result<Option<u32>, DatabaseError> {
        Ok(None)
    }

    /// Takes the migration lock for the rest of this run (PostgreSQL: a
    /// session advisory lock); engines that need none do nothing.
    async fn lock(&self) -> Result<(), DatabaseError> {
        Ok(())
    }

    /// `migrate resolve`: with `Resolution::Applied`, records `migration`
    /// as applied without running it (ending its failed run, if any); with
    /// `Resolution::RolledBack`, ends its failed run so the next apply runs
    /// it again. Only engines that can fail part-way support it.
    async fn resolve(
        &self,
        migration: &Migration,
        resolution: Resolution,
    ) -> Result<(), DatabaseError> {
        let _ = resolution;
        Err(DatabaseError::Resolve {
            name: migration.id(),
            reason: format!(
                "`{}` never holds a failed migration (every migration runs in a transaction here)",
                self.history_table()
            ),
        })
    }

    /// Replaces the database's content with the backup at `path`, and says
    /// how far the result was proven equal to the backup.
    async fn restore(&self, path: &Path) -> Result<Exactness, DatabaseError>;

    /// Empties the database, back to how it was before a first run created
    /// it: the undo of a failed run that started from a new database.
    async fn clear(&self) -> Result<(), DatabaseError>;
}

/// The length in bytes of the UTF-8 byte-order mark `sql` starts with (0
/// without one). Editors on Windows save one; psql skips it (PostgreSQL 9.0)
/// and so do both engines here, keeping the file's byte offsets.
pub(crate) fn byte_order_mark_len(sql: &str) -> usize {
    if sql.starts_with('\u{feff}') {
        '\u{feff}'.len_utf8()
    } else {
        0
    }
}

/// Opens the engine for the environment's `database` URL, with the plain
/// history layout.
pub fn connect(config: &Config) -> Result<Box<dyn Database>, DatabaseError> {
    connect_with_layout(config, HistoryLayout::Plain)
}

/// Opens the engine for the environment's `database` URL (its `direct_url`
/// when set), reading and writing `layout`'s history table.
pub fn connect_with_layout(
    config: &Config,
    layout: HistoryLayout,
) -> Result<Box<dyn Database>, DatabaseError> {
    let database = config
        .environment
        .direct_database
        .as_ref()
        .or(config.environment.database.as_ref());
    match database {
        None => Err(DatabaseError::NotConfigured {
            environment: config.environment.name.clone(),
        }),
        Some(DatabaseUrl::Sqlite { .. }) if layout != HistoryLayout::Plain => {
            Err(DatabaseError::LayoutNeedsPostgres {
                layout: match layout {
                    HistoryLayout::Supabase => "supabase",
                    HistoryLayout::Dbmate => "dbmate",
                    HistoryLayout::Prisma | HistoryLayout::Plain => "prisma",
                },
            })
        }
        Some(DatabaseUrl::Sqlite { path, url }) => Ok(Box::new(sqlite::SqliteDatabase::new(
            path.clone(),
            url.to_string(),
        ))),
        Some(DatabaseUrl::Postgres { url }) => Ok(Box::new(connect_postgres(config, url, layout)?)),
    }
}

/// Opens the PostgreSQL engine for `url` with the `[migrate]` deadlines,
/// reading and writing `layout`'s history table.
pub fn connect_postgres(
    config: &Config,
    url: &crate::config::Masked,
    layout: HistoryLayout,
) -> Result<postgres::PostgresDatabase, DatabaseError> {
    postgres::PostgresDatabase::new(
        url,
        postgres::Settings {
            lock_timeout: config.migrate.lock_timeout,
            statement_timeout: config.migrate.statement_timeout,
            lock_wait: config.migrate.lock_wait,
            retries: config.migrate.retries,
        },
        layout,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lost(rolled_back: bool) -> DatabaseError {
        DatabaseError::ConnectionLost {
            database: "postgres://***@db/app".into(),
            operation: "applying migration `0002`".into(),
            rolled_back,
            source: EngineMessage {
                message: "terminating connection due to administrator command".into(),
                code: Some("57P01".into()),
            },
        }
    }

    // issue 10, item 4: a lost session is the infrastructure's failure, not
    // the migration's; it left nothing behind only inside an uncommitted
    // transaction.
    #[test]
    fn a_lost_connection_is_not_a_migration_failure() {
        assert!(!lost(true).is_migration_failure());
        assert!(lost(true).rolled_back());
        assert!(!lost(false).rolled_back());
        assert_eq!(
            crate::migrate::MigrateError::from(lost(false)).exit_status(),
            crate::exit::ExitStatus::Infrastructure
        );
    }
}
