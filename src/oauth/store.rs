//! What OAuth keeps across restarts, in `<base>/oauth/state.redb` (mode 0600): registered clients (their
//! secrets as SHA-256 digests), refresh tokens (as digests too) and revoked token families. Authorization
//! codes live ten minutes and stay in memory. The whole state is also held in memory; each change records
//! which entries it touched, and a save writes just those in one durable redb transaction, so a save costs
//! the same with ten clients or ten thousand. A `state.json` from an earlier version is imported once.

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
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
    #[error("cannot open {path}")]
    Open { path: PathBuf, source: Box<redb::DatabaseError> },
    #[error("cannot read or write {path}")]
    Database { path: PathBuf, source: Box<redb::Error> },
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

/// A map that remembers which keys were inserted, changed or removed since it was last saved.
#[derive(Debug)]
pub(crate) struct Tracked<V> {
    map: BTreeMap<String, V>,
    touched: BTreeSet<String>,
}

impl<V> Default for Tracked<V> {
    fn default() -> Self {
        Tracked { map: BTreeMap::new(), touched: BTreeSet::new() }
    }
}

impl<V: Clone> Tracked<V> {
    pub(crate) fn get(&self, key: &str) -> Option<&V> {
        self.map.get(key)
    }

    pub(crate) fn contains_key(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.map.values()
    }

    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        let value = self.map.get_mut(key)?;
        self.touched.insert(key.to_string());
        Some(value)
    }

    pub(crate) fn insert(&mut self, key: String, value: V) -> Option<V> {
        self.touched.insert(key.clone());
        self.map.insert(key, value)
    }

    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&str, &V) -> bool) {
        let touched = &mut self.touched;
        self.map.retain(|key, value| {
            let kept = keep(key, value);
            if !kept {
                touched.insert(key.clone());
            }
            kept
        });
    }

    /// What changed since the last call: each touched key with its value now (none: removed).
    fn take_changes(&mut self) -> Vec<(String, Option<V>)> {
        let touched = std::mem::take(&mut self.touched);
        touched.into_iter().map(|key| (key.clone(), self.map.get(&key).cloned())).collect()
    }
}

/// Everything persisted.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) clients: Tracked<Client>,
    pub(crate) refresh: Tracked<Refresh>,
    /// Revoked families and until when they matter (the latest expiry of anything issued in them).
    pub(crate) revoked: Tracked<i64>,
}

/// The entries changed by one or more changes of the state, in the order they must be written.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    clients: Vec<(String, Option<Client>)>,
    refresh: Vec<(String, Option<Refresh>)>,
    revoked: Vec<(String, Option<i64>)>,
}

impl Changes {
    fn is_empty(&self) -> bool {
        self.clients.is_empty() && self.refresh.is_empty() && self.revoked.is_empty()
    }

    /// Appends `later`, which must be written after these.
    fn extend(&mut self, later: Changes) {
        self.clients.extend(later.clients);
        self.refresh.extend(later.refresh);
        self.revoked.extend(later.revoked);
    }
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
        let until = self.revoked.get(family).map_or(until, |known| (*known).max(until));
        self.revoked.insert(family.to_string(), until);
    }

    /// The entries changed since the last call.
    pub(crate) fn take_changes(&mut self) -> Changes {
        Changes {
            clients: self.clients.take_changes(),
            refresh: self.refresh.take_changes(),
            revoked: self.revoked.take_changes(),
        }
    }
}

const CLIENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("clients");
const REFRESH: TableDefinition<&str, &[u8]> = TableDefinition::new("refresh");
const REVOKED: TableDefinition<&str, i64> = TableDefinition::new("revoked");
/// `json_imported`: the `state.json` of an earlier version was imported (so it is never imported again).
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// The state as `state.json` held it, before the state moved to redb.
#[derive(Deserialize)]
struct JsonState {
    #[serde(default)]
    clients: BTreeMap<String, Client>,
    #[serde(default)]
    refresh: BTreeMap<String, Refresh>,
    #[serde(default)]
    revoked: BTreeMap<String, i64>,
}

/// The state file.
pub(crate) struct StateFile {
    path: PathBuf,
    db: redb::Database,
    /// Changes made in memory and not yet written, in order (see [`StateFile::save`]).
    pending: Mutex<Changes>,
    /// Held while a transaction is written.
    pub(super) writing: Mutex<()>,
    /// Bytes of entries written, for tests.
    written: std::sync::atomic::AtomicU64,
}

impl StateFile {
    /// Opens (or creates) `<dir>/state.redb` and reads the saved state, importing a `state.json` left by an
    /// earlier version once.
    pub(crate) fn open(dir: &Path) -> Result<(StateFile, State), StateError> {
        create_private_dir(dir)?;
        let path = dir.join("state.redb");
        let open_error =
            |source: redb::DatabaseError| StateError::Open { path: path.clone(), source: Box::new(source) };
        // Created empty with mode 0600 first: redb then initialises the file it is given.
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(&path).map_err(|source| StateError::Read { path: path.clone(), source })?;
        let db = redb::Database::create(&path).map_err(open_error)?;
        let file = StateFile {
            path,
            db,
            pending: Mutex::new(Changes::default()),
            writing: Mutex::new(()),
            written: Default::default(),
        };
        file.import_json(&dir.join("state.json"))?;
        let state = file.load()?;
        Ok((file, state))
    }

    fn failed(&self, error: impl Into<redb::Error>) -> StateError {
        StateError::Database { path: self.path.clone(), source: Box::new(error.into()) }
    }

    fn load(&self) -> Result<State, StateError> {
        let read = self.db.begin_read().map_err(|e| self.failed(e))?;
        let mut state = State::default();
        if let Some(table) = self.open_table(&read, CLIENTS)? {
            for entry in table.iter().map_err(|e| self.failed(e))? {
                let (key, value) = entry.map_err(|e| self.failed(e))?;
                state.clients.map.insert(key.value().to_string(), self.decode(value.value())?);
            }
        }
        if let Some(table) = self.open_table(&read, REFRESH)? {
            for entry in table.iter().map_err(|e| self.failed(e))? {
                let (key, value) = entry.map_err(|e| self.failed(e))?;
                state.refresh.map.insert(key.value().to_string(), self.decode(value.value())?);
            }
        }
        if let Some(table) = self.open_table(&read, REVOKED)? {
            for entry in table.iter().map_err(|e| self.failed(e))? {
                let (key, value) = entry.map_err(|e| self.failed(e))?;
                state.revoked.map.insert(key.value().to_string(), value.value());
            }
        }
        Ok(state)
    }

    /// A table of a read transaction, none when nothing was ever written to it.
    fn open_table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        read: &redb::ReadTransaction,
        table: TableDefinition<K, V>,
    ) -> Result<Option<redb::ReadOnlyTable<K, V>>, StateError> {
        match read.open_table(table) {
            Ok(table) => Ok(Some(table)),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(error) => Err(self.failed(error)),
        }
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, StateError> {
        serde_json::from_slice(bytes).map_err(|source| StateError::Damaged { path: self.path.clone(), source })
    }

    /// Imports `state.json` (written by versions before the state moved to redb) in the transaction that
    /// records the import, then removes it.
    fn import_json(&self, json: &Path) -> Result<(), StateError> {
        let bytes = match std::fs::read(json) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(StateError::Read { path: json.to_path_buf(), source }),
        };
        let read = self.db.begin_read().map_err(|e| self.failed(e))?;
        let imported = match self.open_table(&read, META)? {
            Some(meta) => meta.get("json_imported").map_err(|e| self.failed(e))?.is_some(),
            None => false,
        };
        drop(read);
        if !imported {
            let saved: JsonState = serde_json::from_slice(&bytes)
                .map_err(|source| StateError::Damaged { path: json.to_path_buf(), source })?;
            let changes = Changes {
                clients: saved.clients.into_iter().map(|(key, client)| (key, Some(client))).collect(),
                refresh: saved.refresh.into_iter().map(|(key, token)| (key, Some(token))).collect(),
                revoked: saved.revoked.into_iter().map(|(key, until)| (key, Some(until))).collect(),
            };
            self.write(&changes, true)?;
            tracing::info!(from = %json.display(), to = %self.path.display(), "OAuth state moved");
        }
        std::fs::remove_file(json).map_err(|source| StateError::Read { path: json.to_path_buf(), source })?;
        Ok(())
    }

    /// Writes `changes` after the ones saved before them, durably. Changes are queued in the order they were
    /// made (the caller holds the state's lock while it queues), and whoever gets the write lock writes the
    /// whole queue, so a save returns once its own changes are on disk without ever writing an older value
    /// over a newer one.
    pub(crate) fn queue(&self, changes: Changes) {
        self.pending.lock().expect("OAuth pending changes").extend(changes);
    }

    /// Writes every queued change (see [`StateFile::queue`]); on failure they stay queued for the next save.
    pub(crate) fn save(&self) -> Result<(), StateError> {
        let _writing = self.writing.lock().expect("OAuth state writer");
        let changes = std::mem::take(&mut *self.pending.lock().expect("OAuth pending changes"));
        if changes.is_empty() {
            return Ok(());
        }
        self.write(&changes, false).inspect_err(|_| {
            let mut pending = self.pending.lock().expect("OAuth pending changes");
            let later = std::mem::replace(&mut *pending, changes);
            pending.extend(later);
        })
    }

    fn write(&self, changes: &Changes, imported: bool) -> Result<(), StateError> {
        let mut bytes = 0;
        let txn = self.db.begin_write().map_err(|e| self.failed(e))?;
        {
            let mut clients = txn.open_table(CLIENTS).map_err(|e| self.failed(e))?;
            for (key, client) in &changes.clients {
                match client {
                    Some(client) => {
                        let value = serde_json::to_vec(client)?;
                        bytes += key.len() + value.len();
                        clients.insert(key.as_str(), value.as_slice()).map_err(|e| self.failed(e))?;
                    }
                    None => {
                        clients.remove(key.as_str()).map_err(|e| self.failed(e))?;
                    }
                }
            }
            let mut refresh = txn.open_table(REFRESH).map_err(|e| self.failed(e))?;
            for (key, token) in &changes.refresh {
                match token {
                    Some(token) => {
                        let value = serde_json::to_vec(token)?;
                        bytes += key.len() + value.len();
                        refresh.insert(key.as_str(), value.as_slice()).map_err(|e| self.failed(e))?;
                    }
                    None => {
                        refresh.remove(key.as_str()).map_err(|e| self.failed(e))?;
                    }
                }
            }
            let mut revoked = txn.open_table(REVOKED).map_err(|e| self.failed(e))?;
            for (key, until) in &changes.revoked {
                match until {
                    Some(until) => {
                        bytes += key.len() + 8;
                        revoked.insert(key.as_str(), until).map_err(|e| self.failed(e))?;
                    }
                    None => {
                        revoked.remove(key.as_str()).map_err(|e| self.failed(e))?;
                    }
                }
            }
            if imported {
                txn.open_table(META)
                    .map_err(|e| self.failed(e))?
                    .insert("json_imported", 1)
                    .map_err(|e| self.failed(e))?;
            }
        }
        txn.commit().map_err(|e| self.failed(e))?;
        self.written.fetch_add(bytes as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

/// Creates `dir` (mode 0700).
fn create_private_dir(dir: &Path) -> Result<(), StateError> {
    std::fs::create_dir_all(dir).map_err(|source| StateError::Directory { path: dir.to_path_buf(), source })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically, readable by the owner only, creating the directory (mode 0700).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let dir = path.parent().ok_or(StateError::NoDirectory)?;
    create_private_dir(dir)?;
    // tempfile creates with mode 0600.
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|source| StateError::Write { path: path.to_path_buf(), source })?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
impl StateFile {
    pub(crate) fn written(&self) -> u64 {
        self.written.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(family: &str, expires_at: i64, used: bool) -> Refresh {
        Refresh { client_id: "c".into(), scope: "read".into(), family: family.into(), expires_at, used }
    }

    fn refresh_keys(state: &State) -> Vec<&str> {
        state.refresh.map.keys().map(String::as_str).collect()
    }

    #[test]
    fn state_survives_a_reopen_and_purges_what_expired() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let oauth = dir.path().join("oauth");
        let (file, mut state) = StateFile::open(&oauth).expect("opened");
        assert!(state.clients.map.is_empty());
        for (digest, family, expires_at) in [("a", "f1", 100), ("b", "f1", 300), ("c", "f2", 300)] {
            state.refresh.insert(digest.into(), token(family, expires_at, false));
        }
        state.revoke("f2", 250);
        state.purge(200);
        file.queue(state.take_changes());
        file.save().expect("saved");
        assert!(state.take_changes().is_empty(), "what was saved is no longer pending");
        drop(file);
        let (_file, loaded) = StateFile::open(&oauth).expect("reopened");
        assert_eq!(refresh_keys(&loaded), ["b"]);
        assert_eq!(loaded.revoked.map.keys().collect::<Vec<_>>(), ["f2"]);
    }

    #[test]
    fn a_state_json_is_imported_once_then_removed() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let oauth = dir.path().join("oauth");
        std::fs::create_dir_all(&oauth).expect("dir");
        let json = oauth.join("state.json");
        let old = serde_json::json!({"clients": {}, "refresh": {"a": token("f1", i64::MAX, false)}, "revoked": {}});
        std::fs::write(&json, old.to_string()).expect("written");
        let (file, mut state) = StateFile::open(&oauth).expect("imported");
        assert_eq!(refresh_keys(&state), ["a"]);
        assert!(!json.exists(), "the imported file is removed");
        state.refresh.get_mut("a").expect("a").used = true;
        file.queue(state.take_changes());
        file.save().expect("saved");
        drop(file);
        // A state.json put back (a crash before its removal, or a restored copy) is not imported over
        // newer state: the used token would be usable again.
        std::fs::write(&json, old.to_string()).expect("written again");
        let (_file, state) = StateFile::open(&oauth).expect("reopened");
        assert!(state.refresh.get("a").expect("a").used);
        let fresh = dir.path().join("fresh");
        std::fs::create_dir_all(&fresh).expect("dir");
        std::fs::write(fresh.join("state.json"), b"{not json").expect("damage");
        let error = StateFile::open(&fresh).err().expect("damaged");
        assert!(crate::error::Chain(&error).to_string().contains("damaged"), "{}", crate::error::Chain(&error));
    }

    #[test]
    fn queued_changes_are_written_in_the_order_they_were_made() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (file, mut state) = StateFile::open(dir.path()).expect("opened");
        state.revoked.insert("f".into(), 1);
        let first = state.take_changes();
        state.revoked.insert("f".into(), 2);
        let second = state.take_changes();
        file.queue(first);
        file.queue(second);
        file.save().expect("saved");
        drop(file);
        let (_file, state) = StateFile::open(dir.path()).expect("reopened");
        assert_eq!(state.revoked.get("f"), Some(&2), "the later change is written last");
    }
}
