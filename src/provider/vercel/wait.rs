//! The Vercel provider's polling loops, each bounded by an overall deadline:
//! a commit's deployment appearing, a deployment becoming READY, and a
//! rollback or promotion (`lastAliasRequest`) finishing.
//!
//! Progress is printed when something changes, not on every poll.

use tokio::time::Instant;

use super::shapes::{Deployment, READY, is_failed_state};
use super::{COMMIT_SEARCH_LIMIT, NAME, VercelProvider};
use crate::provider::ProviderError;
use crate::report::format_duration;

impl VercelProvider {
    /// One poll interval, or `false` when `deadline` has passed.
    async fn pause(&self, deadline: Instant) -> bool {
        crate::provider::pause(self.poll_interval, deadline).await
    }

    /// Polls the production deployments until one built from `commit`
    /// appears; its id. [`ProviderError::NeverAppeared`] at `deadline`.
    pub(super) async fn wait_for_commit(
        &self,
        commit: &str,
        deadline: Instant,
    ) -> Result<String, ProviderError> {
        self.progress(&format!("waiting for the deployment of commit `{commit}`"));
        loop {
            let page = self
                .deployments(
                    COMMIT_SEARCH_LIMIT,
                    None,
                    &[("meta-githubCommitSha", commit.to_owned())],
                )
                .await?;
            // Newest first: a redeploy of the same commit wins.
            if let Some(found) = page
                .deployments
                .iter()
                .find(|deployment| deployment.commit() == Some(commit))
            {
                self.progress(&format!(
                    "found deployment `{}` of commit `{commit}`",
                    found.uid
                ));
                return Ok(found.uid.clone());
            }
            if !self.pause(deadline).await {
                return Err(ProviderError::NeverAppeared {
                    provider: NAME,
                    commit: commit.to_owned(),
                    waited: format_duration(self.ready_within),
                });
            }
        }
    }

    /// Polls deployment `id` until it is READY; ERROR or CANCELED is
    /// [`ProviderError::DeploymentFailed`] with Vercel's message and the
    /// inspect URL, and so is `deadline`.
    pub(super) async fn wait_until_ready(
        &self,
        id: &str,
        deadline: Instant,
    ) -> Result<Deployment, ProviderError> {
        let mut shown: Option<String> = None;
        loop {
            let deployment = self.deployment(id).await?;
            let state = deployment
                .ready_state
                .clone()
                .unwrap_or_else(|| "UNKNOWN".to_owned());
            if shown.as_deref() != Some(state.as_str()) {
                self.progress(&format!("deployment `{id}` is {state}"));
                shown = Some(state.clone());
            }
            if state == READY {
                return Ok(deployment);
            }
            if is_failed_state(&state) {
                return Err(ProviderError::DeploymentFailed {
                    provider: NAME,
                    id: id.to_owned(),
                    outcome: deployment.failure(),
                    inspect_url: deployment.inspector_url.clone(),
                });
            }
            if !self.pause(deadline).await {
                return Err(ProviderError::DeploymentFailed {
                    provider: NAME,
                    id: id.to_owned(),
                    outcome: format!(
                        "is still {state} after {}",
                        format_duration(self.ready_within)
                    ),
                    inspect_url: deployment.inspector_url,
                });
            }
        }
    }

    /// Polls the project's `lastAliasRequest` until the `kind` (rollback or
    /// promote) to `target` has `succeeded` (or was `skipped`: nothing to
    /// move); `failed` and `deadline` are errors. A request made before
    /// `requested_since` (Unix ms; the Vercel CLI allows 3 minutes of clock
    /// skew the same way) is an earlier one, not ours.
    pub(super) async fn wait_for_alias(
        &self,
        target: &str,
        kind: &str,
        requested_since: i64,
        deadline: Instant,
    ) -> Result<(), ProviderError> {
        let action = format!("{kind} `{}` to `{target}`", self.project);
        let mut shown: Option<String> = None;
        loop {
            let project = self.project(true).await?;
            let request = project.last_alias_request.as_ref().filter(|request| {
                request.to_deployment_id.as_deref() == Some(target)
                    && request
                        .requested_at
                        .is_none_or(|requested| requested >= requested_since)
            });
            let status = request
                .and_then(|request| request.job_status.clone())
                .unwrap_or_else(|| "not started".to_owned());
            if shown.as_deref() != Some(status.as_str()) {
                self.progress(&format!("{kind} to `{target}`: {status}"));
                shown = Some(status.clone());
            }
            match status.as_str() {
                "succeeded" | "skipped" => return Ok(()),
                "failed" => {
                    let from = request
                        .and_then(|request| request.from_deployment_id.as_deref())
                        .unwrap_or("the previous deployment");
                    let kind = request
                        .and_then(|request| request.kind.as_deref())
                        .unwrap_or(kind);
                    return Err(ProviderError::Api {
                        provider: NAME,
                        action,
                        message: format!(
                            "Vercel's {kind} job failed: not every production domain moved from `{from}` to `{target}`"
                        ),
                        hint: Some(format!(
                            "run `vercel rollback status {}` to see which domains failed, then `shipgate rollback --to {target}` to try again",
                            self.project
                        )),
                    });
                }
                _ => {}
            }
            if !self.pause(deadline).await {
                return Err(ProviderError::Api {
                    provider: NAME,
                    action,
                    message: format!(
                        "the {kind} is still {status} after {}",
                        format_duration(self.ready_within)
                    ),
                    hint: Some(format!(
                        "check `vercel rollback status {}`, or raise `ready_within`",
                        self.project
                    )),
                });
            }
        }
    }
}
