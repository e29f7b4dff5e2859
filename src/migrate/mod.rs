//! `shipgate migrate`: PLACEHOLDER — being built (sqlite engine + plain layout).
//!
//! Contract used by `lib.rs` and `pipeline.rs`:
//! - `status(ctx)`, `plan(ctx)`, `apply(ctx)` → `Result<Report, MigrateError>`
//! - `apply_phase(ctx)` → `Result<MigrateOutcome, MigrateError>` for the pipeline
//! - `restore(ctx, backup)` → `Result<Check, MigrateError>` for rollback

use std::path::{Path, PathBuf};

use crate::context::Context;
use crate::diagnostic::Diagnostic;
use crate::exit::ExitStatus;
use crate::report::{Check, Phase, Report};

/// Why a migrate command could not run.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// Not built yet.
    #[error("migrations are not built yet")]
    NotBuilt,
}

impl Diagnostic for MigrateError {}

impl MigrateError {
    /// The exit status this error ends the process with.
    pub fn exit_status(&self) -> ExitStatus {
        ExitStatus::Infrastructure
    }
}

/// What the migrate phase of a pipeline did.
#[derive(Debug)]
pub struct MigrateOutcome {
    /// The report phase (failed when a migration failed).
    pub phase: Phase,
    /// Versions applied, in order.
    pub applied: Vec<String>,
    /// The backup taken before the first pending migration.
    pub backup: Option<PathBuf>,
}

/// `migrate status`.
pub async fn status(_ctx: &Context) -> Result<Report, MigrateError> {
    Err(MigrateError::NotBuilt)
}
/// `migrate plan`.
pub async fn plan(_ctx: &Context) -> Result<Report, MigrateError> {
    Err(MigrateError::NotBuilt)
}
/// `migrate apply`.
pub async fn apply(_ctx: &Context) -> Result<Report, MigrateError> {
    Err(MigrateError::NotBuilt)
}
/// The migrate phase of `shipgate run`.
pub async fn apply_phase(_ctx: &Context) -> Result<MigrateOutcome, MigrateError> {
    Err(MigrateError::NotBuilt)
}
/// Restores `backup` (rollback).
pub async fn restore(_ctx: &Context, _backup: &Path) -> Result<Check, MigrateError> {
    Err(MigrateError::NotBuilt)
}
