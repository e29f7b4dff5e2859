//! `shipgate gate`: the pre-deploy checklist as concurrent, reported gates.
//!
//! One file per kind — `command`, `git`, `environment` (`[gate.env]`),
//! `window`, `tls`, `github`, `migrations`, `provider`, `staged`, `drift` — each an
//! `async fn run(gate, ctx) -> Check` that never fails the process: every
//! problem is a failed check with its reason. This file owns the runner: all
//! selected gates start at once, a gate with `after = [...]` waits for those
//! gates (and is skipped when one of them did not pass), command gates are
//! bounded by the CPU count, every gate runs under its own deadline, and one
//! failing gate never hides the others. With a token and
//! `GITHUB_ACTIONS=true`, `execute` also publishes the result as the check
//! run `shipgate / gates` on the commit.

mod command;
mod drift;
mod environment;
mod git;
mod github;
mod migrations;
mod provider;
mod staged;
mod tls;
mod window;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::config::{Gate, GateKind};
use crate::context::Context;
use crate::diagnostic::{Diagnostic, suggest};
use crate::env;
use crate::exit::ExitStatus;
use crate::github::{
    Annotation, AnnotationLevel, CheckRunOutput, GithubClient, GithubEnv, RetryPolicy,
};
use crate::report::{Check, Phase, PhaseName, Report, Status, format_duration};

pub use window::{WindowVerdict, evaluate_window};

/// The check run `shipgate gate` creates or updates on the commit.
pub const CHECK_RUN_NAME: &str = "shipgate / gates";

/// Extra time a command gate gets beyond its own deadline to kill and reap
/// its child before the runner gives up on it.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// Why the gates could not run.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// `--only`/`--skip` names a gate the config does not define.
    #[error("no gate named `{name}` in the config")]
    UnknownGate {
        /// The name given.
        name: String,
        /// The defined names.
        defined: Vec<String>,
    },
    /// `--override-window` was given without a reason.
    #[error("`--override-window` needs a reason")]
    EmptyOverrideReason,
    /// `SHIPGATE_NOW` is not an RFC 3339 instant.
    #[error("invalid `SHIPGATE_NOW` value `{value}`: {message}")]
    ParseNow {
        /// The value.
        value: String,
        /// Why it does not parse.
        message: String,
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
            Self::ParseNow { .. } => Some(
                "write an instant with a zone offset, e.g. `SHIPGATE_NOW=2026-12-24T15:00:00Z`, or unset it"
                    .to_owned(),
            ),
            Self::EmptyOverrideReason => Some(
                "say why the deploy cannot wait, e.g. `--override-window \"hotfix for the checkout outage\"`"
                    .to_owned(),
            ),
        }
    }
}

impl GateError {
    /// The exit status this error ends the process with.
    pub fn exit_status(&self) -> ExitStatus {
        ExitStatus::Usage
    }
}

/// Which gates to run and with what overrides.
#[derive(Debug, Clone, Default)]
pub struct GateOptions {
    /// Run only these gates (empty = all).
    pub only: Vec<String>,
    /// Do not run these gates.
    pub skip: Vec<String>,
    /// Emergency override of the `window` gate: the reason, recorded in the report.
    pub window_override: Option<String>,
}

/// Reads an environment variable; injectable for tests.
pub type Lookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What a gate may read while it runs.
#[derive(Clone)]
pub struct GateContext {
    /// The invocation's context (config, printer, cancel).
    pub ctx: Context,
    /// The instant the `window` gate judges (fixed for the whole run).
    pub now: jiff::Timestamp,
    /// The environment the deploy runs with.
    pub lookup: Lookup,
    /// `--override-window REASON`.
    pub window_override: Option<String>,
    /// The GitHub settings from the environment, or why they are unusable.
    pub github: Result<GithubEnv, String>,
    /// Retries for GitHub calls.
    pub retry: RetryPolicy,
}

impl GateContext {
    /// The context for a real run: the process environment, and the clock
    /// from `SHIPGATE_NOW` when set, else now.
    pub fn from_process(ctx: &Context, window_override: Option<String>) -> Result<Self, GateError> {
        let lookup: Lookup = Arc::new(|name: &str| std::env::var(name).ok());
        let now = match lookup(env::SHIPGATE_NOW).filter(|text| !text.is_empty()) {
            Some(text) => text
                .parse::<jiff::Timestamp>()
                .map_err(|error| GateError::ParseNow {
                    value: text.clone(),
                    message: error.to_string(),
                })?,
            None => jiff::Timestamp::now(),
        };
        let github = GithubEnv::from_lookup(&|name| lookup(name), ctx.printer.redactor())
            .map_err(|error| error.to_string());
        Ok(Self {
            ctx: ctx.clone(),
            now,
            lookup,
            window_override,
            github,
            retry: RetryPolicy::default(),
        })
    }
}

/// `shipgate gate [--only NAME]... [--skip NAME]... [--override-window REASON]`.
pub async fn execute(ctx: &Context, options: &GateOptions) -> Result<Report, GateError> {
    if options
        .window_override
        .as_deref()
        .is_some_and(|reason| reason.trim().is_empty())
    {
        return Err(GateError::EmptyOverrideReason);
    }
    let gate_ctx = GateContext::from_process(ctx, options.window_override.clone())?;
    let mut phase = run_selected(&gate_ctx, options).await?;
    if !ctx.dry_run && !ctx.cancel.is_cancelled() {
        if let Some(check) = publish(&gate_ctx, &phase).await {
            phase.checks.push(check);
        }
    }
    let mut report = Report::new("gate", Some(&ctx.config.environment.name), ctx.dry_run);
    report.push(phase);
    Ok(report)
}

/// Runs the selected gates concurrently and returns the gate phase (the
/// pipeline's entry; the window override comes from `SHIPGATE_OVERRIDE_WINDOW`).
pub async fn run_gates(
    ctx: &Context,
    only: &[String],
    skip: &[String],
) -> Result<Phase, GateError> {
    let window_override = std::env::var(env::SHIPGATE_OVERRIDE_WINDOW)
        .ok()
        .filter(|reason| !reason.trim().is_empty());
    let options = GateOptions {
        only: only.to_vec(),
        skip: skip.to_vec(),
        window_override: window_override.clone(),
    };
    run_selected(&GateContext::from_process(ctx, window_override)?, &options).await
}

/// Runs the gates `options` selects with `gate_ctx` (tests inject the clock
/// and the environment here).
pub async fn run_selected(
    gate_ctx: &GateContext,
    options: &GateOptions,
) -> Result<Phase, GateError> {
    let gates = &gate_ctx.ctx.config.gates;
    let defined: Vec<String> = gates.iter().map(|gate| gate.name.clone()).collect();
    for name in options.only.iter().chain(&options.skip) {
        if !defined.contains(name) {
            return Err(GateError::UnknownGate {
                name: name.clone(),
                defined,
            });
        }
    }
    let started = Instant::now();
    let selected = |gate: &Gate| {
        (options.only.is_empty() || options.only.contains(&gate.name))
            && !options.skip.contains(&gate.name)
    };
    let limit =
        gate_ctx.ctx.config.gate_concurrency.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
        });
    let semaphore = Arc::new(Semaphore::new(limit));
    let mut done: HashMap<String, watch::Receiver<Option<bool>>> = HashMap::new();
    let mut senders = Vec::new();
    for gate in gates {
        let (sender, receiver) = watch::channel(None);
        done.insert(gate.name.clone(), receiver);
        senders.push(sender);
    }
    let mut tasks = JoinSet::new();
    let mut checks: Vec<Option<Check>> = vec![None; gates.len()];
    for ((index, gate), sender) in gates.iter().enumerate().zip(senders) {
        if !selected(gate) {
            checks[index] =
                Some(Check::new(&gate.name, Status::Skip).detail("skipped by `--only`/`--skip`"));
            let _ = sender.send(Some(true));
            continue;
        }
        if gate_ctx.ctx.dry_run {
            checks[index] = Some(Check::new(&gate.name, Status::Skip).detail(plan(gate)));
            let _ = sender.send(Some(true));
            continue;
        }
        let waits: Vec<(String, watch::Receiver<Option<bool>>)> = gate
            .after
            .iter()
            .filter_map(|name| done.get(name).map(|rx| (name.clone(), rx.clone())))
            .collect();
        let gate = gate.clone();
        let semaphore = Arc::clone(&semaphore);
        let gate_ctx = gate_ctx.clone();
        tasks.spawn(async move {
            let check = run_one(&gate, &gate_ctx, waits, &semaphore).await;
            let _ = sender.send(Some(matches!(check.status, Status::Pass | Status::Warn)));
            (index, check)
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

/// What a dry run says a gate would do.
fn plan(gate: &Gate) -> String {
    match &gate.kind {
        GateKind::Command(command) => format!("would run `{}`", command.run),
        kind => format!("would run the `{}` gate", kind.as_str()),
    }
}

/// Waits for `after`, then runs one gate under its deadline.
async fn run_one(
    gate: &Gate,
    gate_ctx: &GateContext,
    waits: Vec<(String, watch::Receiver<Option<bool>>)>,
    semaphore: &Semaphore,
) -> Check {
    for (name, mut receiver) in waits {
        let passed = receiver
            .wait_for(Option::is_some)
            .await
            .is_ok_and(|value| *value == Some(true));
        if !passed {
            return Check::new(&gate.name, Status::Skip).detail(format!(
                "not run: `{name}`, which it runs after, did not pass"
            ));
        }
    }
    if gate_ctx.ctx.cancel.is_cancelled() {
        return Check::new(&gate.name, Status::Skip).detail("not started: interrupted");
    }
    let _permit = if matches!(gate.kind, GateKind::Command(_)) {
        match semaphore.acquire().await {
            Ok(permit) => Some(permit),
            Err(_) => {
                return Check::fail(&gate.name)
                    .detail("internal error: the gate semaphore closed; this is a bug");
            }
        }
    } else {
        None
    };
    let started = Instant::now();
    let work = async {
        match &gate.kind {
            GateKind::Command(command) => command::run(gate, command, gate_ctx).await,
            GateKind::Git(git) => git::run(gate, git, gate_ctx).await,
            GateKind::Env(environment) => environment::run(gate, environment, gate_ctx).await,
            GateKind::Window(window) => window::run(gate, window, gate_ctx),
            GateKind::Tls(tls) => tls::run(gate, tls, gate_ctx).await,
            GateKind::Github(github) => github::run(gate, github, gate_ctx).await,
            GateKind::Migrations(migrations) => migrations::run(gate, migrations, gate_ctx).await,
            GateKind::Provider => provider::run(gate, gate_ctx).await,
            GateKind::Staged(staged) => staged::run(gate, staged, gate_ctx).await,
            GateKind::Drift(config) => drift::run(gate, config, gate_ctx).await,
        }
    };
    if matches!(gate.kind, GateKind::Drift(_)) {
        // It keeps its own deadline and watches Ctrl-C itself, so its
        // scratch database is dropped before it returns (issue 16).
        let mut check = work.await;
        if check.duration.is_none() {
            check = check.duration(started.elapsed());
        }
        if matches!(check.status, Status::Fail | Status::Warn) && check.location.is_none() {
            if let Some(location) = &gate.location {
                check = check.location(location.clone());
            }
        }
        return check;
    }
    let deadline = match gate.kind {
        GateKind::Command(_) => gate.timeout.saturating_add(KILL_GRACE),
        _ => gate.timeout,
    };
    let mut check = tokio::select! {
        finished = tokio::time::timeout(deadline, work) => match finished {
            Ok(check) => check,
            Err(_) => Check::fail(&gate.name).detail(format!(
                "the `{}` gate timed out after {}",
                gate.kind.as_str(),
                format_duration(gate.timeout)
            )),
        },
        // Dropping the work kills a command gate's child (kill_on_drop).
        () = gate_ctx.ctx.cancel.cancelled() => {
            Check::new(&gate.name, Status::Skip).detail("stopped: interrupted")
        }
    };
    if check.duration.is_none() {
        check = check.duration(started.elapsed());
    }
    if matches!(check.status, Status::Fail | Status::Warn) && check.location.is_none() {
        if let Some(location) = &gate.location {
            check = check.location(location.clone());
        }
    }
    check
}

/// With a token and `GITHUB_ACTIONS=true`, creates or updates the check run
/// [`CHECK_RUN_NAME`] on the commit; the returned check says how that went.
async fn publish(gate_ctx: &GateContext, phase: &Phase) -> Option<Check> {
    let github = gate_ctx.github.as_ref().ok()?;
    if !github.actions || github.token.is_none() {
        return None;
    }
    let name = format!("check run `{CHECK_RUN_NAME}`");
    let Some(sha) = github.sha.as_deref() else {
        return Some(
            Check::new(name, Status::Warn).detail("not published: `GITHUB_SHA` is not set"),
        );
    };
    let client = match GithubClient::new(github, gate_ctx.retry) {
        Ok(client) => client,
        Err(error) => {
            return Some(Check::new(name, Status::Warn).detail(format!("not published: {error}")));
        }
    };
    let output = check_run_output(gate_ctx, phase);
    Some(
        match crate::github::publish_check_run(&client, sha, &output).await {
            Ok(id) => Check::pass(name)
                .detail(format!(
                    "published on `{}` ({} annotation(s))",
                    sha.chars().take(12).collect::<String>(),
                    output.annotations.len()
                ))
                .artifact("check_run_id", id.to_string()),
            Err(error) => Check::new(name, Status::Warn).detail(format!("not published: {error}")),
        },
    )
}

/// The check run's conclusion, summary table and one annotation per failed
/// or warning gate.
fn check_run_output(gate_ctx: &GateContext, phase: &Phase) -> CheckRunOutput {
    let config = &gate_ctx.ctx.config;
    // Masked before it is rendered or escaped (issue 10, item 5).
    let redactor = gate_ctx.ctx.printer.redactor();
    let phase = &phase.redacted(redactor);
    let mut report = Report::new("gate", Some(&config.environment.name), false);
    report.push(phase.clone());
    let status = report.status_from_checks();
    report.finish(status, phase.duration);
    let summary = gate_ctx
        .ctx
        .printer
        .redactor()
        .redact(&crate::report::github::summary_markdown(&report));
    let config_path = config.path.display().to_string();
    let annotations = phase
        .checks
        .iter()
        .filter_map(|check| {
            let level = match check.status {
                Status::Fail => AnnotationLevel::Failure,
                Status::Warn => AnnotationLevel::Warning,
                Status::Pass | Status::Skip => return None,
            };
            let (path, line) = check.location.as_ref().map_or_else(
                || (config_path.clone(), 1),
                |location| (location.path.display().to_string(), location.line),
            );
            let mut message = check.detail.clone().unwrap_or_else(|| "failed".to_owned());
            if let (Some(expected), Some(actual)) = (&check.expected, &check.actual) {
                let _ = write!(message, "\nexpected: {expected}\ngot: {actual}");
            }
            Some(Annotation {
                path,
                start_line: line,
                end_line: line,
                annotation_level: level,
                message: gate_ctx.ctx.printer.redactor().redact(&message),
                title: format!("shipgate gate: {}", check.name),
            })
        })
        .collect();
    let failed = phase
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .count();
    let (conclusion, title) = if failed > 0 {
        ("failure", format!("{failed} gate(s) failed"))
    } else {
        (
            "success",
            phase
                .summary
                .clone()
                .unwrap_or_else(|| "gates passed".to_owned()),
        )
    };
    CheckRunOutput {
        name: CHECK_RUN_NAME.to_owned(),
        conclusion,
        title,
        summary,
        annotations,
    }
}

#[cfg(test)]
mod tests;
