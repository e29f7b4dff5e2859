//! The `vercel` provider: Vercel deployments through Vercel's REST API
//! (issue 12).
//!
//! A release is a Vercel production deployment (`dpl_…`). This file reads
//! history and the live deployment, checks the token, and sequences deploy
//! and rollback; the polling loops (a commit's deployment appearing and
//! becoming READY, a rollback or promotion finishing) live in `wait.rs`, and
//! the JSON shapes in `shapes.rs`. The HTTP rules (deadlines, retries, 429)
//! are the shared [`ApiClient`]'s. Which deployment to roll back to is
//! `rollback`'s decision; shipgate's own verdicts come from the
//! [`HealthRecord`].

mod promotion;
mod shapes;
#[cfg(test)]
mod tests;
mod wait;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use http::StatusCode;

use self::shapes::{DeploymentPage, Project, READY, UserAnswer};
use super::api::{Answer, ApiClient, RetryPolicy, platform_message};
use super::health::{HealthRecord, apply_verdicts};
use super::shell::ShellCommand;
use super::{DeploySpec, Provider, ProviderError, Release, ReleaseState};
use crate::config::{PlatformDeploy, VercelConfig};
use crate::github::deployments::GithubDeployments;
use crate::report::Printer;

/// The provider's name in config and messages.
const NAME: &str = "vercel";
/// How often a deployment or a rollback is polled in production use.
pub const POLL_INTERVAL: Duration = Duration::from_secs(5);
/// The most deployments one list request asks for (Vercel's maximum is 100).
const PAGE_LIMIT: usize = 100;
/// How many recent deployments are searched for a commit's deployment.
const COMMIT_SEARCH_LIMIT: usize = 20;
/// Clock skew allowed between this machine and Vercel when telling our
/// rollback request from an earlier one (3 minutes, as the Vercel CLI does).
const CLOCK_SKEW_MS: i64 = 3 * 60 * 1000;

/// Vercel deployments of one project, deployed from git or by a command and
/// rolled back with Instant Rollback.
#[derive(Debug)]
pub struct VercelProvider {
    client: Result<ApiClient, BrokenClient>,
    project: String,
    deploy: PlatformDeploy,
    ready_within: Duration,
    poll_interval: Duration,
    health: Box<dyn HealthRecord>,
    base_dir: PathBuf,
    printer: Option<Printer>,
    /// `isRollbackCandidate` of each deployment `history` saw: whether it was
    /// production before (roll back to it) or never was (promote it).
    rollback_candidates: Mutex<HashMap<String, bool>>,
    /// Deployments are staged production builds: never made production here.
    staged: bool,
    /// With `deploy = "promote"`: the GitHub Deployments of the environment
    /// promoted from, which say which deployment passed there.
    promotion_source: Option<GithubDeployments>,
    /// The deployment `preflight` found to promote.
    promotion: Mutex<Option<shapes::Deployment>>,
}

/// Why the API client could not be built (a token that is not a valid header
/// value); reported by every operation, so `from_config` stays infallible.
#[derive(Debug, Clone)]
struct BrokenClient {
    message: String,
    hint: Option<String>,
}

impl VercelProvider {
    /// A provider for `config` keeping verdicts in `health`; deploy commands
    /// run in `base_dir`, progress goes to `printer`, and deployments and
    /// rollbacks are polled every `poll_interval` (tests shorten it).
    pub fn new(
        config: &VercelConfig,
        health: Box<dyn HealthRecord>,
        base_dir: PathBuf,
        printer: Option<Printer>,
        poll_interval: Duration,
    ) -> Self {
        let bearer = format!("Bearer {}", config.token.value);
        let client = ApiClient::new(
            NAME,
            &config.api_url,
            (http::header::AUTHORIZATION, &bearer),
            &config.token.variable,
            RetryPolicy::default(),
        )
        .map(|client| match &config.team {
            Some(team) => client.with_query("teamId", team),
            None => client,
        })
        .map_err(|error| match error {
            ProviderError::Api { message, hint, .. } => BrokenClient { message, hint },
            other => BrokenClient {
                message: other.to_string(),
                hint: None,
            },
        });
        Self {
            client,
            project: config.project.clone(),
            deploy: config.deploy.clone(),
            ready_within: config.ready_within,
            poll_interval,
            health,
            base_dir,
            printer,
            rollback_candidates: Mutex::new(HashMap::new()),
            staged: config.staged,
            promotion_source: None,
            promotion: Mutex::new(None),
        }
    }

    /// With `deploy = "promote"`: where to read which deployment passed in
    /// the environment promoted from (`None` outside GitHub: promotion then
    /// refuses, saying why).
    #[must_use]
    pub fn with_promotion_source(mut self, trail: Option<GithubDeployments>) -> Self {
        self.promotion_source = trail;
        self
    }

    fn client(&self) -> Result<&ApiClient, ProviderError> {
        self.client.as_ref().map_err(|broken| ProviderError::Api {
            provider: NAME,
            action: "prepare the API client".to_owned(),
            message: broken.message.clone(),
            hint: broken.hint.clone(),
        })
    }

    fn progress(&self, message: &str) {
        if let Some(printer) = &self.printer {
            printer.progress(&format!("{NAME}: {message}"));
        }
    }

    /// `GET path`, refusing any status but 200.
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        action: &str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, ProviderError> {
        let client = self.client()?;
        let answer = client.get(action, path, query).await?;
        if answer.status != StatusCode::OK {
            return Err(client.refusal(action, &answer));
        }
        parse(action, &answer)
    }

    /// The project, with `lastAliasRequest` when `rollback_info`.
    async fn project(&self, rollback_info: bool) -> Result<Project, ProviderError> {
        let query = if rollback_info {
            vec![("rollbackInfo", "true".to_owned())]
        } else {
            Vec::new()
        };
        self.get_json(
            &format!("read project `{}`", self.project),
            &format!("/v9/projects/{}", self.project),
            &query,
        )
        .await
    }

    /// One page of the project's production deployments, newest first.
    async fn deployments(
        &self,
        limit: usize,
        until: Option<i64>,
        filter: &[(&str, String)],
    ) -> Result<DeploymentPage, ProviderError> {
        let mut query = vec![
            ("projectId", self.project.clone()),
            ("target", "production".to_owned()),
            ("limit", limit.to_string()),
        ];
        query.extend(filter.iter().cloned());
        if let Some(until) = until {
            query.push(("until", until.to_string()));
        }
        self.get_json("list deployments", "/v6/deployments", &query)
            .await
    }

    /// `GET /v13/deployments/{idOrUrl}`.
    async fn deployment(&self, id_or_host: &str) -> Result<shapes::Deployment, ProviderError> {
        self.get_json(
            &format!("read deployment `{id_or_host}`"),
            &format!("/v13/deployments/{id_or_host}"),
            &[],
        )
        .await
    }

    /// Releases with shipgate's recorded verdicts applied.
    async fn with_verdicts(
        &self,
        mut releases: Vec<Release>,
    ) -> Result<Vec<Release>, ProviderError> {
        let verdicts = self.health.verdicts().await?;
        apply_verdicts(&mut releases, &verdicts);
        Ok(releases)
    }

    /// Makes `id` production (rollback for a former production deployment,
    /// promote otherwise), waits for Vercel to finish, and proves it by
    /// reading the project's production deployment again.
    async fn make_production(&self, id: &str, rollback: bool) -> Result<(), ProviderError> {
        let project = self.project(false).await?;
        let (kind, path) = if rollback {
            (
                "rollback",
                format!("/v9/projects/{}/rollback/{id}", project.id),
            )
        } else {
            (
                "promote",
                format!("/v10/projects/{}/promote/{id}", project.id),
            )
        };
        let action = format!("{kind} `{}` to `{id}`", self.project);
        self.progress(&format!(
            "requesting a {kind} of `{}` to `{id}`",
            self.project
        ));
        let client = self.client()?;
        let requested_since = jiff::Timestamp::now().as_millisecond() - CLOCK_SKEW_MS;
        let answer = client
            .post(&action, &path, &[], &serde_json::json!({}))
            .await?;
        if !answer.status.is_success() {
            return Err(refused_alias(client, &action, &answer, id));
        }
        let deadline = tokio::time::Instant::now() + self.ready_within;
        self.wait_for_alias(id, kind, requested_since, deadline)
            .await?;
        let proof = self.project(false).await?;
        match proof.production().map(|deployment| deployment.id.as_str()) {
            Some(live) if live == id => Ok(()),
            live => Err(ProviderError::Api {
                provider: NAME,
                action,
                message: format!(
                    "Vercel reported the {kind} done, but production serves `{}`",
                    live.unwrap_or("nothing")
                ),
                hint: Some(format!(
                    "check the project's production deployment on the Vercel dashboard, then run `shipgate rollback --to {id}` again"
                )),
            }),
        }
    }

    /// Whether `id` was production before: `isRollbackCandidate` as
    /// `history` saw it (unknown counts as yes: a rollback target is chosen
    /// from READY production deployments).
    fn was_production(&self, id: &str) -> bool {
        self.rollback_candidates
            .lock()
            .map_or(true, |known| known.get(id).copied().unwrap_or(true))
    }
}

#[async_trait::async_trait]
impl Provider for VercelProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    /// The live deployment is read from the project's `targets.production`:
    /// that is what the production domains point at after a rollback or a
    /// promotion, which "the newest READY production deployment" is not
    /// (after a rollback the newest is the one rolled back from, and with
    /// staged production the newest may never have been promoted). Only when
    /// the project names none does this fall back to the newest READY one.
    async fn current(&self) -> Result<Option<Release>, ProviderError> {
        if self.staged {
            // Staged builds never serve the production domains.
            return Ok(None);
        }
        let project = self.project(false).await?;
        let release = match project.production() {
            Some(deployment) => Some(deployment.to_release()),
            None => self
                .deployments(1, None, &[("state", READY.to_owned())])
                .await?
                .deployments
                .first()
                .map(shapes::ListedDeployment::to_release),
        };
        Ok(self
            .with_verdicts(release.into_iter().collect())
            .await?
            .into_iter()
            .next())
    }

    async fn history(&self, limit: usize) -> Result<Vec<Release>, ProviderError> {
        if self.staged {
            // Nothing to roll back to: production never served these.
            return Ok(Vec::new());
        }
        let mut listed = Vec::new();
        let mut until = None;
        while listed.len() < limit {
            let page = self
                .deployments(PAGE_LIMIT.min(limit - listed.len()), until, &[])
                .await?;
            let next = page.pagination.and_then(|pagination| pagination.next);
            let empty = page.deployments.is_empty();
            listed.extend(page.deployments);
            match next {
                Some(next) if !empty && Some(next) != until => until = Some(next),
                _ => break,
            }
        }
        listed.truncate(limit);
        if let Ok(mut known) = self.rollback_candidates.lock() {
            for deployment in &listed {
                if let Some(candidate) = deployment.is_rollback_candidate {
                    known.insert(deployment.uid.clone(), candidate);
                }
            }
        }
        let releases = listed
            .iter()
            .map(shapes::ListedDeployment::to_release)
            .collect();
        self.with_verdicts(releases).await
    }

    async fn preflight(&self, spec: &DeploySpec) -> Result<(), ProviderError> {
        match (&self.deploy, spec.commit.as_deref()) {
            (PlatformDeploy::Git | PlatformDeploy::Promote { .. }, None) => {
                Err(ProviderError::NoCommit { provider: NAME })
            }
            // Before anything changes: what passed there, and can be promoted.
            (PlatformDeploy::Promote { from }, Some(commit)) => {
                let candidate = self.promotion_candidate(from, commit).await?;
                self.progress(&format!(
                    "`{}` passed in `{from}`; it will be promoted",
                    candidate.id
                ));
                if let Ok(mut promotion) = self.promotion.lock() {
                    *promotion = Some(candidate);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    async fn deploy(&self, spec: &DeploySpec) -> Result<Release, ProviderError> {
        let deadline = tokio::time::Instant::now() + self.ready_within;
        let id = match &self.deploy {
            PlatformDeploy::Git => {
                let commit = spec
                    .commit
                    .as_deref()
                    .ok_or(ProviderError::NoCommit { provider: NAME })?;
                self.wait_for_commit(commit, deadline).await?
            }
            PlatformDeploy::Command { run, timeout } => {
                let command = ShellCommand {
                    role: "deploy",
                    template: run.clone(),
                    directory: self.base_dir.clone(),
                    timeout: *timeout,
                };
                let captured = command.run(Some(&spec.id), spec.commit.as_deref()).await?;
                let Some(host) = deployment_host(&captured.stdout) else {
                    return Err(command.error(
                        "printed no deployment URL (`https://…`) on stdout".to_owned(),
                        captured.stdout.trim().to_owned(),
                    ));
                };
                self.progress(&format!("the deploy command created `https://{host}`"));
                self.deployment(&host).await?.id
            }
            PlatformDeploy::Promote { from } => return self.promote_verified(from, spec).await,
        };
        let ready = self.wait_until_ready(&id, deadline).await?;
        if !self.staged {
            let live = self.project(false).await?;
            if live.production().map(|deployment| deployment.id.as_str()) != Some(id.as_str()) {
                // Production domains are not auto-assigned in this project.
                self.make_production(&id, false).await?;
            }
        }
        let mut release = ready.to_release();
        release.state = ReleaseState::Deployed;
        Ok(release)
    }

    fn serves_traffic(&self) -> bool {
        !self.staged
    }

    async fn promote(&self, release: &Release) -> Result<(), ProviderError> {
        self.make_production(&release.id, self.was_production(&release.id))
            .await
    }

    async fn record(&self, release: &Release, state: ReleaseState) -> Result<(), ProviderError> {
        self.health.record(release, state).await
    }

    async fn record_failure(&self, release: &Release, reason: &str) -> Result<(), ProviderError> {
        self.health.record_failure(release, reason).await
    }

    async fn verify_access(&self) -> Result<Option<String>, ProviderError> {
        let user: UserAnswer = self
            .get_json("read the token's user", "/v2/user", &[])
            .await?;
        let project = self.project(false).await?;
        Ok(Some(format!(
            "token of `{}` can read project `{}`",
            user.user.username.as_deref().unwrap_or("(unnamed user)"),
            project.name.as_deref().unwrap_or(&project.id)
        )))
    }
}

impl VercelProvider {
    /// `deploy = "promote"`: promotes the deployment `preflight` found (or
    /// finds it now), and proves production serves it.
    async fn promote_verified(
        &self,
        from: &str,
        spec: &DeploySpec,
    ) -> Result<Release, ProviderError> {
        let commit = spec
            .commit
            .as_deref()
            .ok_or(ProviderError::NoCommit { provider: NAME })?;
        let found = self
            .promotion
            .lock()
            .ok()
            .and_then(|mut promotion| promotion.take());
        let candidate = match found {
            Some(candidate) => candidate,
            None => self.promotion_candidate(from, commit).await?,
        };
        self.make_production(&candidate.id, false).await?;
        let mut release = candidate.to_release();
        release.state = ReleaseState::Deployed;
        Ok(release)
    }
}

/// The body as `T`, or an error quoting it.
fn parse<T: serde::de::DeserializeOwned>(
    action: &str,
    answer: &Answer,
) -> Result<T, ProviderError> {
    serde_json::from_str(&answer.text).map_err(|error| ProviderError::Api {
        provider: NAME,
        action: action.to_owned(),
        message: format!(
            "unexpected answer ({error}): {}",
            platform_message(&answer.text)
        ),
        hint: Some("check that `api_url` points at Vercel's REST API".to_owned()),
    })
}

/// The error for a refused rollback or promotion: Vercel's code and message,
/// and what to do (on the Hobby plan only the immediately previous
/// production deployment can be restored).
fn refused_alias(client: &ApiClient, action: &str, answer: &Answer, id: &str) -> ProviderError {
    if answer.status == StatusCode::UNAUTHORIZED {
        return client.refusal(action, answer);
    }
    ProviderError::Api {
        provider: NAME,
        action: action.to_owned(),
        message: format!("HTTP {}: {}", answer.status, platform_message(&answer.text)),
        hint: Some(format!(
            "on the Hobby plan Vercel restores only the immediately previous production deployment: upgrade the team to Pro, or roll back to that one with `shipgate rollback --to DEPLOYMENT_ID` (`vercel ls --prod` lists them); check too that the token can manage the project and that `{id}` is a production deployment"
        )),
    }
}

/// The host of the last `https://` URL a deploy command printed (the Vercel
/// CLI prints the deployment URL on stdout).
fn deployment_host(stdout: &str) -> Option<String> {
    stdout
        .split_whitespace()
        .filter_map(|word| word.strip_prefix("https://"))
        .filter_map(|rest| rest.split('/').next())
        .rfind(|host| !host.is_empty())
        .map(str::to_owned)
}
