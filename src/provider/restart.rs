//! The `restart` hook: the user's shell command run after `current` switches
//! (`systemctl restart app`, `pm2 reload app`, `nohup python3 app.py &`).
//!
//! The command's stdout and stderr go to a log file, never to pipes: a hook
//! that starts a background server hands it those descriptors, so waiting for
//! the pipes to close would wait for the server to exit. We wait for the
//! shell's exit status only, bounded by `restart_timeout`, and read the log's
//! tail for the error. When to run the hook is the releases provider's call.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use super::ProviderError;
use crate::env;

/// How many lines of the log a failed hook's error carries.
const TAIL_LINES: usize = 20;
/// How much of the log's end is read to find those lines.
const TAIL_BYTES: u64 = 64 * 1024;

/// A configured `restart` command and where it runs.
#[derive(Debug, Clone)]
pub(super) struct RestartHook {
    /// The shell command, run with `sh -c`.
    pub(super) command: String,
    /// Its working directory (the config file's directory).
    pub(super) directory: PathBuf,
    /// How long it may run before it is killed.
    pub(super) timeout: Duration,
    /// Receives its stdout and stderr; truncated at each run.
    pub(super) log: PathBuf,
}

impl RestartHook {
    /// Runs the hook for release `id` in `release_dir` and waits for it to exit.
    ///
    /// The hook sees `SHIPGATE_RELEASE_ID` and `SHIPGATE_RELEASE_DIR`. A
    /// non-zero exit or the deadline passing is [`ProviderError::Restart`]
    /// with the last lines of the log; on the deadline the hook's whole
    /// process group is killed and the shell reaped.
    pub(super) async fn run(&self, id: &str, release_dir: &Path) -> Result<(), ProviderError> {
        let stdout = self.open_log().await?;
        let stderr = stdout
            .try_clone()
            .map_err(|source| self.log_error(source))?;
        let mut command = tokio::process::Command::new("sh");
        command
            .arg("-c")
            .arg(&self.command)
            .current_dir(&self.directory)
            .env(env::SHIPGATE_RELEASE_ID, id)
            .env(env::SHIPGATE_RELEASE_DIR, release_dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .kill_on_drop(true);
        // Its own process group, so a timeout can end everything it started.
        #[cfg(unix)]
        command.process_group(0);
        let mut child = command.spawn().map_err(|source| ProviderError::Io {
            action: "start the restart command (`sh -c`) in",
            path: self.directory.clone(),
            source,
        })?;
        let failure = match tokio::time::timeout(self.timeout, child.wait()).await {
            Ok(Ok(status)) if status.success() => return Ok(()),
            Ok(Ok(status)) => describe(status),
            Ok(Err(source)) => {
                return Err(ProviderError::Io {
                    action: "wait for the restart command in",
                    path: self.directory.clone(),
                    source,
                });
            }
            Err(_elapsed) => {
                kill(&mut child).await;
                format!(
                    "timed out after {}",
                    humantime::format_duration(self.timeout)
                )
            }
        };
        let output = self.tail().await;
        Err(ProviderError::Restart {
            command: self.command.clone(),
            failure,
            output,
        })
    }

    /// Opens the log for appending, emptied, so servers left running by an
    /// earlier run write at its end instead of into a hole.
    async fn open_log(&self) -> Result<std::fs::File, ProviderError> {
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .await
            .map_err(|source| self.log_error(source))?;
        file.set_len(0)
            .await
            .map_err(|source| self.log_error(source))?;
        Ok(file.into_std().await)
    }

    fn log_error(&self, source: std::io::Error) -> ProviderError {
        ProviderError::Io {
            action: "open the restart log",
            path: self.log.clone(),
            source,
        }
    }

    /// The last [`TAIL_LINES`] lines of the log, or a note why there are none.
    async fn tail(&self) -> String {
        match read_end(&self.log).await {
            Ok(bytes) => last_lines(&String::from_utf8_lossy(&bytes), TAIL_LINES),
            Err(error) => format!("(could not read `{}`: {error})", self.log.display()),
        }
    }
}

/// Reads at most [`TAIL_BYTES`] from the end of `path`, starting at a line.
pub(super) async fn read_end(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut file = tokio::fs::File::open(path).await?;
    let length = file.metadata().await?.len();
    let start = length.saturating_sub(TAIL_BYTES);
    file.seek(std::io::SeekFrom::Start(start)).await?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).await?;
    if start > 0 {
        // Drop the partial first line.
        let cut = bytes
            .iter()
            .position(|&byte| byte == b'\n')
            .map_or(0, |index| index + 1);
        bytes.drain(..cut);
    }
    Ok(bytes)
}

/// The last `count` lines of `text`, without trailing blank space.
pub(super) fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

/// `exited with status 3`, `was killed by signal 9`.
pub(super) fn describe(status: std::process::ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exited with status {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if let Some(signal) = status.signal() {
            return format!("was killed by signal {signal}");
        }
    }
    format!("ended with {status}")
}

/// Kills the hook's process group, then the shell itself, and reaps it.
pub(super) async fn kill(child: &mut tokio::process::Child) {
    #[cfg(unix)]
    if let Some(pid) = child.id() {
        // No `libc` (and no `unsafe`): let `sh`'s `kill` signal the group.
        let _ = tokio::process::Command::new("sh")
            .args([
                "-c",
                "kill -KILL \"-$1\" 2>/dev/null",
                "sh",
                &pid.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
    }
    // Errors here mean the shell is already gone; `wait` then just reaps it.
    let _ = child.start_kill();
    let _ = child.wait().await;
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    #[test]
    fn last_lines_keeps_the_end() {
        let text = (1..=30)
            .map(|line| format!("line {line}\n"))
            .collect::<Vec<_>>()
            .concat();
        let tail = last_lines(&text, 20);
        assert!(tail.starts_with("line 11\n"), "{tail}");
        assert!(tail.ends_with("line 30"), "{tail}");
        assert_eq!(last_lines("one\ntwo\n\n", 20), "one\ntwo");
        assert_eq!(last_lines("", 20), "");
    }

    #[tokio::test]
    async fn read_end_starts_at_a_whole_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let long = (0..20_000)
            .map(|line| format!("line {line}\n"))
            .collect::<Vec<_>>()
            .concat();
        fs_err::write(&path, &long).unwrap();
        let bytes = read_end(&path).await.unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.len() <= 64 * 1024);
        assert!(text.starts_with("line "), "{}", &text[..20]);
        assert!(text.ends_with("line 19999\n"));
    }
}
