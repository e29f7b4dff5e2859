//! Turns the parsed [`ConfigFile`] into a validated [`Config`]: selects the
//! environment, resolves `${VAR}`, applies defaults and checks what serde
//! cannot (unique names, URLs, JSON paths, cross-references).

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json_path::JsonPath;
use toml::Spanned;
use url::Url;

use super::assertion::{self, Assertion, Capture, Operand};
use super::file::{
    ConfigFile, EnvironmentFile, ExpectFile, MigrateFile, RollbackTrigger, SmokeCheckFile,
    WatchFile,
};
use super::model::{
    BackupMode, BackupUrl, CheckTarget, Config, DatabaseUrl, DeploymentSettings, Environment,
    Eventually, Expectations, HttpMethod, LayoutSetting, LintConfig, MigrateConfig, Redirects,
    RemoteBackupConfig, RequestBody, RollbackConfig, RuleLevel, SmokeCheck, SmokeConfig,
    WatchConfig,
};
use super::secret::{self, Masked, Redactor, ResolveFailure};
use super::template;
use super::{ConfigError, DatabasePolicy};
use crate::diagnostic::{SourceLocation, suggest};
use crate::env;

mod gates;
mod notify;
mod providers;
mod watch;

/// The `${NAME}` references in the user info of URL template `template`
/// (between `://` and the `@` that ends the user info).
fn userinfo_references(template: &str) -> Vec<&str> {
    let Some((_, rest)) = template.split_once("://") else {
        return Vec::new();
    };
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let Some(at) = authority.rfind('@') else {
        return Vec::new();
    };
    let mut names = Vec::new();
    let mut remaining = &authority[..at];
    while let Some(open) = remaining.find("${") {
        let after = &remaining[open + 2..];
        let Some(close) = after.find('}') else {
            break;
        };
        names.push(&after[..close]);
        remaining = &after[close + 1..];
    }
    names
}

/// Whether `text` may stand in a URL's user info as it is: no character
/// that ends it (`@ / ? # [ ]`), no blank, and every `%` starts an escape.
fn is_encoded_userinfo(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().all(|(index, &byte)| match byte {
        b'@' | b'/' | b'?' | b'#' | b'[' | b']' => false,
        b'%' => bytes
            .get(index + 1..index + 3)
            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)),
        _ => !byte.is_ascii_whitespace() && !byte.is_ascii_control(),
    })
}

#[cfg(test)]
pub(crate) use gates::parse_weekly as parse_weekly_window;

const DEFAULT_READY_WITHIN: Duration = Duration::from_secs(60);
const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_CONCURRENCY: usize = 8;
const DEFAULT_MAX_REDIRECTS: usize = 10;
const DEFAULT_EVENTUALLY_EVERY: Duration = Duration::from_secs(2);
const DEFAULT_WATCH_FOR: Duration = Duration::from_secs(600);
const DEFAULT_WATCH_INTERVAL: Duration = Duration::from_secs(30);
/// Argo Rollouts' default for `consecutiveErrorLimit`.
const DEFAULT_CONSECUTIVE_ERROR_LIMIT: u32 = 4;
const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(600);
const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(60);
const DEFAULT_RETRIES: u32 = 3;
const DEFAULT_BACKUP_RETENTION: usize = 10;
/// Per network operation on the backup bucket: generous for a large dump on
/// a slow link, yet a hung connection never stalls a deploy for long.
const DEFAULT_BACKUP_TIMEOUT: Duration = Duration::from_secs(15 * 60);

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
    let gate_concurrency = resolver.gate_concurrency(&file)?;
    let smoke = resolver.smoke(&file)?;
    let watch = file
        .watch
        .as_ref()
        .map(|watch| resolver.watch(watch, &smoke))
        .transpose()?;
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
        remote: resolver.remote_backup(&file.migrate)?,
        lint: resolver.lint(&file.migrate.lint)?,
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
        on: file.rollback.on.clone().unwrap_or_else(|| {
            vec![
                RollbackTrigger::Deploy,
                RollbackTrigger::Smoke,
                RollbackTrigger::Watch,
            ]
        }),
        database: file.rollback.database.unwrap_or(DatabasePolicy::Auto),
    };
    let deploy_hooks = resolver.deploy_hooks(&file.deploy)?;
    let notify = resolver.notify(&file.notify)?;
    Ok(Config {
        path: path.to_owned(),
        base_dir: resolver.base_dir.clone(),
        environment,
        gates,
        gate_concurrency,
        migrate,
        smoke,
        watch,
        rollback,
        deploy_hooks,
        notify,
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
    /// `[migrate.lint]`: rule ids with `error`, `warning` or `off`. Whether
    /// an id names a rule is for `migrate::lint` to say (config knows no
    /// rules), so each id keeps where it was written.
    fn lint(
        &self,
        table: &BTreeMap<Spanned<String>, Spanned<String>>,
    ) -> Result<LintConfig, ConfigError> {
        let mut rules = BTreeMap::new();
        let mut locations = BTreeMap::new();
        for (id, level) in table {
            let span = id.span();
            locations.insert(
                id.get_ref().clone(),
                SourceLocation::from_span(self.path, self.source, span.start, span.end),
            );
            let parsed = match level.get_ref().as_str() {
                "error" => RuleLevel::Error,
                "warning" => RuleLevel::Warning,
                "off" => RuleLevel::Off,
                other => {
                    return Err(self.invalid(
                        level.span(),
                        format!("invalid level `{other}` for lint rule `{}`", id.get_ref()),
                        Some("use `\"error\"`, `\"warning\"` or `\"off\"`".to_owned()),
                    ));
                }
            };
            rules.insert(id.get_ref().clone(), parsed);
        }
        Ok(LintConfig { rules, locations })
    }

    /// `backup_to`, `backup_endpoint`, `backup_recipient`, `backup_retention`
    /// and `backup_timeout` (issue 11, item 6). Also registers the secrets
    /// uploading and restoring read from the environment with the redactor,
    /// before any output is written.
    fn remote_backup(
        &self,
        migrate: &MigrateFile,
    ) -> Result<Option<RemoteBackupConfig>, ConfigError> {
        let Some(to) = &migrate.backup_to else {
            for (key, value) in [
                ("backup_endpoint", &migrate.backup_endpoint),
                ("backup_recipient", &migrate.backup_recipient),
            ] {
                if let Some(value) = value {
                    return Err(self.invalid(
                        value.span(),
                        format!("`{key}` is set but `backup_to` is not"),
                        Some("add `backup_to = \"s3://bucket/prefix\"` to `[migrate]`, or remove the key".to_owned()),
                    ));
                }
            }
            return Ok(None);
        };
        for name in [
            env::AWS_SECRET_ACCESS_KEY,
            env::AWS_SESSION_TOKEN,
            env::SHIPGATE_BACKUP_IDENTITY,
        ] {
            if let Some(value) = (self.lookup)(name) {
                self.redactor.register(value.trim());
            }
        }
        if migrate.backup == Some(BackupMode::None) {
            return Err(self.invalid(
                to.span(),
                "`backup_to` is set but `backup = \"none\"` takes no backup to upload".to_owned(),
                Some(
                    "remove `backup = \"none\"` to back up before migrating, or remove `backup_to`"
                        .to_owned(),
                ),
            ));
        }
        let text = self.text(to, "backup_to")?;
        let url = BackupUrl::parse(&text).map_err(|reason| {
            self.invalid(
                to.span(),
                format!(
                    "invalid `backup_to` `{}`: {reason}",
                    self.redactor.redact(&text)
                ),
                Some("write `s3://bucket` or `s3://bucket/prefix`, e.g. `backup_to = \"s3://acme-backups/shipgate\"`".to_owned()),
            )
        })?;
        let Some(recipient) = &migrate.backup_recipient else {
            return Err(self.invalid(
                to.span(),
                "`backup_to` is set but `backup_recipient` is not: backups are only uploaded encrypted".to_owned(),
                Some("make a key pair with `age-keygen -o backup.key`, put its public key in `[migrate]` as `backup_recipient = \"age1…\"`, and keep the private key as a secret for the rollback workflow".to_owned()),
            ));
        };
        let recipient_text = self.text(recipient, "backup_recipient")?;
        let recipient_key = recipient_text
            .trim()
            .parse::<age::x25519::Recipient>()
            .map_err(|reason| {
                let hint = if recipient_text.trim().starts_with("AGE-SECRET-KEY-") {
                    "this is a private key: never put it in the config; use the `public key: age1…` line `age-keygen` printed (or `age-keygen -y backup.key`), and rotate the private key"
                } else {
                    "use the public key `age-keygen` prints (`age1…`; `age-keygen -y backup.key` shows it again)"
                };
                self.invalid(
                    recipient.span(),
                    format!("`backup_recipient` is not an age X25519 public key: {reason}"),
                    Some(hint.to_owned()),
                )
            })?;
        let endpoint = migrate
            .backup_endpoint
            .as_ref()
            .map(|endpoint| self.url(endpoint, "backup_endpoint"))
            .transpose()?;
        let retention = match &migrate.backup_retention {
            None => DEFAULT_BACKUP_RETENTION,
            Some(value) => usize::try_from(*value.get_ref())
                .ok()
                .filter(|retention| *retention >= 1)
                .ok_or_else(|| {
                    self.invalid(
                        value.span(),
                        format!(
                            "`backup_retention` must be at least 1, got {}",
                            value.get_ref()
                        ),
                        Some(format!(
                            "keep at least the backup just uploaded, e.g. `backup_retention = {DEFAULT_BACKUP_RETENTION}`"
                        )),
                    )
                })?,
        };
        Ok(Some(RemoteBackupConfig {
            url,
            endpoint,
            recipient: recipient_key,
            retention,
            timeout: migrate
                .backup_timeout
                .map_or(DEFAULT_BACKUP_TIMEOUT, |duration| duration.0),
        }))
    }

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
        let shadow_database = file
            .shadow_database
            .as_ref()
            .map(|database| self.database(database, &key("shadow_database")))
            .transpose()?;
        let provider = self.provider(name, file)?;
        let mut deployments = DeploymentSettings::for_environment(name);
        if let Some(table) = &file.deployments {
            let table = table.get_ref();
            deployments.production = table.production.unwrap_or(deployments.production);
            deployments.transient = table.transient.unwrap_or(deployments.transient);
            for context in table.required_contexts.iter().flatten() {
                let text = self.text(context, &key("deployments.required_contexts"))?;
                if text.trim().is_empty() {
                    return Err(self.invalid(
                        context.span(),
                        format!(
                            "empty context in `{}`",
                            key("deployments.required_contexts")
                        ),
                        Some(
                            "name a commit status or check, e.g. `ci/build`, or remove the entry"
                                .to_owned(),
                        ),
                    ));
                }
                deployments.required_contexts.push(text);
            }
        }
        Ok(Environment {
            name: name.to_owned(),
            url,
            database,
            direct_database,
            shadow_database,
            provider,
            deployments,
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
            for name in userinfo_references(value.get_ref()) {
                let Some(resolved) = (self.lookup)(name) else {
                    continue;
                };
                if !is_encoded_userinfo(&resolved) {
                    // The value is a secret: say what is wrong, never which
                    // character (issue 10: a split URL quoted pieces of it).
                    let start = value.get_ref().find(&format!("${{{name}}}")).unwrap_or(0);
                    let span = value.span();
                    return Err(self.invalid(
                        span.start + 1 + start..span.start + 1 + start + name.len() + 3,
                        format!(
                            "the value of `${{{name}}}` in the user info of a PostgreSQL URL is not percent-encoded, for key `{key}`"
                        ),
                        Some(format!(
                            "percent-encode `{name}` (`@` as `%40`, `/` as `%2F`, `#` as `%23`, `?` as `%3F`, `%` as `%25`), or put the whole URL in one variable"
                        )),
                    ));
                }
            }
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
            .collect::<Result<Vec<_>, _>>()?;
        self.flows(&smoke.check, &checks)?;
        let max_error_rate = match &smoke.max_error_rate {
            Some(rate) if !(0.0..=1.0).contains(rate.get_ref()) => {
                return Err(self.invalid(
                    rate.span(),
                    format!(
                        "`smoke.max_error_rate` must be between 0.0 and 1.0, got {}",
                        rate.get_ref()
                    ),
                    Some("write a fraction, e.g. `max_error_rate = 0.1` for 10 %".to_owned()),
                ));
            }
            Some(rate) => *rate.get_ref(),
            None => 0.0,
        };
        let ca_file = smoke
            .ca_file
            .as_ref()
            .map(|path| {
                self.text(path, "smoke.ca_file")
                    .map(|path| self.join(&path))
            })
            .transpose()?;
        Ok(SmokeConfig {
            ready_within: smoke
                .ready_within
                .map_or(DEFAULT_READY_WITHIN, |duration| duration.0),
            concurrency,
            samples: smoke.samples.unwrap_or(0),
            max_error_rate,
            ca_file,
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
        let target = self.check_target(check)?;
        let masked_pairs = |pairs: &std::collections::BTreeMap<String, Spanned<String>>,
                            table: &str| {
            pairs
                .iter()
                .map(|(field, value)| {
                    let resolved = self.text(value, &key(&format!("{table}.{field}")))?;
                    Ok((field.clone(), Masked::new(resolved, &self.redactor)))
                })
                .collect::<Result<Vec<_>, ConfigError>>()
        };
        let headers = masked_pairs(&check.headers, "headers")?;
        let query = masked_pairs(&check.query, "query")?;
        let body = match (&check.body, &check.json) {
            (Some(body), None) => Some(RequestBody::Text(self.text(body, &key("body"))?)),
            (None, Some(json)) => Some(RequestBody::Json(
                self.json_body(toml_to_json(json), &check.name)?,
            )),
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
        if let Some(insecure) = check
            .insecure
            .as_ref()
            .filter(|insecure| *insecure.get_ref())
        {
            return Err(self.invalid(
                insecure.span(),
                format!("check `{name}` sets `insecure = true`, but shipgate never skips certificate checks"),
                Some("trust the server's CA with `ca_file = \"ca.pem\"` in `[smoke]`, or remove `insecure`".to_owned()),
            ));
        }
        let expect = self.expectations(check.expect.as_ref(), &check.assert, name)?;
        Ok(SmokeCheck {
            name: name.clone(),
            method,
            target,
            headers,
            query,
            redirects: Redirects {
                follow: check.follow_redirects.unwrap_or(false),
                max: check.max_redirects.unwrap_or(DEFAULT_MAX_REDIRECTS),
            },
            max_latency: check.max_latency.map(|latency| latency.0),
            flow: check.flow.as_ref().map(|flow| flow.get_ref().clone()),
            captures: self.captures(check)?,
            body,
            timeout: check.timeout.map_or(default_timeout, |timeout| timeout.0),
            expect,
            idempotent: check.idempotent.unwrap_or(false),
            eventually: self.eventually(check)?,
        })
    }

    /// `path` (joined to the base URL) or `url` (absolute, possibly with
    /// `{{name}}` placeholders), exactly one of them.
    fn check_target(&self, check: &SmokeCheckFile) -> Result<CheckTarget, ConfigError> {
        let name = check.name.get_ref();
        let key = |field: &str| format!("smoke.check `{name}` {field}");
        Ok(match (&check.path, &check.url) {
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
            (None, Some(url)) if url.get_ref().contains("{{") => CheckTarget::Url(Masked::new(
                self.url_template(url, &key("url"))?,
                &self.redactor,
            )),
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
        })
    }

    /// `eventually = { within = "2m", every = "5s" }`; `every` defaults to
    /// 2 s (or `within` when shorter) and may not exceed `within`.
    fn eventually(&self, check: &SmokeCheckFile) -> Result<Option<Eventually>, ConfigError> {
        let Some(eventually) = &check.eventually else {
            return Ok(None);
        };
        let file = eventually.get_ref();
        let within = file.within.0;
        let every = file
            .every
            .map_or(DEFAULT_EVENTUALLY_EVERY.min(within), |every| every.0);
        if every > within {
            return Err(self.invalid(
                eventually.span(),
                format!(
                    "check `{}` polls `every = \"{}\"`, longer than `within = \"{}\"`: it would be tried once",
                    check.name.get_ref(),
                    humantime::format_duration(every),
                    humantime::format_duration(within)
                ),
                Some(format!(
                    "poll more often than the step may take, e.g. `eventually = {{ within = \"{}\", every = \"{}\" }}`",
                    humantime::format_duration(within),
                    humantime::format_duration(Duration::from_millis(
                        u64::try_from((within / 10).as_millis()).unwrap_or(u64::MAX).max(1)
                    ))
                )),
            ));
        }
        Ok(Some(Eventually { within, every }))
    }

    /// A `url` with `{{name}}` placeholders: `${VAR}` resolved, kept as text
    /// (filled at run time), and checked by parsing it with every
    /// placeholder replaced by `0` (unless the whole host comes from one).
    fn url_template(&self, value: &Spanned<String>, key: &str) -> Result<String, ConfigError> {
        let text = self.text(value, key)?;
        if text.trim_start().starts_with("{{") {
            return Ok(text);
        }
        let stand_ins = template::variables(&text)
            .into_iter()
            .map(|name| (name, "0".to_owned()))
            .collect();
        let sample = template::substitute(&text, &stand_ins);
        let shown = self.redactor.redact(&text);
        match Url::parse(&sample) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(text),
            Ok(url) => Err(self.invalid(
                value.span(),
                format!(
                    "invalid URL `{shown}` for key `{key}`: scheme `{}` is not http or https",
                    url.scheme()
                ),
                Some(
                    "write an absolute URL like `http://127.0.0.1:9000/health/{{worker}}`"
                        .to_owned(),
                ),
            )),
            Err(error) => Err(self.invalid(
                value.span(),
                format!("invalid URL `{shown}` for key `{key}`: {error}"),
                Some(
                    "write an absolute URL like `http://127.0.0.1:9000/health/{{worker}}`"
                        .to_owned(),
                ),
            )),
        }
    }

    fn watch(&self, watch: &WatchFile, smoke: &SmokeConfig) -> Result<WatchConfig, ConfigError> {
        let known: Vec<&str> = smoke
            .checks
            .iter()
            .map(|check| check.name.as_str())
            .collect();
        let checks = match &watch.checks {
            None => known.iter().map(|name| (*name).to_owned()).collect(),
            Some(names) => names
                .iter()
                .map(|name| {
                    if known.contains(&name.get_ref().as_str()) {
                        return Ok(name.get_ref().clone());
                    }
                    let hint = match suggest(name.get_ref(), known.iter().copied()) {
                        Some(close) => format!("did you mean `{close}`?"),
                        None => "name a `[[smoke.check]]` of this file".to_owned(),
                    };
                    Err(self.invalid(
                        name.span(),
                        format!(
                            "`watch.checks` names `{}`, which is not a smoke check",
                            name.get_ref()
                        ),
                        Some(hint),
                    ))
                })
                .collect::<Result<_, _>>()?,
        };
        let max_error_rate = match &watch.max_error_rate {
            Some(rate) if !(0.0..=1.0).contains(rate.get_ref()) => {
                return Err(self.invalid(
                    rate.span(),
                    format!(
                        "`watch.max_error_rate` must be between 0.0 and 1.0, got {}",
                        rate.get_ref()
                    ),
                    Some("write a fraction, e.g. `max_error_rate = 0.1` for 10 %".to_owned()),
                ));
            }
            Some(rate) => *rate.get_ref(),
            None => 0.0,
        };
        let failure_limit = watch.failure_limit.unwrap_or(0);
        let consecutive_error_limit = watch
            .consecutive_error_limit
            .unwrap_or(DEFAULT_CONSECUTIVE_ERROR_LIMIT);
        let mut seen = UniqueNames::new("watch metric", "[[watch.metric]]");
        let metrics = watch
            .metric
            .iter()
            .map(|metric| {
                seen.insert(self, &metric.name)?;
                self.watch_metric(metric, failure_limit, consecutive_error_limit)
            })
            .collect::<Result<_, ConfigError>>()?;
        Ok(WatchConfig {
            duration: watch
                .duration
                .map_or(DEFAULT_WATCH_FOR, |duration| duration.0),
            interval: watch
                .interval
                .map_or(DEFAULT_WATCH_INTERVAL, |interval| interval.0),
            checks,
            max_error_rate,
            failure_limit,
            consecutive_error_limit,
            inconclusive_limit: watch.inconclusive_limit,
            metrics,
        })
    }

    /// Resolves `${VAR}` in every string of a `json` body (each resolved
    /// value is a secret, like everywhere else).
    fn json_body(
        &self,
        value: serde_json::Value,
        name: &Spanned<String>,
    ) -> Result<serde_json::Value, ConfigError> {
        use serde_json::Value;
        Ok(match value {
            Value::String(text) => Value::String(
                secret::resolve(&text, self.lookup, &self.redactor).map_err(|failure| {
                    let (message, hint) = match failure {
                        ResolveFailure::Unset(reference) => (
                            format!(
                                "environment variable `{}` is not set (or is empty), for the `json` body of check `{}`",
                                reference.name,
                                name.get_ref()
                            ),
                            format!("export `{}` before running shipgate", reference.name),
                        ),
                        ResolveFailure::Malformed { text, .. } => (
                            format!("malformed variable reference `{text}` in the `json` body of check `{}`", name.get_ref()),
                            "write `${NAME}`, or `$$` for a literal `$`".to_owned(),
                        ),
                    };
                    self.invalid(name.span(), message, Some(hint))
                })?,
            ),
            Value::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(|item| self.json_body(item, name))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(members) => Value::Object(
                members
                    .into_iter()
                    .map(|(key, member)| Ok((key, self.json_body(member, name)?)))
                    .collect::<Result<_, ConfigError>>()?,
            ),
            other => other,
        })
    }

    /// `capture = { NAME = 'jsonpath "PATH"' | 'header "NAME"' }`.
    fn captures(&self, check: &SmokeCheckFile) -> Result<Vec<Capture>, ConfigError> {
        let name = check.name.get_ref();
        check
            .capture
            .iter()
            .map(|(variable, spec)| {
                let source = assertion::parse_capture(spec.get_ref()).map_err(|message| {
                    self.invalid(
                        spec.span(),
                        format!("invalid capture `{variable}` in check `{name}`: {message}"),
                        assertion::line_bracket_hint(spec.get_ref()).or_else(|| Some("write `capture = { token = 'jsonpath \"$.token\"' }` or `capture = { session = 'header \"Set-Cookie\"' }`".to_owned())),
                    )
                })?;
                Ok(Capture { variable: variable.clone(), source })
            })
            .collect()
    }

    /// Every `{{name}}` a check uses must be captured by an earlier check of
    /// its flow, and only checks in a flow capture.
    fn flows(&self, files: &[SmokeCheckFile], checks: &[SmokeCheck]) -> Result<(), ConfigError> {
        let mut captured: HashMap<&str, Vec<&str>> = HashMap::new();
        for (file, check) in files.iter().zip(checks) {
            let name = &check.name;
            let Some(flow) = check.flow.as_deref() else {
                if let Some(capture) = check.captures.first() {
                    return Err(self.invalid(
                        file.name.span(),
                        format!(
                            "check `{name}` captures `{}` but is in no flow",
                            capture.variable
                        ),
                        Some(format!(
                            "add `flow = \"{name}\"` to it and to the checks that use `{{{{{}}}}}`",
                            capture.variable
                        )),
                    ));
                }
                if let Some(variable) = used_variables(check).into_iter().next() {
                    return Err(self.invalid(
                        file.name.span(),
                        format!("check `{name}` uses `{{{{{variable}}}}}` but is in no flow"),
                        Some("put it in the flow of the check that captures it with `flow = \"NAME\"`".to_owned()),
                    ));
                }
                continue;
            };
            let known = captured.entry(flow).or_default();
            for variable in used_variables(check) {
                if !known.contains(&variable.as_str()) {
                    return Err(self.invalid(
                        file.name.span(),
                        format!("check `{name}` uses `{{{{{variable}}}}}`, but no earlier check of flow `{flow}` captures it"),
                        Some(format!("capture it in an earlier check of the flow, e.g. `capture = {{ {variable} = 'jsonpath \"$.{variable}\"' }}`")),
                    ));
                }
            }
            known.extend(
                check
                    .captures
                    .iter()
                    .map(|capture| capture.variable.as_str()),
            );
        }
        Ok(())
    }

    /// `expect` and `assert` into one list: status assertions first (the
    /// `expect.status` shorthand, else `status 200` unless an `assert` line
    /// judges the status), then `expect.json` and the other lines in file order.
    fn expectations(
        &self,
        expect: Option<&Spanned<ExpectFile>>,
        lines: &[Spanned<String>],
        name: &str,
    ) -> Result<Expectations, ConfigError> {
        let mut status = Vec::new();
        let mut others = Vec::new();
        if let Some(expect) = expect {
            let file = expect.get_ref();
            if let Some(value) = &file.status {
                status.push(Assertion::status(self.status_operands(
                    value,
                    expect.span(),
                    name,
                )?));
            }
            for (path_text, expected) in &file.json {
                let path = JsonPath::parse(path_text).map_err(|error| {
                    self.invalid(
                        expect.span(),
                        format!("invalid JSONPath `{path_text}` in check `{name}`: {error}"),
                        Some(assertion::bracket_hint(path_text).unwrap_or_else(|| "write an RFC 9535 path starting with `$`, e.g. `\"$.status\"` or `\"$.items[0].id\"`".to_owned())),
                    )
                })?;
                others.push(Assertion::json_equals(
                    path_text,
                    path,
                    toml_to_json(expected),
                ));
            }
        }
        for line in lines {
            let parsed = assertion::parse(line.get_ref()).map_err(|message| {
                self.invalid(
                    line.span(),
                    format!("invalid assertion in check `{name}`: {message}"),
                    assertion::line_bracket_hint(line.get_ref()).or_else(|| Some("write `SUBJECT PREDICATE VALUE`, e.g. `'jsonpath \"$.status\" == \"healthy\"'` or `'header \"Content-Type\" contains \"json\"'` (see the README's assertion reference)".to_owned())),
                )
            })?;
            if parsed.is_status() {
                status.push(parsed);
            } else {
                others.push(parsed);
            }
        }
        if status.is_empty() {
            status.push(Assertion::status(vec![Operand::Value(200.into())]));
        }
        status.append(&mut others);
        Ok(Expectations { assertions: status })
    }

    /// `status = 200`, `status = [200, 204]` or `status = "2xx"`.
    fn status_operands(
        &self,
        value: &toml::Value,
        span: Range<usize>,
        name: &str,
    ) -> Result<Vec<Operand>, ConfigError> {
        let one = |value: &toml::Value| match value {
            toml::Value::Integer(code) if (100..=599).contains(code) => {
                Some(Operand::Value((*code).into()))
            }
            toml::Value::String(text) => assertion::status_class(text).map(Operand::StatusClass),
            _ => None,
        };
        let operands = match value {
            toml::Value::Array(items) if !items.is_empty() => items.iter().map(one).collect(),
            other => one(other).map(|operand| vec![operand]),
        };
        operands.ok_or_else(|| {
            self.invalid(
                span,
                format!("check `{name}` expects status {value}, which is not an HTTP status"),
                Some("use a status between 100 and 599, a list like `[200, 204]` or a class like `\"2xx\"`".to_owned()),
            )
        })
    }
}

/// Every `{{name}}` in a check's path or URL, headers, query and body.
fn used_variables(check: &SmokeCheck) -> Vec<String> {
    fn json_strings<'v>(value: &'v serde_json::Value, out: &mut Vec<&'v str>) {
        match value {
            serde_json::Value::String(text) => out.push(text),
            serde_json::Value::Array(items) => {
                for item in items {
                    json_strings(item, out);
                }
            }
            serde_json::Value::Object(members) => {
                members
                    .values()
                    .for_each(|member| json_strings(member, out));
            }
            _ => {}
        }
    }
    let mut texts: Vec<&str> = Vec::new();
    match &check.target {
        CheckTarget::Path(path) => texts.push(path),
        CheckTarget::Url(url) => texts.push(url.expose()),
    }
    texts.extend(
        check
            .headers
            .iter()
            .chain(&check.query)
            .map(|(_, value)| value.expose()),
    );
    match &check.body {
        Some(RequestBody::Text(text)) => texts.push(text),
        Some(RequestBody::Json(value)) => json_strings(value, &mut texts),
        None => {}
    }
    texts.into_iter().flat_map(template::variables).collect()
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
