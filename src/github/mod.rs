//! The GitHub REST client every phase shares: built from the Actions
//! environment (`GITHUB_API_URL`, so GitHub Enterprise and local fakes work),
//! with bounded retries on rate limits and server errors.
//!
//! This module owns the HTTP calls and their JSON shapes (commit check runs,
//! commit statuses, pull requests and reviews, check-run creation). What the
//! answers mean for a deploy is the callers' business (`gate::github`).
//!
//! Only idempotent calls (`GET`, `PATCH`) are retried after a server error;
//! a `POST` is retried only when GitHub refused it for a rate limit, because
//! then it was not processed — a blindly retried `POST` could create a
//! duplicate check run.

mod check_run;
mod compare;
pub mod deployments;
mod run_check;

use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderMap, Method, StatusCode};
use octocrab::Octocrab;
use serde::Deserialize;
use serde::de::DeserializeOwned;

pub use check_run::{
    ANNOTATIONS_PER_REQUEST, Annotation, AnnotationLevel, CheckRunOutput, publish_check_run,
};
pub use compare::changes_since_healthy;
pub use run_check::{RUN_CHECK_NAME, publish_run_check};

use crate::config::{Masked, Redactor};
use crate::diagnostic::Diagnostic;
use crate::env;
use crate::report::format_duration;

/// The public API's base URL, used when `GITHUB_API_URL` is unset.
pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// The REST API media type GitHub documents for every endpoint.
const ACCEPT: &str = "application/vnd.github+json";
/// Page size for list endpoints (GitHub's maximum).
const PER_PAGE: u32 = 100;
/// Pages read at most from one list endpoint.
const MAX_PAGES: u32 = 10;

/// Why a GitHub call failed.
#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    /// No token in the environment.
    #[error("no GitHub token: `GITHUB_TOKEN` is not set")]
    MissingToken,
    /// No `owner/name` in the environment.
    #[error("no repository: `GITHUB_REPOSITORY` is not set")]
    MissingRepository,
    /// No commit to check.
    #[error("no commit to check: `GITHUB_SHA` is not set")]
    MissingSha,
    /// `GITHUB_API_URL` is not a usable base URL.
    #[error("invalid GitHub API URL `{url}`")]
    InvalidApiUrl {
        /// The URL.
        url: String,
        /// Why octocrab refused it.
        #[source]
        source: Box<octocrab::Error>,
    },
    /// The HTTP client could not be built.
    #[error("failed to build the GitHub client")]
    BuildClient {
        /// Why.
        #[source]
        source: Box<octocrab::Error>,
    },
    /// The request did not get an answer (connection, TLS, body).
    #[error("`{method} {path}` failed to reach GitHub")]
    Send {
        /// HTTP method.
        method: Method,
        /// Path and query.
        path: String,
        /// Why.
        #[source]
        source: Box<octocrab::Error>,
    },
    /// GitHub did not answer within the deadline.
    #[error("`{method} {path}` got no answer from GitHub within {}", format_duration(*after))]
    Timeout {
        /// HTTP method.
        method: Method,
        /// Path and query.
        path: String,
        /// The deadline.
        after: Duration,
    },
    /// GitHub answered with an error status (after any retries).
    #[error("`{method} {path}` returned {status}: {message}")]
    Status {
        /// HTTP method.
        method: Method,
        /// Path and query.
        path: String,
        /// The status code.
        status: u16,
        /// GitHub's `message`, or the start of the body.
        message: String,
    },
    /// Rate limited for longer than shipgate waits.
    #[error("`{method} {path}` is rate limited by GitHub for another {}", format_duration(*wait))]
    RateLimited {
        /// HTTP method.
        method: Method,
        /// Path and query.
        path: String,
        /// How long GitHub asked to wait.
        wait: Duration,
    },
    /// The answer was not the JSON GitHub documents.
    #[error("unexpected JSON from `{method} {path}`")]
    Decode {
        /// HTTP method.
        method: Method,
        /// Path and query.
        path: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The event payload could not be read.
    #[error("failed to read the event payload `{}`", path.display())]
    ReadEvent {
        /// `GITHUB_EVENT_PATH`.
        path: PathBuf,
        /// The IO or JSON error, as text.
        message: String,
    },
}

impl Diagnostic for GithubError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::MissingToken => "pass the token to the step: `env: GITHUB_TOKEN: ${{ github.token }}`".to_owned(),
            Self::MissingRepository | Self::MissingSha => {
                "run inside GitHub Actions, or export `GITHUB_REPOSITORY=owner/name` and `GITHUB_SHA=<commit>`".to_owned()
            }
            Self::InvalidApiUrl { .. } => "set `GITHUB_API_URL` to the API root, e.g. `https://api.github.com` or `https://ghe.example.com/api/v3`".to_owned(),
            Self::Status { status: 401, .. } => "the token is invalid or expired: check the `GITHUB_TOKEN` secret".to_owned(),
            Self::Status { status: 403 | 404, .. } => "grant the job the permission it needs, e.g. `permissions: { checks: write, statuses: read, pull-requests: read, deployments: write }`".to_owned(),
            Self::RateLimited { .. } => "wait for the rate limit to reset, or use a token with a higher limit".to_owned(),
            _ => "check https://www.githubstatus.com and retry the step".to_owned(),
        })
    }
}

/// What shipgate reads from the Actions environment about GitHub.
#[derive(Debug, Clone)]
pub struct GithubEnv {
    /// API root (`GITHUB_API_URL`).
    pub api_url: String,
    /// The token (`GITHUB_TOKEN`), masked.
    pub token: Option<Masked>,
    /// `owner/name` (`GITHUB_REPOSITORY`).
    pub repository: Option<String>,
    /// The commit being deployed: the PR head from the event, else `GITHUB_SHA`.
    pub sha: Option<String>,
    /// The PR number from the event payload, when the event is a PR.
    pub pull_request: Option<u64>,
    /// `GITHUB_ACTIONS=true`.
    pub actions: bool,
    /// The workflow run executing shipgate (`GITHUB_RUN_ID`): the `github`
    /// gate skips this run's own check runs (issue 14).
    pub run_id: Option<String>,
}

impl GithubEnv {
    /// Reads the environment through `lookup`, registering the token with `redactor`.
    pub fn from_lookup(
        lookup: &dyn Fn(&str) -> Option<String>,
        redactor: &Redactor,
    ) -> Result<Self, GithubError> {
        let token = lookup(env::GITHUB_TOKEN).filter(|token| !token.is_empty());
        if let Some(token) = &token {
            redactor.register(token);
        }
        let mut sha = lookup(env::GITHUB_SHA).filter(|sha| !sha.is_empty());
        let mut pull_request = None;
        if let Some(path) = lookup(env::GITHUB_EVENT_PATH).filter(|path| !path.is_empty()) {
            let path = PathBuf::from(path);
            let text = fs_err::read_to_string(&path).map_err(|error| GithubError::ReadEvent {
                path: path.clone(),
                message: error.to_string(),
            })?;
            let event: serde_json::Value =
                serde_json::from_str(&text).map_err(|error| GithubError::ReadEvent {
                    path: path.clone(),
                    message: error.to_string(),
                })?;
            if let Some(pr) = event.get("pull_request") {
                pull_request = pr.get("number").and_then(serde_json::Value::as_u64);
                // On `pull_request` events `GITHUB_SHA` is the merge commit; checks
                // and reviews belong to the head.
                if let Some(head) = pr.pointer("/head/sha").and_then(serde_json::Value::as_str) {
                    sha = Some(head.to_owned());
                }
            }
        }
        Ok(Self {
            api_url: lookup(env::GITHUB_API_URL)
                .filter(|url| !url.is_empty())
                .unwrap_or_else(|| DEFAULT_API_URL.to_owned()),
            token: token.map(|token| Masked::new(token, redactor)),
            repository: lookup(env::GITHUB_REPOSITORY).filter(|repo| !repo.is_empty()),
            sha,
            pull_request,
            actions: lookup(env::GITHUB_ACTIONS).is_some_and(|value| value == "true"),
            run_id: lookup(env::GITHUB_RUN_ID).filter(|id| !id.is_empty()),
        })
    }
}

/// How hard to retry.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in total (first try included).
    pub attempts: u32,
    /// First backoff when GitHub gives no wait; doubles each time.
    pub backoff: Duration,
    /// The longest single wait shipgate accepts; longer rate limits fail.
    pub max_wait: Duration,
    /// Deadline for one request.
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            backoff: Duration::from_millis(500),
            max_wait: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// A client for one repository.
#[derive(Debug, Clone)]
pub struct GithubClient {
    octocrab: Octocrab,
    repository: String,
    retry: RetryPolicy,
}

/// One check run on a commit.
#[derive(Debug, Clone, Deserialize)]
pub struct CheckRun {
    /// Its id.
    pub id: u64,
    /// Its name, e.g. `build`.
    pub name: String,
    /// `queued`, `in_progress`, `completed`, …
    pub status: String,
    /// `success`, `failure`, `neutral`, `skipped`, … once completed.
    pub conclusion: Option<String>,
    /// A link for people.
    #[serde(default)]
    pub html_url: Option<String>,
    /// The integrator's link; for Actions jobs
    /// `https://github.com/o/r/actions/runs/<run_id>/job/<job_id>`.
    #[serde(default)]
    pub details_url: Option<String>,
}

impl CheckRun {
    /// Whether this check run is a job of workflow run `run_id`.
    pub fn belongs_to_run(&self, run_id: &str) -> bool {
        let needle = format!("/actions/runs/{run_id}/");
        [&self.details_url, &self.html_url]
            .into_iter()
            .flatten()
            .any(|url| url.contains(&needle))
    }
}

#[derive(Debug, Deserialize)]
struct CheckRuns {
    total_count: u64,
    check_runs: Vec<CheckRun>,
}

/// One commit status (the latest per context).
#[derive(Debug, Clone, Deserialize)]
pub struct CommitStatus {
    /// Its context, e.g. `ci/circleci`.
    pub context: String,
    /// `success`, `pending`, `failure` or `error`.
    pub state: String,
    /// A line of text, when set.
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CombinedStatus {
    statuses: Vec<CommitStatus>,
}

/// A pull request, as far as shipgate needs it.
#[derive(Debug, Clone, Deserialize)]
pub struct PullRequest {
    /// Its number.
    pub number: u64,
    /// `open` or `closed`.
    pub state: String,
}

/// One review on a pull request.
#[derive(Debug, Clone, Deserialize)]
pub struct Review {
    /// Its id.
    pub id: u64,
    /// Who wrote it (absent for deleted users).
    pub user: Option<User>,
    /// `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`, `DISMISSED` or `PENDING`.
    pub state: String,
}

/// A GitHub user.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    /// The login.
    pub login: String,
}

impl GithubClient {
    /// A client for `github.repository` authenticated with its token.
    pub fn new(github: &GithubEnv, retry: RetryPolicy) -> Result<Self, GithubError> {
        let token = github.token.as_ref().ok_or(GithubError::MissingToken)?;
        let repository = github
            .repository
            .clone()
            .ok_or(GithubError::MissingRepository)?;
        let builder = Octocrab::builder()
            .base_uri(github.api_url.as_str())
            .map_err(|source| GithubError::InvalidApiUrl {
                url: github.api_url.clone(),
                source: Box::new(source),
            })?
            .personal_token(token.expose().to_owned())
            .add_header(http::header::ACCEPT, ACCEPT.to_owned())
            .set_connect_timeout(Some(retry.request_timeout))
            .set_read_timeout(Some(retry.request_timeout));
        let octocrab = builder.build().map_err(|source| GithubError::BuildClient {
            source: Box::new(source),
        })?;
        Ok(Self {
            octocrab,
            repository,
            retry,
        })
    }

    /// `owner/name`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// Every check run on `sha` (the latest of each; paginated).
    pub async fn check_runs(&self, sha: &str) -> Result<Vec<CheckRun>, GithubError> {
        let mut runs = Vec::new();
        for page in 1..=MAX_PAGES {
            let path = format!(
                "/repos/{}/commits/{sha}/check-runs?per_page={PER_PAGE}&page={page}",
                self.repository
            );
            let batch: CheckRuns = self.get(&path).await?;
            let done = batch.check_runs.len() < PER_PAGE as usize;
            runs.extend(batch.check_runs);
            if done || runs.len() as u64 >= batch.total_count {
                break;
            }
        }
        Ok(runs)
    }

    /// The check runs on `sha` named `name`.
    pub async fn check_runs_named(
        &self,
        sha: &str,
        name: &str,
    ) -> Result<Vec<CheckRun>, GithubError> {
        let name: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
        let path = format!(
            "/repos/{}/commits/{sha}/check-runs?check_name={name}",
            self.repository
        );
        let runs: CheckRuns = self.get(&path).await?;
        Ok(runs.check_runs)
    }

    /// The latest status of each context on `sha`.
    pub async fn statuses(&self, sha: &str) -> Result<Vec<CommitStatus>, GithubError> {
        let path = format!(
            "/repos/{}/commits/{sha}/status?per_page={PER_PAGE}",
            self.repository
        );
        let combined: CombinedStatus = self.get(&path).await?;
        Ok(combined.statuses)
    }

    /// The pull requests `sha` belongs to.
    pub async fn pulls_for_commit(&self, sha: &str) -> Result<Vec<PullRequest>, GithubError> {
        let path = format!("/repos/{}/commits/{sha}/pulls", self.repository);
        self.get(&path).await
    }

    /// Every review on pull request `number`, oldest first.
    pub async fn reviews(&self, number: u64) -> Result<Vec<Review>, GithubError> {
        let mut reviews = Vec::new();
        for page in 1..=MAX_PAGES {
            let path = format!(
                "/repos/{}/pulls/{number}/reviews?per_page={PER_PAGE}&page={page}",
                self.repository
            );
            let batch: Vec<Review> = self.get(&path).await?;
            let done = batch.len() < PER_PAGE as usize;
            reviews.extend(batch);
            if done {
                break;
            }
        }
        Ok(reviews)
    }

    /// `GET path` → JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, GithubError> {
        let body = self.send(Method::GET, path, None).await?;
        decode(&Method::GET, path, &body)
    }

    /// `POST path` with a JSON body → JSON (retried only on rate limits).
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, GithubError> {
        let text = self.send(Method::POST, path, Some(body)).await?;
        decode(&Method::POST, path, &text)
    }

    /// `PATCH path` with a JSON body → JSON.
    pub async fn patch<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, GithubError> {
        let text = self.send(Method::PATCH, path, Some(body)).await?;
        decode(&Method::PATCH, path, &text)
    }

    /// Sends one request, retrying per [`RetryPolicy`]; returns the body of a 2xx.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<String, GithubError> {
        let idempotent = method != Method::POST;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let request = http::Request::builder().method(method.clone()).uri(path);
            let request = self
                .octocrab
                .build_request(request, body)
                .map_err(|source| GithubError::Send {
                    method: method.clone(),
                    path: path.to_owned(),
                    source: Box::new(source),
                })?;
            let exchange = async {
                let response = self.octocrab.execute(request).await?;
                let status = response.status();
                let headers = response.headers().clone();
                let text = self.octocrab.body_to_string(response).await?;
                Ok::<_, octocrab::Error>((status, headers, text))
            };
            let outcome = tokio::time::timeout(self.retry.request_timeout, exchange).await;
            let (status, headers, text) = match outcome {
                Ok(Ok(answer)) => answer,
                Ok(Err(source)) => {
                    if idempotent && attempt < self.retry.attempts {
                        tokio::time::sleep(self.backoff(attempt)).await;
                        continue;
                    }
                    return Err(GithubError::Send {
                        method,
                        path: path.to_owned(),
                        source: Box::new(source),
                    });
                }
                Err(_) => {
                    if idempotent && attempt < self.retry.attempts {
                        tokio::time::sleep(self.backoff(attempt)).await;
                        continue;
                    }
                    return Err(GithubError::Timeout {
                        method,
                        path: path.to_owned(),
                        after: self.retry.request_timeout,
                    });
                }
            };
            if status.is_success() {
                return Ok(text);
            }
            let limited = rate_limited(status, &headers, &text);
            let retryable = limited || (idempotent && status.is_server_error());
            if retryable && attempt < self.retry.attempts {
                let wait = if limited {
                    rate_limit_wait(&headers, jiff::Timestamp::now())
                        .unwrap_or_else(|| self.backoff(attempt))
                } else {
                    self.backoff(attempt)
                };
                if wait > self.retry.max_wait {
                    return Err(GithubError::RateLimited {
                        method,
                        path: path.to_owned(),
                        wait,
                    });
                }
                tokio::time::sleep(wait).await;
                continue;
            }
            return Err(GithubError::Status {
                method,
                path: path.to_owned(),
                status: status.as_u16(),
                message: github_message(&text),
            });
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.retry
            .backoff
            .saturating_mul(2_u32.saturating_pow(attempt.saturating_sub(1)))
    }
}

fn decode<T: DeserializeOwned>(method: &Method, path: &str, text: &str) -> Result<T, GithubError> {
    serde_json::from_str(text).map_err(|source| GithubError::Decode {
        method: method.clone(),
        path: path.to_owned(),
        source,
    })
}

/// 429, or a 403 that is a (primary or secondary) rate limit rather than a
/// permission error.
fn rate_limited(status: StatusCode, headers: &HeaderMap, body: &str) -> bool {
    if status == StatusCode::TOO_MANY_REQUESTS {
        return true;
    }
    status == StatusCode::FORBIDDEN
        && (headers.contains_key("retry-after")
            || header(headers, "x-ratelimit-remaining") == Some("0")
            || body.to_ascii_lowercase().contains("rate limit"))
}

/// How long GitHub asked to wait: `retry-after` seconds, else the time until
/// `x-ratelimit-reset` when no requests remain.
pub(crate) fn rate_limit_wait(headers: &HeaderMap, now: jiff::Timestamp) -> Option<Duration> {
    if let Some(seconds) = header(headers, "retry-after").and_then(|v| v.trim().parse::<u64>().ok())
    {
        return Some(Duration::from_secs(seconds));
    }
    if header(headers, "x-ratelimit-remaining") == Some("0") {
        let reset = header(headers, "x-ratelimit-reset")?
            .trim()
            .parse::<i64>()
            .ok()?;
        let seconds = reset.saturating_sub(now.as_second()).max(0);
        return Some(Duration::from_secs(u64::try_from(seconds).unwrap_or(0) + 1));
    }
    None
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// GitHub's `message` field, else the first 200 characters of the body.
fn github_message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|value| {
            value
                .get("message")
                .and_then(|m| m.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| body.chars().take(200).collect())
}

#[cfg(test)]
pub(crate) mod tests;
