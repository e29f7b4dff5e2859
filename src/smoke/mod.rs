//! `shipgate smoke`: the HTTP smoke suite, also run after a rollback to verify
//! the restored release, and once per interval by `watch`.
//!
//! [`run_suite`] resolves every check's URL, query and headers up front (a
//! config mistake stops the suite before any request), then waits for
//! readiness: checks and flows run concurrently, each retried with backoff
//! until it passed once or `ready_within` ran out (the steps of a flow in
//! order, fed the values earlier steps captured; a step that passed is never
//! sent again, an `eventually` step is polled alone at its own pace, and a
//! request not safe to repeat is retried only while it never reached the
//! server). Then each ready check whose request is safe to repeat (`GET`,
//! `HEAD`, `OPTIONS` or `idempotent = true`) is sampled `samples` times for
//! latency percentiles and the suite error rate; the others ran once.
//! The phase holds one line per check, in config order. A failed check is a
//! result, not an error; [`SmokeError`] is only for a suite that cannot run.
//! Request building lives in `request.rs`, URL joining in `target.rs`,
//! judging in `assertion.rs`, the retry loop in `readiness.rs`, flows in
//! `flow.rs`, sampling in `sampler.rs`, TLS facts in `certificate.rs` and
//! report lines in `outcome.rs`; printing is left to `report/`.

mod assertion;
mod certificate;
mod client;
pub(crate) mod excerpt;
mod flow;
mod outcome;
mod readiness;
pub(crate) mod request;
mod sampler;
mod target;

pub use client::{HttpClient, TrustStoreError};

use std::fmt::Write as _;

use tokio::time::Instant;
use url::Url;

use self::outcome::Sampling;
pub(crate) use self::outcome::error_rate;
use self::readiness::{Job, Schedule};
use self::request::{HeaderFailure, PreparedRequest};
use self::target::TargetFailure;
use crate::config::{Masked, SmokeCheck};
use crate::context::Context;
use crate::diagnostic::Diagnostic;
use crate::exit::ExitStatus;
use crate::report::{Check, Phase, PhaseName, Status};

/// Why the smoke suite could not run at all (a failed check is not an error).
#[derive(Debug, thiserror::Error)]
pub enum SmokeError {
    /// A check uses `path` and there is no base URL to join it to.
    #[error(
        "check `{check}` uses `path`, but environment `{environment}` has no `url` to join it to"
    )]
    NoBaseUrl {
        /// The check's name.
        check: String,
        /// The selected environment.
        environment: String,
    },
    /// The base URL is not an `http` or `https` URL.
    #[error(
        "cannot join check `{check}`'s `path` to base URL `{base}`: it is not an `http://` or `https://` URL"
    )]
    UnsupportedBaseUrl {
        /// The check's name.
        check: String,
        /// The base URL, masked.
        base: String,
    },
    /// A check's absolute `url` does not parse.
    #[error("invalid `url` for check `{check}`: {reason}")]
    InvalidUrl {
        /// The check's name.
        check: String,
        /// What the URL parser said.
        reason: String,
    },
    /// A header name is not valid HTTP.
    #[error("invalid header name `{header}` in check `{check}`")]
    InvalidHeaderName {
        /// The check's name.
        check: String,
        /// The header's name as written.
        header: String,
    },
    /// A header value holds characters HTTP forbids (the value is not shown:
    /// it may be a secret).
    #[error(
        "invalid value for header `{header}` in check `{check}`: it contains a newline or another control character"
    )]
    InvalidHeaderValue {
        /// The check's name.
        check: String,
        /// The header's name.
        header: String,
    },
    /// `smoke.ca_file` could not be read.
    #[error("failed to read CA file `{}` (`smoke.ca_file`)", path.display())]
    ReadCaFile {
        /// The file.
        path: std::path::PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// `smoke.ca_file` holds no usable PEM certificate.
    #[error("CA file `{}` (`smoke.ca_file`) holds no PEM certificate", path.display())]
    InvalidCaFile {
        /// The file.
        path: std::path::PathBuf,
    },
    /// The HTTP client could not be built (e.g. no TLS trust store).
    #[error("failed to set up the HTTP client for smoke checks")]
    Client {
        /// What reqwest said.
        #[source]
        source: reqwest::Error,
    },
    /// A check's task died instead of reporting (a bug).
    #[error("internal error: smoke check `{check}` did not finish: {message}; this is a bug")]
    CheckTask {
        /// The check's name.
        check: String,
        /// The panic message or why it stopped.
        message: String,
    },
}

impl Diagnostic for SmokeError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::NoBaseUrl { environment, .. } => {
                format!("pass `--url BASE`, or set `url` in `[environments.{environment}]`")
            }
            Self::UnsupportedBaseUrl { .. } => "pass an absolute URL like `--url http://127.0.0.1:3000`".to_owned(),
            Self::InvalidUrl { .. } => {
                "write an absolute URL like `url = \"https://app.example.com/api/health\"`, then run `shipgate check`"
                    .to_owned()
            }
            Self::InvalidHeaderName { check, .. } | Self::InvalidHeaderValue { check, .. } => {
                format!("fix `headers` of check `{check}` in the config, then run `shipgate check`")
            }
            Self::ReadCaFile { .. } | Self::InvalidCaFile { .. } => {
                "point `ca_file` in `[smoke]` at a PEM file holding `-----BEGIN CERTIFICATE-----` blocks, then run `shipgate check`"
                    .to_owned()
            }
            Self::Client { .. } => "make sure the system's CA certificates are installed and readable".to_owned(),
            Self::CheckTask { .. } => {
                "re-run the command; if it happens again, report it with the output of `shipgate smoke --format json`"
                    .to_owned()
            }
        })
    }
}

impl SmokeError {
    /// The exit status this error ends the process with.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Self::NoBaseUrl { .. }
            | Self::UnsupportedBaseUrl { .. }
            | Self::InvalidUrl { .. }
            | Self::InvalidHeaderName { .. }
            | Self::InvalidHeaderValue { .. }
            | Self::InvalidCaFile { .. } => ExitStatus::Usage,
            Self::ReadCaFile { .. } | Self::Client { .. } | Self::CheckTask { .. } => {
                ExitStatus::Infrastructure
            }
        }
    }
}

/// Runs the suite against `base_url` (default: the environment's `url`) and
/// returns it as phase `phase` (`smoke`, or `verify` after a rollback).
///
/// Every check is retried until it passed once or `smoke.ready_within` ran
/// out; the phase holds each check's last result, in config order. With
/// `--dry-run` no request is sent and every check is skipped with what it
/// would send. Cancellation stops new attempts; checks that never ran are
/// skipped.
pub async fn run_suite(
    ctx: &Context,
    base_url: Option<&Url>,
    phase: PhaseName,
) -> Result<Phase, SmokeError> {
    let started = Instant::now();
    let config = &ctx.config;
    let base = base_url.or(config.environment.url.as_ref());
    let jobs = config
        .smoke
        .checks
        .iter()
        .map(|check| prepare(ctx, check, base))
        .collect::<Result<Vec<_>, _>>()?;
    if ctx.dry_run {
        let total = jobs.len();
        let checks = jobs
            .iter()
            .map(|job| outcome::planned_check(&job.name, &job.request, &plan_note(job, config)))
            .collect();
        return Ok(Phase::new(phase, checks, started.elapsed())
            .summary(format!("{total} planned, none sent (dry run)")));
    }
    if jobs.is_empty() {
        return Ok(Phase::new(phase, Vec::new(), started.elapsed())
            .summary("no checks in `[[smoke.check]]`"));
    }
    let client = http_client(ctx)?;
    let schedule = Schedule {
        ready_within: config.smoke.ready_within,
        concurrency: config.smoke.concurrency,
    };
    let (outcomes, jobs) = readiness::run(
        jobs,
        client.clone(),
        schedule,
        ctx.printer.clone(),
        ctx.cancel.clone(),
    )
    .await?;
    let ready: Vec<Check> = jobs
        .iter()
        .zip(&outcomes)
        .map(|(job, outcome)| outcome::report_check(&job.name, &job.request, &job.expect, outcome))
        .collect();
    let per_check = config.smoke.samples;
    let sampling: Vec<Sampling> = jobs
        .iter()
        .map(|job| match (per_check, job.repeatable) {
            (0, _) => Sampling::Off,
            (_, true) => Sampling::Sampled,
            (_, false) => Sampling::Once(job.request.method),
        })
        .collect();
    let sampled = if per_check > 0 && !ctx.cancel.is_cancelled() {
        // Only requests safe to repeat are sampled: a `POST` that creates a
        // job runs once per flow execution (issue 15, item 2).
        let chosen: Vec<bool> = ready
            .iter()
            .zip(&sampling)
            .map(|(check, sampling)| check.status == Status::Pass && *sampling == Sampling::Sampled)
            .collect();
        ctx.printer.progress(&sampling_plan(
            &jobs,
            &sampling,
            per_check,
            config.smoke.concurrency,
        ));
        sampler::run(
            &jobs,
            &chosen,
            per_check,
            &client,
            config.smoke.concurrency,
            &ctx.cancel,
        )
        .await?
    } else {
        vec![Vec::new(); jobs.len()]
    };
    let total: usize = sampled.iter().map(Vec::len).sum();
    let failed: usize = sampled
        .iter()
        .flatten()
        .filter(|attempt| !attempt.passed())
        .count();
    let over_budget = outcome::error_rate(failed, total) > config.smoke.max_error_rate;
    let mut checks: Vec<Check> = ready
        .into_iter()
        .zip(jobs.iter().zip(outcomes.iter().zip(&sampled)))
        .zip(&sampling)
        .map(|((check, (job, (outcome, samples))), sampling)| {
            outcome::report_sampled(
                check,
                outcome,
                samples,
                *sampling,
                &job.expect,
                job.max_latency,
                over_budget,
            )
        })
        .collect();
    let passed = checks
        .iter()
        .filter(|check| matches!(check.status, Status::Pass | Status::Warn))
        .count();
    let mut summary = format!(
        "{passed} of {total_checks} passed",
        total_checks = jobs.len()
    );
    if total > 0 {
        let rate = outcome::error_rate_check(failed, total, config.smoke.max_error_rate);
        let _ = write!(
            summary,
            " · error rate {}",
            rate.detail.as_deref().unwrap_or_default()
        );
        checks.push(rate);
    }
    Ok(Phase::new(phase, checks, started.elapsed()).summary(summary))
}

/// The progress line that says which checks are sampled and which are sent
/// once: ``sampling ×5, 8 at a time: GET `job done`; sent once (not
/// idempotent): POST `start job` ``.
fn sampling_plan(
    jobs: &[Job],
    sampling: &[Sampling],
    per_check: usize,
    concurrency: usize,
) -> String {
    let named = |wanted: fn(&Sampling) -> bool| {
        jobs.iter()
            .zip(sampling)
            .filter(|(_, sampling)| wanted(sampling))
            .map(|(job, _)| format!("{} `{}`", job.request.method.as_str(), job.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let sampled = named(|sampling| *sampling == Sampling::Sampled);
    let once = named(|sampling| matches!(sampling, Sampling::Once(_)));
    let mut line = format!("sampling ×{per_check}, {concurrency} at a time: ");
    line.push_str(if sampled.is_empty() {
        "nothing"
    } else {
        &sampled
    });
    if !once.is_empty() {
        let _ = write!(line, "; sent once (not idempotent): {once}");
    }
    line
}

/// One pass of the checks named in `names`, each sent once (no readiness
/// wait, no samples), as `watch` measures the suite every interval; the
/// checks come back in config order.
pub async fn run_once(
    ctx: &Context,
    base_url: Option<&Url>,
    names: &[String],
    client: &HttpClient,
) -> Result<Vec<Check>, SmokeError> {
    let base = base_url.or(ctx.config.environment.url.as_ref());
    let jobs = ctx
        .config
        .smoke
        .checks
        .iter()
        .filter(|check| names.contains(&check.name))
        .map(|check| prepare(ctx, check, base))
        .collect::<Result<Vec<_>, _>>()?;
    let schedule = Schedule {
        ready_within: std::time::Duration::ZERO,
        concurrency: ctx.config.smoke.concurrency,
    };
    let (outcomes, jobs) = readiness::run(
        jobs,
        client.clone(),
        schedule,
        ctx.printer.clone(),
        ctx.cancel.clone(),
    )
    .await?;
    Ok(jobs
        .iter()
        .zip(&outcomes)
        .map(|(job, outcome)| outcome::report_check(&job.name, &job.request, &job.expect, outcome))
        .collect())
}

/// The suite's HTTP clients (see [`HttpClient`]), trusting `smoke.ca_file`
/// besides the system's roots for `https://`; `watch` queries its metrics
/// with them too.
pub fn http_client(ctx: &Context) -> Result<HttpClient, SmokeError> {
    let mut roots = Vec::new();
    if let Some(path) = &ctx.config.smoke.ca_file {
        #[expect(
            clippy::disallowed_methods,
            reason = "the error it returns names the path; fs-err would name it twice"
        )]
        let pem = std::fs::read(path).map_err(|source| SmokeError::ReadCaFile {
            path: path.clone(),
            source,
        })?;
        roots = reqwest::Certificate::from_pem_bundle(&pem)
            .ok()
            .filter(|roots| !roots.is_empty())
            .ok_or_else(|| SmokeError::InvalidCaFile { path: path.clone() })?;
    }
    HttpClient::new(roots).map_err(|source| SmokeError::Client { source })
}

/// What a dry run adds to a check's line: an eventual step's polling, and
/// a request sent once because repeating it is not safe.
fn plan_note(job: &readiness::Job, config: &crate::config::Config) -> String {
    let mut note = String::new();
    if let Some(eventually) = job.eventually {
        let _ = write!(
            note,
            ", again every {} until it passes (within {})",
            humantime::format_duration(eventually.every),
            humantime::format_duration(eventually.within)
        );
    }
    if !job.repeatable {
        note.push_str(", once: not retried after an answer");
        if config.smoke.samples > 0 {
            note.push_str(" and not sampled (not idempotent)");
        }
    }
    note
}

/// Resolves one check into a [`Job`], keeping its template when it is a flow step.
fn prepare(ctx: &Context, check: &SmokeCheck, base: Option<&Url>) -> Result<Job, SmokeError> {
    let redactor = ctx.printer.redactor();
    let environment = &ctx.config.environment.name;
    let mut job = build_job(check, base, redactor, environment)?;
    if check.flow.is_some() {
        job.template = Some(std::sync::Arc::new(flow::Template {
            check: check.clone(),
            base: base.cloned(),
            redactor: redactor.clone(),
            environment: environment.clone(),
        }));
    }
    Ok(job)
}

/// Resolves `check`'s URL, query and headers into a [`Job`] (placeholders
/// are sent as written; flows render them first).
pub(crate) fn build_job(
    check: &SmokeCheck,
    base: Option<&Url>,
    redactor: &crate::config::Redactor,
    environment: &str,
) -> Result<Job, SmokeError> {
    let name = || check.name.clone();
    let mut target =
        target::resolve(&check.target, base, redactor).map_err(|failure| match failure {
            TargetFailure::NoBaseUrl => SmokeError::NoBaseUrl {
                check: name(),
                environment: environment.to_owned(),
            },
            TargetFailure::UnsupportedBase => SmokeError::UnsupportedBaseUrl {
                check: name(),
                base: base
                    .map(|url| Masked::new(url.to_string(), redactor).to_string())
                    .unwrap_or_default(),
            },
            TargetFailure::InvalidUrl(reason) => SmokeError::InvalidUrl {
                check: name(),
                reason,
            },
        })?;
    if !check.query.is_empty() {
        target
            .url
            .query_pairs_mut()
            .extend_pairs(check.query.iter().map(|(key, value)| (key, value.expose())));
        target.shown = Masked::new(target.url.to_string(), redactor);
    }
    let request = PreparedRequest::new(check, target).map_err(|failure| match failure {
        HeaderFailure::Name(header) => SmokeError::InvalidHeaderName {
            check: name(),
            header,
        },
        HeaderFailure::Value(header) => SmokeError::InvalidHeaderValue {
            check: name(),
            header,
        },
    })?;
    Ok(Job {
        name: name(),
        request,
        expect: check.expect.clone(),
        max_latency: check.max_latency,
        flow: check.flow.clone(),
        captures: check.captures.clone(),
        template: None,
        eventually: check.eventually,
        repeatable: check.repeatable(),
    })
}
