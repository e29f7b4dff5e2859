//! `deploy = "promote"` (issue 14, "Staging first"): production gets this
//! commit's deployment that shipgate verified in another environment,
//! promoted as it is (`POST /v10/projects/{projectId}/promote/{id}`), so
//! production runs the bytes that environment tested.
//!
//! Which deployment passed comes from GitHub Deployments: the payload of
//! shipgate's deployment of the commit in that environment, whose latest
//! status is `success`. The Vercel deployment is then checked before
//! anything changes: same project, `READY`, built for production (a
//! preview promoted to production is built again by Vercel with
//! production's variables, which is not what was tested), and from this
//! commit.

use super::shapes::{Deployment, READY};
use super::{NAME, VercelProvider};
use crate::provider::ProviderError;

/// Nothing to promote: `message` says why, `hint` what to do.
fn refused(action: &str, message: String, hint: String) -> ProviderError {
    ProviderError::NotPromotable {
        action: action.to_owned(),
        message,
        hint,
        no_record: false,
    }
}

impl VercelProvider {
    /// The deployment of `commit` that passed in `from`, checked to be
    /// promotable; changes nothing.
    pub(super) async fn promotion_candidate(
        &self,
        from: &str,
        commit: &str,
    ) -> Result<Deployment, ProviderError> {
        let action = format!("find the deployment of `{commit}` verified in `{from}`");
        let Some(trail) = &self.promotion_source else {
            return Err(ProviderError::NotPromotable {
                action,
                message: "GitHub Deployments are not available: `GITHUB_TOKEN` or `GITHUB_REPOSITORY` is not set".to_owned(),
                hint: format!(
                    "run inside GitHub Actions with `deployments: read`, or set `GITHUB_TOKEN` and `GITHUB_REPOSITORY`: they say which deployment passed in `{from}`"
                ),
                no_record: true,
            });
        };
        let short: String = commit.chars().take(12).collect();
        let verification =
            trail
                .verification(commit)
                .await
                .map_err(|error| ProviderError::Api {
                    provider: "github",
                    action: action.clone(),
                    message: error.to_string(),
                    hint: Some("retry when GitHub answers; production is unchanged".to_owned()),
                })?;
        if let Err(missing) = verification.describe(&short, from) {
            return Err(refused(
                &action,
                missing,
                format!("production promotes only what passed in `{from}`; nothing was changed"),
            ));
        }
        let crate::github::deployments::Verification::Passed { payload, .. } = verification else {
            return Err(refused(
                &action,
                format!("`{short}` has no passing status in `{from}`"),
                format!("deploy it to `{from}` first"),
            ));
        };
        if payload.provider != NAME {
            return Err(refused(
                &action,
                format!(
                    "`{from}` deployed `{short}` with the `{}` provider, not Vercel",
                    payload.provider
                ),
                format!("set `provider = \"vercel\"` with `staged = true` for `{from}`"),
            ));
        }
        // The payload is anyone's with write access to deployments: only a
        // Vercel deployment id goes into a request path.
        let id = &payload.release;
        let well_formed = id.strip_prefix("dpl_").is_some_and(|rest| {
            !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric())
        });
        if !well_formed {
            return Err(refused(
                &action,
                format!(
                    "`{from}`'s deployment of `{short}` names `{id}`, which is not a Vercel deployment id (`dpl_…`)"
                ),
                format!("deploy the commit to `{from}` again with the Vercel provider"),
            ));
        }
        let deployment = self.deployment(id).await?;
        self.check_promotable(&deployment, from, commit).await?;
        Ok(deployment)
    }

    /// Refuses a deployment that is not this project's, not ready, not a
    /// production build, or not built from `commit`.
    async fn check_promotable(
        &self,
        deployment: &Deployment,
        from: &str,
        commit: &str,
    ) -> Result<(), ProviderError> {
        let id = &deployment.id;
        let action = format!("promote `{id}` from `{from}`");
        let project = self.project(false).await?;
        if let Some(other) = deployment
            .project_id
            .as_deref()
            .filter(|other| *other != project.id)
        {
            return Err(refused(
                &action,
                format!(
                    "`{id}` belongs to project `{other}`, not `{}`",
                    self.project
                ),
                format!("let `{from}` and production use the same Vercel project"),
            ));
        }
        if deployment.ready_state.as_deref() != Some(READY) {
            return Err(refused(
                &action,
                format!("`{id}` is not ready: it {}", deployment.failure()),
                format!("deploy the commit to `{from}` again"),
            ));
        }
        if deployment.target.as_deref() != Some("production") {
            let built = deployment.target.as_deref().unwrap_or("preview");
            return Err(refused(
                &action,
                format!(
                    "`{id}` was built for `{built}`: Vercel builds such a deployment again with production's variables when it is promoted, so production would not run what `{from}` tested"
                ),
                format!(
                    "deploy `{from}` as staged production builds: `staged = true` with `vercel deploy --prod --skip-domain`, or turn off auto-assigning production domains"
                ),
            ));
        }
        let built_from = deployment
            .meta
            .as_ref()
            .and_then(|meta| meta.github_commit_sha.as_deref());
        if let Some(other) = built_from.filter(|sha| *sha != commit) {
            return Err(refused(
                &action,
                format!("`{id}` was built from `{other}`, not `{commit}`"),
                format!("deploy `{commit}` to `{from}` first"),
            ));
        }
        Ok(())
    }
}
