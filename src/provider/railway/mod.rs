//! The `railway` provider: deployments of one or more Railway services,
//! through Railway's public GraphQL API (issue 12).
//!
//! **Release identity.** A release is named by the deployment id of the
//! **first** configured service; it carries the git commit it was built
//! from (`meta.commitHash`). The other services' deployments of the same
//! release are found by that commit hash. So with `services = ["api",
//! "worker"]`, release `d-api-7` of commit `abc` means "api's deployment
//! `d-api-7` and worker's newest deployment of `abc`".
//!
//! **Rollback targets.** On Railway a superseded deployment becomes
//! `REMOVED`, yet stays restorable while its image is kept (`canRollback:
//! true`), so a target is a deployment with `canRollback: true` that never
//! ended `FAILED` or `CRASHED` — not one whose status is `SUCCESS` — and that
//! shipgate has not recorded as failed (see [`super::health`]).
//!
//! The documents are in `graphql.rs`, the transport in `client.rs`, the
//! waits in `wait.rs`, and the rollback in `promote.rs`. Which release to
//! roll back to is `rollback`'s decision.

mod client;
mod graphql;
mod promote;
mod wait;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use self::client::{Backboard, PROVIDER};
use self::graphql::{DEPLOYMENTS, Deployment, DeploymentsData, PROJECT, ProjectData, SUCCESS};
use super::api::RetryPolicy;
use super::health::{HealthRecord, apply_verdicts};
use super::shell::ShellCommand;
use super::{DeploySpec, Provider, ProviderError, Release, ReleaseState};
use crate::config::{PlatformDeploy, RailwayConfig, RailwayRollbackMode};
use crate::diagnostic::Diagnostic;

/// How often a wait asks Railway again.
const POLL_INTERVAL: Duration = Duration::from_secs(5);
/// Deployments read per service when looking for one (newest first).
const LIST_SIZE: usize = 20;

/// Railway services deployed and rolled back through the GraphQL API.
#[derive(Debug)]
pub struct RailwayProvider {
    /// The client, or why the token cannot be sent (a newline in it).
    backboard: Result<Backboard, String>,
    project: String,
    environment: String,
    /// At least one; the first names releases.
    services: Vec<String>,
    deploy: PlatformDeploy,
    ready_within: Duration,
    rollback: RailwayRollbackMode,
    health: Box<dyn HealthRecord>,
    base_dir: PathBuf,
    poll_interval: Duration,
}

impl RailwayProvider {
    /// A provider for `config`, keeping verdicts in `health`; a deploy
    /// command runs in `base_dir`.
    pub fn new(config: &RailwayConfig, health: Box<dyn HealthRecord>, base_dir: PathBuf) -> Self {
        let backboard = Backboard::new(
            &config.api_url,
            &config.token.value,
            config.token_kind,
            &config.token.variable,
            RetryPolicy::default(),
        )
        .map_err(|error| match error.hint() {
            Some(hint) => format!("{error}; {hint}"),
            None => error.to_string(),
        });
        Self {
            backboard,
            project: config.project.clone(),
            environment: config.environment.clone(),
            services: config.services.clone(),
            deploy: config.deploy.clone(),
            ready_within: config.ready_within,
            rollback: config.rollback,
            health,
            base_dir,
            poll_interval: POLL_INTERVAL,
        }
    }

    /// The same provider asking Railway again every `interval` while it
    /// waits (tests use milliseconds).
    #[must_use]
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    fn backboard(&self) -> Result<&Backboard, ProviderError> {
        self.backboard
            .as_ref()
            .map_err(|message| ProviderError::Api {
                provider: PROVIDER,
                action: "prepare the API client".to_owned(),
                message: message.clone(),
                hint: None,
            })
    }

    /// The service that names releases.
    fn first_service(&self) -> &str {
        &self.services[0]
    }

    /// `service`'s deployments in the environment, newest first.
    async fn deployments(
        &self,
        service: &str,
        first: usize,
    ) -> Result<Vec<Deployment>, ProviderError> {
        let variables = serde_json::json!({
            "input": {
                "projectId": self.project,
                "environmentId": self.environment,
                "serviceId": service,
            },
            "first": first,
        });
        let data: DeploymentsData = self
            .backboard()?
            .execute(
                &format!("list the deployments of service `{service}`"),
                DEPLOYMENTS,
                variables,
            )
            .await?;
        let mut deployments: Vec<Deployment> = data
            .deployments
            .edges
            .into_iter()
            .map(|edge| edge.node)
            .collect();
        // Railway lists newest first; sort anyway, as everything here
        // depends on it.
        deployments.sort_by_key(|deployment| std::cmp::Reverse(deployment.created_at));
        Ok(deployments)
    }

    /// Where to read a deployment's build and deploy logs in the dashboard.
    fn logs_url(&self, service: &str, deployment: &str) -> String {
        format!(
            "https://railway.com/project/{}/service/{service}?id={deployment}&environmentId={}",
            self.project, self.environment
        )
    }

    /// Deployments of the first service, mapped to releases with the
    /// recorded verdicts applied.
    async fn releases(&self, limit: usize) -> Result<Vec<Release>, ProviderError> {
        let mut releases: Vec<Release> = self
            .deployments(self.first_service(), limit)
            .await?
            .iter()
            .map(release)
            .collect();
        let verdicts = self.health.verdicts().await?;
        apply_verdicts(&mut releases, &verdicts);
        Ok(releases)
    }

    /// Ids of every listed deployment of each service, before a change, so
    /// a new deployment is one not among them.
    async fn known_ids(&self) -> Result<Vec<BTreeSet<String>>, ProviderError> {
        let mut known = Vec::with_capacity(self.services.len());
        for service in &self.services {
            let ids = self
                .deployments(service, LIST_SIZE)
                .await?
                .into_iter()
                .map(|deployment| deployment.id)
                .collect();
            known.push(ids);
        }
        Ok(known)
    }
}

/// A deployment as a release: a rollback target (`Healthy`) when Railway
/// can roll back to it and it never failed; otherwise `Deployed`.
fn release(deployment: &Deployment) -> Release {
    let state = if deployment.can_rollback && !deployment.ever_failed() {
        ReleaseState::Healthy
    } else {
        ReleaseState::Deployed
    };
    Release {
        id: deployment.id.clone(),
        state,
        deployed_at: deployment.created_at,
        commit: deployment.commit().map(str::to_owned),
        url: deployment.public_url(),
        platform_state: Some(format!(
            "{} (canRollback: {})",
            deployment.status, deployment.can_rollback
        )),
    }
}

#[async_trait::async_trait]
impl Provider for RailwayProvider {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    /// The first service's active deployment: its newest `SUCCESS` one.
    async fn current(&self) -> Result<Option<Release>, ProviderError> {
        let Some(active) = self
            .deployments(self.first_service(), LIST_SIZE)
            .await?
            .into_iter()
            .find(|deployment| deployment.status == SUCCESS)
        else {
            return Ok(None);
        };
        let mut releases = [release(&active)];
        apply_verdicts(&mut releases, &self.health.verdicts().await?);
        let [active] = releases;
        Ok(Some(active))
    }

    async fn history(&self, limit: usize) -> Result<Vec<Release>, ProviderError> {
        self.releases(limit).await
    }

    async fn preflight(&self, spec: &DeploySpec) -> Result<(), ProviderError> {
        self.backboard()?;
        if self.deploy == PlatformDeploy::Git && spec.commit.is_none() {
            return Err(no_commit());
        }
        Ok(())
    }

    async fn deploy(&self, spec: &DeploySpec) -> Result<Release, ProviderError> {
        let deadline = tokio::time::Instant::now() + self.ready_within;
        match &self.deploy {
            PlatformDeploy::Git => {
                let commit = spec.commit.as_deref().ok_or_else(no_commit)?;
                let before = vec![BTreeSet::new(); self.services.len()];
                self.wait_for_new_deployments(Some(commit), &before, deadline, true)
                    .await
            }
            PlatformDeploy::Command { run, timeout } => {
                let before = self.known_ids().await?;
                let command = ShellCommand {
                    role: "deploy",
                    template: run.clone(),
                    directory: self.base_dir.clone(),
                    timeout: *timeout,
                };
                command.run(Some(&spec.id), spec.commit.as_deref()).await?;
                self.wait_for_new_deployments(spec.commit.as_deref(), &before, deadline, false)
                    .await
            }
            // The config refuses it for Railway; never reached.
            PlatformDeploy::Promote { .. } => Err(ProviderError::Api {
                provider: "railway",
                action: "deploy".to_owned(),
                message: "`deploy = \"promote\"` is only for Vercel".to_owned(),
                hint: Some("use `deploy = \"git\"` or `\"command\"`".to_owned()),
            }),
        }
    }

    async fn promote(&self, release: &Release) -> Result<(), ProviderError> {
        let plan = self.plan_rollback(release).await?;
        self.roll_back(release, plan).await
    }

    async fn record(&self, release: &Release, state: ReleaseState) -> Result<(), ProviderError> {
        self.health.record(release, state).await
    }

    async fn record_failure(&self, release: &Release, reason: &str) -> Result<(), ProviderError> {
        self.health.record_failure(release, reason).await
    }

    async fn verify_access(&self) -> Result<Option<String>, ProviderError> {
        let data: ProjectData = self
            .backboard()?
            .execute(
                "read the project",
                PROJECT,
                serde_json::json!({ "id": self.project }),
            )
            .await?;
        Ok(Some(format!(
            "token can read project `{}`",
            data.project.name
        )))
    }
}

/// `deploy = "git"` without a commit to wait for.
fn no_commit() -> ProviderError {
    ProviderError::Api {
        provider: PROVIDER,
        action: "find the deployment to wait for".to_owned(),
        message: "no commit is known, and with `deploy = \"git\"` shipgate waits for Railway's deployment of a commit".to_owned(),
        hint: Some("pass `--commit SHA`, or run where `GITHUB_SHA` is set or in the git checkout".to_owned()),
    }
}
