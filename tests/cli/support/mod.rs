//! The test harness: a builder that writes files into a temp dir, runs the
//! binary there with a clean environment, and checks exit code and output.

#![allow(dead_code, unreachable_pub)]

pub mod http;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub mod app;
pub mod pgbouncer;
pub mod postgres;
pub mod s3;

/// Environment variables the harness never lets through from the outer shell.
const CLEARED_PREFIXES: [&str; 3] = ["SHIPGATE_", "GITHUB_", "RUNNER_"];

/// One invocation of the binary in its own temp dir.
pub struct Test {
    dir: tempfile::TempDir,
    args: Vec<String>,
    env: BTreeMap<String, String>,
    current_dir: Option<PathBuf>,
}

/// What a run produced.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Test {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
            args: Vec::new(),
            env: BTreeMap::new(),
            current_dir: None,
        }
    }

    /// The temp dir the test runs in.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `contents` to `relative` (parents created).
    pub fn file(self, relative: &str, contents: &str) -> Self {
        let path = self.dir.path().join(relative);
        fs_err::create_dir_all(path.parent().expect("parent")).expect("create parent");
        fs_err::write(&path, contents).expect("write fixture");
        self
    }

    /// Copies the directory `from` (recursively) to `relative`, skipping
    /// `skip` names at any depth.
    pub fn copy_dir(self, from: &Path, relative: &str, skip: &[&str]) -> Self {
        copy_tree(from, &self.dir.path().join(relative), skip);
        self
    }

    /// Writes `shipgate.toml`.
    pub fn config(self, contents: &str) -> Self {
        self.file("shipgate.toml", contents)
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Runs from `relative` instead of the temp dir's root.
    pub fn current_dir(mut self, relative: &str) -> Self {
        self.current_dir = Some(self.dir.path().join(relative));
        self
    }

    /// Another invocation in the same temp dir (with the same env), with `args`.
    pub fn args_for<I: IntoIterator<Item = S>, S: Into<String>>(
        test: &Self,
        args: I,
    ) -> Invocation<'_> {
        Invocation {
            test,
            args: args.into_iter().map(Into::into).collect(),
        }
    }

    /// Runs the binary and returns its output; the temp dir lives on in `self`.
    pub fn output(&self) -> Output {
        self.output_with(&self.args)
    }

    /// The backups in the default `backup_dir`, oldest first (without the
    /// catalog snapshot beside each PostgreSQL dump).
    pub fn backups(&self) -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = match fs_err::read_dir(self.path().join(".shipgate/backups"))
        {
            Ok(entries) => entries
                .map(|entry| entry.expect("backup entry").path())
                .filter(|path| !path.to_string_lossy().ends_with(".catalog.json"))
                .collect(),
            Err(_) => Vec::new(),
        };
        found.sort();
        found
    }

    /// Starts the binary with piped output, for a test that must act while
    /// it runs (send a signal, kill it); the caller waits for it.
    pub fn spawn(&self) -> std::process::Child {
        self.command(&self.args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn shipgate")
    }

    /// Runs the binary, killing it when it has not exited within
    /// `deadline`: a test of a hang fails instead of hanging itself.
    #[track_caller]
    pub fn run_within(&self, expected_code: i32, deadline: Duration) -> Output {
        let mut child = self.spawn();
        let started = Instant::now();
        while child.try_wait().expect("wait for shipgate").is_none() {
            if started.elapsed() >= deadline {
                let _ = child.kill();
                let output = child.wait_with_output().expect("reap shipgate");
                panic!(
                    "shipgate did not exit within {deadline:?}; killed\n--- stdout\n{}\n--- stderr\n{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let output = child.wait_with_output().expect("read shipgate's output");
        let output = Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        assert_eq!(
            output.code, expected_code,
            "exit code {} (expected {expected_code})\n--- stdout\n{}\n--- stderr\n{}",
            output.code, output.stdout, output.stderr
        );
        output
    }

    fn output_with(&self, args: &[String]) -> Output {
        let output = self.command(args).output().expect("run shipgate");
        Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// The command for `args` in the test's dir, with the outer shell's
    /// `SHIPGATE_*`, `GITHUB_*` and `RUNNER_*` variables cleared.
    fn command(&self, args: &[String]) -> Command {
        let mut command = shipgate(self.dir.path());
        command
            .args(args)
            .current_dir(self.current_dir.as_deref().unwrap_or(self.dir.path()));
        command.envs(&self.env);
        command
    }

    /// Runs and asserts the exit code, returning the output for more checks.
    #[track_caller]
    pub fn run(&self, expected_code: i32) -> Output {
        let output = self.output();
        assert_eq!(
            output.code, expected_code,
            "exit code {} (expected {expected_code})\n--- stdout\n{}\n--- stderr\n{}",
            output.code, output.stdout, output.stderr
        );
        output
    }
}

/// A further run in an existing [`Test`]'s dir (e.g. a second deploy).
pub struct Invocation<'t> {
    test: &'t Test,
    args: Vec<String>,
}

impl Invocation<'_> {
    #[track_caller]
    pub fn run(&self, expected_code: i32) -> Output {
        let output = self.test.output_with(&self.args);
        assert_eq!(
            output.code, expected_code,
            "exit code {} (expected {expected_code}) for {:?}\n--- stdout\n{}\n--- stderr\n{}",
            output.code, self.args, output.stdout, output.stderr
        );
        output
    }
}

impl Output {
    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n--- stderr\n{}\n--- stdout\n{}",
            self.stderr,
            self.stdout
        );
        self
    }

    #[track_caller]
    pub fn nowhere(&self, needle: &str) -> &Self {
        assert!(
            !self.stdout.contains(needle),
            "stdout contains {needle:?}\n{}",
            self.stdout
        );
        assert!(
            !self.stderr.contains(needle),
            "stderr contains {needle:?}\n{}",
            self.stderr
        );
        self
    }

    /// The stdout parsed as the JSON report.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|error| panic!("stdout is not JSON ({error}):\n{}", self.stdout))
    }
}

fn copy_tree(from: &Path, to: &Path, skip: &[&str]) {
    fs_err::create_dir_all(to).expect("create dir");
    for entry in fs_err::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        if skip.iter().any(|skipped| name == *skipped) {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target, skip);
        } else {
            fs_err::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The binary, to run in `dir`: the outer shell's `SHIPGATE_*`, `GITHUB_*`
/// and `RUNNER_*` variables cleared, no colour, its state under `dir`.
pub fn shipgate(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_shipgate"));
    command.current_dir(dir);
    for (key, _) in std::env::vars() {
        if CLEARED_PREFIXES
            .iter()
            .any(|prefix| key.starts_with(prefix))
        {
            command.env_remove(key);
        }
    }
    command
        .env("NO_COLOR", "1")
        .env("SHIPGATE_STATE_DIR", dir.join(".state"));
    command
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Kills the process whose id is in `pid_file` when dropped.
pub struct KillOnDrop(pub PathBuf);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(pid) = fs_err::read_to_string(&self.0) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

/// `builder` also requiring the headers every GitHub REST call carries: the
/// bearer `token`, GitHub's JSON media type and the pinned API version.
pub fn github_headers(builder: wiremock::MockBuilder, token: &str) -> wiremock::MockBuilder {
    use wiremock::matchers::header;
    builder
        .and(header("authorization", format!("Bearer {token}").as_str()))
        .and(header("accept", "application/vnd.github+json"))
        .and(header("x-github-api-version", "2022-11-28"))
}
