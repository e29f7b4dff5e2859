//! The `tls` gate: for each host, a real TLS handshake with SNI, the chain
//! verified against the system roots (or `ca_file`), and the leaf
//! certificate's days to expiry compared with `min_days`.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_rustls::TlsConnector;

use super::GateContext;
use crate::config::{Gate, TlsGate, TlsHost};
use crate::report::Check;

/// One host's outcome.
struct HostResult {
    host: String,
    days_left: Option<i64>,
    problem: Option<String>,
}

/// Runs the gate (hosts concurrently; the runner's deadline bounds it).
pub(super) async fn run(gate: &Gate, config: &TlsGate, _ctx: &GateContext) -> Check {
    let roots = match load_roots(config.ca_file.as_deref()).await {
        Ok(roots) => Arc::new(roots),
        Err(message) => return Check::fail(&gate.name).detail(message),
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let client_config = match rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
    {
        Ok(builder) => builder
            .with_root_certificates(Arc::clone(&roots))
            .with_no_client_auth(),
        Err(error) => {
            return Check::fail(&gate.name).detail(format!("failed to set up TLS: {error}"));
        }
    };
    let connector = TlsConnector::from(Arc::new(client_config));
    let mut tasks = JoinSet::new();
    for (index, host) in config.hosts.iter().enumerate() {
        let connector = connector.clone();
        let host = host.clone();
        let min_days = config.min_days;
        tasks.spawn(async move { (index, check_host(&connector, &host, min_days).await) });
    }
    let mut results: Vec<Option<HostResult>> = (0..config.hosts.len()).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        if let Ok((index, result)) = joined {
            results[index] = Some(result);
        }
    }
    let results: Vec<HostResult> = results.into_iter().flatten().collect();
    let mut log = String::new();
    for result in &results {
        let _ = match (&result.problem, result.days_left) {
            (Some(problem), _) => writeln!(log, "✗ {}: {problem}", result.host),
            (None, Some(days)) => writeln!(log, "✓ {}: {days} days left", result.host),
            (None, None) => writeln!(log, "? {}", result.host),
        };
    }
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| r.problem.as_ref().map(|p| format!("`{}` {p}", r.host)))
        .collect();
    let fewest = results.iter().filter_map(|r| r.days_left).min();
    if failed.is_empty() && results.len() == config.hosts.len() {
        let detail = match fewest {
            Some(days) => format!(
                "{} host(s) valid; fewest days left: {days} (minimum {})",
                results.len(),
                config.min_days
            ),
            None => format!("{} host(s) valid", results.len()),
        };
        Check::pass(&gate.name).detail(detail).log(log)
    } else {
        let mut check = Check::fail(&gate.name).detail(failed.join("; "));
        if let Some(days) = fewest {
            check = check.expected_actual(
                format!("at least {} days left", config.min_days),
                format!("{days} days left"),
            );
        }
        check.log(log)
    }
}

async fn load_roots(ca_file: Option<&Path>) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(path) = ca_file {
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|error| format!("failed to read `ca_file` `{}`: {error}", path.display()))?;
        let mut added = 0;
        for certificate in CertificateDer::pem_slice_iter(&bytes) {
            let certificate = certificate.map_err(|error| {
                format!("`ca_file` `{}` is not valid PEM: {error}", path.display())
            })?;
            roots.add(certificate).map_err(|error| {
                format!(
                    "`ca_file` `{}` holds an unusable certificate: {error}",
                    path.display()
                )
            })?;
            added += 1;
        }
        if added == 0 {
            return Err(format!(
                "`ca_file` `{}` holds no `BEGIN CERTIFICATE` block",
                path.display()
            ));
        }
        return Ok(roots);
    }
    let loaded = tokio::task::spawn_blocking(rustls_native_certs::load_native_certs)
        .await
        .map_err(|error| format!("failed to load the system roots: {error}"))?;
    for certificate in loaded.certs {
        let _ = roots.add(certificate);
    }
    if roots.is_empty() {
        return Err("no system root certificates found; set `ca_file` in `[gate.tls]`".to_owned());
    }
    Ok(roots)
}

async fn check_host(connector: &TlsConnector, host: &TlsHost, min_days: u32) -> HostResult {
    let label = if host.port == 443 {
        host.host.clone()
    } else {
        format!("{}:{}", host.host, host.port)
    };
    let fail = |problem: String| HostResult {
        host: label.clone(),
        days_left: None,
        problem: Some(problem),
    };
    let Ok(server_name) = ServerName::try_from(host.host.clone()) else {
        return fail("is not a valid server name".to_owned());
    };
    let stream = match TcpStream::connect((host.host.as_str(), host.port)).await {
        Ok(stream) => stream,
        Err(error) => return fail(format!("connection failed: {error}")),
    };
    let tls = match connector.connect(server_name, stream).await {
        Ok(tls) => tls,
        Err(error) => return fail(format!("TLS handshake failed: {error}")),
    };
    let Some(leaf) = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certificates| certificates.first())
    else {
        return fail("sent no certificate".to_owned());
    };
    let not_after = match x509_parser::parse_x509_certificate(leaf.as_ref()) {
        Ok((_, certificate)) => certificate.validity().not_after.timestamp(),
        Err(error) => return fail(format!("sent a certificate that does not parse: {error}")),
    };
    let seconds_left = not_after - jiff::Timestamp::now().as_second();
    let days_left = seconds_left.div_euclid(86_400);
    let expires = jiff::Timestamp::from_second(not_after)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let problem = (days_left < i64::from(min_days))
        .then(|| format!("expires in {days_left} days ({expires}), under `min_days = {min_days}`"));
    HostResult {
        host: label,
        days_left: Some(days_left),
        problem,
    }
}
