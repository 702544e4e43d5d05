//! Consolidation, as the original's "dream-inspired" subsystem, made of events: relevance with decay
//! (computed, never stored), associations between memories (`related` edges with their reasons), clusters
//! (DBSCAN) each summarised by an extractive summary memory linked to its members, and forgetting as
//! archiving (reversible). The algorithms here are pure; `Service::consolidate` reads the store, runs
//! them and appends what they decide; `crate::consolidator` runs it on the configured horizons.

pub mod associations;
pub mod clustering;
pub mod compression;
pub mod decay;
pub mod forgetting;
pub mod note;

pub use note::{Horizon, Note};

/// What a consolidation run does, from the settings (`MCP_*` variables).
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub retention: decay::Retention,
    /// None when associations are off.
    pub associations: Option<associations::AssociationSettings>,
    /// The minimum cluster size; None when clustering is off.
    pub clustering_min_size: Option<usize>,
    /// The longest summary; None when compression is off.
    pub compression_max_length: Option<usize>,
    /// None when forgetting is off.
    pub forgetting: Option<forgetting::ForgettingSettings>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            retention: decay::Retention::default(),
            associations: Some(associations::AssociationSettings {
                min_similarity: 0.3,
                max_similarity: 0.7,
                max_pairs: 100,
            }),
            clustering_min_size: Some(5),
            compression_max_length: Some(500),
            forgetting: Some(forgetting::ForgettingSettings { relevance_threshold: 0.1, access_threshold_days: 90 }),
        }
    }
}

/// The phases a horizon runs, as the original: relevance always; clustering weekly to quarterly;
/// associations weekly and monthly; compression where clustering runs; forgetting monthly to yearly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Phases {
    pub clustering: bool,
    pub associations: bool,
    pub compression: bool,
    pub forgetting: bool,
}

impl Horizon {
    /// The phases this horizon runs.
    pub fn phases(self) -> Phases {
        use Horizon::*;
        Phases {
            clustering: matches!(self, Weekly | Monthly | Quarterly),
            associations: matches!(self, Weekly | Monthly),
            compression: matches!(self, Weekly | Monthly | Quarterly),
            forgetting: matches!(self, Monthly | Quarterly | Yearly),
        }
    }

    /// Which memories a run looks at, by creation time (seconds): daily the last two days; quarterly and
    /// yearly those older than 90 and 365 days; weekly and monthly all.
    pub fn selects(self, created_at: f64, now: f64) -> bool {
        const DAY: f64 = 86_400.0;
        match self {
            Horizon::Daily => created_at >= now - 2.0 * DAY && created_at <= now,
            Horizon::Weekly | Horizon::Monthly => true,
            Horizon::Quarterly => created_at < now - 90.0 * DAY,
            Horizon::Yearly => created_at < now - 365.0 * DAY,
        }
    }
}
