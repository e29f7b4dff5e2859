//! Waiting for readiness: every check runs until it passed once or
//! `ready_within` ran out, retrying with exponential backoff and jitter.
//!
//! Retrying never repeats a side effect: a step that passed is not sent
//! again, and a request not safe to repeat (a `POST` not marked
//! `idempotent`) is retried only while its connection failed before the
//! request was written; once the server answered (even `500`), its result
//! stands. An `eventually` step is instead polled alone every `every` until
//! it passes or its own `within` ran out (issue 15, items 1 and 2).
//!
//! Checks run concurrently in a [`JoinSet`], each attempt holding one permit
//! of a semaphore sized by `smoke.concurrency` (a check waiting out its
//! backoff holds none). A check that passed is done; the others are retried
//! and, when time runs out, the phase reports their last result. Progress
//! lines go to the printer; building the report is left to `outcome.rs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::client::HttpClient;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::SmokeError;
use super::assertion;
use super::flow::{self, Template, Values};
use super::outcome::{Attempt, CheckOutcome, Polled};
use super::request::TransportFailure;
use super::request::{self, Exchange, PreparedRequest};
use crate::config::{Capture, Eventually, Expectations};
use crate::report::Printer;

/// The first delay between two attempts of a failing check.
pub(crate) const INITIAL_DELAY: Duration = Duration::from_millis(200);

/// The longest delay between two attempts.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(5);

/// Exponential backoff (×2 per step, capped) with "equal jitter": each delay
/// is drawn from the upper half of its step, so checks started together
/// spread out without ever retrying much sooner than planned.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    step: Duration,
    cap: Duration,
}

impl Backoff {
    /// Starts at `initial`, doubling up to `cap`.
    pub(crate) fn new(initial: Duration, cap: Duration) -> Self {
        Self {
            step: initial.min(cap),
            cap,
        }
    }

    /// The next delay, jittered with a random fraction.
    pub(crate) fn next_delay(&mut self) -> Duration {
        self.next_delay_with(rand::random_range(0.0..=1.0))
    }

    /// The next delay for a given jitter `fraction` in `0.0..=1.0`: between
    /// half the current step (0.0) and the whole step (1.0).
    pub(crate) fn next_delay_with(&mut self, fraction: f64) -> Duration {
        let step = self.step;
        self.step = step.saturating_mul(2).min(self.cap);
        let half = step / 2;
        half + half.mul_f64(fraction.clamp(0.0, 1.0))
    }
}

/// One check to run until ready.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    /// The check's name.
    pub(crate) name: String,
    /// Its request.
    pub(crate) request: PreparedRequest,
    /// What its response must satisfy.
    pub(crate) expect: Expectations,
    /// The most its p95 latency may be.
    pub(crate) max_latency: Option<Duration>,
    /// The flow it is a step of.
    pub(crate) flow: Option<String>,
    /// Values to take from its response for later steps.
    pub(crate) captures: Vec<Capture>,
    /// For a flow step: the check as written, rendered once values are known.
    pub(crate) template: Option<Arc<Template>>,
    /// `eventually`: poll this step alone until it passes.
    pub(crate) eventually: Option<Eventually>,
    /// Whether its request may be sent again once the server saw it (see
    /// [`crate::config::SmokeCheck::repeatable`]).
    pub(crate) repeatable: bool,
}

/// How long and how widely to run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    /// How long every check may take to pass once.
    pub(crate) ready_within: Duration,
    /// How many attempts may be in flight at once (at least one).
    pub(crate) concurrency: usize,
}

/// What every check task shares; `attempt` sends one request and judges it.
struct Shared<F> {
    attempt: F,
    permits: Semaphore,
    printer: Printer,
    cancel: CancellationToken,
    started: Instant,
    deadline: Instant,
    ready_within: Duration,
}

/// Runs every job until it passed once or the schedule ran out: independent
/// checks and flows concurrently, the steps of a flow in order. Returns the
/// outcomes and the jobs as sent (flow steps rendered with their captured
/// values), in the jobs' order.
pub(crate) async fn run(
    jobs: Vec<Job>,
    client: HttpClient,
    schedule: Schedule,
    printer: Printer,
    cancel: CancellationToken,
) -> Result<(Vec<CheckOutcome>, Vec<Job>), SmokeError> {
    // Boxed: a check's task holds only a pointer while it waits for a
    // permit; the request's state (kilobytes) exists only while in flight.
    let attempt = move |job: Arc<Job>| {
        let client = client.clone();
        Box::pin(async move { attempt_once(&client, &job).await })
    };
    run_with(jobs, schedule, printer, cancel, attempt).await
}

/// The jobs grouped into units that run concurrently: one per flow (its
/// steps in file order) and one per check outside a flow.
fn units(jobs: Vec<Job>) -> Vec<Vec<(usize, Job)>> {
    let mut units: Vec<Vec<(usize, Job)>> = Vec::new();
    let mut flows: HashMap<String, usize> = HashMap::new();
    for (index, job) in jobs.into_iter().enumerate() {
        match job.flow.clone() {
            Some(flow) => {
                if let Some(&unit) = flows.get(&flow) {
                    units[unit].push((index, job));
                } else {
                    flows.insert(flow, units.len());
                    units.push(vec![(index, job)]);
                }
            }
            None => units.push(vec![(index, job)]),
        }
    }
    units
}

/// [`run`] with the attempt as a parameter, so the scheduling can be tested
/// without a network.
async fn run_with<F, Fut>(
    jobs: Vec<Job>,
    schedule: Schedule,
    printer: Printer,
    cancel: CancellationToken,
    attempt: F,
) -> Result<(Vec<CheckOutcome>, Vec<Job>), SmokeError>
where
    F: Fn(Arc<Job>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Attempt> + Send + 'static,
{
    let started = Instant::now();
    let shared = Arc::new(Shared {
        attempt,
        permits: Semaphore::new(schedule.concurrency.max(1)),
        printer,
        cancel,
        started,
        deadline: crate::config::deadline_after(started, schedule.ready_within),
        ready_within: schedule.ready_within,
    });
    let count = jobs.len();
    let mut tasks = JoinSet::new();
    let mut task_names = HashMap::new();
    for unit in units(jobs) {
        let first = unit
            .first()
            .map(|(_, job)| job.name.clone())
            .unwrap_or_default();
        let handle = tasks.spawn(run_unit(unit, Arc::clone(&shared)));
        task_names.insert(handle.id(), first);
    }
    let mut results: Vec<Option<(CheckOutcome, Job)>> = vec![None; count];
    while let Some(joined) = tasks.join_next_with_id().await {
        match joined {
            Ok((_, finished)) => {
                for (index, outcome, job) in finished {
                    results[index] = Some((outcome, job));
                }
            }
            Err(error) => {
                let check = task_names.get(&error.id()).cloned().unwrap_or_default();
                tasks.abort_all();
                return Err(SmokeError::CheckTask {
                    check,
                    message: panic_message(error),
                });
            }
        }
    }
    let mut outcomes = Vec::with_capacity(count);
    let mut sent = Vec::with_capacity(count);
    for result in results {
        let (outcome, job) = result.ok_or_else(|| SmokeError::CheckTask {
            check: String::new(),
            message: "its task never reported".to_owned(),
        })?;
        outcomes.push(outcome);
        sent.push(job);
    }
    Ok((outcomes, sent))
}

/// Runs one unit's steps in order, each until ready, feeding each step the
/// values the earlier ones captured; after a step fails the rest are not sent.
async fn run_unit<F, Fut>(
    unit: Vec<(usize, Job)>,
    shared: Arc<Shared<F>>,
) -> Vec<(usize, CheckOutcome, Job)>
where
    F: Fn(Arc<Job>) -> Fut,
    Fut: Future<Output = Attempt>,
{
    let mut values = Values::new();
    let mut blocked_by: Option<String> = None;
    let mut finished = Vec::with_capacity(unit.len());
    for (index, job) in unit {
        if let Some(blocker) = &blocked_by {
            let outcome = CheckOutcome {
                blocked_by: Some(blocker.clone()),
                ..CheckOutcome::new()
            };
            finished.push((index, outcome, job));
            continue;
        }
        // A flow step is rendered with the values captured so far; any other
        // job is sent as it is, not copied.
        let rendered = job
            .template
            .as_ref()
            .map(|template| template.render(&values));
        let job = match rendered {
            None => job,
            Some(Ok(rendered)) => rendered,
            Some(Err(error)) => {
                blocked_by = Some(job.name.clone());
                let outcome = CheckOutcome {
                    last: Some(Attempt {
                        exchange: Exchange::Failure(TransportFailure::Other(format!(
                            "cannot fill in the captured values: {error}"
                        ))),
                        evaluation: None,
                        elapsed: Duration::ZERO,
                        captured: Values::new(),
                        reached_server: false,
                    }),
                    ..CheckOutcome::new()
                };
                finished.push((index, outcome, job));
                continue;
            }
        };
        let job = Arc::new(job);
        let outcome = poll_until_ready(Arc::clone(&job), Arc::clone(&shared)).await;
        match outcome.last.as_ref().filter(|attempt| attempt.passed()) {
            Some(attempt) => {
                for (variable, value) in &attempt.captured {
                    // Captured values (tokens, sessions) are secrets from now on.
                    shared.printer.redactor().register(value);
                    values.insert(variable.clone(), value.clone());
                }
            }
            None => blocked_by = Some(job.name.clone()),
        }
        finished.push((index, outcome, Arc::unwrap_or_clone(job)));
    }
    finished
}

/// Attempts one check until it passes, time runs out or the run is
/// cancelled: an `eventually` step at its own pace within its own deadline,
/// any other with backoff within `ready_within`.
async fn poll_until_ready<F, Fut>(job: Arc<Job>, shared: Arc<Shared<F>>) -> CheckOutcome
where
    F: Fn(Arc<Job>) -> Fut,
    Fut: Future<Output = Attempt>,
{
    match job.eventually {
        Some(eventually) => poll_eventually(job, shared, eventually).await,
        None => retry_until_ready(job, shared).await,
    }
}

/// Retries one check with backoff until it passes or `ready_within` ran out.
/// A request that is not safe to repeat is retried only while it never
/// reached the server (the connection failed): once the server answered,
/// sending it again could repeat its side effect (create a second job).
async fn retry_until_ready<F, Fut>(job: Arc<Job>, shared: Arc<Shared<F>>) -> CheckOutcome
where
    F: Fn(Arc<Job>) -> Fut,
    Fut: Future<Output = Attempt>,
{
    let mut backoff = Backoff::new(INITIAL_DELAY, MAX_DELAY);
    let mut outcome = CheckOutcome::new();
    loop {
        if shared.cancel.is_cancelled() {
            return outcome;
        }
        let attempt = tokio::select! {
            attempt = attempt_with_permit(&job, &shared) => attempt,
            () = shared.cancel.cancelled() => None,
        };
        let Some(attempt) = attempt else {
            return outcome;
        };
        outcome.attempts += 1;
        let passed = attempt.passed();
        let reason = attempt.reason();
        let repeatable = job.repeatable || !attempt.reached_server;
        outcome.last = Some(attempt);
        let now = Instant::now();
        if passed || now >= shared.deadline || shared.cancel.is_cancelled() {
            return outcome;
        }
        if !repeatable {
            outcome.not_retried = true;
            return outcome;
        }
        shared.printer.progress(&format!(
            "waiting for {}: {reason}, attempt {}, {} of {}",
            job.request.line(),
            outcome.attempts,
            whole_seconds(now - shared.started),
            humantime::format_duration(shared.ready_within),
        ));
        // Never sleep past the deadline: the last attempt happens right at it.
        let delay = backoff.next_delay().min(shared.deadline - now);
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shared.cancel.cancelled() => return outcome,
        }
    }
}

/// Polls an `eventually` step every `every` until it passes or `within`
/// (from its first attempt) ran out, whatever `ready_within` says; only this
/// step is sent again, re-reading its captures and assertions each time.
async fn poll_eventually<F, Fut>(
    job: Arc<Job>,
    shared: Arc<Shared<F>>,
    eventually: Eventually,
) -> CheckOutcome
where
    F: Fn(Arc<Job>) -> Fut,
    Fut: Future<Output = Attempt>,
{
    let started = Instant::now();
    let deadline = crate::config::deadline_after(started, eventually.within);
    let mut outcome = CheckOutcome::new();
    let mut polled = Polled {
        within: eventually.within,
        spent: Duration::ZERO,
        last_failure: None,
    };
    loop {
        if shared.cancel.is_cancelled() {
            break;
        }
        let attempt = tokio::select! {
            attempt = attempt_with_permit(&job, &shared) => attempt,
            () = shared.cancel.cancelled() => None,
        };
        let Some(attempt) = attempt else {
            break;
        };
        outcome.attempts += 1;
        let passed = attempt.passed();
        outcome.last = Some(attempt);
        polled.spent = started.elapsed();
        if passed {
            break;
        }
        let reason = outcome
            .last
            .as_ref()
            .map(Attempt::reason)
            .unwrap_or_default();
        polled.last_failure = Some(reason.clone());
        let now = Instant::now();
        if now >= deadline || shared.cancel.is_cancelled() {
            break;
        }
        shared.printer.progress(&format!(
            "polling {}: {reason}, attempt {}, {} of {} (`eventually`)",
            job.request.line(),
            outcome.attempts,
            whole_seconds(now - started),
            humantime::format_duration(eventually.within),
        ));
        // The pace is `every`; the last attempt happens right at the deadline.
        let delay = eventually.every.min(deadline - now);
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shared.cancel.cancelled() => break,
        }
    }
    outcome.polled = Some(polled);
    outcome
}

/// One attempt under a concurrency permit; `None` if the semaphore closed.
async fn attempt_with_permit<F, Fut>(job: &Arc<Job>, shared: &Shared<F>) -> Option<Attempt>
where
    F: Fn(Arc<Job>) -> Fut,
    Fut: Future<Output = Attempt>,
{
    let _permit = shared.permits.acquire().await.ok()?;
    Some((shared.attempt)(Arc::clone(job)).await)
}

/// Sends `job`'s request once, judges the response and reads its captures
/// (a capture that cannot be read fails the attempt).
pub(crate) async fn attempt_once(client: &HttpClient, job: &Job) -> Attempt {
    let started = Instant::now();
    let request::Delivery {
        exchange,
        reached_server,
    } = request::send(client, &job.request).await;
    let elapsed = started.elapsed();
    let mut captured = Values::new();
    let evaluation = match &exchange {
        Exchange::Response(response) => {
            let mut evaluation = assertion::evaluate(&job.expect, response);
            if evaluation.passed() && !job.captures.is_empty() {
                match flow::capture(&job.captures, response) {
                    Ok(values) => captured = values,
                    Err(failure) => evaluation.results.push(failure),
                }
            }
            Some(evaluation)
        }
        Exchange::Failure(_) => None,
    };
    Attempt {
        exchange,
        evaluation,
        elapsed,
        captured,
        reached_server,
    }
}

/// `12s`, `3m 5s`: elapsed time without the noise of milliseconds.
fn whole_seconds(duration: Duration) -> String {
    humantime::format_duration(Duration::from_secs(duration.as_secs())).to_string()
}

/// What a task that died says about it.
pub(crate) fn panic_message(error: tokio::task::JoinError) -> String {
    if error.is_cancelled() {
        return "its task was cancelled".to_owned();
    }
    let payload = error.into_panic();
    let text = payload
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned());
    format!("it panicked: {text}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::config::{CheckTarget, HttpMethod, Masked, Redactor, SmokeCheck};
    use crate::report::OutputFormat;
    use crate::smoke::request::ReceivedResponse;
    use crate::smoke::target::ResolvedUrl;

    fn job(name: &str) -> Job {
        let redactor = Redactor::default();
        let expect = Expectations::status_ok();
        let check = SmokeCheck {
            name: name.to_owned(),
            method: HttpMethod::Get,
            target: CheckTarget::Path(format!("/{name}")),
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
            timeout: Duration::from_secs(1),
            expect: expect.clone(),
            idempotent: false,
            eventually: None,
        };
        let url = url::Url::parse(&format!("http://127.0.0.1:9/{name}")).unwrap();
        let target = ResolvedUrl {
            shown: Masked::new(url.to_string(), &redactor),
            url,
        };
        Job {
            name: name.to_owned(),
            request: PreparedRequest::new(&check, target).unwrap(),
            expect,
            max_latency: None,
            flow: None,
            captures: Vec::new(),
            template: None,
            eventually: None,
            repeatable: true,
        }
    }

    /// An attempt that got `status` with `body`, judged against the job.
    fn answered(job: &Job, status: u16, body: &str) -> Attempt {
        let response = ReceivedResponse {
            status,
            body: body.as_bytes().to_vec(),
            ..ReceivedResponse::default()
        };
        let evaluation = assertion::evaluate(&job.expect, &response);
        Attempt {
            exchange: Exchange::Response(response),
            evaluation: Some(evaluation),
            elapsed: Duration::ZERO,
            captured: Values::new(),
            reached_server: true,
        }
    }

    fn body(outcome: &CheckOutcome) -> String {
        match &outcome.last.as_ref().unwrap().exchange {
            Exchange::Response(response) => String::from_utf8(response.body.clone()).unwrap(),
            Exchange::Failure(failure) => failure.to_string(),
        }
    }

    fn schedule(ready_within_ms: u64, concurrency: usize) -> Schedule {
        Schedule {
            ready_within: Duration::from_millis(ready_within_ms),
            concurrency,
        }
    }

    fn quiet() -> Printer {
        Printer::new(OutputFormat::Json, Redactor::default())
    }

    #[tokio::test]
    async fn a_failing_check_is_retried_until_it_passes() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let attempt = move |job: Arc<Job>| {
            let call = counter.fetch_add(1, Ordering::SeqCst) + 1;
            async move { answered(&job, if call < 3 { 503 } else { 200 }, "") }
        };
        let (outcomes, _) = run_with(
            vec![job("health")],
            schedule(5_000, 1),
            quiet(),
            CancellationToken::new(),
            attempt,
        )
        .await
        .unwrap();
        assert_eq!(outcomes[0].attempts, 3);
        assert!(outcomes[0].last.as_ref().unwrap().passed());
    }

    #[tokio::test]
    async fn a_check_that_never_passes_reports_its_last_result_at_the_deadline() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let attempt = move |job: Arc<Job>| {
            let call = counter.fetch_add(1, Ordering::SeqCst) + 1;
            async move { answered(&job, 503, &call.to_string()) }
        };
        let started = Instant::now();
        let (outcomes, _) = run_with(
            vec![job("health")],
            schedule(400, 1),
            quiet(),
            CancellationToken::new(),
            attempt,
        )
        .await
        .unwrap();
        let elapsed = started.elapsed();
        let outcome = &outcomes[0];
        assert!(outcome.attempts >= 2, "{} attempt(s)", outcome.attempts);
        assert_eq!(
            body(outcome),
            outcome.attempts.to_string(),
            "not the last result"
        );
        assert!(!outcome.last.as_ref().unwrap().passed());
        assert!(
            elapsed >= Duration::from_millis(400),
            "gave up early, after {elapsed:?}"
        );
        assert!(
            elapsed < Duration::from_secs(2),
            "overslept the deadline: {elapsed:?}"
        );
    }

    #[tokio::test]
    async fn passed_checks_are_not_retried() {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&calls);
        let attempt = move |job: Arc<Job>| {
            log.lock().unwrap().push(job.name.clone());
            async move {
                let status = if job.name == "ok" { 200 } else { 503 };
                answered(&job, status, "")
            }
        };
        let (outcomes, _) = run_with(
            vec![job("ok"), job("bad")],
            schedule(300, 2),
            quiet(),
            CancellationToken::new(),
            attempt,
        )
        .await
        .unwrap();
        let calls = calls.lock().unwrap();
        assert_eq!(calls.iter().filter(|name| *name == "ok").count(), 1);
        assert!(calls.iter().filter(|name| *name == "bad").count() >= 2);
        assert!(outcomes[0].last.as_ref().unwrap().passed());
        assert!(!outcomes[1].last.as_ref().unwrap().passed());
    }

    fn step(name: &str, flow: &str) -> Job {
        Job {
            flow: Some(flow.to_owned()),
            ..job(name)
        }
    }

    #[tokio::test]
    async fn steps_of_a_flow_run_in_order_and_flows_run_concurrently() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let events = Arc::clone(&log);
        let attempt = move |job: Arc<Job>| {
            let events = Arc::clone(&events);
            async move {
                events.lock().unwrap().push(format!("start {}", job.name));
                if job.name == "login" {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                events.lock().unwrap().push(format!("end {}", job.name));
                answered(&job, 200, "")
            }
        };
        let jobs = vec![
            step("login", "checkout"),
            step("cart", "checkout"),
            step("search", "browse"),
        ];
        let (outcomes, _) = run_with(
            jobs,
            schedule(5_000, 4),
            quiet(),
            CancellationToken::new(),
            attempt,
        )
        .await
        .unwrap();
        assert!(
            outcomes
                .iter()
                .all(|outcome| outcome.last.as_ref().unwrap().passed())
        );
        let log = log.lock().unwrap().clone();
        let at = |event: &str| log.iter().position(|e| e == event).unwrap();
        assert!(
            at("end login") < at("start cart"),
            "steps overlapped: {log:?}"
        );
        assert!(
            at("end search") < at("end login"),
            "flows did not overlap: {log:?}"
        );
    }

    #[tokio::test]
    async fn a_failed_step_blocks_the_rest_of_its_flow_only() {
        let attempt = move |job: Arc<Job>| async move {
            let status = if job.name == "login" { 401 } else { 200 };
            answered(&job, status, "")
        };
        let jobs = vec![
            step("login", "checkout"),
            step("cart", "checkout"),
            step("search", "browse"),
        ];
        let (outcomes, _) = run_with(
            jobs,
            schedule(100, 4),
            quiet(),
            CancellationToken::new(),
            attempt,
        )
        .await
        .unwrap();
        assert_eq!(outcomes[1].attempts, 0);
        assert_eq!(outcomes[1].blocked_by.as_deref(), Some("login"));
        assert!(outcomes[2].last.as_ref().unwrap().passed());
    }

    #[tokio::test]
    async fn attempts_in_flight_never_exceed_the_concurrency() {
        let in_flight = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (now, peak) = (Arc::clone(&in_flight), Arc::clone(&most));
        let attempt = move |job: Arc<Job>| {
            let (now, peak) = (Arc::clone(&now), Arc::clone(&peak));
            async move {
                let current = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(current, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                answered(&job, 200, "")
            }
        };
        let jobs = ["a", "b", "c", "d", "e"].map(job).to_vec();
        let (outcomes, _) = run_with(
            jobs,
            schedule(5_000, 2),
            quiet(),
            CancellationToken::new(),
            attempt,
        )
        .await
        .unwrap();
        assert_eq!(most.load(Ordering::SeqCst), 2);
        assert!(outcomes.iter().all(|outcome| outcome.attempts == 1));
    }

    #[tokio::test]
    async fn outcomes_keep_the_order_of_the_checks() {
        let attempt = |job: Arc<Job>| async move {
            let delay = match job.name.as_str() {
                "first" => 60,
                "second" => 30,
                _ => 0,
            };
            tokio::time::sleep(Duration::from_millis(delay)).await;
            answered(&job, 200, &job.name)
        };
        let jobs = vec![job("first"), job("second"), job("third")];
        let (outcomes, _) = run_with(
            jobs,
            schedule(5_000, 3),
            quiet(),
            CancellationToken::new(),
            attempt,
        )
        .await
        .unwrap();
        let bodies: Vec<String> = outcomes.iter().map(body).collect();
        assert_eq!(bodies, ["first", "second", "third"]);
    }

    #[tokio::test]
    async fn a_panicking_check_is_an_internal_error_naming_it() {
        let attempt = |job: Arc<Job>| async move {
            assert!(job.name != "boom", "check exploded");
            answered(&job, 200, "")
        };
        let error = run_with(
            vec![job("fine"), job("boom")],
            schedule(5_000, 2),
            quiet(),
            CancellationToken::new(),
            attempt,
        )
        .await
        .unwrap_err();
        match &error {
            SmokeError::CheckTask { check, message } => {
                assert_eq!(check, "boom");
                assert_eq!(message, "it panicked: check exploded");
            }
            other => panic!("unexpected error: {other}"),
        }
        assert!(error.to_string().contains("this is a bug"));
    }

    #[tokio::test]
    async fn a_cancelled_run_starts_no_attempt() {
        let cancel = CancellationToken::new();
        cancel.cancel();
        let attempt = |job: Arc<Job>| async move { answered(&job, 200, "") };
        let (outcomes, _) = run_with(
            vec![job("health")],
            schedule(5_000, 1),
            quiet(),
            cancel,
            attempt,
        )
        .await
        .unwrap();
        assert_eq!(outcomes[0].attempts, 0);
        assert!(outcomes[0].last.is_none());
    }

    #[tokio::test]
    async fn cancelling_stops_the_backoff_wait() {
        let cancel = CancellationToken::new();
        let trip = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(250)).await;
            trip.cancel();
        });
        let attempt = |job: Arc<Job>| async move { answered(&job, 503, "") };
        let started = Instant::now();
        let (outcomes, _) = run_with(
            vec![job("health")],
            schedule(60_000, 1),
            quiet(),
            cancel,
            attempt,
        )
        .await
        .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "kept waiting after cancel: {:?}",
            started.elapsed()
        );
        assert!(outcomes[0].attempts >= 1);
        assert!(!outcomes[0].last.as_ref().unwrap().passed());
    }

    /// An attempt whose connection was refused before the request was written.
    fn refused() -> Attempt {
        Attempt {
            exchange: Exchange::Failure(TransportFailure::ConnectionRefused),
            evaluation: None,
            elapsed: Duration::ZERO,
            captured: Values::new(),
            reached_server: false,
        }
    }

    fn post(name: &str, flow: &str) -> Job {
        Job {
            repeatable: false,
            ..step(name, flow)
        }
    }

    #[tokio::test]
    async fn a_request_not_safe_to_repeat_is_not_retried_once_the_server_answered() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let attempt = move |job: Arc<Job>| {
            counter.fetch_add(1, Ordering::SeqCst);
            async move { answered(&job, 500, "") }
        };
        let (outcomes, _) = run_with(
            vec![post("create", "jobs"), step("status", "jobs")],
            schedule(2_000, 1),
            quiet(),
            CancellationToken::new(),
            attempt,
        )
        .await
        .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(outcomes[0].attempts, 1);
        assert!(outcomes[0].not_retried);
        assert_eq!(outcomes[1].blocked_by.as_deref(), Some("create"));
    }

    #[tokio::test]
    async fn a_request_not_safe_to_repeat_is_retried_while_it_never_reached_the_server() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let attempt = move |job: Arc<Job>| {
            let call = counter.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if call < 3 {
                    refused()
                } else {
                    answered(&job, 200, "")
                }
            }
        };
        let (outcomes, _) = run_with(
            vec![post("create", "jobs")],
            schedule(5_000, 1),
            quiet(),
            CancellationToken::new(),
            attempt,
        )
        .await
        .unwrap();
        assert_eq!(outcomes[0].attempts, 3);
        assert!(outcomes[0].last.as_ref().unwrap().passed());
        assert!(!outcomes[0].not_retried);
    }

    #[tokio::test]
    async fn an_eventual_step_is_polled_alone_at_its_pace_past_ready_within() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let events = Arc::clone(&log);
        let attempt = move |job: Arc<Job>| {
            let mut events = events.lock().unwrap();
            events.push(job.name.clone());
            let polls = events.iter().filter(|name| *name == "status").count();
            drop(events);
            async move {
                let running = job.name == "status" && polls < 4;
                answered(&job, if running { 202 } else { 200 }, "")
            }
        };
        let status = Job {
            eventually: Some(Eventually {
                within: Duration::from_secs(5),
                every: Duration::from_millis(50),
            }),
            ..step("status", "jobs")
        };
        let started = Instant::now();
        // `ready_within` (10 ms) is far shorter than the polling takes.
        let (outcomes, _) = run_with(
            vec![post("create", "jobs"), status],
            schedule(10, 1),
            quiet(),
            CancellationToken::new(),
            attempt,
        )
        .await
        .unwrap();
        let elapsed = started.elapsed();
        assert_eq!(
            *log.lock().unwrap(),
            ["create", "status", "status", "status", "status"]
        );
        assert_eq!(outcomes[1].attempts, 4);
        assert!(outcomes[1].last.as_ref().unwrap().passed());
        let polled = outcomes[1].polled.as_ref().unwrap();
        assert_eq!(polled.last_failure.as_deref(), Some("status 202"));
        assert!(elapsed >= Duration::from_millis(150), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    }

    #[tokio::test]
    async fn an_eventual_step_that_never_passes_stops_at_its_own_deadline() {
        let attempt = |job: Arc<Job>| async move { answered(&job, 202, "running") };
        let status = Job {
            eventually: Some(Eventually {
                within: Duration::from_millis(300),
                every: Duration::from_millis(100),
            }),
            ..job("status")
        };
        let started = Instant::now();
        let (outcomes, _) = run_with(
            vec![status],
            schedule(60_000, 1),
            quiet(),
            CancellationToken::new(),
            attempt,
        )
        .await
        .unwrap();
        let elapsed = started.elapsed();
        assert!(
            (3..=5).contains(&outcomes[0].attempts),
            "{}",
            outcomes[0].attempts
        );
        assert!(!outcomes[0].last.as_ref().unwrap().passed());
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    }

    #[test]
    fn delays_double_up_to_the_cap() {
        let mut backoff = Backoff::new(INITIAL_DELAY, MAX_DELAY);
        let delays: Vec<u128> = (0..8)
            .map(|_| backoff.next_delay_with(1.0).as_millis())
            .collect();
        assert_eq!(delays, vec![200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
    }

    #[test]
    fn jitter_stays_in_the_upper_half_of_each_step() {
        let mut backoff = Backoff::new(INITIAL_DELAY, MAX_DELAY);
        assert_eq!(backoff.next_delay_with(0.0), Duration::from_millis(100));
        assert_eq!(backoff.next_delay_with(0.5), Duration::from_millis(300));
        for _ in 0..100 {
            let mut backoff = Backoff::new(INITIAL_DELAY, MAX_DELAY);
            let delay = backoff.next_delay();
            assert!(
                (Duration::from_millis(100)..=Duration::from_millis(200)).contains(&delay),
                "{delay:?}"
            );
        }
    }

    #[test]
    fn an_initial_delay_above_the_cap_is_capped() {
        let mut backoff = Backoff::new(Duration::from_secs(10), Duration::from_secs(1));
        assert_eq!(backoff.next_delay_with(1.0), Duration::from_secs(1));
    }

    #[test]
    fn elapsed_time_prints_in_whole_seconds() {
        assert_eq!(whole_seconds(Duration::from_millis(12_700)), "12s");
        assert_eq!(whole_seconds(Duration::from_millis(300)), "0s");
        assert_eq!(whole_seconds(Duration::from_secs(185)), "3m 5s");
    }
}
