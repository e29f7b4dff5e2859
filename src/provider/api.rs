//! The HTTP client the platform providers share (Vercel REST, Railway
//! GraphQL): one base URL, one auth header, a deadline on every exchange, and
//! bounded retries that never repeat a side effect.
//!
//! A `GET` is retried after a connection error, a timeout or a 5xx. A `POST`
//! is retried only when the platform refused it with 429 (then it was not
//! processed); a `POST` that may have reached the server is never sent twice,
//! because it could start a second rollback. A 429 waits as long as
//! `Retry-After` (seconds) or `X-RateLimit-Reset` (Unix seconds) asks, up to
//! [`RetryPolicy::max_wait`]; longer is an error saying how long.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use url::Url;

use super::ProviderError;
pub use crate::github::RetryPolicy;
use crate::report::format_duration;

/// One completed exchange: any status, the body as text.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body.
    pub text: String,
}

impl Answer {
    /// The body as JSON.
    pub fn json(
        &self,
        provider: &'static str,
        action: &str,
    ) -> Result<serde_json::Value, ProviderError> {
        serde_json::from_str(&self.text).map_err(|error| ProviderError::Api {
            provider,
            action: action.to_owned(),
            message: format!("the answer is not JSON ({error}): {}", excerpt(&self.text)),
            hint: None,
        })
    }
}

/// A client for one platform API.
#[derive(Debug, Clone)]
pub struct ApiClient {
    provider: &'static str,
    http: reqwest::Client,
    base: Url,
    auth: (HeaderName, HeaderValue),
    /// Where the token came from, for messages.
    token_variable: String,
    /// Added to every request (Vercel's `teamId`).
    common_query: Vec<(String, String)>,
    retry: RetryPolicy,
}

impl ApiClient {
    /// A client for `base` sending `auth` on every request. `token_variable`
    /// names the token in errors; the token itself never appears.
    pub fn new(
        provider: &'static str,
        base: &Url,
        auth: (HeaderName, &str),
        token_variable: &str,
        retry: RetryPolicy,
    ) -> Result<Self, ProviderError> {
        let mut value = HeaderValue::from_str(auth.1).map_err(|_| ProviderError::Api {
            provider,
            action: "prepare the API client".to_owned(),
            message: format!("the token from `${token_variable}` contains characters not allowed in an HTTP header"),
            hint: Some(format!("check `{token_variable}` for a stray newline or quote")),
        })?;
        value.set_sensitive(true);
        let http = reqwest::Client::builder()
            .user_agent(concat!("shipgate/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(retry.request_timeout)
            .timeout(retry.request_timeout)
            .build()
            .map_err(|error| ProviderError::Api {
                provider,
                action: "prepare the API client".to_owned(),
                message: error.to_string(),
                hint: None,
            })?;
        Ok(Self {
            provider,
            http,
            base: base.clone(),
            auth: (auth.0, value),
            token_variable: token_variable.to_owned(),
            common_query: Vec::new(),
            retry,
        })
    }

    /// Adds `name=value` to the query of every request.
    #[must_use]
    pub fn with_query(mut self, name: &str, value: &str) -> Self {
        self.common_query.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The platform's name, e.g. `vercel`.
    pub fn provider(&self) -> &'static str {
        self.provider
    }

    /// `GET path?query`, retried per the module rules.
    pub async fn get(
        &self,
        action: &str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Answer, ProviderError> {
        self.send(Method::GET, action, path, query, None).await
    }

    /// `POST path?query` with a JSON body, retried only after a 429.
    pub async fn post(
        &self,
        action: &str,
        path: &str,
        query: &[(&str, String)],
        body: &serde_json::Value,
    ) -> Result<Answer, ProviderError> {
        self.send(Method::POST, action, path, query, Some(body))
            .await
    }

    /// The error for an answer the caller did not expect: 401/403 name the
    /// token's variable; anything else carries the platform's message.
    pub fn refusal(&self, action: &str, answer: &Answer) -> ProviderError {
        if matches!(
            answer.status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) && !platform_message(&answer.text).contains("plan")
        {
            return ProviderError::Unauthorized {
                provider: self.provider,
                variable: self.token_variable.clone(),
                status: answer.status.to_string(),
                action: action.to_owned(),
            };
        }
        ProviderError::Api {
            provider: self.provider,
            action: action.to_owned(),
            message: format!("HTTP {}: {}", answer.status, platform_message(&answer.text)),
            hint: None,
        }
    }

    async fn send(
        &self,
        method: Method,
        action: &str,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, ProviderError> {
        let url = self.url(path, query);
        let idempotent = method == Method::GET;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .header(self.auth.0.clone(), self.auth.1.clone())
                .header(http::header::ACCEPT, "application/json");
            if let Some(body) = body {
                request = request.json(body);
            }
            let exchange = async {
                let response = request.send().await?;
                let status = response.status();
                let headers = response.headers().clone();
                let text = response.text().await?;
                Ok::<_, reqwest::Error>(Answer {
                    status,
                    headers,
                    text,
                })
            };
            let failure = match tokio::time::timeout(self.retry.request_timeout, exchange).await {
                Ok(Ok(answer)) => {
                    let limited = answer.status == StatusCode::TOO_MANY_REQUESTS;
                    let retryable = limited || (idempotent && answer.status.is_server_error());
                    if !retryable || attempt >= self.retry.attempts {
                        return Ok(answer);
                    }
                    let wait = if limited {
                        rate_limit_wait(&answer.headers, jiff::Timestamp::now())
                            .unwrap_or_else(|| self.backoff(attempt))
                    } else {
                        self.backoff(attempt)
                    };
                    if wait > self.retry.max_wait {
                        return Err(ProviderError::Api {
                            provider: self.provider,
                            action: action.to_owned(),
                            message: format!(
                                "rate limited (HTTP 429); the API asks to wait {}",
                                format_duration(wait)
                            ),
                            hint: Some(
                                "wait and run the step again; other jobs may be sharing the token"
                                    .to_owned(),
                            ),
                        });
                    }
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Ok(Err(error)) => describe(&error),
                Err(_) => format!(
                    "no complete answer within {}",
                    format_duration(self.retry.request_timeout)
                ),
            };
            if idempotent && attempt < self.retry.attempts {
                tokio::time::sleep(self.backoff(attempt)).await;
                continue;
            }
            return Err(ProviderError::Api {
                provider: self.provider,
                action: action.to_owned(),
                message: format!("{method} {}: {failure}", Self::shown(&url)),
                hint: (!idempotent).then(|| {
                    "the request may or may not have reached the platform; check its dashboard before retrying"
                        .to_owned()
                }),
            });
        }
    }

    /// `path` appended to the base URL's path (so a base of
    /// `http://proxy/vercel` keeps its prefix), then the query.
    fn url(&self, path: &str, query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        if !path.is_empty() {
            url.set_path(&format!(
                "{}/{}",
                self.base.path().trim_end_matches('/'),
                path.trim_start_matches('/')
            ));
        }
        {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in &self.common_query {
                pairs.append_pair(name, value);
            }
            for (name, value) in query {
                pairs.append_pair(name, value);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        url
    }

    /// The URL without its query (which may hold ids users consider private).
    fn shown(url: &Url) -> String {
        let mut shown = url.clone();
        shown.set_query(None);
        shown.to_string()
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.retry
            .backoff
            .saturating_mul(2_u32.saturating_pow(attempt.saturating_sub(1)))
    }
}

/// How long a 429 asked to wait: `Retry-After` seconds, else the time until
/// `X-RateLimit-Reset` (Unix seconds).
fn rate_limit_wait(headers: &HeaderMap, now: jiff::Timestamp) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if let Some(seconds) = header("retry-after").and_then(|value| value.trim().parse::<u64>().ok())
    {
        return Some(Duration::from_secs(seconds));
    }
    let reset = header("x-ratelimit-reset")?.trim().parse::<i64>().ok()?;
    let seconds = reset.saturating_sub(now.as_second()).max(0);
    Some(Duration::from_secs(u64::try_from(seconds).unwrap_or(0) + 1))
}

/// The platform's own error text: Vercel's `error.code: error.message`, a
/// GraphQL `errors[0].message`, a `message`, else the start of the body.
pub fn platform_message(body: &str) -> String {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(body) else {
        return excerpt(body);
    };
    let text = |value: &serde_json::Value| value.as_str().map(str::to_owned);
    if let Some(error) = value.get("error") {
        let message = error.get("message").and_then(text);
        let code = error.get("code").and_then(text);
        match (code, message) {
            (Some(code), Some(message)) => return format!("{code}: {message}"),
            (None, Some(message)) | (Some(message), None) => return message,
            (None, None) => {}
        }
        if let Some(message) = text(error) {
            return message;
        }
    }
    if let Some(message) = value
        .get("errors")
        .and_then(|errors| errors.get(0))
        .and_then(|error| error.get("message"))
        .and_then(text)
    {
        return message;
    }
    value
        .get("message")
        .and_then(text)
        .unwrap_or_else(|| excerpt(body))
}

/// The first 200 characters of a body, on one line.
fn excerpt(body: &str) -> String {
    let flat: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 200 {
        format!("{}…", flat.chars().take(200).collect::<String>())
    } else if flat.is_empty() {
        "(empty body)".to_owned()
    } else {
        flat
    }
}

/// A transport error in words, without the URL (callers add it).
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_connect() {
        "could not connect"
    } else if error.is_timeout() {
        "timed out"
    } else if error.is_body() || error.is_decode() {
        "the answer was cut off"
    } else {
        "the request failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use wiremock::matchers::{header, method, path, query_param};
    use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

    use super::*;

    fn quick() -> RetryPolicy {
        RetryPolicy {
            attempts: 3,
            backoff: Duration::from_millis(10),
            max_wait: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
        }
    }

    fn client(server: &MockServer) -> ApiClient {
        let base = Url::parse(&server.uri()).unwrap();
        ApiClient::new(
            "vercel",
            &base,
            (http::header::AUTHORIZATION, "Bearer s3cr3t"),
            "VERCEL_TOKEN",
            quick(),
        )
        .unwrap()
        .with_query("teamId", "team_1")
    }

    /// Answers with each template in turn, then the last one forever.
    struct Sequence {
        answers: Vec<ResponseTemplate>,
        calls: Arc<AtomicUsize>,
    }

    impl Respond for Sequence {
        fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
            let call = self.calls.fetch_add(1, Ordering::SeqCst);
            self.answers[call.min(self.answers.len() - 1)].clone()
        }
    }

    #[tokio::test]
    async fn a_get_carries_auth_and_common_query_and_retries_a_5xx() {
        let server = MockServer::start().await;
        let calls = Arc::new(AtomicUsize::new(0));
        Mock::given(method("GET"))
            .and(path("/v6/deployments"))
            .and(header("authorization", "Bearer s3cr3t"))
            .and(query_param("teamId", "team_1"))
            .and(query_param("projectId", "prj_1"))
            .respond_with(Sequence {
                answers: vec![
                    ResponseTemplate::new(502),
                    ResponseTemplate::new(200).set_body_string("{\"ok\":true}"),
                ],
                calls: calls.clone(),
            })
            .expect(2)
            .mount(&server)
            .await;
        let answer = client(&server)
            .get(
                "list deployments",
                "/v6/deployments",
                &[("projectId", "prj_1".to_owned())],
            )
            .await
            .unwrap();
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.json("vercel", "list").unwrap()["ok"], true);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_post_is_not_retried_after_a_5xx_but_is_after_a_429_with_retry_after() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v9/projects/prj_1/rollback/dpl_2"))
            .respond_with(
                ResponseTemplate::new(500)
                    .set_body_string("{\"error\":{\"code\":\"internal\",\"message\":\"boom\"}}"),
            )
            .expect(1)
            .mount(&server)
            .await;
        let client = client(&server);
        let answer = client
            .post(
                "roll back",
                "/v9/projects/prj_1/rollback/dpl_2",
                &[],
                &serde_json::json!({}),
            )
            .await
            .unwrap();
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            client.refusal("roll back", &answer).to_string(),
            "vercel could not roll back: HTTP 500 Internal Server Error: internal: boom"
        );

        let limited = MockServer::start().await;
        let calls = Arc::new(AtomicUsize::new(0));
        Mock::given(method("POST"))
            .respond_with(Sequence {
                answers: vec![
                    ResponseTemplate::new(429).insert_header("retry-after", "1"),
                    ResponseTemplate::new(201).set_body_string("{}"),
                ],
                calls: calls.clone(),
            })
            .expect(2)
            .mount(&limited)
            .await;
        let started = std::time::Instant::now();
        let answer = self::client(&limited)
            .post(
                "promote",
                "/v10/projects/p/promote/d",
                &[],
                &serde_json::json!({}),
            )
            .await
            .unwrap();
        assert_eq!(answer.status, StatusCode::CREATED);
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "waited as asked"
        );
    }

    #[tokio::test]
    async fn a_rate_limit_longer_than_the_policy_allows_is_an_error_saying_how_long() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "3600"))
            .expect(1)
            .mount(&server)
            .await;
        let error = client(&server)
            .get("read the project", "/v9/projects/p", &[])
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "vercel could not read the project: rate limited (HTTP 429); the API asks to wait 60m 00s"
        );
    }

    #[tokio::test]
    async fn a_403_names_the_token_variable_never_the_token() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(403).set_body_string(
                "{\"error\":{\"code\":\"forbidden\",\"message\":\"Not authorized\"}}",
            ))
            .mount(&server)
            .await;
        let client = client(&server);
        let answer = client.get("read the user", "/v2/user", &[]).await.unwrap();
        let error = client.refusal("read the user", &answer);
        let text = format!("{error} {error:?}");
        assert!(text.contains("`$VERCEL_TOKEN`"), "{text}");
        assert!(!text.contains("s3cr3t"), "{text}");
    }

    #[tokio::test]
    async fn an_unreachable_api_fails_after_the_bounded_retries_naming_the_url() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let base = Url::parse(&format!("http://127.0.0.1:{port}/graphql/v2")).unwrap();
        let client = ApiClient::new(
            "railway",
            &base,
            (HeaderName::from_static("project-access-token"), "tok"),
            "RAILWAY_TOKEN",
            quick(),
        )
        .unwrap();
        let error = client.get("read the project", "", &[]).await.unwrap_err();
        let text = error.to_string();
        assert!(
            text.starts_with(&format!("railway could not read the project: GET http://127.0.0.1:{port}/graphql/v2: could not connect")),
            "{text}"
        );
    }

    #[test]
    fn platform_messages_are_read_from_each_shape() {
        assert_eq!(
            platform_message(
                "{\"error\":{\"code\":\"not_found\",\"message\":\"Project not found\"}}"
            ),
            "not_found: Project not found"
        );
        assert_eq!(
            platform_message("{\"errors\":[{\"message\":\"Not Authorized\"}],\"data\":null}"),
            "Not Authorized"
        );
        assert_eq!(platform_message("{\"message\":\"nope\"}"), "nope");
        assert_eq!(
            platform_message("<html>\n bad gateway </html>"),
            "<html> bad gateway </html>"
        );
        assert_eq!(platform_message(""), "(empty body)");
    }

    #[test]
    fn rate_limit_waits_follow_retry_after_then_the_reset_time() {
        let now = jiff::Timestamp::from_second(1_000).unwrap();
        let mut headers = HeaderMap::new();
        assert_eq!(rate_limit_wait(&headers, now), None);
        headers.insert("x-ratelimit-reset", HeaderValue::from_static("1009"));
        assert_eq!(
            rate_limit_wait(&headers, now),
            Some(Duration::from_secs(10))
        );
        headers.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(rate_limit_wait(&headers, now), Some(Duration::from_secs(3)));
    }
}
