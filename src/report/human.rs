//! The human renderer: one block per phase, one line per check, and for a
//! failure the expected vs got, the detail and the log excerpt beneath it.

use std::fmt::Write;

use anstyle::Style;

use super::printer::{BOLD, DIM, GREEN, RED, YELLOW};
use super::{Check, Phase, Report, Status, format_duration};
use crate::exit::ExitStatus;

/// Lines of a check's log shown under a failure.
const LOG_TAIL_LINES: usize = 20;

/// Renders the report; `styled` adds ANSI styles (stripped by the printer
/// when the terminal does not want them).
pub fn render(report: &Report, styled: bool) -> String {
    let paint = Paint { styled };
    let mut out = String::new();
    let environment = report
        .environment
        .as_deref()
        .map(|e| format!(" · environment {e}"))
        .unwrap_or_default();
    let dry = if report.dry_run { " · dry run" } else { "" };
    let _ = writeln!(
        out,
        "{}",
        paint.style(
            BOLD,
            &format!("shipgate {}{environment}{dry}", report.command)
        )
    );
    render_plan(&mut out, report, paint);
    for phase in &report.phases {
        render_phase(&mut out, phase, paint);
    }
    render_migrations(&mut out, report, paint);
    render_changes(&mut out, report, paint);
    let _ = writeln!(out, "\n{}", outcome_line(report, paint));
    out
}

/// The rollback plan `run` decided before deploying, first (issue 14).
fn render_plan(out: &mut String, report: &Report, paint: Paint) {
    let (Some(target), Some(database)) = (
        report.output_value("rollback_target"),
        report.output_value("rollback_database"),
    ) else {
        return;
    };
    let app = match target.strip_prefix("none: ") {
        Some(why) => format!("there is no release to go back to ({why})"),
        None => format!("the app goes back to `{target}`"),
    };
    let _ = writeln!(
        out,
        "\n{} if this deploy fails, {app}; database: {database}",
        paint.style(BOLD, "rollback plan:")
    );
}

/// The migrations this run applied, with class and lint findings.
fn render_migrations(out: &mut String, report: &Report, paint: Paint) {
    if report.migrations.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{}", paint.style(BOLD, "migrations applied"));
    for migration in &report.migrations {
        let _ = writeln!(out, "  {} ({})", migration.version, migration.class_words());
        for finding in &migration.findings {
            let _ = writeln!(out, "      {} {finding}", paint.style(DIM, "lint:"));
        }
    }
}

/// The commits since the environment's last healthy release.
fn render_changes(out: &mut String, report: &Report, paint: Paint) {
    if report.changes.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n{}",
        paint.style(
            BOLD,
            &format!(
                "what changed: {} commit(s) since the last healthy release",
                report.changes.len()
            )
        )
    );
    for change in &report.changes {
        let _ = writeln!(out, "  {}", change.one_line());
    }
}

fn render_phase(out: &mut String, phase: &Phase, paint: Paint) {
    let summary = phase
        .summary
        .as_deref()
        .map(|s| format!(" {s}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "\n{} {}{} {}",
        paint.status(phase.status),
        paint.style(BOLD, phase.name.as_str()),
        summary,
        paint.style(DIM, &format_duration(phase.duration)),
    );
    for check in &phase.checks {
        render_check(out, check, paint);
    }
}

fn render_check(out: &mut String, check: &Check, paint: Paint) {
    let detail = check
        .detail
        .as_deref()
        .map(|d| format!(" {d}"))
        .unwrap_or_default();
    let duration = check
        .duration
        .map(|d| format!(" {}", paint.style(DIM, &format_duration(d))))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "  {} {}{detail}{duration}",
        paint.status(check.status),
        check.name
    );
    if check.status != Status::Fail && check.status != Status::Warn {
        for artifact in &check.artifacts {
            let _ = writeln!(
                out,
                "      {} {}",
                paint.style(DIM, &format!("{}:", artifact.name)),
                artifact.value
            );
        }
        return;
    }
    if let Some(location) = &check.location {
        let _ = writeln!(out, "      --> {location}");
        if !location.line_text.is_empty() {
            // The statement's line with a caret under it (migration lint).
            for line in location.snippet().lines() {
                let _ = writeln!(out, "      {}", paint.style(DIM, line));
            }
        }
    }
    if let (Some(expected), Some(actual)) = (&check.expected, &check.actual) {
        let _ = writeln!(out, "      expected: {expected}");
        let _ = writeln!(out, "      got:      {}", paint.style(RED, actual));
    }
    for artifact in &check.artifacts {
        let _ = writeln!(
            out,
            "      {} {}",
            paint.style(DIM, &format!("{}:", artifact.name)),
            artifact.value
        );
    }
    if let Some(log) = &check.log {
        let lines: Vec<&str> = log.lines().collect();
        let skipped = lines.len().saturating_sub(LOG_TAIL_LINES);
        if skipped > 0 {
            let _ = writeln!(
                out,
                "      {}",
                paint.style(DIM, &format!("… {skipped} earlier lines"))
            );
        }
        for line in &lines[skipped..] {
            let _ = writeln!(out, "      {} {line}", paint.style(DIM, "│"));
        }
    }
}

fn outcome_line(report: &Report, paint: Paint) -> String {
    let duration = format_duration(report.duration);
    let code = report.exit_code;
    match report.outcome {
        ExitStatus::Success if report.dry_run => {
            format!(
                "{} dry run: nothing was changed ({duration})",
                paint.style(GREEN, "✓")
            )
        }
        ExitStatus::Success => format!("{} passed in {duration}", paint.style(GREEN, "✓")),
        ExitStatus::RolledBack => format!(
            "{} failed and rolled back: the previous release is live and passed its re-check (exit {code}, {duration})",
            paint.style(YELLOW, "↺")
        ),
        // Never "passed": what ran before the signal is listed above, and
        // the rest did not run (issue 10, item 3).
        ExitStatus::Interrupted => format!(
            "{} interrupted before `{}` finished; what ran is listed above (exit {code}, {duration})",
            paint.style(YELLOW, "!"),
            report.command
        ),
        ExitStatus::RollbackFailed => format!(
            "{} failed and the rollback did not complete: a human is needed now (exit {code}, {duration})",
            paint.style(RED, "✗")
        ),
        _ => {
            let failed: Vec<&str> = report
                .phases
                .iter()
                .filter(|p| p.failed())
                .map(|p| p.name.as_str())
                .collect();
            let what = if failed.is_empty() {
                "failed".to_owned()
            } else {
                format!("{} failed", failed.join(", "))
            };
            format!("{} {what} (exit {code}, {duration})", paint.style(RED, "✗"))
        }
    }
}

#[derive(Clone, Copy)]
struct Paint {
    styled: bool,
}

impl Paint {
    fn style(self, style: Style, text: &str) -> String {
        if self.styled {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_owned()
        }
    }

    fn status(self, status: Status) -> String {
        let style = match status {
            Status::Pass => GREEN,
            Status::Skip => DIM,
            Status::Warn => YELLOW,
            Status::Fail => RED,
        };
        self.style(style, status.symbol())
    }
}
