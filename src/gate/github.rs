//! The `github` gate: on the commit being deployed, the required check runs
//! and commit statuses are green (pending is not green; `wait_for` polls
//! until they finish), and the PR has at least `min_approvals` approvals from
//! distinct users whose latest review is an approval, with no user's latest
//! review requesting changes. The API calls live in [`crate::github`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{CHECK_RUN_NAME, GateContext};
use crate::config::{Gate, GithubGate, RequiredChecks};
use crate::diagnostic::{Diagnostic, backticked};
use crate::github::{CheckRun, GithubClient, GithubEnv, GithubError, Review};
use crate::report::{Check, format_duration};

/// The name prefix of every check run shipgate publishes.
const OWN_CHECK_PREFIX: &str = "shipgate / ";

/// The state of the required checks at one poll.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ChecksState {
    /// Names that passed.
    pub(crate) green: Vec<String>,
    /// `name (state)` not finished yet.
    pub(crate) pending: Vec<String>,
    /// `name (conclusion)` that failed.
    pub(crate) failing: Vec<String>,
}

/// Runs the gate.
pub(super) async fn run(gate: &Gate, config: &GithubGate, ctx: &GateContext) -> Check {
    let github = match &ctx.github {
        Ok(github) => github,
        Err(message) => return Check::fail(&gate.name).detail(message.clone()),
    };
    match inspect(config, github, ctx).await {
        Ok((problems, passed)) if problems.is_empty() => {
            Check::pass(&gate.name).detail(passed.join("; "))
        }
        Ok((problems, _)) => Check::fail(&gate.name).detail(problems.join("; ")),
        Err(error) => github_failure(gate, &error),
    }
}

/// A failed check for a GitHub call that failed, with the error's hint.
pub(super) fn github_failure(gate: &Gate, error: &GithubError) -> Check {
    let hint = error
        .hint()
        .map(|h| format!(" (hint: {h})"))
        .unwrap_or_default();
    Check::fail(&gate.name).detail(format!("{error}{hint}"))
}

async fn inspect(
    config: &GithubGate,
    github: &GithubEnv,
    ctx: &GateContext,
) -> Result<(Vec<String>, Vec<String>), GithubError> {
    let client = GithubClient::new(github, ctx.retry)?;
    let sha = github.sha.clone().ok_or(GithubError::MissingSha)?;
    let short: String = sha.chars().take(12).collect();
    let mut problems = Vec::new();
    let mut passed = Vec::new();

    if config.checks != RequiredChecks::None {
        let started = Instant::now();
        let wait_for = config.wait_for.unwrap_or(Duration::ZERO);
        let state = loop {
            let state =
                checks_state(&client, &sha, &config.checks, github.run_id.as_deref()).await?;
            let waited = started.elapsed();
            if !state.failing.is_empty() || state.pending.is_empty() || waited >= wait_for {
                break state;
            }
            ctx.ctx.printer.progress(&format!(
                "gate `github`: waiting for {} ({} of {})",
                state.pending.join(", "),
                format_duration(waited),
                format_duration(wait_for)
            ));
            let pause = config.poll_interval.min(wait_for.saturating_sub(waited));
            tokio::time::sleep(pause.max(Duration::from_millis(10))).await;
        };
        if !state.failing.is_empty() {
            problems.push(format!(
                "failing on `{short}`: {}",
                state.failing.join(", ")
            ));
        }
        if !state.pending.is_empty() {
            let waited = config
                .wait_for
                .map(|d| format!(" after waiting {}", format_duration(d)))
                .unwrap_or_default();
            problems.push(format!(
                "not finished{waited}: {}",
                state.pending.join(", ")
            ));
        }
        if state.failing.is_empty() && state.pending.is_empty() {
            passed.push(if state.green.is_empty() {
                format!("no checks reported on `{short}`")
            } else {
                format!("{} check(s) green on `{short}`", state.green.len())
            });
        }
    }

    if config.min_approvals > 0 {
        let number = if let Some(number) = github.pull_request {
            Some(number)
        } else {
            let pulls = client.pulls_for_commit(&sha).await?;
            pulls
                .iter()
                .find(|pr| pr.state == "open")
                .or_else(|| pulls.first())
                .map(|pr| pr.number)
        };
        match number {
            None => problems.push(format!(
                "no pull request found for `{short}`, so no approvals (need {})",
                config.min_approvals
            )),
            Some(number) => {
                let reviews = client.reviews(number).await?;
                let (approved, blocking) = tally_reviews(&reviews);
                if !blocking.is_empty() {
                    problems.push(format!(
                        "PR #{number}: changes requested by {}",
                        backticked(&blocking)
                    ));
                }
                let count = u32::try_from(approved.len()).unwrap_or(u32::MAX);
                if count < config.min_approvals {
                    problems.push(format!(
                        "PR #{number} has {count} approval(s), needs {}{}",
                        config.min_approvals,
                        if approved.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", backticked(&approved))
                        }
                    ));
                } else if blocking.is_empty() {
                    passed.push(format!(
                        "PR #{number} approved by {}",
                        backticked(&approved)
                    ));
                }
            }
        }
    }
    Ok((problems, passed))
}

/// Whether the gate must ignore `run`: shipgate's own check runs
/// (`shipgate / …`) and the jobs of the workflow run executing shipgate,
/// which are still in progress while the gate looks at them (issue 14).
fn is_own(run: &CheckRun, run_id: Option<&str>) -> bool {
    run.name == CHECK_RUN_NAME
        || run.name.starts_with(OWN_CHECK_PREFIX)
        || run_id.is_some_and(|id| run.belongs_to_run(id))
}

/// Check runs and statuses on `sha`, judged against `required`.
async fn checks_state(
    client: &GithubClient,
    sha: &str,
    required: &RequiredChecks,
    run_id: Option<&str>,
) -> Result<ChecksState, GithubError> {
    let runs = client.check_runs(sha).await?;
    let statuses = client.statuses(sha).await?;
    // name → (outcome, label); outcome 0 = green, 1 = pending, 2 = failing.
    let mut seen: Vec<(String, u8, String)> = Vec::new();
    // A check named explicitly counts even when it is a job of this workflow
    // run (a `build` job the deploy job needs); only `all` skips them.
    let run_id = run_id.filter(|_| *required == RequiredChecks::All);
    for run in runs.iter().filter(|run| !is_own(run, run_id)) {
        let (outcome, label) = if run.status == "completed" {
            let conclusion = run.conclusion.as_deref().unwrap_or("none");
            let green = matches!(conclusion, "success" | "neutral" | "skipped");
            (if green { 0 } else { 2 }, conclusion.to_owned())
        } else {
            (1, run.status.clone())
        };
        seen.push((run.name.clone(), outcome, label));
    }
    for status in &statuses {
        let outcome = match status.state.as_str() {
            "success" => 0,
            "pending" => 1,
            _ => 2,
        };
        seen.push((status.context.clone(), outcome, status.state.clone()));
    }
    let mut state = ChecksState::default();
    let mut push = |name: &str, outcome: u8, label: &str| match outcome {
        0 => state.green.push(name.to_owned()),
        1 => state.pending.push(format!("`{name}` ({label})")),
        _ => state.failing.push(format!("`{name}` ({label})")),
    };
    match required {
        RequiredChecks::None => {}
        RequiredChecks::All => {
            for (name, outcome, label) in &seen {
                push(name, *outcome, label);
            }
        }
        RequiredChecks::Named(names) => {
            for name in names {
                let matching: Vec<&(String, u8, String)> = seen
                    .iter()
                    .filter(|(seen_name, ..)| seen_name == name)
                    .collect();
                match matching.iter().max_by_key(|(_, outcome, _)| *outcome) {
                    None => push(name, 1, "not reported yet"),
                    Some((_, outcome, label)) => push(name, *outcome, label),
                }
            }
        }
    }
    Ok(state)
}

/// Users whose latest deciding review approves, and users whose latest
/// deciding review requests changes (comments do not decide; a dismissed
/// review counts for neither). Reviews arrive oldest first.
pub(crate) fn tally_reviews(reviews: &[Review]) -> (Vec<String>, Vec<String>) {
    let mut latest: BTreeMap<&str, &str> = BTreeMap::new();
    for review in reviews {
        let Some(user) = &review.user else { continue };
        if matches!(
            review.state.as_str(),
            "APPROVED" | "CHANGES_REQUESTED" | "DISMISSED"
        ) {
            latest.insert(user.login.as_str(), review.state.as_str());
        }
    }
    let pick = |wanted: &str| {
        latest
            .iter()
            .filter(|(_, state)| **state == wanted)
            .map(|(user, _)| (*user).to_owned())
            .collect::<Vec<_>>()
    };
    (pick("APPROVED"), pick("CHANGES_REQUESTED"))
}
