//! The HTTP clients a smoke suite (and the watch phase) shares.
//!
//! Loading the system's trusted certificates is the most expensive thing a
//! client does: reading and decoding every file under `/etc/ssl/certs` cost
//! 18 % of the instructions of a 500-check suite whose URLs were all
//! `http://`. So [`HttpClient`] holds two `reqwest` clients: one for
//! `http://` that loads no certificate at all, and one for `https://`,
//! built with the platform's trust store (plus `smoke.ca_file`) the first
//! time a URL needs it, a redirect from `http` to `https` included.
//! Certificates are always verified; there is no way to skip that.

use std::sync::{Arc, OnceLock};

use reqwest::{Certificate, Client};
use url::Url;

/// Sent with every request so server logs show who is calling.
const USER_AGENT: &str = concat!("shipgate/", env!("CARGO_PKG_VERSION"), " (smoke)");

/// The suite's clients; cheap to clone (clones share connections).
#[derive(Clone)]
pub struct HttpClient {
    shared: Arc<Clients>,
}

struct Clients {
    /// For `http://` only: no trust store (and no TLS it could use).
    plain: Client,
    /// Whether `http://` requests go through a proxy reached over `https://`
    /// and so need the verified client too (read once: it is the
    /// environment, and reading it per request was 2 % of a suite's work).
    proxy_needs_tls: bool,
    /// Roots trusted besides the system's (`smoke.ca_file`).
    extra_roots: Vec<Certificate>,
    /// For `https://`, built on first use; a failure is kept as its message
    /// so every later request reports it too.
    verified: OnceLock<Result<Client, String>>,
}

/// Why no client could send a request to an `https://` URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot check HTTPS: the system's trusted certificates could not be loaded: {0}")]
pub struct TrustStoreError(String);

impl HttpClient {
    /// The clients for a suite trusting `extra_roots` besides the system's.
    /// Nothing is read from the trust store yet.
    pub(crate) fn new(extra_roots: Vec<Certificate>) -> Result<Self, reqwest::Error> {
        let plain = builder().tls_certs_only(Vec::new()).build()?;
        Ok(Self {
            shared: Arc::new(Clients {
                plain,
                proxy_needs_tls: proxy_needs_tls(),
                extra_roots,
                verified: OnceLock::new(),
            }),
        })
    }

    /// The client to send a request to `url` with: the verified one for
    /// `https://` (built now if this is the first), and for `http://` when a
    /// proxy reached over `https://` is configured; the plain one otherwise.
    pub(crate) fn for_url(&self, url: &Url) -> Result<&Client, TrustStoreError> {
        if url.scheme() == "http" && !self.shared.proxy_needs_tls {
            return Ok(&self.shared.plain);
        }
        self.verified()
    }

    /// The client that verifies certificates, built on first use.
    fn verified(&self) -> Result<&Client, TrustStoreError> {
        let shared = &self.shared;
        shared
            .verified
            .get_or_init(|| {
                builder()
                    .tls_certs_merge(shared.extra_roots.clone())
                    .build()
                    .map_err(|error| {
                        let mut message = error.to_string();
                        for cause in super::request::causes(&error) {
                            message = format!("{message}: {cause}");
                        }
                        message
                    })
            })
            .as_ref()
            .map_err(|message| TrustStoreError(message.clone()))
    }
}

/// What both clients share: the user agent, the peer certificate kept for
/// `certificate` assertions, and no automatic redirects (`request::send`
/// follows them per check).
fn builder() -> reqwest::ClientBuilder {
    Client::builder()
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .tls_info(true)
}

/// Whether `http://` requests go through a proxy reached over `https://`
/// (reqwest reads these variables), which the plain client could not verify.
fn proxy_needs_tls() -> bool {
    ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
        .iter()
        .filter_map(std::env::var_os)
        .any(|value| {
            value
                .to_string_lossy()
                .trim()
                .to_ascii_lowercase()
                .starts_with("https://")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_url_never_builds_the_verified_client() {
        let client = HttpClient::new(Vec::new()).unwrap();
        let url = Url::parse("http://127.0.0.1:1/health").unwrap();
        let chosen = client.for_url(&url).unwrap();
        assert!(std::ptr::eq(chosen, &raw const client.shared.plain));
        assert!(client.shared.verified.get().is_none());
    }

    #[test]
    fn an_https_url_builds_the_verified_client_once_and_shares_it() {
        let client = HttpClient::new(Vec::new()).unwrap();
        let url = Url::parse("https://127.0.0.1:1/health").unwrap();
        let first: *const Client = client.for_url(&url).unwrap();
        let clone = client.clone();
        let second: *const Client = clone.for_url(&url).unwrap();
        assert!(std::ptr::eq(first, second));
        assert!(!std::ptr::eq(first, &raw const client.shared.plain));
    }
}
