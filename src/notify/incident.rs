//! The incident record on GitHub (issue 14): after a rollback, with
//! `[notify] github_issue = true`, open an issue "Rollback: ENV FROM → TO"
//! or comment on the open one for the same environment.
//!
//! The body follows the runbook's incident response and postmortem
//! template: what shipgate knows (timeline, failing checks, database
//! action, resolution) is filled in, the rest is left as headings.
//!
//! Idempotent per run: the body carries `<!-- shipgate-run: ID.ATTEMPT -->`,
//! and a run that finds its marker on the open issue (or one of its
//! comments) records nothing more. So a retried step never opens a second
//! issue, and does not comment twice either.

use std::fmt::Write as _;

use serde::Deserialize;
use serde_json::json;

use super::{Failure, Notice, failures};
use crate::config::{NotifyEvent, Redactor};
use crate::context::Context;
use crate::github::{GithubClient, GithubEnv, RetryPolicy};
use crate::report::{Check, PhaseName, Report, Status};

/// Deadline for each GitHub request made for the incident record.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Deadline for the whole record (search, marker lookup, write, retries):
/// the rollback is done by then, and a slow GitHub must not hold the job.
const RECORD_DEADLINE: std::time::Duration = std::time::Duration::from_secs(45);

/// What the issue says, all text already masked.
#[derive(Debug, Clone)]
pub(crate) struct Incident {
    /// `Rollback: ENV FROM → TO`.
    pub(crate) title: String,
    /// `Rollback: ENV `, to find an open issue for the same environment.
    pub(crate) title_prefix: String,
    /// The Markdown body.
    pub(crate) body: String,
    /// `ID.ATTEMPT` of the run, when inside Actions.
    pub(crate) marker: Option<String>,
}

/// Where this run lives on GitHub, when inside Actions.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunLinks {
    /// `ID.ATTEMPT` of the run, for the idempotency marker.
    pub(crate) marker: Option<String>,
    /// The environment's deployments page (`…/deployments/ENV`).
    pub(crate) deployments: Option<String>,
}

/// One line of the timeline.
struct Moment {
    at: jiff::Timestamp,
    what: String,
}

impl Incident {
    /// Builds the record from the finished report (masked here); `now` is
    /// when it ended.
    ///
    /// Phase start times are derived from `now` and the phases' durations,
    /// walking back from the end (the report keeps durations, not clocks).
    pub(crate) fn from_report(
        report: &Report,
        notice: &Notice,
        now: jiff::Timestamp,
        links: RunLinks,
        redactor: &Redactor,
    ) -> Self {
        let RunLinks {
            marker,
            deployments,
        } = links;
        // Masked before any of it is put into Markdown or JSON.
        let report = &report.redacted(redactor);
        let environment = &notice.environment;
        let from = notice.from.as_deref().unwrap_or("unknown");
        let to = notice.to.as_deref().unwrap_or("unknown");
        let title_prefix = format!("Rollback: {environment} ");
        let title = format!("{title_prefix}{from} → {to}");

        // Each phase's start and end, walking back from `now`.
        let mut bounds = Vec::with_capacity(report.phases.len());
        let mut cursor = now;
        for phase in report.phases.iter().rev() {
            let took = jiff::SignedDuration::try_from(phase.duration).unwrap_or_default();
            let start = cursor.checked_sub(took).unwrap_or(cursor);
            bounds.push((phase, start, cursor));
            cursor = start;
        }
        bounds.reverse();

        let mut timeline = Vec::new();
        let failed = failures(report);
        if let Some((_, start, _)) = bounds
            .iter()
            .find(|(phase, _, _)| phase.name == PhaseName::Deploy)
        {
            timeline.push(Moment {
                at: *start,
                what: format!("deploy of `{from}` to `{environment}` started"),
            });
        }
        if let Some(first) = failed.first() {
            let at = bounds
                .iter()
                .find(|(phase, _, _)| phase.name == first.phase)
                .map_or(cursor, |(_, _, end)| *end);
            timeline.push(Moment {
                at,
                what: format!("first failing check: {}", first.describe()),
            });
        }
        let rollback = bounds
            .iter()
            .find(|(phase, _, _)| phase.name == PhaseName::Rollback);
        if let Some((phase, start, end)) = rollback {
            let why = notice
                .reason
                .as_deref()
                .map_or_else(String::new, |reason| format!(" ({reason})"));
            let how = if report.command == "run" {
                "roll back automatically"
            } else {
                "roll back (`shipgate rollback`)"
            };
            timeline.push(Moment {
                at: *start,
                what: format!("decision: {how}{why}"),
            });
            let done = if phase.failed() {
                format!(
                    "rollback did not complete: {}",
                    first_failed(&phase.checks).unwrap_or_else(|| "see the run".to_owned())
                )
            } else {
                format!("rollback done: `{to}` serves traffic again")
            };
            timeline.push(Moment {
                at: *end,
                what: done,
            });
        }
        if let Some((phase, _, end)) = bounds
            .iter()
            .find(|(phase, _, _)| phase.name == PhaseName::Verify)
        {
            let what = if phase.failed() {
                format!(
                    "re-check failed against `{to}`: {}",
                    first_failed(&phase.checks).unwrap_or_default()
                )
            } else {
                format!("re-check passed against `{to}`")
            };
            timeline.push(Moment { at: *end, what });
        }

        let body = body(&BodyParts {
            report,
            notice,
            title: &title,
            timeline: &timeline,
            failed: &failed,
            marker: marker.as_deref(),
            deployments: deployments.as_deref(),
            started: timeline.first().map_or(now, |moment| moment.at),
            now,
        });
        Self {
            title,
            title_prefix,
            body,
            marker,
        }
    }
}

fn first_failed(checks: &[Check]) -> Option<String> {
    checks
        .iter()
        .find(|check| check.status == Status::Fail)
        .map(|check| match &check.detail {
            Some(detail) => format!("`{}`: {detail}", check.name),
            None => format!("`{}`", check.name),
        })
}

struct BodyParts<'a> {
    report: &'a Report,
    notice: &'a Notice,
    title: &'a str,
    timeline: &'a [Moment],
    failed: &'a [Failure],
    marker: Option<&'a str>,
    deployments: Option<&'a str>,
    started: jiff::Timestamp,
    now: jiff::Timestamp,
}

fn utc(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The Markdown body: summary, timeline, failing checks, database, links,
/// then the runbook's incident response and postmortem sections.
fn body(parts: &BodyParts<'_>) -> String {
    let notice = parts.notice;
    let succeeded = notice.event == NotifyEvent::RollbackSucceeded;
    let to = notice.to.as_deref().unwrap_or("unknown");
    let mut out = String::new();
    if let Some(marker) = parts.marker {
        let _ = writeln!(out, "<!-- shipgate-run: {marker} -->");
    }
    let _ = writeln!(out, "## {}\n", parts.title);
    let outcome = if succeeded {
        format!("rolled back: `{to}` serves traffic and passed its re-check")
    } else {
        "the rollback did not complete or its re-check failed: this needs a person now".to_owned()
    };
    let _ = writeln!(out, "**Outcome:** {outcome}  ");
    let _ = writeln!(out, "**Environment:** `{}`  ", notice.environment);
    if let Some(reason) = &notice.reason {
        let _ = writeln!(out, "**Reason:** {reason}  ");
    }
    if let Some(url) = &notice.run_url {
        let _ = writeln!(out, "**Run:** {url}");
    }

    out.push_str("\n### Timeline (UTC)\n\n| Time (UTC) | Event |\n|---|---|\n");
    for moment in parts.timeline {
        let _ = writeln!(out, "| {} | {} |", utc(moment.at), table_cell(&moment.what));
    }

    out.push_str("\n### Failing checks\n\n");
    if parts.failed.is_empty() {
        out.push_str("None recorded before the rollback.\n");
    }
    for failure in parts.failed {
        let check = &failure.check;
        let _ = write!(out, "- **{}** `{}`", failure.phase.as_str(), check.name);
        if let (Some(expected), Some(actual)) = (&check.expected, &check.actual) {
            let _ = write!(out, ": expected `{expected}`, got `{actual}`");
        }
        if let Some(detail) = &check.detail {
            let _ = write!(out, " — {detail}");
        }
        out.push('\n');
    }

    out.push_str("\n### Database\n\n");
    let _ = writeln!(
        out,
        "{}",
        notice
            .database
            .as_deref()
            .unwrap_or("No database action was recorded.")
    );

    out.push_str("\n### Links\n\n");
    match &notice.run_url {
        Some(url) => {
            let _ = writeln!(out, "- Run: {url}");
        }
        None => out.push_str("- Run: not run in GitHub Actions\n"),
    }
    if let Some(url) = parts.deployments {
        let _ = writeln!(
            out,
            "- Deployments of `{}` (what is live, and each release's status): {url}",
            notice.environment
        );
    }
    let _ = writeln!(
        out,
        "- Releases: `{}` (rolled back from) → `{to}` (serving)",
        notice.from.as_deref().unwrap_or("unknown")
    );

    out.push_str("\n## Incident response\n\n");
    out.push_str("- [x] Mitigation: rollback");
    out.push_str(if succeeded {
        " done\n"
    } else {
        " attempted and FAILED\n"
    });
    out.push_str("- [x] Incident documentation started (this issue)\n");
    out.push_str("- [ ] Severity assessed (user impact? data affected? security issue?)\n");
    out.push_str("- [ ] Status page updated\n");
    out.push_str("- [ ] Stakeholders notified\n");

    postmortem(&mut out, parts);
    let _ = writeln!(
        out,
        "\n<sub>Recorded by shipgate `{}` for `shipgate {}`.</sub>",
        env!("CARGO_PKG_VERSION"),
        parts.report.command
    );
    out
}

/// The runbook's postmortem template: filled where shipgate knows the answer,
/// left as headings where it does not.
fn postmortem(out: &mut String, parts: &BodyParts<'_>) {
    let notice = parts.notice;
    let succeeded = notice.event == NotifyEvent::RollbackSucceeded;
    let to = notice.to.as_deref().unwrap_or("unknown");
    let took = parts.now.duration_since(parts.started);
    let minutes = took.as_secs() / 60;
    out.push_str("\n## Incident Postmortem\n\n");
    let _ = writeln!(out, "**Date:** {}  ", parts.started.strftime("%Y-%m-%d"));
    let _ = writeln!(
        out,
        "**Duration:** {:02}:{:02} (from the deploy to the end of the rollback)  ",
        minutes / 60,
        minutes % 60
    );
    out.push_str("**Severity:** \n\n");
    out.push_str("### Timeline\n");
    let detected = parts
        .timeline
        .iter()
        .find(|moment| moment.what.starts_with("first failing check"));
    let mitigated = parts
        .timeline
        .iter()
        .find(|moment| moment.what.starts_with("decision"));
    let resolved = parts
        .timeline
        .iter()
        .find(|moment| moment.what.starts_with("re-check passed"));
    let hour = |moment: Option<&Moment>| {
        moment.map_or_else(
            || "HH:MM".to_owned(),
            |moment| moment.at.strftime("%H:%M").to_string(),
        )
    };
    let _ = writeln!(out, "- {} - Issue detected", hour(detected));
    out.push_str("- HH:MM - Root cause identified\n");
    let _ = writeln!(out, "- {} - Mitigation started", hour(mitigated));
    let _ = writeln!(out, "- {} - Issue resolved", hour(resolved));
    out.push_str("\n### Root Cause\n\n");
    if let Some(first) = parts.failed.first() {
        let _ = writeln!(
            out,
            "shipgate saw: {}. The cause behind it is for people to write.",
            first.describe()
        );
    }
    out.push_str("\n### Impact\n\n- Users affected: \n");
    let data_loss = match notice.database.as_deref() {
        Some(database) if database.starts_with("restored") => {
            "restored from the pre-deploy backup: writes made after it are lost; check"
        }
        Some(database) if database.starts_with("kept") => "No (the database was kept)",
        _ => "",
    };
    let _ = writeln!(out, "- Data loss: {data_loss}");
    let _ = writeln!(
        out,
        "- Duration: {}",
        crate::report::format_duration(took.unsigned_abs())
    );
    out.push_str("- Revenue impact: \n");
    out.push_str("\n### Resolution\n\n");
    if succeeded {
        let _ = writeln!(
            out,
            "shipgate rolled `{}` back to `{to}`; {}",
            parts.notice.environment,
            notice
                .database
                .as_deref()
                .unwrap_or("the database was not touched")
        );
    }
    out.push_str("\n### Action Items\n\n- [ ] \n");
    out.push_str("\n### Prevention\n\n");
}

fn table_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[derive(Debug, Deserialize)]
struct IssueItem {
    number: u64,
    title: String,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    pull_request: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Comment {
    #[serde(default)]
    body: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Created {
    #[serde(default)]
    html_url: Option<String>,
}

/// Opens the issue or comments on the open one; a warning check when that
/// failed (the rollback already happened, so this never changes the exit).
pub(crate) async fn record(ctx: &Context, incident: &Incident) -> Option<Check> {
    let written = tokio::time::timeout(RECORD_DEADLINE, write(ctx, incident))
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "GitHub did not answer within {}",
                crate::report::format_duration(RECORD_DEADLINE)
            ))
        });
    match written {
        Ok(message) => {
            ctx.printer.progress(&message);
            None
        }
        Err(message) => {
            ctx.printer
                .warning(&format!("the incident issue was not recorded: {message}"));
            Some(
                Check::new("incident issue", Status::Warn)
                    .detail(format!("not recorded: {message}")),
            )
        }
    }
}

async fn write(ctx: &Context, incident: &Incident) -> Result<String, String> {
    let lookup = |name: &str| super::lookup_env(name);
    let github = GithubEnv::from_lookup(&lookup, ctx.printer.redactor())
        .map_err(|error| error.to_string())?;
    let retry = RetryPolicy {
        request_timeout: REQUEST_TIMEOUT,
        ..RetryPolicy::default()
    };
    let client = GithubClient::new(&github, retry).map_err(|error| error.to_string())?;
    let repository = client.repository().to_owned();
    let labels = &ctx.config.notify.issue_labels;
    let label_query: String =
        url::form_urlencoded::byte_serialize(labels.join(",").as_bytes()).collect();
    let path = format!("/repos/{repository}/issues?state=open&labels={label_query}&per_page=100");
    let open: Vec<IssueItem> = client.get(&path).await.map_err(|error| error.to_string())?;
    let existing = open
        .into_iter()
        .filter(|issue| issue.pull_request.is_none())
        .find(|issue| issue.title.starts_with(&incident.title_prefix));
    let Some(issue) = existing else {
        let body = json!({
            "title": incident.title,
            "body": incident.body,
            "labels": labels,
        });
        let created: Created = client
            .post(&format!("/repos/{repository}/issues"), &body)
            .await
            .map_err(|error| error.to_string())?;
        return Ok(format!(
            "opened incident issue {}",
            created.html_url.unwrap_or_default()
        ));
    };
    if let Some(marker) = &incident.marker {
        let tag = format!("<!-- shipgate-run: {marker} -->");
        let mut seen = issue
            .body
            .as_deref()
            .is_some_and(|body| body.contains(&tag));
        if !seen {
            let path = format!(
                "/repos/{repository}/issues/{}/comments?per_page=100",
                issue.number
            );
            let comments: Vec<Comment> =
                client.get(&path).await.map_err(|error| error.to_string())?;
            seen = comments.iter().any(|comment| {
                comment
                    .body
                    .as_deref()
                    .is_some_and(|body| body.contains(&tag))
            });
        }
        if seen {
            return Ok(format!(
                "incident issue #{} already records this run",
                issue.number
            ));
        }
    }
    let body = json!({"body": incident.body});
    let _: Created = client
        .post(
            &format!("/repos/{repository}/issues/{}/comments", issue.number),
            &body,
        )
        .await
        .map_err(|error| error.to_string())?;
    Ok(format!(
        "commented on the open incident issue #{}",
        issue.number
    ))
}
