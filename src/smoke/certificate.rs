//! The server certificate a TLS response came with, read once per response
//! for `certificate` assertions: subject, issuer and expiry.
//!
//! reqwest hands over the leaf certificate as DER when the client is built
//! with `tls_info(true)`; `x509-parser` reads it. Judging it is left to
//! `assertion.rs`.

use x509_parser::prelude::{FromDer, X509Certificate};

/// Seconds in a day, for days-to-expiry.
const SECONDS_PER_DAY: i64 = 86_400;

/// The fields of a server certificate that assertions can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PeerCertificate {
    /// The subject's distinguished name, e.g. `CN=localhost`.
    pub(crate) subject: String,
    /// The issuer's distinguished name.
    pub(crate) issuer: String,
    /// `notAfter`, in seconds since the Unix epoch.
    pub(crate) not_after: i64,
}

impl PeerCertificate {
    /// Reads a DER certificate; `None` when it does not parse.
    pub(crate) fn from_der(der: &[u8]) -> Option<Self> {
        let (_, certificate) = X509Certificate::from_der(der).ok()?;
        Some(Self {
            subject: certificate.subject().to_string(),
            issuer: certificate.issuer().to_string(),
            not_after: certificate.validity().not_after.timestamp(),
        })
    }

    /// Whole days from now until it expires (negative once expired).
    pub(crate) fn days_left(&self) -> i64 {
        self.days_left_at(jiff::Timestamp::now().as_second())
    }

    /// Whole days from `now` (seconds since the epoch) until it expires.
    pub(crate) fn days_left_at(&self, now: i64) -> i64 {
        (self.not_after - now).div_euclid(SECONDS_PER_DAY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_left_rounds_down_and_goes_negative() {
        let certificate = PeerCertificate {
            subject: "CN=x".into(),
            issuer: "CN=x".into(),
            not_after: 10 * SECONDS_PER_DAY,
        };
        assert_eq!(certificate.days_left_at(0), 10);
        assert_eq!(certificate.days_left_at(1), 9);
        assert_eq!(certificate.days_left_at(11 * SECONDS_PER_DAY), -1);
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert_eq!(PeerCertificate::from_der(b"not der"), None);
    }
}
