//! The `provider` gate: the provider's token is valid and can see the
//! project. The Vercel and Railway clients come with the provider issue;
//! until then this gate reports itself unavailable as a warning — never as a
//! pass — so nobody mistakes it for a verified token.

use super::GateContext;
use crate::config::{Gate, ProviderConfig};
use crate::report::{Check, Status};

/// Runs the gate.
pub(super) fn run(gate: &Gate, ctx: &GateContext) -> Check {
    let provider = match &ctx.ctx.config.environment.provider {
        ProviderConfig::None => "none",
        ProviderConfig::Releases(_) => "releases",
    };
    Check::new(&gate.name, Status::Warn).detail(format!(
        "not verified: provider `{provider}` has no API token to check, and the Vercel/Railway token checks are not in this build yet; remove `[gate.provider]` or pass `--skip provider`"
    ))
}
