//! Natural-language time expressions, such as "last week", "yesterday morning"
//! or "between 2024-01-01 and 2024-02-01", turned into time ranges.
//!
//! This module owns the phrase grammar behind `recall_memory` and the
//! time-filtered searches.
//! [`parse`] reads one whole phrase; [`extract`] finds phrases inside a
//! free-text query and hands back the rest of the query for the semantic search.
//!
//! # Conventions
//!
//! - Everything is UTC. The Python original used naive local time, but the
//!   server's zone says nothing about the caller's and memories are stamped in
//!   UTC, so "today" here is the current UTC day.
//! - Ranges are half-open, `[start, end)`: "today" ends at the next midnight
//!   rather than at 23:59:59, so neighbouring ranges neither overlap nor leave
//!   a gap.
//! - The current time is always passed in, never read from a clock, so results
//!   are reproducible.
//! - Matching is case-insensitive, words may be separated by spaces or hyphens
//!   ("last-2-weeks"), a leading preposition and "the" are ignored
//!   ("in the last 2 weeks", "on 2024-01-05"), and so is a trailing "'s"
//!   ("yesterday's").
//! - Input is at most 500 characters and counts at most four digits, so no
//!   arithmetic can overflow unnoticed; date arithmetic that leaves chrono's
//!   range is an error, never a panic.
//!
//! # Phrases
//!
//! Counts are 0-9999 in digits, `a`/`an` (1), `one`..`twelve`, `a couple (of)`
//! (2) or `a few` (3).
//!
//! - Days: `today`, `yesterday`, `the day before yesterday`, `N days ago`,
//!   `monday`..`sunday` (the most recent one, today included),
//!   `last monday` (the most recent one before today), `2024-01-31`,
//!   `1/31`, `1-31`, `1/31/24`, `1/31/2024`. A date without a year is its most
//!   recent occurrence; two-digit years below 50 are 20xx, others 19xx.
//! - Parts of a day, after any day above (`yesterday morning`,
//!   `3 days ago in the evening`, `2024-01-31 at noon`), or as `this morning`,
//!   `last night`, `tonight`: morning 05-12, noon 12-13, afternoon 13-18,
//!   evening 18-22, night 22-05 the next day, midnight 00-01.
//! - Instants: `2026-11-20T14:00Z`, `2026-11-20 14:00`,
//!   `2026-11-20T14:00:00.5+02:00`. On their own they cover the minute (or the
//!   second, when seconds are written); as a bound of `between`, `since` and
//!   the like they are the exact instant.
//! - Calendar units ago: `N minutes|hours ago` (that clock minute or hour),
//!   `N weeks ago` (the Monday-Sunday week holding today minus N weeks),
//!   `N months ago`, `N years ago` (that calendar month or year).
//! - Calendar units: `last|previous|this|current day|week|month|quarter|year`:
//!   the previous or the current whole unit, future days included.
//! - Rolling windows ending now: `last|past|previous N minutes|hours|days|weeks|months|years`,
//!   `past minute|hour|day|week|month|year`, `last hour`, `last minute`,
//!   and `recent`, `recently`, `most recent`, `lately` (the last 7 days).
//! - Months: `march` (this year's, or last year's when March is still to
//!   come), `last march` (the most recent completed one), `march 2024`,
//!   `march of 2024`.
//! - Seasons, northern hemisphere: spring 03-20..06-20, summer 06-21..09-22,
//!   fall/autumn 09-23..12-20, winter 12-21..03-19 (crossing the year).
//! - Holidays, each a window of days around the date: `christmas`/`xmas`
//!   (12-25 ±3), `new year` (01-01 ±3), `valentine's day` (02-14 ±1),
//!   `halloween` (10-31 ±3), `thanksgiving` (fourth Thursday of November ±3).
//! - For seasons and holidays: the bare name is the most recent occurrence that
//!   has begun, `last X` the most recent one that has ended, `this X` the one
//!   under way or else the one nearest to now that overlaps this calendar year,
//!   and `X 2024` the one beginning in 2024 (`winter 2024` starts in December
//!   2024; `new year 2025` is the window around 2025-01-01).
//! - Years and parts of years: `2024`, `first|second half of 2024`, `h1 2024`,
//!   `first..fourth quarter [of 2024]`, `1st..4th quarter [of 2024]`,
//!   `q1..q4 [2024]`. A quarter without a year is the most recent one to have
//!   begun.
//! - Combinations of two phrases above: `between X and Y` and `from X to|until Y`
//!   (start of X to end of Y), `since X` (start of X to now), `after X` (end of
//!   X to now), `before X` (1970-01-01 to start of X), `until X` (1970-01-01 to
//!   end of X). One-sided ranges end at now and start at the Unix epoch, since
//!   no memory is older than that or younger than now.
//!
//! A range that would be empty or run backwards ("between 2024-02-01 and
//! 2024-01-01", "since 2099-01-01") is an error rather than a silent empty
//! result.

use std::sync::LazyLock;

use chrono::{
    DateTime, Datelike, Days, FixedOffset, Months, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Timelike, Utc,
    Weekday,
};
use regex::{Captures, Regex, RegexBuilder};

/// The longest phrase or query accepted, in characters, as in the original.
const MAX_LEN: usize = 500;

/// Accepted phrases quoted by error messages, so a caller can recover.
const EXAMPLES: &str = "'yesterday', 'last week', '3 days ago', 'march 2024', \
                        'since monday' or 'between 2024-01-01 and 2024-02-01'";

/// A half-open span of time, `[start, end)`, always with `start < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// The first instant inside the range.
    pub start: DateTime<Utc>,
    /// The first instant after the range.
    pub end: DateTime<Utc>,
}

impl TimeRange {
    /// Builds a range, refusing one that is empty or runs backwards.
    fn checked(phrase: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Self, TimeExprError> {
        if start < end {
            Ok(Self { start, end })
        } else {
            Err(TimeExprError::InvertedRange { phrase: phrase.to_owned(), start, end })
        }
    }

    /// All of time chrono can represent.
    pub const ALL: TimeRange = TimeRange { start: DateTime::<Utc>::MIN_UTC, end: DateTime::<Utc>::MAX_UTC };

    /// `[start, end)`, or none when that is empty.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Option<TimeRange> {
        (start < end).then_some(TimeRange { start, end })
    }

    /// The time in both ranges, or none when they do not overlap.
    pub fn intersect(self, other: TimeRange) -> Option<TimeRange> {
        TimeRange::new(self.start.max(other.start), self.end.min(other.end))
    }

    /// A filter on creation time: `range` (a time phrase's, if any) narrowed to on or after `after` and
    /// before `before`. None when nothing is given; an error when nothing is left.
    pub fn narrowed(
        range: Option<TimeRange>,
        after: Option<DateTime<Utc>>,
        before: Option<DateTime<Utc>>,
    ) -> Result<Option<TimeRange>, TimeExprError> {
        if after.is_none() && before.is_none() {
            return Ok(range);
        }
        let range = range.unwrap_or(TimeRange::ALL);
        let (start, end) = (after.unwrap_or(TimeRange::ALL.start), before.unwrap_or(TimeRange::ALL.end));
        match TimeRange::new(start, end).and_then(|bounds| range.intersect(bounds)) {
            Some(narrowed) => Ok(Some(narrowed)),
            None => Err(TimeExprError::Disjoint { start: start.max(range.start), end: end.min(range.end) }),
        }
    }

    /// The smallest range covering both.
    fn hull(self, other: Self) -> Self {
        Self { start: self.start.min(other.start), end: self.end.max(other.end) }
    }
}

/// Why a time expression could not be turned into a range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeExprError {
    /// The phrase was empty or only whitespace.
    #[error("the time expression is empty; try one such as {examples}", examples = EXAMPLES)]
    Empty,
    /// The phrase or query was longer than the limit.
    #[error(
        "the time expression is {len} characters long but at most {max} are accepted; \
         use a short phrase such as {examples}",
        examples = EXAMPLES
    )]
    TooLong {
        /// The length of the input, in characters.
        len: usize,
        /// The limit, in characters.
        max: usize,
    },
    /// No supported phrase matched.
    #[error(
        "'{phrase}' is not a recognised time expression; try one such as {examples}",
        examples = EXAMPLES
    )]
    Unrecognised {
        /// The text that did not match.
        phrase: String,
    },
    /// A number had more than four digits.
    #[error(
        "'{phrase}' has a number longer than 4 digits; counts go up to 9999 and years \
         have 4 digits, e.g. '3 days ago' or 'march 2024'"
    )]
    NumberTooLarge {
        /// The text holding the number.
        phrase: String,
    },
    /// A date or time that the calendar does not have, such as February 30.
    #[error(
        "'{phrase}' is not a valid date or time; write e.g. '2024-01-31', '1/31/2024', \
         '2024-01-31 14:00' or '2024-01-31T14:00:00+02:00'"
    )]
    InvalidDate {
        /// The text holding the date.
        phrase: String,
    },
    /// A rolling window of zero units, which would be empty.
    #[error("'{phrase}' asks for a window of zero length; use a count of at least 1, e.g. 'last 2 weeks'")]
    ZeroCount {
        /// The text holding the count.
        phrase: String,
    },
    /// Date arithmetic left the range of representable dates.
    #[error(
        "'{phrase}' reaches a date outside the supported calendar; \
         use a date within a few thousand years of today, e.g. '10 years ago'"
    )]
    OutOfRange {
        /// The text whose date could not be computed.
        phrase: String,
    },
    /// The range would be empty or run backwards.
    #[error(
        "'{phrase}' gives a range from {start} to {end}, which is empty or runs backwards; \
         put the earlier time first, e.g. 'between 2024-01-01 and 2024-02-01', and note \
         that 'since' and 'after' run up to now and 'before' and 'until' start at 1970-01-01"
    )]
    InvertedRange {
        /// The phrase that produced the range.
        phrase: String,
        /// Where the range would start.
        start: DateTime<Utc>,
        /// Where the range would end.
        end: DateTime<Utc>,
    },
    /// A time phrase and `after`/`before` bounds that leave no time between them.
    #[error("no time is both on or after {start} and before {end}: check after, before and time_expr")]
    Disjoint {
        /// The latest start.
        start: DateTime<Utc>,
        /// The earliest end.
        end: DateTime<Utc>,
    },
}

/// What [`extract`] found in a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// The range covering every time phrase found, or `None` when there was none.
    pub range: Option<TimeRange>,
    /// The query without its time phrases, whitespace tidied.
    pub remainder: String,
}

/// Parses a whole phrase such as "last week" or "between 2024-01-01 and 2024-02-01".
///
/// An unrecognised phrase is an error, never an empty result: a caller asking
/// for a time filter should learn that it was not understood.
pub fn parse(phrase: &str, now: DateTime<Utc>) -> Result<TimeRange, TimeExprError> {
    let phrase = bounded(phrase)?;
    if phrase.is_empty() {
        return Err(TimeExprError::Empty);
    }
    let range = parse_span(phrase, now)?.into_range(phrase)?;
    // Every builder already yields `start < end`; checking once more here keeps
    // that promise independent of each of them.
    TimeRange::checked(phrase, range.start, range.end)
}

/// Finds time phrases inside a free-text query ("what did I note about rust
/// last week") and returns their range and the query with the phrases removed.
///
/// With several phrases the range is the smallest one covering them all, so
/// "notes from yesterday and today" spans both days; the filter is then never
/// narrower than any phrase asked for.
/// Words that are more often not about time count only after a preposition:
/// "may", "march", "q1".."q4" and four-digit numbers need "in", "on", "during"
/// or "from" ("in may", "during 2024"), and "spring" and "fall" need "during"
/// or a preposition with "the" ("in the fall"); inside a combination
/// ("since march") they always count.
/// A phrase that is found but holds an impossible date ("2026-02-30") is an
/// error rather than being left in the query.
pub fn extract(query: &str, now: DateTime<Utc>) -> Result<Extracted, TimeExprError> {
    let query = bounded(query)?;
    let mut range: Option<TimeRange> = None;
    let mut kept = String::with_capacity(query.len());
    let mut copied_up_to = 0;
    for caps in EXTRACTOR.captures_iter(query) {
        let Some(whole) = caps.get(0) else { continue };
        if !in_context(&caps) {
            continue;
        }
        let found = parse(whole.as_str(), now)?;
        range = Some(range.map_or(found, |r| r.hull(found)));
        kept.push_str(&query[copied_up_to..whole.start()]);
        kept.push(' ');
        copied_up_to = whole.end();
    }
    if range.is_none() {
        return Ok(Extracted { range, remainder: query.to_owned() });
    }
    kept.push_str(&query[copied_up_to..]);
    Ok(Extracted { range, remainder: tidy(&kept) })
}

/// Whether a phrase found by [`EXTRACTOR`] is meant as a time, by the rules
/// in [`extract`]'s documentation.
///
/// The seasons need more context than the other words because "in spring boot"
/// and "fall back" are far more common in a memory store than the seasons, and
/// "port 8080" is why bare years need a preposition.
fn in_context(caps: &Captures<'_>) -> bool {
    let Some(atom) = caps.name("atom") else {
        return true;
    };
    let preposition = caps.name("prep").map(|m| m.as_str().to_ascii_lowercase());
    let with_preposition = matches!(preposition.as_deref(), Some("in" | "on" | "during" | "from"));
    if SEASON_WORDS.is_match(atom.as_str()) {
        preposition.as_deref() == Some("during") || (with_preposition && caps.name("the").is_some())
    } else if AMBIGUOUS.is_match(atom.as_str()) {
        with_preposition
    } else {
        true
    }
}

/// Trims the input and enforces the length limit.
fn bounded(text: &str) -> Result<&str, TimeExprError> {
    let text = text.trim();
    let len = text.chars().count();
    if len > MAX_LEN {
        return Err(TimeExprError::TooLong { len, max: MAX_LEN });
    }
    Ok(text)
}

/// Collapses whitespace and the punctuation left stranded by removed phrases.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    let mut tidied = String::with_capacity(out.len());
    for c in out.chars() {
        if matches!(c, ',' | '.' | ';' | ':' | '!' | '?') {
            if tidied.ends_with(' ') {
                tidied.pop();
            }
            if c == ',' && tidied.ends_with(',') {
                continue;
            }
        }
        tidied.push(c);
    }
    tidied.trim_matches(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | ':')).to_owned()
}

// ---------------------------------------------------------------------------
// Grammar
// ---------------------------------------------------------------------------

/// A phrase's meaning before it is combined with others.
#[derive(Debug, Clone, Copy)]
enum Span {
    /// A stretch of time such as a day or a week.
    Range(TimeRange),
    /// A written instant, exact to `precision`: a point when it bounds a
    /// combination, a short range when it stands alone.
    Instant { at: DateTime<Utc>, precision: TimeDelta },
}

impl Span {
    fn start(self) -> DateTime<Utc> {
        match self {
            Self::Range(range) => range.start,
            Self::Instant { at, .. } => at,
        }
    }

    fn end(self) -> DateTime<Utc> {
        match self {
            Self::Range(range) => range.end,
            Self::Instant { at, .. } => at,
        }
    }

    fn into_range(self, phrase: &str) -> Result<TimeRange, TimeExprError> {
        match self {
            Self::Range(range) => Ok(range),
            Self::Instant { at, precision } => {
                let end = at.checked_add_signed(precision).ok_or_else(|| out_of_range(phrase))?;
                TimeRange::checked(phrase, at, end)
            }
        }
    }
}

/// Turns one matched phrase into its meaning.
type Handler = fn(&Found<'_>) -> Result<Span, TimeExprError>;

/// Single phrases, tried in order; the first whose pattern matches the whole
/// phrase decides, and its error is final.
///
/// In the patterns `~` stands for a word separator and `{NAME}` for one of the
/// vocabularies in [`expand`]. The same patterns, with their group names
/// dropped, make up [`EXTRACTOR`], so whatever `extract` finds `parse` reads.
/// Where two patterns could match at the same place in a query, the longer one
/// comes first because the combined regex prefers earlier alternatives.
const RULES: &[(&str, Handler)] = &[
    (
        r"(?P<y>[0-9]{4})-(?P<mo>[0-9]{1,2})-(?P<d>[0-9]{1,2})(?:t|\s+)(?P<h>[0-9]{1,2}):(?P<mi>[0-9]{2})(?::(?P<s>[0-9]{2})(?:\.(?P<frac>[0-9]{1,9}))?)?(?:\s*(?P<tz>z|utc|gmt|[+-][0-9]{2}(?::?[0-9]{2})?))?",
        instant,
    ),
    (r"(?P<y>[0-9]{4})-(?P<mo>[0-9]{1,2})-(?P<d>[0-9]{1,2}){PART}", iso_date),
    (r"(?P<mo>1[0-2]|0?[1-9])[/-](?P<d>3[01]|[12][0-9]|0?[1-9])(?:[/-](?P<y>[0-9]{4}|[0-9]{2}))?{PART}", numeric_date),
    (r"(?P<day>today|yesterday|(?:the~)?day~before~yesterday|(?P<n>{NUM})~days?~ago){PART}", relative_day),
    (r"(?:(?P<rel>this|last)~(?P<part>{PARTS})|tonight)", recent_part_of_day),
    (r"(?:(?P<last>last|previous)~)?(?P<wd>{WEEKDAYS}){PART}", weekday),
    (r"(?P<n>{NUM})~(?P<unit>minute|hour|week|month|year)s?~ago", units_ago),
    (
        r"(?:(?:last|past|previous)~(?P<n>{NUM})~(?P<unit>{UNITS})s?|past~(?P<punit>{UNITS})|last~(?P<hunit>minute|hour))",
        rolling,
    ),
    (r"(?P<rel>last|previous|this|current)~(?P<unit>day|week|month|quarter|year)", calendar_unit),
    (r"(?:(?P<last>last)~)?(?P<month>{MONTHS})(?:~(?:of~)?(?P<y>[0-9]{4}))?", month_name),
    (r"(?:(?P<rel>last|this)~)?(?P<name>{HOLIDAYS}|{SEASONS})(?:~(?:of~)?(?P<y>[0-9]{4}))?", named_period),
    (r"(?:(?P<half>first|second|1st|2nd)~half~of|h(?P<hnum>[12]))~(?P<y>[0-9]{4})", half_year),
    (
        r"(?:(?P<ord>first|second|third|fourth|1st|2nd|3rd|4th)~quarter|q(?P<qnum>[1-4]))(?:~(?:of~)?(?P<y>[0-9]{4}))?",
        quarter,
    ),
    (r"(?:year~)?(?P<y>[0-9]{4})", whole_year),
    (r"(?:most~)?(?:recently|recent|lately)", recent),
];

/// Prepositions that may lead a single phrase and are removed with it.
const PREPOSITIONS: &str = "in|on|during|from|over|within|at";

/// Fills in the vocabularies and separators of a pattern in [`RULES`].
fn expand(pattern: &str) -> String {
    const VOCABULARY: &[(&str, &str)] = &[
        ("{PART}", "(?:~(?:in~the~|during~the~|at~)?(?P<part>{PARTS}))?"),
        ("{PARTS}", "morning|noon|afternoon|evening|night|midnight"),
        (
            "{NUM}",
            "[0-9]{1,4}|(?:a~)?couple(?:~of)?|(?:a~)?few|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve",
        ),
        ("{UNITS}", "minute|hour|day|week|month|year"),
        ("{MONTHS}", "january|february|march|april|may|june|july|august|september|october|november|december"),
        ("{WEEKDAYS}", "monday|tuesday|wednesday|thursday|friday|saturday|sunday"),
        ("{SEASONS}", "spring|summer|fall|autumn|winter"),
        (
            "{HOLIDAYS}",
            "christmas(?:~(?:day|eve))?|xmas|new(?:~)?years?(?:'s|’s)?(?:~(?:day|eve))?|valentine(?:'s|’s|s)?(?:~day)?|halloween|thanksgiving(?:~day)?",
        ),
    ];
    let mut expanded = pattern.to_owned();
    for (name, text) in VOCABULARY {
        expanded = expanded.replace(name, text);
    }
    // Hyphens count as separators so that "last-2-weeks" reads like "last 2 weeks".
    expanded.replace('~', r"[\s-]+")
}

/// Compiles a built-in pattern, case-insensitively.
fn compile(pattern: &str) -> Regex {
    RegexBuilder::new(&expand(pattern))
        .case_insensitive(true)
        .build()
        .expect("the built-in time patterns are valid regexes, as the tests confirm")
}

/// The optional lead-in and tail shared by every single phrase.
fn single(pattern: &str) -> String {
    format!("^(?:(?:{PREPOSITIONS})~)?(?:the~)?(?:{pattern})(?:'s|’s)?$")
}

/// [`RULES`], each anchored to match a whole phrase.
static ANCHORED: LazyLock<Vec<(Regex, Handler)>> =
    LazyLock::new(|| RULES.iter().map(|&(pattern, handler)| (compile(&single(pattern)), handler)).collect());

/// Two phrases joined by `between .. and`, `from .. to`, or one phrase after
/// `since`, `before`, `after` or `until`.
static COMBINATION: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"^(?:between~(?P<a1>.+?)~and~(?P<b1>.+)|from~(?P<a2>.+?)~(?:to|until|till|through)~(?P<b2>.+)|(?P<op>since|before|after|until|till)~(?P<a3>.+))$",
    )
});

/// Every phrase that [`extract`] looks for in a query.
static EXTRACTOR: LazyLock<Regex> = LazyLock::new(|| {
    let group_name = Regex::new(r"\(\?P<\w+>").expect("a valid regex");
    let any = RULES
        .iter()
        .map(|(pattern, _)| format!("(?:{})", group_name.replace_all(&expand(pattern), "(?:")))
        .collect::<Vec<_>>()
        .join("|");
    let operand = format!("(?:the~)?(?:{any})");
    compile(&format!(
        r"\b(?:(?P<compound>between~{operand}~and~{operand}|from~{operand}~(?:to|until|till|through)~{operand}|(?:since|before|after|until|till)~{operand})|(?:(?P<prep>{PREPOSITIONS})~)?(?P<the>the~)?(?P<atom>{any}))(?:'s|’s)?\b"
    ))
});

/// Phrases that are more often ordinary words than times.
static AMBIGUOUS: LazyLock<Regex> = LazyLock::new(|| compile(r"^(?:may|march|q[1-4]|[0-9]{4})$"));

/// Seasons whose names are common words, see [`in_context`].
static SEASON_WORDS: LazyLock<Regex> = LazyLock::new(|| compile(r"^(?:spring|fall)$"));

fn parse_span(phrase: &str, now: DateTime<Utc>) -> Result<Span, TimeExprError> {
    let Some(caps) = COMBINATION.captures(phrase) else {
        return parse_single(phrase, now);
    };
    let part = |name: &str| caps.name(name).map(|m| m.as_str());
    let range = if let (Some(a), Some(b)) = (part("a1").or(part("a2")), part("b1").or(part("b2"))) {
        let (a, b) = (parse_single(a, now)?, parse_single(b, now)?);
        TimeRange::checked(phrase, a.start(), b.end())?
    } else {
        let a = parse_single(part("a3").unwrap_or_default(), now)?;
        let op = part("op").unwrap_or_default().to_ascii_lowercase();
        match op.as_str() {
            "since" => TimeRange::checked(phrase, a.start(), now)?,
            "after" => TimeRange::checked(phrase, a.end(), now)?,
            "before" => TimeRange::checked(phrase, DateTime::UNIX_EPOCH, a.start())?,
            _ => TimeRange::checked(phrase, DateTime::UNIX_EPOCH, a.end())?,
        }
    };
    Ok(Span::Range(range))
}

fn parse_single(phrase: &str, now: DateTime<Utc>) -> Result<Span, TimeExprError> {
    for (regex, handler) in ANCHORED.iter() {
        if let Some(caps) = regex.captures(phrase) {
            return handler(&Found { caps, now });
        }
    }
    let long_number = phrase.split(|c: char| !c.is_ascii_digit()).any(|digits| digits.len() > 4);
    let phrase = phrase.to_owned();
    Err(if long_number { TimeExprError::NumberTooLarge { phrase } } else { TimeExprError::Unrecognised { phrase } })
}

/// A phrase matched by one of [`RULES`], with the time it is read against.
struct Found<'h> {
    caps: Captures<'h>,
    now: DateTime<Utc>,
}

impl<'h> Found<'h> {
    fn phrase(&self) -> &'h str {
        self.caps.get(0).map_or("", |m| m.as_str())
    }

    fn today(&self) -> NaiveDate {
        self.now.date_naive()
    }

    /// A group's text, lowercased, or `None` when it took no part in the match.
    fn text(&self, name: &str) -> Option<String> {
        self.caps.name(name).filter(|m| !m.as_str().is_empty()).map(|m| m.as_str().to_lowercase())
    }

    fn unrecognised(&self) -> TimeExprError {
        TimeExprError::Unrecognised { phrase: self.phrase().to_owned() }
    }

    fn invalid_date(&self) -> TimeExprError {
        TimeExprError::InvalidDate { phrase: self.phrase().to_owned() }
    }

    fn out_of_range(&self) -> TimeExprError {
        out_of_range(self.phrase())
    }

    /// A group of digits as a number; the patterns allow at most four digits
    /// except for fractions of a second, which allow nine.
    fn number(&self, name: &str) -> Result<Option<u32>, TimeExprError> {
        self.text(name).map(|digits| digits.parse().map_err(|_| self.unrecognised())).transpose()
    }

    fn required_number(&self, name: &str) -> Result<u32, TimeExprError> {
        self.number(name)?.ok_or_else(|| self.unrecognised())
    }

    /// The four-digit year in group `y`, if written.
    fn year(&self) -> Result<Option<i32>, TimeExprError> {
        self.text("y").map(|digits| digits.parse().map_err(|_| self.unrecognised())).transpose()
    }

    /// The count in group `n`, written as digits or words.
    fn count(&self) -> Result<Option<u32>, TimeExprError> {
        let Some(word) = self.text("n") else {
            return Ok(None);
        };
        if word.starts_with(|c: char| c.is_ascii_digit()) {
            return word.parse().map(Some).map_err(|_| self.unrecognised());
        }
        if word.contains("couple") {
            return Ok(Some(2));
        }
        if word.contains("few") {
            return Ok(Some(3));
        }
        const WORDS: [&str; 12] =
            ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"];
        let count = match word.as_str() {
            "a" | "an" => Some(1),
            _ => WORDS.iter().zip(1..).find_map(|(name, value)| (*name == word).then_some(value)),
        };
        count.map(Some).ok_or_else(|| self.unrecognised())
    }

    fn calendar_date(&self, year: i32, month: u32, day: u32) -> Result<NaiveDate, TimeExprError> {
        NaiveDate::from_ymd_opt(year, month, day).ok_or_else(|| self.invalid_date())
    }

    fn days_back(&self, days: u64) -> Result<NaiveDate, TimeExprError> {
        self.today().checked_sub_days(Days::new(days)).ok_or_else(|| self.out_of_range())
    }

    /// The whole day, or the part of it named in group `part`.
    fn day_or_part(&self, date: NaiveDate) -> Result<Span, TimeExprError> {
        let range = match self.text("part") {
            Some(part) => part_of_day(date, &part),
            None => days(date, 1),
        };
        self.span(range)
    }

    fn span(&self, range: Option<TimeRange>) -> Result<Span, TimeExprError> {
        range.map(Span::Range).ok_or_else(|| self.out_of_range())
    }
}

fn out_of_range(phrase: &str) -> TimeExprError {
    TimeExprError::OutOfRange { phrase: phrase.to_owned() }
}

// ---------------------------------------------------------------------------
// Handlers, one per rule
// ---------------------------------------------------------------------------

fn instant(f: &Found<'_>) -> Result<Span, TimeExprError> {
    let year = f.year()?.ok_or_else(|| f.unrecognised())?;
    let date = f.calendar_date(year, f.required_number("mo")?, f.required_number("d")?)?;
    let seconds = f.number("s")?;
    let nanos = match f.text("frac") {
        Some(fraction) => {
            let digits = u32::try_from(fraction.len()).map_err(|_| f.unrecognised())?;
            let value: u32 = fraction.parse().map_err(|_| f.unrecognised())?;
            // Nine digits at most, so the scale is 1..=10^8 and the product stays below 10^9.
            10u32
                .checked_pow(9u32.saturating_sub(digits))
                .and_then(|scale| value.checked_mul(scale))
                .ok_or_else(|| f.unrecognised())?
        }
        None => 0,
    };
    let time =
        NaiveTime::from_hms_nano_opt(f.required_number("h")?, f.required_number("mi")?, seconds.unwrap_or(0), nanos)
            .ok_or_else(|| f.invalid_date())?;
    let offset = utc_offset(f)?;
    let at = NaiveDateTime::new(date, time)
        .and_local_timezone(offset)
        .single()
        .ok_or_else(|| f.out_of_range())?
        .with_timezone(&Utc);
    let precision = if seconds.is_some() { TimeDelta::seconds(1) } else { TimeDelta::minutes(1) };
    Ok(Span::Instant { at, precision })
}

/// The zone in group `tz`; a datetime written without one is taken as UTC.
fn utc_offset(f: &Found<'_>) -> Result<FixedOffset, TimeExprError> {
    let seconds = match f.text("tz") {
        None => 0,
        Some(tz) if matches!(tz.trim(), "z" | "utc" | "gmt") => 0,
        Some(tz) => {
            let sign = if tz.starts_with('-') { -1 } else { 1 };
            let digits: String = tz.chars().filter(char::is_ascii_digit).collect();
            let field = |range: std::ops::Range<usize>| {
                digits.get(range).map_or(Ok(0), |text| text.parse::<i32>()).map_err(|_| f.unrecognised())
            };
            sign * (field(0..2)? * 3600 + field(2..4)? * 60)
        }
    };
    FixedOffset::east_opt(seconds).ok_or_else(|| f.invalid_date())
}

fn iso_date(f: &Found<'_>) -> Result<Span, TimeExprError> {
    let year = f.year()?.ok_or_else(|| f.unrecognised())?;
    let date = f.calendar_date(year, f.required_number("mo")?, f.required_number("d")?)?;
    f.day_or_part(date)
}

fn numeric_date(f: &Found<'_>) -> Result<Span, TimeExprError> {
    let month = f.required_number("mo")?;
    let day = f.required_number("d")?;
    let date = match f.text("y") {
        Some(year) => {
            let value: i32 = year.parse().map_err(|_| f.unrecognised())?;
            let year = match (year.len(), value) {
                (2, short) if short < 50 => 2000 + short,
                (2, short) => 1900 + short,
                _ => value,
            };
            f.calendar_date(year, month, day)?
        }
        None => {
            // The most recent occurrence: memories lie in the past, so "12/25"
            // read in January means the Christmas just gone. Going back eight
            // years always reaches a leap year, for "2/29".
            let today = f.today();
            (0..=8)
                .filter_map(|back| today.year().checked_sub(back))
                .filter_map(|year| NaiveDate::from_ymd_opt(year, month, day))
                .find(|date| *date <= today)
                .ok_or_else(|| f.invalid_date())?
        }
    };
    f.day_or_part(date)
}

fn relative_day(f: &Found<'_>) -> Result<Span, TimeExprError> {
    let day = f.text("day").unwrap_or_default();
    let back = match day.as_str() {
        "today" => 0,
        "yesterday" => 1,
        _ if day.ends_with("yesterday") => 2,
        _ => f.count()?.ok_or_else(|| f.unrecognised())?,
    };
    f.day_or_part(f.days_back(back.into())?)
}

fn recent_part_of_day(f: &Found<'_>) -> Result<Span, TimeExprError> {
    let back = u64::from(f.text("rel").as_deref() == Some("last"));
    let part = f.text("part").unwrap_or_else(|| "night".to_owned());
    f.span(part_of_day(f.days_back(back)?, &part))
}

fn weekday(f: &Found<'_>) -> Result<Span, TimeExprError> {
    const NAMES: [(&str, Weekday); 7] = [
        ("monday", Weekday::Mon),
        ("tuesday", Weekday::Tue),
        ("wednesday", Weekday::Wed),
        ("thursday", Weekday::Thu),
        ("friday", Weekday::Fri),
        ("saturday", Weekday::Sat),
        ("sunday", Weekday::Sun),
    ];
    let name = f.text("wd").unwrap_or_default();
    let target =
        NAMES.iter().find_map(|(word, day)| (*word == name).then_some(*day)).ok_or_else(|| f.unrecognised())?;
    let today = f.today().weekday().num_days_from_monday();
    let mut back = (7 + today - target.num_days_from_monday()) % 7;
    if back == 0 && f.text("last").is_some() {
        back = 7;
    }
    f.day_or_part(f.days_back(back.into())?)
}

fn units_ago(f: &Found<'_>) -> Result<Span, TimeExprError> {
    let count = f.count()?.ok_or_else(|| f.unrecognised())?;
    let today = f.today();
    let range = match f.text("unit").as_deref() {
        Some("minute") => clock_unit_ago(f.now, TimeDelta::try_minutes(count.into()), false),
        Some("hour") => clock_unit_ago(f.now, TimeDelta::try_hours(count.into()), true),
        Some("week") => today.checked_sub_days(Days::new(u64::from(count) * 7)).and_then(week_of),
        Some("month") => first_of_month(today)
            .and_then(|first| first.checked_sub_months(Months::new(count)))
            .and_then(|first| months(first, 1)),
        _ => i32::try_from(count).ok().and_then(|count| today.year().checked_sub(count)).and_then(whole_year_range),
    };
    f.span(range)
}

/// The clock minute, or hour, holding `now - ago`.
fn clock_unit_ago(now: DateTime<Utc>, ago: Option<TimeDelta>, hour: bool) -> Option<TimeRange> {
    let then = now.checked_sub_signed(ago?)?;
    let minute = then.with_nanosecond(0)?.with_second(0)?;
    let (start, length) =
        if hour { (minute.with_minute(0)?, TimeDelta::try_hours(1)?) } else { (minute, TimeDelta::try_minutes(1)?) };
    Some(TimeRange { start, end: start.checked_add_signed(length)? })
}

fn rolling(f: &Found<'_>) -> Result<Span, TimeExprError> {
    let count = f.count()?.unwrap_or(1);
    if count == 0 {
        return Err(TimeExprError::ZeroCount { phrase: f.phrase().to_owned() });
    }
    let unit = f.text("unit").or_else(|| f.text("punit")).or_else(|| f.text("hunit")).unwrap_or_default();
    let now = f.now;
    let delta = |make: fn(i64) -> Option<TimeDelta>| make(count.into()).and_then(|delta| now.checked_sub_signed(delta));
    let start = match unit.as_str() {
        "minute" => delta(TimeDelta::try_minutes),
        "hour" => delta(TimeDelta::try_hours),
        "day" => delta(TimeDelta::try_days),
        "week" => delta(TimeDelta::try_weeks),
        "month" => now.checked_sub_months(Months::new(count)),
        _ => count.checked_mul(12).and_then(|months| now.checked_sub_months(Months::new(months))),
    };
    let start = start.ok_or_else(|| f.out_of_range())?;
    Ok(Span::Range(TimeRange::checked(f.phrase(), start, now)?))
}

fn calendar_unit(f: &Found<'_>) -> Result<Span, TimeExprError> {
    let back = u32::from(matches!(f.text("rel").as_deref(), Some("last" | "previous")));
    let today = f.today();
    let range = match f.text("unit").as_deref() {
        Some("day") => today.checked_sub_days(Days::new(back.into())).and_then(|day| days(day, 1)),
        Some("week") => today.checked_sub_days(Days::new(u64::from(back) * 7)).and_then(week_of),
        Some("month") => first_of_month(today)
            .and_then(|first| first.checked_sub_months(Months::new(back)))
            .and_then(|first| months(first, 1)),
        Some("quarter") => first_of_quarter(today)
            .and_then(|first| first.checked_sub_months(Months::new(back * 3)))
            .and_then(|first| months(first, 3)),
        _ => today.year().checked_sub_unsigned(back).and_then(whole_year_range),
    };
    f.span(range)
}

fn month_name(f: &Found<'_>) -> Result<Span, TimeExprError> {
    const NAMES: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let name = f.text("month").unwrap_or_default();
    let month = NAMES
        .iter()
        .zip(1..)
        .find_map(|(word, number)| (*word == name).then_some(number))
        .ok_or_else(|| f.unrecognised())?;
    let today = f.today();
    let year = match f.year()? {
        Some(year) => year,
        // "march" is this year's March once it has begun; "last march" is the
        // most recent one that has ended.
        None if f.text("last").is_some() && month < today.month() => today.year(),
        None if f.text("last").is_none() && month <= today.month() => today.year(),
        None => today.year().checked_sub(1).ok_or_else(|| f.out_of_range())?,
    };
    f.span(NaiveDate::from_ymd_opt(year, month, 1).and_then(|first| months(first, 1)))
}

fn named_period(f: &Found<'_>) -> Result<Span, TimeExprError> {
    let name = f.text("name").unwrap_or_default();
    let period = Named::from_word(&name).ok_or_else(|| f.unrecognised())?;
    let range = match (f.year()?, f.text("rel").as_deref()) {
        (Some(year), _) => period.occurrence(year),
        (None, Some("last")) => period.latest_ended(f.now),
        (None, Some(_)) => period.current(f.now),
        (None, None) => period.latest_begun(f.now),
    };
    f.span(range)
}

fn half_year(f: &Found<'_>) -> Result<Span, TimeExprError> {
    let second = matches!(f.text("half").as_deref(), Some("second" | "2nd")) || f.text("hnum").as_deref() == Some("2");
    let year = f.year()?.ok_or_else(|| f.unrecognised())?;
    let first_month = if second { 7 } else { 1 };
    f.span(NaiveDate::from_ymd_opt(year, first_month, 1).and_then(|first| months(first, 6)))
}

fn quarter(f: &Found<'_>) -> Result<Span, TimeExprError> {
    let quarter: u32 = match f.text("ord").as_deref() {
        Some("first" | "1st") => 1,
        Some("second" | "2nd") => 2,
        Some("third" | "3rd") => 3,
        Some(_) => 4,
        None => f.required_number("qnum")?,
    };
    let first_month = (quarter - 1) * 3 + 1;
    let today = f.today();
    let year = match f.year()? {
        Some(year) => year,
        // Without a year, the most recent quarter of that name to have begun.
        None if first_month <= today.month() => today.year(),
        None => today.year().checked_sub(1).ok_or_else(|| f.out_of_range())?,
    };
    f.span(NaiveDate::from_ymd_opt(year, first_month, 1).and_then(|first| months(first, 3)))
}

fn whole_year(f: &Found<'_>) -> Result<Span, TimeExprError> {
    let year = f.year()?.ok_or_else(|| f.unrecognised())?;
    f.span(whole_year_range(year))
}

fn recent(f: &Found<'_>) -> Result<Span, TimeExprError> {
    let start =
        TimeDelta::try_days(7).and_then(|week| f.now.checked_sub_signed(week)).ok_or_else(|| f.out_of_range())?;
    Ok(Span::Range(TimeRange::checked(f.phrase(), start, f.now)?))
}

// ---------------------------------------------------------------------------
// Calendar arithmetic; `None` means the result left chrono's range
// ---------------------------------------------------------------------------

fn midnight(date: NaiveDate) -> DateTime<Utc> {
    date.and_time(NaiveTime::MIN).and_utc()
}

/// `count` whole days from `first`.
fn days(first: NaiveDate, count: u64) -> Option<TimeRange> {
    let end = first.checked_add_days(Days::new(count))?;
    Some(TimeRange { start: midnight(first), end: midnight(end) })
}

/// `count` whole months from `first`, which is the first of a month.
fn months(first: NaiveDate, count: u32) -> Option<TimeRange> {
    let end = first.checked_add_months(Months::new(count))?;
    Some(TimeRange { start: midnight(first), end: midnight(end) })
}

fn whole_year_range(year: i32) -> Option<TimeRange> {
    months(NaiveDate::from_ymd_opt(year, 1, 1)?, 12)
}

/// The Monday-to-Sunday week holding `date`.
fn week_of(date: NaiveDate) -> Option<TimeRange> {
    let monday = date.checked_sub_days(Days::new(date.weekday().num_days_from_monday().into()))?;
    days(monday, 7)
}

fn first_of_month(date: NaiveDate) -> Option<NaiveDate> {
    date.with_day(1)
}

fn first_of_quarter(date: NaiveDate) -> Option<NaiveDate> {
    first_of_month(date)?.checked_sub_months(Months::new((date.month() - 1) % 3))
}

/// A named part of `date`; night runs into the next morning.
fn part_of_day(date: NaiveDate, part: &str) -> Option<TimeRange> {
    let (from_hour, hours) = match part {
        "morning" => (5, 7),
        "noon" => (12, 1),
        "afternoon" => (13, 5),
        "evening" => (18, 4),
        "night" => (22, 7),
        _ => (0, 1),
    };
    let start = midnight(date).checked_add_signed(TimeDelta::try_hours(from_hour)?)?;
    let end = start.checked_add_signed(TimeDelta::try_hours(hours)?)?;
    Some(TimeRange { start, end })
}

/// A season or holiday: a window of days that comes round once a year.
#[derive(Debug, Clone, Copy)]
enum Named {
    /// First and last day, as (month, day); winter ends the following year.
    Season { first: (u32, u32), last: (u32, u32), crosses_year: bool },
    /// The holiday's date in a given year, and the days allowed either side.
    Holiday { date: fn(i32) -> Option<NaiveDate>, window: u64 },
}

impl Named {
    fn from_word(word: &str) -> Option<Self> {
        let season = |first, last| Self::Season { first, last, crosses_year: false };
        let holiday = |date: fn(i32) -> Option<NaiveDate>, window: u64| Self::Holiday { date, window };
        Some(match word {
            "spring" => season((3, 20), (6, 20)),
            "summer" => season((6, 21), (9, 22)),
            "fall" | "autumn" => season((9, 23), (12, 20)),
            "winter" => Self::Season { first: (12, 21), last: (3, 19), crosses_year: true },
            _ if word.starts_with("christmas") || word == "xmas" => {
                holiday(|year| NaiveDate::from_ymd_opt(year, 12, 25), 3)
            }
            _ if word.starts_with("new") => holiday(|year| NaiveDate::from_ymd_opt(year, 1, 1), 3),
            _ if word.starts_with("valentine") => holiday(|year| NaiveDate::from_ymd_opt(year, 2, 14), 1),
            "halloween" => holiday(|year| NaiveDate::from_ymd_opt(year, 10, 31), 3),
            _ if word.starts_with("thanksgiving") => {
                holiday(|year| NaiveDate::from_weekday_of_month_opt(year, 11, Weekday::Thu, 4), 3)
            }
            _ => return None,
        })
    }

    /// The occurrence belonging to `year`: for winter the one starting in
    /// December of `year`, for new year the one around January 1 of `year`.
    fn occurrence(self, year: i32) -> Option<TimeRange> {
        match self {
            Self::Season { first, last, crosses_year } => {
                let start = NaiveDate::from_ymd_opt(year, first.0, first.1)?;
                let end_year = if crosses_year { year.checked_add(1)? } else { year };
                let end = NaiveDate::from_ymd_opt(end_year, last.0, last.1)?.succ_opt()?;
                Some(TimeRange { start: midnight(start), end: midnight(end) })
            }
            Self::Holiday { date, window } => {
                let date = date(year)?;
                days(date.checked_sub_days(Days::new(window))?, 2 * window + 1)
            }
        }
    }

    /// Occurrences around `now`, newest first; one a year either side of
    /// the current year is enough for windows no longer than a year.
    fn around(self, now: DateTime<Utc>) -> impl Iterator<Item = TimeRange> {
        let year = now.year();
        (year - 3..=year + 1).rev().filter_map(move |year| self.occurrence(year))
    }

    fn latest_begun(self, now: DateTime<Utc>) -> Option<TimeRange> {
        self.around(now).find(|range| range.start <= now)
    }

    fn latest_ended(self, now: DateTime<Utc>) -> Option<TimeRange> {
        self.around(now).find(|range| range.end <= now)
    }

    /// The occurrence under way, or else the one nearest to now among those
    /// overlapping the current calendar year ("this winter" in November is
    /// the coming one, in late March the one just ended).
    fn current(self, now: DateTime<Utc>) -> Option<TimeRange> {
        let year = whole_year_range(now.year())?;
        let overlapping: Vec<TimeRange> =
            self.around(now).filter(|range| range.start < year.end && year.start < range.end).collect();
        if let Some(range) = overlapping.iter().find(|range| range.start <= now && now < range.end) {
            return Some(*range);
        }
        overlapping.into_iter().min_by_key(|range| if range.end <= now { now - range.end } else { range.start - now })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wednesday 2026-11-25, mid-afternoon.
    fn november() -> DateTime<Utc> {
        at("2026-11-25T15:30:00Z")
    }

    /// Wednesday 2027-01-13, for year wrap-around.
    fn january() -> DateTime<Utc> {
        at("2027-01-13T09:00:00Z")
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn range(start: &str, end: &str) -> TimeRange {
        TimeRange { start: at(start), end: at(end) }
    }

    /// Shorthand for whole-day bounds.
    fn days_from(start: &str, end: &str) -> TimeRange {
        range(&format!("{start}T00:00:00Z"), &format!("{end}T00:00:00Z"))
    }

    #[track_caller]
    fn check(phrase: &str, now: DateTime<Utc>, expected: TimeRange) {
        assert_eq!(parse(phrase, now), Ok(expected), "phrase {phrase:?}");
    }

    #[test]
    fn fixed_nows_are_wednesdays() {
        assert_eq!(november().weekday(), Weekday::Wed);
        assert_eq!(january().weekday(), Weekday::Wed);
    }

    #[test]
    fn ranges_intersect_where_they_overlap() {
        let week = days_from("2026-11-23", "2026-11-30");
        assert_eq!(week.intersect(days_from("2026-11-25", "2026-12-05")), Some(days_from("2026-11-25", "2026-11-30")));
        assert_eq!(week.intersect(days_from("2026-11-01", "2026-12-31")), Some(week));
        // Half-open: ranges that only touch share no instant.
        assert_eq!(week.intersect(days_from("2026-11-30", "2026-12-01")), None);
        assert_eq!(week.intersect(days_from("2026-10-01", "2026-10-02")), None);
    }

    #[test]
    fn a_phrase_narrowed_by_after_and_before() {
        let week = days_from("2026-11-23", "2026-11-30");
        // Given nothing to narrow by: the phrase's range, or none.
        assert_eq!(TimeRange::narrowed(Some(week), None, None), Ok(Some(week)));
        assert_eq!(TimeRange::narrowed(None, None, None), Ok(None));
        // Given bounds: phrase ∩ after ∩ before, each optional.
        let (after, before) = (at("2026-11-25T00:00:00Z"), at("2026-11-27T12:00:00Z"));
        let both = range("2026-11-25T00:00:00Z", "2026-11-27T12:00:00Z");
        assert_eq!(TimeRange::narrowed(Some(week), Some(after), Some(before)), Ok(Some(both)));
        assert_eq!(TimeRange::narrowed(None, Some(after), Some(before)), Ok(Some(both)));
        assert_eq!(
            TimeRange::narrowed(Some(week), None, Some(before)),
            Ok(Some(range("2026-11-23T00:00:00Z", "2026-11-27T12:00:00Z")))
        );
        assert_eq!(
            TimeRange::narrowed(None, Some(after), None),
            Ok(Some(TimeRange { start: after, end: DateTime::<Utc>::MAX_UTC }))
        );
        // Given bounds that leave nothing: an error naming the bounds.
        let error = TimeRange::narrowed(Some(week), Some(at("2026-12-01T00:00:00Z")), None).unwrap_err();
        assert_eq!(error, TimeExprError::Disjoint { start: at("2026-12-01T00:00:00Z"), end: week.end });
        assert!(error.to_string().starts_with("no time is both on or after 2026-12-01 00:00:00 UTC and before"));
        assert!(TimeRange::narrowed(None, Some(before), Some(after)).is_err());
    }

    #[test]
    fn patterns_compile() {
        assert_eq!(ANCHORED.len(), RULES.len());
        assert!(COMBINATION.is_match("between a and b"));
        assert!(EXTRACTOR.is_match("yesterday"));
        assert!(AMBIGUOUS.is_match("may"));
    }

    #[test]
    fn iso_dates_are_whole_days() {
        let n = november();
        check("2024-01-05", n, days_from("2024-01-05", "2024-01-06"));
        check("2024-1-5", n, days_from("2024-01-05", "2024-01-06"));
        check("on 2024-02-29", n, days_from("2024-02-29", "2024-03-01"));
        check("2024-12-31", n, days_from("2024-12-31", "2025-01-01"));
        check("2024-01-05 morning", n, range("2024-01-05T05:00:00Z", "2024-01-05T12:00:00Z"));
    }

    #[test]
    fn iso_datetimes_are_instants() {
        let n = november();
        check("2026-11-20T14:00Z", n, range("2026-11-20T14:00:00Z", "2026-11-20T14:01:00Z"));
        check("2026-11-20 14:00", n, range("2026-11-20T14:00:00Z", "2026-11-20T14:01:00Z"));
        check("2026-11-20T14:00:00+02:00", n, range("2026-11-20T12:00:00Z", "2026-11-20T12:00:01Z"));
        check("2026-11-20t14:00:30.5-0130", n, range("2026-11-20T15:30:30.5Z", "2026-11-20T15:30:31.5Z"));
        check("2026-11-20 14:00 UTC", n, range("2026-11-20T14:00:00Z", "2026-11-20T14:01:00Z"));
    }

    #[test]
    fn numeric_dates_use_the_most_recent_occurrence() {
        let n = november();
        check("3/15", n, days_from("2026-03-15", "2026-03-16"));
        check("3-15", n, days_from("2026-03-15", "2026-03-16"));
        check("12/25", n, days_from("2025-12-25", "2025-12-26"));
        check("11/25", n, days_from("2026-11-25", "2026-11-26"));
        check("12/25/24", n, days_from("2024-12-25", "2024-12-26"));
        check("12/25/99", n, days_from("1999-12-25", "1999-12-26"));
        check("1/2/2023", n, days_from("2023-01-02", "2023-01-03"));
        check("2/29", n, days_from("2024-02-29", "2024-03-01"));
        check("3/15 evening", n, range("2026-03-15T18:00:00Z", "2026-03-15T22:00:00Z"));
    }

    #[test]
    fn relative_days_and_parts_of_days() {
        let n = november();
        check("today", n, days_from("2026-11-25", "2026-11-26"));
        check("Yesterday", n, days_from("2026-11-24", "2026-11-25"));
        check("the day before yesterday", n, days_from("2026-11-23", "2026-11-24"));
        check("3 days ago", n, days_from("2026-11-22", "2026-11-23"));
        check("1 day ago", n, days_from("2026-11-24", "2026-11-25"));
        check("a day ago", n, days_from("2026-11-24", "2026-11-25"));
        check("two days ago", n, days_from("2026-11-23", "2026-11-24"));
        check("0 days ago", n, days_from("2026-11-25", "2026-11-26"));
        check("yesterday morning", n, range("2026-11-24T05:00:00Z", "2026-11-24T12:00:00Z"));
        check("yesterday at noon", n, range("2026-11-24T12:00:00Z", "2026-11-24T13:00:00Z"));
        check("today afternoon", n, range("2026-11-25T13:00:00Z", "2026-11-25T18:00:00Z"));
        check("3 days ago in the evening", n, range("2026-11-22T18:00:00Z", "2026-11-22T22:00:00Z"));
        check("yesterday night", n, range("2026-11-24T22:00:00Z", "2026-11-25T05:00:00Z"));
        check("today midnight", n, range("2026-11-25T00:00:00Z", "2026-11-25T01:00:00Z"));
        check("this morning", n, range("2026-11-25T05:00:00Z", "2026-11-25T12:00:00Z"));
        check("last night", n, range("2026-11-24T22:00:00Z", "2026-11-25T05:00:00Z"));
        check("tonight", n, range("2026-11-25T22:00:00Z", "2026-11-26T05:00:00Z"));
    }

    #[test]
    fn weekdays_look_back() {
        let n = november();
        check("wednesday", n, days_from("2026-11-25", "2026-11-26"));
        check("last wednesday", n, days_from("2026-11-18", "2026-11-19"));
        check("monday", n, days_from("2026-11-23", "2026-11-24"));
        check("on friday", n, days_from("2026-11-20", "2026-11-21"));
        check("last friday", n, days_from("2026-11-20", "2026-11-21"));
        check("friday evening", n, range("2026-11-20T18:00:00Z", "2026-11-20T22:00:00Z"));
    }

    #[test]
    fn units_ago_are_calendar_units() {
        let n = november();
        check("3 hours ago", n, range("2026-11-25T12:00:00Z", "2026-11-25T13:00:00Z"));
        check("an hour ago", n, range("2026-11-25T14:00:00Z", "2026-11-25T15:00:00Z"));
        check("5 minutes ago", n, range("2026-11-25T15:25:00Z", "2026-11-25T15:26:00Z"));
        check("1 week ago", n, days_from("2026-11-16", "2026-11-23"));
        check("two weeks ago", n, days_from("2026-11-09", "2026-11-16"));
        check("a few weeks ago", n, days_from("2026-11-02", "2026-11-09"));
        check("2 months ago", n, days_from("2026-09-01", "2026-10-01"));
        check("11 months ago", n, days_from("2025-12-01", "2026-01-01"));
        check("1 year ago", n, days_from("2025-01-01", "2026-01-01"));
        check("2 months ago", january(), days_from("2026-11-01", "2026-12-01"));
    }

    #[test]
    fn calendar_units() {
        let n = november();
        check("last day", n, days_from("2026-11-24", "2026-11-25"));
        check("this day", n, days_from("2026-11-25", "2026-11-26"));
        check("last week", n, days_from("2026-11-16", "2026-11-23"));
        check("previous week", n, days_from("2026-11-16", "2026-11-23"));
        check("this week", n, days_from("2026-11-23", "2026-11-30"));
        check("last month", n, days_from("2026-10-01", "2026-11-01"));
        check("this month", n, days_from("2026-11-01", "2026-12-01"));
        check("last quarter", n, days_from("2026-07-01", "2026-10-01"));
        check("this quarter", n, days_from("2026-10-01", "2027-01-01"));
        check("last year", n, days_from("2025-01-01", "2026-01-01"));
        check("This Year", n, days_from("2026-01-01", "2027-01-01"));

        let j = january();
        check("last week", j, days_from("2027-01-04", "2027-01-11"));
        check("last month", j, days_from("2026-12-01", "2027-01-01"));
        check("last quarter", j, days_from("2026-10-01", "2027-01-01"));
        check("last year", j, days_from("2026-01-01", "2027-01-01"));
    }

    #[test]
    fn rolling_windows_end_now() {
        let n = november();
        let ending_now = |start: &str| range(start, "2026-11-25T15:30:00Z");
        check("last 3 days", n, ending_now("2026-11-22T15:30:00Z"));
        check("past 3 days", n, ending_now("2026-11-22T15:30:00Z"));
        check("last 2 weeks", n, ending_now("2026-11-11T15:30:00Z"));
        check("last-2-weeks", n, ending_now("2026-11-11T15:30:00Z"));
        check("past 2 weeks", n, ending_now("2026-11-11T15:30:00Z"));
        check("in the last two weeks", n, ending_now("2026-11-11T15:30:00Z"));
        check("past week", n, ending_now("2026-11-18T15:30:00Z"));
        check("past month", n, ending_now("2026-10-25T15:30:00Z"));
        check("last 6 months", n, ending_now("2026-05-25T15:30:00Z"));
        check("last 2 years", n, ending_now("2024-11-25T15:30:00Z"));
        check("last 5 hours", n, ending_now("2026-11-25T10:30:00Z"));
        check("last hour", n, ending_now("2026-11-25T14:30:00Z"));
        check("last 15 minutes", n, ending_now("2026-11-25T15:15:00Z"));
        check("last few days", n, ending_now("2026-11-22T15:30:00Z"));
        check("past couple of days", n, ending_now("2026-11-23T15:30:00Z"));
        check("recent", n, ending_now("2026-11-18T15:30:00Z"));
        check("recently", n, ending_now("2026-11-18T15:30:00Z"));
        check("lately", n, ending_now("2026-11-18T15:30:00Z"));
        check("the most recent", n, ending_now("2026-11-18T15:30:00Z"));
        // A month back from March 31 clamps to the end of February.
        check("past month", at("2026-03-31T12:00:00Z"), range("2026-02-28T12:00:00Z", "2026-03-31T12:00:00Z"));
    }

    #[test]
    fn month_names() {
        let n = november();
        check("march", n, days_from("2026-03-01", "2026-04-01"));
        check("in march", n, days_from("2026-03-01", "2026-04-01"));
        check("november", n, days_from("2026-11-01", "2026-12-01"));
        check("december", n, days_from("2025-12-01", "2026-01-01"));
        check("last november", n, days_from("2025-11-01", "2025-12-01"));
        check("last october", n, days_from("2026-10-01", "2026-11-01"));
        check("march 2024", n, days_from("2024-03-01", "2024-04-01"));
        check("march of 2024", n, days_from("2024-03-01", "2024-04-01"));
        check("February 2024", n, days_from("2024-02-01", "2024-03-01"));
        check("december", january(), days_from("2026-12-01", "2027-01-01"));
        check("january", january(), days_from("2027-01-01", "2027-02-01"));
    }

    #[test]
    fn seasons() {
        let n = november();
        check("spring", n, days_from("2026-03-20", "2026-06-21"));
        check("summer", n, days_from("2026-06-21", "2026-09-23"));
        check("fall", n, days_from("2026-09-23", "2026-12-21"));
        check("autumn", n, days_from("2026-09-23", "2026-12-21"));
        check("winter", n, days_from("2025-12-21", "2026-03-20"));
        check("last summer", n, days_from("2026-06-21", "2026-09-23"));
        check("last fall", n, days_from("2025-09-23", "2025-12-21"));
        check("this fall", n, days_from("2026-09-23", "2026-12-21"));
        check("this winter", n, days_from("2026-12-21", "2027-03-20"));
        check("this summer", n, days_from("2026-06-21", "2026-09-23"));
        check("summer 2024", n, days_from("2024-06-21", "2024-09-23"));
        check("winter 2024", n, days_from("2024-12-21", "2025-03-20"));

        let j = january();
        check("winter", j, days_from("2026-12-21", "2027-03-20"));
        check("this winter", j, days_from("2026-12-21", "2027-03-20"));
        check("last winter", j, days_from("2025-12-21", "2026-03-20"));
        check("fall", j, days_from("2026-09-23", "2026-12-21"));
        check("this winter", at("2027-03-25T00:00:00Z"), days_from("2026-12-21", "2027-03-20"));
    }

    #[test]
    fn holidays() {
        let n = november();
        check("christmas", n, days_from("2025-12-22", "2025-12-29"));
        check("xmas", n, days_from("2025-12-22", "2025-12-29"));
        check("new year", n, days_from("2025-12-29", "2026-01-05"));
        check("new year's eve", n, days_from("2025-12-29", "2026-01-05"));
        check("valentine", n, days_from("2026-02-13", "2026-02-16"));
        check("valentine's day", n, days_from("2026-02-13", "2026-02-16"));
        check("valentines day", n, days_from("2026-02-13", "2026-02-16"));
        check("halloween", n, days_from("2026-10-28", "2026-11-04"));
        // Thanksgiving 2026 is Thursday, November 26; its window began on the 23rd.
        check("thanksgiving", n, days_from("2026-11-23", "2026-11-30"));
        check("last thanksgiving", n, days_from("2025-11-24", "2025-12-01"));
        check("thanksgiving 2024", n, days_from("2024-11-25", "2024-12-02"));
        check("christmas 2024", n, days_from("2024-12-22", "2024-12-29"));

        let j = january();
        check("christmas", j, days_from("2026-12-22", "2026-12-29"));
        check("new year", j, days_from("2026-12-29", "2027-01-05"));
        // The window around 2027-01-01 closed on the 5th, so it counts as last.
        check("last new year", j, days_from("2026-12-29", "2027-01-05"));
        check("last new year", at("2027-01-02T00:00:00Z"), days_from("2025-12-29", "2026-01-05"));
        check("new year", at("2026-12-30T08:00:00Z"), days_from("2026-12-29", "2027-01-05"));
    }

    #[test]
    fn halves_quarters_and_years() {
        let n = november();
        check("first half of 2024", n, days_from("2024-01-01", "2024-07-01"));
        check("second half of 2024", n, days_from("2024-07-01", "2025-01-01"));
        check("h2 2024", n, days_from("2024-07-01", "2025-01-01"));
        check("first quarter of 2024", n, days_from("2024-01-01", "2024-04-01"));
        check("4th quarter of 2024", n, days_from("2024-10-01", "2025-01-01"));
        check("third quarter", n, days_from("2026-07-01", "2026-10-01"));
        check("q2", n, days_from("2026-04-01", "2026-07-01"));
        check("Q3 2025", n, days_from("2025-07-01", "2025-10-01"));
        check("q3-2025", n, days_from("2025-07-01", "2025-10-01"));
        check("2024", n, days_from("2024-01-01", "2025-01-01"));
        check("in 2024", n, days_from("2024-01-01", "2025-01-01"));
        check("q4", january(), days_from("2026-10-01", "2027-01-01"));
        check("q1", january(), days_from("2027-01-01", "2027-04-01"));
    }

    #[test]
    fn combinations() {
        let n = november();
        check("between 2024-01-01 and 2024-02-01", n, days_from("2024-01-01", "2024-02-02"));
        check("between last week and yesterday", n, days_from("2026-11-16", "2026-11-25"));
        check("Between March and May", n, days_from("2026-03-01", "2026-06-01"));
        check(
            "between 2026-11-20T14:00Z and 2026-11-20T16:00Z",
            n,
            range("2026-11-20T14:00:00Z", "2026-11-20T16:00:00Z"),
        );
        check("from 2024-01-01 to 2024-01-31", n, days_from("2024-01-01", "2024-02-01"));
        check("from yesterday to today", n, days_from("2026-11-24", "2026-11-26"));
        check("since monday", n, range("2026-11-23T00:00:00Z", "2026-11-25T15:30:00Z"));
        check("since 2026-11-20T14:00Z", n, range("2026-11-20T14:00:00Z", "2026-11-25T15:30:00Z"));
        check("since last week", n, range("2026-11-16T00:00:00Z", "2026-11-25T15:30:00Z"));
        check("after 2026-11-01", n, range("2026-11-02T00:00:00Z", "2026-11-25T15:30:00Z"));
        check("before 2024-01-01", n, range("1970-01-01T00:00:00Z", "2024-01-01T00:00:00Z"));
        check("until 2024-01-01", n, range("1970-01-01T00:00:00Z", "2024-01-02T00:00:00Z"));
        // Dates without a year resolve separately, so a range can cross New Year.
        check("between 12/20 and 1/5", january(), days_from("2026-12-20", "2027-01-06"));
    }

    #[test]
    fn extract_finds_and_removes_phrases() {
        let n = november();
        let found = extract("what did I note about rust last week", n).unwrap();
        assert_eq!(found.range, Some(days_from("2026-11-16", "2026-11-23")));
        assert_eq!(found.remainder, "what did I note about rust");

        let found = extract("Meetings yesterday morning?", n).unwrap();
        assert_eq!(found.range, Some(range("2026-11-24T05:00:00Z", "2026-11-24T12:00:00Z")));
        assert_eq!(found.remainder, "Meetings?");

        let found = extract("decisions between 2024-01-01 and 2024-02-01 on auth", n).unwrap();
        assert_eq!(found.range, Some(days_from("2024-01-01", "2024-02-02")));
        assert_eq!(found.remainder, "decisions on auth");

        let found = extract("notes from yesterday and today", n).unwrap();
        assert_eq!(found.range, Some(days_from("2026-11-24", "2026-11-26")));
        assert_eq!(found.remainder, "notes and");

        let found = extract("yesterday's standup, in the last-2-weeks", n).unwrap();
        assert_eq!(found.range, Some(range("2026-11-11T15:30:00Z", "2026-11-25T15:30:00Z")));
        assert_eq!(found.remainder, "standup");

        let found = extract("last week", n).unwrap();
        assert_eq!(found.remainder, "");
        assert!(found.range.is_some());
    }

    #[test]
    fn extract_without_phrases_keeps_the_query() {
        let n = november();
        for query in [
            "  how do I configure   the embedding model ",
            "spring boot configuration",
            "it may fail on port 8080",
            "fall back to q1 answers",
            "",
        ] {
            let found = extract(query, n).unwrap();
            assert_eq!(found.range, None, "query {query:?}");
            assert_eq!(found.remainder, query.trim());
        }
    }

    #[test]
    fn extract_takes_ambiguous_words_after_a_preposition() {
        let n = november();
        let found = extract("what happened in may", n).unwrap();
        assert_eq!(found.range, Some(days_from("2026-05-01", "2026-06-01")));
        assert_eq!(found.remainder, "what happened");

        let found = extract("releases during 2024", n).unwrap();
        assert_eq!(found.range, Some(days_from("2024-01-01", "2025-01-01")));
        assert_eq!(found.remainder, "releases");

        let found = extract("what broke in the fall", n).unwrap();
        assert_eq!(found.range, Some(days_from("2026-09-23", "2026-12-21")));
        assert_eq!(found.remainder, "what broke");

        let found = extract("bugs during spring", n).unwrap();
        assert_eq!(found.range, Some(days_from("2026-03-20", "2026-06-21")));

        let found = extract("notes from 2025", n).unwrap();
        assert_eq!(found.range, Some(days_from("2025-01-01", "2026-01-01")));

        for query in ["upgrade notes on spring boot", "bug in spring security"] {
            let found = extract(query, n).unwrap();
            assert_eq!(found.range, None, "query {query:?}");
        }

        let found = extract("plans since march", n).unwrap();
        assert_eq!(found.range, Some(range("2026-03-01T00:00:00Z", "2026-11-25T15:30:00Z")));
    }

    #[test]
    fn extract_reports_impossible_dates() {
        assert!(matches!(extract("notes from 2026-02-30", november()), Err(TimeExprError::InvalidDate { .. })));
    }

    #[test]
    fn errors() {
        let n = november();
        assert_eq!(parse("", n), Err(TimeExprError::Empty));
        assert_eq!(parse("   ", n), Err(TimeExprError::Empty));
        assert!(matches!(parse("next tuesday", n), Err(TimeExprError::Unrecognised { .. })));
        assert!(matches!(parse("2026-02-30", n), Err(TimeExprError::InvalidDate { .. })));
        assert!(matches!(parse("2/30", n), Err(TimeExprError::InvalidDate { .. })));
        assert!(matches!(parse("2026-11-20T25:00Z", n), Err(TimeExprError::InvalidDate { .. })));
        assert!(matches!(parse("2026-11-20T10:00+25:00", n), Err(TimeExprError::InvalidDate { .. })));
        assert!(matches!(parse("12345 days ago", n), Err(TimeExprError::NumberTooLarge { .. })));
        assert!(matches!(parse("last 0 days", n), Err(TimeExprError::ZeroCount { .. })));
        assert!(matches!(parse("between 2024-02-01 and 2024-01-01", n), Err(TimeExprError::InvertedRange { .. })));
        assert!(matches!(parse("since 2099-01-01", n), Err(TimeExprError::InvertedRange { .. })));
        assert!(matches!(
            parse("between soon and later", n),
            Err(TimeExprError::Unrecognised { phrase }) if phrase == "soon"
        ));
        let long = "a".repeat(MAX_LEN + 1);
        assert_eq!(parse(&long, n), Err(TimeExprError::TooLong { len: MAX_LEN + 1, max: MAX_LEN }));
        assert!(matches!(extract(&long, n), Err(TimeExprError::TooLong { .. })));
    }

    #[test]
    fn error_messages_suggest_phrases() {
        let message = parse("whenever", november()).unwrap_err().to_string();
        assert!(message.contains("'whenever'"), "{message}");
        assert!(message.contains("'last week'"), "{message}");
        let message = parse("2026-02-30", november()).unwrap_err().to_string();
        assert!(message.contains("2024-01-31"), "{message}");
    }

    #[test]
    fn extreme_dates_fail_cleanly() {
        let edge = DateTime::<Utc>::MAX_UTC;
        assert!(matches!(parse("tonight", edge), Err(TimeExprError::OutOfRange { .. })));
        let early = DateTime::<Utc>::MIN_UTC;
        assert!(matches!(parse("9999 years ago", early), Err(TimeExprError::OutOfRange { .. })));
        assert!(parse("last 9999 years", november()).is_ok());
    }

    /// Phrases from every family that hold for any `now` between 1990 and 2100.
    const SUPPORTED: &[&str] = &[
        "today",
        "yesterday evening",
        "3 days ago",
        "two weeks ago",
        "5 months ago",
        "10 years ago",
        "3 hours ago",
        "last week",
        "this month",
        "last quarter",
        "this year",
        "last summer",
        "this winter",
        "winter",
        "in march",
        "last december",
        "christmas",
        "new year",
        "thanksgiving",
        "first half of 2024",
        "q3 2025",
        "fourth quarter",
        "recently",
        "last 3 days",
        "past month",
        "last-2-weeks",
        "last 4 hours",
        "since yesterday",
        "after last week",
        "before 1/5",
        "between last month and today",
        "from 2 weeks ago to yesterday",
        "2024-06-01",
        "2026-11-20T14:00:00+02:00",
        "12/25",
        "friday night",
        "tonight",
        "last night",
    ];

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Any instant from 1990 to 2100 with a fraction of a second, so that
        /// `now` never sits exactly on a boundary where "since today" is empty.
        fn ordinary_now() -> impl Strategy<Value = DateTime<Utc>> {
            (631_152_000i64..4_102_444_800, 1u32..1_000_000_000)
                .prop_map(|(secs, nanos)| DateTime::from_timestamp(secs, nanos).unwrap())
        }

        fn any_now() -> impl Strategy<Value = DateTime<Utc>> {
            (DateTime::<Utc>::MIN_UTC.timestamp()..=DateTime::<Utc>::MAX_UTC.timestamp(), 0u32..1_000_000_000)
                .prop_map(|(secs, nanos)| DateTime::from_timestamp(secs, nanos).unwrap())
        }

        proptest! {
            #[test]
            fn supported_phrases_give_forward_ranges(
                phrase in proptest::sample::select(SUPPORTED),
                now in ordinary_now(),
            ) {
                let range = parse(phrase, now);
                prop_assert!(range.is_ok(), "{phrase:?} at {now}: {range:?}");
                let range = range.unwrap();
                prop_assert!(range.start < range.end);
                let found = extract(&format!("notes about rust {phrase}"), now).unwrap();
                prop_assert_eq!(found.range, Some(range));
                prop_assert_eq!(found.remainder, "notes about rust");
            }

            #[test]
            fn supported_phrases_never_panic_at_any_time(
                phrase in proptest::sample::select(SUPPORTED),
                now in any_now(),
            ) {
                if let Ok(range) = parse(phrase, now) {
                    prop_assert!(range.start < range.end);
                }
            }

            #[test]
            fn arbitrary_text_never_panics(text in "\\PC{0,80}", now in any_now()) {
                if let Ok(range) = parse(&text, now) {
                    prop_assert!(range.start < range.end);
                }
                if let Ok(Extracted { range: Some(range), .. }) = extract(&text, now) {
                    prop_assert!(range.start < range.end);
                }
            }

            #[test]
            fn phrase_like_text_never_panics(
                text in "(between |since |before |after |last |past |in |the )?([0-9]{1,6}|a|few|q[0-9]|h[0-9]|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2})?([+-][0-9]{2}:[0-9]{2}|Z)?)?|[0-9]{1,2}/[0-9]{1,2}(/[0-9]{2,4})?)( (days?|weeks?|months?|years?|hours?|minutes?|quarter|half of [0-9]{4})( ago)?)?( and yesterday| to 2024-01-01)?",
                now in any_now(),
            ) {
                if let Ok(range) = parse(&text, now) {
                    prop_assert!(range.start < range.end);
                }
                let _ = extract(&text, now);
            }
        }
    }
}
