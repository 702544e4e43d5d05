//! Extractive summaries of memory clusters, as the original's v8.9 `SemanticCompressionEngine`: key concepts,
//! representative sentences, the summary text, the aggregated tags and the cluster's temporal span.
//!
//! There is no language model: the summary is an overview line, sentences copied from the members and a
//! list of key concepts. The original's quirks are kept because recorded fixtures must compare equal: the
//! overview's length is subtracted twice from the sentence budget, "Ingestion" and "ingestion" are two
//! concepts, a one-day span reads "1 days", and a summary can be longer than its sources.
//!
//! Lengths are Python lengths (Unicode scalar values, not bytes), and `\s` / `str.strip()` use Python's
//! whitespace set.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

use super::note::Note;

/// Seconds in a day, for the temporal span.
const DAY: f64 = 86_400.0;

/// Python's `str.isspace()` characters, the members of a regex class (the `regex` crate's `\s` lacks
/// U+001C..U+001F).
const PY_SPACE: &str =
    r"\t\n\x0B\x0C\r\x1C-\x20\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}";

/// At most this many key concepts are kept.
const MAX_KEY_CONCEPTS: usize = 15;

/// The overview names this many key concepts.
const OVERVIEW_CONCEPTS: usize = 5;

/// The closing "Key concepts:" line names this many.
const CLOSING_CONCEPTS: usize = 8;

/// Frequent words are taken from this many most common ones.
const FREQUENT_WORDS: usize = 20;

/// The sentence budget keeps this much room for the closing line (the original's "conclusion" reserve).
const CLOSING_RESERVE: i64 = 100;

/// The closing line is only considered while at least this much room is left.
const CLOSING_ROOM: i64 = 50;

/// A summary keeps at most this many tags, "cluster" and "compressed" included.
const MAX_TAGS: usize = 10;

/// Tags kept even when only one member carries them.
const NOTABLE_TAGS: [&str; 4] = ["important", "critical", "reference", "project"];

/// The original's stop list for frequent words.
const STOP_WORDS: [&str; 52] = [
    "this", "that", "with", "have", "will", "from", "they", "know", "want", "been", "good", "much", "some", "time",
    "very", "when", "come", "here", "just", "like", "long", "make", "many", "over", "such", "take", "than", "them",
    "well", "were", "what", "work", "your", "could", "should", "would", "there", "their", "these", "about", "after",
    "again", "before", "being", "between", "during", "under", "where", "while", "other", "through", "against",
];

/// The original's "important patterns", in its order: CamelCase (which also catches ACRONYMS), acronyms,
/// numbers, URLs, paths and code. Each whole match is a concept.
static CONCEPT_PATTERNS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r"\b[A-Z][a-z]*[A-Z][a-zA-Z]*\b".to_owned(),
        r"\b[A-Z]{2,}\b".to_owned(),
        r"\b\d+(?:\.\d+)?\b".to_owned(),
        format!(r"https?://[^{PY_SPACE}]+"),
        format!(r"[/\\][^{PY_SPACE}]+"),
        r"```(?s:.)*?```|`[^`]+`".to_owned(),
        r"\b[A-Z][a-z]{2,}\b".to_owned(),
    ]
    .iter()
    .map(|pattern| compile(pattern))
    .collect()
});

/// Quoted text: the text between double quotes is the concept.
static QUOTED: LazyLock<Regex> = LazyLock::new(|| compile(r#""([^"]*)""#));

/// Words counted for frequency: four or more ASCII letters, matched on lower-cased text.
static WORD: LazyLock<Regex> = LazyLock::new(|| compile(r"\b[a-zA-Z]{4,}\b"));

/// The original's sentence splitter: `[.!?]+\s+`.
static SENTENCE_END: LazyLock<Regex> = LazyLock::new(|| compile(&format!(r"[.!?]+[{PY_SPACE}]+")));

/// Compiles one of this module's fixed patterns.
fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).expect("the compression engine's fixed patterns are valid regexes")
}

/// When a cluster's memories were created.
#[derive(Clone, Debug, PartialEq)]
pub struct TemporalSpan {
    /// The earliest `created_at` (seconds since the epoch); 0.0 when no member has one.
    pub start: f64,
    /// The latest `created_at`; 0.0 when no member has one.
    pub end: f64,
    /// Whole days from start to end, truncated.
    pub span_days: i64,
    /// The original's wording, see [`span_description`]; "unknown" when no member has a `created_at`.
    pub description: String,
}

/// The original's wording of a span of whole days: "same day", "N days" (so "1 days"), "N week(s)",
/// "N month(s)" of 30 days (so 364 days is "12 months"), else "N year(s)".
pub fn span_description(days: i64) -> String {
    let plural = |count: i64, unit: &str| format!("{count} {unit}{}", if count > 1 { "s" } else { "" });
    if days == 0 {
        "same day".to_owned()
    } else if days < 7 {
        format!("{days} days")
    } else if days < 30 {
        plural(days / 7, "week")
    } else if days < 365 {
        plural(days / 30, "month")
    } else {
        plural(days / 365, "year")
    }
}

/// The span of the members' creation times. A `created_at` of 0 counts as missing, as the original's falsy
/// check (the original would then read the legacy `timestamp`, which notes do not carry).
fn temporal_span(members: &[&Note]) -> TemporalSpan {
    let times = members.iter().map(|note| note.created_at).filter(|&created| created != 0.0);
    let Some((start, end)) = times.fold(None, |range: Option<(f64, f64)>, t| match range {
        None => Some((t, t)),
        Some((low, high)) => Some((low.min(t), high.max(t))),
    }) else {
        return TemporalSpan { start: 0.0, end: 0.0, span_days: 0, description: "unknown".to_owned() };
    };
    let span_days = ((end - start) / DAY) as i64;
    TemporalSpan { start, end, span_days, description: span_description(span_days) }
}

/// A cluster's compressed form: what the original stores as a `compressed_cluster` memory.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// The summary text, at most `max_length` characters.
    pub content: String,
    /// Up to 15 key concepts, most frequent first.
    pub key_concepts: Vec<String>,
    /// "cluster", "compressed", then the members' tags used more than once or notable, at most 10 in all.
    pub tags: Vec<String>,
    /// When the members were created.
    pub span: TemporalSpan,
    /// Summary length over the members' total length; it can exceed 1, as in the original.
    pub compression_ratio: f64,
}

/// Summarises a cluster's members (in cluster order) around the cluster's theme keywords.
///
/// The original compresses only clusters with at least two members; that check is the caller's. Here is
/// the one place the original's order is unspecified: it sorts key concepts by word count and leaves ties
/// in Python set order (hash-seeded). Ties here go by where the concept first appears in the lower-cased
/// text of the members, lower-case spellings first, then by the concept itself, so the same cluster always
/// gives the same summary.
pub fn summarise(members: &[&Note], theme_keywords: &[String], max_length: usize) -> Summary {
    let key_concepts = key_concepts(members, theme_keywords);
    let span = temporal_span(members);
    let content = compose(members, &key_concepts, &span, max_length);
    let original_length: usize = members.iter().map(|note| py_len(&note.content)).sum();
    let compression_ratio = if original_length > 0 { py_len(&content) as f64 / original_length as f64 } else { 0.0 };
    Summary { content, key_concepts, tags: tags(members), span, compression_ratio }
}

/// Python's `len` of a string: Unicode scalar values.
fn py_len(text: &str) -> usize {
    text.chars().count()
}

/// Python's `str.isspace()` for one character.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1C}'..='\u{1F}').contains(&c)
}

/// The original's key concepts: theme keywords, pattern hits, capitalised words and frequent words, sorted
/// by how often their lower-cased form occurs as a word (ties as documented on [`summarise`]), at most 15.
fn key_concepts(members: &[&Note], theme_keywords: &[String]) -> Vec<String> {
    let all_text = members.iter().map(|note| note.content.as_str()).collect::<Vec<_>>().join(" ");
    let lower_text = all_text.to_lowercase();

    // Counts of each word, and the words in the order first seen (Python's Counter order).
    let mut counts: HashMap<&str, usize> = HashMap::new();
    let mut seen: Vec<&str> = Vec::new();
    for word in WORD.find_iter(&lower_text).map(|hit| hit.as_str()) {
        let count = counts.entry(word).or_insert(0);
        if *count == 0 {
            seen.push(word);
        }
        *count += 1;
    }

    let mut found: Vec<String> = theme_keywords.to_vec();
    for pattern in CONCEPT_PATTERNS.iter() {
        found.extend(pattern.find_iter(&all_text).map(|hit| hit.as_str().to_owned()));
    }
    found.extend(QUOTED.captures_iter(&all_text).filter_map(|quote| quote.get(1)).map(|m| m.as_str().to_owned()));
    // `Counter.most_common(20)`: by count, ties in first-seen order (the sort is stable).
    let mut common = seen.clone();
    common.sort_by_key(|word| Reverse(counts[word]));
    found.extend(
        common
            .into_iter()
            .take(FREQUENT_WORDS)
            .filter(|word| counts[word] >= 2 && !STOP_WORDS.contains(word))
            .map(str::to_owned),
    );

    found.sort();
    found.dedup();
    found.sort_by_cached_key(|concept| {
        let lower = concept.to_lowercase();
        let count = counts.get(lower.as_str()).copied().unwrap_or(0);
        let first_seen = lower_text.find(&lower).unwrap_or(usize::MAX);
        (Reverse(count), first_seen, lower != *concept, concept.clone())
    });
    found.truncate(MAX_KEY_CONCEPTS);
    found
}

/// A sentence that covers key concepts no earlier sentence covered.
struct Candidate<'a> {
    sentence: &'a str,
    score: f64,
}

/// The original's representative sentences, best first: in member order, each sentence longer than 20
/// characters that covers a concept not yet covered (case-insensitive substring), scored
/// `new + 0.1 × covered`.
fn representative_sentences<'a>(members: &[&'a Note], key_concepts: &[String]) -> Vec<Candidate<'a>> {
    let lower_concepts: Vec<String> = key_concepts.iter().map(|concept| concept.to_lowercase()).collect();
    let mut covered = vec![false; key_concepts.len()];
    let mut candidates = Vec::new();
    for note in members {
        for sentence in sentences(&note.content) {
            let lower = sentence.to_lowercase();
            let contained: Vec<usize> =
                (0..key_concepts.len()).filter(|&k| lower.contains(&lower_concepts[k])).collect();
            let new: Vec<usize> = contained.iter().copied().filter(|&k| !covered[k]).collect();
            if !new.is_empty() && py_len(sentence) > 20 {
                candidates.push(Candidate { sentence, score: new.len() as f64 + contained.len() as f64 * 0.1 });
                for k in new {
                    covered[k] = true;
                }
            }
        }
    }
    // Stable, like Python's `sort(reverse=True)`: equal scores keep their order.
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    candidates
}

/// The original's sentence split: on `[.!?]+\s+`, stripped, keeping those longer than 10 characters.
fn sentences(text: &str) -> impl Iterator<Item = &str> {
    SENTENCE_END.split(text).map(|piece| piece.trim_matches(is_py_space)).filter(|piece| py_len(piece) > 10)
}

/// The summary text: overview, sentences while the budget allows, the closing key concepts, cut to
/// `max_length` characters with "..." if still too long.
fn compose(members: &[&Note], key_concepts: &[String], span: &TemporalSpan, max_length: usize) -> String {
    let about = key_concepts.iter().take(OVERVIEW_CONCEPTS).cloned().collect::<Vec<_>>().join(", ");
    let mut overview = format!("Cluster of {} related memories about {about}", members.len());
    if span.span_days > 0 {
        overview.push_str(&format!(" spanning {} days", span.span_days));
    }
    overview.push('.');

    let max = max_length as i64;
    let mut used = py_len(&overview) as i64;
    // The original subtracts the overview here and counts it in `used` as well, so it is charged twice.
    let sentence_budget = max - used - CLOSING_RESERVE;
    let mut parts = vec![overview];
    for candidate in representative_sentences(members, key_concepts) {
        let length = py_len(candidate.sentence) as i64;
        if used + length >= sentence_budget {
            break;
        }
        parts.push(candidate.sentence.to_owned());
        used += length;
    }

    if used < max - CLOSING_ROOM {
        let named = key_concepts.iter().take(CLOSING_CONCEPTS).cloned().collect::<Vec<_>>().join(", ");
        let closing = format!("Key concepts: {named}.");
        if used + (py_len(&closing) as i64) < max {
            parts.push(closing);
        }
    }

    let summary = parts.join(" ");
    if py_len(&summary) <= max_length {
        return summary;
    }
    let mut cut: String = summary.chars().take(max_length.saturating_sub(3)).collect();
    cut.push_str("...");
    cut
}

/// The original's aggregated tags: "cluster", "compressed", then the members' tags by how many carry them
/// (ties in first-seen order), kept if used more than once or notable, at most 10 in all.
fn tags(members: &[&Note]) -> Vec<String> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    let mut seen: Vec<&str> = Vec::new();
    for tag in members.iter().flat_map(|note| &note.tags) {
        let count = counts.entry(tag.as_str()).or_insert(0);
        if *count == 0 {
            seen.push(tag);
        }
        *count += 1;
    }
    seen.sort_by_key(|tag| Reverse(counts[tag]));
    let mut kept = vec!["cluster".to_owned(), "compressed".to_owned()];
    for tag in seen {
        if (counts[tag] > 1 || NOTABLE_TAGS.contains(&tag)) && !kept.iter().any(|k| k == tag) {
            kept.push(tag.to_owned());
        }
    }
    kept.truncate(MAX_TAGS);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, Value};
    use std::collections::BTreeSet;

    const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/consolidation/behaviour.json");
    /// The recorder's reference time, 2025-06-01T12:00:00Z.
    const REF_TS: f64 = 1_748_779_200.0;

    fn fixture() -> Value {
        let text = std::fs::read_to_string(FIXTURE).expect("behaviour.json is readable");
        serde_json::from_str(&text).expect("behaviour.json is JSON")
    }

    fn strings(value: &Value) -> Vec<String> {
        value.as_array().expect("a list").iter().map(|x| x.as_str().expect("a string").to_owned()).collect()
    }

    fn note(content: &str, tags: &[String], created_at: f64) -> Note {
        Note {
            hash: format!("h-{content}"),
            content: content.to_owned(),
            tags: tags.to_vec(),
            memory_type: Some("note".to_owned()),
            metadata: Map::new(),
            created_at,
            updated_at: created_at,
        }
    }

    /// The 16 clustering memories as the recorder built them: memory `i` created `10 + 3i` days before the
    /// reference time.
    fn clustering_notes(fixture: &Value) -> Vec<Note> {
        let contents = strings(&fixture["clustering"]["contents"]);
        let tags = fixture["clustering"]["tags"].as_array().expect("tag lists");
        contents
            .iter()
            .zip(tags)
            .enumerate()
            .map(|(i, (content, tags))| note(content, &strings(tags), REF_TS - (10.0 + 3.0 * i as f64) * DAY))
            .collect()
    }

    fn word_count(members: &[&Note], concept: &str) -> usize {
        let text = members.iter().map(|n| n.content.as_str()).collect::<Vec<_>>().join(" ").to_lowercase();
        let concept = concept.to_lowercase();
        WORD.find_iter(&text).filter(|hit| hit.as_str() == concept).count()
    }

    fn assert_span(span: &TemporalSpan, recorded: &Value) {
        assert_eq!(span.start, recorded["start_time"].as_f64().expect("start"));
        assert_eq!(span.end, recorded["end_time"].as_f64().expect("end"));
        assert_eq!(span.span_days, recorded["span_days"].as_i64().expect("days"));
        assert_eq!(span.description, recorded["span_description"].as_str().expect("description"));
    }

    /// The two recorded DBSCAN clusters. Key-concept ties are in Python set order there, so the recorded
    /// order is fed to the text step to check it exactly, and the full summary is checked for its structure.
    #[test]
    fn recorded_dbscan_clusters() {
        let fixture = fixture();
        let notes = clustering_notes(&fixture);
        let runs = fixture["clustering"]["runs"].as_array().expect("runs");
        let dbscan = runs.iter().find(|run| run["label"] == "groups_dbscan_default").expect("the dbscan run");
        let cases = fixture["compression"]["from_dbscan_clusters"].as_array().expect("cases");
        assert_eq!(cases.len(), 2);
        for (case, cluster) in cases.iter().zip(dbscan["clusters"].as_array().expect("clusters")) {
            let indices: Vec<usize> = case["cluster_members"]
                .as_array()
                .expect("members")
                .iter()
                .map(|i| i.as_u64().expect("an index") as usize)
                .collect();
            assert_eq!(case["cluster_members"], cluster["members"]);
            let members: Vec<&Note> = indices.iter().map(|&i| &notes[i]).collect();
            let theme = strings(&cluster["theme_keywords"]);
            let recorded_concepts = strings(&case["key_concepts"]);
            let recorded_content = case["content"].as_str().expect("content");

            let summary = summarise(&members, &theme, 500);

            // Same concepts; the order may differ only among equal word counts.
            let mine: BTreeSet<&String> = summary.key_concepts.iter().collect();
            assert_eq!(mine, recorded_concepts.iter().collect::<BTreeSet<_>>());
            let counts = |list: &[String]| list.iter().map(|c| word_count(&members, c)).collect::<Vec<_>>();
            assert_eq!(counts(&summary.key_concepts), counts(&recorded_concepts));

            // With the recorded order, the text is the recorded one, character for character.
            assert_eq!(compose(&members, &recorded_concepts, &summary.span, 500), recorded_content);

            // With ours: the same structure and the same sentences.
            let n = members.len();
            let about = summary.key_concepts[..5].join(", ");
            let days = summary.span.span_days;
            let overview = format!("Cluster of {n} related memories about {about} spanning {days} days. ");
            let closing = format!(" Key concepts: {}.", summary.key_concepts[..8].join(", "));
            let recorded_sentences = &recorded_content[recorded_content.find("days. ").expect("overview") + 6
                ..recorded_content.find(" Key concepts: ").expect("closing")];
            assert_eq!(summary.content, format!("{overview}{recorded_sentences}{closing}"));
            assert_eq!(py_len(&summary.content) as u64, case["content_length"].as_u64().expect("length"));
            assert!(py_len(&summary.content) <= 500);

            assert_eq!(summary.tags, strings(&case["tags"]));
            let ratio = case["compression_ratio"].as_f64().expect("ratio");
            assert!((summary.compression_ratio - ratio).abs() < 1e-9, "{} vs {ratio}", summary.compression_ratio);
            assert_span(&summary.span, &case["temporal_span"]);
        }
    }

    #[test]
    fn recorded_two_short_memories() {
        let fixture = fixture();
        let case = &fixture["compression"]["two_short_memories"];
        let tag = vec!["t".to_owned()];
        let (a, b) = (note("Short one.", &tag, REF_TS), note("Short two.", &tag, REF_TS + 3.0 * DAY));
        let summary = summarise(&[&a, &b], &tag, 500);
        assert_eq!(summary.content, case["content"].as_str().expect("content"));
        assert_eq!(summary.tags, strings(&case["tags"]));
        assert_span(&summary.span, &case["temporal_span"]);
    }

    #[test]
    fn recorded_span_descriptions() {
        let fixture = fixture();
        let cases = fixture["compression"]["temporal_span_descriptions"].as_array().expect("cases");
        for case in cases {
            let gap = case["span_days_in"].as_f64().expect("gap");
            let (x, y) = (note("x", &[], REF_TS), note("y", &[], REF_TS + gap * DAY));
            let span = temporal_span(&[&x, &y]);
            let days = case["span_days"].as_i64().expect("days");
            let description = case["span_description"].as_str().expect("description");
            assert_eq!((span.span_days, span.description.as_str()), (days, description), "gap {gap}");
            assert_eq!(span_description(days), description);
        }
        assert_eq!(cases.len(), 14);
        let undated = note("x", &[], 0.0);
        assert_eq!(temporal_span(&[&undated, &undated]).description, "unknown");
    }

    /// A sentence that fits `max − used − 100` but not once the overview is charged twice is left out.
    #[test]
    fn overview_is_charged_twice() {
        let sentence = format!("Ingestion {}", "detail ".repeat(40));
        let a = note(&sentence, &[], REF_TS);
        let b = note("ingestion again", &[], REF_TS);
        let theme = vec!["ingestion".to_owned()];
        let summary = summarise(&[&a, &b], &theme, 500);
        let overview = "Cluster of 2 related memories about detail, ingestion, Ingestion.";
        let length = py_len(sentence.trim());
        assert!(py_len(overview) + length < 500 - 100, "it would fit a single charge");
        assert!(2 * py_len(overview) + length >= 500 - 100, "but not a double one");
        assert_eq!(summary.content, format!("{overview} Key concepts: detail, ingestion, Ingestion."));
        // With more room the same sentence is taken.
        let roomy = summarise(&[&a, &b], &theme, 600);
        assert!(roomy.content.contains(sentence.trim()));
    }

    #[test]
    fn long_summaries_are_cut_to_max_length() {
        let theme: Vec<String> = (0..5).map(|i| format!("{i}{}", "x".repeat(300))).collect();
        let (a, b) = (note("Alpha text here.", &[], REF_TS), note("Beta text here.", &[], REF_TS));
        let summary = summarise(&[&a, &b], &theme, 500);
        assert_eq!(py_len(&summary.content), 500);
        assert!(summary.content.starts_with("Cluster of 2 related memories about "));
        assert!(summary.content.ends_with("..."));
        let wide = "é".repeat(600);
        let summary = summarise(&[&a, &b], &[wide], 500);
        assert_eq!(py_len(&summary.content), 500, "characters, not bytes");
    }

    #[test]
    fn tags_keep_repeated_and_notable_ones() {
        let t = |tags: &[&str]| tags.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>();
        let a = note("a", &t(&["x", "project", "cluster", "y"]), REF_TS);
        let b = note("b", &t(&["y", "x", "cluster", "solo"]), REF_TS);
        assert_eq!(tags(&[&a, &b]), t(&["cluster", "compressed", "x", "y", "project"]));
        let many: Vec<String> = (0..12).map(|i| format!("tag{i}")).collect();
        let (c, d) = (note("c", &many, REF_TS), note("d", &many, REF_TS));
        assert_eq!(tags(&[&c, &d]).len(), 10);
    }

    #[test]
    fn key_concepts_are_deterministic_and_capped() {
        let a = note("The Quick fox met `code` at /var/log and \"quoted words\" with HTTP 2.5 GetThing.", &[], REF_TS);
        let b = note("quick quick thinking; the fox fox.", &[], REF_TS);
        let concepts = key_concepts(&[&a, &b], &[]);
        assert_eq!(concepts, key_concepts(&[&a, &b], &[]));
        assert_eq!(&concepts[..2], ["quick", "Quick"], "count 3 first, lower-case spelling first");
        for expected in ["`code`", "/var/log", "quoted words", "HTTP", "2.5", "GetThing", "The"] {
            assert!(concepts.contains(&expected.to_owned()), "{expected} in {concepts:?}");
        }
        let theme: Vec<String> = (0..30).map(|i| format!("theme{i}")).collect();
        assert_eq!(key_concepts(&[&a, &b], &theme).len(), 15);
    }
}
