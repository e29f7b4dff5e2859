//! Sampling after readiness: every ready check chosen by the suite (only
//! requests safe to repeat: a `POST` that starts a job is never re-sent) is
//! sent `samples` more times, concurrently under the suite's `concurrency`,
//! through the one shared client; and the latency percentiles of what came
//! back.
//!
//! A sample is judged like any attempt; turning samples into report lines
//! (latency, error rate) is left to `outcome.rs`.

use std::sync::Arc;
use std::time::Duration;

use super::client::HttpClient;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::SmokeError;
use super::outcome::Attempt;
use super::readiness::{self, Job};

/// Sends `samples` requests for every job where `ready[i]` is true; returns
/// each job's samples in its order (empty for jobs not sampled). Cancellation
/// stops sending; samples already sent are kept.
pub(crate) async fn run(
    jobs: &[Job],
    ready: &[bool],
    samples: usize,
    client: &HttpClient,
    concurrency: usize,
    cancel: &CancellationToken,
) -> Result<Vec<Vec<Attempt>>, SmokeError> {
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for (index, job) in jobs.iter().enumerate() {
        if !ready.get(index).copied().unwrap_or(false) {
            continue;
        }
        let job = Arc::new(job.clone());
        for _ in 0..samples {
            let (job, client, permits, cancel) = (
                Arc::clone(&job),
                client.clone(),
                Arc::clone(&permits),
                cancel.clone(),
            );
            tasks.spawn(async move {
                let _permit = permits.acquire().await.ok()?;
                tokio::select! {
                    attempt = readiness::attempt_once(&client, &job) => Some((index, attempt)),
                    () = cancel.cancelled() => None,
                }
            });
        }
    }
    let mut by_job = vec![Vec::new(); jobs.len()];
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Some((index, attempt))) => by_job[index].push(attempt),
            Ok(None) => {}
            Err(error) => {
                tasks.abort_all();
                return Err(SmokeError::CheckTask {
                    check: "sampling".to_owned(),
                    message: readiness::panic_message(error),
                });
            }
        }
    }
    Ok(by_job)
}

/// p50, p95 and max of a set of latencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Latency {
    /// The median.
    pub(crate) p50: Duration,
    /// The 95th percentile (nearest rank).
    pub(crate) p95: Duration,
    /// The slowest.
    pub(crate) max: Duration,
}

impl Latency {
    /// The nearest-rank percentiles of `durations`; `None` when empty.
    pub(crate) fn of(durations: impl IntoIterator<Item = Duration>) -> Option<Self> {
        let mut sorted: Vec<Duration> = durations.into_iter().collect();
        sorted.sort_unstable();
        let max = *sorted.last()?;
        Some(Self {
            p50: nearest_rank(&sorted, 50),
            p95: nearest_rank(&sorted, 95),
            max,
        })
    }
}

/// The smallest value with at least `percent` % of the values at or below it.
fn nearest_rank(sorted: &[Duration], percent: usize) -> Duration {
    let rank = (percent * sorted.len()).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn millis(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|&ms| Duration::from_millis(ms)).collect()
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        // 20 samples, two slow: p95 is the 19th fastest, a slow one.
        let mut values = vec![5; 18];
        values.extend([300, 310]);
        let latency = Latency::of(millis(&values)).unwrap();
        assert_eq!(latency.p50, Duration::from_millis(5));
        assert_eq!(latency.p95, Duration::from_millis(300));
        assert_eq!(latency.max, Duration::from_millis(310));
        // One slow in 20 stays above the 95th percentile.
        let mut values = vec![5; 19];
        values.push(300);
        assert_eq!(
            Latency::of(millis(&values)).unwrap().p95,
            Duration::from_millis(5)
        );
    }

    #[test]
    fn one_value_is_every_percentile_and_none_is_none() {
        let latency = Latency::of(millis(&[7])).unwrap();
        assert_eq!(
            (latency.p50, latency.p95, latency.max),
            (
                Duration::from_millis(7),
                Duration::from_millis(7),
                Duration::from_millis(7)
            )
        );
        assert_eq!(Latency::of(Vec::new()), None);
    }
}
