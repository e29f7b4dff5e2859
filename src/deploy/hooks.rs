//! `[[deploy.hook]]`: commands run after the provider deployed a release and
//! before smoke, each only when files matching its `when_changed` globs
//! changed since the last healthy release (the runbooks' "if background-job
//! code changed, run `inngest deploy`", issue 12).
//!
//! What changed is `git diff --name-only` in the config's directory between
//! the newest healthy release's commit (from the provider's history) and this
//! deploy's commit. When that cannot be known (no history, no commit, git
//! fails) a hook runs anyway and its check says why: skipping a needed hook
//! is worse than running one twice. Running the command is `ShellCommand`'s
//! job; this file decides and reports.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use globset::{GlobBuilder, GlobSetBuilder};

use crate::config::DeployHook;
use crate::context::Context;
use crate::provider::shell::ShellCommand;
use crate::provider::{DeploySpec, Provider, ProviderError, Release, ReleaseState};
use crate::report::{Check, Status};

/// How long `git diff` may take.
const GIT_DEADLINE: Duration = Duration::from_secs(30);
/// How many releases of history are searched for the last healthy one.
const HISTORY_LIMIT: usize = 100;
/// How many file names a check's detail lists.
const LISTED_FILES: usize = 3;

/// What changed between the last healthy release and this deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Changes {
    /// `git diff` answered: `files` changed since commit `since`.
    Known { since: String, files: Vec<String> },
    /// Nothing to compare against, or git failed: every hook runs.
    Unknown { why: String },
}

/// Whether a hook runs, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    Run(String),
    Skip(String),
}

/// Runs the hooks for `release`, just deployed from `spec`, in file order:
/// one check each. After a failing hook the rest are skipped.
pub(super) async fn run(
    ctx: &Context,
    provider: &dyn Provider,
    release: &Release,
    spec: &DeploySpec,
) -> Vec<Check> {
    let hooks = &ctx.config.deploy_hooks;
    if hooks.is_empty() {
        return Vec::new();
    }
    let commit = release.commit.as_deref().or(spec.commit.as_deref());
    let changes = changes_if_needed(ctx, provider, &release.id, commit).await;
    let mut checks = Vec::new();
    let mut stopped: Option<String> = None;
    for hook in hooks {
        let name = check_name(hook);
        if let Some(why) = &stopped {
            checks.push(Check::new(name, Status::Skip).detail(why.clone()));
            continue;
        }
        if ctx.cancel.is_cancelled() {
            stopped = Some("not run: interrupted".to_owned());
            checks.push(Check::new(name, Status::Skip).detail("not run: interrupted"));
            continue;
        }
        let why = match decide(&hook.when_changed, &changes) {
            Decision::Skip(why) => {
                checks.push(Check::new(name, Status::Skip).detail(why));
                continue;
            }
            Decision::Run(why) => why,
        };
        let started = Instant::now();
        let command = ShellCommand {
            role: "hook",
            template: hook.run.clone(),
            directory: ctx.config.base_dir.clone(),
            timeout: hook.timeout,
        };
        match command.run(Some(&release.id), commit).await {
            Ok(_) => checks.push(
                Check::pass(name)
                    .detail(format!("ran: {why}"))
                    .duration(started.elapsed()),
            ),
            Err(error) => {
                let mut check = Check::fail(name)
                    .detail(format!("{error} (it ran because {why})"))
                    .duration(started.elapsed());
                if let ProviderError::Command { output, .. } = &error {
                    if !output.trim().is_empty() {
                        check = check.log(output.clone());
                    }
                }
                if let Some(location) = &hook.location {
                    check = check.location(location.clone());
                }
                stopped = Some(format!("not run: hook `{}` failed", hook.name));
                checks.push(check);
            }
        }
    }
    checks
}

/// `--dry-run`: which hooks would run for `spec`, and why.
pub(super) async fn plan(ctx: &Context, provider: &dyn Provider, spec: &DeploySpec) -> Vec<Check> {
    let hooks = &ctx.config.deploy_hooks;
    if hooks.is_empty() {
        return Vec::new();
    }
    let changes = changes_if_needed(ctx, provider, &spec.id, spec.commit.as_deref()).await;
    hooks
        .iter()
        .map(|hook| {
            let detail = match decide(&hook.when_changed, &changes) {
                Decision::Run(why) => format!("would run: {why}"),
                Decision::Skip(why) => format!("would skip: {why}"),
            };
            Check::new(check_name(hook), Status::Skip).detail(detail)
        })
        .collect()
}

fn check_name(hook: &DeployHook) -> String {
    format!("hook {}", hook.name)
}

/// The changes, looked up only when some hook has `when_changed`.
async fn changes_if_needed(
    ctx: &Context,
    provider: &dyn Provider,
    deployed: &str,
    commit: Option<&str>,
) -> Changes {
    if ctx
        .config
        .deploy_hooks
        .iter()
        .all(|hook| hook.when_changed.is_empty())
    {
        return Changes::Unknown {
            why: "no hook has `when_changed`".to_owned(),
        };
    }
    let Some(commit) = commit else {
        return Changes::Unknown {
            why: "this deploy's commit is unknown (pass `--commit`)".to_owned(),
        };
    };
    let history = match provider.history(HISTORY_LIMIT).await {
        Ok(history) => history,
        Err(error) => {
            return Changes::Unknown {
                why: format!("the release history is unreadable ({error})"),
            };
        }
    };
    let Some(since) = last_healthy_commit(&history, deployed) else {
        return Changes::Unknown {
            why: "no earlier healthy release with a known commit".to_owned(),
        };
    };
    changed_files(&ctx.config.base_dir, since, commit).await
}

/// The commit of the newest healthy release other than `deployed`.
fn last_healthy_commit<'h>(history: &'h [Release], deployed: &str) -> Option<&'h str> {
    history
        .iter()
        .filter(|release| release.id != deployed && release.state == ReleaseState::Healthy)
        .find_map(|release| release.commit.as_deref())
}

/// `git diff --name-only` between two commits in `directory`, bounded by
/// [`GIT_DEADLINE`]. Paths are relative to the repository root.
async fn changed_files(directory: &Path, since: &str, commit: &str) -> Changes {
    let unknown = |why: String| Changes::Unknown { why };
    // A value starting with `-` would be read as an option.
    for revision in [since, commit] {
        if !is_revision(revision) {
            return unknown(format!("`{revision}` is not a git commit"));
        }
    }
    let output = tokio::process::Command::new("git")
        .args([
            "diff",
            "--name-only",
            "--no-renames",
            "-z",
            since,
            commit,
            "--",
        ])
        .current_dir(directory)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let short = short_commit(since);
    match tokio::time::timeout(GIT_DEADLINE, output).await {
        Err(_elapsed) => unknown(format!(
            "`git diff` from `{short}` timed out after {}",
            humantime::format_duration(GIT_DEADLINE)
        )),
        Ok(Err(error)) => unknown(format!("`git diff` could not start: {error}")),
        Ok(Ok(output)) if !output.status.success() => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let first = stderr.lines().next().unwrap_or("").trim();
            unknown(format!(
                "`git diff {short} {}` failed: {first}",
                short_commit(commit)
            ))
        }
        Ok(Ok(output)) => Changes::Known {
            since: since.to_owned(),
            files: output
                .stdout
                .split(|byte| *byte == 0)
                .filter(|path| !path.is_empty())
                .map(|path| String::from_utf8_lossy(path).into_owned())
                .collect(),
        },
    }
}

fn is_revision(value: &str) -> bool {
    value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/~^-".contains(c))
}

fn short_commit(commit: &str) -> &str {
    commit.get(..7).unwrap_or(commit)
}

/// Whether a hook with `globs` runs given `changes`.
fn decide(globs: &[String], changes: &Changes) -> Decision {
    if globs.is_empty() {
        return Decision::Run("it has no `when_changed`".to_owned());
    }
    let (since, files) = match changes {
        Changes::Unknown { why } => return Decision::Run(format!("changes unknown: {why}")),
        Changes::Known { since, files } => (short_commit(since), files),
    };
    let mut builder = GlobSetBuilder::new();
    for glob in globs {
        match GlobBuilder::new(glob).literal_separator(true).build() {
            Ok(glob) => {
                builder.add(glob);
            }
            Err(error) => {
                return Decision::Run(format!(
                    "changes unknown: glob `{glob}` is invalid ({error})"
                ));
            }
        }
    }
    let set = match builder.build() {
        Ok(set) => set,
        Err(error) => return Decision::Run(format!("changes unknown: {error}")),
    };
    let matched: Vec<&String> = files.iter().filter(|file| set.is_match(file)).collect();
    let under = globs
        .iter()
        .map(|glob| format!("`{glob}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if matched.is_empty() {
        let summary = if files.is_empty() {
            "nothing changed".to_owned()
        } else {
            format!("changed: {}", list(files.iter()))
        };
        Decision::Skip(format!(
            "no change under {under} since `{since}` ({summary})"
        ))
    } else {
        Decision::Run(format!(
            "{} changed since `{since}`",
            list(matched.into_iter())
        ))
    }
}

/// `a`, `b`, `c` and 4 more.
fn list<'a>(files: impl ExactSizeIterator<Item = &'a String>) -> String {
    let total = files.len();
    let mut shown: Vec<String> = files
        .take(LISTED_FILES)
        .map(|file| format!("`{file}`"))
        .collect();
    if total > LISTED_FILES {
        shown.push(format!("{} more", total - LISTED_FILES));
    }
    shown.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(files: &[&str]) -> Changes {
        Changes::Known {
            since: "0123456789abcdef".to_owned(),
            files: files.iter().map(|file| (*file).to_owned()).collect(),
        }
    }

    fn globs(globs: &[&str]) -> Vec<String> {
        globs.iter().map(|glob| (*glob).to_owned()).collect()
    }

    #[test]
    fn hooks_run_only_when_a_changed_file_matches() {
        let unknown = Changes::Unknown {
            why: "no earlier healthy release with a known commit".to_owned(),
        };
        // (globs, changes, runs)
        let cases: Vec<(&[&str], Changes, bool)> = vec![
            (&[], known(&[]), true),
            (&[], known(&["README.md"]), true),
            (&["src/inngest/**"], known(&["src/inngest/fn.ts"]), true),
            (&["src/inngest/**"], known(&["src/inngest/a/b/c.ts"]), true),
            (
                &["src/inngest/**"],
                known(&["src/app.ts", "README.md"]),
                false,
            ),
            (&["src/inngest/**"], known(&["src/inngest"]), false),
            (&["src/inngest/**"], known(&["lib/src/inngest/x.ts"]), false),
            (&["src/inngest/**"], known(&[]), false),
            // `*` never crosses `/`; `**/` matches any depth.
            (&["*.sql"], known(&["db/0001.sql"]), false),
            (&["*.sql"], known(&["0001.sql"]), true),
            (&["**/*.sql"], known(&["db/migrations/0001.sql"]), true),
            (&["src/*.ts"], known(&["src/jobs/x.ts"]), false),
            (
                &["src/*.ts", "package.json"],
                known(&["package.json"]),
                true,
            ),
            (&["src/inngest/**"], unknown.clone(), true),
            (&["["], known(&["x"]), true),
        ];
        for (patterns, changes, runs) in cases {
            let decision = decide(&globs(patterns), &changes);
            assert_eq!(
                matches!(decision, Decision::Run(_)),
                runs,
                "{patterns:?} with {changes:?}: {decision:?}"
            );
        }
    }

    #[test]
    fn the_reason_lists_a_few_files() {
        assert_eq!(
            decide(
                &globs(&["src/inngest/**"]),
                &known(&["a", "b", "c", "d", "e"])
            ),
            Decision::Skip(
                "no change under `src/inngest/**` since `0123456` (changed: `a`, `b`, `c`, 2 more)"
                    .to_owned()
            )
        );
        assert_eq!(
            decide(&globs(&["src/inngest/**"]), &known(&[])),
            Decision::Skip(
                "no change under `src/inngest/**` since `0123456` (nothing changed)".to_owned()
            )
        );
        assert_eq!(
            decide(
                &globs(&["src/inngest/**"]),
                &known(&["src/inngest/a.ts", "README.md"])
            ),
            Decision::Run("`src/inngest/a.ts` changed since `0123456`".to_owned())
        );
        assert_eq!(
            decide(
                &globs(&["x/**"]),
                &Changes::Unknown {
                    why: "this deploy's commit is unknown (pass `--commit`)".to_owned()
                }
            ),
            Decision::Run(
                "changes unknown: this deploy's commit is unknown (pass `--commit`)".to_owned()
            )
        );
    }

    #[test]
    fn the_last_healthy_commit_skips_the_new_release_failed_ones_and_unknown_commits() {
        let release = |id: &str, state, commit: Option<&str>| Release {
            commit: commit.map(str::to_owned),
            ..Release::new(id, state, jiff::Timestamp::UNIX_EPOCH)
        };
        let history = vec![
            release("v5", ReleaseState::Healthy, Some("e5")),
            release("v4", ReleaseState::Failed, Some("e4")),
            release("v3", ReleaseState::Healthy, None),
            release("v2", ReleaseState::Deployed, Some("e2")),
            release("v1", ReleaseState::Healthy, Some("e1")),
        ];
        assert_eq!(last_healthy_commit(&history, "v5"), Some("e1"));
        assert_eq!(last_healthy_commit(&history, "v6"), Some("e5"));
        assert_eq!(last_healthy_commit(&history[..3], "v5"), None);
    }

    #[test]
    fn option_like_revisions_are_refused() {
        assert!(is_revision("0123abc"));
        assert!(is_revision("HEAD~1"));
        assert!(!is_revision("--output=/tmp/x"));
        assert!(!is_revision("-p"));
        assert!(!is_revision(""));
        assert!(!is_revision("a b"));
    }

    #[tokio::test]
    async fn git_diff_lists_changed_files_and_reports_unknown_commits() {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let status = std::process::Command::new("git")
                .args(args)
                .current_dir(dir.path())
                .env("GIT_AUTHOR_NAME", "t")
                .env("GIT_AUTHOR_EMAIL", "t@example.com")
                .env("GIT_COMMITTER_NAME", "t")
                .env("GIT_COMMITTER_EMAIL", "t@example.com")
                .output()
                .unwrap();
            assert!(status.status.success(), "{status:?}");
            String::from_utf8(status.stdout).unwrap().trim().to_owned()
        };
        git(&["init", "-q"]);
        fs_err::write(dir.path().join("a.txt"), "1").unwrap();
        git(&["add", "."]);
        git(&["commit", "-q", "-m", "one"]);
        let first = git(&["rev-parse", "HEAD"]);
        fs_err::create_dir_all(dir.path().join("src/inngest")).unwrap();
        fs_err::write(dir.path().join("src/inngest/fn ü.ts"), "2").unwrap();
        git(&["add", "."]);
        git(&["commit", "-q", "-m", "two"]);
        let second = git(&["rev-parse", "HEAD"]);
        assert_eq!(
            changed_files(dir.path(), &first, &second).await,
            Changes::Known {
                since: first.clone(),
                files: vec!["src/inngest/fn ü.ts".to_owned()]
            }
        );
        let unknown = changed_files(dir.path(), "deadbeef", &second).await;
        assert!(
            matches!(&unknown, Changes::Unknown { why } if why.starts_with("`git diff deadbee ")),
            "{unknown:?}"
        );
    }
}
