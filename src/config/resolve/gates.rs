//! Resolves `[gate]`: every kind's settings, the names and the `after`
//! graph (unknown names and cycles are config errors pointing at the entry).

use std::collections::HashMap;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::Resolver;
use crate::config::ConfigError;
use crate::config::duration::ConfigDuration;
use crate::config::file::{
    ConfigFile, DriftGateFile, GithubGateFile, StagedGateFile, WindowGateFile,
};
use crate::config::model::{
    CommandGate, DRIFT_CLASSES, DateRange, DriftAllow, DriftGate, EnvGate, Gate, GateKind, GitGate,
    GithubGate, MigrationsGate, RequiredChecks, StagedGate, TlsGate, TlsHost, WeeklyWindow,
    WindowGate,
};
use crate::config::secret::Masked;
use crate::diagnostic::{SourceLocation, suggest};

const DEFAULT_GATE_TIMEOUT: Duration = Duration::from_secs(600);
const DEFAULT_TLS_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_MIN_DAYS: u32 = 14;
const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(10);

/// A gate before its `after` list is checked, with the spans errors point at.
struct Pending {
    gate: Gate,
    span: Range<usize>,
    after: Vec<Spanned<String>>,
}

impl Resolver<'_> {
    pub(super) fn gates(&self, file: &ConfigFile) -> Result<Vec<Gate>, ConfigError> {
        let gate = &file.gate;
        let mut pending = self.command_gates(file)?;
        if let Some(git) = &gate.git {
            let file = git.get_ref();
            pending.push(self.pending(
                git.span(),
                GateKind::Git(GitGate {
                    clean: file.clean.clone(),
                    branches: file.branches.clone(),
                    conflict_markers: file.conflict_markers.unwrap_or(true),
                    pushed: file.pushed.unwrap_or(true),
                }),
                timeout(file.timeout, DEFAULT_GATE_TIMEOUT),
                &file.after,
            ));
        }
        if let Some(env) = &gate.env {
            let file = env.get_ref();
            if file.manifest.is_none() && file.keys.is_empty() {
                return Err(self.invalid(
                    env.span(),
                    "`[gate.env]` names neither a `manifest` nor any `keys`".to_owned(),
                    Some(
                        "add `manifest = \".env.example\"` or `keys = [\"DATABASE_URL\"]`"
                            .to_owned(),
                    ),
                ));
            }
            pending.push(self.pending(
                env.span(),
                GateKind::Env(EnvGate {
                    manifest: file.manifest.as_ref().map(|path| self.join(path.get_ref())),
                    keys: file.keys.iter().map(|key| key.get_ref().clone()).collect(),
                }),
                timeout(file.timeout, DEFAULT_GATE_TIMEOUT),
                &file.after,
            ));
        }
        if let Some(window) = &gate.window {
            let file = window.get_ref();
            pending.push(self.pending(
                window.span(),
                GateKind::Window(self.window(file)?),
                timeout(file.timeout, DEFAULT_GATE_TIMEOUT),
                &file.after,
            ));
        }
        if let Some(tls) = &gate.tls {
            let file = tls.get_ref();
            let hosts = file
                .hosts
                .iter()
                .map(|host| self.tls_host(host))
                .collect::<Result<Vec<_>, _>>()?;
            if hosts.is_empty() {
                return Err(self.invalid(
                    tls.span(),
                    "`[gate.tls]` lists no `hosts`".to_owned(),
                    Some("add `hosts = [\"app.example.com\"]`".to_owned()),
                ));
            }
            pending.push(self.pending(
                tls.span(),
                GateKind::Tls(TlsGate {
                    hosts,
                    min_days: file.min_days.unwrap_or(DEFAULT_MIN_DAYS),
                    ca_file: file.ca_file.as_deref().map(|path| self.join(path)),
                }),
                timeout(file.timeout, DEFAULT_TLS_TIMEOUT),
                &file.after,
            ));
        }
        if let Some(github) = &gate.github {
            let file = github.get_ref();
            pending.push(self.pending(
                github.span(),
                GateKind::Github(self.github(file)?),
                timeout(file.timeout, DEFAULT_GATE_TIMEOUT),
                &file.after,
            ));
        }
        if let Some(staged) = &gate.staged {
            let file = staged.get_ref();
            pending.push(self.pending(
                staged.span(),
                GateKind::Staged(self.staged(file)?),
                timeout(file.timeout, DEFAULT_GATE_TIMEOUT),
                &file.after,
            ));
        }
        if let Some(migrations) = &gate.migrations {
            let dir = self.join(file.migrate.dir.as_deref().unwrap_or("migrations"));
            let file = migrations.get_ref();
            pending.push(self.pending(
                migrations.span(),
                GateKind::Migrations(MigrationsGate {
                    lint: file.lint.clone(),
                    dir,
                }),
                timeout(file.timeout, DEFAULT_GATE_TIMEOUT),
                &file.after,
            ));
        }
        if let Some(drift) = &gate.drift {
            pending.push(self.drift_pending(drift)?);
        }
        if let Some(provider) = &gate.provider {
            let file = provider.get_ref();
            pending.push(self.pending(
                provider.span(),
                GateKind::Provider,
                timeout(file.timeout, DEFAULT_GATE_TIMEOUT),
                &file.after,
            ));
        }
        self.check_graph(pending)
    }
}

fn timeout(value: Option<ConfigDuration>, default: Duration) -> Duration {
    value.map_or(default, |duration| duration.0)
}

impl Resolver<'_> {
    pub(super) fn gate_concurrency(&self, file: &ConfigFile) -> Result<Option<usize>, ConfigError> {
        match &file.gate.concurrency {
            Some(value) if *value.get_ref() == 0 => Err(self.invalid(
                value.span(),
                "`gate.concurrency` must be at least 1".to_owned(),
                Some("set `concurrency = 4` or remove the key for the CPU count".to_owned()),
            )),
            Some(value) => Ok(Some(*value.get_ref())),
            None => Ok(None),
        }
    }

    fn command_gates(&self, file: &ConfigFile) -> Result<Vec<Pending>, ConfigError> {
        let mut pending = Vec::new();
        for command in &file.gate.command {
            let location = self.location(command.span());
            let command = command.get_ref();
            if command.run.get_ref().trim().is_empty() {
                return Err(self.invalid(
                    command.run.span(),
                    format!(
                        "gate `{}` has an empty `run` command",
                        command.name.get_ref()
                    ),
                    Some("write the shell command to run, e.g. `run = \"npm test\"`".to_owned()),
                ));
            }
            let env = command
                .env
                .iter()
                .map(|(key, value)| {
                    let text = self.text(
                        value,
                        &format!("gate `{}` env.{key}", command.name.get_ref()),
                    )?;
                    Ok((key.clone(), Masked::new(text, &self.redactor)))
                })
                .collect::<Result<_, ConfigError>>()?;
            pending.push(Pending {
                gate: Gate {
                    name: command.name.get_ref().clone(),
                    after: Vec::new(),
                    timeout: timeout(command.timeout, DEFAULT_GATE_TIMEOUT),
                    location: Some(location),
                    kind: GateKind::Command(CommandGate {
                        run: command.run.get_ref().clone(),
                        env,
                        pass_env: command.pass_env.clone(),
                    }),
                },
                span: command.name.span(),
                after: command.after.clone(),
            });
        }
        Ok(pending)
    }

    fn location(&self, span: Range<usize>) -> SourceLocation {
        SourceLocation::from_span(self.path, self.source, span.start, span.end)
    }

    fn pending(
        &self,
        span: Range<usize>,
        kind: GateKind,
        timeout: Duration,
        after: &[Spanned<String>],
    ) -> Pending {
        Pending {
            gate: Gate {
                name: kind.as_str().to_owned(),
                after: Vec::new(),
                timeout,
                location: Some(self.location(span.clone())),
                kind,
            },
            span,
            after: after.to_vec(),
        }
    }

    /// Unique names, known `after` names, no cycles.
    fn check_graph(&self, pending: Vec<Pending>) -> Result<Vec<Gate>, ConfigError> {
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (position, gate) in pending.iter().enumerate() {
            if let Some(first) = index.get(gate.gate.name.as_str()) {
                let first = self.location(pending[*first].span.clone());
                return Err(self.invalid(
                    gate.span.clone(),
                    format!(
                        "duplicate gate name `{}`: it is already used at line {}",
                        gate.gate.name, first.line
                    ),
                    Some("give each gate a unique `name` (`git`, `env`, `window`, `tls`, `github`, `migrations`, `provider`, `staged` and `drift` name the built-in kinds)".to_owned()),
                ));
            }
            index.insert(gate.gate.name.as_str(), position);
        }
        let names: Vec<&str> = pending.iter().map(|gate| gate.gate.name.as_str()).collect();
        let mut edges: Vec<Vec<(usize, Range<usize>)>> = Vec::with_capacity(pending.len());
        for gate in &pending {
            let mut targets = Vec::new();
            for name in &gate.after {
                let Some(target) = index.get(name.get_ref().as_str()) else {
                    let hint = match suggest(name.get_ref(), names.iter().copied()) {
                        Some(close) => format!("did you mean `{close}`?"),
                        None => format!(
                            "defined gates: {}",
                            names
                                .iter()
                                .map(|n| format!("`{n}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    };
                    return Err(self.invalid(
                        name.span(),
                        format!(
                            "gate `{}` runs after `{}`, which is not a defined gate",
                            gate.gate.name,
                            name.get_ref()
                        ),
                        Some(hint),
                    ));
                };
                targets.push((*target, name.span()));
            }
            edges.push(targets);
        }
        // Depth-first search; a back edge closes a cycle.
        let mut state = vec![0_u8; pending.len()];
        let mut stack: Vec<usize> = Vec::new();
        for start in 0..pending.len() {
            if let Some((cycle, span)) = find_cycle(start, &edges, &mut state, &mut stack) {
                let path: Vec<String> = cycle.iter().map(|&i| format!("`{}`", names[i])).collect();
                return Err(self.invalid(
                    span,
                    format!("gates wait for each other in a cycle: {}", path.join(" → ")),
                    Some(
                        "remove one of these names from an `after` list so the gates can start"
                            .to_owned(),
                    ),
                ));
            }
        }
        Ok(pending
            .into_iter()
            .map(|mut gate| {
                gate.gate.after = gate
                    .after
                    .iter()
                    .map(|name| name.get_ref().clone())
                    .collect();
                gate.gate
            })
            .collect())
    }

    fn tls_host(&self, value: &Spanned<String>) -> Result<TlsHost, ConfigError> {
        let text = value.get_ref().trim();
        let text = text
            .strip_prefix("https://")
            .unwrap_or(text)
            .trim_end_matches('/');
        let (host, port) = match text.rsplit_once(':') {
            Some((host, port)) => match port.parse::<u16>() {
                Ok(port) if port > 0 => (host, port),
                _ => {
                    return Err(self.invalid(
                        value.span(),
                        format!("invalid port in TLS host `{}`", value.get_ref()),
                        Some("write `host` or `host:port`, e.g. `app.example.com:443`".to_owned()),
                    ));
                }
            },
            None => (text, 443),
        };
        if host.is_empty() || host.contains('/') || host.contains(' ') {
            return Err(self.invalid(
                value.span(),
                format!("invalid TLS host `{}`", value.get_ref()),
                Some(
                    "write a host name like `app.example.com` or `app.example.com:8443`".to_owned(),
                ),
            ));
        }
        Ok(TlsHost {
            host: host.to_owned(),
            port,
        })
    }

    fn drift_pending(&self, drift: &Spanned<DriftGateFile>) -> Result<Pending, ConfigError> {
        let file = drift.get_ref();
        Ok(self.pending(
            drift.span(),
            GateKind::Drift(self.drift(file)?),
            timeout(file.timeout, DEFAULT_GATE_TIMEOUT),
            &file.after,
        ))
    }

    fn drift(&self, file: &DriftGateFile) -> Result<DriftGate, ConfigError> {
        let allow = file
            .allow
            .iter()
            .map(|pattern| self.drift_allow(pattern))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(DriftGate {
            allow,
            after_migrate: file.after_migrate.unwrap_or(false),
            comments: file.comments.unwrap_or(false),
            grants: file.grants.unwrap_or(false),
        })
    }

    /// One `CLASS:GLOB` pattern of `gate.drift.allow`.
    fn drift_allow(&self, pattern: &Spanned<String>) -> Result<DriftAllow, ConfigError> {
        let text = pattern.get_ref();
        let example =
            "write `CLASS:GLOB`, e.g. `schema:auth`, `table:public.legacy_*` or `*:storage.*`";
        let Some((class, glob)) = text.split_once(':') else {
            return Err(self.invalid(
                pattern.span(),
                format!("`gate.drift.allow` entry `{text}` has no class"),
                Some(example.to_owned()),
            ));
        };
        if class != "*" && !DRIFT_CLASSES.contains(&class) {
            let hint = match suggest(class, DRIFT_CLASSES.iter().copied()) {
                Some(close) => format!("did you mean `{close}:{glob}`?"),
                None => format!(
                    "classes: `*`, {}",
                    DRIFT_CLASSES.map(|class| format!("`{class}`")).join(", ")
                ),
            };
            return Err(self.invalid(
                pattern.span(),
                format!("`gate.drift.allow` entry `{text}` names no object class `{class}`"),
                Some(hint),
            ));
        }
        if glob.is_empty() {
            return Err(self.invalid(
                pattern.span(),
                format!("`gate.drift.allow` entry `{text}` has an empty name pattern"),
                Some(example.to_owned()),
            ));
        }
        if let Err(error) = globset::GlobBuilder::new(glob)
            .literal_separator(false)
            .build()
        {
            return Err(self.invalid(
                pattern.span(),
                format!(
                    "`gate.drift.allow` entry `{text}` is not a valid glob: {}",
                    error.kind()
                ),
                Some(example.to_owned()),
            ));
        }
        Ok(DriftAllow {
            class: class.to_owned(),
            glob: glob.to_owned(),
            location: Some(self.location(pattern.span())),
        })
    }

    fn staged(&self, file: &StagedGateFile) -> Result<StagedGate, ConfigError> {
        let environment = file.environment.get_ref().trim();
        if environment.is_empty() {
            return Err(self.invalid(
                file.environment.span(),
                "`gate.staged.environment` is empty".to_owned(),
                Some(
                    "name the environment this commit must pass first, e.g. `environment = \"staging\"`"
                        .to_owned(),
                ),
            ));
        }
        Ok(StagedGate {
            environment: environment.to_owned(),
        })
    }

    fn github(&self, file: &GithubGateFile) -> Result<GithubGate, ConfigError> {
        let bad = |span: Range<usize>| {
            self.invalid(
                span,
                "`gate.github.checks` must be `\"all\"`, `\"none\"` or a list of check names"
                    .to_owned(),
                Some("write `checks = \"all\"` or `checks = [\"build\", \"test\"]`".to_owned()),
            )
        };
        let checks = match &file.checks {
            None => RequiredChecks::All,
            Some(value) => match value.get_ref() {
                toml::Value::String(text) if text == "all" || text == "all-green" => {
                    RequiredChecks::All
                }
                toml::Value::String(text) if text == "none" => RequiredChecks::None,
                toml::Value::Array(items) => RequiredChecks::Named(
                    items
                        .iter()
                        .map(|item| {
                            item.as_str()
                                .map(str::to_owned)
                                .ok_or_else(|| bad(value.span()))
                        })
                        .collect::<Result<_, _>>()?,
                ),
                _ => return Err(bad(value.span())),
            },
        };
        Ok(GithubGate {
            checks,
            min_approvals: file.min_approvals.unwrap_or(0),
            wait_for: file.wait_for.map(|duration| duration.0),
            poll_interval: timeout(file.poll_interval, DEFAULT_POLL_INTERVAL),
        })
    }

    fn window(&self, file: &WindowGateFile) -> Result<WindowGate, ConfigError> {
        let name = file.timezone.get_ref();
        let timezone = jiff::tz::TimeZone::get(name).map_err(|error| {
            self.invalid(
                file.timezone.span(),
                format!("unknown time zone `{name}`: {error}"),
                Some(
                    "use an IANA name such as `Europe/Berlin`, `America/Sao_Paulo` or `UTC`"
                        .to_owned(),
                ),
            )
        })?;
        let allow = file
            .allow
            .iter()
            .map(|text| {
                parse_weekly(text.get_ref()).map_err(|why| {
                    self.invalid(
                        text.span(),
                        format!("invalid window `{}`: {why}", text.get_ref()),
                        Some("write days and a local time range, e.g. `\"Tue-Thu 10:00-14:00\"` or `\"Mon,Wed 09:00-17:30\"`".to_owned()),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        let freeze = file
            .freeze
            .iter()
            .map(|text| {
                parse_range(text.get_ref()).map_err(|why| {
                    self.invalid(
                        text.span(),
                        format!("invalid freeze range `{}`: {why}", text.get_ref()),
                        Some(
                            "write `\"2026-12-20..2027-01-03\"` (both days included) or one date"
                                .to_owned(),
                        ),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        let holidays = file
            .holidays
            .iter()
            .map(|text| {
                text.get_ref()
                    .trim()
                    .parse::<jiff::civil::Date>()
                    .map_err(|error| {
                        self.invalid(
                            text.span(),
                            format!("invalid holiday `{}`: {error}", text.get_ref()),
                            Some("write a date like `\"2026-12-25\"`".to_owned()),
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(WindowGate {
            timezone_name: name.clone(),
            timezone,
            allow,
            freeze,
            holidays,
        })
    }
}

fn find_cycle(
    node: usize,
    edges: &[Vec<(usize, Range<usize>)>],
    state: &mut [u8],
    stack: &mut Vec<usize>,
) -> Option<(Vec<usize>, Range<usize>)> {
    // 0 = unvisited, 1 = on the stack, 2 = done.
    match state[node] {
        1 | 2 => return None,
        _ => {}
    }
    state[node] = 1;
    stack.push(node);
    for (target, span) in &edges[node] {
        if state[*target] == 1 {
            let from = stack.iter().position(|n| n == target).unwrap_or(0);
            let mut cycle: Vec<usize> = stack[from..].to_vec();
            cycle.push(*target);
            return Some((cycle, span.clone()));
        }
        if let Some(found) = find_cycle(*target, edges, state, stack) {
            return Some(found);
        }
    }
    stack.pop();
    state[node] = 2;
    None
}

const DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// `Mon`/`monday` → 0 … `Sun` → 6.
fn day(text: &str) -> Result<usize, String> {
    let lower = text.trim().to_ascii_lowercase();
    DAYS.iter()
        .position(|day| lower.len() >= 3 && day.starts_with(&lower))
        .ok_or_else(|| format!("`{}` is not a day of the week (`Mon` … `Sun`)", text.trim()))
}

fn minutes(text: &str) -> Result<u32, String> {
    let bad = || format!("`{text}` is not a time like `09:30`");
    let (hours, mins) = text.trim().split_once(':').ok_or_else(bad)?;
    let hours: u32 = hours.parse().map_err(|_| bad())?;
    let mins: u32 = mins.parse().map_err(|_| bad())?;
    if mins > 59 || hours > 24 || (hours == 24 && mins > 0) {
        return Err(bad());
    }
    Ok(hours * 60 + mins)
}

/// `"Tue-Thu 10:00-14:00"`, `"Mon,Wed,Fri 09:00-17:00"`, `"Fri-Mon 22:00-02:00"`.
pub(crate) fn parse_weekly(text: &str) -> Result<WeeklyWindow, String> {
    let (days_text, times) = text
        .trim()
        .split_once(char::is_whitespace)
        .ok_or("expected days, a space and a time range")?;
    let mut days = [false; 7];
    for part in days_text.split(',') {
        match part.split_once('-') {
            Some((first, last)) => {
                let (first, last) = (day(first)?, day(last)?);
                let mut current = first;
                loop {
                    days[current] = true;
                    if current == last {
                        break;
                    }
                    current = (current + 1) % 7;
                }
            }
            None => days[day(part)?] = true,
        }
    }
    let (start, end) = times
        .trim()
        .split_once('-')
        .ok_or("expected a time range like `10:00-14:00`")?;
    let (start, end) = (minutes(start)?, minutes(end)?);
    if start == end {
        return Err("the time range is empty".to_owned());
    }
    Ok(WeeklyWindow {
        text: text.trim().to_owned(),
        days,
        start,
        end,
    })
}

fn parse_range(text: &str) -> Result<DateRange, String> {
    let (first, last) = text
        .trim()
        .split_once("..")
        .unwrap_or((text.trim(), text.trim()));
    let start: jiff::civil::Date = first.trim().parse().map_err(|error| format!("{error}"))?;
    let end: jiff::civil::Date = last.trim().parse().map_err(|error| format!("{error}"))?;
    if end < start {
        return Err(format!("it ends ({end}) before it starts ({start})"));
    }
    Ok(DateRange {
        text: text.trim().to_owned(),
        start,
        end,
    })
}
