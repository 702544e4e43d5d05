//! `healthcheck`: asks the server on this machine for `GET /api/health` and says whether it answered
//! `{"status": "healthy"}`. It is the container image's health check, so it needs no curl in the image: one
//! HTTP/1.0 request over a plain TCP connection, or over rustls when `MCP_HTTPS_ENABLED` is set.
//!
//! Over HTTPS the server's certificate is not verified. The probe talks to a server on its own machine, sends
//! no credentials and reads one public word, so a forged answer could only make a broken server look
//! healthy; checking would instead fail on every certificate that does not name 127.0.0.1 (most given ones).

use anyhow::{Context, bail};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use crate::config::HealthcheckConfig;

/// Succeeds when the server answers 200 with status `healthy`; the error says what it got instead.
pub fn check(args: &HealthcheckConfig) -> anyhow::Result<()> {
    let host = reachable_host(&args.host);
    let (scheme, port) = if args.https_enabled { ("https", args.https_port) } else { ("http", args.port) };
    let authority = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    let url = format!("{scheme}://{authority}/api/health");
    probe(host, port, args.https_enabled, &authority, Duration::from_secs(args.timeout.max(1)))
        .with_context(|| format!("healthcheck: {url}"))
}

/// The address to reach a server that listens on `host`: the loopback address for the wildcard ones.
fn reachable_host(host: &str) -> &str {
    match host.trim() {
        "" | "0.0.0.0" => "127.0.0.1",
        "::" | "[::]" => "::1",
        host => host.trim_start_matches('[').trim_end_matches(']'),
    }
}

fn probe(host: &str, port: u16, tls: bool, authority: &str, timeout: Duration) -> anyhow::Result<()> {
    let address = (host, port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {host}"))?
        .next()
        .with_context(|| format!("{host} has no address"))?;
    let stream = TcpStream::connect_timeout(&address, timeout).context("cannot connect")?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    // HTTP/1.0: the answer is neither chunked nor kept alive, so it ends where the connection does.
    let request = format!("GET /api/health HTTP/1.0\r\nHost: {authority}\r\nAccept: application/json\r\n\r\n");
    let response = if tls {
        let name = ServerName::try_from(host.to_string()).with_context(|| format!("{host} is not a server name"))?;
        let connection = rustls::ClientConnection::new(client_config()?, name)?;
        exchange(rustls::StreamOwned::new(connection, stream), &request)?
    } else {
        exchange(stream, &request)?
    };
    healthy(&response)
}

/// Sends the request and reads the answer to its end.
fn exchange(mut stream: impl Read + Write, request: &str) -> anyhow::Result<Vec<u8>> {
    stream.write_all(request.as_bytes()).context("cannot send the request")?;
    stream.flush()?;
    let mut response = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&buffer[..n]),
            // A TLS peer that closes without close_notify: the answer is complete when its body parses.
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => break,
            Err(error) => return Err(error).context("no answer"),
        }
        if response.len() > 64 * 1024 {
            bail!("the answer is larger than a health status");
        }
    }
    Ok(response)
}

/// Whether a raw HTTP answer is 200 with `{"status": "healthy"}`.
fn healthy(response: &[u8]) -> anyhow::Result<()> {
    let text = String::from_utf8_lossy(response);
    let (head, body) = text.split_once("\r\n\r\n").context("not an HTTP answer")?;
    let status_line = head.lines().next().unwrap_or_default();
    let code = status_line.split_whitespace().nth(1).unwrap_or_default();
    if code != "200" {
        bail!("answered {status_line:?}");
    }
    let body: serde_json::Value = serde_json::from_str(body.trim()).context("the answer is not JSON")?;
    match body["status"].as_str() {
        Some("healthy") => Ok(()),
        Some(status) => bail!("status {status}"),
        None => bail!("no status in {body}"),
    }
}

fn client_config() -> anyhow::Result<Arc<rustls::ClientConfig>> {
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
