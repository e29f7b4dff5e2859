//! Waiting for readiness: every check runs until it passed once or
//! `ready_within` ran out, retrying with exponential backoff and jitter.
//!
//! Checks run concurrently in a [`JoinSet`], each attempt holding one permit
//! of a semaphore sized by `smoke.concurrency` (a check waiting out its
//! backoff holds none). A check that passed is done; the others are retried
//! and, when time runs out, the phase reports their last result. Progress
//! lines go to the printer; building the report is left to `outcome.rs`.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Client;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::SmokeError;
use super::assertion;
use super::outcome::{Attempt, CheckOutcome};
use super::request::{self, Exchange, PreparedRequest};
use crate::config::Expectations;
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
}

/// How long and how widely to run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    /// How long every check may take to pass once.
    pub(crate) ready_within: Duration,
    /// How many attempts may be in flight at once (at least one).
    pub(crate) concurrency: usize,
}

/// What every check task shares.
struct Shared {
    client: Client,
    permits: Semaphore,
    printer: Printer,
    cancel: CancellationToken,
    started: Instant,
    deadline: Instant,
    ready_within: Duration,
}

/// Runs every job until it passed once or the schedule ran out; the outcomes
/// come back in the jobs' order.
pub(crate) async fn run(
    jobs: Vec<Job>,
    client: Client,
    schedule: Schedule,
    printer: Printer,
    cancel: CancellationToken,
) -> Result<Vec<CheckOutcome>, SmokeError> {
    let started = Instant::now();
    let shared = Arc::new(Shared {
        client,
        permits: Semaphore::new(schedule.concurrency.max(1)),
        printer,
        cancel,
        started,
        deadline: started + schedule.ready_within,
        ready_within: schedule.ready_within,
    });
    let names: Vec<String> = jobs.iter().map(|job| job.name.clone()).collect();
    let mut tasks = JoinSet::new();
    let mut task_index = std::collections::HashMap::new();
    for (index, job) in jobs.into_iter().enumerate() {
        let handle = tasks.spawn(poll_until_ready(job, Arc::clone(&shared)));
        task_index.insert(handle.id(), index);
    }
    let mut outcomes: Vec<Option<CheckOutcome>> = vec![None; names.len()];
    while let Some(joined) = tasks.join_next_with_id().await {
        match joined {
            Ok((id, outcome)) => {
                if let Some(&index) = task_index.get(&id) {
                    outcomes[index] = Some(outcome);
                }
            }
            Err(error) => {
                let check = task_index
                    .get(&error.id())
                    .and_then(|&index| names.get(index))
                    .cloned()
                    .unwrap_or_default();
                tasks.abort_all();
                return Err(SmokeError::CheckTask {
                    check,
                    message: panic_message(error),
                });
            }
        }
    }
    outcomes
        .into_iter()
        .zip(names)
        .map(|(outcome, check)| {
            outcome.ok_or_else(|| SmokeError::CheckTask {
                check,
                message: "its task never reported".to_owned(),
            })
        })
        .collect()
}

/// Attempts one check until it passes, time runs out or the run is cancelled.
async fn poll_until_ready(job: Job, shared: Arc<Shared>) -> CheckOutcome {
    let mut backoff = Backoff::new(INITIAL_DELAY, MAX_DELAY);
    let mut outcome = CheckOutcome {
        attempts: 0,
        last: None,
    };
    loop {
        let attempt = tokio::select! {
            attempt = attempt_once(&job, &shared) => attempt,
            () = shared.cancel.cancelled() => None,
        };
        let Some(attempt) = attempt else {
            return outcome;
        };
        outcome.attempts += 1;
        let passed = attempt.passed();
        let reason = attempt.reason();
        outcome.last = Some(attempt);
        let now = Instant::now();
        if passed || now >= shared.deadline || shared.cancel.is_cancelled() {
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

/// One attempt under a concurrency permit; `None` if the semaphore closed.
async fn attempt_once(job: &Job, shared: &Shared) -> Option<Attempt> {
    let _permit = shared.permits.acquire().await.ok()?;
    let started = Instant::now();
    let exchange = request::send(&shared.client, &job.request).await;
    let elapsed = started.elapsed();
    let evaluation = match &exchange {
        Exchange::Response(response) => Some(assertion::evaluate(&job.expect, response)),
        Exchange::Failure(_) => None,
    };
    Some(Attempt {
        exchange,
        evaluation,
        elapsed,
    })
}

/// `12s`, `3m 5s`: elapsed time without the noise of milliseconds.
fn whole_seconds(duration: Duration) -> String {
    humantime::format_duration(Duration::from_secs(duration.as_secs())).to_string()
}

fn panic_message(error: tokio::task::JoinError) -> String {
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
mod tests {
    use super::*;

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
