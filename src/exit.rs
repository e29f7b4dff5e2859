//! The process exit codes, one enum, as documented in the README.

use std::process::ExitCode;

/// How a shipgate invocation ended. The numeric values are a public contract:
/// CI scripts branch on them, so they never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExitStatus {
    /// Everything passed (or `--dry-run` printed its plan).
    Success,
    /// A check failed: a gate, a smoke check, or a migration that was refused or
    /// rolled back by the database.
    CheckFailed,
    /// The command line or the config is wrong; nothing was changed.
    Usage,
    /// Something shipgate depends on could not be reached or used (database,
    /// filesystem, HTTP API, child process).
    Infrastructure,
    /// The pipeline failed and the rollback succeeded: the previous release
    /// serves traffic and passed its re-check.
    RolledBack,
    /// The rollback failed or was impossible: a human is needed now.
    RollbackFailed,
    /// Interrupted by Ctrl-C or SIGTERM.
    Interrupted,
}

impl ExitStatus {
    /// The numeric process exit code.
    pub fn code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::CheckFailed => 1,
            Self::Usage => 2,
            Self::Infrastructure => 3,
            Self::RolledBack => 4,
            Self::RollbackFailed => 5,
            Self::Interrupted => 130,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(status.code())
    }
}
