//! Every environment variable shipgate reads, in one place.
//!
//! Reading an environment variable anywhere else is a review finding: a name that
//! lives here is documented, greppable and spelled once.

/// Path of the config file (the `--config` flag).
pub const SHIPGATE_CONFIG: &str = "SHIPGATE_CONFIG";
/// Environment section to use (the `--env` flag).
pub const SHIPGATE_ENV: &str = "SHIPGATE_ENV";
/// Output format (the `--format` flag).
pub const SHIPGATE_FORMAT: &str = "SHIPGATE_FORMAT";
/// Extra JSON report path (the `--report` flag).
pub const SHIPGATE_REPORT: &str = "SHIPGATE_REPORT";
/// JUnit XML report path (the `--junit` flag).
pub const SHIPGATE_JUNIT: &str = "SHIPGATE_JUNIT";
/// Directory for the run state shared between phases run as separate steps.
pub const SHIPGATE_STATE_DIR: &str = "SHIPGATE_STATE_DIR";
/// Release id for `deploy` and `run` (the `--id` flag).
pub const SHIPGATE_RELEASE_ID: &str = "SHIPGATE_RELEASE_ID";
/// `--commit`: the git commit being deployed (platform providers wait for its build).
pub const SHIPGATE_COMMIT: &str = "SHIPGATE_COMMIT";
/// `true` inside a GitHub Actions job: selects the `github` format.
pub const GITHUB_ACTIONS: &str = "GITHUB_ACTIONS";
/// File that GitHub Actions renders as the job's summary (markdown, appended to).
pub const GITHUB_STEP_SUMMARY: &str = "GITHUB_STEP_SUMMARY";
/// File that receives the step's outputs (`key=value` lines).
pub const GITHUB_OUTPUT: &str = "GITHUB_OUTPUT";
/// The commit being deployed; its short form is the default release id.
pub const GITHUB_SHA: &str = "GITHUB_SHA";
/// Per-job temporary directory on a GitHub runner; holds the run state.
pub const RUNNER_TEMP: &str = "RUNNER_TEMP";
/// When set (to anything), output carries no colour (<https://no-color.org>).
pub const NO_COLOR: &str = "NO_COLOR";
/// Set for the `restart` command: the release that just became current.
pub const SHIPGATE_RELEASE_DIR: &str = "SHIPGATE_RELEASE_DIR";
/// Token for the GitHub API (`github` gate, check runs).
pub const GITHUB_TOKEN: &str = "GITHUB_TOKEN";
/// `owner/name` of the repository.
pub const GITHUB_REPOSITORY: &str = "GITHUB_REPOSITORY";
/// Root of the GitHub REST API (GitHub Enterprise, or a local fake in tests).
pub const GITHUB_API_URL: &str = "GITHUB_API_URL";
/// JSON file with the event that started the workflow (PR number, head SHA).
pub const GITHUB_EVENT_PATH: &str = "GITHUB_EVENT_PATH";
/// The branch of a PR's head (`pull_request` events): the `git` gate's branch when HEAD is detached.
pub const GITHUB_HEAD_REF: &str = "GITHUB_HEAD_REF";
/// The branch or tag that triggered the run: the `git` gate's branch when HEAD is detached.
pub const GITHUB_REF_NAME: &str = "GITHUB_REF_NAME";
/// An RFC 3339 instant the `window` gate evaluates instead of now (rehearsals, tests).
pub const SHIPGATE_NOW: &str = "SHIPGATE_NOW";
/// Emergency override of the `window` gate: the reason (the `--override-window` flag).
pub const SHIPGATE_OVERRIDE_WINDOW: &str = "SHIPGATE_OVERRIDE_WINDOW";
/// The age secret key (`AGE-SECRET-KEY-1…`) that decrypts uploaded backups
/// (`migrate.backup_to`); only the restore reads it.
pub const SHIPGATE_BACKUP_IDENTITY: &str = "SHIPGATE_BACKUP_IDENTITY";
/// A file holding that key (as `age-keygen -o` writes it), instead of the value.
pub const SHIPGATE_BACKUP_IDENTITY_FILE: &str = "SHIPGATE_BACKUP_IDENTITY_FILE";
/// S3 credentials and region for `migrate.backup_to`, read by the S3 client
/// (`AmazonS3Builder::from_env`); listed so the secret ones are masked.
pub const AWS_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
/// A temporary credential's session token (masked like the secret key).
pub const AWS_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
/// The S3 endpoint when `migrate.backup_endpoint` is not set (R2, `MinIO`).
pub const AWS_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
/// The GitHub Actions run id: names uploaded backups; the `github` gate
/// skips this run's own check runs.
pub const GITHUB_RUN_ID: &str = "GITHUB_RUN_ID";
/// The GitHub Actions run attempt: a re-run job has a new one (issue 14).
pub const GITHUB_RUN_ATTEMPT: &str = "GITHUB_RUN_ATTEMPT";
/// The GitHub web root (`https://github.com` or a GHES host), for run links.
pub const GITHUB_SERVER_URL: &str = "GITHUB_SERVER_URL";
