//! The GraphQL documents shipgate sends to Railway's public API and the
//! shapes of their answers; sending them is `client.rs`'s job.
//!
//! Every document uses only fields and arguments of Railway's published
//! schema (checked against `src/gql/schema.json` of `railwayapp/cli` at
//! 5.43.1, whose own `Deployments.graphql`, `DeploymentStatus.graphql` and
//! `DeploymentRedeploy.graphql` have the same shape):
//!
//! - `deployments(input: DeploymentListInput!, first: Int)`: a connection of
//!   `Deployment { id: ID!, status: DeploymentStatus!, createdAt: DateTime!,
//!   canRollback: Boolean!, canRedeploy: Boolean!, meta: DeploymentMeta,
//!   url: String, staticUrl: String }`, newest first; `meta` is a JSON scalar.
//! - `deployment(id: String!): Deployment!`.
//! - `deploymentRollback(id: String!): Boolean!` (a scalar: no selection).
//! - `deploymentRedeploy(id: String!, usePreviousImageTag: Boolean): Deployment!`.
//! - `project(id: String!): Project!` with `id` and `name`.

use serde::Deserialize;

/// Lists a service's deployments in one environment, newest first.
///
/// Variables: `input: { projectId, environmentId, serviceId }`, `first`.
pub(super) const DEPLOYMENTS: &str =
    "query Deployments($input: DeploymentListInput!, $first: Int) {
  deployments(input: $input, first: $first) {
    edges {
      node {
        id
        status
        createdAt
        canRollback
        canRedeploy
        meta
        url
        staticUrl
      }
    }
  }
}";

/// Reads one deployment's status. Variables: `id`.
pub(super) const DEPLOYMENT_STATUS: &str = "query DeploymentStatus($id: String!) {
  deployment(id: $id) {
    id
    status
  }
}";

/// Rolls a service back to a kept deployment's image; answers a Boolean, so
/// the deployment it creates is found by listing again. Variables: `id`.
pub(super) const DEPLOYMENT_ROLLBACK: &str = "mutation DeploymentRollback($id: String!) {
  deploymentRollback(id: $id)
}";

/// Builds and deploys an old deployment's source again; answers the new
/// deployment. Variables: `id`.
pub(super) const DEPLOYMENT_REDEPLOY: &str = "mutation DeploymentRedeploy($id: String!) {
  deploymentRedeploy(id: $id) {
    id
    status
  }
}";

/// Reads the project: the token check, valid for account and project tokens
/// (a project token cannot query `me`). Variables: `id`.
pub(super) const PROJECT: &str = "query Project($id: String!) {
  project(id: $id) {
    id
    name
  }
}";

/// `data` of [`DEPLOYMENTS`].
#[derive(Debug, Deserialize)]
pub(super) struct DeploymentsData {
    pub(super) deployments: Connection,
}

/// A Relay connection of deployments.
#[derive(Debug, Deserialize)]
pub(super) struct Connection {
    pub(super) edges: Vec<Edge>,
}

/// One edge of a [`Connection`].
#[derive(Debug, Deserialize)]
pub(super) struct Edge {
    pub(super) node: Deployment,
}

/// One deployment as [`DEPLOYMENTS`] selects it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Deployment {
    pub(super) id: String,
    /// `DeploymentStatus`: `SUCCESS`, `FAILED`, `CRASHED`, `REMOVED`, `BUILDING`, …
    /// Kept as text so a status added to the schema later is still read.
    pub(super) status: String,
    pub(super) created_at: jiff::Timestamp,
    pub(super) can_rollback: bool,
    pub(super) can_redeploy: bool,
    /// The `DeploymentMeta` JSON scalar (`commitHash`, `branch`, `repo`, …).
    #[serde(default)]
    pub(super) meta: Option<serde_json::Value>,
    #[serde(default)]
    pub(super) url: Option<String>,
    #[serde(default)]
    pub(super) static_url: Option<String>,
}

impl Deployment {
    /// The git commit it was built from (`meta.commitHash`), when Railway
    /// knows it (a `railway up` upload has none).
    pub(super) fn commit(&self) -> Option<&str> {
        self.meta
            .as_ref()?
            .get("commitHash")?
            .as_str()
            .filter(|hash| !hash.is_empty())
    }

    /// Where it is served: `https://<staticUrl>`, else `url`.
    pub(super) fn public_url(&self) -> Option<String> {
        let with_scheme = |host: &str| {
            if host.starts_with("http://") || host.starts_with("https://") {
                host.to_owned()
            } else {
                format!("https://{host}")
            }
        };
        self.static_url
            .as_deref()
            .or(self.url.as_deref())
            .filter(|host| !host.is_empty())
            .map(with_scheme)
    }

    /// Whether it ended in a way that makes it never a rollback target.
    pub(super) fn ever_failed(&self) -> bool {
        is_failure(&self.status)
    }
}

/// `data` of [`DEPLOYMENT_STATUS`].
#[derive(Debug, Deserialize)]
pub(super) struct DeploymentStatusData {
    pub(super) deployment: DeploymentStatus,
}

/// A deployment's id and status.
#[derive(Debug, Deserialize)]
pub(super) struct DeploymentStatus {
    pub(super) id: String,
    pub(super) status: String,
}

/// `data` of [`DEPLOYMENT_ROLLBACK`].
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RollbackData {
    pub(super) deployment_rollback: bool,
}

/// `data` of [`DEPLOYMENT_REDEPLOY`].
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RedeployData {
    pub(super) deployment_redeploy: DeploymentStatus,
}

/// `data` of [`PROJECT`].
#[derive(Debug, Deserialize)]
pub(super) struct ProjectData {
    pub(super) project: Project,
}

/// A project's name (its `id` is selected too, and ignored).
#[derive(Debug, Deserialize)]
pub(super) struct Project {
    pub(super) name: String,
}

/// The status of a live deployment.
pub(super) const SUCCESS: &str = "SUCCESS";

/// A status that means the deployment failed to build, deploy or run.
pub(super) fn is_failure(status: &str) -> bool {
    matches!(status, "FAILED" | "CRASHED")
}

/// A status after which a deployment being waited for will never become
/// live: it failed, or was removed or skipped before it got there.
pub(super) fn is_dead_end(status: &str) -> bool {
    is_failure(status) || matches!(status, "REMOVED" | "REMOVING" | "SKIPPED")
}
