//! Creative associations between memories, as the original's v8.9 `CreativeAssociationEngine`: which pairs are
//! looked at, how alike two memories are, and why (and how confidently) a pair counts as associated.
//!
//! The original's band selects *dissimilar* pairs: similarity is `(cos + 1) / 2`, so the default band
//! [0.3, 0.7] is cos in [-0.4, 0.4]. That is kept on purpose, because the recorded behaviour depends on it.
//! Where the original samples pairs with an unseeded `random.sample`, [`pairs`] takes a seed, so a run over
//! the same log always yields the same associations.
//!
//! Regex classes (`\w`, `\d`, `\b`) are the `regex` crate's Unicode ones, which agree with Python's `re` on
//! letters and digits; `\s` and `str.split()` use Python's whitespace set (see [`PY_SPACE`]).

use std::collections::{BTreeSet, HashSet};
use std::sync::LazyLock;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use regex::Regex;

use super::note::Note;

/// Seconds in a day, for the temporal relationship.
const DAY: f64 = 86_400.0;

/// Python's `str.isspace()` characters, the members of a regex class (the `regex` crate's `\s` lacks
/// U+001C..U+001F).
const PY_SPACE: &str =
    r"\t\n\x0B\x0C\r\x1C-\x20\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}";

/// The original's confidence gate: an association needs strictly more than this.
const MIN_CONFIDENCE: f64 = 0.3;

/// The original's stop list for concept words; only "with" is long enough to matter.
const STOP_WORDS: [&str; 12] = ["the", "and", "or", "but", "in", "on", "at", "to", "for", "of", "with", "by"];

/// How many of a text's long words count as concepts (the first ones, in text order).
const CONCEPT_WORDS: usize = 10;

/// Problem words for complementary content (substring match on lower-cased text).
const PROBLEM_WORDS: [&str; 6] = ["problem", "issue", "error", "bug", "fail", "wrong"];

/// Solution words for complementary content (substring match on lower-cased text).
const SOLUTION_WORDS: [&str; 6] = ["solution", "fix", "resolve", "answer", "correct", "solve"];

/// The original's concept patterns, in its order: URLs, emails, dates, numbers, camelCase, PascalCase,
/// acronyms and capitalised words. Each whole match is a concept.
static CONCEPT_PATTERNS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        format!(r"https?://[^{PY_SPACE}]+"),
        r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Z|a-z]{2,}\b".to_owned(),
        r"\b\d{1,2}[/-]\d{1,2}[/-]\d{2,4}\b|\b\d{4}[/-]\d{1,2}[/-]\d{1,2}\b".to_owned(),
        r"\b\d+\.?\d*\b".to_owned(),
        r"\b[a-z]+[A-Z][a-zA-Z]*\b".to_owned(),
        r"\b[A-Z][a-z]*[A-Z][a-zA-Z]*\b".to_owned(),
        r"\b[A-Z]{2,}\b".to_owned(),
        r"\b[A-Z][a-z]+\b".to_owned(),
    ]
    .iter()
    .map(|pattern| compile(pattern))
    .collect()
});

/// Quoted phrases: the text between double quotes is the concept.
static QUOTED: LazyLock<Regex> = LazyLock::new(|| compile(r#""([^"]*)""#));

/// Words of four or more word characters, matched on lower-cased text.
static LONG_WORD: LazyLock<Regex> = LazyLock::new(|| compile(r"\b\w{4,}\b"));

/// The original's structure markers: list items, numbered items, headers, code blocks and markdown links.
/// Two texts have a similar structure when both contain the same kind.
static STRUCTURE_PATTERNS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    let space = format!("[{PY_SPACE}]");
    [
        format!(r"\n{space}*[-*+]{space}+"),
        format!(r"\n{space}*\d+\.{space}+"),
        format!(r"\n#{{1,6}}{space}+"),
        r"```(?s:.)*?```".to_owned(),
        r"\[.*?\]\(.*?\)".to_owned(),
    ]
    .iter()
    .map(|pattern| compile(pattern))
    .collect()
});

/// Compiles one of this module's fixed patterns.
fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).expect("the association engine's fixed patterns are valid regexes")
}

/// Which pairs count as associated, as the original's `ConsolidationConfig` association settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AssociationSettings {
    /// Lowest similarity (inclusive) of an associated pair; the original's default is 0.3.
    pub min_similarity: f64,
    /// Highest similarity (inclusive) of an associated pair; the original's default is 0.7.
    pub max_similarity: f64,
    /// How many pairs one run looks at; the original's v8.9 default is 100 (1000 from v10).
    pub max_pairs: usize,
}

impl Default for AssociationSettings {
    fn default() -> Self {
        AssociationSettings { min_similarity: 0.3, max_similarity: 0.7, max_pairs: 100 }
    }
}

/// The original's similarity of two embeddings: cosine mapped to [0, 1] as `(cos + 1) / 2`, computed in f64.
///
/// A zero vector gives 0.0, as in the original. Embeddings of different lengths give 0.0 too (the original
/// would raise). When either memory has no embedding at all, the original uses [`text_similarity`] instead;
/// that choice is the caller's.
pub fn similarity(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() {
        return 0.0;
    }
    let (mut dot, mut norm_a, mut norm_b) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        norm_a += x * x;
        norm_b += y * y;
    }
    let (norm_a, norm_b) = (norm_a.sqrt(), norm_b.sqrt());
    if norm_a == 0.0 || norm_b == 0.0 {
        return 0.0;
    }
    (dot / (norm_a * norm_b) + 1.0) / 2.0
}

/// The original's fallback similarity without embeddings: the Jaccard index of the two texts' sets of
/// lower-cased, whitespace-separated words (0.0 when either text has no words).
pub fn text_similarity(a: &str, b: &str) -> f64 {
    let words_a = py_words(a);
    let words_b = py_words(b);
    if words_a.is_empty() || words_b.is_empty() {
        return 0.0;
    }
    let shared = words_a.intersection(&words_b).count();
    let union = words_a.union(&words_b).count();
    shared as f64 / union as f64
}

/// `set(text.lower().split())` in Python: split on Python's whitespace, empty pieces dropped.
fn py_words(text: &str) -> HashSet<String> {
    text.to_lowercase().split(is_py_space).filter(|word| !word.is_empty()).map(str::to_owned).collect()
}

/// Python's `str.isspace()` for one character.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1C}'..='\u{1F}').contains(&c)
}

/// The original's concepts of a text: every hit of its patterns (URLs, emails, dates, numbers, camelCase,
/// PascalCase, ACRONYMS, Capitalised words), the insides of "quoted phrases", and the first ten lower-cased
/// words of four or more characters that are not stop words.
///
/// Case is kept, so "Kubernetes" and "kubernetes" are two concepts, as in the original.
pub fn concepts(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for pattern in CONCEPT_PATTERNS.iter() {
        found.extend(pattern.find_iter(text).map(|hit| hit.as_str().to_owned()));
    }
    found.extend(QUOTED.captures_iter(text).filter_map(|quote| quote.get(1)).map(|inside| inside.as_str().to_owned()));
    let lower = text.to_lowercase();
    let words = LONG_WORD.find_iter(&lower).map(|hit| hit.as_str()).filter(|word| !STOP_WORDS.contains(word));
    found.extend(words.take(CONCEPT_WORDS).map(str::to_owned));
    found
}

/// Why two memories were found associated, as the original's `AssociationAnalysis`.
#[derive(Clone, Debug, PartialEq)]
pub struct Association {
    /// Index of the first memory in the notes given to [`associate`].
    pub a: usize,
    /// Index of the second memory.
    pub b: usize,
    /// The pair's similarity, as given to [`associate`].
    pub similarity: f64,
    /// The original's confidence score, at most 1.0.
    pub confidence: f64,
    /// The reasons, in the original's order: `shared_tags`, `temporal_proximity`, `shared_concepts`,
    /// `similar_structure`, `complementary_content`.
    pub reasons: Vec<&'static str>,
    /// Concepts both texts contain, sorted.
    pub shared_concepts: Vec<String>,
    /// Tags both memories carry, sorted (the original's `tag_overlap`).
    pub shared_tags: Vec<String>,
    /// How far apart the two were created (`same_day` … `different_years`); `None` when either `created_at`
    /// is 0, as the original treats a falsy time.
    pub temporal: Option<&'static str>,
    /// The similarity band the pair was accepted in, `(min, max)`, for [`Association::explain`].
    pub band: (f64, f64),
}

impl Association {
    /// The original's `connection_type`: the reasons joined by ", " (empty when there are none).
    pub fn connection_type(&self) -> String {
        self.reasons.join(", ")
    }

    /// One line saying why the pair is associated, e.g.
    /// `similarity 0.512 in [0.3, 0.7]; shared_tags, temporal_proximity (same_week); confidence 0.86`.
    pub fn explain(&self) -> String {
        let reasons: Vec<String> = self
            .reasons
            .iter()
            .map(|&reason| match (reason, self.temporal) {
                ("temporal_proximity", Some(when)) => format!("{reason} ({when})"),
                _ => reason.to_owned(),
            })
            .collect();
        let reasons = if reasons.is_empty() { "no shared reasons".to_owned() } else { reasons.join(", ") };
        let (min, max) = self.band;
        format!("similarity {:.3} in [{min}, {max}]; {reasons}; confidence {:.2}", self.similarity, self.confidence)
    }
}

/// The association between `notes[a]` and `notes[b]` at the given similarity, if the original would make
/// one: the similarity lies in the settings' band (both ends inclusive) and the confidence exceeds 0.3.
///
/// Skipping pairs that are already associated is the caller's job. Indices outside `notes` give `None`.
pub fn associate(
    notes: &[Note],
    a: usize,
    b: usize,
    similarity: f64,
    settings: &AssociationSettings,
) -> Option<Association> {
    if !(settings.min_similarity..=settings.max_similarity).contains(&similarity) {
        return None;
    }
    let association = analyse(notes, a, b, similarity, settings)?;
    (association.confidence > MIN_CONFIDENCE).then_some(association)
}

/// The original's `_analyze_association`, without the band and confidence gates.
fn analyse(notes: &[Note], a: usize, b: usize, similarity: f64, settings: &AssociationSettings) -> Option<Association> {
    let (first, second) = (notes.get(a)?, notes.get(b)?);
    let mut reasons = Vec::new();

    let tags_a: BTreeSet<&String> = first.tags.iter().collect();
    let tags_b: BTreeSet<&String> = second.tags.iter().collect();
    let shared_tags: Vec<String> = tags_a.intersection(&tags_b).map(|tag| (*tag).clone()).collect();
    if !shared_tags.is_empty() {
        reasons.push("shared_tags");
    }

    let temporal = temporal_relationship(first.created_at, second.created_at);
    if temporal.is_some() {
        reasons.push("temporal_proximity");
    }

    let concepts_b = concepts(&second.content);
    let shared_concepts: Vec<String> = concepts(&first.content).intersection(&concepts_b).cloned().collect();
    if !shared_concepts.is_empty() {
        reasons.push("shared_concepts");
    }

    if similar_structure(&first.content, &second.content) {
        reasons.push("similar_structure");
    }
    if complementary(&first.content, &second.content) {
        reasons.push("complementary_content");
    }

    let confidence = confidence(similarity, reasons.len(), shared_concepts.len(), shared_tags.len());
    Some(Association {
        a,
        b,
        similarity,
        confidence,
        reasons,
        shared_concepts,
        shared_tags,
        temporal,
        band: (settings.min_similarity, settings.max_similarity),
    })
}

/// The original's confidence: similarity plus capped boosts for reasons, shared concepts and shared tags,
/// at most 1.0. The additions keep the original's order so the floats come out identical.
fn confidence(similarity: f64, reasons: usize, shared_concepts: usize, shared_tags: usize) -> f64 {
    let reason_boost = (reasons as f64 * 0.1).min(0.3);
    let concept_boost = (shared_concepts as f64 * 0.05).min(0.2);
    let tag_boost = (shared_tags as f64 * 0.1).min(0.2);
    (similarity + reason_boost + concept_boost + tag_boost).min(1.0)
}

/// How far apart two creation times are, or `None` when either is 0 (the original's falsy check).
fn temporal_relationship(created_a: f64, created_b: f64) -> Option<&'static str> {
    if created_a == 0.0 || created_b == 0.0 {
        return None;
    }
    let days = (created_a - created_b).abs() / DAY;
    Some(if days < 1.0 {
        "same_day"
    } else if days < 7.0 {
        "same_week"
    } else if days < 30.0 {
        "same_month"
    } else if days < 365.0 {
        "same_year"
    } else {
        "different_years"
    })
}

/// Both texts contain the same kind of structure marker.
fn similar_structure(a: &str, b: &str) -> bool {
    STRUCTURE_PATTERNS.iter().any(|pattern| pattern.is_match(a) && pattern.is_match(b))
}

/// Exactly one text asks a question, or one names a problem and the other a solution.
fn complementary(a: &str, b: &str) -> bool {
    if a.contains('?') != b.contains('?') {
        return true;
    }
    let (a, b) = (a.to_lowercase(), b.to_lowercase());
    let mentions = |text: &str, words: &[&str]| words.iter().any(|word| text.contains(word));
    (mentions(&a, &PROBLEM_WORDS) && mentions(&b, &SOLUTION_WORDS))
        || (mentions(&a, &SOLUTION_WORDS) && mentions(&b, &PROBLEM_WORDS))
}

/// The pairs `(i, j)`, `i < j < n`, that one run looks at, sorted.
///
/// When there are at most `max_pairs` pairs, all of them, in `itertools.combinations` order. Otherwise exactly
/// `max_pairs` distinct pairs drawn by a ChaCha8 generator seeded with `seed`: the original draws unseeded,
/// but a consolidation replayed over the same log must give the same events. Pairs are drawn as linear
/// indices into the combinations order, so a large `n` never materialises its n² pairs.
pub fn pairs(n: usize, max_pairs: usize, seed: u64) -> Vec<(usize, usize)> {
    // u128 so that no count of memories can overflow n(n−1)/2.
    let wide_n = n as u128;
    let total = wide_n * wide_n.saturating_sub(1) / 2;
    if total <= max_pairs as u128 {
        return (0..n).flat_map(|i| (i + 1..n).map(move |j| (i, j))).collect();
    }
    // `total` fits a usize on 64-bit targets; a 32-bit target with more than ~65,000 memories samples only
    // among the first usize::MAX pairs, which still gives `max_pairs` distinct ones.
    let length = usize::try_from(total).unwrap_or(usize::MAX);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut chosen: Vec<(usize, usize)> = rand::seq::index::sample(&mut rng, length, max_pairs)
        .into_iter()
        .map(|linear| pair_at(wide_n, linear as u128))
        .collect();
    chosen.sort_unstable();
    chosen
}

/// The `k`-th pair in combinations order for `n` items (`k < n(n−1)/2`).
fn pair_at(n: u128, k: u128) -> (usize, usize) {
    // Row `i` holds the pairs (i, i+1..n) and starts at i(2n−i−1)/2; find the last row starting at or
    // before `k` by bisection, which is exact where a float square root might not be.
    let row_start = |i: u128| i * (2 * n - i - 1) / 2;
    let (mut low, mut high) = (0u128, n.saturating_sub(2));
    while low < high {
        let mid = (low + high).div_ceil(2);
        if row_start(mid) <= k { low = mid } else { high = mid - 1 }
    }
    // Both are below `n`, which came from a usize.
    let j = k - row_start(low) + low + 1;
    (low as usize, j as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, Value};
    use std::collections::BTreeSet;

    const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/consolidation/behaviour.json");
    /// The recorder's reference time, 2025-06-01T12:00:00Z.
    const REF_TS: f64 = 1_748_779_200.0;
    /// The recorder's creation time for association cases: 100 days before the reference.
    const BASE_TS: f64 = REF_TS - 100.0 * DAY;

    fn fixture() -> Value {
        let text = std::fs::read_to_string(FIXTURE).expect("behaviour.json is readable");
        serde_json::from_str(&text).expect("behaviour.json is JSON")
    }

    fn note(hash: &str, content: &str, tags: &Value, created_at: f64) -> Note {
        let tags = tags.as_array().map(|t| t.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect());
        Note {
            hash: hash.to_owned(),
            content: content.to_owned(),
            tags: tags.unwrap_or_default(),
            memory_type: None,
            metadata: Map::new(),
            created_at,
            updated_at: BASE_TS,
        }
    }

    fn vector(value: &Value) -> Vec<f32> {
        value.as_array().expect("an embedding list").iter().map(|x| x.as_f64().expect("a number") as f32).collect()
    }

    fn strings(value: &Value) -> Vec<String> {
        value.as_array().expect("a list").iter().map(|x| x.as_str().expect("a string").to_owned()).collect()
    }

    /// The two notes of a recorded pair case, with the recorder's creation times.
    fn case_notes(input: &Value) -> Vec<Note> {
        let (created_a, created_b) = match &input["created_gap_days"] {
            Value::Null => (BASE_TS, BASE_TS),
            Value::String(_) => (0.0, 0.0), // "created_at of both = 0.0"
            gap => (BASE_TS, BASE_TS + gap.as_f64().expect("a gap in days") * DAY),
        };
        vec![
            note("h1", input["content1"].as_str().expect("content1"), &input["tags1"], created_a),
            note("h2", input["content2"].as_str().expect("content2"), &input["tags2"], created_b),
        ]
    }

    /// Every `band_edges` and `confidence` case: similarity, the verdict, and the full analysis.
    #[test]
    fn recorded_pair_cases() {
        let fixture = fixture();
        let settings = AssociationSettings::default();
        let mut checked = 0;
        for group in ["band_edges", "confidence"] {
            for case in fixture["associations"][group].as_array().expect("a case list") {
                let (label, input, out) = (&case["label"], &case["in"], &case["out"]);
                let notes = case_notes(input);
                let sim = similarity(&vector(&input["embedding1"]), &vector(&input["embedding2"]));
                // The fixture's vectors are f64; ours are f32, so allow for the rounding of the inputs.
                let recorded_sim = out["similarity"].as_f64().expect("similarity");
                assert!((sim - recorded_sim).abs() < 1e-6, "{label}: similarity {sim} vs {recorded_sim}");

                let analysis = analyse(&notes, 0, 1, sim, &settings).expect("both indices exist");
                let recorded_confidence = out["confidence"].as_f64().expect("confidence");
                assert!((analysis.confidence - recorded_confidence).abs() < 1e-6, "{label}: confidence");
                assert_eq!(analysis.reasons, strings(&out["connection_reasons"]), "{label}: reasons");
                assert_eq!(analysis.shared_concepts, strings(&out["shared_concepts"]), "{label}: shared concepts");
                assert_eq!(analysis.shared_tags, strings(&out["tag_overlap"]), "{label}: tag overlap");
                assert_eq!(analysis.temporal, out["temporal_relationship"].as_str(), "{label}: temporal");

                let found = associate(&notes, 0, 1, sim, &settings);
                assert_eq!(found.is_some(), out["associated"].as_bool().expect("associated"), "{label}: verdict");
                if let Some(found) = found {
                    assert_eq!((found.a, found.b), (0, 1), "{label}: input order kept");
                    assert_eq!(Some(found.connection_type().as_str()), out["connection_type"].as_str(), "{label}");
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 28, "16 band edges and 12 confidence cases");
    }

    /// Integer vectors with exact norms hit the band edges exactly, so the floats must match bit for bit.
    #[test]
    fn exact_edges_are_bit_exact() {
        assert_eq!(similarity(&[1.0, 0.0, 0.0, 0.0], &[-2.0, 4.0, 2.0, 1.0]), 0.3);
        assert_eq!(similarity(&[1.0, 0.0, 0.0, 0.0], &[2.0, 4.0, 2.0, 1.0]), 0.7);
        assert_eq!(confidence(0.7, 1, 0, 0), 0.7999999999999999);
        assert_eq!(confidence(0.5, 2, 0, 2), 0.8999999999999999);
        assert_eq!(confidence(0.3, 0, 0, 0), 0.3, "exactly at the gate, so not associated");
        assert_eq!(similarity(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
        assert_eq!(similarity(&[1.0, 0.0], &[1.0, 0.0, 0.0]), 0.0, "mismatched dimensions");
    }

    #[test]
    fn text_fallback_cases() {
        let fixture = fixture();
        let settings = AssociationSettings::default();
        let cases = fixture["associations"]["text_fallback"].as_array().expect("a case list");
        for case in cases {
            let (a, b) = (case["content1"].as_str().expect("text"), case["content2"].as_str().expect("text"));
            let sim = text_similarity(a, b);
            assert!((sim - case["similarity"].as_f64().expect("similarity")).abs() < 1e-12, "{a} / {b}");
            let notes = vec![note("h1", a, &Value::Null, BASE_TS), note("h2", b, &Value::Null, BASE_TS)];
            let associated = case["associated"].as_bool().expect("associated");
            assert_eq!(associate(&notes, 0, 1, sim, &settings).is_some(), associated, "{a} / {b}");
        }
        assert_eq!(cases.len(), 3);
        assert_eq!(text_similarity("", "words here"), 0.0);
        assert_eq!(text_similarity("A\u{1F}b", "a b"), 1.0, "Python splits on U+001F too");
    }

    /// The caller skips pairs whose sorted hashes are already associated; with that skip, a run over two
    /// associated memories returns nothing, as recorded.
    #[test]
    fn existing_pair_skip() {
        let fixture = fixture();
        let recorded = fixture["associations"]["existing_pair_skip"]["associations_returned"].as_u64();
        let notes = vec![
            note("bbb", "Alpha item one", &Value::Null, BASE_TS),
            note("aaa", "Beta thing two", &Value::Null, BASE_TS),
        ];
        let existing: HashSet<(String, String)> = HashSet::from([("aaa".to_owned(), "bbb".to_owned())]);
        let settings = AssociationSettings::default();
        let found: Vec<Association> = pairs(notes.len(), settings.max_pairs, 0)
            .into_iter()
            .filter(|&(i, j)| {
                let (x, y) = (notes[i].hash.clone(), notes[j].hash.clone());
                !existing.contains(&if x <= y { (x, y) } else { (y, x) })
            })
            .filter_map(|(i, j)| associate(&notes, i, j, 0.5, &settings))
            .collect();
        assert_eq!(Some(found.len() as u64), recorded);
        assert!(associate(&notes, 0, 1, 0.5, &settings).is_some(), "without the skip the pair is associated");
    }

    #[test]
    fn sampling_counts() {
        let fixture = fixture();
        let cases = fixture["associations"]["sampling"].as_array().expect("a case list");
        for case in cases {
            let n = case["n_memories"].as_u64().expect("n") as usize;
            let chosen = pairs(n, 100, 7);
            let distinct: BTreeSet<_> = chosen.iter().collect();
            assert_eq!(chosen.len() as u64, case["pairs_evaluated"].as_u64().expect("count"), "n={n}");
            assert_eq!(distinct.len() as u64, case["distinct"].as_u64().expect("distinct"), "n={n}");
            let all: Vec<(usize, usize)> = (0..n).flat_map(|i| (i + 1..n).map(move |j| (i, j))).collect();
            assert_eq!(chosen == all, case["all_pairs_evaluated"].as_bool().expect("flag"), "n={n}");
            assert!(chosen.iter().all(|&(i, j)| i < j && j < n));
        }
        assert_eq!(cases.len(), 5);
        assert_eq!(pairs(14, 100, 1).len(), 91);
        assert_eq!(pairs(15, 100, 1).len(), 100);
        assert!(pairs(0, 100, 1).is_empty() && pairs(1, 100, 1).is_empty());
        assert!(pairs(20, 0, 1).is_empty());
    }

    #[test]
    fn sampling_is_deterministic_and_sparse_for_large_n() {
        let n = 100_000;
        let first = pairs(n, 1000, 42);
        assert_eq!(first, pairs(n, 1000, 42), "same seed, same pairs");
        assert_ne!(first, pairs(n, 1000, 43), "another seed draws other pairs");
        assert_eq!(first.len(), 1000);
        assert!(first.windows(2).all(|w| w[0] < w[1]), "sorted and distinct");
        assert!(first.iter().all(|&(i, j)| i < j && j < n));
        // Pinned: a change means the sampler changed, and a replay would no longer give the same events.
        assert_eq!(pairs(15, 100, 7), pairs(15, 100, 7));
        let missing: Vec<(usize, usize)> = (0..15)
            .flat_map(|i| (i + 1..15).map(move |j| (i, j)))
            .filter(|pair| !pairs(15, 100, 7).contains(pair))
            .collect();
        assert_eq!(missing, PINNED_MISSING_15_7);
    }

    /// The five pairs that `pairs(15, 100, 7)` leaves out of the 105.
    const PINNED_MISSING_15_7: &[(usize, usize)] = &[(0, 8), (3, 6), (4, 10), (6, 10), (10, 13)];

    #[test]
    fn linear_index_maps_to_combinations_order() {
        for n in [2u128, 3, 7, 30] {
            let expected: Vec<(usize, usize)> =
                (0..n as usize).flat_map(|i| (i + 1..n as usize).map(move |j| (i, j))).collect();
            let mapped: Vec<(usize, usize)> = (0..expected.len() as u128).map(|k| pair_at(n, k)).collect();
            assert_eq!(mapped, expected, "n={n}");
        }
        let n = 100_000u128;
        assert_eq!(pair_at(n, n * (n - 1) / 2 - 1), (99_998, 99_999));
        assert_eq!(pair_at(n, n - 1), (1, 2));
    }

    #[test]
    fn concepts_follow_the_original() {
        let found = concepts("Kubernetes cluster upgrade notes");
        let expected: BTreeSet<String> =
            ["Kubernetes", "kubernetes", "cluster", "upgrade", "notes"].into_iter().map(str::to_owned).collect();
        assert_eq!(found, expected);
        let found = concepts(r#"Mail bob@example.com on 2024-05-01 about "the plan" and getValue from NASA 3.5"#);
        for concept in ["bob@example.com", "2024-05-01", "the plan", "getValue", "NASA", "3.5", "Mail"] {
            assert!(found.contains(concept), "{concept} in {found:?}");
        }
        // Only the first ten long words count.
        let many = "alpha bravo charlie delta echoo foxtrot golf hotel india juliet kilo lima";
        let many = concepts(many);
        assert!(many.contains("juliet") && !many.contains("kilo") && !many.contains("lima"), "{many:?}");
    }

    #[test]
    fn structure_and_complement() {
        assert!(similar_structure("Plan\n- one", "Other\n* two"));
        assert!(similar_structure("see [a](b)", "and [c](d)"));
        assert!(similar_structure("```x```", "```\ny\n```"));
        assert!(!similar_structure("Plan\n- one", "Steps\n1. two"));
        assert!(complementary("Why?", "Because"));
        assert!(!complementary("Why?", "How?"));
        assert!(complementary("Login error", "the fix"));
        assert!(!complementary("Login error", "another bug"));
    }

    #[test]
    fn explain_names_band_reasons_and_confidence() {
        let notes = vec![
            note("h1", "Alpha item one", &Value::from(vec!["x"]), BASE_TS),
            note("h2", "Beta thing two", &Value::from(vec!["x"]), BASE_TS + 3.0 * DAY),
        ];
        let found = associate(&notes, 0, 1, 0.512, &AssociationSettings::default()).expect("in the band");
        assert_eq!(found.connection_type(), "shared_tags, temporal_proximity");
        assert_eq!(
            found.explain(),
            "similarity 0.512 in [0.3, 0.7]; shared_tags, temporal_proximity (same_week); confidence 0.81"
        );
        assert!(associate(&notes, 0, 2, 0.5, &AssociationSettings::default()).is_none(), "no such note");
    }
}
