//! The `staged` gate (issue 14, "Staging first"): this commit was deployed
//! to another environment (`staging`) by shipgate and its smoke and watch
//! passed there, as the latest status of shipgate's deployment of this
//! commit to that environment says. The calls live in
//! [`crate::github::deployments`].

use super::GateContext;
use crate::config::{Gate, StagedGate};
use crate::github::GithubError;
use crate::github::deployments::{DeploymentState, GithubDeployments};
use crate::report::Check;

/// Runs the gate.
pub(super) async fn run(gate: &Gate, config: &StagedGate, ctx: &GateContext) -> Check {
    let github = match &ctx.github {
        Ok(github) => github,
        Err(message) => return Check::fail(&gate.name).detail(message.clone()),
    };
    match inspect(config, github, ctx).await {
        Ok(Ok(passed)) => Check::pass(&gate.name).detail(passed),
        Ok(Err(problem)) => Check::fail(&gate.name).detail(problem),
        Err(error) => super::github::github_failure(gate, &error),
    }
}

/// `Ok(Ok(why it passes))`, `Ok(Err(what is missing))`, or GitHub's error.
async fn inspect(
    config: &StagedGate,
    github: &crate::github::GithubEnv,
    ctx: &GateContext,
) -> Result<Result<String, String>, GithubError> {
    let sha = github.sha.clone().ok_or(GithubError::MissingSha)?;
    let short: String = sha.chars().take(12).collect();
    let lookup = |name: &str| (ctx.lookup)(name);
    let trail = GithubDeployments::from_env(github, &lookup, &config.environment, ctx.retry)?
        .ok_or(GithubError::MissingToken)?;
    let environment = &config.environment;
    let own = trail
        .list()
        .await?
        .into_iter()
        .filter(|deployment| deployment.sha == sha && deployment.shipgate_payload().is_some())
        .collect::<Vec<_>>();
    let Some(newest) = own.first() else {
        return Ok(Err(format!(
            "`{short}` was never deployed to `{environment}` by shipgate; deploy it there first (`shipgate run --env {environment}`)"
        )));
    };
    let statuses = trail.statuses(newest.id).await?;
    let run = |status: &crate::github::deployments::DeploymentStatus| {
        status
            .log_url
            .as_deref()
            .map(|url| format!(" in run {url}"))
            .unwrap_or_default()
    };
    let Some(latest) = statuses.first() else {
        return Ok(Err(format!(
            "`{short}` was deployed to `{environment}` at {} but has no status yet",
            newest.created_at
        )));
    };
    let passed = statuses
        .iter()
        .find(|status| status.state == DeploymentState::Success);
    Ok(match latest.state {
        DeploymentState::Success => Ok(format!(
            "`{short}` passed its checks on `{environment}` at {}{}",
            latest.created_at,
            run(latest)
        )),
        DeploymentState::Inactive if passed.is_some() => {
            let passed = passed.unwrap_or(latest);
            Ok(format!(
                "`{short}` passed its checks on `{environment}` at {}{} (since replaced there)",
                passed.created_at,
                run(passed)
            ))
        }
        DeploymentState::Failure | DeploymentState::Error => Err(format!(
            "`{short}` failed on `{environment}` at {}{}: {}",
            latest.created_at,
            run(latest),
            latest.description.as_deref().unwrap_or("no description")
        )),
        DeploymentState::InProgress => Err(format!(
            "`{short}` is still being verified on `{environment}` (since {}{}); wait for that run to finish",
            latest.created_at,
            run(latest)
        )),
        DeploymentState::Inactive | DeploymentState::Other => Err(format!(
            "`{short}` on `{environment}` has no passing status from shipgate (latest: {:?})",
            latest.state
        )),
    })
}
