//! Controlled forgetting: which memories are candidates to archive, compress or delete, and why, as the original's
//! `ControlledForgettingEngine` picks them.
//!
//! This module only decides; it writes nothing.
//! Three deliberate fixes over the original are marked "Fix" below: duplicates are found without comparing every
//! pair, the oldest copy of a duplicate is kept, and times are plain epoch seconds so no timezone mix can crash.

use std::collections::{HashMap, HashSet};

use super::decay::{Relevance, is_protected, number, whole_days};
use super::note::{Horizon, Note};

/// Reason: the relevance total is below the threshold.
pub const LOW_RELEVANCE: &str = "low_relevance";
/// Reason: the memory has not been read for more than the access threshold.
pub const OLD_ACCESS: &str = "old_access";
/// Reason: a `temporary` memory older than a week.
pub const EXPIRED_TEMPORARY: &str = "expired_temporary";
/// Reason: the content is too short, mostly symbols, repetitive or a placeholder.
pub const LOW_QUALITY: &str = "low_quality";
/// Reason: an older memory says the same thing.
pub const POTENTIAL_DUPLICATE: &str = "potential_duplicate";

/// A `temporary` memory expires after this many whole days. The original fixes it at a week, whatever the
/// retention table says.
const TEMPORARY_DAYS: i64 = 7;

/// Normalised content shorter than this (in characters) is never called a duplicate.
const MIN_DUPLICATE_CHARS: usize = 20;

/// Both contents must be longer than this (in characters) for the substring and word-overlap tests.
const MIN_SIMILAR_CHARS: usize = 50;

/// Both word sets must be larger than this for the word-overlap test.
const MIN_SIMILAR_WORDS: usize = 5;

/// Word-set Jaccard above which two contents are near duplicates.
const SIMILAR_JACCARD: f64 = 0.8;

/// Substrings that mark short content as a placeholder.
const LOW_VALUE_PATTERNS: [&str; 9] =
    ["test", "testing", "hello world", "lorem ipsum", "asdf", "qwerty", "1234", "temp", "temporary"];

/// Placeholder substrings only count in content shorter than this (in characters).
const LOW_VALUE_MAX_CHARS: usize = 100;

/// The thresholds forgetting works with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ForgettingSettings {
    /// A relevance total below this is `low_relevance`.
    pub relevance_threshold: f64,
    /// More whole days than this since the last access is `old_access`; more than twice this makes it deletable.
    pub access_threshold_days: u32,
}

impl Default for ForgettingSettings {
    /// The original's defaults: 0.1 and 90 days.
    fn default() -> Self {
        ForgettingSettings { relevance_threshold: 0.1, access_threshold_days: 90 }
    }
}

/// A memory that forgetting would act on, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// Position of the memory in the `notes` given to [`candidates`].
    pub index: usize,
    /// Reason names (the constants of this module), in the original's order.
    pub reasons: Vec<&'static str>,
    /// 1 (act first) to 3. The original archives priorities 1 and 2 and compresses priority 3.
    pub priority: u8,
    /// Whether the horizon allows deleting it rather than archiving it.
    pub can_be_deleted: bool,
    /// Its relevance total.
    pub relevance: f64,
    /// Whole days since it was last read, if that is known.
    pub days_since_access: Option<i64>,
    /// Whole days since it was created.
    pub age_days: i64,
    /// For `potential_duplicate`: the position in `notes` of the older copy that is kept.
    pub duplicate_of: Option<usize>,
    /// The thresholds it was judged by, so that [`Candidate::explain`] can name them.
    pub settings: ForgettingSettings,
}

impl Candidate {
    /// The reasons with the numbers behind them, e.g. `low_relevance (0.04 < 0.1), old_access (120 d > 90 d)`.
    pub fn explain(&self) -> String {
        let explained: Vec<String> = self
            .reasons
            .iter()
            .map(|&reason| match reason {
                LOW_RELEVANCE => {
                    format!("{reason} ({} < {})", number(self.relevance), self.settings.relevance_threshold)
                }
                OLD_ACCESS => match self.days_since_access {
                    Some(days) => format!("{reason} ({days} d > {} d)", self.settings.access_threshold_days),
                    None => reason.to_owned(),
                },
                EXPIRED_TEMPORARY => format!("{reason} (age {} d > {TEMPORARY_DAYS} d)", self.age_days),
                POTENTIAL_DUPLICATE => match self.duplicate_of {
                    Some(original) => format!("{reason} (of note {original})"),
                    None => reason.to_owned(),
                },
                _ => reason.to_owned(),
            })
            .collect();
        explained.join(", ")
    }
}

/// The memories forgetting would act on, in the order the original processes them: by priority, then by
/// relevance, highest first (ties keep the order of `notes`).
///
/// `relevance[i]`, `last_access[i]` and `neighbours[i]` belong to `notes[i]`:
/// - a note without a relevance entry (the slice is shorter) is skipped, as the original skips unscored memories;
/// - `last_access[i]` is in epoch seconds (the caller passes `updated_at` when nothing was read); 0.0 or a
///   missing entry means unknown, which is never `old_access`;
/// - `neighbours[i]` lists notes likely similar to `notes[i]` (from a vector index), for the near-duplicate tests.
///
/// Protected memories are never candidates, and a note with no reason is not one either.
pub fn candidates(
    notes: &[Note],
    relevance: &[Relevance],
    last_access: &[f64],
    now: f64,
    settings: &ForgettingSettings,
    horizon: Horizon,
    neighbours: &[Vec<usize>],
) -> Vec<Candidate> {
    let protected: Vec<bool> = notes.iter().map(|note| is_protected(&note.tags)).collect();
    let duplicate_of = duplicates(notes, neighbours, &protected);
    let access_threshold = i64::from(settings.access_threshold_days);
    let mut found = Vec::new();
    for (index, note) in notes.iter().enumerate() {
        if protected[index] {
            continue;
        }
        let Some(score) = relevance.get(index) else { continue };
        let mut reasons = Vec::new();
        let mut priority = 3;
        let mut can_be_deleted = false;

        if score.total < settings.relevance_threshold {
            reasons.push(LOW_RELEVANCE);
            priority = priority.min(2);
        }

        let accessed = last_access.get(index).copied().filter(|&seconds| seconds != 0.0 && seconds.is_finite());
        let days_since_access = accessed.map(|seconds| whole_days(now, seconds));
        if let Some(days) = days_since_access
            && days > access_threshold
        {
            reasons.push(OLD_ACCESS);
            if days > access_threshold * 2 {
                priority = 1;
                can_be_deleted = true;
            }
        }

        // As in the original, an unknown creation time (0.0) gives an age of 0.
        let age_days = if note.created_at == 0.0 { 0 } else { whole_days(now, note.created_at) };
        if note.memory_type.as_deref() == Some("temporary") && age_days > TEMPORARY_DAYS {
            reasons.push(EXPIRED_TEMPORARY);
            priority = 1;
            can_be_deleted = true;
        }

        if is_low_quality(&note.content) {
            reasons.push(LOW_QUALITY);
            priority = priority.min(2);
        }

        if duplicate_of[index].is_some() {
            reasons.push(POTENTIAL_DUPLICATE);
            priority = 1;
            can_be_deleted = true;
        }

        if reasons.is_empty() {
            continue;
        }
        // Only quarterly and yearly runs may delete, except expired temporaries and duplicates.
        let long_horizon = matches!(horizon, Horizon::Quarterly | Horizon::Yearly);
        if !long_horizon && !reasons.iter().any(|&reason| reason == EXPIRED_TEMPORARY || reason == POTENTIAL_DUPLICATE)
        {
            can_be_deleted = false;
        }
        found.push(Candidate {
            index,
            reasons,
            priority,
            can_be_deleted,
            relevance: score.total,
            days_since_access,
            age_days,
            duplicate_of: duplicate_of[index],
            settings: *settings,
        });
    }
    // A stable sort, as Python's, so ties keep the order of `notes`.
    found.sort_by(|a, b| a.priority.cmp(&b.priority).then(b.relevance.total_cmp(&a.relevance)));
    found
}

/// Whether content is too short, mostly symbols, repetitive, or a short placeholder such as "test".
fn is_low_quality(content: &str) -> bool {
    let content = content.trim();
    let length = content.chars().count();
    if length < 10 {
        return true;
    }
    let alphabetic = content.chars().filter(|c| c.is_alphabetic()).count();
    if (alphabetic as f64) < 0.3 * length as f64 {
        return true;
    }
    let words: Vec<&str> = content.split_whitespace().collect();
    let unique: HashSet<&str> = words.iter().copied().collect();
    if (unique.len() as f64) < 0.5 * words.len() as f64 {
        return true;
    }
    let lower = content.to_lowercase();
    length < LOW_VALUE_MAX_CHARS && LOW_VALUE_PATTERNS.iter().any(|pattern| lower.contains(pattern))
}

/// Content as the duplicate tests compare it: trimmed and lower-cased, with its length in characters and,
/// when long enough for the word-overlap test, its word set.
struct Normalised<'a> {
    text: &'a str,
    chars: usize,
    words: Option<HashSet<&'a str>>,
}

/// For each note, the older note it duplicates, if it is a duplicate to drop.
///
/// Fix over the original, which compares every pair of memories (O(n²)) and marks **every** copy, so that a
/// consolidation run deletes all copies of a duplicated memory:
/// - exact copies (equal normalised content of at least 20 characters) are grouped through a hash map over all
///   notes, and the substring and word-overlap tests run only against `neighbours` (in both directions, so a
///   one-sided neighbour list still pairs the two notes);
/// - notes are visited oldest first (smallest `created_at`, then smallest hash), and a note is a duplicate only
///   of an older note that is kept, so the oldest copy always stays, and every dropped note has a kept copy.
///   A protected note is always kept, so it can be the copy that stays but is never dropped.
fn duplicates(notes: &[Note], neighbours: &[Vec<usize>], protected: &[bool]) -> Vec<Option<usize>> {
    let lowered: Vec<String> = notes.iter().map(|note| note.content.trim().to_lowercase()).collect();
    let normalised: Vec<Normalised> = lowered
        .iter()
        .map(|text| {
            let chars = text.chars().count();
            let words = (chars > MIN_SIMILAR_CHARS).then(|| text.split_whitespace().collect());
            Normalised { text, chars, words }
        })
        .collect();

    let mut adjacent: Vec<Vec<usize>> = vec![Vec::new(); notes.len()];
    for (index, list) in neighbours.iter().enumerate().take(notes.len()) {
        for &other in list {
            if other < notes.len() && other != index {
                adjacent[index].push(other);
                adjacent[other].push(index);
            }
        }
    }

    let mut order: Vec<usize> = (0..notes.len()).collect();
    order.sort_by(|&a, &b| {
        notes[a].created_at.total_cmp(&notes[b].created_at).then_with(|| notes[a].hash.cmp(&notes[b].hash))
    });
    let mut rank = vec![0; notes.len()];
    for (position, &index) in order.iter().enumerate() {
        rank[index] = position;
    }

    let mut kept = vec![false; notes.len()];
    let mut kept_copy: HashMap<&str, usize> = HashMap::new();
    let mut duplicate_of = vec![None; notes.len()];
    for &index in &order {
        let this = &normalised[index];
        let mut original = None;
        if this.chars >= MIN_DUPLICATE_CHARS {
            // The original never compares a memory with one of the same hash: that is the same memory.
            original = kept_copy.get(this.text).copied().filter(|&copy| notes[copy].hash != notes[index].hash);
            if original.is_none() {
                original = adjacent[index]
                    .iter()
                    .copied()
                    .filter(|&other| rank[other] < rank[index] && kept[other])
                    .filter(|&other| notes[other].hash != notes[index].hash)
                    .filter(|&other| similar(this, &normalised[other]))
                    .min_by_key(|&other| rank[other]);
            }
        }
        if original.is_some() && !protected[index] {
            duplicate_of[index] = original;
        } else {
            kept[index] = true;
            if this.chars >= MIN_DUPLICATE_CHARS {
                kept_copy.entry(this.text).or_insert(index);
            }
        }
    }
    duplicate_of
}

/// The original's duplicate test for two normalised contents: equal, or both longer than 50 characters and
/// one contains the other or their word sets overlap by a Jaccard above 0.8.
fn similar(a: &Normalised, b: &Normalised) -> bool {
    if a.text == b.text {
        return true;
    }
    if a.chars <= MIN_SIMILAR_CHARS || b.chars <= MIN_SIMILAR_CHARS {
        return false;
    }
    if a.text.contains(b.text) || b.text.contains(a.text) {
        return true;
    }
    match (&a.words, &b.words) {
        (Some(first), Some(second)) if first.len() > MIN_SIMILAR_WORDS && second.len() > MIN_SIMILAR_WORDS => {
            let shared = first.intersection(second).count();
            let union = first.len() + second.len() - shared;
            shared as f64 / union as f64 > SIMILAR_JACCARD
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value};

    use super::*;

    const NOW: f64 = 1_750_000_000.0;
    const DAY: f64 = 86_400.0;

    fn fixture() -> Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/consolidation/behaviour.json");
        let text = std::fs::read_to_string(path).expect("the consolidation fixture is checked in");
        serde_json::from_str(&text).expect("the fixture is JSON")
    }

    fn note(hash: &str, content: &str, memory_type: &str, tags: &[&str], age_days: f64, updated_days: f64) -> Note {
        Note {
            hash: hash.to_owned(),
            content: content.to_owned(),
            tags: tags.iter().map(|tag| (*tag).to_owned()).collect(),
            memory_type: Some(memory_type.to_owned()),
            metadata: Map::new(),
            created_at: NOW - age_days * DAY,
            updated_at: NOW - updated_days * DAY,
        }
    }

    fn score(total: f64) -> Relevance {
        Relevance {
            total,
            base_importance: 1.0,
            decay_factor: 1.0,
            connection_boost: 1.0,
            access_boost: 1.0,
            age_days: 0,
            retention_days: 30,
            connections: 0,
            protected: false,
        }
    }

    /// Notes with fresh access and good relevance, so only the duplicate rule can pick them.
    fn plain(contents: &[(&str, &str, f64)]) -> (Vec<Note>, Vec<Relevance>, Vec<f64>) {
        let notes: Vec<Note> =
            contents.iter().map(|(hash, content, age)| note(hash, content, "note", &[], *age, 1.0)).collect();
        let relevance = notes.iter().map(|_| score(0.9)).collect();
        let access = notes.iter().map(|note| note.updated_at).collect();
        (notes, relevance, access)
    }

    fn run(notes: &[Note], relevance: &[Relevance], access: &[f64], neighbours: &[Vec<usize>]) -> Vec<Candidate> {
        candidates(notes, relevance, access, NOW, &ForgettingSettings::default(), Horizon::Monthly, neighbours)
    }

    /// The original's 20 labelled memories under each recorded horizon.
    ///
    /// The label is used as the hash, and every note is every other note's neighbour, which is the original's
    /// all-pairs comparison.
    /// `no_score` is put last and given no relevance entry, which is how a missing score reaches [`candidates`].
    /// Fix (2) changes one answer per duplicate pair: the original flags both copies of `duplicate_*`,
    /// `near_duplicate_overlap_*` and `substring_*`; here the copy with the smaller hash (`*_a`, created at the
    /// same moment) is kept and is not a candidate, and only `*_b` is flagged.
    #[test]
    fn recorded_memories_give_the_recorded_candidates_except_the_kept_copies() {
        let fixture = fixture();
        let forgetting = &fixture["forgetting"];
        let mut memories: Vec<&Value> = forgetting["memories"].as_array().expect("memories").iter().collect();
        memories.sort_by_key(|memory| memory["relevance_total_score"].is_null());
        assert!(memories.last().is_some_and(|memory| memory["label"] == "no_score"));

        let mut notes = Vec::new();
        let mut relevance = Vec::new();
        let mut access = Vec::new();
        for memory in &memories {
            let label = memory["label"].as_str().expect("label");
            let tags: Vec<&str> =
                memory["tags"].as_array().expect("tags").iter().map(|tag| tag.as_str().expect("tag")).collect();
            let note = note(
                label,
                memory["content"].as_str().expect("content"),
                memory["memory_type"].as_str().expect("type"),
                &tags,
                memory["age_days"].as_f64().expect("age"),
                memory["updated_at_days_ago"].as_f64().expect("updated"),
            );
            access.push(memory["last_accessed_days_ago"].as_f64().map_or(note.updated_at, |days| NOW - days * DAY));
            if let Some(total) = memory["relevance_total_score"].as_f64() {
                relevance.push(score(total));
            }
            notes.push(note);
        }
        let everyone: Vec<Vec<usize>> =
            (0..notes.len()).map(|index| (0..notes.len()).filter(|&other| other != index).collect()).collect();
        let kept_copies = ["duplicate_a", "near_duplicate_overlap_a", "substring_a"];

        let mut checked = 0;
        for (name, horizon) in
            [("monthly", Horizon::Monthly), ("quarterly", Horizon::Quarterly), ("yearly", Horizon::Yearly)]
        {
            let mut recorded = &forgetting["by_horizon"][name];
            if let Some(same) = recorded["same_as"].as_str() {
                recorded = &forgetting["by_horizon"][same];
            }
            let expected: Vec<&Value> = recorded["candidates_in_processing_order"]
                .as_array()
                .expect("candidates")
                .iter()
                .filter(|row| !kept_copies.iter().any(|kept| row["label"] == *kept))
                .collect();
            let got = candidates(&notes, &relevance, &access, NOW, &ForgettingSettings::default(), horizon, &everyone);
            let labels: Vec<&str> = got.iter().map(|candidate| notes[candidate.index].hash.as_str()).collect();
            let expected_labels: Vec<&str> = expected.iter().map(|row| row["label"].as_str().expect("label")).collect();
            assert_eq!(labels, expected_labels, "{name}: processing order");
            for (candidate, row) in got.iter().zip(&expected) {
                let label = &notes[candidate.index].hash;
                let reasons: Vec<&str> =
                    row["reasons"].as_array().expect("reasons").iter().map(|r| r.as_str().expect("reason")).collect();
                assert_eq!(candidate.reasons, reasons, "{name} {label}");
                assert_eq!(Some(u64::from(candidate.priority)), row["archive_priority"].as_u64(), "{name} {label}");
                assert_eq!(Some(candidate.can_be_deleted), row["can_be_deleted"].as_bool(), "{name} {label}");
                checked += 1;
            }
            for copy in ["duplicate", "near_duplicate_overlap", "substring"] {
                let position = |label: String| notes.iter().position(|note| note.hash == label).expect("label");
                let dropped = got.iter().find(|candidate| candidate.index == position(format!("{copy}_b")));
                assert_eq!(dropped.and_then(|candidate| candidate.duplicate_of), Some(position(format!("{copy}_a"))));
            }
            let mut not_candidates: Vec<&str> = recorded["not_candidates"]
                .as_array()
                .expect("not candidates")
                .iter()
                .map(|label| label.as_str().expect("label"))
                .chain(kept_copies)
                .collect();
            not_candidates.sort_unstable();
            let mut missing: Vec<&str> = notes
                .iter()
                .enumerate()
                .filter(|(index, _)| !got.iter().any(|candidate| candidate.index == *index))
                .map(|(_, note)| note.hash.as_str())
                .collect();
            missing.sort_unstable();
            assert_eq!(missing, not_candidates, "{name}: not candidates");
        }
        assert_eq!(checked, 13 * 3);
    }

    #[test]
    fn near_duplicates_are_found_only_through_neighbours_in_either_direction() {
        let original = "The backup job copies the event log to the bucket every night at two.";
        let extended = "The backup job copies the event log to the bucket every night at two. Then it verifies.";
        let (notes, relevance, access) = plain(&[("a", original, 10.0), ("b", extended, 5.0), ("c", "Unrelated", 1.0)]);
        assert!(run(&notes, &relevance, &access, &[]).iter().all(|c| !c.reasons.contains(&POTENTIAL_DUPLICATE)));

        // Only the older note lists the newer one: the pair is still compared, and the newer one is dropped.
        let got = run(&notes, &relevance, &access, &[vec![1], vec![], vec![]]);
        let duplicates: Vec<(usize, Option<usize>)> = got
            .iter()
            .filter(|c| c.reasons.contains(&POTENTIAL_DUPLICATE))
            .map(|c| (c.index, c.duplicate_of))
            .collect();
        assert_eq!(duplicates, [(1, Some(0))]);
        let dropped = got.iter().find(|c| c.index == 1).expect("the newer copy is a candidate");
        assert_eq!((dropped.priority, dropped.can_be_deleted), (1, true));
        assert_eq!(dropped.explain(), "potential_duplicate (of note 0)");
    }

    #[test]
    fn word_overlap_above_four_fifths_is_a_duplicate_and_chains_keep_a_copy() {
        let words =
            |range: std::ops::RangeInclusive<u32>| range.map(|n| format!("word{n:02}")).collect::<Vec<_>>().join(" ");
        // Jaccard(a, b) = 10/11 and Jaccard(b, c) = 10/12 are above 0.8; Jaccard(a, c) = 9/12 is not.
        let (a, b, c) = (words(1..=10), words(1..=11), words(2..=12));
        let (notes, relevance, access) = plain(&[("c", &c, 1.0), ("b", &b, 2.0), ("a", &a, 3.0)]);
        let all = vec![vec![1, 2], vec![0, 2], vec![0, 1]];
        let got = run(&notes, &relevance, &access, &all);
        // b duplicates a and is dropped; c resembles only b, which is dropped, so c stays as the copy of its words.
        let flagged: Vec<(usize, Option<usize>)> = got.iter().map(|c| (c.index, c.duplicate_of)).collect();
        assert_eq!(flagged, [(1, Some(2))]);
    }

    #[test]
    fn exact_copies_keep_the_oldest_even_without_neighbours() {
        let text = "Rotate the signing key before the first of every month.";
        let (notes, relevance, access) = plain(&[("x", text, 3.0), ("y", &text.to_uppercase(), 9.0), ("z", text, 5.0)]);
        let got = run(&notes, &relevance, &access, &[]);
        let flagged: Vec<(usize, Option<usize>)> = got.iter().map(|c| (c.index, c.duplicate_of)).collect();
        // The original would flag all three and delete them all.
        assert_eq!(flagged, [(0, Some(1)), (2, Some(1))]);

        // Created at the same moment, the smaller hash stays.
        let (notes, relevance, access) = plain(&[("q", text, 4.0), ("p", text, 4.0)]);
        let got = run(&notes, &relevance, &access, &[]);
        assert_eq!(got.iter().map(|c| (c.index, c.duplicate_of)).collect::<Vec<_>>(), [(0, Some(1))]);

        // A protected copy is never dropped, even when it is the newer one, and it counts as the kept copy.
        let (mut notes, relevance, access) = plain(&[("old", text, 8.0), ("new", text, 2.0), ("newest", text, 1.0)]);
        notes[0].tags = vec!["permanent".to_owned()];
        let got = run(&notes, &relevance, &access, &[]);
        assert_eq!(got.iter().map(|c| (c.index, c.duplicate_of)).collect::<Vec<_>>(), [(1, Some(0)), (2, Some(0))]);
        notes[0].tags.clear();
        notes[1].tags = vec!["important".to_owned()];
        let got = run(&notes, &relevance, &access, &[]);
        assert_eq!(got.iter().map(|c| (c.index, c.duplicate_of)).collect::<Vec<_>>(), [(2, Some(0))]);
    }

    #[test]
    fn short_or_same_hash_copies_are_not_duplicates() {
        let (notes, relevance, access) =
            plain(&[("s1", "Buy oat milk, eggs.", 3.0), ("s2", "Buy oat milk, eggs.", 1.0)]);
        assert!(run(&notes, &relevance, &access, &[vec![1], vec![0]]).is_empty(), "19 characters is too short");
        let text = "The same memory listed twice in one batch.";
        let (notes, relevance, access) = plain(&[("same", text, 3.0), ("same", text, 3.0)]);
        assert!(run(&notes, &relevance, &access, &[vec![1], vec![0]]).is_empty());
    }

    #[test]
    fn only_long_horizons_delete_old_memories() {
        let notes = vec![
            note("old", "Notes about the retired monitoring dashboards setup.", "note", &[], 250.0, 250.0),
            note("tmp", "Remember to pick up the parcel from reception desk.", "temporary", &[], 10.0, 10.0),
        ];
        let relevance = vec![score(0.04), score(0.5)];
        let access: Vec<f64> = notes.iter().map(|note| note.updated_at).collect();
        for horizon in Horizon::ALL {
            let got = candidates(&notes, &relevance, &access, NOW, &ForgettingSettings::default(), horizon, &[]);
            let long = matches!(horizon, Horizon::Quarterly | Horizon::Yearly);
            assert_eq!(got[0].index, 1, "same priority, higher relevance first");
            assert!(got[0].can_be_deleted, "{horizon:?}: expired temporaries are always deletable");
            assert_eq!(got[1].can_be_deleted, long, "{horizon:?}");
            assert_eq!(got[1].explain(), "low_relevance (0.04 < 0.1), old_access (250 d > 90 d)");
            assert_eq!(got[0].explain(), "expired_temporary (age 10 d > 7 d)");
        }
    }

    #[test]
    fn unknown_access_is_never_old() {
        let notes = vec![note("n", "Notes about the retired monitoring dashboards setup.", "note", &[], 400.0, 400.0)];
        let got = run(&notes, &[score(0.5)], &[0.0], &[]);
        assert!(got.is_empty());
        assert!(run(&notes, &[score(0.5)], &[], &[]).is_empty());
        assert_eq!(run(&notes, &[score(0.5)], &[notes[0].updated_at], &[])[0].reasons, [OLD_ACCESS]);
    }

    #[test]
    fn low_quality_follows_the_original_checks() {
        assert!(is_low_quality("  ok  "));
        assert!(is_low_quality("#### ---- **** !!!! 1234 5678"));
        assert!(is_low_quality("spam spam spam spam spam spam eggs"));
        assert!(is_low_quality("This is a test of the notes feature"));
        // Placeholder words count only in content under 100 characters, even inside other words.
        let short = "A note about attestation and contemporary design.";
        assert!(is_low_quality(short));
        assert!(!is_low_quality(&format!("{short} It is now long enough that the placeholder rule does not apply.")));
        assert!(!is_low_quality("Notes about the staging environment DNS records."));
    }
}
