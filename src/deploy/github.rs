//! The deploy phase's entry in GitHub Deployments (issue 14): once the
//! provider made a release live, a deployment for its commit with the
//! release, URL, migrations and backup in its payload, and an `in_progress`
//! status. `success` or `failure` follow from the health record
//! (`provider::health::GithubHealth`) once smoke and watch decided.
//!
//! Recording never fails the deploy: a GitHub error is a warning.

use crate::context::Context;
use crate::github::deployments::{
    DeploymentPayload, DeploymentState, NewDeployment, NewStatus, PayloadMigration,
};
use crate::provider::{self, DeploySpec, Release};
use crate::state::RunState;

/// Creates the deployment of `release` with an `in_progress` status; warns
/// when GitHub refuses or is unreachable.
pub(super) async fn record_started(
    ctx: &Context,
    provider_name: &str,
    release: &Release,
    spec: &DeploySpec,
    state: &RunState,
) {
    let Some(trail) = provider::github_trail(&ctx.config, &ctx.printer) else {
        return;
    };
    let commit = release
        .commit
        .clone()
        .or_else(|| spec.commit.clone())
        .or_else(|| std::env::var(crate::env::GITHUB_SHA).ok());
    let Some(commit) = commit else {
        ctx.printer.warning(&format!(
            "`{}` is not recorded in GitHub Deployments: no commit is known for it (pass `--commit`)",
            release.id
        ));
        return;
    };
    let payload = DeploymentPayload {
        shipgate: true,
        provider: provider_name.to_owned(),
        release: release.id.clone(),
        url: release.url.clone(),
        migrations: state
            .migrations_applied
            .iter()
            .map(|version| PayloadMigration {
                version: version.clone(),
                class: state
                    .migration_classes
                    .get(version)
                    .map_or("unknown", |class| class.as_str())
                    .to_owned(),
            })
            .collect(),
        backup: state.backup.as_ref().map(|path| path.display().to_string()),
    };
    let recorded = async {
        let deployment = trail
            .create(&NewDeployment {
                commit: &commit,
                description: format!("shipgate: deploy {}", release.id),
                payload: &payload,
            })
            .await?;
        trail
            .set_status(
                deployment.id,
                &NewStatus {
                    state: DeploymentState::InProgress,
                    description: &format!("shipgate: {} is live; verifying", release.id),
                    environment_url: release.url.as_deref(),
                },
            )
            .await
    };
    if let Err(error) = recorded.await {
        ctx.printer.warning(&format!(
            "could not record the deployment of `{}` in GitHub Deployments: {error}",
            release.id
        ));
    }
}
