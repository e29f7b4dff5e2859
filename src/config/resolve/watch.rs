//! Resolves one `[[watch.metric]]`: its `kind` (the raw `http` form or a
//! `prometheus` / `datadog` / `sentry` preset), the fields each kind takes,
//! time placeholders (checked here, filled in by `watch`), series reduction
//! and the `compare = "previous"` baseline (issue 15, item 3).

use std::ops::Range;
use std::time::Duration;

use serde_json_path::JsonPath;
use toml::Spanned;

use super::{DEFAULT_CHECK_TIMEOUT, Resolver, toml_to_json};
use crate::config::ConfigError;
use crate::config::file::WatchMetricFile;
use crate::config::model::{
    Baseline, Condition, DatadogMetric, HttpMetric, MetricMethod, MetricSource, PrometheusMetric,
    Reduce, SentryMetric, WatchMetric,
};
use crate::config::secret::{self, Masked, ResolveFailure};
use crate::config::time_template::{TemplateError, TimeTemplate, TimeWindow};
use crate::diagnostic::suggest;

const KINDS: [&str; 4] = ["http", "prometheus", "datadog", "sentry"];
const DEFAULT_DATADOG_URL: &str = "https://api.datadoghq.com";
const DEFAULT_SENTRY_URL: &str = "https://sentry.io";
const DEFAULT_PROMETHEUS_STEP: Duration = Duration::from_secs(15);
const DEFAULT_SENTRY_INTERVAL: Duration = Duration::from_secs(60);

/// The fields only some kinds take: name, set, where, and the kinds.
struct KindField<'a> {
    field: &'static str,
    span: Option<Range<usize>>,
    kinds: &'a [&'static str],
}

impl Resolver<'_> {
    pub(super) fn watch_metric(
        &self,
        metric: &WatchMetricFile,
        failure_limit: u32,
        consecutive_error_limit: u32,
    ) -> Result<WatchMetric, ConfigError> {
        let name = metric.name.get_ref();
        let kind = self.metric_kind(metric)?;
        self.metric_fields_fit(metric, kind)?;
        let key = |field: &str| format!("watch.metric `{name}` {field}");
        let source = self.metric_source(metric, kind)?;
        let reduce = match &metric.reduce {
            Some(reduce) => Some(Reduce::parse(reduce.get_ref()).ok_or_else(|| {
                let hint = match suggest(reduce.get_ref(), Reduce::NAMES) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => "write `last`, `max`, `min` or `mean`".to_owned(),
                };
                self.invalid(
                    reduce.span(),
                    format!(
                        "unknown `reduce = \"{}\"` for `{}`",
                        reduce.get_ref(),
                        key("reduce")
                    ),
                    Some(hint),
                )
            })?),
            // A preset's result is a series; its latest point by default.
            None if kind != "http" => Some(Reduce::Last),
            None => None,
        };
        let condition = |spanned: &Option<Spanned<String>>, field: &str| {
            spanned
                .as_ref()
                .map(|text| {
                    Condition::parse(text.get_ref()).ok_or_else(|| {
                        self.invalid(
                            text.span(),
                            format!(
                                "invalid condition `{}` for `{}`",
                                text.get_ref(),
                                key(field)
                            ),
                            Some(
                                "write an operator and a number, e.g. `\"> 0.05\"` or `\"<= 3\"`"
                                    .to_owned(),
                            ),
                        )
                    })
                })
                .transpose()
        };
        let fail_if = condition(&metric.fail_if, "fail_if")?;
        let pass_if = condition(&metric.pass_if, "pass_if")?;
        let compare = self.baseline(metric)?;
        if fail_if.is_none() && pass_if.is_none() && compare.is_none() {
            return Err(self.invalid(
                metric.name.span(),
                format!("watch metric `{name}` has neither `fail_if` nor `pass_if`"),
                Some(
                    "add `fail_if = \"> 0.05\"` (or `pass_if`, or `compare = \"previous\"`) so a measurement can fail"
                        .to_owned(),
                ),
            ));
        }
        Ok(WatchMetric {
            name: name.clone(),
            source,
            reduce,
            window: metric.window.as_ref().map(|window| window.get_ref().0),
            compare,
            fail_if,
            pass_if,
            timeout: metric
                .timeout
                .map_or(DEFAULT_CHECK_TIMEOUT, |timeout| timeout.0),
            failure_limit: metric.failure_limit.unwrap_or(failure_limit),
            consecutive_error_limit: metric
                .consecutive_error_limit
                .unwrap_or(consecutive_error_limit),
        })
    }

    /// The backend part of a metric: the raw form or a preset's fields.
    fn metric_source(
        &self,
        metric: &WatchMetricFile,
        kind: &str,
    ) -> Result<MetricSource, ConfigError> {
        let name = metric.name.get_ref();
        let key = |field: &str| format!("watch.metric `{name}` {field}");
        let headers = metric
            .headers
            .iter()
            .map(|(header, value)| {
                let resolved = self.text(value, &key(&format!("headers.{header}")))?;
                Ok((header.clone(), Masked::new(resolved, &self.redactor)))
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let masked = |value: &Spanned<String>, field: &str| {
            Ok::<_, ConfigError>(Masked::new(self.text(value, &key(field))?, &self.redactor))
        };
        let base_url = |default: Option<&str>| -> Result<Masked, ConfigError> {
            match (&metric.url, default) {
                (Some(url), _) => Ok(Masked::new(
                    self.url(url, &key("url"))?.to_string(),
                    &self.redactor,
                )),
                (None, Some(default)) => Ok(Masked::new(default.to_owned(), &self.redactor)),
                (None, None) => Err(self.missing(
                    metric,
                    kind,
                    "url",
                    "url = \"https://prometheus.example.com\"",
                )),
            }
        };
        let query = |example: &str| {
            metric
                .query
                .as_ref()
                .map(|query| query.get_ref().clone())
                .ok_or_else(|| self.missing(metric, kind, "query", example))
        };
        let step = |default: Duration| {
            metric
                .step
                .as_ref()
                .map_or(default, |step| step.get_ref().0)
        };
        Ok(match kind {
            "prometheus" => MetricSource::Prometheus(PrometheusMetric {
                url: base_url(None)?,
                token: metric
                    .token
                    .as_ref()
                    .map(|token| masked(token, "token"))
                    .transpose()?,
                headers,
                query: query(
                    "query = \"sum(rate(http_requests_total{status=~\\\"5..\\\"}[5m]))\"",
                )?,
                step: step(DEFAULT_PROMETHEUS_STEP),
            }),
            "datadog" => MetricSource::Datadog(DatadogMetric {
                url: base_url(Some(DEFAULT_DATADOG_URL))?,
                api_key: masked(
                    metric.api_key.as_ref().ok_or_else(|| {
                        self.missing(metric, kind, "api_key", "api_key = \"${DD_API_KEY}\"")
                    })?,
                    "api_key",
                )?,
                application_key: masked(
                    metric.application_key.as_ref().ok_or_else(|| {
                        self.missing(
                            metric,
                            kind,
                            "application_key",
                            "application_key = \"${DD_APP_KEY}\"",
                        )
                    })?,
                    "application_key",
                )?,
                headers,
                query: query("query = \"sum:trace.http.request.errors{env:prod}.as_count()\"")?,
            }),
            "sentry" => MetricSource::Sentry(SentryMetric {
                url: base_url(Some(DEFAULT_SENTRY_URL))?,
                token: masked(
                    metric.token.as_ref().ok_or_else(|| {
                        self.missing(metric, kind, "token", "token = \"${SENTRY_TOKEN}\"")
                    })?,
                    "token",
                )?,
                headers,
                organization: metric
                    .organization
                    .as_ref()
                    .map(|organization| self.text(organization, &key("organization")))
                    .transpose()?
                    .ok_or_else(|| {
                        self.missing(metric, kind, "organization", "organization = \"acme\"")
                    })?,
                project: metric.project.as_ref().map(|project| *project.get_ref()),
                query: metric
                    .query
                    .as_ref()
                    .map_or_else(String::new, |query| query.get_ref().clone()),
                y_axis: metric
                    .y_axis
                    .as_ref()
                    .map_or_else(|| "count()".to_owned(), |axis| axis.get_ref().clone()),
                interval: step(DEFAULT_SENTRY_INTERVAL),
            }),
            _ => MetricSource::Http(self.http_metric(metric, headers)?),
        })
    }

    /// `kind`, checked against the known ones (default `http`).
    fn metric_kind(&self, metric: &WatchMetricFile) -> Result<&'static str, ConfigError> {
        let Some(kind) = &metric.kind else {
            return Ok("http");
        };
        KINDS
            .iter()
            .find(|known| **known == kind.get_ref())
            .copied()
            .ok_or_else(|| {
                let hint = match suggest(kind.get_ref(), KINDS) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => "write `http`, `prometheus`, `datadog` or `sentry`".to_owned(),
                };
                self.invalid(
                    kind.span(),
                    format!(
                        "unknown `kind = \"{}\"` for watch metric `{}`",
                        kind.get_ref(),
                        metric.name.get_ref()
                    ),
                    Some(hint),
                )
            })
    }

    /// Rejects a field the metric's kind does not use, so a typo'd form
    /// never silently queries something else.
    fn metric_fields_fit(&self, metric: &WatchMetricFile, kind: &str) -> Result<(), ConfigError> {
        let span = |spanned: Option<Range<usize>>| spanned;
        let fields = [
            KindField {
                field: "method",
                span: span(metric.method.as_ref().map(Spanned::span)),
                kinds: &["http"],
            },
            KindField {
                field: "body",
                span: span(metric.body.as_ref().map(Spanned::span)),
                kinds: &["http"],
            },
            KindField {
                field: "value",
                span: span(metric.value.as_ref().map(Spanned::span)),
                kinds: &["http"],
            },
            KindField {
                field: "query",
                span: span(metric.query.as_ref().map(Spanned::span)),
                kinds: &["prometheus", "datadog", "sentry"],
            },
            KindField {
                field: "token",
                span: span(metric.token.as_ref().map(Spanned::span)),
                kinds: &["prometheus", "sentry"],
            },
            KindField {
                field: "api_key",
                span: span(metric.api_key.as_ref().map(Spanned::span)),
                kinds: &["datadog"],
            },
            KindField {
                field: "application_key",
                span: span(metric.application_key.as_ref().map(Spanned::span)),
                kinds: &["datadog"],
            },
            KindField {
                field: "organization",
                span: span(metric.organization.as_ref().map(Spanned::span)),
                kinds: &["sentry"],
            },
            KindField {
                field: "project",
                span: span(metric.project.as_ref().map(Spanned::span)),
                kinds: &["sentry"],
            },
            KindField {
                field: "y_axis",
                span: span(metric.y_axis.as_ref().map(Spanned::span)),
                kinds: &["sentry"],
            },
            KindField {
                field: "step",
                span: span(metric.step.as_ref().map(Spanned::span)),
                kinds: &["prometheus", "sentry"],
            },
        ];
        for field in fields {
            let Some(span) = field.span else { continue };
            if field.kinds.contains(&kind) {
                continue;
            }
            let takes = field
                .kinds
                .iter()
                .map(|kind| format!("`{kind}`"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(self.invalid(
                span,
                format!(
                    "`{}` does not apply to watch metric `{}` of `kind = \"{kind}\"`",
                    field.field,
                    metric.name.get_ref()
                ),
                Some(format!(
                    "remove `{}`, or set `kind` to one that takes it: {takes}",
                    field.field
                )),
            ));
        }
        Ok(())
    }

    /// An error for a field `kind` requires.
    fn missing(
        &self,
        metric: &WatchMetricFile,
        kind: &str,
        field: &str,
        example: &str,
    ) -> ConfigError {
        self.invalid(
            metric.name.span(),
            format!(
                "watch metric `{}` of `kind = \"{kind}\"` has no `{field}`",
                metric.name.get_ref()
            ),
            Some(format!("add `{example}`")),
        )
    }

    /// The raw form: method, templated URL, JSON body and JSONPath.
    fn http_metric(
        &self,
        metric: &WatchMetricFile,
        headers: Vec<(String, Masked)>,
    ) -> Result<HttpMetric, ConfigError> {
        let name = metric.name.get_ref();
        let key = |field: &str| format!("watch.metric `{name}` {field}");
        let method = match &metric.method {
            None => MetricMethod::Get,
            Some(method) => match method.get_ref().to_ascii_uppercase().as_str() {
                "GET" => MetricMethod::Get,
                "POST" => MetricMethod::Post,
                _ => {
                    return Err(self.invalid(
                        method.span(),
                        format!(
                            "unsupported `method = \"{}\"` for {}",
                            method.get_ref(),
                            key("method")
                        ),
                        Some("write `\"GET\"` (the default) or `\"POST\"`".to_owned()),
                    ));
                }
            },
        };
        let Some(url) = &metric.url else {
            return Err(self.missing(
                metric,
                "http",
                "url",
                "url = \"https://api.example.com/metrics?from={window_start:unix}\"",
            ));
        };
        let text = self.text(url, &key("url"))?;
        let template = TimeTemplate::parse(&text)
            .map_err(|error| self.template_error(url, &error, &key("url")))?;
        // The URL must parse with any times filled in.
        let sample = template.render(&sample_window(), |value| {
            url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
        });
        match url::Url::parse(&sample) {
            Ok(parsed)
                if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {}
            _ => {
                return Err(self.invalid(
                    url.span(),
                    format!(
                        "invalid URL `{}` for key `{}`",
                        self.redactor.redact(&text),
                        key("url")
                    ),
                    Some("write an absolute `http` or `https` URL, e.g. `https://api.example.com/query?from={window_start:unix}`".to_owned()),
                ));
            }
        }
        if method == MetricMethod::Get && metric.body.is_some() {
            let span = metric.body.as_ref().map_or(0..0, Spanned::span);
            return Err(self.invalid(
                span,
                format!("watch metric `{name}` sends a `body` with `GET`"),
                Some("add `method = \"POST\"`, or remove `body`".to_owned()),
            ));
        }
        let body = metric
            .body
            .as_ref()
            .map(|body| self.metric_body(toml_to_json(body.get_ref()), body, name))
            .transpose()?;
        let Some(value_text) = &metric.value else {
            return Err(self.missing(
                metric,
                "http",
                "value",
                "value = \"$.data.result[0].value[1]\"",
            ));
        };
        let value = JsonPath::parse(value_text.get_ref()).map_err(|error| {
            self.invalid(
                value_text.span(),
                format!(
                    "invalid JSONPath `{}` for `{}`: {error}",
                    value_text.get_ref(),
                    key("value")
                ),
                Some("write an RFC 9535 path, e.g. `\"$.data.result[0].value[1]\"`".to_owned()),
            )
        })?;
        Ok(HttpMetric {
            method,
            url: template,
            headers,
            body,
            value_text: value_text.get_ref().clone(),
            value,
        })
    }

    /// `${VAR}` resolved and time placeholders checked in every string of a
    /// JSON body.
    fn metric_body(
        &self,
        value: serde_json::Value,
        spanned: &Spanned<toml::Value>,
        name: &str,
    ) -> Result<serde_json::Value, ConfigError> {
        use serde_json::Value;
        let key = format!("watch.metric `{name}` body");
        Ok(match value {
            Value::String(text) => {
                let resolved = secret::resolve(&text, self.lookup, &self.redactor).map_err(
                    |failure| {
                        let (message, hint) = match failure {
                            ResolveFailure::Unset(reference) => (
                                format!(
                                    "environment variable `{}` is not set (or is empty), for key `{key}`",
                                    reference.name
                                ),
                                format!("export `{}` before running shipgate", reference.name),
                            ),
                            ResolveFailure::Malformed { text, .. } => (
                                format!("malformed variable reference `{text}` in `{key}`"),
                                "write `${NAME}`, or `$$` for a literal `$`".to_owned(),
                            ),
                        };
                        self.invalid(spanned.span(), message, Some(hint))
                    },
                )?;
                TimeTemplate::parse(&resolved).map_err(|error| {
                    let at = Spanned::new(spanned.span(), String::new());
                    self.template_error(&at, &error, &key)
                })?;
                Value::String(resolved)
            }
            Value::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(|item| self.metric_body(item, spanned, name))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(members) => Value::Object(
                members
                    .into_iter()
                    .map(|(member, item)| Ok((member, self.metric_body(item, spanned, name)?)))
                    .collect::<Result<_, ConfigError>>()?,
            ),
            other => other,
        })
    }

    /// An unknown placeholder, pointing into the string when the offset is
    /// exact (no `${VAR}` before it) and at the value otherwise.
    fn template_error(
        &self,
        value: &Spanned<String>,
        error: &TemplateError,
        key: &str,
    ) -> ConfigError {
        let span = value.span();
        let raw = value.get_ref();
        // +1 skips the opening quote; exact for values without escapes.
        let at = if raw
            .get(error.offset..)
            .is_some_and(|rest| rest.starts_with(&error.token))
        {
            span.start + 1 + error.offset..span.start + 1 + error.offset + error.token.len()
        } else {
            span
        };
        let hint = match &error.suggestion {
            Some(close) => format!(
                "did you mean `{close}`? placeholders are `{{now}}`, `{{window_start}}`, `{{window_end}}`, `{{deploy_time}}`, with an optional format `:rfc3339`, `:unix` or `:unix_ms`; write `{{{{` for a literal `{{`"
            ),
            None => "placeholders are `{now}`, `{window_start}`, `{window_end}`, `{deploy_time}`, with an optional format `:rfc3339`, `:unix` or `:unix_ms`; write `{{` for a literal `{`".to_owned(),
        };
        self.invalid(
            at,
            format!("{} in `{}`, for key `{key}`", error.message, error.token),
            Some(hint),
        )
    }

    /// `compare` and its `max_increase` (each needs the other).
    fn baseline(&self, metric: &WatchMetricFile) -> Result<Option<Baseline>, ConfigError> {
        let name = metric.name.get_ref();
        match (&metric.compare, &metric.max_increase) {
            (None, None) => {
                if let Some(window) = &metric.baseline_window {
                    return Err(self.invalid(
                        window.span(),
                        format!("watch metric `{name}` sets `baseline_window` without `compare`"),
                        Some("add `compare = \"previous\"` and `max_increase = { factor = 2.0 }`".to_owned()),
                    ));
                }
                Ok(None)
            }
            (Some(compare), _) if compare.get_ref() != "previous" => Err(self.invalid(
                compare.span(),
                format!("unknown `compare = \"{}\"` for watch metric `{name}`", compare.get_ref()),
                Some("write `compare = \"previous\"`: the same query over the window before the deploy".to_owned()),
            )),
            (Some(compare), None) => Err(self.invalid(
                compare.span(),
                format!("watch metric `{name}` sets `compare` without `max_increase`"),
                Some("add `max_increase = { factor = 2.0, absolute = 0.01 }` (fail when above 2× and 0.01 over the baseline)".to_owned()),
            )),
            (None, Some(increase)) => Err(self.invalid(
                increase.span(),
                format!("watch metric `{name}` sets `max_increase` without `compare`"),
                Some("add `compare = \"previous\"`".to_owned()),
            )),
            (Some(_), Some(increase)) => {
                let limits = increase.get_ref();
                let bad = |what: &str| {
                    self.invalid(
                        increase.span(),
                        format!("`max_increase` of watch metric `{name}` {what}"),
                        Some("write e.g. `max_increase = { factor = 2.0, absolute = 0.01 }`: a factor above 0 and an absolute increase of 0 or more".to_owned()),
                    )
                };
                match (limits.factor, limits.absolute) {
                    (None, None) => return Err(bad("sets neither `factor` nor `absolute`")),
                    (Some(factor), _) if !(factor.is_finite() && factor > 0.0) => {
                        return Err(bad(&format!("has `factor = {factor}`")));
                    }
                    (_, Some(absolute)) if !(absolute.is_finite() && absolute >= 0.0) => {
                        return Err(bad(&format!("has `absolute = {absolute}`")));
                    }
                    _ => {}
                }
                Ok(Some(Baseline {
                    window: metric.baseline_window.as_ref().map(|window| window.get_ref().0),
                    factor: limits.factor,
                    absolute: limits.absolute,
                }))
            }
        }
    }
}

/// A fixed window used to check that a templated URL parses.
fn sample_window() -> TimeWindow {
    let at = jiff::Timestamp::UNIX_EPOCH;
    TimeWindow {
        start: at,
        end: at,
        deploy: at,
    }
}
