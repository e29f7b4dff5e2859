//! The shape of `shipgate.toml` exactly as written: serde types with
//! `deny_unknown_fields`, spans kept where a later check needs to point back.
//!
//! Nothing here resolves `${VAR}` or touches the filesystem; `config::load`
//! turns these into the validated [`super::Config`].

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::duration::ConfigDuration;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfigFile {
    #[serde(default)]
    pub(crate) environments: BTreeMap<String, Spanned<EnvironmentFile>>,
    #[serde(default)]
    pub(crate) gate: GateFile,
    #[serde(default)]
    pub(crate) migrate: MigrateFile,
    #[serde(default)]
    pub(crate) smoke: SmokeFile,
    pub(crate) watch: Option<WatchFile>,
    #[serde(default)]
    pub(crate) rollback: RollbackFile,
    #[serde(default)]
    pub(crate) deploy: DeployFile,
    #[serde(default)]
    pub(crate) notify: NotifyFile,
}

/// `[environments.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnvironmentFile {
    pub(crate) url: Option<Spanned<String>>,
    pub(crate) database: Option<Spanned<String>>,
    pub(crate) direct_url: Option<Spanned<String>>,
    pub(crate) shadow_database: Option<Spanned<String>>,
    pub(crate) provider: Option<Spanned<ProviderKind>>,
    pub(crate) releases: Option<Spanned<ReleasesFile>>,
    pub(crate) vercel: Option<Spanned<VercelFile>>,
    pub(crate) railway: Option<Spanned<RailwayFile>>,
    pub(crate) command: Option<Spanned<CommandProviderFile>>,
    pub(crate) deployments: Option<Spanned<DeploymentsFile>>,
}

/// `[environments.NAME.deployments]`: how the environment's GitHub
/// deployments are created.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeploymentsFile {
    pub(crate) production: Option<bool>,
    pub(crate) transient: Option<bool>,
    pub(crate) required_contexts: Option<Vec<Spanned<String>>>,
}

/// `provider = "…"`: only the providers this build has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ProviderKind {
    None,
    Releases,
    Vercel,
    Railway,
    Command,
}

impl ProviderKind {
    /// The name as written in the config.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Releases => "releases",
            Self::Vercel => "vercel",
            Self::Railway => "railway",
            Self::Command => "command",
        }
    }
}

/// `deploy = "git" | "command"` in a platform table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PlatformDeployKind {
    /// The platform builds on push; shipgate waits for it.
    Git,
    /// shipgate runs `command` and reads the new deployment from its output.
    Command,
    /// Vercel only: promote the deployment that passed in `promote_from`.
    Promote,
}

/// `[environments.NAME.vercel]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VercelFile {
    pub(crate) token: Spanned<String>,
    pub(crate) project: Spanned<String>,
    pub(crate) team: Option<Spanned<String>>,
    pub(crate) api_url: Option<Spanned<String>>,
    pub(crate) deploy: Option<Spanned<PlatformDeployKind>>,
    pub(crate) command: Option<Spanned<String>>,
    pub(crate) command_timeout: Option<ConfigDuration>,
    pub(crate) ready_within: Option<ConfigDuration>,
    pub(crate) promote_from: Option<Spanned<String>>,
    pub(crate) staged: Option<bool>,
}

/// `token_kind` in `[environments.NAME.railway]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RailwayTokenKind {
    /// An account or team token: `Authorization: Bearer`.
    Account,
    /// A project token: `Project-Access-Token`.
    Project,
}

/// `rollback` in `[environments.NAME.railway]`: how an older deployment is
/// put back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RailwayRollbackMode {
    /// `deploymentRollback`: reuse the kept image (what the dashboard does).
    Rollback,
    /// `deploymentRedeploy`: build the old deployment's source again.
    Redeploy,
}

/// `[environments.NAME.railway]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RailwayFile {
    pub(crate) token: Spanned<String>,
    pub(crate) token_kind: Option<RailwayTokenKind>,
    pub(crate) project: Spanned<String>,
    pub(crate) environment: Spanned<String>,
    pub(crate) service: Option<Spanned<String>>,
    pub(crate) services: Option<Spanned<Vec<String>>>,
    pub(crate) api_url: Option<Spanned<String>>,
    pub(crate) deploy: Option<Spanned<PlatformDeployKind>>,
    pub(crate) command: Option<Spanned<String>>,
    pub(crate) command_timeout: Option<ConfigDuration>,
    pub(crate) ready_within: Option<ConfigDuration>,
    pub(crate) rollback: Option<RailwayRollbackMode>,
}

/// `[environments.NAME.command]`: any other host, through shell commands.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommandProviderFile {
    pub(crate) deploy: Spanned<String>,
    pub(crate) current: Spanned<String>,
    pub(crate) list: Spanned<String>,
    pub(crate) promote: Spanned<String>,
    pub(crate) timeout: Option<ConfigDuration>,
}

/// `[deploy]`: what runs around the provider's deploy.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeployFile {
    #[serde(default)]
    pub(crate) hook: Vec<Spanned<DeployHookFile>>,
}

/// `[[deploy.hook]]`: a command run after the app deployed and before smoke.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeployHookFile {
    pub(crate) name: Spanned<String>,
    pub(crate) run: Spanned<String>,
    #[serde(default)]
    pub(crate) when_changed: Vec<Spanned<String>>,
    pub(crate) timeout: Option<ConfigDuration>,
}

/// `[environments.NAME.releases]`: directory releases with a `current` symlink.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReleasesFile {
    pub(crate) root: Spanned<String>,
    pub(crate) source: Option<Spanned<String>>,
    pub(crate) restart: Option<Spanned<String>>,
    pub(crate) restart_timeout: Option<ConfigDuration>,
    pub(crate) keep: Option<usize>,
}

/// `[gate]`: one list of command gates and at most one gate of each other kind.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GateFile {
    pub(crate) concurrency: Option<Spanned<usize>>,
    #[serde(default)]
    pub(crate) command: Vec<Spanned<CommandGateFile>>,
    pub(crate) git: Option<Spanned<GitGateFile>>,
    pub(crate) env: Option<Spanned<EnvGateFile>>,
    pub(crate) window: Option<Spanned<WindowGateFile>>,
    pub(crate) tls: Option<Spanned<TlsGateFile>>,
    pub(crate) github: Option<Spanned<GithubGateFile>>,
    pub(crate) migrations: Option<Spanned<MigrationsGateFile>>,
    pub(crate) provider: Option<Spanned<ProviderGateFile>>,
    pub(crate) staged: Option<Spanned<StagedGateFile>>,
    pub(crate) drift: Option<Spanned<DriftGateFile>>,
}

/// `[gate.drift]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DriftGateFile {
    #[serde(default)]
    pub(crate) allow: Vec<Spanned<String>>,
    pub(crate) after_migrate: Option<bool>,
    pub(crate) comments: Option<bool>,
    pub(crate) grants: Option<bool>,
    pub(crate) timeout: Option<ConfigDuration>,
    #[serde(default)]
    pub(crate) after: Vec<Spanned<String>>,
}

/// `[[gate.command]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommandGateFile {
    pub(crate) name: Spanned<String>,
    pub(crate) run: Spanned<String>,
    pub(crate) timeout: Option<ConfigDuration>,
    #[serde(default)]
    pub(crate) after: Vec<Spanned<String>>,
    /// Extra variables set for the command (values may use `${VAR}`).
    #[serde(default)]
    pub(crate) env: BTreeMap<String, Spanned<String>>,
    /// Names of variables passed through from shipgate's own environment.
    #[serde(default)]
    pub(crate) pass_env: Vec<String>,
}

/// `[gate.git]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GitGateFile {
    #[serde(default)]
    pub(crate) clean: Vec<String>,
    #[serde(default)]
    pub(crate) branches: Vec<String>,
    pub(crate) conflict_markers: Option<bool>,
    pub(crate) pushed: Option<bool>,
    pub(crate) timeout: Option<ConfigDuration>,
    #[serde(default)]
    pub(crate) after: Vec<Spanned<String>>,
}

/// `[gate.env]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnvGateFile {
    pub(crate) manifest: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) keys: Vec<Spanned<String>>,
    pub(crate) timeout: Option<ConfigDuration>,
    #[serde(default)]
    pub(crate) after: Vec<Spanned<String>>,
}

/// `[gate.window]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WindowGateFile {
    pub(crate) timezone: Spanned<String>,
    #[serde(default)]
    pub(crate) allow: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) freeze: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) holidays: Vec<Spanned<String>>,
    pub(crate) timeout: Option<ConfigDuration>,
    #[serde(default)]
    pub(crate) after: Vec<Spanned<String>>,
}

/// `[gate.tls]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TlsGateFile {
    pub(crate) hosts: Vec<Spanned<String>>,
    pub(crate) min_days: Option<u32>,
    pub(crate) ca_file: Option<String>,
    pub(crate) timeout: Option<ConfigDuration>,
    #[serde(default)]
    pub(crate) after: Vec<Spanned<String>>,
}

/// `[gate.github]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GithubGateFile {
    pub(crate) checks: Option<Spanned<toml::Value>>,
    pub(crate) min_approvals: Option<u32>,
    pub(crate) wait_for: Option<ConfigDuration>,
    pub(crate) poll_interval: Option<ConfigDuration>,
    pub(crate) timeout: Option<ConfigDuration>,
    #[serde(default)]
    pub(crate) after: Vec<Spanned<String>>,
}

/// `[gate.staged]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StagedGateFile {
    pub(crate) environment: Spanned<String>,
    pub(crate) timeout: Option<ConfigDuration>,
    #[serde(default)]
    pub(crate) after: Vec<Spanned<String>>,
}

/// `[gate.migrations]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MigrationsGateFile {
    pub(crate) lint: Option<String>,
    pub(crate) timeout: Option<ConfigDuration>,
    #[serde(default)]
    pub(crate) after: Vec<Spanned<String>>,
}

/// `[gate.provider]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProviderGateFile {
    pub(crate) timeout: Option<ConfigDuration>,
    #[serde(default)]
    pub(crate) after: Vec<Spanned<String>>,
}

/// `[migrate]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MigrateFile {
    pub(crate) dir: Option<String>,
    pub(crate) backup: Option<BackupMode>,
    pub(crate) backup_dir: Option<String>,
    #[serde(default)]
    pub(crate) keep_backups: bool,
    /// `s3://bucket[/prefix]`: upload each backup there, encrypted.
    pub(crate) backup_to: Option<Spanned<String>>,
    /// The S3 endpoint (R2, `MinIO`); else `AWS_ENDPOINT_URL` or AWS.
    pub(crate) backup_endpoint: Option<Spanned<String>>,
    /// The age X25519 public key backups are encrypted to.
    pub(crate) backup_recipient: Option<Spanned<String>>,
    /// How many uploaded backups to keep per environment.
    pub(crate) backup_retention: Option<Spanned<i64>>,
    /// Deadline of each upload, download, listing or deletion.
    pub(crate) backup_timeout: Option<ConfigDuration>,
    /// `[migrate.lint]`: rule id → `"error"`, `"warning"` or `"off"`.
    #[serde(default)]
    pub(crate) lint: BTreeMap<Spanned<String>, Spanned<String>>,
    pub(crate) lock_timeout: Option<ConfigDuration>,
    pub(crate) statement_timeout: Option<ConfigDuration>,
    pub(crate) lock_wait: Option<ConfigDuration>,
    pub(crate) retries: Option<u32>,
    pub(crate) layout: Option<LayoutSetting>,
}

/// `[migrate] layout = "auto" | "plain" | "prisma"`: whose history table and
/// directory layout migrations use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayoutSetting {
    /// Detected from the directory (`migration_lock.toml` or
    /// `<ts>_<name>/migration.sql` folders mean Prisma).
    Auto,
    /// `<version>_<name>.sql` files and `shipgate_migrations`.
    Plain,
    /// `prisma/migrations/<ts>_<name>/migration.sql` and `_prisma_migrations`.
    Prisma,
    /// `supabase/migrations/<ts>_<name>.sql` and
    /// `supabase_migrations.schema_migrations`.
    Supabase,
    /// `db/migrations/<version>_<name>.sql` with `-- migrate:up` /
    /// `-- migrate:down`, and `schema_migrations`.
    Dbmate,
}

/// `backup = "auto" | "none"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupMode {
    /// The engine's own backup: SQLite's online backup API (`pg_dump` for PostgreSQL).
    Auto,
    /// No backup; a failed migration cannot be restored by shipgate.
    None,
}

/// `[smoke]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SmokeFile {
    pub(crate) ready_within: Option<ConfigDuration>,
    pub(crate) timeout: Option<ConfigDuration>,
    pub(crate) concurrency: Option<Spanned<usize>>,
    pub(crate) samples: Option<usize>,
    pub(crate) max_error_rate: Option<Spanned<f64>>,
    pub(crate) ca_file: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) check: Vec<SmokeCheckFile>,
}

/// `[[smoke.check]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SmokeCheckFile {
    pub(crate) name: Spanned<String>,
    pub(crate) method: Option<Spanned<String>>,
    pub(crate) path: Option<Spanned<String>>,
    pub(crate) url: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub(crate) query: BTreeMap<String, Spanned<String>>,
    pub(crate) follow_redirects: Option<bool>,
    pub(crate) insecure: Option<Spanned<bool>>,
    pub(crate) max_redirects: Option<usize>,
    pub(crate) max_latency: Option<ConfigDuration>,
    #[serde(default)]
    pub(crate) assert: Vec<Spanned<String>>,
    pub(crate) flow: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) capture: BTreeMap<String, Spanned<String>>,
    pub(crate) body: Option<Spanned<String>>,
    pub(crate) json: Option<toml::Value>,
    pub(crate) timeout: Option<ConfigDuration>,
    pub(crate) expect: Option<Spanned<ExpectFile>>,
    pub(crate) idempotent: Option<bool>,
    pub(crate) eventually: Option<Spanned<EventuallyFile>>,
}

/// `eventually = { within = "2m", every = "5s" }`: repeat the step until it
/// passes or `within` ran out.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventuallyFile {
    pub(crate) within: ConfigDuration,
    pub(crate) every: Option<ConfigDuration>,
}

/// `expect = { status = 200, json = { "$.status" = "ok" } }`; `status` may be
/// a code, a list of codes or a class like `"2xx"`; `json` keeps file order.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExpectFile {
    pub(crate) status: Option<toml::Value>,
    #[serde(default)]
    pub(crate) json: toml::Table,
}

/// `[watch]`: the post-deploy analysis.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WatchFile {
    #[serde(rename = "for")]
    pub(crate) duration: Option<ConfigDuration>,
    pub(crate) interval: Option<ConfigDuration>,
    pub(crate) checks: Option<Vec<Spanned<String>>>,
    pub(crate) max_error_rate: Option<Spanned<f64>>,
    pub(crate) failure_limit: Option<u32>,
    pub(crate) consecutive_error_limit: Option<u32>,
    pub(crate) inconclusive_limit: Option<u32>,
    #[serde(default)]
    pub(crate) metric: Vec<WatchMetricFile>,
}

/// `[[watch.metric]]`: a metric query judged every interval, raw (`kind =
/// "http"`) or through a preset (`prometheus`, `datadog`, `sentry`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WatchMetricFile {
    pub(crate) name: Spanned<String>,
    pub(crate) kind: Option<Spanned<String>>,
    pub(crate) url: Option<Spanned<String>>,
    pub(crate) method: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, Spanned<String>>,
    pub(crate) body: Option<Spanned<toml::Value>>,
    pub(crate) value: Option<Spanned<String>>,
    pub(crate) query: Option<Spanned<String>>,
    pub(crate) token: Option<Spanned<String>>,
    pub(crate) api_key: Option<Spanned<String>>,
    pub(crate) application_key: Option<Spanned<String>>,
    pub(crate) organization: Option<Spanned<String>>,
    pub(crate) project: Option<Spanned<u64>>,
    pub(crate) y_axis: Option<Spanned<String>>,
    pub(crate) step: Option<Spanned<ConfigDuration>>,
    pub(crate) window: Option<Spanned<ConfigDuration>>,
    pub(crate) reduce: Option<Spanned<String>>,
    pub(crate) compare: Option<Spanned<String>>,
    pub(crate) baseline_window: Option<Spanned<ConfigDuration>>,
    pub(crate) max_increase: Option<Spanned<MaxIncreaseFile>>,
    pub(crate) fail_if: Option<Spanned<String>>,
    pub(crate) pass_if: Option<Spanned<String>>,
    pub(crate) timeout: Option<ConfigDuration>,
    pub(crate) failure_limit: Option<u32>,
    pub(crate) consecutive_error_limit: Option<u32>,
}

/// `max_increase = { factor = 2.0, absolute = 0.01 }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MaxIncreaseFile {
    pub(crate) factor: Option<f64>,
    pub(crate) absolute: Option<f64>,
}

/// `[rollback]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RollbackFile {
    pub(crate) on: Option<Vec<RollbackTrigger>>,
    pub(crate) database: Option<DatabasePolicy>,
}

/// `[notify]` (issue 14).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NotifyFile {
    #[serde(default)]
    pub(crate) github_issue: bool,
    pub(crate) issue_labels: Option<Vec<Spanned<String>>>,
    pub(crate) webhook: Option<Spanned<WebhookFile>>,
}

/// `[notify.webhook]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookFile {
    pub(crate) url: Spanned<String>,
    pub(crate) events: Option<Vec<Spanned<NotifyEvent>>>,
    pub(crate) timeout: Option<ConfigDuration>,
}

/// A moment `[notify.webhook] events` can post on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotifyEvent {
    /// `shipgate run` finished with the new release live and healthy.
    DeploySucceeded,
    /// `shipgate run` failed without rolling back.
    DeployFailed,
    /// A rollback (automatic or `shipgate rollback`) is about to start.
    RollbackStarted,
    /// The previous release is live again and passed its re-check.
    RollbackSucceeded,
    /// The rollback did not complete or its re-check failed.
    RollbackFailed,
}

impl NotifyEvent {
    /// Every event, in the order a run can reach them.
    pub const ALL: [Self; 5] = [
        Self::DeploySucceeded,
        Self::DeployFailed,
        Self::RollbackStarted,
        Self::RollbackSucceeded,
        Self::RollbackFailed,
    ];

    /// The name as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DeploySucceeded => "deploy-succeeded",
            Self::DeployFailed => "deploy-failed",
            Self::RollbackStarted => "rollback-started",
            Self::RollbackSucceeded => "rollback-succeeded",
            Self::RollbackFailed => "rollback-failed",
        }
    }
}

/// A phase whose failure, after the new release went live, triggers an
/// automatic rollback. (A failed migration needs no trigger: it always
/// restores the backup and stops the run before anything is deployed.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RollbackTrigger {
    /// The provider could not deploy or start the release.
    Deploy,
    /// The smoke suite failed against the new release.
    Smoke,
    /// The post-deploy watch crossed a limit.
    Watch,
}

/// What rollback does to the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DatabasePolicy {
    /// Keep when this run applied no migration; restore this run's backup when
    /// it did (without migration lint, every applied migration is treated as
    /// possibly destructive).
    Auto,
    /// Leave the database as it is.
    Keep,
    /// Restore this run's backup.
    Restore,
    /// Revert exactly the migrations this run applied with their down
    /// sections, newest first (`migrate down`); refused before any change
    /// when one has none (issue 11, section 5).
    Down,
}
