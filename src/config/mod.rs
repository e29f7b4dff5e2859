//! `shipgate.toml` → a validated [`Config`] for one environment.
//!
//! Parsing keeps spans, so every error points at `file:line:column` with the
//! key, what was expected and a hint. `${VAR}` references are resolved here,
//! from the environment, for the selected environment and the shared sections
//! only, and every resolved value is registered with the [`Redactor`].

pub(crate) mod assertion;
mod backup_url;
mod duration;
mod file;
mod model;
#[cfg(test)]
mod properties;
mod resolve;
pub mod secret;
pub mod template;
pub mod time_template;

use std::path::{Path, PathBuf};

pub use assertion::status_class;
pub use duration::{ConfigDuration, deadline_after};
pub use model::*;
pub use secret::{Masked, Redactor};

#[cfg(test)]
pub(crate) use resolve::parse_weekly_window;

use crate::diagnostic::{Diagnostic, SourceLocation, backticked, suggest};

/// Why the config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("failed to read config file `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not UTF-8 text (TOML must be).
    #[error("config file `{}` is not UTF-8 text: line {line} holds a byte sequence that is not UTF-8", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// The 1-based line of the first invalid byte.
        line: usize,
    },
    /// A value or key is wrong; the location says where.
    #[error("{message}")]
    Invalid {
        /// Where.
        location: SourceLocation,
        /// What is wrong, naming the key and the value.
        message: String,
        /// How to fix it.
        hint: Option<String>,
    },
    /// `--env NAME` names an environment the file does not define.
    #[error("environment `{name}` is not defined in `{}`", path.display())]
    UnknownEnvironment {
        /// The file.
        path: PathBuf,
        /// The requested name.
        name: String,
        /// The names the file defines.
        defined: Vec<String>,
    },
    /// The file defines no environment at all.
    #[error("`{}` defines no environment", path.display())]
    NoEnvironment {
        /// The file.
        path: PathBuf,
    },
    /// Several environments, none named `production`, and no `--env`.
    #[error("`{}` defines several environments and none is named `production`", path.display())]
    AmbiguousEnvironment {
        /// The file.
        path: PathBuf,
        /// The names the file defines.
        defined: Vec<String>,
    },
}

impl Diagnostic for ConfigError {
    fn location(&self) -> Option<&SourceLocation> {
        match self {
            Self::Invalid { location, .. } => Some(location),
            _ => None,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            Self::Read { path, source } => Some(match source.kind() {
                std::io::ErrorKind::NotFound => format!(
                    "create `{}` (see the README's config reference) or pass another file with `--config PATH`",
                    path.display()
                ),
                std::io::ErrorKind::IsADirectory => format!(
                    "`{}` is a directory: pass the config file inside it with `--config PATH`",
                    path.display()
                ),
                _ => format!(
                    "check that `{}` is a readable file, or pass another with `--config PATH`",
                    path.display()
                ),
            }),
            Self::NotUtf8 { path, .. } => Some(format!(
                "save `{}` as UTF-8 (e.g. `iconv -f LATIN1 -t UTF-8`), or pass the right file with `--config PATH`",
                path.display()
            )),
            Self::Invalid { hint, .. } => hint.clone(),
            Self::UnknownEnvironment { name, defined, .. } => {
                let list = backticked(defined);
                Some(match suggest(name, defined.iter().map(String::as_str)) {
                    Some(close) => format!("did you mean `--env {close}`? defined: {list}"),
                    None if defined.is_empty() => {
                        "add an `[environments.NAME]` section".to_owned()
                    }
                    None => format!("pass one of {list} with `--env NAME`"),
                })
            }
            Self::NoEnvironment { .. } => Some(
                "add one, e.g. `[environments.production]` with `url = \"https://app.example.com\"`"
                    .to_owned(),
            ),
            Self::AmbiguousEnvironment { defined, .. } => Some(format!(
                "choose one of {} with `--env NAME` or `SHIPGATE_ENV`",
                backticked(defined)
            )),
        }
    }
}

/// Reads and validates `path` for environment `environment` (default: the
/// only one, else `production`), resolving `${VAR}` through `lookup` and
/// registering every resolved value with `redactor`.
pub fn load(
    path: &Path,
    environment: Option<&str>,
    lookup: &dyn Fn(&str) -> Option<String>,
    redactor: &Redactor,
) -> Result<Config, ConfigError> {
    #[expect(
        clippy::disallowed_methods,
        reason = "the error it returns names the path; fs-err would name it twice"
    )]
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let source = String::from_utf8(bytes).map_err(|error| {
        let valid = error.utf8_error().valid_up_to();
        ConfigError::NotUtf8 {
            path: path.to_owned(),
            line: error.as_bytes()[..valid]
                .split(|&byte| byte == b'\n')
                .count(),
        }
    })?;
    resolve::from_source(path, &source, environment, lookup, redactor)
}
