//! Clustering memories by meaning: DBSCAN over cosine distance, as the original's default (v8.9
//! `SemanticClusteringEngine`, sklearn `DBSCAN(metric="cosine")`), with its `eps` and `min_samples`, its
//! minimum cluster size, centroid, coherence and theme keywords.
//!
//! The original computes every pairwise distance; here a point's region is read from its nearest
//! neighbours (exact below [`EXACT_UP_TO`] memories, the ANN index above), which is the same DBSCAN
//! whenever a region has fewer members than the neighbours asked for. Points are visited in the order
//! given and regions in distance order, so the same input gives the same clusters.

use super::note::Note;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::LazyLock;

/// Up to this many memories, neighbours are found by comparing every pair (exact and deterministic).
pub const EXACT_UP_TO: usize = 2048;

/// A point's neighbours: (index, cosine distance), nearest first, itself included at distance 0.
pub type Neighbours = Vec<Vec<(usize, f32)>>;

/// One cluster of memories that mean much the same.
#[derive(Clone, Debug, PartialEq)]
pub struct Cluster {
    /// A stable id: a digest of the members' hashes, so the same members always name the same cluster.
    pub id: String,
    /// Indices into the notes, ascending.
    pub members: Vec<usize>,
    pub centroid: Vec<f32>,
    /// The mean cosine similarity of the members to the centroid.
    pub coherence: f64,
    pub theme_keywords: Vec<String>,
}

/// The original's `eps` for `n` memories: 0.5 shrinking by 0.1 per 10,000 memories, within [0.2, 0.7].
pub fn eps(n: usize) -> f64 {
    (0.5 - (n as f64 / 10_000.0) * 0.1).clamp(0.2, 0.7)
}

/// The original's `min_samples` for a minimum cluster size (a point counts itself).
pub fn min_samples(min_cluster_size: usize) -> usize {
    (min_cluster_size / 2).max(2)
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 { 0.0 } else { dot / (na.sqrt() * nb.sqrt()) }
}

/// The cosine distance the neighbour lists hold (1 - cosine similarity).
pub fn distance(a: &[f32], b: &[f32]) -> f32 {
    (1.0 - cosine(a, b)) as f32
}

/// Each point's `k` nearest neighbours by comparing every pair (for small stores and tests).
pub fn exact_neighbours(vectors: &[&[f32]], k: usize) -> Neighbours {
    (0..vectors.len())
        .map(|i| {
            let mut near: Vec<(usize, f32)> =
                (0..vectors.len()).map(|j| (j, distance(vectors[i], vectors[j]))).collect();
            near.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            near.truncate(k);
            near
        })
        .collect()
}

/// DBSCAN labels (-1 noise, else the cluster number in order of discovery) from each point's neighbours.
pub fn dbscan(neighbours: &Neighbours, eps: f64, min_samples: usize) -> Vec<i64> {
    const UNSEEN: i64 = -2;
    let region = |i: usize| -> Vec<usize> {
        let mut region: Vec<usize> =
            neighbours[i].iter().filter(|(_, d)| f64::from(*d) <= eps + 1e-9).map(|(j, _)| *j).collect();
        if !region.contains(&i) {
            region.push(i);
        }
        region
    };
    let mut labels = vec![UNSEEN; neighbours.len()];
    let mut next = 0;
    for start in 0..neighbours.len() {
        if labels[start] != UNSEEN {
            continue;
        }
        let seeds = region(start);
        if seeds.len() < min_samples {
            labels[start] = -1;
            continue;
        }
        labels[start] = next;
        let mut queue: VecDeque<usize> = seeds.into_iter().filter(|j| *j != start).collect();
        while let Some(q) = queue.pop_front() {
            match labels[q] {
                // Noise reached from a core point is a border point of this cluster.
                -1 => labels[q] = next,
                UNSEEN => {
                    labels[q] = next;
                    let reach = region(q);
                    if reach.len() >= min_samples {
                        queue.extend(reach.into_iter().filter(|j| labels[*j] == UNSEEN || labels[*j] == -1));
                    }
                }
                _ => {}
            }
        }
        next += 1;
    }
    labels
}

/// The clusters of at least `min_cluster_size` memories, with their centroids, coherence and themes.
/// `vectors` and `neighbours` are parallel to `notes`; fewer notes than the minimum make no cluster.
pub fn clusters(notes: &[&Note], vectors: &[&[f32]], neighbours: &Neighbours, min_cluster_size: usize) -> Vec<Cluster> {
    if notes.len() < min_cluster_size {
        return Vec::new();
    }
    let labels = dbscan(neighbours, eps(notes.len()), min_samples(min_cluster_size));
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, label) in labels.iter().enumerate() {
        if *label >= 0 {
            let label = *label as usize;
            if groups.len() <= label {
                groups.resize(label + 1, Vec::new());
            }
            groups[label].push(i);
        }
    }
    groups
        .into_iter()
        .filter(|members| members.len() >= min_cluster_size)
        .map(|members| {
            let dimensions = vectors[members[0]].len();
            let mut centroid = vec![0.0f32; dimensions];
            for m in &members {
                centroid.iter_mut().zip(vectors[*m]).for_each(|(c, x)| *c += x);
            }
            centroid.iter_mut().for_each(|c| *c /= members.len() as f32);
            let coherence = members.iter().map(|m| cosine(vectors[*m], &centroid)).sum::<f64>() / members.len() as f64;
            let member_notes: Vec<&Note> = members.iter().map(|m| notes[*m]).collect();
            let mut digest = Sha256::new();
            let mut hashes: Vec<&str> = member_notes.iter().map(|n| n.hash.as_str()).collect();
            hashes.sort_unstable();
            hashes.iter().for_each(|h| digest.update(h.as_bytes()));
            Cluster {
                id: format!("cluster-{}", &hex::encode(digest.finalize())[..16]),
                theme_keywords: theme_keywords(&member_notes),
                members,
                centroid,
                coherence,
            }
        })
        .collect()
}

/// Words too common to name a theme (the original's list).
const STOP_WORDS: [&str; 52] = [
    "this", "that", "with", "have", "will", "from", "they", "know", "want", "been", "good", "much", "some", "time",
    "very", "when", "come", "here", "just", "like", "long", "make", "many", "over", "such", "take", "than", "them",
    "well", "were", "what", "work", "your", "could", "should", "would", "there", "their", "these", "about", "after",
    "again", "before", "being", "between", "during", "under", "where", "while", "other", "through", "against",
];

static WORD: LazyLock<regex::Regex> = LazyLock::new(|| regex::Regex::new(r"\b[a-zA-Z]{4,}\b").expect("a valid regex"));

/// Counts in first-seen order, most frequent first (a stable sort, as Python's `Counter.most_common`).
fn most_common<'a>(items: impl Iterator<Item = &'a str>) -> Vec<(&'a str, usize)> {
    let mut order: Vec<&str> = Vec::new();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for item in items {
        let count = counts.entry(item).or_insert(0);
        if *count == 0 {
            order.push(item);
        }
        *count += 1;
    }
    let mut counted: Vec<(&str, usize)> = order.into_iter().map(|i| (i, counts[i])).collect();
    counted.sort_by_key(|c| std::cmp::Reverse(c.1));
    counted
}

/// The original's theme keywords: tags on more than one member (of the five most used), then content
/// words of four letters or more used more than once (the ten most used, minus stop words), ten at most.
pub fn theme_keywords(members: &[&Note]) -> Vec<String> {
    let mut keywords: Vec<String> = most_common(members.iter().flat_map(|n| n.tags.iter().map(String::as_str)))
        .into_iter()
        .take(5)
        .filter(|(_, count)| *count > 1)
        .map(|(tag, _)| tag.to_string())
        .collect();
    let text = members.iter().map(|n| n.content.as_str()).collect::<Vec<_>>().join(" ").to_lowercase();
    let words = most_common(WORD.find_iter(&text).map(|m| m.as_str()));
    let frequent = words.into_iter().filter(|(w, count)| *count > 1 && !STOP_WORDS.contains(w)).take(10);
    for (word, _) in frequent {
        if !keywords.iter().any(|k| k == word) {
            keywords.push(word.to_string());
        }
    }
    keywords.truncate(10);
    keywords
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn fixture() -> Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/consolidation/behaviour.json");
        serde_json::from_str(&std::fs::read_to_string(path).expect("the fixture")).expect("JSON")
    }

    fn floats(value: &Value) -> Vec<Vec<f32>> {
        let rows = value.as_array().expect("rows");
        rows.iter()
            .map(|r| r.as_array().expect("a row").iter().map(|x| x.as_f64().expect("a number") as f32).collect())
            .collect()
    }

    fn note(i: usize, content: &str, tags: Vec<String>) -> Note {
        Note {
            hash: format!("{i:064x}"),
            content: content.into(),
            tags,
            memory_type: None,
            metadata: Default::default(),
            created_at: 1.0,
            updated_at: 1.0,
        }
    }

    #[test]
    fn dbscan_clusters_the_recorded_sets_as_the_original() {
        let clustering = fixture()["clustering"].clone();
        let group_notes: Vec<Note> = clustering["contents"]
            .as_array()
            .expect("contents")
            .iter()
            .zip(clustering["tags"].as_array().expect("tags"))
            .enumerate()
            .map(|(i, (c, t))| {
                let tags = t.as_array().expect("tags").iter().map(|t| t.as_str().expect("a tag").to_string()).collect();
                note(i, c.as_str().expect("content"), tags)
            })
            .collect();
        let (groups, arc) = (floats(&clustering["vectors"]), floats(&clustering["arc_vectors"]));
        let mut checked = 0;
        for run in clustering["runs"].as_array().expect("runs") {
            if run["algorithm"] != "dbscan" {
                continue;
            }
            let n = run["n_memories"].as_u64().expect("n") as usize;
            let is_arc = run["vectors_note"].as_str().is_some_and(|v| v.contains("arc"));
            let vectors: Vec<&[f32]> = if is_arc { &arc } else { &groups }.iter().take(n).map(Vec::as_slice).collect();
            let notes: Vec<Note> = if is_arc {
                (0..n).map(|i| note(i, &format!("point {i}"), Vec::new())).collect()
            } else {
                group_notes[..n].to_vec()
            };
            let min_size = run["min_cluster_size"].as_u64().expect("min size") as usize;
            let neighbours = exact_neighbours(&vectors, n);
            assert!((eps(n) - run["params"]["eps_formula_value"].as_f64().expect("eps")).abs() < 1e-9);
            assert_eq!(min_samples(min_size) as u64, run["params"]["min_samples"].as_u64().expect("min_samples"));
            let raw: Vec<i64> =
                run["raw_labels"].as_array().expect("labels").iter().map(|l| l.as_i64().expect("a label")).collect();
            assert_eq!(dbscan(&neighbours, eps(n), min_samples(min_size)), raw, "{}", run["label"]);
            let refs: Vec<&Note> = notes.iter().collect();
            let found = clusters(&refs, &vectors, &neighbours, min_size);
            let expected = run["clusters"].as_array().expect("clusters");
            assert_eq!(found.len(), expected.len(), "{}", run["label"]);
            for (cluster, recorded) in found.iter().zip(expected) {
                let members: Vec<usize> = recorded["members"]
                    .as_array()
                    .expect("members")
                    .iter()
                    .map(|m| m.as_u64().expect("a member") as usize)
                    .collect();
                assert_eq!(cluster.members, members, "{}", run["label"]);
                let coherence = recorded["coherence_score"].as_f64().expect("coherence");
                assert!((cluster.coherence - coherence).abs() < 1e-5, "{} vs {coherence}", cluster.coherence);
                if !is_arc {
                    let themes: Vec<String> =
                        serde_json::from_value(recorded["theme_keywords"].clone()).expect("themes");
                    assert_eq!(cluster.theme_keywords, themes, "{}", run["label"]);
                }
            }
            checked += 1;
        }
        assert_eq!(checked, 4, "every recorded DBSCAN run");
    }

    #[test]
    fn a_cluster_is_named_by_its_members_whatever_their_order() {
        let notes = [note(1, "a", vec![]), note(2, "b", vec![])];
        let vectors: Vec<&[f32]> = vec![&[1.0, 0.0], &[0.99, 0.1]];
        let neighbours = exact_neighbours(&vectors, 2);
        let forward = clusters(&[&notes[0], &notes[1]], &vectors, &neighbours, 2);
        let backward = clusters(
            &[&notes[1], &notes[0]],
            &[vectors[1], vectors[0]],
            &exact_neighbours(&[vectors[1], vectors[0]], 2),
            2,
        );
        assert_eq!(forward.len(), 1);
        assert_eq!(forward[0].id, backward[0].id);
    }
}
