//! `shipgate gate`: the pre-deploy checklist as concurrent, reported gates.
//!
//! This build has the `command` kind (`[[gate.command]]`): each runs through
//! the shell and passes on exit 0. The runner runs them concurrently, bounded
//! by the CPU count, each under its own deadline; one failing gate never hides
//! the others.

mod command;

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::config::CommandGate;
use crate::context::Context;
use crate::diagnostic::{Diagnostic, suggest};
use crate::exit::ExitStatus;
use crate::report::{Check, Phase, PhaseName, Report, Status};

/// Why the gates could not run.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// `--only`/`--skip` names a gate the config does not define.
    #[error("no gate named `{name}` in `[[gate.command]]`")]
    UnknownGate {
        /// The name given.
        name: String,
        /// The defined names.
        defined: Vec<String>,
    },
}

impl Diagnostic for GateError {
    fn hint(&self) -> Option<String> {
        match self {
            Self::UnknownGate { name, defined } => {
                Some(match suggest(name, defined.iter().map(String::as_str)) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => format!("defined gates: {}", defined.join(", ")),
                })
            }
        }
    }
}

impl GateError {
    /// The exit status this error ends the process with.
    pub fn exit_status(&self) -> ExitStatus {
        ExitStatus::Usage
    }
}

/// `shipgate gate [--only NAME]... [--skip NAME]...`.
pub async fn execute(ctx: &Context, only: &[String], skip: &[String]) -> Result<Report, GateError> {
    let mut report = Report::new("gate", Some(&ctx.config.environment.name), ctx.dry_run);
    report.push(run_gates(ctx, only, skip).await?);
    Ok(report)
}

/// Runs the selected gates concurrently and returns the gate phase.
pub async fn run_gates(
    ctx: &Context,
    only: &[String],
    skip: &[String],
) -> Result<Phase, GateError> {
    let gates = &ctx.config.gates;
    let defined: Vec<String> = gates.iter().map(|gate| gate.name.clone()).collect();
    for name in only.iter().chain(skip) {
        if !defined.contains(name) {
            return Err(GateError::UnknownGate {
                name: name.clone(),
                defined,
            });
        }
    }
    let started = Instant::now();
    let selected = |gate: &CommandGate| {
        (only.is_empty() || only.contains(&gate.name)) && !skip.contains(&gate.name)
    };
    let limit = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let semaphore = Arc::new(Semaphore::new(limit));
    let mut tasks = JoinSet::new();
    let mut checks: Vec<Option<Check>> = vec![None; gates.len()];
    for (index, gate) in gates.iter().enumerate() {
        if !selected(gate) {
            checks[index] =
                Some(Check::new(&gate.name, Status::Skip).detail("skipped by `--only`/`--skip`"));
            continue;
        }
        if ctx.dry_run {
            checks[index] = Some(
                Check::new(&gate.name, Status::Skip).detail(format!("would run `{}`", gate.run)),
            );
            continue;
        }
        let gate = gate.clone();
        let semaphore = Arc::clone(&semaphore);
        let base_dir = ctx.config.base_dir.clone();
        let cancel = ctx.cancel.clone();
        let printer = ctx.printer.clone();
        tasks.spawn(async move {
            let Ok(_permit) = semaphore.acquire_owned().await else {
                return (
                    index,
                    Check::fail(&gate.name)
                        .detail("internal error: the gate semaphore closed; this is a bug"),
                );
            };
            if cancel.is_cancelled() {
                return (
                    index,
                    Check::new(&gate.name, Status::Skip).detail("not started: interrupted"),
                );
            }
            (index, command::run(&gate, &base_dir, &printer).await)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, check)) => checks[index] = Some(check),
            Err(error) => {
                // The index is lost with the panicked task; report it on its own line.
                checks
                    .push(Some(Check::fail("internal error").detail(format!(
                        "a gate task panicked: {error}; this is a bug"
                    ))));
            }
        }
    }
    let checks: Vec<Check> = checks.into_iter().flatten().collect();
    let failed = checks
        .iter()
        .filter(|check| check.status == Status::Fail)
        .count();
    let ran = checks
        .iter()
        .filter(|check| check.status != Status::Skip)
        .count();
    let summary = if gates.is_empty() {
        "no gates configured".to_owned()
    } else if failed == 0 {
        format!("{ran} of {ran} passed")
    } else {
        format!("{failed} of {ran} failed")
    };
    Ok(Phase::new(PhaseName::Gate, checks, started.elapsed()).summary(summary))
}
