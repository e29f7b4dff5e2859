//! The `drift` gate (issue 16): the database's schema matches what its
//! applied migrations build, so this deploy's migrations neither fail
//! half-way nor succeed and lie. The check itself is
//! [`crate::migrate::drift`]'s; this file turns it into the gate's check.

use super::GateContext;
use crate::config::{DriftGate, Gate};
use crate::diagnostic::Diagnostic as _;
use crate::migrate::drift;
use crate::report::Check;

/// Runs the gate under its own deadline (`timeout`); Ctrl-C and the
/// deadline are handled inside the check, which drops its scratch
/// database before it returns.
pub(super) async fn run(gate: &Gate, config: &DriftGate, ctx: &GateContext) -> Check {
    match Box::pin(drift::check(&ctx.ctx, config, gate.timeout)).await {
        Ok(outcome) => drift::one_check(&gate.name, &outcome),
        Err(error) => {
            let mut detail = format!("could not check for drift: {error}");
            if let Some(cause) = std::error::Error::source(&error) {
                detail = format!("{detail}: {cause}");
            }
            if let Some(hint) = error.hint() {
                detail = format!("{detail}; hint: {hint}");
            }
            Check::fail(&gate.name).detail(detail)
        }
    }
}
