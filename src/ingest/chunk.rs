//! Cuts document text into chunks exactly as the original Python service's `TextChunker` does.
//!
//! The original (doobidoo/mcp-memory-service, `ingestion/chunker.py`, unchanged in behaviour from v8.9.0 to
//! v10.59.0) has three paths that its loaders actually use, mirrored here:
//!
//! - [`chunk_text`]: paragraph-aware packing, used for `.txt`/`.text`/`.rst`, every PDF page and semtools
//!   output (`chunk_text` with `respect_paragraph_boundaries=True`, `min_chunk_size=100`).
//! - [`chunk_markdown`]: section-aware cutting, used for `.md`/`.markdown` (`chunk_by_sections`).
//! - [`chunk_structured`]: character windows, used for the flattened text of `.json` and `.csv` files
//!   (`respect_*_boundaries=False`, `min_chunk_size=10`).
//!
//! Lengths are Python lengths: Unicode scalar values, never bytes, and "whitespace" is Python's
//! `str.isspace()`, which is `char::is_whitespace` plus the four separators U+001C..U+001F.
//! The original's quirks are reproduced on purpose (see each function), because recorded fixtures from the
//! original must compare equal.
//! [`split_to_fit`] is not part of the original: it cuts an already made chunk further so that each piece
//! fits the embedding model's token window.

use std::fmt;
use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

/// Python's `\s` / `str.isspace()` set as a regex class (the `regex` crate's `\s` lacks U+001C..U+001F).
const PY_SPACE: &str =
    r"[\t\n\x0B\x0C\r\x1C-\x20\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}]";

/// The original's `min_chunk_size` for prose (paragraph and markdown paths).
const MIN_PROSE_CHUNK: usize = 100;

/// The original's `min_chunk_size` for the JSON and CSV loaders.
const MIN_STRUCTURED_CHUNK: usize = 10;

/// What a path keeps: the original drops short text, [`chunk_lossless`] keeps all of it.
#[derive(Debug, Clone, Copy)]
struct Keep {
    /// Shortest prose chunk kept (stripped characters).
    prose: usize,
    /// Shortest structured chunk kept.
    structured: usize,
    /// A markdown section too short to keep joins the next one instead of being dropped.
    merge_short_sections: bool,
}

/// The original's minimums.
const ORIGINAL: Keep = Keep { prose: MIN_PROSE_CHUNK, structured: MIN_STRUCTURED_CHUNK, merge_short_sections: false };

/// Nothing but whitespace is dropped.
const LOSSLESS: Keep = Keep { prose: 1, structured: 1, merge_short_sections: true };

/// How far back (in characters) the character path looks for whitespace to end a window on.
const BREAK_LOOKBACK: usize = 100;

/// The original's `sentence_endings`: `[.!?]+\s+`.
static SENTENCE_ENDING: LazyLock<Regex> = LazyLock::new(|| compile(&format!(r"[.!?]+{PY_SPACE}+")));

/// The original's `paragraph_separator`: `\n\s*\n`.
static PARAGRAPH_SEPARATOR: LazyLock<Regex> = LazyLock::new(|| compile(&format!(r"\n{PY_SPACE}*\n")));

/// The original's `section_headers`, compiled with `re.MULTILINE | re.IGNORECASE`.
static SECTION_HEADER: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        r"(?mi)^(?:#{{1,6}}{PY_SPACE}+|Chapter{PY_SPACE}+\d+|Section{PY_SPACE}+\d+|Part{PY_SPACE}+\d+|\d+\.{PY_SPACE}+)"
    ))
});

/// Where [`split_to_fit`] may cut when a chunk is too long: after sentence punctuation or a line break.
static SENTENCE_CUT: LazyLock<Regex> = LazyLock::new(|| compile(r"[.!?]+\s+|[。！？]+\s*|\n\s*"));

/// Where [`split_to_fit`] may cut inside a sentence: after a run of whitespace.
static WORD_CUT: LazyLock<Regex> = LazyLock::new(|| compile(r"\s+"));

/// Compiles one of this module's fixed patterns.
fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).expect("the chunker's fixed patterns are valid regexes")
}

/// How text is cut into chunks.
///
/// Sizes count characters (Unicode scalar values), like Python's `len`.
/// The chunk functions accept any values, as the original does; call [`ChunkOptions::validate`] first to
/// reject options that make no sense for user input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkOptions {
    /// Target characters per chunk; a chunk is closed before it would exceed this (paragraphs longer than
    /// this are still kept whole, as in the original).
    pub chunk_size: usize,
    /// Characters carried from the end of one chunk into the start of the next.
    pub chunk_overlap: usize,
}

impl Default for ChunkOptions {
    /// The original's defaults: 1000 characters with 200 of overlap.
    fn default() -> Self {
        Self { chunk_size: 1000, chunk_overlap: 200 }
    }
}

impl ChunkOptions {
    /// Checks the options for user-facing input.
    ///
    /// The original never validates (and its routes even ignore the values, see the report), so the chunk
    /// functions stay infallible and reproduce whatever the original would do; this check is for callers
    /// that want to refuse a zero size or an overlap that is not smaller than the size.
    ///
    /// # Errors
    ///
    /// [`ChunkError::ZeroChunkSize`] for a `chunk_size` of 0, and [`ChunkError::OverlapNotSmaller`] when
    /// `chunk_overlap >= chunk_size`.
    pub fn validate(&self) -> Result<(), ChunkError> {
        if self.chunk_size == 0 {
            return Err(ChunkError::ZeroChunkSize);
        }
        if self.chunk_overlap >= self.chunk_size {
            return Err(ChunkError::OverlapNotSmaller {
                chunk_size: self.chunk_size,
                chunk_overlap: self.chunk_overlap,
            });
        }
        Ok(())
    }
}

/// Why a [`ChunkOptions`] was refused by [`ChunkOptions::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkError {
    /// `chunk_size` was 0.
    ZeroChunkSize,
    /// `chunk_overlap` was not smaller than `chunk_size`.
    OverlapNotSmaller {
        /// The requested chunk size.
        chunk_size: usize,
        /// The requested overlap.
        chunk_overlap: usize,
    },
}

impl fmt::Display for ChunkError {
    /// Says what was wrong and what to send instead.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroChunkSize => write!(formatter, "chunk_size must be at least 1 character"),
            Self::OverlapNotSmaller { chunk_size, chunk_overlap } => write!(
                formatter,
                "chunk_overlap ({chunk_overlap}) must be smaller than chunk_size ({chunk_size}); \
                 use a smaller overlap or a larger chunk size"
            ),
        }
    }
}

impl std::error::Error for ChunkError {}

/// Which of the original's chunking paths a file goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Paragraph-aware packing ([`chunk_text`]).
    Paragraphs,
    /// Markdown sections ([`chunk_markdown`]).
    MarkdownSections,
    /// Character windows over flattened structured data ([`chunk_structured`]).
    Characters,
}

impl Strategy {
    /// The path the original's loader for this file extension uses (case-insensitive, leading dot optional).
    ///
    /// PDF pages and semtools formats (docx, doc, pptx, xlsx) are chunked as paragraphs.
    #[must_use]
    pub fn for_extension(extension: &str) -> Option<Self> {
        let extension = extension.trim_start_matches('.').to_ascii_lowercase();
        match extension.as_str() {
            "txt" | "text" | "rst" | "pdf" | "docx" | "doc" | "pptx" | "xlsx" => Some(Self::Paragraphs),
            "md" | "markdown" => Some(Self::MarkdownSections),
            "json" | "csv" => Some(Self::Characters),
            _ => None,
        }
    }

    /// The original's `min_chunk_size` on this path: shorter (stripped) text gives no chunk.
    #[must_use]
    pub fn min_chunk_size(self) -> usize {
        match self {
            Self::Paragraphs | Self::MarkdownSections => MIN_PROSE_CHUNK,
            Self::Characters => MIN_STRUCTURED_CHUNK,
        }
    }
}

/// One chunk and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The chunk's text.
    pub text: String,
    /// 0-based position among all chunks of this call (the original's `DocumentChunk.chunk_index`).
    pub index: usize,
    /// Length of `text` in characters (the original's `chunk_length`).
    pub char_count: usize,
    /// Set when a paragraph or character run cut this text; absent for a markdown section kept whole.
    pub cut: Option<Cut>,
    /// Set for chunks of the markdown path that came from a header-delimited section.
    pub section: Option<Section>,
}

/// Position of a chunk within one run of the paragraph or character chunker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    /// 0-based index within the run (the original's metadata `chunk_index`).
    pub index: usize,
    /// Number of chunks the run produced (the original's `total_chunks`).
    pub total: usize,
    /// The run's method (the original's `chunking_strategy`).
    pub method: CutMethod,
}

/// The original's `chunking_strategy` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutMethod {
    /// `"paragraph_aware"`.
    ParagraphAware,
    /// `"character_based"`.
    CharacterBased,
}

impl CutMethod {
    /// The name the original stores in chunk metadata.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ParagraphAware => "paragraph_aware",
            Self::CharacterBased => "character_based",
        }
    }
}

/// A header-delimited markdown section (the original's `section_*` metadata).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    /// Index of the header that ends the section (number of headers for the last one).
    pub index: usize,
    /// Character offset in the whole text where the section starts (its header's offset, or 0).
    pub start: usize,
    /// Character offset where the section ends (the next header's offset, or the text's length).
    pub end: usize,
}

/// A value of the original's per-chunk metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataValue {
    /// A JSON number.
    Number(usize),
    /// A JSON boolean.
    Flag(bool),
    /// A JSON string.
    Text(&'static str),
}

impl Chunk {
    /// The chunker's share of the original's chunk metadata, with the original's key names, in its order.
    ///
    /// Loaders add their own keys on top (see the report); a markdown section kept whole carries no
    /// `chunk_index` here, and the original then stores the overall index ([`Chunk::metadata_chunk_index`]).
    #[must_use]
    pub fn original_metadata(&self) -> Vec<(&'static str, MetadataValue)> {
        let mut fields = Vec::new();
        if let Some(section) = self.section {
            fields.push(("section_index", MetadataValue::Number(section.index)));
            fields.push(("is_section", MetadataValue::Flag(true)));
            fields.push(("section_start", MetadataValue::Number(section.start)));
            fields.push(("section_end", MetadataValue::Number(section.end)));
        }
        if let Some(cut) = self.cut {
            fields.push(("chunk_index", MetadataValue::Number(cut.index)));
            fields.push(("chunk_length", MetadataValue::Number(self.char_count)));
            fields.push(("total_chunks", MetadataValue::Number(cut.total)));
            fields.push(("chunking_strategy", MetadataValue::Text(cut.method.as_str())));
        }
        fields
    }

    /// The `chunk_index` the original ends up storing in metadata.
    ///
    /// It is the index within the cutting run when there was one (so it restarts for every sub-chunked
    /// markdown section and every PDF page), and the overall index otherwise.
    #[must_use]
    pub fn metadata_chunk_index(&self) -> usize {
        self.cut.map_or(self.index, |cut| cut.index)
    }
}

/// Cuts prose the way the original's text, PDF and semtools loaders do (`chunk_text`, paragraph-aware).
///
/// - Text whose stripped length is under 100 characters gives no chunk.
/// - Paragraphs (split on a blank line, `\n\s*\n`) are stripped, empty ones skipped, and packed into a chunk
///   joined by `"\n\n"` while `len(chunk) + len(paragraph) + 2 <= chunk_size`.
/// - A paragraph longer than `chunk_size` is never split: it becomes (part of) one oversized chunk.
/// - On closing a chunk, the next one starts with the overlap text of the closed one (see
///   [`overlap_text`]) followed directly by the paragraph; a closed chunk whose stripped length is under 100
///   is dropped (its overlap is still carried).
#[must_use]
pub fn chunk_text(text: &str, options: &ChunkOptions) -> Vec<Chunk> {
    paragraphs(text, options, ORIGINAL)
}

fn paragraphs(text: &str, options: &ChunkOptions, keep: Keep) -> Vec<Chunk> {
    if py_char_len(py_strip(text)) < keep.prose {
        return Vec::new();
    }
    number_run(pack_paragraphs(text, options, keep.prose), CutMethod::ParagraphAware, 0, None)
}

/// Cuts markdown the way the original's text loader does for `.md`/`.markdown` (`chunk_by_sections`).
///
/// - Sections start at every line that begins with `#`..`######` plus whitespace, `Chapter N`, `Section N`,
///   `Part N` (any case) or `N.` plus whitespace, so every numbered list item starts a section too.
/// - With no such line, the text is chunked by [`chunk_text`].
/// - Each section (text before the first header included) is stripped; one under 100 characters is dropped
///   (its text is lost, as in the original); one longer than `2 * chunk_size` is cut by [`chunk_text`];
///   any other is kept whole, even when it exceeds `chunk_size`.
#[must_use]
pub fn chunk_markdown(text: &str, options: &ChunkOptions) -> Vec<Chunk> {
    sections(text, options, ORIGINAL)
}

fn sections(text: &str, options: &ChunkOptions, keep: Keep) -> Vec<Chunk> {
    let headers = header_offsets(text);
    if headers.is_empty() {
        return paragraphs(text, options, keep);
    }
    let mut chunks = Vec::new();
    let mut start = Offset { byte: 0, char: 0 };
    for (header_index, header) in headers.iter().enumerate() {
        if start.byte < header.byte {
            let short = py_char_len(py_strip(&text[start.byte..header.byte])) < MIN_PROSE_CHUNK;
            if short && keep.merge_short_sections {
                // The section stays open: it runs on to the next header with this one's text in front.
                continue;
            }
            push_section(text, start, *header, header_index, options, keep.prose, &mut chunks);
        }
        start = *header;
    }
    let end = Offset { byte: text.len(), char: start.char + py_char_len(&text[start.byte..]) };
    if start.byte < end.byte {
        push_section(text, start, end, headers.len(), options, keep.prose, &mut chunks);
    }
    chunks
}

/// Cuts flattened JSON or CSV text the way the original's JSON and CSV loaders do (character windows).
///
/// - Text whose stripped length is under 10 characters gives no chunk.
/// - Text of at most `chunk_size` characters is one chunk, returned unstripped (trailing newline kept).
/// - Otherwise windows of `chunk_size` characters are taken; a window that does not reach the end is
///   shortened to end at the last whitespace among its final characters (looking back at most 100 and never
///   within 10 of its start). Each window is stripped and kept if at least 10 characters long.
/// - The next window starts `chunk_overlap` characters before the previous end, but always at least one
///   character after the previous start (so an overlap of `chunk_size` or more advances one character).
#[must_use]
pub fn chunk_structured(text: &str, options: &ChunkOptions) -> Vec<Chunk> {
    windows(text, options, ORIGINAL)
}

fn windows(text: &str, options: &ChunkOptions, keep: Keep) -> Vec<Chunk> {
    if py_char_len(py_strip(text)) < keep.structured {
        return Vec::new();
    }
    number_run(character_windows(text, options, keep.structured), CutMethod::CharacterBased, 0, None)
}

/// Cuts `text` along the given path (see [`Strategy::for_extension`]).
#[must_use]
pub fn chunk_with(text: &str, options: &ChunkOptions, strategy: Strategy) -> Vec<Chunk> {
    match strategy {
        Strategy::Paragraphs => chunk_text(text, options),
        Strategy::MarkdownSections => chunk_markdown(text, options),
        Strategy::Characters => chunk_structured(text, options),
    }
}

/// Cuts `text` along the given path as the original does, without its losses: no chunk is dropped for
/// being short (the original drops chunks under 100 characters, 10 for JSON and CSV, and so any document
/// shorter than that), and a markdown section under 100 characters joins the section after it instead of
/// being dropped. Where the original keeps everything, the cuts are the same.
#[must_use]
pub fn chunk_lossless(text: &str, options: &ChunkOptions, strategy: Strategy) -> Vec<Chunk> {
    match strategy {
        Strategy::Paragraphs => paragraphs(text, options, LOSSLESS),
        Strategy::MarkdownSections => sections(text, options, LOSSLESS),
        Strategy::Characters => windows(text, options, LOSSLESS),
    }
}

/// Splits a chunk into pieces that each satisfy `fits`, cutting as coarsely as possible.
///
/// If the whole chunk fits it comes back unchanged as the only piece.
/// Otherwise it is cut after sentence ends (`.`, `!`, `?` followed by whitespace, `。！？`, line breaks);
/// consecutive sentences are packed greedily into the longest piece that fits.
/// A sentence that does not fit alone is cut between words the same way, and a word that does not fit alone
/// is cut between characters.
/// Pieces keep their order and are trimmed of whitespace at the cut points; nothing else is dropped.
/// `fits` is expected to grow monotonically with the text (a token count does); it is only ever asked
/// about pieces that are then used whole, so every returned piece satisfies it, except a single
/// character that does not fit even alone, which is returned as its own piece rather than lost.
#[must_use]
pub fn split_to_fit(chunk: &str, fits: impl Fn(&str) -> bool) -> Vec<String> {
    if fits(chunk) {
        return vec![chunk.to_owned()];
    }
    let mut pieces = Vec::new();
    split_at_level(chunk, &fits, CutLevel::Sentences, &mut pieces);
    pieces
}

/// A byte offset paired with the character offset of the same position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Offset {
    /// Position in bytes, for slicing.
    byte: usize,
    /// Position in characters, for the original's metadata.
    char: usize,
}

/// Python's `str.isspace()` for one character.
fn is_py_space(character: char) -> bool {
    matches!(
        character,
        '\t'..='\r'
            | '\u{1C}'..='\u{20}'
            | '\u{85}'
            | '\u{A0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200A}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202F}'
            | '\u{205F}'
            | '\u{3000}'
    )
}

/// Python's `str.strip()` with no argument.
fn py_strip(text: &str) -> &str {
    text.trim_matches(is_py_space)
}

/// Python's `len` of a string: its number of Unicode scalar values.
fn py_char_len(text: &str) -> usize {
    text.chars().count()
}

/// The last `count` characters of `text` (all of it when shorter).
fn last_chars(text: &str, count: usize) -> &str {
    let skip = py_char_len(text).saturating_sub(count);
    text.char_indices().nth(skip).map_or("", |(byte, _)| &text[byte..])
}

/// Packs stripped paragraphs into chunks (the original's `_chunk_by_paragraphs`).
fn pack_paragraphs(text: &str, options: &ChunkOptions, min_len: usize) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut current = String::new();
    let mut current_len = 0;
    for raw_paragraph in PARAGRAPH_SEPARATOR.split(text) {
        let paragraph = py_strip(raw_paragraph);
        if paragraph.is_empty() {
            continue;
        }
        let paragraph_len = py_char_len(paragraph);
        if current_len + paragraph_len + 2 > options.chunk_size && current_len > 0 {
            keep_if_long_enough(&current, min_len, &mut chunks);
            current = overlap_text(&current, options.chunk_overlap);
            current.push_str(paragraph);
            current_len = py_char_len(&current);
        } else {
            if current_len > 0 {
                current.push_str("\n\n");
                current_len += 2;
            }
            current.push_str(paragraph);
            current_len += paragraph_len;
        }
    }
    keep_if_long_enough(&current, min_len, &mut chunks);
    chunks
}

/// Appends the stripped `chunk` when it has at least `min_len` characters.
fn keep_if_long_enough(chunk: &str, min_len: usize, chunks: &mut Vec<String>) {
    let stripped = py_strip(chunk);
    if py_char_len(stripped) >= min_len {
        chunks.push(stripped.to_owned());
    }
}

/// The text a new chunk starts with after `chunk` closes (the original's `_get_overlap_text`).
///
/// - A chunk of at most `overlap` characters is carried whole, plus a space.
/// - Otherwise its last `overlap` characters are taken; with an overlap of 0 that is the whole chunk
///   (Python's `text[-0:]`), a quirk reproduced on purpose.
/// - If that tail holds a sentence end (`[.!?]+\s+`), the part before the first one is dropped and the
///   remaining parts are joined with single spaces (a tail ending in a sentence end thus gains a trailing
///   space).
/// - A space is appended, unless the result is empty, in which case nothing is carried.
fn overlap_text(chunk: &str, overlap: usize) -> String {
    if py_char_len(chunk) <= overlap {
        return format!("{chunk} ");
    }
    let tail = if overlap == 0 { chunk } else { last_chars(chunk, overlap) };
    let parts: Vec<&str> = SENTENCE_ENDING.split(tail).collect();
    let carried = match parts.split_first() {
        Some((_, rest)) if !rest.is_empty() => rest.join(" "),
        _ => tail.to_owned(),
    };
    if carried.is_empty() { carried } else { carried + " " }
}

/// Cuts text into overlapping character windows (the original's `_chunk_by_characters`, `min_chunk_size=10`).
fn character_windows(text: &str, options: &ChunkOptions, min_len: usize) -> Vec<String> {
    let characters: Vec<char> = text.chars().collect();
    let total = characters.len();
    if total <= options.chunk_size {
        return vec![text.to_owned()];
    }
    let mut windows = Vec::new();
    let mut start = 0;
    while start < total {
        let mut end = start + options.chunk_size;
        if end < total {
            end = window_end(&characters, start, end);
        }
        let window: String = characters[start..end.min(total)].iter().collect();
        keep_if_long_enough(&window, min_len, &mut windows);
        start = (start + 1).max(end.saturating_sub(options.chunk_overlap));
    }
    windows
}

/// Moves a window's `end` back to the last whitespace in `(max(start + 10, end - 100), end]`, if any.
fn window_end(characters: &[char], start: usize, end: usize) -> usize {
    let lowest_excluded = (start + MIN_STRUCTURED_CHUNK).max(end.saturating_sub(BREAK_LOOKBACK));
    (lowest_excluded + 1..=end)
        .rev()
        .find(|&position| characters.get(position).is_some_and(|&character| is_py_space(character)))
        .unwrap_or(end)
}

/// Wraps one chunker run's texts as chunks numbered from `first_index`.
fn number_run(texts: Vec<String>, method: CutMethod, first_index: usize, section: Option<Section>) -> Vec<Chunk> {
    let total = texts.len();
    texts
        .into_iter()
        .enumerate()
        .map(|(index, text)| Chunk {
            char_count: py_char_len(&text),
            text,
            index: first_index + index,
            cut: Some(Cut { index, total, method }),
            section,
        })
        .collect()
}

/// Start offsets of every section header in `text`, in order.
fn header_offsets(text: &str) -> Vec<Offset> {
    let mut offsets = Vec::new();
    let mut previous = Offset { byte: 0, char: 0 };
    for found in SECTION_HEADER.find_iter(text) {
        let char_offset = previous.char + py_char_len(&text[previous.byte..found.start()]);
        previous = Offset { byte: found.start(), char: char_offset };
        offsets.push(previous);
    }
    offsets
}

/// Adds the chunks of the section between `start` and `end` (the body of the original's section loop).
fn push_section(
    text: &str,
    start: Offset,
    end: Offset,
    section_index: usize,
    options: &ChunkOptions,
    min_len: usize,
    chunks: &mut Vec<Chunk>,
) {
    let body = py_strip(&text[start.byte..end.byte]);
    let body_len = py_char_len(body);
    if body_len < min_len {
        return;
    }
    let section = Some(Section { index: section_index, start: start.char, end: end.char });
    if body_len > options.chunk_size.saturating_mul(2) {
        let parts = pack_paragraphs(body, options, min_len);
        chunks.extend(number_run(parts, CutMethod::ParagraphAware, chunks.len(), section));
    } else {
        chunks.push(Chunk { text: body.to_owned(), index: chunks.len(), char_count: body_len, cut: None, section });
    }
}

/// How finely [`split_to_fit`] cuts at one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CutLevel {
    /// After sentence ends and line breaks.
    Sentences,
    /// After whitespace runs.
    Words,
    /// Between characters.
    Characters,
}

impl CutLevel {
    /// The next finer level, if any.
    fn finer(self) -> Option<Self> {
        match self {
            Self::Sentences => Some(Self::Words),
            Self::Words => Some(Self::Characters),
            Self::Characters => None,
        }
    }

    /// Consecutive byte ranges covering `text`, each ending where this level may cut.
    fn units(self, text: &str) -> Vec<Range<usize>> {
        let cuts: Vec<usize> = match self {
            Self::Sentences => SENTENCE_CUT.find_iter(text).map(|found| found.end()).collect(),
            Self::Words => WORD_CUT.find_iter(text).map(|found| found.end()).collect(),
            Self::Characters => text.char_indices().skip(1).map(|(byte, _)| byte).collect(),
        };
        let mut units = Vec::with_capacity(cuts.len() + 1);
        let mut start = 0;
        for cut in cuts.into_iter().chain(std::iter::once(text.len())) {
            if cut > start {
                units.push(start..cut);
                start = cut;
            }
        }
        units
    }
}

/// Packs the units of `text` at `level` into fitting pieces, descending a level for a unit too big alone.
fn split_at_level(text: &str, fits: &dyn Fn(&str) -> bool, level: CutLevel, pieces: &mut Vec<String>) {
    let units = level.units(text);
    let piece = |first: usize, last: usize| text[units[first].start..units[last].end].trim();
    let mut first = 0;
    while first < units.len() {
        let alone = piece(first, first);
        if alone.is_empty() {
            first += 1;
            continue;
        }
        if !fits(alone) {
            match level.finer() {
                Some(finer) => split_at_level(alone, fits, finer, pieces),
                None => pieces.push(alone.to_owned()),
            }
            first += 1;
            continue;
        }
        let last = last_fitting(first, units.len(), |last| fits(piece(first, last)));
        pieces.push(piece(first, last).to_owned());
        first = last + 1;
    }
}

/// The largest `last` in `first..count` such that `fits_through(last)` holds, given that it holds for
/// `first`; gallops then bisects so that long runs of small units cost few `fits` calls.
fn last_fitting(first: usize, count: usize, fits_through: impl Fn(usize) -> bool) -> usize {
    let mut known_fit = first;
    let mut step = 1;
    let mut known_miss = count;
    while known_fit + step < count {
        if fits_through(known_fit + step) {
            known_fit += step;
            step *= 2;
        } else {
            known_miss = known_fit + step;
            break;
        }
    }
    while known_fit + 1 < known_miss {
        let middle = known_fit + (known_miss - known_fit) / 2;
        if fits_through(middle) {
            known_fit = middle;
        } else {
            known_miss = middle;
        }
    }
    known_fit
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recorded chunkings of the original Python chunker.
    const FIXTURE: &str = include_str!("../../tests/fixtures/documents/chunkings.json");

    /// One recorded case.
    #[derive(serde::Deserialize)]
    struct Case {
        /// What the case exercises.
        name: String,
        /// `paragraph`, `sections` or `characters`.
        strategy: String,
        /// The original's `chunk_size`.
        chunk_size: usize,
        /// The original's `chunk_overlap`.
        chunk_overlap: usize,
        /// The input text.
        text: String,
        /// The original's chunk texts.
        chunks: Vec<String>,
        /// The original's per-chunk metadata.
        metadata: Vec<serde_json::Map<String, serde_json::Value>>,
    }

    /// The fixture file.
    #[derive(serde::Deserialize)]
    struct Fixture {
        /// The cases, in recording order.
        cases: Vec<Case>,
    }

    /// All recorded cases.
    fn load_cases() -> Vec<Case> {
        serde_json::from_str::<Fixture>(FIXTURE).expect("fixture parses").cases
    }

    /// The strategy a fixture case names.
    fn strategy_named(name: &str) -> Strategy {
        match name {
            "paragraph" => Strategy::Paragraphs,
            "sections" => Strategy::MarkdownSections,
            "characters" => Strategy::Characters,
            other => panic!("unknown strategy {other} in fixture"),
        }
    }

    /// The chunk's metadata as the JSON object the original recorded.
    fn metadata_json(chunk: &Chunk) -> serde_json::Map<String, serde_json::Value> {
        chunk
            .original_metadata()
            .into_iter()
            .map(|(key, value)| {
                let value = match value {
                    MetadataValue::Number(number) => serde_json::Value::from(number),
                    MetadataValue::Flag(flag) => serde_json::Value::from(flag),
                    MetadataValue::Text(text) => serde_json::Value::from(text),
                };
                (key.to_owned(), value)
            })
            .collect()
    }

    #[test]
    fn fixture_covers_the_required_cases() {
        let cases = load_cases();
        assert!(cases.len() >= 8);
        for name in [
            "prose_paragraphs",
            "markdown_sections_strategy",
            "no_punctuation_run",
            "very_short",
            "exactly_chunk_size_one_paragraph",
            "unicode_mixed",
            "custom_300_50",
            "overlap_0",
        ] {
            assert!(cases.iter().any(|case| case.name == name), "fixture lacks {name}");
        }
    }

    #[test]
    fn chunks_equal_the_original_for_every_recorded_case() {
        for case in load_cases() {
            let options = ChunkOptions { chunk_size: case.chunk_size, chunk_overlap: case.chunk_overlap };
            let chunks = chunk_with(&case.text, &options, strategy_named(&case.strategy));
            let texts: Vec<&str> = chunks.iter().map(|chunk| chunk.text.as_str()).collect();
            assert_eq!(texts, case.chunks, "chunk texts differ in case {}", case.name);
            for (position, chunk) in chunks.iter().enumerate() {
                assert_eq!(chunk.index, position, "index in case {}", case.name);
                assert_eq!(chunk.char_count, chunk.text.chars().count(), "char_count in case {}", case.name);
            }
        }
    }

    #[test]
    fn metadata_equals_the_original_for_every_recorded_case() {
        for case in load_cases() {
            let options = ChunkOptions { chunk_size: case.chunk_size, chunk_overlap: case.chunk_overlap };
            let chunks = chunk_with(&case.text, &options, strategy_named(&case.strategy));
            let metadata: Vec<_> = chunks.iter().map(metadata_json).collect();
            assert_eq!(metadata, case.metadata, "metadata differs in case {}", case.name);
        }
    }

    #[test]
    fn python_whitespace_matches_str_isspace() {
        // Every code point for which Python 3.11's str.isspace() is true.
        let python = [
            0x9, 0xa, 0xb, 0xc, 0xd, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003,
            0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
        ];
        let ours: Vec<u32> =
            (0..=0x0010_FFFF_u32).filter_map(char::from_u32).filter(|&c| is_py_space(c)).map(u32::from).collect();
        assert_eq!(ours, python.to_vec());
        let class = compile(&format!("^{PY_SPACE}$"));
        let by_regex: Vec<u32> = (0..=0x0010_FFFF_u32)
            .filter_map(char::from_u32)
            .filter(|c| class.is_match(&c.to_string()))
            .map(u32::from)
            .collect();
        assert_eq!(by_regex, python.to_vec());
    }

    #[test]
    fn short_text_gives_no_chunks() {
        assert!(chunk_text("too short", &ChunkOptions::default()).is_empty());
        assert!(chunk_structured("   a: 1\n ", &ChunkOptions::default()).is_empty());
        assert!(chunk_markdown("# Title\n\nshort", &ChunkOptions::default()).is_empty());
    }

    #[test]
    fn overlap_zero_carries_the_whole_chunk_minus_its_first_sentence() {
        assert_eq!(overlap_text("One. Two. Three", 0), "Two Three ");
        assert_eq!(overlap_text("no sentence end here", 0), "no sentence end here ");
        assert_eq!(overlap_text("short", 10), "short ");
        assert_eq!(overlap_text("Ends here. ", 3), "");
    }

    #[test]
    fn overlap_counts_characters_not_bytes() {
        assert_eq!(overlap_text("ééééé", 3), "ééé ");
        assert_eq!(last_chars("日本語テキスト", 2), "スト");
        assert_eq!(last_chars("ab", 5), "ab");
    }

    #[test]
    fn structured_text_within_chunk_size_is_returned_unstripped() {
        let chunks = chunk_structured("key: value\nother: thing\n", &ChunkOptions::default());
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].text, "key: value\nother: thing\n");
        assert_eq!(chunks[0].cut.map(|cut| cut.method), Some(CutMethod::CharacterBased));
    }

    #[test]
    fn markdown_sections_record_character_offsets() {
        let intro = "é".repeat(120);
        let body = "word ".repeat(30);
        let text = format!("{intro}\n# Head\n{body}");
        let chunks = chunk_markdown(&text, &ChunkOptions::default());
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].section, Some(Section { index: 0, start: 0, end: 121 }));
        let end = text.chars().count();
        assert_eq!(chunks[1].section, Some(Section { index: 1, start: 121, end }));
        assert_eq!(chunks[1].metadata_chunk_index(), 1);
        assert!(chunks[1].cut.is_none());
    }

    #[test]
    fn validate_rejects_zero_size_and_large_overlap() {
        assert_eq!(ChunkOptions::default().validate(), Ok(()));
        assert_eq!(ChunkOptions { chunk_size: 0, chunk_overlap: 0 }.validate(), Err(ChunkError::ZeroChunkSize));
        let error = ChunkOptions { chunk_size: 100, chunk_overlap: 100 }.validate();
        assert_eq!(error, Err(ChunkError::OverlapNotSmaller { chunk_size: 100, chunk_overlap: 100 }));
        let message = ChunkOptions { chunk_size: 100, chunk_overlap: 150 }.validate().map_err(|e| e.to_string());
        assert_eq!(
            message,
            Err("chunk_overlap (150) must be smaller than chunk_size (100); use a smaller overlap or a larger chunk size"
                .to_owned())
        );
    }

    #[test]
    fn strategy_follows_the_original_loaders() {
        assert_eq!(Strategy::for_extension("md"), Some(Strategy::MarkdownSections));
        assert_eq!(Strategy::for_extension(".MARKDOWN"), Some(Strategy::MarkdownSections));
        assert_eq!(Strategy::for_extension("txt"), Some(Strategy::Paragraphs));
        assert_eq!(Strategy::for_extension("pdf"), Some(Strategy::Paragraphs));
        assert_eq!(Strategy::for_extension("json"), Some(Strategy::Characters));
        assert_eq!(Strategy::for_extension("csv"), Some(Strategy::Characters));
        assert_eq!(Strategy::for_extension("exe"), None);
        assert_eq!(Strategy::Characters.min_chunk_size(), 10);
        assert_eq!(Strategy::Paragraphs.min_chunk_size(), 100);
    }

    /// A budget in characters, standing in for a token budget.
    fn at_most(limit: usize) -> impl Fn(&str) -> bool {
        move |piece: &str| piece.chars().count() <= limit
    }

    /// The text with all whitespace removed, to compare what the pieces kept.
    fn without_whitespace(text: &str) -> String {
        text.chars().filter(|c| !c.is_whitespace()).collect()
    }

    #[test]
    fn split_to_fit_returns_a_fitting_chunk_unchanged() {
        assert_eq!(split_to_fit("  Hello world.  ", at_most(100)), vec!["  Hello world.  ".to_owned()]);
        assert_eq!(split_to_fit("", at_most(0)), vec![String::new()]);
    }

    #[test]
    fn split_to_fit_packs_whole_sentences_first() {
        let text = "One two. Three four! Five six? Seven eight.";
        let pieces = split_to_fit(text, at_most(20));
        assert_eq!(pieces, vec!["One two. Three four!", "Five six?", "Seven eight."]);
        let pieces = split_to_fit(text, at_most(30));
        assert_eq!(pieces, vec!["One two. Three four! Five six?", "Seven eight."]);
    }

    #[test]
    fn split_to_fit_cuts_long_sentences_at_words() {
        let text = "Short one. this sentence is far too long to fit in the budget at all. End.";
        let pieces = split_to_fit(text, at_most(25));
        assert_eq!(
            pieces,
            vec!["Short one.", "this sentence is far too", "long to fit in the budget", "at all.", "End."]
        );
    }

    #[test]
    fn split_to_fit_cuts_unbroken_runs_at_characters() {
        let run = "x".repeat(25);
        let pieces = split_to_fit(&run, at_most(10));
        assert_eq!(pieces, vec!["x".repeat(10), "x".repeat(10), "x".repeat(5)]);
        let pieces = split_to_fit("日本語のテキスト。次の文です。", at_most(4));
        assert_eq!(pieces, vec!["日本語の", "テキスト", "。", "次の文で", "す。"]);
    }

    #[test]
    fn split_to_fit_splits_at_line_breaks() {
        let pieces = split_to_fit("- first item\n- second item\n- third item", at_most(27));
        assert_eq!(pieces, vec!["- first item\n- second item", "- third item"]);
    }

    #[test]
    fn split_to_fit_emits_a_character_that_never_fits() {
        let pieces = split_to_fit("ab", |_: &str| false);
        assert_eq!(pieces, vec!["a", "b"]);
    }

    #[test]
    fn split_to_fit_keeps_all_text_in_order_and_every_piece_fits() {
        let cases = load_cases();
        for case in cases.iter().filter(|case| !case.text.is_empty()) {
            for limit in [7, 40, 254, 700] {
                let pieces = split_to_fit(&case.text, at_most(limit));
                for piece in &pieces {
                    assert!(piece.chars().count() <= limit, "piece too long in {} at {limit}", case.name);
                }
                if pieces.len() > 1 {
                    assert!(pieces.iter().all(|piece| piece.trim() == piece && !piece.is_empty()));
                }
                assert_eq!(without_whitespace(&pieces.concat()), without_whitespace(&case.text), "{}", case.name);
            }
        }
    }

    #[test]
    fn split_to_fit_asks_few_questions_for_long_runs() {
        let calls = std::cell::Cell::new(0);
        let run = "y".repeat(5000);
        let pieces = split_to_fit(&run, |piece: &str| {
            calls.set(calls.get() + 1);
            piece.len() <= 1000
        });
        assert_eq!(pieces.len(), 5);
        assert!(calls.get() < 150, "{} calls", calls.get());
    }

    /// Every word of `text` is in some chunk.
    fn keeps_every_word(text: &str, chunks: &[Chunk]) -> bool {
        let joined: String = chunks.iter().map(|c| c.text.as_str()).collect::<Vec<_>>().join(" ");
        text.split_whitespace().all(|word| joined.contains(word))
    }

    #[test]
    fn lossless_keeps_short_documents_and_short_sections() {
        let options = ChunkOptions::default();
        let short = "  A note of forty characters or so.  ";
        assert!(chunk_text(short, &options).is_empty(), "the original drops it");
        let kept = chunk_lossless(short, &options, Strategy::Paragraphs);
        assert_eq!(kept.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(), ["A note of forty characters or so."]);
        assert!(chunk_lossless(" \n\t ", &options, Strategy::Paragraphs).is_empty(), "whitespace is no chunk");

        let long = "word ".repeat(40);
        let markdown = format!("# Title\n\n## Contact\nmail ops@example.org\n\n## Body\n{long}\n\n## Tail\nthe end\n");
        let original = chunk_markdown(&markdown, &options);
        assert!(!keeps_every_word(&markdown, &original), "the original loses the short sections");
        let lossless = chunk_lossless(&markdown, &options, Strategy::MarkdownSections);
        assert!(keeps_every_word(&markdown, &lossless), "{lossless:?}");
        assert!(
            lossless[0].text.starts_with("# Title") && lossless[0].text.contains("ops@example.org"),
            "{lossless:?}"
        );
        assert!(chunk_lossless("{}", &options, Strategy::Characters).len() == 1, "a tiny JSON text is one chunk");
    }

    #[test]
    fn lossless_only_adds_the_chunks_the_original_drops() {
        // On the paragraph and character paths, keeping a short chunk changes nothing after it: the
        // original's chunks come back unchanged, in order, among the lossless ones.
        for case in load_cases() {
            let strategy = strategy_named(&case.strategy);
            if strategy == Strategy::MarkdownSections {
                continue;
            }
            let options = ChunkOptions { chunk_size: case.chunk_size, chunk_overlap: case.chunk_overlap };
            let lossless: Vec<String> =
                chunk_lossless(&case.text, &options, strategy).into_iter().map(|c| c.text).collect();
            let mut rest = lossless.iter();
            for chunk in &case.chunks {
                assert!(rest.any(|l| l == chunk), "{}: the original's chunk is kept in order", case.name);
            }
        }
    }
}
