//! `shipgate smoke`: PLACEHOLDER — being built.
//!
//! Contract: `run_suite(ctx, base_url_override, phase_name)` → `Result<Phase, SmokeError>`.

use url::Url;

use crate::context::Context;
use crate::diagnostic::Diagnostic;
use crate::exit::ExitStatus;
use crate::report::{Phase, PhaseName};

/// Why the smoke suite could not run at all (a failed check is not an error).
#[derive(Debug, thiserror::Error)]
pub enum SmokeError {
    /// Not built yet.
    #[error("smoke is not built yet")]
    NotBuilt,
}

impl Diagnostic for SmokeError {}

impl SmokeError {
    /// The exit status this error ends the process with.
    pub fn exit_status(&self) -> ExitStatus {
        ExitStatus::Usage
    }
}

/// Runs the suite against `base_url` (default: the environment's `url`).
pub async fn run_suite(
    _ctx: &Context,
    _base_url: Option<&Url>,
    _phase: PhaseName,
) -> Result<Phase, SmokeError> {
    Err(SmokeError::NotBuilt)
}
