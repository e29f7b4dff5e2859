//! The local server of `scripts/bench-smoke`: `bench_server PORT` listens on
//! 127.0.0.1:PORT (HTTP/1.1 keep-alive, `TCP_NODELAY`, a multi-threaded tokio
//! runtime) and answers every GET, whatever its path and query, with `200`,
//! `Content-Type: application/json` and the body `{"status":"ok"}`.
//!
//! It replaces a python3 `ThreadingHTTPServer` that was slower than the
//! clients it served, so the benchmark timed the server rather than them.
//! Built with `cargo build --release --locked --example bench_server`.

use axum::http::header;
use axum::routing::get;
use axum::serve::ListenerExt;
use std::io;
use std::net::Ipv4Addr;

const BODY: &str = r#"{"status":"ok"}"#;

async fn ok() -> ([(header::HeaderName, &'static str); 1], &'static str) {
    ([(header::CONTENT_TYPE, "application/json")], BODY)
}

#[tokio::main]
async fn main() -> io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "usage: bench_server PORT"))?;
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .await?
        .tap_io(|stream| {
            // Small responses: send them at once rather than waiting on ACKs.
            let _ = stream.set_nodelay(true);
        });
    // Any path answers; methods other than GET get 405.
    let app = axum::Router::new().fallback_service(get(ok));
    axum::serve(listener, app).await
}
