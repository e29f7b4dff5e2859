//! The run state: what one pipeline run did, shared between phases that run
//! as separate CI steps (`migrate apply`, then `deploy`, then `smoke`, then
//! maybe `rollback`).
//!
//! It lives in `$SHIPGATE_STATE_DIR/state.json`, else
//! `$RUNNER_TEMP/shipgate/state.json` on a GitHub runner, else
//! `.shipgate/state.json` next to the config. Writes are atomic (temp file +
//! rename), so a crash never leaves half a file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::migrate::lint::MigrationClass;

use crate::env;

/// Why the state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading or writing failed.
    #[error("failed to access the run state `{}`", path.display())]
    Io {
        /// The state file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The file exists but is not a state file of this version.
    #[error("the run state `{}` is not valid JSON of this shipgate version", path.display())]
    Parse {
        /// The state file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

impl crate::diagnostic::Diagnostic for StateError {
    fn hint(&self) -> Option<String> {
        let path = match self {
            Self::Io { path, .. } | Self::Parse { path, .. } => path,
        };
        Some(format!(
            "delete `{}` to start a fresh run, or set `SHIPGATE_STATE_DIR`",
            path.display()
        ))
    }
}

/// What the current run has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    /// Environment the run targets.
    pub environment: String,
    /// Versions applied by this run, in order.
    #[serde(default)]
    pub migrations_applied: Vec<String>,
    /// The backup taken before the first migration of this run.
    #[serde(default)]
    pub backup: Option<PathBuf>,
    /// The backup's size in bytes.
    #[serde(default)]
    pub backup_bytes: Option<u64>,
    /// Where the server was when the backup was taken (PostgreSQL: WAL LSN
    /// and time).
    #[serde(default)]
    pub backup_position: Option<String>,
    /// The release serving traffic before this run deployed.
    #[serde(default)]
    pub previous_release: Option<String>,
    /// The release this run deployed.
    #[serde(default)]
    pub deployed_release: Option<String>,
    /// The lint class of each migration this run applied, by version; drives
    /// `rollback.database = "auto"` (a version missing here counts as destructive).
    #[serde(default)]
    pub migration_classes: BTreeMap<String, MigrationClass>,
}

/// Where the state file lives for a config in `base_dir`.
pub fn default_path(base_dir: &Path) -> PathBuf {
    if let Some(dir) = std::env::var_os(env::SHIPGATE_STATE_DIR) {
        return PathBuf::from(dir).join("state.json");
    }
    if let Some(dir) = std::env::var_os(env::RUNNER_TEMP) {
        return PathBuf::from(dir).join("shipgate").join("state.json");
    }
    base_dir.join(".shipgate").join("state.json")
}

impl RunState {
    /// Reads the state; a missing file is an empty state for `environment`.
    #[expect(
        clippy::disallowed_methods,
        reason = "the error it returns names the path; fs-err would name it twice"
    )]
    pub fn load(path: &Path, environment: &str) -> Result<Self, StateError> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let state: Self =
                    serde_json::from_slice(&bytes).map_err(|source| StateError::Parse {
                        path: path.to_owned(),
                        source,
                    })?;
                if state.environment == environment {
                    Ok(state)
                } else {
                    Ok(Self {
                        environment: environment.to_owned(),
                        ..Self::default()
                    })
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Self {
                environment: environment.to_owned(),
                ..Self::default()
            }),
            Err(source) => Err(StateError::Io {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Reads the state of the run a step belongs to: when the stored run
    /// already deployed its release, that run is over and a new one starts
    /// (so a `deploy` after an earlier `run` does not inherit its migrations).
    pub fn load_open_run(path: &Path, environment: &str) -> Result<Self, StateError> {
        let state = Self::load(path, environment)?;
        if state.deployed_release.is_some() {
            Ok(Self {
                environment: environment.to_owned(),
                ..Self::default()
            })
        } else {
            Ok(state)
        }
    }

    /// Writes the state atomically.
    #[expect(
        clippy::disallowed_methods,
        reason = "the error it returns names the path; fs-err would name it twice"
    )]
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let io = |source| StateError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let temporary = path.with_extension(format!("json.{}.tmp", std::process::id()));
        let text = serde_json::to_vec_pretty(self).map_err(|source| StateError::Parse {
            path: path.to_owned(),
            source,
        })?;
        std::fs::write(&temporary, text).map_err(io)?;
        std::fs::rename(&temporary, path).map_err(io)
    }

    /// Starts a new run: forgets what an earlier run did.
    pub fn reset(path: &Path, environment: &str) -> Result<Self, StateError> {
        let state = Self {
            environment: environment.to_owned(),
            ..Self::default()
        };
        state.save(path)?;
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_ignores_other_environments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/state.json");
        assert_eq!(RunState::load(&path, "prod").unwrap().environment, "prod");
        let state = RunState {
            environment: "prod".into(),
            migrations_applied: vec!["0001".into()],
            backup: Some("b.sqlite".into()),
            backup_bytes: Some(4096),
            backup_position: None,
            previous_release: Some("v1".into()),
            deployed_release: Some("v2".into()),
            migration_classes: BTreeMap::from([("0001".into(), MigrationClass::Additive)]),
        };
        state.save(&path).unwrap();
        assert_eq!(RunState::load(&path, "prod").unwrap(), state);
        assert!(
            RunState::load(&path, "staging")
                .unwrap()
                .deployed_release
                .is_none()
        );
    }
}
