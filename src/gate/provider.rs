//! The `provider` gate: shipgate can use the deploy platform before anything
//! changes — the token is accepted and can see the project. A provider with
//! no API (`releases`, `command`) has nothing to verify, and says so as a
//! warning, never as a pass.

use super::GateContext;
use crate::config::Gate;
use crate::provider;
use crate::report::{Check, Status};

/// Runs the gate.
pub(super) async fn run(gate: &Gate, ctx: &GateContext) -> Check {
    let config = &ctx.ctx.config;
    let Some(provider) = provider::from_config(config, &ctx.ctx.state_path, &ctx.ctx.printer)
    else {
        return Check::new(&gate.name, Status::Warn).detail(
            "not verified: the environment has no provider; remove `[gate.provider]` or set `provider`",
        );
    };
    match provider.verify_access().await {
        Ok(Some(verified)) => Check::pass(&gate.name).detail(verified),
        Ok(None) => Check::new(&gate.name, Status::Warn).detail(format!(
            "not verified: provider `{}` has no API token to check; remove `[gate.provider]` or pass `--skip provider`",
            provider.name()
        )),
        Err(error) => {
            let mut detail = error.to_string();
            if let Some(hint) = crate::diagnostic::Diagnostic::hint(&error) {
                detail = format!("{detail}; {hint}");
            }
            Check::fail(&gate.name).detail(detail)
        }
    }
}
