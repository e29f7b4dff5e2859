//! Creating or updating a check run on a commit, with its annotations sent
//! in batches of at most 50 (GitHub's limit per request).
//!
//! REST: `POST /repos/{owner}/{repo}/check-runs` and
//! `PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}`; annotations sent
//! in later `PATCH`es are appended to the earlier ones.

use serde::Serialize;
use serde_json::json;

use super::{GithubClient, GithubError};

/// GitHub's maximum number of annotations per request.
pub const ANNOTATIONS_PER_REQUEST: usize = 50;

/// An annotation's level, as GitHub names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AnnotationLevel {
    /// Informational.
    Notice,
    /// A warning.
    Warning,
    /// A failure.
    Failure,
}

/// One annotation: a message on a line of a file in the repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Annotation {
    /// Path relative to the repository root.
    pub path: String,
    /// First line (1-based).
    pub start_line: usize,
    /// Last line.
    pub end_line: usize,
    /// Level.
    pub annotation_level: AnnotationLevel,
    /// The message.
    pub message: String,
    /// A short title.
    pub title: String,
}

/// The check run's text.
#[derive(Debug, Clone)]
pub struct CheckRunOutput {
    /// The run's name, e.g. `shipgate / gates`.
    pub name: String,
    /// `success`, `failure` or `neutral`.
    pub conclusion: &'static str,
    /// One line.
    pub title: String,
    /// Markdown (the summary table).
    pub summary: String,
    /// Every annotation; sent in batches.
    pub annotations: Vec<Annotation>,
}

/// Creates the check run named `output.name` on `sha`, or updates the one
/// that exists, and sends all annotations. Returns the check run's id.
pub async fn publish_check_run(
    client: &GithubClient,
    sha: &str,
    output: &CheckRunOutput,
) -> Result<u64, GithubError> {
    #[derive(serde::Deserialize)]
    struct Created {
        id: u64,
    }
    let mut batches = output.annotations.chunks(ANNOTATIONS_PER_REQUEST);
    let first = batches.next().unwrap_or_default();
    let completed_at = jiff::Timestamp::now().to_string();
    let text = |annotations: &[Annotation]| {
        json!({
            "title": output.title,
            "summary": output.summary,
            "annotations": annotations,
        })
    };
    let existing = client.check_runs_named(sha, &output.name).await?;
    let id = if let Some(run) = existing.first() {
        let path = format!("/repos/{}/check-runs/{}", client.repository(), run.id);
        let body = json!({
            "name": output.name,
            "status": "completed",
            "conclusion": output.conclusion,
            "completed_at": completed_at,
            "output": text(first),
        });
        let _: serde_json::Value = client.patch(&path, &body).await?;
        run.id
    } else {
        let path = format!("/repos/{}/check-runs", client.repository());
        let body = json!({
            "name": output.name,
            "head_sha": sha,
            "status": "completed",
            "conclusion": output.conclusion,
            "completed_at": completed_at,
            "output": text(first),
        });
        let created: Created = client.post(&path, &body).await?;
        created.id
    };
    for batch in batches {
        let path = format!("/repos/{}/check-runs/{id}", client.repository());
        let _: serde_json::Value = client
            .patch(&path, &json!({ "output": text(batch) }))
            .await?;
    }
    Ok(id)
}
