//! Turns the parsed [`ConfigFile`] into a validated [`Config`]: selects the
//! environment, resolves `${VAR}`, applies defaults and checks what serde
//! cannot (unique names, URLs, JSON paths, cross-references).

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json_path::JsonPath;
use toml::Spanned;
use url::Url;

use super::file::{
    ConfigFile, EnvironmentFile, ExpectFile, ProviderKind, RollbackTrigger, SmokeCheckFile,
};
use super::model::{
    BackupMode, CheckTarget, CommandGate, Config, DatabaseUrl, Environment, Expectations,
    HttpMethod, JsonEquality, LayoutSetting, MigrateConfig, ProviderConfig, ReleasesConfig,
    RequestBody, RollbackConfig, SmokeCheck, SmokeConfig,
};
use super::secret::{self, Masked, Redactor, ResolveFailure};
use super::{ConfigError, DatabasePolicy};
use crate::diagnostic::{SourceLocation, suggest};

const DEFAULT_READY_WITHIN: Duration = Duration::from_secs(60);
const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_CONCURRENCY: usize = 8;
const DEFAULT_GATE_TIMEOUT: Duration = Duration::from_secs(600);
const DEFAULT_RESTART_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_RELEASES_KEPT: usize = 5;
const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(600);
const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(60);
const DEFAULT_RETRIES: u32 = 3;

/// Providers users ask for that this build does not have yet.
const PLANNED_PROVIDERS: [&str; 3] = ["vercel", "railway", "command"];

pub(super) fn from_source(
    path: &Path,
    source: &str,
    environment: Option<&str>,
    lookup: &dyn Fn(&str) -> Option<String>,
    redactor: &Redactor,
) -> Result<Config, ConfigError> {
    let file: ConfigFile =
        toml::from_str(source).map_err(|error| parse_error(path, source, &error))?;
    let base_dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let base_dir = std::path::absolute(base_dir).unwrap_or_else(|_| base_dir.to_owned());
    let resolver = Resolver {
        path,
        source,
        lookup,
        redactor: redactor.clone(),
        base_dir,
    };

    let (name, environment_file) = select_environment(path, &file, environment)?;
    let environment = resolver.environment(name, environment_file)?;
    let gates = resolver.gates(&file)?;
    let smoke = resolver.smoke(&file)?;
    let migrate = MigrateConfig {
        dir: resolver.join(file.migrate.dir.as_deref().unwrap_or("migrations")),
        backup: file.migrate.backup.unwrap_or(BackupMode::Auto),
        backup_dir: resolver.join(
            file.migrate
                .backup_dir
                .as_deref()
                .unwrap_or(".shipgate/backups"),
        ),
        keep_backups: file.migrate.keep_backups,
        lock_timeout: file
            .migrate
            .lock_timeout
            .map_or(DEFAULT_LOCK_TIMEOUT, |duration| duration.0),
        statement_timeout: file
            .migrate
            .statement_timeout
            .map_or(DEFAULT_STATEMENT_TIMEOUT, |duration| duration.0),
        lock_wait: file
            .migrate
            .lock_wait
            .map_or(DEFAULT_LOCK_WAIT, |duration| duration.0),
        retries: file.migrate.retries.unwrap_or(DEFAULT_RETRIES),
        layout: file.migrate.layout.unwrap_or(LayoutSetting::Auto),
        include_all: false,
    };
    let rollback = RollbackConfig {
        on: file
            .rollback
            .on
            .clone()
            .unwrap_or_else(|| vec![RollbackTrigger::Deploy, RollbackTrigger::Smoke]),
        database: file.rollback.database.unwrap_or(DatabasePolicy::Auto),
    };
    Ok(Config {
        path: path.to_owned(),
        base_dir: resolver.base_dir.clone(),
        environment,
        gates,
        migrate,
        smoke,
        rollback,
        redactor: resolver.redactor,
    })
}

fn select_environment<'f>(
    path: &Path,
    file: &'f ConfigFile,
    requested: Option<&str>,
) -> Result<(&'f str, &'f EnvironmentFile), ConfigError> {
    let defined: Vec<String> = file.environments.keys().cloned().collect();
    let name = match requested {
        Some(name) => name,
        None if defined.is_empty() => {
            return Err(ConfigError::NoEnvironment {
                path: path.to_owned(),
            });
        }
        None if defined.len() == 1 => file.environments.keys().next().map_or("", String::as_str),
        None if file.environments.contains_key("production") => "production",
        None => {
            return Err(ConfigError::AmbiguousEnvironment {
                path: path.to_owned(),
                defined,
            });
        }
    };
    file.environments
        .get_key_value(name)
        .map(|(name, environment)| (name.as_str(), environment.get_ref()))
        .ok_or_else(|| ConfigError::UnknownEnvironment {
            path: path.to_owned(),
            name: name.to_owned(),
            defined,
        })
}

struct Resolver<'a> {
    path: &'a Path,
    source: &'a str,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    redactor: Redactor,
    base_dir: PathBuf,
}

impl Resolver<'_> {
    fn invalid(&self, span: Range<usize>, message: String, hint: Option<String>) -> ConfigError {
        ConfigError::Invalid {
            location: SourceLocation::from_span(self.path, self.source, span.start, span.end),
            message,
            hint,
        }
    }

    /// Resolves `${VAR}` in a string value; `key` names it in errors.
    fn text(&self, value: &Spanned<String>, key: &str) -> Result<String, ConfigError> {
        secret::resolve(value.get_ref(), self.lookup, &self.redactor).map_err(|failure| {
            let span = value.span();
            // +1 skips the opening quote; exact for values without escapes.
            let at = |offset: usize| span.start + 1 + offset;
            match failure {
                ResolveFailure::Unset(reference) => self.invalid(
                    at(reference.offset)..at(reference.offset) + reference.name.len() + 3,
                    format!(
                        "environment variable `{}` is not set (or is empty), for key `{key}`",
                        reference.name
                    ),
                    Some(format!(
                        "export `{}` before running shipgate (in a workflow: pass it through `env:` from a secret)",
                        reference.name
                    )),
                ),
                ResolveFailure::Malformed { offset, text } => self.invalid(
                    at(offset)..at(offset) + text.len(),
                    format!("malformed variable reference `{text}`, for key `{key}`"),
                    Some("write `${NAME}` with a name of letters, digits and `_`, or `$$` for a literal `$`".to_owned()),
                ),
            }
        })
    }

    fn url(&self, value: &Spanned<String>, key: &str) -> Result<Url, ConfigError> {
        let text = self.text(value, key)?;
        let shown = self.redactor.redact(&text);
        match Url::parse(&text) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(url),
            Ok(url) => Err(self.invalid(
                value.span(),
                format!(
                    "invalid URL `{shown}` for key `{key}`: scheme `{}` is not http or https",
                    url.scheme()
                ),
                Some("write an absolute URL like `https://app.example.com`".to_owned()),
            )),
            Err(error) => Err(self.invalid(
                value.span(),
                format!("invalid URL `{shown}` for key `{key}`: {error}"),
                Some("write an absolute URL like `https://app.example.com`".to_owned()),
            )),
        }
    }

    fn join(&self, relative: &str) -> PathBuf {
        self.base_dir.join(relative)
    }

    fn environment(&self, name: &str, file: &EnvironmentFile) -> Result<Environment, ConfigError> {
        let key = |field: &str| format!("environments.{name}.{field}");
        let url = file
            .url
            .as_ref()
            .map(|url| self.url(url, &key("url")))
            .transpose()?;
        let database = file
            .database
            .as_ref()
            .map(|database| self.database(database, &key("database")))
            .transpose()?;
        let direct_database = file
            .direct_url
            .as_ref()
            .map(|database| self.database(database, &key("direct_url")))
            .transpose()?;
        let kind = file.provider.as_ref().map(|kind| *kind.get_ref());
        let provider = match (kind, &file.releases) {
            (Some(ProviderKind::Releases) | None, Some(releases)) => {
                let releases = releases.get_ref();
                ProviderConfig::Releases(ReleasesConfig {
                    root: self.join(&self.text(&releases.root, &key("releases.root"))?),
                    source: releases
                        .source
                        .as_ref()
                        .map(|source| self.text(source, &key("releases.source")))
                        .transpose()?
                        .map(|source| self.join(&source)),
                    restart: releases
                        .restart
                        .as_ref()
                        .map(|restart| restart.get_ref().clone()),
                    restart_timeout: releases
                        .restart_timeout
                        .map_or(DEFAULT_RESTART_TIMEOUT, |duration| duration.0),
                    keep: releases.keep.unwrap_or(DEFAULT_RELEASES_KEPT).max(2),
                })
            }
            (Some(ProviderKind::Releases), None) => {
                let span = file.provider.as_ref().map_or(0..0, Spanned::span);
                return Err(self.invalid(
                    span,
                    format!("provider `releases` needs an `[environments.{name}.releases]` table"),
                    Some(format!(
                        "add `[environments.{name}.releases]` with `root = \"/srv/app\"` (and optionally `source` and `restart`)"
                    )),
                ));
            }
            (Some(ProviderKind::None), Some(releases)) => {
                return Err(self.invalid(
                    releases.span(),
                    format!("`environments.{name}.releases` is set but `provider = \"none\"`"),
                    Some("remove `provider = \"none\"` or the `releases` table".to_owned()),
                ));
            }
            (Some(ProviderKind::None) | None, None) => ProviderConfig::None,
        };
        Ok(Environment {
            name: name.to_owned(),
            url,
            database,
            direct_database,
            provider,
        })
    }

    fn database(&self, value: &Spanned<String>, key: &str) -> Result<DatabaseUrl, ConfigError> {
        let text = self.text(value, key)?;
        if let Some(path) = text.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(self.invalid(
                    value.span(),
                    format!("`sqlite://` needs a file path, for key `{key}`"),
                    Some("write `sqlite://data/app.db` (relative to the config file) or `sqlite:///abs/path.db`".to_owned()),
                ));
            }
            let path = path.split_once('?').map_or(path, |(path, _)| path);
            let url = Masked::new(text.clone(), &self.redactor);
            return Ok(DatabaseUrl::Sqlite {
                path: self.join(path),
                url,
            });
        }
        let scheme = text.split_once("://").map_or("", |(scheme, _)| scheme);
        if matches!(scheme, "postgres" | "postgresql") {
            if let Err(error) = url::Url::parse(&text) {
                return Err(self.invalid(
                    value.span(),
                    format!("invalid PostgreSQL URL for key `{key}`: {error}"),
                    Some("write `postgres://USER:PASSWORD@HOST:5432/DATABASE?sslmode=require` (percent-encode special characters in the password)".to_owned()),
                ));
            }
            return Ok(DatabaseUrl::Postgres {
                url: Masked::new(text, &self.redactor),
            });
        }
        let (message, hint) = (
            format!("unsupported database URL scheme `{scheme}`, for key `{key}`"),
            "write `sqlite://PATH` or `postgres://USER@HOST:5432/DATABASE`".to_owned(),
        );
        Err(self.invalid(value.span(), message, Some(hint)))
    }

    fn gates(&self, file: &ConfigFile) -> Result<Vec<CommandGate>, ConfigError> {
        let mut seen = UniqueNames::new("gate", "[[gate.command]]");
        file.gate
            .command
            .iter()
            .map(|gate| {
                seen.insert(self, &gate.name)?;
                if gate.run.get_ref().trim().is_empty() {
                    return Err(self.invalid(
                        gate.run.span(),
                        format!("gate `{}` has an empty `run` command", gate.name.get_ref()),
                        Some(
                            "write the shell command to run, e.g. `run = \"npm test\"`".to_owned(),
                        ),
                    ));
                }
                Ok(CommandGate {
                    name: gate.name.get_ref().clone(),
                    run: gate.run.get_ref().clone(),
                    timeout: gate
                        .timeout
                        .map_or(DEFAULT_GATE_TIMEOUT, |timeout| timeout.0),
                })
            })
            .collect()
    }

    fn smoke(&self, file: &ConfigFile) -> Result<SmokeConfig, ConfigError> {
        let smoke = &file.smoke;
        let concurrency = match &smoke.concurrency {
            Some(value) if *value.get_ref() == 0 => {
                return Err(self.invalid(
                    value.span(),
                    "`smoke.concurrency` must be at least 1".to_owned(),
                    Some("set `concurrency = 8` or remove the key for the default".to_owned()),
                ));
            }
            Some(value) => *value.get_ref(),
            None => DEFAULT_CONCURRENCY,
        };
        let default_timeout = smoke
            .timeout
            .map_or(DEFAULT_CHECK_TIMEOUT, |timeout| timeout.0);
        let mut seen = UniqueNames::new("smoke check", "[[smoke.check]]");
        let checks = smoke
            .check
            .iter()
            .map(|check| {
                seen.insert(self, &check.name)?;
                self.smoke_check(check, default_timeout)
            })
            .collect::<Result<_, _>>()?;
        Ok(SmokeConfig {
            ready_within: smoke
                .ready_within
                .map_or(DEFAULT_READY_WITHIN, |duration| duration.0),
            concurrency,
            checks,
        })
    }

    fn smoke_check(
        &self,
        check: &SmokeCheckFile,
        default_timeout: Duration,
    ) -> Result<SmokeCheck, ConfigError> {
        let name = check.name.get_ref();
        let key = |field: &str| format!("smoke.check `{name}` {field}");
        let method = match &check.method {
            None => HttpMethod::Get,
            Some(method) => HttpMethod::parse(method.get_ref()).ok_or_else(|| {
                self.invalid(
                    method.span(),
                    format!(
                        "unknown HTTP method `{}`, for key `{}`",
                        method.get_ref(),
                        key("method")
                    ),
                    Some(
                        "use one of `GET`, `HEAD`, `POST`, `PUT`, `PATCH`, `DELETE`, `OPTIONS`"
                            .to_owned(),
                    ),
                )
            })?,
        };
        let target = match (&check.path, &check.url) {
            (Some(path), None) => {
                let resolved = self.text(path, &key("path"))?;
                if !resolved.starts_with('/') {
                    return Err(self.invalid(
                        path.span(),
                        format!(
                            "`path` must start with `/`, got `{}`, for check `{name}`",
                            self.redactor.redact(&resolved)
                        ),
                        Some(format!(
                            "write `path = \"/{resolved}\"`, or use `url` for an absolute URL"
                        )),
                    ));
                }
                CheckTarget::Path(resolved)
            }
            (None, Some(url)) => {
                let url = self.url(url, &key("url"))?;
                CheckTarget::Url(Masked::new(url.to_string(), &self.redactor))
            }
            (Some(path), Some(_)) => {
                return Err(self.invalid(
                    path.span(),
                    format!("check `{name}` sets both `path` and `url`"),
                    Some(
                        "keep one: `path` joins the environment's `url`, `url` is absolute"
                            .to_owned(),
                    ),
                ));
            }
            (None, None) => {
                return Err(self.invalid(
                    check.name.span(),
                    format!("check `{name}` has neither `path` nor `url`"),
                    Some("add `path = \"/api/health\"` or `url = \"https://…\"`".to_owned()),
                ));
            }
        };
        let headers = check
            .headers
            .iter()
            .map(|(header, value)| {
                let resolved = self.text(value, &key(&format!("headers.{header}")))?;
                Ok((header.clone(), Masked::new(resolved, &self.redactor)))
            })
            .collect::<Result<_, ConfigError>>()?;
        let body = match (&check.body, &check.json) {
            (Some(body), None) => Some(RequestBody::Text(self.text(body, &key("body"))?)),
            (None, Some(json)) => Some(RequestBody::Json(toml_to_json(json))),
            (None, None) => None,
            (Some(body), Some(_)) => {
                return Err(self.invalid(
                    body.span(),
                    format!("check `{name}` sets both `body` and `json`"),
                    Some(
                        "keep one: `json` sends `application/json`, `body` sends text as is"
                            .to_owned(),
                    ),
                ));
            }
        };
        let expect = match &check.expect {
            Some(expect) => self.expectations(expect, name)?,
            None => Expectations {
                status: 200,
                json: Vec::new(),
            },
        };
        Ok(SmokeCheck {
            name: name.clone(),
            method,
            target,
            headers,
            body,
            timeout: check.timeout.map_or(default_timeout, |timeout| timeout.0),
            expect,
        })
    }

    fn expectations(
        &self,
        expect: &Spanned<ExpectFile>,
        name: &str,
    ) -> Result<Expectations, ConfigError> {
        let file = expect.get_ref();
        let status = file.status.unwrap_or(200);
        if !(100..=599).contains(&status) {
            return Err(self.invalid(
                expect.span(),
                format!("check `{name}` expects status {status}, which is not an HTTP status"),
                Some("use a status between 100 and 599, e.g. `status = 200`".to_owned()),
            ));
        }
        let json = file
            .json
            .iter()
            .map(|(path_text, expected)| {
                let path = JsonPath::parse(path_text).map_err(|error| {
                    self.invalid(
                        expect.span(),
                        format!("invalid JSONPath `{path_text}` in check `{name}`: {error}"),
                        Some("write an RFC 9535 path starting with `$`, e.g. `\"$.status\"` or `\"$.items[0].id\"`".to_owned()),
                    )
                })?;
                Ok(JsonEquality { path_text: path_text.clone(), path, expected: toml_to_json(expected) })
            })
            .collect::<Result<_, ConfigError>>()?;
        Ok(Expectations { status, json })
    }
}

/// Tracks names within one list so a duplicate points at both places.
struct UniqueNames {
    what: &'static str,
    table: &'static str,
    seen: HashMap<String, Range<usize>>,
}

impl UniqueNames {
    fn new(what: &'static str, table: &'static str) -> Self {
        Self {
            what,
            table,
            seen: HashMap::new(),
        }
    }

    fn insert(
        &mut self,
        resolver: &Resolver<'_>,
        name: &Spanned<String>,
    ) -> Result<(), ConfigError> {
        if let Some(first) = self.seen.get(name.get_ref()) {
            let first =
                SourceLocation::from_span(resolver.path, resolver.source, first.start, first.end);
            return Err(resolver.invalid(
                name.span(),
                format!(
                    "duplicate {} name `{}`: it is already used at line {}",
                    self.what,
                    name.get_ref(),
                    first.line
                ),
                Some(format!("give each `{}` a unique `name`", self.table)),
            ));
        }
        self.seen.insert(name.get_ref().clone(), name.span());
        Ok(())
    }
}

fn toml_to_json(value: &toml::Value) -> serde_json::Value {
    match value {
        toml::Value::String(text) => serde_json::Value::String(text.clone()),
        toml::Value::Integer(number) => serde_json::Value::from(*number),
        toml::Value::Float(number) => serde_json::Number::from_f64(*number)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        toml::Value::Boolean(flag) => serde_json::Value::Bool(*flag),
        toml::Value::Datetime(datetime) => serde_json::Value::String(datetime.to_string()),
        toml::Value::Array(items) => items.iter().map(toml_to_json).collect(),
        toml::Value::Table(table) => serde_json::Value::Object(
            table
                .iter()
                .map(|(key, value)| (key.clone(), toml_to_json(value)))
                .collect(),
        ),
    }
}

/// Converts a TOML parse error into [`ConfigError::Invalid`], naming the key
/// and adding "did you mean" for unknown keys and values.
fn parse_error(path: &Path, source: &str, error: &toml::de::Error) -> ConfigError {
    let span = error.span().unwrap_or(0..0);
    let location = SourceLocation::from_span(path, source, span.start, span.end);
    let message = error.message().trim().to_owned();
    let hint = unknown_name_hint(&message).or_else(|| invalid_type_hint(&message));
    let message = if message.starts_with("unknown field") {
        match table_at(source, span.start) {
            Some(table) => format!("{message}, in table `[{table}]`"),
            None => format!("{message}, at the top level"),
        }
    } else {
        match key_at(source, span.start) {
            Some(key) if !message.contains(&format!("`{key}`")) => {
                format!("{message}, for key `{key}`")
            }
            _ => message,
        }
    };
    ConfigError::Invalid {
        location,
        message,
        hint,
    }
}

/// Turns serde's "unknown field" or "unknown variant" message into a hint:
/// "did you mean" when a name is close, else the list of valid names.
fn unknown_name_hint(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("unknown field ")
        .or_else(|| message.strip_prefix("unknown variant "))?;
    let mut names = rest.split('`').skip(1).step_by(2);
    let unknown = names.next()?;
    let expected: Vec<&str> = names.collect();
    if PLANNED_PROVIDERS.contains(&unknown) && expected.contains(&"releases") {
        return Some(format!(
            "the `{unknown}` provider is not built yet; this version has `releases` and `none` (see the README's status)"
        ));
    }
    if let Some(close) = suggest(unknown, expected.iter().copied()) {
        return Some(format!("did you mean `{close}`?"));
    }
    if expected.is_empty() {
        return Some(format!("remove `{unknown}`"));
    }
    let expected: Vec<String> = expected.iter().map(|name| format!("`{name}`")).collect();
    Some(format!("use one of {}", expected.join(", ")))
}

/// `invalid type: string "8", expected usize` → how to write the value.
fn invalid_type_hint(message: &str) -> Option<String> {
    let expected = message
        .strip_prefix("invalid type: ")?
        .split(", expected ")
        .nth(1)?;
    Some(match expected {
        "usize" | "u16" | "u32" | "u64" | "i64" => {
            "write a whole number without quotes, e.g. `8`".to_owned()
        }
        "a boolean" => "write `true` or `false` without quotes".to_owned(),
        "a string" => "quote the value, e.g. `\"90s\"`".to_owned(),
        "a sequence" => "write a list, e.g. `[\"deploy\", \"smoke\"]`".to_owned(),
        other => format!("write {other}"),
    })
}

/// The nearest table header at or above `offset`.
fn table_at(source: &str, offset: usize) -> Option<String> {
    let offset = offset.min(source.len());
    let line_end = source[offset..]
        .find('\n')
        .map_or(source.len(), |i| offset + i);
    source[..line_end]
        .lines()
        .rev()
        .map(str::trim)
        .find(|text| text.starts_with('['))
        .map(|text| {
            text.trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_owned()
        })
}

/// The dotted key whose key or value starts at `offset`, from the nearest
/// table header above it and the text before `=` on its line.
fn key_at(source: &str, offset: usize) -> Option<String> {
    let offset = offset.min(source.len());
    let line_start = source[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[offset..]
        .find('\n')
        .map_or(source.len(), |i| offset + i);
    let line = &source[line_start..line_end];
    let header = source[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|text| text.starts_with('['))
        .map(|text| {
            text.trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_owned()
        });
    let trimmed = line.trim_start();
    if trimmed.starts_with('[') {
        return Some(
            trimmed
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_owned(),
        );
    }
    let leaf = match line.find('=') {
        Some(equals) if line_start + equals < offset => line[..equals].trim().to_owned(),
        _ => line[offset - line_start..]
            .split(|c: char| c == '=' || c.is_whitespace())
            .next()
            .unwrap_or_default()
            .to_owned(),
    };
    if leaf.is_empty() {
        return header;
    }
    Some(match header {
        Some(header) => format!("{header}.{leaf}"),
        None => leaf,
    })
}
