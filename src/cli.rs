//! Command-line types (clap derive) and nothing else.
//!
//! A flag's doc comment is its help text: the first line is the short help, the
//! rest the long help. Nothing past `config` imports a type from this module.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::env;

/// The exit codes, as `--help` lists them (README and `ExitStatus` agree).
const EXIT_CODES_HELP: &str = "Exit codes:
  0    everything passed (or --dry-run printed its plan)
  1    a check failed: gate, migration, smoke or watch
  2    usage or config error; nothing was changed
  3    infrastructure error: database, filesystem or API unreachable
  4    the pipeline failed and the rollback succeeded
  5    the rollback failed or was impossible: a human is needed
  130  interrupted";

/// Pre-deploy gates, migrations with backup, smoke tests and automatic rollback.
///
/// shipgate runs the deployment runbook as one command: `shipgate run` goes
/// gate → migrate → deploy → smoke → watch, and rolls the app (and, when needed, the
/// database) back when a phase fails.
#[derive(Debug, Parser)]
#[command(
    name = "shipgate",
    version,
    propagate_version = true,
    args_override_self = true,
    max_term_width = 100,
    after_help = EXIT_CODES_HELP
)]
pub struct Cli {
    /// Config file to read.
    #[arg(long, short = 'c', global = true, env = env::SHIPGATE_CONFIG, default_value = "shipgate.toml")]
    pub config: PathBuf,

    /// Environment section of the config to use.
    ///
    /// Defaults to the only environment when there is one, else `production`.
    #[arg(long = "env", short = 'e', global = true, env = env::SHIPGATE_ENV, value_name = "NAME")]
    pub environment: Option<String>,

    /// Output format.
    ///
    /// Defaults to `github` when `GITHUB_ACTIONS=true`, else `human`.
    #[arg(long, global = true, env = env::SHIPGATE_FORMAT, value_enum)]
    pub format: Option<Format>,

    /// Also write the JSON report to this file.
    #[arg(long, global = true, env = env::SHIPGATE_REPORT, value_name = "PATH")]
    pub report: Option<PathBuf>,

    /// Also write a JUnit XML report to this file (one testcase per check).
    #[arg(long, global = true, env = env::SHIPGATE_JUNIT, value_name = "PATH")]
    pub junit: Option<PathBuf>,

    /// Print what would be done and change nothing; exits 0.
    #[arg(long, global = true)]
    pub dry_run: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Readable text; colour when stdout is a terminal and `NO_COLOR` is unset.
    Human,
    /// The versioned JSON report on stdout.
    Json,
    /// Text plus GitHub Actions workflow commands, step summary and outputs.
    Github,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the config and its `${VAR}` references without touching anything.
    ///
    /// Example: `shipgate check --env production`
    Check,

    /// Write a `shipgate.toml` and the GitHub workflows for this repository.
    ///
    /// Detects Prisma, Supabase and dbmate migrations, Vercel and Railway
    /// projects, package scripts and `.env.example`; never overwrites a file
    /// without `--force`.
    /// Example: `shipgate init`, then `shipgate check`
    Init(InitArgs),

    /// Run the pre-deploy gates (`[gate]`) concurrently.
    ///
    /// Example: `shipgate gate --only typecheck`
    Gate(GateArgs),

    /// Inspect and apply database migrations.
    ///
    /// Example: `shipgate migrate plan`, then `shipgate migrate apply`
    Migrate(MigrateArgs),

    /// Deploy a release through the environment's provider and record it.
    ///
    /// Example: `shipgate deploy --source build --id v42`
    Deploy(DeployArgs),

    /// Run the HTTP smoke suite against the environment.
    ///
    /// Example: `shipgate smoke --url http://127.0.0.1:3000`
    Smoke(SmokeArgs),

    /// Watch the live release: smoke checks and metric queries every interval.
    ///
    /// Ends early, exit 1, when a metric crosses `failure_limit` or
    /// `consecutive_error_limit`.
    /// Example: `shipgate watch --for 10m`
    Watch(WatchArgs),

    /// Roll the app back to the newest earlier release that passed.
    ///
    /// Example: `shipgate rollback --reason "checkout 500s" --yes`
    Rollback(RollbackArgs),

    /// The whole pipeline: gate → migrate → deploy → smoke → watch, rollback on failure.
    ///
    /// Example: `shipgate run --source build --id v42`
    Run(RunArgs),
}

/// Arguments of `shipgate gate`.
#[derive(Debug, Args)]
pub struct GateArgs {
    /// Run only this gate (repeatable).
    #[arg(long, value_name = "NAME")]
    pub only: Vec<String>,

    /// Skip this gate (repeatable).
    #[arg(long, value_name = "NAME")]
    pub skip: Vec<String>,

    /// Emergency: pass a closed `window` gate, recording this reason.
    ///
    /// The gate then reports a warning naming the reason, in the report and
    /// the PR check run. The reason must not be empty.
    #[arg(long, env = env::SHIPGATE_OVERRIDE_WINDOW, value_name = "REASON")]
    pub override_window: Option<String>,
}

/// Arguments of `shipgate migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The migrate action.
    #[command(subcommand)]
    pub action: MigrateAction,

    /// Supabase layout: also apply local migrations older than the newest applied one.
    #[arg(long, global = true)]
    pub include_all: bool,
}

/// Arguments of `shipgate migrate lint`.
#[derive(Debug, Clone, Args)]
pub struct LintArgs {
    /// Migration files to lint, in apply order; default: every migration.
    #[arg(value_name = "FILES", conflicts_with_all = ["pending", "all"])]
    pub files: Vec<PathBuf>,

    /// Lint only the migrations the database has not applied yet.
    #[arg(long, conflicts_with = "all")]
    pub pending: bool,

    /// Lint every migration in `[migrate] dir` (the default).
    #[arg(long)]
    pub all: bool,
}

/// The `migrate` actions.
#[derive(Debug, Clone, Subcommand)]
pub enum MigrateAction {
    /// List every migration with its state: applied, pending or edited.
    ///
    /// Example: `shipgate migrate status`
    Status,
    /// Print the pending migrations in the order `apply` would run them.
    ///
    /// Example: `shipgate migrate plan`
    Plan,
    /// Back up the database, then apply the pending migrations, each in a transaction.
    ///
    /// Restores the backup when a migration fails.
    /// Example: `shipgate migrate apply`
    Apply,
    /// Lint migrations with the PostgreSQL parser: destructive and locking statements.
    ///
    /// Exits 1 when a finding at `error` severity remains. Rules and examples:
    /// docs/lint-rules.md; silence one with `-- shipgate:allow <rule> reason: …`.
    /// Example: `shipgate migrate lint --pending`
    Lint(LintArgs),
    /// Revert applied migrations with their down sections, newest first.
    ///
    /// Backs up first, then runs each down section in a transaction with its
    /// history update. Down sections: `NAME.down.sql` beside the file (plain,
    /// Supabase), `down.sql` in the folder (Prisma), `-- migrate:down`
    /// (dbmate). A migration without one stops the command before any change.
    /// Example: `shipgate migrate down --steps 2`
    Down {
        /// Revert the newest N applied migrations [default: 1].
        #[arg(long, value_name = "N", conflicts_with = "to", value_parser = clap::value_parser!(u32).range(1..))]
        steps: Option<u32>,
        /// Revert every migration applied after NAME, which stays applied.
        #[arg(long, value_name = "NAME")]
        to: Option<String>,
    },
    /// Restore a backup `migrate apply` took, replacing the database's content.
    ///
    /// PostgreSQL: `pg_restore --clean --if-exists --single-transaction --no-owner`.
    /// Without `--backup` or `--from`: the run's first backup from the run
    /// state. A local file that is gone is downloaded from its uploaded copy
    /// (`migrate.backup_to`), checked against its recorded SHA-256 and
    /// decrypted with `SHIPGATE_BACKUP_IDENTITY`.
    /// Example: `shipgate migrate restore --backup .shipgate/backups/app-….dump`
    Restore {
        /// The backup file to restore.
        #[arg(long, value_name = "FILE", conflicts_with = "from")]
        backup: Option<PathBuf>,
        /// Restore an uploaded backup: `s3://bucket/prefix/ENV/NAME.age`.
        ///
        /// Downloaded into `migrate.backup_dir` and decrypted with the age
        /// key in `SHIPGATE_BACKUP_IDENTITY` (or the file
        /// `SHIPGATE_BACKUP_IDENTITY_FILE` names).
        #[arg(long, value_name = "URL")]
        from: Option<String>,
        /// The SHA-256 the `--from` object must have (the report's `backup_remote_sha256`).
        ///
        /// Without it, the digest the run state recorded for that URL, when
        /// this runner has it.
        #[arg(long, value_name = "HEX", requires = "from")]
        sha256: Option<String>,
    },
    /// Compare the database's schema with what its applied migrations build.
    ///
    /// Applies the migrations the history table records as applied to a
    /// temporary `shipgate_drift_…` database on the same server (dropped
    /// afterwards, also on Ctrl-C) or to the environment's
    /// `shadow_database`, then compares both catalogs and names each
    /// difference. Exits 1 on drift; `[gate.drift] allow` accepts known ones.
    /// Example: `shipgate migrate drift --env production`
    Drift,
    /// Resolve a migration that failed part-way, as `prisma migrate resolve` does.
    ///
    /// `--rolled-back NAME` after undoing its effects by hand (it runs again
    /// next time); `--applied NAME` after finishing it by hand (also records
    /// a migration that ran elsewhere as applied). Every layout.
    /// Example: `shipgate migrate resolve --rolled-back 20240101120000_add_index`
    Resolve {
        /// Record the migration as applied without running it.
        #[arg(
            long,
            value_name = "NAME",
            conflicts_with = "rolled_back",
            required_unless_present = "rolled_back"
        )]
        applied: Option<String>,
        /// Mark the migration's failed run as rolled back.
        #[arg(long, value_name = "NAME")]
        rolled_back: Option<String>,
    },
}

/// Where a release comes from; shared by `deploy` and `run`.
#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// Directory holding the built release (overrides the provider's `source`).
    #[arg(long, value_name = "DIR")]
    pub source: Option<PathBuf>,

    /// Release id; defaults to the short `GITHUB_SHA`, else a UTC timestamp.
    #[arg(long, env = env::SHIPGATE_RELEASE_ID, value_name = "ID")]
    pub id: Option<String>,

    /// Commit being deployed; defaults to `GITHUB_SHA`, else the checkout's
    /// `HEAD`. Vercel and Railway wait for the platform's build of it.
    #[arg(long, env = env::SHIPGATE_COMMIT, value_name = "SHA")]
    pub commit: Option<String>,
}

impl ReleaseArgs {
    /// The request `deploy` and `run` take.
    pub fn request(&self) -> crate::deploy::ReleaseRequest {
        crate::deploy::ReleaseRequest {
            source: self.source.clone(),
            id: self.id.clone(),
            commit: self.commit.clone(),
        }
    }
}

/// Arguments of `shipgate init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Replace files that already exist.
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `shipgate deploy`.
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The release to deploy.
    #[command(flatten)]
    pub release: ReleaseArgs,
}

/// Arguments of `shipgate smoke`.
#[derive(Debug, Args)]
pub struct SmokeArgs {
    /// Base URL to test instead of the environment's `url`.
    #[arg(long, value_name = "BASE")]
    pub url: Option<String>,
}

/// Arguments of `shipgate watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// How long to watch, e.g. `10m` (overrides `[watch] for`).
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<std::time::Duration>,

    /// Base URL to watch instead of the environment's `url`.
    #[arg(long, value_name = "BASE")]
    pub url: Option<String>,
}

/// Arguments of `shipgate rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// Release to roll back to; default: the newest earlier release that passed.
    #[arg(long, value_name = "ID|previous")]
    pub to: Option<String>,

    /// What to do with the database; default: the config's `rollback.database`.
    #[arg(long, value_enum, value_name = "POLICY")]
    pub database: Option<DatabasePolicyArg>,

    /// Why; recorded in the report.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,

    /// Do it without asking (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// Database policies a person can choose for a manual rollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DatabasePolicyArg {
    /// Leave the database as it is.
    Keep,
    /// Restore the backup the last `migrate apply` took.
    Restore,
    /// Revert the migrations the deploy applied with their down sections.
    Down,
}

/// Arguments of `shipgate run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The release to deploy.
    #[command(flatten)]
    pub release: ReleaseArgs,
}

/// A `--for` duration, within the bounds the config file enforces
/// (1 ms to 7 days).
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    crate::config::ConfigDuration::parse(text).map(|duration| duration.0)
}
