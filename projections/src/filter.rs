//! `Filter`: the tag, type and time conditions shared by list, search and bulk operations.

use rusqlite::types::Value;

/// How several tags combine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TagMatch {
    /// A memory matches if it has at least one of the tags.
    #[default]
    Any,
    /// A memory matches if it has every tag.
    All,
}

/// Conditions on memories. The default matches every memory.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    /// Exact tags (no substring matching).
    pub tags: Vec<String>,
    pub tag_match: TagMatch,
    pub memory_type: Option<String>,
    /// `created_at` at or after this many seconds since the epoch.
    pub created_from: Option<f64>,
    /// `created_at` strictly before this many seconds since the epoch.
    pub created_before: Option<f64>,
}

impl Filter {
    /// True when the filter matches every memory.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
            && self.memory_type.is_none()
            && self.created_from.is_none()
            && self.created_before.is_none()
    }

    /// SQL conditions over `memories m`, joined with AND ("1" when empty), and their parameters.
    pub(crate) fn to_sql(&self) -> (String, Vec<Value>) {
        let mut clauses = Vec::new();
        let mut params = Vec::new();
        if !self.tags.is_empty() {
            let marks = vec!["?"; self.tags.len()].join(", ");
            params.extend(self.tags.iter().map(|t| Value::Text(t.clone())));
            match self.tag_match {
                TagMatch::Any => {
                    clauses.push(format!("m.id IN (SELECT memory_id FROM memory_tags WHERE tag IN ({marks}))"))
                }
                TagMatch::All => {
                    let distinct: std::collections::BTreeSet<&String> = self.tags.iter().collect();
                    clauses.push(format!(
                        "m.id IN (SELECT memory_id FROM memory_tags WHERE tag IN ({marks}) GROUP BY memory_id \
                         HAVING COUNT(DISTINCT tag) = {})",
                        distinct.len()
                    ));
                }
            }
        }
        if let Some(memory_type) = &self.memory_type {
            clauses.push("m.memory_type = ?".into());
            params.push(Value::Text(memory_type.clone()));
        }
        if let Some(from) = self.created_from {
            clauses.push("m.created_at >= ?".into());
            params.push(Value::Real(from));
        }
        if let Some(before) = self.created_before {
            clauses.push("m.created_at < ?".into());
            params.push(Value::Real(before));
        }
        if clauses.is_empty() { ("1".into(), params) } else { (clauses.join(" AND "), params) }
    }
}
