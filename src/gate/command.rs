//! The `command` gate: a shell command that passes on exit 0.
//!
//! It runs through `sh -c` in the config's directory with a clean, explicit
//! environment: only [`BASE_ENV`], the gate's `pass_env` names and its `env`
//! table reach the command, so a gate behaves the same on a laptop and in CI
//! and no secret leaks into a tool that did not ask for it.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::process::Command;

use super::GateContext;
use crate::config::{CommandGate, Gate};
use crate::report::{Check, format_duration};

/// After this long, a running gate prints a heartbeat so a CI log shows life.
const HEARTBEAT: Duration = Duration::from_secs(30);

/// Variables every command gate gets from shipgate's environment (when set).
pub(crate) const BASE_ENV: [&str; 12] = [
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR",
    "TERM", "CI",
];

/// Runs one gate with `sh -c` in the config's directory and turns the result
/// into a check.
pub(super) async fn run(gate_config: &Gate, gate: &CommandGate, ctx: &GateContext) -> Check {
    let started = Instant::now();
    let name = &gate_config.name;
    let base_dir = &ctx.ctx.config.base_dir;
    let printer = &ctx.ctx.printer;
    let mut command = Command::new("sh");
    command.env_clear();
    for name in BASE_ENV
        .iter()
        .copied()
        .chain(gate.pass_env.iter().map(String::as_str))
    {
        if let Some(value) = (ctx.lookup)(name) {
            command.env(name, value);
        }
    }
    for (name, value) in &gate.env {
        command.env(name, value.expose());
    }
    let spawned = command
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
            return Check::fail(name)
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
    let deadline = tokio::time::sleep(gate_config.timeout);
    tokio::pin!(deadline);
    let mut heartbeat =
        tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
    let (status, out, err) = loop {
        tokio::select! {
            result = &mut collect => break result,
            () = &mut deadline => {
                return Check::fail(name)
                    .detail(format!("`{}` timed out after {} and was killed", gate.run, format_duration(gate_config.timeout)))
                    .duration(started.elapsed());
            }
            _ = heartbeat.tick() => {
                printer.progress(&format!("gate `{name}` still running ({})", format_duration(started.elapsed())));
            }
        }
    };
    let mut log = String::from_utf8_lossy(&out).into_owned();
    log.push_str(&String::from_utf8_lossy(&err));
    let check = match status {
        Ok(status) if status.success() => Check::pass(name).detail(format!("`{}`", gate.run)),
        Ok(status) => {
            let code = status.code().map_or_else(
                || "killed by a signal".to_owned(),
                |code| format!("exit {code}"),
            );
            let check = Check::fail(name)
                .detail(format!("`{}` failed", gate.run))
                .expected_actual("exit 0", code);
            if log.trim().is_empty() {
                check
            } else {
                check.log(log)
            }
        }
        Err(error) => {
            Check::fail(name).detail(format!("failed to wait for `{}`: {error}", gate.run))
        }
    };
    check.duration(started.elapsed())
}
