//! `shipgate watch`: the post-deploy analysis. Every `interval` for `for`,
//! the smoke checks named in `[watch] checks` run once and every
//! `[[watch.metric]]` is queried, all at once; each is one measurement of its
//! metric (the smoke suite is the metric `smoke`). It ends early, failed, as
//! soon as a metric crosses a limit, and prints one progress line per
//! interval so a CI log shows it is alive.
//!
//! Counting and limits live in `analysis.rs`, metric queries in `metric.rs`;
//! the smoke checks are `smoke`'s; printing is left to `report/`.

mod analysis;
mod metric;

use std::fmt::Write as _;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;
use url::Url;

use self::analysis::{Limits, Measurement, Tracker, Verdict};
use crate::config::time_template::TimeWindow;
use crate::config::{Baseline, WatchConfig, WatchMetric};
use crate::context::Context;
use crate::diagnostic::Diagnostic;
use crate::exit::ExitStatus;
use crate::report::{
    Check, Phase, PhaseName, Report, Status, WatchPoint, WatchSeries, format_duration,
};
use crate::smoke::{self, SmokeError};

/// The name of the smoke suite's metric.
const SMOKE_METRIC: &str = "smoke";

/// Why the watch could not run (a crossed limit is a result, not an error).
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The config has no `[watch]` table.
    #[error("there is nothing to watch: `{}` has no `[watch]` table", path.display())]
    NotConfigured {
        /// The config file.
        path: std::path::PathBuf,
    },
    /// The smoke checks or the HTTP client could not be set up.
    #[error(transparent)]
    Smoke(#[from] SmokeError),
}

impl Diagnostic for WatchError {
    fn hint(&self) -> Option<String> {
        match self {
            Self::NotConfigured { .. } => Some(
                "add `[watch]` with `for = \"10m\"` and `interval = \"30s\"` (see the README's config reference)"
                    .to_owned(),
            ),
            Self::Smoke(error) => error.hint(),
        }
    }
}

impl WatchError {
    /// The exit status this error ends the process with.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Self::NotConfigured { .. } => ExitStatus::Usage,
            Self::Smoke(error) => error.exit_status(),
        }
    }
}

/// `shipgate watch`: the watch phase as a report.
pub async fn execute(
    ctx: &Context,
    base_url: Option<&Url>,
    duration: Option<Duration>,
) -> Result<Report, WatchError> {
    let Some(config) = &ctx.config.watch else {
        return Err(WatchError::NotConfigured {
            path: ctx.config.path.clone(),
        });
    };
    // A separate watch step times the deploy this run recorded; without
    // one, the deploy is taken to have finished as the watch starts.
    let deployed_at = crate::state::RunState::load(&ctx.state_path, &ctx.config.environment.name)
        .ok()
        .filter(|state| state.deployed_release.is_some())
        .and_then(|state| state.deployed_at);
    let phase = run_phase(ctx, config, base_url, duration, deployed_at).await?;
    let mut report = Report::new("watch", Some(&ctx.config.environment.name), ctx.dry_run);
    report.push(phase);
    if ctx.cancel.is_cancelled() {
        report.finish(ExitStatus::Interrupted, Duration::ZERO);
    }
    Ok(report)
}

/// Watches for `duration` (default: `[watch] for`) and returns the phase:
/// one check per metric with its measurement history. Cancellation ends it
/// after the current interval's measurements, without failing it.
/// `deployed_at` is when the deploy finished (default: now), the end of the
/// `compare = "previous"` baseline window and `{deploy_time}`.
pub async fn run_phase(
    ctx: &Context,
    config: &WatchConfig,
    base_url: Option<&Url>,
    duration: Option<Duration>,
    deployed_at: Option<jiff::Timestamp>,
) -> Result<Phase, WatchError> {
    let started = Instant::now();
    let deployed_at = deployed_at.unwrap_or_else(jiff::Timestamp::now);
    let duration = duration.unwrap_or(config.duration);
    let interval = config.interval;
    let planned = measurements(duration, interval);
    if ctx.dry_run {
        let plan = format!(
            "would measure {} smoke check(s) and {} metric(s) every {} for {} ({planned} measurements)",
            config.checks.len(),
            config.metrics.len(),
            format_duration(interval),
            format_duration(duration)
        );
        return Ok(Phase::new(
            PhaseName::Watch,
            vec![Check::new("watch", Status::Skip).detail(plan)],
            Duration::ZERO,
        ));
    }
    let client = smoke::http_client(ctx)?;
    let mut trackers = Vec::new();
    let limits = Limits {
        failures: config.failure_limit,
        consecutive_errors: config.consecutive_error_limit,
        inconclusive: config.inconclusive_limit,
    };
    if !config.checks.is_empty() {
        trackers.push(Tracker::new(SMOKE_METRIC, limits));
    }
    for metric in &config.metrics {
        trackers.push(Tracker::new(
            &metric.name,
            Limits {
                failures: metric.failure_limit,
                consecutive_errors: metric.consecutive_error_limit,
                ..limits
            },
        ));
    }
    let mut series = WatchSeries {
        max_error_rate: config.max_error_rate,
        max_latency: ctx
            .config
            .smoke
            .checks
            .iter()
            .filter(|check| config.checks.contains(&check.name))
            .filter_map(|check| check.max_latency)
            .min(),
        points: Vec::new(),
    };
    let times = Times {
        deployed_at,
        interval,
        duration,
    };
    let mut baselines: Vec<Option<f64>> = vec![None; config.metrics.len()];
    let mut taken = 0;
    let mut stopped_by: Option<String> = None;
    for index in 1..=planned {
        let tick = crate::config::deadline_after(
            started,
            interval.saturating_mul(u32::try_from(index - 1).unwrap_or(u32::MAX)),
        );
        tokio::select! {
            () = tokio::time::sleep_until(tick) => {}
            () = ctx.cancel.cancelled() => break,
        }
        let at = tick - started;
        let (measured, point) = tokio::select! {
            measured = measure_all(ctx, config, base_url, &client, &times, &mut baselines) => measured?,
            () = ctx.cancel.cancelled() => break,
        };
        if let Some(mut point) = point {
            point.at = at;
            series.points.push(point);
        }
        taken = index;
        for (tracker, (verdict, shown)) in trackers.iter_mut().zip(measured) {
            tracker.record(Measurement {
                index,
                at,
                verdict,
                shown,
            });
        }
        // A backend's error body may echo a secret: progress is not redacted.
        let line = progress_line(index, planned, at, duration, &trackers);
        ctx.printer.progress(&ctx.printer.redactor().redact(&line));
        if let Some(tracker) = trackers.iter().find(|tracker| tracker.crossed().is_some()) {
            stopped_by = Some(tracker.name.clone());
            break;
        }
    }
    let checks: Vec<Check> = trackers.iter().map(Tracker::check).collect();
    let summary = match (&stopped_by, ctx.cancel.is_cancelled()) {
        (Some(metric), _) => {
            format!("stopped at measurement #{taken} of {planned}: `{metric}` crossed its limit")
        }
        (None, true) => format!("interrupted after {taken} of {planned} measurements"),
        (None, false) => format!(
            "{taken} measurement(s) over {} within limits",
            format_duration(duration)
        ),
    };
    let mut phase = Phase::new(PhaseName::Watch, checks, started.elapsed()).summary(summary);
    if !series.points.is_empty() {
        phase.series = Some(series);
    }
    Ok(phase)
}

/// Measurements at 0, `interval`, 2 × `interval`, … before `duration` ends
/// (at least one).
fn measurements(duration: Duration, interval: Duration) -> usize {
    let whole = duration.as_nanos().div_ceil(interval.as_nanos().max(1));
    usize::try_from(whole).unwrap_or(usize::MAX).max(1)
}

/// The times every metric query of a watch derives its window from.
#[derive(Debug, Clone, Copy)]
struct Times {
    deployed_at: jiff::Timestamp,
    interval: Duration,
    duration: Duration,
}

impl Times {
    /// `[now - window, now]`, the window a measurement queries.
    fn current(&self, metric: &WatchMetric) -> TimeWindow {
        let end = jiff::Timestamp::now();
        TimeWindow {
            start: before(end, metric.window.unwrap_or(self.interval)),
            end,
            deploy: self.deployed_at,
        }
    }

    /// `[deploy - baseline_window, deploy]` (default length: the watch's
    /// `for`), the window `compare = "previous"` reads the baseline from.
    fn baseline(&self, baseline: &Baseline) -> TimeWindow {
        TimeWindow {
            start: before(self.deployed_at, baseline.window.unwrap_or(self.duration)),
            end: self.deployed_at,
            deploy: self.deployed_at,
        }
    }
}

/// `at - length`, clamped to the earliest time jiff knows.
fn before(at: jiff::Timestamp, length: Duration) -> jiff::Timestamp {
    jiff::SignedDuration::try_from(length)
        .ok()
        .and_then(|length| at.checked_sub(length).ok())
        .unwrap_or(jiff::Timestamp::MIN)
}

/// One metric measurement: the baseline first when it is compared and not
/// read yet (an unreadable baseline is an error measurement), then the
/// value over the current window. Returns the baseline when read.
async fn measure_metric(
    client: &smoke::HttpClient,
    metric: &WatchMetric,
    times: Times,
    baseline: Option<f64>,
) -> ((Verdict, String), Option<f64>) {
    let baseline = match (metric.compare, baseline) {
        (Some(compare), None) => {
            match metric::read(client, metric, &times.baseline(&compare)).await {
                Ok(value) => Some(value),
                Err(message) => return ((Verdict::Error, format!("baseline: {message}")), None),
            }
        }
        (_, known) => known,
    };
    let measured = match metric::read(client, metric, &times.current(metric)).await {
        Err(message) => (Verdict::Error, message),
        Ok(value) => metric::judge(metric, value, baseline),
    };
    (measured, baseline)
}

/// One interval: the smoke checks once and every metric, concurrently, in
/// tracker order (smoke first when it is measured), with the smoke checks'
/// p95 latency and error rate when they are measured.
async fn measure_all(
    ctx: &Context,
    config: &WatchConfig,
    base_url: Option<&Url>,
    client: &smoke::HttpClient,
    times: &Times,
    baselines: &mut [Option<f64>],
) -> Result<(Vec<(Verdict, String)>, Option<WatchPoint>), WatchError> {
    let mut metrics = JoinSet::new();
    for (index, metric) in config.metrics.iter().enumerate() {
        let (client, metric, times) = (client.clone(), metric.clone(), *times);
        let baseline = baselines[index];
        metrics.spawn(async move {
            (
                index,
                measure_metric(&client, &metric, times, baseline).await,
            )
        });
    }
    let mut measured = Vec::with_capacity(config.metrics.len() + 1);
    let mut point = None;
    if !config.checks.is_empty() {
        let checks = smoke::run_once(ctx, base_url, &config.checks, client).await?;
        measured.push(judge_smoke(&checks, config.max_error_rate));
        point = Some(smoke_point(&checks));
    }
    let mut results = vec![None; config.metrics.len()];
    while let Some(joined) = metrics.join_next().await {
        if let Ok((index, (result, baseline))) = joined {
            results[index] = Some(result);
            if baseline.is_some() {
                baselines[index] = baseline;
            }
        }
    }
    measured.extend(results.into_iter().map(|result| {
        result.unwrap_or_else(|| {
            (
                Verdict::Error,
                "internal error: the query task died; this is a bug".to_owned(),
            )
        })
    }));
    Ok((measured, point))
}

/// The smoke checks' p95 latency (nearest rank) and error rate; `at` is set
/// by the caller.
fn smoke_point(checks: &[Check]) -> WatchPoint {
    let mut latencies: Vec<Duration> = checks.iter().filter_map(|check| check.duration).collect();
    latencies.sort_unstable();
    let p95 = if latencies.is_empty() {
        Duration::ZERO
    } else {
        // Nearest rank: ceil(0.95 × n), 1-based.
        let rank = (latencies.len() * 95).div_ceil(100).max(1);
        latencies[rank - 1]
    };
    let failed = checks
        .iter()
        .filter(|check| check.status == Status::Fail)
        .count();
    WatchPoint {
        at: Duration::ZERO,
        p95,
        error_rate: smoke::error_rate(failed, checks.len()),
    }
}

/// One pass of the smoke checks as a measurement: failed when more than
/// `max_error_rate` of them failed.
fn judge_smoke(checks: &[Check], max_error_rate: f64) -> (Verdict, String) {
    let failed: Vec<&Check> = checks
        .iter()
        .filter(|check| check.status == Status::Fail)
        .collect();
    let total = checks.len();
    let mut shown = format!("{} of {total} passed", total - failed.len());
    if let Some(first) = failed.first() {
        let _ = write!(
            shown,
            "; `{}`: {}",
            first.name,
            crate::report::junit::failure_message(first)
        );
    }
    let rate = smoke::error_rate(failed.len(), total);
    let verdict = if rate > max_error_rate {
        Verdict::Failed
    } else {
        Verdict::Successful
    };
    (verdict, shown)
}

/// `watch #3/20 at 1.0m of 10m: smoke ✓ 3 of 3 passed · 5xx rate ✗ 0.09 (fail_if > 0.05)`.
fn progress_line(
    index: usize,
    planned: usize,
    at: Duration,
    duration: Duration,
    trackers: &[Tracker],
) -> String {
    let parts: Vec<String> = trackers
        .iter()
        .filter_map(|tracker| {
            let last = tracker.last()?;
            let symbol = match last.verdict {
                Verdict::Successful => "✓",
                Verdict::Failed => "✗",
                Verdict::Inconclusive => "?",
                Verdict::Error => "!",
            };
            Some(format!("{} {symbol} {}", tracker.name, last.shown))
        })
        .collect();
    format!(
        "watch #{index}/{planned} at {} of {}: {}",
        format_duration(at),
        format_duration(duration),
        parts.join(" · ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measurements_fit_the_duration() {
        let secs = Duration::from_secs;
        assert_eq!(measurements(secs(600), secs(30)), 20);
        assert_eq!(measurements(secs(61), secs(30)), 3);
        assert_eq!(measurements(secs(10), secs(30)), 1);
    }

    #[test]
    fn the_smoke_measurement_fails_over_its_error_rate() {
        let checks = vec![
            Check::pass("home"),
            Check::fail("api").expected_actual("status 200", "status 503"),
        ];
        assert_eq!(
            judge_smoke(&checks, 0.0),
            (
                Verdict::Failed,
                "1 of 2 passed; `api`: expected status 200, got status 503".to_owned()
            )
        );
        assert_eq!(judge_smoke(&checks, 0.5).0, Verdict::Successful);
    }
}
