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
    /// The state file's directory cannot be written, found before the run
    /// changed anything.
    #[error("the run state directory `{}` is not writable", dir.display())]
    NotWritable {
        /// The directory the state file lives in.
        dir: PathBuf,
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
            Self::NotWritable { .. } => {
                return Some(
                    "point `SHIPGATE_STATE_DIR` at a writable directory (or fix the permissions), then run the command again; nothing was changed"
                        .to_owned(),
                );
            }
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
    /// The run's first backup, taken before the first migration of this
    /// run: the one rollback restores. A resumed run never replaces it
    /// (issue 10, item 2); its later backups go to [`RunState::backups`].
    #[serde(default)]
    pub backup: Option<PathBuf>,
    /// The first backup's size in bytes.
    #[serde(default)]
    pub backup_bytes: Option<u64>,
    /// Where the server was when the first backup was taken (PostgreSQL: WAL
    /// LSN and time).
    #[serde(default)]
    pub backup_position: Option<String>,
    /// Every backup this run took, in order, the first included (empty in a
    /// state file written before this list existed).
    #[serde(default)]
    pub backups: Vec<RunBackup>,
    /// The release serving traffic before this run deployed.
    #[serde(default)]
    pub previous_release: Option<String>,
    /// The release this run deployed.
    #[serde(default)]
    pub deployed_release: Option<String>,
    /// The deployed release once a separate `smoke` / `watch` step verified
    /// it and recorded it healthy (so it is recorded once).
    #[serde(default)]
    pub verified_release: Option<String>,
    /// Where the release this run deployed is served, when the platform
    /// says: separate `smoke` / `watch` steps of an environment without a
    /// `url` of its own (a staged Vercel environment) check it there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed_url: Option<String>,
    /// When the release this run deployed went live: a separate `watch`
    /// step's `{deploy_time}` and the end of its `compare = "previous"`
    /// baseline window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed_at: Option<jiff::Timestamp>,
    /// The lint class of each migration this run applied, by version; drives
    /// `rollback.database = "auto"` (a version missing here counts as destructive).
    #[serde(default)]
    pub migration_classes: BTreeMap<String, MigrationClass>,
    /// Each applied migration that holds a blocking lock, and its lint
    /// findings, by version: the deploy summary shows them beside the class.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub migration_notes: BTreeMap<String, MigrationNotes>,
}

/// What the lint said of one applied migration, kept for the deploy summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationNotes {
    /// A statement holds a lock that blocks the app for longer than a moment.
    #[serde(default)]
    pub locking: bool,
    /// `line N rule: what happens`, one per finding.
    #[serde(default)]
    pub findings: Vec<String>,
}

/// One backup a run took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunBackup {
    /// The backup file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Where the server was when it was taken (PostgreSQL: WAL LSN and
    /// time), when the engine knows.
    #[serde(default)]
    pub position: Option<String>,
    /// When it was taken, RFC 3339 UTC.
    pub taken_at: String,
    /// The versions this run had applied before it was taken (empty for a
    /// backup of the state before the run changed anything).
    #[serde(default)]
    pub after: Vec<String>,
    /// The encrypted copy uploaded to `migrate.backup_to`, when one was
    /// (absent in state files written before uploads existed; issue 11,
    /// item 6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteCopy>,
}

/// A backup's encrypted copy in the bucket: what a restore on another
/// runner downloads, and the digest it must match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteCopy {
    /// The object, `s3://bucket/<prefix>/<environment>/<name>.age`.
    pub url: String,
    /// The SHA-256 of the encrypted object, lowercase hex.
    pub sha256: String,
    /// The encrypted object's size in bytes.
    pub bytes: u64,
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

    /// Records a backup this run just took. The first one stays the run's
    /// backup (what rollback restores); later ones (a resumed run) are only
    /// listed beside it, since they hold what the run already changed.
    pub fn record_backup(&mut self, backup: RunBackup) {
        if self.backup.is_none() {
            self.backup = Some(backup.path.clone());
            self.backup_bytes = Some(backup.bytes);
            self.backup_position.clone_from(&backup.position);
        }
        self.backups.push(backup);
    }

    /// The record of the backup at `path`, when this run took it.
    pub fn backup_at(&self, path: &Path) -> Option<&RunBackup> {
        self.backups.iter().find(|backup| backup.path == path)
    }

    /// The record of the run's first backup ([`RunState::backup`]), when the
    /// state lists it (a state file written before `backups` existed does
    /// not).
    pub fn first_backup(&self) -> Option<&RunBackup> {
        let path = self.backup.as_ref()?;
        self.backups.iter().find(|backup| &backup.path == path)
    }

    /// Checks, before a run changes anything, that the state file can be
    /// written where it lives: a run that cannot record what it did must
    /// not start doing it (issue 10, item 10).
    pub fn check_writable(path: &Path) -> Result<(), StateError> {
        let dir = path.parent().unwrap_or(Path::new("."));
        probe_writable(dir).map_err(|source| StateError::NotWritable {
            dir: dir.to_owned(),
            source,
        })
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

/// Creates `dir` when missing, then writes and removes a probe file in it:
/// whether a run can write there, tried before it changes anything.
#[expect(
    clippy::disallowed_methods,
    reason = "callers wrap the error with the path; fs-err would name it twice"
)]
pub fn probe_writable(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(format!(".shipgate-write-probe.{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
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
            backups: Vec::new(),
            previous_release: Some("v1".into()),
            deployed_release: Some("v2".into()),
            verified_release: None,
            deployed_url: None,
            deployed_at: None,
            migration_classes: BTreeMap::from([("0001".into(), MigrationClass::Additive)]),
            migration_notes: BTreeMap::from([(
                "0001".into(),
                MigrationNotes {
                    locking: true,
                    findings: vec!["line 3 create-index-non-concurrently: blocks writes".into()],
                },
            )]),
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

    fn taken(path: &str, after: &[&str]) -> RunBackup {
        RunBackup {
            path: path.into(),
            bytes: 10,
            position: Some(format!("WAL LSN 0/1 at {path}")),
            taken_at: "2026-01-02T03:04:05Z".into(),
            after: after.iter().map(|version| (*version).to_owned()).collect(),
            remote: None,
        }
    }

    // issue 10, item 2: a resumed run keeps its first backup as the one
    // rollback restores, and lists the later one beside it.
    #[test]
    fn a_later_backup_is_kept_beside_the_first_never_instead_of_it() {
        let mut state = RunState::default();
        state.record_backup(taken("first.dump", &[]));
        state.record_backup(taken("second.dump", &["0002"]));
        assert_eq!(state.backup.as_deref(), Some(Path::new("first.dump")));
        assert_eq!(
            state.backup_position.as_deref(),
            Some("WAL LSN 0/1 at first.dump")
        );
        assert_eq!(
            state.backups,
            [taken("first.dump", &[]), taken("second.dump", &["0002"])]
        );
        assert_eq!(state.first_backup(), Some(&taken("first.dump", &[])));
    }

    // issue 10, item 2: a state file written before `backups` existed still reads.
    #[test]
    fn a_state_file_without_the_backup_list_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        fs_err::write(
            &path,
            r#"{"environment":"prod","migrations_applied":["0001"],"backup":"old.dump","backup_bytes":7}"#,
        )
        .unwrap();
        let mut state = RunState::load(&path, "prod").unwrap();
        assert_eq!(state.backup.as_deref(), Some(Path::new("old.dump")));
        assert!(state.backups.is_empty() && state.first_backup().is_none());
        state.record_backup(taken("new.dump", &["0001"]));
        assert_eq!(state.backup.as_deref(), Some(Path::new("old.dump")));
        assert_eq!(state.backups.len(), 1);
    }

    // issue 11, item 6: a backup record without `remote` (an older state
    // file) still reads, and one with it round-trips.
    #[test]
    fn a_backup_record_without_a_remote_copy_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        fs_err::write(
            &path,
            r#"{"environment":"prod","backup":"a.dump","backups":[{"path":"a.dump","bytes":3,"taken_at":"2026-01-02T03:04:05Z"}]}"#,
        )
        .unwrap();
        let mut state = RunState::load(&path, "prod").unwrap();
        assert_eq!(state.first_backup().unwrap().remote, None);
        state.backups[0].remote = Some(RemoteCopy {
            url: "s3://bucket/prod/a.dump.age".into(),
            sha256: "00".repeat(32),
            bytes: 9,
        });
        state.save(&path).unwrap();
        assert_eq!(RunState::load(&path, "prod").unwrap(), state);
    }

    // issue 10, item 10: a state directory that cannot be created is found
    // before the run starts, and the probe leaves nothing behind.
    #[test]
    fn check_writable_creates_the_directory_and_refuses_one_under_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/state.json");
        RunState::check_writable(&path).unwrap();
        assert_eq!(
            fs_err::read_dir(dir.path().join("nested")).unwrap().count(),
            0,
            "the probe is removed"
        );
        fs_err::write(dir.path().join("file"), "").unwrap();
        let error =
            RunState::check_writable(&dir.path().join("file/state/state.json")).unwrap_err();
        assert!(
            matches!(&error, StateError::NotWritable { dir: blocked, .. } if blocked.ends_with("file/state")),
            "{error:?}"
        );
    }
}
