//! A real PostgreSQL for tests: each [`TestDatabase`] is a fresh database with
//! a unique name on the server `SHIPGATE_TEST_DATABASE_URL` names (else
//! `postgres://postgres@127.0.0.1:5432/postgres`), dropped when it is dropped.
//!
//! When no server answers, the test FAILS with the reason: it is never
//! skipped (`scripts/test` starts or installs a server before `cargo test`).
//! Tests are synchronous; every call runs on its own thread with a small
//! runtime, so the helpers work inside and outside `#[tokio::test]`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use tokio_postgres::{Config, NoTls, SimpleQueryMessage};

/// The server used when `SHIPGATE_TEST_DATABASE_URL` is not set.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The admin URL: `SHIPGATE_TEST_DATABASE_URL` or [`DEFAULT_URL`].
pub fn server_url() -> String {
    std::env::var("SHIPGATE_TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_owned())
}

/// Rows as text (`None` for NULL).
pub type Rows = Vec<Vec<Option<String>>>;

/// Runs `sql` (one or more statements, simple protocol) on `url`.
pub fn query(url: &str, sql: &str) -> Result<Rows, String> {
    let url = url.to_owned();
    let sql = sql.to_owned();
    on_runtime(async move {
        let client = connect(&url).await?;
        simple(&client, &sql).await
    })
}

async fn connect(url: &str) -> Result<tokio_postgres::Client, String> {
    let mut config: Config = url
        .parse()
        .map_err(|error| format!("invalid test database URL `{url}`: {error}"))?;
    config.connect_timeout(Duration::from_secs(5));
    let (client, connection) = config.connect(NoTls).await.map_err(|error| {
        format!(
            "no PostgreSQL answers at `{url}` ({error}); start one (`scripts/test` does) or set `SHIPGATE_TEST_DATABASE_URL`"
        )
    })?;
    tokio::spawn(connection);
    Ok(client)
}

async fn simple(client: &tokio_postgres::Client, sql: &str) -> Result<Rows, String> {
    let messages = client
        .simple_query(sql)
        .await
        .map_err(|error| match error.as_db_error() {
            Some(db) => format!("{} ({})", db.message(), db.code().code()),
            None => error.to_string(),
        })?;
    Ok(messages
        .into_iter()
        .filter_map(|message| match message {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|index| row.get(index).map(str::to_owned))
                    .collect(),
            ),
            _ => None,
        })
        .collect())
}

/// Runs `future` to completion on a fresh thread with its own runtime.
fn on_runtime<T: Send + 'static>(
    future: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("test runtime")
            .block_on(future)
    })
    .join()
    .expect("test database thread")
}

/// A database of its own for one test; dropped (with its connections) on drop.
pub struct TestDatabase {
    name: String,
    admin_url: String,
    url: String,
}

impl TestDatabase {
    /// Creates a database with a unique name. Panics with the reason when no
    /// server answers: a PostgreSQL test never skips.
    #[track_caller]
    pub fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let admin_url = server_url();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos());
        let name = format!(
            "shipgate_test_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        if let Err(error) = query(&admin_url, &format!("CREATE DATABASE {name}")) {
            panic!("cannot create the test database `{name}`: {error}");
        }
        let mut url = url::Url::parse(&admin_url).expect("SHIPGATE_TEST_DATABASE_URL is a URL");
        url.set_path(&format!("/{name}"));
        Self {
            name,
            admin_url,
            url: url.to_string(),
        }
    }

    /// The database's URL (no password unless the server URL has one).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `sql` in the database, panicking on error.
    #[track_caller]
    pub fn query(&self, sql: &str) -> Rows {
        query(&self.url, sql).unwrap_or_else(|error| panic!("`{sql}` failed: {error}"))
    }

    /// Runs `sql` and returns the error message (panics when it succeeds).
    #[track_caller]
    pub fn query_error(&self, sql: &str) -> String {
        match query(&self.url, sql) {
            Ok(rows) => panic!("`{sql}` succeeded with {rows:?}"),
            Err(error) => error,
        }
    }

    /// The first column of every row, NULL as `NULL`.
    #[track_caller]
    pub fn column(&self, sql: &str) -> Vec<String> {
        self.query(sql)
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .next()
                    .flatten()
                    .unwrap_or_else(|| "NULL".to_owned())
            })
            .collect()
    }

    /// Tables of the `public` schema, sorted.
    pub fn tables(&self) -> Vec<String> {
        self.column(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
        )
    }

    /// Opens a session that stays connected (e.g. to hold a lock).
    pub fn session(&self) -> Session {
        Session::open(&self.url)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = query(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

type Request = (String, mpsc::Sender<Result<Rows, String>>);

/// One connection kept open on its own thread, e.g. a blocker holding a lock
/// inside an open transaction.
pub struct Session {
    requests: Option<mpsc::Sender<Request>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Session {
    fn open(url: &str) -> Self {
        let url = url.to_owned();
        let (requests, receiver) = mpsc::channel::<Request>();
        let (ready, ready_receiver) = mpsc::channel::<Result<(), String>>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("test runtime");
            runtime.block_on(async move {
                let client = match connect(&url).await {
                    Ok(client) => {
                        let _ = ready.send(Ok(()));
                        client
                    }
                    Err(error) => {
                        let _ = ready.send(Err(error));
                        return;
                    }
                };
                while let Ok((sql, reply)) = receiver.recv() {
                    let _ = reply.send(simple(&client, &sql).await);
                }
            });
        });
        if let Err(error) = ready_receiver.recv().expect("session thread") {
            panic!("cannot open a test session: {error}");
        }
        Self {
            requests: Some(requests),
            thread: Some(thread),
        }
    }

    /// Runs `sql` on this session, panicking on error.
    #[track_caller]
    pub fn query(&self, sql: &str) -> Rows {
        let (reply, answer) = mpsc::channel();
        self.requests
            .as_ref()
            .expect("open session")
            .send((sql.to_owned(), reply))
            .expect("session thread");
        answer
            .recv()
            .expect("session answer")
            .unwrap_or_else(|error| panic!("`{sql}` failed: {error}"))
    }

    /// The backend's process id.
    pub fn pid(&self) -> String {
        self.query("SELECT pg_backend_pid()")[0][0]
            .clone()
            .expect("pid")
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.requests = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Polls `condition` every 20 ms until it holds, failing after `deadline`.
#[track_caller]
pub fn wait_until(what: &str, deadline: Duration, mut condition: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl TestDatabase {
    /// The catalog snapshot of this database, read by shipgate's own module.
    pub fn catalog(&self) -> shipgate::db::postgres::catalog::Catalog {
        let url = self.url().to_owned();
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    let (client, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
                    tokio::spawn(connection);
                    shipgate::db::postgres::catalog::Catalog::read(&client)
                        .await
                        .unwrap()
                })
        })
        .join()
        .unwrap()
    }
}

/// `before` and `after` are equal, or the test fails naming how they differ.
#[track_caller]
pub fn assert_same_catalog(
    before: &shipgate::db::postgres::catalog::Catalog,
    after: &shipgate::db::postgres::catalog::Catalog,
) {
    let differences: Vec<String> = shipgate::db::postgres::catalog::diff(before, after)
        .iter()
        .map(|difference| difference.describe("the snapshot before the run"))
        .collect();
    assert!(differences.is_empty(), "{differences:#?}");
}
