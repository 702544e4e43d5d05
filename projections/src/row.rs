//! `MemoryRow`: a memory as the read model returns it, in the original service's field layout.

use rusqlite::Row;

/// One memory as stored in the `memories` table.
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryRow {
    pub id: i64,
    pub content_hash: String,
    pub content: String,
    pub tags: Vec<String>,
    pub memory_type: Option<String>,
    /// The metadata JSON object as text.
    pub metadata: String,
    pub created_at: f64,
    pub updated_at: f64,
    pub created_at_iso: String,
    pub updated_at_iso: String,
    /// The memory's version in the log (number of events about it).
    pub version: u32,
    /// The sequence number of the last event applied to this row.
    pub last_seq: u64,
}

/// The columns `MemoryRow::from_row` reads, in order, for a `memories` table aliased `m`.
pub(crate) const COLUMNS: &str = "m.id, m.content_hash, m.content, m.tags, m.memory_type, m.metadata, m.created_at, \
     m.updated_at, m.created_at_iso, m.updated_at_iso, m.version, m.last_seq";

impl MemoryRow {
    pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<MemoryRow> {
        let tags: Option<String> = row.get(3)?;
        Ok(MemoryRow {
            id: row.get(0)?,
            content_hash: row.get(1)?,
            content: row.get(2)?,
            tags: split_tags(tags.as_deref().unwrap_or("")),
            memory_type: row.get(4)?,
            metadata: row.get::<_, Option<String>>(5)?.unwrap_or_else(|| "{}".into()),
            created_at: row.get::<_, Option<f64>>(6)?.unwrap_or_default(),
            updated_at: row.get::<_, Option<f64>>(7)?.unwrap_or_default(),
            created_at_iso: row.get::<_, Option<String>>(8)?.unwrap_or_default(),
            updated_at_iso: row.get::<_, Option<String>>(9)?.unwrap_or_default(),
            version: row.get(10)?,
            last_seq: row.get::<_, i64>(11)? as u64,
        })
    }
}

/// Splits the comma-joined `tags` column.
pub(crate) fn split_tags(joined: &str) -> Vec<String> {
    joined.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_string).collect()
}

/// The original's ISO form of a UTC instant: `2025-10-27T10:27:44.123456Z`, without the fraction when it is 0.
pub fn iso_utc(micros: i64) -> String {
    let Some(at) = chrono::DateTime::from_timestamp_micros(micros) else {
        return String::new();
    };
    if at.timestamp_subsec_micros() == 0 {
        at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_matches_python_isoformat() {
        assert_eq!(iso_utc(1_761_560_864_123_456), "2025-10-27T10:27:44.123456Z");
        assert_eq!(iso_utc(1_761_560_864_000_000), "2025-10-27T10:27:44Z");
        assert_eq!(iso_utc(1_761_560_864_000_100), "2025-10-27T10:27:44.000100Z");
    }

    #[test]
    fn tags_split_and_trim() {
        assert_eq!(split_tags("a, b,,c "), vec!["a", "b", "c"]);
        assert!(split_tags("").is_empty());
    }
}
