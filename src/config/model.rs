//! The validated config every subcommand reads: paths absolute, `${VAR}`
//! resolved, defaults applied, URLs and JSON paths parsed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

pub use super::assertion::{
    Assertion, Capture, CaptureSource, CertificateField, Comparison, Operand, Predicate, Subject,
};
pub use super::backup_url::BackupUrl;
pub use super::file::{
    BackupMode, DatabasePolicy, LayoutSetting, NotifyEvent, RailwayRollbackMode, RailwayTokenKind,
    RollbackTrigger,
};
use super::secret::{Masked, Redactor};
use crate::diagnostic::SourceLocation;

/// Everything one invocation needs, for one environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// The config file, as the user named it.
    pub path: PathBuf,
    /// Directory relative paths in the config resolve against (the file's own).
    pub base_dir: PathBuf,
    /// The selected environment.
    pub environment: Environment,
    /// Every gate: `[[gate.command]]` in file order, then the other kinds.
    pub gates: Vec<Gate>,
    /// `[gate] concurrency`: command gates run at once (default: CPU count).
    pub gate_concurrency: Option<usize>,
    /// `[migrate]`.
    pub migrate: MigrateConfig,
    /// `[smoke]`.
    pub smoke: SmokeConfig,
    /// `[watch]`, when the file has one.
    pub watch: Option<WatchConfig>,
    /// `[rollback]`.
    pub rollback: RollbackConfig,
    /// `[[deploy.hook]]`, in file order.
    pub deploy_hooks: Vec<DeployHook>,
    /// `[notify]`: the incident issue and the webhook (issue 14).
    pub notify: NotifyConfig,
    /// Masks every value resolved from `${VAR}`.
    pub redactor: Redactor,
}

/// One `[environments.NAME]` section.
#[derive(Debug, Clone)]
pub struct Environment {
    /// Its name.
    pub name: String,
    /// Base URL for smoke checks given as paths.
    pub url: Option<Url>,
    /// The database migrations run against.
    pub database: Option<DatabaseUrl>,
    /// `direct_url`: the database reached directly, bypassing a transaction
    /// pooler; migrations use it instead of `database` when set.
    pub direct_database: Option<DatabaseUrl>,
    /// `shadow_database`: an empty database the drift check may reset and
    /// build the migrations' schema in, when the role may not `CREATE
    /// DATABASE` (as Prisma's `shadowDatabaseUrl`; issue 16).
    pub shadow_database: Option<DatabaseUrl>,
    /// How releases are deployed and rolled back.
    pub provider: ProviderConfig,
    /// How its GitHub deployments are created.
    pub deployments: DeploymentSettings,
}

/// `[environments.NAME.deployments]`: the fields of each GitHub deployment
/// shipgate creates for the environment (issue 14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentSettings {
    /// `production_environment`: GitHub shows it as production and never
    /// marks its deployments inactive by itself. Default: the environment
    /// is named `production` or `prod`.
    pub production: bool,
    /// `transient_environment`: the environment goes away (a preview).
    pub transient: bool,
    /// `required_contexts`: the commit statuses GitHub must see green before
    /// it accepts the deployment. Default: none, because shipgate's own
    /// gates judged the checks already and its own check run is still in
    /// progress while it deploys (GitHub would refuse with 409).
    pub required_contexts: Vec<String>,
}

impl DeploymentSettings {
    /// The defaults for an environment named `name`.
    pub fn for_environment(name: &str) -> Self {
        Self {
            production: matches!(name.to_ascii_lowercase().as_str(), "production" | "prod"),
            transient: false,
            required_contexts: Vec::new(),
        }
    }
}

/// A parsed `database = "…"` value.
#[derive(Debug, Clone)]
pub enum DatabaseUrl {
    /// `sqlite://path` (relative to the config file) or `sqlite:///abs/path`.
    Sqlite {
        /// Absolute path of the database file.
        path: PathBuf,
        /// The URL as written, masked for printing.
        url: Masked,
    },
    /// `postgres://…` or `postgresql://…`, handed to the PostgreSQL engine.
    Postgres {
        /// The URL as written, masked for printing.
        url: Masked,
    },
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite { url, .. } | Self::Postgres { url } => url.fmt(f),
        }
    }
}

/// `provider = "…"` with its settings.
#[derive(Debug, Clone)]
pub enum ProviderConfig {
    /// No provider: `deploy` and app rollback are unavailable.
    None,
    /// Directory releases with an atomic `current` symlink.
    Releases(ReleasesConfig),
    /// Vercel deployments, through Vercel's REST API.
    Vercel(VercelConfig),
    /// Railway deployments, through Railway's GraphQL API.
    Railway(RailwayConfig),
    /// Any other host, through configured shell commands.
    Command(CommandProviderConfig),
}

impl ProviderConfig {
    /// The provider's config name, e.g. `vercel`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Releases(_) => "releases",
            Self::Vercel(_) => "vercel",
            Self::Railway(_) => "railway",
            Self::Command(_) => "command",
        }
    }
}

/// A platform API token, read from the one `${VAR}` its config value names.
///
/// `Debug` shows the variable, never the value.
#[derive(Clone)]
pub struct ApiToken {
    /// The environment variable it came from, for messages (`VERCEL_TOKEN`).
    pub variable: String,
    /// The token itself (registered with the redactor).
    pub value: String,
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiToken(${{{}}})", self.variable)
    }
}

/// How a platform provider gets a new deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformDeploy {
    /// The platform builds on push: wait for its deployment of the commit.
    Git,
    /// Run a command (e.g. `vercel deploy --prebuilt --prod`) and read the
    /// new deployment from its output.
    Command {
        /// The shell command (run with `sh -c`, cwd = the config's directory).
        run: String,
        /// Deadline for the command.
        timeout: Duration,
    },
    /// Vercel: promote this commit's deployment that shipgate verified in
    /// another environment (GitHub Deployments say which), without building
    /// again, so production runs the bytes that environment tested.
    Promote {
        /// The environment it passed in, e.g. `staging`.
        from: String,
    },
}

/// `[environments.NAME.vercel]`.
#[derive(Debug, Clone)]
pub struct VercelConfig {
    /// API base (default `https://api.vercel.com`).
    pub api_url: Url,
    /// Bearer token.
    pub token: ApiToken,
    /// Project id or name.
    pub project: String,
    /// Team id or slug (`teamId` on every request), when the project is a team's.
    pub team: Option<String>,
    /// How a release is deployed.
    pub deploy: PlatformDeploy,
    /// How long a deployment may take to appear and become ready.
    pub ready_within: Duration,
    /// The environment's deployments are production builds left staged
    /// (`vercel deploy --prod --skip-domain`, or auto-assignment of
    /// production domains turned off): shipgate never makes them
    /// production; another environment promotes the one that passed here.
    pub staged: bool,
}

/// `[environments.NAME.railway]`.
#[derive(Debug, Clone)]
pub struct RailwayConfig {
    /// GraphQL endpoint (default `https://backboard.railway.com/graphql/v2`).
    pub api_url: Url,
    /// The token.
    pub token: ApiToken,
    /// Account/team token (`Authorization: Bearer`) or project token
    /// (`Project-Access-Token`).
    pub token_kind: RailwayTokenKind,
    /// Project id.
    pub project: String,
    /// Environment id.
    pub environment: String,
    /// Service ids, deployed and rolled back in this order (at least one).
    pub services: Vec<String>,
    /// How a release is deployed.
    pub deploy: PlatformDeploy,
    /// How long a deployment may take to appear and succeed.
    pub ready_within: Duration,
    /// Roll back to the kept image, or rebuild the old deployment.
    pub rollback: RailwayRollbackMode,
}

/// `[environments.NAME.command]`: templates expand `{release}` and `{commit}`.
#[derive(Debug, Clone)]
pub struct CommandProviderConfig {
    /// Deploys the release; prints the new release id on its last line of stdout.
    pub deploy: String,
    /// Prints the live release as JSON (`{"id", "state", "deployed_at", "commit"}` or `null`).
    pub current: String,
    /// Prints known releases, newest first, as a JSON array of the same objects.
    pub list: String,
    /// Makes `{release}` serve traffic again.
    pub promote: String,
    /// Deadline for each command.
    pub timeout: Duration,
}

/// `[[deploy.hook]]`.
#[derive(Debug, Clone)]
pub struct DeployHook {
    /// Its name, for the report.
    pub name: String,
    /// The shell command (cwd = the config's directory).
    pub run: String,
    /// Globs (gitignore-style, relative to the repository root); the hook runs
    /// only when a changed file matches one. Empty: always runs.
    pub when_changed: Vec<String>,
    /// Deadline for the command.
    pub timeout: Duration,
    /// Where it is defined, for messages.
    pub location: Option<SourceLocation>,
}

/// `[environments.NAME.releases]`.
#[derive(Debug, Clone)]
pub struct ReleasesConfig {
    /// Holds `releases/<id>/`, `current` and the release ledger.
    pub root: PathBuf,
    /// Default directory a new release is copied from.
    pub source: Option<PathBuf>,
    /// Shell command run (cwd = config dir) after `current` switches.
    pub restart: Option<String>,
    /// Deadline for `restart`.
    pub restart_timeout: Duration,
    /// How many releases to keep on disk (the current one always stays).
    pub keep: usize,
}

/// One configured gate: what every gate has, plus its kind's settings.
#[derive(Debug, Clone)]
pub struct Gate {
    /// Unique name (`git`, `env`, … for the single-instance kinds).
    pub name: String,
    /// Gates that must finish (and not fail) before this one starts.
    pub after: Vec<String>,
    /// Deadline for the gate once it starts.
    pub timeout: Duration,
    /// Where the gate is defined in the config (annotations point there).
    pub location: Option<SourceLocation>,
    /// What it checks.
    pub kind: GateKind,
}

/// The kinds of gate.
#[derive(Debug, Clone)]
pub enum GateKind {
    /// `[[gate.command]]`.
    Command(CommandGate),
    /// `[gate.git]`.
    Git(GitGate),
    /// `[gate.env]`.
    Env(EnvGate),
    /// `[gate.window]`.
    Window(WindowGate),
    /// `[gate.tls]`.
    Tls(TlsGate),
    /// `[gate.github]`.
    Github(GithubGate),
    /// `[gate.migrations]`.
    Migrations(MigrationsGate),
    /// `[gate.provider]`.
    Provider,
    /// `[gate.staged]`.
    Staged(StagedGate),
    /// `[gate.drift]`.
    Drift(DriftGate),
}

impl GateKind {
    /// The kind's name as the config spells it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Command(_) => "command",
            Self::Git(_) => "git",
            Self::Env(_) => "env",
            Self::Window(_) => "window",
            Self::Tls(_) => "tls",
            Self::Github(_) => "github",
            Self::Migrations(_) => "migrations",
            Self::Provider => "provider",
            Self::Staged(_) => "staged",
            Self::Drift(_) => "drift",
        }
    }
}

/// One `[[gate.command]]`.
#[derive(Debug, Clone)]
pub struct CommandGate {
    /// Shell command; passes on exit 0.
    pub run: String,
    /// Variables set for the command (masked for printing).
    pub env: Vec<(String, Masked)>,
    /// Variables passed through from shipgate's environment, besides the
    /// fixed base set.
    pub pass_env: Vec<String>,
}

/// `[gate.git]`.
#[derive(Debug, Clone)]
pub struct GitGate {
    /// Paths (relative to the config) that must have no modified, staged or
    /// untracked files.
    pub clean: Vec<String>,
    /// Branch names (`*` matches any run of characters) HEAD may be on; empty = any.
    pub branches: Vec<String>,
    /// Fail on conflict markers in tracked text files.
    pub conflict_markers: bool,
    /// Fail when HEAD is not on a remote branch (only when a remote exists).
    pub pushed: bool,
}

/// `[gate.env]`.
#[derive(Debug, Clone)]
pub struct EnvGate {
    /// A `.env.example`-style file listing the keys (absolute).
    pub manifest: Option<PathBuf>,
    /// Keys listed in the config.
    pub keys: Vec<String>,
}

/// `[gate.window]`.
#[derive(Debug, Clone)]
pub struct WindowGate {
    /// The IANA name, as written.
    pub timezone_name: String,
    /// The zone windows, freezes and holidays are read in.
    pub timezone: jiff::tz::TimeZone,
    /// Weekly windows deploys are allowed in; empty = any time.
    pub allow: Vec<WeeklyWindow>,
    /// Date ranges (inclusive) with no deploys.
    pub freeze: Vec<DateRange>,
    /// Single days with no deploys.
    pub holidays: Vec<jiff::civil::Date>,
}

/// `"Tue-Thu 10:00-14:00"`: days of the week and a local time range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeeklyWindow {
    /// As written.
    pub text: String,
    /// Allowed start days, Monday first.
    pub days: [bool; 7],
    /// Start, minutes after local midnight.
    pub start: u32,
    /// End (exclusive), minutes after local midnight; at or before `start`
    /// means the window runs past midnight into the next day.
    pub end: u32,
}

/// `"2026-12-20..2027-01-03"`: a range of local dates, both ends included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateRange {
    /// As written.
    pub text: String,
    /// First day.
    pub start: jiff::civil::Date,
    /// Last day.
    pub end: jiff::civil::Date,
}

/// One `[gate.tls]` host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsHost {
    /// Host name (sent as SNI and verified).
    pub host: String,
    /// Port (default 443).
    pub port: u16,
}

/// `[gate.tls]`.
#[derive(Debug, Clone)]
pub struct TlsGate {
    /// Hosts to connect to.
    pub hosts: Vec<TlsHost>,
    /// Fail when a certificate expires in fewer days.
    pub min_days: u32,
    /// PEM file of CA certificates to trust instead of the system roots.
    pub ca_file: Option<PathBuf>,
}

/// Which commit checks the `github` gate requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequiredChecks {
    /// None: only approvals are checked.
    None,
    /// Every check run and status on the commit.
    All,
    /// These check run names or status contexts.
    Named(Vec<String>),
}

/// `[gate.github]`.
#[derive(Debug, Clone)]
pub struct GithubGate {
    /// Required checks.
    pub checks: RequiredChecks,
    /// Approving reviews (distinct users) the PR needs; 0 = not checked.
    pub min_approvals: u32,
    /// Poll pending checks until they finish, up to this long.
    pub wait_for: Option<Duration>,
    /// Time between polls.
    pub poll_interval: Duration,
}

/// `[gate.staged]`: this commit passed its checks in another environment
/// first (issue 14, "Staging first").
#[derive(Debug, Clone)]
pub struct StagedGate {
    /// The environment (GitHub Deployments' name) it must have passed in.
    pub environment: String,
}

/// `[gate.drift]`: the database's schema matches what its applied
/// migrations build (issue 16).
#[derive(Debug, Clone, Default)]
pub struct DriftGate {
    /// Differences accepted as known (objects a platform adds).
    pub allow: Vec<DriftAllow>,
    /// `after_migrate = true`: `shipgate run` checks again once the
    /// migrations are applied.
    pub after_migrate: bool,
    /// `comments = true`: compare comments too.
    pub comments: bool,
    /// `grants = true`: compare privileges and default privileges too.
    pub grants: bool,
}

/// One `allow` pattern, `CLASS:GLOB` (e.g. `schema:auth`,
/// `table:public.legacy_*`; `*` for any class).
#[derive(Debug, Clone)]
pub struct DriftAllow {
    /// The object class as patterns spell it (`table`, `event_trigger`), or `*`.
    pub class: String,
    /// The glob over the object's qualified name.
    pub glob: String,
    /// Where it is written.
    pub location: Option<SourceLocation>,
}

/// The object classes `gate.drift.allow` patterns may name; the drift
/// check's catalog has exactly these (a test there keeps them equal).
pub const DRIFT_CLASSES: [&str; 18] = [
    "schema",
    "extension",
    "collation",
    "type",
    "sequence",
    "table",
    "column",
    "constraint",
    "index",
    "view",
    "function",
    "trigger",
    "policy",
    "publication",
    "event_trigger",
    "comment",
    "grant",
    "default_privileges",
];

/// `[gate.migrations]`.
#[derive(Debug, Clone)]
pub struct MigrationsGate {
    /// The lint policy: `deny-destructive`, `deny-errors` or `warn`.
    pub lint: Option<String>,
    /// The migrations directory (absolute), from `[migrate] dir`.
    pub dir: PathBuf,
}

/// `[migrate] backup_to` and its companions: each backup is encrypted to
/// `recipient` and uploaded under `url` (issue 11, item 6).
#[derive(Debug, Clone)]
pub struct RemoteBackupConfig {
    /// The bucket and prefix; objects go under `<prefix>/<environment>/`.
    pub url: BackupUrl,
    /// `backup_endpoint`: an S3-compatible endpoint (R2, `MinIO`, a local
    /// server); `None` uses `AWS_ENDPOINT_URL` or AWS itself.
    pub endpoint: Option<Url>,
    /// The age X25519 public key the backups are encrypted to.
    pub recipient: age::x25519::Recipient,
    /// How many backups (with their snapshots) to keep under the
    /// environment's prefix; at least 1.
    pub retention: usize,
    /// The deadline of each network operation (upload, download, list, delete).
    pub timeout: Duration,
}

/// `[migrate]`.
#[derive(Debug, Clone)]
pub struct MigrateConfig {
    /// Directory of `<version>_<name>.sql` files (absolute).
    pub dir: PathBuf,
    /// Whether to back up before applying.
    pub backup: BackupMode,
    /// Where backups go (absolute).
    pub backup_dir: PathBuf,
    /// Keep backups after a successful run.
    pub keep_backups: bool,
    /// `backup_to`: where backups are uploaded, encrypted (issue 11, item 6).
    pub remote: Option<RemoteBackupConfig>,
    /// `SET LOCAL lock_timeout` for each migration (PostgreSQL).
    pub lock_timeout: Duration,
    /// `SET LOCAL statement_timeout` for each migration (PostgreSQL).
    pub statement_timeout: Duration,
    /// How long to wait for another runner's advisory lock.
    pub lock_wait: Duration,
    /// How often a migration that hit `lock_timeout` is retried.
    pub retries: u32,
    /// `layout`: the history layout, or auto-detection.
    pub layout: LayoutSetting,
    /// `--include-all` (Supabase layout): apply local migrations older than
    /// the newest applied one, and tolerate applied versions with no file.
    pub include_all: bool,
    /// `[migrate.lint]`: per-rule severity overrides.
    pub lint: LintConfig,
}

/// `[migrate.lint]`: per-rule severity overrides for `migrate lint`.
#[derive(Debug, Clone, Default)]
pub struct LintConfig {
    /// Rule id → its level; rules not listed keep their default severity.
    pub rules: BTreeMap<String, RuleLevel>,
    /// Rule id → where it was written, for an error about it.
    pub locations: BTreeMap<String, crate::diagnostic::SourceLocation>,
}

/// A rule's level in `[migrate.lint]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleLevel {
    /// Fails the lint (exit 1).
    Error,
    /// Reported, exit code unchanged.
    Warning,
    /// Not reported.
    Off,
}

/// `[smoke]`.
#[derive(Debug, Clone)]
pub struct SmokeConfig {
    /// How long the suite may wait for every check to pass once.
    pub ready_within: Duration,
    /// How many requests are in flight at once.
    pub concurrency: usize,
    /// Requests per check after readiness, for latency percentiles (0: judge
    /// the readiness attempt alone).
    pub samples: usize,
    /// The largest share of failed samples the suite tolerates (0.0–1.0).
    pub max_error_rate: f64,
    /// PEM file of extra CA certificates to trust (absolute).
    pub ca_file: Option<PathBuf>,
    /// The checks, in file order.
    pub checks: Vec<SmokeCheck>,
}

/// One `[[smoke.check]]`.
#[derive(Debug, Clone)]
pub struct SmokeCheck {
    /// Unique name.
    pub name: String,
    /// HTTP method, upper case.
    pub method: HttpMethod,
    /// Where to send it.
    pub target: CheckTarget,
    /// Request headers (values masked for printing).
    pub headers: Vec<(String, Masked)>,
    /// Query parameters appended to the URL (values masked for printing).
    pub query: Vec<(String, Masked)>,
    /// Whether and how far redirects are followed.
    pub redirects: Redirects,
    /// The most the p95 latency of the samples may be.
    pub max_latency: Option<Duration>,
    /// The flow it is a step of: steps run in file order, sharing captures.
    pub flow: Option<String>,
    /// Values taken from its response for later steps of its flow.
    pub captures: Vec<Capture>,
    /// Request body.
    pub body: Option<RequestBody>,
    /// Deadline for one request.
    pub timeout: Duration,
    /// What the response must satisfy.
    pub expect: Expectations,
    /// `idempotent = true`: the request may be sent again (sampled, retried)
    /// although its method is not `GET`, `HEAD` or `OPTIONS`.
    pub idempotent: bool,
    /// `eventually = { … }`: repeat this step until it passes.
    pub eventually: Option<Eventually>,
}

impl SmokeCheck {
    /// Whether sending the request again has no new side effect: a `GET`,
    /// `HEAD` or `OPTIONS`, or a check marked `idempotent = true`. Only
    /// these are sampled, and retried after the server answered.
    pub fn repeatable(&self) -> bool {
        self.idempotent || self.method.is_safe()
    }
}

/// `eventually = { within = "2m", every = "5s" }`: a step repeated, alone,
/// until it passes or `within` (counted from its first attempt) ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Eventually {
    /// How long the step may take to pass.
    pub within: Duration,
    /// The pause between two attempts.
    pub every: Duration,
}

/// HTTP methods a smoke check may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
    /// `OPTIONS`
    Options,
}

impl HttpMethod {
    /// Parses a method name, any case.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_uppercase().as_str() {
            "GET" => Self::Get,
            "HEAD" => Self::Head,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "PATCH" => Self::Patch,
            "DELETE" => Self::Delete,
            "OPTIONS" => Self::Options,
            _ => return None,
        })
    }

    /// Whether the method is safe to send again (RFC 9110 §9.2.1 `GET`,
    /// `HEAD`, `OPTIONS`).
    pub fn is_safe(self) -> bool {
        matches!(self, Self::Get | Self::Head | Self::Options)
    }

    /// The method's name, upper case.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
            Self::Options => "OPTIONS",
        }
    }
}

/// A check's URL: absolute, or a path joined to the environment's base URL.
#[derive(Debug, Clone)]
pub enum CheckTarget {
    /// `path = "/api/health"`.
    Path(String),
    /// `url = "https://…"` (masked for printing).
    Url(Masked),
}

/// A request body.
#[derive(Debug, Clone)]
pub enum RequestBody {
    /// `body = "…"`, sent as is.
    Text(String),
    /// `json = { … }`, sent as `application/json`.
    Json(serde_json::Value),
}

/// `follow_redirects` and `max_redirects`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redirects {
    /// Follow `Location` on 301, 302, 303, 307 and 308.
    pub follow: bool,
    /// The most hops followed before the check fails.
    pub max: usize,
}

/// `expect = { … }` and `assert = [ … ]`: status assertions first, then the
/// others in file order.
#[derive(Debug, Clone)]
pub struct Expectations {
    /// Every assertion; at least one judges the status.
    pub assertions: Vec<Assertion>,
}

impl Expectations {
    /// Only `status 200`.
    pub fn status_ok() -> Self {
        Self {
            assertions: vec![Assertion::status(vec![Operand::Value(200.into())])],
        }
    }

    /// The status assertions' text, e.g. `status 200`, for a request that got
    /// no response.
    pub fn status_text(&self) -> String {
        self.assertions
            .iter()
            .filter(|assertion| assertion.is_status())
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `[watch]`: every `interval` for `duration`, the smoke checks once and each
/// metric, with Argo-Rollouts-style limits.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// How long to watch (`for`).
    pub duration: Duration,
    /// Time between two measurements.
    pub interval: Duration,
    /// The smoke checks measured each interval (empty: none).
    pub checks: Vec<String>,
    /// The largest share of failed smoke checks one measurement tolerates.
    pub max_error_rate: f64,
    /// Failed measurements tolerated per metric (more fails the watch).
    pub failure_limit: u32,
    /// Consecutive measurement errors tolerated per metric.
    pub consecutive_error_limit: u32,
    /// Inconclusive measurements tolerated per metric (`None`: counted only).
    pub inconclusive_limit: Option<u32>,
    /// `[[watch.metric]]`, in file order.
    pub metrics: Vec<WatchMetric>,
}

/// One `[[watch.metric]]`.
#[derive(Debug, Clone)]
pub struct WatchMetric {
    /// Unique name.
    pub name: String,
    /// Where and how to query it.
    pub source: MetricSource,
    /// How a series becomes one value (`None`: the query must select exactly
    /// one value; only the raw form allows that).
    pub reduce: Option<Reduce>,
    /// How far back each measurement looks (`None`: the watch `interval`).
    pub window: Option<Duration>,
    /// Judge the value against the same query before the deploy.
    pub compare: Option<Baseline>,
    /// The measurement failed when this holds.
    pub fail_if: Option<Condition>,
    /// The measurement succeeded when this holds.
    pub pass_if: Option<Condition>,
    /// Deadline for one query.
    pub timeout: Duration,
    /// Failed measurements tolerated.
    pub failure_limit: u32,
    /// Consecutive query errors tolerated.
    pub consecutive_error_limit: u32,
}

/// The backend a metric queries (issue 15, item 3).
#[derive(Debug, Clone)]
pub enum MetricSource {
    /// `kind = "http"` (the default): any JSON API, as written.
    Http(HttpMetric),
    /// `kind = "prometheus"`: `GET /api/v1/query_range`.
    Prometheus(PrometheusMetric),
    /// `kind = "datadog"`: `GET /api/v1/query`.
    Datadog(DatadogMetric),
    /// `kind = "sentry"`: `GET /api/0/organizations/{org}/events-stats/`.
    Sentry(SentryMetric),
}

impl MetricSource {
    /// The `kind` as written in the config.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Http(_) => "http",
            Self::Prometheus(_) => "prometheus",
            Self::Datadog(_) => "datadog",
            Self::Sentry(_) => "sentry",
        }
    }
}

/// The raw form: a templated URL, optional JSON body, and a JSONPath.
#[derive(Debug, Clone)]
pub struct HttpMetric {
    /// `GET` or `POST`.
    pub method: MetricMethod,
    /// The URL with time placeholders (may hold a resolved secret).
    pub url: crate::config::time_template::TimeTemplate,
    /// Request headers (values masked).
    pub headers: Vec<(String, Masked)>,
    /// A JSON body whose strings may hold time placeholders.
    pub body: Option<serde_json::Value>,
    /// The path to the value(s), as written.
    pub value_text: String,
    /// The compiled path.
    pub value: serde_json_path::JsonPath,
}

/// The HTTP method of a raw metric query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricMethod {
    /// `GET` (the default).
    Get,
    /// `POST`, with the body as JSON.
    Post,
}

/// The Prometheus preset.
#[derive(Debug, Clone)]
pub struct PrometheusMetric {
    /// The server's base URL (a path prefix is kept).
    pub url: Masked,
    /// Sent as `Authorization: Bearer …` when set.
    pub token: Option<Masked>,
    /// Extra request headers (values masked).
    pub headers: Vec<(String, Masked)>,
    /// The `PromQL` expression.
    pub query: String,
    /// `step` of the range query.
    pub step: Duration,
}

/// The Datadog preset (metrics query API v1).
#[derive(Debug, Clone)]
pub struct DatadogMetric {
    /// The site's API base URL (default `https://api.datadoghq.com`).
    pub url: Masked,
    /// `DD-API-KEY`.
    pub api_key: Masked,
    /// `DD-APPLICATION-KEY`.
    pub application_key: Masked,
    /// Extra request headers (values masked).
    pub headers: Vec<(String, Masked)>,
    /// The metrics query.
    pub query: String,
}

/// The Sentry preset (organization events-stats).
#[derive(Debug, Clone)]
pub struct SentryMetric {
    /// The API base URL (default `https://sentry.io`).
    pub url: Masked,
    /// Sent as `Authorization: Bearer …`.
    pub token: Masked,
    /// Extra request headers (values masked).
    pub headers: Vec<(String, Masked)>,
    /// The organization slug.
    pub organization: String,
    /// A project id to filter by.
    pub project: Option<u64>,
    /// The search query, e.g. `event.type:error`.
    pub query: String,
    /// `yAxis`, e.g. `count()` or `failure_rate()`.
    pub y_axis: String,
    /// `interval` of the buckets.
    pub interval: Duration,
}

/// How a series of points becomes the one value judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduce {
    /// The latest point.
    Last,
    /// The largest point.
    Max,
    /// The smallest point.
    Min,
    /// The arithmetic mean.
    Mean,
}

impl Reduce {
    /// The names accepted in the config.
    pub const NAMES: [&'static str; 4] = ["last", "max", "min", "mean"];

    /// Parses a name from [`Reduce::NAMES`].
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "last" => Self::Last,
            "max" => Self::Max,
            "min" => Self::Min,
            "mean" => Self::Mean,
            _ => return None,
        })
    }

    /// The name as written.
    pub fn name(self) -> &'static str {
        match self {
            Self::Last => "last",
            Self::Max => "max",
            Self::Min => "min",
            Self::Mean => "mean",
        }
    }

    /// The value of `points` (`None` when there are none).
    pub fn apply(self, points: &[f64]) -> Option<f64> {
        let last = *points.last()?;
        Some(match self {
            Self::Last => last,
            Self::Max => points.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            Self::Min => points.iter().copied().fold(f64::INFINITY, f64::min),
            #[allow(clippy::cast_precision_loss)]
            Self::Mean => points.iter().sum::<f64>() / points.len() as f64,
        })
    }
}

/// `compare = "previous"`: the same query over the window before the
/// deploy is the baseline; the measurement fails when it rose more than
/// `max_increase` allows (every limit that is set must be exceeded).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Baseline {
    /// How long before the deploy the baseline covers (`None`: the watch's `for`).
    pub window: Option<Duration>,
    /// Fail above `factor` × baseline.
    pub factor: Option<f64>,
    /// Fail above baseline + `absolute`.
    pub absolute: Option<f64>,
}

impl Baseline {
    /// Whether `value` rose past every set limit over `baseline`.
    pub fn exceeded(&self, baseline: f64, value: f64) -> bool {
        let over_factor = self.factor.is_none_or(|factor| value > baseline * factor);
        let over_absolute = self
            .absolute
            .is_none_or(|absolute| value > baseline + absolute);
        over_factor && over_absolute
    }

    /// The limits as written: `2× and +0.01`.
    pub fn limits(&self) -> String {
        let mut parts = Vec::new();
        if let Some(factor) = self.factor {
            parts.push(format!("{factor}×"));
        }
        if let Some(absolute) = self.absolute {
            parts.push(format!("+{absolute}"));
        }
        parts.join(" and ")
    }
}

/// `"> 0.05"`: a comparison with a number.
#[derive(Debug, Clone)]
pub struct Condition {
    /// As written, e.g. `> 0.05`.
    pub text: String,
    /// The operator.
    pub comparison: Comparison,
    /// The number compared with.
    pub threshold: f64,
}

impl Condition {
    /// Parses `> 0.05`, `<= 3`, `== 0`.
    pub fn parse(text: &str) -> Option<Self> {
        let trimmed = text.trim();
        let split = trimmed
            .find(|c: char| !matches!(c, '<' | '>' | '=' | '!'))
            .unwrap_or(trimmed.len());
        let comparison = Comparison::parse(&trimmed[..split])?;
        let threshold = trimmed[split..].trim().parse::<f64>().ok()?;
        threshold.is_finite().then(|| Self {
            text: trimmed.to_owned(),
            comparison,
            threshold,
        })
    }

    /// Whether `value` satisfies it.
    pub fn holds(&self, value: f64) -> bool {
        value
            .partial_cmp(&self.threshold)
            .is_some_and(|ordering| self.comparison.holds(ordering))
    }
}

/// `[rollback]`.
#[derive(Debug, Clone)]
pub struct RollbackConfig {
    /// Phases whose failure triggers an automatic rollback.
    pub on: Vec<RollbackTrigger>,
    /// What to do with the database.
    pub database: DatabasePolicy,
}

/// `[notify]`: who hears about deploys and rollbacks (issue 14).
#[derive(Debug, Clone, Default)]
pub struct NotifyConfig {
    /// Open (or comment on) a GitHub issue when a rollback happens.
    pub github_issue: bool,
    /// Labels of that issue; the open one is found by them too.
    pub issue_labels: Vec<String>,
    /// `[notify.webhook]`, when set.
    pub webhook: Option<WebhookConfig>,
}

/// `[notify.webhook]`: a Slack-compatible incoming webhook.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// The URL, resolved from its `${VAR}` and registered with the redactor.
    pub url: ApiToken,
    /// The events that post.
    pub events: Vec<NotifyEvent>,
    /// Deadline for the whole delivery, retries included.
    pub timeout: Duration,
}
