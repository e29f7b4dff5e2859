//! Provider commands run through `sh -c`: the `command` provider's `deploy`,
//! `current`, `list` and `promote`, and `deploy = "command"` on Vercel and
//! Railway (`vercel deploy --prebuilt --prod`, `railway up --ci`).
//!
//! Templates expand `{release}` and `{commit}` to single-quoted shell words,
//! so an id can never inject a command; the same values are also in the
//! environment (`SHIPGATE_RELEASE_ID`, `SHIPGATE_COMMIT`). Output goes to
//! files, not pipes (a command that leaves a process running would otherwise
//! hold the pipe open), and the whole process group is killed at the deadline.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use super::restart::{describe, kill, last_lines, read_end};
use super::{ProviderError, random_suffix};
use crate::env;

/// Lines of stderr a failure carries.
const TAIL_LINES: usize = 20;
/// The most stdout a command may print (a `list` of releases is far less).
const MAX_STDOUT: u64 = 8 * 1024 * 1024;

/// One command to run.
#[derive(Debug, Clone)]
pub struct ShellCommand {
    /// `deploy`, `current`, `list`, `promote`: names it in errors.
    pub role: &'static str,
    /// The template as configured.
    pub template: String,
    /// Working directory (the config file's directory).
    pub directory: PathBuf,
    /// Deadline.
    pub timeout: Duration,
}

/// What a command that exited 0 printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// Its whole stdout.
    pub stdout: String,
    /// The last lines of its stderr.
    pub stderr: String,
}

impl ShellCommand {
    /// Runs the template with `{release}` and `{commit}` expanded; a non-zero
    /// exit, the deadline or too much output is [`ProviderError::Command`].
    pub async fn run(
        &self,
        release: Option<&str>,
        commit: Option<&str>,
    ) -> Result<Captured, ProviderError> {
        let script = expand(&self.template, release, commit);
        let suffix = random_suffix();
        let stdout_path = std::env::temp_dir().join(format!("shipgate-{}-{suffix}.out", self.role));
        let stderr_path = std::env::temp_dir().join(format!("shipgate-{}-{suffix}.err", self.role));
        let result = self
            .run_to(&script, release, commit, &stdout_path, &stderr_path)
            .await;
        let _ = fs_err::remove_file(&stdout_path);
        let _ = fs_err::remove_file(&stderr_path);
        result
    }

    async fn run_to(
        &self,
        script: &str,
        release: Option<&str>,
        commit: Option<&str>,
        stdout_path: &Path,
        stderr_path: &Path,
    ) -> Result<Captured, ProviderError> {
        let create = |path: &Path| {
            fs_err::File::create(path)
                .map(fs_err::File::into_file)
                .map_err(|source| ProviderError::Io {
                    action: "create the command output file",
                    path: path.to_owned(),
                    source,
                })
        };
        let mut command = tokio::process::Command::new("sh");
        command
            .arg("-c")
            .arg(script)
            .current_dir(&self.directory)
            .stdin(Stdio::null())
            .stdout(create(stdout_path)?)
            .stderr(create(stderr_path)?)
            .kill_on_drop(true);
        if let Some(release) = release {
            command.env(env::SHIPGATE_RELEASE_ID, release);
        }
        if let Some(commit) = commit {
            command.env(env::SHIPGATE_COMMIT, commit);
        }
        #[cfg(unix)]
        command.process_group(0);
        let mut child = command.spawn().map_err(|source| ProviderError::Io {
            action: "start `sh -c` in",
            path: self.directory.clone(),
            source,
        })?;
        let failure = match tokio::time::timeout(self.timeout, child.wait()).await {
            Ok(Ok(status)) if status.success() => None,
            Ok(Ok(status)) => Some(describe(status)),
            Ok(Err(source)) => {
                return Err(ProviderError::Io {
                    action: "wait for the command in",
                    path: self.directory.clone(),
                    source,
                });
            }
            Err(_elapsed) => {
                kill(&mut child).await;
                Some(format!(
                    "timed out after {}",
                    humantime::format_duration(self.timeout)
                ))
            }
        };
        let stderr = match read_end(stderr_path).await {
            Ok(bytes) => last_lines(&String::from_utf8_lossy(&bytes), TAIL_LINES),
            Err(error) => format!("(could not read its stderr: {error})"),
        };
        if let Some(failure) = failure {
            return Err(self.error(failure, stderr));
        }
        let size = fs_err::metadata(stdout_path).map_or(0, |meta| meta.len());
        if size > MAX_STDOUT {
            return Err(self.error(
                format!("printed {size} bytes, more than the {MAX_STDOUT} shipgate reads"),
                stderr,
            ));
        }
        let stdout = fs_err::read(stdout_path).map_err(|source| ProviderError::Io {
            action: "read the command output",
            path: stdout_path.to_owned(),
            source,
        })?;
        Ok(Captured {
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr,
        })
    }

    /// A [`ProviderError::Command`] for this command.
    pub fn error(&self, failure: String, output: String) -> ProviderError {
        ProviderError::Command {
            role: self.role,
            command: self.template.clone(),
            failure,
            output,
        }
    }
}

/// Expands `{release}` and `{commit}` to single-quoted words (`''` when
/// unknown); any other text, braces included, is left alone.
pub fn expand(template: &str, release: Option<&str>, commit: Option<&str>) -> String {
    template
        .replace("{release}", &quote(release.unwrap_or("")))
        .replace("{commit}", &quote(commit.unwrap_or("")))
}

/// `value` as one single-quoted POSIX shell word.
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(template: &str, timeout: Duration) -> ShellCommand {
        ShellCommand {
            role: "deploy",
            template: template.to_owned(),
            directory: std::env::temp_dir(),
            timeout,
        }
    }

    #[test]
    fn values_are_quoted_so_they_cannot_inject() {
        assert_eq!(
            expand(
                "promote {release} at {commit}",
                Some("v1; rm -rf /"),
                Some("abc")
            ),
            "promote 'v1; rm -rf /' at 'abc'"
        );
        assert_eq!(expand("x {release}", Some("it's"), None), "x 'it'\\''s'");
        assert_eq!(expand("jq '{a: 1}' {commit}", None, None), "jq '{a: 1}' ''");
    }

    #[tokio::test]
    async fn output_and_environment_reach_the_caller() {
        let captured = command(
            "printf '%s %s\\n' {release} \"$SHIPGATE_COMMIT\"; echo warn >&2",
            Duration::from_secs(10),
        )
        .run(Some("v 2"), Some("abc123"))
        .await
        .unwrap();
        assert_eq!(captured.stdout, "v 2 abc123\n");
        assert_eq!(captured.stderr, "warn");
    }

    #[tokio::test]
    async fn a_failure_carries_its_status_and_stderr() {
        let error = command("echo 'no such app' >&2; exit 3", Duration::from_secs(10))
            .run(None, None)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, ProviderError::Command { role: "deploy", failure, output, .. }
                if failure == "exited with status 3" && output == "no such app"),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn the_deadline_kills_the_whole_group() {
        let started = std::time::Instant::now();
        let error = command("sleep 30 & sleep 30", Duration::from_millis(300))
            .run(None, None)
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(
            matches!(&error, ProviderError::Command { failure, .. } if failure == "timed out after 300ms"),
            "{error:?}"
        );
    }
}
