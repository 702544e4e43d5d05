//! Reversible forgetting: archiving takes a memory out of every search and list, keeps it in its history
//! and the graph, and `unarchive` brings it back as it is. Both are events of the memory (log schema 6);
//! whether a memory is archived is folded from its history, and the append expects the version read, so
//! a concurrent change is a conflict, never a double archive.

use super::commands::MAX_REASON_CHARS;
use super::{Memory, Service, ServiceError};
use mms_log::{Actor, ContentHash, EventId, EventKind, Expect, MemoryState, NewEvent};
use mms_projections::{ArchivedRow, iso_utc};
use serde::Serialize;

/// The largest page of archived memories one call returns.
pub const MAX_ARCHIVE_PAGE: usize = 1000;

/// An archived memory: the memory as it is, and when, why and by whom it was archived.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ArchivedMemory {
    #[serde(flatten)]
    pub memory: Memory,
    /// Seconds since the epoch, and ISO 8601 UTC, of the archiving.
    pub archived_at: f64,
    pub archived_at_iso: String,
    /// Why it was archived: a person's note, or the rules a consolidation found it by.
    pub archive_reason: Option<String>,
    /// "interface" or "interface:id" of who archived it.
    pub archived_by: String,
}

impl From<ArchivedRow> for ArchivedMemory {
    fn from(row: ArchivedRow) -> ArchivedMemory {
        ArchivedMemory {
            archived_at_iso: iso_utc((row.archived_at * 1e6).round() as i64),
            archived_at: row.archived_at,
            archive_reason: row.reason,
            archived_by: row.archived_by,
            memory: row.memory.into(),
        }
    }
}

/// A page of archived memories, most recently archived first.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ArchivedPage {
    pub memories: Vec<ArchivedMemory>,
    pub total: u64,
    pub page: usize,
    pub page_size: usize,
    pub has_more: bool,
}

/// A reason as given: trimmed, empty as none, bounded.
pub(super) fn checked_reason(reason: Option<String>) -> Result<Option<String>, ServiceError> {
    let reason = reason.map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
    if reason.as_ref().is_some_and(|r| r.chars().count() > MAX_REASON_CHARS) {
        return Err(ServiceError::Invalid(format!("a reason is at most {MAX_REASON_CHARS} characters")));
    }
    Ok(reason)
}

impl Service {
    /// Archives one memory: out of searches and lists until unarchived. Archiving an archived memory is
    /// a conflict.
    pub async fn archive(
        &self,
        hash: &str,
        reason: Option<String>,
        actor: Actor,
    ) -> Result<ArchivedMemory, ServiceError> {
        let hash = super::parse_hash(hash)?;
        let reason = checked_reason(reason)?;
        let state = self.live_state(hash).await?;
        if state.archived {
            return Err(ServiceError::Conflict(format!("memory {hash} is already archived")));
        }
        self.archive_states(vec![(state, hash, reason)], actor).await?;
        self.archived_memory(&hash.to_hex()).await
    }

    /// Archives live, unarchived memories in one append (each expecting the version given): a
    /// consolidation's forgetting. Returns how many were archived.
    pub(crate) async fn archive_states(
        &self,
        states: Vec<(MemoryState, ContentHash, Option<String>)>,
        actor: Actor,
    ) -> Result<usize, ServiceError> {
        if states.is_empty() {
            return Ok(0);
        }
        let events: Vec<NewEvent> = states
            .into_iter()
            .map(|(state, memory, reason)| NewEvent {
                event_id: EventId::generate(),
                actor: actor.clone(),
                memory,
                kind: EventKind::Archived { reason },
                expect: Expect::Version(state.version),
            })
            .collect();
        let appended = self.append(events, Vec::new()).await?;
        self.settle(&appended).await?;
        Ok(appended.len())
    }

    /// Brings an archived memory back into searches and lists, as it is.
    pub async fn unarchive(&self, hash: &str, actor: Actor) -> Result<Memory, ServiceError> {
        let hash = super::parse_hash(hash)?;
        let state = self.live_state(hash).await?;
        if !state.archived {
            return Err(ServiceError::Conflict(format!("memory {hash} is not archived")));
        }
        let event = NewEvent {
            event_id: EventId::generate(),
            actor,
            memory: hash,
            kind: EventKind::Unarchived(state.record.clone()),
            expect: Expect::Version(state.version),
        };
        let appended = self.append(vec![event], Vec::new()).await?;
        self.settle(&appended).await?;
        Ok(Memory::from_record(&hash.to_hex(), &state.record))
    }

    /// One archived memory.
    pub async fn archived_memory(&self, hash: &str) -> Result<ArchivedMemory, ServiceError> {
        let hash = super::parse_hash(hash)?;
        let key = hash.to_hex();
        self.blocking(move |inner| Ok(inner.reader.archived_memory(&key)?))
            .await?
            .map(ArchivedMemory::from)
            .ok_or_else(|| ServiceError::NotFound(format!("memory {hash} is not archived")))
    }

    /// A page (from 1) of archived memories, most recently archived first.
    pub async fn archived(&self, page: usize, page_size: usize) -> Result<ArchivedPage, ServiceError> {
        if page == 0 || page_size == 0 || page_size > MAX_ARCHIVE_PAGE {
            return Err(ServiceError::Invalid(format!(
                "page starts at 1 and page_size is between 1 and {MAX_ARCHIVE_PAGE}"
            )));
        }
        let offset = (page - 1).saturating_mul(page_size);
        let (rows, total) = self.blocking(move |inner| Ok(inner.reader.archived(offset, page_size)?)).await?;
        Ok(ArchivedPage {
            has_more: (offset + rows.len()) < total as usize,
            memories: rows.into_iter().map(ArchivedMemory::from).collect(),
            total,
            page,
            page_size,
        })
    }
}
