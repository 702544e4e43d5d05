//! Relevance decay: how much a memory still matters, as the original's `ExponentialDecayCalculator` scores it.
//!
//! The score is `base importance × exp(−age / retention) × connection boost × access boost`, with protected
//! memories floored at 0.5.
//! Ages are whole days, floored the way Python's `timedelta.days` floors, so 6.99 days count as 6 and a
//! moment in the future counts as −1.

use serde_json::Value;

use super::note::Note;

/// Microseconds in a day: day counts are taken over whole microseconds, as Python's datetimes hold them.
const DAY_MICROS: i64 = 86_400_000_000;

/// Tags that protect a memory from forgetting and floor its relevance. The original compares them case-sensitively.
const PROTECTED_TAGS: [&str; 4] = ["critical", "important", "reference", "permanent"];

/// Importance that a tag lends a memory, compared case-insensitively.
/// The weights below 1.0 never lower a score, because the maximum starts at 1.0.
const TAG_IMPORTANCE: [(&str, f64); 9] = [
    ("critical", 2.0),
    ("important", 1.5),
    ("reference", 1.3),
    ("urgent", 1.4),
    ("project", 1.2),
    ("personal", 1.1),
    ("temporary", 0.7),
    ("draft", 0.8),
    ("note", 0.9),
];

/// Floor of a protected memory's relevance, so that it never looks forgettable.
const PROTECTED_FLOOR: f64 = 0.5;

/// How many days each memory type keeps its relevance before it has decayed to 1/e.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Days for `critical` memories.
    pub critical: u32,
    /// Days for `reference` memories.
    pub reference: u32,
    /// Days for `standard` memories, untyped ones and every type this table does not name.
    pub standard: u32,
    /// Days for `temporary` memories.
    pub temporary: u32,
}

impl Default for Retention {
    /// The original's defaults: 365, 180, 30 and 7 days.
    fn default() -> Self {
        Retention { critical: 365, reference: 180, standard: 30, temporary: 7 }
    }
}

impl Retention {
    /// Retention in days for a memory type; unknown types and `None` get the standard period.
    pub fn days(&self, memory_type: Option<&str>) -> u32 {
        match memory_type {
            Some("critical") => self.critical,
            Some("reference") => self.reference,
            Some("temporary") => self.temporary,
            _ => self.standard,
        }
    }
}

/// A memory's relevance and the factors it is the product of.
#[derive(Clone, Debug, PartialEq)]
pub struct Relevance {
    /// The product of the factors, floored at 0.5 for protected memories.
    pub total: f64,
    /// Importance from `metadata.importance_score` or from the tags, in [0, 2].
    pub base_importance: f64,
    /// `exp(−age_days / retention_days)`.
    pub decay_factor: f64,
    /// `1 + 0.1 × connections`, unbounded.
    pub connection_boost: f64,
    /// 1.5, 1.2, 1.1 or 1.0 as the last access is within 1, 7, 30 days or older (or unknown).
    pub access_boost: f64,
    /// Whole days since the memory was created, floored.
    pub age_days: i64,
    /// The retention period its type was given.
    pub retention_days: u32,
    /// How many other memories it is connected to.
    pub connections: u32,
    /// Whether a protected tag floors the total and keeps it from forgetting.
    pub protected: bool,
}

impl Relevance {
    /// One line saying how the total came about, for logs and reports.
    pub fn explain(&self) -> String {
        let mut line = format!(
            "relevance {} = importance {} × decay {} (age {} d, retention {} d) × connections {} × access {}",
            number(self.total),
            number(self.base_importance),
            number(self.decay_factor),
            self.age_days,
            self.retention_days,
            number(self.connection_boost),
            number(self.access_boost),
        );
        if self.protected {
            let product = self.base_importance * self.decay_factor * self.connection_boost * self.access_boost;
            if product < PROTECTED_FLOOR {
                line.push_str(&format!(", raised to the protected floor {}", number(PROTECTED_FLOOR)));
            } else {
                line.push_str(", protected");
            }
        }
        line
    }
}

/// Two decimals, or scientific notation for small non-zero values that two decimals would show as 0.00.
pub(super) fn number(value: f64) -> String {
    if value != 0.0 && value.abs() < 0.005 { format!("{value:.1e}") } else { format!("{value:.2}") }
}

/// Whether the tags protect a memory: one of `critical`, `important`, `reference`, `permanent`, case-sensitive.
pub fn is_protected(tags: &[String]) -> bool {
    tags.iter().any(|tag| PROTECTED_TAGS.contains(&tag.as_str()))
}

/// Whole days from `earlier` to `later` (seconds since the epoch), floored toward −∞ like Python's
/// `timedelta.days`.
/// Both times are first rounded to whole microseconds, as Python's `datetime` rounds them, so that a float
/// error a hair below a day boundary does not lose a day.
pub fn whole_days(later: f64, earlier: f64) -> i64 {
    micros(later).saturating_sub(micros(earlier)).div_euclid(DAY_MICROS)
}

/// Seconds to whole microseconds, rounding half to even as Python's `utcfromtimestamp` does.
fn micros(seconds: f64) -> i64 {
    // The cast saturates, and NaN becomes 0, so malformed times cannot panic here.
    (seconds * 1e6).round_ties_even() as i64
}

/// Scores one memory at time `now` (seconds since the epoch).
///
/// `last_access` is the last time it was read; `None` falls back to `note.updated_at`, as the original does,
/// and an `updated_at` of 0.0 counts as unknown, which gives no access boost.
/// A `created_at` of 0.0 counts as unknown too and gives an age of 0, as in the original.
pub fn relevance(
    note: &Note,
    connections: u32,
    last_access: Option<f64>,
    now: f64,
    retention: &Retention,
) -> Relevance {
    let age_days = if note.created_at == 0.0 { 0 } else { whole_days(now, note.created_at) };
    let base_importance = base_importance(note);
    // A zero period would divide by zero (the original raises); the newer original bounds it to at least 1.
    let retention_days = retention.days(note.memory_type.as_deref()).max(1);
    let decay_factor = (-(age_days as f64) / f64::from(retention_days)).exp();
    let connection_boost = 1.0 + 0.1 * f64::from(connections);
    let last_access = last_access.or((note.updated_at != 0.0).then_some(note.updated_at));
    let access_boost = last_access.map_or(1.0, |accessed| access_boost(whole_days(now, accessed)));
    let protected = is_protected(&note.tags);
    let mut total = base_importance * decay_factor * connection_boost * access_boost;
    if protected {
        total = total.max(PROTECTED_FLOOR);
    }
    Relevance {
        total,
        base_importance,
        decay_factor,
        connection_boost,
        access_boost,
        age_days,
        retention_days,
        connections,
        protected,
    }
}

/// Boost for recent reads; a read in the future (negative days) counts as recent.
fn access_boost(days_since_access: i64) -> f64 {
    match days_since_access {
        ..=1 => 1.5,
        2..=7 => 1.2,
        8..=30 => 1.1,
        _ => 1.0,
    }
}

/// `metadata.importance_score` clamped to [0, 2] when it reads as a number, else the strongest tag weight.
fn base_importance(note: &Note) -> f64 {
    if let Some(score) = note.metadata.get("importance_score").and_then(number_of) {
        return score.clamp(0.0, 2.0);
    }
    note.tags
        .iter()
        .filter_map(|tag| {
            let tag = tag.to_lowercase();
            TAG_IMPORTANCE.iter().find(|(name, _)| *name == tag).map(|(_, weight)| *weight)
        })
        .fold(1.0, f64::max)
}

/// What Python's `float()` makes of a JSON value: numbers, booleans and numeric strings.
/// NaN is refused (the original would turn it into 2.0 by accident of `min`/`max`), so it falls through to tags.
fn number_of(value: &Value) -> Option<f64> {
    let number = match value {
        Value::Number(number) => number.as_f64(),
        Value::Bool(flag) => Some(if *flag { 1.0 } else { 0.0 }),
        Value::String(text) => text.trim().parse::<f64>().ok(),
        _ => None,
    }?;
    (!number.is_nan()).then_some(number)
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value};

    use super::*;

    /// The recorder's reference time, 2025-06-01T12:00:00Z.
    const REFERENCE: f64 = 1_748_779_200.0;

    const DAY_SECONDS: f64 = 86_400.0;

    fn days_to_seconds(days: f64) -> f64 {
        days * DAY_SECONDS
    }

    fn fixture() -> Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/consolidation/behaviour.json");
        let text = std::fs::read_to_string(path).expect("the consolidation fixture is checked in");
        serde_json::from_str(&text).expect("the fixture is JSON")
    }

    fn close(actual: f64, expected: f64) -> bool {
        // The fixture rounds to 12 significant digits, so a relative tolerance covers tiny and large values alike.
        actual == expected || (actual - expected).abs() <= 1e-9 * expected.abs()
    }

    fn note(tags: &[&str], memory_type: Option<&str>, created_at: f64, updated_at: f64) -> Note {
        Note {
            hash: "h".to_owned(),
            content: "c".to_owned(),
            tags: tags.iter().map(|tag| (*tag).to_owned()).collect(),
            memory_type: memory_type.map(str::to_owned),
            metadata: Map::new(),
            created_at,
            updated_at,
        }
    }

    /// Every recorded row of the original's decay table, including the tz-aware access row: the original
    /// normalises both sides to UTC, so it is the same instant as a plain epoch time.
    #[test]
    fn every_recorded_decay_row_matches() {
        let fixture = fixture();
        let columns = fixture["decay"]["columns"].as_array().expect("columns");
        let column = |prefix: &str| {
            columns
                .iter()
                .position(|name| name.as_str().is_some_and(|name| name.starts_with(prefix)))
                .unwrap_or_else(|| panic!("no column {prefix}"))
        };
        let rows = fixture["decay"]["rows"].as_array().expect("rows");
        assert_eq!(rows.len(), 110);
        for row in rows {
            let age = row[column("in.age_days")].as_f64().expect("age");
            let memory_type = row[column("in.memory_type")].as_str();
            let tags: Vec<String> = row[column("in.tags")]
                .as_array()
                .expect("tags")
                .iter()
                .map(|tag| tag.as_str().expect("tag").to_owned())
                .collect();
            let metadata = row[column("in.metadata")].as_object().expect("metadata").clone();
            let connections = row[column("in.connection_count")].as_u64().expect("connections") as u32;
            let accessed_days_ago = row[column("in.last_accessed_days_ago")].as_f64();
            let updated_days_ago = row[column("in.updated_at_days_ago")].as_f64().expect("updated");
            let note = Note {
                hash: "h".to_owned(),
                content: "decay case".to_owned(),
                tags,
                memory_type: memory_type.map(str::to_owned),
                metadata,
                created_at: REFERENCE - days_to_seconds(age),
                updated_at: REFERENCE - days_to_seconds(updated_days_ago),
            };
            let last_access = accessed_days_ago.map(|days| REFERENCE - days_to_seconds(days));
            let got = relevance(&note, connections, last_access, REFERENCE, &Retention::default());

            let expect = |name: &str| row[column(name)].as_f64().expect(name);
            let case = format!("row {row} gave {got:?}");
            assert!(close(got.total, expect("out.total_score")), "total: {case}");
            assert!(close(got.base_importance, expect("out.base_importance")), "importance: {case}");
            assert!(close(got.decay_factor, expect("out.decay_factor")), "decay: {case}");
            assert!(close(got.connection_boost, expect("out.connection_boost")), "connections: {case}");
            assert!(close(got.access_boost, expect("out.access_boost")), "access: {case}");
            assert_eq!(Some(got.age_days), row[column("out.metadata.age_days")].as_i64(), "age: {case}");
            assert_eq!(
                Some(u64::from(got.retention_days)),
                row[column("out.metadata.retention_period")].as_u64(),
                "retention: {case}"
            );
            assert_eq!(Some(got.protected), row[column("out.metadata.is_protected")].as_bool(), "protected: {case}");
        }
    }

    #[test]
    fn days_floor_toward_minus_infinity() {
        assert_eq!(whole_days(DAY_SECONDS * 1.99, 0.0), 1);
        assert_eq!(whole_days(0.0, DAY_SECONDS * 0.5), -1);
        assert_eq!(whole_days(REFERENCE, REFERENCE - days_to_seconds(6.99)), 6);
        assert_eq!(whole_days(f64::NAN, f64::INFINITY), i64::MIN.div_euclid(DAY_MICROS));
    }

    #[test]
    fn unknown_times_give_no_age_and_no_access_boost() {
        let got = relevance(&note(&[], None, 0.0, 0.0), 0, None, REFERENCE, &Retention::default());
        assert_eq!((got.age_days, got.access_boost, got.total), (0, 1.0, 1.0));
    }

    #[test]
    fn retention_table_sends_unknown_types_to_standard() {
        let retention = Retention { standard: 60, ..Retention::default() };
        assert_eq!(retention.days(Some("note")), 60);
        assert_eq!(retention.days(None), 60);
        assert_eq!(retention.days(Some("temporary")), 7);
        assert_eq!(retention.days(Some("Critical")), 60, "types are compared exactly, as in the original");
    }

    #[test]
    fn importance_reads_numbers_bools_and_numeric_strings() {
        let mut with_score = note(&["critical"], None, REFERENCE, REFERENCE);
        for (value, expected) in [
            (Value::from(1.25), 1.25),
            (Value::from(" 0.5 "), 0.5),
            (Value::from(true), 1.0),
            (Value::Null, 2.0),
            (Value::from("NaN"), 2.0),
            (Value::from(vec![1]), 2.0),
        ] {
            with_score.metadata.insert("importance_score".to_owned(), value.clone());
            let got = relevance(&with_score, 0, None, REFERENCE, &Retention::default());
            assert_eq!(got.base_importance, expected, "importance_score {value}");
        }
    }

    #[test]
    fn explain_names_every_factor() {
        let old = note(&[], None, REFERENCE - days_to_seconds(95.0), REFERENCE - days_to_seconds(95.0));
        let got = relevance(&old, 0, None, REFERENCE, &Retention::default());
        assert_eq!(
            got.explain(),
            "relevance 0.04 = importance 1.00 × decay 0.04 (age 95 d, retention 30 d) × connections 1.00 × access 1.00"
        );
        let kept = note(&["permanent"], Some("temporary"), REFERENCE - days_to_seconds(400.0), 0.0);
        let got = relevance(&kept, 2, None, REFERENCE, &Retention::default());
        assert_eq!(
            got.explain(),
            "relevance 0.50 = importance 1.00 × decay 1.5e-25 (age 400 d, retention 7 d) × connections 1.20 × \
             access 1.00, raised to the protected floor 0.50"
        );
    }
}
