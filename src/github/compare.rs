//! What changed since the environment's last healthy release: the commits
//! between two SHAs from the compare API
//! (`GET /repos/{owner}/{repo}/compare/{base}...{head}`), for the deploy
//! summary (issue 14). Which SHAs to compare is the pipeline's business.

use serde::Deserialize;

use super::{GithubClient, GithubEnv, GithubError, RetryPolicy};
use crate::context::Context;
use crate::provider::{Release, ReleaseState};
use crate::report::Change;

/// The commits from the newest healthy release in `history` (newest first)
/// that records its commit, up to `head` (the commit being deployed; else
/// `GITHUB_SHA`). Empty when there is no such release, no GitHub token or
/// repository, or the call fails (then with a warning): the summary never
/// blocks a deploy.
pub async fn changes_since_healthy(
    history: &[Release],
    head: Option<&str>,
    ctx: &Context,
) -> Vec<Change> {
    let Some(base) = history
        .iter()
        .filter(|release| release.state == ReleaseState::Healthy)
        .find_map(|release| release.commit.clone())
    else {
        return Vec::new();
    };
    let lookup = |name: &str| std::env::var(name).ok();
    let Ok(github) = GithubEnv::from_lookup(&lookup, ctx.printer.redactor()) else {
        return Vec::new();
    };
    let head = head.map(str::to_owned).or_else(|| github.sha.clone());
    let (Some(head), Some(_), Some(_)) = (head, &github.token, &github.repository) else {
        return Vec::new();
    };
    if head == base {
        return Vec::new();
    }
    let result = match GithubClient::new(&github, RetryPolicy::default()) {
        Ok(client) => client.compare(&base, &head).await,
        Err(error) => Err(error),
    };
    result.unwrap_or_else(|error| {
        ctx.printer.warning(&format!(
            "could not list the commits since `{base}`: {error}"
        ));
        Vec::new()
    })
}

#[derive(Debug, Deserialize)]
struct Comparison {
    commits: Vec<ComparedCommit>,
}

#[derive(Debug, Deserialize)]
struct ComparedCommit {
    sha: String,
    commit: GitCommit,
    /// The GitHub account, absent when the email matches none.
    author: Option<super::User>,
}

#[derive(Debug, Deserialize)]
struct GitCommit {
    message: String,
    author: Option<GitAuthor>,
}

#[derive(Debug, Deserialize)]
struct GitAuthor {
    name: String,
}

impl GithubClient {
    /// The commits in `head` that `base` lacks, oldest first (GitHub lists at
    /// most 250).
    pub async fn compare(&self, base: &str, head: &str) -> Result<Vec<Change>, GithubError> {
        let path = format!("/repos/{}/compare/{base}...{head}", self.repository);
        let comparison: Comparison = self.get(&path).await?;
        Ok(comparison.commits.into_iter().map(change).collect())
    }
}

fn change(commit: ComparedCommit) -> Change {
    let title = commit
        .commit
        .message
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    let pull_request = pull_request_number(&title);
    Change {
        sha: commit.sha,
        author: commit.author.map(|user| user.login),
        author_name: commit.commit.author.map(|author| author.name),
        pull_request,
        title,
    }
}

/// The number in the last `(#123)` of a commit title, as GitHub writes
/// squash and merge titles.
pub(crate) fn pull_request_number(title: &str) -> Option<u64> {
    let start = title.rfind("(#")? + 2;
    let rest = &title[start..];
    let end = rest.find(')')?;
    rest[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::pull_request_number;

    #[test]
    fn pull_request_numbers_come_from_the_last_parenthesized_reference() {
        assert_eq!(pull_request_number("checkout: faster (#123)"), Some(123));
        assert_eq!(pull_request_number("fix (#1) again (#42)"), Some(42));
        assert_eq!(pull_request_number("no reference"), None);
        assert_eq!(pull_request_number("odd (#abc)"), None);
    }
}
