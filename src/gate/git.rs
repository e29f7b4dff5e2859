//! The `git` gate: the working tree is fit to deploy from. Runs the real
//! `git` binary in the config's directory:
//!
//! - `clean`: the listed paths have no modified, staged or untracked files
//!   (`git status --porcelain --untracked-files=all -- PATHS`);
//! - `branches`: HEAD is on an allowed branch (`*` is a wildcard; a detached
//!   HEAD in Actions uses `GITHUB_HEAD_REF` / `GITHUB_REF_NAME`);
//! - `conflict_markers`: no tracked text file has a line starting with
//!   `<<<<<<< ` or `>>>>>>> ` (`git grep -I`);
//! - `pushed`: when a remote is configured, HEAD is on a remote-tracking
//!   branch (no fetch: the refs as they are).

use std::fmt::Write as _;
use std::process::Stdio;

use tokio::process::Command;

use super::GateContext;
use crate::config::{Gate, GitGate};
use crate::env;
use crate::report::Check;

/// Problems listed in the one-line detail before "and N more".
const LISTED: usize = 5;

/// What one `git` invocation printed.
pub(super) struct GitOutput {
    pub(super) success: bool,
    pub(super) code: Option<i32>,
    pub(super) stdout: String,
    pub(super) stderr: String,
}

/// Runs `git ARGS` in the config's directory (killed if the gate times out).
pub(super) async fn git(ctx: &GateContext, args: &[&str]) -> Result<GitOutput, String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(&ctx.ctx.config.base_dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|error| format!("failed to run `git {}`: {error}", args.join(" ")))?;
    Ok(GitOutput {
        success: output.status.success(),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
    })
}

/// Runs the gate.
pub(super) async fn run(gate: &Gate, config: &GitGate, ctx: &GateContext) -> Check {
    match inspect(config, ctx).await {
        Ok((problems, passed, log)) if problems.is_empty() => Check::pass(&gate.name)
            .detail(passed.join("; "))
            .log_if(log),
        Ok((problems, _, log)) => Check::fail(&gate.name)
            .detail(problems.join("; "))
            .log_if(log),
        Err(message) => Check::fail(&gate.name).detail(message),
    }
}

trait LogIf {
    fn log_if(self, log: String) -> Self;
}

impl LogIf for Check {
    fn log_if(self, log: String) -> Self {
        if log.trim().is_empty() {
            self
        } else {
            self.log(log)
        }
    }
}

/// Returns (problems, what passed, log).
async fn inspect(
    config: &GitGate,
    ctx: &GateContext,
) -> Result<(Vec<String>, Vec<String>, String), String> {
    let top = git(ctx, &["rev-parse", "--show-toplevel"]).await?;
    if !top.success {
        return Err(format!(
            "`{}` is not inside a git work tree: {}",
            ctx.ctx.config.base_dir.display(),
            top.stderr
        ));
    }
    let mut problems = Vec::new();
    let mut passed = Vec::new();
    let mut log = String::new();

    let missing: Vec<String> = config
        .clean
        .iter()
        .filter(|path| !ctx.ctx.config.base_dir.join(path).exists())
        .map(|path| format!("`{path}`"))
        .collect();
    if !missing.is_empty() {
        // A typo in `clean` would otherwise pass forever: nothing is dirty in
        // a path that does not exist.
        problems.push(format!(
            "`clean` path(s) not found: {} (relative to the config's directory)",
            missing.join(", ")
        ));
    }
    if !config.clean.is_empty() {
        let mut args = vec!["status", "--porcelain=v1", "--untracked-files=all", "--"];
        args.extend(config.clean.iter().map(String::as_str));
        let status = git(ctx, &args).await?;
        if !status.success {
            return Err(format!("`git status` failed: {}", status.stderr));
        }
        let dirty: Vec<&str> = status
            .stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        let paths = config
            .clean
            .iter()
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(", ");
        if dirty.is_empty() {
            passed.push(format!("{paths} clean"));
        } else {
            let files: Vec<String> = dirty.iter().map(|line| describe_status(line)).collect();
            problems.push(format!(
                "{} uncommitted change(s) in {paths}: {}",
                files.len(),
                listed(&files)
            ));
            let _ = writeln!(log, "uncommitted changes:");
            for file in &files {
                let _ = writeln!(log, "  {file}");
            }
        }
    }

    if !config.branches.is_empty() {
        let head = git(ctx, &["symbolic-ref", "--short", "-q", "HEAD"]).await?;
        let branch = if head.success {
            Some(head.stdout.trim().to_owned())
        } else {
            [env::GITHUB_HEAD_REF, env::GITHUB_REF_NAME]
                .iter()
                .find_map(|name| (ctx.lookup)(name).filter(|value| !value.is_empty()))
        };
        let allowed = config
            .branches
            .iter()
            .map(|b| format!("`{b}`"))
            .collect::<Vec<_>>()
            .join(", ");
        match branch {
            Some(branch) if config.branches.iter().any(|pattern| glob(pattern, &branch)) => {
                passed.push(format!("on branch `{branch}`"));
            }
            Some(branch) => problems.push(format!("branch `{branch}` is not in {allowed}")),
            None => problems.push(format!(
                "HEAD is detached and no branch is known; allowed: {allowed}"
            )),
        }
    }

    if config.conflict_markers {
        let found = git(ctx, &["grep", "-I", "-n", "-E", "^(<<<<<<<|>>>>>>>)( |$)"]).await?;
        match found.code {
            Some(1) => passed.push("no conflict markers".to_owned()),
            Some(0) => {
                let hits: Vec<String> = found
                    .stdout
                    .lines()
                    .map(|line| {
                        let mut parts = line.splitn(3, ':');
                        match (parts.next(), parts.next()) {
                            (Some(file), Some(number)) => format!("{file}:{number}"),
                            _ => line.to_owned(),
                        }
                    })
                    .collect();
                problems.push(format!(
                    "{} conflict marker(s) in tracked files: {}",
                    hits.len(),
                    listed(&hits)
                ));
                let _ = writeln!(log, "conflict markers:\n{}", found.stdout.trim_end());
            }
            _ => return Err(format!("`git grep` failed: {}", found.stderr)),
        }
    }

    if config.pushed {
        match pushed(ctx).await? {
            Ok(note) => passed.push(note),
            Err(problem) => problems.push(problem),
        }
    }
    Ok((problems, passed, log))
}

/// `Ok(Ok(note))` when HEAD is pushed or there is no remote,
/// `Ok(Err(problem))` when it is not.
async fn pushed(ctx: &GateContext) -> Result<Result<String, String>, String> {
    let remotes = git(ctx, &["remote"]).await?;
    if remotes.stdout.trim().is_empty() {
        return Ok(Ok("no remote configured".to_owned()));
    }
    let containing = git(ctx, &["branch", "-r", "--contains", "HEAD"]).await?;
    if !containing.success {
        return Err(format!(
            "`git branch -r --contains HEAD` failed: {}",
            containing.stderr
        ));
    }
    let branches: Vec<&str> = containing
        .stdout
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.contains(" -> "))
        .collect();
    if let Some(branch) = branches.first() {
        return Ok(Ok(format!("HEAD pushed (`{branch}`)")));
    }
    let head = git(ctx, &["rev-parse", "--short", "HEAD"]).await?;
    Ok(Err(format!(
        "HEAD `{}` is not pushed: no remote branch contains it",
        head.stdout.trim()
    )))
}

/// `" M db/x.sql"` → `db/x.sql (modified)`; porcelain v1 is `XY PATH`
/// with X the index and Y the work tree.
pub(super) fn describe_status(line: &str) -> String {
    let bytes = line.as_bytes();
    let (index, tree) = (
        bytes.first().copied().unwrap_or(b' '),
        bytes.get(1).copied().unwrap_or(b' '),
    );
    let path = line.get(3..).unwrap_or(line).trim();
    let what = match (index, tree) {
        (b'?', b'?') => "untracked",
        (b'U', _) | (_, b'U') => "conflicted",
        (_, b'D') | (b'D', _) => "deleted",
        (b' ', _) => "modified",
        _ => "staged",
    };
    format!("{path} ({what})")
}

pub(super) fn listed(items: &[String]) -> String {
    let mut text = items
        .iter()
        .take(LISTED)
        .map(|item| format!("`{item}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > LISTED {
        let _ = write!(text, " and {} more", items.len() - LISTED);
    }
    text
}

/// `*` matches any run of characters; everything else literally.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (index, part) in parts.iter().enumerate() {
        if index == 0 {
            let Some(stripped) = rest.strip_prefix(part) else {
                return false;
            };
            rest = stripped;
        } else if index == parts.len() - 1 {
            return rest.ends_with(part);
        } else if let Some(at) = rest.find(part) {
            rest = &rest[at + part.len()..];
        } else {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_branch_patterns() {
        assert!(glob("main", "main"));
        assert!(!glob("main", "main2"));
        assert!(glob("release/*", "release/1.2"));
        assert!(!glob("release/*", "hotfix/1.2"));
        assert!(glob("*-stable", "v1-stable"));
        assert!(glob("a*b*c", "axxbyyc"));
    }
}
