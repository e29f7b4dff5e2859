//! What a check ended with, and how that becomes a report [`Check`].
//!
//! Every check's detail is its request line (masked). A failing one adds the
//! first failed assertion as expected vs got, and a log with the status, the
//! other failures and a body excerpt. Rendering is left to `report/`.

use std::fmt::Write;
use std::time::Duration;

use super::assertion::Evaluation;
use super::excerpt;
use super::flow::Values;
use super::request::{Exchange, PreparedRequest, TransportFailure};
use super::sampler::Latency;
use crate::config::{Expectations, HttpMethod};
use crate::report::{Check, Status, format_duration};

/// One request and its judgement.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    /// What came back.
    pub(crate) exchange: Exchange,
    /// The assertions, when a response arrived.
    pub(crate) evaluation: Option<Evaluation>,
    /// How long the exchange took.
    pub(crate) elapsed: Duration,
    /// Values read for later steps of its flow (when it passed).
    pub(crate) captured: Values,
    /// Whether the server saw the request (false: the connection failed
    /// before it was written, so sending it again repeats nothing).
    pub(crate) reached_server: bool,
}

impl Attempt {
    /// Whether a response arrived and satisfied every assertion.
    pub(crate) fn passed(&self) -> bool {
        matches!((&self.exchange, &self.evaluation), (Exchange::Response(_), Some(evaluation)) if evaluation.passed())
    }

    /// Why it failed, in a few words for a progress line, e.g. `status 503`.
    pub(crate) fn reason(&self) -> String {
        match (&self.exchange, &self.evaluation) {
            (Exchange::Failure(failure), _) => failure.to_string(),
            (Exchange::Response(response), evaluation) => {
                match evaluation
                    .as_ref()
                    .and_then(|evaluation| evaluation.failures().next())
                {
                    Some(failure) if failure.is_status => failure.actual.to_string(),
                    Some(failure) => format!("{}, got {}", failure.expected, failure.actual),
                    None => format!("status {}", response.status),
                }
            }
        }
    }
}

/// Every attempt a check made, reduced to what the report needs.
#[derive(Debug, Clone)]
pub(crate) struct CheckOutcome {
    /// How many requests were sent.
    pub(crate) attempts: u32,
    /// The last one; `None` when the run was cancelled before the first.
    pub(crate) last: Option<Attempt>,
    /// The earlier step of its flow that failed, so it was not sent.
    pub(crate) blocked_by: Option<String>,
    /// For an `eventually` step: how its polling went.
    pub(crate) polled: Option<Polled>,
    /// It failed after the server answered and was not retried although
    /// time was left, because its request is not safe to repeat.
    pub(crate) not_retried: bool,
}

impl CheckOutcome {
    /// No attempt yet.
    pub(crate) fn new() -> Self {
        Self {
            attempts: 0,
            last: None,
            blocked_by: None,
            polled: None,
            not_retried: false,
        }
    }
}

/// How an `eventually` step's polling went.
#[derive(Debug, Clone)]
pub(crate) struct Polled {
    /// Its `within`.
    pub(crate) within: Duration,
    /// From the first attempt to the end of the last.
    pub(crate) spent: Duration,
    /// Why the latest failed attempt failed (before a pass, or the last one).
    pub(crate) last_failure: Option<String>,
}

/// Whether a check that passed readiness is sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sampling {
    /// `samples = 0`: judged on the readiness attempt.
    Off,
    /// Sent `samples` more times.
    Sampled,
    /// Sent once: its request (this method, not marked `idempotent`) may
    /// have side effects.
    Once(HttpMethod),
}

/// The report line of a check that ran (or was cancelled before it could).
pub(crate) fn report_check(
    name: &str,
    request: &PreparedRequest,
    expect: &Expectations,
    outcome: &CheckOutcome,
) -> Check {
    let line = request.line();
    if let Some(blocker) = &outcome.blocked_by {
        return Check::new(name, Status::Skip).detail(format!(
            "{line} not sent: `{blocker}`, an earlier step of its flow, failed"
        ));
    }
    let Some(attempt) = &outcome.last else {
        return Check::new(name, Status::Skip).detail(format!("{line} not sent: interrupted"));
    };
    let attempts = match outcome.attempts {
        0 | 1 => String::new(),
        count => format!(" · {count} attempts"),
    };
    let redirected = match &attempt.exchange {
        Exchange::Response(response) => match response.redirects.last() {
            Some(last) => format!(" → {last}"),
            None => String::new(),
        },
        Exchange::Failure(_) => String::new(),
    };
    if let Some(polled) = &outcome.polled {
        return report_polled(
            name,
            &line,
            &redirected,
            expect,
            outcome.attempts,
            attempt,
            polled,
        );
    }
    let not_retried = if outcome.not_retried {
        format!(
            " · not retried: `{}` is not idempotent (`idempotent = true` allows it)",
            request.method.as_str()
        )
    } else {
        String::new()
    };
    let detail = format!("{line}{redirected}{attempts}");
    if attempt.passed() {
        return Check::pass(name).detail(detail).duration(attempt.elapsed);
    }
    failed(
        Check::fail(name).detail(format!("{detail}{not_retried}")),
        attempt,
        expect,
    )
}

/// The report line of an `eventually` step: the attempts and time it took,
/// and the latest failure (the reason it kept failing, or what it waited out).
fn report_polled(
    name: &str,
    line: &str,
    redirected: &str,
    expect: &Expectations,
    attempts: u32,
    attempt: &Attempt,
    polled: &Polled,
) -> Check {
    let tries = if attempts == 1 {
        "1 attempt".to_owned()
    } else {
        format!("{attempts} attempts")
    };
    let spent = format_duration(polled.spent);
    if attempt.passed() {
        let mut detail = format!("{line}{redirected} · eventually passed after {tries} in {spent}");
        if let Some(reason) = &polled.last_failure {
            let _ = write!(detail, " (before: {reason})");
        }
        return Check::pass(name).detail(detail).duration(attempt.elapsed);
    }
    let detail = format!(
        "{line}{redirected} · still failing after {tries} in {} (`eventually.within`)",
        humantime::format_duration(polled.within)
    );
    failed(Check::fail(name).detail(detail), attempt, expect)
}

/// Adds to a failing `check` the first failed assertion of `attempt` as
/// expected vs got, and a log with the status, the other failures and a body
/// excerpt.
fn failed(check: Check, attempt: &Attempt, expect: &Expectations) -> Check {
    let check = check.duration(attempt.elapsed);
    match (&attempt.exchange, &attempt.evaluation) {
        (Exchange::Failure(failure), _) => {
            let check = check.expected_actual(expect.status_text(), failure.to_string());
            if matches!(failure, TransportFailure::Tls(_)) {
                check.log("hint: to trust a private CA, set `ca_file` in `[smoke]` to its PEM file")
            } else {
                check
            }
        }
        (Exchange::Response(response), evaluation) => {
            let mut failures = evaluation.iter().flat_map(Evaluation::failures);
            let check = match failures.next() {
                Some(first) => {
                    check.expected_actual(first.expected.clone(), first.actual.to_string())
                }
                None => check,
            };
            let mut log = format!("status {}", response.status);
            for other in failures {
                let _ = write!(
                    log,
                    "\nalso failed: expected {}, got {}",
                    other.expected, other.actual
                );
            }
            if response.body.is_empty() {
                log.push_str("\n(empty body)");
            } else {
                let _ = write!(
                    log,
                    "\nbody (first {} characters):\n{}",
                    excerpt::BODY_EXCERPT_CHARS,
                    excerpt::body(&response.body, excerpt::BODY_EXCERPT_CHARS)
                );
            }
            check.log(log)
        }
    }
}

/// The report line of a check that passed readiness, judged on its samples
/// (or on the readiness attempt alone when `samples` is empty): `max_latency`
/// against the p95, and failed samples, which fail the check when the suite's
/// error rate is over budget and only warn when it is not.
pub(crate) fn report_sampled(
    ready: Check,
    outcome: &CheckOutcome,
    samples: &[Attempt],
    sampling: Sampling,
    expect: &Expectations,
    max_latency: Option<Duration>,
    over_error_budget: bool,
) -> Check {
    if ready.status != Status::Pass {
        return ready;
    }
    let ready = match sampling {
        Sampling::Once(method) => {
            let detail = format!(
                "{} · sent once, not sampled: `{}` is not idempotent",
                ready.detail.clone().unwrap_or_default(),
                method.as_str()
            );
            ready.detail(detail)
        }
        Sampling::Off | Sampling::Sampled => ready,
    };
    let measured: Vec<&Attempt> = if samples.is_empty() {
        outcome.last.iter().collect()
    } else {
        samples.iter().collect()
    };
    let Some(latency) = Latency::of(measured.iter().map(|attempt| attempt.elapsed)) else {
        return ready;
    };
    let mut detail = ready.detail.clone().unwrap_or_default();
    if !samples.is_empty() {
        let _ = write!(
            detail,
            " · p50 {} · p95 {} · max {} ({} samples)",
            format_duration(latency.p50),
            format_duration(latency.p95),
            format_duration(latency.max),
            samples.len()
        );
    }
    let failures: Vec<&&Attempt> = measured
        .iter()
        .filter(|attempt| !attempt.passed())
        .collect();
    if let Some(first) = failures.first() {
        let _ = write!(
            detail,
            " · {} of {} samples failed",
            failures.len(),
            measured.len()
        );
        let status = if over_error_budget {
            Status::Fail
        } else {
            Status::Warn
        };
        return failed(
            Check::new(&ready.name, status).detail(detail),
            first,
            expect,
        );
    }
    if let Some(max) = max_latency.filter(|max| latency.p95 > *max) {
        return Check::fail(&ready.name)
            .detail(detail)
            .duration(latency.p95)
            .expected_actual(
                format!("p95 ≤ {} (`max_latency`)", format_duration(max)),
                format!(
                    "p95 {} (p50 {}, max {}, {} requests)",
                    format_duration(latency.p95),
                    format_duration(latency.p50),
                    format_duration(latency.max),
                    measured.len()
                ),
            );
    }
    let mut check = ready.detail(detail);
    check.duration = Some(latency.p95);
    check
}

/// The suite-wide line for samples: how many failed, against `max_error_rate`.
pub(crate) fn error_rate_check(failed: usize, total: usize, max_error_rate: f64) -> Check {
    let rate = error_rate(failed, total);
    let shown = format!("{:.1}% ({failed} of {total} samples failed)", rate * 100.0);
    if rate > max_error_rate {
        Check::fail("error rate")
            .detail(shown.clone())
            .expected_actual(
                format!("at most {:.1}% (`max_error_rate`)", max_error_rate * 100.0),
                shown,
            )
    } else {
        Check::pass("error rate").detail(shown)
    }
}

/// `failed / total`, 0 when nothing was sent.
pub(crate) fn error_rate(failed: usize, total: usize) -> f64 {
    if total == 0 {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss)] // sample counts are far below 2^52
    let rate = failed as f64 / total as f64;
    rate
}

/// The report line of a check in a dry run: what it would send.
pub(crate) fn planned_check(name: &str, request: &PreparedRequest, how: &str) -> Check {
    Check::new(name, Status::Skip).detail(format!("would {}{how}", request.line()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;
    use serde_json_path::JsonPath;

    use super::*;
    use crate::config::{Assertion, CheckTarget, HttpMethod, Masked, Redactor, SmokeCheck};
    use crate::smoke::assertion::evaluate;
    use crate::smoke::request::{ReceivedResponse, TransportFailure};
    use crate::smoke::target::ResolvedUrl;

    fn expect() -> Expectations {
        let mut expect = Expectations::status_ok();
        expect.assertions.extend(
            ["$.status", "$.db"].iter().map(|path| {
                Assertion::json_equals(path, JsonPath::parse(path).unwrap(), json!("ok"))
            }),
        );
        expect
    }

    fn request() -> PreparedRequest {
        let redactor = Redactor::default();
        let check = SmokeCheck {
            name: "health".into(),
            method: HttpMethod::Get,
            target: CheckTarget::Path("/api/health".into()),
            headers: Vec::new(),
            query: Vec::new(),
            redirects: crate::config::Redirects {
                follow: false,
                max: 10,
            },
            max_latency: None,
            flow: None,
            captures: Vec::new(),
            body: None,
            timeout: Duration::from_secs(2),
            expect: expect(),
            idempotent: false,
            eventually: None,
        };
        let url = url::Url::parse("http://127.0.0.1:9/api/health").unwrap();
        PreparedRequest::new(
            &check,
            ResolvedUrl {
                shown: Masked::new(url.to_string(), &redactor),
                url,
            },
        )
        .unwrap()
    }

    fn responded(status: u16, body: &str, attempts: u32) -> CheckOutcome {
        let response = ReceivedResponse {
            status,
            body: body.as_bytes().to_vec(),
            ..ReceivedResponse::default()
        };
        let evaluation = evaluate(&expect(), &response);
        let attempt = Attempt {
            exchange: Exchange::Response(response),
            evaluation: Some(evaluation),
            elapsed: Duration::from_millis(3),
            captured: Values::new(),
            reached_server: true,
        };
        CheckOutcome {
            attempts,
            last: Some(attempt),
            ..CheckOutcome::new()
        }
    }

    #[test]
    fn a_pass_shows_the_request_line() {
        let check = report_check(
            "health",
            &request(),
            &expect(),
            &responded(200, r#"{"status":"ok","db":"ok"}"#, 1),
        );
        assert_eq!(check.status, Status::Pass);
        assert_eq!(
            check.detail.as_deref(),
            Some("GET http://127.0.0.1:9/api/health")
        );
        assert_eq!(check.expected, None);
    }

    #[test]
    fn a_failed_status_shows_expected_got_and_the_body() {
        let check = report_check(
            "health",
            &request(),
            &expect(),
            &responded(503, "upstream down", 4),
        );
        assert_eq!(check.status, Status::Fail);
        assert_eq!(
            check.detail.as_deref(),
            Some("GET http://127.0.0.1:9/api/health · 4 attempts")
        );
        assert_eq!(
            (check.expected.as_deref(), check.actual.as_deref()),
            (Some("status 200"), Some("status 503"))
        );
        assert_eq!(
            check.log.as_deref(),
            Some("status 503\nbody (first 300 characters):\nupstream down")
        );
    }

    #[test]
    fn later_json_failures_are_listed_in_the_log() {
        let check = report_check(
            "health",
            &request(),
            &expect(),
            &responded(200, r#"{"status":"bad"}"#, 1),
        );
        assert_eq!(
            (check.expected.as_deref(), check.actual.as_deref()),
            (Some(r#""$.status" == "ok""#), Some(r#""bad""#))
        );
        let log = check.log.unwrap();
        assert!(log.contains(r#"also failed: expected "$.db" == "ok", got "$.db" selected nothing in {"status":"bad"}"#), "{log}");
    }

    #[test]
    fn a_transport_failure_is_a_failed_check() {
        let outcome = CheckOutcome {
            attempts: 2,
            last: Some(Attempt {
                exchange: Exchange::Failure(TransportFailure::ConnectionRefused),
                evaluation: None,
                elapsed: Duration::from_millis(1),
                captured: Values::new(),
                reached_server: false,
            }),
            ..CheckOutcome::new()
        };
        let check = report_check("health", &request(), &expect(), &outcome);
        assert_eq!(check.status, Status::Fail);
        assert_eq!(
            (check.expected.as_deref(), check.actual.as_deref()),
            (Some("status 200"), Some("connection refused"))
        );
    }

    #[test]
    fn progress_reasons_are_short() {
        assert_eq!(responded(503, "", 1).last.unwrap().reason(), "status 503");
        assert_eq!(
            responded(200, r#"{"status":"bad","db":"ok"}"#, 1)
                .last
                .unwrap()
                .reason(),
            r#""$.status" == "ok", got "bad""#
        );
    }

    #[test]
    fn a_cancelled_check_is_skipped_and_a_dry_run_says_what_it_would_send() {
        let check = report_check("health", &request(), &expect(), &CheckOutcome::new());
        assert_eq!(check.status, Status::Skip);
        assert_eq!(
            planned_check("health", &request(), "").detail.as_deref(),
            Some("would GET http://127.0.0.1:9/api/health")
        );
    }
}
