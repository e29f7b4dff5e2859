//! The PostgreSQL engine (`postgres://…`, tokio-postgres, TLS per `sslmode`
//! with rustls): shipgate's plain history table `shipgate_migrations`, one
//! session per run holding a session-level advisory lock, each migration in
//! an explicit transaction with its history row, and `pg_dump`/`pg_restore`
//! backups.
//!
//! It owns the connection, locking and running SQL; which migrations to run
//! and what to report is `migrate`'s. Statement splitting lives in [`split`],
//! a file sent as one message in [`batch`], TLS in [`tls`], the client tools
//! in [`dump`].

mod batch;
pub mod catalog;
mod dbmate;
mod down;
mod dump;
mod failed;
mod prisma;
pub mod scratch;
pub(crate) mod split;
mod supabase;
mod tls;

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Mutex;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, config::Host};

use self::batch::{Batch, Step, quote_literal, run_counted};
use self::catalog::Catalog;
use super::{
    AppliedMigration, Backup, Database, DatabaseError, EngineMessage, Exactness, HistoryLayout,
    Migration, Resolution,
};
use crate::config::Masked;

const APPLIED_BY: &str = concat!("shipgate ", env!("CARGO_PKG_VERSION"));

/// shipgate's advisory lock key (`SHIP` in ASCII), held for the whole run.
pub const LOCK_KEY: i64 = 0x5348_4950;

/// The history table of the plain layout.
const HISTORY_TABLE: &str = "shipgate_migrations";

/// The plain layout's history table.
const PLAIN_CREATE: &str = "CREATE TABLE IF NOT EXISTS shipgate_migrations (
    version text PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    duration_ms bigint NOT NULL DEFAULT 0,
    applied_by text,
    success boolean NOT NULL DEFAULT true,
    logs text
)";

/// How long one connection attempt may take when the URL sets no
/// `connect_timeout`.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The port transaction poolers (Supabase's Supavisor, `PgBouncer` setups)
/// listen on; session locks do not survive them.
const POOLER_PORT: u16 = 6543;

/// Deadlines and retries from `[migrate]`.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// `SET LOCAL lock_timeout`; also how long `pg_dump` waits for each
    /// table's lock.
    pub lock_timeout: Duration,
    /// `SET LOCAL statement_timeout`; also the deadline of `pg_dump`/`pg_restore`.
    pub statement_timeout: Duration,
    /// How long to wait for another runner's advisory lock.
    pub lock_wait: Duration,
    /// How often a statement outside a transaction that hit `lock_timeout`
    /// is retried.
    pub retries: u32,
}

/// Where the URL points, for messages and the client tools (never the
/// password in messages).
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) database: String,
    pub(crate) user: String,
    pub(crate) password: Option<String>,
    pub(crate) ssl_mode: tls::SslMode,
    pub(crate) ssl_root_cert: Option<PathBuf>,
    /// `PGOPTIONS` for the client tools.
    pub(crate) options: Option<String>,
    /// The URL's `connect_timeout`, for the client tools.
    pub(crate) connect_timeout: Duration,
}

impl Target {
    /// `host:port`, as messages name the server.
    pub(crate) fn address(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('/') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "host `{}` port {} database `{}` as `{}`",
            self.host, self.port, self.database, self.user
        )
    }
}

/// A PostgreSQL database; connects on first use and keeps that session (and
/// its advisory lock) until dropped.
pub struct PostgresDatabase {
    description: String,
    config: tokio_postgres::Config,
    target: Target,
    settings: Settings,
    layout: HistoryLayout,
    session: Mutex<Option<Client>>,
    /// The session's backend pid, once connected.
    backend_pid: AtomicI32,
    /// Whether [`Database::lock`] took the migration lock: a session that
    /// replaces a lost one takes it again before anything runs on it.
    locked: AtomicBool,
    /// A second connection, opened with the lock: it checks the lock is not
    /// shared (a pooler) and asks who blocks a waiting statement.
    observer: Mutex<Option<Client>>,
}

/// How many rounds of `pg_backend_pid()` on both connections the pooler
/// check reads before any lock is taken.
const POOLER_PROBES: usize = 3;

/// How long a statement runs before the observer first asks who blocks it,
/// and then how often (never later than half of `lock_timeout`).
const WATCH_FIRST: Duration = Duration::from_millis(100);
const WATCH_EVERY: Duration = Duration::from_millis(250);

impl PostgresDatabase {
    /// Reads the URL; connects later, on first use.
    pub fn new(
        url: &Masked,
        settings: Settings,
        layout: HistoryLayout,
    ) -> Result<Self, DatabaseError> {
        let description = url.to_string();
        let invalid = |reason: String| DatabaseError::InvalidUrl {
            database: description.clone(),
            reason,
        };
        let mut parsed =
            url::Url::parse(url.expose()).map_err(|error| invalid(error.to_string()))?;
        let mut ssl_mode = tls::SslMode::Prefer;
        let mut ssl_root_cert = None;
        let mut schema = None;
        let mut kept: Vec<(String, String)> = Vec::new();
        for (key, value) in parsed.query_pairs() {
            match key.as_ref() {
                "sslmode" => {
                    ssl_mode = tls::SslMode::parse(&value).ok_or_else(|| {
                        invalid(format!(
                            "`sslmode={value}` is not one of `disable`, `allow`, `prefer`, `require`, `verify-ca`, `verify-full`"
                        ))
                    })?;
                }
                "sslrootcert" => ssl_root_cert = Some(PathBuf::from(value.as_ref())),
                // Prisma's URL parameters: `schema` is the search path, the
                // rest tune Prisma's own pool and mean nothing here.
                "schema" => schema = Some(value.into_owned()),
                "pgbouncer" if value == "true" => {
                    return Err(DatabaseError::Pooler {
                        database: description.clone(),
                        reason: "the URL says `pgbouncer=true`".to_owned(),
                    });
                }
                "pgbouncer"
                | "connection_limit"
                | "pool_timeout"
                | "socket_timeout"
                | "statement_cache_size"
                | "sslaccept" => {}
                _ => kept.push((key.into_owned(), value.into_owned())),
            }
        }
        parsed.set_query(None);
        if !kept.is_empty() {
            parsed.query_pairs_mut().extend_pairs(kept);
        }
        let mut config: tokio_postgres::Config = parsed
            .as_str()
            .parse()
            .map_err(|error: tokio_postgres::Error| invalid(error.to_string()))?;
        config.ssl_mode(ssl_mode.driver());
        config.application_name("shipgate");
        if let Some(schema) = &schema {
            let quoted = format!("\"{}\"", schema.replace('"', "\"\""));
            let options = format!("-c search_path={}", quoted.replace(' ', "\\ "));
            config.options(options);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(host)) => host.clone(),
            Some(Host::Unix(path)) => path.display().to_string(),
            None => "localhost".to_owned(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let user = config
            .get_user()
            .map_or_else(|| std::env::var("USER").unwrap_or_default(), str::to_owned);
        let database = config
            .get_dbname()
            .map_or_else(|| user.clone(), str::to_owned);
        let password = config
            .get_password()
            .map(|password| String::from_utf8_lossy(password).into_owned());
        let connect_timeout = config
            .get_connect_timeout()
            .copied()
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        Ok(Self {
            description,
            config,
            target: Target {
                host,
                port,
                database,
                user,
                password,
                ssl_mode,
                ssl_root_cert,
                options: None,
                connect_timeout,
            },
            settings,
            layout,
            session: Mutex::new(None),
            backend_pid: AtomicI32::new(0),
            locked: AtomicBool::new(false),
            observer: Mutex::new(None),
        })
    }

    /// The session, connecting first when there is none or the last one
    /// was lost. A new session that replaces one holding the migration lock
    /// takes the lock again before it is used: the lock went with the lost
    /// session (issue 10, item 4).
    async fn client(&self) -> Result<tokio::sync::MutexGuard<'_, Option<Client>>, DatabaseError> {
        let mut session = self.session.lock().await;
        if session.as_ref().is_some_and(Client::is_closed) {
            *session = None;
        }
        if session.is_none() {
            // The observer checked the lost session's lock; a new one checks the new lock.
            *self.observer.lock().await = None;
            let client = self.connect().await?;
            let pid = self.server_pid(&client).await?;
            self.backend_pid.store(pid, Ordering::Relaxed);
            if self.locked.load(Ordering::Relaxed) {
                self.take_locks(&client).await?;
            }
            *session = Some(client);
        }
        Ok(session)
    }

    /// Takes the migration lock (and Prisma's, for its layout) on `client`
    /// and opens the observer that checks it is not shared.
    async fn take_locks(&self, client: &Client) -> Result<(), DatabaseError> {
        // The pooler check first: a lock taken through a pooler would stay
        // on one of its server connections (issue 10, item 12).
        self.open_observer(client).await?;
        self.take_lock(client, LOCK_KEY, "another `shipgate migrate`")
            .await?;
        if self.layout == HistoryLayout::Prisma {
            self.take_lock(client, prisma::LOCK_KEY, "`prisma migrate` (Prisma's lock)")
                .await?;
        }
        Ok(())
    }

    /// `error` as [`DatabaseError::ConnectionLost`] when it means the session
    /// is gone, while `operation` ran; `rolled_back` says whether what it
    /// did was inside a transaction that was never committed.
    fn lost(
        &self,
        error: &tokio_postgres::Error,
        operation: impl FnOnce() -> String,
        rolled_back: bool,
    ) -> Option<DatabaseError> {
        is_connection_lost(error).then(|| DatabaseError::ConnectionLost {
            database: self.description.clone(),
            operation: operation(),
            rolled_back,
            source: driver_message(error),
        })
    }

    /// After `migration` lost its session: on a new session (which takes
    /// the migration lock again), forget its started row when nothing of it
    /// can have run, else store the error in its failed row, so the history
    /// says why it stopped.
    async fn record_lost(&self, migration: &Migration, error: &DatabaseError) {
        let Ok(session) = self.client().await else {
            return;
        };
        let Some(client) = session.as_ref() else {
            return;
        };
        if error.rolled_back() {
            let _ = self.forget_started(client, migration).await;
        } else {
            let _ = self
                .record_failed(client, migration, &error_logs(error))
                .await;
        }
    }

    async fn connect(&self) -> Result<Client, DatabaseError> {
        if self.target.port == POOLER_PORT {
            return Err(DatabaseError::Pooler {
                database: self.description.clone(),
                reason: format!("port {POOLER_PORT} is where transaction poolers listen"),
            });
        }
        let tls_tried = if self.target.ssl_mode == tls::SslMode::Disable {
            "TLS not tried (`sslmode=disable`)".to_owned()
        } else {
            format!("TLS tried (`sslmode={}`)", self.target.ssl_mode.as_str())
        };
        let failed = |message: String| DatabaseError::Connect {
            target: self.target.to_string(),
            tls: tls_tried.clone(),
            source: EngineMessage {
                message,
                code: None,
            },
        };
        let root_cert = match &self.target.ssl_root_cert {
            Some(path) => Some(fs_err::read(path).map_err(|error| failed(error.to_string()))?),
            None => None,
        };
        let connector =
            tls::connector(self.target.ssl_mode, root_cert.as_deref()).map_err(failed)?;
        // The driver's `connect_timeout` bounds the TCP connect only: a port
        // that accepts and never answers (or answers something else) would
        // hang the TLS and startup handshake forever (issue 10, item 6).
        let deadline = self.connect_deadline();
        let (client, connection) = tokio::time::timeout(deadline, self.config.connect(connector))
            .await
            .map_err(|_| DatabaseError::ConnectTimeout {
                address: self.target.address(),
                timeout: deadline,
            })?
            .map_err(|error| {
                if speaks_other_protocol(&error) {
                    DatabaseError::NotPostgres {
                        address: self.target.address(),
                        source: driver_message(&error),
                    }
                } else {
                    failed(driver_message(&error).message)
                }
            })?;
        tokio::spawn(connection);
        Ok(client)
    }

    /// The deadline of a whole connection attempt (TCP, TLS and the startup
    /// handshake): the URL's `connect_timeout` (10 s by default) for each
    /// host it lists, as libpq applies it.
    fn connect_deadline(&self) -> Duration {
        let per_host = self
            .config
            .get_connect_timeout()
            .copied()
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        let hosts = u32::try_from(self.config.get_hosts().len().max(1)).unwrap_or(u32::MAX);
        per_host.saturating_mul(hosts)
    }

    fn read_error(&self, error: &tokio_postgres::Error) -> DatabaseError {
        DatabaseError::ReadHistory {
            database: self.description.clone(),
            table: HISTORY_TABLE.to_owned(),
            source: driver_message(error),
        }
    }

    /// Takes the session advisory lock `key` by polling (never a blocking
    /// `pg_advisory_lock`, whose queue deadlocks with `CREATE INDEX
    /// CONCURRENTLY`), then checks the lock is really held by this session.
    async fn take_lock(&self, client: &Client, key: i64, owner: &str) -> Result<(), DatabaseError> {
        // `lock_wait` bounds the polling; a server that stops answering
        // mid-poll gets one connect deadline more, then the run ends.
        let deadline = self
            .settings
            .lock_wait
            .saturating_add(self.connect_deadline());
        self.within(
            deadline,
            "answer while the migration lock was taken",
            self.poll_lock(client, key, owner),
        )
        .await?
    }

    /// `work`'s result, or [`DatabaseError::Busy`] naming `operation` when it
    /// has not finished within `deadline`.
    async fn within<T>(
        &self,
        deadline: Duration,
        operation: &'static str,
        work: impl std::future::Future<Output = T>,
    ) -> Result<T, DatabaseError> {
        tokio::time::timeout(deadline, work)
            .await
            .map_err(|_| DatabaseError::Busy {
                database: self.description.clone(),
                operation,
                timeout: deadline,
            })
    }

    async fn poll_lock(&self, client: &Client, key: i64, owner: &str) -> Result<(), DatabaseError> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(50);
        loop {
            let row = client
                .query_one("SELECT pg_try_advisory_lock($1::bigint)", &[&key])
                .await
                .map_err(|error| self.read_error(&error))?;
            if row.get::<_, bool>(0) {
                break;
            }
            if started.elapsed() >= self.settings.lock_wait {
                let holders = lock_holders(client, key).await.unwrap_or_default();
                return Err(DatabaseError::LockBusy {
                    database: self.description.clone(),
                    owner: owner.to_owned(),
                    waited: self.settings.lock_wait,
                    holders,
                });
            }
            tokio::time::sleep(jitter(pause)).await;
            pause = (pause * 3 / 2).min(Duration::from_secs(2));
        }
        let held = client
            .query_one(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted \
                 AND pid = pg_backend_pid() AND classid = ($1::bigint >> 32)::oid \
                 AND objid = ($1::bigint & 4294967295)::oid AND objsubid = 1",
                &[&key],
            )
            .await
            .map_err(|error| self.read_error(&error))?;
        if held.get::<_, i64>(0) == 0 {
            // Best effort: through a pooler the unlock may reach yet another
            // server connection, which is why `open_observer` looks first.
            let _ = client
                .simple_query(&format!("SELECT pg_advisory_unlock({key})"))
                .await;
            return Err(DatabaseError::Pooler {
                database: self.description.clone(),
                reason:
                    "the session advisory lock this connection just took is not held by its backend"
                        .to_owned(),
            });
        }
        Ok(())
    }

    /// Runs `sql` on the session; see [`Self::watched`].
    async fn execute_watched(
        &self,
        client: &Client,
        sql: &str,
    ) -> Result<(), (tokio_postgres::Error, Vec<String>)> {
        let (result, blockers) = self.watched(client.batch_execute(sql)).await;
        result.map_err(|error| (error, blockers))
    }

    /// Awaits `run`, a request on the session. While it runs longer than a
    /// moment, the observer connection asks PostgreSQL who blocks it
    /// (`pg_blocking_pids`): once `lock_timeout` ends the wait there is
    /// nobody left to ask about, so the last sessions seen blocking it come
    /// back with its result.
    async fn watched<T>(&self, run: impl Future<Output = T>) -> (T, Vec<String>) {
        tokio::pin!(run);
        let pid = self.backend_pid.load(Ordering::Relaxed);
        let mut blockers = Vec::new();
        let lock_timeout = self.settings.lock_timeout;
        let mut pause = watch_pause(WATCH_FIRST, lock_timeout);
        loop {
            tokio::select! {
                biased;
                result = &mut run => return (result, blockers),
                () = tokio::time::sleep(pause) => {
                    let seen = self.blockers_of(pid).await;
                    if !seen.is_empty() {
                        blockers = seen;
                    }
                    pause = watch_pause(WATCH_EVERY, lock_timeout);
                }
            }
        }
    }

    /// The sessions `pid` waits behind, as the observer sees them now.
    async fn blockers_of(&self, pid: i32) -> Vec<String> {
        let observer = self.observer.lock().await;
        let Some(client) = observer.as_ref() else {
            return Vec::new();
        };
        let parameters: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&pid];
        let query = client.query(
            "SELECT a.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local socket'), \
             coalesce(a.state, ''), left(coalesce(a.query, ''), 200), \
             extract(epoch FROM now() - coalesce(a.xact_start, a.backend_start))::bigint \
             FROM pg_stat_activity a WHERE a.pid = ANY(pg_blocking_pids($1)) ORDER BY a.pid",
            &parameters,
        );
        // Only a report: an observer that stops answering must not hold
        // up the statement it watches.
        match tokio::time::timeout(self.connect_deadline(), query).await {
            Ok(Ok(rows)) => rows.iter().map(describe_session).collect(),
            Ok(Err(_)) | Err(_) => Vec::new(),
        }
    }

    /// The server backend `client` talks to now (`pg_backend_pid()`), read
    /// with the simple protocol: no prepared statement is left on the
    /// server, which a pooler may have given to another client by the next
    /// statement.
    async fn server_pid(&self, client: &Client) -> Result<i32, DatabaseError> {
        let deadline = self.connect_deadline();
        let messages = self
            .within(
                deadline,
                "answer `SELECT pg_backend_pid()`",
                client.simple_query("SELECT pg_backend_pid()"),
            )
            .await?
            .map_err(|error| self.read_error(&error))?;
        messages
            .iter()
            .find_map(|message| match message {
                tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0)?.parse().ok(),
                _ => None,
            })
            .ok_or_else(|| DatabaseError::ReadHistory {
                database: self.description.clone(),
                table: HISTORY_TABLE.to_owned(),
                source: EngineMessage {
                    message: "`SELECT pg_backend_pid()` returned no number".to_owned(),
                    code: None,
                },
            })
    }

    /// Opens the observer connection and, before any lock is taken, checks
    /// that the session and the observer each keep one server backend of
    /// their own across several statements. A transaction pooler
    /// (`PgBouncer`, Supavisor) hands a client whichever server connection
    /// is free per transaction, so the two share a backend (an idle pooler
    /// gives the observer the one the session just released) or one of them
    /// moves; a session lock taken through it would be left on a server
    /// connection other clients then use (issue 10, item 12). The check
    /// only reads `pg_backend_pid()`, so it leaves nothing behind.
    async fn open_observer(&self, client: &Client) -> Result<(), DatabaseError> {
        let mut observer = self.observer.lock().await;
        if observer.is_some() {
            return Ok(());
        }
        let second = self.connect().await?;
        let session_pid = self.backend_pid.load(Ordering::Relaxed);
        let observer_pid = self.server_pid(&second).await?;
        for _ in 0..POOLER_PROBES {
            let observer_now = self.server_pid(&second).await?;
            let session_now = self.server_pid(client).await?;
            if let Some(reason) = pooled(session_pid, observer_pid, session_now, observer_now) {
                return Err(DatabaseError::Pooler {
                    database: self.description.clone(),
                    reason,
                });
            }
        }
        *observer = Some(second);
        Ok(())
    }

    async fn history_exists(&self, client: &Client) -> Result<bool, DatabaseError> {
        let row = client
            .query_one(
                "SELECT to_regclass($1) IS NOT NULL",
                &[&self.history_table()],
            )
            .await
            .map_err(|error| self.read_error(&error))?;
        Ok(row.get(0))
    }

    /// Runs `migration` in one transaction with its history row.
    ///
    /// The whole file goes in one simple-query message (issue 10, "Performance"):
    /// `BEGIN`, the `SET LOCAL`s, the statements, and for the plain layout
    /// the history row and `COMMIT`, so a file costs one round trip instead
    /// of one per statement. PostgreSQL stops the message at the first
    /// error and answers each statement before it with its own
    /// `CommandComplete`, so counting those names the statement that failed
    /// without running anything again; its error position, counted in the
    /// message, is mapped back into the file.
    async fn apply_in_transaction(
        &self,
        client: &Client,
        migration: &Migration,
        statements: &[split::Statement<'_>],
    ) -> Result<AppliedMigration, DatabaseError> {
        let batch = Batch::new(
            &format!(
                "BEGIN; SET LOCAL lock_timeout = {}; SET LOCAL statement_timeout = {}",
                self.settings.lock_timeout.as_millis(),
                self.settings.statement_timeout.as_millis()
            ),
            statements,
            self.history_insert(migration).as_deref(),
        );
        let started = Instant::now();
        let (result, blockers) = self.watched(run_counted(client, &batch.text)).await;
        let duration = started.elapsed();
        let Err((completed, error)) = result else {
            if batch.commits {
                return Ok(Self::applied_row(migration, duration));
            }
            return self
                .finish_transaction(client, migration, duration)
                .await
                .map(|duration| Self::applied_row(migration, duration));
        };
        let position = error.as_db_error().and_then(|db| match db.position() {
            Some(tokio_postgres::error::ErrorPosition::Original(position)) => {
                usize::try_from(*position).ok()
            }
            _ => None,
        });
        let step = batch.failed_step(position, completed);
        // Until COMMIT ran, a session the server ended (it said so, after
        // answering each statement before) rolled the transaction back; a
        // socket that closed without a word, or a failed COMMIT, leaves
        // nobody able to tell.
        let rolled_back = error.as_db_error().is_some() && step != Step::Commit;
        let result = match step {
            Step::Statement(index) => Err(with_blockers(
                self.statement_error(
                    migration,
                    &statements[index],
                    &error,
                    (&batch.text, batch.starts[index]),
                    &[],
                    rolled_back,
                ),
                blockers,
            )),
            Step::History if error.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                Err(DatabaseError::AlreadyApplied {
                    version: migration.version.clone(),
                })
            }
            Step::Begin | Step::History | Step::Commit => {
                Err(self.transaction_error(migration, &error, rolled_back))
            }
        };
        let _ = client.batch_execute("ROLLBACK").await;
        result
    }

    /// The rest of a transaction whose history row its layout writes with
    /// its own queries: the row, then `COMMIT`. Returns the duration.
    async fn finish_transaction(
        &self,
        client: &Client,
        migration: &Migration,
        duration: Duration,
    ) -> Result<Duration, DatabaseError> {
        let result = async {
            let inserted = self
                .record_applied(client, migration, duration)
                .await
                .map_err(|error| self.transaction_error(migration, &error, true))?;
            if !inserted {
                return Err(DatabaseError::AlreadyApplied {
                    version: migration.version.clone(),
                });
            }
            client
                .batch_execute("COMMIT")
                .await
                .map_err(|error| self.transaction_error(migration, &error, false))?;
            Ok(duration)
        }
        .await;
        if result.is_err() {
            let _ = client.batch_execute("ROLLBACK").await;
        }
        result
    }

    /// `error` outside any statement of `migration` (`BEGIN`, the history
    /// row, `COMMIT`); `rolled_back` says whether a lost session lost the
    /// transaction with it.
    fn transaction_error(
        &self,
        migration: &Migration,
        error: &tokio_postgres::Error,
        rolled_back: bool,
    ) -> DatabaseError {
        self.lost(error, || applying(migration), rolled_back)
            .unwrap_or_else(|| DatabaseError::ApplyMigration {
                version: migration.version.clone(),
                offset: None,
                source: driver_message(error),
            })
    }

    /// The statement that records `migration` applied, as SQL text to send
    /// with the file (the plain layout only; the others keep their own
    /// queries). It fails on a row already there, which rolls the file
    /// back with it: another runner recorded it first.
    fn history_insert(&self, migration: &Migration) -> Option<String> {
        (self.layout == HistoryLayout::Plain).then(|| {
            format!(
                "INSERT INTO shipgate_migrations (version, name, checksum, duration_ms, applied_by, success) \
                 VALUES ({}, {}, {}, (extract(epoch FROM clock_timestamp() - now()) * 1000)::bigint, {}, true)",
                quote_literal(&migration.version),
                quote_literal(&migration.name),
                quote_literal(&migration.checksum),
                quote_literal(APPLIED_BY),
            )
        })
    }

    /// Runs `migration` statement by statement outside a transaction: a
    /// history row with `success = false` first (so a half-applied file is
    /// never mistaken for a pending one), `success = true` at the end.
    async fn apply_without_transaction(
        &self,
        client: &Client,
        migration: &Migration,
        statements: &[split::Statement<'_>],
    ) -> Result<AppliedMigration, DatabaseError> {
        // A session lost before the first statement ran lost nothing of the
        // file; after that, nobody can tell how much of it ran.
        let failed = |error: tokio_postgres::Error, rolled_back: bool| {
            self.lost(&error, || applying(migration), rolled_back)
                .unwrap_or_else(|| DatabaseError::ApplyMigration {
                    version: migration.version.clone(),
                    offset: None,
                    source: driver_message(&error),
                })
        };
        let inserted = self
            .record_started(client, migration)
            .await
            .map_err(|error| failed(error, true))?;
        if !inserted {
            return Err(DatabaseError::AlreadyApplied {
                version: migration.version.clone(),
            });
        }
        client
            .batch_execute(&format!(
                "SET lock_timeout = {}; SET statement_timeout = {};",
                self.settings.lock_timeout.as_millis(),
                self.settings.statement_timeout.as_millis()
            ))
            .await
            .map_err(|error| failed(error, true))?;
        let started = Instant::now();
        let mut ran: Vec<usize> = Vec::new();
        let mut outcome = Ok(());
        for statement in statements {
            let mut attempt = 0;
            loop {
                match self.execute_watched(client, statement.text).await {
                    Ok(()) => {
                        ran.push(split::line_of(&migration.sql, statement.offset));
                        break;
                    }
                    Err((error, _))
                        if error.code() == Some(&SqlState::LOCK_NOT_AVAILABLE)
                            && attempt < self.settings.retries =>
                    {
                        attempt += 1;
                        tokio::time::sleep(jitter(backoff(attempt))).await;
                    }
                    Err((error, blockers)) => {
                        outcome = Err(with_blockers(
                            self.statement_error(
                                migration,
                                statement,
                                &error,
                                (statement.text, 0),
                                &ran,
                                false,
                            ),
                            blockers,
                        ));
                        break;
                    }
                }
            }
            if outcome.is_err() {
                break;
            }
        }
        let _ = client
            .batch_execute("RESET lock_timeout; RESET statement_timeout")
            .await;
        if let Err(error) = outcome {
            if let DatabaseError::ConnectionLost { .. } = error {
                // Nothing more can be written on this session: `apply`
                // records the failure on a new one.
                return Err(error);
            }
            if ran.is_empty() {
                // Nothing ran: the database is as before, so forget the row
                // and let the next run simply try again.
                let _ = self.forget_started(client, migration).await;
                return Err(error);
            }
            let _ = self
                .record_failed(client, migration, &error_logs(&error))
                .await;
            return Err(match error {
                DatabaseError::ApplyMigration {
                    version,
                    offset,
                    source,
                }
                | DatabaseError::LockTimeout {
                    version,
                    offset,
                    source,
                    ..
                } => DatabaseError::ApplyOutsideTransaction {
                    version,
                    offset,
                    source,
                },
                other => other,
            });
        }
        let duration = started.elapsed();
        self.record_finished(client, migration, duration)
            .await
            .map_err(|error| failed(error, false))?;
        Ok(Self::applied_row(migration, duration))
    }

    /// Records `migration` applied inside its transaction; `false` when
    /// another runner recorded it first.
    async fn record_applied(
        &self,
        client: &Client,
        migration: &Migration,
        duration: Duration,
    ) -> Result<bool, tokio_postgres::Error> {
        match self.layout {
            HistoryLayout::Prisma => prisma::record_applied(client, migration, duration).await,
            HistoryLayout::Supabase => supabase::record(client, migration).await,
            HistoryLayout::Dbmate => dbmate::record(client, migration).await,
            HistoryLayout::Plain => client
                .execute(
                    "INSERT INTO shipgate_migrations (version, name, checksum, duration_ms, applied_by, success) \
                     VALUES ($1, $2, $3, $4, $5, true) ON CONFLICT (version) DO NOTHING",
                    &[
                        &migration.version,
                        &migration.name,
                        &migration.checksum,
                        &millis(duration),
                        &APPLIED_BY,
                    ],
                )
                .await
                .map(|inserted| inserted > 0),
        }
    }

    /// Records that `migration` started outside a transaction (plain:
    /// `success = false`; Prisma: `finished_at` NULL).
    async fn record_started(
        &self,
        client: &Client,
        migration: &Migration,
    ) -> Result<bool, tokio_postgres::Error> {
        match self.layout {
            HistoryLayout::Prisma => prisma::record_started(client, migration).await,
            // Their tables have no "started" state (their tools write the
            // row once the file has run): shipgate remembers the run aside.
            HistoryLayout::Supabase | HistoryLayout::Dbmate => {
                failed::record_started(client, migration).await
            }
            HistoryLayout::Plain => client
                .execute(
                    "INSERT INTO shipgate_migrations (version, name, checksum, duration_ms, applied_by, success) \
                     VALUES ($1, $2, $3, 0, $4, false) ON CONFLICT (version) DO NOTHING",
                    &[&migration.version, &migration.name, &migration.checksum, &APPLIED_BY],
                )
                .await
                .map(|inserted| inserted > 0),
        }
    }

    async fn record_finished(
        &self,
        client: &Client,
        migration: &Migration,
        duration: Duration,
    ) -> Result<(), tokio_postgres::Error> {
        match self.layout {
            HistoryLayout::Prisma => prisma::record_finished(client, migration).await,
            HistoryLayout::Supabase | HistoryLayout::Dbmate => {
                client.batch_execute("BEGIN").await?;
                let result = async {
                    self.record_applied(client, migration, duration).await?;
                    failed::forget(client, &migration.version).await?;
                    client.batch_execute("COMMIT").await
                }
                .await;
                if result.is_err() {
                    let _ = client.batch_execute("ROLLBACK").await;
                }
                result
            }
            HistoryLayout::Plain => client
                .execute(
                    "UPDATE shipgate_migrations SET success = true, duration_ms = $2, applied_at = now() WHERE version = $1",
                    &[&migration.version, &millis(duration)],
                )
                .await
                .map(drop),
        }
    }

    async fn forget_started(
        &self,
        client: &Client,
        migration: &Migration,
    ) -> Result<(), tokio_postgres::Error> {
        match self.layout {
            HistoryLayout::Prisma => prisma::forget_started(client, migration).await,
            HistoryLayout::Supabase | HistoryLayout::Dbmate => {
                failed::forget(client, &migration.version).await.map(drop)
            }
            HistoryLayout::Plain => client
                .execute(
                    "DELETE FROM shipgate_migrations WHERE version = $1 AND NOT success",
                    &[&migration.version],
                )
                .await
                .map(drop),
        }
    }

    /// Stores the error `migration` failed part-way with, where its layout
    /// keeps failed runs.
    async fn record_failed(
        &self,
        client: &Client,
        migration: &Migration,
        logs: &str,
    ) -> Result<(), tokio_postgres::Error> {
        match self.layout {
            HistoryLayout::Prisma => prisma::record_failed(client, migration, logs).await,
            HistoryLayout::Supabase | HistoryLayout::Dbmate => {
                failed::record_failed(client, migration, logs).await
            }
            HistoryLayout::Plain => client
                .execute(
                    "UPDATE shipgate_migrations SET logs = $2 WHERE version = $1 AND NOT success",
                    &[&migration.version, &logs],
                )
                .await
                .map(drop),
        }
    }

    /// The error for `statement` of `migration`. `sent` is the text the
    /// server ran and where in it the statement starts (its error position
    /// counts characters of that text); `ran` lists the lines of the
    /// statements that ran (and stay) before it outside a transaction, and
    /// `rolled_back` says whether a lost session lost what it did.
    fn statement_error(
        &self,
        migration: &Migration,
        statement: &split::Statement<'_>,
        error: &tokio_postgres::Error,
        sent: (&str, usize),
        ran: &[usize],
        rolled_back: bool,
    ) -> DatabaseError {
        let mut source = driver_message(error);
        let (text, start) = sent;
        let offset = error
            .as_db_error()
            .and_then(|db| match db.position() {
                Some(tokio_postgres::error::ErrorPosition::Original(position)) => {
                    let chars = usize::try_from(*position).ok()?.checked_sub(1)?;
                    let (byte, _) = text.char_indices().nth(chars)?;
                    let within = byte.checked_sub(start)?;
                    (within < statement.text.len()).then_some(statement.offset + within)
                }
                _ => None,
            })
            .unwrap_or(statement.offset);
        let line = split::line_of(&migration.sql, statement.offset);
        source.message = match &source.code {
            Some(code) => format!(
                "{} (SQLSTATE {code}, statement at line {line})",
                source.message
            ),
            None => format!("{} (statement at line {line})", source.message),
        };
        if !ran.is_empty() {
            let lines = ran
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            let ran_text = if ran.len() == 1 {
                format!("the statement at line {lines} ran and stays applied")
            } else {
                format!("the statements at lines {lines} ran and stay applied")
            };
            source.message = format!(
                "{}; this file runs outside a transaction: {ran_text}, the rest did not run",
                source.message
            );
        }
        if is_connection_lost(error) {
            return DatabaseError::ConnectionLost {
                database: self.description.clone(),
                operation: applying(migration),
                rolled_back,
                source,
            };
        }
        if error.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) {
            return DatabaseError::LockTimeout {
                version: migration.version.clone(),
                offset: Some(offset),
                blockers: Vec::new(),
                source,
            };
        }
        DatabaseError::ApplyMigration {
            version: migration.version.clone(),
            offset: Some(offset),
            source,
        }
    }

    fn applied_row(migration: &Migration, duration: Duration) -> AppliedMigration {
        AppliedMigration {
            version: migration.version.clone(),
            name: migration.name.clone(),
            checksum: migration.checksum.clone(),
            applied_at: jiff::Timestamp::now()
                .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string(),
            duration,
            applied_by: Some(APPLIED_BY.to_owned()),
            failure: None,
        }
    }

    /// The plain layout's history; a row with `success = false` (a file
    /// that failed part-way outside a transaction) is a failed run.
    async fn plain_applied(&self, client: &Client) -> Result<Vec<AppliedMigration>, DatabaseError> {
        let logs = if plain_has_logs(client)
            .await
            .map_err(|error| self.read_error(&error))?
        {
            "coalesce(logs, '')"
        } else {
            "''"
        };
        let rows = client
            .query(
                &format!(
                    "SELECT version, name, checksum, \
                     to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), \
                     duration_ms, applied_by, CASE WHEN NOT success THEN {logs} END \
                     FROM shipgate_migrations ORDER BY applied_at, version"
                ),
                &[],
            )
            .await
            .map_err(|error| self.read_error(&error))?;
        Ok(rows.iter().map(history_row).collect())
    }

    /// `migrate resolve` for the plain layout: `--applied` marks the failed
    /// row (or a new one) applied; `--rolled-back` deletes the failed row.
    async fn plain_resolve(
        client: &Client,
        migration: &Migration,
        resolution: Resolution,
    ) -> Result<(), DatabaseError> {
        let failed = |error: tokio_postgres::Error| {
            resolve_error(&migration.id(), &driver_message(&error).to_string())
        };
        let changed = match resolution {
            Resolution::RolledBack => client
                .execute(
                    "DELETE FROM shipgate_migrations WHERE version = $1 AND NOT success",
                    &[&migration.version],
                )
                .await
                .map_err(failed)?,
            Resolution::Applied => client
                .execute(
                    "INSERT INTO shipgate_migrations (version, name, checksum, duration_ms, applied_by, success) \
                     VALUES ($1, $2, $3, 0, $4, true) \
                     ON CONFLICT (version) DO UPDATE SET success = true, checksum = EXCLUDED.checksum, \
                     applied_by = EXCLUDED.applied_by, applied_at = now(), logs = NULL \
                     WHERE NOT shipgate_migrations.success",
                    &[&migration.version, &migration.name, &migration.checksum, &APPLIED_BY],
                )
                .await
                .map_err(failed)?,
        };
        if changed == 0 {
            return Err(resolve_error(
                &migration.id(),
                match resolution {
                    Resolution::RolledBack => "it has no failed row (`success = false`) to remove",
                    Resolution::Applied => "it is already recorded as applied",
                },
            ));
        }
        Ok(())
    }

    /// `migrate resolve` for Supabase and dbmate: their failed runs live in
    /// `shipgate_failed_migrations`.
    async fn aside_resolve(
        &self,
        client: &Client,
        migration: &Migration,
        resolution: Resolution,
    ) -> Result<(), DatabaseError> {
        let name = migration.id();
        let failed = |error: tokio_postgres::Error| {
            resolve_error(&name, &driver_message(&error).to_string())
        };
        match resolution {
            Resolution::RolledBack => {
                if !failed::forget(client, &migration.version)
                    .await
                    .map_err(failed)?
                {
                    return Err(resolve_error(
                        &name,
                        &format!("it has no failed run in `{}` to remove", failed::TABLE),
                    ));
                }
                Ok(())
            }
            Resolution::Applied => {
                client.batch_execute("BEGIN").await.map_err(failed)?;
                let result = async {
                    let inserted = self
                        .record_applied(client, migration, Duration::ZERO)
                        .await?;
                    failed::forget(client, &migration.version).await?;
                    client.batch_execute("COMMIT").await?;
                    Ok(inserted)
                }
                .await;
                match result {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(resolve_error(&name, "it is already recorded as applied")),
                    Err(error) => {
                        let _ = client.batch_execute("ROLLBACK").await;
                        Err(failed(error))
                    }
                }
            }
        }
    }

    /// Stores the catalog snapshot of the database beside the backup at
    /// `path`, so a restore (in this process or a later `shipgate
    /// rollback`) can prove it restored exactly this schema. Taken right
    /// after `pg_dump`, under the migration lock.
    async fn save_catalog(&self, path: &Path) -> Result<(), DatabaseError> {
        let failed = |message: String| {
            let _ = fs_err::remove_file(path);
            DatabaseError::Backup {
                database: self.description.clone(),
                path: path.to_owned(),
                source: EngineMessage {
                    message,
                    code: None,
                },
            }
        };
        let snapshot = {
            let session = self.client().await?;
            let client = session.as_ref().ok_or(DatabaseError::NotConnected)?;
            Catalog::read(client).await.map_err(|error| {
                failed(format!(
                    "reading the catalog snapshot failed: {}",
                    driver_message(&error)
                ))
            })?
        };
        snapshot
            .save(&Catalog::path_beside(path))
            .map_err(|error| failed(error.with_cause()))
    }

    fn restore_error(&self, path: &Path, message: &str) -> DatabaseError {
        DatabaseError::Restore {
            database: self.description.clone(),
            path: path.to_owned(),
            source: EngineMessage {
                message: message.to_owned(),
                code: None,
            },
        }
    }

    /// Drops the schemas, relations, types, routines, extensions,
    /// collations, publications and event triggers created after the backup
    /// (their oids are not in `listed`), in one transaction: `pg_restore
    /// --clean` only replaces what the backup holds, so without this a table
    /// or an extension a failed run created would survive the restore
    /// (issue 11, section 2). Event triggers go first, so none fires on the
    /// drops or the restore; objects initdb created (oids below 16384, e.g.
    /// `plpgsql`) are never touched, as `pg_dump` never lists them.
    async fn drop_objects_not_in(
        &self,
        client: &Client,
        listed: &std::collections::HashSet<(i64, i64)>,
    ) -> Result<(), tokio_postgres::Error> {
        let rows = client
            .query(
                "WITH user_namespace AS ( \
                   SELECT oid, nspname FROM pg_namespace \
                   WHERE nspname NOT IN ('pg_catalog', 'information_schema') \
                   AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp\\_%'), \
                 objects AS ( \
                   SELECT 'pg_namespace'::regclass AS catalog, n.oid, 'SCHEMA' AS kind, format('%I', n.nspname) AS name, 4 AS rank \
                   FROM user_namespace n WHERE n.nspname <> 'public' \
                   UNION ALL \
                   SELECT 'pg_class'::regclass, c.oid, CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' \
                     WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, \
                     format('%I.%I', n.nspname, c.relname), 1 \
                   FROM pg_class c JOIN user_namespace n ON n.oid = c.relnamespace \
                   WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') \
                   UNION ALL \
                   SELECT 'pg_type'::regclass, t.oid, CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, \
                     format('%I.%I', n.nspname, t.typname), 2 \
                   FROM pg_type t JOIN user_namespace n ON n.oid = t.typnamespace \
                   WHERE t.typtype IN ('e', 'd', 'r') \
                     OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c') \
                   UNION ALL \
                   SELECT 'pg_proc'::regclass, p.oid, CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END, \
                     format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)), 0 \
                   FROM pg_proc p JOIN user_namespace n ON n.oid = p.pronamespace \
                   UNION ALL \
                   SELECT 'pg_event_trigger'::regclass, e.oid, 'EVENT TRIGGER', format('%I', e.evtname), -1 \
                   FROM pg_event_trigger e \
                   UNION ALL \
                   SELECT 'pg_publication'::regclass, p.oid, 'PUBLICATION', format('%I', p.pubname), 0 \
                   FROM pg_publication p \
                   UNION ALL \
                   SELECT 'pg_collation'::regclass, c.oid, 'COLLATION', format('%I.%I', n.nspname, c.collname), 2 \
                   FROM pg_collation c JOIN user_namespace n ON n.oid = c.collnamespace \
                   UNION ALL \
                   SELECT 'pg_extension'::regclass, e.oid, 'EXTENSION', format('%I', e.extname), 3 \
                   FROM pg_extension e) \
                 SELECT o.catalog::oid::bigint, o.oid::bigint, o.kind, o.name FROM objects o \
                 WHERE o.oid >= 16384 \
                 AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = o.catalog AND d.objid = o.oid AND d.deptype = 'e') \
                 ORDER BY o.rank",
                &[],
            )
            .await?;
        let drops: Vec<String> = rows
            .iter()
            .filter(|row| !listed.contains(&(row.get::<_, i64>(0), row.get::<_, i64>(1))))
            .map(|row| {
                format!(
                    "DROP {} IF EXISTS {} CASCADE;",
                    row.get::<_, String>(2),
                    row.get::<_, String>(3)
                )
            })
            .collect();
        if drops.is_empty() {
            return Ok(());
        }
        let result = client
            .batch_execute(&format!("BEGIN; {} COMMIT;", drops.join(" ")))
            .await;
        if result.is_err() {
            let _ = client.batch_execute("ROLLBACK").await;
        }
        result
    }

    /// After a restore: checks that the history table holds exactly the
    /// rows the backup holds (none, and no table, when the backup has none),
    /// both as the client tools print them, so the recorded migrations
    /// match the schema that was restored.
    async fn verify_history(&self, path: &Path) -> Result<(), DatabaseError> {
        let (schema, table, exists) = {
            let session = self.client().await?;
            let client = session.as_ref().ok_or(DatabaseError::NotConnected)?;
            let row = client
                .query_one(
                    "SELECT coalesce(n.nspname, current_schema()), c.oid IS NOT NULL \
                     FROM (SELECT to_regclass($1) AS oid) r \
                     LEFT JOIN pg_class c ON c.oid = r.oid \
                     LEFT JOIN pg_namespace n ON n.oid = c.relnamespace",
                    &[&self.history_table()],
                )
                .await
                .map_err(|error| self.read_error(&error))?;
            let table = self
                .history_table()
                .rsplit('.')
                .next()
                .unwrap_or_default()
                .to_owned();
            (row.get::<_, String>(0), table, row.get::<_, bool>(1))
        };
        let deadline = self.settings.statement_timeout;
        let expected = dump::rows_in_backup(&self.target, path, &schema, &table, deadline)
            .await?
            .unwrap_or_default();
        let actual = if exists {
            dump::rows_in_database(&self.target, &schema, &table, deadline).await?
        } else {
            Vec::new()
        };
        if expected == actual {
            return Ok(());
        }
        let only_in = |rows: &[String], other: &[String]| {
            rows.iter().find(|row| !other.contains(row)).map(|row| {
                row.replace('\t', " | ")
                    .chars()
                    .take(200)
                    .collect::<String>()
            })
        };
        let mut detail = format!(
            "the backup holds {} rows, the database {} after the restore",
            expected.len(),
            actual.len()
        );
        if let Some(row) = only_in(&actual, &expected) {
            let _ = write!(detail, "; only in the database: `{row}`");
        }
        if let Some(row) = only_in(&expected, &actual) {
            let _ = write!(detail, "; only in the backup: `{row}`");
        }
        Err(DatabaseError::HistoryMismatch {
            database: self.description.clone(),
            path: path.to_owned(),
            table: format!("{schema}.{table}"),
            detail,
        })
    }

    /// After a restore: compares the catalog with the snapshot taken with
    /// the backup (`expected`, read before the restore). Any difference
    /// fails the restore, naming it; a backup without a readable snapshot
    /// is restored without the check, which says why.
    async fn verify_catalog(
        &self,
        path: &Path,
        expected: Result<Option<Catalog>, catalog::CatalogError>,
    ) -> Result<Exactness, DatabaseError> {
        let snapshot = Catalog::path_beside(path);
        let expected = match expected {
            Ok(Some(expected)) => expected,
            Ok(None) => {
                return Ok(Exactness::Skipped {
                    reason: format!(
                        "the backup has no catalog snapshot beside it (`{}`; backups taken by older shipgate versions have none)",
                        snapshot.display()
                    ),
                });
            }
            Err(error) => {
                return Ok(Exactness::Skipped {
                    reason: error.with_cause(),
                });
            }
        };
        let actual = {
            let session = self.client().await?;
            let client = session.as_ref().ok_or(DatabaseError::NotConnected)?;
            Catalog::read(client)
                .await
                .map_err(|error| self.read_error(&error))?
        };
        let differences = catalog::diff(&expected, &actual);
        if differences.is_empty() {
            return Ok(Exactness::Verified {
                objects: actual.objects.len(),
            });
        }
        Err(DatabaseError::CatalogMismatch {
            database: self.description.clone(),
            path: path.to_owned(),
            differences: differences
                .iter()
                .map(|difference| difference.describe("the backup"))
                .collect(),
        })
    }

    /// Creates the layout's history table when it is missing.
    async fn create_history(&self, client: &Client) -> Result<(), DatabaseError> {
        let create = match self.layout {
            HistoryLayout::Prisma => prisma::CREATE,
            HistoryLayout::Supabase => supabase::CREATE,
            HistoryLayout::Dbmate => dbmate::CREATE,
            HistoryLayout::Plain => PLAIN_CREATE,
        };
        let failed = |error: tokio_postgres::Error| DatabaseError::CreateHistory {
            database: self.description.clone(),
            table: self.history_table().to_owned(),
            source: driver_message(&error),
        };
        client.batch_execute(create).await.map_err(failed)?;
        // A table written before `logs` existed (or by hand, as adoption
        // does) gets it once; checked first so no run takes the table's
        // lock for nothing.
        if self.layout == HistoryLayout::Plain && !plain_has_logs(client).await.map_err(failed)? {
            client
                .batch_execute("ALTER TABLE shipgate_migrations ADD COLUMN logs text")
                .await
                .map_err(failed)?;
        }
        Ok(())
    }

    async fn server_major(&self, client: &Client) -> Result<u32, DatabaseError> {
        let row = client
            .query_one("SELECT current_setting('server_version_num')::int", &[])
            .await
            .map_err(|error| self.read_error(&error))?;
        Ok(u32::try_from(row.get::<_, i32>(0)).unwrap_or(0) / 10_000)
    }
}

#[async_trait::async_trait]
impl Database for PostgresDatabase {
    fn describe(&self) -> String {
        self.description.clone()
    }

    fn history_table(&self) -> &str {
        match self.layout {
            HistoryLayout::Plain => HISTORY_TABLE,
            HistoryLayout::Prisma => prisma::TABLE,
            HistoryLayout::Supabase => supabase::TABLE,
            HistoryLayout::Dbmate => dbmate::TABLE,
        }
    }

    /// A PostgreSQL database always exists (shipgate never creates one), so
    /// it is never "new": it is backed up, and never emptied.
    async fn is_new(&self) -> Result<bool, DatabaseError> {
        Ok(false)
    }

    async fn server_version_major(&self) -> Result<Option<u32>, DatabaseError> {
        let session = self.client().await?;
        let client = session.as_ref().ok_or(DatabaseError::NotConnected)?;
        self.server_major(client).await.map(Some)
    }

    async fn lock(&self) -> Result<(), DatabaseError> {
        let session = self.client().await?;
        let client = session.as_ref().ok_or(DatabaseError::NotConnected)?;
        if !self.locked.load(Ordering::Relaxed) {
            self.take_locks(client).await?;
            self.locked.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    async fn ensure_history(&self) -> Result<(), DatabaseError> {
        let session = self.client().await?;
        let client = session.as_ref().ok_or(DatabaseError::NotConnected)?;
        self.create_history(client).await
    }

    async fn resolve(
        &self,
        migration: &Migration,
        resolution: Resolution,
    ) -> Result<(), DatabaseError> {
        let session = self.client().await?;
        let client = session.as_ref().ok_or(DatabaseError::NotConnected)?;
        self.create_history(client).await?;
        match (self.layout, resolution) {
            (HistoryLayout::Prisma, Resolution::Applied) => {
                prisma::resolve_applied(client, migration).await
            }
            (HistoryLayout::Prisma, Resolution::RolledBack) => {
                prisma::resolve_rolled_back(client, migration).await
            }
            (HistoryLayout::Plain, _) => Self::plain_resolve(client, migration, resolution).await,
            (HistoryLayout::Supabase | HistoryLayout::Dbmate, _) => {
                self.aside_resolve(client, migration, resolution).await
            }
        }
    }

    async fn applied(&self) -> Result<Vec<AppliedMigration>, DatabaseError> {
        let session = self.client().await?;
        let client = session.as_ref().ok_or(DatabaseError::NotConnected)?;
        let mut rows = if self.history_exists(client).await? {
            match self.layout {
                HistoryLayout::Plain => return self.plain_applied(client).await,
                HistoryLayout::Prisma => prisma::applied(client).await,
                HistoryLayout::Supabase => supabase::applied(client).await,
                HistoryLayout::Dbmate => dbmate::applied(client).await,
            }
            .map_err(|error| self.read_error(&error))?
        } else {
            Vec::new()
        };
        if matches!(self.layout, HistoryLayout::Supabase | HistoryLayout::Dbmate) {
            // Last, so a failed run outweighs anything else said of its version.
            rows.extend(
                failed::rows(client)
                    .await
                    .map_err(|error| self.read_error(&error))?,
            );
        }
        Ok(rows)
    }

    async fn apply(&self, migration: &Migration) -> Result<AppliedMigration, DatabaseError> {
        let mut session = self.client().await?;
        let client = session.as_ref().ok_or(DatabaseError::NotConnected)?;
        let statements = split::split(&migration.sql);
        let mut reason = migration
            .outside_transaction
            .clone()
            .or_else(|| split::no_transaction_reason(&migration.sql, &statements));
        if reason.is_none()
            && statements
                .iter()
                .any(|statement| split::is_add_enum_value(&statement.words))
            && self.server_major(client).await? < 12
        {
            reason = Some(
                "`ALTER TYPE … ADD VALUE` cannot run inside a transaction before PostgreSQL 12"
                    .to_owned(),
            );
        }
        let outside_transaction = reason.is_some();
        let result = if outside_transaction {
            self.apply_without_transaction(client, migration, &statements)
                .await
        } else {
            self.apply_in_transaction(client, migration, &statements)
                .await
        };
        if let Err(error @ DatabaseError::ConnectionLost { .. }) = &result {
            // The session is gone, and the migration lock with it: the next
            // call connects anew and takes the lock again (issue 10, item 4).
            *session = None;
            drop(session);
            if outside_transaction {
                self.record_lost(migration, error).await;
            }
        }
        result
    }

    async fn revert(&self, down: &Migration) -> Result<(), DatabaseError> {
        self.revert_in_transaction(down).await
    }

    async fn backup(&self, dir: &Path) -> Result<Option<Backup>, DatabaseError> {
        let (server_major, position) = {
            let session = self.client().await?;
            let client = session.as_ref().ok_or(DatabaseError::NotConnected)?;
            let position = client
                .query_one(
                    "SELECT 'WAL LSN ' || (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() \
                     ELSE pg_current_wal_lsn() END)::text || ' at ' || \
                     to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
                    &[],
                )
                .await
                .ok()
                .and_then(|row| row.get::<_, Option<String>>(0));
            (self.server_major(client).await?, position)
        };
        let result = dump::backup(
            &self.target,
            &self.description,
            server_major,
            dir,
            self.settings.statement_timeout,
            self.settings.lock_timeout,
        )
        .await;
        let mut backup = match result {
            Err(DatabaseError::BackupLockTimeout {
                table,
                waited,
                source,
                ..
            }) => {
                // The dump has given up, but whoever held the table then
                // usually still does: name them as a migration's lock
                // timeout does.
                let blockers = {
                    let session = self.client().await?;
                    let client = session.as_ref().ok_or(DatabaseError::NotConnected)?;
                    table_lock_holders(client, &table).await.unwrap_or_default()
                };
                return Err(DatabaseError::BackupLockTimeout {
                    table,
                    waited,
                    blockers,
                    source,
                });
            }
            other => other?,
        };
        backup.position = position;
        self.save_catalog(&backup.path).await?;
        Ok(Some(backup))
    }

    async fn restore(&self, path: &Path) -> Result<Exactness, DatabaseError> {
        if !path.is_file() {
            return Err(DatabaseError::BackupMissing {
                path: path.to_owned(),
            });
        }
        let expected = Catalog::load(&Catalog::path_beside(path));
        let listed = dump::listed_objects(&self.target, path, self.settings.statement_timeout)
            .await
            .map_err(|error| self.restore_error(path, &error.to_string()))?;
        {
            let session = self.client().await?;
            let client = session.as_ref().ok_or(DatabaseError::NotConnected)?;
            self.drop_objects_not_in(client, &listed)
                .await
                .map_err(|error| self.restore_error(path, &driver_message(&error).to_string()))?;
        }
        dump::restore(
            &self.target,
            &self.description,
            path,
            self.settings.statement_timeout,
            self.settings.lock_timeout,
        )
        .await?;
        self.verify_history(path).await?;
        self.verify_catalog(path, expected).await
    }

    async fn clear(&self) -> Result<(), DatabaseError> {
        Err(DatabaseError::Restore {
            database: self.description.clone(),
            path: PathBuf::new(),
            source: EngineMessage {
                message: "shipgate never empties a PostgreSQL database; restore a backup instead"
                    .to_owned(),
                code: None,
            },
        })
    }
}

/// Decodes one history row. Every layout's history query selects the same
/// seven columns, in this order: `version` (text), `name` (text), `checksum`
/// (text), `applied_at` (text, RFC 3339 UTC), `duration_ms` (bigint),
/// `applied_by` (text or NULL) and `failure` (the logged error of a failed
/// run, or NULL when the migration applied).
pub(super) fn history_row(row: &tokio_postgres::Row) -> AppliedMigration {
    AppliedMigration {
        version: row.get(0),
        name: row.get(1),
        checksum: row.get(2),
        applied_at: row.get(3),
        duration: Duration::from_millis(u64::try_from(row.get::<_, i64>(4)).unwrap_or(0)),
        applied_by: row.get(5),
        failure: row.get(6),
    }
}

/// Why the backends seen say the connections go through a transaction
/// pooler, if they do: the session first saw `session_first` and now
/// `session_now`, the observer first `observer_first` and now
/// `observer_now`. Directly, each connection has one backend of its own for
/// its whole life.
fn pooled(
    session_first: i32,
    observer_first: i32,
    session_now: i32,
    observer_now: i32,
) -> Option<String> {
    let shared = [observer_first, observer_now]
        .into_iter()
        .find(|pid| *pid == session_first || *pid == session_now);
    if let Some(pid) = shared {
        return Some(format!(
            "two connections were served by the same server session (backend pid {pid}), so a session lock would not stay with this run"
        ));
    }
    if session_now != session_first {
        return Some(format!(
            "one connection was served by two server sessions in turn (backend pids {session_first} and {session_now}), so a session lock would not stay with this run"
        ));
    }
    if observer_now != observer_first {
        return Some(format!(
            "one connection was served by two server sessions in turn (backend pids {observer_first} and {observer_now}), so a session lock would not stay with this run"
        ));
    }
    None
}

/// `pause`, shortened to half of `lock_timeout` so the observer looks
/// before the timeout ends the wait, but never under 10 ms (and not
/// shortened at all when `lock_timeout` is 0, PostgreSQL's "no limit").
fn watch_pause(pause: Duration, lock_timeout: Duration) -> Duration {
    if lock_timeout.is_zero() {
        return pause;
    }
    pause.min(lock_timeout / 2).max(Duration::from_millis(10))
}

/// `migrate resolve` could not record `name`'s resolution, because `reason`.
pub(super) fn resolve_error(name: &str, reason: &str) -> DatabaseError {
    DatabaseError::Resolve {
        name: name.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Whether the plain history table has its `logs` column.
async fn plain_has_logs(client: &Client) -> Result<bool, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) \
             AND attname = 'logs' AND NOT attisdropped)",
            &[&HISTORY_TABLE],
        )
        .await?;
    Ok(row.get(0))
}

/// "applying migration `0002`", for [`DatabaseError::ConnectionLost`].
fn applying(migration: &Migration) -> String {
    format!("applying migration `{}`", migration.version)
}

/// Whether `error` means the session is gone: the server ended it
/// (SQLSTATE 57P01 `admin_shutdown`, as `pg_terminate_backend` does, 57P02
/// `crash_shutdown`, 57P03 `cannot_connect_now`), the connection failed
/// (class 08), or the socket closed or failed under it.
fn is_connection_lost(error: &tokio_postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    if let Some(code) = error.code() {
        let code = code.code();
        return matches!(code, "57P01" | "57P02" | "57P03") || code.starts_with("08");
    }
    std::error::Error::source(error).is_some_and(<dyn std::error::Error>::is::<std::io::Error>)
}

/// `error` with `blockers` filled in (a lock timeout only).
fn with_blockers(error: DatabaseError, found: Vec<String>) -> DatabaseError {
    match error {
        DatabaseError::LockTimeout {
            version,
            offset,
            source,
            ..
        } => DatabaseError::LockTimeout {
            version,
            offset,
            blockers: found,
            source,
        },
        other => other,
    }
}

/// Sessions holding the advisory lock `key`.
async fn lock_holders(client: &Client, key: i64) -> Result<Vec<String>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT a.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local socket'), \
             coalesce(a.state, ''), left(coalesce(a.query, ''), 200), \
             extract(epoch FROM now() - coalesce(a.xact_start, a.backend_start))::bigint \
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.granted AND l.classid = ($1::bigint >> 32)::oid \
             AND l.objid = ($1::bigint & 4294967295)::oid AND l.objsubid = 1",
            &[&key],
        )
        .await?;
    Ok(rows.iter().map(describe_session).collect())
}

/// Sessions that hold, or queue for, an `ACCESS EXCLUSIVE` lock on `table`:
/// the only lock that stops `pg_dump`'s `ACCESS SHARE`.
async fn table_lock_holders(
    client: &Client,
    table: &str,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT a.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local socket'), \
             coalesce(a.state, ''), left(coalesce(a.query, ''), 200), \
             extract(epoch FROM now() - coalesce(a.xact_start, a.backend_start))::bigint \
             FROM pg_stat_activity a WHERE a.pid <> pg_backend_pid() AND a.pid IN ( \
               SELECT l.pid FROM pg_locks l WHERE l.locktype = 'relation' \
               AND l.relation = to_regclass($1) AND l.mode = 'AccessExclusiveLock') \
             ORDER BY a.pid",
            &[&table],
        )
        .await?;
    Ok(rows.iter().map(describe_session).collect())
}

fn describe_session(row: &tokio_postgres::Row) -> String {
    let pid: i32 = row.get(0);
    let application: String = row.get(1);
    let client: String = row.get(2);
    let state: String = row.get(3);
    let query: String = row.get(4);
    let age: i64 = row.get(5);
    let application = if application.is_empty() {
        "no application_name".to_owned()
    } else {
        format!("`{application}`")
    };
    format!(
        "pid {pid} ({application}, from {client}, {state} for {age}s): `{}`",
        query.split_whitespace().collect::<Vec<_>>().join(" ")
    )
}

/// Whether `error`, met while connecting, says the server answered with
/// something other than PostgreSQL's protocol (Redis, HTTP, …).
fn speaks_other_protocol(error: &tokio_postgres::Error) -> bool {
    if error.as_db_error().is_some() {
        return false;
    }
    let text = driver_message(error).message;
    text.starts_with("unexpected message from server")
        || text.starts_with("error parsing response from server")
        // The server closed the connection part-way through a message:
        // an HTTP server's `400 Bad Request`, read as PostgreSQL's.
        || text.ends_with("bytes remaining on stream")
}

/// PostgreSQL's message, SQLSTATE, detail and hint for `error`.
fn driver_message(error: &tokio_postgres::Error) -> EngineMessage {
    use std::fmt::Write as _;
    if let Some(db) = error.as_db_error() {
        let mut message = db.message().to_owned();
        if let Some(detail) = db.detail() {
            let _ = write!(message, "; detail: {detail}");
        }
        if let Some(hint) = db.hint() {
            let _ = write!(message, "; PostgreSQL's hint: {hint}");
        }
        return EngineMessage {
            message,
            code: Some(db.code().code().to_owned()),
        };
    }
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let _ = write!(message, ": {cause}");
        source = cause.source();
    }
    EngineMessage {
        message,
        code: error.code().map(|code| code.code().to_owned()),
    }
}

/// What Prisma's `logs` column gets for a failed migration.
fn error_logs(error: &DatabaseError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push('\n');
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The pause before retry `attempt` (1-based) after a lock timeout.
pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250 * 2_u64.pow(attempt.min(6))).min(Duration::from_secs(10))
}

/// `pause` ± 50 %, so runners that collided do not collide again.
pub(crate) fn jitter(pause: Duration) -> Duration {
    let factor: f64 = rand::random_range(0.5..1.5);
    pause.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_observer_looks_before_the_lock_timeout_but_never_hammers_the_server() {
        let ms = Duration::from_millis;
        assert_eq!(watch_pause(WATCH_FIRST, ms(5_000)), ms(100));
        assert_eq!(watch_pause(WATCH_EVERY, ms(300)), ms(150));
        assert_eq!(watch_pause(WATCH_FIRST, ms(4)), ms(10));
        assert_eq!(watch_pause(WATCH_EVERY, Duration::ZERO), ms(250));
    }

    #[test]
    fn a_pooler_shows_as_a_shared_or_moving_backend() {
        assert_eq!(pooled(10, 20, 10, 20), None);
        assert!(pooled(10, 10, 10, 10).unwrap().contains("backend pid 10"));
        assert!(
            pooled(10, 20, 20, 30)
                .unwrap()
                .contains("same server session")
        );
        assert!(pooled(10, 20, 11, 20).unwrap().contains("pids 10 and 11"));
        assert!(pooled(10, 20, 10, 21).unwrap().contains("pids 20 and 21"));
    }
}
