//! [`GithubHealth`]: verdicts kept as GitHub deployment statuses, so they
//! outlive a hosted runner (issue 14, "Reading").
//!
//! A release's verdict is the latest status of its newest shipgate
//! deployment in the environment: `failure`/`error` → failed,
//! `success`/`inactive` → healthy. Recording healthy writes `success` on the
//! release's in-progress deployment (the run that just deployed it), or on a
//! new deployment when it is restored by a rollback, then marks the other
//! successful deployments `inactive` (GitHub's `auto_inactive` does not apply
//! to production environments).

use std::collections::BTreeMap;

use crate::diagnostic::Diagnostic;
use crate::github::GithubError;
use crate::github::deployments::{
    DeploymentPayload, DeploymentState, GithubDeployments, NewDeployment, NewStatus,
};

use super::super::{ProviderError, Release, ReleaseState};
use super::HealthRecord;

/// Verdicts as GitHub deployment statuses of one environment.
#[derive(Debug, Clone)]
pub struct GithubHealth {
    trail: GithubDeployments,
    provider: &'static str,
    /// The commit to create a deployment for when the release names none
    /// (`GITHUB_SHA`).
    fallback_commit: Option<String>,
}

impl GithubHealth {
    /// Verdicts in `trail`, for releases of `provider`.
    pub fn new(
        trail: GithubDeployments,
        provider: &'static str,
        fallback_commit: Option<String>,
    ) -> Self {
        Self {
            trail,
            provider,
            fallback_commit,
        }
    }
}

/// A GitHub failure as a provider error (the caller only warns).
fn api_error(action: &str, error: &GithubError) -> ProviderError {
    ProviderError::Api {
        provider: "github",
        action: action.to_owned(),
        message: error.to_string(),
        hint: error.hint(),
    }
}

#[async_trait::async_trait]
impl HealthRecord for GithubHealth {
    async fn verdicts(&self) -> Result<BTreeMap<String, ReleaseState>, ProviderError> {
        let latest = self
            .trail
            .latest()
            .await
            .map_err(|error| api_error("read the deployments", &error))?;
        let mut verdicts = BTreeMap::new();
        let mut seen = std::collections::BTreeSet::new();
        for (_, payload, status) in latest {
            if !seen.insert(payload.release.clone()) {
                continue;
            }
            let verdict = match status.map(|status| status.state) {
                Some(DeploymentState::Failure | DeploymentState::Error) => ReleaseState::Failed,
                Some(DeploymentState::Success | DeploymentState::Inactive) => ReleaseState::Healthy,
                _ => continue,
            };
            verdicts.insert(payload.release, verdict);
        }
        Ok(verdicts)
    }

    async fn record(&self, release: &Release, state: ReleaseState) -> Result<(), ProviderError> {
        self.write(release, state, None).await
    }

    async fn record_failure(&self, release: &Release, reason: &str) -> Result<(), ProviderError> {
        self.write(release, ReleaseState::Failed, Some(reason))
            .await
    }
}

impl GithubHealth {
    /// Writes the status for `state` (with `reason` in a failure's description).
    async fn write(
        &self,
        release: &Release,
        state: ReleaseState,
        reason: Option<&str>,
    ) -> Result<(), ProviderError> {
        let wanted = match state {
            ReleaseState::Deployed => return Ok(()),
            ReleaseState::Healthy => DeploymentState::Success,
            ReleaseState::Failed => DeploymentState::Failure,
        };
        let action = |what: &str| format!("record `{}` as {what}", release.id);
        let latest = self
            .trail
            .latest()
            .await
            .map_err(|error| api_error(&action("read the deployments to"), &error))?;
        let own = latest
            .iter()
            .find(|(_, payload, _)| payload.release == release.id);
        let own_state = own.and_then(|(_, _, status)| status.as_ref().map(|status| status.state));
        // The run that deployed it left it in progress; anything else (a
        // restored release, a verdict on a release never recorded) gets a
        // deployment of its own, so the environment page shows what is live.
        let reuse = if wanted == DeploymentState::Success {
            own_state == Some(DeploymentState::InProgress)
        } else if own_state == Some(wanted) {
            return Ok(());
        } else {
            own.is_some()
        };
        let id = if let (true, Some((deployment, _, _))) = (reuse, own) {
            deployment.id
        } else {
            let commit = release
                .commit
                .clone()
                .or_else(|| own.map(|(deployment, _, _)| deployment.sha.clone()))
                .or_else(|| self.fallback_commit.clone())
                .ok_or_else(|| ProviderError::Api {
                    provider: "github",
                    action: action("a deployment for"),
                    message: "the release names no commit".to_owned(),
                    hint: None,
                })?;
            let payload = DeploymentPayload {
                shipgate: true,
                provider: self.provider.to_owned(),
                release: release.id.clone(),
                url: release.url.clone(),
                migrations: Vec::new(),
                backup: None,
            };
            let description = match wanted {
                DeploymentState::Success => format!("shipgate: restore {}", release.id),
                _ => format!("shipgate: record {}", release.id),
            };
            self.trail
                .create(&NewDeployment {
                    commit: &commit,
                    description,
                    payload: &payload,
                })
                .await
                .map_err(|error| api_error(&action("create a deployment to"), &error))?
                .id
        };
        let description = match wanted {
            DeploymentState::Success => format!("shipgate: {} passed its checks", release.id),
            _ => match reason {
                Some(reason) => format!("shipgate: {} failed: {reason}", release.id),
                None => format!("shipgate: {} failed its checks", release.id),
            },
        };
        self.trail
            .set_status(
                id,
                &NewStatus {
                    state: wanted,
                    description: &description,
                    environment_url: release.url.as_deref(),
                },
            )
            .await
            .map_err(|error| api_error(&action("write the status to"), &error))?;
        if wanted == DeploymentState::Success {
            for (deployment, _, status) in &latest {
                let live = status
                    .as_ref()
                    .is_some_and(|status| status.state == DeploymentState::Success);
                if deployment.id == id || !live {
                    continue;
                }
                let description = format!("shipgate: replaced by {}", release.id);
                self.trail
                    .set_status(
                        deployment.id,
                        &NewStatus {
                            state: DeploymentState::Inactive,
                            description: &description,
                            environment_url: None,
                        },
                    )
                    .await
                    .map_err(|error| {
                        api_error(&action("mark older deployments inactive after"), &error)
                    })?;
            }
        }
        Ok(())
    }
}
