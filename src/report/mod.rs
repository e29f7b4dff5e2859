//! The one result model every command fills in, and the renderers that print it.
//!
//! A [`Report`] is phases → checks. Commands build it and never print; the
//! renderers (`human`, `json`, `github`, `junit`) read the same report. Every
//! sink renders [`Report::redacted`], so each value is masked before it is
//! encoded, and the finished text passes through the run's
//! [`crate::config::Redactor`] once more.

pub mod github;
pub mod human;
pub mod json;
pub mod junit;
mod printer;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

pub use printer::{OutputFormat, Printer};

use crate::config::Redactor;
use crate::diagnostic::SourceLocation;
use crate::exit::ExitStatus;

/// Version of the JSON report schema; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// It ran and passed.
    Pass,
    /// It did not run (dry run, earlier failure, filtered out).
    Skip,
    /// It passed with a caveat worth reading.
    Warn,
    /// It ran and failed.
    Fail,
}

impl Status {
    /// The status symbol for text output.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Pass => "✓",
            Self::Skip => "-",
            Self::Warn => "!",
            Self::Fail => "✗",
        }
    }
}

/// One check within a phase: a gate, a migration, a smoke request, a step of
/// a rollback.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked, e.g. `health` or `0002_add_email`.
    pub name: String,
    /// Its outcome.
    pub status: Status,
    /// One line on what happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// What was expected, e.g. `status 200`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// What was found, e.g. `status 503`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    /// Time taken.
    #[serde(
        rename = "duration_ms",
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_millis"
    )]
    pub duration: Option<Duration>,
    /// The user's file and line it concerns (annotations point there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<SourceLocation>,
    /// Longer output (a command's log, a body excerpt), shown collapsed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// Files or values produced (a backup path, a release id).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<Artifact>,
}

impl Check {
    /// A check with only a name and a status.
    pub fn new(name: impl Into<String>, status: Status) -> Self {
        Self {
            name: name.into(),
            status,
            detail: None,
            expected: None,
            actual: None,
            duration: None,
            location: None,
            log: None,
            artifacts: Vec::new(),
        }
    }

    /// A passing check.
    pub fn pass(name: impl Into<String>) -> Self {
        Self::new(name, Status::Pass)
    }

    /// A failing check.
    pub fn fail(name: impl Into<String>) -> Self {
        Self::new(name, Status::Fail)
    }

    /// Sets the one-line detail.
    #[must_use]
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Sets expected vs actual.
    #[must_use]
    pub fn expected_actual(
        mut self,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> Self {
        self.expected = Some(expected.into());
        self.actual = Some(actual.into());
        self
    }

    /// Sets the duration.
    #[must_use]
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = Some(duration);
        self
    }

    /// Sets the location in the user's files.
    #[must_use]
    pub fn location(mut self, location: SourceLocation) -> Self {
        self.location = Some(location);
        self
    }

    /// Sets the long log.
    #[must_use]
    pub fn log(mut self, log: impl Into<String>) -> Self {
        self.log = Some(log.into());
        self
    }

    /// Adds an artifact.
    #[must_use]
    pub fn artifact(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.artifacts.push(Artifact {
            name: name.into(),
            value: value.into(),
        });
        self
    }
}

impl Check {
    /// A copy with every text field masked by `redactor`.
    #[must_use]
    pub fn redacted(&self, redactor: &Redactor) -> Self {
        let text = |value: &String| redactor.redact(value);
        let optional = |value: &Option<String>| value.as_ref().map(text);
        Self {
            name: text(&self.name),
            status: self.status,
            detail: optional(&self.detail),
            expected: optional(&self.expected),
            actual: optional(&self.actual),
            duration: self.duration,
            location: self
                .location
                .as_ref()
                .map(|location| location.redacted(redactor)),
            log: optional(&self.log),
            artifacts: self
                .artifacts
                .iter()
                .map(|artifact| Artifact {
                    name: text(&artifact.name),
                    value: text(&artifact.value),
                })
                .collect(),
        }
    }
}

/// Something a check produced that a person or a later step may need.
#[derive(Debug, Clone, Serialize)]
pub struct Artifact {
    /// What it is, e.g. `backup`.
    pub name: String,
    /// A path, id or URL.
    pub value: String,
}

/// The phases of the pipeline, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PhaseName {
    /// `shipgate check`.
    Config,
    /// Pre-deploy gates.
    Gate,
    /// Database migrations.
    Migrate,
    /// The provider deploy.
    Deploy,
    /// The smoke suite.
    Smoke,
    /// The post-deploy watch.
    Watch,
    /// App and database rollback.
    Rollback,
    /// The smoke suite re-run against the restored release.
    Verify,
    /// Webhook and incident-issue deliveries that need attention (issue 14).
    Notify,
}

impl PhaseName {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Gate => "gate",
            Self::Migrate => "migrate",
            Self::Deploy => "deploy",
            Self::Smoke => "smoke",
            Self::Watch => "watch",
            Self::Rollback => "rollback",
            Self::Verify => "verify",
            Self::Notify => "notify",
        }
    }
}

/// One phase and its checks.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    /// Which phase.
    pub name: PhaseName,
    /// The worst status of its checks (`skip` when it has none).
    pub status: Status,
    /// Wall time.
    #[serde(rename = "duration_ms", serialize_with = "serialize_millis_required")]
    pub duration: Duration,
    /// One line summing it up, e.g. `2 applied`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// The checks, in a stable order.
    pub checks: Vec<Check>,
    /// The watch's numbers per interval (watch phase only; issue 14).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<WatchSeries>,
}

/// The watch's smoke numbers per interval, for the step summary's chart and
/// the JSON report (issue 14).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WatchSeries {
    /// `[watch] max_error_rate`, drawn as the error-rate limit.
    pub max_error_rate: f64,
    /// The smallest `max_latency` of the watched smoke checks, drawn as the
    /// latency limit.
    #[serde(
        rename = "max_latency_ms",
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_millis"
    )]
    pub max_latency: Option<Duration>,
    /// One point per measurement, in order.
    pub points: Vec<WatchPoint>,
}

/// One measurement of the watched smoke checks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WatchPoint {
    /// Offset from the watch's start.
    #[serde(rename = "at_ms", serialize_with = "serialize_millis_required")]
    pub at: Duration,
    /// The 95th percentile of the checks' latencies (nearest rank).
    #[serde(rename = "p95_ms", serialize_with = "serialize_millis_required")]
    pub p95: Duration,
    /// Failed checks over all checks, 0 to 1.
    pub error_rate: f64,
}

/// A commit between the last healthy release and this deploy (issue 14).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The full SHA.
    pub sha: String,
    /// The message's first line.
    pub title: String,
    /// The author's GitHub login, when the commit email matches an account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// The git author name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_name: Option<String>,
    /// The pull request the title names as `(#123)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<u64>,
}

impl Change {
    /// `` `abc1234` Add invoices (#12) — @ana · PR #12 ``.
    pub fn one_line(&self) -> String {
        let short: String = self.sha.chars().take(7).collect();
        let mut line = format!("`{short}` {}", self.title.replace('\n', " "));
        match (&self.author, &self.author_name) {
            (Some(login), _) => {
                let _ = write!(line, " — @{login}");
            }
            (None, Some(name)) => {
                let _ = write!(line, " — {name}");
            }
            (None, None) => {}
        }
        if let Some(number) = self.pull_request {
            let _ = write!(line, " · PR #{number}");
        }
        line
    }
}

impl Phase {
    /// A finished phase; its status is derived from its checks.
    pub fn new(name: PhaseName, checks: Vec<Check>, duration: Duration) -> Self {
        let status = checks
            .iter()
            .map(|check| check.status)
            .max()
            .unwrap_or(Status::Skip);
        let status = if status == Status::Skip && checks.iter().any(|c| c.status == Status::Pass) {
            Status::Pass
        } else {
            status
        };
        Self {
            name,
            status,
            duration,
            summary: None,
            checks,
            series: None,
        }
    }

    /// Sets the summary line.
    #[must_use]
    pub fn summary(mut self, summary: impl Into<String>) -> Self {
        self.summary = Some(summary.into());
        self
    }

    /// A copy with every text field masked by `redactor`.
    #[must_use]
    pub fn redacted(&self, redactor: &Redactor) -> Self {
        Self {
            name: self.name,
            status: self.status,
            duration: self.duration,
            summary: self.summary.as_ref().map(|s| redactor.redact(s)),
            checks: self
                .checks
                .iter()
                .map(|check| check.redacted(redactor))
                .collect(),
            series: self.series.clone(),
        }
    }

    /// Whether any check failed.
    pub fn failed(&self) -> bool {
        self.status == Status::Fail
    }
}

/// The full result of one command.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`].
    pub version: u32,
    /// The subcommand, e.g. `run`.
    pub command: String,
    /// The environment it ran against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Whether `--dry-run` was set.
    pub dry_run: bool,
    /// The process exit status this report ends with.
    pub outcome: ExitStatus,
    /// Its numeric exit code.
    pub exit_code: u8,
    /// Wall time of the whole command.
    #[serde(rename = "duration_ms", serialize_with = "serialize_millis_required")]
    pub duration: Duration,
    /// The phases, in the order they ran.
    pub phases: Vec<Phase>,
    /// Key/value outputs (`$GITHUB_OUTPUT` in Actions), e.g. `release`.
    pub outputs: Vec<(String, String)>,
    /// Paths written during the run (backups, state), for humans.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<PathBuf>,
    /// Commits since the environment's last healthy release (issue 14).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// The migrations this run applied, with their class (issue 14).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub migrations: Vec<MigrationChange>,
    /// Every warning printed during the run, in order (a GitHub Deployments
    /// record that failed, a webhook that did not answer), so the summary
    /// and the JSON report keep what scrolled past on stderr.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A migration this run applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationChange {
    /// Its version, e.g. `0002_add_email`.
    pub version: String,
    /// `additive` or `destructive`.
    pub class: String,
    /// A statement holds a lock that blocks the app for longer than a moment.
    pub locking: bool,
    /// Its lint findings, `line N rule: what happens`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<String>,
}

impl MigrationChange {
    /// `additive`, `destructive`, or either with `, locking`.
    pub fn class_words(&self) -> String {
        if self.locking {
            format!("{}, locking", self.class)
        } else {
            self.class.clone()
        }
    }
}

impl Report {
    /// An empty report for `command`.
    pub fn new(command: &str, environment: Option<&str>, dry_run: bool) -> Self {
        Self {
            version: SCHEMA_VERSION,
            command: command.to_owned(),
            environment: environment.map(str::to_owned),
            dry_run,
            outcome: ExitStatus::Success,
            exit_code: 0,
            duration: Duration::ZERO,
            phases: Vec::new(),
            outputs: Vec::new(),
            files: Vec::new(),
            changes: Vec::new(),
            migrations: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Appends a phase.
    pub fn push(&mut self, phase: Phase) {
        self.phases.push(phase);
    }

    /// Adds an output value.
    pub fn output(&mut self, key: &str, value: impl Into<String>) {
        self.outputs.push((key.to_owned(), value.into()));
    }

    /// The first output named `key`.
    pub fn output_value(&self, key: &str) -> Option<&str> {
        self.outputs
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }

    /// Sets the final status and wall time.
    pub fn finish(&mut self, outcome: ExitStatus, duration: Duration) {
        self.outcome = outcome;
        self.exit_code = outcome.code();
        self.duration = duration;
    }

    /// A copy with every string masked by `redactor`, for the renderers:
    /// masking each value before it is JSON-, XML-, workflow-command- or
    /// Markdown-escaped means no escaped form of a secret is ever produced
    /// (issue 10, item 5).
    #[must_use]
    pub fn redacted(&self, redactor: &Redactor) -> Self {
        let text = |value: &String| redactor.redact(value);
        Self {
            version: self.version,
            command: text(&self.command),
            environment: self.environment.as_ref().map(text),
            dry_run: self.dry_run,
            outcome: self.outcome,
            exit_code: self.exit_code,
            duration: self.duration,
            phases: self
                .phases
                .iter()
                .map(|phase| phase.redacted(redactor))
                .collect(),
            outputs: self
                .outputs
                .iter()
                .map(|(key, value)| (text(key), text(value)))
                .collect(),
            files: self
                .files
                .iter()
                .map(|path| redacted_path(path, redactor))
                .collect(),
            changes: self
                .changes
                .iter()
                .map(|change| Change {
                    sha: change.sha.clone(),
                    title: text(&change.title),
                    author: change.author.as_ref().map(text),
                    author_name: change.author_name.as_ref().map(text),
                    pull_request: change.pull_request,
                })
                .collect(),
            migrations: self
                .migrations
                .iter()
                .map(|migration| MigrationChange {
                    findings: migration.findings.iter().map(text).collect(),
                    ..migration.clone()
                })
                .collect(),
            warnings: self.warnings.iter().map(text).collect(),
        }
    }

    /// [`ExitStatus::CheckFailed`] when any phase failed, else success.
    pub fn status_from_checks(&self) -> ExitStatus {
        if self.phases.iter().any(Phase::failed) {
            ExitStatus::CheckFailed
        } else {
            ExitStatus::Success
        }
    }
}

/// `path` masked by `redactor`; unchanged (even when not UTF-8) when it holds
/// no secret.
pub(crate) fn redacted_path(path: &Path, redactor: &Redactor) -> PathBuf {
    let shown = path.to_string_lossy();
    let masked = redactor.redact(&shown);
    if masked == shown {
        path.to_owned()
    } else {
        PathBuf::from(masked)
    }
}

#[allow(clippy::ref_option, clippy::trivially_copy_pass_by_ref)]
fn serialize_millis<S: serde::Serializer>(
    duration: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match duration {
        Some(duration) => serialize_millis_required(duration, serializer),
        None => serializer.serialize_none(),
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn serialize_millis_required<S: serde::Serializer>(
    duration: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
}

/// Formats a duration for people: `3ms`, `1.2s`, `2m 05s`.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        format!("{millis}ms")
    } else if millis < 60_000 {
        format!("{:.1}s", duration.as_secs_f64())
    } else {
        format!("{}m {:02}s", millis / 60_000, (millis / 1000) % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_masks_every_string_before_any_renderer_sees_it() {
        // issue 10, item 5
        let redactor = Redactor::default();
        redactor.register("s3&cr<t|");
        let secret = "s3&cr<t|";
        let mut report = Report::new(secret, Some(secret), false);
        report.push(
            Phase::new(
                PhaseName::Smoke,
                vec![
                    Check::fail(secret)
                        .detail(secret)
                        .expected_actual(secret, secret)
                        .log(secret)
                        .artifact(secret, secret),
                ],
                Duration::ZERO,
            )
            .summary(secret),
        );
        report.output(secret, secret);
        report.files.push(PathBuf::from(secret));
        let shown = report.redacted(&redactor);
        let debug = format!("{shown:?}");
        assert!(!debug.contains("s3&cr"), "{debug}");
        let xml = junit::render(&shown).unwrap();
        let json = json::render(&shown);
        let summary = github::summary_markdown(&shown);
        for text in [xml, json, summary, github::render(&shown)] {
            assert!(!text.contains("s3&"), "{text}");
            assert!(text.contains("***"), "{text}");
        }
    }
}
