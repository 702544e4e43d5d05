//! Target `time_expr`: arbitrary text through the natural-language time parser and the readers of moments
//! and `as_of` built on it, at an arbitrary current time.
//!
//! Input: 5 bytes for the current time (seconds after 1970-01-01, wrapped into the years 1970 to 9999), then
//! the text (UTF-8, lossily). Every entry point gets the same text: `time_expr::parse` (a whole phrase),
//! `time_expr::extract` (phrases inside a query), `parse_moment` (a restore's `to_time`), `Point::parse_as_of`
//! (every `as_of`), and `TimeRange::narrowed` with the moments read.
//!
//! Invariants: nothing panics (date arithmetic out of range is an error); a range is never empty or
//! backwards; a query without a time phrase comes back as it was, trimmed; a narrowed range lies inside its
//! bounds; `as_of` reads a sequence number only from digits (or `seq:` and digits).

use crate::service::time_expr::{self, TimeRange};
use crate::service::{Point, parse_moment};
use chrono::{DateTime, Utc};

/// 9999-12-31T23:59:59Z: the current time stays within the years ISO 8601 writes with four digits.
const LAST_SECOND: u64 = 253_402_300_799;

pub fn time_expr(data: &[u8]) {
    let (clock, text) = data.split_at(data.len().min(5));
    let secs = clock.iter().rev().fold(0u64, |n, b| n << 8 | u64::from(*b)) % (LAST_SECOND + 1);
    let now = DateTime::<Utc>::from_timestamp(secs as i64, 0).expect("a second between 1970 and 9999");
    let text = String::from_utf8_lossy(text);

    if let Ok(range) = time_expr::parse(&text, now) {
        assert!(range.start < range.end, "parse({text:?}) gave an empty range {range:?}");
    }
    if let Ok(found) = time_expr::extract(&text, now) {
        match found.range {
            Some(range) => assert!(range.start < range.end, "extract({text:?}) gave an empty range {range:?}"),
            None => assert_eq!(found.remainder, text.trim(), "extract({text:?}) found nothing but changed the query"),
        }
    }
    let moment = parse_moment(&text, now).ok();
    if let Ok(Some(Point::Seq(seq))) = Point::parse_as_of(Some(&text)) {
        let trimmed = text.trim();
        let digits = trimmed.strip_prefix("seq:").map(str::trim).unwrap_or(trimmed);
        assert!(
            digits.bytes().all(|b| b.is_ascii_digit()) && digits.parse::<u64>() == Ok(seq),
            "as_of {text:?} read as event {seq}"
        );
    }
    // The moment as both bounds of a filter, with and without the phrase's own range.
    let phrase = time_expr::parse(&text, now).ok();
    for (after, before) in [(moment, None), (None, moment), (moment, Some(now)), (Some(now), moment)] {
        if let Ok(Some(narrowed)) = TimeRange::narrowed(phrase, after, before) {
            assert!(narrowed.start < narrowed.end, "narrowed to an empty range {narrowed:?}");
            assert!(after.is_none_or(|a| narrowed.start >= a), "narrowed starts before {after:?}");
            assert!(before.is_none_or(|b| narrowed.end <= b), "narrowed ends after {before:?}");
            if let Some(phrase) = phrase {
                assert!(narrowed.start >= phrase.start && narrowed.end <= phrase.end, "narrowed leaves {phrase:?}");
            }
        }
    }
}
