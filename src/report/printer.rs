//! The only way shipgate writes to the terminal.
//!
//! Results go to stdout, progress and errors to stderr; every line passes
//! through the run's [`Redactor`]: each value before it is composed or
//! escaped, and the finished text once more. Colour follows the terminal and
//! `NO_COLOR` (anstream decides), and a closed stdout (`| head`) is not an error.

use std::fmt::Write as _;
use std::io::Write;
use std::sync::{Arc, Mutex};

use anstyle::{AnsiColor, Style};

use super::Report;
use crate::config::Redactor;
use crate::diagnostic::{Diagnostic, shorten_message};

/// The renderer selected by `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Readable text.
    Human,
    /// The JSON report.
    Json,
    /// Text plus GitHub Actions workflow commands.
    Github,
}

/// Writes results, progress and errors, masking secrets.
#[derive(Debug, Clone)]
pub struct Printer {
    format: OutputFormat,
    redactor: Redactor,
    /// The warnings written so far, in order (shared by clones): one
    /// problem read by two parts of a run (say, a broken `GITHUB_API_URL`)
    /// warns once, and the report lists them all.
    warned: Arc<Mutex<Vec<String>>>,
}

/// Whether stdout shows styles (a terminal, and `NO_COLOR` unset): when
/// not, the report is rendered plain rather than styled and then stripped.
fn stdout_styled() -> bool {
    anstream::stdout().current_choice() != anstream::ColorChoice::Never
}

pub(super) const RED: Style = AnsiColor::Red.on_default().bold();
pub(super) const GREEN: Style = AnsiColor::Green.on_default();
pub(super) const YELLOW: Style = AnsiColor::Yellow.on_default();
pub(super) const DIM: Style = Style::new().dimmed();
pub(super) const BOLD: Style = Style::new().bold();

impl Printer {
    /// A printer for `format`; `redactor` is shared with the config loader, so
    /// secrets resolved later are masked too.
    pub fn new(format: OutputFormat, redactor: Redactor) -> Self {
        Self {
            format,
            redactor,
            warned: Arc::default(),
        }
    }

    /// The selected format.
    pub fn format(&self) -> OutputFormat {
        self.format
    }

    /// The redactor every line passes through.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Every warning written so far, masked, in order.
    pub fn warnings(&self) -> Vec<String> {
        self.warned
            .lock()
            .map(|warned| warned.clone())
            .unwrap_or_default()
    }

    /// A progress line on stderr (e.g. readiness polling). Silent in JSON mode.
    pub fn progress(&self, message: &str) {
        if self.format == OutputFormat::Json {
            return;
        }
        self.write_stderr(&format!(
            "{}\n",
            DIM.render().to_string() + message + &DIM.render_reset().to_string()
        ));
    }

    /// A warning on stderr; the same warning twice in one run is written once.
    pub fn warning(&self, message: &str) {
        let message = self.redactor.redact(message);
        let first = self.warned.lock().map_or(true, |mut warned| {
            let first = !warned.contains(&message);
            if first {
                warned.push(message.clone());
            }
            first
        });
        if !first {
            return;
        }
        if self.format == OutputFormat::Github {
            self.write_stdout(&super::github::workflow_command("warning", &[], &message));
        }
        self.write_stderr(&format!(
            "{}warning{}: {message}\n",
            YELLOW.render(),
            YELLOW.render_reset()
        ));
    }

    /// An error with its location, cause chain and hint, on stderr.
    ///
    /// Each part is masked before it is composed or escaped (issue 10,
    /// item 5), and the finished text once more on its way out.
    pub fn error(&self, error: &dyn Diagnostic) {
        // Masked, then shortened: a cut never leaves part of a secret
        // (issue 10, items 5 and 11).
        let redact = |text: &str| shorten_message(&self.redactor.redact(text));
        let message = redact(&error.to_string());
        let location = error
            .location()
            .map(|location| location.redacted(&self.redactor));
        let mut text = format!("{}error{}: {message}\n", RED.render(), RED.render_reset());
        if let Some(location) = &location {
            let _ = writeln!(
                text,
                "  {}-->{} {location}",
                DIM.render(),
                DIM.render_reset()
            );
            for line in location.snippet().lines() {
                let _ = writeln!(text, "  {line}");
            }
        }
        let mut source = error.source();
        while let Some(cause) = source {
            let _ = writeln!(text, "  caused by: {}", redact(&cause.to_string()));
            source = cause.source();
        }
        if let Some(hint) = error.hint() {
            let _ = write!(
                text,
                "\n{}hint{}: {}\n",
                BOLD.render(),
                BOLD.render_reset(),
                redact(&hint)
            );
        }
        if self.format == OutputFormat::Github {
            let mut properties = Vec::new();
            if let Some(location) = &location {
                properties.push(("file", location.path.display().to_string()));
                properties.push(("line", location.line.to_string()));
                properties.push(("col", location.column.to_string()));
            }
            self.write_stdout(&super::github::workflow_command(
                "error",
                &properties,
                &message,
            ));
        }
        self.write_stderr(&text);
    }

    /// Renders `report` on stdout in the selected format (in GitHub format
    /// also the step summary and outputs), every value masked before it is
    /// encoded.
    pub fn report(&self, report: &Report) {
        let report = report.redacted(&self.redactor);
        let text = match self.format {
            OutputFormat::Human => super::human::render(&report, stdout_styled()),
            OutputFormat::Json => super::json::render(&report),
            OutputFormat::Github => {
                super::github::publish(&report, &self.redactor);
                super::github::render(&report)
            }
        };
        self.write_stdout(&text);
    }

    /// The report of a command that ended without one (an error, already
    /// printed by [`Printer::error`], or an interruption): the JSON report in
    /// JSON format, the step summary and outputs in GitHub format, nothing
    /// more in human format, where stderr has said it all (issue 10, item 9).
    pub fn report_without_result(&self, report: &Report) {
        let report = report.redacted(&self.redactor);
        match self.format {
            OutputFormat::Human => {}
            OutputFormat::Json => self.write_stdout(&super::json::render(&report)),
            OutputFormat::Github => super::github::publish(&report, &self.redactor),
        }
    }

    /// Writes `::add-mask::` for every known secret (GitHub format only).
    ///
    /// The one place a secret is written as is: the runner needs the value to
    /// mask it, and hides the command itself from the log. Each line of a
    /// multi-line secret is masked on its own, as the runner requires.
    pub fn mask_secrets(&self) {
        if self.format != OutputFormat::Github {
            return;
        }
        for secret in self.redactor.secrets() {
            for line in secret.lines().filter(|line| !line.trim().is_empty()) {
                self.write_stdout_raw(&super::github::workflow_command("add-mask", &[], line));
            }
        }
    }

    fn write_stdout(&self, text: &str) {
        self.write_stdout_raw(&self.redactor.redact(text));
    }

    #[allow(clippy::unused_self)] // a method, so every write goes through the printer
    fn write_stdout_raw(&self, text: &str) {
        let stdout = anstream::stdout();
        // A closed pipe (`shipgate … | head`) is not an error worth reporting.
        if stdout.current_choice() == anstream::ColorChoice::Never {
            // Stripped here, in one piece (the stripping stream writes each
            // run of text between two styles on its own: a system call per
            // line of a 500-check report), and only when styled at all.
            let plain = if text.contains('\x1b') {
                std::borrow::Cow::Owned(anstream::adapter::strip_str(text).to_string())
            } else {
                std::borrow::Cow::Borrowed(text)
            };
            let mut raw = std::io::stdout().lock();
            let _ = raw.write_all(plain.as_bytes()).and_then(|()| raw.flush());
            return;
        }
        let mut stdout = stdout.lock();
        let _ = stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush());
    }

    fn write_stderr(&self, text: &str) {
        let mut stderr = anstream::stderr().lock();
        let _ = stderr.write_all(self.redactor.redact(text).as_bytes());
    }
}
