//! shipgate: pre-deploy gates, migrations with backup, smoke tests, the
//! post-deploy watch and automatic rollback, as one binary.
//!
//! `main` parses the command line and calls [`run`]; everything else lives in
//! one module per subcommand (`gate`, `migrate`, `smoke`, `watch`, `rollback`), with
//! `config` in front of them and `report` behind them.

pub mod cli;
pub mod config;
pub mod context;
pub mod db;
pub mod deploy;
pub mod diagnostic;
pub mod env;
pub mod error;
pub mod exit;
pub mod gate;
pub mod github;
pub mod init;
pub mod migrate;
pub mod notify;
pub mod pipeline;
pub mod provider;
pub mod report;
pub mod rollback;
pub mod smoke;
pub mod state;
pub mod watch;

use std::fmt::Write as _;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::cli::{Cli, Command, Format, MigrateAction};
use crate::config::Redactor;
use crate::context::Context;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::report::{OutputFormat, Printer, Report};

/// Runs one invocation and returns how the process should exit.
pub async fn run(cli: Cli) -> ExitStatus {
    let printer = Printer::new(output_format(cli.format), Redactor::default());
    let cancel = CancellationToken::new();
    watch_for_interrupt(cancel.clone());
    let started = Instant::now();
    let result = if abandonable(&cli.command) {
        tokio::select! {
            result = dispatch(&cli, &printer, cancel.clone()) => Some(result),
            () = cancel.cancelled() => None,
        }
    } else {
        // Mutating commands are never dropped mid-way: they watch `cancel`
        // between steps, so a migration or rollback is never cut in half.
        Some(dispatch(&cli, &printer, cancel.clone()).await)
    };
    // Whatever the command finished before the signal, an interrupted run
    // did not do all it was asked to: it never reports success, so
    // `shipgate migrate apply && shipgate deploy` stops (issue 10, item 3).
    // Only the rollback outcomes stay: they say what production now runs.
    let interrupted = |outcome: ExitStatus| {
        if cancel.is_cancelled()
            && !matches!(outcome, ExitStatus::RolledBack | ExitStatus::RollbackFailed)
        {
            ExitStatus::Interrupted
        } else {
            outcome
        }
    };
    let report = match result {
        Some(Ok(mut report)) => {
            let outcome = if report.outcome == ExitStatus::Success {
                report.status_from_checks()
            } else {
                report.outcome
            };
            report.finish(interrupted(outcome), started.elapsed());
            report.warnings = printer.warnings();
            printer.report(&report);
            report
        }
        // Config and infrastructure errors still write every report, so CI
        // can show why (issue 10, item 9).
        Some(Err(error)) => {
            printer.error(&error);
            let mut report = error_report(&cli, &error, printer.redactor());
            report.finish(interrupted(error.exit_status()), started.elapsed());
            report.warnings = printer.warnings();
            printer.report_without_result(&report);
            report
        }
        None => {
            printer.warning("interrupted");
            let mut report = Report::new(
                command_name(&cli.command),
                cli.environment.as_deref(),
                cli.dry_run,
            );
            report.finish(ExitStatus::Interrupted, started.elapsed());
            report.warnings = printer.warnings();
            printer.report_without_result(&report);
            report
        }
    };
    match write_report_files(&cli, &report, printer.redactor()) {
        Ok(()) => report.outcome,
        Err(error) => {
            printer.error(&error);
            error.exit_status().max(report.outcome)
        }
    }
}

/// Writes `--report` and `--junit`, each from the masked copy of `report`.
#[expect(
    clippy::disallowed_methods,
    reason = "the error it returns names the path; fs-err would name it twice"
)]
fn write_report_files(cli: &Cli, report: &Report, redactor: &Redactor) -> Result<(), Error> {
    let report = report.redacted(redactor);
    if let Some(path) = &cli.report {
        let text = redactor.redact(&report::json::render(&report));
        std::fs::write(path, text).map_err(|source| Error::WriteReport {
            path: path.clone(),
            source,
        })?;
    }
    if let Some(path) = &cli.junit {
        let failed = |source| Error::WriteJunit {
            path: path.clone(),
            source,
        };
        let xml = report::junit::render(&report)
            .map_err(|error| failed(std::io::Error::other(error.to_string())))?;
        std::fs::write(path, redactor.redact(&xml)).map_err(failed)?;
    }
    Ok(())
}

/// The report of a command that ended in `error`: one failed check carrying
/// the message, its location, causes and hint, and the message as the
/// `error` output. Values are masked, then shortened, so no cut leaves part
/// of a secret.
fn error_report(cli: &Cli, error: &Error, redactor: &Redactor) -> Report {
    use crate::diagnostic::{Diagnostic as _, shorten_message};
    use report::{Check, Phase};
    let shown = |text: String| shorten_message(&redactor.redact(&text));
    let detail = shown(error.to_string());
    let mut message = detail.clone();
    let mut log = Vec::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = shown(cause.to_string());
        let _ = write!(message, ": {cause_text}");
        log.push(format!("caused by: {cause_text}"));
        source = cause.source();
    }
    if let Some(hint) = error.hint() {
        log.push(format!("hint: {}", shown(hint)));
    }
    let mut check = Check::fail("error").detail(detail);
    if let Some(location) = error.location() {
        check = check.location(location.redacted(redactor));
    }
    if !log.is_empty() {
        check = check.log(log.join("\n"));
    }
    let phase = match error {
        Error::Config(_) => report::PhaseName::Config,
        _ => phase_name(&cli.command),
    };
    let mut report = Report::new(
        command_name(&cli.command),
        cli.environment.as_deref(),
        cli.dry_run,
    );
    report.push(Phase::new(phase, vec![check], std::time::Duration::ZERO));
    report.output("error", message);
    report
}

/// The command's name as its report spells it, e.g. `migrate apply`.
fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Check => "check",
        Command::Init(_) => "init",
        Command::Gate(_) => "gate",
        Command::Smoke(_) => "smoke",
        Command::Watch(_) => "watch",
        Command::Deploy(_) => "deploy",
        Command::Rollback(_) => "rollback",
        Command::Run(_) => "run",
        Command::Migrate(args) => match args.action {
            MigrateAction::Status => "migrate status",
            MigrateAction::Plan => "migrate plan",
            MigrateAction::Apply => "migrate apply",
            MigrateAction::Lint(_) => "migrate lint",
            MigrateAction::Restore { .. } => "migrate restore",
            MigrateAction::Down { .. } => "migrate down",
            MigrateAction::Resolve { .. } => "migrate resolve",
            MigrateAction::Drift => "migrate drift",
        },
    }
}

/// The phase a command's own work belongs to.
fn phase_name(command: &Command) -> report::PhaseName {
    use report::PhaseName;
    match command {
        Command::Check | Command::Init(_) => PhaseName::Config,
        Command::Gate(_) | Command::Run(_) => PhaseName::Gate,
        Command::Smoke(_) => PhaseName::Smoke,
        Command::Watch(_) => PhaseName::Watch,
        Command::Deploy(_) => PhaseName::Deploy,
        Command::Rollback(_) => PhaseName::Rollback,
        Command::Migrate(_) => PhaseName::Migrate,
    }
}

fn output_format(flag: Option<Format>) -> OutputFormat {
    match flag {
        Some(Format::Json) => OutputFormat::Json,
        Some(Format::Github) => OutputFormat::Github,
        None if std::env::var(env::GITHUB_ACTIONS).is_ok_and(|value| value == "true") => {
            OutputFormat::Github
        }
        Some(Format::Human) | None => OutputFormat::Human,
    }
}

/// Trips `cancel` on Ctrl-C (and SIGTERM on Unix).
///
/// The handlers are installed before this returns (not when the task first
/// runs), so a signal that arrives right after start-up is never lost to the
/// default action, which would kill the process mid-step.
fn watch_for_interrupt(cancel: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut interrupt), Ok(mut terminate)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        tokio::spawn(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            cancel.cancel();
        });
    }
    #[cfg(not(unix))]
    {
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            cancel.cancel();
        });
    }
}

/// Whether a command changes nothing, so Ctrl-C may simply drop it (child
/// processes are killed on drop).
fn abandonable(command: &Command) -> bool {
    match command {
        Command::Check | Command::Init(_) | Command::Smoke(_) | Command::Watch(_) => true,
        Command::Migrate(args) => !matches!(
            args.action,
            MigrateAction::Apply
                | MigrateAction::Down { .. }
                | MigrateAction::Restore { .. }
                | MigrateAction::Resolve { .. }
                // It drops its scratch database before it returns.
                | MigrateAction::Drift
        ),
        // Every gate stops on `cancel` by itself, and the `drift` gate
        // drops its scratch database first (issue 16), so the gate runner
        // is let finish rather than dropped.
        Command::Gate(_) | Command::Deploy(_) | Command::Rollback(_) | Command::Run(_) => false,
    }
}

async fn dispatch(
    cli: &Cli,
    printer: &Printer,
    cancel: CancellationToken,
) -> Result<Report, Error> {
    if let Command::Init(args) = &cli.command {
        // No config yet: `init` writes it.
        let root = std::env::current_dir().map_err(|source| init::InitError::Write {
            path: ".".into(),
            source,
        })?;
        return Ok(init::execute(&root, &cli.config, args.force, cli.dry_run)?);
    }
    let lookup = |name: &str| std::env::var(name).ok();
    let mut config = config::load(
        &cli.config,
        cli.environment.as_deref(),
        &lookup,
        printer.redactor(),
    )?;
    migrate::lint::validate_config(&config.migrate.lint)?;
    if let Command::Migrate(args) = &cli.command {
        config.migrate.include_all = args.include_all;
    }
    printer.mask_secrets();
    let state_path = state::default_path(&config.base_dir);
    let ctx = Context {
        config,
        printer: printer.clone(),
        dry_run: cli.dry_run,
        cancel,
        state_path,
    };
    let report = match &cli.command {
        Command::Check => check_report(&ctx),
        Command::Init(_) => unreachable!("`init` returned before the config was loaded"),
        Command::Migrate(args) => dispatch_migrate(&ctx, &args.action).await?,
        Command::Smoke(args) => {
            let url = step_url(&ctx, args.url.as_deref())?;
            let phase = smoke::run_suite(&ctx, url.as_ref(), report::PhaseName::Smoke).await?;
            let mut report = Report::new("smoke", Some(&ctx.config.environment.name), ctx.dry_run);
            report.push(phase);
            deploy::settle_step(&ctx, &mut report, deploy::VerifiedBy::Smoke, url.as_ref()).await;
            report
        }
        Command::Watch(args) => {
            let url = step_url(&ctx, args.url.as_deref())?;
            let mut report = watch::execute(&ctx, url.as_ref(), args.duration).await?;
            deploy::settle_step(&ctx, &mut report, deploy::VerifiedBy::Watch, url.as_ref()).await;
            report
        }
        Command::Gate(args) => {
            let options = gate::GateOptions {
                only: args.only.clone(),
                skip: args.skip.clone(),
                window_override: args.override_window.clone(),
            };
            gate::execute(&ctx, &options).await?
        }
        Command::Deploy(args) => deploy::execute(&ctx, args.release.request()).await?,
        Command::Rollback(args) => {
            rollback::execute(
                &ctx,
                args.to.clone(),
                args.database.map(|policy| match policy {
                    cli::DatabasePolicyArg::Keep => config::DatabasePolicy::Keep,
                    cli::DatabasePolicyArg::Restore => config::DatabasePolicy::Restore,
                    cli::DatabasePolicyArg::Down => config::DatabasePolicy::Down,
                }),
                args.reason.clone(),
                args.yes,
            )
            .await?
        }
        Command::Run(args) => {
            let mut report = pipeline::execute(&ctx, args.release.request()).await?;
            github::publish_run_check(&ctx, &mut report).await; // issue 14
            report
        }
    };
    Ok(report)
}

/// The `migrate` subcommands.
async fn dispatch_migrate(ctx: &Context, action: &MigrateAction) -> Result<Report, Error> {
    Ok(match action {
        MigrateAction::Status => migrate::status(ctx).await?,
        MigrateAction::Plan => migrate::plan(ctx).await?,
        MigrateAction::Apply => migrate::apply(ctx).await?,
        MigrateAction::Drift => Box::pin(migrate::drift::command(ctx)).await?,
        MigrateAction::Lint(lint) => {
            let selection = migrate::lint::LintSelection {
                files: lint.files.clone(),
                pending: lint.pending,
            };
            migrate::lint(ctx, &selection).await?
        }
        MigrateAction::Restore {
            backup,
            from,
            sha256,
        } => {
            let source = match (backup, from) {
                (Some(path), _) => Some(migrate::BackupSource::Local(path.clone())),
                (None, Some(url)) => Some(migrate::BackupSource::Remote {
                    url: url.clone(),
                    sha256: sha256.clone(),
                }),
                (None, None) => None,
            };
            migrate::restore_command(ctx, source).await?
        }
        MigrateAction::Down { steps, to } => {
            let selection = match (to, steps) {
                (Some(name), _) => migrate::DownSelection::To(name.clone()),
                (None, steps) => {
                    migrate::DownSelection::Steps(steps.map_or(1, |steps| steps as usize))
                }
            };
            migrate::down(ctx, &selection).await?
        }
        MigrateAction::Resolve {
            applied,
            rolled_back,
        } => {
            // clap requires exactly one of the two.
            let (name, resolution) = match (applied, rolled_back) {
                (Some(name), _) => (name.as_str(), crate::db::Resolution::Applied),
                (None, rolled_back) => (
                    rolled_back.as_deref().unwrap_or_default(),
                    crate::db::Resolution::RolledBack,
                ),
            };
            migrate::resolve(ctx, name, resolution).await?
        }
    })
}

/// A separate `smoke` / `watch` step's base URL: `--url`, else the
/// environment's (`None`: the suite uses it), else the release this run
/// deployed (`deploy::step_base_url`).
fn step_url(ctx: &Context, given: Option<&str>) -> Result<Option<url::Url>, Error> {
    let given = given.map(parse_base_url).transpose()?;
    Ok(deploy::step_base_url(ctx, given))
}

fn parse_base_url(text: &str) -> Result<url::Url, Error> {
    url::Url::parse(text).map_err(|error| {
        Error::Config(config::ConfigError::Invalid {
            location: diagnostic::SourceLocation {
                path: "--url".into(),
                line: 1,
                column: 1,
                line_text: text.to_owned(),
                width: text.chars().count().max(1),
            },
            message: format!("invalid `--url` value `{text}`: {error}"),
            hint: Some("pass an absolute URL like `--url http://127.0.0.1:3000`".to_owned()),
        })
    })
}

fn check_report(ctx: &Context) -> Report {
    use report::{Check, Phase, PhaseName};
    let config = &ctx.config;
    let environment = &config.environment;
    let mut checks =
        vec![Check::pass("config").detail(format!("`{}` is valid", config.path.display()))];
    checks.push(Check::pass("environment").detail(format!(
        "`{}`{}",
        environment.name,
        environment
            .url
            .as_ref()
            .map(|url| format!(" at {}", diagnostic::shorten(url.as_str())))
            .unwrap_or_default()
    )));
    if let Some(database) = &environment.database {
        checks.push(Check::pass("database").detail(database.to_string()));
    }
    let provider = match &environment.provider {
        config::ProviderConfig::None => "none".to_owned(),
        config::ProviderConfig::Releases(releases) => {
            format!("releases in `{}`", releases.root.display())
        }
        config::ProviderConfig::Vercel(vercel) => format!(
            "vercel project `{}`{}, token from `${}`",
            vercel.project,
            vercel
                .team
                .as_ref()
                .map(|team| format!(" of team `{team}`"))
                .unwrap_or_default(),
            vercel.token.variable
        ),
        config::ProviderConfig::Railway(railway) => format!(
            "railway project `{}`, {} service(s), token from `${}`",
            railway.project,
            railway.services.len(),
            railway.token.variable
        ),
        config::ProviderConfig::Command(_) => "command (deploy, current, list, promote)".to_owned(),
    };
    checks.push(Check::pass("provider").detail(provider));
    if let Some(remote) = &config.migrate.remote {
        checks.push(Check::pass("backup_to").detail(format!(
            "backups uploaded encrypted to `{}` under `{}/{}/`, the newest {} kept",
            remote.recipient, remote.url, environment.name, remote.retention
        )));
    }
    checks.push(Check::pass("gates").detail(format!("{} gate(s)", config.gates.len())));
    checks.push(Check::pass("smoke").detail(format!("{} check(s)", config.smoke.checks.len())));
    // No count: the redactor also holds each secret's JSON- and URL-encoded
    // forms, so its size is not the number of secrets.
    checks.push(
        Check::pass("secrets")
            .detail("every `${VAR}` reference resolved; their values are masked in all output"),
    );
    let mut report = Report::new("check", Some(&environment.name), ctx.dry_run);
    report.push(Phase::new(
        PhaseName::Config,
        checks,
        std::time::Duration::ZERO,
    ));
    report
}
