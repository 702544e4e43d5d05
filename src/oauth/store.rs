//! What OAuth keeps across restarts, in `<base>/oauth/state.json` (mode 0600): registered clients (their
//! secrets as SHA-256 digests), refresh tokens (as digests too) and revoked token families. Authorization
//! codes live ten minutes and stay in memory. Every change is written whole to a temporary file, synced
//! and renamed over the old one, so a crash leaves the old state or the new one.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why the state file (or another file OAuth keeps, such as its key) could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path} is damaged (move it aside to start over)")]
    Damaged { path: PathBuf, source: serde_json::Error },
    #[error("cannot read {path}")]
    Read { path: PathBuf, source: std::io::Error },
    /// A path without a parent directory (never one OAuth builds).
    #[error("a file in a directory")]
    NoDirectory,
    #[error("cannot create {path}")]
    Directory { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}")]
    Write { path: PathBuf, source: tempfile::PersistError },
    #[error(transparent)]
    Encode(#[from] serde_json::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A registered client.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Client {
    pub(crate) client_id: String,
    /// SHA-256 of the secret, hex; none for a public client (`token_endpoint_auth_method: none`).
    pub(crate) secret_sha256: Option<String>,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) grant_types: Vec<String>,
    pub(crate) response_types: Vec<String>,
    pub(crate) token_endpoint_auth_method: String,
    pub(crate) client_name: Option<String>,
    pub(crate) client_uri: Option<String>,
    pub(crate) scope: String,
    /// Registered with the registration key or the API key: may use client_credentials.
    pub(crate) trusted: bool,
    pub(crate) issued_at: i64,
    /// A token was issued to it once: an open registration that never gets one expires (`purge`). A client
    /// saved before this field existed is taken as used, so an upgrade drops no client in use.
    #[serde(default = "saved_before_usage_was_kept")]
    pub(crate) used: bool,
}

fn saved_before_usage_was_kept() -> bool {
    true
}

/// How long an open registration (not trusted) may wait for its first token before it is dropped.
pub(crate) const UNUSED_OPEN_CLIENT_SECONDS: i64 = 24 * 3600;

/// A refresh token, keyed by its digest.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Refresh {
    pub(crate) client_id: String,
    pub(crate) scope: String,
    /// The chain it belongs to: every token rotated from one authorization.
    pub(crate) family: String,
    pub(crate) expires_at: i64,
    /// Already exchanged: presenting it again revokes its family.
    pub(crate) used: bool,
}

/// Everything persisted.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct State {
    pub(crate) clients: BTreeMap<String, Client>,
    pub(crate) refresh: BTreeMap<String, Refresh>,
    /// Revoked families and until when they matter (the latest expiry of anything issued in them).
    pub(crate) revoked: BTreeMap<String, i64>,
}

impl State {
    /// Drops refresh tokens and revocations that have expired, and open registrations that never got a
    /// token within a day.
    pub(crate) fn purge(&mut self, now: i64) {
        self.refresh.retain(|_, token| token.expires_at > now);
        self.revoked.retain(|_, until| *until > now);
        self.clients
            .retain(|_, client| client.trusted || client.used || client.issued_at + UNUSED_OPEN_CLIENT_SECONDS > now);
    }

    /// How many open registrations (not trusted) there are.
    pub(crate) fn open_clients(&self) -> usize {
        self.clients.values().filter(|client| !client.trusted).count()
    }

    /// Revokes a family: its refresh tokens go, and its access tokens are refused until `until`.
    pub(crate) fn revoke(&mut self, family: &str, until: i64) {
        self.refresh.retain(|_, token| token.family != family);
        let entry = self.revoked.entry(family.to_string()).or_insert(until);
        *entry = (*entry).max(until);
    }
}

/// The state file.
pub(crate) struct StateFile {
    path: PathBuf,
}

impl StateFile {
    pub(crate) fn new(dir: &Path) -> StateFile {
        StateFile { path: dir.join("state.json") }
    }

    /// The saved state, or an empty one when there is no file yet.
    pub(crate) fn load(&self) -> Result<State, StateError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| StateError::Damaged { path: self.path.clone(), source })
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(source) => Err(StateError::Read { path: self.path.clone(), source }),
        }
    }

    /// The state as the file holds it.
    pub(crate) fn encode(state: &State) -> Result<Vec<u8>, StateError> {
        Ok(serde_json::to_vec_pretty(state)?)
    }

    /// Writes encoded state, atomically and durably.
    pub(crate) fn write(&self, bytes: &[u8]) -> Result<(), StateError> {
        write_private(&self.path, bytes)
    }
}

/// Writes `bytes` to `path` atomically, readable by the owner only, creating the directory (mode 0700).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let dir = path.parent().ok_or(StateError::NoDirectory)?;
    std::fs::create_dir_all(dir).map_err(|source| StateError::Directory { path: dir.to_path_buf(), source })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    // tempfile creates with mode 0600.
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|source| StateError::Write { path: path.to_path_buf(), source })?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_survives_a_reload_and_purges_what_expired() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let file = StateFile::new(&dir.path().join("oauth"));
        assert!(file.load().expect("empty").clients.is_empty());
        let mut state = State::default();
        for (digest, family, expires_at) in [("a", "f1", 100), ("b", "f1", 300), ("c", "f2", 300)] {
            let token =
                Refresh { client_id: "c".into(), scope: "read".into(), family: family.into(), expires_at, used: false };
            state.refresh.insert(digest.into(), token);
        }
        state.revoke("f2", 250);
        state.purge(200);
        file.write(&StateFile::encode(&state).expect("encoded")).expect("saved");
        let loaded = file.load().expect("loaded");
        assert_eq!(loaded.refresh.keys().collect::<Vec<_>>(), ["b"]);
        assert_eq!(loaded.revoked.keys().collect::<Vec<_>>(), ["f2"]);
        std::fs::write(dir.path().join("oauth/state.json"), b"{not json").expect("damage");
        assert!(crate::error::Chain(&file.load().expect_err("damaged")).to_string().contains("damaged"));
    }
}
