//! Resolves `[notify]` and `[notify.webhook]` (issue 14).
//!
//! The webhook URL is a secret (whoever holds it can post to the channel),
//! so, like a platform token, it must be a single `${VAR}`: the value never
//! sits in the file, and every message names the variable instead.

use std::time::Duration;

use toml::Spanned;
use url::Url;

use super::Resolver;
use crate::config::ConfigError;
use crate::config::file::{NotifyEvent, NotifyFile, WebhookFile};
use crate::config::model::{ApiToken, NotifyConfig, WebhookConfig};

/// How long one webhook delivery may take, retries included.
const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

impl Resolver<'_> {
    /// `[notify]`; defaults: no issue, labels `["incident"]`, no webhook.
    pub(super) fn notify(&self, file: &NotifyFile) -> Result<NotifyConfig, ConfigError> {
        let issue_labels = match &file.issue_labels {
            None => vec!["incident".to_owned()],
            Some(labels) => {
                let mut resolved: Vec<String> = Vec::new();
                for label in labels {
                    let text = label.get_ref().trim();
                    if text.is_empty() {
                        return Err(self.invalid(
                            label.span(),
                            "empty label in `notify.issue_labels`".to_owned(),
                            Some("remove it, or name a label, e.g. `\"incident\"`".to_owned()),
                        ));
                    }
                    if text.contains(',') {
                        return Err(self.invalid(
                            label.span(),
                            format!("label `{text}` in `notify.issue_labels` contains a comma"),
                            Some(
                                "write each label as its own string: `[\"incident\", \"prod\"]`"
                                    .to_owned(),
                            ),
                        ));
                    }
                    if !resolved.iter().any(|known| known == text) {
                        resolved.push(text.to_owned());
                    }
                }
                resolved
            }
        };
        let webhook = file
            .webhook
            .as_ref()
            .map(|webhook| self.webhook(webhook))
            .transpose()?;
        Ok(NotifyConfig {
            github_issue: file.github_issue,
            issue_labels,
            webhook,
        })
    }

    fn webhook(&self, file: &Spanned<WebhookFile>) -> Result<WebhookConfig, ConfigError> {
        let webhook = file.get_ref();
        let url = self.webhook_url(&webhook.url)?;
        let events = match &webhook.events {
            None => NotifyEvent::ALL.to_vec(),
            Some(events) => {
                let mut resolved = Vec::new();
                for event in events {
                    if resolved.contains(event.get_ref()) {
                        return Err(self.invalid(
                            event.span(),
                            format!(
                                "event `{}` is listed twice in `notify.webhook.events`",
                                event.get_ref().as_str()
                            ),
                            Some("list each event once".to_owned()),
                        ));
                    }
                    resolved.push(*event.get_ref());
                }
                if resolved.is_empty() {
                    return Err(self.invalid(
                        file.span(),
                        "`notify.webhook.events` is empty, so the webhook would never post"
                            .to_owned(),
                        Some("list the events to post on, or remove `[notify.webhook]`".to_owned()),
                    ));
                }
                resolved
            }
        };
        Ok(WebhookConfig {
            url,
            events,
            timeout: webhook
                .timeout
                .map_or(DEFAULT_WEBHOOK_TIMEOUT, |duration| duration.0),
        })
    }

    /// The URL: one `${VAR}` that holds an http(s) URL.
    fn webhook_url(&self, value: &Spanned<String>) -> Result<ApiToken, ConfigError> {
        const KEY: &str = "notify.webhook.url";
        let variable = self.single_variable(
            value,
            format!(
                "`{KEY}` must be a single `${{VAR}}` reference, so the webhook URL (a secret) stays out of the file"
            ),
            "write `url = \"${SLACK_WEBHOOK_URL}\"` and pass it from a secret (in a workflow: `env: SLACK_WEBHOOK_URL: ${{ secrets.SLACK_WEBHOOK_URL }}`)"
                .to_owned(),
        )?;
        let text = self.text(value, KEY)?;
        let usable = Url::parse(&text)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some());
        if usable.is_none() {
            return Err(self.invalid(
                value.span(),
                format!("`${{{variable}}}` (for key `{KEY}`) does not hold an http or https URL"),
                Some(format!(
                    "set `{variable}` to the incoming webhook's URL, e.g. `https://hooks.slack.com/services/…`"
                )),
            ));
        }
        Ok(ApiToken {
            variable,
            value: text,
        })
    }
}
