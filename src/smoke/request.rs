//! Building and sending one smoke check's HTTP request.
//!
//! A [`PreparedRequest`] is validated once per suite (URL, header names and
//! values) so a config mistake stops the suite before any request is sent.
//! [`send`] follows redirects itself when the check asks (so the suite's
//! shared clients serve every check, each hop taking the one its scheme
//! needs), within the check's one deadline, and turns
//! everything that can go wrong on the wire (refused connection, DNS, TLS,
//! timeouts, redirect loops) into a [`TransportFailure`]: those are check
//! failures, not errors. Judging the response is left to `assertion.rs`.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use tokio::time::Instant;
use url::Url;

use super::certificate::PeerCertificate;
use super::client::{HttpClient, TrustStoreError};
use super::target::ResolvedUrl;
use crate::config::{HttpMethod, Redirects, RequestBody, SmokeCheck};

/// The most of a response body that is read; JSON assertions on a larger body
/// fail rather than exhaust memory.
pub(crate) const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Why a header of a check cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeaderFailure {
    /// Not a valid HTTP header name.
    Name(String),
    /// The value holds characters HTTP forbids (e.g. a newline).
    Value(String),
}

/// One check's request, ready to send any number of times.
#[derive(Debug, Clone)]
pub(crate) struct PreparedRequest {
    /// The method.
    pub(crate) method: HttpMethod,
    /// Where it goes, real and masked.
    pub(crate) target: ResolvedUrl,
    /// Headers; values from the config are marked sensitive.
    headers: HeaderMap,
    /// The body, if any.
    body: Option<RequestBody>,
    /// Deadline for the whole exchange, redirects and body included.
    pub(crate) timeout: Duration,
    /// Whether and how far to follow redirects.
    redirects: Redirects,
}

impl PreparedRequest {
    /// Validates `check`'s headers and pairs them with its resolved URL.
    pub(crate) fn new(check: &SmokeCheck, target: ResolvedUrl) -> Result<Self, HeaderFailure> {
        let mut headers = HeaderMap::new();
        for (name, value) in &check.headers {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| HeaderFailure::Name(name.clone()))?;
            let mut value = HeaderValue::from_str(value.expose())
                .map_err(|_| HeaderFailure::Value(name.clone()))?;
            value.set_sensitive(true);
            headers.append(header, value);
        }
        Ok(Self {
            method: check.method,
            target,
            headers,
            body: check.body.clone(),
            timeout: check.timeout,
            redirects: check.redirects,
        })
    }

    /// `GET http://…/api/health`, with secrets masked.
    pub(crate) fn line(&self) -> String {
        format!("{} {}", self.method.as_str(), self.target.shown)
    }
}

/// A response that arrived in full (or up to [`MAX_BODY_BYTES`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct ReceivedResponse {
    /// The status code.
    pub(crate) status: u16,
    /// The response headers.
    pub(crate) headers: HeaderMap,
    /// The body, at most [`MAX_BODY_BYTES`].
    pub(crate) body: Vec<u8>,
    /// Whether the body was longer than [`MAX_BODY_BYTES`] and cut.
    pub(crate) truncated: bool,
    /// From sending the first request to the end of the body.
    pub(crate) elapsed: Duration,
    /// The server's certificate, for HTTPS.
    pub(crate) certificate: Option<PeerCertificate>,
    /// The redirects followed, in order (empty when none).
    pub(crate) redirects: Vec<Url>,
}

/// Why no complete response arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TransportFailure {
    /// Nothing listens on the port.
    ConnectionRefused,
    /// The host name does not resolve.
    Dns {
        /// The host.
        host: String,
        /// What the resolver said.
        message: String,
    },
    /// The TLS handshake failed (certificate, protocol).
    Tls(String),
    /// No response head within the check's timeout.
    Timeout(Duration),
    /// The head arrived but the body did not finish within the timeout.
    BodyTimeout {
        /// The status that did arrive.
        status: u16,
        /// The check's timeout.
        timeout: Duration,
    },
    /// Following redirects came back to a URL already visited.
    RedirectLoop(Vec<Url>),
    /// More redirects than `max_redirects`.
    TooManyRedirects {
        /// The limit.
        max: usize,
        /// The URLs visited.
        chain: Vec<Url>,
    },
    /// A redirect's `Location` is missing or not a URL.
    BadLocation(String),
    /// An `https://` URL, but the system's trusted certificates could not
    /// be loaded.
    TrustStore(TrustStoreError),
    /// The connection broke some other way.
    Other(String),
}

/// The URLs of an exchange that went wrong: the first, then `visited`.
fn chain(request: &PreparedRequest, visited: Vec<Url>) -> Vec<Url> {
    std::iter::once(request.target.url.clone())
        .chain(visited)
        .collect()
}

/// `http://h/a → http://h/b`.
fn chain_text(chain: &[Url]) -> String {
    chain
        .iter()
        .map(Url::as_str)
        .collect::<Vec<_>>()
        .join(" → ")
}

impl fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ConnectionRefused => f.write_str("connection refused"),
            Self::Dns { host, message } => write!(f, "cannot resolve host `{host}`: {message}"),
            Self::Tls(message) => write!(f, "TLS handshake failed: {message}"),
            Self::Timeout(timeout) => write!(
                f,
                "no response within {}",
                humantime::format_duration(*timeout)
            ),
            Self::BodyTimeout { status, timeout } => write!(
                f,
                "status {status}, but the body did not arrive within {}",
                humantime::format_duration(*timeout)
            ),
            Self::RedirectLoop(chain) => write!(f, "redirect loop: {}", chain_text(chain)),
            Self::TooManyRedirects { max, chain } => write!(
                f,
                "more than {max} redirects (`max_redirects`): {}",
                chain_text(chain)
            ),
            Self::BadLocation(location) => {
                write!(f, "redirect with an invalid `Location`: `{location}`")
            }
            Self::TrustStore(error) => write!(f, "{error}"),
            Self::Other(message) => write!(f, "request failed: {message}"),
        }
    }
}

/// What one attempt got back.
#[derive(Debug, Clone)]
pub(crate) enum Exchange {
    /// A response arrived.
    Response(ReceivedResponse),
    /// None did.
    Failure(TransportFailure),
}

/// What one [`send`] got, and whether the server saw the request.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    /// The response or why none arrived.
    pub(crate) exchange: Exchange,
    /// False only when the first connection failed (refused, DNS, TLS
    /// handshake) before the request was written: then sending it again
    /// cannot repeat a side effect. A timeout counts as reached: the request
    /// may have been written.
    pub(crate) reached_server: bool,
}

/// Sends `request` once, following redirects when the check asks; the whole
/// exchange, redirects and body included, must finish within the request's
/// timeout.
pub(crate) async fn send(client: &HttpClient, request: &PreparedRequest) -> Delivery {
    let mut reached_server = true;
    let exchange = exchange(client, request, &mut reached_server).await;
    Delivery {
        exchange,
        reached_server,
    }
}

async fn exchange(
    client: &HttpClient,
    request: &PreparedRequest,
    reached_server: &mut bool,
) -> Exchange {
    // The trust store, when this is the suite's first `https://` request, is
    // loaded before the clock starts: it is not the server's latency.
    let _ = client.for_url(&request.target.url);
    let started = Instant::now();
    let deadline = crate::config::deadline_after(started, request.timeout);
    let mut url = request.target.url.clone();
    let mut method = method(request.method);
    let mut body = request.body.as_ref();
    // Borrowed until a redirect to another origin drops the credentials.
    let mut headers = Cow::Borrowed(&request.headers);
    // The redirects followed, after the first URL.
    let mut visited: Vec<Url> = Vec::new();
    let mut response = loop {
        // No `timeout` of reqwest's own: `timeout_at` bounds the exchange,
        // and a second timer per request was measurable work.
        let mut builder = match client.for_url(&url) {
            Ok(client) => client,
            Err(error) => return Exchange::Failure(TransportFailure::TrustStore(error)),
        }
        .request(method.clone(), url.clone())
        .headers(headers.as_ref().clone());
        builder = match body {
            Some(RequestBody::Text(text)) => builder.body(text.clone()),
            Some(RequestBody::Json(value)) => builder.json(value),
            None => builder,
        };
        let response = match tokio::time::timeout_at(deadline, builder.send()).await {
            Err(_elapsed) => return Exchange::Failure(TransportFailure::Timeout(request.timeout)),
            Ok(Err(error)) => {
                // Only the first hop: after a redirect the server saw the request.
                *reached_server = !(visited.is_empty() && error.is_connect());
                return Exchange::Failure(classify(&error, request.timeout, None));
            }
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if !request.redirects.follow
            || !status.is_redirection()
            || status == StatusCode::NOT_MODIFIED
        {
            break response;
        }
        let Some(location) = response.headers().get(header::LOCATION) else {
            break response;
        };
        let location = String::from_utf8_lossy(location.as_bytes()).into_owned();
        let Ok(next) = url.join(&location) else {
            return Exchange::Failure(TransportFailure::BadLocation(location));
        };
        let looped = next == request.target.url || visited.contains(&next);
        visited.push(next.clone());
        if looped {
            return Exchange::Failure(TransportFailure::RedirectLoop(chain(request, visited)));
        }
        if visited.len() > request.redirects.max {
            return Exchange::Failure(TransportFailure::TooManyRedirects {
                max: request.redirects.max,
                chain: chain(request, visited),
            });
        }
        // As browsers and curl do: 303 (and 301/302 after a POST) become a GET.
        if status == StatusCode::SEE_OTHER
            || (method == Method::POST
                && matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND))
        {
            method = Method::GET;
            body = None;
        }
        // Credentials never follow a redirect to another origin.
        if next.origin() != url.origin() {
            let owned = headers.to_mut();
            for name in [
                header::AUTHORIZATION,
                header::COOKIE,
                header::PROXY_AUTHORIZATION,
            ] {
                owned.remove(name);
            }
        }
        url = next;
    };
    let status = response.status().as_u16();
    let response_headers = detached(&std::mem::take(response.headers_mut()));
    let certificate = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(reqwest::tls::TlsInfo::peer_certificate)
        .and_then(PeerCertificate::from_der);
    let mut body = Vec::new();
    let mut truncated = false;
    loop {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Err(_elapsed) => {
                return Exchange::Failure(TransportFailure::BodyTimeout {
                    status,
                    timeout: request.timeout,
                });
            }
            Ok(Err(error)) => {
                return Exchange::Failure(classify(&error, request.timeout, Some(status)));
            }
            Ok(Ok(None)) => break,
            Ok(Ok(Some(chunk))) => {
                let room = MAX_BODY_BYTES - body.len();
                if chunk.len() > room {
                    body.extend_from_slice(&chunk[..room]);
                    truncated = true;
                    break;
                }
                body.extend_from_slice(&chunk);
            }
        }
    }
    Exchange::Response(ReceivedResponse {
        status,
        headers: response_headers,
        body,
        truncated,
        elapsed: started.elapsed(),
        certificate,
        redirects: visited,
    })
}

/// `headers` with every value copied out of the connection's read buffer.
/// hyper's header values share that buffer (8 KiB per response), so a kept
/// response pinned all of it: 4 MB of a 500-check suite's 6.5 MB heap.
fn detached(headers: &HeaderMap) -> HeaderMap {
    let mut owned = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let copy = HeaderValue::from_bytes(value.as_bytes()).map_or_else(
            |_| value.clone(),
            |mut copy| {
                copy.set_sensitive(value.is_sensitive());
                copy
            },
        );
        owned.append(name.clone(), copy);
    }
    owned
}

fn method(method: HttpMethod) -> Method {
    match method {
        HttpMethod::Get => Method::GET,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Options => Method::OPTIONS,
    }
}

/// Names what went wrong, from the causes below reqwest's own message (which
/// repeats the URL, and the URL may hold a secret).
fn classify(error: &reqwest::Error, timeout: Duration, status: Option<u16>) -> TransportFailure {
    if error.is_timeout() {
        return match status {
            Some(status) => TransportFailure::BodyTimeout { status, timeout },
            None => TransportFailure::Timeout(timeout),
        };
    }
    let causes = causes(error);
    let innermost = causes
        .last()
        .cloned()
        .unwrap_or_else(|| "unknown error".to_owned());
    if error.is_dns() {
        let host = error
            .url()
            .and_then(Url::host_str)
            .unwrap_or_default()
            .to_owned();
        return TransportFailure::Dns {
            host,
            message: innermost,
        };
    }
    let is_https = error.url().is_some_and(|url| url.scheme() == "https");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        // `io::Error::source` skips the error it wraps, so descend by hand:
        // tokio-rustls's `InvalidData` sits inside hyper's `Other`.
        let mut io = cause.downcast_ref::<std::io::Error>();
        while let Some(error) = io {
            match error.kind() {
                std::io::ErrorKind::ConnectionRefused => {
                    return TransportFailure::ConnectionRefused;
                }
                std::io::ErrorKind::InvalidData if is_https => {
                    return TransportFailure::Tls(innermost);
                }
                _ => {}
            }
            io = error
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<std::io::Error>());
        }
        source = cause.source();
    }
    TransportFailure::Other(causes.join(": "))
}

/// The messages of `error`'s causes, outermost first, skipping repeats.
pub(crate) fn causes(error: &reqwest::Error) -> Vec<String> {
    let mut messages: Vec<String> = Vec::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let message = cause.to_string();
        if !message.is_empty() && messages.last().is_none_or(|last| !last.contains(&message)) {
            messages.push(message);
        }
        source = cause.source();
    }
    messages
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::{CheckTarget, Expectations, Masked, Redactor};

    #[test]
    fn detached_headers_hold_no_part_of_the_read_buffer() {
        // As hyper hands them out: values sliced from one shared buffer.
        let mut read = vec![b' '; 8192];
        read[..17].copy_from_slice(b"application/json;");
        read[17..26].copy_from_slice(b"s3cr3t-id");
        let shared = bytes::Bytes::from(read);
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_maybe_shared(shared.slice(..16)).unwrap(),
        );
        let mut session = HeaderValue::from_maybe_shared(shared.slice(17..26)).unwrap();
        session.set_sensitive(true);
        headers.append(header::SET_COOKIE, session.clone());
        headers.append(header::SET_COOKIE, HeaderValue::from_static("b=2"));
        let range = shared.as_ptr_range();

        let owned = detached(&headers);

        assert_eq!(owned, headers);
        for (_, value) in &owned {
            assert!(
                !range.contains(&value.as_bytes().as_ptr()),
                "a value still points into the read buffer"
            );
        }
        let cookies: Vec<_> = owned.get_all(header::SET_COOKIE).iter().collect();
        assert_eq!(cookies, [&session, &HeaderValue::from_static("b=2")]);
        assert!(cookies[0].is_sensitive() && !cookies[1].is_sensitive());
    }

    fn check(headers: Vec<(&str, &str)>) -> SmokeCheck {
        let redactor = Redactor::default();
        SmokeCheck {
            name: "health".into(),
            method: HttpMethod::Get,
            target: CheckTarget::Path("/api/health".into()),
            headers: headers
                .into_iter()
                .map(|(name, value)| (name.to_owned(), Masked::new(value.to_owned(), &redactor)))
                .collect(),
            query: Vec::new(),
            redirects: Redirects {
                follow: false,
                max: 10,
            },
            max_latency: None,
            flow: None,
            captures: Vec::new(),
            body: None,
            timeout: Duration::from_secs(2),
            expect: Expectations::status_ok(),
            idempotent: false,
            eventually: None,
        }
    }

    fn target() -> ResolvedUrl {
        let redactor = Redactor::default();
        redactor.register("s3cret");
        let url = url::Url::parse("http://127.0.0.1:9/api/health?key=s3cret").unwrap();
        ResolvedUrl {
            shown: Masked::new(url.to_string(), &redactor),
            url,
        }
    }

    #[test]
    fn the_request_line_is_masked() {
        let request = PreparedRequest::new(&check(vec![]), target()).unwrap();
        assert_eq!(request.line(), "GET http://127.0.0.1:9/api/health?key=***");
    }

    #[test]
    fn invalid_headers_are_refused_without_echoing_the_value() {
        let failure =
            PreparedRequest::new(&check(vec![("bad header", "x")]), target()).unwrap_err();
        assert_eq!(failure, HeaderFailure::Name("bad header".into()));
        let failure =
            PreparedRequest::new(&check(vec![("X-Token", "a\nb")]), target()).unwrap_err();
        assert_eq!(failure, HeaderFailure::Value("X-Token".into()));
    }

    #[test]
    fn transport_failures_read_well() {
        assert_eq!(
            TransportFailure::Timeout(Duration::from_secs(2)).to_string(),
            "no response within 2s"
        );
        assert_eq!(
            TransportFailure::Timeout(Duration::from_millis(500)).to_string(),
            "no response within 500ms"
        );
        assert_eq!(
            TransportFailure::ConnectionRefused.to_string(),
            "connection refused"
        );
        assert_eq!(
            TransportFailure::BodyTimeout {
                status: 200,
                timeout: Duration::from_secs(1)
            }
            .to_string(),
            "status 200, but the body did not arrive within 1s"
        );
    }
}
