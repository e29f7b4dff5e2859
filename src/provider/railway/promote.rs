//! Putting an older release back on every configured service: plan first
//! (each service needs a deployment of the target's commit Railway can roll
//! back to, or nothing changes), then per service the mutation, the wait for
//! the deployment it created, and a proof that it is the one live.

use std::collections::BTreeSet;

use tokio::time::Instant;

use super::RailwayProvider;
use super::client::PROVIDER;
use super::graphql::{
    DEPLOYMENT_REDEPLOY, DEPLOYMENT_ROLLBACK, Deployment, RedeployData, RollbackData, SUCCESS,
};
use crate::config::RailwayRollbackMode;
use crate::provider::{ProviderError, Release};

/// Deployments read per service when planning a rollback: enough to reach a
/// release a few weeks old.
const PLAN_LIST_SIZE: usize = 50;

/// What rolling back one service means.
#[derive(Debug)]
pub(super) struct Step {
    service: String,
    /// The deployment to put back.
    source: Deployment,
    /// Ids listed before the change, so the new deployment is one not here.
    known: BTreeSet<String>,
}

impl RailwayProvider {
    /// For each service, the deployment of `release` to put back; refuses,
    /// naming every service without one, before anything changes.
    pub(super) async fn plan_rollback(
        &self,
        release: &Release,
    ) -> Result<Vec<Step>, ProviderError> {
        let mut steps = Vec::with_capacity(self.services.len());
        let mut refusals = Vec::new();
        for (index, service) in self.services.iter().enumerate() {
            let deployments = self.deployments(service, PLAN_LIST_SIZE).await?;
            let known = deployments
                .iter()
                .map(|deployment| deployment.id.clone())
                .collect();
            let usable = |deployment: &Deployment| {
                !deployment.ever_failed()
                    && match self.rollback {
                        RailwayRollbackMode::Rollback => deployment.can_rollback,
                        RailwayRollbackMode::Redeploy => deployment.can_redeploy,
                    }
            };
            let source = if index == 0 {
                deployments
                    .into_iter()
                    .find(|deployment| deployment.id == release.id)
                    .filter(|deployment| usable(deployment))
            } else {
                release.commit.as_deref().and_then(|commit| {
                    deployments.into_iter().find(|deployment| {
                        deployment.commit() == Some(commit) && usable(deployment)
                    })
                })
            };
            match source {
                Some(source) => steps.push(Step {
                    service: service.clone(),
                    source,
                    known,
                }),
                None => refusals.push(format!("`{service}`")),
            }
        }
        if refusals.is_empty() {
            return Ok(steps);
        }
        let flag = match self.rollback {
            RailwayRollbackMode::Rollback => "canRollback",
            RailwayRollbackMode::Redeploy => "canRedeploy",
        };
        let of = release.commit.as_ref().map_or_else(
            || format!("release `{}`", release.id),
            |commit| format!("commit `{commit}`"),
        );
        Err(ProviderError::Api {
            provider: PROVIDER,
            action: format!("roll back to `{}`", release.id),
            message: format!(
                "service {} has no deployment of {of} that Railway can roll back to (`{flag}: true`, never FAILED or CRASHED); nothing was changed",
                refusals.join(", ")
            ),
            hint: Some(
                "choose another release with `shipgate rollback --to ID`, or roll the service back by hand in the Railway dashboard"
                    .to_owned(),
            ),
        })
    }

    /// Runs `plan`, one service after another, within `ready_within`.
    pub(super) async fn roll_back(
        &self,
        release: &Release,
        plan: Vec<Step>,
    ) -> Result<(), ProviderError> {
        let deadline = Instant::now() + self.ready_within;
        let mut done: Vec<String> = Vec::new();
        for step in plan {
            if let Err(error) = self.roll_back_service(&step, deadline).await {
                return Err(partial(error, release, &done));
            }
            done.push(step.service);
        }
        Ok(())
    }

    async fn roll_back_service(&self, step: &Step, deadline: Instant) -> Result<(), ProviderError> {
        let backboard = self.backboard()?;
        let service = &step.service;
        let source = &step.source.id;
        let variables = serde_json::json!({ "id": source });
        let created = match self.rollback {
            RailwayRollbackMode::Rollback => {
                let action = format!("roll service `{service}` back to deployment `{source}`");
                let data: RollbackData = backboard
                    .execute(&action, DEPLOYMENT_ROLLBACK, variables)
                    .await?;
                if !data.deployment_rollback {
                    return Err(ProviderError::Api {
                        provider: PROVIDER,
                        action,
                        message: "Railway answered `false`".to_owned(),
                        hint: Some(format!(
                            "check the deployment in the dashboard: {}",
                            self.logs_url(service, source)
                        )),
                    });
                }
                // The mutation answers a Boolean: the deployment it created
                // is the newest one not listed before it.
                self.appear(service, &step.known, |_| true, deadline)
                    .await?
                    .ok_or_else(|| ProviderError::Api {
                        provider: PROVIDER,
                        action: format!(
                            "find the deployment the rollback of service `{service}` created"
                        ),
                        message:
                            "Railway accepted the rollback but listed no new deployment in time"
                                .to_owned(),
                        hint: Some(format!(
                            "check the service in the dashboard: {}",
                            self.logs_url(service, source)
                        )),
                    })?
                    .id
            }
            RailwayRollbackMode::Redeploy => {
                let data: RedeployData = backboard
                    .execute(
                        &format!("redeploy deployment `{source}` of service `{service}`"),
                        DEPLOYMENT_REDEPLOY,
                        variables,
                    )
                    .await?;
                data.deployment_redeploy.id
            }
        };
        self.wait_live(service, &created, deadline).await?;
        self.prove(step, &created).await
    }

    /// Checks that the service's active deployment is now the target's:
    /// the same commit, or (with no commit known) the deployment just made.
    async fn prove(&self, step: &Step, created: &str) -> Result<(), ProviderError> {
        let service = &step.service;
        let active = self
            .deployments(service, super::LIST_SIZE)
            .await?
            .into_iter()
            .find(|deployment| deployment.status == SUCCESS);
        let proven = active
            .as_ref()
            .is_some_and(|active| match step.source.commit() {
                Some(commit) => active.commit() == Some(commit),
                None => active.id == created,
            });
        if proven {
            return Ok(());
        }
        let wanted = step.source.commit().map_or_else(
            || format!("deployment `{created}`"),
            |commit| format!("a deployment of commit `{commit}`"),
        );
        let actual = active.map_or_else(
            || "no deployment is active".to_owned(),
            |active| {
                format!(
                    "the active deployment is `{}` (commit `{}`)",
                    active.id,
                    active.commit().unwrap_or("unknown")
                )
            },
        );
        Err(ProviderError::Api {
            provider: PROVIDER,
            action: format!("confirm the rollback of service `{service}`"),
            message: format!("{actual}, not {wanted}"),
            hint: Some(format!(
                "check the service in the dashboard: {}",
                self.logs_url(service, created)
            )),
        })
    }
}

/// `error`, saying which services were already rolled back to `release`
/// when some were.
fn partial(error: ProviderError, release: &Release, done: &[String]) -> ProviderError {
    if done.is_empty() {
        return error;
    }
    let services = done
        .iter()
        .map(|service| format!("`{service}`"))
        .collect::<Vec<_>>()
        .join(", ");
    ProviderError::Api {
        provider: PROVIDER,
        action: format!("roll back to `{}`", release.id),
        message: format!("{error}; service {services} already serves `{}`", release.id),
        hint: Some(
            "finish by hand in the Railway dashboard, or run `shipgate rollback --to ID` again once the cause is fixed"
                .to_owned(),
        ),
    }
}
