//! Vectorize metadata filters: `{"prop": value}` (implicit `$eq`) or `{"prop": {"$op": operand, ...}}` with
//! `$eq $ne $lt $lte $gt $gte $in $nin`, all conditions ANDed. A property only matches when it has a metadata
//! index and the vector was written after that index existed, as in Cloudflare.

use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

/// Cloudflare's limit on a filter's compact JSON, in bytes.
const MAX_FILTER_BYTES: usize = 2048;
/// Indexed string properties are compared on their first 64 bytes.
const INDEXED_STRING_BYTES: usize = 64;

/// The type a metadata index was created with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IndexType {
    String,
    Number,
    Boolean,
}

impl IndexType {
    pub(crate) fn parse(text: &str) -> Option<IndexType> {
        match text {
            "string" => Some(IndexType::String),
            "number" => Some(IndexType::Number),
            "boolean" => Some(IndexType::Boolean),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            IndexType::String => "string",
            IndexType::Number => "number",
            IndexType::Boolean => "boolean",
        }
    }

    fn admits(self, value: &Value) -> bool {
        matches!(
            (self, value),
            (IndexType::String, Value::String(_))
                | (IndexType::Number, Value::Number(_))
                | (IndexType::Boolean, Value::Bool(_))
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Lte,
    Gt,
    Gte,
    In,
    Nin,
}

#[derive(Debug, Clone, PartialEq)]
struct Condition {
    property: String,
    op: Op,
    operands: Vec<Value>,
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Filter(Vec<Condition>);

/// What the matcher needs to know about one stored vector.
pub(crate) struct Candidate<'a> {
    pub(crate) metadata: Option<&'a Map<String, Value>>,
    /// The metadata indexes that existed when the vector was written.
    pub(crate) indexed: &'a BTreeSet<String>,
}

impl Filter {
    /// Parses and checks a filter; the error says what is wrong with it.
    pub(crate) fn parse(value: &Value) -> Result<Filter, String> {
        let compact = serde_json::to_string(value).map_err(|e| e.to_string())?;
        if compact.len() >= MAX_FILTER_BYTES {
            return Err(format!("filter must be under {MAX_FILTER_BYTES} bytes of compact JSON"));
        }
        let Value::Object(map) = value else {
            return Err("filter must be a JSON object".to_owned());
        };
        let mut conditions = Vec::new();
        for (property, condition) in map {
            if property.is_empty() || property.starts_with('$') {
                return Err(format!("unsupported filter key {property:?} (no $and/$or; keys name properties)"));
            }
            match condition {
                Value::Object(ops) => {
                    if ops.is_empty() {
                        return Err(format!("empty operator object for {property:?}"));
                    }
                    for (op, operand) in ops {
                        conditions.push(condition_of(property, op, operand)?);
                    }
                }
                scalar => conditions.push(condition_of(property, "$eq", scalar)?),
            }
        }
        Ok(Filter(conditions))
    }

    /// Whether `candidate` satisfies every condition, given the current metadata indexes.
    pub(crate) fn matches(&self, candidate: &Candidate<'_>, indexes: &BTreeMap<String, IndexType>) -> bool {
        self.0.iter().all(|condition| {
            let Some(index_type) = indexes.get(&condition.property) else { return false };
            if !candidate.indexed.contains(&condition.property) {
                return false;
            }
            let Some(value) = candidate.metadata.and_then(|m| lookup(m, &condition.property)) else { return false };
            if !index_type.admits(value) {
                return false;
            }
            let equal = |operand: &Value| compare(value, operand) == Some(Ordering::Equal);
            match condition.op {
                Op::Eq => equal(&condition.operands[0]),
                Op::Ne => !equal(&condition.operands[0]),
                Op::In => condition.operands.iter().any(equal),
                Op::Nin => !condition.operands.iter().any(equal),
                Op::Lt => compare(value, &condition.operands[0]) == Some(Ordering::Less),
                Op::Lte => matches!(compare(value, &condition.operands[0]), Some(Ordering::Less | Ordering::Equal)),
                Op::Gt => compare(value, &condition.operands[0]) == Some(Ordering::Greater),
                Op::Gte => {
                    matches!(compare(value, &condition.operands[0]), Some(Ordering::Greater | Ordering::Equal))
                }
            }
        })
    }
}

fn condition_of(property: &str, op: &str, operand: &Value) -> Result<Condition, String> {
    let op = match op {
        "$eq" => Op::Eq,
        "$ne" => Op::Ne,
        "$lt" => Op::Lt,
        "$lte" => Op::Lte,
        "$gt" => Op::Gt,
        "$gte" => Op::Gte,
        "$in" => Op::In,
        "$nin" => Op::Nin,
        other => return Err(format!("unsupported filter operator {other:?} on {property:?}")),
    };
    let operands = match (op, operand) {
        (Op::In | Op::Nin, Value::Array(items)) if !items.is_empty() => items.clone(),
        (Op::In | Op::Nin, _) => return Err(format!("$in/$nin on {property:?} take a non-empty array")),
        (_, value) => vec![value.clone()],
    };
    for operand in &operands {
        let scalar = matches!(operand, Value::String(_) | Value::Number(_) | Value::Bool(_));
        let ordered = matches!(operand, Value::String(_) | Value::Number(_));
        if !scalar || (matches!(op, Op::Lt | Op::Lte | Op::Gt | Op::Gte) && !ordered) {
            return Err(format!("invalid operand {operand} for {property:?}"));
        }
    }
    Ok(Condition { property: property.to_owned(), op, operands })
}

/// The value at a property path; `.` nests keys.
pub(crate) fn lookup<'a>(metadata: &'a Map<String, Value>, property: &str) -> Option<&'a Value> {
    if let Some(value) = metadata.get(property) {
        return Some(value);
    }
    let mut parts = property.split('.');
    let mut value = metadata.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// Orders two values of the same type; strings on their indexed prefix. `None` when the types differ.
fn compare(stored: &Value, operand: &Value) -> Option<Ordering> {
    match (stored, operand) {
        (Value::Number(a), Value::Number(b)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        (Value::String(a), Value::String(b)) => Some(prefix(a).cmp(prefix(b))),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

fn prefix(text: &str) -> &str {
    let mut end = text.len().min(INDEXED_STRING_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(filter: Value, metadata: Value) -> bool {
        let indexes: BTreeMap<String, IndexType> = [
            ("type".to_owned(), IndexType::String),
            ("n".to_owned(), IndexType::Number),
            ("a.b".to_owned(), IndexType::String),
        ]
        .into();
        let indexed: BTreeSet<String> = indexes.keys().cloned().collect();
        let filter = Filter::parse(&filter).expect("valid filter");
        filter.matches(&Candidate { metadata: metadata.as_object(), indexed: &indexed }, &indexes)
    }

    #[test]
    fn operators_compare_like_vectorize() {
        let m = json!({"type": "note", "n": 5, "a": {"b": "x"}, "free": "y"});
        assert!(check(json!({"type": "note"}), m.clone()));
        assert!(!check(json!({"type": "todo"}), m.clone()));
        assert!(check(json!({"type": {"$ne": "todo"}}), m.clone()));
        assert!(check(json!({"n": {"$gte": 5, "$lt": 6}}), m.clone()));
        assert!(!check(json!({"n": {"$gt": 5}}), m.clone()));
        assert!(check(json!({"type": {"$in": ["a", "note"]}}), m.clone()));
        assert!(!check(json!({"type": {"$nin": ["a", "note"]}}), m.clone()));
        assert!(check(json!({"a.b": "x"}), m.clone()));
        // Not indexed: never matches.
        assert!(!check(json!({"free": "y"}), m.clone()));
        // Wrong type for the index: never matches.
        assert!(!check(json!({"n": "5"}), json!({"n": "5"})));
    }

    #[test]
    fn bad_filters_are_refused() {
        assert!(Filter::parse(&json!({"$or": []})).is_err());
        assert!(Filter::parse(&json!({"t": {"$like": "x"}})).is_err());
        assert!(Filter::parse(&json!({"t": {"$in": "x"}})).is_err());
        assert!(Filter::parse(&json!({"t": {"$lt": true}})).is_err());
        assert!(Filter::parse(&json!({"t": "x".repeat(2100)})).is_err());
        assert!(Filter::parse(&json!([1])).is_err());
    }
}
