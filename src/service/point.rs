//! A point of this store's log (right after an event, or at a moment) and how people write one: the `as_of`
//! of time travel, the `to_seq`/`to_time` of a restore, and the moments both accept.

use super::ServiceError;
use chrono::{DateTime, Utc};

/// A point of this log. Time travel reads the store as it was there; a restore brings the store back to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Point {
    /// Right after this event (0: before the first, an empty store).
    Seq(u64),
    /// As the store was at this instant: after the last event committed at or before it.
    At(DateTime<Utc>),
}

impl Point {
    /// A point from a sequence number or a moment, exactly one of them (a restore's `to_seq` and `to_time`).
    /// A moment is anything [`parse_moment`] reads.
    pub fn parse(seq: Option<u64>, time: Option<&str>) -> Result<Point, ServiceError> {
        let time = time.map(str::trim).filter(|t| !t.is_empty());
        match (seq, time) {
            (Some(seq), None) => Ok(Point::Seq(seq)),
            (None, Some(text)) => Ok(Point::At(parse_moment(text, Utc::now())?)),
            _ => Err(ServiceError::Invalid(
                "give where to restore to: either a sequence number (to_seq) or a moment (to_time), not both".into(),
            )),
        }
    }

    /// An optional `as_of` argument, as every interface takes it: a sequence number (`1234` or `seq:1234`)
    /// or a moment in any form [`parse_moment`] reads. Absent: none (the store as it is now); given but
    /// unreadable or empty: `Invalid`, saying what is accepted.
    pub fn parse_as_of(text: Option<&str>) -> Result<Option<Point>, ServiceError> {
        text.map(Point::as_of).transpose()
    }

    fn as_of(text: &str) -> Result<Point, ServiceError> {
        let text = text.trim();
        let number = text.strip_prefix("seq:").map(str::trim).unwrap_or(text);
        if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) {
            return number
                .parse()
                .map(Point::Seq)
                .map_err(|_| ServiceError::Invalid(format!("as_of: {number} is not a sequence number (too large)")));
        }
        if text.starts_with("seq:") {
            return Err(ServiceError::Invalid(format!("as_of: '{text}' is not a sequence number")));
        }
        if text.is_empty() {
            return Err(ServiceError::Invalid(
                "as_of is empty: give a sequence number (1234 or seq:1234) or a time (2026-01-31T12:00:00Z, \
                 2026-01-31 12:00, yesterday...)"
                    .into(),
            ));
        }
        Point::parse(None, Some(text)).map_err(|error| {
            ServiceError::Invalid(format!(
                "as_of: '{text}' is neither a sequence number (1234 or seq:1234) nor a time \
                 (2026-01-31T12:00:00Z, 2026-01-31 12:00, yesterday...): {error}"
            ))
        })
    }
}

/// A moment: an RFC 3339 time, `YYYY-MM-DD HH:MM[:SS]` (a `T` and a trailing `Z` allowed; UTC), a time phrase
/// followed by a time of day (`yesterday 18:00`: that time on the phrase's first day), or a time phrase
/// alone, whose end is taken (`yesterday`: the end of yesterday).
pub fn parse_moment(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, ServiceError> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let bare = text.strip_suffix(['Z', 'z']).unwrap_or(text);
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(at) = chrono::NaiveDateTime::parse_from_str(bare, format) {
            return Ok(at.and_utc());
        }
    }
    if let Some((phrase, clock)) = text.rsplit_once(' ') {
        let time = chrono::NaiveTime::parse_from_str(clock, "%H:%M")
            .or_else(|_| chrono::NaiveTime::parse_from_str(clock, "%H:%M:%S"));
        if let Ok(time) = time {
            let range = super::time_expr::parse(phrase, now)?;
            return Ok(range.start.date_naive().and_time(time).and_utc());
        }
    }
    let range = super::time_expr::parse(text, now)?;
    Ok(range.end - chrono::Duration::microseconds(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_of_reads_sequence_numbers_and_times() {
        let as_of = |text: &str| Point::parse_as_of(Some(text));
        assert!(matches!(as_of("42"), Ok(Some(Point::Seq(42)))));
        assert!(matches!(as_of(" seq:7 "), Ok(Some(Point::Seq(7)))));
        assert!(matches!(as_of("0"), Ok(Some(Point::Seq(0)))));
        assert!(matches!(as_of("2026-01-31T12:00:00Z"), Ok(Some(Point::At(_)))));
        assert!(matches!(as_of("2026-01-31 12:00"), Ok(Some(Point::At(_)))));
        assert!(matches!(as_of("yesterday"), Ok(Some(Point::At(_)))));
        for bad in ["", "seq:", "seq:x", "-3", "99999999999999999999999", "the day the music died"] {
            assert!(matches!(as_of(bad), Err(ServiceError::Invalid(_))), "{bad:?} should be refused");
        }
        assert!(matches!(Point::parse_as_of(None), Ok(None)));
    }

    #[test]
    fn a_restore_point_is_a_sequence_number_or_a_moment_not_both() {
        assert_eq!(Point::parse(Some(3), None).ok(), Some(Point::Seq(3)));
        assert_eq!(Point::parse(Some(3), Some("  ")).ok(), Some(Point::Seq(3)));
        assert!(matches!(Point::parse(None, Some("2026-01-31 12:00")), Ok(Point::At(_))));
        assert!(matches!(Point::parse(Some(3), Some("yesterday")), Err(ServiceError::Invalid(_))));
        assert!(matches!(Point::parse(None, None), Err(ServiceError::Invalid(_))));
    }

    #[test]
    fn moments_in_every_form() {
        let now = DateTime::parse_from_rfc3339("2026-11-25T10:30:00Z").expect("now").with_timezone(&Utc);
        let at = |text: &str| parse_moment(text, now).expect(text).to_rfc3339();
        assert_eq!(at("2026-11-20T14:00:00+01:00"), "2026-11-20T13:00:00+00:00");
        assert_eq!(at("2026-11-20T14:00Z"), "2026-11-20T14:00:00+00:00");
        assert_eq!(at("2026-11-20 14:00"), "2026-11-20T14:00:00+00:00");
        assert_eq!(at("yesterday 18:00"), "2026-11-24T18:00:00+00:00");
        assert_eq!(at("2026-11-20 14:00:30"), "2026-11-20T14:00:30+00:00");
        assert_eq!(at("yesterday"), "2026-11-24T23:59:59.999999+00:00");
        assert!(parse_moment("next blursday", now).is_err());
        assert!(parse_moment("yesterday 25:00", now).is_err());
    }
}
