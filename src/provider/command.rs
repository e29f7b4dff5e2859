//! The `command` provider: any host driven by four shell commands the user
//! configures (Fly, Render, Cloudflare, Kubernetes, a VPS over ssh).
//!
//! `deploy` ships a release and may print its id on its last line; `current`
//! prints the live release as JSON (or `null`); `list` prints known releases
//! as a JSON array, newest first; `promote` makes `{release}` live again.
//! Running, quoting and killing the commands is `shell.rs`'s job; this file
//! reads their output and proves, through `current`, that `deploy` and
//! `promote` did what they said. shipgate's own verdicts (which releases
//! failed their checks) live in the health record beside the run state, so a
//! platform that knows nothing of smoke checks still never gets a failed
//! release back (issue 12).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::health::{HealthRecord, apply_verdicts};
use super::shell::ShellCommand;
use super::{DeploySpec, Provider, ProviderError, Release, ReleaseState};
use crate::config::CommandProviderConfig;

/// Longest release id shipgate takes from `deploy`'s output.
const MAX_ID_LENGTH: usize = 128;
/// Lines of stdout an "invalid JSON" error carries.
const STDOUT_LINES: usize = 10;
/// Characters of each such line kept.
const STDOUT_LINE_WIDTH: usize = 200;

/// A host driven by the configured `deploy`, `current`, `list` and `promote`
/// commands, with verdicts kept in a [`HealthRecord`].
#[derive(Debug)]
pub struct CommandProvider {
    deploy: ShellCommand,
    current: ShellCommand,
    list: ShellCommand,
    promote: ShellCommand,
    health: Box<dyn HealthRecord>,
}

impl CommandProvider {
    /// A provider for `config` whose commands run in `base_dir`.
    pub fn new(
        config: &CommandProviderConfig,
        base_dir: &Path,
        health: Box<dyn HealthRecord>,
    ) -> Self {
        let command = |role: &'static str, template: &str| ShellCommand {
            role,
            template: template.to_owned(),
            directory: base_dir.to_owned(),
            timeout: config.timeout,
        };
        Self {
            deploy: command("deploy", &config.deploy),
            current: command("current", &config.current),
            list: command("list", &config.list),
            promote: command("promote", &config.promote),
            health,
        }
    }

    /// Runs `current` and applies the recorded verdicts.
    async fn live(
        &self,
        release: Option<&str>,
        commit: Option<&str>,
    ) -> Result<Option<Release>, ProviderError> {
        let captured = self.current.run(release, commit).await?;
        let Some(mut live) = parse_current(&captured.stdout).map_err(|failure| {
            self.current
                .error(failure, stdout_excerpt(&captured.stdout))
        })?
        else {
            return Ok(None);
        };
        let verdicts = self.health.verdicts().await?;
        apply_recorded(std::slice::from_mut(&mut live), &verdicts);
        Ok(Some(live))
    }
}

#[async_trait::async_trait]
impl Provider for CommandProvider {
    fn name(&self) -> &'static str {
        "command"
    }

    async fn current(&self) -> Result<Option<Release>, ProviderError> {
        self.live(None, None).await
    }

    async fn history(&self, limit: usize) -> Result<Vec<Release>, ProviderError> {
        let captured = self.list.run(None, None).await?;
        let mut releases = parse_list(&captured.stdout)
            .map_err(|failure| self.list.error(failure, stdout_excerpt(&captured.stdout)))?;
        // Rollback reads "older" as "later in the list": a `list` printed
        // oldest first would otherwise pick a newer release. Stable, so ties
        // keep the command's order.
        releases.sort_by_key(|release| std::cmp::Reverse(release.deployed_at));
        let verdicts = self.health.verdicts().await?;
        apply_recorded(&mut releases, &verdicts);
        releases.truncate(limit);
        Ok(releases)
    }

    async fn preflight(&self, spec: &DeploySpec) -> Result<(), ProviderError> {
        if spec.id.trim().is_empty() || spec.id.chars().any(char::is_control) {
            return Err(ProviderError::InvalidId {
                id: spec.id.clone(),
            });
        }
        Ok(())
    }

    async fn deploy(&self, spec: &DeploySpec) -> Result<Release, ProviderError> {
        let captured = self
            .deploy
            .run(Some(&spec.id), spec.commit.as_deref())
            .await?;
        let printed = id_from_stdout(&captured.stdout);
        let live = self.live(Some(&spec.id), spec.commit.as_deref()).await?;
        // The id `deploy` printed, else the one shipgate asked for: a last
        // line like `Done.` looks like an id, so either counts as proof.
        let expected: Vec<&str> = printed
            .iter()
            .map(String::as_str)
            .chain([spec.id.as_str()])
            .collect();
        match live {
            Some(mut release) if expected.contains(&release.id.as_str()) => {
                if release.commit.is_none() {
                    release.commit.clone_from(&spec.commit);
                }
                Ok(release)
            }
            other => Err(self.deploy.error(
                format!(
                    "exited 0, but `current` {} instead of {}",
                    reports(other.as_ref()),
                    expected
                        .iter()
                        .map(|id| format!("`{id}`"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
                captured.stderr,
            )),
        }
    }

    async fn promote(&self, release: &Release) -> Result<(), ProviderError> {
        let captured = self
            .promote
            .run(Some(&release.id), release.commit.as_deref())
            .await?;
        let live = self
            .live(Some(&release.id), release.commit.as_deref())
            .await?;
        match live {
            Some(live) if live.id == release.id => Ok(()),
            other => Err(self.promote.error(
                format!(
                    "exited 0, but `current` still {} instead of `{}`",
                    reports(other.as_ref()),
                    release.id
                ),
                captured.stderr,
            )),
        }
    }

    async fn record(&self, release: &Release, state: ReleaseState) -> Result<(), ProviderError> {
        self.health.record(release, state).await
    }

    async fn record_failure(&self, release: &Release, reason: &str) -> Result<(), ProviderError> {
        self.health.record_failure(release, reason).await
    }
}

/// "reports \`v2\`" or "reports nothing live", for errors.
fn reports(live: Option<&Release>) -> String {
    match live {
        Some(release) => format!("reports `{}`", release.id),
        None => "reports nothing live (`null`)".to_owned(),
    }
}

/// [`apply_verdicts`], plus: a release the platform lists as merely
/// `deployed` that shipgate recorded healthy is healthy. Unlike Vercel or
/// Railway, a host behind `list` usually cannot know whether a release passed
/// smoke checks, so `deployed` there means "not verified", not "refused";
/// a platform's `failed` still wins over a healthy verdict.
fn apply_recorded(releases: &mut [Release], verdicts: &BTreeMap<String, ReleaseState>) {
    apply_verdicts(releases, verdicts);
    for release in releases {
        if release.state == ReleaseState::Deployed
            && verdicts.get(&release.id) == Some(&ReleaseState::Healthy)
        {
            release.state = ReleaseState::Healthy;
        }
    }
}

/// One release as `list` and `current` print it. Unknown fields are
/// ignored, so a command may pass a platform's richer JSON through `jq`
/// with little trimming.
#[derive(Debug, Deserialize)]
struct Listed {
    id: String,
    state: ListedState,
    deployed_at: jiff::Timestamp,
    #[serde(default)]
    commit: Option<String>,
    #[serde(default)]
    url: Option<String>,
}

/// The platform's view of a release.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ListedState {
    Healthy,
    Deployed,
    Failed,
}

impl ListedState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Deployed => "deployed",
            Self::Failed => "failed",
        }
    }
}

impl Listed {
    fn into_release(self, position: Option<usize>) -> Result<Release, String> {
        if self.id.trim().is_empty() {
            let which =
                position.map_or_else(String::new, |index| format!(" of release {}", index + 1));
            return Err(format!("printed an empty `id`{which}"));
        }
        let state = match self.state {
            ListedState::Healthy => ReleaseState::Healthy,
            ListedState::Deployed => ReleaseState::Deployed,
            ListedState::Failed => ReleaseState::Failed,
        };
        Ok(Release {
            id: self.id,
            state,
            deployed_at: self.deployed_at,
            commit: self.commit.filter(|commit| !commit.trim().is_empty()),
            url: self.url,
            platform_state: Some(self.state.as_str().to_owned()),
        })
    }
}

/// Parses `list`'s stdout: a JSON array of releases. The error is the
/// `failure` of a [`ProviderError::Command`].
fn parse_list(stdout: &str) -> Result<Vec<Release>, String> {
    let listed: Vec<Listed> = serde_json::from_str(stdout).map_err(|error| invalid_json(&error))?;
    listed
        .into_iter()
        .enumerate()
        .map(|(index, listed)| listed.into_release(Some(index)))
        .collect()
}

/// Parses `current`'s stdout: one release object, or `null` (or nothing)
/// when nothing is live.
fn parse_current(stdout: &str) -> Result<Option<Release>, String> {
    if stdout.trim().is_empty() {
        return Ok(None);
    }
    let listed: Option<Listed> =
        serde_json::from_str(stdout).map_err(|error| invalid_json(&error))?;
    listed.map(|listed| listed.into_release(None)).transpose()
}

fn invalid_json(error: &serde_json::Error) -> String {
    format!("printed invalid JSON: {error}")
}

/// The first lines of `stdout`, each cut to a readable width.
fn stdout_excerpt(stdout: &str) -> String {
    let mut lines: Vec<String> = stdout
        .lines()
        .take(STDOUT_LINES)
        .map(|line| match line.char_indices().nth(STDOUT_LINE_WIDTH) {
            Some((cut, _)) => format!("{}…", &line[..cut]),
            None => line.to_owned(),
        })
        .collect();
    if stdout.lines().count() > STDOUT_LINES {
        lines.push("…".to_owned());
    }
    if lines.is_empty() {
        "(stdout was empty)".to_owned()
    } else {
        format!("stdout:\n{}", lines.join("\n"))
    }
}

/// The release id `deploy` printed: its last non-empty line of stdout, when
/// that is one plausible id (1 to 128 visible ASCII characters, no spaces,
/// not starting with `-`). `deployment.apps/web configured` or a progress
/// bar is not one, and the spec's id is used instead.
fn id_from_stdout(stdout: &str) -> Option<String> {
    let line = stdout
        .lines()
        .rev()
        .map(str::trim)
        .find(|line| !line.is_empty())?;
    let plausible = line.len() <= MAX_ID_LENGTH
        && !line.starts_with('-')
        && line.chars().all(|c| c.is_ascii_graphic());
    plausible.then(|| line.to_owned())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;
    use crate::provider::health::HealthFile;

    #[test]
    fn a_list_parses_with_optional_and_unknown_fields() {
        let releases = parse_list(
            r#"[
              {"id": "v2", "state": "deployed", "deployed_at": "2025-05-02T10:00:00Z", "commit": "abc", "url": "https://v2.example", "extra": {"x": 1}},
              {"id": "v1", "state": "healthy", "deployed_at": "2025-05-01T10:00:00+02:00", "commit": null}
            ]"#,
        )
        .unwrap();
        assert_eq!(releases.len(), 2);
        assert_eq!(releases[0].id, "v2");
        assert_eq!(releases[0].state, ReleaseState::Deployed);
        assert_eq!(releases[0].commit.as_deref(), Some("abc"));
        assert_eq!(releases[0].url.as_deref(), Some("https://v2.example"));
        assert_eq!(releases[1].state, ReleaseState::Healthy);
        assert_eq!(releases[1].commit, None);
        assert_eq!(releases[1].deployed_at.to_string(), "2025-05-01T08:00:00Z");
        assert_eq!(parse_list("[]").unwrap(), Vec::new());
    }

    #[test]
    fn current_may_print_null_or_nothing() {
        assert_eq!(parse_current("null\n").unwrap(), None);
        assert_eq!(parse_current("  \n").unwrap(), None);
        let live = parse_current(
            r#"{"id": "v1", "state": "healthy", "deployed_at": "2025-05-01T10:00:00Z"}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(live.id, "v1");
    }

    #[test]
    fn invalid_output_names_the_json_error_and_its_position() {
        assert_eq!(
            parse_list("[{\"id\": \"v1\",}]").unwrap_err(),
            "printed invalid JSON: trailing comma at line 1 column 14"
        );
        assert_eq!(
            parse_list(r#"[{"state": "healthy", "deployed_at": "2025-05-01T10:00:00Z"}]"#)
                .unwrap_err(),
            "printed invalid JSON: missing field `id` at line 1 column 60"
        );
        let error = parse_list(
            r#"[{"id": "v1", "state": "green", "deployed_at": "2025-05-01T10:00:00Z"}]"#,
        )
        .unwrap_err();
        assert!(
            error.starts_with("printed invalid JSON: unknown variant `green`, expected one of `healthy`, `deployed`, `failed` at line 1"),
            "{error}"
        );
        let error = parse_list(r#"[{"id": "v1", "state": "healthy", "deployed_at": "yesterday"}]"#)
            .unwrap_err();
        assert!(error.starts_with("printed invalid JSON: "), "{error}");
        assert_eq!(
            parse_list(
                r#"[{"id": " ", "state": "healthy", "deployed_at": "2025-05-01T10:00:00Z"}]"#
            )
            .unwrap_err(),
            "printed an empty `id` of release 1"
        );
        assert!(parse_current("Deploying…\n{}").is_err());
    }

    #[test]
    fn the_excerpt_keeps_the_first_lines_only() {
        let many: String = (0..30)
            .map(|line| format!("line {line}"))
            .collect::<Vec<_>>()
            .join("\n");
        let excerpt = stdout_excerpt(&many);
        assert!(excerpt.starts_with("stdout:\nline 0\n"), "{excerpt}");
        assert!(excerpt.contains("line 9\n…"), "{excerpt}");
        assert!(!excerpt.contains("line 10"), "{excerpt}");
        assert_eq!(stdout_excerpt(""), "(stdout was empty)");
        let wide = stdout_excerpt(&"é".repeat(500));
        assert_eq!(
            wide.chars().count(),
            "stdout:\n".len() + STDOUT_LINE_WIDTH + 1
        );
    }

    #[test]
    fn the_id_is_the_last_non_empty_line_when_it_is_plausible() {
        let cases: &[(&str, Option<&str>)] = &[
            ("v42\n", Some("v42")),
            (
                "building…\npushing\n  dpl_8f2K-x.1  \n\n\n",
                Some("dpl_8f2K-x.1"),
            ),
            ("deployment.apps/web configured\n", None),
            ("", None),
            ("\n  \n", None),
            ("--help\n", None),
            ("ünïcode\n", None),
            ("id\twith\ttabs\n", None),
            (&"x".repeat(129), None),
            (&"x".repeat(128), Some(&*"x".repeat(128))),
        ];
        for (stdout, expected) in cases {
            assert_eq!(
                id_from_stdout(stdout).as_deref(),
                *expected,
                "stdout {stdout:?}"
            );
        }
    }

    #[test]
    fn a_healthy_verdict_upgrades_deployed_but_never_a_platform_failure() {
        let at = jiff::Timestamp::UNIX_EPOCH;
        let mut releases = vec![
            Release::new("a", ReleaseState::Deployed, at),
            Release::new("b", ReleaseState::Failed, at),
            Release::new("c", ReleaseState::Healthy, at),
            Release::new("d", ReleaseState::Deployed, at),
        ];
        let verdicts = BTreeMap::from([
            ("a".to_owned(), ReleaseState::Healthy),
            ("b".to_owned(), ReleaseState::Healthy),
            ("c".to_owned(), ReleaseState::Failed),
        ]);
        apply_recorded(&mut releases, &verdicts);
        let states: Vec<ReleaseState> = releases.iter().map(|release| release.state).collect();
        assert_eq!(
            states,
            [
                ReleaseState::Healthy,
                ReleaseState::Failed,
                ReleaseState::Failed,
                ReleaseState::Deployed
            ]
        );
    }

    proptest! {
        #[test]
        fn arbitrary_output_never_panics(stdout in ".{0,200}") {
            let _ = parse_list(&stdout);
            let _ = parse_current(&stdout);
            let _ = id_from_stdout(&stdout);
            let _ = stdout_excerpt(&stdout);
        }

        #[test]
        fn a_valid_list_round_trips(
            entries in proptest::collection::vec(
                (
                    "[A-Za-z0-9_.-]{1,20}",
                    0usize..3,
                    0i64..4_000_000_000,
                    proptest::option::of("[0-9a-f]{7,40}"),
                ),
                0..8,
            )
        ) {
            let states = ["healthy", "deployed", "failed"];
            let json: Vec<serde_json::Value> = entries
                .iter()
                .map(|(id, state, seconds, commit)| {
                    serde_json::json!({
                        "id": id,
                        "state": states[*state],
                        "deployed_at": jiff::Timestamp::from_second(*seconds).unwrap().to_string(),
                        "commit": commit,
                    })
                })
                .collect();
            let releases = parse_list(&serde_json::to_string_pretty(&json).unwrap()).unwrap();
            prop_assert_eq!(releases.len(), entries.len());
            for (release, (id, state, seconds, commit)) in releases.iter().zip(&entries) {
                prop_assert_eq!(&release.id, id);
                prop_assert_eq!(release.platform_state.as_deref(), Some(states[*state]));
                prop_assert_eq!(release.deployed_at.as_second(), *seconds);
                prop_assert_eq!(&release.commit, commit);
            }
        }
    }

    /// A fake platform in a temp dir: `live` holds the live id.
    fn provider(dir: &std::path::Path, promote: &str) -> CommandProvider {
        let config = CommandProviderConfig {
            deploy: "echo deploying >&2; echo {release} > live; echo {release}".to_owned(),
            current: r#"printf '{"id": "%s", "state": "deployed", "deployed_at": "2025-05-01T10:00:00Z"}' "$(cat live)""#.to_owned(),
            list: "echo '[]'".to_owned(),
            promote: promote.to_owned(),
            timeout: Duration::from_secs(10),
        };
        let health = HealthFile::beside(&dir.join("state.json"), "production");
        CommandProvider::new(&config, dir, Box::new(health))
    }

    fn spec(id: &str) -> DeploySpec {
        DeploySpec {
            id: id.to_owned(),
            source: None,
            commit: Some("abc123".to_owned()),
        }
    }

    #[tokio::test]
    async fn deploy_is_proven_through_current_and_takes_the_commit() {
        let dir = tempfile::tempdir().unwrap();
        let provider = provider(dir.path(), "echo {release} > live");
        let release = provider.deploy(&spec("v1")).await.unwrap();
        assert_eq!(release.id, "v1");
        assert_eq!(release.commit.as_deref(), Some("abc123"));
        provider
            .promote(&Release::new(
                "v0",
                ReleaseState::Healthy,
                jiff::Timestamp::UNIX_EPOCH,
            ))
            .await
            .unwrap();
        assert_eq!(provider.current().await.unwrap().unwrap().id, "v0");
    }

    #[tokio::test]
    async fn a_promote_that_changes_nothing_is_an_error_naming_what_current_says() {
        let dir = tempfile::tempdir().unwrap();
        let provider = provider(dir.path(), "true");
        provider.deploy(&spec("v2")).await.unwrap();
        let error = provider
            .promote(&Release::new(
                "v1",
                ReleaseState::Healthy,
                jiff::Timestamp::UNIX_EPOCH,
            ))
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "the promote command `true` exited 0, but `current` still reports `v2` instead of `v1`"
        );
    }

    #[tokio::test]
    async fn a_recorded_failure_wins_over_the_platform() {
        let dir = tempfile::tempdir().unwrap();
        let provider = provider(dir.path(), "true");
        let release = provider.deploy(&spec("v3")).await.unwrap();
        provider
            .record(&release, ReleaseState::Failed)
            .await
            .unwrap();
        assert_eq!(
            provider.current().await.unwrap().unwrap().state,
            ReleaseState::Failed
        );
    }
}
