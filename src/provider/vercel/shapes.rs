//! The JSON shapes shipgate reads from Vercel's REST API, with only the
//! fields it uses (unknown fields are ignored, so new ones never break it).
//!
//! Field names follow Vercel's documented responses and the Vercel CLI's own
//! types (`internals/types/index.d.ts`, `packages/cli/src/util/deploy/
//! get-deployments-by-project-id.ts` in `vercel/vercel`). Turning them into
//! [`Release`]s lives here too, so `mod.rs` only sequences requests.

use serde::Deserialize;

use crate::provider::{Release, ReleaseState};

/// `GET /v6/deployments`: one page of deployments, newest first.
#[derive(Debug, Deserialize)]
pub(super) struct DeploymentPage {
    /// The deployments on this page.
    #[serde(default)]
    pub deployments: Vec<ListedDeployment>,
    /// Where the next page starts.
    #[serde(default)]
    pub pagination: Option<Pagination>,
}

/// `pagination` of a list answer.
#[derive(Debug, Deserialize)]
pub(super) struct Pagination {
    /// The `until` timestamp of the next page; `null` on the last page.
    #[serde(default)]
    pub next: Option<i64>,
}

/// One item of `GET /v6/deployments`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListedDeployment {
    /// The deployment id (`dpl_…`).
    pub uid: String,
    /// Host name without scheme; `null` while it is still uploading.
    #[serde(default)]
    pub url: Option<String>,
    /// `BUILDING`, `ERROR`, `INITIALIZING`, `QUEUED`, `READY`, `CANCELED`.
    #[serde(default)]
    pub state: Option<String>,
    /// The same, under its newer name.
    #[serde(default)]
    pub ready_state: Option<String>,
    /// Creation time, Unix milliseconds.
    #[serde(default)]
    pub created_at: Option<i64>,
    /// The same, under its older name (answers carry both).
    #[serde(default)]
    pub created: Option<i64>,
    /// Git metadata (`githubCommitSha`, …).
    #[serde(default)]
    pub meta: Option<Meta>,
    /// Whether Vercel offers it for Instant Rollback (it was production).
    #[serde(default)]
    pub is_rollback_candidate: Option<bool>,
}

/// `meta` of a deployment: string values set by the git integration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Meta {
    /// The commit the deployment was built from.
    #[serde(default)]
    pub github_commit_sha: Option<String>,
}

/// `GET /v13/deployments/{idOrUrl}`, and `targets.production` of a project.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Deployment {
    /// The deployment id (`dpl_…`).
    pub id: String,
    /// Host name without scheme.
    #[serde(default)]
    pub url: Option<String>,
    /// `QUEUED`, `BUILDING`, `READY`, `ERROR`, `CANCELED`, …
    #[serde(default)]
    pub ready_state: Option<String>,
    /// Creation time, Unix milliseconds.
    #[serde(default)]
    pub created_at: Option<i64>,
    /// Git metadata.
    #[serde(default)]
    pub meta: Option<Meta>,
    /// Why the build failed, in Vercel's words.
    #[serde(default)]
    pub error_message: Option<String>,
    /// Vercel's code for the failure.
    #[serde(default)]
    pub error_code: Option<String>,
    /// The dashboard page with the build logs.
    #[serde(default)]
    pub inspector_url: Option<String>,
    /// What it was built for: `production`, a custom environment's slug
    /// (`staging`), or `null` for a preview.
    #[serde(default)]
    pub target: Option<String>,
    /// The project it belongs to (`prj_…`).
    #[serde(default)]
    pub project_id: Option<String>,
}

/// `GET /v9/projects/{idOrName}` (with `rollbackInfo=true` for
/// `lastAliasRequest`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Project {
    /// The project id (`prj_…`), which the rollback and promote paths take.
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// What each target serves; `production` is the live deployment.
    #[serde(default)]
    pub targets: Option<Targets>,
    /// The last rollback or promotion and how far it got.
    #[serde(default)]
    pub last_alias_request: Option<LastAliasRequest>,
}

impl Project {
    /// The deployment the production domains point at, when Vercel says.
    pub(super) fn production(&self) -> Option<&Deployment> {
        self.targets.as_ref()?.production.as_ref()
    }
}

/// `targets` of a project.
#[derive(Debug, Deserialize)]
pub(super) struct Targets {
    /// The production deployment.
    #[serde(default)]
    pub production: Option<Deployment>,
}

/// `lastAliasRequest` of a project: the state of a rollback or promotion.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LastAliasRequest {
    /// The deployment production pointed at before.
    #[serde(default)]
    pub from_deployment_id: Option<String>,
    /// The deployment being made production.
    #[serde(default)]
    pub to_deployment_id: Option<String>,
    /// `pending`, `in-progress`, `succeeded`, `failed`, `skipped`.
    #[serde(default)]
    pub job_status: Option<String>,
    /// When it was requested, Unix milliseconds.
    #[serde(default)]
    pub requested_at: Option<i64>,
    /// `rollback` or `promote`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// `GET /v2/user`.
#[derive(Debug, Deserialize)]
pub(super) struct UserAnswer {
    /// The token's user.
    pub user: User,
}

/// `user` of `GET /v2/user`.
#[derive(Debug, Deserialize)]
pub(super) struct User {
    /// The account's username.
    #[serde(default)]
    pub username: Option<String>,
}

/// The Vercel state meaning "built and serving".
pub(super) const READY: &str = "READY";

/// Vercel states that end a deployment without serving.
pub(super) fn is_failed_state(state: &str) -> bool {
    matches!(state, "ERROR" | "CANCELED" | "DELETED")
}

/// `https://<host>`, or the URL as given when it has a scheme.
pub(super) fn https_url(host: &str) -> String {
    if host.starts_with("http://") || host.starts_with("https://") {
        host.to_owned()
    } else {
        format!("https://{host}")
    }
}

/// A release for a deployment: `Healthy` (a rollback target) when READY,
/// `Deployed` otherwise; recorded verdicts are applied by the caller.
fn release(
    id: &str,
    state: Option<&str>,
    created_at: Option<i64>,
    meta: Option<&Meta>,
    url: Option<&str>,
) -> Release {
    let deployed_at = created_at
        .and_then(|millis| jiff::Timestamp::from_millisecond(millis).ok())
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let health = if state == Some(READY) {
        ReleaseState::Healthy
    } else {
        ReleaseState::Deployed
    };
    Release {
        id: id.to_owned(),
        state: health,
        deployed_at,
        commit: meta.and_then(|meta| meta.github_commit_sha.clone()),
        url: url.map(https_url),
        platform_state: state.map(str::to_owned),
    }
}

impl ListedDeployment {
    /// Its state, under either name.
    pub(super) fn state(&self) -> Option<&str> {
        self.ready_state.as_deref().or(self.state.as_deref())
    }

    /// The commit it was built from.
    pub(super) fn commit(&self) -> Option<&str> {
        self.meta.as_ref()?.github_commit_sha.as_deref()
    }

    /// As a [`Release`].
    pub(super) fn to_release(&self) -> Release {
        release(
            &self.uid,
            self.state(),
            self.created_at.or(self.created),
            self.meta.as_ref(),
            self.url.as_deref(),
        )
    }
}

impl Deployment {
    /// As a [`Release`].
    pub(super) fn to_release(&self) -> Release {
        release(
            &self.id,
            self.ready_state.as_deref(),
            self.created_at,
            self.meta.as_ref(),
            self.url.as_deref(),
        )
    }

    /// `ended ERROR: <Vercel's message> (<code>)`.
    pub(super) fn failure(&self) -> String {
        let state = self.ready_state.as_deref().unwrap_or("in an unknown state");
        match (&self.error_message, &self.error_code) {
            (Some(message), Some(code)) => format!("ended {state}: {message} ({code})"),
            (Some(message), None) => format!("ended {state}: {message}"),
            (None, Some(code)) => format!("ended {state} ({code})"),
            (None, None) => format!("ended {state}"),
        }
    }
}
