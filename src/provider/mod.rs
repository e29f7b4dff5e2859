//! Providers: what serves traffic, how a release is deployed, and how an older
//! one is promoted back.
//!
//! [`Provider`] is the seam every hosting target implements; this build has
//! the `releases` provider (directory releases with an atomic `current`
//! symlink; its ledger, tree copy and restart hook live in `ledger.rs`,
//! `tree.rs` and `restart.rs`). Deciding *which* release to roll back to is
//! `rollback`'s job.

mod ledger;
mod releases;
mod restart;
mod tree;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use releases::ReleasesProvider;

use crate::config::{Config, ProviderConfig};
use crate::diagnostic::Diagnostic;
use crate::exit::ExitStatus;

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

/// One deployed version of the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// Provider-unique id (`v42`, a short SHA).
    pub id: String,
    /// Its recorded health.
    pub state: ReleaseState,
    /// When it was deployed.
    pub deployed_at: jiff::Timestamp,
}

/// What to deploy.
#[derive(Debug, Clone)]
pub struct DeploySpec {
    /// The new release's id.
    pub id: String,
    /// Directory with the built release.
    pub source: PathBuf,
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
            | Self::ReleaseExists { .. }
            | Self::UnknownRelease { .. }
            | Self::InvalidId { .. }
            | Self::MissingSource { .. }
            | Self::SourceContainsRoot { .. } => ExitStatus::Usage,
            Self::Io { .. }
            | Self::Restart { .. }
            | Self::Ledger { .. }
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
}

/// The configured provider, or `None` for `provider = "none"`.
pub fn from_config(config: &Config) -> Option<Box<dyn Provider>> {
    match &config.environment.provider {
        ProviderConfig::None => None,
        ProviderConfig::Releases(releases) => Some(Box::new(ReleasesProvider::new(
            releases.clone(),
            config.base_dir.clone(),
        ))),
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

/// A random suffix that keeps work files and directories from colliding.
fn random_suffix() -> String {
    format!("{:016x}", rand::random::<u64>())
}
