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
