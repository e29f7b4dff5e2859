//! The `releases` provider: directory releases on one machine (a VPS, the
//! quickstart), switched with an atomic `current` symlink.
//!
//! Layout under the configured `root`:
//!
//! ```text
//! root/
//!   releases/<id>/    a full copy of the release source, one per deploy
//!   current           symlink -> releases/<id> (relative), what serves traffic
//!   releases.json     the ledger: id, state, deployed_at, oldest first
//!   restart.log       output of the last `restart` run
//! ```
//!
//! Nothing half-done is ever visible under a release id or as `current`: a
//! release is copied into `releases/.tmp-<id>-<random>` and renamed into
//! place, and `current` is switched by creating a new link at a temp name and
//! renaming it over the old one, so there is no instant without `current`.
//! The ledger is replaced the same way (see `ledger.rs`).
//!
//! Which release to roll back to is `rollback`'s decision; this file only
//! deploys, promotes, records and lists.

use std::path::{Path, PathBuf};

use super::ledger::Ledger;
use super::restart::RestartHook;
use super::tree::{copy_tree, symlink};
use super::{
    DeploySpec, Provider, ProviderError, Release, ReleaseState, io_error as io, random_suffix,
};
use crate::config::ReleasesConfig;

/// Directory under the root holding one directory per release.
const RELEASES_DIR: &str = "releases";
/// The symlink naming the release that serves traffic.
const CURRENT_LINK: &str = "current";
/// The ledger file.
const LEDGER_FILE: &str = "releases.json";
/// Where the `restart` command's output goes.
const RESTART_LOG: &str = "restart.log";
/// Longest release id accepted (it is a directory name).
const MAX_ID_LENGTH: usize = 128;
/// Age after which a work directory under `releases/` counts as left behind
/// by a crashed deploy or prune (a live copy touches it far more often).
const STALE_WORK_AGE: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);

/// Directory releases under `root/releases/<id>` with an atomic `current` link.
#[derive(Debug)]
pub struct ReleasesProvider {
    layout: Layout,
    restart: Option<RestartHook>,
    keep: usize,
    /// Serializes this process's changes (deploy, promote, record), so two
    /// tasks never interleave a ledger read-modify-write or a switch.
    changes: tokio::sync::Mutex<()>,
}

impl ReleasesProvider {
    /// A provider for `config`; `restart` runs in `base_dir`.
    pub fn new(config: ReleasesConfig, base_dir: PathBuf) -> Self {
        let layout = Layout { root: config.root };
        let restart = config.restart.map(|command| RestartHook {
            command,
            directory: base_dir,
            timeout: config.restart_timeout,
            log: layout.root.join(RESTART_LOG),
        });
        Self {
            layout,
            restart,
            keep: config.keep,
            changes: tokio::sync::Mutex::new(()),
        }
    }

    /// The releases root (holds `releases/`, `current` and the ledger).
    pub fn root(&self) -> &Path {
        &self.layout.root
    }

    /// The directory of release `id` (which may not exist).
    pub fn release_dir(&self, id: &str) -> PathBuf {
        self.layout.release_dir(id)
    }

    /// Removes the oldest release directories beyond `keep`, returning their
    /// ids, oldest first.
    ///
    /// The current release and the newest `healthy` one always stay, even
    /// when that leaves more than `keep`. Work directories (`.tmp-*`) older
    /// than a day, left by a crashed deploy, go too. `deploy` calls this after a
    /// successful restart and ignores its errors (the deploy itself worked);
    /// call it directly to report them.
    pub async fn prune(&self) -> Result<Vec<String>, ProviderError> {
        let _changes = self.changes.lock().await;
        let layout = self.layout.clone();
        let keep = self.keep;
        blocking("prune old releases", move || prune(&layout, keep)).await
    }

    /// Runs the `restart` hook, if configured, for release `id`.
    async fn restart(&self, id: &str) -> Result<(), ProviderError> {
        match &self.restart {
            Some(hook) => hook.run(id, &self.layout.release_dir(id)).await,
            None => Ok(()),
        }
    }
}

#[async_trait::async_trait]
impl Provider for ReleasesProvider {
    fn name(&self) -> &'static str {
        "releases"
    }

    async fn current(&self) -> Result<Option<Release>, ProviderError> {
        let layout = self.layout.clone();
        blocking("read the current release", move || {
            let Some(id) = read_current(&layout)? else {
                return Ok(None);
            };
            let ledger = Ledger::load(&layout.ledger_path())?;
            match ledger.get(&id) {
                Some(release) => Ok(Some(release.clone())),
                None => unrecorded(&layout, &id).map(Some),
            }
        })
        .await
    }

    async fn history(&self, limit: usize) -> Result<Vec<Release>, ProviderError> {
        let layout = self.layout.clone();
        let mut releases = blocking("list the releases", move || inventory(&layout)).await?;
        releases.truncate(limit);
        Ok(releases)
    }

    async fn preflight(&self, spec: &DeploySpec) -> Result<(), ProviderError> {
        let layout = self.layout.clone();
        let spec = spec.clone();
        blocking("check the release", move || {
            check_spec(&layout, &spec).map(drop)
        })
        .await
    }

    async fn deploy(&self, spec: &DeploySpec) -> Result<Release, ProviderError> {
        validate_id(&spec.id)?;
        let _changes = self.changes.lock().await;
        let layout = self.layout.clone();
        let spec = spec.clone();
        let release = blocking("deploy a release", move || {
            let release = install(&layout, &spec)?;
            switch_current(&layout, &release.id)?;
            Ok(release)
        })
        .await?;
        self.restart(&release.id).await?;
        // Housekeeping only: the new release is live, so a failure here must
        // not make the caller roll a good deploy back. The next deploy retries.
        let layout = self.layout.clone();
        let keep = self.keep;
        let _ = blocking("prune old releases", move || prune(&layout, keep)).await;
        Ok(release)
    }

    async fn promote(&self, release: &Release) -> Result<(), ProviderError> {
        validate_id(&release.id)?;
        let _changes = self.changes.lock().await;
        let layout = self.layout.clone();
        let id = release.id.clone();
        blocking("promote a release", move || {
            if !layout.release_dir(&id).is_dir() {
                return Err(unknown_release(&layout, id));
            }
            switch_current(&layout, &id)
        })
        .await?;
        self.restart(&release.id).await
    }

    async fn record(&self, release: &Release, state: ReleaseState) -> Result<(), ProviderError> {
        validate_id(&release.id)?;
        let _changes = self.changes.lock().await;
        let layout = self.layout.clone();
        let release = release.clone();
        blocking("record a release's state", move || {
            let mut ledger = Ledger::load(&layout.ledger_path())?;
            if !ledger.set_state(&release.id, state) {
                if !layout.release_dir(&release.id).is_dir() {
                    return Err(unknown_release(&layout, release.id));
                }
                // A release directory the ledger lost: record it now.
                ledger.insert(Release { state, ..release });
            }
            ledger.save()
        })
        .await
    }
}

/// Where things live under the releases root.
#[derive(Debug, Clone)]
struct Layout {
    root: PathBuf,
}

impl Layout {
    fn releases_dir(&self) -> PathBuf {
        self.root.join(RELEASES_DIR)
    }

    fn release_dir(&self, id: &str) -> PathBuf {
        self.releases_dir().join(id)
    }

    fn current_link(&self) -> PathBuf {
        self.root.join(CURRENT_LINK)
    }

    fn ledger_path(&self) -> PathBuf {
        self.root.join(LEDGER_FILE)
    }
}

/// Runs blocking filesystem work off the async threads.
async fn blocking<T: Send + 'static>(
    action: &'static str,
    work: impl FnOnce() -> Result<T, ProviderError> + Send + 'static,
) -> Result<T, ProviderError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(error) => Err(ProviderError::Internal {
            action,
            detail: error.to_string(),
        }),
    }
}

/// Accepts ids that are safe, portable directory names.
fn validate_id(id: &str) -> Result<(), ProviderError> {
    if is_valid_id(id) {
        Ok(())
    } else {
        Err(ProviderError::InvalidId { id: id.to_owned() })
    }
}

/// 1 to [`MAX_ID_LENGTH`] ASCII letters, digits, `.`, `_`, `-`; no leading
/// `.` (that rules out `.`, `..` and the `.tmp-*` work directories).
fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LENGTH
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
}

/// Copies `spec.source` to `releases/<id>` and records it as deployed.
/// Refuses what `install` would refuse, before anything changes: an invalid
/// id, a missing source, a source containing the root, an existing release.
/// Returns the source directory with its links resolved.
fn check_spec(layout: &Layout, spec: &DeploySpec) -> Result<PathBuf, ProviderError> {
    validate_id(&spec.id)?;
    let written = spec.source.as_ref().ok_or(ProviderError::NoSource)?;
    if !written.is_dir() {
        return Err(ProviderError::MissingSource {
            path: written.clone(),
        });
    }
    let source =
        fs_err::canonicalize(written).map_err(io("resolve the release source", written))?;
    // The root is absolute; resolve its links too when it already exists.
    let resolved_root = fs_err::canonicalize(&layout.root).unwrap_or_else(|_| layout.root.clone());
    if resolved_root.starts_with(&source) {
        return Err(ProviderError::SourceContainsRoot {
            path: written.clone(),
            root: layout.root.clone(),
        });
    }
    if fs_err::symlink_metadata(layout.release_dir(&spec.id)).is_ok() {
        return Err(ProviderError::ReleaseExists {
            id: spec.id.clone(),
            root: layout.root.clone(),
        });
    }
    Ok(source)
}

fn install(layout: &Layout, spec: &DeploySpec) -> Result<Release, ProviderError> {
    let source = check_spec(layout, spec)?;
    let releases_dir = layout.releases_dir();
    fs_err::create_dir_all(&releases_dir)
        .map_err(io("create the releases directory", &releases_dir))?;
    let target = layout.release_dir(&spec.id);
    let exists = || fs_err::symlink_metadata(&target).is_ok();
    // Read the ledger before the (possibly long) copy: a broken ledger stops here.
    let mut ledger = Ledger::load(&layout.ledger_path())?;

    let temporary = releases_dir.join(format!(".tmp-{}-{}", spec.id, random_suffix()));
    let copied = copy_tree(&source, &temporary).and_then(|()| {
        fs_err::rename(&temporary, &target).map_err(|source| {
            if exists() {
                ProviderError::ReleaseExists {
                    id: spec.id.clone(),
                    root: layout.root.clone(),
                }
            } else {
                ProviderError::Io {
                    action: "move the copied release into place at",
                    path: target.clone(),
                    source,
                }
            }
        })
    });
    if let Err(error) = copied {
        // Best effort: the copy is invisible under its temp name anyway.
        let _ = fs_err::remove_dir_all(&temporary);
        return Err(error);
    }

    // The commit lets the summary list what changed since this release (issue 14).
    let release = Release {
        commit: spec.commit.clone(),
        ..Release::new(
            spec.id.clone(),
            ReleaseState::Deployed,
            jiff::Timestamp::now(),
        )
    };
    ledger.insert(release.clone());
    ledger.save()?;
    Ok(release)
}

/// Points `current` at `releases/<id>` atomically: a new link at a temp name,
/// renamed over the old one.
fn switch_current(layout: &Layout, id: &str) -> Result<(), ProviderError> {
    let link = layout.current_link();
    let temporary = layout
        .root
        .join(format!(".{CURRENT_LINK}-{}.tmp", random_suffix()));
    let target = Path::new(RELEASES_DIR).join(id);
    symlink(&target, &temporary).map_err(io("create the new `current` link", &temporary))?;
    if let Err(source) = fs_err::rename(&temporary, &link) {
        let _ = fs_err::remove_file(&temporary);
        return Err(ProviderError::Io {
            action: "switch the `current` link",
            path: link,
            source,
        });
    }
    Ok(())
}

/// The id `current` points at; `None` when there is no `current` yet.
fn read_current(layout: &Layout) -> Result<Option<String>, ProviderError> {
    let link = layout.current_link();
    let target = match fs_err::read_link(&link) {
        Ok(target) => target,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ProviderError::Io {
                action: "read the `current` link",
                path: link,
                source,
            });
        }
    };
    let id = target
        .file_name()
        .and_then(|name| name.to_str())
        .filter(|id| is_valid_id(id));
    match id {
        Some(id) if layout.release_dir(id).is_dir() => Ok(Some(id.to_owned())),
        _ => Err(ProviderError::BrokenCurrent { link, target }),
    }
}

/// Ids of the release directories on disk, in no particular order.
fn release_ids(layout: &Layout) -> Result<Vec<String>, ProviderError> {
    let releases_dir = layout.releases_dir();
    let entries = match fs_err::read_dir(&releases_dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(ProviderError::Io {
                action: "list the releases in",
                path: releases_dir,
                source,
            });
        }
    };
    let mut ids = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io("list the releases in", &releases_dir))?;
        let is_dir = entry
            .file_type()
            .map_err(io("read", &entry.path()))?
            .is_dir();
        if let Some(id) = entry
            .file_name()
            .to_str()
            .filter(|id| is_dir && is_valid_id(id))
        {
            ids.push(id.to_owned());
        }
    }
    Ok(ids)
}

/// A release directory the ledger does not know: deployed, at its mtime.
fn unrecorded(layout: &Layout, id: &str) -> Result<Release, ProviderError> {
    let path = layout.release_dir(id);
    let modified = fs_err::metadata(&path)
        .and_then(|metadata| metadata.modified())
        .map_err(io("read", &path))?;
    let deployed_at = jiff::Timestamp::try_from(modified).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    Ok(Release::new(id, ReleaseState::Deployed, deployed_at))
}

/// Every release whose directory exists, newest first (by `deployed_at`,
/// then id), with its ledger state.
fn inventory(layout: &Layout) -> Result<Vec<Release>, ProviderError> {
    let ledger = Ledger::load(&layout.ledger_path())?;
    let mut releases = release_ids(layout)?
        .into_iter()
        .map(|id| match ledger.get(&id) {
            Some(release) => Ok(release.clone()),
            None => unrecorded(layout, &id),
        })
        .collect::<Result<Vec<_>, _>>()?;
    releases.sort_by(|a, b| (b.deployed_at, &b.id).cmp(&(a.deployed_at, &a.id)));
    Ok(releases)
}

/// [`ProviderError::UnknownRelease`] for `id`, listing the known ids.
fn unknown_release(layout: &Layout, id: String) -> ProviderError {
    let known =
        inventory(layout).map(|releases| releases.into_iter().map(|release| release.id).collect());
    ProviderError::UnknownRelease {
        id,
        root: layout.root.clone(),
        known: known.unwrap_or_default(),
    }
}

/// Removes the oldest release directories beyond `keep`, sparing the current
/// release and the newest healthy one, and forgets them in the ledger.
fn prune(layout: &Layout, keep: usize) -> Result<Vec<String>, ProviderError> {
    let releases = inventory(layout)?;
    let current = read_current(layout)?;
    let newest_healthy = releases
        .iter()
        .find(|release| release.state == ReleaseState::Healthy);
    let spared = |id: &String| {
        current.as_ref() == Some(id) || newest_healthy.is_some_and(|release| &release.id == id)
    };
    let mut excess = releases.len().saturating_sub(keep);
    let mut removed = Vec::new();
    let mut failure = None;
    for release in releases.iter().rev() {
        if excess == 0 {
            break;
        }
        if spared(&release.id) {
            continue;
        }
        // Out of sight first, so a half-deleted release never shows under its id.
        let path = layout.release_dir(&release.id);
        let doomed =
            layout
                .releases_dir()
                .join(format!(".tmp-prune-{}-{}", release.id, random_suffix()));
        if let Err(source) = fs_err::rename(&path, &doomed) {
            failure = Some(ProviderError::Io {
                action: "move aside the old release",
                path,
                source,
            });
            break;
        }
        removed.push(release.id.clone());
        excess -= 1;
        if let Err(source) = fs_err::remove_dir_all(&doomed) {
            failure = Some(ProviderError::Io {
                action: "remove the old release",
                path: doomed,
                source,
            });
            break;
        }
    }
    sweep_stale_work(layout);
    if !removed.is_empty() {
        let mut ledger = Ledger::load(&layout.ledger_path())?;
        ledger.remove(&removed);
        ledger.save()?;
    }
    match failure {
        Some(error) => Err(error),
        None => Ok(removed),
    }
}

/// Removes `.tmp-*` work directories older than [`STALE_WORK_AGE`], best
/// effort: they are invisible to every reader, so failing here harms nothing.
fn sweep_stale_work(layout: &Layout) {
    let Ok(entries) = fs_err::read_dir(layout.releases_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let is_work = entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.starts_with(".tmp-"));
        let age = entry
            .metadata()
            .and_then(|metadata| metadata.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok());
        if is_work && age.is_some_and(|age| age > STALE_WORK_AGE) {
            let _ = fs_err::remove_dir_all(entry.path());
        }
    }
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use super::*;

    /// A temp dir with a config dir (`base`), a releases root and sources.
    struct Fixture {
        dir: tempfile::TempDir,
    }

    impl Fixture {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            fs_err::create_dir(dir.path().join("base")).unwrap();
            Self { dir }
        }

        fn base(&self) -> PathBuf {
            self.dir.path().join("base")
        }

        fn root(&self) -> PathBuf {
            self.dir.path().join("root")
        }

        fn provider(
            &self,
            restart: Option<&str>,
            restart_timeout: Duration,
            keep: usize,
        ) -> ReleasesProvider {
            let config = ReleasesConfig {
                root: self.root(),
                source: None,
                restart: restart.map(str::to_owned),
                restart_timeout,
                keep,
            };
            ReleasesProvider::new(config, self.base())
        }

        fn plain(&self) -> ReleasesProvider {
            self.provider(None, Duration::from_secs(10), 10)
        }

        /// A source tree whose `marker.txt` says `marker`.
        fn source(&self, marker: &str) -> PathBuf {
            let path = self.dir.path().join(format!("source-{marker}"));
            fs_err::create_dir_all(path.join("static")).unwrap();
            fs_err::write(path.join("marker.txt"), marker).unwrap();
            fs_err::write(path.join("static/app.js"), format!("// {marker}")).unwrap();
            path
        }

        fn spec(&self, id: &str) -> DeploySpec {
            DeploySpec {
                id: id.to_owned(),
                source: Some(self.source(id)),
                commit: None,
            }
        }

        fn current_marker(&self) -> String {
            fs_err::read_to_string(self.root().join("current/marker.txt")).unwrap()
        }

        /// Names in `dir` that look like leftover work files.
        fn leftovers(&self) -> Vec<String> {
            let mut names = Vec::new();
            for dir in [self.root(), self.root().join(RELEASES_DIR)] {
                for entry in fs_err::read_dir(dir).unwrap() {
                    let name = entry.unwrap().file_name().into_string().unwrap();
                    if name.contains("tmp") {
                        names.push(name);
                    }
                }
            }
            names
        }
    }

    fn ids(releases: &[Release]) -> Vec<&str> {
        releases.iter().map(|release| release.id.as_str()).collect()
    }

    fn states(releases: &[Release]) -> Vec<(&str, ReleaseState)> {
        releases
            .iter()
            .map(|release| (release.id.as_str(), release.state))
            .collect()
    }

    /// Whether `pid` is a live (not zombie) process.
    #[cfg(target_os = "linux")]
    fn alive(pid: &str) -> bool {
        match fs_err::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => stat
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| !rest.starts_with('Z')),
            Err(_) => false,
        }
    }

    #[tokio::test]
    async fn no_current_before_the_first_deploy() {
        let fixture = Fixture::new();
        let provider = fixture.plain();
        assert_eq!(provider.current().await.unwrap(), None);
        assert!(provider.history(10).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn deploy_copies_the_tree_and_points_current_at_it() {
        use std::os::unix::fs::PermissionsExt as _;
        let fixture = Fixture::new();
        let spec = fixture.spec("v1");
        fs_err::write(spec.source.as_ref().unwrap().join("run.sh"), "#!/bin/sh\n").unwrap();
        fs_err::set_permissions(
            spec.source.as_ref().unwrap().join("run.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        symlink(
            Path::new("static/app.js"),
            &spec.source.as_ref().unwrap().join("app.js"),
        )
        .unwrap();
        let provider = fixture.plain();

        let before = jiff::Timestamp::now();
        let release = provider.deploy(&spec).await.unwrap();
        assert_eq!(release.id, "v1");
        assert_eq!(release.state, ReleaseState::Deployed);
        assert!(release.deployed_at >= before);

        let dir = fixture.root().join("releases/v1");
        assert_eq!(
            fs_err::read_to_string(dir.join("marker.txt")).unwrap(),
            "v1"
        );
        assert_eq!(
            fs_err::read_to_string(dir.join("static/app.js")).unwrap(),
            "// v1"
        );
        assert_eq!(
            fs_err::metadata(dir.join("run.sh"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o755
        );
        assert_eq!(
            fs_err::read_link(dir.join("app.js")).unwrap(),
            Path::new("static/app.js")
        );
        assert_eq!(
            fs_err::read_link(fixture.root().join("current")).unwrap(),
            Path::new("releases/v1")
        );
        assert_eq!(fixture.current_marker(), "v1");
        assert_eq!(provider.current().await.unwrap(), Some(release));
        assert!(fixture.leftovers().is_empty(), "{:?}", fixture.leftovers());
    }

    #[tokio::test]
    async fn second_deploy_switches_current_and_history_is_newest_first() {
        let fixture = Fixture::new();
        let provider = fixture.plain();
        let first = provider.deploy(&fixture.spec("v1")).await.unwrap();
        let second = provider.deploy(&fixture.spec("v2")).await.unwrap();
        assert!(second.deployed_at > first.deployed_at);

        assert_eq!(fixture.current_marker(), "v2");
        assert_eq!(provider.current().await.unwrap().unwrap().id, "v2");
        let history = provider.history(10).await.unwrap();
        assert_eq!(
            states(&history),
            [
                ("v2", ReleaseState::Deployed),
                ("v1", ReleaseState::Deployed)
            ]
        );
        assert_eq!(history, [second.clone(), first]);
        assert_eq!(provider.history(1).await.unwrap(), [second]);
        assert!(provider.history(0).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn record_then_history_shows_healthy_and_failed() {
        let fixture = Fixture::new();
        let provider = fixture.plain();
        let first = provider.deploy(&fixture.spec("v1")).await.unwrap();
        let second = provider.deploy(&fixture.spec("v2")).await.unwrap();
        provider
            .record(&first, ReleaseState::Healthy)
            .await
            .unwrap();
        provider
            .record(&second, ReleaseState::Failed)
            .await
            .unwrap();

        let history = provider.history(10).await.unwrap();
        assert_eq!(
            states(&history),
            [("v2", ReleaseState::Failed), ("v1", ReleaseState::Healthy)]
        );
        assert_eq!(
            provider.current().await.unwrap().unwrap().state,
            ReleaseState::Failed
        );

        let ghost = Release {
            id: "v9".to_owned(),
            ..first
        };
        let error = provider
            .record(&ghost, ReleaseState::Healthy)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, ProviderError::UnknownRelease { id, known, .. } if id == "v9" && known == &["v2", "v1"]),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn promote_switches_back_to_the_first_release() {
        let fixture = Fixture::new();
        let provider = fixture.plain();
        let first = provider.deploy(&fixture.spec("v1")).await.unwrap();
        provider.deploy(&fixture.spec("v2")).await.unwrap();
        provider
            .record(&first, ReleaseState::Healthy)
            .await
            .unwrap();

        provider.promote(&first).await.unwrap();
        assert_eq!(fixture.current_marker(), "v1");
        assert_eq!(
            fs_err::read_link(fixture.root().join("current")).unwrap(),
            Path::new("releases/v1")
        );
        let current = provider.current().await.unwrap().unwrap();
        assert_eq!(
            (current.id.as_str(), current.state),
            ("v1", ReleaseState::Healthy)
        );
        // Promoting changes what serves traffic, not the history order.
        assert_eq!(ids(&provider.history(10).await.unwrap()), ["v2", "v1"]);

        let ghost = Release {
            id: "v7".to_owned(),
            ..first
        };
        let error = provider.promote(&ghost).await.unwrap_err();
        assert!(
            matches!(&error, ProviderError::UnknownRelease { id, known, .. } if id == "v7" && known == &["v2", "v1"]),
            "{error:?}"
        );
        assert_eq!(fixture.current_marker(), "v1");
    }

    #[tokio::test]
    async fn deploying_an_existing_id_is_refused_and_changes_nothing() {
        let fixture = Fixture::new();
        let provider = fixture.plain();
        provider.deploy(&fixture.spec("v1")).await.unwrap();
        provider.deploy(&fixture.spec("v2")).await.unwrap();
        let ledger = fs_err::read(fixture.root().join(LEDGER_FILE)).unwrap();

        let again = DeploySpec {
            id: "v1".to_owned(),
            source: Some(fixture.source("other")),
            commit: None,
        };
        let error = provider.deploy(&again).await.unwrap_err();
        assert!(
            matches!(&error, ProviderError::ReleaseExists { id, .. } if id == "v1"),
            "{error:?}"
        );
        assert_eq!(
            fs_err::read_to_string(fixture.root().join("releases/v1/marker.txt")).unwrap(),
            "v1"
        );
        assert_eq!(fixture.current_marker(), "v2");
        assert_eq!(
            fs_err::read(fixture.root().join(LEDGER_FILE)).unwrap(),
            ledger
        );
        assert!(fixture.leftovers().is_empty(), "{:?}", fixture.leftovers());
    }

    #[tokio::test]
    async fn invalid_ids_are_refused_before_touching_the_disk() {
        let fixture = Fixture::new();
        let provider = fixture.plain();
        let source = fixture.source("any");
        let long = "a".repeat(MAX_ID_LENGTH + 1);
        for id in [
            "",
            ".",
            "..",
            "../escape",
            "a/b",
            "/abs",
            "has space",
            ".hidden",
            "v1\n",
            "café",
            long.as_str(),
        ] {
            let spec = DeploySpec {
                id: id.to_owned(),
                source: Some(source.clone()),
                commit: None,
            };
            let error = provider.deploy(&spec).await.unwrap_err();
            assert!(
                matches!(&error, ProviderError::InvalidId { id: got } if got == id),
                "{id:?}: {error:?}"
            );
            let release = Release::new(id, ReleaseState::Healthy, jiff::Timestamp::now());
            assert!(matches!(
                provider.promote(&release).await,
                Err(ProviderError::InvalidId { .. })
            ));
            assert!(matches!(
                provider.record(&release, ReleaseState::Failed).await,
                Err(ProviderError::InvalidId { .. })
            ));
        }
        assert!(!fixture.root().exists());
        for id in [
            "v1",
            "1.2.3",
            "abc123_def-4",
            "V-2026.11.22",
            "a".repeat(MAX_ID_LENGTH).as_str(),
        ] {
            assert!(is_valid_id(id), "{id}");
        }
    }

    #[tokio::test]
    async fn bad_sources_are_refused() {
        let fixture = Fixture::new();
        let provider = fixture.plain();
        let missing = DeploySpec {
            id: "v1".to_owned(),
            source: Some(fixture.dir.path().join("missing")),
            commit: None,
        };
        assert!(matches!(
            provider.deploy(&missing).await,
            Err(ProviderError::MissingSource { .. })
        ));

        // The root inside the source would copy the releases into themselves.
        let source = fixture.dir.path().to_owned();
        let error = provider
            .deploy(&DeploySpec {
                id: "v1".to_owned(),
                source: Some(source),
                commit: None,
            })
            .await
            .unwrap_err();
        assert!(
            matches!(error, ProviderError::SourceContainsRoot { .. }),
            "{error:?}"
        );
        assert!(!fixture.root().exists());
        assert_eq!(provider.current().await.unwrap(), None);
    }

    #[tokio::test]
    async fn restart_hook_runs_in_the_config_dir_with_the_release_env() {
        let fixture = Fixture::new();
        let hook = r#"printf '%s|%s|%s\n' "$SHIPGATE_RELEASE_ID" "$SHIPGATE_RELEASE_DIR" "$(pwd)" > hook.out"#;
        let provider = fixture.provider(Some(hook), Duration::from_secs(10), 10);
        let read_hook = || fs_err::read_to_string(fixture.base().join("hook.out")).unwrap();
        let base = fs_err::canonicalize(fixture.base()).unwrap();

        let first = provider.deploy(&fixture.spec("v1")).await.unwrap();
        let root = fixture.root();
        assert_eq!(
            read_hook(),
            format!(
                "v1|{}|{}\n",
                root.join("releases/v1").display(),
                base.display()
            )
        );
        provider.deploy(&fixture.spec("v2")).await.unwrap();
        assert_eq!(
            read_hook(),
            format!(
                "v2|{}|{}\n",
                root.join("releases/v2").display(),
                base.display()
            )
        );
        provider.promote(&first).await.unwrap();
        assert_eq!(
            read_hook(),
            format!(
                "v1|{}|{}\n",
                root.join("releases/v1").display(),
                base.display()
            )
        );
    }

    #[tokio::test]
    async fn failing_restart_hook_reports_its_output_tail() {
        let fixture = Fixture::new();
        let hook =
            "i=1; while [ $i -le 30 ]; do echo line $i; i=$((i+1)); done; echo oops >&2; exit 3";
        let provider = fixture.provider(Some(hook), Duration::from_secs(10), 10);
        let error = provider.deploy(&fixture.spec("v1")).await.unwrap_err();
        let ProviderError::Restart {
            command,
            failure,
            output,
        } = &error
        else {
            panic!("expected a restart error, got {error:?}");
        };
        assert_eq!(command, hook);
        assert_eq!(failure, "exited with status 3");
        let lines: Vec<&str> = output.lines().collect();
        assert_eq!(lines.len(), 20, "{output}");
        assert_eq!(lines.first(), Some(&"line 12"));
        assert_eq!(lines.last(), Some(&"oops"));
        assert_eq!(
            error.to_string(),
            format!("the restart command `{hook}` exited with status 3")
        );
        // As the hint says: `current` already points at the new release.
        assert_eq!(fixture.current_marker(), "v1");
        assert_eq!(
            provider.current().await.unwrap().unwrap().state,
            ReleaseState::Deployed
        );
    }

    #[tokio::test]
    async fn restart_hook_starting_a_background_process_returns_promptly() {
        let fixture = Fixture::new();
        let hook = "echo starting; sleep 30 & echo $! > background.pid; echo started";
        let provider = fixture.provider(Some(hook), Duration::from_secs(20), 10);
        let started = Instant::now();
        let result = provider.deploy(&fixture.spec("v1")).await;
        let elapsed = started.elapsed();
        let pid = fs_err::read_to_string(fixture.base().join("background.pid")).unwrap();
        let _ = std::process::Command::new("kill").arg(pid.trim()).status();
        result.unwrap();
        assert!(elapsed < Duration::from_secs(5), "deploy took {elapsed:?}");
        let log = fs_err::read_to_string(fixture.root().join(RESTART_LOG)).unwrap();
        assert_eq!(log, "starting\nstarted\n");
    }

    #[tokio::test]
    async fn restart_hook_exceeding_its_timeout_is_killed() {
        let fixture = Fixture::new();
        let hook = "echo $$ > shell.pid; sleep 30 & echo $! > sleep.pid; echo waiting; wait";
        let provider = fixture.provider(Some(hook), Duration::from_millis(500), 10);
        let started = Instant::now();
        let error = provider.deploy(&fixture.spec("v1")).await.unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
        let ProviderError::Restart {
            failure, output, ..
        } = &error
        else {
            panic!("expected a restart error, got {error:?}");
        };
        assert_eq!(failure, "timed out after 500ms");
        assert_eq!(output, "waiting");

        #[cfg(target_os = "linux")]
        for file in ["shell.pid", "sleep.pid"] {
            let pid = fs_err::read_to_string(fixture.base().join(file)).unwrap();
            let deadline = Instant::now() + Duration::from_secs(5);
            while alive(pid.trim()) {
                assert!(
                    Instant::now() < deadline,
                    "{file}: process {} outlived the timeout",
                    pid.trim()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    #[tokio::test]
    async fn pruning_keeps_keep_dirs_and_never_removes_current_or_newest_healthy() {
        let fixture = Fixture::new();
        let provider = fixture.provider(None, Duration::from_secs(10), 2);
        let first = provider.deploy(&fixture.spec("v1")).await.unwrap();
        provider
            .record(&first, ReleaseState::Healthy)
            .await
            .unwrap();
        provider.deploy(&fixture.spec("v2")).await.unwrap();
        assert_eq!(ids(&provider.history(10).await.unwrap()), ["v2", "v1"]);

        // v3 is current and v1 the newest healthy: v2 goes.
        provider.deploy(&fixture.spec("v3")).await.unwrap();
        assert_eq!(ids(&provider.history(10).await.unwrap()), ["v3", "v1"]);
        assert!(!fixture.root().join("releases/v2").exists());

        // Promoting v1 back and deploying v4: v3 is neither current nor healthy.
        provider.promote(&first).await.unwrap();
        let fourth = provider.deploy(&fixture.spec("v4")).await.unwrap();
        assert_eq!(ids(&provider.history(10).await.unwrap()), ["v4", "v1"]);

        // With v4 healthy, v1 is only the oldest: v5 current + v4 healthy stay.
        provider
            .record(&fourth, ReleaseState::Healthy)
            .await
            .unwrap();
        provider.deploy(&fixture.spec("v5")).await.unwrap();
        assert_eq!(ids(&provider.history(10).await.unwrap()), ["v5", "v4"]);
        assert_eq!(fixture.current_marker(), "v5");

        let ledger: serde_json::Value =
            serde_json::from_slice(&fs_err::read(fixture.root().join(LEDGER_FILE)).unwrap())
                .unwrap();
        let recorded: Vec<&str> = ledger["releases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|release| release["id"].as_str().unwrap())
            .collect();
        assert_eq!(recorded, ["v4", "v5"]);
        assert!(fixture.leftovers().is_empty(), "{:?}", fixture.leftovers());
    }

    #[tokio::test]
    async fn pruning_sweeps_stale_work_directories_only() {
        let fixture = Fixture::new();
        let provider = fixture.plain();
        provider.deploy(&fixture.spec("v1")).await.unwrap();
        let releases = fixture.root().join(RELEASES_DIR);
        let stale = releases.join(".tmp-v2-crashed");
        let fresh = releases.join(".tmp-v3-copying");
        for dir in [&stale, &fresh] {
            fs_err::create_dir_all(dir.join("static")).unwrap();
            fs_err::write(dir.join("static/app.js"), "//").unwrap();
        }
        let two_days_ago = std::time::SystemTime::now() - 2 * STALE_WORK_AGE;
        fs_err::File::open(&stale)
            .unwrap()
            .file()
            .set_modified(two_days_ago)
            .unwrap();

        assert!(provider.prune().await.unwrap().is_empty());
        assert!(!stale.exists());
        assert!(fresh.exists());
        assert_eq!(fixture.current_marker(), "v1");
    }

    #[tokio::test]
    async fn pruning_keeps_more_than_keep_when_both_are_spared() {
        let fixture = Fixture::new();
        let provider = fixture.provider(None, Duration::from_secs(10), 1);
        let first = provider.deploy(&fixture.spec("v1")).await.unwrap();
        provider
            .record(&first, ReleaseState::Healthy)
            .await
            .unwrap();
        provider.deploy(&fixture.spec("v2")).await.unwrap();
        assert_eq!(ids(&provider.history(10).await.unwrap()), ["v2", "v1"]);
        assert!(provider.prune().await.unwrap().is_empty());
        provider.deploy(&fixture.spec("v3")).await.unwrap();
        assert_eq!(ids(&provider.history(10).await.unwrap()), ["v3", "v1"]);
    }

    /// A thread running `read` in a loop until stopped, counting its calls
    /// and collecting its failures.
    struct Reader {
        stop: Arc<AtomicBool>,
        reads: Arc<AtomicUsize>,
        thread: std::thread::JoinHandle<Vec<String>>,
    }

    impl Reader {
        fn spawn(mut read: impl FnMut() -> Result<(), String> + Send + 'static) -> Self {
            let stop = Arc::new(AtomicBool::new(false));
            let reads = Arc::new(AtomicUsize::new(0));
            let thread = {
                let (stop, reads) = (Arc::clone(&stop), Arc::clone(&reads));
                std::thread::spawn(move || {
                    let mut failures = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        if let Err(failure) = read() {
                            failures.push(failure);
                        }
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                    failures
                })
            };
            Self {
                stop,
                reads,
                thread,
            }
        }

        fn reads(&self) -> usize {
            self.reads.load(Ordering::Relaxed)
        }

        /// Returns once the thread has read again since it had done `seen`.
        async fn read_past(&self, seen: usize) {
            let deadline = Instant::now() + Duration::from_secs(5);
            while self.reads() <= seen {
                assert!(Instant::now() < deadline, "the reader thread stalled");
                tokio::task::yield_now().await;
            }
        }

        /// Stops the thread: how many reads it made, and its failures.
        fn stop(self) -> (usize, Vec<String>) {
            self.stop.store(true, Ordering::Relaxed);
            let failures = self.thread.join().unwrap();
            (self.reads.load(Ordering::Relaxed), failures)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_readers_never_see_a_missing_current() {
        let fixture = Fixture::new();
        let provider = fixture.plain();
        let first = provider.deploy(&fixture.spec("a")).await.unwrap();
        let second = provider.deploy(&fixture.spec("b")).await.unwrap();

        let marker = fixture.root().join("current/marker.txt");
        let reader = Reader::spawn(move || match fs_err::read_to_string(&marker) {
            Ok(text) if text == "a" || text == "b" => Ok(()),
            Ok(text) => Err(format!("unexpected contents {text:?}")),
            Err(error) => Err(error.to_string()),
        });
        reader.read_past(0).await;
        for switch in 0..200 {
            let release = if switch % 2 == 0 { &first } else { &second };
            let seen = reader.reads();
            provider.promote(release).await.unwrap();
            // Keep the reader busy across every switch.
            reader.read_past(seen).await;
        }
        let (reads, failures) = reader.stop();
        assert!(
            failures.is_empty(),
            "{} of {reads} reads failed, first: {}",
            failures.len(),
            failures[0]
        );
        assert!(reads > 200, "{reads}");
        assert_eq!(fixture.current_marker(), "b");
        assert!(fixture.leftovers().is_empty(), "{:?}", fixture.leftovers());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ledger_is_replaced_atomically() {
        let fixture = Fixture::new();
        let provider = fixture.plain();
        let first = provider.deploy(&fixture.spec("v1")).await.unwrap();
        provider.deploy(&fixture.spec("v2")).await.unwrap();
        let path = fixture.root().join(LEDGER_FILE);

        let ledger = path.clone();
        let reader = Reader::spawn(move || {
            let bytes = fs_err::read(&ledger).map_err(|error| error.to_string())?;
            let value: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|error| format!("{error}: {bytes:?}"))?;
            match value["releases"].as_array().map(Vec::len) {
                Some(2) => Ok(()),
                other => Err(format!("expected 2 releases, got {other:?}")),
            }
        });
        reader.read_past(0).await;
        for round in 0..100 {
            let state = if round % 2 == 0 {
                ReleaseState::Healthy
            } else {
                ReleaseState::Failed
            };
            let seen = reader.reads();
            provider.record(&first, state).await.unwrap();
            reader.read_past(seen).await;
        }
        let (reads, failures) = reader.stop();
        assert!(
            failures.is_empty(),
            "{} of {reads} reads failed, first: {}",
            failures.len(),
            failures[0]
        );

        let value: serde_json::Value =
            serde_json::from_slice(&fs_err::read(&path).unwrap()).unwrap();
        assert_eq!(value["version"], 1);
        assert_eq!(value["releases"][0]["id"], "v1");
        assert_eq!(value["releases"][0]["state"], "failed");
        assert_eq!(value["releases"][1]["id"], "v2");
        assert!(fixture.leftovers().is_empty(), "{:?}", fixture.leftovers());
    }

    #[tokio::test]
    async fn release_dirs_missing_from_the_ledger_count_as_deployed() {
        let fixture = Fixture::new();
        let provider = fixture.plain();
        let first = provider.deploy(&fixture.spec("v1")).await.unwrap();
        provider
            .record(&first, ReleaseState::Healthy)
            .await
            .unwrap();
        fs_err::remove_file(fixture.root().join(LEDGER_FILE)).unwrap();

        let current = provider.current().await.unwrap().unwrap();
        assert_eq!(
            (current.id.as_str(), current.state),
            ("v1", ReleaseState::Deployed)
        );
        // Work directories are not releases.
        fs_err::create_dir(fixture.root().join("releases/.tmp-v2-0123")).unwrap();
        assert_eq!(
            states(&provider.history(10).await.unwrap()),
            [("v1", ReleaseState::Deployed)]
        );
        // Recording re-adds it to the ledger.
        provider
            .record(&current, ReleaseState::Healthy)
            .await
            .unwrap();
        assert_eq!(
            provider.current().await.unwrap().unwrap().state,
            ReleaseState::Healthy
        );
    }

    #[tokio::test]
    async fn broken_current_and_ledger_are_reported() {
        let fixture = Fixture::new();
        let provider = fixture.plain();
        provider.deploy(&fixture.spec("v1")).await.unwrap();

        fs_err::write(fixture.root().join(LEDGER_FILE), "{ not json").unwrap();
        assert!(matches!(
            provider.history(10).await,
            Err(ProviderError::Ledger { .. })
        ));
        let error = provider.deploy(&fixture.spec("v2")).await.unwrap_err();
        assert!(matches!(error, ProviderError::Ledger { .. }), "{error:?}");
        assert!(!fixture.root().join("releases/v2").exists());
        assert_eq!(fixture.current_marker(), "v1");

        fs_err::remove_file(fixture.root().join(LEDGER_FILE)).unwrap();
        fs_err::remove_dir_all(fixture.root().join("releases/v1")).unwrap();
        let error = provider.current().await.unwrap_err();
        assert!(
            matches!(error, ProviderError::BrokenCurrent { .. }),
            "{error:?}"
        );
    }
}
