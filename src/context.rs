//! What every subcommand receives: the validated config, the printer, the
//! dry-run flag, the cancellation token and where the run state lives.

use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::report::Printer;

/// Shared, read-only inputs of one invocation.
#[derive(Debug, Clone)]
pub struct Context {
    /// The validated config for the selected environment.
    pub config: Config,
    /// Where output goes (masks secrets).
    pub printer: Printer,
    /// `--dry-run`: plan only, change nothing.
    pub dry_run: bool,
    /// Tripped by Ctrl-C / SIGTERM: start no new work.
    pub cancel: CancellationToken,
    /// The run state file shared between phases run as separate steps.
    pub state_path: PathBuf,
}
