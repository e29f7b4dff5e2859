//! shipgate's own verdict on platform deployments, kept outside the platform.
//!
//! Vercel and Railway know whether a deployment *built*; only shipgate knows
//! whether it then failed its smoke checks. A deployment shipgate recorded as
//! failed is never a rollback target, so the verdict must outlive the
//! process. [`HealthRecord`] is that memory's seam: [`HealthFile`] keeps it in
//! a JSON file beside the run state (durable on a laptop, a self-hosted runner
//! or a cached state directory); the GitHub Deployments trail plugs in as
//! another implementation ([`GithubHealth`], `health/github.rs`), composed
//! with the file by [`CompositeHealth`], so a verdict survives a hosted
//! runner too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{ProviderError, Release, ReleaseState, io_error, random_suffix};
use crate::report::Printer;

mod github;

pub use github::GithubHealth;

/// Where verdicts on releases are kept.
#[async_trait::async_trait]
pub trait HealthRecord: Send + Sync + std::fmt::Debug {
    /// Every verdict recorded, by release id.
    async fn verdicts(&self) -> Result<BTreeMap<String, ReleaseState>, ProviderError>;

    /// Records `state` for `release`, replacing an earlier verdict.
    async fn record(&self, release: &Release, state: ReleaseState) -> Result<(), ProviderError>;

    /// Records `release` as failed because of `reason` (`` `smoke` failed``);
    /// records that keep no reason record the state alone.
    async fn record_failure(&self, release: &Release, reason: &str) -> Result<(), ProviderError> {
        let _ = reason;
        self.record(release, ReleaseState::Failed).await
    }
}

/// Applies recorded verdicts to releases read from a platform: a release
/// shipgate recorded as failed is failed, whatever the platform says; a
/// healthy verdict never makes a release the platform refuses a target.
pub fn apply_verdicts(releases: &mut [Release], verdicts: &BTreeMap<String, ReleaseState>) {
    for release in releases {
        if verdicts.get(&release.id) == Some(&ReleaseState::Failed) {
            release.state = ReleaseState::Failed;
        }
    }
}

/// Verdicts in `health-<environment>.json` beside the run state file.
#[derive(Debug, Clone)]
pub struct HealthFile {
    path: PathBuf,
}

/// The file's contents.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Contents {
    /// Verdicts by release id.
    releases: BTreeMap<String, Verdict>,
}

/// One recorded verdict.
#[derive(Debug, Serialize, Deserialize)]
struct Verdict {
    state: ReleaseState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    commit: Option<String>,
    recorded_at: jiff::Timestamp,
}

impl HealthFile {
    /// The record for `environment`, in the directory of `state_path`.
    pub fn beside(state_path: &Path, environment: &str) -> Self {
        let name: String = environment
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Self {
            path: state_path.with_file_name(format!("health-{name}.json")),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn load(&self) -> Result<Contents, ProviderError> {
        match fs_err::read_to_string(&self.path) {
            Ok(text) => serde_json::from_str(&text).map_err(|source| ProviderError::HealthRecord {
                path: self.path.clone(),
                source,
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Contents::default()),
            Err(error) => Err(io_error("read the health record", &self.path)(error)),
        }
    }
}

#[async_trait::async_trait]
impl HealthRecord for HealthFile {
    async fn verdicts(&self) -> Result<BTreeMap<String, ReleaseState>, ProviderError> {
        Ok(self
            .load()?
            .releases
            .into_iter()
            .map(|(id, verdict)| (id, verdict.state))
            .collect())
    }

    async fn record(&self, release: &Release, state: ReleaseState) -> Result<(), ProviderError> {
        let mut contents = self.load()?;
        contents.releases.insert(
            release.id.clone(),
            Verdict {
                state,
                commit: release.commit.clone(),
                recorded_at: jiff::Timestamp::now(),
            },
        );
        let text = serde_json::to_string_pretty(&contents).map_err(|source| {
            ProviderError::HealthRecord {
                path: self.path.clone(),
                source,
            }
        })?;
        if let Some(parent) = self.path.parent() {
            fs_err::create_dir_all(parent)
                .map_err(io_error("create the directory of", &self.path))?;
        }
        // Write then rename, so a crash never leaves half a record.
        let temporary = self
            .path
            .with_extension(format!("json.{}", random_suffix()));
        fs_err::write(&temporary, text).map_err(io_error("write", &temporary))?;
        fs_err::rename(&temporary, &self.path).map_err(io_error("replace", &self.path))
    }
}

/// The health file and a second record (GitHub Deployments) together:
/// verdicts merged with `failed` winning; every verdict written to both. The
/// file is the one that must work; the second record's failures are
/// warnings, so GitHub unreachable never changes a run's outcome.
#[derive(Debug)]
pub struct CompositeHealth {
    file: Box<dyn HealthRecord>,
    remote: Box<dyn HealthRecord>,
    printer: Printer,
}

impl CompositeHealth {
    /// `file` first, then `remote`, warning through `printer`.
    pub fn new(
        file: Box<dyn HealthRecord>,
        remote: Box<dyn HealthRecord>,
        printer: Printer,
    ) -> Self {
        Self {
            file,
            remote,
            printer,
        }
    }
}

#[async_trait::async_trait]
impl HealthRecord for CompositeHealth {
    async fn verdicts(&self) -> Result<BTreeMap<String, ReleaseState>, ProviderError> {
        let mut verdicts = self.file.verdicts().await?;
        match self.remote.verdicts().await {
            Ok(remote) => {
                for (id, state) in remote {
                    let entry = verdicts.entry(id).or_insert(state);
                    if state == ReleaseState::Failed {
                        *entry = ReleaseState::Failed;
                    }
                }
            }
            Err(error) => self.printer.warning(&format!(
                "could not read verdicts from GitHub Deployments, so only the local health record is used: {error}"
            )),
        }
        Ok(verdicts)
    }

    async fn record(&self, release: &Release, state: ReleaseState) -> Result<(), ProviderError> {
        self.file.record(release, state).await?;
        if let Err(error) = self.remote.record(release, state).await {
            self.warn_remote(release, state, &error);
        }
        Ok(())
    }

    async fn record_failure(&self, release: &Release, reason: &str) -> Result<(), ProviderError> {
        self.file.record_failure(release, reason).await?;
        if let Err(error) = self.remote.record_failure(release, reason).await {
            self.warn_remote(release, ReleaseState::Failed, &error);
        }
        Ok(())
    }
}

impl CompositeHealth {
    fn warn_remote(&self, release: &Release, state: ReleaseState, error: &ProviderError) {
        self.printer.warning(&format!(
            "could not record `{}` as {} on GitHub Deployments (the local health record has it): {error}",
            release.id,
            state_name(state)
        ));
    }
}

fn state_name(state: ReleaseState) -> &'static str {
    match state {
        ReleaseState::Deployed => "deployed",
        ReleaseState::Healthy => "healthy",
        ReleaseState::Failed => "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(id: &str) -> Release {
        Release::new(id, ReleaseState::Healthy, jiff::Timestamp::UNIX_EPOCH)
    }

    #[tokio::test]
    async fn a_verdict_survives_a_new_process_and_the_latest_wins() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        let record = HealthFile::beside(&state, "prod/eu");
        assert_eq!(record.path(), dir.path().join("health-prod_eu.json"));
        assert!(record.verdicts().await.unwrap().is_empty());
        record
            .record(&release("dpl_1"), ReleaseState::Healthy)
            .await
            .unwrap();
        record
            .record(&release("dpl_2"), ReleaseState::Failed)
            .await
            .unwrap();
        record
            .record(&release("dpl_1"), ReleaseState::Failed)
            .await
            .unwrap();
        let again = HealthFile::beside(&state, "prod/eu");
        let verdicts = again.verdicts().await.unwrap();
        assert_eq!(verdicts.len(), 2);
        assert_eq!(verdicts["dpl_1"], ReleaseState::Failed);
        assert_eq!(verdicts["dpl_2"], ReleaseState::Failed);
    }

    #[test]
    fn a_failed_verdict_overrides_the_platform_and_a_healthy_one_does_not_promote() {
        let mut releases = vec![
            release("a"),
            Release::new("b", ReleaseState::Deployed, jiff::Timestamp::UNIX_EPOCH),
        ];
        let verdicts = BTreeMap::from([
            ("a".to_owned(), ReleaseState::Failed),
            ("b".to_owned(), ReleaseState::Healthy),
        ]);
        apply_verdicts(&mut releases, &verdicts);
        assert_eq!(releases[0].state, ReleaseState::Failed);
        assert_eq!(releases[1].state, ReleaseState::Deployed);
    }

    #[tokio::test]
    async fn a_corrupt_record_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let record = HealthFile::beside(&dir.path().join("state.json"), "production");
        fs_err::write(record.path(), "{not json").unwrap();
        let error = record.verdicts().await.unwrap_err();
        assert!(
            matches!(&error, ProviderError::HealthRecord { path, .. } if path == record.path()),
            "{error:?}"
        );
    }

    #[derive(Debug)]
    struct Unreachable;

    #[async_trait::async_trait]
    impl HealthRecord for Unreachable {
        async fn verdicts(&self) -> Result<BTreeMap<String, ReleaseState>, ProviderError> {
            Err(ProviderError::Api {
                provider: "github",
                action: "read the deployments".to_owned(),
                message: "502".to_owned(),
                hint: None,
            })
        }
        async fn record(&self, _: &Release, _: ReleaseState) -> Result<(), ProviderError> {
            self.verdicts().await.map(|_| ())
        }
    }

    fn printer() -> Printer {
        Printer::new(
            crate::report::OutputFormat::Json,
            crate::config::Redactor::default(),
        )
    }

    #[tokio::test]
    async fn composite_verdicts_merge_with_failed_winning_and_a_remote_failure_is_only_warned() {
        let dir = tempfile::tempdir().unwrap();
        let local = HealthFile::beside(&dir.path().join("state.json"), "prod");
        let remote = HealthFile::beside(&dir.path().join("remote/state.json"), "prod");
        local
            .record(&release("a"), ReleaseState::Healthy)
            .await
            .unwrap();
        remote
            .record(&release("a"), ReleaseState::Failed)
            .await
            .unwrap();
        remote
            .record(&release("b"), ReleaseState::Healthy)
            .await
            .unwrap();
        let composite = CompositeHealth::new(Box::new(local.clone()), Box::new(remote), printer());
        let verdicts = composite.verdicts().await.unwrap();
        assert_eq!(verdicts["a"], ReleaseState::Failed);
        assert_eq!(verdicts["b"], ReleaseState::Healthy);
        composite
            .record(&release("c"), ReleaseState::Failed)
            .await
            .unwrap();
        assert_eq!(local.verdicts().await.unwrap()["c"], ReleaseState::Failed);

        let composite =
            CompositeHealth::new(Box::new(local.clone()), Box::new(Unreachable), printer());
        assert_eq!(composite.verdicts().await.unwrap().len(), 2);
        composite
            .record(&release("d"), ReleaseState::Healthy)
            .await
            .unwrap();
        assert_eq!(local.verdicts().await.unwrap()["d"], ReleaseState::Healthy);
    }
}
