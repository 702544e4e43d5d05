//! Document ingestion without the log: reading files into text ([`extract`]), cutting text into chunks the
//! way the original does ([`chunk`]), fitting each chunk into the model's window, and finding the files
//! of a directory. `service::documents` turns the pieces into memories.

pub mod chunk;
pub mod extract;
pub mod files;

use chunk::{ChunkOptions, Strategy, chunk_lossless, split_to_fit};
use extract::{ExtractError, FileType, extract};

/// One piece of a document, ready to become a memory.
#[derive(Clone, Debug, PartialEq)]
pub struct Piece {
    pub text: String,
    /// Position among the document's pieces, from 0.
    pub index: usize,
    /// The PDF page it comes from (from 1).
    pub page: Option<u32>,
}

/// A document read and cut into pieces.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub file_type: FileType,
    /// Pages read (PDF), else 0.
    pub pages: u32,
    pub pieces: Vec<Piece>,
    /// Chunks that were longer than the model's window and were split further.
    pub split: usize,
}

/// Why a document cannot be ingested.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Extract(#[from] ExtractError),
    #[error("{file}: {reason}")]
    Options { file: String, reason: String },
}

/// Reads `bytes` as the file `file_name`, cuts its text into chunks as the original does but without its
/// losses ([`chunk_lossless`]; each PDF page on its own, so every chunk has one page) and splits any chunk for which `fits` is false, so that no chunk is cut short by
/// the model's window.
pub fn prepare(
    file_name: &str,
    bytes: &[u8],
    options: &ChunkOptions,
    fits: impl Fn(&str) -> bool,
) -> Result<Document, PrepareError> {
    options.validate().map_err(|e| PrepareError::Options { file: file_name.to_string(), reason: e.to_string() })?;
    let extracted = extract(file_name, bytes)?;
    // docx and html (which the original could not read) are prose, like a PDF's pages.
    let strategy = Strategy::for_extension(extracted.file_type.extension()).unwrap_or(Strategy::Paragraphs);
    let pages = match extracted.file_type {
        FileType::Pdf => extracted.parts.len() as u32,
        _ => 0,
    };
    let mut pieces = Vec::new();
    let mut split = 0;
    for part in &extracted.parts {
        for chunk in chunk_lossless(&part.text, options, strategy) {
            let texts = if fits(&chunk.text) { vec![chunk.text] } else { split_to_fit(&chunk.text, &fits) };
            if texts.len() > 1 {
                split += 1;
            }
            for text in texts {
                pieces.push(Piece { text, index: pieces.len(), page: part.page });
            }
        }
    }
    Ok(Document { file_type: extracted.file_type, pages, pieces, split })
}
