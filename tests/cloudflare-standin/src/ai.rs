//! Workers AI: `POST /ai/run/{model}` for text-embedding models, answered with deterministic hashed
//! bag-of-words embeddings: texts that share words (and word pairs) have a higher cosine similarity.

use crate::envelope::{self, ApiError};
use crate::gate::Partial;
use crate::hash::hash64;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

/// Workers AI's limit on texts per embedding request.
const MAX_TEXTS: usize = 100;

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Text {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
struct Body {
    text: Text,
}

pub(crate) async fn run(
    Path((_account, model)): Path<(String, String)>,
    partial: Option<Extension<Partial>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    if !(model.starts_with("@cf/") || model.starts_with("@hf/")) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, 5007, format!("No such model {model} or task")));
    }
    let body: Body = envelope::parse_json(&body, 5006)?;
    let texts = match body.text {
        Text::One(text) => vec![text],
        Text::Many(texts) => texts,
    };
    if texts.is_empty() || texts.len() > MAX_TEXTS {
        return Err(ApiError::bad_request(
            5006,
            format!("AiError: Bad input: text must hold 1 to {MAX_TEXTS} items, got {}", texts.len()),
        ));
    }
    let keep = if partial.is_some() { texts.len() / 2 } else { texts.len() };
    let dims = dimensions(&model);
    let data: Vec<Vec<f32>> = texts.iter().take(keep).map(|text| embed(text, dims)).collect();
    Ok(envelope::ok(json!({"shape": [data.len(), dims], "data": data, "pooling": "mean"})))
}

/// The output size of an embedding model, by name; unknown models get bge-base's 768.
pub(crate) fn dimensions(model: &str) -> usize {
    if model.contains("bge-small") {
        384
    } else if model.contains("bge-large") || model.contains("bge-m3") {
        1024
    } else {
        768
    }
}

/// The embedding of `text`: each lower-cased word (weight 1) and word pair (weight 0.5) adds ±weight to one
/// hashed dimension; the sum is L2-normalised. An empty text gets a fixed unit vector.
pub(crate) fn embed(text: &str, dims: usize) -> Vec<f32> {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let mut vector = vec![0.0f64; dims];
    let mut add = |feature: &str, weight: f64| {
        let h = hash64(feature.as_bytes());
        // `dims` is small, so the modulo keeps the index within it and the cast cannot truncate.
        let index = usize::try_from(h % dims as u64).expect("an index below dims fits in usize");
        vector[index] += if h >> 63 == 0 { weight } else { -weight };
    };
    if words.is_empty() {
        add("\u{0}empty", 1.0);
    }
    for word in &words {
        add(&format!("w:{word}"), 1.0);
    }
    for pair in words.windows(2) {
        add(&format!("b:{} {}", pair[0], pair[1]), 0.5);
    }
    let norm = vector.iter().map(|x| x * x).sum::<f64>().sqrt();
    // Features can cancel only if they collide with opposite signs; fall back to the fixed vector then.
    if norm == 0.0 {
        return embed("", dims);
    }
    #[allow(clippy::cast_possible_truncation)] // f32 is the wire precision of embeddings.
    vector.iter().map(|x| (x / norm) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn embeddings_are_unit_length_deterministic_and_similar_for_shared_words() {
        let a = embed("The quick brown fox", 768);
        assert_eq!(a, embed("the QUICK brown fox!", 768));
        assert!((cosine(&a, &a) - 1.0).abs() < 1e-5);
        let near = embed("a quick brown dog", 768);
        let far = embed("database migrations in rust", 768);
        assert!(cosine(&a, &near) > cosine(&a, &far) + 0.2);
        assert_eq!(embed("", 384).len(), 384);
        assert_eq!(dimensions("@cf/baai/bge-large-en-v1.5"), 1024);
    }
}
