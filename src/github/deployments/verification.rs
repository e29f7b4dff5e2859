//! Whether shipgate verified a commit in an environment (issue 14,
//! "Staging first"): the latest status of shipgate's newest deployment of
//! that commit there. The `staged` gate asks it before production, and the
//! Vercel provider's `deploy = "promote"` reads the release that passed.

use super::{Deployment, DeploymentPayload, DeploymentState, DeploymentStatus, GithubDeployments};
use crate::github::GithubError;

/// What the environment's deployments say of one commit.
#[derive(Debug, Clone)]
pub enum Verification {
    /// Its latest status is `success`, or `inactive` after a `success`
    /// (replaced there since).
    Passed {
        /// The deployment's payload: the release that passed.
        payload: DeploymentPayload,
        /// The `success` status.
        status: DeploymentStatus,
        /// A later deployment replaced it in that environment.
        replaced: bool,
    },
    /// shipgate never deployed the commit there.
    NeverDeployed,
    /// Deployed, with no status yet.
    NoStatus {
        /// When the deployment was created.
        created_at: String,
    },
    /// Its latest status is `failure` or `error`.
    Failed(DeploymentStatus),
    /// Its latest status is `in_progress`: a run is verifying it.
    InProgress(DeploymentStatus),
    /// Any other latest status (`inactive` with no `success`, `queued`).
    Unsettled(DeploymentStatus),
}

impl GithubDeployments {
    /// How this environment judged `sha` (the full commit SHA).
    pub async fn verification(&self, sha: &str) -> Result<Verification, GithubError> {
        let newest = self
            .list()
            .await?
            .into_iter()
            .filter(|deployment| deployment.sha == sha)
            .find_map(|deployment: Deployment| {
                deployment
                    .shipgate_payload()
                    .map(|payload| (deployment, payload))
            });
        let Some((deployment, payload)) = newest else {
            return Ok(Verification::NeverDeployed);
        };
        let statuses = self.statuses(deployment.id).await?;
        let Some(latest) = statuses.first() else {
            return Ok(Verification::NoStatus {
                created_at: deployment.created_at,
            });
        };
        let passed = statuses
            .iter()
            .find(|status| status.state == DeploymentState::Success);
        Ok(match (latest.state, passed) {
            (DeploymentState::Success, _) => Verification::Passed {
                payload,
                status: latest.clone(),
                replaced: false,
            },
            (DeploymentState::Inactive, Some(passed)) => Verification::Passed {
                payload,
                status: passed.clone(),
                replaced: true,
            },
            (DeploymentState::Failure | DeploymentState::Error, _) => {
                Verification::Failed(latest.clone())
            }
            (DeploymentState::InProgress, _) => Verification::InProgress(latest.clone()),
            (DeploymentState::Inactive | DeploymentState::Other, _) => {
                Verification::Unsettled(latest.clone())
            }
        })
    }
}

impl Verification {
    /// `Ok(why it passed)` or `Err(what is missing)`, in words, for commit
    /// `short` in `environment`.
    pub fn describe(&self, short: &str, environment: &str) -> Result<String, String> {
        let run = |status: &DeploymentStatus| {
            status
                .log_url
                .as_deref()
                .map(|url| format!(" in run {url}"))
                .unwrap_or_default()
        };
        match self {
            Self::Passed {
                status,
                replaced: false,
                ..
            } => Ok(format!(
                "`{short}` passed its checks on `{environment}` at {}{}",
                status.created_at,
                run(status)
            )),
            Self::Passed { status, .. } => Ok(format!(
                "`{short}` passed its checks on `{environment}` at {}{} (since replaced there)",
                status.created_at,
                run(status)
            )),
            Self::NeverDeployed => Err(format!(
                "`{short}` was never deployed to `{environment}` by shipgate; deploy it there first (`shipgate run --env {environment}`)"
            )),
            Self::NoStatus { created_at } => Err(format!(
                "`{short}` was deployed to `{environment}` at {created_at} but has no status yet"
            )),
            Self::Failed(status) => Err(format!(
                "`{short}` failed on `{environment}` at {}{}: {}",
                status.created_at,
                run(status),
                status.description.as_deref().unwrap_or("no description")
            )),
            Self::InProgress(status) => Err(format!(
                "`{short}` is still being verified on `{environment}` (since {}{}); wait for that run to finish",
                status.created_at,
                run(status)
            )),
            Self::Unsettled(status) => Err(format!(
                "`{short}` on `{environment}` has no passing status from shipgate (latest: {:?})",
                status.state
            )),
        }
    }
}
