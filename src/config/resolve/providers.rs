//! Resolves an environment's provider (`provider = "…"` and its table) and
//! `[[deploy.hook]]`.
//!
//! An environment has at most one provider table; `provider` may be left out
//! when exactly one is present. Platform tokens must be a single `${VAR}`, so
//! a token never sits in the file and every message can name its variable.

use std::time::Duration;

use globset::Glob;
use toml::Spanned;
use url::Url;

use super::Resolver;
use crate::config::ConfigError;
use crate::config::duration::ConfigDuration;
use crate::config::file::{
    CommandProviderFile, DeployFile, EnvironmentFile, PlatformDeployKind, ProviderKind,
    RailwayFile, ReleasesFile, VercelFile,
};
use crate::config::model::{
    ApiToken, CommandProviderConfig, DeployHook, PlatformDeploy, ProviderConfig, RailwayConfig,
    RailwayRollbackMode, RailwayTokenKind, ReleasesConfig, VercelConfig,
};
use crate::config::secret::MASK;
use crate::diagnostic::SourceLocation;

const DEFAULT_RESTART_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_RELEASES_KEPT: usize = 5;
/// How long a platform build may take to appear and become ready.
const DEFAULT_READY_WITHIN: Duration = Duration::from_secs(20 * 60);
/// How long `vercel deploy` / `railway up` may run.
const DEFAULT_DEPLOY_COMMAND_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How long each `[environments.NAME.command]` command may run.
const DEFAULT_PROVIDER_COMMAND_TIMEOUT: Duration = Duration::from_secs(10 * 60);
const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// Vercel's public REST API.
pub(crate) const VERCEL_API: &str = "https://api.vercel.com";
/// Railway's public GraphQL endpoint.
pub(crate) const RAILWAY_API: &str = "https://backboard.railway.com/graphql/v2";

impl Resolver<'_> {
    /// The environment's provider: the one table it has, checked against
    /// `provider` when that is set.
    pub(super) fn provider(
        &self,
        name: &str,
        file: &EnvironmentFile,
    ) -> Result<ProviderConfig, ConfigError> {
        let tables: Vec<(ProviderKind, std::ops::Range<usize>)> = [
            (
                ProviderKind::Releases,
                file.releases.as_ref().map(Spanned::span),
            ),
            (
                ProviderKind::Vercel,
                file.vercel.as_ref().map(Spanned::span),
            ),
            (
                ProviderKind::Railway,
                file.railway.as_ref().map(Spanned::span),
            ),
            (
                ProviderKind::Command,
                file.command.as_ref().map(Spanned::span),
            ),
        ]
        .into_iter()
        .filter_map(|(kind, span)| span.map(|span| (kind, span)))
        .collect();
        let chosen = file.provider.as_ref().map(|kind| *kind.get_ref());
        if let Some((extra, span)) = tables
            .iter()
            .find(|(kind, _)| chosen.is_some_and(|chosen| chosen != *kind))
        {
            let chosen = chosen.map_or("none", ProviderKind::as_str);
            return Err(self.invalid(
                span.clone(),
                format!(
                    "`environments.{name}.{}` is set but `provider = \"{chosen}\"`",
                    extra.as_str()
                ),
                Some(format!(
                    "remove the `{}` table, or set `provider = \"{}\"`",
                    extra.as_str(),
                    extra.as_str()
                )),
            ));
        }
        if chosen.is_none() && tables.len() > 1 {
            let names: Vec<String> = tables
                .iter()
                .map(|(kind, _)| format!("`{}`", kind.as_str()))
                .collect();
            return Err(self.invalid(
                tables[1].1.clone(),
                format!(
                    "environment `{name}` has tables for {} providers: {}",
                    names.len(),
                    names.join(", ")
                ),
                Some("keep one provider table per environment and set `provider` to it".to_owned()),
            ));
        }
        let kind = chosen.or_else(|| tables.first().map(|(kind, _)| *kind));
        let key = |field: &str| format!("environments.{name}.{field}");
        let missing = |kind: ProviderKind, example: &str| {
            let span = file.provider.as_ref().map_or(0..0, Spanned::span);
            self.invalid(
                span,
                format!(
                    "provider `{}` needs an `[environments.{name}.{}]` table",
                    kind.as_str(),
                    kind.as_str()
                ),
                Some(format!(
                    "add `[environments.{name}.{}]` with {example}",
                    kind.as_str()
                )),
            )
        };
        Ok(match kind {
            None | Some(ProviderKind::None) => ProviderConfig::None,
            Some(ProviderKind::Releases) => {
                let table = file.releases.as_ref().ok_or_else(|| {
                    missing(
                        ProviderKind::Releases,
                        "`root = \"/srv/app\"` (and optionally `source` and `restart`)",
                    )
                })?;
                ProviderConfig::Releases(self.releases(table.get_ref(), &key)?)
            }
            Some(ProviderKind::Vercel) => {
                let table = file.vercel.as_ref().ok_or_else(|| {
                    missing(
                        ProviderKind::Vercel,
                        "`token = \"${VERCEL_TOKEN}\"` and `project = \"prj_…\"`",
                    )
                })?;
                ProviderConfig::Vercel(self.vercel(name, table.get_ref(), &key)?)
            }
            Some(ProviderKind::Railway) => {
                let table = file.railway.as_ref().ok_or_else(|| {
                    missing(
                        ProviderKind::Railway,
                        "`token`, `project`, `environment` and `service` ids",
                    )
                })?;
                ProviderConfig::Railway(self.railway(table, &key)?)
            }
            Some(ProviderKind::Command) => {
                let table = file.command.as_ref().ok_or_else(|| {
                    missing(
                        ProviderKind::Command,
                        "`deploy`, `current`, `list` and `promote` commands",
                    )
                })?;
                ProviderConfig::Command(command_provider(table.get_ref()))
            }
        })
    }

    fn releases(
        &self,
        releases: &ReleasesFile,
        key: &dyn Fn(&str) -> String,
    ) -> Result<ReleasesConfig, ConfigError> {
        Ok(ReleasesConfig {
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

    fn vercel(
        &self,
        name: &str,
        vercel: &VercelFile,
        key: &dyn Fn(&str) -> String,
    ) -> Result<VercelConfig, ConfigError> {
        let promote = vercel
            .deploy
            .as_ref()
            .filter(|kind| *kind.get_ref() == PlatformDeployKind::Promote);
        let deploy = match (promote, &vercel.promote_from) {
            (Some(kind), from) => self.promote_from(name, kind, from.as_ref(), key, vercel)?,
            (None, Some(from)) => {
                return Err(self.invalid(
                    from.span(),
                    format!(
                        "`{}` is set but `deploy` is not `\"promote\"`",
                        key("vercel.promote_from")
                    ),
                    Some(
                        "set `deploy = \"promote\"` to promote what passed there, or remove `promote_from`"
                            .to_owned(),
                    ),
                ));
            }
            (None, None) => self.platform_deploy(
                vercel.deploy.as_ref(),
                vercel.command.as_ref(),
                vercel.command_timeout,
                &key("vercel"),
                "vercel deploy --prebuilt --prod --token \\\"$VERCEL_TOKEN\\\"",
            )?,
        };
        Ok(VercelConfig {
            api_url: self.api_url(vercel.api_url.as_ref(), VERCEL_API, &key("vercel.api_url"))?,
            token: self.api_token(&vercel.token, &key("vercel.token"), "VERCEL_TOKEN")?,
            project: self.identifier(&vercel.project, &key("vercel.project"))?,
            team: vercel
                .team
                .as_ref()
                .map(|team| self.identifier(team, &key("vercel.team")))
                .transpose()?,
            deploy,
            ready_within: vercel
                .ready_within
                .map_or(DEFAULT_READY_WITHIN, |duration| duration.0),
            staged: vercel.staged.unwrap_or(false),
        })
    }

    /// `deploy = "promote"`: needs `promote_from` naming another
    /// environment, and no `command` or `staged` beside it.
    fn promote_from(
        &self,
        name: &str,
        kind: &Spanned<PlatformDeployKind>,
        from: Option<&Spanned<String>>,
        key: &dyn Fn(&str) -> String,
        vercel: &VercelFile,
    ) -> Result<PlatformDeploy, ConfigError> {
        if let Some(command) = &vercel.command {
            return Err(self.invalid(
                command.span(),
                format!(
                    "`{}` is set but `deploy = \"promote\"` builds nothing",
                    key("vercel.command")
                ),
                Some("remove `command`: the deployment that passed in `promote_from` is promoted as it is".to_owned()),
            ));
        }
        if vercel.staged == Some(true) {
            return Err(self.invalid(
                kind.span(),
                format!(
                    "`{}` promotes to production, so it cannot be `staged = true`",
                    key("vercel")
                ),
                Some("remove `staged` here; set it on the environment it promotes from".to_owned()),
            ));
        }
        let Some(from) = from else {
            return Err(self.invalid(
                kind.span(),
                format!(
                    "`{}.deploy = \"promote\"` needs `promote_from`",
                    key("vercel")
                ),
                Some("add `promote_from = \"staging\"`: the environment whose verified deployment of this commit becomes production".to_owned()),
            ));
        };
        let environment = from.get_ref().trim();
        if environment.is_empty() || environment == name {
            return Err(self.invalid(
                from.span(),
                format!(
                    "`{}` must name another environment, not `{environment}`",
                    key("vercel.promote_from")
                ),
                Some(
                    "name the environment this commit is verified in first, e.g. `staging`"
                        .to_owned(),
                ),
            ));
        }
        Ok(PlatformDeploy::Promote {
            from: environment.to_owned(),
        })
    }

    fn railway(
        &self,
        table: &Spanned<RailwayFile>,
        key: &dyn Fn(&str) -> String,
    ) -> Result<RailwayConfig, ConfigError> {
        let railway = table.get_ref();
        let services = match (&railway.service, &railway.services) {
            (Some(service), None) => vec![self.identifier(service, &key("railway.service"))?],
            (None, Some(services)) if !services.get_ref().is_empty() => {
                let mut ids = Vec::new();
                for id in services.get_ref() {
                    if id.trim().is_empty() || ids.contains(id) {
                        return Err(self.invalid(
                            services.span(),
                            format!(
                                "`{}` lists an empty or repeated service id `{id}`",
                                key("railway.services")
                            ),
                            Some("list each service id once".to_owned()),
                        ));
                    }
                    ids.push(id.clone());
                }
                ids
            }
            (Some(service), Some(_)) => {
                return Err(self.invalid(
                    service.span(),
                    format!(
                        "`{}` and `{}` are both set",
                        key("railway.service"),
                        key("railway.services")
                    ),
                    Some("keep `services = [\"…\", \"…\"]` and remove `service`".to_owned()),
                ));
            }
            (None, _) => {
                return Err(self.invalid(
                    table.span(),
                    format!("`[{}]` names no service", key("railway")),
                    Some(
                        "add `service = \"<service id>\"`, or `services = [\"api\", \"worker\"]` ids for several"
                            .to_owned(),
                    ),
                ));
            }
        };
        Ok(RailwayConfig {
            api_url: self.api_url(
                railway.api_url.as_ref(),
                RAILWAY_API,
                &key("railway.api_url"),
            )?,
            token: self.api_token(&railway.token, &key("railway.token"), "RAILWAY_TOKEN")?,
            token_kind: railway.token_kind.unwrap_or(RailwayTokenKind::Account),
            project: self.identifier(&railway.project, &key("railway.project"))?,
            environment: self.identifier(&railway.environment, &key("railway.environment"))?,
            services,
            deploy: self.platform_deploy(
                railway.deploy.as_ref(),
                railway.command.as_ref(),
                railway.command_timeout,
                &key("railway"),
                "railway up --ci --service api",
            )?,
            ready_within: railway
                .ready_within
                .map_or(DEFAULT_READY_WITHIN, |duration| duration.0),
            rollback: railway.rollback.unwrap_or(RailwayRollbackMode::Rollback),
        })
    }

    /// `deploy = "git" | "command"` with its `command`: a command without
    /// `deploy = "command"`, or the reverse, is a mistake worth naming.
    fn platform_deploy(
        &self,
        kind: Option<&Spanned<PlatformDeployKind>>,
        command: Option<&Spanned<String>>,
        timeout: Option<ConfigDuration>,
        table: &str,
        example: &str,
    ) -> Result<PlatformDeploy, ConfigError> {
        match (kind.map(|kind| (*kind.get_ref(), kind.span())), command) {
            (Some((PlatformDeployKind::Promote, span)), _) => Err(self.invalid(
                span,
                format!("`{table}.deploy = \"promote\"` is only for Vercel"),
                Some(
                    "use `deploy = \"git\"` or `\"command\"`; Railway promotes nothing between environments here"
                        .to_owned(),
                ),
            )),
            (None | Some((PlatformDeployKind::Git, _)), None) => Ok(PlatformDeploy::Git),
            (Some((PlatformDeployKind::Command, _)), Some(command))
                if !command.get_ref().trim().is_empty() =>
            {
                Ok(PlatformDeploy::Command {
                    run: command.get_ref().clone(),
                    timeout: timeout.map_or(DEFAULT_DEPLOY_COMMAND_TIMEOUT, |duration| duration.0),
                })
            }
            (Some((PlatformDeployKind::Command, span)), _) => Err(self.invalid(
                span,
                format!("`{table}.deploy = \"command\"` needs a `command` to run"),
                Some(format!("add `command = \"{example}\"`")),
            )),
            (None | Some((PlatformDeployKind::Git, _)), Some(command)) => Err(self.invalid(
                command.span(),
                format!("`{table}.command` is set but `deploy` is not `\"command\"`"),
                Some(
                    "set `deploy = \"command\"` to run it, or remove `command` to wait for the build the platform starts on push"
                        .to_owned(),
                ),
            )),
        }
    }

    /// A token value: exactly one `${VAR}` and nothing else.
    fn api_token(
        &self,
        value: &Spanned<String>,
        key: &str,
        example: &str,
    ) -> Result<ApiToken, ConfigError> {
        let variable = self.single_variable(
            value,
            format!("`{key}` must be a single `${{VAR}}` reference, so the token stays out of the file"),
            format!(
                "write `token = \"${{{example}}}\"` and pass `{example}` from a secret (in a workflow: `env: {example}: ${{{{ secrets.{example} }}}}`)"
            ),
        )?;
        Ok(ApiToken {
            variable,
            value: self.text(value, key)?,
        })
    }

    /// The variable of a value that must be exactly one `${VAR}` (a token, a
    /// webhook URL). Anything else is refused with `message` and `hint`, and
    /// the value is masked even in the quoted source line: it may be a pasted
    /// secret, and the message may land in a CI log.
    pub(super) fn single_variable(
        &self,
        value: &Spanned<String>,
        message: String,
        hint: String,
    ) -> Result<String, ConfigError> {
        let written = value.get_ref();
        let variable = written
            .strip_prefix("${")
            .and_then(|rest| rest.strip_suffix('}'))
            .filter(|name| {
                !name.is_empty()
                    && !name.starts_with(|c: char| c.is_ascii_digit())
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
        if let Some(variable) = variable {
            return Ok(variable.to_owned());
        }
        let mut error = self.invalid(value.span(), message, Some(hint));
        if let ConfigError::Invalid { location, .. } = &mut error {
            location.line_text = location.line_text.replace(written.as_str(), MASK);
            location.width = MASK.len() + 2;
        }
        Err(error)
    }

    fn api_url(
        &self,
        value: Option<&Spanned<String>>,
        default: &str,
        key: &str,
    ) -> Result<Url, ConfigError> {
        match value {
            Some(value) => self.url(value, key),
            None => Ok(Url::parse(default).expect("the default API URL parses")),
        }
    }

    /// A project, team, environment or service id: non-empty, no spaces or
    /// slashes (it goes into URL paths and GraphQL variables).
    fn identifier(&self, value: &Spanned<String>, key: &str) -> Result<String, ConfigError> {
        let text = self.text(value, key)?;
        if text.is_empty() || text.contains(|c: char| c.is_whitespace() || c == '/' || c == '?') {
            return Err(self.invalid(
                value.span(),
                format!(
                    "`{key}` must be an id or slug without spaces or `/`, not `{}`",
                    self.redactor.redact(&text)
                ),
                Some("copy the id from the platform's project settings".to_owned()),
            ));
        }
        Ok(text)
    }

    /// `[[deploy.hook]]`: unique names, globs that compile.
    pub(super) fn deploy_hooks(&self, deploy: &DeployFile) -> Result<Vec<DeployHook>, ConfigError> {
        let mut hooks: Vec<DeployHook> = Vec::new();
        for entry in &deploy.hook {
            let hook = entry.get_ref();
            let name = hook.name.get_ref().trim().to_owned();
            if name.is_empty() || hooks.iter().any(|seen| seen.name == name) {
                return Err(self.invalid(
                    hook.name.span(),
                    format!("deploy hook name `{name}` is empty or used twice"),
                    Some("give each `[[deploy.hook]]` its own `name`".to_owned()),
                ));
            }
            if hook.run.get_ref().trim().is_empty() {
                return Err(self.invalid(
                    hook.run.span(),
                    format!("deploy hook `{name}` has an empty `run`"),
                    Some("e.g. `run = \"npx inngest-cli deploy\"`".to_owned()),
                ));
            }
            let mut when_changed = Vec::new();
            for glob in &hook.when_changed {
                if let Err(error) = Glob::new(glob.get_ref()) {
                    return Err(self.invalid(
                        glob.span(),
                        format!("invalid glob `{}` in deploy hook `{name}`: {}", glob.get_ref(), error.kind()),
                        Some("write a path glob relative to the repository root, e.g. `src/inngest/**`".to_owned()),
                    ));
                }
                when_changed.push(glob.get_ref().clone());
            }
            let span = entry.span();
            hooks.push(DeployHook {
                name,
                run: hook.run.get_ref().clone(),
                when_changed,
                timeout: hook
                    .timeout
                    .map_or(DEFAULT_HOOK_TIMEOUT, |duration| duration.0),
                location: Some(SourceLocation::from_span(
                    self.path,
                    self.source,
                    span.start,
                    span.end,
                )),
            });
        }
        Ok(hooks)
    }
}

fn command_provider(command: &CommandProviderFile) -> CommandProviderConfig {
    CommandProviderConfig {
        deploy: command.deploy.get_ref().clone(),
        current: command.current.get_ref().clone(),
        list: command.list.get_ref().clone(),
        promote: command.promote.get_ref().clone(),
        timeout: command
            .timeout
            .map_or(DEFAULT_PROVIDER_COMMAND_TIMEOUT, |duration| duration.0),
    }
}
