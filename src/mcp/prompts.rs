//! The original's prompts: memory_review, memory_analysis, knowledge_export, memory_cleanup and
//! learning_session. Each fills a user message with the memories it is about (read through the service);
//! learning_session also stores the session's notes as a memory, so over HTTP it needs the write scope (its
//! `Effect` in the table; `access` checks it before the prompt runs). A missing or unreadable argument is a
//! JSON-RPC invalid-params error saying which argument and what it takes.

use super::aliases::{scored, unscored};
use super::resources::{memory_dict, rpc_error};
use super::{McpServer, StoreResult};
use crate::service::time_expr::TimeRange;
use crate::service::{ListRequest, Memory, SearchRequest, StoreRequest};
use rmcp::ErrorData;
use rmcp::model::{GetPromptResult, JsonObject, Prompt, PromptArgument, PromptMessage, Role};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The most memories one prompt carries.
const MAX_MEMORIES: usize = 100;
/// How many memories memory_cleanup compares with their nearest neighbour.
const CLEANUP_COMPARED: usize = 50;

type Args = &'static [(&'static str, &'static str, bool)];

/// What a prompt does besides reading memories; it decides the scope the prompt needs (`access`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Effect {
    /// It only reads.
    Reads,
    /// It also stores a memory.
    Stores,
}

const PROMPTS: &[(&str, &str, Effect, Args)] = &[
    (
        "memory_review",
        "Review and organize memories from a specific time period",
        Effect::Reads,
        &[
            ("time_period", "Time period to review (e.g., 'last week', 'yesterday', '2 days ago')", true),
            ("focus_area", "Optional area to focus on (e.g., 'work', 'personal', 'learning')", false),
        ],
    ),
    (
        "memory_analysis",
        "Analyze patterns and themes in stored memories",
        Effect::Reads,
        &[
            ("tags", "Tags to analyze (comma-separated)", false),
            ("time_range", "Time range to analyze (e.g., 'last month', 'all time')", false),
        ],
    ),
    (
        "knowledge_export",
        "Export memories in a specific format",
        Effect::Reads,
        &[
            ("format", "Export format (json, markdown, text)", true),
            ("filter", "Filter criteria (tags or search query)", false),
        ],
    ),
    (
        "memory_cleanup",
        "Identify and remove duplicate or outdated memories",
        Effect::Reads,
        &[
            ("older_than", "Remove memories older than (e.g., '6 months', '1 year')", false),
            ("similarity_threshold", "Similarity threshold for duplicates (0.0-1.0)", false),
        ],
    ),
    (
        "learning_session",
        "Store structured learning notes from a study session",
        Effect::Stores,
        &[
            ("topic", "Learning topic or subject", true),
            ("key_points", "Key points learned (comma-separated)", true),
            ("questions", "Questions or areas for further study", false),
        ],
    ),
];

/// Every prompt with its arguments.
pub(super) fn list() -> Vec<Prompt> {
    PROMPTS
        .iter()
        .map(|(name, description, _, args)| {
            let arguments = args
                .iter()
                .map(|(arg, about, required)| {
                    PromptArgument::new(*arg).with_description(*about).with_required(*required)
                })
                .collect();
            Prompt::new(*name, Some(*description), Some(arguments))
        })
        .collect()
}

/// Whether the named prompt stores a memory (an unknown one stores nothing).
pub(super) fn stores(name: &str) -> bool {
    PROMPTS.iter().any(|(prompt, _, effect, _)| *prompt == name && *effect == Effect::Stores)
}

fn invalid(message: impl Into<String>) -> ErrorData {
    ErrorData::invalid_params(message.into(), None)
}

/// An argument's text; clients send strings, but a number or list is taken too.
fn optional(args: &JsonObject, name: &str) -> Option<String> {
    let text = match args.get(name)? {
        Value::String(s) => s.clone(),
        Value::Null => return None,
        Value::Array(items) => {
            items.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).collect::<Vec<_>>().join(",")
        }
        other => other.to_string(),
    };
    Some(text).filter(|t| !t.trim().is_empty())
}

fn required(args: &JsonObject, prompt: &str, name: &str) -> Result<String, ErrorData> {
    optional(args, name).ok_or_else(|| {
        let about = PROMPTS
            .iter()
            .find(|(p, ..)| *p == prompt)
            .and_then(|(.., args)| args.iter().find(|(a, ..)| *a == name))
            .map_or("", |(_, about, _)| about);
        invalid(format!("the prompt {prompt} needs the argument `{name}`: {about}"))
    })
}

fn comma_list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

fn message(description: &str, text: String) -> GetPromptResult {
    let mut result = GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)]);
    result.description = Some(description.to_string());
    result
}

fn listing(memories: &[Memory]) -> String {
    if memories.is_empty() { "(no memories)".into() } else { unscored(memories) }
}

impl McpServer {
    /// Builds the named prompt.
    pub(super) async fn prompt(&self, name: &str, args: JsonObject) -> Result<GetPromptResult, ErrorData> {
        match name {
            "memory_review" => self.memory_review(&args).await,
            "memory_analysis" => self.memory_analysis(&args).await,
            "knowledge_export" => self.knowledge_export(&args).await,
            "memory_cleanup" => self.memory_cleanup(&args).await,
            "learning_session" => self.learning_session(&args).await,
            _ => Err(invalid(format!(
                "Unknown prompt: {name}; the prompts are {}",
                PROMPTS.iter().map(|(p, ..)| *p).collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    fn range(&self, argument: &str, phrase: &str) -> Result<TimeRange, ErrorData> {
        self.service.time_range(phrase).map_err(|e| invalid(format!("{argument}: {e}")))
    }

    async fn listed(
        &self,
        tags: Vec<String>,
        created: Option<TimeRange>,
        size: usize,
    ) -> Result<Vec<Memory>, ErrorData> {
        let request = ListRequest { page: 1, page_size: size, tags, match_all: false, memory_type: None, created };
        Ok(self.service.list(request).await.map_err(rpc_error)?.memories)
    }

    async fn memory_review(&self, args: &JsonObject) -> Result<GetPromptResult, ErrorData> {
        let period = required(args, "memory_review", "time_period")?;
        let range = self.range("time_period", &period)?;
        let (focus, body) = match optional(args, "focus_area") {
            Some(area) => {
                let request = SearchRequest {
                    query: area.clone(),
                    limit: MAX_MEMORIES,
                    created: Some(range),
                    ..SearchRequest::default()
                };
                let hits = self.service.search(request).await.map_err(rpc_error)?;
                (format!(", focusing on {area}"), if hits.is_empty() { listing(&[]) } else { scored(&hits) })
            }
            None => (String::new(), listing(&self.listed(Vec::new(), Some(range), MAX_MEMORIES).await?)),
        };
        Ok(message(
            "Review and organize memories from a specific time period",
            format!(
                "Review my memories from {period}{focus}. Summarize the main themes, decisions and open questions, \
                 and suggest better tags, memories to merge, and outdated ones to delete (memory_update, \
                 memory_delete with the content hash).\n\n{body}"
            ),
        ))
    }

    async fn memory_analysis(&self, args: &JsonObject) -> Result<GetPromptResult, ErrorData> {
        let tags = optional(args, "tags").map(|t| comma_list(&t)).unwrap_or_default();
        let time = optional(args, "time_range").filter(|t| t.trim().to_lowercase() != "all time");
        let range = time.as_deref().map(|t| self.range("time_range", t)).transpose()?;
        let memories = self.listed(tags.clone(), range, MAX_MEMORIES).await?;
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for tag in memories.iter().flat_map(|m| &m.tags) {
            *counts.entry(tag).or_default() += 1;
        }
        let counts: Vec<String> = counts.iter().map(|(tag, n)| format!("{tag} ({n})")).collect();
        let scope = match (tags.is_empty(), &time) {
            (true, None) => String::new(),
            (false, None) => format!(" tagged {}", tags.join(", ")),
            (true, Some(t)) => format!(" from {t}"),
            (false, Some(t)) => format!(" tagged {} from {t}", tags.join(", ")),
        };
        Ok(message(
            "Analyze patterns and themes in stored memories",
            format!(
                "Analyze these {} memories{scope}: recurring topics and patterns, how they changed over time, \
                 connections between them, and gaps worth filling.\n\nTags used: {}\n\n{}",
                memories.len(),
                if counts.is_empty() { "none".into() } else { counts.join(", ") },
                listing(&memories)
            ),
        ))
    }

    /// The memories a filter names: as tags when any memory has them, else as a search query.
    async fn filtered(&self, filter: Option<&str>) -> Result<Vec<Memory>, ErrorData> {
        let Some(filter) = filter else { return self.listed(Vec::new(), None, MAX_MEMORIES).await };
        let tagged = self.listed(comma_list(filter), None, MAX_MEMORIES).await?;
        if !tagged.is_empty() {
            return Ok(tagged);
        }
        let request = SearchRequest { query: filter.to_string(), limit: MAX_MEMORIES, ..SearchRequest::default() };
        Ok(self.service.search(request).await.map_err(rpc_error)?.into_iter().map(|h| h.memory).collect())
    }

    async fn knowledge_export(&self, args: &JsonObject) -> Result<GetPromptResult, ErrorData> {
        let format = required(args, "knowledge_export", "format")?.trim().to_lowercase();
        if !["json", "markdown", "text"].contains(&format.as_str()) {
            return Err(invalid(format!("format must be json, markdown or text, got '{format}'")));
        }
        let filter = optional(args, "filter");
        let memories = self.filtered(filter.as_deref()).await?;
        let rendered = match format.as_str() {
            "json" => serde_json::to_string_pretty(&memories.iter().map(memory_dict).collect::<Vec<_>>())
                .map_err(|e| ErrorData::internal_error(e.to_string(), None))?,
            "markdown" => markdown(&memories),
            _ => listing(&memories),
        };
        let scope = filter.map(|f| format!(" matching '{f}'")).unwrap_or_default();
        Ok(message(
            "Export memories in a specific format",
            format!("Here are {} memories{scope}, exported as {format}:\n\n{rendered}", memories.len()),
        ))
    }

    async fn memory_cleanup(&self, args: &JsonObject) -> Result<GetPromptResult, ErrorData> {
        let threshold =
            match optional(args, "similarity_threshold") {
                Some(t) => t.trim().parse::<f64>().ok().filter(|t| (0.0..=1.0).contains(t)).ok_or_else(|| {
                    invalid(format!("similarity_threshold must be a number from 0.0 to 1.0, got '{t}'"))
                })?,
                None => 0.95,
            };
        let older_than = optional(args, "older_than");
        let cutoff = older_than.as_deref().map(|age| self.cutoff(age)).transpose()?;
        let old = match cutoff {
            Some(end) => {
                let range = TimeRange { start: chrono::DateTime::<chrono::Utc>::MIN_UTC, end };
                self.listed(Vec::new(), Some(range), MAX_MEMORIES).await?
            }
            None => Vec::new(),
        };
        let pairs = self.near_duplicates(threshold).await?;
        let old_text = match &older_than {
            Some(age) => format!("Memories older than {age} ({}):\n\n{}", old.len(), listing(&old)),
            None => "No age limit was given.".into(),
        };
        Ok(message(
            "Identify and remove duplicate or outdated memories",
            format!(
                "Help me clean up my memories. Exact duplicates cannot exist (a memory's content hash is its \
                 identity), but near-duplicates can. Decide which memories to keep, merge or delete, and delete \
                 with memory_delete and the content hash.\n\n{old_text}\n\nNear-duplicate pairs (similarity at \
                 least {threshold}):\n{}",
                if pairs.is_empty() { "(none)".into() } else { pairs.join("\n") }
            ),
        ))
    }

    /// The start of "older than": the phrase as given ("last year"), else read as an age ("6 months" ago).
    fn cutoff(&self, age: &str) -> Result<chrono::DateTime<chrono::Utc>, ErrorData> {
        self.service
            .time_range(age)
            .or_else(|_| self.service.time_range(&format!("{age} ago")))
            .map(|range| range.start)
            .map_err(|e| invalid(format!("older_than: {e}")))
    }

    /// Pairs of the newest memories whose nearest neighbour is at least this similar.
    async fn near_duplicates(&self, threshold: f64) -> Result<Vec<String>, ErrorData> {
        let mut pairs = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for memory in self.listed(Vec::new(), None, CLEANUP_COMPARED).await? {
            // A memory without a vector yet has no neighbour to compare.
            let Ok(hits) = self.service.similar(&memory.content_hash, 1).await else { continue };
            for hit in hits.into_iter().filter(|h| h.similarity_score >= threshold) {
                let mut key = [memory.content_hash.clone(), hit.memory.content_hash.clone()];
                key.sort();
                if seen.insert(key) {
                    pairs.push(format!(
                        "- {} and {} ({:.3}): \"{}\" / \"{}\"",
                        memory.content_hash,
                        hit.memory.content_hash,
                        hit.similarity_score,
                        memory.content,
                        hit.memory.content
                    ));
                }
            }
        }
        Ok(pairs)
    }

    async fn learning_session(&self, args: &JsonObject) -> Result<GetPromptResult, ErrorData> {
        let topic = required(args, "learning_session", "topic")?;
        let points = comma_list(&required(args, "learning_session", "key_points")?);
        let questions = optional(args, "questions").map(|q| comma_list(&q)).unwrap_or_default();
        let mut content = format!("Learning session: {topic}\n\nKey points:\n");
        content.extend(points.iter().map(|p| format!("- {p}\n")));
        if !questions.is_empty() {
            content.push_str("\nQuestions for further study:\n");
            content.extend(questions.iter().map(|q| format!("- {q}\n")));
        }
        let mut metadata = serde_json::Map::new();
        metadata.insert("topic".into(), json!(topic));
        let request = StoreRequest {
            content: content.trim_end().to_string(),
            tags: vec!["learning".into(), "learning_session".into()],
            memory_type: Some("learning_note".into()),
            metadata,
            ..StoreRequest::default()
        };
        let StoreResult { success, content_hash, .. } = self.store(request).await.map_err(invalid)?;
        let stored = if success {
            format!("I stored these notes as memory {content_hash} (tags: learning, learning_session).")
        } else {
            format!("These notes were already stored as memory {content_hash}.")
        };
        Ok(message(
            "Store structured learning notes from a study session",
            format!(
                "{stored}\n\n{content}\nHelp me consolidate this session on {topic}: explain the key points back \
                 briefly, connect them to what I already know, and suggest how to answer the open questions."
            ),
        ))
    }
}

fn markdown(memories: &[Memory]) -> String {
    let mut out = String::from("# Memory export\n");
    for memory in memories {
        out.push_str(&format!("\n## {}\n\n{}\n\n", memory.created_at_iso, memory.content));
        if !memory.tags.is_empty() {
            out.push_str(&format!("Tags: {}  \n", memory.tags.join(", ")));
        }
        out.push_str(&format!("Hash: `{}`\n", memory.content_hash));
    }
    out
}
