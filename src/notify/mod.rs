//! Tells people what a deploy or a rollback did (issue 14): a Slack-compatible
//! webhook ([`webhook`]) and, on a rollback, an incident issue on GitHub
//! ([`incident`]).
//!
//! Everything here reads the finished [`Report`] rather than the phases'
//! internals, so the pipeline and `shipgate rollback` call it through two
//! small hooks: [`rollback_started`] and [`finished`]. A delivery that fails
//! is a warning and a `warn` check in a `notify` phase; it never changes the
//! exit status. Nothing is sent under `--dry-run`.

mod incident;
mod webhook;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::config::{NotifyEvent, Redactor};
use crate::context::Context;
use crate::env;
use crate::exit::ExitStatus;
use crate::report::{Check, Phase, PhaseName, Report, Status};

/// What one notification says, every field already masked by the redactor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Notice {
    /// Which moment.
    pub(crate) event: NotifyEvent,
    /// The environment's name.
    pub(crate) environment: String,
    /// The release rolled back from, or the one deployed.
    pub(crate) from: Option<String>,
    /// The release rolled back to.
    pub(crate) to: Option<String>,
    /// Why (the failing check, the rollback reason).
    pub(crate) reason: Option<String>,
    /// What happened to the database.
    pub(crate) database: Option<String>,
    /// The GitHub Actions run, when inside one.
    pub(crate) run_url: Option<String>,
}

impl Notice {
    /// Masks every text field: payloads are built from masked strings only,
    /// so no escaped form of a secret is ever produced.
    fn redacted(self, redactor: &Redactor) -> Self {
        let mask = |value: Option<String>| value.map(|value| redactor.redact(&value));
        Self {
            event: self.event,
            environment: redactor.redact(&self.environment),
            from: mask(self.from),
            to: mask(self.to),
            reason: mask(self.reason),
            database: mask(self.database),
            run_url: mask(self.run_url),
        }
    }
}

/// Posts `rollback-started` before a rollback begins (automatic or manual);
/// `to` is the release asked for with `--to`, if any.
pub async fn rollback_started(
    ctx: &Context,
    report: &mut Report,
    from: Option<&str>,
    to: Option<&str>,
    reason: Option<&str>,
) {
    if ctx.dry_run {
        return;
    }
    let notice = Notice {
        event: NotifyEvent::RollbackStarted,
        environment: ctx.config.environment.name.clone(),
        from: from.map(str::to_owned),
        to: to.map(str::to_owned),
        reason: reason.map(str::to_owned),
        database: None,
        run_url: run_url(&lookup_env),
    }
    .redacted(&ctx.config.redactor);
    let started = Instant::now();
    if let Some(check) = deliver(ctx, &notice).await {
        push(report, vec![check], started.elapsed());
    }
}

/// After `run` or `rollback` finished: posts the matching event and, after
/// a rollback with `[notify] github_issue = true`, records the incident.
/// `from` is the release rolled back from when the caller knows it (else
/// the `release` output of the report).
pub async fn finished(ctx: &Context, report: &mut Report, from: Option<&str>) {
    if ctx.dry_run {
        return;
    }
    let started = Instant::now();
    let now = jiff::Timestamp::now();
    let from = from
        .map(str::to_owned)
        .or_else(|| output(report, "release"));
    let rolled_back = rollback_attempted(report);
    let event = if rolled_back {
        if matches!(report.outcome, ExitStatus::Success | ExitStatus::RolledBack) {
            NotifyEvent::RollbackSucceeded
        } else {
            NotifyEvent::RollbackFailed
        }
    } else if let Some(event) = deploy_event(report) {
        event
    } else {
        return;
    };
    let reason = if rolled_back {
        rollback_check(report, "reason").and_then(|check| check.detail.clone())
    } else {
        None
    }
    .or_else(|| first_failure(report).map(|failure| failure.describe()));
    let notice = Notice {
        event,
        environment: ctx.config.environment.name.clone(),
        from,
        to: rolled_back.then(|| rollback_target(report)).flatten(),
        reason,
        database: rollback_check(report, "database").and_then(|check| check.detail.clone()),
        run_url: run_url(&lookup_env),
    }
    .redacted(&ctx.config.redactor);
    let mut warnings = Vec::new();
    warnings.extend(deliver(ctx, &notice).await);
    if rolled_back && ctx.config.notify.github_issue {
        let record = incident::Incident::from_report(
            report,
            &notice,
            now,
            incident::RunLinks {
                marker: run_marker(&lookup_env),
                deployments: deployments_url(&lookup_env, &ctx.config.environment.name),
            },
            &ctx.config.redactor,
        );
        warnings.extend(incident::record(ctx, &record).await);
    }
    if !warnings.is_empty() {
        push(report, warnings, started.elapsed());
    }
}

/// The deploy event a finished command stands for, if any: `run` passed or
/// failed; `deploy` failed (a deploy that went live waits for its checks);
/// a separate `smoke` / `watch` step settled the release this run deployed
/// (`deploy::record_verified`). An interrupted command notifies nothing.
fn deploy_event(report: &Report) -> Option<NotifyEvent> {
    if report.outcome == ExitStatus::Interrupted {
        return None;
    }
    // A standalone command's outcome is set after this runs: its checks say.
    let passed =
        report.outcome == ExitStatus::Success && report.status_from_checks() == ExitStatus::Success;
    match report.command.as_str() {
        "run" if passed => Some(NotifyEvent::DeploySucceeded),
        "run" => Some(NotifyEvent::DeployFailed),
        "deploy" if !passed => Some(NotifyEvent::DeployFailed),
        "smoke" | "watch" => match output(report, crate::deploy::VERIFICATION_OUTPUT).as_deref() {
            Some("passed") => Some(NotifyEvent::DeploySucceeded),
            Some("failed") => Some(NotifyEvent::DeployFailed),
            _ => None,
        },
        _ => None,
    }
}

/// Posts `notice` when the webhook is configured for its event; a warning
/// check when that failed.
async fn deliver(ctx: &Context, notice: &Notice) -> Option<Check> {
    let config = ctx.config.notify.webhook.as_ref()?;
    if !config.events.contains(&notice.event) {
        return None;
    }
    let payload = webhook::payload(notice);
    match webhook::post(config, &payload).await {
        Ok(()) => None,
        Err(error) => {
            let message = format!(
                "webhook `{}` for `{}` was not delivered: {error}",
                config.url.variable,
                notice.event.as_str()
            );
            ctx.printer.warning(&message);
            Some(Check::new("webhook", Status::Warn).detail(format!(
                "`{}` not delivered to `${{{}}}`: {error}",
                notice.event.as_str(),
                config.url.variable
            )))
        }
    }
}

/// Appends `checks` to the report's `notify` phase (the last phase, when it
/// is one; else a new one).
fn push(report: &mut Report, mut checks: Vec<Check>, took: Duration) {
    if let Some(last) = report
        .phases
        .last_mut()
        .filter(|phase| phase.name == PhaseName::Notify)
    {
        let mut all = std::mem::take(&mut last.checks);
        all.append(&mut checks);
        *last = Phase::new(PhaseName::Notify, all, last.duration + took);
        return;
    }
    report.push(Phase::new(PhaseName::Notify, checks, took));
}

/// A rollback ran (not only a skipped `rollback` phase saying why not).
fn rollback_attempted(report: &Report) -> bool {
    report.phases.iter().any(|phase| {
        phase.name == PhaseName::Rollback
            && phase
                .checks
                .iter()
                .any(|check| check.status != Status::Skip)
    })
}

fn rollback_check<'r>(report: &'r Report, name: &str) -> Option<&'r Check> {
    report
        .phases
        .iter()
        .filter(|phase| phase.name == PhaseName::Rollback)
        .flat_map(|phase| &phase.checks)
        .find(|check| check.name == name)
}

/// The release the rollback promoted (the `release` artifact of its
/// `promote ID` check), or the one it was about to promote.
fn rollback_target(report: &Report) -> Option<String> {
    report
        .phases
        .iter()
        .filter(|phase| phase.name == PhaseName::Rollback)
        .flat_map(|phase| &phase.checks)
        .find_map(|check| {
            check
                .artifacts
                .iter()
                .find(|artifact| artifact.name == "release")
                .map(|artifact| artifact.value.clone())
                .or_else(|| check.name.strip_prefix("promote ").map(str::to_owned))
        })
}

fn output(report: &Report, key: &str) -> Option<String> {
    report
        .outputs
        .iter()
        .find(|(name, _)| name == key)
        .map(|(_, value)| value.clone())
}

/// The first failing check of a phase before any rollback.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub(crate) phase: PhaseName,
    pub(crate) check: Check,
}

impl Failure {
    /// `smoke `health`: expected status 200, got status 503`.
    pub(crate) fn describe(&self) -> String {
        let mut text = format!("{} `{}`", self.phase.as_str(), self.check.name);
        match (&self.check.expected, &self.check.actual) {
            (Some(expected), Some(actual)) => {
                let _ = write!(text, ": expected {expected}, got {actual}");
            }
            _ => {
                if let Some(detail) = &self.check.detail {
                    let _ = write!(text, ": {detail}");
                }
            }
        }
        text
    }
}

fn first_failure(report: &Report) -> Option<Failure> {
    failures(report).into_iter().next()
}

/// Every failing check before the rollback, in order.
pub(crate) fn failures(report: &Report) -> Vec<Failure> {
    report
        .phases
        .iter()
        .take_while(|phase| !matches!(phase.name, PhaseName::Rollback | PhaseName::Verify))
        .flat_map(|phase| {
            phase
                .checks
                .iter()
                .filter(|check| check.status == Status::Fail)
                .map(|check| Failure {
                    phase: phase.name,
                    check: check.clone(),
                })
        })
        .collect()
}

fn lookup_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// `https://github.com/OWNER/REPO/actions/runs/ID` inside GitHub Actions.
fn run_url(lookup: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let repository = lookup(env::GITHUB_REPOSITORY)?;
    let run = lookup(env::GITHUB_RUN_ID)?;
    let server = lookup(env::GITHUB_SERVER_URL).unwrap_or_else(|| "https://github.com".to_owned());
    Some(format!(
        "{}/{repository}/actions/runs/{run}",
        server.trim_end_matches('/')
    ))
}

/// The environment's page of GitHub deployments, when inside Actions.
fn deployments_url(lookup: &dyn Fn(&str) -> Option<String>, environment: &str) -> Option<String> {
    let repository = lookup(env::GITHUB_REPOSITORY)?;
    lookup(env::GITHUB_RUN_ID)?;
    let server = lookup(env::GITHUB_SERVER_URL).unwrap_or_else(|| "https://github.com".to_owned());
    let environment: String =
        url::form_urlencoded::byte_serialize(environment.as_bytes()).collect();
    Some(format!(
        "{}/{repository}/deployments/{environment}",
        server.trim_end_matches('/')
    ))
}

/// `ID.ATTEMPT` of this run, for the issue's hidden marker; none outside
/// Actions (then every rollback is recorded).
fn run_marker(lookup: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let run = lookup(env::GITHUB_RUN_ID)?;
    Some(format!(
        "{run}.{}",
        lookup(env::GITHUB_RUN_ATTEMPT).unwrap_or_else(|| "1".to_owned())
    ))
}

#[cfg(test)]
mod tests;
