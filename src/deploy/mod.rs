//! `shipgate deploy`: ship a release through the provider and record which
//! release it replaced, so rollback knows where to go back to; then run the
//! `[[deploy.hook]]` commands whose paths changed (`hooks.rs`).

mod github;
mod hooks;

use std::path::PathBuf;
use std::time::Instant;

use crate::config::ProviderConfig;
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
pub async fn execute(ctx: &Context, request: ReleaseRequest) -> Result<Report, Error> {
    let provider =
        provider::from_config(&ctx.config, &ctx.state_path, &ctx.printer).ok_or_else(|| {
            ProviderError::NoProvider {
                environment: ctx.config.environment.name.clone(),
            }
        })?;
    let spec = release_spec(ctx, request).await;
    let outcome = deploy_phase(ctx, provider.as_ref(), &spec).await?;
    let mut report = Report::new("deploy", Some(&ctx.config.environment.name), ctx.dry_run);
    if let Some(release) = &outcome.deployed {
        report.output("release", release.id.clone());
        if let Some(url) = &release.url {
            report.output("url", url.clone());
        }
    }
    report.push(outcome.phase);
    // issue 14: a failed deploy notifies; a good one waits for its checks.
    crate::notify::finished(ctx, &mut report, None).await;
    Ok(report)
}

/// The release to deploy, as the command line asked for it.
#[derive(Debug, Clone, Default)]
pub struct ReleaseRequest {
    /// `--source`: the built release directory (`releases` provider).
    pub source: Option<PathBuf>,
    /// `--id`: the release id (`releases`, `command`).
    pub id: Option<String>,
    /// `--commit`: the commit being deployed.
    pub commit: Option<String>,
}

/// The release to deploy: `--id` (or `SHIPGATE_RELEASE_ID`), else the short
/// `GITHUB_SHA`, else a UTC timestamp; `--source`, else the `releases`
/// provider's `source`; `--commit`, else `GITHUB_SHA`, else the checkout's
/// `HEAD` (looked up only for providers that deploy commits).
pub async fn release_spec(ctx: &Context, request: ReleaseRequest) -> DeploySpec {
    let provider = &ctx.config.environment.provider;
    let source = request.source.or_else(|| match provider {
        ProviderConfig::Releases(releases) => releases.source.clone(),
        _ => None,
    });
    let github_sha = std::env::var(env::GITHUB_SHA)
        .ok()
        .filter(|sha| sha.len() >= 7);
    let id = request
        .id
        .or_else(|| github_sha.as_ref().map(|sha| sha[..7].to_owned()))
        .unwrap_or_else(|| jiff::Timestamp::now().strftime("%Y%m%d-%H%M%S").to_string());
    let commit = match request.commit.or(github_sha) {
        Some(commit) => Some(commit),
        None if !matches!(provider, ProviderConfig::Releases(_) | ProviderConfig::None) => {
            head_commit(&ctx.config.base_dir).await
        }
        None => None,
    };
    DeploySpec { id, source, commit }
}

/// `git rev-parse HEAD` in `dir`, or `None` outside a checkout.
async fn head_commit(dir: &std::path::Path) -> Option<String> {
    let output = tokio::process::Command::new("git")
        .args(["rev-parse", "--verify", "HEAD"])
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .ok()?;
    let commit = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (output.status.success() && !commit.is_empty()).then_some(commit)
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
        let what = match (&spec.source, &spec.commit) {
            (Some(source), _) => format!("`{}` from `{}`", spec.id, source.display()),
            (None, Some(commit)) => format!("commit `{commit}`"),
            (None, None) => format!("`{}`", spec.id),
        };
        let check = Check::new(&spec.id, Status::Skip).detail(format!(
            "would deploy {what} through `{}` ({from})",
            provider.name()
        ));
        let mut checks = vec![check];
        checks.extend(hooks::plan(ctx, provider, spec).await);
        return Ok(DeployOutcome {
            phase: Phase::new(PhaseName::Deploy, checks, started.elapsed()),
            previous,
            deployed: None,
        });
    }
    let mut state = RunState::load_open_run(&ctx.state_path, &ctx.config.environment.name)?;
    state.previous_release = previous.as_ref().map(|release| release.id.clone());
    state.deployed_release = None;
    state.deployed_url = None;
    state.deployed_at = None;
    state.save(&ctx.state_path)?;
    let result = provider.deploy(spec).await;
    let (checks, deployed) = match result {
        Ok(release) => {
            state.deployed_release = Some(release.id.clone());
            state.deployed_url.clone_from(&release.url);
            state.deployed_at = Some(jiff::Timestamp::now());
            state.save(&ctx.state_path)?;
            github::record_started(ctx, provider.name(), &release, spec, &state).await;
            let check = Check::pass(&release.id)
                .detail(format!("live via `{}` ({from})", provider.name()))
                .duration(started.elapsed())
                .artifact("release", release.id.clone());
            // Hooks run against the live release; a failing one fails this
            // phase with the release live, so the pipeline rolls back with
            // trigger `deploy`.
            let mut checks = vec![check];
            checks.extend(hooks::run(ctx, provider, &release, spec).await);
            (checks, Some(release))
        }
        Err(error) => {
            let mut check = Check::fail(&spec.id)
                .detail(error.to_string())
                .duration(started.elapsed());
            if let ProviderError::Restart { output, .. } | ProviderError::Command { output, .. } =
                &error
            {
                if !output.trim().is_empty() {
                    check = check.log(output.clone());
                }
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
            (vec![check], live)
        }
    };
    Ok(DeployOutcome {
        phase: Phase::new(PhaseName::Deploy, checks, started.elapsed()),
        previous,
        deployed,
    })
}

/// The base URL for a separate `smoke` / `watch` step: `--url`, else the
/// environment's `url`, else (an environment without one, such as a
/// staged Vercel environment) the URL of the release this run deployed.
pub fn step_base_url(ctx: &Context, given: Option<url::Url>) -> Option<url::Url> {
    if given.is_some() || ctx.config.environment.url.is_some() {
        return given;
    }
    RunState::load(&ctx.state_path, &ctx.config.environment.name)
        .ok()
        .and_then(|state| state.deployed_url)
        .and_then(|url| url::Url::parse(&url).ok())
}

/// After a separate `smoke` / `watch` step checked `url` (`None`: the
/// environment's own): settles the release this run deployed
/// ([`record_verified`]) and notifies what that settled. Without an
/// environment `url` (a staged Vercel environment), the URL given is how
/// the environment is reached.
pub async fn settle_step(
    ctx: &Context,
    report: &mut Report,
    by: VerifiedBy,
    url: Option<&url::Url>,
) {
    let targets_environment = url.is_none() || ctx.config.environment.url.is_none();
    record_verified(ctx, report, by, targets_environment).await;
    crate::notify::finished(ctx, report, None).await;
}

/// Which standalone step verified the live release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifiedBy {
    /// `shipgate smoke`: decisive only when the config has no `[watch]`.
    Smoke,
    /// `shipgate watch`.
    Watch,
}

/// The report output naming how a separate `smoke` / `watch` step judged
/// the release this run deployed: `passed` (recorded healthy) or `failed`;
/// `notify` turns it into `deploy-succeeded` / `deploy-failed`.
pub const VERIFICATION_OUTPUT: &str = "verification";

/// After a `shipgate smoke` or `shipgate watch` run as its own CI step (the
/// reusable workflow runs deploy, smoke and watch as separate steps),
/// settles the release this run deployed, as `shipgate run` does after its
/// smoke and watch. Passing, it is recorded healthy: it becomes a rollback
/// target, and its GitHub deployment gets `success`. Failing, the report
/// says so (`release`, `verification = failed`) and the rollback step that
/// follows records the failure. Only when the run state says this run
/// deployed it and it is not settled yet, and the suite ran against the
/// environment's own URL (`targets_environment`); a passing smoke settles
/// it only when the config has no `[watch]`.
async fn record_verified(
    ctx: &Context,
    report: &mut Report,
    by: VerifiedBy,
    targets_environment: bool,
) {
    let decisive = match by {
        VerifiedBy::Smoke => ctx.config.watch.is_none(),
        VerifiedBy::Watch => true,
    };
    if !targets_environment || ctx.dry_run || ctx.cancel.is_cancelled() {
        return;
    }
    let Ok(mut state) = RunState::load(&ctx.state_path, &ctx.config.environment.name) else {
        return;
    };
    let Some(deployed) = state.deployed_release.clone() else {
        return;
    };
    if state.verified_release.as_deref() == Some(deployed.as_str()) {
        return;
    }
    if report.phases.iter().any(Phase::failed) {
        report.output("release", deployed);
        report.output(VERIFICATION_OUTPUT, "failed");
        return;
    }
    if !decisive {
        return;
    }
    let Some(provider) = provider::from_config(&ctx.config, &ctx.state_path, &ctx.printer) else {
        return;
    };
    let live = match provider.current().await {
        Ok(Some(live)) if live.id == deployed => live,
        _ => return,
    };
    let check = match provider
        .record(&live, crate::provider::ReleaseState::Healthy)
        .await
    {
        Ok(()) => {
            report.output("release", deployed.clone());
            report.output(VERIFICATION_OUTPUT, "passed");
            state.verified_release = Some(deployed.clone());
            if let Err(error) = state.save(&ctx.state_path) {
                ctx.printer
                    .warning(&format!("could not save the run state: {error}"));
            }
            Check::pass("record healthy").detail(format!(
                "`{deployed}`, deployed by this run, passed and is recorded healthy (a rollback target from now on)"
            ))
        }
        Err(error) => Check::new("record healthy", Status::Warn)
            .detail(format!("could not record `{deployed}` as healthy: {error}")),
    };
    if let Some(phase) = report.phases.last_mut() {
        phase.checks.push(check);
    }
}
