//! A real `PgBouncer` in transaction-pooling mode in front of the test
//! server, on a free port of 127.0.0.1, stopped when dropped: what a team
//! migrating through Supabase's or their own pooler connects to.
//!
//! `scripts/test` installs `pgbouncer` when it is missing; a test that needs
//! it FAILS with the reason when it cannot be started, never skips.
//! `PgBouncer` refuses to run as root, so as root it runs as `postgres`.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;
use super::postgres::{TestDatabase, server_url};

/// A running `PgBouncer`; killed on drop.
pub struct PgBouncer {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl PgBouncer {
    /// Starts one in `pool_mode = transaction` forwarding every database to
    /// the test server, and waits until it accepts connections.
    #[track_caller]
    pub fn start() -> Self {
        let server: tokio_postgres::Config = server_url().parse().expect("server URL");
        let host = match server.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
            _ => "127.0.0.1".to_owned(),
        };
        let server_port = server.get_ports().first().copied().unwrap_or(5432);
        let user = server.get_user().unwrap_or("postgres").to_owned();
        let password = server
            .get_password()
            .map(|password| String::from_utf8_lossy(password).into_owned())
            .unwrap_or_default();

        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let userlist = dir.path().join("userlist.txt");
        fs_err::write(&userlist, format!("\"{user}\" \"{password}\"\n")).expect("userlist");
        let config = dir.path().join("pgbouncer.ini");
        let server_password = if password.is_empty() {
            String::new()
        } else {
            format!(" password={password}")
        };
        fs_err::write(
            &config,
            format!(
                "[databases]\n* = host={host} port={server_port} user={user}{server_password}\n\n\
                 [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
                 auth_type = trust\nauth_file = {}\npool_mode = transaction\n\
                 default_pool_size = 4\nignore_startup_parameters = extra_float_digits\n",
                userlist.display()
            ),
        )
        .expect("pgbouncer.ini");
        make_readable(dir.path());

        let mut command = Command::new(binary());
        command
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some((uid, gid)) = unprivileged_user() {
            command.uid(uid).gid(gid);
        }
        let child = command.spawn().unwrap_or_else(|error| {
            panic!("cannot start pgbouncer ({error}); `scripts/test` installs it")
        });
        let bouncer = Self {
            port,
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "pgbouncer did not listen on 127.0.0.1:{port} within 10s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        bouncer
    }

    /// The URL of `database` through the pooler.
    pub fn url(&self, database: &TestDatabase) -> String {
        let mut url = url::Url::parse(database.url()).expect("database URL");
        url.set_host(Some("127.0.0.1")).expect("host");
        url.set_port(Some(self.port)).expect("port");
        url.to_string()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `pgbouncer` on `PATH`, else where Debian puts it.
fn binary() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("pgbouncer"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/pgbouncer"))
}

/// The `postgres` user's uid and gid when running as root (`PgBouncer`
/// refuses root), else `None`.
fn unprivileged_user() -> Option<(u32, u32)> {
    let id = |args: &[&str]| -> Option<u32> {
        let output = Command::new("id").args(args).output().ok()?;
        String::from_utf8_lossy(&output.stdout).trim().parse().ok()
    };
    if id(&["-u"])? != 0 {
        return None;
    }
    Some((
        id(&["-u", "postgres"]).expect("a `postgres` user to run pgbouncer as"),
        id(&["-g", "postgres"]).expect("a `postgres` group to run pgbouncer as"),
    ))
}

/// Lets the unprivileged user read the config in `dir`.
fn make_readable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    fs_err::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("chmod dir");
    for entry in fs_err::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
}
