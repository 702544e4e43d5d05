//! What consolidation reads of a memory, and the horizons it runs over.

use serde_json::{Map, Value};

/// A live, unarchived memory as consolidation sees it. Times are seconds since the epoch (UTC).
#[derive(Clone, Debug, PartialEq)]
pub struct Note {
    pub hash: String,
    pub content: String,
    pub tags: Vec<String>,
    pub memory_type: Option<String>,
    pub metadata: Map<String, Value>,
    pub created_at: f64,
    pub updated_at: f64,
}

/// How far a consolidation run looks, as the original's time horizons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Horizon {
    Daily,
    Weekly,
    Monthly,
    Quarterly,
    Yearly,
}

impl Horizon {
    pub const ALL: [Horizon; 5] =
        [Horizon::Daily, Horizon::Weekly, Horizon::Monthly, Horizon::Quarterly, Horizon::Yearly];

    pub fn name(self) -> &'static str {
        match self {
            Horizon::Daily => "daily",
            Horizon::Weekly => "weekly",
            Horizon::Monthly => "monthly",
            Horizon::Quarterly => "quarterly",
            Horizon::Yearly => "yearly",
        }
    }

    pub fn parse(name: &str) -> Option<Horizon> {
        Horizon::ALL.into_iter().find(|h| h.name() == name.trim().to_ascii_lowercase())
    }
}
