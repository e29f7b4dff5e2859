//! The Slack-compatible incoming webhook: one `POST` of
//! `{"text": …, "blocks": [...]}` per event (issue 14).
//!
//! The payload is built from a [`Notice`] whose fields are already masked,
//! never by masking the finished JSON. One delivery has one deadline, and
//! only a `429` is retried: any other failure may have been delivered, and a
//! channel should not hear the same thing twice.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

use super::Notice;
use crate::config::{NotifyEvent, WebhookConfig};
use crate::report::format_duration;

/// Attempts in total when the webhook keeps answering `429`.
const ATTEMPTS: u32 = 3;
/// Wait after a `429` without `Retry-After`.
const RATE_LIMIT_BACKOFF: Duration = Duration::from_secs(1);

/// Why a webhook delivery failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WebhookError {
    /// The request did not get an answer (the URL is left out: it is a secret).
    #[error("the request failed: {source}")]
    Send {
        /// Why, without the URL.
        #[source]
        source: reqwest::Error,
    },
    /// The webhook answered with an error status.
    #[error("it answered {status}: {body}")]
    Status {
        /// The status code.
        status: u16,
        /// The start of its body.
        body: String,
    },
    /// No answer within the deadline.
    #[error("no answer within {}", format_duration(*after))]
    Timeout {
        /// The deadline (`notify.webhook.timeout`).
        after: Duration,
    },
}

/// The JSON body for `notice`.
pub(crate) fn payload(notice: &Notice) -> Value {
    let environment = &notice.environment;
    let release = |release: Option<&String>| {
        release.map_or_else(|| "unknown".to_owned(), |id| format!("`{id}`"))
    };
    let from = release(notice.from.as_ref());
    let to = release(notice.to.as_ref());
    let headline = match (notice.event, &notice.from) {
        // A run without a provider, or stopped before deploying, names no release.
        (NotifyEvent::DeploySucceeded, None) => format!("Deployed to {environment}"),
        (NotifyEvent::DeployFailed, None) => format!("Deploy to {environment} failed"),
        (NotifyEvent::DeploySucceeded, Some(_)) => format!("Deployed {from} to {environment}"),
        (NotifyEvent::DeployFailed, Some(_)) => format!("Deploy of {from} to {environment} failed"),
        (NotifyEvent::RollbackStarted, _) => format!("Rolling back {environment} from {from}"),
        (NotifyEvent::RollbackSucceeded, _) => {
            format!("Rolled back {environment}: {from} → {to}")
        }
        (NotifyEvent::RollbackFailed, _) => {
            format!("Rollback of {environment} from {from} failed: it needs a person now")
        }
    };
    let mut text = format!("shipgate: {headline}");
    if let Some(reason) = &notice.reason {
        let _ = write!(text, " ({reason})");
    }
    if let Some(url) = &notice.run_url {
        let _ = write!(text, " {url}");
    }
    let releases = match notice.event {
        NotifyEvent::DeploySucceeded | NotifyEvent::DeployFailed => {
            notice.from.as_ref().map(|_| from.clone())
        }
        NotifyEvent::RollbackStarted if notice.to.is_some() => Some(format!("{from} → {to}")),
        NotifyEvent::RollbackStarted => Some(format!("{from} → previous healthy release")),
        NotifyEvent::RollbackSucceeded | NotifyEvent::RollbackFailed => {
            Some(format!("{from} → {to}"))
        }
    };
    let mut fields = vec![field("Environment", environment)];
    if let Some(releases) = &releases {
        fields.push(field("Release", releases));
    }
    if let Some(reason) = &notice.reason {
        fields.push(field("Reason", reason));
    }
    if let Some(database) = &notice.database {
        fields.push(field("Database", database));
    }
    let mut blocks = vec![
        json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": format!("*{headline}*")},
        }),
        json!({"type": "section", "fields": fields}),
    ];
    if let Some(url) = &notice.run_url {
        blocks.push(json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": format!("<{url}|GitHub Actions run>")}],
        }));
    }
    json!({"text": text, "blocks": blocks})
}

fn field(name: &str, value: &str) -> Value {
    json!({"type": "mrkdwn", "text": format!("*{name}*\n{value}")})
}

/// Posts `payload` within `config.timeout`, retrying only on `429`.
pub(crate) async fn post(config: &WebhookConfig, payload: &Value) -> Result<(), WebhookError> {
    let deadline = config.timeout;
    tokio::time::timeout(deadline, attempts(config, payload))
        .await
        .unwrap_or(Err(WebhookError::Timeout { after: deadline }))
}

async fn attempts(config: &WebhookConfig, payload: &Value) -> Result<(), WebhookError> {
    let client = reqwest::Client::builder()
        .timeout(config.timeout)
        .build()
        .map_err(|source| WebhookError::Send {
            source: source.without_url(),
        })?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let response = client
            .post(config.url.value.as_str())
            .json(payload)
            .send()
            .await
            .map_err(|source| WebhookError::Send {
                source: source.without_url(),
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS && attempt < ATTEMPTS {
            let wait = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok())
                .map_or(RATE_LIMIT_BACKOFF, Duration::from_secs);
            // The overall deadline still bounds a long `Retry-After`.
            tokio::time::sleep(wait).await;
            continue;
        }
        let body = response.text().await.unwrap_or_default();
        return Err(WebhookError::Status {
            status: status.as_u16(),
            body: body.chars().take(200).collect::<String>().trim().to_owned(),
        });
    }
}
