//! Waiting on Railway: for a deployment to appear in a service's list, and
//! for a deployment to become live. Every wait asks once, then again every
//! poll interval, and gives up at the caller's deadline (`ready_within`).

use std::collections::BTreeSet;

use tokio::time::Instant;

use super::client::PROVIDER;
use super::graphql::{DEPLOYMENT_STATUS, Deployment, DeploymentStatusData, SUCCESS, is_dead_end};
use super::{LIST_SIZE, RailwayProvider, release};
use crate::provider::{ProviderError, Release, ReleaseState};
use crate::report::format_duration;

impl RailwayProvider {
    /// For each service in turn: waits for its new deployment (one not in
    /// `before`, of `commit`), then for it to become live. Returns the first
    /// service's deployment as the release.
    ///
    /// With `strict`, the deployment must carry `commit` in its meta (`deploy
    /// = "git"`); otherwise a deployment whose meta has no commit (`railway
    /// up` uploads) also counts.
    pub(super) async fn wait_for_new_deployments(
        &self,
        commit: Option<&str>,
        before: &[BTreeSet<String>],
        deadline: Instant,
        strict: bool,
    ) -> Result<Release, ProviderError> {
        let mut first = None;
        for (service, known) in self.services.iter().zip(before) {
            let matches = |deployment: &Deployment| match (commit, deployment.commit()) {
                (Some(wanted), Some(built)) => wanted == built,
                (Some(_), None) => !strict,
                (None, _) => true,
            };
            let Some(deployment) = self.appear(service, known, matches, deadline).await? else {
                let waited = format!(
                    "{} waiting for service `{service}`",
                    format_duration(self.ready_within)
                );
                return Err(match commit {
                    Some(commit) => ProviderError::NeverAppeared {
                        provider: PROVIDER,
                        commit: commit.to_owned(),
                        waited,
                    },
                    None => ProviderError::Api {
                        provider: PROVIDER,
                        action: format!("find the new deployment of service `{service}`"),
                        message: format!("no new deployment appeared after {waited}"),
                        hint: Some(
                            "check that the deploy command deploys this service, or raise `ready_within`"
                                .to_owned(),
                        ),
                    },
                });
            };
            self.wait_live(service, &deployment.id, deadline).await?;
            first.get_or_insert(deployment);
        }
        let deployment = first.ok_or_else(|| ProviderError::Internal {
            action: "wait for the deployment",
            detail: "the railway config lists no service".to_owned(),
        })?;
        let mut release = release(&deployment);
        release.state = ReleaseState::Deployed;
        release.platform_state = Some(SUCCESS.to_owned());
        Ok(release)
    }

    /// The newest deployment of `service` not in `known` that `matches`,
    /// asked for until `deadline`; `None` when none appeared in time.
    pub(super) async fn appear(
        &self,
        service: &str,
        known: &BTreeSet<String>,
        matches: impl Fn(&Deployment) -> bool + Send + Sync,
        deadline: Instant,
    ) -> Result<Option<Deployment>, ProviderError> {
        loop {
            let found = self
                .deployments(service, LIST_SIZE)
                .await?
                .into_iter()
                .find(|deployment| !known.contains(&deployment.id) && matches(deployment));
            if found.is_some() {
                return Ok(found);
            }
            if !self.pause(deadline).await {
                return Ok(None);
            }
        }
    }

    /// Waits until deployment `id` of `service` is `SUCCESS`; a `FAILED`,
    /// `CRASHED`, `REMOVED` or `SKIPPED` end, or the deadline, is
    /// [`ProviderError::DeploymentFailed`] with its logs URL.
    pub(super) async fn wait_live(
        &self,
        service: &str,
        id: &str,
        deadline: Instant,
    ) -> Result<(), ProviderError> {
        let backboard = self.backboard()?;
        loop {
            let data: DeploymentStatusData = backboard
                .execute(
                    &format!("read the status of deployment `{id}`"),
                    DEPLOYMENT_STATUS,
                    serde_json::json!({ "id": id }),
                )
                .await?;
            let status = data.deployment.status;
            let outcome = if status == SUCCESS {
                return Ok(());
            } else if is_dead_end(&status) {
                format!("of service `{service}` ended {status}")
            } else if self.pause(deadline).await {
                continue;
            } else {
                format!(
                    "of service `{service}` is still {status} after {}",
                    format_duration(self.ready_within)
                )
            };
            return Err(ProviderError::DeploymentFailed {
                provider: PROVIDER,
                id: id.to_owned(),
                outcome,
                inspect_url: Some(self.logs_url(service, id)),
            });
        }
    }

    /// One poll interval, or `false` when `deadline` has passed.
    async fn pause(&self, deadline: Instant) -> bool {
        crate::provider::pause(self.poll_interval, deadline).await
    }
}
