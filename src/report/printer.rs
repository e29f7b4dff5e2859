//! The only way shipgate writes to the terminal.
//!
//! Results go to stdout, progress and errors to stderr; every line passes
//! through the run's [`Redactor`] first. Colour follows the terminal and
//! `NO_COLOR` (anstream decides), and a closed stdout (`| head`) is not an error.

use std::fmt::Write as _;
use std::io::Write;

use anstyle::{AnsiColor, Style};

use super::Report;
use crate::config::Redactor;
use crate::diagnostic::Diagnostic;

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
        Self { format, redactor }
    }

    /// The selected format.
    pub fn format(&self) -> OutputFormat {
        self.format
    }

    /// The redactor every line passes through.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
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

    /// A warning on stderr.
    pub fn warning(&self, message: &str) {
        if self.format == OutputFormat::Github {
            self.write_stdout_raw(&super::github::workflow_command(
                "warning",
                &[],
                &self.redactor.redact(message),
            ));
        }
        self.write_stderr(&format!(
            "{}warning{}: {message}\n",
            YELLOW.render(),
            YELLOW.render_reset()
        ));
    }

    /// An error with its location, cause chain and hint, on stderr.
    pub fn error(&self, error: &dyn Diagnostic) {
        let mut text = format!("{}error{}: {error}\n", RED.render(), RED.render_reset());
        if let Some(location) = error.location() {
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
            let _ = writeln!(text, "  caused by: {cause}");
            source = cause.source();
        }
        if let Some(hint) = error.hint() {
            let _ = write!(
                text,
                "\n{}hint{}: {hint}\n",
                BOLD.render(),
                BOLD.render_reset()
            );
        }
        if self.format == OutputFormat::Github {
            let mut properties = Vec::new();
            if let Some(location) = error.location() {
                properties.push(("file", location.path.display().to_string()));
                properties.push(("line", location.line.to_string()));
                properties.push(("col", location.column.to_string()));
            }
            let message = self.redactor.redact(&error.to_string());
            self.write_stdout_raw(&super::github::workflow_command(
                "error",
                &properties,
                &message,
            ));
        }
        self.write_stderr(&text);
    }

    /// Renders `report` on stdout in the selected format.
    pub fn report(&self, report: &Report) {
        let text = match self.format {
            OutputFormat::Human => super::human::render(report, true),
            OutputFormat::Json => super::json::render(report),
            OutputFormat::Github => {
                super::github::publish(report, &self.redactor);
                super::github::render(report)
            }
        };
        self.write_stdout(&text);
    }

    /// Writes `::add-mask::` for every known secret (GitHub format only).
    pub fn mask_secrets(&self) {
        if self.format != OutputFormat::Github {
            return;
        }
        for secret in self.redactor.secrets() {
            // Not redacted: the runner needs the value to mask it.
            self.write_stdout_raw(&format!("::add-mask::{secret}\n"));
        }
    }

    fn write_stdout(&self, text: &str) {
        self.write_stdout_raw(&self.redactor.redact(text));
    }

    #[allow(clippy::unused_self)] // a method, so every write goes through the printer
    fn write_stdout_raw(&self, text: &str) {
        let mut stdout = anstream::stdout().lock();
        // A closed pipe (`shipgate … | head`) is not an error worth reporting.
        let _ = stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush());
    }

    fn write_stderr(&self, text: &str) {
        let mut stderr = anstream::stderr().lock();
        let _ = stderr.write_all(self.redactor.redact(text).as_bytes());
    }
}
