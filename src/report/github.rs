//! The GitHub Actions renderer: plain text with `::group::` around logs,
//! `::error`/`::warning` annotations, a markdown table appended to
//! `$GITHUB_STEP_SUMMARY` and `key=value` lines appended to `$GITHUB_OUTPUT`.
//!
//! Workflow command syntax:
//! <https://docs.github.com/actions/reference/workflow-commands-for-github-actions>.

use std::fmt::Write as _;
use std::io::Write as _;

use super::{Report, Status, WatchSeries, format_duration, human};
use crate::config::Redactor;
use crate::env;

/// The text for the log: the human report without styles, then one group per
/// check log and one annotation per failed or warning check.
pub fn render(report: &Report) -> String {
    let mut out = human::render(report, false);
    for phase in &report.phases {
        for check in &phase.checks {
            if let Some(log) = &check.log {
                let _ = writeln!(out, "::group::{} {} log", phase.name.as_str(), check.name);
                let _ = writeln!(out, "{}", log.trim_end());
                let _ = writeln!(out, "::endgroup::");
            }
            let level = match check.status {
                Status::Fail => "error",
                Status::Warn => "warning",
                Status::Pass | Status::Skip => continue,
            };
            let mut properties = vec![(
                "title",
                format!("shipgate {}: {}", phase.name.as_str(), check.name),
            )];
            if let Some(location) = &check.location {
                properties.push(("file", location.path.display().to_string()));
                properties.push(("line", location.line.to_string()));
                properties.push(("col", location.column.to_string()));
            }
            let mut message = check.detail.clone().unwrap_or_else(|| "failed".to_owned());
            if let (Some(expected), Some(actual)) = (&check.expected, &check.actual) {
                let _ = write!(message, "\nexpected: {expected}\ngot: {actual}");
            }
            out.push_str(&workflow_command(level, &properties, &message));
        }
    }
    out
}

/// Appends the step summary and the outputs to the files GitHub names, when
/// it names them. Failures to write are reported on stderr, never fatal.
///
/// `report` is the masked copy ([`Report::redacted`]); `redactor` masks the
/// finished text once more.
pub fn publish(report: &Report, redactor: &Redactor) {
    if let Some(path) = std::env::var_os(env::GITHUB_STEP_SUMMARY) {
        append(&path, &redactor.redact(&summary_markdown(report)));
    }
    if let Some(path) = std::env::var_os(env::GITHUB_OUTPUT) {
        append(&path, &redactor.redact(&outputs(report)));
    }
}

fn append(path: &std::ffi::OsStr, text: &str) {
    let result = fs_err::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()));
    if let Err(error) = result {
        // The printer is not reachable from here without a cycle; stderr is
        // the right place and the error names the file.
        let _ = writeln!(std::io::stderr(), "warning: {error}");
    }
}

/// The markdown table for `$GITHUB_STEP_SUMMARY`.
pub fn summary_markdown(report: &Report) -> String {
    let mut out = String::new();
    let environment = report
        .environment
        .as_deref()
        .map(|e| format!(" · `{e}`"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "### shipgate {}{environment}: {}\n",
        report.command,
        outcome_word(report)
    );
    plan_section(&mut out, report);
    results_section(&mut out, report);
    warnings_section(&mut out, report);
    changes_section(&mut out, report);
    for phase in &report.phases {
        if let Some(series) = &phase.series {
            watch_chart(&mut out, series);
        }
    }
    if report.phases.len() > 1 || !report.changes.is_empty() {
        let _ = writeln!(out, "#### Checks\n");
    }
    let _ = writeln!(out, "| phase | check | status | detail | time |");
    let _ = writeln!(out, "| --- | --- | --- | --- | --- |");
    for phase in &report.phases {
        for check in &phase.checks {
            let mut detail = check.detail.clone().unwrap_or_default();
            if let (Some(expected), Some(actual)) = (&check.expected, &check.actual) {
                let _ = write!(detail, " expected {expected}, got {actual}");
            }
            let _ = writeln!(
                out,
                "| {} | {} | {} {} | {} | {} |",
                phase.name.as_str(),
                cell(&check.name),
                check.status.symbol(),
                serde_json::to_value(check.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                cell(detail.trim()),
                check.duration.map(format_duration).unwrap_or_default(),
            );
        }
    }
    let _ = writeln!(
        out,
        "\nexit code {} · {}\n",
        report.exit_code,
        format_duration(report.duration)
    );
    out
}

/// The rollback plan `run` decided before deploying, first on the page
/// (issue 14).
fn plan_section(out: &mut String, report: &Report) {
    let (Some(target), Some(database)) = (
        report.output_value("rollback_target"),
        report.output_value("rollback_database"),
    ) else {
        return;
    };
    let _ = writeln!(out, "#### Rollback plan (decided before deploying)\n");
    let _ = writeln!(out, "If this deploy fails:\n");
    let _ = writeln!(out, "- app: back to `{}`", target.replace('`', "'"));
    let _ = writeln!(out, "- database: {}\n", cell(database));
}

/// One row per phase with its status and time.
fn results_section(out: &mut String, report: &Report) {
    if report.phases.len() < 2 {
        return;
    }
    let _ = writeln!(out, "#### Results\n");
    let _ = writeln!(out, "| phase | status | summary | time |");
    let _ = writeln!(out, "| --- | --- | --- | --- |");
    for phase in &report.phases {
        let _ = writeln!(
            out,
            "| {} | {} {} | {} | {} |",
            phase.name.as_str(),
            phase.status.symbol(),
            status_word(phase.status),
            cell(phase.summary.as_deref().unwrap_or_default()),
            format_duration(phase.duration),
        );
    }
    out.push('\n');
}

/// The commits since the environment's last healthy release, and the
/// migrations this run applied with their class.
fn changes_section(out: &mut String, report: &Report) {
    if !report.migrations.is_empty() {
        let _ = writeln!(out, "#### Migrations applied\n");
        for migration in &report.migrations {
            let _ = writeln!(
                out,
                "- `{}` ({})",
                migration.version,
                migration.class_words()
            );
            for finding in &migration.findings {
                let _ = writeln!(out, "  - lint: {}", finding.replace('\n', " "));
            }
        }
        out.push('\n');
    }
    if report.changes.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "#### What changed ({} commit(s) since the last healthy release)\n",
        report.changes.len()
    );
    for change in &report.changes {
        let _ = writeln!(out, "- {}", change.one_line());
    }
    out.push('\n');
}

/// The warnings printed during the run (a record that failed, a webhook
/// that did not answer), so they are not lost in the log.
fn warnings_section(out: &mut String, report: &Report) {
    if report.warnings.is_empty() {
        return;
    }
    let _ = writeln!(out, "#### Warnings\n");
    for warning in &report.warnings {
        let _ = writeln!(out, "- {}", warning.replace('\n', " "));
    }
    out.push('\n');
}

/// p95 latency and error rate per interval as Mermaid `xychart-beta` charts,
/// the error-rate limit drawn as a second line (GitHub renders Mermaid).
fn watch_chart(out: &mut String, series: &WatchSeries) {
    let labels: Vec<String> = series
        .points
        .iter()
        .map(|point| format!("\"{}\"", format_duration(point.at)))
        .collect();
    let labels = labels.join(", ");
    let latencies: Vec<String> = series
        .points
        .iter()
        .map(|point| point.p95.as_millis().to_string())
        .collect();
    let rates: Vec<String> = series
        .points
        .iter()
        .map(|point| format!("{:.2}", point.error_rate * 100.0))
        .collect();
    let limit: Vec<String> = series
        .points
        .iter()
        .map(|_| format!("{:.2}", series.max_error_rate * 100.0))
        .collect();
    let _ = writeln!(out, "#### Watch\n");
    let _ = writeln!(
        out,
        "Error rate in % per measurement (second line: the limit, `max_error_rate`):\n"
    );
    let _ = writeln!(out, "```mermaid\nxychart-beta");
    let _ = writeln!(out, "    title \"error rate (%)\"");
    let _ = writeln!(out, "    x-axis [{labels}]");
    let _ = writeln!(out, "    y-axis \"error rate (%)\"");
    let _ = writeln!(out, "    line [{}]", rates.join(", "));
    let _ = writeln!(out, "    line [{}]", limit.join(", "));
    let _ = writeln!(out, "```\n");
    let latency_limit = series.max_latency.map(|limit| {
        let limit = limit.as_millis().to_string();
        vec![limit; series.points.len()].join(", ")
    });
    let _ = writeln!(
        out,
        "p95 latency in ms of the watched smoke checks{}:\n",
        if latency_limit.is_some() {
            " (second line: the smallest `max_latency`)"
        } else {
            ""
        }
    );
    let _ = writeln!(out, "```mermaid\nxychart-beta");
    let _ = writeln!(out, "    title \"p95 latency (ms)\"");
    let _ = writeln!(out, "    x-axis [{labels}]");
    let _ = writeln!(out, "    y-axis \"p95 latency (ms)\"");
    let _ = writeln!(out, "    line [{}]", latencies.join(", "));
    if let Some(limit) = latency_limit {
        let _ = writeln!(out, "    line [{limit}]");
    }
    let _ = writeln!(out, "```\n");
}

fn status_word(status: Status) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn outcome_word(report: &Report) -> &'static str {
    match report.exit_code {
        0 => "passed",
        2 => "config error",
        3 => "infrastructure error",
        4 => "failed, rolled back",
        130 => "interrupted",
        5 => "ROLLBACK FAILED",
        _ => "failed",
    }
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', "<br>")
}

/// The `$GITHUB_OUTPUT` lines: `exit-code`, `outcome` and the report's outputs.
/// Multi-line values use the heredoc form with a delimiter absent from the value.
pub fn outputs(report: &Report) -> String {
    let outcome = serde_json::to_value(report.outcome)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut pairs = vec![
        ("exit-code".to_owned(), report.exit_code.to_string()),
        ("outcome".to_owned(), outcome),
    ];
    pairs.extend(report.outputs.iter().cloned());
    let mut out = String::new();
    for (key, value) in pairs {
        if value.contains('\n') {
            let mut delimiter = "SHIPGATE_EOF".to_owned();
            while value.contains(&delimiter) {
                delimiter.push('_');
            }
            let _ = writeln!(out, "{key}<<{delimiter}\n{value}\n{delimiter}");
        } else {
            let _ = writeln!(out, "{key}={value}");
        }
    }
    out
}

/// One workflow command line, e.g. `::error file=a.sql,line=3::message`, with
/// GitHub's escaping of data and property values.
pub fn workflow_command(name: &str, properties: &[(&str, String)], message: &str) -> String {
    let escape_data = |text: &str| {
        text.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    let escape_property = |text: &str| escape_data(text).replace(':', "%3A").replace(',', "%2C");
    let properties = properties
        .iter()
        .map(|(key, value)| format!("{key}={}", escape_property(value)))
        .collect::<Vec<_>>()
        .join(",");
    let space = if properties.is_empty() { "" } else { " " };
    format!("::{name}{space}{properties}::{}\n", escape_data(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_workflow_command_data_and_properties() {
        let line = workflow_command(
            "error",
            &[("file", "a,b:c.sql".into()), ("line", "3".into())],
            "50% bad\nnext",
        );
        assert_eq!(
            line,
            "::error file=a%2Cb%3Ac.sql,line=3::50%25 bad%0Anext\n"
        );
        assert_eq!(workflow_command("warning", &[], "x"), "::warning::x\n");
    }

    #[test]
    fn multiline_outputs_use_a_heredoc_delimiter_absent_from_the_value() {
        let mut report = Report::new("run", None, false);
        report.output("log", "a\nSHIPGATE_EOF\nb");
        let text = outputs(&report);
        assert!(
            text.contains("log<<SHIPGATE_EOF_\na\nSHIPGATE_EOF\nb\nSHIPGATE_EOF_\n"),
            "{text}"
        );
        assert!(text.starts_with("exit-code=0\noutcome=success\n"));
    }
}
