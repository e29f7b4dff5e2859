//! The release ledger: `releases.json` under the releases root, recording each
//! release's state and deploy time.
//!
//! The file is `{"version": 1, "releases": [...]}` with the releases in deploy
//! order, **oldest first** (a deploy appends). It is only ever replaced whole:
//! written to a temp file in the same directory, synced, then renamed over the
//! old one, so a reader sees either the old or the new ledger, never half of
//! one. Which directories exist is the releases provider's business; the
//! ledger only stores what it is told.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{ProviderError, Release, ReleaseState, random_suffix};

/// The ledger format this build reads and writes.
const VERSION: u32 = 1;

/// The on-disk shape of `releases.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LedgerFile {
    version: u32,
    releases: Vec<Release>,
}

/// The releases recorded in `releases.json`, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Ledger {
    path: PathBuf,
    releases: Vec<Release>,
}

impl Ledger {
    /// Reads the ledger at `path`; a missing file is an empty ledger.
    pub(super) fn load(path: &Path) -> Result<Self, ProviderError> {
        let bytes = match fs_err::read(path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self {
                    path: path.to_owned(),
                    releases: Vec::new(),
                });
            }
            Err(source) => {
                return Err(ProviderError::Io {
                    action: "read the release ledger",
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let ledger = |source| ProviderError::Ledger {
            path: path.to_owned(),
            source,
        };
        let file: LedgerFile = serde_json::from_slice(&bytes).map_err(ledger)?;
        if file.version != VERSION {
            return Err(ledger(serde::de::Error::custom(format!(
                "unsupported ledger version {} (this shipgate reads version {VERSION})",
                file.version
            ))));
        }
        Ok(Self {
            path: path.to_owned(),
            releases: file.releases,
        })
    }

    /// Replaces the file atomically with this ledger.
    pub(super) fn save(&self) -> Result<(), ProviderError> {
        let file = LedgerFile {
            version: VERSION,
            releases: self.releases.clone(),
        };
        let mut text =
            serde_json::to_vec_pretty(&file).map_err(|source| ProviderError::Ledger {
                path: self.path.clone(),
                source,
            })?;
        text.push(b'\n');
        let directory = self.path.parent().unwrap_or_else(|| Path::new("."));
        let temporary = directory.join(format!(".releases.json.{}.tmp", random_suffix()));
        let result = write_synced(&temporary, &text).and_then(|()| {
            fs_err::rename(&temporary, &self.path).map_err(|source| ProviderError::Io {
                action: "replace the release ledger",
                path: self.path.clone(),
                source,
            })
        });
        if result.is_err() {
            // Best effort: the error that matters is the one returned.
            let _ = fs_err::remove_file(&temporary);
        }
        result
    }

    /// The entry for `id`, if recorded.
    pub(super) fn get(&self, id: &str) -> Option<&Release> {
        self.releases.iter().find(|release| release.id == id)
    }

    /// Records `release`, replacing an older entry with the same id.
    pub(super) fn insert(&mut self, release: Release) {
        self.releases.retain(|known| known.id != release.id);
        self.releases.push(release);
    }

    /// Sets the state of `id`; `false` when `id` is not recorded.
    pub(super) fn set_state(&mut self, id: &str, state: ReleaseState) -> bool {
        match self.releases.iter_mut().find(|release| release.id == id) {
            Some(release) => {
                release.state = state;
                true
            }
            None => false,
        }
    }

    /// Forgets the releases whose ids are in `ids`.
    pub(super) fn remove(&mut self, ids: &[String]) {
        self.releases.retain(|release| !ids.contains(&release.id));
    }
}

/// Writes `bytes` to a new file at `path` and syncs it to disk.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), ProviderError> {
    let io = |source| ProviderError::Io {
        action: "write the release ledger to",
        path: path.to_owned(),
        source,
    };
    let mut file = fs_err::File::create_new(path).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    fn release(id: &str, state: ReleaseState, second: i64) -> Release {
        Release::new(id, state, jiff::Timestamp::from_second(second).unwrap())
    }

    #[test]
    fn missing_file_is_an_empty_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::load(&dir.path().join("releases.json")).unwrap();
        assert!(ledger.releases.is_empty());
    }

    #[test]
    fn round_trips_oldest_first_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("releases.json");
        let mut ledger = Ledger::load(&path).unwrap();
        ledger.insert(release("v1", ReleaseState::Healthy, 100));
        ledger.insert(release("v2", ReleaseState::Deployed, 200));
        assert!(ledger.set_state("v2", ReleaseState::Failed));
        assert!(!ledger.set_state("v9", ReleaseState::Failed));
        ledger.save().unwrap();

        let loaded = Ledger::load(&path).unwrap();
        assert_eq!(loaded, ledger);
        let ids: Vec<_> = loaded
            .releases
            .iter()
            .map(|release| release.id.as_str())
            .collect();
        assert_eq!(ids, ["v1", "v2"]);
        assert_eq!(loaded.get("v2").unwrap().state, ReleaseState::Failed);
        let names: Vec<_> = fs_err::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["releases.json"]);

        let text = fs_err::read_to_string(&path).unwrap();
        assert!(text.contains("\"version\": 1"), "{text}");
        assert!(text.contains("\"state\": \"failed\""), "{text}");
    }

    #[test]
    fn insert_replaces_and_remove_forgets() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::load(&dir.path().join("releases.json")).unwrap();
        ledger.insert(release("v1", ReleaseState::Healthy, 100));
        ledger.insert(release("v2", ReleaseState::Deployed, 200));
        ledger.insert(release("v1", ReleaseState::Deployed, 300));
        let ids: Vec<_> = ledger
            .releases
            .iter()
            .map(|release| release.id.as_str())
            .collect();
        assert_eq!(ids, ["v2", "v1"]);
        ledger.remove(&["v2".to_owned()]);
        assert!(ledger.get("v2").is_none());
        assert_eq!(ledger.get("v1").unwrap().state, ReleaseState::Deployed);
    }

    #[test]
    fn garbage_and_unknown_versions_are_ledger_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("releases.json");
        fs_err::write(&path, "{\"version\": 1, \"releases\": [").unwrap();
        assert!(matches!(
            Ledger::load(&path),
            Err(ProviderError::Ledger { .. })
        ));
        fs_err::write(&path, "{\"version\": 2, \"releases\": []}").unwrap();
        let error = Ledger::load(&path).unwrap_err();
        assert!(matches!(error, ProviderError::Ledger { .. }));
        assert!(
            std::error::Error::source(&error)
                .unwrap()
                .to_string()
                .contains("version 2")
        );
    }
}
