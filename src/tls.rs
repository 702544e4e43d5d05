//! HTTPS: the server's certificate and key, given (`MCP_SSL_CERT_FILE`, `MCP_SSL_KEY_FILE`) or generated
//! once into the data directory, and the rustls configuration built from them.
//!
//! The generated set is a small local certificate authority (`tls/ca.pem`, which clients can trust) and a
//! server certificate it signed for `localhost`, `127.0.0.1`, `::1` and the configured host
//! (`tls/cert.pem` + `tls/key.pem`). Kept across restarts, so clients that trust the CA keep working; the
//! CA's own key is not kept, so nothing can sign another certificate with it later.

use chrono::Datelike;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why the certificate could not be generated or read, or does not make a server configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("MCP_SSL_CERT_FILE and MCP_SSL_KEY_FILE go together: give both, or neither to use a generated certificate")]
    HalfPair,
    #[error("cannot create {path}")]
    Directory { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Generate(#[from] rcgen::Error),
    #[error("cannot write {path}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot read the certificate {path}")]
    ReadCertificate { path: PathBuf, source: rustls::pki_types::pem::Error },
    #[error("{0} holds no certificate")]
    NoCertificate(PathBuf),
    #[error("cannot read the private key {path}")]
    ReadKey { path: PathBuf, source: rustls::pki_types::pem::Error },
    #[error("{cert} and {key} do not make a usable pair")]
    Pair { cert: PathBuf, key: PathBuf, source: rustls::Error },
    #[error(transparent)]
    Rustls(#[from] rustls::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// How long a generated certificate is valid.
const VALID_YEARS: i32 = 10;

/// Where the server's certificate chain and key are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The generated CA clients can trust; None when the files were given.
    pub ca: Option<PathBuf>,
}

/// The certificate files to serve with: the given pair, or the pair generated in `<data>/tls` (generated
/// now if it is not there yet). Giving only one of the two files is an error.
pub fn cert_files(cert: Option<&Path>, key: Option<&Path>, data_dir: &Path, host: &str) -> Result<CertFiles, TlsError> {
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(CertFiles { cert: cert.into(), key: key.into(), ca: None }),
        (Some(_), None) | (None, Some(_)) => Err(TlsError::HalfPair),
        (None, None) => {
            let dir = data_dir.join("tls");
            let files =
                CertFiles { cert: dir.join("cert.pem"), key: dir.join("key.pem"), ca: Some(dir.join("ca.pem")) };
            if !files.cert.exists() || !files.key.exists() {
                generate(&dir, &files, host)?;
                tracing::info!(ca = %dir.join("ca.pem").display(), "generated a certificate for HTTPS; clients can trust its CA");
            }
            Ok(files)
        }
    }
}

/// Writes a new CA certificate and a server certificate and key signed by it.
fn generate(dir: &Path, files: &CertFiles, host: &str) -> Result<(), TlsError> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    std::fs::create_dir_all(dir).map_err(|source| TlsError::Directory { path: dir.to_path_buf(), source })?;
    let today = chrono::Utc::now().date_naive();
    let not_before = rcgen::date_time_ymd(today.year(), today.month() as u8, 1);
    let not_after = rcgen::date_time_ymd(today.year() + VALID_YEARS, today.month() as u8, 1);

    let mut ca_params = CertificateParams::new(Vec::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.distinguished_name.push(DnType::CommonName, "mcp-memory-service local CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    (ca_params.not_before, ca_params.not_after) = (not_before, not_after);
    let ca_key = KeyPair::generate()?;
    let ca = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    let host = host.trim();
    if !host.is_empty() && !matches!(host, "0.0.0.0" | "::") && !names.iter().any(|n| n == host) {
        names.push(host.to_string());
    }
    let mut params = CertificateParams::new(names)?;
    params.distinguished_name.push(DnType::CommonName, "mcp-memory-service");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    (params.not_before, params.not_after) = (not_before, not_after);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;

    write_private(&files.key, key.serialize_pem().as_bytes())?;
    std::fs::write(&files.cert, format!("{}{}", cert.pem(), ca.pem()))?;
    if let Some(ca_path) = &files.ca {
        std::fs::write(ca_path, ca.pem())?;
    }
    Ok(())
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| TlsError::Write { path: path.to_path_buf(), source })?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

/// The rustls server configuration for these files (TLS 1.2 and 1.3, HTTP/2 and HTTP/1.1 by ALPN).
pub fn server_config(files: &CertFiles) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::ReadCertificate { path: files.cert.clone(), source })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(files.cert.clone()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|source| TlsError::ReadKey { path: files.key.clone(), source })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|source| TlsError::Pair { cert: files.cert.clone(), key: files.key.clone(), source })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
