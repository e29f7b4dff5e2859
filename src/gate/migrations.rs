//! The `migrations` gate: every file under `[migrate] dir` is committed (no
//! modified, staged or untracked file there, via the real `git`), and — when
//! the environment has a database — no migration the database already
//! applied was edited since (checksums, through [`crate::migrate::status`]).
//! Migration lint (`lint = "…"`) arrives with issue 4; until then a
//! requested lint turns a pass into a warning saying so.

use super::GateContext;
use super::git::{describe_status, git, listed};
use crate::config::{Gate, MigrationsGate};
use crate::report::{Check, Status};

/// Runs the gate.
pub(super) async fn run(gate: &Gate, config: &MigrationsGate, ctx: &GateContext) -> Check {
    let base_dir = &ctx.ctx.config.base_dir;
    let shown = config
        .dir
        .strip_prefix(base_dir)
        .unwrap_or(&config.dir)
        .display()
        .to_string();
    if !config.dir.is_dir() {
        return Check::fail(&gate.name).detail(format!(
            "the migrations directory `{shown}` does not exist; set `[migrate] dir`"
        ));
    }
    let mut problems = Vec::new();
    let mut passed = Vec::new();

    let dir = config.dir.display().to_string();
    match git(
        ctx,
        &[
            "status",
            "--porcelain=v1",
            "--untracked-files=all",
            "--",
            &dir,
        ],
    )
    .await
    {
        Ok(status) if status.success => {
            let files: Vec<String> = status
                .stdout
                .lines()
                .filter(|line| !line.trim().is_empty())
                .map(describe_status)
                .collect();
            if files.is_empty() {
                passed.push(format!("every file in `{shown}` is committed"));
            } else {
                problems.push(format!(
                    "{} file(s) in `{shown}` not committed: {}",
                    files.len(),
                    listed(&files)
                ));
            }
        }
        Ok(status) => problems.push(format!(
            "cannot tell whether `{shown}` is committed: `git status` failed: {}",
            status.stderr
        )),
        Err(message) => problems.push(message),
    }

    if ctx.ctx.config.environment.database.is_some() {
        match crate::migrate::status(&ctx.ctx).await {
            Ok(report) => {
                let edited: Vec<String> = report
                    .phases
                    .iter()
                    .flat_map(|phase| &phase.checks)
                    .filter(|check| check.status == Status::Fail)
                    .map(|check| check.name.clone())
                    .collect();
                if edited.is_empty() {
                    passed.push("no applied migration was edited".to_owned());
                } else {
                    problems.push(format!(
                        "applied migration(s) edited after they ran: {}",
                        listed(&edited)
                    ));
                }
            }
            Err(error) => problems.push(format!("cannot compare with the database: {error}")),
        }
    } else {
        passed.push("no database configured, so applied checksums were not compared".to_owned());
    }

    if !problems.is_empty() {
        return Check::fail(&gate.name).detail(problems.join("; "));
    }
    match &config.lint {
        Some(policy) => Check::new(&gate.name, Status::Warn).detail(format!(
            "{}; lint `{policy}` was not run: migration lint is not in this build yet (issue 4)",
            passed.join("; ")
        )),
        None => Check::pass(&gate.name).detail(passed.join("; ")),
    }
}
