//! PLACEHOLDER — being built: the `releases` provider.

use std::path::PathBuf;

use super::{DeploySpec, Provider, ProviderError, Release, ReleaseState};
use crate::config::ReleasesConfig;

/// Directory releases under `root/releases/<id>` with an atomic `current` link.
#[derive(Debug)]
pub struct ReleasesProvider {
    config: ReleasesConfig,
    base_dir: PathBuf,
}

impl ReleasesProvider {
    /// A provider for `config`; `restart` runs in `base_dir`.
    pub fn new(config: ReleasesConfig, base_dir: PathBuf) -> Self {
        Self { config, base_dir }
    }
}

#[async_trait::async_trait]
impl Provider for ReleasesProvider {
    fn name(&self) -> &'static str {
        "releases"
    }
    async fn current(&self) -> Result<Option<Release>, ProviderError> {
        let _ = (&self.config, &self.base_dir);
        Ok(None)
    }
    async fn history(&self, _limit: usize) -> Result<Vec<Release>, ProviderError> {
        Ok(Vec::new())
    }
    async fn deploy(&self, _spec: &DeploySpec) -> Result<Release, ProviderError> {
        Err(ProviderError::NoSource)
    }
    async fn promote(&self, _release: &Release) -> Result<(), ProviderError> {
        Err(ProviderError::NoSource)
    }
    async fn record(&self, _release: &Release, _state: ReleaseState) -> Result<(), ProviderError> {
        Ok(())
    }
}
