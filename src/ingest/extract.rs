//! Text extraction for document ingestion: turns the bytes of an uploaded file into plain text parts.
//!
//! It owns the mapping from file extension to file type, the checks that a file's content matches its
//! type, and one reader per type. It does not chunk, embed or store anything; the caller does.
//! Every reader assumes hostile input: it never panics (third-party parsers run under `catch_unwind`),
//! and the work a file can cause is bounded (see `Limits`).

use std::any::Any;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The file types ingestion reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileType {
    /// Plain text (`.txt`, `.text`, `.rst`).
    Txt,
    /// Markdown (`.md`, `.markdown`), kept as written.
    Md,
    /// JSON, flattened to `key.path: value` lines.
    Json,
    /// CSV, rendered row by row with column names.
    Csv,
    /// PDF with a text layer, one part per page.
    Pdf,
    /// Word (OOXML) documents.
    Docx,
    /// HTML (`.html`, `.htm`), visible text only.
    Html,
}

impl FileType {
    /// Every file type, in a stable order.
    pub const ALL: [FileType; 7] =
        [FileType::Txt, FileType::Md, FileType::Json, FileType::Csv, FileType::Pdf, FileType::Docx, FileType::Html];

    /// Every accepted extension (lower case, without the dot) with its type, aliases included.
    /// `.rst` is read as plain text, as the original's text loader does.
    pub const EXTENSIONS: [(&'static str, FileType); 11] = [
        ("txt", FileType::Txt),
        ("text", FileType::Txt),
        ("rst", FileType::Txt),
        ("md", FileType::Md),
        ("markdown", FileType::Md),
        ("json", FileType::Json),
        ("csv", FileType::Csv),
        ("pdf", FileType::Pdf),
        ("docx", FileType::Docx),
        ("html", FileType::Html),
        ("htm", FileType::Html),
    ];

    /// The type of a file, from the extension of its name (case-insensitive); `None` when unsupported.
    pub fn from_name(file_name: &str) -> Option<FileType> {
        let extension = extension_of(file_name).to_ascii_lowercase();
        FileType::EXTENSIONS.iter().find(|(known, _)| *known == extension).map(|(_, file_type)| *file_type)
    }

    /// The canonical extension of this type, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            FileType::Txt => "txt",
            FileType::Md => "md",
            FileType::Json => "json",
            FileType::Csv => "csv",
            FileType::Pdf => "pdf",
            FileType::Docx => "docx",
            FileType::Html => "html",
        }
    }
}

impl fmt::Display for FileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

/// Text of a document, in parts: a PDF gives one part per page, other types one part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// The type the file was read as.
    pub file_type: FileType,
    /// The text, in document order. An empty file gives one empty part.
    pub parts: Vec<Part>,
}

impl Extracted {
    /// All parts' text, joined by blank lines.
    pub fn text(&self) -> String {
        self.parts.iter().map(|part| part.text.as_str()).collect::<Vec<_>>().join("\n\n")
    }
}

/// One part of a document's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The PDF page this text comes from, counted from 1; `None` for other types.
    pub page: Option<u32>,
    /// The text, with `\n` line ends.
    pub text: String,
}

/// Why a file cannot be read; the message always names the file and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// The file's extension is not one ingestion reads.
    #[error("{}", unsupported_message(file, extension))]
    Unsupported {
        /// The file name as given.
        file: String,
        /// The extension found, lower case, without the dot; empty when the name has none.
        extension: String,
    },
    /// The content does not match the type, is damaged, encrypted, or too large once decompressed.
    #[error("cannot read {file:?}: {reason}")]
    Undecodable {
        /// The file name as given.
        file: String,
        /// What is wrong, written for the person who uploaded the file.
        reason: String,
    },
}

/// The message of [`ExtractError::Unsupported`], listing the extensions that are supported.
fn unsupported_message(file: &str, extension: &str) -> String {
    let supported: Vec<String> = FileType::EXTENSIONS.iter().map(|(known, _)| format!(".{known}")).collect();
    let found = if extension.is_empty() { "it has no extension".to_owned() } else { format!("\".{extension}\"") };
    format!("cannot read {file:?}: unsupported file type ({found}); supported types are {}", supported.join(", "))
}

/// Reads the text of a file, choosing the reader by the extension of `file_name`.
///
/// Runs synchronously and can take a while on large PDFs: call it from a blocking thread
/// (`tokio::task::spawn_blocking`), never on an async worker.
pub fn extract(file_name: &str, bytes: &[u8]) -> Result<Extracted, ExtractError> {
    extract_with(file_name, bytes, &Limits::DEFAULT)
}

/// Bounds on the work one file may cause, so that a small hostile file cannot exhaust memory or time.
#[derive(Debug, Clone, Copy)]
struct Limits {
    /// Largest decompressed size of a docx's `word/document.xml`.
    docx_xml: usize,
    /// Largest decompressed size of all of a PDF's streams together, images excepted.
    pdf_inflated: usize,
    /// Most bytes of PDF content a document may make the reader interpret, a form counting each time it is drawn.
    pdf_content: usize,
    /// Deepest nesting of PDF forms that draw forms.
    pdf_form_depth: usize,
}

impl Limits {
    /// The limits `extract` applies.
    const DEFAULT: Limits =
        Limits { docx_xml: 64 << 20, pdf_inflated: 256 << 20, pdf_content: 256 << 20, pdf_form_depth: 32 };
}

/// [`extract`] with explicit limits, so tests can exercise them on small inputs.
fn extract_with(file_name: &str, bytes: &[u8], limits: &Limits) -> Result<Extracted, ExtractError> {
    let Some(file_type) = FileType::from_name(file_name) else {
        let extension = extension_of(file_name).to_ascii_lowercase();
        return Err(ExtractError::Unsupported { file: file_name.to_owned(), extension });
    };
    if bytes.is_empty() {
        return Ok(Extracted { file_type, parts: vec![Part { page: None, text: String::new() }] });
    }
    let parts = guarded("the file could not be read", || read_parts(file_type, bytes, limits))
        .map_err(|reason| ExtractError::Undecodable { file: file_name.to_owned(), reason })?;
    Ok(Extracted { file_type, parts })
}

/// The extension of a file name: what follows the last dot of its last path segment, if the dot is not first.
fn extension_of(file_name: &str) -> &str {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    match base.rfind('.') {
        Some(dot) if dot > 0 => &base[dot + 1..],
        _ => "",
    }
}

/// Dispatches to the reader of one file type; the error is the reason the file cannot be read.
fn read_parts(file_type: FileType, bytes: &[u8], limits: &Limits) -> Result<Vec<Part>, String> {
    let single = |text: String| vec![Part { page: None, text }];
    Ok(match file_type {
        FileType::Txt | FileType::Md => single(plain::decode(bytes)?),
        FileType::Json => single(json::flatten(&plain::decode(bytes)?)?),
        FileType::Csv => single(csv_rows::render(&plain::decode(bytes)?)?),
        FileType::Html => single(html::visible_text(&html::decode(bytes)?)),
        FileType::Docx => single(docx::text(bytes, limits)?),
        FileType::Pdf => pdf::pages(bytes, limits)?,
    })
}

/// Runs `f`, turning a panic into an error that starts with `what`.
///
/// Third-party parsers (pdf-extract above all) panic on some malformed input; this keeps such a
/// file from taking the server down. It relies on `panic = "unwind"`, the default profile setting.
fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| Err(format!("{what}: {}", panic_text(&payload))))
}

/// The message carried by a panic, for error reasons.
fn panic_text(payload: &Box<dyn Any + Send>) -> String {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned());
    format!("the reader gave up on malformed data ({message})")
}

/// What a file looks like from its first bytes, to explain a mismatch between content and extension.
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    const MAGIC: [(&[u8], &str); 8] = [
        (b"\x89PNG", "a PNG image"),
        (b"\xFF\xD8\xFF", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"PK\x03\x04", "a zip archive"),
        (b"%PDF-", "a PDF"),
        (b"\xD0\xCF\x11\xE0", "an OLE container (a legacy .doc, or an encrypted Office file)"),
        (b"MZ", "a Windows executable"),
        (b"\x7FELF", "an ELF executable"),
    ];
    MAGIC.iter().find(|(magic, _)| bytes.starts_with(magic)).map(|(_, what)| *what)
}

/// Decoding of text files: UTF-8 (optionally with a BOM) or UTF-16 with a BOM; binary content is refused.
mod plain {
    /// Share of control characters (other than tab, line ends, form feed and escape) above which text is binary.
    const MAX_CONTROL_PERCENT: usize = 10;

    /// Decodes a text file, normalises line ends to `\n`, and refuses binary content.
    pub(super) fn decode(bytes: &[u8]) -> Result<String, String> {
        let text = if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
            utf8(rest, 3)?
        } else if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
            utf16(rest, u16::from_le_bytes)?
        } else if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
            utf16(rest, u16::from_be_bytes)?
        } else {
            utf8(bytes, 0)?
        };
        check_text(text)
    }

    /// Refuses binary content in decoded text and normalises its line ends.
    pub(super) fn check_text(text: String) -> Result<String, String> {
        refuse_binary(&text)?;
        Ok(normalize_newlines(text))
    }

    /// Decodes UTF-8 that starts `offset` bytes into the file, reporting the first NUL or invalid byte.
    fn utf8(bytes: &[u8], offset: usize) -> Result<String, String> {
        let nul = bytes.iter().position(|&b| b == 0);
        match std::str::from_utf8(bytes) {
            Ok(text) => match nul {
                Some(at) => Err(nul_message(at + offset)),
                None => Ok(text.to_owned()),
            },
            Err(error) => match nul {
                Some(at) if at < error.valid_up_to() => Err(nul_message(at + offset)),
                _ => Err(format!("not valid UTF-8 at byte {} (save the file as UTF-8)", error.valid_up_to() + offset)),
            },
        }
    }

    /// The reason given for a NUL byte.
    fn nul_message(at: usize) -> String {
        format!("contains a NUL byte at byte {at}; this looks like a binary file, not text")
    }

    /// Decodes UTF-16 after its BOM, with `unit` reading one code unit in the BOM's byte order.
    fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Result<String, String> {
        if !bytes.len().is_multiple_of(2) {
            return Err("not valid UTF-16: the file has an odd number of bytes".to_owned());
        }
        let units = bytes.chunks_exact(2).map(|pair| unit([pair[0], pair[1]]));
        let mut text = String::with_capacity(bytes.len() / 2);
        for (index, decoded) in char::decode_utf16(units).enumerate() {
            match decoded {
                Ok('\0') => return Err(nul_message(2 + index * 2)),
                Ok(c) => text.push(c),
                Err(_) => return Err(format!("not valid UTF-16 at byte {} (unpaired surrogate)", 2 + index * 2)),
            }
        }
        Ok(text)
    }

    /// Refuses text whose start is mostly control characters, as binary files decoded by chance are.
    fn refuse_binary(text: &str) -> Result<(), String> {
        let sample = text.chars().take(64 * 1024);
        let (mut total, mut control) = (0usize, 0usize);
        for c in sample {
            total += 1;
            if c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\x0C' | '\x1B') {
                control += 1;
            }
        }
        if control * 100 > total * MAX_CONTROL_PERCENT {
            return Err(format!(
                "looks like a binary file, not text: {}% of its first characters are control characters",
                control * 100 / total
            ));
        }
        Ok(())
    }

    /// Turns `\r\n` and lone `\r` into `\n`, as Python's text mode does for the original's loaders.
    fn normalize_newlines(text: String) -> String {
        if !text.contains('\r') {
            return text;
        }
        text.replace("\r\n", "\n").replace('\r', "\n")
    }
}

/// JSON flattened to text the way the original's `JSONLoader` does by default.
///
/// Defaults there: `flatten_strategy='dot_notation'`, `array_handling='expand'`, `include_types=False`,
/// no `max_depth`. Each scalar becomes one line `path: value\n`; object keys join with `.`, array items
/// append `[i]`; empty objects and arrays give nothing; values print as Python's `str()` does
/// (`True`, `False`, `None`, floats as `repr`). Key order is the file's, and a repeated key keeps its
/// first position with its last value, like a Python dict.
mod json {
    use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
    use std::collections::HashMap;
    use std::fmt;

    /// A parsed JSON value that keeps object keys in file order (serde_json's `Value` sorts them
    /// unless its `preserve_order` feature is on, which would change it for the whole project).
    enum Json {
        Null,
        Bool(bool),
        Int(i128),
        Float(f64),
        Str(String),
        Array(Vec<Json>),
        Object(Vec<(String, Json)>),
    }

    /// Parses JSON text and flattens it.
    pub(super) fn flatten(text: &str) -> Result<String, String> {
        let value: Json = serde_json::from_str(text).map_err(|error| format!("not valid JSON: {error}"))?;
        let mut out = String::new();
        write_value(&value, "", &mut out);
        Ok(out)
    }

    /// Appends the lines of `value` found under `prefix`, like the original's `_flatten_json`.
    /// Recursion is bounded by serde_json's nesting limit (128).
    fn write_value(value: &Json, prefix: &str, out: &mut String) {
        match value {
            Json::Object(entries) => {
                for (key, item) in entries {
                    let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                    write_value(item, &path, out);
                }
            }
            Json::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    write_value(item, &format!("{prefix}[{index}]"), out);
                }
            }
            scalar => {
                out.push_str(prefix);
                out.push_str(": ");
                out.push_str(&python_str(scalar));
                out.push('\n');
            }
        }
    }

    /// A scalar as Python's `str()` prints it.
    fn python_str(value: &Json) -> String {
        match value {
            Json::Null => "None".to_owned(),
            Json::Bool(true) => "True".to_owned(),
            Json::Bool(false) => "False".to_owned(),
            Json::Int(number) => number.to_string(),
            Json::Float(number) => python_float(*number),
            Json::Str(text) => text.clone(),
            Json::Array(_) | Json::Object(_) => String::new(),
        }
    }

    /// A float as Python's `repr()` prints it: shortest round-trip digits, positional notation for
    /// decimal exponents from -4 to 15 (always with a fractional part), else `d.ddde+XX`.
    pub(super) fn python_float(number: f64) -> String {
        if !number.is_finite() {
            let text = if number.is_nan() {
                "nan"
            } else if number > 0.0 {
                "inf"
            } else {
                "-inf"
            };
            return text.to_owned();
        }
        if number == 0.0 {
            return if number.is_sign_negative() { "-0.0" } else { "0.0" }.to_owned();
        }
        let scientific = format!("{:e}", number.abs());
        let Some((mantissa, exponent)) = scientific.split_once('e') else { return number.to_string() };
        let Ok(exponent) = exponent.parse::<i32>() else { return number.to_string() };
        let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
        let sign = if number < 0.0 { "-" } else { "" };
        if (-4..16).contains(&exponent) {
            format!("{sign}{}", positional(&digits, exponent))
        } else {
            let (first, rest) = digits.split_at(1);
            let fraction = if rest.is_empty() { String::new() } else { format!(".{rest}") };
            let exponent_sign = if exponent < 0 { '-' } else { '+' };
            format!("{sign}{first}{fraction}e{exponent_sign}{:02}", exponent.unsigned_abs())
        }
    }

    /// Significant `digits` with the decimal point placed for `exponent`, as `123.45` or `0.00012`.
    fn positional(digits: &str, exponent: i32) -> String {
        if exponent < 0 {
            let zeros = "0".repeat(exponent.unsigned_abs() as usize - 1);
            return format!("0.{zeros}{digits}");
        }
        let point = exponent as usize + 1;
        if digits.len() <= point {
            format!("{digits}{}.0", "0".repeat(point - digits.len()))
        } else {
            format!("{}.{}", &digits[..point], &digits[point..])
        }
    }

    impl<'de> Deserialize<'de> for Json {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_any(JsonVisitor)
        }
    }

    /// Builds a [`Json`] from serde_json's events.
    struct JsonVisitor;

    impl<'de> Visitor<'de> for JsonVisitor {
        type Value = Json;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_unit<E>(self) -> Result<Json, E> {
            Ok(Json::Null)
        }
        fn visit_bool<E>(self, value: bool) -> Result<Json, E> {
            Ok(Json::Bool(value))
        }
        fn visit_i64<E>(self, value: i64) -> Result<Json, E> {
            Ok(Json::Int(value.into()))
        }
        fn visit_u64<E>(self, value: u64) -> Result<Json, E> {
            Ok(Json::Int(value.into()))
        }
        fn visit_f64<E>(self, value: f64) -> Result<Json, E> {
            Ok(Json::Float(value))
        }
        fn visit_str<E>(self, value: &str) -> Result<Json, E> {
            Ok(Json::Str(value.to_owned()))
        }
        fn visit_string<E>(self, value: String) -> Result<Json, E> {
            Ok(Json::Str(value))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element()? {
                items.push(item);
            }
            Ok(Json::Array(items))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
            let mut entries: Vec<(String, Json)> = Vec::new();
            let mut positions: HashMap<String, usize> = HashMap::new();
            while let Some((key, value)) = map.next_entry::<String, Json>()? {
                match positions.get(&key).and_then(|&at| entries.get_mut(at)) {
                    Some(entry) => entry.1 = value,
                    None => {
                        positions.insert(key.clone(), entries.len());
                        entries.push((key, value));
                    }
                }
            }
            Ok(Json::Object(entries))
        }
    }
}

/// CSV rendered to text the way the original's `CSVLoader` does by default.
///
/// Delimiter: the first of `, ; \t | :` that occurs the same non-zero number of times on each of the
/// first five lines, the highest count winning; `,` otherwise. Rows whose cells are all blank are
/// dropped. Header: the first row, when it has at least two cells and at least 70% of them are not
/// numbers; otherwise columns are named `col_1`, `col_2`... Each row then prints as `Row N:` followed
/// by one `  column: value` line per column (short rows padded, long rows cut to the header) and a
/// blank line. A file with a header and no rows prints `Empty CSV file`.
mod csv_rows {
    /// Delimiters tried, in the original's order (ties go to the earlier one).
    const DELIMITERS: [u8; 5] = [b',', b';', b'\t', b'|', b':'];

    /// Parses CSV text and renders its rows.
    pub(super) fn render(text: &str) -> Result<String, String> {
        let rows = parse(text, detect_delimiter(text))?;
        let Some((first, rest)) = rows.split_first() else { return Ok(String::new()) };
        let (headers, data) = if is_header(first) {
            (first.clone(), rest)
        } else {
            ((1..=first.len()).map(|n| format!("col_{n}")).collect(), rows.as_slice())
        };
        if data.is_empty() {
            return Ok("Empty CSV file\n".to_owned());
        }
        let mut out = String::new();
        for (index, row) in data.iter().enumerate() {
            write_row(&mut out, index + 1, &headers, row);
        }
        Ok(out)
    }

    /// Reads all records, dropping those whose cells are all blank.
    fn parse(text: &str, delimiter: u8) -> Result<Vec<Vec<String>>, String> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .from_reader(text.as_bytes());
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|error| format!("not valid CSV: {error}"))?;
            if record.iter().any(|cell| !cell.trim().is_empty()) {
                rows.push(record.iter().map(str::to_owned).collect());
            }
        }
        Ok(rows)
    }

    /// The original's delimiter guess over the first five lines. Unlike the original, the empty
    /// string after a final newline is not counted as a line: there it made every file of fewer than
    /// five rows fall back to `,`.
    fn detect_delimiter(text: &str) -> u8 {
        let body = text.strip_suffix('\n').unwrap_or(text);
        let lines: Vec<&str> = body.split('\n').take(5).collect();
        if lines.len() < 2 {
            return b',';
        }
        let mut best: Option<(u8, usize)> = None;
        for delimiter in DELIMITERS {
            let mut counts = lines.iter().map(|line| line.bytes().filter(|&b| b == delimiter).count());
            let first = counts.next().unwrap_or(0);
            let consistent = first > 0 && counts.all(|count| count == first);
            if consistent && best.is_none_or(|(_, top)| first > top) {
                best = Some((delimiter, first));
            }
        }
        best.map_or(b',', |(delimiter, _)| delimiter)
    }

    /// The original's header guess: two or more cells, at least 70% of them not numbers.
    fn is_header(row: &[String]) -> bool {
        let non_numeric = row.iter().filter(|cell| !is_numeric(cell)).count();
        row.len() > 1 && non_numeric as f64 >= row.len() as f64 * 0.7
    }

    /// Python's `float(cell.replace(',', '').replace(' ', ''))` succeeding, as the original tests it.
    pub(super) fn is_numeric(cell: &str) -> bool {
        let squeezed: String = cell.chars().filter(|c| *c != ',' && *c != ' ').collect();
        let trimmed = squeezed.trim();
        let bytes = trimmed.as_bytes();
        // Python accepts `_` between digits ("1_000"); Rust's parser does not, so drop those.
        let underscores_ok = bytes.iter().enumerate().all(|(i, &b)| {
            b != b'_'
                || (i > 0
                    && bytes[i - 1].is_ascii_digit()
                    && bytes.get(i + 1).is_some_and(|next| next.is_ascii_digit()))
        });
        underscores_ok && trimmed.replace('_', "").parse::<f64>().is_ok()
    }

    /// Appends one row as `Row N:` and its `  column: value` lines.
    fn write_row(out: &mut String, number: usize, headers: &[String], row: &[String]) {
        out.push_str(&format!("Row {number}:\n"));
        for (index, header) in headers.iter().enumerate() {
            let value = row.get(index).map_or("", String::as_str);
            out.push_str(&format!("  {header}: {value}\n"));
        }
        out.push('\n');
    }
}

/// PDF text per page, through pdf-extract (fonts, encodings, ToUnicode) on top of lopdf (parsing).
///
/// Before pdf-extract runs, the document is made safe for it: load-time streams are checked for
/// decompression bombs, Flate streams are inflated here under a size budget (so nothing inflates
/// unbounded later), image data is dropped (pdf-extract would otherwise parse it as content), and
/// form XObjects are checked for cycles and excessive nesting (pdf-extract follows them by plain
/// recursion; a form that draws itself would overflow the stack, which no `catch_unwind` can stop).
mod pdf {
    use super::{Limits, Part, guarded, sniff};
    use pdf_extract::content::Content;
    use pdf_extract::{Dictionary, Document, MediaBox, Object, ObjectId, OutputDev, OutputError, Stream, Transform};
    use std::io::Read;

    /// How deep objects nest at most, as lopdf's parser allows.
    const MAX_NESTING: usize = 100;
    /// How far into the file the `%PDF-` header may start (readers commonly allow 1024 bytes of junk).
    const HEADER_WINDOW: usize = 1024;

    /// Reads the text of each page of a PDF.
    pub(super) fn pages(bytes: &[u8], limits: &Limits) -> Result<Vec<Part>, String> {
        check_header(bytes)?;
        check_load_time_streams(bytes, limits)?;
        let mut doc = guarded("cannot parse the PDF", || {
            Document::load_mem(bytes).map_err(|error| format!("cannot parse the PDF: {error}"))
        })?;
        check_encryption(&mut doc)?;
        prepare_streams(&mut doc, limits)?;
        pin_inherited(&mut doc);
        check_forms(&doc, limits)?;
        let pages = page_texts(&doc)?;
        if pages.is_empty() {
            return Err("the PDF has no pages".to_owned());
        }
        Ok(pages.into_iter().map(|(page, text)| Part { page: Some(page), text: tidy(&text) }).collect())
    }

    /// Cleans a page's text: drops control characters (fonts without a Unicode mapping yield raw
    /// glyph codes), trims line ends, keeps at most one blank line in a row, and trims the page.
    fn tidy(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut blank_lines = 0;
        for line in text.lines() {
            let line: String = line.chars().filter(|c| !c.is_control() || *c == '\t').collect();
            let line = line.trim_end();
            if line.trim().is_empty() {
                blank_lines += 1;
                continue;
            }
            if !out.is_empty() {
                out.push_str(if blank_lines > 0 { "\n\n" } else { "\n" });
            }
            blank_lines = 0;
            out.push_str(if out.is_empty() { line.trim_start() } else { line });
        }
        out
    }

    /// Refuses a file without the `%PDF-` header near its start.
    fn check_header(bytes: &[u8]) -> Result<(), String> {
        let window = &bytes[..bytes.len().min(HEADER_WINDOW + 5)];
        if find(window, b"%PDF-").is_some() {
            return Ok(());
        }
        Err(match sniff(bytes) {
            Some(what) => format!("not a PDF: no %PDF header (it looks like {what})"),
            None => "not a PDF: no %PDF header".to_owned(),
        })
    }

    /// Checks the streams lopdf inflates while loading (object streams, cross-reference streams),
    /// by a raw scan of the file, before lopdf inflates them without a bound.
    fn check_load_time_streams(bytes: &[u8], limits: &Limits) -> Result<(), String> {
        let mut total = 0usize;
        for marker in [&b"/ObjStm"[..], b"/XRef"] {
            let mut from = 0;
            while let Some(at) = find(&bytes[from..], marker) {
                from += at + marker.len();
                if let Some(data) = stream_data_after(&bytes[from..]) {
                    total += inflated_len(data, limits.pdf_inflated.saturating_sub(total));
                    if total > limits.pdf_inflated {
                        return Err(too_large(limits));
                    }
                }
            }
        }
        Ok(())
    }

    /// The data of the stream whose dictionary is open at the start of `rest`.
    fn stream_data_after(rest: &[u8]) -> Option<&[u8]> {
        let window = &rest[..rest.len().min(4096)];
        let keyword = find(window, b"stream")?;
        let data = &rest[keyword + b"stream".len()..];
        let data = data.strip_prefix(b"\r").unwrap_or(data);
        Some(data.strip_prefix(b"\n").unwrap_or(data))
    }

    /// How many bytes a Flate stream inflates to, counting at most `limit + 1`.
    fn inflated_len(data: &[u8], limit: usize) -> usize {
        let mut decoder = flate2::read::ZlibDecoder::new(data).take(limit as u64 + 1);
        let mut buffer = [0u8; 16 * 1024];
        let mut total = 0usize;
        while let Ok(read) = decoder.read(&mut buffer) {
            if read == 0 {
                break;
            }
            total += read;
        }
        total
    }

    /// The reason given when a PDF's streams exceed the budget.
    fn too_large(limits: &Limits) -> String {
        format!("too large once decompressed: the PDF's streams exceed {} MiB", limits.pdf_inflated >> 20)
    }

    /// Refuses a PDF that needs a password. One with an empty user password (restrictions only)
    /// has already been decrypted by lopdf while loading, and is read like any other.
    fn check_encryption(doc: &mut Document) -> Result<(), String> {
        if doc.trailer.get(b"Encrypt").is_err() {
            return Ok(());
        }
        if !doc.was_encrypted() {
            return Err("the PDF is encrypted and needs a password; upload an unprotected copy".to_owned());
        }
        // The objects are decrypted; without this, pdf-extract logs that the document is encrypted.
        doc.trailer.remove(b"Encrypt");
        Ok(())
    }

    /// Inflates every Flate stream under the size budget and drops image data, so pdf-extract never
    /// inflates anything itself; also removes an encoding name pdf-extract panics on. Streams with
    /// other filters, or with predictor parameters, are left to lopdf.
    fn prepare_streams(doc: &mut Document, limits: &Limits) -> Result<(), String> {
        let mut total = 0usize;
        for object in doc.objects.values_mut() {
            drop_standard_encoding(object, MAX_NESTING);
            let Object::Stream(stream) = object else { continue };
            if is_image(stream) {
                stream.set_plain_content(Vec::new());
                continue;
            }
            if !is_plain_flate(stream) {
                continue;
            }
            let inflated =
                inflate(&stream.content, limits.pdf_inflated.saturating_sub(total)).ok_or_else(|| too_large(limits))?;
            total += inflated.len();
            stream.set_plain_content(inflated);
        }
        Ok(())
    }

    /// Drops `/Encoding /StandardEncoding` from fonts and `/BaseEncoding /StandardEncoding` from encoding
    /// dictionaries. The spec allows neither name there (absence already means the font's standard
    /// encoding), but producers write them, and pdf-extract panics on them.
    fn drop_standard_encoding(object: &mut Object, depth: usize) {
        let dict = match object {
            Object::Dictionary(dict) => dict,
            Object::Stream(stream) => &mut stream.dict,
            Object::Array(items) if depth > 0 => {
                items.iter_mut().for_each(|item| drop_standard_encoding(item, depth - 1));
                return;
            }
            _ => return,
        };
        for key in [&b"Encoding"[..], b"BaseEncoding"] {
            if matches!(dict.get(key).and_then(Object::as_name), Ok(b"StandardEncoding")) {
                dict.remove(key);
            }
        }
        if depth > 0 {
            dict.iter_mut().for_each(|(_, value)| drop_standard_encoding(value, depth - 1));
        }
    }

    /// Whether a stream is an image XObject, whose data holds no text.
    fn is_image(stream: &Stream) -> bool {
        matches!(stream.dict.get(b"Subtype").and_then(Object::as_name), Ok(b"Image"))
    }

    /// Whether a stream's only filter is Flate, with no predictor parameters.
    fn is_plain_flate(stream: &Stream) -> bool {
        let single_flate = matches!(stream.filters().as_deref(), Ok([b"FlateDecode"]));
        single_flate && stream.dict.get(b"DecodeParms").is_err()
    }

    /// Inflates zlib data as lopdf does (partial output on corruption; raw deflate when the zlib
    /// header is bad), but returns `None` past `limit` bytes instead of growing without bound.
    fn inflate(data: &[u8], limit: usize) -> Option<Vec<u8>> {
        let cap = limit as u64 + 1;
        let mut out = Vec::new();
        let zlib = flate2::read::ZlibDecoder::new(data).take(cap).read_to_end(&mut out);
        if zlib.is_err() && out.is_empty() && data.len() > 2 {
            // Partial output is what lopdf would keep too; the error itself is not useful here.
            let _ = flate2::read::DeflateDecoder::new(&data[2..]).take(cap).read_to_end(&mut out);
        }
        (out.len() <= limit).then_some(out)
    }

    /// Copies each page's inherited `MediaBox` and `Resources` onto the page itself (a Letter media
    /// box and empty resources where none is found). pdf-extract looks them up by following
    /// `/Parent` without a bound, so a cycle in a malformed page tree would overflow the stack, and
    /// it panics on a page without a media box.
    fn pin_inherited(doc: &mut Document) {
        for page_id in doc.get_pages().into_values() {
            let letter = || Object::Array(vec![0.into(), 0.into(), 612.into(), 792.into()]);
            let media_box = inherited(doc, page_id, b"MediaBox").unwrap_or_else(letter);
            let resources = inherited(doc, page_id, b"Resources").unwrap_or_else(|| Dictionary::new().into());
            if let Ok(page) = doc.get_dictionary_mut(page_id) {
                page.set("MediaBox", media_box);
                page.set("Resources", resources);
            }
        }
    }

    /// The value of `key` on a page or the nearest ancestor that has it, searching a bounded depth.
    fn inherited(doc: &Document, page_id: ObjectId, key: &[u8]) -> Option<Object> {
        let mut node = doc.get_dictionary(page_id).ok()?;
        for _ in 0..MAX_NESTING {
            if let Ok(value) = node.get(key) {
                return Some(value.clone());
            }
            let parent = node.get(b"Parent").and_then(Object::as_reference).ok()?;
            node = doc.get_dictionary(parent).ok()?;
        }
        None
    }

    /// Bounds the forms each page draws: no cycles, limited nesting, limited total content.
    fn check_forms(doc: &Document, limits: &Limits) -> Result<(), String> {
        let mut budget = limits.pdf_content;
        for (number, page_id) in doc.get_pages() {
            let Ok(page) = doc.get_dictionary(page_id) else { continue };
            let Some(resources) = dictionary_at(doc, page, b"Resources") else { continue };
            let content = doc.get_page_content(page_id).unwrap_or_default();
            let mut walk = FormWalk { doc, limits, budget, stack: Vec::new() };
            walk.content(&content, resources).map_err(|reason| format!("page {number}: {reason}"))?;
            budget = walk.budget;
        }
        Ok(())
    }

    /// The dictionary under `key`, following a reference.
    fn dictionary_at<'a>(doc: &'a Document, dict: &'a Dictionary, key: &[u8]) -> Option<&'a Dictionary> {
        let (_, object) = doc.dereference(dict.get(key).ok()?).ok()?;
        object.as_dict().ok()
    }

    /// A depth-first walk over the forms drawn by one page's content.
    struct FormWalk<'a> {
        doc: &'a Document,
        limits: &'a Limits,
        /// Content bytes left to interpret in the whole document.
        budget: usize,
        /// The forms being drawn, outermost first.
        stack: Vec<ObjectId>,
    }

    impl<'a> FormWalk<'a> {
        /// Walks one content stream drawn with `resources`.
        fn content(&mut self, content: &[u8], resources: &'a Dictionary) -> Result<(), String> {
            self.budget = self.budget.checked_sub(content.len()).ok_or_else(|| {
                format!("draws more than {} MiB of content (repeated forms)", self.limits.pdf_content >> 20)
            })?;
            // Content that does not decode is reported by pdf-extract itself.
            let Ok(content) = Content::decode(content) else { return Ok(()) };
            for operation in content.operations.iter().filter(|operation| operation.operator == "Do") {
                let Some(name) = operation.operands.first().and_then(|name| name.as_name().ok()) else { continue };
                let Some((id, form)) = self.xobject(resources, name) else { continue };
                self.form(id, form, resources)?;
            }
            Ok(())
        }

        /// Walks a form drawn from content that used `outer` resources.
        fn form(&mut self, id: ObjectId, form: &'a Stream, outer: &'a Dictionary) -> Result<(), String> {
            if self.stack.contains(&id) {
                return Err("a form XObject draws itself (a cycle); the file is malformed".to_owned());
            }
            if self.stack.len() >= self.limits.pdf_form_depth {
                return Err(format!("form XObjects are nested more than {} deep", self.limits.pdf_form_depth));
            }
            let resources = dictionary_at(self.doc, &form.dict, b"Resources").unwrap_or(outer);
            self.stack.push(id);
            let result = self.content(&form.content, resources);
            self.stack.pop();
            result
        }

        /// The XObject stream called `name` in `resources`, with its object id.
        fn xobject(&self, resources: &'a Dictionary, name: &[u8]) -> Option<(ObjectId, &'a Stream)> {
            let xobjects = dictionary_at(self.doc, resources, b"XObject")?;
            let id = xobjects.get(name).and_then(Object::as_reference).ok()?;
            let stream = self.doc.get_object(id).and_then(Object::as_stream).ok()?;
            Some((id, stream))
        }
    }

    /// Runs pdf-extract over the whole document once, collecting text per page.
    fn page_texts(doc: &Document) -> Result<Vec<(u32, String)>, String> {
        let mut output = PageTexts::default();
        let result = catch_output(|| pdf_extract::output_doc(doc, &mut output));
        let page = output.pages.last().map_or(1, |(number, _)| *number);
        match result {
            Ok(()) => Ok(output.pages),
            Err(reason) => Err(format!("page {page} cannot be read: {reason}")),
        }
    }

    /// Runs pdf-extract, turning its errors and panics into a reason.
    fn catch_output(run: impl FnOnce() -> Result<(), OutputError>) -> Result<(), String> {
        guarded("the PDF reader failed", || run().map_err(|error| error.to_string()))
    }

    /// Text per page, laid out with pdf-extract's `PlainTextOutput` rules: a line break when the text
    /// goes back left and down, another when the baseline moves by more than 1.5 font sizes (so a
    /// paragraph gap gives a blank line), a space when a word starts more than 0.1 font size after
    /// the previous glyph ended. Collecting pages here, rather than
    /// calling pdf-extract page by page, keeps the work linear in the number of pages.
    #[derive(Default)]
    struct PageTexts {
        /// Page number and text, in order.
        pages: Vec<(u32, String)>,
        /// Height of the current page's media box, to flip y downwards.
        height: f64,
        /// Where the previous glyph ended, horizontally.
        last_end: f64,
        /// The previous glyph's baseline.
        last_y: f64,
        /// Whether the next glyph starts a word.
        word_start: bool,
    }

    impl OutputDev for PageTexts {
        fn begin_page(
            &mut self,
            page_num: u32,
            media_box: &MediaBox,
            _art_box: Option<(f64, f64, f64, f64)>,
        ) -> Result<(), OutputError> {
            self.pages.push((page_num, String::new()));
            self.height = media_box.ury - media_box.lly;
            self.last_end = 100_000.0;
            self.last_y = 0.0;
            self.word_start = false;
            Ok(())
        }

        fn end_page(&mut self) -> Result<(), OutputError> {
            Ok(())
        }

        fn output_character(
            &mut self,
            trm: &Transform,
            width: f64,
            _spacing: f64,
            font_size: f64,
            char: &str,
        ) -> Result<(), OutputError> {
            let Some((_, text)) = self.pages.last_mut() else { return Ok(()) };
            let (x, y) = (trm.m31, self.height - trm.m32);
            let size = (font_size * (trm.m11 + trm.m21) * font_size * (trm.m12 + trm.m22)).sqrt();
            if self.word_start {
                // Both rules may fire: a wide gap then gives a blank line, as in pdf-extract.
                let moved = (y - self.last_y).abs();
                if moved > size * 1.5 {
                    text.push('\n');
                }
                if x < self.last_end && moved > size * 0.5 {
                    text.push('\n');
                }
                if x > self.last_end + size * 0.1 {
                    text.push(' ');
                }
            }
            text.push_str(char);
            self.word_start = false;
            self.last_y = y;
            self.last_end = x + width * size;
            Ok(())
        }

        fn begin_word(&mut self) -> Result<(), OutputError> {
            self.word_start = true;
            Ok(())
        }

        fn end_word(&mut self) -> Result<(), OutputError> {
            Ok(())
        }

        fn end_line(&mut self) -> Result<(), OutputError> {
            Ok(())
        }
    }

    /// Where `needle` first occurs in `haystack`.
    fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        memchr::memmem::find(haystack, needle)
    }
}

/// Word (OOXML) text: the paragraphs of `word/document.xml` in order, tables included.
///
/// Paragraphs are separated by a blank line; a table is one block whose rows are lines and whose
/// cells are joined by ` | `. Tabs and line breaks inside runs are kept; deleted text (tracked
/// changes), field codes and the `mc:Fallback` copies of drawings are skipped. Headers, footers,
/// footnotes and comments (other parts of the package) are not read.
mod docx {
    use super::{Limits, sniff};
    use quick_xml::events::{BytesRef, Event};
    use quick_xml::{Reader, escape};
    use std::io::{Cursor, Read};

    /// The part holding the main text.
    const DOCUMENT: &str = "word/document.xml";

    /// Reads the text of a docx file.
    pub(super) fn text(bytes: &[u8], limits: &Limits) -> Result<String, String> {
        let xml = document_xml(bytes, limits)?;
        let xml = std::str::from_utf8(&xml)
            .map_err(|error| format!("{DOCUMENT} is not valid UTF-8 at byte {}", error.valid_up_to()))?;
        paragraphs(xml.strip_prefix('\u{FEFF}').unwrap_or(xml))
    }

    /// The decompressed bytes of `word/document.xml`, at most `limits.docx_xml` of them.
    fn document_xml(bytes: &[u8], limits: &Limits) -> Result<Vec<u8>, String> {
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|error| match sniff(bytes) {
            Some(what) if !what.starts_with("a zip") => format!("not a docx: it looks like {what}"),
            _ => format!("not a docx: not a valid zip archive ({error})"),
        })?;
        let entry = archive.by_name(DOCUMENT).map_err(|error| match error {
            zip::result::ZipError::FileNotFound => format!("docx has no {DOCUMENT}; is it a Word document?"),
            other => format!("cannot open {DOCUMENT}: {other}"),
        })?;
        let mut xml = Vec::new();
        entry
            .take(limits.docx_xml as u64 + 1)
            .read_to_end(&mut xml)
            .map_err(|error| format!("cannot decompress {DOCUMENT}: {error}"))?;
        if xml.len() > limits.docx_xml {
            return Err(format!("too large once decompressed: {DOCUMENT} exceeds {} MiB", limits.docx_xml >> 20));
        }
        Ok(xml)
    }

    /// Collects the paragraphs and tables of document XML into text.
    fn paragraphs(xml: &str) -> Result<String, String> {
        let mut reader = Reader::from_str(xml);
        reader.config_mut().trim_text(false);
        let mut text = DocxText::default();
        loop {
            let event = reader.read_event().map_err(|error| {
                format!("{DOCUMENT} is not well-formed XML (at byte {}): {error}", reader.error_position())
            })?;
            match event {
                Event::Start(element) => text.start(element.local_name().as_ref()),
                Event::Empty(element) => text.empty(element.local_name().as_ref()),
                Event::End(element) => text.end(element.local_name().as_ref()),
                Event::Text(content) => text.push_text(&content.xml10_content()),
                Event::CData(content) => text.push_text(&content.xml10_content()),
                Event::GeneralRef(reference) => text.push_text(&resolve(&reference)),
                Event::Eof => break,
                _ => {}
            }
        }
        Ok(text.blocks.join("\n\n"))
    }

    /// The text an entity or character reference stands for; unknown entities give nothing.
    fn resolve(reference: &BytesRef<'_>) -> String {
        match reference.resolve_char_ref() {
            Ok(Some(c)) => c.to_string(),
            Ok(None) => escape::resolve_predefined_entity(reference).unwrap_or_default().to_owned(),
            Err(_) => String::new(),
        }
    }

    /// The state of a walk over document XML.
    #[derive(Default)]
    struct DocxText {
        /// Finished paragraphs and tables.
        blocks: Vec<String>,
        /// The paragraph being read.
        paragraph: String,
        /// Nesting of `w:p` (text boxes put paragraphs inside paragraphs).
        paragraph_depth: usize,
        /// Nesting of `w:r`; tabs and breaks count only inside runs.
        run_depth: usize,
        /// Nesting of `w:tbl`; only the outermost table's rows and cells are laid out.
        table_depth: usize,
        /// Rows of the outermost table being read.
        rows: Vec<String>,
        /// Cells of the row being read.
        cells: Vec<String>,
        /// Text of the cell being read.
        cell: String,
        /// Whether a `w:t` (or other `*:t` text element) is open.
        in_text: bool,
        /// Nesting inside a skipped element (`mc:Fallback`); nothing inside it counts.
        skip_depth: usize,
    }

    impl DocxText {
        /// Handles an opening tag.
        fn start(&mut self, name: &str) {
            if self.skip_depth > 0 || name == "Fallback" {
                self.skip_depth += 1;
                return;
            }
            match name {
                "p" => {
                    self.paragraph_depth += 1;
                    if self.paragraph_depth > 1 {
                        self.paragraph.push(' ');
                    }
                }
                "r" => self.run_depth += 1,
                "t" => self.in_text = true,
                "tbl" => self.table_depth += 1,
                "tr" if self.table_depth == 1 => self.cells.clear(),
                "tc" if self.table_depth == 1 => self.cell.clear(),
                _ => {}
            }
        }

        /// Handles a self-closing tag.
        fn empty(&mut self, name: &str) {
            if self.skip_depth > 0 {
                return;
            }
            match name {
                "tab" | "ptab" if self.run_depth > 0 => self.paragraph.push('\t'),
                "br" | "cr" if self.run_depth > 0 => self.paragraph.push('\n'),
                "noBreakHyphen" if self.run_depth > 0 => self.paragraph.push('-'),
                "tc" if self.table_depth == 1 => self.cells.push(String::new()),
                _ => {}
            }
        }

        /// Handles a closing tag.
        fn end(&mut self, name: &str) {
            if self.skip_depth > 0 {
                self.skip_depth -= 1;
                return;
            }
            match name {
                "p" => {
                    self.paragraph_depth = self.paragraph_depth.saturating_sub(1);
                    if self.paragraph_depth == 0 {
                        self.finish_paragraph();
                    }
                }
                "r" => self.run_depth = self.run_depth.saturating_sub(1),
                "t" => self.in_text = false,
                "tc" if self.table_depth == 1 => self.cells.push(std::mem::take(&mut self.cell)),
                "tr" if self.table_depth == 1 => self.finish_row(),
                "tbl" => {
                    self.table_depth = self.table_depth.saturating_sub(1);
                    if self.table_depth == 0 && !self.rows.is_empty() {
                        self.blocks.push(self.rows.join("\n"));
                        self.rows.clear();
                    }
                }
                _ => {}
            }
        }

        /// Appends text, when inside a text element.
        fn push_text(&mut self, text: &str) {
            if self.in_text && self.skip_depth == 0 && self.paragraph_depth > 0 {
                self.paragraph.push_str(text);
            }
        }

        /// Ends the outermost paragraph: a block of its own, or part of the current table cell.
        fn finish_paragraph(&mut self) {
            let paragraph = std::mem::take(&mut self.paragraph);
            let paragraph = paragraph.trim();
            if paragraph.is_empty() {
                return;
            }
            if self.table_depth == 0 {
                self.blocks.push(paragraph.to_owned());
            } else {
                if !self.cell.is_empty() {
                    self.cell.push(' ');
                }
                self.cell.push_str(paragraph);
            }
        }

        /// Ends a row of the outermost table, keeping it when any cell has text.
        fn finish_row(&mut self) {
            let cells = std::mem::take(&mut self.cells);
            if cells.iter().any(|cell| !cell.is_empty()) {
                self.rows.push(cells.join(" | "));
            }
        }
    }
}

/// HTML visible text: the body's text without scripts, styles or the head, blocks on their own lines.
///
/// Parsing is html5ever's (through `scraper`), so entities, implied tags and broken markup are
/// handled as browsers do. Whitespace collapses to single spaces except in `pre`. Paragraph-like
/// blocks are separated by a blank line, other blocks (`div`, `li`, `tr`...) and `br` by a line
/// break; table cells are joined by ` | `. Elements with the `hidden` attribute are skipped.
mod html {
    use super::plain;
    use ego_tree::iter::Edge;
    use encoding_rs::Encoding;
    use scraper::{Html, Node};

    /// Elements whose content is never visible text.
    const SKIPPED: [&str; 7] = ["head", "script", "style", "noscript", "template", "title", "iframe"];
    /// Blocks separated from their neighbours by a blank line.
    const PARAGRAPHS: [&str; 22] = [
        "p",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "table",
        "ul",
        "ol",
        "dl",
        "section",
        "article",
        "header",
        "footer",
        "aside",
        "nav",
        "main",
        "figure",
        "hr",
    ];
    /// Blocks separated from their neighbours by a line break.
    const LINES: [&str; 17] = [
        "div",
        "li",
        "tr",
        "dt",
        "dd",
        "address",
        "caption",
        "details",
        "summary",
        "figcaption",
        "form",
        "fieldset",
        "legend",
        "option",
        "body",
        "tbody",
        "thead",
    ];

    /// Decodes an HTML file: as text files are, or in the charset its start declares
    /// (`<meta charset>`, `http-equiv` or an XML declaration) when it is not UTF-8.
    pub(super) fn decode(bytes: &[u8]) -> Result<String, String> {
        let utf8 = plain::decode(bytes);
        if utf8.is_ok() || bytes.starts_with(b"\xEF\xBB\xBF") {
            return utf8;
        }
        let Some(encoding) = declared_charset(bytes).and_then(Encoding::for_label) else {
            return utf8.map_err(|reason| format!("{reason}; or declare its charset in a <meta> tag"));
        };
        let (text, _) = encoding.decode_without_bom_handling(bytes);
        if text.contains('\0') {
            return Err("contains a NUL byte; this looks like a binary file, not text".to_owned());
        }
        plain::check_text(text.into_owned())
    }

    /// The charset label declared near the start of an HTML file, if any.
    fn declared_charset(bytes: &[u8]) -> Option<&[u8]> {
        let head = &bytes[..bytes.len().min(2048)];
        let lower = head.to_ascii_lowercase();
        let at = ["charset=", "encoding="].iter().find_map(|key| {
            lower.windows(key.len()).position(|window| window == key.as_bytes()).map(|at| at + key.len())
        })?;
        let value = &head[at..];
        let value = value.strip_prefix(b"\"").or_else(|| value.strip_prefix(b"'")).unwrap_or(value);
        let end = value.iter().position(|b| !(b.is_ascii_alphanumeric() || b"-_.:".contains(b))).unwrap_or(value.len());
        (end > 0).then(|| &value[..end])
    }

    /// The visible text of an HTML document.
    pub(super) fn visible_text(source: &str) -> String {
        let document = Html::parse_document(source);
        let mut out = TextWriter::default();
        let mut skip_depth = 0usize;
        let mut pre_depth = 0usize;
        for edge in document.tree.root().traverse() {
            match edge {
                Edge::Open(_) if skip_depth > 0 => skip_depth += 1,
                Edge::Close(_) if skip_depth > 0 => skip_depth -= 1,
                Edge::Open(node) => match node.value() {
                    Node::Element(element) if is_skipped(element) => skip_depth = 1,
                    Node::Element(element) => {
                        pre_depth += usize::from(element.name() == "pre");
                        out.open(element.name());
                    }
                    Node::Text(text) => out.text(text, pre_depth > 0),
                    _ => {}
                },
                Edge::Close(node) => {
                    if let Node::Element(element) = node.value() {
                        pre_depth -= usize::from(element.name() == "pre" && pre_depth > 0);
                        out.close(element.name());
                    }
                }
            }
        }
        out.text
    }

    /// Whether an element's content is left out.
    fn is_skipped(element: &scraper::node::Element) -> bool {
        SKIPPED.contains(&element.name()) || element.attr("hidden").is_some()
    }

    /// Accumulates text, merging requested breaks so that blocks never produce runs of blank lines.
    #[derive(Default)]
    struct TextWriter {
        /// The text so far.
        text: String,
        /// Line breaks owed before the next text: 0, 1 (new line) or 2 (blank line).
        pending_breaks: usize,
        /// Whether a space is owed before the next text.
        pending_space: bool,
        /// Whether the current table row has text yet.
        row_has_text: bool,
        /// Whether a cell separator is owed before the next text of the row.
        pending_cell: bool,
    }

    impl TextWriter {
        /// Notes an element's start.
        fn open(&mut self, name: &str) {
            match name {
                "td" | "th" => self.pending_cell = self.row_has_text,
                "tr" => {
                    self.row_has_text = false;
                    self.pending_cell = false;
                    self.request_break(1);
                }
                "br" => self.force_break(),
                _ => self.request_block_break(name),
            }
        }

        /// Notes an element's end.
        fn close(&mut self, name: &str) {
            if !matches!(name, "td" | "th") {
                self.request_block_break(name);
            }
        }

        /// Requests the break a block element needs, if it is one.
        fn request_block_break(&mut self, name: &str) {
            if PARAGRAPHS.contains(&name) {
                self.request_break(2);
            } else if LINES.contains(&name) {
                self.request_break(1);
            }
        }

        /// Asks for at least `count` line breaks before the next text.
        fn request_break(&mut self, count: usize) {
            self.pending_breaks = self.pending_breaks.max(count);
        }

        /// A `br`: a line break now, even on an empty line.
        fn force_break(&mut self) {
            if self.pending_breaks == 0 {
                self.text.push('\n');
            } else {
                self.request_break(1);
            }
            self.pending_space = false;
        }

        /// Adds a text node, collapsing whitespace unless it is preformatted.
        fn text(&mut self, content: &str, preformatted: bool) {
            if preformatted {
                self.push(content);
                return;
            }
            if content.starts_with(char::is_whitespace) {
                self.pending_space = true;
            }
            for (index, word) in content.split_whitespace().enumerate() {
                if index > 0 {
                    self.pending_space = true;
                }
                self.push(word);
            }
            if content.ends_with(char::is_whitespace) {
                self.pending_space = true;
            }
        }

        /// Appends text after any owed breaks or space.
        fn push(&mut self, content: &str) {
            if content.is_empty() {
                return;
            }
            if self.pending_breaks > 0 {
                if !self.text.is_empty() {
                    let trimmed = self.text.trim_end_matches(' ').len();
                    self.text.truncate(trimmed);
                    self.text.push_str(&"\n".repeat(self.pending_breaks));
                }
                self.pending_breaks = 0;
            } else if self.pending_cell {
                let trimmed = self.text.trim_end_matches(' ').len();
                self.text.truncate(trimmed);
                self.text.push_str(" | ");
            } else if self.pending_space && !self.text.is_empty() && !self.text.ends_with('\n') {
                self.text.push(' ');
            }
            self.pending_space = false;
            self.pending_cell = false;
            self.row_has_text = true;
            self.text.push_str(content);
        }
    }
}

/// Generators of small, well-formed documents, for tests and benches that need real files.
pub mod fixtures {
    use pdf_extract::content::{Content, Operation};
    use pdf_extract::{Dictionary, Document, Object, ObjectId, Stream, StringFormat};
    use std::io::{Cursor, Write};

    /// Font size of fixture text, in points.
    const FONT_SIZE: i64 = 12;
    /// Distance between fixture lines, in points.
    const LEADING: i64 = 14;

    /// A PDF with one page per entry of `pages`, each line of an entry drawn as one line of text.
    ///
    /// Lines alternate between two standard fonts (Helvetica, Times-Roman; WinAnsi encoding). A line
    /// with characters outside Latin-1 is drawn with a Type0 font whose ToUnicode map gives the text
    /// back, as embedded subset fonts do. Streams are Flate-compressed.
    pub fn pdf(pages: &[&str]) -> Vec<u8> {
        let mut doc = pdf_document(pages);
        save_pdf(&mut doc)
    }

    /// The document [`pdf`] writes, for tests that alter it first (e.g. to encrypt it).
    pub fn pdf_document(pages: &[&str]) -> Document {
        let mut doc = Document::with_version("1.7");
        let unicode: Vec<char> = unicode_alphabet(pages);
        let fonts = fonts(&mut doc, &unicode);
        let pages_id = doc.new_object_id();
        let mut kids = Vec::new();
        for page in pages {
            let content = page_content(page, &unicode);
            let content_id = doc.add_object(Stream::new(Dictionary::new(), content));
            let mut page_dict = dict(&[("Type", Object::Name(b"Page".to_vec()))]);
            page_dict.set("Parent", pages_id);
            page_dict.set("Contents", content_id);
            kids.push(Object::Reference(doc.add_object(page_dict)));
        }
        let mut pages_dict = dict(&[
            ("Type", Object::Name(b"Pages".to_vec())),
            ("Count", Object::Integer(pages.len() as i64)),
            ("MediaBox", Object::Array(vec![0.into(), 0.into(), 612.into(), 792.into()])),
        ]);
        pages_dict.set("Kids", kids);
        pages_dict.set("Resources", dict(&[("Font", Object::Dictionary(fonts))]));
        doc.objects.insert(pages_id, Object::Dictionary(pages_dict));
        let mut catalog = dict(&[("Type", Object::Name(b"Catalog".to_vec()))]);
        catalog.set("Pages", pages_id);
        let catalog_id = doc.add_object(catalog);
        doc.trailer.set("Root", catalog_id);
        doc.compress();
        doc
    }

    /// Serialises a fixture document.
    pub fn save_pdf(doc: &mut Document) -> Vec<u8> {
        let mut bytes = Vec::new();
        doc.save_to(&mut bytes).expect("writing a PDF to memory cannot fail");
        bytes
    }

    /// A docx whose body holds one paragraph per entry; a `\n` inside an entry becomes a line break.
    pub fn docx(paragraphs: &[&str]) -> Vec<u8> {
        let body: String = paragraphs
            .iter()
            .map(|paragraph| {
                let runs: Vec<String> = paragraph
                    .split('\n')
                    .map(|line| format!("<w:t xml:space=\"preserve\">{}</w:t>", quick_xml::escape::escape(line)))
                    .collect();
                format!("<w:p><w:r>{}</w:r></w:p>", runs.join("<w:br/>"))
            })
            .collect();
        docx_with_body(&body)
    }

    /// A docx whose `w:body` is the given WordprocessingML (namespace prefix `w`).
    pub fn docx_with_body(body: &str) -> Vec<u8> {
        let document = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\
             <w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\" \
             xmlns:mc=\"http://schemas.openxmlformats.org/markup-compatibility/2006\">\
             <w:body>{body}<w:sectPr/></w:body></w:document>"
        );
        zip(&[
            ("[Content_Types].xml", CONTENT_TYPES.as_bytes()),
            ("_rels/.rels", RELS.as_bytes()),
            ("word/document.xml", document.as_bytes()),
        ])
    }

    /// A zip archive of the given entries, deflated.
    pub fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, content) in entries {
            writer.start_file(*name, options).expect("a fixture entry name is valid");
            writer.write_all(content).expect("writing to memory cannot fail");
        }
        writer.finish().expect("writing to memory cannot fail").into_inner()
    }

    /// `[Content_Types].xml` of a minimal docx.
    const CONTENT_TYPES: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\
        <Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
        <Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>\
        <Default Extension=\"xml\" ContentType=\"application/xml\"/>\
        <Override PartName=\"/word/document.xml\" \
        ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/>\
        </Types>";

    /// `_rels/.rels` of a minimal docx.
    const RELS: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\
        <Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
        <Relationship Id=\"rId1\" \
        Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" \
        Target=\"word/document.xml\"/></Relationships>";

    /// A dictionary from key-value pairs.
    fn dict(entries: &[(&str, Object)]) -> Dictionary {
        let mut dict = Dictionary::new();
        for (key, value) in entries {
            dict.set(*key, value.clone());
        }
        dict
    }

    /// Whether a line can be drawn with a WinAnsi font (printable ASCII and Latin-1).
    fn is_latin1(line: &str) -> bool {
        line.chars().all(|c| matches!(c, ' '..='~' | '\u{A0}'..='\u{FF}'))
    }

    /// The distinct characters of the lines that need the Type0 font; a character's CID is its index + 1.
    fn unicode_alphabet(pages: &[&str]) -> Vec<char> {
        let mut alphabet: Vec<char> = Vec::new();
        for line in pages.iter().flat_map(|page| page.lines()).filter(|line| !is_latin1(line)) {
            for c in line.chars() {
                if !alphabet.contains(&c) {
                    alphabet.push(c);
                }
            }
        }
        alphabet
    }

    /// Adds the fonts (F1 Helvetica, F2 Times-Roman, F3 Type0 with ToUnicode) and returns the Font resource.
    fn fonts(doc: &mut Document, unicode: &[char]) -> Dictionary {
        let standard = |base: &str| {
            dict(&[
                ("Type", Object::Name(b"Font".to_vec())),
                ("Subtype", Object::Name(b"Type1".to_vec())),
                ("BaseFont", Object::Name(base.as_bytes().to_vec())),
                ("Encoding", Object::Name(b"WinAnsiEncoding".to_vec())),
            ])
        };
        let helvetica = doc.add_object(standard("Helvetica"));
        let times = doc.add_object(standard("Times-Roman"));
        let type0 = type0_font(doc, unicode);
        let mut fonts = Dictionary::new();
        fonts.set("F1", helvetica);
        fonts.set("F2", times);
        fonts.set("F3", type0);
        fonts
    }

    /// A Type0 font (Identity-H, no embedded program) whose ToUnicode CMap maps CID n to `unicode[n - 1]`.
    fn type0_font(doc: &mut Document, unicode: &[char]) -> ObjectId {
        let descriptor = doc.add_object(dict(&[
            ("Type", Object::Name(b"FontDescriptor".to_vec())),
            ("FontName", Object::Name(b"FixtureSans".to_vec())),
            ("Flags", Object::Integer(32)),
            ("FontBBox", Object::Array(vec![0.into(), (-200).into(), 1000.into(), 800.into()])),
            ("ItalicAngle", Object::Integer(0)),
            ("Ascent", Object::Integer(800)),
            ("Descent", Object::Integer(-200)),
            ("CapHeight", Object::Integer(700)),
            ("StemV", Object::Integer(80)),
        ]));
        let system_info = dict(&[
            ("Registry", Object::string_literal("Adobe")),
            ("Ordering", Object::string_literal("Identity")),
            ("Supplement", Object::Integer(0)),
        ]);
        let mut cid_font = dict(&[
            ("Type", Object::Name(b"Font".to_vec())),
            ("Subtype", Object::Name(b"CIDFontType2".to_vec())),
            ("BaseFont", Object::Name(b"FixtureSans".to_vec())),
            ("CIDSystemInfo", Object::Dictionary(system_info)),
            ("DW", Object::Integer(600)),
            ("CIDToGIDMap", Object::Name(b"Identity".to_vec())),
        ]);
        cid_font.set("FontDescriptor", descriptor);
        let cid_font = doc.add_object(cid_font);
        let to_unicode = doc.add_object(Stream::new(Dictionary::new(), to_unicode_cmap(unicode).into_bytes()));
        let mut font = dict(&[
            ("Type", Object::Name(b"Font".to_vec())),
            ("Subtype", Object::Name(b"Type0".to_vec())),
            ("BaseFont", Object::Name(b"FixtureSans".to_vec())),
            ("Encoding", Object::Name(b"Identity-H".to_vec())),
            ("DescendantFonts", Object::Array(vec![Object::Reference(cid_font)])),
        ]);
        font.set("ToUnicode", to_unicode);
        doc.add_object(font)
    }

    /// A ToUnicode CMap mapping two-byte CID n to `unicode[n - 1]` (UTF-16BE).
    fn to_unicode_cmap(unicode: &[char]) -> String {
        let mut cmap = String::from(
            "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
             /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
             /CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n\
             1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
        );
        let entries: Vec<(usize, char)> = unicode.iter().enumerate().map(|(i, c)| (i + 1, *c)).collect();
        for block in entries.chunks(100) {
            cmap.push_str(&format!("{} beginbfchar\n", block.len()));
            for (cid, c) in block {
                let mut units = [0u16; 2];
                let hex: String = c.encode_utf16(&mut units).iter().map(|unit| format!("{unit:04X}")).collect();
                cmap.push_str(&format!("<{cid:04X}> <{hex}>\n"));
            }
            cmap.push_str("endbfchar\n");
        }
        cmap.push_str(
            "endcmap\nCMapName currentdict /CIDInit /ProcSet findresource /defineresource exec pop\nend\nend\n",
        );
        cmap
    }

    /// The content stream of one page: one text line per line of `text`.
    fn page_content(text: &str, unicode: &[char]) -> Vec<u8> {
        let mut operations = vec![Operation::new("BT", vec![])];
        for (index, line) in text.lines().enumerate() {
            let (font, string) = if is_latin1(line) {
                let bytes = line.chars().map(|c| c as u32 as u8).collect();
                (if index % 2 == 0 { "F1" } else { "F2" }, Object::String(bytes, StringFormat::Literal))
            } else {
                ("F3", Object::String(cids(line, unicode), StringFormat::Hexadecimal))
            };
            let position = if index == 0 { vec![72.into(), 720.into()] } else { vec![0.into(), (-LEADING).into()] };
            operations.push(Operation::new("Tf", vec![Object::Name(font.as_bytes().to_vec()), FONT_SIZE.into()]));
            operations.push(Operation::new("Td", position));
            operations.push(Operation::new("Tj", vec![string]));
        }
        operations.push(Operation::new("ET", vec![]));
        Content { operations }.encode().expect("encoding fixture content cannot fail")
    }

    /// A line as big-endian two-byte CIDs of the Type0 font.
    fn cids(line: &str, unicode: &[char]) -> Vec<u8> {
        let cid = |c: char| unicode.iter().position(|u| *u == c).map_or(0, |i| i + 1) as u16;
        line.chars().flat_map(|c| cid(c).to_be_bytes()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pdf_extract::{Dictionary, Document, Object, ObjectId, Stream};

    /// Extracts a file that must be readable.
    fn read(name: &str, bytes: &[u8]) -> Extracted {
        extract(name, bytes).unwrap_or_else(|error| panic!("{error}"))
    }

    /// The text of a file that must give exactly one part without a page.
    fn single_text(name: &str, bytes: &[u8]) -> String {
        let extracted = read(name, bytes);
        assert_eq!(extracted.parts.len(), 1, "{extracted:?}");
        assert_eq!(extracted.parts[0].page, None);
        extracted.parts[0].text.clone()
    }

    /// The reason a file must be refused for, checking the error names the file.
    fn reason_with(name: &str, bytes: &[u8], limits: &Limits) -> String {
        match extract_with(name, bytes, limits) {
            Err(ExtractError::Undecodable { file, reason }) => {
                assert_eq!(file, name);
                reason
            }
            other => panic!("expected Undecodable for {name}, got {other:?}"),
        }
    }

    /// [`reason_with`] under the default limits.
    fn reason(name: &str, bytes: &[u8]) -> String {
        reason_with(name, bytes, &Limits::DEFAULT)
    }

    /// A deterministic pseudo-random generator (xorshift64), so failures reproduce.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, bound: usize) -> usize {
            (self.next() % bound as u64) as usize
        }
        fn bytes(&mut self, len: usize) -> Vec<u8> {
            (0..len).map(|_| self.next() as u8).collect()
        }
    }

    #[test]
    fn file_type_comes_from_the_extension_ignoring_case_and_folders() {
        assert_eq!(FileType::from_name("Notes.TXT"), Some(FileType::Txt));
        assert_eq!(FileType::from_name("notes.text"), Some(FileType::Txt));
        assert_eq!(FileType::from_name("guide.rst"), Some(FileType::Txt));
        assert_eq!(FileType::from_name("a.Markdown"), Some(FileType::Md));
        assert_eq!(FileType::from_name("site.v2/index.HTM"), Some(FileType::Html));
        assert_eq!(FileType::from_name("C:\\docs\\report.Docx"), Some(FileType::Docx));
        assert_eq!(FileType::from_name("archive.tar.gz"), None);
        assert_eq!(FileType::from_name(".txt"), None);
        assert_eq!(FileType::from_name("README"), None);
        assert_eq!(FileType::from_name("folder.pdf/README"), None);
    }

    #[test]
    fn every_type_is_found_by_its_canonical_extension() {
        for file_type in FileType::ALL {
            assert_eq!(FileType::from_name(&format!("f.{}", file_type.extension())), Some(file_type));
        }
    }

    #[test]
    fn unsupported_extension_names_the_file_and_the_supported_types() {
        let error = extract("setup.EXE", b"MZ\x90\x00").unwrap_err();
        assert_eq!(error, ExtractError::Unsupported { file: "setup.EXE".into(), extension: "exe".into() });
        assert_eq!(
            error.to_string(),
            "cannot read \"setup.EXE\": unsupported file type (\".exe\"); supported types are .txt, .text, .rst, \
             .md, .markdown, .json, .csv, .pdf, .docx, .html, .htm"
        );
        let error = extract("Makefile", b"all:").unwrap_err();
        assert!(error.to_string().contains("it has no extension"), "{error}");
    }

    #[test]
    fn undecodable_message_names_the_file_and_the_reason() {
        let error = extract("scan.pdf", b"hello").unwrap_err();
        assert_eq!(error.to_string(), "cannot read \"scan.pdf\": not a PDF: no %PDF header");
    }

    #[test]
    fn empty_file_gives_one_empty_part_for_every_type() {
        for (extension, file_type) in FileType::EXTENSIONS {
            let extracted = read(&format!("empty.{extension}"), b"");
            assert_eq!(extracted, Extracted { file_type, parts: vec![Part { page: None, text: String::new() }] });
        }
    }

    #[test]
    fn markdown_is_kept_as_written_with_line_ends_normalised() {
        let source = "# Title\r\n\r\nSome *text*.\r\n\r\n## Section\rEnd\n";
        assert_eq!(single_text("notes.md", source.as_bytes()), "# Title\n\nSome *text*.\n\n## Section\nEnd\n");
    }

    #[test]
    fn utf8_bom_is_dropped() {
        assert_eq!(single_text("a.txt", b"\xEF\xBB\xBFhello"), "hello");
    }

    #[test]
    fn utf16_with_a_bom_is_decoded() {
        let text = "Grüße 😀\r\n";
        let little: Vec<u8> = [0xFF, 0xFE].into_iter().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect();
        let big: Vec<u8> = [0xFE, 0xFF].into_iter().chain(text.encode_utf16().flat_map(u16::to_be_bytes)).collect();
        assert_eq!(single_text("le.txt", &little), "Grüße 😀\n");
        assert_eq!(single_text("be.txt", &big), "Grüße 😀\n");
        assert_eq!(reason("odd.txt", b"\xFF\xFEa"), "not valid UTF-16: the file has an odd number of bytes");
        assert_eq!(reason("lone.txt", b"\xFF\xFEa\x00\x00\xD8"), "not valid UTF-16 at byte 4 (unpaired surrogate)");
    }

    #[test]
    fn invalid_utf8_is_refused_with_its_position() {
        assert_eq!(reason("latin1.txt", b"caf\xE9 au lait"), "not valid UTF-8 at byte 3 (save the file as UTF-8)");
        assert_eq!(reason("bom.csv", b"\xEF\xBB\xBFab\xFF"), "not valid UTF-8 at byte 5 (save the file as UTF-8)");
    }

    #[test]
    fn nul_bytes_are_refused_as_binary() {
        assert_eq!(
            reason("data.json", b"{\"a\": 1}\x00"),
            "contains a NUL byte at byte 8; this looks like a binary file, not text"
        );
    }

    #[test]
    fn binary_junk_named_txt_is_refused() {
        let junk = Rng(0x5EED).bytes(4096);
        let why = reason("junk.txt", &junk);
        assert!(why.starts_with("not valid UTF-8 at byte") || why.starts_with("contains a NUL byte"), "{why}");
    }

    #[test]
    fn control_characters_are_refused_as_binary() {
        let text: String = "\u{1}\u{2}\u{3}\u{4}ab".repeat(50);
        assert_eq!(
            reason("ctl.txt", text.as_bytes()),
            "looks like a binary file, not text: 66% of its first characters are control characters"
        );
    }

    #[test]
    fn json_is_flattened_as_the_original_does() {
        let source = r#"{
            "name": "demo",
            "config": {"database": {"host": "localhost", "port": 5432}, "debug": true, "ratio": 0.5, "missing": null},
            "tags": ["a", "b"],
            "items": [{"id": 1, "dims": [2, 3]}, [4.0, 1e-7, -12345678901234567890]],
            "empty": {}, "none": [],
            "name": "renamed"
        }"#;
        let expected = "name: renamed\n\
                        config.database.host: localhost\n\
                        config.database.port: 5432\n\
                        config.debug: True\n\
                        config.ratio: 0.5\n\
                        config.missing: None\n\
                        tags[0]: a\n\
                        tags[1]: b\n\
                        items[0].id: 1\n\
                        items[0].dims[0]: 2\n\
                        items[0].dims[1]: 3\n\
                        items[1][0]: 4.0\n\
                        items[1][1]: 1e-07\n\
                        items[1][2]: -1.2345678901234567e+19\n";
        assert_eq!(single_text("data.json", source.as_bytes()), expected);
    }

    #[test]
    fn json_top_level_scalars_and_arrays_have_an_empty_prefix() {
        assert_eq!(single_text("n.json", b"42"), ": 42\n");
        assert_eq!(single_text("a.json", br#"[1, "x", {"k": false}]"#), "[0]: 1\n[1]: x\n[2].k: False\n");
        assert_eq!(single_text("o.json", b"{}"), "");
    }

    #[test]
    fn json_floats_print_as_python_repr() {
        let cases = [
            (0.5, "0.5"),
            (1.0, "1.0"),
            (100.0, "100.0"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (1e100, "1e+100"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5e-10, "-2.5e-10"),
            (123456.789, "123456.789"),
            (0.1 + 0.2, "0.30000000000000004"),
            (-0.0, "-0.0"),
        ];
        for (number, python) in cases {
            assert_eq!(json::python_float(number), python, "{number:e}");
        }
    }

    #[test]
    fn invalid_json_is_refused_with_its_position() {
        assert_eq!(reason("bad.json", b"{\"a\": }"), "not valid JSON: expected value at line 1 column 7");
    }

    #[test]
    fn deeply_nested_json_is_refused_not_overflowing_the_stack() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(
            reason("deep.json", deep.as_bytes()),
            "not valid JSON: recursion limit exceeded at line 1 column 128"
        );
    }

    #[test]
    fn csv_rows_render_as_the_original_does() {
        let source = "name,comment,score\r\nAda,\"likes, commas\",10\r\nBob,\"two\r\nlines\",7\r\n";
        let expected = "Row 1:\n  name: Ada\n  comment: likes, commas\n  score: 10\n\n\
                        Row 2:\n  name: Bob\n  comment: two\nlines\n  score: 7\n\n";
        assert_eq!(single_text("people.csv", source.as_bytes()), expected);
    }

    #[test]
    fn csv_delimiter_is_detected_and_numeric_first_rows_are_data() {
        let expected = "Row 1:\n  col_1: 1\n  col_2: 2,5\n  col_3: x\n\nRow 2:\n  col_1: 4\n  col_2: 5\n  col_3: y\n\n";
        assert_eq!(single_text("n.csv", b"1;2,5;x\n4;5;y\n"), expected);
        let tabs = "city\tpopulation\nOslo\t700000\n";
        assert_eq!(single_text("t.csv", tabs.as_bytes()), "Row 1:\n  city: Oslo\n  population: 700000\n\n");
    }

    #[test]
    fn csv_rows_are_padded_or_cut_to_the_header() {
        let expected = "Row 1:\n  a: 1\n  b: \n\nRow 2:\n  a: 2\n  b: 3\n\n";
        assert_eq!(single_text("r.csv", b"a,b\n1\n\n , \n2,3,4\n"), expected);
    }

    #[test]
    fn csv_edge_cases_follow_the_original() {
        assert_eq!(single_text("h.csv", b"a,b\n"), "Empty CSV file\n");
        assert_eq!(single_text("blank.csv", b" , \n\n"), "");
        assert_eq!(single_text("one.csv", b"only\nvalues\n"), "Row 1:\n  col_1: only\n\nRow 2:\n  col_1: values\n\n");
    }

    #[test]
    fn csv_numbers_are_recognised_as_python_float_does() {
        for numeric in ["1,234.5", "1 000", "1_000", "-3", "+.5", "1e5", "nan", "-Infinity", " 12 "] {
            assert!(csv_rows::is_numeric(numeric), "{numeric}");
        }
        for text in ["", "_1", "1__0", "abc", "1.2.3", "0x10"] {
            assert!(!csv_rows::is_numeric(text), "{text}");
        }
    }

    #[test]
    fn html_keeps_visible_text_only() {
        let source = r#"<!DOCTYPE html><html><head><title>Title</title>
            <style>p { color: red }</style><script>var x = "<p>no</p>";</script></head>
            <body><h1>Caf&eacute; &amp; bar</h1><p>First   paragraph
            with <b>bold</b> text.</p><div>Line one<br>Line two</div><ul><li>one</li><li>two</li></ul>
            <table><tr><th>k</th><th>v</th></tr><tr><td>a</td><td>1 &lt; 2</td></tr></table>
            <pre>  keep
    spacing</pre><p hidden>secret</p><script>alert(1)</script><noscript>enable js</noscript>
            <p>End&nbsp;note &#x263A;</p></body></html>"#;
        let expected = "Café & bar\n\nFirst paragraph with bold text.\n\nLine one\nLine two\n\none\ntwo\n\n\
                        k | v\na | 1 < 2\n\n  keep\n    spacing\n\nEnd note ☺";
        assert_eq!(single_text("page.html", source.as_bytes()), expected);
    }

    #[test]
    fn html_in_a_declared_charset_is_decoded() {
        let latin1 = b"<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=ISO-8859-1\">\
                       </head><body><p>Caf\xE9 cr\xE8me</p></body></html>";
        assert_eq!(single_text("menu.html", latin1), "Caf\u{e9} cr\u{e8}me");
        let why = reason("menu.html", b"<p>Caf\xE9</p>");
        assert_eq!(why, "not valid UTF-8 at byte 6 (save the file as UTF-8); or declare its charset in a <meta> tag");
    }

    #[test]
    fn html_layout_tables_do_not_leave_stray_separators() {
        let source = "<table><tr><td></td><td>Menu</td><td> </td></tr><tr><td>a</td><td></td><td>b</td></tr></table>";
        assert_eq!(single_text("layout.html", source.as_bytes()), "Menu\na | b");
    }

    #[test]
    fn html_fragments_and_broken_markup_are_read() {
        assert_eq!(single_text("f.htm", b"Just <i>some</i> text<p>and <b>unclosed"), "Just some text\n\nand unclosed");
    }

    #[test]
    fn docx_fixture_paragraphs_round_trip() {
        let docx = fixtures::docx(&["Hello & <world>", "second\nline", ""]);
        assert_eq!(single_text("f.docx", &docx), "Hello & <world>\n\nsecond\nline");
    }

    #[test]
    fn docx_reads_paragraphs_and_tables_in_order() {
        let body = r#"<w:p><w:pPr><w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs></w:pPr>
              <w:r><w:t>First</w:t></w:r><w:r><w:tab/><w:t xml:space="preserve">paragraph &amp; more</w:t></w:r></w:p>
            <w:p/>
            <w:tbl><w:tblPr/>
              <w:tr><w:tc><w:p><w:r><w:t>Name</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Role</w:t></w:r></w:p></w:tc></w:tr>
              <w:tr><w:tc><w:p><w:r><w:t>Ada</w:t></w:r></w:p></w:tc>
                <w:tc><w:p><w:r><w:t>Engineer</w:t></w:r></w:p><w:p><w:r><w:t>Lead</w:t></w:r></w:p></w:tc></w:tr>
            </w:tbl>
            <w:p><w:r><w:delText>deleted</w:delText><w:instrText>PAGE</w:instrText><w:t>Last&#x2026;</w:t></w:r></w:p>
            <w:p><w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><w:txbxContent>
              <w:p><w:r><w:t>Box</w:t></w:r></w:p></w:txbxContent></w:drawing></mc:Choice>
              <mc:Fallback><w:pict><w:p><w:r><w:t>Box</w:t></w:r></w:p></w:pict></mc:Fallback></mc:AlternateContent></w:r></w:p>"#;
        let expected = "First\tparagraph & more\n\nName | Role\nAda | Engineer Lead\n\nLast…\n\nBox";
        assert_eq!(single_text("report.docx", &fixtures::docx_with_body(body)), expected);
    }

    #[test]
    fn text_file_named_docx_is_refused() {
        let why = reason("notes.docx", b"just some text, not a zip");
        assert!(why.starts_with("not a docx: not a valid zip archive ("), "{why}");
    }

    #[test]
    fn legacy_or_encrypted_office_file_named_docx_is_refused() {
        let mut ole = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1".to_vec();
        ole.resize(2048, 0);
        assert_eq!(
            reason("old.docx", &ole),
            "not a docx: it looks like an OLE container (a legacy .doc, or an encrypted Office file)"
        );
    }

    #[test]
    fn zip_without_document_xml_is_refused() {
        let zip = fixtures::zip(&[("hello.txt", b"hi")]);
        assert_eq!(reason("x.docx", &zip), "docx has no word/document.xml; is it a Word document?");
    }

    #[test]
    fn malformed_document_xml_is_refused() {
        let zip = fixtures::zip(&[("word/document.xml", b"<w:document><w:body><w:p></w:body>")]);
        let why = reason("x.docx", &zip);
        assert!(why.starts_with("word/document.xml is not well-formed XML (at byte"), "{why}");
    }

    #[test]
    fn docx_that_inflates_past_the_limit_is_refused() {
        let paragraph = "All work and no play. ".repeat(100_000);
        let docx = fixtures::docx(&[&paragraph]);
        assert!(docx.len() < 100_000, "the fixture should compress well: {} bytes", docx.len());
        let limits = Limits { docx_xml: 1 << 20, ..Limits::DEFAULT };
        assert_eq!(
            reason_with("bomb.docx", &docx, &limits),
            "too large once decompressed: word/document.xml exceeds 1 MiB"
        );
        assert!(single_text("bomb.docx", &docx).starts_with("All work"));
    }

    #[test]
    fn pdf_gives_the_text_of_each_page_across_fonts() {
        let pages = [
            "Page one in Helvetica\nSecond line in Times\nThird, back to Helvetica",
            "Página dos: naïve café",
            "Ελληνικά and 日本語 via ToUnicode\nplain line",
        ];
        let extracted = read("book.pdf", &fixtures::pdf(&pages));
        assert_eq!(extracted.file_type, FileType::Pdf);
        let expected: Vec<Part> =
            pages.iter().zip(1..).map(|(text, page)| Part { page: Some(page), text: (*text).to_owned() }).collect();
        assert_eq!(extracted.parts, expected);
    }

    /// A fixture PDF, encrypted with RC4-128 and the given user password.
    fn encrypted_pdf(user_password: &str) -> Vec<u8> {
        use pdf_extract::encryption::{EncryptionState, EncryptionVersion, Permissions};
        let mut doc = fixtures::pdf_document(&["Top secret"]);
        let file_id = Object::String(b"0123456789abcdef".to_vec(), pdf_extract::StringFormat::Hexadecimal);
        doc.trailer.set("ID", vec![file_id.clone(), file_id]);
        let version = EncryptionVersion::V2 {
            document: &doc,
            owner_password: "owner",
            user_password,
            key_length: 128,
            permissions: Permissions::default(),
        };
        let state = EncryptionState::try_from(version).unwrap();
        doc.encrypt(&state).unwrap();
        fixtures::save_pdf(&mut doc)
    }

    #[test]
    fn pdf_with_only_an_owner_password_is_read() {
        let extracted = read("restricted.pdf", &encrypted_pdf(""));
        assert_eq!(extracted.parts, vec![Part { page: Some(1), text: "Top secret".into() }]);
    }

    #[test]
    fn pdf_that_needs_a_password_is_refused() {
        assert_eq!(
            reason("locked.pdf", &encrypted_pdf("letmein")),
            "the PDF is encrypted and needs a password; upload an unprotected copy"
        );
    }

    #[test]
    fn png_named_pdf_is_refused() {
        let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01";
        assert_eq!(reason("photo.pdf", png), "not a PDF: no %PDF header (it looks like a PNG image)");
    }

    #[test]
    fn truncated_pdf_is_refused() {
        let pdf = fixtures::pdf(&["One", "Two"]);
        for keep in [pdf.len() / 2, pdf.len() - 40, 20] {
            let why = reason("cut.pdf", &pdf[..keep]);
            assert!(why.starts_with("cannot parse the PDF"), "{keep}: {why}");
        }
    }

    /// A fixture PDF whose page also draws XObjects: `extra` adds objects and returns the page's
    /// `XObject` resources and the content that draws them.
    fn pdf_drawing(extra: impl FnOnce(&mut Document) -> (Dictionary, Vec<u8>)) -> Vec<u8> {
        let mut doc = fixtures::pdf_document(&["Before the drawing"]);
        let (xobjects, drawing) = extra(&mut doc);
        let page_id = doc.get_pages()[&1];
        let drawing_id = doc.add_object(Stream::new(Dictionary::new(), drawing));
        let page = doc.get_dictionary_mut(page_id).unwrap();
        let original = page.get(b"Contents").unwrap().clone();
        page.set("Contents", vec![original, Object::Reference(drawing_id)]);
        let parent = page.get(b"Parent").unwrap().as_reference().unwrap();
        let pages = doc.get_dictionary_mut(parent).unwrap();
        let resources = pages.get_mut(b"Resources").unwrap().as_dict_mut().unwrap();
        resources.set("XObject", xobjects);
        fixtures::save_pdf(&mut doc)
    }

    /// A form XObject with the given content and `XObject` resources.
    fn form(content: &[u8], xobjects: Dictionary) -> Stream {
        let mut stream = form_inheriting_resources(content);
        let mut resources = Dictionary::new();
        resources.set("XObject", xobjects);
        stream.dict.set("Resources", resources);
        stream
    }

    /// A form XObject without resources of its own, which uses those of the content drawing it.
    fn form_inheriting_resources(content: &[u8]) -> Stream {
        let mut dict = Dictionary::new();
        dict.set("Type", Object::Name(b"XObject".to_vec()));
        dict.set("Subtype", Object::Name(b"Form".to_vec()));
        dict.set("BBox", vec![0.into(), 0.into(), 100.into(), 100.into()]);
        Stream::new(dict, content.to_vec())
    }

    /// An `XObject` resource dictionary with one entry.
    fn xobject(name: &str, id: ObjectId) -> Dictionary {
        let mut dict = Dictionary::new();
        dict.set(name, id);
        dict
    }

    #[test]
    fn pdf_form_that_draws_itself_is_refused_without_overflowing_the_stack() {
        let pdf = pdf_drawing(|doc| {
            let id = doc.new_object_id();
            doc.objects.insert(id, Object::Stream(form(b"/Fm1 Do", xobject("Fm1", id))));
            (xobject("Fm1", id), b"/Fm1 Do".to_vec())
        });
        assert_eq!(reason("loop.pdf", &pdf), "page 1: a form XObject draws itself (a cycle); the file is malformed");
    }

    #[test]
    fn pdf_forms_nested_too_deep_are_refused() {
        let pdf = pdf_drawing(|doc| {
            let mut next = doc.add_object(form(b"", Dictionary::new()));
            for _ in 0..40 {
                next = doc.add_object(form(b"/Fm Do", xobject("Fm", next)));
            }
            (xobject("Fm", next), b"/Fm Do".to_vec())
        });
        assert_eq!(reason("deep.pdf", &pdf), "page 1: form XObjects are nested more than 32 deep");
    }

    #[test]
    fn pdf_forms_drawn_exponentially_often_are_refused() {
        let pdf = pdf_drawing(|doc| {
            let mut next = doc.add_object(form(b"BT ET", Dictionary::new()));
            for _ in 0..24 {
                next = doc.add_object(form(b"/Fm Do /Fm Do", xobject("Fm", next)));
            }
            (xobject("Fm", next), b"/Fm Do".to_vec())
        });
        let limits = Limits { pdf_content: 64 << 10, ..Limits::DEFAULT };
        assert_eq!(
            reason_with("laughs.pdf", &pdf, &limits),
            "page 1: draws more than 0 MiB of content (repeated forms)"
        );
    }

    #[test]
    fn pdf_images_are_skipped_and_forms_are_read() {
        let pdf = pdf_drawing(|doc| {
            let mut image = Dictionary::new();
            image.set("Type", Object::Name(b"XObject".to_vec()));
            image.set("Subtype", Object::Name(b"Image".to_vec()));
            image.set("Width", 64);
            image.set("Height", 64);
            image.set("ColorSpace", Object::Name(b"DeviceGray".to_vec()));
            image.set("BitsPerComponent", 8);
            let mut pixels = Stream::new(image, Rng(7).bytes(64 * 64));
            pixels.compress().unwrap();
            let image_id = doc.add_object(pixels);
            let text = b"BT /F1 12 Tf 72 600 Td (Inside a form) Tj ET".to_vec();
            let form_id = doc.add_object(form_inheriting_resources(&text));
            let mut xobjects = xobject("Im1", image_id);
            xobjects.set("Fm1", form_id);
            (xobjects, b"q 64 0 0 64 0 0 cm /Im1 Do Q /Fm1 Do".to_vec())
        });
        let extracted = read("mixed.pdf", &pdf);
        assert_eq!(extracted.parts, vec![Part { page: Some(1), text: "Before the drawing\n\nInside a form".into() }]);
    }

    #[test]
    fn pdf_page_tree_cycle_does_not_overflow_the_stack() {
        let mut doc = fixtures::pdf_document(&["Looped"]);
        let page_id = doc.get_pages()[&1];
        let parent = doc.get_dictionary(page_id).unwrap().get(b"Parent").unwrap().as_reference().unwrap();
        let pages = doc.get_dictionary_mut(parent).unwrap();
        pages.remove(b"MediaBox");
        let resources = pages.get(b"Resources").unwrap().clone();
        let page = doc.get_dictionary_mut(page_id).unwrap();
        page.set("Parent", page_id);
        page.set("Resources", resources);
        let pdf = fixtures::save_pdf(&mut doc);
        assert_eq!(read("cycle.pdf", &pdf).parts, vec![Part { page: Some(1), text: "Looped".into() }]);
    }

    #[test]
    fn pdf_streams_that_inflate_past_the_limit_are_refused() {
        let mut doc = fixtures::pdf_document(&["Small page"]);
        let mut filler = Stream::new(Dictionary::new(), vec![b' '; 2 << 20]);
        filler.compress().unwrap();
        doc.add_object(filler);
        let pdf = fixtures::save_pdf(&mut doc);
        assert!(pdf.len() < 100_000, "the fixture should compress well: {} bytes", pdf.len());
        let limits = Limits { pdf_inflated: 1 << 20, ..Limits::DEFAULT };
        assert_eq!(
            reason_with("bomb.pdf", &pdf, &limits),
            "too large once decompressed: the PDF's streams exceed 1 MiB"
        );
        assert_eq!(read("bomb.pdf", &pdf).text(), "Small page");
    }

    #[test]
    fn mutated_documents_never_panic() {
        let mut rng = Rng(0xD0C5);
        let originals = [
            ("m.pdf", fixtures::pdf(&["Alpha beta", "Gamma ✓ delta"])),
            ("m.docx", fixtures::docx(&["One", "Two"])),
            ("m.html", b"<p>a<table><tr><td>b</table><script>x</script>".to_vec()),
            ("m.json", br#"{"a": [1, {"b": null}]}"#.to_vec()),
            ("m.csv", b"a,b\n\"c,d\",e\n".to_vec()),
        ];
        for round in 0..300 {
            let (name, original) = &originals[round % originals.len()];
            let mut bytes = original.clone();
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(bytes.len());
                match rng.below(3) {
                    0 => bytes[at] = rng.next() as u8,
                    1 => bytes.truncate(at.max(1)),
                    _ => bytes.insert(at, rng.next() as u8),
                }
            }
            // Either outcome is fine; a panic escaping `extract` fails the test.
            let _ = extract(name, &bytes);
        }
    }
}
