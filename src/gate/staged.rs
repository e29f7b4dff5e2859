//! The `staged` gate (issue 14, "Staging first"): this commit was deployed
//! to another environment (`staging`) by shipgate and its smoke and watch
//! passed there, as the latest status of shipgate's deployment of this
//! commit to that environment says. The calls live in
//! [`crate::github::deployments`].

use super::GateContext;
use crate::config::{Gate, StagedGate};
use crate::github::GithubError;
use crate::github::deployments::GithubDeployments;
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
    Ok(trail
        .verification(&sha)
        .await?
        .describe(&short, &config.environment))
}
