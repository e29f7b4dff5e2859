//! Sends one GraphQL document to Railway and turns its answer into data or a
//! [`ProviderError`]; what the documents are is `graphql.rs`'s business.
//!
//! Every call is `POST <api_url>` with `{"query", "variables"}`, through the
//! shared [`ApiClient`], so a call is never repeated after it may have
//! reached Railway (a mutation sent twice could roll back twice).
//!
//! Rate limits: Railway answers `429` with `Retry-After` (and sends
//! `X-RateLimit-Limit`/`-Remaining`/`-Reset` on every answer). shipgate
//! relies only on the 429 path, which [`ApiClient`] honours by waiting as
//! `Retry-After` or `X-RateLimit-Reset` asks; it does not throttle on
//! `X-RateLimit-Remaining` because it makes at most one call per poll
//! interval per service.
//!
//! GraphQL errors arrive with HTTP 200 and an `errors` array: each is a
//! failure carrying Railway's message, and an authorization message names
//! the token's variable as [`ProviderError::Unauthorized`].

use http::{HeaderName, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

use super::super::ProviderError;
use super::super::api::{ApiClient, RetryPolicy, platform_message};
use crate::config::RailwayTokenKind;

/// The provider's name in messages.
pub(super) const PROVIDER: &str = "railway";

/// Railway's GraphQL endpoint, with the token as the header its kind needs.
#[derive(Debug, Clone)]
pub(super) struct Backboard {
    api: ApiClient,
    variable: String,
}

impl Backboard {
    /// A client for `api_url`: an account or team token goes in
    /// `Authorization: Bearer`, a project token in `Project-Access-Token`.
    pub(super) fn new(
        api_url: &Url,
        token: &str,
        token_kind: RailwayTokenKind,
        variable: &str,
        retry: RetryPolicy,
    ) -> Result<Self, ProviderError> {
        let bearer;
        let auth = match token_kind {
            RailwayTokenKind::Account => {
                bearer = format!("Bearer {token}");
                (http::header::AUTHORIZATION, bearer.as_str())
            }
            RailwayTokenKind::Project => (HeaderName::from_static("project-access-token"), token),
        };
        let api = ApiClient::new(PROVIDER, api_url, auth, variable, retry)?;
        Ok(Self {
            api,
            variable: variable.to_owned(),
        })
    }

    /// Runs `document` with `variables` and reads its `data` as `T`;
    /// `action` names what was being done in errors (`list deployments`).
    pub(super) async fn execute<T: DeserializeOwned>(
        &self,
        action: &str,
        document: &str,
        variables: serde_json::Value,
    ) -> Result<T, ProviderError> {
        let body = serde_json::json!({ "query": document, "variables": variables });
        let answer = self.api.post(action, "", &[], &body).await?;
        if answer.status != StatusCode::OK {
            return Err(self.api.refusal(action, &answer));
        }
        let value = answer.json(PROVIDER, action)?;
        if value
            .get("errors")
            .and_then(serde_json::Value::as_array)
            .is_some_and(|errors| !errors.is_empty())
        {
            let message = platform_message(&answer.text);
            if is_authorization(&message) {
                return Err(ProviderError::Unauthorized {
                    provider: PROVIDER,
                    variable: self.variable.clone(),
                    status: format!("GraphQL error `{message}`"),
                    action: action.to_owned(),
                });
            }
            return Err(ProviderError::Api {
                provider: PROVIDER,
                action: action.to_owned(),
                message,
                hint: None,
            });
        }
        let data = value
            .get("data")
            .filter(|data| !data.is_null())
            .cloned()
            .ok_or_else(|| ProviderError::Api {
                provider: PROVIDER,
                action: action.to_owned(),
                message: "the answer has neither `data` nor `errors`".to_owned(),
                hint: None,
            })?;
        serde_json::from_value(data).map_err(|error| ProviderError::Api {
            provider: PROVIDER,
            action: action.to_owned(),
            message: format!("the answer does not have the expected shape: {error}"),
            hint: Some(
                "`api_url` may point at something other than Railway's GraphQL API".to_owned(),
            ),
        })
    }
}

/// Whether a GraphQL error message says the token was refused (Railway says
/// `Not Authorized`; a proxy may say `Unauthorized` or `Unauthenticated`).
fn is_authorization(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    [
        "not authorized",
        "unauthorized",
        "unauthenticated",
        "invalid token",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}
