//! A consolidation run: reads the live memories, their vectors and the graph, runs the pure algorithms of
//! `crate::consolidation` and appends what they decide as ordinary events: `related` edges for associations
//! (their reasons in the edge), a summary memory per cluster with `related` edges to its members, and
//! `archived` for what is forgotten (each with the rules that chose it). A dry run appends nothing and
//! reports the same actions. The same store, settings and clock give the same actions: memories are taken
//! in creation order, pairs are sampled with a seed taken from the log's position, and clusters are named by
//! their members.

use super::{Service, ServiceError};
use crate::consolidation::clustering::{self, Neighbours};
use crate::consolidation::{Horizon, Note, Settings, associations, compression, decay, forgetting};
use mms_log::{Actor, ContentHash, EventId, EventKind, Expect, MemoryRecord, NewEvent, Relation, Timestamp};
use mms_projections::{AnnIndex, Filter, iso_utc};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// The type of the summary memories a run writes (the original's).
pub const SUMMARY_TYPE: &str = "compressed_cluster";
/// Neighbours read per memory for clustering and duplicates.
const NEIGHBOURS: usize = 24;
/// Events per append (the groups of one append commit together).
const BATCH: usize = 1024;
/// Actions listed in a report (the counts cover all).
const LISTED: usize = 200;

/// What one action of a run is and why.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Action {
    /// `associate`, `summarise` or `archive`.
    pub action: &'static str,
    /// The memories it concerns (an association's pair, a cluster's members, the archived memory).
    pub memories: Vec<String>,
    /// The summary memory written for a cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary_hash: Option<String>,
    /// Why, in words: the similarity and reasons, the cluster's coherence and themes, the rules and scores.
    pub reason: String,
}

/// What a run did (or, dry, would do), as the original's `ConsolidationReport` plus the actions.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ConsolidationReport {
    pub time_horizon: &'static str,
    pub dry_run: bool,
    pub start_time: String,
    pub end_time: String,
    pub duration_seconds: f64,
    pub memories_processed: usize,
    pub associations_discovered: usize,
    pub clusters_created: usize,
    pub memories_compressed: usize,
    pub memories_archived: usize,
    /// Actions that could not be applied (a memory changed meanwhile), one line each.
    pub errors: Vec<String>,
    /// The first actions (200 at most), in the order applied.
    pub actions: Vec<Action>,
    pub actions_total: usize,
    /// Events appended (0 on a dry run).
    pub events_appended: usize,
}

/// What the read side of a run decided: plain data, applied afterwards.
struct Plan {
    processed: usize,
    associations: Vec<(usize, usize, f64, String)>,
    summaries: Vec<(compression::Summary, clustering::Cluster)>,
    archives: Vec<(usize, String)>,
    notes: Vec<Note>,
    versions: Vec<u32>,
}

impl Service {
    /// Runs consolidation over `horizon` at `now` (seconds since the epoch): see the module's comment.
    pub async fn consolidate(
        &self,
        horizon: Horizon,
        settings: &Settings,
        now: f64,
        dry_run: bool,
        actor: Actor,
    ) -> Result<ConsolidationReport, ServiceError> {
        let started = std::time::Instant::now();
        let start_time = iso_utc((now * 1e6) as i64);
        let plan = {
            let settings = settings.clone();
            self.blocking(move |inner| plan(inner, &settings, horizon, now)).await?
        };
        let planned = started.elapsed().as_secs_f64();
        let mut report = ConsolidationReport {
            time_horizon: horizon.name(),
            dry_run,
            start_time,
            end_time: String::new(),
            duration_seconds: 0.0,
            memories_processed: plan.processed,
            associations_discovered: plan.associations.len(),
            clusters_created: plan.summaries.len(),
            memories_compressed: plan.summaries.iter().map(|(_, c)| c.members.len()).sum(),
            memories_archived: plan.archives.len(),
            errors: Vec::new(),
            actions: Vec::new(),
            actions_total: 0,
            events_appended: 0,
        };
        let mut actions = Vec::new();
        for (a, b, _, reason) in &plan.associations {
            let memories = vec![plan.notes[*a].hash.clone(), plan.notes[*b].hash.clone()];
            actions.push(Action { action: "associate", memories, summary_hash: None, reason: reason.clone() });
        }
        for (summary, cluster) in &plan.summaries {
            let memories = cluster.members.iter().map(|m| plan.notes[*m].hash.clone()).collect();
            let reason = format!(
                "{} memories within cosine distance {:.3} of each other (DBSCAN), coherence {:.3}, themes: {}",
                cluster.members.len(),
                clustering::eps(plan.processed),
                cluster.coherence,
                cluster.theme_keywords.join(", ")
            );
            let summary_hash = Some(ContentHash::of_content(&summary.content).to_hex());
            actions.push(Action { action: "summarise", memories, summary_hash, reason });
        }
        for (i, reason) in &plan.archives {
            actions.push(Action {
                action: "archive",
                memories: vec![plan.notes[*i].hash.clone()],
                summary_hash: None,
                reason: reason.clone(),
            });
        }
        if !dry_run {
            report.events_appended = self.apply(&plan, horizon, now, &actor, &mut report.errors).await?;
        }
        report.actions_total = actions.len();
        actions.truncate(LISTED);
        report.actions = actions;
        report.duration_seconds = started.elapsed().as_secs_f64();
        tracing::info!(
            horizon = horizon.name(),
            dry_run,
            planned_seconds = planned,
            seconds = report.duration_seconds,
            events = report.events_appended,
            "consolidation run"
        );
        report.end_time = iso_utc(((now + report.duration_seconds) * 1e6) as i64);
        Ok(report)
    }

    /// Appends a plan: archives, summaries (each with its edges, in one append), associations. A batch a
    /// change made meanwhile refuses is applied event by event, and what still fails is reported.
    async fn apply(
        &self,
        plan: &Plan,
        horizon: Horizon,
        now: f64,
        actor: &Actor,
        errors: &mut Vec<String>,
    ) -> Result<usize, ServiceError> {
        let new = |memory: ContentHash, kind: EventKind, expect: Expect| NewEvent {
            event_id: EventId::generate(),
            actor: actor.clone(),
            memory,
            kind,
            expect,
        };
        let at = Timestamp((now * 1e6) as i64);
        let mut appended = 0;
        // Archives first, at the versions the plan read (the edges below would move them on).
        let mut archives: Vec<Vec<NewEvent>> = Vec::new();
        for (i, reason) in &plan.archives {
            let memory = super::parse_hash(&plan.notes[*i].hash)?;
            let kind = EventKind::Archived { reason: Some(reason.clone()) };
            archives.push(vec![new(memory, kind, Expect::Version(plan.versions[*i]))]);
        }
        appended += self.append_each(archives, Vec::new(), errors).await?;
        let (mut summaries, mut vectors) = (Vec::new(), Vec::new());
        for (summary, cluster) in &plan.summaries {
            let hash = ContentHash::of_content(&summary.content);
            if self.inner.log.head(&hash)?.is_some_and(|h| h.live) {
                continue;
            }
            let members: Vec<String> = cluster.members.iter().map(|m| plan.notes[*m].hash.clone()).collect();
            let metadata = json!({
                "source_memory_hashes": members,
                "cluster_id": cluster.id,
                "source_memory_count": members.len(),
                "compression_ratio": summary.compression_ratio,
                "key_concepts": summary.key_concepts,
                "theme_keywords": cluster.theme_keywords,
                "coherence_score": cluster.coherence,
                "temporal_span": {
                    "start_time": summary.span.start,
                    "end_time": summary.span.end,
                    "span_days": summary.span.span_days,
                    "span_description": summary.span.description,
                },
                "consolidation": horizon.name(),
                "compression_version": "1.0",
            });
            let record = MemoryRecord {
                content: summary.content.clone(),
                tags: summary.tags.clone(),
                memory_type: Some(SUMMARY_TYPE.into()),
                metadata: metadata.to_string(),
                created_at: at,
                updated_at: at,
            };
            // The summary's vector is its cluster's centroid, as the original's: it is found by what its
            // members mean, and a run does not wait for the model.
            let norm = cluster.centroid.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
            let vector = cluster.centroid.iter().map(|x| x / norm).collect();
            vectors.push(mms_log::VectorEntry { model: crate::embed::MODEL_NAME.into(), memory: hash, vector });
            let mut events = vec![new(hash, EventKind::Stored(record), Expect::Any)];
            let reason =
                format!("summary of {} ({} memories, coherence {:.3})", cluster.id, members.len(), cluster.coherence);
            for member in &members {
                let target: ContentHash = super::parse_hash(member)?;
                let relation = Relation {
                    target,
                    relation_type: "related".into(),
                    strength: cluster.coherence.clamp(0.0, 1.0),
                    reason: Some(reason.clone()),
                };
                events.push(new(hash, EventKind::Related(relation), Expect::Any));
            }
            summaries.push(events);
        }
        appended += self.append_each(summaries, vectors, errors).await?;
        let mut associations: Vec<Vec<NewEvent>> = Vec::new();
        for (a, b, similarity, reason) in &plan.associations {
            let relation = Relation {
                target: super::parse_hash(&plan.notes[*b].hash)?,
                relation_type: "related".into(),
                strength: similarity.clamp(0.0, 1.0),
                reason: Some(reason.clone()),
            };
            let source = super::parse_hash(&plan.notes[*a].hash)?;
            associations.push(vec![new(source, EventKind::Related(relation), Expect::Any)]);
        }
        appended += self.append_each(associations, Vec::new(), errors).await?;
        Ok(appended)
    }

    /// Appends groups of events (each group all or nothing), many groups per append; when a batch is
    /// refused, its groups are appended one by one and the refused ones reported.
    async fn append_each(
        &self,
        groups: Vec<Vec<NewEvent>>,
        vectors: Vec<mms_log::VectorEntry>,
        errors: &mut Vec<String>,
    ) -> Result<usize, ServiceError> {
        let mut appended = 0;
        let mut vectors = Some(vectors);
        let mut batches: Vec<Vec<Vec<NewEvent>>> = Vec::new();
        for group in groups {
            match batches.last_mut() {
                Some(batch) if batch.iter().map(Vec::len).sum::<usize>() + group.len() <= BATCH => batch.push(group),
                _ => batches.push(vec![group]),
            }
        }
        for batch in batches {
            let events: Vec<NewEvent> = batch.iter().flatten().cloned().collect();
            match self.append(events, vectors.take().unwrap_or_default()).await {
                Ok(done) => {
                    appended += done.len();
                    self.settle(&done).await?;
                }
                Err(ServiceError::Conflict(_) | ServiceError::NotFound(_) | ServiceError::Invalid(_)) => {
                    for group in batch {
                        let memory = group[0].memory;
                        match self.append(group, Vec::new()).await {
                            Ok(done) => {
                                appended += done.len();
                                self.settle(&done).await?;
                            }
                            Err(
                                error @ (ServiceError::Conflict(_)
                                | ServiceError::NotFound(_)
                                | ServiceError::Invalid(_)),
                            ) => errors.push(format!("{memory}: {error}")),
                            Err(error) => return Err(error),
                        }
                    }
                }
                Err(error) => return Err(error),
            }
        }
        Ok(appended)
    }
}

/// The live memories a run over `horizon` at `now` looks at, oldest first (then by hash). Blocking.
fn selected(inner: &super::Inner, horizon: Horizon, now: f64) -> Result<Vec<mms_projections::MemoryRow>, ServiceError> {
    let (rows, _) = inner.reader.list(&Filter::default(), 0, usize::MAX / 2)?;
    let mut rows: Vec<_> = rows.into_iter().filter(|r| horizon.selects(r.created_at, now)).collect();
    rows.sort_by(|a, b| a.created_at.total_cmp(&b.created_at).then_with(|| a.content_hash.cmp(&b.content_hash)));
    Ok(rows)
}

/// The read side of a run: what to link, summarise and archive. Blocking.
fn plan(inner: &super::Inner, settings: &Settings, horizon: Horizon, now: f64) -> Result<Plan, ServiceError> {
    let phases = horizon.phases();
    let rows = selected(inner, horizon, now)?;
    let seed = inner.reader.checkpoint()?.0 ^ ((horizon as u64) << 56);
    let versions: Vec<u32> = rows.iter().map(|r| r.version).collect();
    let notes: Vec<Note> = rows
        .into_iter()
        .map(|r| Note {
            metadata: serde_json::from_str::<Map<String, Value>>(&r.metadata).unwrap_or_default(),
            hash: r.content_hash,
            content: r.content,
            tags: r.tags,
            memory_type: r.memory_type,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
        .collect();
    let (linked, degrees) = inner.reader.linked_pairs()?;
    let relevance: Vec<decay::Relevance> = notes
        .iter()
        .map(|n| decay::relevance(n, degrees.get(&n.hash).copied().unwrap_or(0), None, now, &settings.retention))
        .collect();
    // The memories that take part by meaning: those with a vector, summaries aside (a summary is not
    // clustered or linked again).
    let mut by_hash: HashMap<String, Vec<f32>> = if phases.clustering || phases.associations || phases.forgetting {
        inner.reader.all_vectors()?.into_iter().collect()
    } else {
        HashMap::new()
    };
    let mut meaning: Vec<usize> = Vec::new();
    let mut vectors: Vec<Vec<f32>> = Vec::new();
    for (i, note) in notes.iter().enumerate() {
        if note.memory_type.as_deref() == Some(SUMMARY_TYPE) {
            continue;
        }
        if let Some(vector) = by_hash.remove(&note.hash) {
            meaning.push(i);
            vectors.push(vector);
        }
    }
    drop(by_hash);
    let refs: Vec<&[f32]> = vectors.iter().map(Vec::as_slice).collect();
    let need_neighbours = (phases.clustering && settings.clustering_min_size.is_some())
        || (phases.forgetting && settings.forgetting.is_some());
    let neighbours: Neighbours = if !need_neighbours {
        Vec::new()
    } else if meaning.len() <= clustering::EXACT_UP_TO {
        clustering::exact_neighbours(&refs, NEIGHBOURS)
    } else {
        let position: HashMap<&str, usize> =
            meaning.iter().enumerate().map(|(k, i)| (notes[*i].hash.as_str(), k)).collect();
        let mut all = Vec::with_capacity(refs.len());
        for (k, vector) in refs.iter().enumerate() {
            let found = inner
                .ann
                .search(vector, AnnIndex::candidates(NEIGHBOURS))
                .map_err(|e| ServiceError::internal_while("searching the ANN index", e))?;
            // The index only ranks: each neighbour's distance is measured from its vector.
            let mut near: Vec<(usize, f32)> = found
                .into_iter()
                .filter_map(|h| position.get(h.to_hex().as_str()).map(|j| (*j, clustering::distance(vector, refs[*j]))))
                .collect();
            if !near.iter().any(|(j, _)| *j == k) {
                near.push((k, 0.0));
            }
            near.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            near.truncate(NEIGHBOURS);
            all.push(near);
        }
        all
    };

    let mut archives = Vec::new();
    if phases.forgetting
        && let Some(rules) = &settings.forgetting
    {
        let mut near: Vec<Vec<usize>> = vec![Vec::new(); notes.len()];
        for (k, list) in neighbours.iter().enumerate() {
            near[meaning[k]] = list.iter().filter(|(j, _)| *j != k).map(|(j, _)| meaning[*j]).collect();
        }
        let last_access: Vec<f64> = notes.iter().map(|n| n.updated_at).collect();
        for candidate in forgetting::candidates(&notes, &relevance, &last_access, now, rules, horizon, &near) {
            // The original archives priorities 1 and 2 and only compresses priority 3 (old and unused,
            // nothing else): here those are left as they are.
            if candidate.priority > 2 {
                continue;
            }
            let i = candidate.index;
            let reason =
                format!("consolidation ({}): {}; {}", horizon.name(), candidate.explain(), relevance[i].explain());
            archives.push((i, reason));
        }
    }
    let archiving: std::collections::HashSet<usize> = archives.iter().map(|(i, _)| *i).collect();
    let mut associations = Vec::new();
    if phases.associations
        && let Some(band) = &settings.associations
    {
        for (x, y) in associations::pairs(meaning.len(), band.max_pairs, seed) {
            let (a, b) = (meaning[x], meaning[y]);
            let key = if notes[a].hash <= notes[b].hash {
                (notes[a].hash.clone(), notes[b].hash.clone())
            } else {
                (notes[b].hash.clone(), notes[a].hash.clone())
            };
            // A pair already linked is not linked again, and nothing is linked to what is being archived.
            if linked.contains(&key) || archiving.contains(&a) || archiving.contains(&b) {
                continue;
            }
            let similarity = associations::similarity(refs[x], refs[y]);
            if let Some(found) = associations::associate(&notes, a, b, similarity, band) {
                associations.push((a, b, similarity, found.explain()));
            }
        }
    }

    let mut summaries = Vec::new();
    if phases.clustering
        && let Some(min_size) = settings.clustering_min_size
    {
        let members: Vec<&Note> = meaning.iter().map(|i| &notes[*i]).collect();
        let found = clustering::clusters(&members, &refs, &neighbours, min_size);
        if phases.compression
            && let Some(max_length) = settings.compression_max_length
        {
            for mut cluster in found {
                cluster.members = cluster.members.iter().map(|k| meaning[*k]).collect();
                let members: Vec<&Note> = cluster.members.iter().map(|i| &notes[*i]).collect();
                let summary = compression::summarise(&members, &cluster.theme_keywords, max_length);
                summaries.push((summary, cluster));
            }
        }
    }

    Ok(Plan { processed: notes.len(), associations, summaries, archives, notes, versions })
}

/// Whether a horizon's run is worth it, as the original's `get_consolidation_recommendations`.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Recommendation {
    pub time_horizon: &'static str,
    /// `consolidation_beneficial` (more than one reason), `optional`, or `no_action` (nothing to look at).
    pub recommendation: &'static str,
    pub reasons: Vec<String>,
    pub memory_count: usize,
    pub memory_types: std::collections::BTreeMap<String, usize>,
    pub total_size_bytes: usize,
    /// Memories created more than 30 days ago, in percent.
    pub old_memory_percentage: f64,
    pub estimated_duration_seconds: f64,
}

impl Service {
    /// What a run over `horizon` at `now` would look at, and whether it is worth it.
    pub async fn consolidation_recommendation(
        &self,
        horizon: Horizon,
        now: f64,
    ) -> Result<Recommendation, ServiceError> {
        let selected = self.blocking(move |inner| selected(inner, horizon, now)).await?;
        let count = selected.len();
        let mut memory_types = std::collections::BTreeMap::new();
        for row in &selected {
            *memory_types.entry(row.memory_type.clone().unwrap_or_else(|| "standard".into())).or_insert(0) += 1;
        }
        let old = selected.iter().filter(|r| r.created_at < now - 30.0 * 86_400.0).count();
        let old_memory_percentage = if count == 0 { 0.0 } else { old as f64 * 100.0 / count as f64 };
        let mut reasons = Vec::new();
        if count > 1000 {
            reasons.push("Consider running compression to reduce memory usage".to_string());
        }
        if old_memory_percentage > 50.0 {
            reasons.push("Many old memories present - consider forgetting/archival".to_string());
        }
        if count > 100 && matches!(horizon, Horizon::Weekly | Horizon::Monthly) {
            reasons.push("Good candidate for association discovery".to_string());
        }
        let recommendation = match (count, reasons.len()) {
            (0, _) => "no_action",
            (_, n) if n > 1 => "consolidation_beneficial",
            _ => "optional",
        };
        if count == 0 {
            reasons.push("No memories to process".to_string());
        } else if reasons.is_empty() {
            reasons.push("Memory state looks healthy".to_string());
        }
        Ok(Recommendation {
            time_horizon: horizon.name(),
            recommendation,
            reasons,
            memory_count: count,
            memory_types,
            total_size_bytes: selected.iter().map(|r| r.content.len()).sum(),
            old_memory_percentage,
            estimated_duration_seconds: 0.01 * count as f64,
        })
    }
}
