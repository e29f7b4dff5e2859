//! Argo-Rollouts-style analysis of a series of measurements: each is
//! successful, failed, inconclusive or an error; a metric fails once its
//! failed measurements exceed `failure_limit`, its consecutive errors exceed
//! `consecutive_error_limit`, or (when set) its inconclusive ones exceed
//! `inconclusive_limit`. Taking the measurements is left to `mod.rs` and
//! `metric.rs`.

use std::fmt::Write as _;
use std::time::Duration;

use crate::report::{Check, Status, format_duration};

/// How one measurement came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// It met the condition.
    Successful,
    /// It met `fail_if` (or missed `pass_if`).
    Failed,
    /// Both conditions are set and it met neither.
    Inconclusive,
    /// It could not be taken (unreachable, bad JSON, no value).
    Error,
}

impl Verdict {
    fn symbol(self) -> &'static str {
        match self {
            Self::Successful => "✓",
            Self::Failed => "✗",
            Self::Inconclusive => "?",
            Self::Error => "!",
        }
    }
}

/// One measurement of one metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Measurement {
    /// 1-based number of the interval it was taken in.
    pub(crate) index: usize,
    /// When, from the start of the watch.
    pub(crate) at: Duration,
    /// How it came out.
    pub(crate) verdict: Verdict,
    /// What was seen, e.g. `0.012` or `status 503`.
    pub(crate) shown: String,
}

/// The limits one metric is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Failed measurements tolerated.
    pub(crate) failures: u32,
    /// Consecutive errors tolerated.
    pub(crate) consecutive_errors: u32,
    /// Inconclusive measurements tolerated, when limited.
    pub(crate) inconclusive: Option<u32>,
}

/// Which limit a metric crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Crossed {
    /// `failure_limit`.
    Failures,
    /// `consecutive_error_limit`.
    ConsecutiveErrors,
    /// `inconclusive_limit`.
    Inconclusive,
}

/// The history and counters of one metric (the smoke suite is one too).
#[derive(Debug, Clone)]
pub(crate) struct Tracker {
    /// The metric's name.
    pub(crate) name: String,
    limits: Limits,
    history: Vec<Measurement>,
    failed: u32,
    inconclusive: u32,
    errors: u32,
    consecutive_errors: u32,
    crossed: Option<(Crossed, usize)>,
}

impl Tracker {
    /// A tracker with no measurement yet.
    pub(crate) fn new(name: &str, limits: Limits) -> Self {
        Self {
            name: name.to_owned(),
            limits,
            history: Vec::new(),
            failed: 0,
            inconclusive: 0,
            errors: 0,
            consecutive_errors: 0,
            crossed: None,
        }
    }

    /// Adds a measurement and notes the first limit it crosses.
    pub(crate) fn record(&mut self, measurement: Measurement) {
        match measurement.verdict {
            Verdict::Successful => self.consecutive_errors = 0,
            Verdict::Failed => {
                self.failed += 1;
                self.consecutive_errors = 0;
            }
            Verdict::Inconclusive => {
                self.inconclusive += 1;
                self.consecutive_errors = 0;
            }
            Verdict::Error => {
                self.errors += 1;
                self.consecutive_errors += 1;
            }
        }
        let index = measurement.index;
        self.history.push(measurement);
        if self.crossed.is_some() {
            return;
        }
        let crossed = if self.failed > self.limits.failures {
            Some(Crossed::Failures)
        } else if self.consecutive_errors > self.limits.consecutive_errors {
            Some(Crossed::ConsecutiveErrors)
        } else if self
            .limits
            .inconclusive
            .is_some_and(|limit| self.inconclusive > limit)
        {
            Some(Crossed::Inconclusive)
        } else {
            None
        };
        self.crossed = crossed.map(|crossed| (crossed, index));
    }

    /// The limit crossed and the measurement that crossed it.
    pub(crate) fn crossed(&self) -> Option<(Crossed, usize)> {
        self.crossed
    }

    /// The latest measurement.
    pub(crate) fn last(&self) -> Option<&Measurement> {
        self.history.last()
    }

    /// The report line: counts, the crossed limit as expected vs got, and
    /// the measurement history as its log.
    pub(crate) fn check(&self) -> Check {
        let total = self.history.len();
        let successful = self
            .history
            .iter()
            .filter(|measurement| measurement.verdict == Verdict::Successful)
            .count();
        let detail = format!(
            "{total} measurement(s): {successful} successful, {} failed, {} inconclusive, {} error(s)",
            self.failed, self.inconclusive, self.errors
        );
        let mut log = String::new();
        for measurement in &self.history {
            let _ = writeln!(
                log,
                "#{} at {}: {} {}",
                measurement.index,
                format_duration(measurement.at),
                measurement.verdict.symbol(),
                measurement.shown
            );
        }
        let status = if self.crossed.is_some() {
            Status::Fail
        } else if successful == total {
            Status::Pass
        } else {
            Status::Warn
        };
        let mut check = Check::new(&self.name, status).detail(detail);
        if !log.is_empty() {
            check = check.log(log.trim_end().to_owned());
        }
        let Some((crossed, index)) = self.crossed else {
            return check;
        };
        let shown = self
            .history
            .iter()
            .find(|measurement| measurement.index == index)
            .map(|measurement| measurement.shown.clone())
            .unwrap_or_default();
        let (expected, got) = match crossed {
            Crossed::Failures => (
                format!(
                    "at most {} failed measurement(s) (`failure_limit`)",
                    self.limits.failures
                ),
                format!(
                    "{} failed by measurement #{index}: {shown}",
                    self.limits.failures + 1
                ),
            ),
            Crossed::ConsecutiveErrors => (
                format!(
                    "at most {} consecutive error(s) (`consecutive_error_limit`)",
                    self.limits.consecutive_errors
                ),
                format!(
                    "{} in a row by measurement #{index}: {shown}",
                    self.limits.consecutive_errors + 1
                ),
            ),
            Crossed::Inconclusive => (
                format!(
                    "at most {} inconclusive measurement(s) (`inconclusive_limit`)",
                    self.limits.inconclusive.unwrap_or_default()
                ),
                format!(
                    "{} inconclusive by measurement #{index}: {shown}",
                    self.limits.inconclusive.unwrap_or_default() + 1
                ),
            ),
        };
        check.expected_actual(expected, got)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn limits(failures: u32, consecutive_errors: u32) -> Limits {
        Limits {
            failures,
            consecutive_errors,
            inconclusive: None,
        }
    }

    fn feed(tracker: &mut Tracker, verdicts: &[Verdict]) {
        for (offset, verdict) in verdicts.iter().enumerate() {
            tracker.record(Measurement {
                index: offset + 1,
                at: Duration::from_secs(offset as u64),
                verdict: *verdict,
                shown: format!("m{}", offset + 1),
            });
        }
    }

    #[test]
    fn failures_cross_the_limit_at_the_right_measurement() {
        use Verdict::{Failed, Successful};
        let mut tracker = Tracker::new("5xx", limits(2, 4));
        feed(&mut tracker, &[Successful, Failed, Successful, Failed]);
        assert_eq!(
            tracker.crossed(),
            None,
            "two failures are within a limit of 2"
        );
        feed(&mut tracker, &[Failed]);
        assert_eq!(tracker.crossed(), Some((Crossed::Failures, 1)));
    }

    #[test]
    fn only_consecutive_errors_count_against_the_error_limit() {
        use Verdict::{Error, Successful};
        let mut tracker = Tracker::new("api", limits(0, 2));
        feed(&mut tracker, &[Error, Error, Successful, Error, Error]);
        assert_eq!(tracker.crossed(), None);
        feed(&mut tracker, &[Successful, Error, Error, Error]);
        assert_eq!(tracker.crossed(), Some((Crossed::ConsecutiveErrors, 4)));
        let check = tracker.check();
        assert_eq!(check.status, Status::Fail);
        assert_eq!(
            check.expected.as_deref(),
            Some("at most 2 consecutive error(s) (`consecutive_error_limit`)")
        );
        assert_eq!(
            check.actual.as_deref(),
            Some("3 in a row by measurement #4: m4")
        );
    }

    #[test]
    fn inconclusive_results_are_counted_separately() {
        use Verdict::{Inconclusive, Successful};
        let mut tracker = Tracker::new("latency", limits(0, 0));
        feed(&mut tracker, &[Inconclusive, Inconclusive, Successful]);
        assert_eq!(tracker.crossed(), None);
        let check = tracker.check();
        assert_eq!(check.status, Status::Warn);
        assert_eq!(
            check.detail.as_deref(),
            Some("3 measurement(s): 1 successful, 0 failed, 2 inconclusive, 0 error(s)")
        );
        let mut limited = Tracker::new(
            "latency",
            Limits {
                inconclusive: Some(1),
                ..limits(0, 0)
            },
        );
        feed(&mut limited, &[Inconclusive, Inconclusive]);
        assert_eq!(limited.crossed(), Some((Crossed::Inconclusive, 2)));
    }
}
