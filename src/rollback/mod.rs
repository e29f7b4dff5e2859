//! Rollback: put the last good release back, restore or keep the database per
//! policy, and re-run the smoke suite against what is now live.
//!
//! [`perform`] never returns an error: a rollback that cannot complete is
//! reported as failed checks, so it is never silent and never half-done
//! without saying which half.

mod target;

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::time::Instant;

use crate::config::DatabasePolicy;
use crate::context::Context;
use crate::diagnostic::{Diagnostic, backticked};
use crate::exit::ExitStatus;
use crate::migrate::lint::MigrationClass;
use crate::provider::{self, Provider, ProviderError, Release, ReleaseState};
use crate::report::{Check, Phase, PhaseName, Report, Status};
use crate::state::RunState;

pub use target::{TargetError, select};

/// Why `shipgate rollback` did not start.
#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    /// No `--yes` and no terminal to ask on.
    #[error("refusing to roll back `{environment}` without confirmation")]
    NeedsConfirmation {
        /// The environment.
        environment: String,
    },
    /// The person answered no.
    #[error("rollback cancelled")]
    Declined,
    /// The provider could not be used.
    #[error(transparent)]
    Provider(#[from] ProviderError),
}

impl Diagnostic for RollbackError {
    fn hint(&self) -> Option<String> {
        match self {
            Self::NeedsConfirmation { .. } => Some(
                "pass `--yes` (in CI) or run it from a terminal; `--dry-run` shows the plan"
                    .to_owned(),
            ),
            Self::Declined => None,
            Self::Provider(error) => error.hint(),
        }
    }
}

impl RollbackError {
    /// The exit status this error ends the process with.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Self::NeedsConfirmation { .. } | Self::Declined => ExitStatus::Usage,
            Self::Provider(error) => error.exit_status(),
        }
    }
}

/// What to roll back and how.
#[derive(Debug, Clone, Default)]
pub struct RollbackRequest {
    /// `--to ID` (or `previous`); default: newest earlier healthy release.
    pub to: Option<String>,
    /// Database policy; default: the config's `rollback.database`.
    pub database: Option<DatabasePolicy>,
    /// Why, for the report.
    pub reason: Option<String>,
    /// The release being rolled back from (marked failed).
    pub failing: Option<Release>,
}

/// The rollback and verify phases, and whether both succeeded.
#[derive(Debug)]
pub struct RollbackOutcome {
    /// `rollback`, then `verify` when the app was promoted.
    pub phases: Vec<Phase>,
    /// The previous release is live and passed its re-check.
    pub succeeded: bool,
}

/// `shipgate rollback`.
pub async fn execute(
    ctx: &Context,
    to: Option<String>,
    database: Option<DatabasePolicy>,
    reason: Option<String>,
    yes: bool,
) -> Result<Report, RollbackError> {
    let environment = ctx.config.environment.name.clone();
    let provider =
        provider::from_config(&ctx.config, &ctx.state_path, &ctx.printer).ok_or_else(|| {
            ProviderError::NoProvider {
                environment: environment.clone(),
            }
        })?;
    if !provider.serves_traffic() {
        return Err(ProviderError::NothingServed { environment }.into());
    }
    let failing = provider.current().await?;
    if !ctx.dry_run && !yes {
        confirm(&environment, failing.as_ref(), to.as_deref()).await?;
    }
    let from = failing.as_ref().map(|release| release.id.clone());
    let request = RollbackRequest {
        to,
        database,
        reason,
        failing,
    };
    let mut report = Report::new("rollback", Some(&environment), ctx.dry_run);
    // issue 14: notify before and after; neither changes the outcome.
    let asked = request.to.as_deref().filter(|to| *to != "previous");
    crate::notify::rollback_started(
        ctx,
        &mut report,
        from.as_deref(),
        asked,
        request.reason.as_deref(),
    )
    .await;
    let outcome = perform(ctx, provider.as_ref(), request).await;
    for phase in outcome.phases {
        report.push(phase);
    }
    let status = if outcome.succeeded {
        ExitStatus::Success
    } else {
        ExitStatus::RollbackFailed
    };
    report.finish(status, std::time::Duration::ZERO);
    crate::notify::finished(ctx, &mut report, from.as_deref()).await;
    Ok(report)
}

async fn confirm(
    environment: &str,
    failing: Option<&Release>,
    to: Option<&str>,
) -> Result<(), RollbackError> {
    if !std::io::stdin().is_terminal() {
        return Err(RollbackError::NeedsConfirmation {
            environment: environment.to_owned(),
        });
    }
    let from = failing
        .map(|release| format!(" from `{}`", release.id))
        .unwrap_or_default();
    let target = match to.filter(|to| *to != "previous") {
        Some(to) => format!("`{to}`"),
        None => "the previous healthy release".to_owned(),
    };
    let question = format!("roll back `{environment}`{from} to {target}? [y/N] ");
    let answer = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut stderr = std::io::stderr();
        let _ = stderr
            .write_all(question.as_bytes())
            .and_then(|()| stderr.flush());
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await;
    match answer {
        Ok(Ok(line)) if matches!(line.trim(), "y" | "Y" | "yes") => Ok(()),
        _ => Err(RollbackError::Declined),
    }
}

/// Rolls the app back, handles the database, verifies; never silent.
pub async fn perform(
    ctx: &Context,
    provider: &dyn Provider,
    request: RollbackRequest,
) -> RollbackOutcome {
    let started = Instant::now();
    let mut checks = Vec::new();
    if let Some(reason) = &request.reason {
        checks.push(Check::pass("reason").detail(reason.clone()));
    }
    let failed = |checks: Vec<Check>| RollbackOutcome {
        phases: vec![
            Phase::new(PhaseName::Rollback, checks, started.elapsed()).summary("did not complete"),
        ],
        succeeded: false,
    };

    let history = match provider.history(HISTORY_LIMIT).await {
        Ok(history) => history,
        Err(error) => {
            checks.push(provider_failure("read release history", &error));
            if !ctx.dry_run {
                mark_failed(provider, &request, &mut checks).await;
            }
            return failed(checks);
        }
    };
    let failing_id = request.failing.as_ref().map(|release| release.id.as_str());
    let target = match select(&history, failing_id, request.to.as_deref()) {
        Ok(target) => target.clone(),
        Err(error) => {
            checks.push(Check::fail("choose target").detail(error.to_string()));
            if !ctx.dry_run {
                mark_failed(provider, &request, &mut checks).await;
            }
            return failed(checks);
        }
    };
    let policy = request.database.unwrap_or(ctx.config.rollback.database);
    let database_action = database_action(ctx, policy, failing_id);

    if ctx.dry_run {
        checks.push(
            Check::new(format!("promote {}", target.id), Status::Skip)
                .detail(format!("would make `{}` serve traffic", target.id)),
        );
        checks.push(
            Check::new("database", Status::Skip)
                .detail(format!("would {}", database_action.describe())),
        );
        let phase = Phase::new(PhaseName::Rollback, checks, started.elapsed())
            .summary(format!("plan: back to {}", target.id));
        return RollbackOutcome {
            phases: vec![phase],
            succeeded: true,
        };
    }

    // Roll back first, record after: recording (GitHub Deployments among
    // it) never delays putting the good release back (issue 14).
    let promote_started = Instant::now();
    match provider.promote(&target).await {
        Ok(()) => checks.push(
            Check::pass(format!("promote {}", target.id))
                .detail(format!("`{}` serves traffic again", target.id))
                .duration(promote_started.elapsed())
                .artifact("release", target.id.clone()),
        ),
        Err(error) => {
            checks.push(provider_failure(&format!("promote {}", target.id), &error));
            mark_failed(provider, &request, &mut checks).await;
            return failed(checks);
        }
    }
    checks.push(database_action.run(ctx).await);
    mark_failed(provider, &request, &mut checks).await;
    let rollback = Phase::new(PhaseName::Rollback, checks, started.elapsed())
        .summary(format!("back to {}", target.id));

    let verify_started = Instant::now();
    let verify = match crate::smoke::run_suite(ctx, None, PhaseName::Verify).await {
        Ok(phase) => phase,
        Err(error) => Phase::new(
            PhaseName::Verify,
            vec![Check::fail("smoke suite").detail(error.to_string())],
            verify_started.elapsed(),
        ),
    };
    let succeeded = !rollback.failed() && !verify.failed();
    if succeeded {
        if let Err(error) = provider.record(&target, ReleaseState::Healthy).await {
            ctx.printer.warning(&format!(
                "could not record `{}` as healthy: {error}",
                target.id
            ));
        }
    }
    RollbackOutcome {
        phases: vec![rollback, verify],
        succeeded,
    }
}

/// Records the release rolled back from as failed, with the request's
/// reason; a failure to record it is a failed check (the local record is what
/// keeps it from being a target).
async fn mark_failed(provider: &dyn Provider, request: &RollbackRequest, checks: &mut Vec<Check>) {
    if let Some(failing) = &request.failing {
        let recorded = match &request.reason {
            Some(reason) => provider.record_failure(failing, reason).await,
            None => provider.record(failing, ReleaseState::Failed).await,
        };
        if let Err(error) = recorded {
            checks.push(provider_failure(
                &format!("mark {} failed", failing.id),
                &error,
            ));
        }
    }
}

/// What a rollback would do if the deploy about to start fails, decided
/// before deploying so the summary can show it on its first screen (issue 14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackPlan {
    /// The release `previous` would choose, or why none can be chosen.
    pub target: Result<String, String>,
    /// What happens to the database, as `[rollback] database` and this run's
    /// state decide it.
    pub database: String,
}

/// How many releases back the plan and rollback look.
pub const HISTORY_LIMIT: usize = 100;

/// The [`RollbackPlan`] for a deploy that has not happened yet, from the
/// provider's `history` (read with [`HISTORY_LIMIT`]): the new release is not
/// in it, so the target is the newest valid release (normally the one live
/// now), and the run state is this run's.
pub fn plan(ctx: &Context, history: &Result<Vec<Release>, ProviderError>) -> RollbackPlan {
    let target = match history {
        Ok(history) => select(history, None, None)
            .map(|release| release.id.clone())
            .map_err(|error| error.to_string()),
        Err(error) => Err(format!("could not read the release history: {error}")),
    };
    let database = database_action(ctx, ctx.config.rollback.database, None).describe();
    RollbackPlan { target, database }
}

fn provider_failure(action: &str, error: &ProviderError) -> Check {
    let mut check = Check::fail(action).detail(error.to_string());
    if let ProviderError::Restart { output, .. } | ProviderError::Command { output, .. } = error {
        if !output.trim().is_empty() {
            check = check.log(output.clone());
        }
    }
    check
}

/// What rollback does to the database, decided from the policy and the run state.
enum DatabaseAction {
    Keep(&'static str),
    /// Restore `backup`, chosen for the reason `why`.
    Restore {
        backup: std::path::PathBuf,
        why: String,
    },
    RestoreWithoutBackup,
    NoRunRecord,
    /// Revert `versions` (what this run applied) with their down sections
    /// (issue 11, section 5).
    Down {
        versions: Vec<String>,
    },
    DownWithoutRunRecord,
    Unreadable(String),
}

/// `failing` is the release rolled back from: the run state only speaks for
/// the run that deployed it.
fn database_action(ctx: &Context, policy: DatabasePolicy, failing: Option<&str>) -> DatabaseAction {
    if ctx.config.environment.database.is_none() {
        return DatabaseAction::Keep("no database is configured");
    }
    let state = match RunState::load(&ctx.state_path, &ctx.config.environment.name) {
        Ok(state) => state,
        Err(error) => return DatabaseAction::Unreadable(error.to_string()),
    };
    let same_run = failing.is_none() || state.deployed_release.as_deref() == failing;
    let applied = same_run && !state.migrations_applied.is_empty();
    // A version without a recorded class counts as destructive (issue 4).
    let all_additive = state
        .migrations_applied
        .iter()
        .all(|version| state.migration_classes.get(version) == Some(&MigrationClass::Additive));
    let restore = match policy {
        DatabasePolicy::Keep => return DatabaseAction::Keep("policy `keep`"),
        DatabasePolicy::Down if !same_run => return DatabaseAction::DownWithoutRunRecord,
        DatabasePolicy::Down if !applied => {
            return DatabaseAction::Keep("policy `down`: this run applied no migration");
        }
        DatabasePolicy::Down => {
            return DatabaseAction::Down {
                versions: state.migrations_applied.clone(),
            };
        }
        DatabasePolicy::Restore => true,
        DatabasePolicy::Auto => applied && !all_additive,
    };
    if !restore && !same_run {
        return DatabaseAction::Keep(
            "policy `auto`, but the run state here does not record the run that deployed this release (a fresh runner?), so nothing is known to restore; restore a backup by hand with `shipgate migrate restore` if that deploy migrated",
        );
    }
    if !restore {
        return DatabaseAction::Keep(if applied {
            "policy `auto`: every migration this run applied was additive"
        } else {
            "policy `auto`: this run applied no migration"
        });
    }
    if !same_run {
        return DatabaseAction::NoRunRecord;
    }
    let why = why_this_backup(&state);
    match state.backup {
        Some(backup) => DatabaseAction::Restore { backup, why },
        None => DatabaseAction::RestoreWithoutBackup,
    }
}

/// Why rollback restores the run's first backup ([`RunState::backup`]): it
/// holds the database as it was before the run changed it, while a later
/// backup (a resumed run) already holds the run's changes (issue 10, item 2).
fn why_this_backup(state: &RunState) -> String {
    let Some(first) = state.first_backup() else {
        return "the backup recorded for this run".to_owned();
    };
    let mut why = if first.after.is_empty() {
        format!(
            "the backup taken before this run's first migration, at {}",
            first.taken_at
        )
    } else {
        let applied = first
            .after
            .iter()
            .map(|version| format!("`{version}`"))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "this run's first backup, taken at {} after it had applied {applied}",
            first.taken_at
        )
    };
    let later: Vec<String> = state
        .backups
        .iter()
        .filter(|backup| backup.path != first.path)
        .map(|backup| format!("`{}`", backup.path.display()))
        .collect();
    if !later.is_empty() {
        let _ = write!(
            why,
            "; not the later {} {}, taken when the run resumed, which already {} its changes",
            if later.len() == 1 {
                "backup"
            } else {
                "backups"
            },
            later.join(", "),
            if later.len() == 1 { "holds" } else { "hold" }
        );
    }
    why
}

impl DatabaseAction {
    fn describe(&self) -> String {
        match self {
            Self::Keep(why) => format!("keep the database ({why})"),
            Self::Restore { backup, why } => {
                format!("restore the database from `{}` ({why})", backup.display())
            }
            Self::RestoreWithoutBackup => {
                "restore the database, but this run took no backup".to_owned()
            }
            Self::NoRunRecord => {
                "restore the database, but no backup of the run that deployed this release is recorded".to_owned()
            }
            Self::Unreadable(error) => format!("decide about the database, but {error}"),
            Self::Down { versions } => format!(
                "revert {} with their down sections, newest first (policy `down`)",
                backticked(versions)
            ),
            Self::DownWithoutRunRecord => {
                "revert this run's migrations, but the run state does not record the run that deployed this release".to_owned()
            }
        }
    }

    async fn run(&self, ctx: &Context) -> Check {
        match self {
            Self::Keep(why) => Check::pass("database").detail(format!("kept ({why})")),
            Self::Restore { backup, why } => match crate::migrate::restore(ctx, backup).await {
                Ok(mut check) => {
                    check.detail = Some(match check.detail.take() {
                        Some(detail) => format!("{detail}; used {why}"),
                        None => format!("used {why}"),
                    });
                    check
                }
                Err(error) => Check::fail("database").detail(format!(
                    "restore from `{}` ({why}) failed: {error}",
                    backup.display()
                )),
            },
            Self::RestoreWithoutBackup => Check::fail("database")
                .detail("migrations were applied but no backup was taken; restore the database by hand (`shipgate migrate status` shows what was applied)"),
            Self::NoRunRecord => Check::fail("database").detail(
                "policy `restore`, but the run state does not record the run that deployed this release; restore the database by hand or pass `--database keep`",
            ),
            Self::Unreadable(error) => Check::fail("database").detail(format!("cannot tell what this run migrated: {error}")),
            Self::Down { versions } => revert(ctx, versions).await,
            Self::DownWithoutRunRecord => Check::fail("database").detail(
                "policy `down`, but the run state does not record the run that deployed this release; run `shipgate migrate down --to NAME` by hand or pass `--database keep`",
            ),
        }
    }
}

/// The `down` policy: reverts `versions` with `migrate down`. A refusal
/// (a migration without a down section) changed nothing, and says so.
async fn revert(ctx: &Context, versions: &[String]) -> Check {
    let started = Instant::now();
    let selection = crate::migrate::DownSelection::Versions(versions.to_vec());
    match crate::migrate::down_phase(ctx, &selection).await {
        Ok(outcome) => {
            let summary = outcome.phase.summary.clone().unwrap_or_default();
            let mut check = if outcome.phase.failed() {
                let failures: Vec<String> = outcome
                    .phase
                    .checks
                    .iter()
                    .filter(|check| check.status == Status::Fail)
                    .map(|check| {
                        format!(
                            "{}: {}",
                            check.name,
                            check.detail.as_deref().unwrap_or_default()
                        )
                    })
                    .collect();
                Check::fail("database")
                    .detail(format!(
                        "policy `down`: {summary}; the migrations reverted before the failure stay reverted, the rest stay applied"
                    ))
                    .log(failures.join("\n"))
            } else {
                Check::pass("database").detail(format!(
                    "policy `down`: {summary} ({}), newest first",
                    backticked(&outcome.reverted)
                ))
            };
            if let Some(backup) = &outcome.backup {
                check = check.artifact("backup", backup.display().to_string());
            }
            check.duration(started.elapsed())
        }
        Err(error) => {
            let mut check = Check::fail("database").detail(format!(
                "policy `down` refused before any change, so the database was left as it is (nothing reverted): {error}"
            ));
            if let Some(hint) = error.hint() {
                check = check.log(format!("hint: {hint}"));
            }
            check.duration(started.elapsed())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::config::Redactor;
    use crate::report::{OutputFormat, Printer};

    fn context(dir: &std::path::Path) -> Context {
        let path = dir.join("shipgate.toml");
        fs_err::write(
            &path,
            "[environments.local]\ndatabase = \"sqlite://app.db\"\n",
        )
        .unwrap();
        let redactor = Redactor::default();
        let config = crate::config::load(&path, None, &|_| None, &redactor).unwrap();
        Context {
            config,
            printer: Printer::new(OutputFormat::Json, redactor),
            dry_run: false,
            cancel: CancellationToken::new(),
            state_path: dir.join("state.json"),
        }
    }

    #[test]
    fn auto_keeps_the_database_only_when_every_applied_migration_was_additive() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path());
        let save = |classes: &[(&str, MigrationClass)]| {
            RunState {
                environment: "local".into(),
                migrations_applied: vec!["0001".into(), "0002".into()],
                backup: Some("b.sqlite".into()),
                migration_classes: classes
                    .iter()
                    .map(|(version, class)| ((*version).to_owned(), *class))
                    .collect::<BTreeMap<_, _>>(),
                ..RunState::default()
            }
            .save(&ctx.state_path)
            .unwrap();
        };
        let additive = MigrationClass::Additive;
        save(&[("0001", additive), ("0002", additive)]);
        assert!(matches!(
            database_action(&ctx, DatabasePolicy::Auto, None),
            DatabaseAction::Keep(why) if why.contains("additive")
        ));
        save(&[("0001", additive), ("0002", MigrationClass::Destructive)]);
        assert!(matches!(
            database_action(&ctx, DatabasePolicy::Auto, None),
            DatabaseAction::Restore { .. }
        ));
        // A version with no recorded class (an older shipgate) counts as destructive.
        save(&[("0001", additive)]);
        assert!(matches!(
            database_action(&ctx, DatabasePolicy::Auto, None),
            DatabaseAction::Restore { .. }
        ));
    }

    // issue 11, section 5: `down` reverts exactly what this run applied,
    // and only for the run that deployed the failing release.
    #[test]
    fn down_reverts_the_versions_this_run_applied() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path());
        let save = |applied: &[&str]| {
            RunState {
                environment: "local".into(),
                migrations_applied: applied.iter().map(|&version| version.to_owned()).collect(),
                deployed_release: Some("v2".into()),
                ..RunState::default()
            }
            .save(&ctx.state_path)
            .unwrap();
        };
        save(&["0002", "0003"]);
        let action = database_action(&ctx, DatabasePolicy::Down, Some("v2"));
        let DatabaseAction::Down { versions } = &action else {
            panic!("expected a revert, got `{}`", action.describe());
        };
        assert_eq!(versions, &["0002", "0003"]);
        assert!(matches!(
            database_action(&ctx, DatabasePolicy::Down, Some("v1")),
            DatabaseAction::DownWithoutRunRecord
        ));
        save(&[]);
        assert!(matches!(
            database_action(&ctx, DatabasePolicy::Down, Some("v2")),
            DatabaseAction::Keep(why) if why.contains("applied no migration")
        ));
    }

    // issue 10, item 2: a resumed run took a second backup; rollback still
    // restores the first, and says which one and why.
    #[test]
    fn restore_uses_the_runs_first_backup_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path());
        let backup = |path: &str, after: &[&str]| crate::state::RunBackup {
            path: path.into(),
            bytes: 1,
            position: None,
            taken_at: format!("{path}-time"),
            after: after.iter().map(|version| (*version).to_owned()).collect(),
            remote: None,
        };
        let mut state = RunState {
            environment: "local".into(),
            migrations_applied: vec!["0002".into()],
            ..RunState::default()
        };
        state.record_backup(backup("first.sqlite", &[]));
        state.record_backup(backup("second.sqlite", &["0002"]));
        state.save(&ctx.state_path).unwrap();
        let action = database_action(&ctx, DatabasePolicy::Restore, None);
        let DatabaseAction::Restore { backup, why } = &action else {
            panic!("expected a restore, got `{}`", action.describe());
        };
        assert_eq!(backup, std::path::Path::new("first.sqlite"));
        assert_eq!(
            why,
            "the backup taken before this run's first migration, at first.sqlite-time; \
             not the later backup `second.sqlite`, taken when the run resumed, which already holds its changes"
        );
    }
}
