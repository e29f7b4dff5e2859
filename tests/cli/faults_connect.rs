//! Faults on the way to the database (issue 10): a port that is not
//! PostgreSQL (a silent listener, a Redis-like responder, an HTTP server)
//! and a table lock held while the backup runs. Each run is killed when it
//! outlives its deadline, so a hang fails the test instead of hanging it.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::support::Test;
use crate::support::http::Server;
use crate::support::postgres::TestDatabase;

/// Far above the 1 s `connect_timeout` the tests set, far below "forever".
const DEADLINE: Duration = Duration::from_secs(20);

/// A TCP server on `127.0.0.1:0` that accepts every connection and treats
/// it with `answer` on its own thread; stops accepting when dropped.
struct FakeServer {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeServer {
    fn start(answer: fn(TcpStream)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::Relaxed) {
                    break;
                }
                if let Ok(stream) = stream {
                    std::thread::spawn(move || answer(stream));
                }
            }
        });
        Self {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the blocked `accept` so the thread sees `stop`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Accepts and never answers, keeping the connection open.
fn silent(mut stream: TcpStream) {
    let mut buffer = [0_u8; 1024];
    while matches!(stream.read(&mut buffer), Ok(read) if read > 0) {}
}

/// Answers whatever arrives as Redis answers a command it does not know,
/// and keeps the connection open.
fn redis_like(mut stream: TcpStream) {
    let mut buffer = [0_u8; 1024];
    while matches!(stream.read(&mut buffer), Ok(read) if read > 0) {
        if stream.write_all(b"-ERR unknown command\r\n").is_err() {
            break;
        }
    }
}

fn status_against(port: u16) -> Test {
    Test::new()
        .config(
            "[environments.local]\ndatabase = \"${DATABASE_URL}\"\n\n[migrate]\ndir = \"migrations\"\n",
        )
        .env(
            "DATABASE_URL",
            &format!("postgres://postgres:secret@127.0.0.1:{port}/app?connect_timeout=1"),
        )
        .file("migrations/0001_init.sql", "CREATE TABLE t (id int);\n")
        .args(["migrate", "status"])
}

#[test]
fn a_silent_listener_as_the_database_times_out_naming_the_address() {
    // issue 10, item 6: the TCP connect succeeds, the startup never ends.
    let server = FakeServer::start(silent);
    let started = Instant::now();
    status_against(server.port)
        .run_within(3, DEADLINE)
        .stderr_has(&format!(
            "the server at `127.0.0.1:{}` did not complete PostgreSQL's startup handshake within 1s",
            server.port
        ))
        .stderr_has("is `127.0.0.1:")
        .stderr_has("a PostgreSQL server?")
        .nowhere("secret");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_redis_like_port_as_the_database_times_out_naming_the_address() {
    // issue 10, item 6: an answer in another protocol that the driver reads
    // as the start of an endless message.
    let server = FakeServer::start(redis_like);
    status_against(server.port)
        .run_within(3, DEADLINE)
        .stderr_has(&format!(
            "the server at `127.0.0.1:{}` did not complete PostgreSQL's startup handshake within 1s",
            server.port
        ))
        .nowhere("secret");
}

#[test]
fn an_http_server_as_the_database_is_not_postgres() {
    // issue 10, item 6: hyper answers `400 Bad Request` and hangs up.
    let server = Server::builder().start();
    status_against(server.port())
        .run_within(3, DEADLINE)
        .stderr_has(&format!(
            "the server at `127.0.0.1:{}` did not speak PostgreSQL's protocol",
            server.port()
        ))
        .stderr_has("bytes remaining on stream")
        .stderr_has("is not a PostgreSQL server")
        .nowhere("secret");
}

#[test]
fn a_table_lock_during_the_backup_times_out_after_lock_timeout_naming_the_blocker() {
    // issue 10, item 8: `pg_dump` waited `lock_wait` (60 s) and blamed the
    // backup directory.
    let database = TestDatabase::new();
    database.query("CREATE TABLE t (id int); INSERT INTO t VALUES (1)");
    let blocker = database.session();
    blocker.query("SET application_name = 'blocker'");
    blocker.query("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE");
    let blocker_pid = blocker.pid();
    let test = Test::new()
        .config(
            "[environments.local]\ndatabase = \"${DATABASE_URL}\"\n\n[migrate]\ndir = \"migrations\"\nbackup = \"auto\"\nlock_timeout = \"1s\"\nlock_wait = \"60s\"\n",
        )
        .env("DATABASE_URL", database.url())
        .file(
            "migrations/0001_add_name.sql",
            "ALTER TABLE t ADD COLUMN name text;\n",
        )
        .args(["migrate", "apply"]);
    let started = Instant::now();
    let output = test.run_within(3, Duration::from_secs(30));
    let elapsed = started.elapsed();
    output
        .stderr_has(&format!(
            "the backup timed out after 1s waiting for a lock on table `public.t`; blocked by: pid {blocker_pid} (`blocker`"
        ))
        .stderr_has("raise `migrate.lock_timeout`")
        .nowhere("backup_dir");
    assert!(elapsed < Duration::from_secs(15), "took {elapsed:?}");
    blocker.query("COMMIT");
    assert_eq!(
        database.column(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 't' ORDER BY ordinal_position"
        ),
        ["id"],
        "the migration did not run"
    );
    assert_eq!(database.column("SELECT count(*) FROM t"), ["1"]);
}
