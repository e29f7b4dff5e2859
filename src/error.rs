//! The top-level error: one variant per area, each mapped to an exit status.

use crate::config::ConfigError;
use crate::diagnostic::{Diagnostic, SourceLocation};
use crate::exit::ExitStatus;
use crate::gate::GateError;
use crate::migrate::MigrateError;
use crate::provider::ProviderError;
use crate::rollback::RollbackError;
use crate::smoke::SmokeError;
use crate::state::StateError;
use crate::watch::WatchError;

/// Any error that ends a command before it produced a report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The run state is unreadable.
    #[error(transparent)]
    State(#[from] StateError),
    /// The gates could not run.
    #[error(transparent)]
    Gate(#[from] GateError),
    /// A rollback did not start.
    #[error(transparent)]
    Rollback(#[from] RollbackError),
    /// A migrate command could not run.
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    /// The smoke suite could not run.
    #[error(transparent)]
    Smoke(#[from] SmokeError),
    /// The watch could not run.
    #[error(transparent)]
    Watch(#[from] WatchError),
    /// The provider failed.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// `shipgate init` wrote nothing.
    #[error(transparent)]
    Init(#[from] crate::init::InitError),
    /// Writing the `--report` file failed.
    #[error("failed to write the report to `{}`", path.display())]
    WriteReport {
        /// The `--report` path.
        path: std::path::PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// Writing the `--junit` file failed.
    #[error("failed to write the JUnit report to `{}`", path.display())]
    WriteJunit {
        /// The `--junit` path.
        path: std::path::PathBuf,
        /// The IO error, or why the XML could not be built.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The exit status this error ends the process with.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Self::Config(_) => ExitStatus::Usage,
            Self::State(_) | Self::WriteReport { .. } | Self::WriteJunit { .. } => {
                ExitStatus::Infrastructure
            }
            Self::Gate(error) => error.exit_status(),
            Self::Rollback(error) => error.exit_status(),
            Self::Migrate(error) => error.exit_status(),
            Self::Smoke(error) => error.exit_status(),
            Self::Watch(error) => error.exit_status(),
            Self::Provider(error) => error.exit_status(),
            Self::Init(error) => error.exit_status(),
        }
    }

    fn inner(&self) -> Option<&dyn Diagnostic> {
        match self {
            Self::Config(error) => Some(error),
            Self::State(error) => Some(error),
            Self::Gate(error) => Some(error),
            Self::Rollback(error) => Some(error),
            Self::Migrate(error) => Some(error),
            Self::Smoke(error) => Some(error),
            Self::Watch(error) => Some(error),
            Self::Provider(error) => Some(error),
            Self::Init(error) => Some(error),
            Self::WriteReport { .. } | Self::WriteJunit { .. } => None,
        }
    }
}

impl Diagnostic for Error {
    fn location(&self) -> Option<&SourceLocation> {
        self.inner().and_then(Diagnostic::location)
    }

    fn hint(&self) -> Option<String> {
        match self {
            Self::WriteReport { .. } => Some("pass a writable path to `--report`".to_owned()),
            Self::WriteJunit { .. } => Some("pass a writable path to `--junit`".to_owned()),
            _ => self.inner().and_then(Diagnostic::hint),
        }
    }
}
