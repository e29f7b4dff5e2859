//! GitHub Deployments: the durable trail of what shipgate deployed to an
//! environment and how it went (issue 14, "GitHub Deployments").
//!
//! REST: `POST /repos/{owner}/{repo}/deployments`,
//! `POST /repos/{owner}/{repo}/deployments/{deployment_id}/statuses`,
//! `GET /repos/{owner}/{repo}/deployments?environment=…` and
//! `GET /repos/{owner}/{repo}/deployments/{deployment_id}/statuses`.
//! This file owns those calls and their JSON; what a status means for a
//! rollback target is `provider::health`'s business.
//!
//! Only deployments whose payload carries `"shipgate": true` are shipgate's:
//! the others (made by Vercel's own integration, say) are never read as
//! verdicts nor marked inactive.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{GithubClient, GithubEnv, GithubError, MAX_PAGES, PER_PAGE, RetryPolicy};
use crate::config::DeploymentSettings;
use crate::env;

/// GitHub's limit on a deployment status's `description`.
pub const DESCRIPTION_LIMIT: usize = 140;
/// Deployments of an environment whose statuses are read for verdicts.
const DEPLOYMENTS_READ: usize = 30;

/// A deployment status's `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentState {
    /// Being deployed or verified.
    InProgress,
    /// Deployed and verified.
    Success,
    /// Failed its checks.
    Failure,
    /// Could not be deployed.
    Error,
    /// Replaced by a later deployment.
    Inactive,
    /// Any state shipgate does not write (`queued`, `pending`).
    #[serde(other)]
    Other,
}

/// One migration in a deployment's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadMigration {
    /// Its version.
    pub version: String,
    /// `additive`, `destructive`, `locking`, or `unknown`.
    pub class: String,
}

/// What shipgate puts in a deployment's `payload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentPayload {
    /// Always `true`: marks the deployments shipgate created.
    pub shipgate: bool,
    /// The provider's name, e.g. `vercel`.
    pub provider: String,
    /// The provider's release id.
    pub release: String,
    /// Where the release is served, when known.
    pub url: Option<String>,
    /// The migrations the deploying run applied.
    pub migrations: Vec<PayloadMigration>,
    /// The backup taken before them, when any.
    pub backup: Option<String>,
}

/// A deployment as GitHub returns it.
#[derive(Debug, Clone, Deserialize)]
pub struct Deployment {
    /// Its id.
    pub id: u64,
    /// The commit.
    pub sha: String,
    /// The environment.
    pub environment: String,
    /// The payload (any JSON; shipgate's is a [`DeploymentPayload`]).
    #[serde(default)]
    pub payload: serde_json::Value,
    /// When it was created.
    pub created_at: String,
}

impl Deployment {
    /// Its payload when shipgate created it.
    pub fn shipgate_payload(&self) -> Option<DeploymentPayload> {
        serde_json::from_value::<DeploymentPayload>(self.payload.clone())
            .ok()
            .filter(|payload| payload.shipgate)
    }
}

/// A deployment status as GitHub returns it.
#[derive(Debug, Clone, Deserialize)]
pub struct DeploymentStatus {
    /// Its id.
    pub id: u64,
    /// The state.
    pub state: DeploymentState,
    /// Its line of text.
    #[serde(default)]
    pub description: Option<String>,
    /// The run that wrote it.
    #[serde(default)]
    pub log_url: Option<String>,
    /// When it was written.
    pub created_at: String,
}

/// The deployment to create.
#[derive(Debug, Clone)]
pub struct NewDeployment<'a> {
    /// The commit.
    pub commit: &'a str,
    /// One line for people.
    pub description: String,
    /// The payload.
    pub payload: &'a DeploymentPayload,
}

/// The status to write.
#[derive(Debug, Clone)]
pub struct NewStatus<'a> {
    /// Its state.
    pub state: DeploymentState,
    /// One line (cut to 140 characters).
    pub description: &'a str,
    /// Where the release is served.
    pub environment_url: Option<&'a str>,
}

/// Deployments of one environment of one repository.
#[derive(Debug, Clone)]
pub struct GithubDeployments {
    client: GithubClient,
    environment: String,
    settings: DeploymentSettings,
    run_url: Option<String>,
}

impl GithubDeployments {
    /// The trail for `environment`, or `None` when the environment has no
    /// token or no repository (not running in Actions: nothing to record).
    pub fn from_env(
        github: &GithubEnv,
        lookup: &dyn Fn(&str) -> Option<String>,
        environment: &str,
        retry: RetryPolicy,
    ) -> Result<Option<Self>, GithubError> {
        if github.token.is_none() || github.repository.is_none() {
            return Ok(None);
        }
        let client = GithubClient::new(github, retry)?;
        let run_url = match (
            lookup(env::GITHUB_SERVER_URL).filter(|url| !url.is_empty()),
            lookup(env::GITHUB_RUN_ID).filter(|id| !id.is_empty()),
        ) {
            (Some(server), Some(run)) => Some(format!(
                "{}/{}/actions/runs/{run}",
                server.trim_end_matches('/'),
                client.repository()
            )),
            _ => None,
        };
        Ok(Some(Self {
            client,
            environment: environment.to_owned(),
            settings: DeploymentSettings::for_environment(environment),
            run_url,
        }))
    }

    /// The same trail creating deployments with `settings` (the config's
    /// `[environments.NAME.deployments]`).
    #[must_use]
    pub fn with_settings(mut self, settings: DeploymentSettings) -> Self {
        self.settings = settings;
        self
    }

    /// The environment's name.
    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// The run URL statuses link as their log.
    pub fn run_url(&self) -> Option<&str> {
        self.run_url.as_deref()
    }

    /// `POST /repos/{o}/{r}/deployments`; returns the new deployment.
    pub async fn create(&self, new: &NewDeployment<'_>) -> Result<Deployment, GithubError> {
        let path = format!("/repos/{}/deployments", self.client.repository());
        let body = json!({
            "ref": new.commit,
            "environment": self.environment,
            "description": truncate(&new.description),
            "payload": new.payload,
            "auto_merge": false,
            "required_contexts": self.settings.required_contexts,
            "production_environment": self.settings.production,
            "transient_environment": self.settings.transient,
        });
        self.client.post(&path, &body).await
    }

    /// `POST /repos/{o}/{r}/deployments/{id}/statuses`.
    pub async fn set_status(
        &self,
        deployment: u64,
        status: &NewStatus<'_>,
    ) -> Result<DeploymentStatus, GithubError> {
        let path = format!(
            "/repos/{}/deployments/{deployment}/statuses",
            self.client.repository()
        );
        let mut body = json!({
            "state": status.state,
            "description": truncate(status.description),
            "auto_inactive": false,
        });
        if let Some(url) = status.environment_url {
            body["environment_url"] = json!(url);
        }
        if let Some(url) = &self.run_url {
            body["log_url"] = json!(url);
        }
        self.client.post(&path, &body).await
    }

    /// The environment's deployments, newest first (paginated).
    pub async fn list(&self) -> Result<Vec<Deployment>, GithubError> {
        let environment: String =
            url::form_urlencoded::byte_serialize(self.environment.as_bytes()).collect();
        let mut deployments = Vec::new();
        for page in 1..=MAX_PAGES {
            let path = format!(
                "/repos/{}/deployments?environment={environment}&per_page={PER_PAGE}&page={page}",
                self.client.repository()
            );
            let batch: Vec<Deployment> = self.client.get(&path).await?;
            let done = batch.len() < PER_PAGE as usize;
            deployments.extend(batch);
            if done {
                break;
            }
        }
        Ok(deployments)
    }

    /// A deployment's statuses, newest first (paginated).
    pub async fn statuses(&self, deployment: u64) -> Result<Vec<DeploymentStatus>, GithubError> {
        let mut statuses = Vec::new();
        for page in 1..=MAX_PAGES {
            let path = format!(
                "/repos/{}/deployments/{deployment}/statuses?per_page={PER_PAGE}&page={page}",
                self.client.repository()
            );
            let batch: Vec<DeploymentStatus> = self.client.get(&path).await?;
            let done = batch.len() < PER_PAGE as usize;
            statuses.extend(batch);
            if done {
                break;
            }
        }
        Ok(statuses)
    }

    /// shipgate's deployments of the environment, newest first (at most 30),
    /// each with its payload and latest status.
    pub async fn latest(
        &self,
    ) -> Result<Vec<(Deployment, DeploymentPayload, Option<DeploymentStatus>)>, GithubError> {
        let mut latest = Vec::new();
        for deployment in self.list().await? {
            if latest.len() >= DEPLOYMENTS_READ {
                break;
            }
            let Some(payload) = deployment.shipgate_payload() else {
                continue;
            };
            let status = self.statuses(deployment.id).await?.into_iter().next();
            latest.push((deployment, payload, status));
        }
        Ok(latest)
    }
}

/// `text` cut to GitHub's 140 characters, with `…` when cut.
fn truncate(text: &str) -> String {
    if text.chars().count() <= DESCRIPTION_LIMIT {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(DESCRIPTION_LIMIT - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests;
mod verification;

pub use verification::Verification;
