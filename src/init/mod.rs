//! `shipgate init`: look at the repository, write a commented `shipgate.toml`
//! filled with what was found and the three caller workflows, and say what
//! is left to fill in. Never overwrites a file without `--force`.

mod detect;
mod render;

use std::path::{Path, PathBuf};

use crate::diagnostic::Diagnostic;
use crate::exit::ExitStatus;
use crate::report::{Check, Phase, PhaseName, Report, Status};

/// Why `init` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// Files it would write already exist.
    #[error("refusing to overwrite {}", crate::diagnostic::backticked(existing))]
    WouldOverwrite {
        /// The existing files, relative to the repository.
        existing: Vec<String>,
    },
    /// Writing a file failed.
    #[error("failed to write `{}`", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
}

impl Diagnostic for InitError {
    fn hint(&self) -> Option<String> {
        match self {
            Self::WouldOverwrite { .. } => Some(
                "pass `--force` to replace them, or `--dry-run` to print what would be written"
                    .to_owned(),
            ),
            Self::Write { .. } => None,
        }
    }
}

impl InitError {
    /// The exit status this error ends the process with.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Self::WouldOverwrite { .. } => ExitStatus::Usage,
            Self::Write { .. } => ExitStatus::Infrastructure,
        }
    }
}

/// `shipgate init` in `root`, writing `config` (relative to `root`).
pub fn execute(
    root: &Path,
    config: &Path,
    force: bool,
    dry_run: bool,
) -> Result<Report, InitError> {
    let stack = detect::detect(root);
    let rendered = render::render(&stack);
    let mut files: Vec<(PathBuf, &str)> = vec![(config.to_owned(), rendered.config.as_str())];
    files.extend(
        rendered
            .workflows
            .iter()
            .map(|(path, text)| (PathBuf::from(path), text.as_str())),
    );
    let existing: Vec<String> = files
        .iter()
        .filter(|(path, _)| root.join(path).exists())
        .map(|(path, _)| path.display().to_string())
        .collect();
    if !existing.is_empty() && !force && !dry_run {
        return Err(InitError::WouldOverwrite { existing });
    }
    let mut checks: Vec<Check> = rendered
        .detected
        .iter()
        .map(|found| Check::pass("detected").detail(found.clone()))
        .collect();
    if rendered.detected.is_empty() {
        checks.push(Check::new("detected", Status::Warn).detail(
            "no migrations, platform or package scripts recognised: wrote a commented skeleton",
        ));
    }
    for (path, text) in &files {
        let target = root.join(path);
        if dry_run {
            checks.push(
                Check::new(format!("write {}", path.display()), Status::Skip)
                    .detail("would write it (--dry-run)")
                    .log((*text).to_owned()),
            );
            continue;
        }
        if let Some(parent) = target.parent() {
            fs_err::create_dir_all(parent).map_err(|source| InitError::Write {
                path: target.clone(),
                source,
            })?;
        }
        fs_err::write(&target, text).map_err(|source| InitError::Write {
            path: target.clone(),
            source,
        })?;
        checks.push(
            Check::pass(format!("write {}", path.display()))
                .artifact("file", path.display().to_string()),
        );
    }
    for item in &rendered.todo {
        checks.push(Check::new("to do", Status::Warn).detail(item.clone()));
    }
    let mut report = Report::new("init", None, dry_run);
    report.push(Phase::new(
        PhaseName::Config,
        checks,
        std::time::Duration::ZERO,
    ));
    Ok(report)
}
