//! The `command` gate: a shell command that passes on exit 0.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::process::Command;

use crate::config::CommandGate;
use crate::report::{Check, Printer, format_duration};

/// After this long, a running gate prints a heartbeat so a CI log shows life.
const HEARTBEAT: Duration = Duration::from_secs(30);

/// Runs one gate with `sh -c` in `base_dir` and turns the result into a check.
pub(super) async fn run(gate: &CommandGate, base_dir: &Path, printer: &Printer) -> Check {
    let started = Instant::now();
    let spawned = Command::new("sh")
        .arg("-c")
        .arg(&gate.run)
        .current_dir(base_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(error) => {
            return Check::fail(&gate.name)
                .detail(format!("failed to start `sh -c {}`: {error}", gate.run))
                .duration(started.elapsed());
        }
    };
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let collect = async {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let read_out = async {
            if let Some(pipe) = stdout.as_mut() {
                let _ = pipe.read_to_end(&mut out).await;
            }
        };
        let read_err = async {
            if let Some(pipe) = stderr.as_mut() {
                let _ = pipe.read_to_end(&mut err).await;
            }
        };
        tokio::join!(read_out, read_err);
        let status = child.wait().await;
        (status, out, err)
    };
    tokio::pin!(collect);
    let deadline = tokio::time::sleep(gate.timeout);
    tokio::pin!(deadline);
    let mut heartbeat =
        tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
    let (status, out, err) = loop {
        tokio::select! {
            result = &mut collect => break result,
            () = &mut deadline => {
                return Check::fail(&gate.name)
                    .detail(format!("`{}` timed out after {} and was killed", gate.run, format_duration(gate.timeout)))
                    .duration(started.elapsed());
            }
            _ = heartbeat.tick() => {
                printer.progress(&format!("gate `{}` still running ({})", gate.name, format_duration(started.elapsed())));
            }
        }
    };
    let mut log = String::from_utf8_lossy(&out).into_owned();
    log.push_str(&String::from_utf8_lossy(&err));
    let check = match status {
        Ok(status) if status.success() => Check::pass(&gate.name).detail(format!("`{}`", gate.run)),
        Ok(status) => {
            let code = status.code().map_or_else(
                || "killed by a signal".to_owned(),
                |code| format!("exit {code}"),
            );
            let check = Check::fail(&gate.name)
                .detail(format!("`{}` failed", gate.run))
                .expected_actual("exit 0", code);
            if log.trim().is_empty() {
                check
            } else {
                check.log(log)
            }
        }
        Err(error) => {
            Check::fail(&gate.name).detail(format!("failed to wait for `{}`: {error}", gate.run))
        }
    };
    check.duration(started.elapsed())
}
