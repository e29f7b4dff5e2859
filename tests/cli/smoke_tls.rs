//! HTTPS smoke checks against a server with a self-signed certificate the test
//! generates: rejected by default, trusted through `smoke.ca_file`, and its
//! subject, issuer and days to expiry read by `certificate` assertions.

use crate::support::Test;
use crate::support::http::{Reply, Server};

/// A self-signed certificate for 127.0.0.1 expiring at midnight UTC `days`
/// from today: (certificate PEM, key PEM, whole days left right now).
fn self_signed(days: i64) -> (String, String, i64) {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let expiry = today.checked_add(jiff::Span::new().days(days)).unwrap();
    let mut params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "shipgate test");
    params.not_after = rcgen::date_time_ymd(
        i32::from(expiry.year()),
        u8::try_from(expiry.month()).unwrap(),
        u8::try_from(expiry.day()).unwrap(),
    );
    let key = rcgen::KeyPair::generate().unwrap();
    let certificate = params.self_signed(&key).unwrap();
    let not_after = expiry
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap()
        .timestamp()
        .as_second();
    let left = (not_after - jiff::Timestamp::now().as_second()).div_euclid(86_400);
    (certificate.pem(), key.serialize_pem(), left)
}

fn https_server(certificate: &str, key: &str) -> Server {
    Server::builder()
        .route(
            "/api/health",
            Reply::Text {
                status: 200,
                body: "ok".into(),
            },
        )
        .tls(certificate, key)
        .start()
}

fn config(url: &str, ca_file: Option<&str>, lines: &[&str]) -> String {
    let ca_file = ca_file
        .map(|path| format!("ca_file = \"{path}\"\n"))
        .unwrap_or_default();
    let lines: Vec<String> = lines.iter().map(|line| format!("'{line}', ")).collect();
    format!(
        "[environments.local]\nurl = \"{url}\"\n\n[smoke]\nready_within = \"100ms\"\n{ca_file}\n[[smoke.check]]\nname = \"tls\"\npath = \"/api/health\"\nassert = [{}]\n",
        lines.concat()
    )
}

#[test]
fn a_self_signed_certificate_is_rejected_by_default() {
    let (certificate, key, _) = self_signed(30);
    let server = https_server(&certificate, &key);
    assert!(server.url().starts_with("https://127.0.0.1:"));
    let output = Test::new()
        .config(&config(&server.url(), None, &[]))
        .args(["smoke"])
        .run(1);
    output.stdout_has(
        "      expected: status 200\n      got:      TLS handshake failed: invalid peer certificate: UnknownIssuer\n",
    );
    assert_eq!(
        server.hits(),
        0,
        "a request went through an untrusted connection"
    );
}

#[test]
fn a_trusted_ca_file_lets_certificate_assertions_read_the_certificate() {
    let (certificate, key, left) = self_signed(30);
    let server = https_server(&certificate, &key);
    let passing = [
        r#"certificate "Subject" == "CN=shipgate test""#,
        r#"certificate "Issuer" contains "shipgate""#,
        r#"certificate "Expire-Date" daysAfterNow >= 20"#,
        "status == 200",
    ];
    Test::new()
        .file("certs/ca.pem", &certificate)
        .config(&config(&server.url(), Some("certs/ca.pem"), &passing))
        .args(["smoke"])
        .run(0)
        .stdout_has("✓ smoke 1 of 1 passed");
    // The server offers HTTP/2 through ALPN, and the shared client takes it.
    assert_eq!(server.requests()[0].version, "HTTP/2.0");
    let output = Test::new()
        .file("certs/ca.pem", &certificate)
        .config(&config(
            &server.url(),
            Some("certs/ca.pem"),
            &[r#"certificate "Expire-Date" daysAfterNow > 60"#],
        ))
        .args(["smoke"])
        .run(1);
    output.stdout_has(&format!(
        "      expected: certificate \"Expire-Date\" daysAfterNow > 60\n      got:      {left} days\n"
    ));
    assert!((28..=30).contains(&left), "{left} days left");
}

/// An `http://` suite loads no certificates (issue 15's benchmark: 18 % of
/// its work), so the first `https://` URL, here a redirect's, must still
/// get a client that verifies it: trusted through `ca_file`, refused without.
#[test]
fn a_redirect_from_http_to_https_is_verified() {
    let (certificate, key, _) = self_signed(30);
    let secure = https_server(&certificate, &key);
    let plain = Server::builder()
        .route(
            "/api/health",
            Reply::Raw {
                status: 302,
                headers: vec![("location".into(), format!("{}/api/health", secure.url()))],
                body: String::new(),
            },
        )
        .start();
    let with_redirects = |ca_file: Option<&str>| {
        config(&plain.url(), ca_file, &["status == 200"]).replace(
            "path = \"/api/health\"",
            "path = \"/api/health\"\nfollow_redirects = true",
        )
    };
    Test::new()
        .file("certs/ca.pem", &certificate)
        .config(&with_redirects(Some("certs/ca.pem")))
        .args(["smoke"])
        .run(0)
        .stdout_has(&format!(
            "✓ tls GET {}/api/health → {}/api/health",
            plain.url(),
            secure.url()
        ));
    assert_eq!(secure.hits(), 1);
    Test::new()
        .config(&with_redirects(None))
        .args(["smoke"])
        .run(1)
        .stdout_has(
            "      got:      TLS handshake failed: invalid peer certificate: UnknownIssuer\n",
        );
    assert_eq!(
        secure.hits(),
        1,
        "a request went through an untrusted connection"
    );
}

#[test]
fn insecure_true_is_refused() {
    let config = "[environments.local]\nurl = \"https://127.0.0.1:9\"\n\n[[smoke.check]]\nname = \"tls\"\npath = \"/\"\ninsecure = true\n";
    Test::new()
        .config(config)
        .args(["check"])
        .run(2)
        .stderr_has("error: check `tls` sets `insecure = true`, but shipgate never skips certificate checks")
        .stderr_has("hint: trust the server's CA with `ca_file = \"ca.pem\"` in `[smoke]`");
}

#[test]
fn a_certificate_assertion_on_plain_http_fails() {
    let server = Server::builder()
        .route(
            "/api/health",
            Reply::Text {
                status: 200,
                body: "ok".into(),
            },
        )
        .start();
    let output = Test::new()
        .config(&config(
            &server.url(),
            None,
            &[r#"certificate "Expire-Date" daysAfterNow > 14"#],
        ))
        .args(["smoke"])
        .run(1);
    output.stdout_has("      got:      no TLS certificate: the response did not come over HTTPS\n");
}

#[test]
fn an_unreadable_or_empty_ca_file_stops_the_suite() {
    let config = config("https://127.0.0.1:9", Some("missing.pem"), &[]);
    let output = Test::new().config(&config).args(["smoke"]).run(3);
    output.stderr_has("error: failed to read CA file `");
    output.stderr_has("missing.pem` (`smoke.ca_file`)");
    let config = self::config("https://127.0.0.1:9", Some("empty.pem"), &[]);
    let output = Test::new()
        .file("empty.pem", "not a certificate\n")
        .config(&config)
        .args(["smoke"])
        .run(2);
    output.stderr_has("empty.pem` (`smoke.ca_file`) holds no PEM certificate");
}

/// An HTTP/2-only server (ALPN offers only `h2`, no HTTP/1.1 fallback), as
/// some edge proxies are: the suite negotiates `h2`, sends every check and
/// judges headers and JSON over it (issue 15, item 4).
#[test]
fn an_http2_only_server_is_checked_end_to_end() {
    let (certificate, key, _) = self_signed(30);
    let server = Server::builder()
        .route(
            "/api/health",
            Reply::Raw {
                status: 200,
                headers: vec![
                    ("content-type".into(), "application/json".into()),
                    ("x-probe".into(), "h2".into()),
                ],
                body: r#"{"status":"healthy"}"#.into(),
            },
        )
        .tls(&certificate, &key)
        .h2_only()
        .start();
    let lines = [
        r#"jsonpath "$.status" == "healthy""#,
        r#"header "X-Probe" == "h2""#,
    ];
    let mut config = config(&server.url(), Some("certs/ca.pem"), &lines);
    config = config.replace("[smoke]\n", "[smoke]\nsamples = 3\n");
    Test::new()
        .file("certs/ca.pem", &certificate)
        .config(&config)
        .args(["smoke"])
        .run(0)
        .stdout_has("✓ smoke 1 of 1 passed")
        .stdout_has("(3 samples)");
    let versions: Vec<String> = server.requests().into_iter().map(|r| r.version).collect();
    assert_eq!(
        versions, ["HTTP/2.0"; 4],
        "one readiness attempt, three samples"
    );
}
