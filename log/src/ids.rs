//! Identifier and time newtypes shared by every crate: sequence numbers, event ids, content hashes and timestamps.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// The global position of an event in the log.
/// Sequence numbers start at 1, grow by exactly one per event and never repeat; 0 means "before the first event".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Seq(pub u64);

impl Seq {
    /// The position before any event.
    pub const ZERO: Seq = Seq(0);

    /// The next position.
    pub fn next(self) -> Seq {
        Seq(self.0 + 1)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A client-supplied or generated id that makes an append idempotent: the same id is never appended twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EventId(pub uuid::Uuid);

impl EventId {
    /// A fresh, time-ordered id (UUIDv7).
    pub fn generate() -> EventId {
        EventId(uuid::Uuid::now_v7())
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for EventId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s).map(EventId)
    }
}

/// The identity of a memory: SHA-256 of its content, trimmed and lower-cased, as the original service computes it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    /// Hashes content the way the original does: `sha256(content.strip().lower())`.
    pub fn of_content(content: &str) -> ContentHash {
        // Python's str.strip() removes Unicode whitespace, and str.lower() is Unicode-aware; Rust's trim and
        // to_lowercase follow the same Unicode definitions for the characters that occur in practice.
        let normalised = content.trim().to_lowercase();
        ContentHash(Sha256::digest(normalised.as_bytes()).into())
    }

    /// The key a document upload's events are recorded under. The hashed bytes end in 0xFF, which no UTF-8
    /// text has, so no memory's content hashes to an upload's key.
    pub fn of_upload(upload_id: &str) -> ContentHash {
        let mut hasher = Sha256::new();
        hasher.update(b"document upload ");
        hasher.update(upload_id.as_bytes());
        hasher.update([0xFF]);
        ContentHash(hasher.finalize().into())
    }

    /// The lower-case hex form used in every API.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", self.to_hex())
    }
}

/// Why a string is not a content hash.
#[derive(Debug, thiserror::Error)]
#[error("'{0}' is not a content hash: expected 64 hexadecimal characters")]
pub struct ParseHashError(String);

impl FromStr for ContentHash {
    type Err = ParseHashError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut bytes).map_err(|_| ParseHashError(s.to_string()))?;
        Ok(ContentHash(bytes))
    }
}

/// A UTC instant with microsecond precision, as microseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current time from the system clock.
    pub fn now() -> Timestamp {
        let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Timestamp(i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX))
    }

    /// Seconds since the epoch as a float, the form the original stores in `created_at`.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }

    /// The earliest and latest instants accepted from outside: the years 1 to 9999, as ISO 8601 can write them.
    pub const MIN_SECS: f64 = -62_135_596_800.0;
    pub const MAX_SECS: f64 = 253_402_300_799.0;

    /// The timestamp for float seconds since the epoch, rounded to the microsecond; `None` for a value that
    /// is not finite or outside the years 1 to 9999.
    pub fn try_from_secs_f64(secs: f64) -> Option<Timestamp> {
        (secs.is_finite() && (Self::MIN_SECS..=Self::MAX_SECS).contains(&secs))
            .then(|| Timestamp((secs * 1e6).round() as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_hash_matches_the_original() {
        assert_eq!(
            ContentHash::of_content("Hello World").to_hex(),
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        assert_eq!(ContentHash::of_content("  hello world\n"), ContentHash::of_content("HELLO WORLD"));
    }

    #[test]
    fn content_hash_round_trips_through_hex() {
        let hash = ContentHash::of_content("x");
        assert_eq!(hash.to_hex().parse::<ContentHash>().expect("valid hex"), hash);
        assert!("xyz".parse::<ContentHash>().is_err());
        assert!("ab".parse::<ContentHash>().is_err());
    }
}
