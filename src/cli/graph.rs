//! `relate`, `graph` and `consolidate`: the memory graph and consolidation from the command line.

use super::args::{GraphWalk, RelateArgs};
use super::memory::actor;
use crate::service::{RelateRequest, Service, count};
use anyhow::bail;
use mms_projections::Direction;
use std::io::Write;

fn direction(name: &str) -> anyhow::Result<Direction> {
    Ok(match name {
        "both" => Direction::Both,
        "outgoing" => Direction::Outgoing,
        "incoming" => Direction::Incoming,
        other => bail!("--direction must be both, outgoing or incoming, not {other:?}"),
    })
}

fn types(list: &Option<String>) -> Vec<String> {
    list.as_deref().unwrap_or_default().split(',').map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect()
}

/// `relate SOURCE TARGET`: makes (or with --remove removes) a relation.
pub(super) async fn relate(service: &Service, args: RelateArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    if args.remove {
        let removed = service.unrelate(&args.source, &args.target, args.relation_type.as_deref(), actor()).await?;
        writeln!(out, "removed {}", count(removed.len() as u64, "relation", "relations"))?;
        for edge in removed {
            writeln!(out, "  {} {} {}", edge.source, edge.relationship_type, edge.target)?;
        }
        return Ok(());
    }
    let request = RelateRequest {
        source: args.source,
        target: args.target,
        relation_type: args.relation_type,
        strength: args.similarity,
        reason: args.reason,
    };
    let related = service.relate(request, actor()).await?;
    let edge = &related.edge;
    let what = if related.created { "related" } else { "already related" };
    writeln!(out, "{what}: {} {} {}", edge.source, edge.relationship_type, edge.target)?;
    Ok(())
}

/// `graph ...`: relations, neighbours, a path or a subgraph.
pub(super) async fn walk(service: &Service, walk: GraphWalk, out: &mut dyn Write) -> anyhow::Result<()> {
    match walk {
        GraphWalk::Relations { hash } => {
            for edge in service.relations(&hash).await? {
                let reason = edge.reason.as_deref().map(|r| format!("  ({r})")).unwrap_or_default();
                writeln!(
                    out,
                    "{} {} {}  similarity {:.3}  by {}{reason}",
                    edge.source, edge.relationship_type, edge.target, edge.similarity, edge.created_by
                )?;
            }
        }
        GraphWalk::Connected { hash, max_hops, types: list, direction: d } => {
            for reached in service.connected(&hash, max_hops, &types(&list), direction(&d)?).await? {
                writeln!(out, "{}  {}", reached.distance, reached.hash)?;
            }
        }
        GraphWalk::Path { from, to, max_depth, types: list, direction: d } => {
            match service.path(&from, &to, max_depth, &types(&list), direction(&d)?).await? {
                Some(path) => writeln!(out, "{}", path.join(" -> "))?,
                None => bail!("no path from {from} to {to} within {max_depth} relations"),
            }
        }
        GraphWalk::Subgraph { hash, radius, types: list } => {
            let sub = service.subgraph(&hash, radius, &types(&list)).await?;
            writeln!(out, "{}", serde_json::to_string_pretty(&sub)?)?;
        }
    }
    Ok(())
}

/// What `consolidate` was asked.
pub(super) struct Consolidation {
    pub horizon: String,
    pub dry_run: bool,
    pub recommend: bool,
    pub json: bool,
    /// The moment to run as (RFC 3339), instead of now.
    pub now: Option<String>,
}

/// `consolidate`: one run now (or a preview, or only the recommendation), printed with why each action was
/// taken.
pub(super) async fn consolidate(
    store: &crate::store::Store,
    run: Consolidation,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let Consolidation { horizon, dry_run, recommend, json, now } = run;
    let Some(horizon) = crate::consolidation::Horizon::parse(&horizon) else {
        bail!("--horizon must be daily, weekly, monthly, quarterly or yearly");
    };
    let now = match now {
        Some(moment) => {
            let at = chrono::DateTime::parse_from_rfc3339(&moment)
                .map_err(|e| anyhow::anyhow!("--now {moment:?} is not an RFC 3339 moment: {e}"))?;
            crate::service::epoch_seconds(at)
        }
        None => crate::service::now_seconds(),
    };
    let service = &store.service;
    if recommend {
        let recommendation = service.consolidation_recommendation(horizon, now).await?;
        writeln!(out, "{}", serde_json::to_string_pretty(&recommendation)?)?;
        return Ok(());
    }
    let settings = &store.settings.options.consolidation;
    let report = service.consolidate(horizon, settings, now, dry_run, actor()).await?;
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
        return Ok(());
    }
    let verb = if dry_run { "would be" } else { "were" };
    writeln!(
        out,
        "{} consolidation{}: {} looked at; {} {verb} associated, {} {verb} created ({} memories), {} {verb} archived ({:.2} s)",
        report.time_horizon,
        if dry_run { " (dry run, nothing changed)" } else { "" },
        count(report.memories_processed as u64, "memory", "memories"),
        count(report.associations_discovered as u64, "pair", "pairs"),
        count(report.clusters_created as u64, "summary", "summaries"),
        report.memories_compressed,
        count(report.memories_archived as u64, "memory", "memories"),
        report.duration_seconds
    )?;
    for action in &report.actions {
        writeln!(out, "  {} {}: {}", action.action, action.memories.join(" "), action.reason)?;
    }
    if report.actions_total > report.actions.len() {
        writeln!(out, "  … and {} more (--json for the report)", report.actions_total - report.actions.len())?;
    }
    for error in &report.errors {
        writeln!(out, "  not applied: {error}")?;
    }
    Ok(())
}
