//! Stamps: the total order in which every device resolves concurrent changes to one memory.
//!
//! A stamp is `(time, origin device, origin sequence)`, written as fixed-width text so that D1 compares
//! stamps with plain `>` and every device agrees. The state of a memory everywhere is the state its
//! highest-stamped event left it in (last writer wins, with the device and sequence breaking ties).
//!
//! A local event's stamp is its commit time, except that it is always above the stamp of whatever the
//! memory held before it: a change made after this device applied another device's change (even one whose
//! clock runs ahead) beats that change, as the user who made it expects.

use mms_log::{ContentHash, Event, EventKind, Interface, Seq};

/// A stamp: `{time µs, 20 digits}-{origin}-{sequence, 20 digits}`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Stamp(String);

/// Width of the time and sequence fields.
const WIDTH: usize = 20;

impl Stamp {
    pub(super) fn new(at_micros: i64, origin: &str, seq: u64) -> Stamp {
        Stamp(format!("{:0WIDTH$}-{origin}-{seq:0WIDTH$}", at_micros.max(0)))
    }

    /// Reads a stamp written by `new`; None for any other text.
    pub(super) fn parse(text: &str) -> Option<Stamp> {
        let (at, rest) = text.split_at_checked(WIDTH)?;
        let rest = rest.strip_prefix('-')?;
        let (origin, seq) = rest.rsplit_once('-')?;
        if !at.bytes().all(|b| b.is_ascii_digit()) || seq.len() != WIDTH || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        (!origin.is_empty()).then(|| Stamp(text.to_string()))
    }

    pub(super) fn as_str(&self) -> &str {
        &self.0
    }

    /// The time field, in microseconds.
    pub(super) fn at_micros(&self) -> i64 {
        self.0[..WIDTH].parse().unwrap_or_default()
    }
}

impl std::fmt::Display for Stamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The stamp of another device's change, recorded as the actor id of the event that applied it here.
pub(super) fn of_synced(event: &Event) -> Option<Stamp> {
    match event.actor.interface {
        Interface::Sync => event.actor.id.as_deref().and_then(Stamp::parse),
        _ => None,
    }
}

/// A memory's stamps: `own[i]` is the stamp of `history[i]`, `current` the stamp the memory holds after the
/// last event. `clock` is a stamp recorded without an event (another device's change that left the memory
/// as it was here), valid from the event at its sequence number on.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Stamps {
    pub own: Vec<Stamp>,
    pub current: Option<Stamp>,
}

/// Folds a memory's history (oldest first) into its stamps, this device being `me`.
///
/// The events of the memory graph (`Related`, `Unrelated`) are stamped like the others but leave `current`
/// as it was: an edge is resolved on its own (see [`edge_stamp`]), and linking a memory must not make an
/// older change of its content win over a newer one made elsewhere.
pub(super) fn stamps(history: &[Event], clock: Option<&(Stamp, Seq)>, me: &str) -> Stamps {
    let mut out = Stamps { own: Vec::with_capacity(history.len()), current: None };
    // The highest stamp so far, of any event: a local event is stamped above it.
    let mut highest: Option<Stamp> = None;
    for event in history {
        let own = match of_synced(event) {
            Some(stamp) => stamp,
            None => {
                let raw = Stamp::new(event.at.0, me, event.seq.0);
                match highest.as_ref().max(out.current.as_ref()) {
                    Some(before) if *before >= raw => Stamp::new(before.at_micros() + 1, me, event.seq.0).max(raw),
                    _ => raw,
                }
            }
        };
        let mut current = if is_edge(&event.kind) { out.current.clone() } else { Some(own.clone()) };
        if let Some((recorded, seq)) = clock
            && *seq == event.seq
            && current.as_ref().is_none_or(|c| recorded > c)
        {
            current = Some(recorded.clone());
        }
        if highest.as_ref().is_none_or(|h| own > *h) {
            highest = Some(own.clone());
        }
        out.own.push(own);
        out.current = current;
    }
    if history.is_empty()
        && let Some((recorded, seq)) = clock
        && *seq == Seq::ZERO
    {
        out.current = Some(recorded.clone());
    }
    out
}

/// Whether an event changes an edge of the memory graph rather than the memory.
pub(super) fn is_edge(kind: &EventKind) -> bool {
    matches!(kind, EventKind::Related(_) | EventKind::Unrelated { .. })
}

/// The edge an event of the memory graph changes, as `(source, target, type)`, with a symmetric type's
/// ends in a fixed order (A related B is B related A).
pub(super) fn edge_key(event: &Event) -> Option<(ContentHash, ContentHash, &str)> {
    let (target, relation_type) = match &event.kind {
        EventKind::Related(relation) => (relation.target, relation.relation_type.as_str()),
        EventKind::Unrelated { target, relation_type } => (*target, relation_type.as_str()),
        _ => return None,
    };
    Some(ordered(event.memory, target, relation_type))
}

/// An edge's key: a symmetric type's ends in a fixed order.
pub(super) fn ordered(
    source: ContentHash,
    target: ContentHash,
    relation_type: &str,
) -> (ContentHash, ContentHash, &str) {
    let symmetric = mms_projections::relation_type(relation_type).is_some_and(|t| t.symmetric);
    if symmetric && target < source { (target, source, relation_type) } else { (source, target, relation_type) }
}

/// The stamp an edge holds here: the highest of the events that changed it, found in the histories of its
/// ends (each with its stamps, as [`stamps`] folded them).
pub(super) fn edge_stamp(histories: &[(&[Event], &Stamps)], key: (ContentHash, ContentHash, &str)) -> Option<Stamp> {
    histories
        .iter()
        .flat_map(|(history, stamps)| history.iter().zip(&stamps.own))
        .filter(|(event, _)| edge_key(event) == Some(key))
        .map(|(_, stamp)| stamp.clone())
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mms_log::{Actor, EventId, Relation, Timestamp};

    fn event(seq: u64, at: i64, actor: Actor) -> Event {
        Event {
            seq: Seq(seq),
            event_id: EventId::generate(),
            at: Timestamp(at),
            actor,
            memory: ContentHash::of_content("x"),
            version: 1,
            kind: EventKind::Deleted { reason: None },
        }
    }

    #[test]
    fn stamps_order_by_time_then_origin_then_sequence_and_parse_back() {
        let a = Stamp::new(5, "device-a", 9);
        let b = Stamp::new(5, "device-b", 1);
        let later = Stamp::new(6, "device-a", 1);
        assert!(a < b && b < later);
        assert_eq!(Stamp::parse(a.as_str()), Some(a.clone()));
        assert_eq!(later.at_micros(), 6);
        assert_eq!(Stamp::parse("12-x-1"), None);
        assert_eq!(Stamp::parse(&format!("{:020}--{:020}", 1, 1)), None);
    }

    #[test]
    fn a_local_change_after_a_synced_one_from_a_clock_ahead_gets_a_higher_stamp() {
        let ahead = Stamp::new(1_000_000, "other", 4);
        let synced = event(1, 10, Actor::new(Interface::Sync, Some(ahead.to_string())));
        let local = event(2, 20, Actor::new(Interface::Http, None));
        let folded = stamps(&[synced, local], None, "me");
        assert_eq!(folded.own[0], ahead);
        assert_eq!(folded.own[1], Stamp::new(1_000_001, "me", 2));
        assert!(folded.current.as_ref().is_some_and(|c| *c > ahead));
    }

    #[test]
    fn a_recorded_clock_counts_from_its_event_on() {
        let local = event(3, 20, Actor::new(Interface::Cli, None));
        let recorded = (Stamp::new(50, "other", 1), Seq(3));
        let folded = stamps(std::slice::from_ref(&local), Some(&recorded), "me");
        assert_eq!(folded.own[0], Stamp::new(20, "me", 3));
        assert_eq!(folded.current, Some(recorded.0.clone()));
        let stale = (Stamp::new(50, "other", 1), Seq(2));
        assert_eq!(stamps(&[local], Some(&stale), "me").current, Some(Stamp::new(20, "me", 3)));
        assert_eq!(stamps(&[], Some(&(recorded.0.clone(), Seq::ZERO)), "me").current, Some(recorded.0));
    }

    fn edge(seq: u64, at: i64, memory: &str, target: &str, relation_type: &str) -> Event {
        let mut event = event(seq, at, Actor::new(Interface::Http, None));
        event.memory = ContentHash::of_content(memory);
        let target = ContentHash::of_content(target);
        event.kind =
            EventKind::Related(Relation { target, relation_type: relation_type.into(), strength: 1.0, reason: None });
        event
    }

    #[test]
    fn an_edge_is_stamped_above_what_came_before_but_leaves_the_memorys_stamp() {
        let ahead = Stamp::new(1_000_000, "other", 4);
        let mut synced = edge(1, 10, "x", "y", "causes");
        synced.actor = Actor::new(Interface::Sync, Some(ahead.to_string()));
        let stored = event(0, 5, Actor::new(Interface::Http, None));
        let local = edge(2, 20, "x", "y", "causes");
        let folded = stamps(&[stored, synced, local], None, "me");
        assert_eq!(folded.current, Some(Stamp::new(5, "me", 0)), "edges leave the memory's stamp");
        assert_eq!(folded.own[2], Stamp::new(1_000_001, "me", 2), "a local edge change beats the synced one");
    }

    #[test]
    fn a_symmetric_edge_is_one_edge_whichever_end_recorded_it() {
        let from_x = edge(1, 10, "x", "y", "related");
        let from_y = edge(2, 30, "y", "x", "related");
        let directed = edge(3, 50, "y", "x", "causes");
        assert_eq!(edge_key(&from_x), edge_key(&from_y));
        assert_ne!(edge_key(&from_y), edge_key(&directed));
        let (x_history, y_history) = (vec![from_x.clone()], vec![from_y, directed]);
        let (x_stamps, y_stamps) = (stamps(&x_history, None, "me"), stamps(&y_history, None, "me"));
        let histories = [(x_history.as_slice(), &x_stamps), (y_history.as_slice(), &y_stamps)];
        let key = edge_key(&from_x).expect("an edge");
        assert_eq!(edge_stamp(&histories, key), Some(Stamp::new(30, "me", 2)));
        let (x, y) = (ContentHash::of_content("x"), ContentHash::of_content("y"));
        assert_eq!(edge_stamp(&histories, ordered(x, y, "causes")), None, "causes runs from y to x");
        assert_eq!(edge_stamp(&histories, ordered(y, x, "causes")), Some(Stamp::new(50, "me", 3)));
    }
}
