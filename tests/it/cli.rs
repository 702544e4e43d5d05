//! The command-line subcommands, driven as a user would: store, search in every mode, list with filters,
//! get, delete (one and in bulk), history, and the errors bad input must give.

use crate::support::{DataDir, content_hash, listed_hashes, listed_scores, listed_total};

/// Five memories on unrelated topics, for ranking tests.
const TOPICS: [&str; 5] = [
    "To bake sourdough bread, feed the starter the night before and let the dough rise slowly.",
    "The quarterly budget review with the finance team is scheduled for next Tuesday.",
    "My cat loves sleeping in the warm sunlight by the living room window.",
    "The Rust borrow checker prevents data races at compile time.",
    "We hiked up the mountain trail and camped beside an alpine lake.",
];

fn store_topics(data: &DataDir) -> Vec<String> {
    TOPICS.iter().map(|content| data.store(content, &[])).collect()
}

/// One line of `history`: `#<seq> v<version> <at> <kind> by <who>`.
#[derive(Debug, PartialEq)]
struct HistoryLine {
    seq: u64,
    version: u32,
    kind: String,
    who: String,
}

fn history(data: &DataDir, hash: &str) -> Vec<HistoryLine> {
    data.ok(&["history", hash])
        .lines()
        .filter(|line| line.starts_with('#'))
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            assert!(words.len() >= 6 && words[4] == "by", "unexpected history line {line:?}");
            HistoryLine {
                seq: words[0][1..].parse().unwrap_or_else(|_| panic!("no seq in {line:?}")),
                version: words[1].strip_prefix('v').and_then(|v| v.parse().ok()).expect("a version"),
                kind: words[3].to_string(),
                who: words[5..].join(" "),
            }
        })
        .collect()
}

#[test]
fn store_prints_the_sha256_of_the_trimmed_lower_cased_content() {
    let data = DataDir::new();
    assert_eq!(content_hash("Hello World"), "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");
    assert_eq!(
        data.ok(&["store", "Hello World"]),
        "stored b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9\n"
    );
    // The stored content keeps its case and spacing; only the hash is normalised.
    let hash = data.store("  Mixed CASE with Spaces\n", &[]);
    assert_eq!(hash, content_hash("mixed case with spaces"));
    assert_eq!(data.get(&hash)["content"], "  Mixed CASE with Spaces\n");
    assert_eq!(data.stats()["total_memories"], 2);
}

#[test]
fn the_hash_normalises_unicode_like_the_python_original() {
    let data = DataDir::new();
    // hashlib.sha256(s.strip().lower().encode()).hexdigest() in Python 3: final sigma, dotted capital I.
    let content = "  Ünïcödé CAFÉ Straße ΣΟΦΟΣ İstanbul \n";
    let python = "648a032d6e2bebe552fe9c25ccee3d00fa839f9486f5947746001c3a5f0831c9";
    assert_eq!(data.ok(&["store", content]), format!("stored {python}\n"));
    let duplicate = data.run(&["store", "ünïcödé café straße σοφος i\u{307}stanbul"]);
    assert_eq!(duplicate.status.code(), Some(3), "a duplicate exits with 3: {duplicate:?}");
    assert_eq!(duplicate.stdout, format!("Duplicate content detected: {python}\n"));
}

#[test]
fn store_reads_the_content_from_standard_input_when_none_or_a_dash_is_given() {
    let data = DataDir::new();
    let run = data.run_with_stdin(&["store", "--tags", "piped"], "Remember to rotate the API keys.\n");
    assert!(run.status.success(), "{}", run.stderr);
    let hash = content_hash("Remember to rotate the API keys.");
    assert_eq!(run.stdout, format!("stored {hash}\n"));
    let memory = data.get(&hash);
    // The line break that ends the input (echo, a here-string) is not part of the memory.
    assert_eq!(memory["content"], "Remember to rotate the API keys.");
    assert_eq!(memory["tags"], serde_json::json!(["piped"]));
    // `-` reads standard input too; lines inside the content are kept, a CRLF ending dropped.
    let run = data.run_with_stdin(&["store", "-"], "Two lines:\nthe second one.\r\n");
    assert!(run.status.success(), "{}", run.stderr);
    let hash = content_hash("Two lines:\nthe second one.");
    assert_eq!(run.stdout, format!("stored {hash}\n"));
    assert_eq!(data.get(&hash)["content"], "Two lines:\nthe second one.");
    assert!(data.run(&["get", &content_hash("-")]).status.code() == Some(4), "`-` itself was stored");
}

#[test]
fn storing_the_same_content_modulo_case_and_whitespace_is_a_duplicate() {
    let data = DataDir::new();
    let hash = data.store("Hello World", &["first"]);
    let run = data.run(&["store", "  hello WORLD \n", "--tags", "second"]);
    assert_eq!(run.status.code(), Some(3), "a duplicate has its own exit status: {run:?}");
    assert!(run.stderr.is_empty(), "a duplicate is an answer, not an error: {:?}", run.stderr);
    let out = run.stdout;
    assert!(out.starts_with("Duplicate content detected"), "{out:?}");
    assert!(out.contains(&hash), "the duplicate answer names the existing memory: {out:?}");
    // Nothing was written: one memory, one event, the first store's tags.
    let stats = data.stats();
    assert_eq!(stats["total_memories"], 1);
    assert_eq!(stats["events"], 1);
    assert_eq!(data.get(&hash)["tags"], serde_json::json!(["first"]));
    assert_eq!(history(&data, &hash).len(), 1);
}

#[test]
fn semantic_search_ranks_the_relevant_memory_first() {
    let data = DataDir::new();
    let hashes = store_topics(&data);
    let bread = data.ok(&["search", "How do I make a loaf of homemade bread?"]);
    let found = listed_hashes(&bread);
    assert_eq!(found.len(), 5, "all five memories are ranked:\n{bread}");
    assert_eq!(found[0], hashes[0], "the bread recipe ranks first:\n{bread}");
    let scores = listed_scores(&bread);
    assert!(scores[0] > 0.7 && scores.iter().skip(1).all(|s| scores[0] - s > 0.1), "the match stands out: {scores:?}");
    assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)), "the original's 0..1 scale: {scores:?}");
    // The default picks for diversity after the first result, so only meaning alone orders by the score.
    let by_meaning = data.ok(&["search", "How do I make a loaf of homemade bread?", "--mode", "semantic"]);
    assert_eq!(listed_hashes(&by_meaning)[0], hashes[0], "{by_meaning}");
    let scores = listed_scores(&by_meaning);
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "semantic scores descend: {scores:?}");

    let rust = data.search(&["compiler guarantees for memory safety in a programming language", "-n", "2"]);
    assert_eq!(rust.len(), 2, "-n limits the results");
    assert_eq!(rust[0], hashes[3]);
    let pets = data.search(&["my kitten naps in the sun", "--limit", "1"]);
    assert_eq!(pets, vec![hashes[2].clone()]);

    let close = data.search(&["How do I make a loaf of homemade bread?", "--min-similarity", "0.7"]);
    assert_eq!(close, vec![hashes[0].clone()], "--min-similarity drops the unrelated memories");
    let error = data.fails(&["search", "bread", "--min-similarity", "1.5"]);
    assert!(error.contains("between 0 and 1"), "{error}");

    // Relevance weighs in only when asked, and is shown then; the similarity printed is the same.
    let boosted = data.ok(&["search", "How do I make a loaf of homemade bread?", "--quality-boost", "0.3"]);
    assert_eq!(boosted.lines().filter(|l| l.contains("  relevance 0.")).count(), 5, "{boosted}");
    assert!(!bread.contains("relevance"), "{bread}");
    let error = data.fails(&["search", "bread", "--quality-boost", "2"]);
    assert!(error.contains("between 0 and 1"), "{error}");
}

#[test]
fn the_ann_index_ranks_like_exact_search() {
    let data = DataDir::new();
    let hashes = store_topics(&data);
    data.ok(&["delete", &hashes[1]]);
    for query in ["How do I make a loaf of homemade bread?", "money and meetings", "outdoor adventures"] {
        let exact = data.ok(&["search", query]);
        // A threshold of 1 makes every unfiltered semantic search use the usearch index.
        let ann = data.ok(&["search", query, "--ann-threshold", "1"]);
        assert_eq!(listed_hashes(&ann), listed_hashes(&exact), "{query}:\n{ann}\nvs exact:\n{exact}");
        assert_eq!(listed_hashes(&ann).len(), 4, "the deleted memory is not found: {ann}");
        for (a, e) in listed_scores(&ann).iter().zip(listed_scores(&exact)) {
            assert!((a - e).abs() <= 0.0015, "{query}: ANN score {a} vs exact {e}");
        }
    }
    assert_eq!(data.stats()["ann_vectors"], 4, "the index drops deleted memories");
}

#[test]
fn a_memory_the_ann_index_has_not_applied_yet_is_found_at_once() {
    let data = DataDir::new();
    store_topics(&data);
    // Each command is its own process: the index is saved when one closes, often before its projector has
    // applied the command's own write, so the next search starts with an index that is behind the read
    // model. Whether or not it is, a fresh memory must be the best match for its own words at once.
    for (i, content) in [
        "The lighthouse keeper logs the passing ships every evening.",
        "Quarterly tax forms are due to the accountant on Friday.",
        "Our drone survey mapped the glacier's retreat this summer.",
    ]
    .iter()
    .enumerate()
    {
        let hash = data.store(content, &[]);
        let found = data.search(&[content, "--ann-threshold", "1", "-n", "3"]);
        assert_eq!(found.first(), Some(&hash), "write {i} is found first through the ANN path: {found:?}");
    }
}

#[test]
fn time_phrases_filter_by_creation_time() {
    let data = DataDir::new();
    let (cats, dogs) = import_dated(&data);
    let now = data.store("A note about birds, stored now.", &[]);

    assert_eq!(data.list(&["--time", "between 2023-01-01 and 2024-01-01"]), (vec![dogs.clone()], 1));
    assert_eq!(data.list(&["--time", "2020"]).0, vec![cats.clone()]);
    assert_eq!(data.list(&["--time", "last 7 days"]).0, vec![now.clone()], "a rolling window ending now");
    // A time phrase inside a recall query filters; the rest of the query ranks. Search takes it literally.
    assert_eq!(data.recall(&["animals in 2023"]), vec![dogs.clone()]);
    assert_eq!(data.recall(&["in 2020"]), vec![cats.clone()], "a query of only a time phrase lists by time");
    let literal = data.search(&["animals in 2023"]);
    assert!(literal.contains(&cats) && literal.contains(&dogs), "search does not read time phrases: {literal:?}");
    assert_eq!(data.search(&["pets", "--time", "between 2019-01-01 and 2024-01-01"]).len(), 2);

    let preview = data.ok(&["delete", "--before", "2022-01-01", "--dry-run"]);
    assert!(preview.starts_with(&format!("would delete 1 memory:\n{cats}  2020-")), "{preview}");
    assert_eq!(data.ok(&["delete", "--before", "2022-01-01"]), "deleted 1 of 1 matching memory\n");
    assert_eq!(data.list(&[]).0, vec![now, dogs]);
}

/// The README's example, as written: a keyword finds the words it begins (`postgres`, `PostgreSQL`), in
/// keyword and hybrid mode, and no query, whatever FTS5 syntax it holds, is an error.
#[test]
fn the_readmes_keyword_search_finds_postgresql_by_postgres_and_no_query_is_an_error() {
    let data = DataDir::new();
    let stored = data.ok(&[
        "store",
        "Decided to use PostgreSQL 16 for billing",
        "--tags",
        "decision,database",
        "--type",
        "decision",
    ]);
    let hash = content_hash("Decided to use PostgreSQL 16 for billing");
    assert!(stored.contains(&hash), "{stored}");
    let other = data.store("The cat sleeps in the sun.", &[]);
    assert_eq!(data.search(&["postgres", "--mode", "keyword"]), vec![hash.clone()]);
    assert_eq!(data.search(&["postgres", "--mode", "hybrid"]).first(), Some(&hash));
    for query in ["\"postgres", "postgres*", "(postgres", "NEAR(postgres billing)", "-postgres", "postgres -billing"] {
        assert_eq!(data.search(&["--mode", "keyword", "--", query]), vec![hash.clone()], "{query}");
    }
    for query in ["\"", "*", "(", ")", "NEAR", "-", "AND", "OR NOT", "^", ":"] {
        let found = data.search(&["--mode", "keyword", "--", query]);
        assert!(found.iter().all(|h| *h == hash || *h == other), "{query}: {found:?}");
        data.ok(&["search", "--mode", "hybrid", "--", query]);
    }
}

#[test]
fn keyword_hybrid_and_exact_searches_match_words_and_content() {
    let data = DataDir::new();
    let hashes = store_topics(&data);

    let keyword = data.search(&["--mode", "keyword", "sourdough starter"]);
    assert_eq!(keyword, vec![hashes[0].clone()], "only the memory holding the words matches");
    let keyword = data.search(&["--mode", "keyword", "trail OR lake"]);
    assert_eq!(keyword, vec![hashes[4].clone()], "query syntax is quoted, not interpreted");
    assert_eq!(data.ok(&["search", "--mode", "keyword", "zebra"]), "no memories found\n");

    let hybrid = data.search(&["--mode", "hybrid", "sourdough loaf"]);
    assert_eq!(hybrid.first(), Some(&hashes[0]), "hybrid ranks the keyword and meaning match first");

    let exact = data.search(&["--mode", "exact", TOPICS[3]]);
    assert_eq!(exact, vec![hashes[3].clone()]);
    assert_eq!(data.ok(&["search", "--mode", "exact", "Rust"]), "no memories found\n", "exact means the whole content");
}

#[test]
fn list_filters_by_exact_tags_any_or_all() {
    let data = DataDir::new();
    let database = data.store("Postgres needs a vacuum after the bulk load.", &["database"]);
    let plain = data.store("The data export runs every night at two.", &["data"]);
    let urgent = data.store("The data centre migration is due on Friday.", &["data", "urgent"]);
    let untagged = data.store("Buy milk on the way home.", &[]);

    let (mut found, total) = data.list(&["--tags", "data"]);
    found.sort();
    let mut expected = vec![plain.clone(), urgent.clone()];
    expected.sort();
    assert_eq!(found, expected, "tag 'data' must not match 'database'");
    assert_eq!(total, 2);

    let (found, total) = data.list(&["--tags", "data,urgent", "--all-tags"]);
    assert_eq!((found, total), (vec![urgent.clone()], 1));
    let (found, total) = data.list(&["--tags", "data", "--tags", "urgent", "--all-tags"]);
    assert_eq!((found, total), (vec![urgent.clone()], 1), "repeated --tags add up");
    let (found, _) = data.list(&["--tags", "database,urgent"]);
    assert_eq!(found.len(), 2, "without --all-tags any tag matches: {found:?}");
    assert!(found.contains(&database) && found.contains(&urgent));
    let (found, total) = data.list(&["--tags", "dat"]);
    assert_eq!((found, total), (vec![], 0), "no prefix matching");

    // Newest first, and every memory without a filter.
    let (found, total) = data.list(&[]);
    assert_eq!(found, vec![untagged, urgent, plain, database]);
    assert_eq!(total, 4);
    let page = data.ok(&["list", "--page", "2", "--page-size", "3"]);
    assert!(page.starts_with("page 2 (3 per page) of 4 memories\n"), "{page}");
    assert_eq!(listed_hashes(&page).len(), 1);
    assert_eq!(listed_total(&page), 4);
}

#[test]
fn get_prints_the_memory_as_json() {
    let data = DataDir::new();
    let before = chrono::Utc::now();
    let out = data.ok(&[
        "store",
        "Decided to ship on Mondays.",
        "--tags",
        "release, process",
        "--type",
        "decision",
        "--metadata",
        r#"{"project": "billing", "votes": 3}"#,
    ]);
    let after = chrono::Utc::now();
    let hash = content_hash("Decided to ship on Mondays.");
    assert_eq!(out, format!("stored {hash}\n"));

    let memory = data.get(&hash);
    assert_eq!(data.list(&["--type", "decision"]).0, vec![hash.clone()]);
    assert_eq!(data.list(&["--type", "note"]).1, 0);
    assert_eq!(memory["content"], "Decided to ship on Mondays.");
    assert_eq!(memory["content_hash"], hash.as_str());
    assert_eq!(memory["tags"], serde_json::json!(["release", "process"]), "tags are trimmed, in order");
    assert_eq!(memory["memory_type"], "decision");
    assert_eq!(memory["metadata"], serde_json::json!({"project": "billing", "votes": 3}));
    let iso = memory["created_at_iso"].as_str().expect("created_at_iso is a string");
    assert!(iso.ends_with('Z'), "UTC: {iso}");
    let created = chrono::DateTime::parse_from_rfc3339(iso).expect("created_at_iso is RFC 3339");
    let slack = chrono::Duration::seconds(1);
    assert!(before - slack <= created && created <= after + slack, "{iso} is not between {before} and {after}");
    let seconds = memory["created_at"].as_f64().expect("created_at is seconds");
    assert!((seconds - created.timestamp_micros() as f64 / 1e6).abs() < 1e-3, "{seconds} and {iso} differ");
    assert_eq!(memory["updated_at"], memory["created_at"]);
}

#[test]
fn a_deleted_memory_is_gone_but_its_history_stays() {
    let data = DataDir::new();
    let hash = data.store("Temporary note about the staging password rotation.", &["temp"]);
    let keep = data.store("A note that stays.", &[]);
    assert_eq!(data.ok(&["delete", &hash]), format!("deleted {hash}\n"));

    let error = data.fails_with(4, &["get", &hash]);
    assert!(error.contains("not found") && error.contains(&hash), "{error}");
    let (found, total) = data.list(&[]);
    assert_eq!((found, total), (vec![keep.clone()], 1));
    assert_eq!(data.ok(&["search", "staging password", "--mode", "keyword"]), "no memories found\n");

    let events = history(&data, &hash);
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["stored", "deleted"], "{events:?}");
    assert!(events[0].seq < events[1].seq, "seq numbers grow: {events:?}");
    assert_eq!(events[0].seq, 1, "the first store of a fresh log is event 1");
    assert!(events[0].version < events[1].version, "versions grow: {events:?}");
    assert!(events.iter().all(|e| e.who == "cli"), "{events:?}");

    // A hash and filters together are refused; a dry run by hash names the memory.
    let error = data.fails(&["delete", &keep, "--tags", "temp"]);
    assert!(error.contains("either a hash or filters"), "{error}");
    let preview = data.ok(&["delete", &keep, "--dry-run"]);
    assert!(preview.starts_with(&format!("would delete 1 memory:\n{keep}  ")), "{preview}");
    assert!(preview.ends_with("\n  A note that stays.\n"), "{preview}");
    assert_eq!(data.list(&[]).1, 1);

    // Deleting again is an error, and the stored content can be stored anew.
    let again = data.fails_with(4, &["delete", &hash]);
    assert!(again.contains("not found"), "{again}");
    data.store("Temporary note about the staging password rotation.", &[]);
    let kinds: Vec<String> = history(&data, &hash).into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds.last().map(String::as_str), Some("stored"), "{kinds:?}");
}

#[test]
fn bulk_delete_by_tag_counts_on_a_dry_run_and_deletes_otherwise() {
    let data = DataDir::new();
    let old_a = data.store("Old meeting notes from January.", &["old"]);
    let old_b = data.store("Old meeting notes from February.", &["old", "meetings"]);
    let fresh = data.store("Current sprint goals.", &["oldish"]);

    // A dry run lists what it would delete: hash and time, tags and type, the first line.
    let preview = data.ok(&["delete", "--tags", "old", "--dry-run"]);
    assert!(preview.starts_with("would delete 2 memories:\n"), "{preview}");
    for (hash, line) in [(&old_a, "Old meeting notes from January."), (&old_b, "Old meeting notes from February.")] {
        assert!(preview.contains(hash.as_str()) && preview.contains(&format!("  {line}\n")), "{preview}");
    }
    assert!(!preview.contains(&fresh), "{preview}");
    let json: serde_json::Value =
        serde_json::from_str(&data.ok(&["delete", "--tags", "old", "--dry-run", "--json"])).expect("JSON");
    assert_eq!((&json["matched"], &json["deleted"], &json["dry_run"]), (&2.into(), &0.into(), &true.into()));
    assert_eq!(json["content_hashes"].as_array().map(Vec::len), Some(2), "{json}");
    assert_eq!(data.list(&[]).1, 3, "a dry run deletes nothing");
    assert_eq!(data.stats()["events"], 3, "a dry run appends nothing");

    assert_eq!(data.ok(&["delete", "--tags", "old"]), "deleted 2 of 2 matching memories\n");
    assert_eq!(data.list(&[]), (vec![fresh], 1));
    for hash in [old_a, old_b] {
        assert!(data.fails_with(4, &["get", &hash]).contains("not found"));
    }
}

#[test]
fn bulk_delete_without_a_condition_is_refused() {
    let data = DataDir::new();
    data.store("Something worth keeping.", &["keep"]);
    for args in [&["delete"][..], &["delete", "--dry-run"], &["delete", "--all-tags"], &["delete", "--tags", " , "]] {
        let error = data.fails(args);
        assert!(error.contains("condition"), "{args:?}: {error}");
    }
    let stats = data.stats();
    assert_eq!(stats["total_memories"], 1);
    assert_eq!(stats["events"], 1);
}

#[test]
fn empty_content_is_refused_and_nothing_is_stored() {
    let data = DataDir::new();
    for content in ["", "   \n\t "] {
        let error = data.fails(&["store", content]);
        assert!(error.contains("empty"), "{content:?}: {error}");
    }
    let run = data.run_with_stdin(&["store"], "");
    assert_eq!(run.status.code(), Some(1), "empty standard input: {run:?}");
    assert!(run.stderr.contains("empty"), "{}", run.stderr);
    let stats = data.stats();
    assert_eq!(stats["total_memories"], 0);
    assert_eq!(stats["events"], 0);
    assert_eq!(data.list(&[]), (vec![], 0));
}

#[test]
fn a_malformed_or_unknown_hash_is_a_clear_error() {
    let data = DataDir::new();
    for bad in ["zz", "b94d27b9934d3e08", &"g".repeat(64)] {
        let error = data.fails(&["get", bad]);
        assert!(error.contains("not a content hash") && error.contains("64"), "{bad}: {error}");
        let error = data.fails(&["history", bad]);
        assert!(error.contains("not a content hash"), "{bad}: {error}");
        let error = data.fails(&["delete", bad]);
        assert!(error.contains("not a content hash"), "{bad}: {error}");
    }
    // A well-formed hash that names no memory: exit status 4 (README, "Exit status").
    let absent = content_hash("never stored");
    for command in ["get", "history", "delete", "undelete"] {
        let error = data.fails_with(4, &[command, &absent]);
        let said = ["not found", "no history", "never existed"].iter().any(|words| error.contains(words));
        assert!(said && error.contains(&absent), "{command}: {error}");
    }
    assert_eq!(data.stats()["events"], 0, "failed deletes append nothing");
}

#[test]
fn an_unparseable_time_phrase_is_a_clear_error() {
    let data = DataDir::new();
    data.store("A memory to filter.", &[]);
    for args in [
        &["list", "--time", "blorf quux"][..],
        &["search", "memory", "--time", "blorf quux"],
        &["delete", "--time", "blorf quux", "--dry-run"],
        &["delete", "--before", "blorf quux"],
    ] {
        let error = data.fails(args);
        assert!(error.contains("'blorf quux' is not a recognised time expression"), "{args:?}: {error}");
    }
    assert_eq!(data.stats()["total_memories"], 1);
    // A phrase that parses filters by creation time.
    assert_eq!(data.list(&["--time", "today"]).1, 1);
    assert_eq!(data.list(&["--time", "last year"]).1, 0);
}

#[test]
fn metadata_that_is_not_a_json_object_is_refused() {
    let data = DataDir::new();
    for metadata in ["[1, 2]", "\"text\"", "42", "not json", "{\"unclosed\": "] {
        let error = data.fails(&["store", "Metadata test", "--metadata", metadata]);
        assert!(error.contains("--metadata must be a JSON object"), "{metadata}: {error}");
    }
    assert_eq!(data.stats()["events"], 0);
    let hash = data.store("Metadata test", &[]);
    assert_eq!(data.get(&hash)["metadata"], serde_json::json!({}));
}

#[test]
fn tags_are_trimmed_deduplicated_and_limited() {
    let data = DataDir::new();
    let hash = content_hash("Tag hygiene");
    let out = data.ok(&["store", "Tag hygiene", "--tags", " a, a ,b,,", "-t", "c", "--tags", "b"]);
    assert_eq!(out, format!("stored {hash}\n"));
    assert_eq!(data.get(&hash)["tags"], serde_json::json!(["a", "b", "c"]));
    let long = "x".repeat(201);
    let error = data.fails(&["store", "Long tag", "--tags", &long]);
    assert!(error.contains("longer than 200 characters"), "{error}");
    assert_eq!(data.stats()["total_memories"], 1);
}

#[test]
fn content_length_backend_and_model_settings_are_checked() {
    let data = DataDir::new();
    data.ok(&["--max-content-length", "10", "store", "0123456789"]);
    let error = data.fails(&["--max-content-length", "10", "store", "0123456789a"]);
    assert!(error.contains("11 bytes, more than the limit of 10"), "{error}");
    let output = data
        .command(&["store", "0123456789b"])
        .env("MCP_SQLITEVEC_MAX_CONTENT_LENGTH", "10")
        .output()
        .expect("run the binary");
    assert_eq!(output.status.code(), Some(1), "the environment variable sets the limit too");
    for bad in ["abc", "0", "-5"] {
        let error = data.fails(&[&format!("--max-content-length={bad}"), "stats"]);
        assert!(error.contains("must be a positive number or 'none'"), "{bad}: {error}");
    }
    data.ok(&["--max-content-length", "none", "store", "0123456789c"]);
    for backend in ["cloudflare", "hybrid"] {
        let error = data.fails(&["--storage-backend", backend, "stats"]);
        assert!(error.contains("need CLOUDFLARE_API_TOKEN, CLOUDFLARE_ACCOUNT_ID"), "{backend}: {error}");
    }
    let error = data.fails(&["--embedding-model", "all-mpnet-base-v2", "stats"]);
    assert!(error.contains("only all-MiniLM-L6-v2 is"), "{error}");
    assert_eq!(data.stats()["total_memories"], 2);
}

#[test]
fn the_originals_spelling_of_the_model_names_the_same_model() {
    let data = DataDir::new();
    data.ok(&["--embedding-model", "sentence-transformers/all-MiniLM-L6-v2", "stats"]);
    let output = data
        .command(&["store", "The original writes the model with its organisation."])
        .env("MCP_EMBEDDING_MODEL", "sentence-transformers/all-MiniLM-L6-v2")
        .output()
        .expect("run the binary");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let error = data.fails(&["--embedding-model", "sentence-transformers/all-mpnet-base-v2", "stats"]);
    assert!(error.contains("only all-MiniLM-L6-v2 is"), "{error}");
}

#[test]
fn include_hostname_tags_the_source_machine() {
    let data = DataDir::new();
    // The original uses socket.gethostname(), which is the kernel's host name.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("the kernel's host name");
    let host = host.trim();
    let output = data
        .command(&["store", "Stored with the host name", "--tags", "mine"])
        .env("MCP_MEMORY_INCLUDE_HOSTNAME", "true")
        .output()
        .expect("run the binary");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let memory = data.get(&content_hash("Stored with the host name"));
    assert_eq!(memory["tags"], serde_json::json!(["mine", format!("source:{host}")]));
    assert_eq!(memory["metadata"]["hostname"], host);
    let plain = data.store("Stored without the host name", &[]);
    assert_eq!(data.get(&plain)["tags"], serde_json::json!([]), "off by default");
}

/// Imports two memories dated in 2020 and 2023, tagged `x`; returns their hashes.
fn import_dated(data: &DataDir) -> (String, String) {
    let lines = [
        r#"{"content": "An old note about cats", "created_at": 1600000000.0, "tags": ["x"]}"#,
        r#"{"content": "A note about dogs", "created_at": 1690000000.0, "tags": ["x"]}"#,
    ];
    let file = data.path().join("dated.jsonl");
    std::fs::write(&file, lines.join("\n")).expect("write");
    data.ok(&["import", file.to_str().expect("UTF-8")]);
    (content_hash("An old note about cats"), content_hash("A note about dogs"))
}

#[test]
fn exact_search_applies_the_tag_and_time_filters() {
    let data = DataDir::new();
    let (_, dogs) = import_dated(&data);
    assert_eq!(data.search(&["--mode", "exact", "A note about dogs", "--tags", "x"]), vec![dogs.clone()]);
    // A filter the memory does not pass must not be ignored: no result, or a clear refusal.
    for filter in [&["--tags", "no-such-tag"][..], &["--time", "2020"]] {
        let mut args = vec!["search", "--mode", "exact", "A note about dogs"];
        args.extend_from_slice(filter);
        let run = data.run(&args);
        match run.status.code() {
            Some(0) => assert_eq!(run.stdout, "no memories found\n", "{filter:?} was ignored"),
            Some(1) => assert!(run.stderr.contains("exact"), "{filter:?}: {}", run.stderr),
            _ => panic!("{filter:?}: {run:?}"),
        }
    }
}

#[test]
fn a_time_phrase_in_a_recall_query_filters_with_other_options_too() {
    let data = DataDir::new();
    let (cats, dogs) = import_dated(&data);
    assert_eq!(data.recall(&["animals in 2023"]), vec![dogs.clone()]);
    // `recall --help`: a time phrase inside the query filters by creation time, whatever else is given.
    assert_eq!(data.recall(&["animals in 2023", "--tags", "x"]), vec![dogs.clone()], "with --tags");
    assert_eq!(data.recall(&["animals in 2020", "--min-similarity", "0.1"]), vec![cats], "with --min-similarity");
}

#[test]
fn a_page_past_every_memory_is_empty_not_a_crash() {
    let data = DataDir::new();
    data.store("The only memory.", &[]);
    for (page, size) in [("18446744073709551615", "10"), ("9223372036854776", "1000"), ("3", "1")] {
        let run = data.run(&["list", "--page", page, "--page-size", size]);
        assert!(!run.stderr.contains("panicked"), "list --page {page} --page-size {size} panicked:\n{}", run.stderr);
        assert_eq!(run.status.code(), Some(0), "{run:?}");
        assert_eq!(listed_hashes(&run.stdout), Vec::<String>::new(), "page {page} of size {size} is past the end");
        assert_eq!(listed_total(&run.stdout), 1);
    }
}

#[test]
fn updates_and_deletes_can_require_the_version_they_read() {
    let data = DataDir::new();
    let hash = data.store("Version-checked memory about kites.", &["a"]);
    data.ok(&["update", &hash, "--tags", "b", "--expect-version", "1"]);
    let stale = data.fails(&["update", &hash, "--tags", "c", "--expect-version", "1"]);
    assert!(stale.contains("version 2, not the expected 1"), "{stale}");
    let stale = data.fails(&["delete", &hash, "--expect-version", "1"]);
    assert!(stale.contains("version 2, not the expected 1"), "{stale}");
    assert!(data.ok(&["get", &hash]).contains("\"b\""), "the refused update and delete changed nothing");
    data.ok(&["delete", &hash, "--expect-version", "2"]);
    let history = data.ok(&["history", &hash]);
    assert_eq!(history.lines().filter(|l| l.starts_with('#')).count(), 3, "{history}");
}

#[test]
fn bulk_delete_filters_by_type_as_its_error_suggests() {
    let data = DataDir::new();
    let scratch = content_hash("A scratch note to throw away.");
    assert_eq!(
        data.ok(&["store", "A scratch note to throw away.", "--type", "scratch"]),
        format!("stored {scratch}\n")
    );
    let kept = data.store("A decision to keep.", &[]);
    let error = data.fails(&["delete"]);
    assert!(error.contains("a memory type"), "the error names the type filter: {error}");
    assert_eq!(data.ok(&["delete", "--type", "scratch"]), "deleted 1 of 1 matching memory\n");
    data.fails_with(4, &["get", &scratch]);
    assert_eq!(data.list(&[]), (vec![kept.clone()], 1));
    let both = data.fails(&["delete", &kept, "--type", "scratch"]);
    assert!(both.contains("not both"), "{both}");
}

#[test]
fn a_missing_backup_is_named_as_missing() {
    let data = DataDir::new();
    data.store("Something to back up.", &[]);
    let error = data.fails_with(4, &["backup", "verify", "nonexistent.redb"]);
    assert!(error.contains("no such backup") && error.contains("nonexistent.redb"), "{error}");
    assert!(!error.contains("manifest"), "{error}");
}

#[test]
fn a_subcommands_help_shows_its_own_options_before_the_shared_settings() {
    let data = DataDir::new();
    let help = data.ok(&["store", "--help"]);
    let own = help.find("--metadata").expect("store's own option");
    let shared = help.find("Storage (every command):").expect("the shared settings under their own heading");
    assert!(own < shared, "{help}");
    for heading in
        ["Embedding model (every command):", "Backups (every command):", "Cloudflare (hybrid and cloudflare backends):"]
    {
        let at = help.find(heading).unwrap_or_else(|| panic!("no {heading:?} in\n{help}"));
        assert!(own < at, "{help}");
    }
    // Options keep their place under the heading: --base-dir is a storage setting, not one of store's.
    let options = &help[..shared];
    assert!(!options.contains("--base-dir") && !options.contains("--cloudflare-api-token"), "{help}");
}

#[test]
fn output_to_a_reader_that_went_away_ends_quietly() {
    let data = DataDir::new();
    data.store("Something to print.", &[]);
    for args in [&["keygen"][..], &["log"], &["list"]] {
        // `… | head` that already exited: the pipe's read end is closed before the command writes.
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let output = data.command(args).stdin(std::process::Stdio::null()).stdout(writer).output().expect("run");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{args:?}: {} {stderr}", output.status);
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
    }
}

#[test]
fn the_cli_relates_memories_and_walks_the_graph() {
    let data = DataDir::new();
    let deploy = data.store("CLI graph: the deploy shipped a bad pool setting", &[]);
    let latency = data.store("CLI graph: checkout latency rose to four seconds", &[]);
    let fix = data.store("CLI graph: raising the pool size fixed the latency", &[]);
    let made = data.ok(&["relate", &deploy, &latency, "--type", "causes", "--reason", "it followed the deploy"]);
    assert_eq!(made.trim(), format!("related: {deploy} causes {latency}"));
    let again = data.ok(&["relate", &deploy, &latency, "--type", "causes", "--reason", "it followed the deploy"]);
    assert!(again.starts_with("already related"), "{again}");
    data.ok(&["relate", &fix, &latency, "-t", "fixes"]);

    let relations = data.ok(&["graph", "relations", &latency]);
    assert_eq!(relations.lines().count(), 2, "{relations}");
    assert!(relations.contains("causes") && relations.contains("(it followed the deploy)"), "{relations}");
    let near = data.ok(&["graph", "connected", &deploy]);
    assert_eq!(near, format!("1  {latency}\n2  {fix}\n"));
    let path = data.ok(&["graph", "path", &deploy, &fix, "--direction", "both"]);
    assert_eq!(path.trim(), format!("{deploy} -> {latency} -> {fix}"));
    let none = data.fails(&["graph", "path", &deploy, &fix]);
    assert!(none.contains("no path"), "{none}");
    let sub: serde_json::Value = serde_json::from_str(&data.ok(&["graph", "subgraph", &latency])).expect("JSON");
    assert_eq!(sub["edges"].as_array().map(Vec::len), Some(2), "{sub}");
    let history = data.ok(&["history", &deploy]);
    assert!(history.contains(&format!("related by cli\n  causes -> {latency} (it followed the deploy)")), "{history}");

    for (args, needle) in [
        (vec!["relate", &deploy, &deploy], "itself"),
        (vec!["relate", &deploy, &fix, "--type", "loves"], "unknown relationship type"),
        (vec!["graph", "connected", &deploy, "--max-hops", "0"], "max_hops must be between 1 and 5"),
        (vec!["graph", "connected", &deploy, "--direction", "up"], "--direction must be"),
    ] {
        let error = data.fails(&args);
        assert!(error.contains(needle), "{args:?}: {error}");
    }
    let removed = data.ok(&["relate", &deploy, &latency, "--remove"]);
    assert!(removed.starts_with("removed 1 relation"), "{removed}");
    assert_eq!(data.ok(&["graph", "connected", &deploy]), "");
}

/// Copies a data directory's files (the store must be closed).
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).expect("read the data directory").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            std::fs::create_dir_all(&target).expect("make a directory");
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a file");
        }
    }
}

/// An event as the log prints it, without what differs between two runs that do the same: ids, commit
/// times and positions.
fn comparable(line: &str) -> serde_json::Value {
    let mut event: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
    for key in ["event_id", "at", "seq"] {
        event.as_object_mut().expect("an object").remove(key);
    }
    if let Some(relation) = event.get_mut("relation").and_then(|r| r.as_object_mut()) {
        for key in ["created_at", "created_at_iso", "seq"] {
            relation.remove(key);
        }
    }
    event
}

#[test]
fn a_consolidation_over_the_same_log_with_the_same_clock_appends_the_same_events() {
    let data = DataDir::new();
    let now = chrono::DateTime::parse_from_rfc3339("2026-06-01T12:00:00Z").expect("a moment").timestamp() as f64;
    let day = 86_400.0;
    let mut lines = Vec::new();
    let topics = [
        ("The nightly backup job of the billing database failed because the disk was full.", "ops"),
        ("The billing database backup failed again overnight: the backup disk ran out of space.", "ops"),
        ("Backups of the billing database fail whenever the backup disk fills up.", "ops"),
        ("We added an alert when the billing backup disk is 80 percent full.", "ops"),
        ("The billing database's nightly backup now deletes old dumps before it runs.", "ops"),
        ("Grandma's lentil soup needs cumin, garlic and a bay leaf.", "food"),
        ("Remember to water the tomatoes on the balcony.", "home"),
        ("Lorem ipsum test", "misc"),
    ];
    for (i, (content, tag)) in topics.iter().enumerate() {
        let at = now - (20.0 + i as f64) * day;
        let memory_type = if *tag == "home" { "temporary" } else { "note" };
        lines.push(
            serde_json::json!({ "content": content, "tags": [tag], "memory_type": memory_type, "created_at": at, "updated_at": at })
                .to_string(),
        );
    }
    let notes = data.path().join("notes.jsonl");
    std::fs::write(&notes, lines.join("\n")).expect("write the notes");
    data.ok(&["import", notes.to_str().expect("a path")]);
    let twin = DataDir::new();
    copy_dir(data.path(), twin.path());

    let run = ["consolidate", "--horizon", "monthly", "--now", "2026-06-01T12:00:00Z", "--json"];
    let (first, second) = (data.ok(&run), twin.ok(&run));
    let actions =
        |report: &str| serde_json::from_str::<serde_json::Value>(report).expect("a JSON report")["actions"].clone();
    assert_eq!(actions(&first), actions(&second), "the same actions");
    let report: serde_json::Value = serde_json::from_str(&first).expect("a JSON report");
    assert_eq!(report["clusters_created"], 1, "{report}");
    assert!(report["memories_archived"].as_u64().is_some_and(|n| n >= 2), "the expired and the throwaway: {report}");
    let events = |dir: &DataDir| -> Vec<serde_json::Value> {
        dir.ok(&["log", "--from", "9"]).lines().filter(|l| !l.trim().is_empty()).map(comparable).collect()
    };
    let (mine, theirs) = (events(&data), events(&twin));
    assert!(mine.len() as u64 == report["events_appended"].as_u64().expect("a count"), "{}", mine.len());
    assert_eq!(mine, theirs, "two runs over the same log with the same clock append the same events");
}
