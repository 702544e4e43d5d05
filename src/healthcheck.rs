//! `healthcheck`: asks the server on this machine for `GET /api/health` and says whether it answered
//! `{"status": "healthy"}`. It is the container image's health check, so it needs no curl in the image: one
//! HTTP/1.0 request over a plain TCP connection, or over rustls when `MCP_HTTPS_ENABLED` is set.
//!
//! Over HTTPS the server's certificate is not verified. The probe talks to a server on its own machine, sends
//! no credentials and reads one public word, so a forged answer could only make a broken server look
//! healthy; checking would instead fail on every certificate that does not name 127.0.0.1 (most given ones).

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use crate::config::HealthcheckConfig;

/// Why the health check failed: the URL it asked, and what went wrong (the source).
#[derive(Debug, thiserror::Error)]
#[error("healthcheck: {url}")]
pub struct HealthcheckError {
    url: String,
    source: ProbeError,
}

/// What the probe got instead of a healthy answer.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot resolve {host}")]
    Resolve { host: String, source: std::io::Error },
    #[error("{0} has no address")]
    NoAddress(String),
    #[error("cannot connect")]
    Connect(#[source] std::io::Error),
    #[error("{host} is not a server name")]
    ServerName { host: String, source: rustls::pki_types::InvalidDnsNameError },
    #[error("cannot send the request")]
    Send(#[source] std::io::Error),
    #[error("no answer")]
    NoAnswer(#[source] std::io::Error),
    #[error("the answer is larger than a health status")]
    TooLarge,
    #[error("not an HTTP answer")]
    NotHttp,
    #[error("answered {0:?}")]
    Status(String),
    #[error("the answer is not JSON")]
    NotJson(#[source] serde_json::Error),
    #[error("status {0}")]
    Unhealthy(String),
    #[error("no status in {0}")]
    NoStatus(serde_json::Value),
    #[error(transparent)]
    Tls(#[from] rustls::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Succeeds when the server answers 200 with status `healthy`; the error says what it got instead.
pub fn check(args: &HealthcheckConfig) -> Result<(), HealthcheckError> {
    let host = reachable_host(&args.host);
    let (scheme, port) = if args.https_enabled { ("https", args.https_port) } else { ("http", args.port) };
    let authority = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    let url = format!("{scheme}://{authority}/api/health");
    probe(host, port, args.https_enabled, &authority, Duration::from_secs(args.timeout.max(1)))
        .map_err(|source| HealthcheckError { url, source })
}

/// The address to reach a server that listens on `host`: the loopback address for the wildcard ones.
fn reachable_host(host: &str) -> &str {
    match host.trim() {
        "" | "0.0.0.0" => "127.0.0.1",
        "::" | "[::]" => "::1",
        host => host.trim_start_matches('[').trim_end_matches(']'),
    }
}

fn probe(host: &str, port: u16, tls: bool, authority: &str, timeout: Duration) -> Result<(), ProbeError> {
    let address = (host, port)
        .to_socket_addrs()
        .map_err(|source| ProbeError::Resolve { host: host.to_string(), source })?
        .next()
        .ok_or_else(|| ProbeError::NoAddress(host.to_string()))?;
    let stream = TcpStream::connect_timeout(&address, timeout).map_err(ProbeError::Connect)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    // HTTP/1.0: the answer is neither chunked nor kept alive, so it ends where the connection does.
    let request = format!("GET /api/health HTTP/1.0\r\nHost: {authority}\r\nAccept: application/json\r\n\r\n");
    let response = if tls {
        let name = ServerName::try_from(host.to_string())
            .map_err(|source| ProbeError::ServerName { host: host.to_string(), source })?;
        let connection = rustls::ClientConnection::new(client_config()?, name)?;
        exchange(rustls::StreamOwned::new(connection, stream), &request)?
    } else {
        exchange(stream, &request)?
    };
    healthy(&response)
}

/// Sends the request and reads the answer to its end.
fn exchange(mut stream: impl Read + Write, request: &str) -> Result<Vec<u8>, ProbeError> {
    stream.write_all(request.as_bytes()).map_err(ProbeError::Send)?;
    stream.flush()?;
    let mut response = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&buffer[..n]),
            // A TLS peer that closes without close_notify: the answer is complete when its body parses.
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => break,
            Err(error) => return Err(ProbeError::NoAnswer(error)),
        }
        if response.len() > 64 * 1024 {
            return Err(ProbeError::TooLarge);
        }
    }
    Ok(response)
}

/// Whether a raw HTTP answer is 200 with `{"status": "healthy"}`.
fn healthy(response: &[u8]) -> Result<(), ProbeError> {
    let text = String::from_utf8_lossy(response);
    let (head, body) = text.split_once("\r\n\r\n").ok_or(ProbeError::NotHttp)?;
    let status_line = head.lines().next().unwrap_or_default();
    let code = status_line.split_whitespace().nth(1).unwrap_or_default();
    if code != "200" {
        return Err(ProbeError::Status(status_line.to_string()));
    }
    let body: serde_json::Value = serde_json::from_str(body.trim()).map_err(ProbeError::NotJson)?;
    match body["status"].as_str() {
        Some("healthy") => Ok(()),
        Some(status) => Err(ProbeError::Unhealthy(status.to_string())),
        None => Err(ProbeError::NoStatus(body)),
    }
}

fn client_config() -> Result<Arc<rustls::ClientConfig>, ProbeError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Accepts whichever certificate the server shows (see the module documentation), but still checks that the
/// server holds its key: the handshake signatures are verified as usual.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_addresses_are_reached_at_the_loopback_address() {
        assert_eq!(reachable_host("0.0.0.0"), "127.0.0.1");
        assert_eq!(reachable_host(""), "127.0.0.1");
        assert_eq!(reachable_host("::"), "::1");
        assert_eq!(reachable_host("[::1]"), "::1");
        assert_eq!(reachable_host("192.168.1.5"), "192.168.1.5");
        assert_eq!(reachable_host("localhost"), "localhost");
    }

    #[test]
    fn only_a_200_with_status_healthy_is_healthy() {
        let answer = |head: &str, body: &str| format!("{head}\r\ncontent-type: application/json\r\n\r\n{body}");
        assert!(healthy(answer("HTTP/1.0 200 OK", r#"{"status":"healthy"}"#).as_bytes()).is_ok());
        let degraded = healthy(answer("HTTP/1.0 200 OK", r#"{"status":"degraded"}"#).as_bytes());
        assert!(degraded.expect_err("degraded").to_string().contains("degraded"));
        let refused = healthy(answer("HTTP/1.1 401 Unauthorized", r#"{"status":"healthy"}"#).as_bytes());
        assert!(refused.expect_err("401").to_string().contains("401"));
        assert!(healthy(answer("HTTP/1.0 200 OK", "<html>").as_bytes()).is_err());
        assert!(healthy(b"").is_err());
    }
}
