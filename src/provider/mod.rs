//! Providers: what serves traffic, how a release is deployed, and how an older
//! one is promoted back.
//!
//! [`Provider`] is the seam every hosting target implements; this build has
//! the `releases` provider (directory releases with an atomic `current`
//! symlink; its ledger, tree copy and restart hook live in `ledger.rs`,
//! `tree.rs` and `restart.rs`), the `vercel` and `railway` providers
//! (`vercel/`, `railway/`, over `api.rs`), and the `command` provider (user
//! commands, `command.rs`, run through `shell.rs`). Deciding *which* release
//! to roll back to is `rollback`'s job.

pub mod api;
mod command;
pub mod health;
mod ledger;
pub mod railway;
mod releases;
mod restart;
pub mod shell;
mod tree;
pub mod vercel;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use command::CommandProvider;
pub use railway::RailwayProvider;
pub use releases::ReleasesProvider;
pub use vercel::VercelProvider;

use crate::config::{Config, ProviderConfig};
use crate::diagnostic::Diagnostic;
use crate::exit::ExitStatus;
use crate::report::Printer;

/// What shipgate knows of a release's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReleaseState {
    /// Deployed; not verified yet.
    Deployed,
    /// Passed its smoke suite: a valid rollback target.
    Healthy,
    /// Failed a check after deploying: never a rollback target.
    Failed,
}

/// One deployed version of the app: a release directory, or a platform
/// deployment (Vercel, Railway) with the commit it was built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// Provider-unique id (`v42`, a short SHA, `dpl_…`, a Railway deployment id).
    pub id: String,
    /// Its health as a rollback target: recorded by shipgate, or derived
    /// from the platform's state where shipgate recorded nothing.
    pub state: ReleaseState,
    /// When it was deployed.
    pub deployed_at: jiff::Timestamp,
    /// The git commit it was built from, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Where it is served, when the platform says (`https://app-abc.vercel.app`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The platform's own word for its state (`READY`, `REMOVED`), shown when
    /// it is refused as a rollback target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_state: Option<String>,
}

impl Release {
    /// A release with no commit, URL or platform state.
    pub fn new(id: impl Into<String>, state: ReleaseState, deployed_at: jiff::Timestamp) -> Self {
        Self {
            id: id.into(),
            state,
            deployed_at,
            commit: None,
            url: None,
            platform_state: None,
        }
    }
}

/// What to deploy.
#[derive(Debug, Clone)]
pub struct DeploySpec {
    /// The new release's id (`releases`, `command`); platforms assign their own.
    pub id: String,
    /// Directory with the built release (`releases` only).
    pub source: Option<PathBuf>,
    /// The commit being deployed: `--commit`, else `GITHUB_SHA`, else the
    /// checkout's `HEAD`. Platforms deploying from git wait for its build.
    pub commit: Option<String>,
}

/// Why a provider operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// `deploy` was asked of an environment without a provider.
    #[error(
        "environment `{environment}` has no provider, so shipgate cannot deploy or roll back its app"
    )]
    NoProvider {
        /// The environment.
        environment: String,
    },
    /// No `--source` and no configured `source`.
    #[error("no release source: pass `--source DIR` or set `source` in the provider's config")]
    NoSource,
    /// A provider that deploys from git was given no commit to wait for.
    #[error(
        "{provider} deploys from git, so shipgate needs the commit to wait for, and none was given"
    )]
    NoCommit {
        /// `vercel`, `railway`.
        provider: &'static str,
    },
    /// A rollback was asked of an environment whose releases serve no
    /// traffic (staged builds another environment promotes).
    #[error(
        "environment `{environment}` deploys staged builds that serve no traffic, so there is nothing to roll back"
    )]
    NothingServed {
        /// The environment.
        environment: String,
    },
    /// `deploy = "promote"` found nothing it may promote: the commit did
    /// not pass in the environment promoted from, or what passed there
    /// cannot be promoted as it is.
    #[error("could not {action}: {message}")]
    NotPromotable {
        /// What was being done, e.g. ``promote `dpl_1` from `staging` ``.
        action: String,
        /// What is missing or wrong.
        message: String,
        /// What to do.
        hint: String,
        /// Whether the record to read is missing (no GitHub): a usage
        /// error, not a failed check.
        no_record: bool,
    },
    /// A filesystem operation on the releases tree failed.
    #[error("failed to {action} `{}`", path.display())]
    Io {
        /// What was being done, e.g. `copy the release to`.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The release id is already deployed.
    #[error("release `{id}` already exists in `{}`", root.display())]
    ReleaseExists {
        /// The id.
        id: String,
        /// The releases root.
        root: PathBuf,
    },
    /// The release id is not known.
    #[error("release `{id}` does not exist in `{}`", root.display())]
    UnknownRelease {
        /// The id.
        id: String,
        /// The releases root.
        root: PathBuf,
        /// The ids that do exist, newest first.
        known: Vec<String>,
    },
    /// The id cannot be a directory name.
    #[error(
        "invalid release id `{id}`: use 1 to 128 ASCII letters, digits, `.`, `_` and `-`, not starting with `.`"
    )]
    InvalidId {
        /// The id.
        id: String,
    },
    /// The `restart` command failed or timed out.
    #[error("the restart command `{command}` {failure}")]
    Restart {
        /// The command.
        command: String,
        /// `exited with status 1`, `timed out after 60s`, …
        failure: String,
        /// Its output, for the report.
        output: String,
    },
    /// The release source is missing or not a directory.
    #[error("the release source `{}` is not a directory", path.display())]
    MissingSource {
        /// The source as configured or passed.
        path: PathBuf,
    },
    /// The release source contains the releases root, so copying it would copy
    /// the releases into themselves.
    #[error("the release source `{}` contains the releases root `{}`", path.display(), root.display())]
    SourceContainsRoot {
        /// The source.
        path: PathBuf,
        /// The releases root.
        root: PathBuf,
    },
    /// `current` points at a release directory that does not exist.
    #[error("`{}` points at `{}`, which is not a release directory", link.display(), target.display())]
    BrokenCurrent {
        /// The `current` link.
        link: PathBuf,
        /// Where it points.
        target: PathBuf,
    },
    /// A blocking filesystem task panicked or was cancelled: a bug.
    #[error(
        "internal error while the releases provider tried to {action}: {detail}; this is a bug in shipgate"
    )]
    Internal {
        /// What was being done.
        action: &'static str,
        /// The panic message or cancellation.
        detail: String,
    },
    /// The health record beside the run state could not be read.
    #[error("the health record `{}` is unreadable", path.display())]
    HealthRecord {
        /// The record file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The platform refused the token (HTTP 401/403).
    #[error("{provider} refused the token from `${variable}` ({status}) while trying to {action}")]
    Unauthorized {
        /// `vercel`, `railway`.
        provider: &'static str,
        /// The environment variable the token came from (never the token).
        variable: String,
        /// HTTP status, e.g. `403 Forbidden`.
        status: String,
        /// What was being done.
        action: String,
    },
    /// A platform API call failed: unreachable, timed out, an error status or
    /// a GraphQL `errors` array.
    #[error("{provider} could not {action}: {message}")]
    Api {
        /// `vercel`, `railway`, `command`.
        provider: &'static str,
        /// What was being done, e.g. `list deployments`.
        action: String,
        /// The platform's own message (code and text where it gives them).
        message: String,
        /// What to do about it, when known (plan limits, missing scopes).
        hint: Option<String>,
    },
    /// The deployment of a commit never appeared within `ready_within`.
    #[error("{provider} shows no deployment of commit `{commit}` after {waited}")]
    NeverAppeared {
        /// `vercel`, `railway`.
        provider: &'static str,
        /// The commit waited for.
        commit: String,
        /// How long shipgate waited, e.g. `20m`.
        waited: String,
    },
    /// A deployment ended in a failed state (build error, crash, cancelled)
    /// or did not become ready in time.
    #[error("{provider} deployment `{id}` {outcome}")]
    DeploymentFailed {
        /// `vercel`, `railway`.
        provider: &'static str,
        /// The platform's deployment id.
        id: String,
        /// `ended ERROR: Command "npm run build" exited with 1`, `is still BUILDING after 20m`.
        outcome: String,
        /// Where to read its build logs.
        inspect_url: Option<String>,
    },
    /// A provider command (`command` provider, `deploy = "command"`) failed,
    /// timed out, or printed something shipgate cannot read.
    #[error("the {role} command `{command}` {failure}")]
    Command {
        /// `deploy`, `current`, `list`, `promote`.
        role: &'static str,
        /// The command as configured.
        command: String,
        /// `exited with status 1`, `timed out after 60s`, `printed invalid JSON: …`.
        failure: String,
        /// Its stderr (and stdout where useful), for the report.
        output: String,
    },
    /// The release ledger could not be read or written.
    #[error("the release ledger `{}` is unreadable", path.display())]
    Ledger {
        /// The ledger file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

impl Diagnostic for ProviderError {
    fn hint(&self) -> Option<String> {
        match self {
            Self::NoProvider { environment } => Some(format!(
                "set `provider = \"releases\"` and `[environments.{environment}.releases]` in the config"
            )),
            Self::NoSource => Some("e.g. `shipgate deploy --source build --id v42`".to_owned()),
            Self::NoCommit { .. } => Some(
                "pass `--commit SHA`, or set `GITHUB_SHA` (GitHub Actions sets it)".to_owned(),
            ),
            Self::ReleaseExists { .. } => {
                Some("deploy under a new `--id`, or roll back to it with `shipgate rollback --to ID`".to_owned())
            }
            Self::UnknownRelease { known, .. } if !known.is_empty() => {
                Some(format!("known releases, newest first: {}", known.join(", ")))
            }
            Self::Restart { .. } => Some(
                "run the `restart` command by hand to see why; the `current` link already points at the new release"
                    .to_owned(),
            ),
            Self::MissingSource { .. } => {
                Some("build the release first, or pass its directory with `shipgate deploy --source DIR`".to_owned())
            }
            Self::SourceContainsRoot { .. } => Some(
                "point `source` at the build output only (e.g. `dist`), or move the releases `root` outside it"
                    .to_owned(),
            ),
            Self::BrokenCurrent { .. } => {
                Some("make a known release current again with `shipgate rollback --to ID`".to_owned())
            }
            Self::Internal { .. } => {
                Some("please report it with the command you ran and this message".to_owned())
            }
            Self::Ledger { path, .. } => Some(format!(
                "fix or delete `{}`; shipgate rebuilds it from the release directories",
                path.display()
            )),
            Self::HealthRecord { path, .. } => Some(format!(
                "fix `{}` by hand; deleting it forgets which deployments failed their checks",
                path.display()
            )),
            Self::Unauthorized { provider, variable, .. } => Some(format!(
                "check that `{variable}` holds a valid {provider} token with access to the project (see the README's Providers section for the scope to create)"
            )),
            Self::Api { hint, .. } => hint.clone(),
            Self::NotPromotable { hint, .. } => Some(hint.clone()),
            Self::NothingServed { .. } => Some(
                "deploy a fixed commit here, and roll back production from its own environment (`shipgate rollback --env production`)".to_owned(),
            ),
            Self::NeverAppeared { provider, .. } => Some(format!(
                "check that {provider} builds this branch on push (git integration connected, the commit pushed), or raise `ready_within`"
            )),
            Self::DeploymentFailed {
                inspect_url: Some(url),
                ..
            } => Some(format!("read its build logs at {url}")),
            Self::Command { .. } => Some(
                "run the command by hand to see why; its output is in the report".to_owned(),
            ),
            _ => None,
        }
    }
}

impl ProviderError {
    /// The exit status this error ends the process with.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Self::NoProvider { .. }
            | Self::NoSource
            | Self::NoCommit { .. }
            | Self::ReleaseExists { .. }
            | Self::UnknownRelease { .. }
            | Self::InvalidId { .. }
            | Self::MissingSource { .. }
            | Self::SourceContainsRoot { .. }
            | Self::NotPromotable {
                no_record: true, ..
            }
            | Self::NothingServed { .. } => ExitStatus::Usage,
            Self::NotPromotable { .. } => ExitStatus::CheckFailed,
            Self::Io { .. }
            | Self::Restart { .. }
            | Self::Ledger { .. }
            | Self::HealthRecord { .. }
            | Self::Unauthorized { .. }
            | Self::Api { .. }
            | Self::NeverAppeared { .. }
            | Self::DeploymentFailed { .. }
            | Self::Command { .. }
            | Self::BrokenCurrent { .. }
            | Self::Internal { .. } => ExitStatus::Infrastructure,
        }
    }
}

/// A hosting target: what serves traffic, deploy, promote.
#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// The provider's config name, e.g. `releases`.
    fn name(&self) -> &'static str;

    /// The release serving traffic, if any.
    async fn current(&self) -> Result<Option<Release>, ProviderError>;

    /// Known releases, newest first, at most `limit`.
    async fn history(&self, limit: usize) -> Result<Vec<Release>, ProviderError>;

    /// Refuses, before anything changes, a spec that `deploy` would refuse
    /// (invalid id, missing source, an id already deployed).
    async fn preflight(&self, spec: &DeploySpec) -> Result<(), ProviderError>;

    /// Deploys `spec` and makes it serve traffic.
    async fn deploy(&self, spec: &DeploySpec) -> Result<Release, ProviderError>;

    /// Makes an existing release serve traffic again.
    async fn promote(&self, release: &Release) -> Result<(), ProviderError>;

    /// Records a release's health (after smoke, after rollback).
    async fn record(&self, release: &Release, state: ReleaseState) -> Result<(), ProviderError>;

    /// Records `release` as failed because of `reason`, for records that
    /// keep one (GitHub Deployments' status description).
    async fn record_failure(&self, release: &Release, reason: &str) -> Result<(), ProviderError> {
        let _ = reason;
        self.record(release, ReleaseState::Failed).await
    }

    /// Whether the environment's releases serve traffic, so a failed one
    /// is rolled back; `false` for staged builds that another environment
    /// promotes (Vercel `staged = true`): there is nothing to roll back.
    fn serves_traffic(&self) -> bool {
        true
    }

    /// Checks, changing nothing, that shipgate can use the platform: the
    /// token is accepted and sees the project. Returns what was verified, or
    /// `None` when the provider has nothing to check (no API).
    async fn verify_access(&self) -> Result<Option<String>, ProviderError> {
        Ok(None)
    }
}

/// The configured provider, or `None` for `provider = "none"`.
///
/// `state_path` is the run state file; platform providers keep their health
/// record beside it (see [`health`]); they print progress (a deployment
/// building, a rollback under way) through `printer`.
pub fn from_config(
    config: &Config,
    state_path: &Path,
    printer: &Printer,
) -> Option<Box<dyn Provider>> {
    let file = health::HealthFile::beside(state_path, &config.environment.name);
    let provider_name = match &config.environment.provider {
        ProviderConfig::Railway(_) => "railway",
        ProviderConfig::Vercel(_) => "vercel",
        ProviderConfig::Command(_) => "command",
        ProviderConfig::Releases(_) | ProviderConfig::None => "releases",
    };
    // Inside Actions (a token and a repository), verdicts also live in
    // GitHub Deployments, so they outlive the runner (issue 14).
    let health = || -> Box<dyn health::HealthRecord> {
        match github_trail(config, printer) {
            Some(trail) => Box::new(health::CompositeHealth::new(
                Box::new(file.clone()),
                Box::new(health::GithubHealth::new(
                    trail,
                    provider_name,
                    std::env::var(crate::env::GITHUB_SHA).ok(),
                )),
                printer.clone(),
            )),
            None => Box::new(file.clone()),
        }
    };
    match &config.environment.provider {
        ProviderConfig::Releases(releases) => Some(Box::new(ReleasesProvider::new(
            releases.clone(),
            config.base_dir.clone(),
        ))),
        ProviderConfig::Railway(railway) => Some(Box::new(RailwayProvider::new(
            railway,
            health(),
            config.base_dir.clone(),
        ))),
        ProviderConfig::Vercel(vercel) => {
            let source = match &vercel.deploy {
                crate::config::PlatformDeploy::Promote { from } => environment_trail(from, printer),
                _ => None,
            };
            Some(Box::new(
                VercelProvider::new(
                    vercel,
                    health(),
                    config.base_dir.clone(),
                    Some(printer.clone()),
                    vercel::POLL_INTERVAL,
                )
                .with_promotion_source(source),
            ))
        }
        ProviderConfig::Command(command) => Some(Box::new(CommandProvider::new(
            command,
            &config.base_dir,
            health(),
        ))),
        ProviderConfig::None => None,
    }
}

/// Retries for the GitHub Deployments trail: tighter than the default, since
/// its reads sit before a rollback's promote (target selection); a hung
/// GitHub delays a rollback by at most about half a minute, then the local
/// record decides alone.
const TRAIL_RETRY: crate::github::RetryPolicy = crate::github::RetryPolicy {
    attempts: 3,
    backoff: std::time::Duration::from_millis(500),
    max_wait: std::time::Duration::from_secs(10),
    request_timeout: std::time::Duration::from_secs(10),
};

/// The environment's GitHub Deployments trail when the process environment
/// has a GitHub token and repository; `None` otherwise. A broken GitHub
/// setting (an invalid `GITHUB_API_URL`) is a warning: the trail is a record,
/// never a reason not to deploy or roll back.
pub fn github_trail(
    config: &Config,
    printer: &Printer,
) -> Option<crate::github::deployments::GithubDeployments> {
    environment_trail(&config.environment.name, printer)
        .map(|trail| trail.with_settings(config.environment.deployments.clone()))
}

/// The GitHub Deployments of `environment` (any environment: `promote_from`
/// reads another one's), as [`github_trail`] finds them.
fn environment_trail(
    environment: &str,
    printer: &Printer,
) -> Option<crate::github::deployments::GithubDeployments> {
    let lookup = |name: &str| std::env::var(name).ok();
    let trail =
        crate::github::GithubEnv::from_lookup(&lookup, printer.redactor()).and_then(|github| {
            crate::github::deployments::GithubDeployments::from_env(
                &github,
                &lookup,
                environment,
                TRAIL_RETRY,
            )
        });
    match trail {
        Ok(trail) => trail,
        Err(error) => {
            printer.warning(&format!("GitHub Deployments are not recorded: {error}"));
            None
        }
    }
}

/// Wraps an IO error with what was being done to which path, for
/// `map_err` in the provider files.
fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ProviderError {
    let path = path.to_owned();
    move |source| ProviderError::Io {
        action,
        path,
        source,
    }
}

/// Sleeps one poll `interval` (less when `deadline` is nearer); `false` when
/// the deadline has passed and the caller should stop polling. Every
/// platform wait loop goes through it, so none can outlive its deadline.
pub(crate) async fn pause(interval: std::time::Duration, deadline: tokio::time::Instant) -> bool {
    let now = tokio::time::Instant::now();
    if now >= deadline {
        return false;
    }
    tokio::time::sleep(interval.min(deadline - now)).await;
    true
}

/// A random suffix that keeps work files and directories from colliding.
fn random_suffix() -> String {
    format!("{:016x}", rand::random::<u64>())
}
