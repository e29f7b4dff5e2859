//! `shipgate deploy`: ship a release through the provider and record which
//! release it replaced, so rollback knows where to go back to.

use std::path::PathBuf;
use std::time::Instant;

use crate::context::Context;
use crate::env;
use crate::error::Error;
use crate::provider::{self, DeploySpec, Provider, ProviderError, Release};
use crate::report::{Check, Phase, PhaseName, Report, Status};
use crate::state::RunState;

/// What the deploy phase did.
#[derive(Debug)]
pub struct DeployOutcome {
    /// The report phase.
    pub phase: Phase,
    /// The release that served traffic before.
    pub previous: Option<Release>,
    /// The new release, when it went live.
    pub deployed: Option<Release>,
}

/// `shipgate deploy`.
pub async fn execute(
    ctx: &Context,
    source: Option<PathBuf>,
    id: Option<String>,
) -> Result<Report, Error> {
    let provider = provider::from_config(&ctx.config).ok_or_else(|| ProviderError::NoProvider {
        environment: ctx.config.environment.name.clone(),
    })?;
    let spec = release_spec(ctx, source, id)?;
    let outcome = deploy_phase(ctx, provider.as_ref(), &spec).await?;
    let mut report = Report::new("deploy", Some(&ctx.config.environment.name), ctx.dry_run);
    if let Some(release) = &outcome.deployed {
        report.output("release", release.id.clone());
    }
    report.push(outcome.phase);
    Ok(report)
}

/// The release to deploy: `--id` (or `SHIPGATE_RELEASE_ID`), else the short
/// `GITHUB_SHA`, else a UTC timestamp; `--source`, else the provider's `source`.
pub fn release_spec(
    ctx: &Context,
    source: Option<PathBuf>,
    id: Option<String>,
) -> Result<DeploySpec, ProviderError> {
    let configured = match &ctx.config.environment.provider {
        crate::config::ProviderConfig::Releases(releases) => releases.source.clone(),
        crate::config::ProviderConfig::None => None,
    };
    let source = source.or(configured).ok_or(ProviderError::NoSource)?;
    let id = id
        .or_else(|| {
            std::env::var(env::GITHUB_SHA)
                .ok()
                .filter(|sha| sha.len() >= 7)
                .map(|sha| sha[..7].to_owned())
        })
        .unwrap_or_else(|| jiff::Timestamp::now().strftime("%Y%m%d-%H%M%S").to_string());
    Ok(DeploySpec { id, source })
}

/// Deploys `spec`, recording the previous and new release in the run state.
/// A spec the provider refuses up front (nothing changed) is an error; a
/// failure while deploying is a failed check, so the pipeline can roll back.
pub async fn deploy_phase(
    ctx: &Context,
    provider: &dyn Provider,
    spec: &DeploySpec,
) -> Result<DeployOutcome, Error> {
    let started = Instant::now();
    provider.preflight(spec).await?;
    let previous = match provider.current().await {
        Ok(previous) => previous,
        Err(error) => {
            let check = Check::fail("read current release").detail(error.to_string());
            return Ok(DeployOutcome {
                phase: Phase::new(PhaseName::Deploy, vec![check], started.elapsed()),
                previous: None,
                deployed: None,
            });
        }
    };
    let from = previous.as_ref().map_or_else(
        || "nothing live yet".to_owned(),
        |release| format!("replacing {}", release.id),
    );
    if ctx.dry_run {
        let check = Check::new(&spec.id, Status::Skip).detail(format!(
            "would deploy `{}` from `{}` ({from})",
            spec.id,
            spec.source.display()
        ));
        return Ok(DeployOutcome {
            phase: Phase::new(PhaseName::Deploy, vec![check], started.elapsed()),
            previous,
            deployed: None,
        });
    }
    let mut state = RunState::load_open_run(&ctx.state_path, &ctx.config.environment.name)?;
    state.previous_release = previous.as_ref().map(|release| release.id.clone());
    state.deployed_release = None;
    state.save(&ctx.state_path)?;
    let result = provider.deploy(spec).await;
    let (check, deployed) = match result {
        Ok(release) => {
            state.deployed_release = Some(release.id.clone());
            state.save(&ctx.state_path)?;
            let check = Check::pass(&release.id)
                .detail(format!("live via `{}` ({from})", provider.name()))
                .duration(started.elapsed())
                .artifact("release", release.id.clone());
            (check, Some(release))
        }
        Err(error) => {
            let mut check = Check::fail(&spec.id)
                .detail(error.to_string())
                .duration(started.elapsed());
            if let ProviderError::Restart { output, .. } = &error {
                check = check.log(output.clone());
            }
            // The link may already point at the new release (a failed restart):
            // the pipeline must treat it as deployed so rollback switches back.
            let live = provider
                .current()
                .await
                .ok()
                .flatten()
                .filter(|release| release.id == spec.id);
            if let Some(release) = &live {
                state.deployed_release = Some(release.id.clone());
                state.save(&ctx.state_path)?;
            }
            (check, live)
        }
    };
    Ok(DeployOutcome {
        phase: Phase::new(PhaseName::Deploy, vec![check], started.elapsed()),
        previous,
        deployed,
    })
}
