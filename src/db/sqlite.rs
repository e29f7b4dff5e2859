//! The SQLite engine (`sqlite://PATH`), on rusqlite.
//!
//! rusqlite blocks, so every call opens its own connection inside
//! `tokio::task::spawn_blocking`; the database file is the only shared state.
//! Reading never creates the file: `status` and `plan` on a fresh checkout
//! leave no `app.db` behind. Each migration runs in `BEGIN IMMEDIATE … COMMIT`
//! together with its history row. Backups and restores use SQLite's online
//! backup API, so they are consistent even while the app has the file open.
//!
//! SQLite cannot run `VACUUM` inside a transaction and ignores
//! `PRAGMA foreign_keys` there: such statements do not belong in a migration.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::backup::StepResult;
use rusqlite::fallible_iterator::FallibleIterator as _;
use rusqlite::{Connection, OpenFlags, OptionalExtension as _, TransactionBehavior};

use super::{
    AppliedMigration, Backup, Database, DatabaseError, EngineMessage, Exactness, HISTORY_TABLE,
    Migration,
};

/// How long a call waits for another connection to release the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Who the history rows say applied a migration.
const APPLIED_BY: &str = concat!("shipgate ", env!("CARGO_PKG_VERSION"));

/// A SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteDatabase {
    path: PathBuf,
    description: String,
}

impl SqliteDatabase {
    /// The database at `path`; `description` is the masked URL for messages.
    /// Nothing is opened until a method needs it.
    pub fn new(path: PathBuf, description: String) -> Self {
        Self { path, description }
    }

    /// Runs `work` on the blocking pool with a clone of `self`.
    async fn blocking<T, F>(&self, operation: &'static str, work: F) -> Result<T, DatabaseError>
    where
        T: Send + 'static,
        F: FnOnce(&SqliteDatabase) -> Result<T, DatabaseError> + Send + 'static,
    {
        let database = self.clone();
        tokio::task::spawn_blocking(move || work(&database))
            .await
            .map_err(|source| DatabaseError::Task { operation, source })?
    }

    fn open_error(&self, error: &rusqlite::Error) -> DatabaseError {
        DatabaseError::Open {
            database: self.description.clone(),
            source: engine_message(error),
        }
    }

    /// Opens the file for reading; `None` when it does not exist.
    fn open_existing(&self) -> Result<Option<Connection>, DatabaseError> {
        if !self.path.exists() {
            return Ok(None);
        }
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|error| self.open_error(&error))?;
        connection
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|error| self.open_error(&error))?;
        Ok(Some(connection))
    }

    /// Opens the file for writing, creating it when it is missing.
    fn open_writable(&self) -> Result<Connection, DatabaseError> {
        if let Some(parent) = self.path.parent() {
            if !parent.as_os_str().is_empty() && !parent.exists() {
                return Err(DatabaseError::Open {
                    database: self.description.clone(),
                    source: EngineMessage {
                        message: format!("the directory `{}` does not exist", parent.display()),
                        code: None,
                    },
                });
            }
        }
        let connection = Connection::open(&self.path).map_err(|error| self.open_error(&error))?;
        connection
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|error| self.open_error(&error))?;
        Ok(connection)
    }

    fn busy(&self, operation: &'static str) -> DatabaseError {
        DatabaseError::Busy {
            database: self.description.clone(),
            operation,
            timeout: BUSY_TIMEOUT,
        }
    }

    fn read_history_error(&self, error: &rusqlite::Error) -> DatabaseError {
        DatabaseError::ReadHistory {
            database: self.description.clone(),
            table: HISTORY_TABLE.to_owned(),
            source: engine_message(error),
        }
    }

    fn read_applied(&self) -> Result<Vec<AppliedMigration>, DatabaseError> {
        let Some(connection) = self.open_existing()? else {
            return Ok(Vec::new());
        };
        let error = |error: rusqlite::Error| self.read_history_error(&error);
        let exists: bool = connection
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
                [HISTORY_TABLE],
                |row| row.get(0),
            )
            .map_err(error)?;
        if !exists {
            return Ok(Vec::new());
        }
        let mut statement = connection
            .prepare(
                "SELECT version, name, checksum, applied_at, duration_ms, applied_by \
                 FROM shipgate_migrations ORDER BY rowid",
            )
            .map_err(error)?;
        let rows = statement
            .query_map([], |row| {
                let duration: i64 = row.get(4)?;
                Ok(AppliedMigration {
                    version: row.get(0)?,
                    name: row.get(1)?,
                    checksum: row.get(2)?,
                    applied_at: row.get(3)?,
                    duration: Duration::from_millis(u64::try_from(duration).unwrap_or(0)),
                    applied_by: row.get(5)?,
                    failure: None,
                })
            })
            .map_err(error)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(error)
    }

    fn create_history(&self) -> Result<(), DatabaseError> {
        let connection = self.open_writable()?;
        connection
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS shipgate_migrations (
                    version TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    checksum TEXT NOT NULL,
                    applied_at TEXT NOT NULL,
                    duration_ms INTEGER NOT NULL,
                    applied_by TEXT
                )",
            )
            .map_err(|error| DatabaseError::CreateHistory {
                database: self.description.clone(),
                table: HISTORY_TABLE.to_owned(),
                source: engine_message(&error),
            })
    }

    fn apply_blocking(&self, migration: &Migration) -> Result<AppliedMigration, DatabaseError> {
        let mut connection = self.open_writable()?;
        let failed = |offset: Option<usize>, source: EngineMessage| DatabaseError::ApplyMigration {
            version: migration.version.clone(),
            offset,
            source,
        };
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|error| failed(None, engine_message(&error)))?;
        let recorded: Option<String> = transaction
            .query_row(
                "SELECT version FROM shipgate_migrations WHERE version = ?1",
                [&migration.version],
                |row| row.get(0),
            )
            .optional()
            .map_err(|error| self.read_history_error(&error))?;
        if let Some(version) = recorded {
            return Err(DatabaseError::AlreadyApplied { version });
        }
        let started = Instant::now();
        run_script(&transaction, &migration.sql)
            .map_err(|(offset, source)| failed(offset, source))?;
        let duration = started.elapsed();
        let applied = AppliedMigration {
            version: migration.version.clone(),
            name: migration.name.clone(),
            checksum: migration.checksum.clone(),
            applied_at: jiff::Timestamp::now()
                .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string(),
            duration,
            applied_by: Some(APPLIED_BY.to_owned()),
            failure: None,
        };
        let duration_ms = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        transaction
            .execute(
                "INSERT INTO shipgate_migrations (version, name, checksum, applied_at, duration_ms, applied_by) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![
                    applied.version,
                    applied.name,
                    applied.checksum,
                    applied.applied_at,
                    duration_ms,
                    applied.applied_by
                ],
            )
            .map_err(|error| failed(None, engine_message(&error)))?;
        transaction
            .commit()
            .map_err(|error| failed(None, engine_message(&error)))?;
        Ok(applied)
    }

    /// `migrate down`: runs `down`'s SQL and deletes its history row in one
    /// `BEGIN IMMEDIATE` transaction.
    fn revert_blocking(&self, down: &Migration) -> Result<(), DatabaseError> {
        let mut connection = self.open_writable()?;
        let failed = |offset: Option<usize>, source: EngineMessage| DatabaseError::ApplyMigration {
            version: down.version.clone(),
            offset,
            source,
        };
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|error| failed(None, engine_message(&error)))?;
        run_script(&transaction, &down.sql).map_err(|(offset, source)| failed(offset, source))?;
        let removed = transaction
            .execute(
                "DELETE FROM shipgate_migrations WHERE version = ?1",
                [&down.version],
            )
            .map_err(|error| failed(None, engine_message(&error)))?;
        if removed == 0 {
            return Err(DatabaseError::NotRecorded {
                version: down.version.clone(),
                table: HISTORY_TABLE.to_owned(),
            });
        }
        transaction
            .commit()
            .map_err(|error| failed(None, engine_message(&error)))
    }

    /// No file, an empty file, or a database without a single table, index,
    /// view or trigger (e.g. one [`Database::clear`] emptied).
    fn is_new_blocking(&self) -> Result<bool, DatabaseError> {
        match fs_err::metadata(&self.path) {
            Ok(metadata) if metadata.len() == 0 => return Ok(true),
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(true),
            Err(error) => {
                return Err(DatabaseError::Open {
                    database: self.description.clone(),
                    source: EngineMessage {
                        message: error.to_string(),
                        code: None,
                    },
                });
            }
        }
        let Some(connection) = self.open_existing()? else {
            return Ok(true);
        };
        let objects: i64 = connection
            .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))
            .map_err(|error| self.read_history_error(&error))?;
        Ok(objects == 0)
    }

    fn backup_blocking(&self, dir: &Path) -> Result<Option<Backup>, DatabaseError> {
        if self.is_new_blocking()? {
            return Ok(None);
        }
        fs_err::create_dir_all(dir).map_err(|source| DatabaseError::CreateBackupDir {
            path: dir.to_owned(),
            source,
        })?;
        let path = backup_path(&self.path, dir, jiff::Timestamp::now());
        let backup_error = |error: &rusqlite::Error| DatabaseError::Backup {
            database: self.description.clone(),
            path: path.clone(),
            source: engine_message(error),
        };
        let source = self.open_writable()?;
        let mut destination = Connection::open(&path).map_err(|error| backup_error(&error))?;
        copy_pages(&source, &mut destination).map_err(|error| match error {
            CopyError::Engine(error) => backup_error(&error),
            CopyError::Timeout => self.busy("be backed up"),
        })?;
        let verdict: String = destination
            .query_row("PRAGMA quick_check", [], |row| row.get(0))
            .map_err(|error| backup_error(&error))?;
        if verdict != "ok" {
            return Err(DatabaseError::VerifyBackup {
                path,
                detail: verdict,
            });
        }
        drop(destination);
        let bytes = fs_err::metadata(&path).map_or(0, |metadata| metadata.len());
        Ok(Some(Backup {
            path,
            bytes,
            position: None,
        }))
    }

    fn restore_blocking(&self, backup: &Path) -> Result<(), DatabaseError> {
        if !backup.is_file() {
            return Err(DatabaseError::BackupMissing {
                path: backup.to_owned(),
            });
        }
        let restore_error = |error: &rusqlite::Error| DatabaseError::Restore {
            database: self.description.clone(),
            path: backup.to_owned(),
            source: engine_message(error),
        };
        let source = Connection::open_with_flags(
            backup,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|error| restore_error(&error))?;
        let mut destination = self.open_writable()?;
        copy_pages(&source, &mut destination).map_err(|error| match error {
            CopyError::Engine(error) => restore_error(&error),
            CopyError::Timeout => self.busy("be restored"),
        })
    }

    /// Copies an empty in-memory database over the file: the backup API
    /// then truncates it, with no window where the file is missing.
    fn clear_blocking(&self) -> Result<(), DatabaseError> {
        let clear_error = |error: &rusqlite::Error| DatabaseError::Restore {
            database: self.description.clone(),
            path: PathBuf::from(":memory:"),
            source: engine_message(error),
        };
        let source = Connection::open_in_memory().map_err(|error| clear_error(&error))?;
        let mut destination = self.open_writable()?;
        copy_pages(&source, &mut destination).map_err(|error| match error {
            CopyError::Engine(error) => clear_error(&error),
            CopyError::Timeout => self.busy("be emptied"),
        })
    }
}

#[async_trait::async_trait]
impl Database for SqliteDatabase {
    fn describe(&self) -> String {
        self.description.clone()
    }

    fn history_table(&self) -> &str {
        HISTORY_TABLE
    }

    async fn is_new(&self) -> Result<bool, DatabaseError> {
        self.blocking("is_new", SqliteDatabase::is_new_blocking)
            .await
    }

    async fn ensure_history(&self) -> Result<(), DatabaseError> {
        self.blocking("ensure_history", SqliteDatabase::create_history)
            .await
    }

    async fn applied(&self) -> Result<Vec<AppliedMigration>, DatabaseError> {
        self.blocking("applied", SqliteDatabase::read_applied).await
    }

    async fn apply(&self, migration: &Migration) -> Result<AppliedMigration, DatabaseError> {
        let migration = migration.clone();
        self.blocking("apply", move |database| database.apply_blocking(&migration))
            .await
    }

    async fn revert(&self, down: &Migration) -> Result<(), DatabaseError> {
        let down = down.clone();
        self.blocking("revert", move |database| database.revert_blocking(&down))
            .await
    }

    async fn backup(&self, dir: &Path) -> Result<Option<Backup>, DatabaseError> {
        let dir = dir.to_owned();
        self.blocking("backup", move |database| database.backup_blocking(&dir))
            .await
    }

    async fn restore(&self, path: &Path) -> Result<Exactness, DatabaseError> {
        let path = path.to_owned();
        self.blocking("restore", move |database| database.restore_blocking(&path))
            .await
            .map(|()| Exactness::ByCopy)
    }

    async fn clear(&self) -> Result<(), DatabaseError> {
        self.blocking("clear", SqliteDatabase::clear_blocking).await
    }
}

/// `<dir>/<stem>-<UTC timestamp>.sqlite`, with `-2`, `-3`… when a backup of
/// the same second exists.
fn backup_path(database: &Path, dir: &Path, now: jiff::Timestamp) -> PathBuf {
    let stem = database
        .file_stem()
        .map_or_else(|| "database".into(), |stem| stem.to_string_lossy());
    let stamp = now.strftime("%Y%m%dT%H%M%SZ").to_string();
    let mut path = dir.join(format!("{stem}-{stamp}.sqlite"));
    let mut counter = 2;
    while path.exists() {
        path = dir.join(format!("{stem}-{stamp}-{counter}.sqlite"));
        counter += 1;
    }
    path
}

/// Why [`copy_pages`] stopped.
enum CopyError {
    /// SQLite refused.
    Engine(rusqlite::Error),
    /// Another connection kept the file busy past [`BUSY_TIMEOUT`].
    Timeout,
}

/// Copies every page of `source` into `destination` with the backup API,
/// retrying while another connection is busy, up to [`BUSY_TIMEOUT`].
fn copy_pages(source: &Connection, destination: &mut Connection) -> Result<(), CopyError> {
    let backup = rusqlite::backup::Backup::new(source, destination).map_err(CopyError::Engine)?;
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        match backup.step(-1).map_err(CopyError::Engine)? {
            StepResult::Done => return Ok(()),
            StepResult::More | StepResult::Busy | StepResult::Locked
                if Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            _ => return Err(CopyError::Timeout),
        }
    }
}

/// Runs every statement of `sql` in order. On failure returns the byte offset
/// in `sql` of the failing token (syntax errors) or statement (run-time
/// errors), when it can be found, and SQLite's message.
fn run_script(connection: &Connection, sql: &str) -> Result<(), (Option<usize>, EngineMessage)> {
    // SQLite's tokenizer refuses a byte-order mark; skip it as psql does.
    let mut cursor = super::byte_order_mark_len(sql);
    let mut batch = rusqlite::Batch::new(connection, &sql[cursor..]);
    // `cursor`: where the next statement's text starts. SQLite hands back
    // each statement's text, leading comments included, in file order.
    loop {
        let statement = batch.next().map_err(|error| {
            (
                prepare_error_offset(sql, cursor, &error),
                engine_message(&error),
            )
        })?;
        let Some(mut statement) = statement else {
            return Ok(());
        };
        let start = match statement.expanded_sql() {
            Some(text) => match sql[cursor..].find(text.as_str()) {
                Some(found) => {
                    let start = cursor + found;
                    cursor = start + text.len();
                    Some(first_token(sql, start))
                }
                None => None,
            },
            None => None,
        };
        let mut rows = statement.raw_query();
        loop {
            match rows.next() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(error) => return Err((start, engine_message(&error))),
            }
        }
    }
}

/// The offset of a statement that failed to prepare: SQLite's own offset of
/// the bad token when it gives one (relative to the text it was handed, a
/// suffix of `sql`), else the start of the statement at `cursor`.
fn prepare_error_offset(sql: &str, cursor: usize, error: &rusqlite::Error) -> Option<usize> {
    if let rusqlite::Error::SqlInputError {
        sql: input, offset, ..
    } = error
    {
        if let (Ok(offset), Some(base)) =
            (usize::try_from(*offset), sql.len().checked_sub(input.len()))
        {
            if sql[base..] == **input {
                return Some(base + offset);
            }
        }
    }
    (cursor < sql.len()).then(|| first_token(sql, cursor))
}

/// Skips whitespace and `--` / `/* */` comments from `start`.
fn first_token(sql: &str, start: usize) -> usize {
    let mut position = start;
    loop {
        let rest = &sql[position..];
        let trimmed = rest.trim_start();
        position += rest.len() - trimmed.len();
        if trimmed.starts_with("--") {
            position += trimmed.find('\n').map_or(trimmed.len(), |end| end + 1);
        } else if let Some(comment) = trimmed.strip_prefix("/*") {
            position += comment.find("*/").map_or(trimmed.len(), |end| end + 4);
        } else {
            return position;
        }
    }
}

/// SQLite's own message for `error`, without the SQL text rusqlite appends.
fn engine_message(error: &rusqlite::Error) -> EngineMessage {
    match error {
        rusqlite::Error::SqliteFailure(failure, message) => EngineMessage {
            message: message.clone().unwrap_or_else(|| failure.to_string()),
            code: Some(format!("{:?}", failure.code)),
        },
        rusqlite::Error::SqlInputError { error, msg, .. } => EngineMessage {
            message: msg.clone(),
            code: Some(format!("{:?}", error.code)),
        },
        other => EngineMessage {
            message: other.to_string(),
            code: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn migration(version: &str, name: &str, sql: &str) -> Migration {
        Migration {
            version: version.to_owned(),
            name: name.to_owned(),
            path: PathBuf::from(format!("migrations/{version}_{name}.sql")),
            sql: sql.to_owned(),
            checksum: "0".repeat(64),
            outside_transaction: None,
        }
    }

    fn database(dir: &Path) -> SqliteDatabase {
        SqliteDatabase::new(dir.join("app.db"), "sqlite://app.db".to_owned())
    }

    #[tokio::test]
    async fn reading_a_missing_database_does_not_create_it() {
        let dir = tempfile::tempdir().unwrap();
        let database = database(dir.path());
        assert!(database.applied().await.unwrap().is_empty());
        assert!(database.is_new().await.unwrap());
        assert!(
            database
                .backup(&dir.path().join("backups"))
                .await
                .unwrap()
                .is_none()
        );
        assert!(!dir.path().join("app.db").exists());
    }

    #[tokio::test]
    async fn applies_sql_and_history_row_together() {
        let dir = tempfile::tempdir().unwrap();
        let database = database(dir.path());
        database.ensure_history().await.unwrap();
        let applied = database
            .apply(&migration(
                "0001",
                "users",
                "CREATE TABLE users (id INTEGER);",
            ))
            .await
            .unwrap();
        assert_eq!(applied.version, "0001");
        assert!(applied.applied_at.ends_with('Z'));
        let history = database.applied().await.unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(
            (
                &history[0].version,
                &history[0].checksum,
                &history[0].applied_at,
                &history[0].applied_by
            ),
            (
                &applied.version,
                &applied.checksum,
                &applied.applied_at,
                &applied.applied_by
            )
        );
        let error = database
            .apply(&migration("0001", "users", "SELECT 1;"))
            .await
            .unwrap_err();
        assert!(
            matches!(error, DatabaseError::AlreadyApplied { .. }),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_failing_statement_rolls_back_and_points_at_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let database = database(dir.path());
        database.ensure_history().await.unwrap();
        let sql = "CREATE TABLE a (id INTEGER UNIQUE);\n-- second\nINSERT INTO a VALUES (1);\nINSERT INTO a VALUES (1);\n";
        let error = database
            .apply(&migration("0001", "a", sql))
            .await
            .unwrap_err();
        let DatabaseError::ApplyMigration {
            offset: Some(offset),
            source,
            ..
        } = error
        else {
            panic!("{error:?}");
        };
        assert_eq!(sql[..offset].matches('\n').count() + 1, 4);
        assert!(
            source.message.contains("UNIQUE constraint failed"),
            "{source}"
        );
        assert!(database.applied().await.unwrap().is_empty());
        let connection = Connection::open(dir.path().join("app.db")).unwrap();
        let tables: i64 = connection
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'a'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0);
    }

    #[tokio::test]
    async fn a_syntax_error_points_at_the_bad_token() {
        let dir = tempfile::tempdir().unwrap();
        let database = database(dir.path());
        database.ensure_history().await.unwrap();
        let sql = "CREATE TABLE a (id INTEGER);\n\nCREAT TABLE b (id INTEGER);\n";
        let error = database
            .apply(&migration("0001", "a", sql))
            .await
            .unwrap_err();
        let DatabaseError::ApplyMigration {
            offset: Some(offset),
            source,
            ..
        } = error
        else {
            panic!("{error:?}");
        };
        assert_eq!(&sql[offset..offset + 5], "CREAT");
        assert!(source.message.contains("syntax error"), "{source}");
    }

    #[tokio::test]
    async fn backup_and_restore_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let database = database(dir.path());
        database.ensure_history().await.unwrap();
        database
            .apply(&migration("0001", "a", "CREATE TABLE a (id INTEGER);"))
            .await
            .unwrap();
        let backup = database
            .backup(&dir.path().join("backups"))
            .await
            .unwrap()
            .unwrap();
        assert!(
            backup
                .path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("app-")
        );
        assert!(backup.bytes > 0);
        database
            .apply(&migration("0002", "b", "CREATE TABLE b (id INTEGER);"))
            .await
            .unwrap();
        database.restore(&backup.path).await.unwrap();
        let versions: Vec<String> = database
            .applied()
            .await
            .unwrap()
            .into_iter()
            .map(|row| row.version)
            .collect();
        assert_eq!(versions, ["0001"]);
        let missing = database
            .restore(&dir.path().join("nope.sqlite"))
            .await
            .unwrap_err();
        assert!(matches!(missing, DatabaseError::BackupMissing { .. }));
    }

    #[tokio::test]
    async fn clear_empties_a_database() {
        let dir = tempfile::tempdir().unwrap();
        let database = database(dir.path());
        database.ensure_history().await.unwrap();
        database
            .apply(&migration("0001", "a", "CREATE TABLE a (id INTEGER);"))
            .await
            .unwrap();
        assert!(!database.is_new().await.unwrap());
        database.clear().await.unwrap();
        assert!(database.is_new().await.unwrap());
        assert!(database.applied().await.unwrap().is_empty());
        let connection = Connection::open(dir.path().join("app.db")).unwrap();
        let objects: i64 = connection
            .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))
            .unwrap();
        assert_eq!(objects, 0);
    }

    #[test]
    fn skips_comments_to_the_first_token() {
        let sql = "  -- a\n/* b */\n  SELECT 1";
        assert_eq!(&sql[first_token(sql, 0)..], "SELECT 1");
    }
}
