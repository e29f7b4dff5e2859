//! The `migrations` gate: every file under `[migrate] dir` is committed (no
//! modified, staged or untracked file there, via the real `git`), and — when
//! the environment has a database — no migration the database already
//! applied was edited since (checksums, through [`crate::migrate::status`]).
//! With `lint = "…"` it also lints the pending migrations (every migration
//! when no database is configured) through [`crate::migrate::lint`]:
//! `"deny-destructive"` fails on an error finding or a destructive
//! migration, `"deny-errors"` only on an error finding, `"warn"` never
//! fails (findings make it a warning).

use super::GateContext;
use super::git::{describe_status, git, listed};
use crate::config::{Gate, MigrationsGate};
use crate::migrate::lint::FileLint;
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
        Some(policy) => lint(gate, policy, ctx, passed).await,
        None => Check::pass(&gate.name).detail(passed.join("; ")),
    }
}

/// The lint part of the gate, under `policy`.
async fn lint(gate: &Gate, policy: &str, ctx: &GateContext, mut passed: Vec<String>) -> Check {
    let deny_destructive = match policy {
        "deny-destructive" => true,
        "deny-errors" | "warn" => false,
        other => {
            return Check::fail(&gate.name).detail(format!(
                "unknown lint policy `{other}` in `[gate.migrations]`; use `deny-destructive`, `deny-errors` or `warn`"
            ));
        }
    };
    let selection = crate::migrate::lint::LintSelection {
        files: Vec::new(),
        pending: ctx.ctx.config.environment.database.is_some(),
    };
    let files = match crate::migrate::lint::collect(&ctx.ctx, &selection).await {
        Ok(files) => files,
        Err(error) => return Check::fail(&gate.name).detail(format!("cannot lint: {error}")),
    };
    let errors = files.iter().filter(|file| file.has_errors()).count();
    let destructive: Vec<String> = files
        .iter()
        .filter(|file| {
            file.classification.class == crate::migrate::lint::MigrationClass::Destructive
        })
        .map(|file| file.path.display().to_string())
        .collect();
    let log: Vec<String> = files.iter().flat_map(FileLint::describe_findings).collect();
    let failed = policy != "warn" && (errors > 0 || (deny_destructive && !destructive.is_empty()));
    let mut summary = format!(
        "lint `{policy}`: {} migration(s), {errors} with errors",
        files.len()
    );
    if !destructive.is_empty() {
        summary = format!("{summary}, destructive: {}", listed(&destructive));
    }
    passed.push(summary);
    let status = if failed {
        Status::Fail
    } else if log.is_empty() {
        Status::Pass
    } else {
        Status::Warn
    };
    let check = Check::new(&gate.name, status).detail(passed.join("; "));
    if log.is_empty() {
        check
    } else {
        check.log(log.join("\n"))
    }
}
