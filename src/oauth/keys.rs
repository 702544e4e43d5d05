//! The key that signs and checks access tokens: an RS256 pair from the configuration (PEM text or files), an
//! HS256 secret, or else an RSA key made once and kept in `<base>/oauth/jwt-private.pem` (mode 0600), so that
//! tokens outlive a restart (the original made a new pair at every start).

use super::store::StateError;
use crate::config::OAuthConfig;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use std::path::{Path, PathBuf};

/// Why the signing key could not be made, read or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the system's random source")]
    Random(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("cannot encode the private key")]
    EncodePrivate(#[source] rsa::pkcs8::Error),
    #[error("cannot encode the public key")]
    EncodePublic(#[source] rsa::pkcs8::spki::Error),
    /// Deriving the public half of a private key failed.
    #[error(transparent)]
    Public(rsa::pkcs8::spki::Error),
    #[error("MCP_OAUTH_PRIVATE_KEY is not an RSA private key in PEM (PKCS#8 or PKCS#1)")]
    NotRsa(#[source] rsa::pkcs1::Error),
    /// A key file named by the configuration (`what`) could not be read.
    #[error("cannot read {what} from {path}")]
    ReadConfigured { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("MCP_OAUTH_PRIVATE_KEY is not an RSA private key in PEM")]
    PrivatePem(#[source] jsonwebtoken::errors::Error),
    #[error("MCP_OAUTH_PUBLIC_KEY is not an RSA public key in PEM")]
    PublicPem(#[source] jsonwebtoken::errors::Error),
    #[error("cannot describe the key as a JWK")]
    Jwk(#[source] jsonwebtoken::errors::Error),
    #[error("MCP_OAUTH_PUBLIC_KEY does not match MCP_OAUTH_PRIVATE_KEY")]
    Mismatch(#[source] jsonwebtoken::errors::Error),
    /// The key could not sign (the check that a configured pair belongs together).
    #[error(transparent)]
    Probe(jsonwebtoken::errors::Error),
    #[error("cannot sign a token")]
    Sign(#[source] jsonwebtoken::errors::Error),
    #[error("MCP_OAUTH_PUBLIC_KEY is set without MCP_OAUTH_PRIVATE_KEY: tokens cannot be signed")]
    PublicWithoutPrivate,
    #[error("MCP_OAUTH_SECRET_KEY must be at least 32 characters (`keygen` prints a suitable API key)")]
    ShortSecret,
    #[error("cannot read {path}")]
    ReadKept { path: PathBuf, source: std::io::Error },
    /// The kept key file does not hold a usable key.
    #[error("{path} is damaged")]
    Damaged { path: PathBuf, source: Box<KeyError> },
    #[error(transparent)]
    Write(#[from] StateError),
}

/// A signing key and its verifying half.
pub(crate) struct SigningKey {
    pub(crate) algorithm: Algorithm,
    pub(crate) encoding: EncodingKey,
    pub(crate) decoding: DecodingKey,
    /// The public key as a JWK set, for RS256 (an HS256 secret has nothing public).
    pub(crate) jwks: Option<JwkSet>,
    /// Where the key came from, for the start-up log.
    pub(crate) origin: String,
}

/// A new RSA key pair as PEM: the private key (PKCS#8) and the public key (SPKI).
pub fn generate_rsa_pair() -> Result<(String, String), KeyError> {
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    use rsa::{Generate, PrivateKey};
    let key = PrivateKey::try_generate().map_err(|error| KeyError::Random(Box::new(error)))?;
    let private = key.to_pkcs8_pem(LineEnding::LF).map_err(KeyError::EncodePrivate)?.to_string();
    let public = key.to_public_key().to_public_key_pem(LineEnding::LF).map_err(KeyError::EncodePublic)?;
    Ok((private, public))
}

/// The public half of a private RSA key in PEM (PKCS#8 or PKCS#1).
fn public_of(private_pem: &str) -> Result<String, KeyError> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
    let key = rsa::PrivateKey::from_pkcs8_pem(private_pem)
        .or_else(|_| rsa::PrivateKey::from_pkcs1_pem(private_pem))
        .map_err(KeyError::NotRsa)?;
    key.to_public_key().to_public_key_pem(LineEnding::LF).map_err(KeyError::Public)
}

fn read(path: &Path, what: &'static str) -> Result<String, KeyError> {
    std::fs::read_to_string(path).map_err(|source| KeyError::ReadConfigured { what, path: path.to_path_buf(), source })
}

/// An RS256 key from PEM text.
fn rs256(private_pem: &str, public_pem: &str, origin: String) -> Result<SigningKey, KeyError> {
    let encoding = EncodingKey::from_rsa_pem(private_pem.as_bytes()).map_err(KeyError::PrivatePem)?;
    let decoding = DecodingKey::from_rsa_pem(public_pem.as_bytes()).map_err(KeyError::PublicPem)?;
    let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::RS256).map_err(KeyError::Jwk)?;
    jwk.common.key_id = Some(key_id(public_pem));
    // The pair must belong together, or every token would be refused: check once, here.
    let probe = jsonwebtoken::encode(&jsonwebtoken::Header::new(Algorithm::RS256), &serde_json::json!({}), &encoding)
        .map_err(KeyError::Probe)?;
    let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    jsonwebtoken::decode::<serde_json::Value>(&probe, &decoding, &validation).map_err(KeyError::Mismatch)?;
    Ok(SigningKey { algorithm: Algorithm::RS256, encoding, decoding, jwks: Some(JwkSet { keys: vec![jwk] }), origin })
}

/// A short, stable id for a public key (the `kid` of its tokens and its JWK).
fn key_id(public_pem: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(public_pem.trim().as_bytes())[..8])
}

/// The key the configuration names, or the one kept in `<base>/oauth`, made on first use.
pub(crate) fn load(args: &OAuthConfig, base_dir: &Path) -> Result<SigningKey, KeyError> {
    let private = match (&args.private_key, &args.private_key_path) {
        (Some(pem), _) => Some(pem.expose().to_string()),
        (None, Some(path)) => Some(read(path, "MCP_OAUTH_PRIVATE_KEY_PATH")?),
        (None, None) => None,
    };
    let public = match (&args.public_key, &args.public_key_path) {
        (Some(pem), _) => Some(pem.clone()),
        (None, Some(path)) => Some(read(path, "MCP_OAUTH_PUBLIC_KEY_PATH")?),
        (None, None) => None,
    };
    match (private, public, &args.secret_key) {
        (Some(private), public, _) => {
            let public = match public {
                Some(public) => public,
                None => public_of(&private)?,
            };
            rs256(&private, &public, "MCP_OAUTH_PRIVATE_KEY".into())
        }
        (None, Some(_), _) => Err(KeyError::PublicWithoutPrivate),
        (None, None, Some(secret)) => {
            if secret.expose().len() < 32 {
                return Err(KeyError::ShortSecret);
            }
            Ok(SigningKey {
                algorithm: Algorithm::HS256,
                encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
                decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
                jwks: None,
                origin: "MCP_OAUTH_SECRET_KEY".into(),
            })
        }
        (None, None, None) => kept(&base_dir.join("oauth")),
    }
}

/// The RSA key kept in `dir`, made (and written with mode 0600) when missing.
fn kept(dir: &Path) -> Result<SigningKey, KeyError> {
    let path = dir.join("jwt-private.pem");
    let private = match std::fs::read_to_string(&path) {
        Ok(pem) => pem,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            tracing::info!(path = %path.display(), "making the OAuth signing key (kept for later starts)");
            let (private, _) = generate_rsa_pair()?;
            super::store::write_private(&path, private.as_bytes())?;
            private
        }
        Err(source) => return Err(KeyError::ReadKept { path, source }),
    };
    let public =
        public_of(&private).map_err(|error| KeyError::Damaged { path: path.clone(), source: Box::new(error) })?;
    rs256(&private, &public, path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Args {
        #[command(flatten)]
        oauth: OAuthConfig,
    }

    fn args(extra: &[&str]) -> OAuthConfig {
        let mut argv = vec!["serve"];
        argv.extend_from_slice(extra);
        Args::parse_from(argv).oauth
    }

    #[test]
    fn a_kept_key_is_made_once_and_reused() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let first = load(&args(&[]), dir.path()).expect("made");
        let file = dir.path().join("oauth/jwt-private.pem");
        let pem = std::fs::read_to_string(&file).expect("kept");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).expect("metadata").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let second = load(&args(&[]), dir.path()).expect("reused");
        assert_eq!(std::fs::read_to_string(&file).expect("kept"), pem);
        assert_eq!(first.algorithm, Algorithm::RS256);
        assert_eq!(
            first.jwks.as_ref().map(|set| set.keys[0].common.key_id.clone()),
            second.jwks.as_ref().map(|set| set.keys[0].common.key_id.clone())
        );
    }

    #[test]
    fn configured_keys_win_and_mismatches_are_refused() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (private, public) = generate_rsa_pair().expect("a pair");
        let pair = |private: &str, public: &str| {
            [format!("--oauth-private-key={private}"), format!("--oauth-public-key={public}")]
        };
        let [a, b] = pair(&private, &public);
        let key = load(&args(&[&a, &b]), dir.path()).expect("a configured pair");
        assert_eq!(key.origin, "MCP_OAUTH_PRIVATE_KEY");
        assert!(!dir.path().join("oauth").exists(), "nothing is made when a key is configured");
        let (_, other_public) = generate_rsa_pair().expect("another pair");
        let [a, b] = pair(&private, &other_public);
        let error = load(&args(&[&a, &b]), dir.path()).err().expect("a mismatch");
        let error = crate::error::Chain(&error).to_string();
        assert!(error.contains("does not match"), "{error}");
        let short = load(&args(&["--oauth-secret-key", "short"]), dir.path()).err().expect("too short");
        assert!(crate::error::Chain(&short).to_string().contains("32 characters"));
        let secret = load(&args(&["--oauth-secret-key", &"k".repeat(40)]), dir.path()).expect("HS256");
        assert_eq!(secret.algorithm, Algorithm::HS256);
        assert!(secret.jwks.is_none());
    }
}
