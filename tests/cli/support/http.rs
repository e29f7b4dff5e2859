//! A scripted HTTP server for CLI tests: axum on its own tokio runtime in a
//! background thread, bound to `127.0.0.1:0`.
//!
//! [`Server::start`] returns once the listener is bound (the thread reports
//! the address over a channel), so tests never sleep to synchronise. Each
//! route replies as the test scripted it: fixed JSON, a delayed reply, "503
//! until N after start, then 200", or an echo of what arrived. The server
//! counts and records every request, and stops when dropped.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// How one route answers.
#[derive(Debug, Clone)]
pub enum Reply {
    /// `status` with a JSON body.
    Json { status: u16, body: Value },
    /// `status` with a plain text body.
    Text { status: u16, body: String },
    /// Waits `delay`, then answers like [`Reply::Json`].
    Delayed {
        delay: Duration,
        status: u16,
        body: Value,
    },
    /// `503 {"status":"starting"}` until `after` has passed since the server
    /// started, then `200 {"status":"healthy"}`.
    ReadyAfter { after: Duration },
    /// `status` with a text body echoing the request's URI and headers.
    Echo { status: u16 },
    /// `status` with the given headers and text body.
    Raw {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Decided per request: called with the request and how many requests
    /// this route had before it; returns status, headers and body, and
    /// optionally a delay before answering.
    Script(Script),
}

/// A scripted reply: (request, earlier hits on the route) → answer.
#[derive(Clone)]
pub struct Script(Arc<ScriptFn>);

type ScriptFn = dyn Fn(&Recorded, usize) -> Scripted + Send + Sync;

/// What a [`Reply::Script`] answers.
#[derive(Debug, Clone, Default)]
pub struct Scripted {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub delay: Option<Duration>,
}

impl Reply {
    /// A reply computed per request by `script`.
    pub fn script(script: impl Fn(&Recorded, usize) -> Scripted + Send + Sync + 'static) -> Self {
        Self::Script(Script(Arc::new(script)))
    }
}

impl std::fmt::Debug for Script {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Script")
    }
}

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query, as sent.
    pub uri: String,
    /// Header names (lowercase) and values.
    pub headers: Vec<(String, String)>,
    /// The request body, as text.
    pub body: String,
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub version: String,
}

/// Routes (exact path → reply) before the server starts.
#[derive(Debug, Default)]
pub struct ServerBuilder {
    routes: BTreeMap<String, Reply>,
    tls: Option<(String, String)>,
    port: u16,
    h2_only: bool,
}

impl ServerBuilder {
    /// Answers `path` with `reply`.
    pub fn route(mut self, path: &str, reply: Reply) -> Self {
        self.routes.insert(path.to_owned(), reply);
        self
    }

    /// Answers `path` with `status` and a JSON body.
    pub fn json(self, path: &str, status: u16, body: Value) -> Self {
        self.route(path, Reply::Json { status, body })
    }

    /// Serves HTTPS with this PEM certificate (chain) and PEM private key.
    pub fn tls(mut self, certificate_pem: &str, key_pem: &str) -> Self {
        self.tls = Some((certificate_pem.to_owned(), key_pem.to_owned()));
        self
    }

    /// Binds this port instead of a free one (a server that starts late on
    /// a port the client already tries).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// With TLS, offers only `h2` through ALPN and speaks only HTTP/2 (no
    /// HTTP/1.1 fallback).
    pub fn h2_only(mut self) -> Self {
        self.h2_only = true;
        self
    }

    /// Binds `127.0.0.1:0` (or [`Self::port`]) and serves in a background
    /// thread; returns once the listener is bound.
    pub fn start(self) -> Server {
        let tls = self.tls.clone();
        let (port, h2_only) = (self.port, self.h2_only);
        let state = Arc::new(Shared {
            routes: self.routes,
            started: Instant::now(),
            requests: Mutex::new(Vec::new()),
        });
        let scheme = if tls.is_some() { "https" } else { "http" };
        let (ready_sender, ready) = std::sync::mpsc::channel();
        let (shutdown, shutdown_receiver) = tokio::sync::oneshot::channel::<()>();
        let thread_state = Arc::clone(&state);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("test runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                    .await
                    .expect("bind 127.0.0.1");
                ready_sender
                    .send(listener.local_addr().expect("local address"))
                    .expect("report the address");
                let app = Router::new().fallback(answer).with_state(thread_state);
                match tls {
                    None => tokio::select! {
                        result = axum::serve(listener, app) => result.expect("serve"),
                        _ = shutdown_receiver => {}
                    },
                    Some((certificate, key)) => {
                        tokio::select! {
                            () = serve_tls(listener, app, &certificate, &key, h2_only) => {}
                            _ = shutdown_receiver => {}
                        }
                    }
                }
            });
            // Dropping the runtime cancels handlers still sleeping (delayed replies).
        });
        let address = ready
            .recv_timeout(Duration::from_secs(10))
            .expect("the test server did not start");
        Server {
            address,
            scheme,
            state,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }
}

struct Shared {
    routes: BTreeMap<String, Reply>,
    started: Instant,
    requests: Mutex<Vec<Recorded>>,
}

/// A running server; stops on drop.
pub struct Server {
    address: SocketAddr,
    scheme: &'static str,
    state: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// A server with no routes yet (everything answers 404).
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// `http://127.0.0.1:PORT` (`https` with TLS), without a trailing slash.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.address)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// How many requests arrived, on any route.
    pub fn hits(&self) -> usize {
        self.state.requests.lock().expect("requests lock").len()
    }

    /// Every request that arrived, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().expect("requests lock").clone()
    }

    /// How many `method` requests arrived for `path` (query ignored).
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.requests()
            .iter()
            .filter(|request| {
                request.method == method && request.uri.split('?').next() == Some(path)
            })
            .count()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Accepts TLS connections and serves `app` on each, HTTP/1.1 or HTTP/2
/// (only HTTP/2 with `h2_only`).
async fn serve_tls(
    listener: tokio::net::TcpListener,
    app: Router,
    certificate: &str,
    key: &str,
    h2_only: bool,
) {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    let certificates = rustls::pki_types::CertificateDer::pem_slice_iter(certificate.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("certificate PEM");
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key PEM");
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certificates, key)
        .expect("server TLS config");
    config.alpn_protocols = if h2_only {
        vec![b"h2".to_vec()]
    } else {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            // A client that rejects the certificate ends the handshake: fine.
            let Ok(stream) = acceptor.accept(stream).await else {
                return;
            };
            let service = hyper_util::service::TowerToHyperService::new(app);
            let mut builder =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            if h2_only {
                builder = builder.http2_only();
            }
            let _ = builder
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

/// A port nothing listens on: bound, then released.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

async fn answer(State(state): State<Arc<Shared>>, request: Request) -> Response {
    let uri = request
        .uri()
        .path_and_query()
        .map(ToString::to_string)
        .unwrap_or_default();
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let method = request.method().to_string();
    let version = format!("{:?}", request.version());
    let path = request.uri().path().to_owned();
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    state
        .requests
        .lock()
        .expect("requests lock")
        .push(Recorded {
            method,
            uri: uri.clone(),
            headers: headers.clone(),
            body,
            version,
        });
    let Some(reply) = state.routes.get(&path).cloned() else {
        return (StatusCode::NOT_FOUND, "no such route").into_response();
    };
    let (recorded, earlier) = {
        let requests = state.requests.lock().expect("requests lock");
        let recorded = requests.last().cloned().expect("just recorded");
        let path_of = |uri: &str| uri.split('?').next().unwrap_or_default().to_owned();
        let earlier = requests.iter().filter(|r| path_of(&r.uri) == path).count() - 1;
        (recorded, earlier)
    };
    match reply {
        Reply::Json { status, body } => json(status, &body),
        Reply::Text { status, body } => (code(status), body).into_response(),
        Reply::Delayed {
            delay,
            status,
            body,
        } => {
            tokio::time::sleep(delay).await;
            json(status, &body)
        }
        Reply::ReadyAfter { after } => {
            if state.started.elapsed() < after {
                json(503, &serde_json::json!({ "status": "starting" }))
            } else {
                json(200, &serde_json::json!({ "status": "healthy" }))
            }
        }
        Reply::Raw {
            status,
            headers,
            body,
        } => raw(status, &headers, body),
        Reply::Script(script) => {
            let answer = (script.0)(&recorded, earlier);
            if let Some(delay) = answer.delay {
                tokio::time::sleep(delay).await;
            }
            raw(answer.status, &answer.headers, answer.body)
        }
        Reply::Echo { status } => {
            let mut text = format!("uri: {uri}\n");
            for (name, value) in headers {
                let _ = writeln!(text, "{name}: {value}");
            }
            (code(status), text).into_response()
        }
    }
}

fn raw(status: u16, headers: &[(String, String)], body: String) -> Response {
    let mut response = (code(status), body).into_response();
    for (name, value) in headers {
        let name = axum::http::HeaderName::from_bytes(name.as_bytes()).expect("header name");
        let value = axum::http::HeaderValue::from_str(value).expect("header value");
        if name == axum::http::header::CONTENT_TYPE {
            response.headers_mut().insert(name, value);
        } else {
            response.headers_mut().append(name, value);
        }
    }
    response
}

fn json(status: u16, body: &Value) -> Response {
    (code(status), axum::Json(body.clone())).into_response()
}

fn code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).expect("a valid status code")
}
