//! `shipgate run`: gate → migrate → deploy → smoke → watch, in order, stopping at the
//! first failure, and rolling back per `[rollback] on` when the failure comes
//! after the new release went live.

use std::path::Path;

use crate::config::RollbackTrigger;
use crate::context::Context;
use crate::deploy::ReleaseRequest;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::provider::{self, DeploySpec, Provider, Release, ReleaseState};
use crate::report::{Check, Phase, PhaseName, Report, Status};
use crate::rollback::{self, RollbackRequest};
use crate::state::RunState;
use crate::{deploy, gate, migrate, smoke, watch};

/// Runs the whole pipeline and returns its report; the report's outcome is
/// the exit status (0, 1, 4 or 5).
pub async fn execute(ctx: &Context, request: ReleaseRequest) -> Result<Report, Error> {
    let mut report = run_phases(ctx, request).await?;
    // issue 14: the webhook and the incident issue; never changes the outcome.
    crate::notify::finished(ctx, &mut report, None).await;
    Ok(report)
}

async fn run_phases(ctx: &Context, request: ReleaseRequest) -> Result<Report, Error> {
    let environment = ctx.config.environment.name.clone();
    let mut report = Report::new("run", Some(&environment), ctx.dry_run);
    let provider = provider::from_config(&ctx.config, &ctx.state_path, &ctx.printer);
    // Refuse a bad release before anything changes.
    let spec = match &provider {
        Some(provider) => {
            let spec = deploy::release_spec(ctx, request).await;
            provider.preflight(&spec).await?;
            Some(spec)
        }
        None => None,
    };
    if !ctx.dry_run {
        RunState::reset(&ctx.state_path, &environment)?;
    }

    let gates = gate::run_gates(ctx, &[], &[]).await.map_err(Error::Gate)?;
    if stop(&mut report, gates) {
        return Ok(finish(report, ExitStatus::CheckFailed));
    }

    let mut backup = None;
    if ctx.config.environment.database.is_some() {
        let outcome = migrate::apply_phase(ctx).await?;
        backup = outcome.backup;
        migrate::remote_outputs(&mut report, outcome.remote.as_ref());
        if stop(&mut report, outcome.phase) {
            // A failure that left part of the run applied with nothing to
            // restore needs a human, as under `migrate apply` (issue 11).
            let status = if outcome.needs_attention {
                ExitStatus::RollbackFailed
            } else {
                ExitStatus::CheckFailed
            };
            return Ok(finish(report, status));
        }
        report.migrations = migrate::applied_this_run(ctx); // issue 14
        if let Some(phase) = drift_after_migrate(ctx).await? {
            if stop(&mut report, phase) {
                // Nothing is deployed yet, so there is nothing to roll back:
                // the database stays migrated (the old release runs on it,
                // as after any migration) and the backup is kept for
                // `shipgate migrate restore` (issue 16).
                if let Some(backup) = &backup {
                    report.output("backup", backup.display().to_string());
                }
                return Ok(finish(report, ExitStatus::CheckFailed));
            }
        }
    }

    if ctx.cancel.is_cancelled() {
        report.push(skipped(
            PhaseName::Deploy,
            "interrupted before deploying; nothing was deployed",
        ));
        return Ok(finish(report, ExitStatus::Interrupted));
    }
    let (Some(provider), Some(spec)) = (provider, spec) else {
        report.push(skipped(PhaseName::Deploy, "no provider configured"));
        let phase = smoke::run_suite(ctx, None, PhaseName::Smoke).await?;
        let failed = stop(&mut report, phase) || watch_failed(ctx, &mut report, None, None).await?;
        return Ok(finish(
            report,
            if failed {
                ExitStatus::CheckFailed
            } else {
                ExitStatus::Success
            },
        ));
    };

    // issue 14: the rollback plan, decided before deploying.
    let history = provider.history(rollback::HISTORY_LIMIT).await;
    let plan = rollback::plan(ctx, &history);
    let history_or_none = history.as_deref().unwrap_or(&[]);
    report.changes =
        crate::github::changes_since_healthy(history_or_none, spec.commit.as_deref(), ctx).await;
    report.output(
        "rollback_target",
        plan.target.unwrap_or_else(|why| format!("none: {why}")),
    );
    report.output("rollback_database", plan.database);
    // end issue 14
    deploy_and_verify(ctx, provider.as_ref(), &spec, backup.as_deref(), report).await
}

/// deploy → smoke, then record the outcome and roll back when a listed
/// trigger fired.
async fn deploy_and_verify(
    ctx: &Context,
    provider: &dyn Provider,
    spec: &DeploySpec,
    backup: Option<&Path>,
    mut report: Report,
) -> Result<Report, Error> {
    let deployed = deploy::deploy_phase(ctx, provider, spec).await?;
    // The end of the watch's `compare = "previous"` baseline (issue 15).
    let deployed_at = jiff::Timestamp::now();
    let live = deployed.deployed;
    if let Some(release) = &live {
        report.output("release", release.id.clone());
    }
    // An environment without a `url` of its own (a staged Vercel
    // environment) is checked at the deployment's own URL.
    let release_url = live
        .as_ref()
        .filter(|_| ctx.config.environment.url.is_none())
        .and_then(|release| release.url.as_deref())
        .and_then(|url| url::Url::parse(url).ok());
    let trigger = if stop(&mut report, deployed.phase) {
        RollbackTrigger::Deploy
    } else {
        let phase = smoke::run_suite(ctx, release_url.as_ref(), PhaseName::Smoke).await?;
        if stop(&mut report, phase) {
            RollbackTrigger::Smoke
        } else if watch_failed(ctx, &mut report, release_url.as_ref(), Some(deployed_at)).await? {
            RollbackTrigger::Watch
        } else if ctx.cancel.is_cancelled() {
            return Ok(finish(report, ExitStatus::Interrupted));
        } else {
            if let Some(release) = live.as_ref().filter(|_| !ctx.dry_run) {
                record(ctx, provider, release, ReleaseState::Healthy).await;
            }
            discard_backup(ctx, backup);
            return Ok(finish(report, ExitStatus::Success));
        }
    };

    let Some(failing) = live else {
        report.push(skipped(
            PhaseName::Rollback,
            "the new release never went live; the previous one still serves traffic",
        ));
        return Ok(finish(report, ExitStatus::CheckFailed));
    };
    if !ctx.config.rollback.on.contains(&trigger) || !provider.serves_traffic() {
        // Failed with its reason, so GitHub's deployment status says why
        // (and a staged build that failed is never promoted).
        let reason = format!("`{}` failed", trigger_name(trigger));
        if let Err(error) = provider.record_failure(&failing, &reason).await {
            ctx.printer.warning(&format!(
                "could not record `{}` as failed: {error}",
                failing.id
            ));
        }
        let why = if provider.serves_traffic() {
            format!(
                "not triggered: `{}` is not in `[rollback] on`",
                trigger_name(trigger)
            )
        } else {
            format!(
                "nothing to roll back: `{}` is a staged build that serves no traffic; it is recorded failed, so it is never promoted",
                failing.id
            )
        };
        report.push(skipped(PhaseName::Rollback, &why));
        return Ok(finish(report, ExitStatus::CheckFailed));
    }
    let request = RollbackRequest {
        reason: Some(format!("`{}` failed", trigger_name(trigger))),
        failing: Some(failing),
        ..RollbackRequest::default()
    };
    let from = request.failing.as_ref().map(|release| release.id.as_str());
    crate::notify::rollback_started(ctx, &mut report, from, None, request.reason.as_deref()).await;
    // `perform` records the failing release after promoting it away (issue 14).
    let outcome = rollback::perform(ctx, provider, request).await;
    for phase in outcome.phases {
        report.push(phase);
    }
    let status = if outcome.succeeded {
        ExitStatus::RolledBack
    } else {
        ExitStatus::RollbackFailed
    };
    Ok(finish(report, status))
}

/// `[gate.drift] after_migrate = true`: the drift check again, now that
/// the migrations are applied, as its own migrate phase (issue 16).
async fn drift_after_migrate(ctx: &Context) -> Result<Option<Phase>, Error> {
    let settings = migrate::drift::settings(ctx);
    let wanted = ctx.config.gates.iter().find_map(|gate| match &gate.kind {
        crate::config::GateKind::Drift(drift) if drift.after_migrate => Some(gate.timeout),
        _ => None,
    });
    let Some(deadline) = wanted else {
        return Ok(None);
    };
    if ctx.dry_run {
        return Ok(Some(skipped(
            PhaseName::Migrate,
            "would check for drift again after migrating",
        )));
    }
    let outcome = Box::pin(migrate::drift::check(ctx, &settings, deadline)).await?;
    let check = migrate::drift::one_check("drift after migrate", &outcome);
    let summary = format!("after migrating: {}", migrate::drift::summary(&outcome));
    Ok(Some(
        Phase::new(PhaseName::Migrate, vec![check], outcome.duration).summary(summary),
    ))
}

/// Runs `[watch]`, when configured, after smoke passed; true when it failed.
/// `base_url`: where to check (default: the environment's `url`);
/// `deployed_at`: when the deploy finished (default: as the watch starts).
async fn watch_failed(
    ctx: &Context,
    report: &mut Report,
    base_url: Option<&url::Url>,
    deployed_at: Option<jiff::Timestamp>,
) -> Result<bool, Error> {
    let Some(config) = &ctx.config.watch else {
        return Ok(false);
    };
    let phase = watch::run_phase(ctx, config, base_url, None, deployed_at).await?;
    Ok(stop(report, phase))
}

/// Records a release's health; a failure to record never changes the outcome.
async fn record(ctx: &Context, provider: &dyn Provider, release: &Release, state: ReleaseState) {
    if let Err(error) = provider.record(release, state).await {
        ctx.printer.warning(&format!(
            "could not record the state of `{}`: {error}",
            release.id
        ));
    }
}

/// Pushes `phase`; true when it failed (the pipeline stops).
fn stop(report: &mut Report, phase: Phase) -> bool {
    let failed = phase.failed();
    report.push(phase);
    failed
}

fn finish(mut report: Report, status: ExitStatus) -> Report {
    report.finish(status, std::time::Duration::ZERO);
    report
}

fn skipped(name: PhaseName, why: &str) -> Phase {
    Phase::new(
        name,
        vec![Check::new(name.as_str(), Status::Skip).detail(why)],
        std::time::Duration::ZERO,
    )
}

fn trigger_name(trigger: RollbackTrigger) -> &'static str {
    match trigger {
        RollbackTrigger::Deploy => "deploy",
        RollbackTrigger::Smoke => "smoke",
        RollbackTrigger::Watch => "watch",
    }
}

/// Backups are removed after a successful run unless `keep_backups`.
fn discard_backup(ctx: &Context, backup: Option<&std::path::Path>) {
    let Some(backup) = backup else { return };
    if ctx.config.migrate.keep_backups || ctx.dry_run {
        return;
    }
    if let Err(error) = fs_err::remove_file(backup) {
        ctx.printer
            .warning(&format!("could not remove the backup: {error}"));
    }
    // Its catalog snapshot (PostgreSQL) goes with it.
    let snapshot = crate::db::postgres::catalog::Catalog::path_beside(backup);
    if snapshot.is_file() {
        if let Err(error) = fs_err::remove_file(&snapshot) {
            ctx.printer
                .warning(&format!("could not remove the backup's snapshot: {error}"));
        }
    }
}
