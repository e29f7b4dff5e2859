//! The validated config every subcommand reads: paths absolute, `${VAR}`
//! resolved, defaults applied, URLs and JSON paths parsed.

use std::path::PathBuf;
use std::time::Duration;

use serde_json_path::JsonPath;
use url::Url;

pub use super::file::{BackupMode, DatabasePolicy, LayoutSetting, RollbackTrigger};
use super::secret::{Masked, Redactor};

/// Everything one invocation needs, for one environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// The config file, as the user named it.
    pub path: PathBuf,
    /// Directory relative paths in the config resolve against (the file's own).
    pub base_dir: PathBuf,
    /// The selected environment.
    pub environment: Environment,
    /// `[[gate.command]]`, in file order.
    pub gates: Vec<CommandGate>,
    /// `[migrate]`.
    pub migrate: MigrateConfig,
    /// `[smoke]`.
    pub smoke: SmokeConfig,
    /// `[rollback]`.
    pub rollback: RollbackConfig,
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
    /// How releases are deployed and rolled back.
    pub provider: ProviderConfig,
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

/// One `[[gate.command]]`.
#[derive(Debug, Clone)]
pub struct CommandGate {
    /// Unique name.
    pub name: String,
    /// Shell command; passes on exit 0.
    pub run: String,
    /// Deadline.
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
}

/// `[smoke]`.
#[derive(Debug, Clone)]
pub struct SmokeConfig {
    /// How long the suite may wait for every check to pass once.
    pub ready_within: Duration,
    /// How many checks run at once.
    pub concurrency: usize,
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
    /// Request body.
    pub body: Option<RequestBody>,
    /// Deadline for one request.
    pub timeout: Duration,
    /// What the response must satisfy.
    pub expect: Expectations,
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

/// `expect = { … }`.
#[derive(Debug, Clone)]
pub struct Expectations {
    /// Expected status code (default 200).
    pub status: u16,
    /// JSONPath equalities, in key order.
    pub json: Vec<JsonEquality>,
}

/// `"$.path" = value`: the path must select exactly one node equal to value.
#[derive(Debug, Clone)]
pub struct JsonEquality {
    /// The path as written.
    pub path_text: String,
    /// The compiled RFC 9535 path.
    pub path: JsonPath,
    /// The expected value.
    pub expected: serde_json::Value,
}

/// `[rollback]`.
#[derive(Debug, Clone)]
pub struct RollbackConfig {
    /// Phases whose failure triggers an automatic rollback.
    pub on: Vec<RollbackTrigger>,
    /// What to do with the database.
    pub database: DatabasePolicy,
}
