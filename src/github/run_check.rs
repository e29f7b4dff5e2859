//! The check run `shipgate run` publishes (`shipgate / run`), as `shipgate
//! gate` publishes `shipgate / gates`: the step summary as its text and one
//! annotation per failed or warning check that points into a file (a
//! migration's failing statement on its real line), issue 14.

use std::fmt::Write as _;

use super::{
    Annotation, AnnotationLevel, CheckRunOutput, GithubClient, GithubEnv, RetryPolicy,
    publish_check_run,
};
use crate::context::Context;
use crate::report::{Report, Status};

/// The name of the check run `shipgate run` publishes.
pub const RUN_CHECK_NAME: &str = "shipgate / run";

/// With a token and `GITHUB_ACTIONS=true`, publishes [`RUN_CHECK_NAME`] on the
/// commit and adds its id to the report's outputs (`check_run_id`); a
/// failure to publish is a warning, never a pipeline failure.
pub async fn publish_run_check(ctx: &Context, report: &mut Report) {
    if ctx.dry_run {
        return;
    }
    let lookup = |name: &str| std::env::var(name).ok();
    let Ok(github) = GithubEnv::from_lookup(&lookup, ctx.printer.redactor()) else {
        return;
    };
    if !github.actions || github.token.is_none() {
        return;
    }
    let Some(sha) = github.sha.clone() else {
        ctx.printer.warning(&format!(
            "check run `{RUN_CHECK_NAME}` not published: `GITHUB_SHA` is not set"
        ));
        return;
    };
    let output = run_output(ctx, report);
    let published = match GithubClient::new(&github, RetryPolicy::default()) {
        Ok(client) => publish_check_run(&client, &sha, &output).await,
        Err(error) => Err(error),
    };
    match published {
        Ok(id) => report.output("check_run_id", id.to_string()),
        Err(error) => ctx.printer.warning(&format!(
            "check run `{RUN_CHECK_NAME}` not published: {error}"
        )),
    }
}

/// The conclusion, the summary and the annotations for `report`.
fn run_output(ctx: &Context, report: &Report) -> CheckRunOutput {
    let redactor = ctx.printer.redactor();
    // Masked before it is rendered or escaped (issue 10, item 5).
    let report = report.redacted(redactor);
    let summary = redactor.redact(&crate::report::github::summary_markdown(&report));
    let mut annotations = Vec::new();
    for phase in &report.phases {
        for check in &phase.checks {
            let level = match check.status {
                Status::Fail => AnnotationLevel::Failure,
                Status::Warn => AnnotationLevel::Warning,
                Status::Pass | Status::Skip => continue,
            };
            // Only checks that point into a file: the rest is in the summary.
            let Some(location) = &check.location else {
                continue;
            };
            let mut message = check.detail.clone().unwrap_or_else(|| "failed".to_owned());
            if let (Some(expected), Some(actual)) = (&check.expected, &check.actual) {
                let _ = write!(message, "\nexpected: {expected}\ngot: {actual}");
            }
            annotations.push(Annotation {
                path: location.path.display().to_string(),
                start_line: location.line,
                end_line: location.line,
                annotation_level: level,
                message: redactor.redact(&message),
                title: format!("shipgate {}: {}", phase.name.as_str(), check.name),
            });
        }
    }
    let (conclusion, title) = if report.exit_code == 0 {
        ("success", "deploy passed".to_owned())
    } else {
        (
            "failure",
            format!("deploy failed (exit {})", report.exit_code),
        )
    };
    CheckRunOutput {
        name: RUN_CHECK_NAME.to_owned(),
        conclusion,
        title,
        summary,
        annotations,
    }
}
