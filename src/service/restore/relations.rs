//! The memory graph in a restore: the relations standing at the source and now, folded in the same pass over
//! the log as the memories' states, and the `related` and `unrelated` events that bring back the graph of then.
//!
//! A relation stands while both of its memories have been live since it was made, as in the read model's
//! `memory_graph`: a memory leaving takes its relations with it and coming back brings none back. So the fold
//! keeps each relation with the event that made it, and each memory's last leaving.

use super::{Changes, States, Step};
use mms_log::{ContentHash, Event, EventKind, Expect, Relation, Seq};
use mms_projections::relation_type;
use std::collections::{BTreeMap, HashMap, HashSet};

/// A relation's identity: its ends and its type, a symmetric relation's ends in hash order.
type Key = (ContentHash, ContentHash, String);

/// A relation standing: the memory it goes from, and the relation.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Standing {
    source: ContentHash,
    relation: Relation,
}

/// The relations standing, by key (ordered, so a restore appends its events in a stable order).
pub(super) type Relations = BTreeMap<Key, Standing>;

fn key(source: ContentHash, target: ContentHash, name: &str) -> Key {
    match relation_type(name).is_some_and(|t| t.symmetric) && target < source {
        true => (target, source, name.to_string()),
        false => (source, target, name.to_string()),
    }
}

/// The relations of a log as it is folded, event by event.
#[derive(Default)]
pub(super) struct Fold {
    /// Every relation made and not removed since, with the event that made it.
    made: HashMap<Key, (Standing, Seq)>,
    /// The event at which each memory last stopped being live.
    left: HashMap<ContentHash, Seq>,
}

impl Fold {
    /// Folds `event`: `left` says whether its memory stopped being live with it; `states` are the other
    /// memories' states before it (a relation is made only to a memory live then).
    pub(super) fn apply(&mut self, event: &Event, left: bool, states: &States) {
        if left {
            self.left.insert(event.memory, event.seq);
        }
        match &event.kind {
            EventKind::Related(relation) if states.get(&relation.target).is_some_and(|s| s.live) => {
                let standing = Standing { source: event.memory, relation: relation.clone() };
                self.made.insert(key(event.memory, relation.target, &relation.relation_type), (standing, event.seq));
            }
            EventKind::Unrelated { target, relation_type } => {
                self.made.remove(&key(event.memory, *target, relation_type));
            }
            _ => {}
        }
    }

    /// The relations standing now: both memories live since the relation was made.
    pub(super) fn standing(&self) -> Relations {
        let since = |memory: &ContentHash, made: Seq| self.left.get(memory).is_none_or(|left| *left < made);
        self.made
            .iter()
            .filter(|(_, (s, made))| since(&s.source, *made) && since(&s.relation.target, *made))
            .map(|(key, (standing, _))| (key.clone(), standing.clone()))
            .collect()
    }
}

/// Adds to `changes` the events that turn the relations standing after the memories' own steps into those of
/// then: `unrelated` for a relation of now that then did not have, `related` for one of then that is missing
/// or differs (similarity, reason). Each goes to the relation's source, expecting its version after the steps
/// before it. A relation touching a memory the steps delete (to disappear, or deleted and undeleted) is gone
/// anyway; one touching a memory that is not live after the restore (redacted since) is not brought back.
pub(super) fn plan(
    then: (&States, &Relations),
    now: (&States, &Relations),
    redacted: &HashSet<ContentHash>,
    changes: &mut Changes,
) {
    let mut next: HashMap<ContentHash, u32> = HashMap::new();
    let mut reset = HashSet::new();
    for step in &changes.events {
        if let Expect::Version(version) = step.expect {
            next.insert(step.memory, version + 1);
        }
        if matches!(step.kind, EventKind::Deleted { .. }) {
            reset.insert(step.memory);
        }
    }
    let live_after = |memory: &ContentHash| {
        then.0.get(memory).is_some_and(|s| s.live) && (now.0.contains_key(memory) || !redacted.contains(memory))
    };
    let current: BTreeMap<&Key, &Standing> =
        now.1.iter().filter(|(k, _)| !reset.contains(&k.0) && !reset.contains(&k.1)).collect();
    let wanted: BTreeMap<&Key, &Standing> =
        then.1.iter().filter(|(k, _)| live_after(&k.0) && live_after(&k.1)).collect();
    let mut version = |memory: ContentHash| {
        let next = next.entry(memory).or_insert_with(|| now.0.get(&memory).map_or(0, |s| s.version));
        *next += 1;
        Expect::Version(*next - 1)
    };
    for (key, standing) in &current {
        if !wanted.contains_key(key) {
            let target = standing.relation.target;
            let kind = EventKind::Unrelated { target, relation_type: key.2.clone() };
            changes.events.push(Step { memory: standing.source, kind, expect: version(standing.source) });
            changes.relations_removed += 1;
        }
    }
    for (key, standing) in &wanted {
        let (was, is) = (&standing.relation, current.get(key).map(|s| &s.relation));
        if is.is_none_or(|is| is.strength != was.strength || is.reason != was.reason) {
            let kind = EventKind::Related(was.clone());
            changes.events.push(Step { memory: standing.source, kind, expect: version(standing.source) });
            changes.relations_restored += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mms_log::{Actor, EventId, Interface, MemoryRecord, MemoryState, Timestamp};

    /// Folds `events` (memory, kind) as a log would hold them, returning the states and the relations
    /// standing after each event.
    fn fold(events: &[(&str, EventKind)]) -> Vec<(States, Relations)> {
        let (mut states, mut fold, mut after) = (States::new(), Fold::default(), Vec::new());
        for (seq, (memory, kind)) in events.iter().enumerate() {
            let memory = ContentHash::of_content(memory);
            let version = states.get(&memory).map_or(1, |s| s.version + 1);
            let event = Event {
                seq: Seq(seq as u64 + 1),
                event_id: EventId::generate(),
                at: Timestamp(seq as i64),
                actor: Actor::new(Interface::Cli, None),
                memory,
                version,
                kind: kind.clone(),
            };
            let was_live = states.get(&memory).is_some_and(|s| s.live);
            let next = MemoryState::apply(states.remove(&memory), &event);
            fold.apply(&event, was_live && !next.as_ref().is_some_and(|s| s.live), &states);
            states.extend(next.map(|s| (memory, s)));
            after.push((states.clone(), fold.standing()));
        }
        after
    }

    fn stored(content: &str) -> EventKind {
        EventKind::Stored(MemoryRecord {
            content: content.into(),
            tags: vec![],
            memory_type: None,
            metadata: "{}".into(),
            created_at: Timestamp(1),
            updated_at: Timestamp(1),
        })
    }

    fn related(target: &str, name: &str, strength: f64) -> EventKind {
        let relation =
            Relation { target: ContentHash::of_content(target), relation_type: name.into(), strength, reason: None };
        EventKind::Related(relation)
    }

    fn unrelated(target: &str, name: &str) -> EventKind {
        EventKind::Unrelated { target: ContentHash::of_content(target), relation_type: name.into() }
    }

    /// The relations as (source, target, type, strength), contents for hashes.
    fn listed(relations: &Relations) -> Vec<(String, String, String, f64)> {
        let name = |h: &ContentHash| ["a", "b", "c"].into_iter().find(|c| ContentHash::of_content(c) == *h).unwrap();
        let mut list: Vec<_> = relations
            .values()
            .map(|s| {
                let r = &s.relation;
                (name(&s.source).into(), name(&r.target).into(), r.relation_type.clone(), r.strength)
            })
            .collect();
        list.sort_by(|x, y| x.partial_cmp(y).expect("no NaN"));
        list
    }

    fn row(source: &str, target: &str, name: &str, strength: f64) -> (String, String, String, f64) {
        (source.into(), target.into(), name.into(), strength)
    }

    #[test]
    fn a_relation_stands_while_both_memories_have_been_live_since_it_was_made() {
        let steps = fold(&[
            ("a", stored("a")),
            ("a", related("b", "causes", 1.0)), // b not live yet: no relation
            ("b", stored("b")),
            ("a", related("b", "causes", 0.5)),
            ("b", related("a", "related", 1.0)),
            ("a", related("b", "related", 0.25)), // the same symmetric relation, made again the other way
            ("b", EventKind::Deleted { reason: None }),
            (
                "b",
                EventKind::Undeleted(match stored("b") {
                    EventKind::Stored(record) => record,
                    _ => unreachable!(),
                }),
            ),
            ("a", related("b", "follows", 1.0)),
            ("b", unrelated("a", "follows")), // the wrong way for a directed type: nothing removed
            ("a", unrelated("b", "follows")),
        ]);
        let at = |n: usize| listed(&steps[n - 1].1);
        assert!(at(2).is_empty(), "no relation to a memory that is not live");
        assert_eq!(at(4), [row("a", "b", "causes", 0.5)]);
        assert_eq!(at(6), [row("a", "b", "causes", 0.5), row("a", "b", "related", 0.25)]);
        assert!(at(8).is_empty(), "a memory leaving takes its relations, and coming back brings none");
        assert_eq!(at(10), [row("a", "b", "follows", 1.0)]);
        assert!(at(11).is_empty());
    }

    #[test]
    fn the_plan_removes_relations_made_since_and_makes_those_removed_or_changed_again() {
        // Then: a causes b (0.5), a related c. Now: a causes b (1.0), b follows c, and a related c removed.
        let then = fold(&[
            ("a", stored("a")),
            ("b", stored("b")),
            ("c", stored("c")),
            ("a", related("b", "causes", 0.5)),
            ("c", related("a", "related", 1.0)),
        ]);
        let now = fold(&[
            ("a", stored("a")),
            ("b", stored("b")),
            ("c", stored("c")),
            ("a", related("b", "causes", 0.5)),
            ("c", related("a", "related", 1.0)),
            ("a", related("b", "causes", 1.0)),
            ("b", related("c", "follows", 1.0)),
            ("a", unrelated("c", "related")),
        ]);
        let ((then_states, then), (now_states, now)) = (then.last().unwrap(), now.last().unwrap());
        let mut changes = Changes::default();
        plan((then_states, then), (now_states, now), &HashSet::new(), &mut changes);
        let (a, b, c) = (ContentHash::of_content("a"), ContentHash::of_content("b"), ContentHash::of_content("c"));
        let (ra, rb) = (related("b", "causes", 0.5), related("a", "related", 1.0));
        // b follows c goes; a causes b changes back; a related c comes back from its source then (c); each
        // expects its source's version, counting the steps before it.
        let step = |memory, kind, version| Step { memory, kind, expect: Expect::Version(version) };
        let expected = [step(b, unrelated("c", "follows"), 2), step(a, ra, 4), step(c, rb, 2)];
        let events = &changes.events;
        assert_eq!((changes.relations_restored, changes.relations_removed), (2, 1));
        assert_eq!(events.len(), 3);
        assert_eq!(events[0], expected[0], "removals first");
        for step in &expected {
            assert!(events.contains(step), "{step:?} in {events:?}");
        }
    }

    #[test]
    fn relations_of_a_memory_the_steps_delete_are_made_again_and_none_to_a_memory_not_live_after() {
        // Then: a related b. Now: the same, but a was deleted and stored again since (its steps delete and
        // undelete it, which takes its relations); c, related to a then, is redacted since.
        let then = fold(&[
            ("a", stored("a")),
            ("b", stored("b")),
            ("c", stored("c")),
            ("a", related("b", "related", 1.0)),
            ("c", related("a", "related", 1.0)),
        ]);
        let (then_states, then) = then.last().unwrap();
        let now = fold(&[("a", stored("a")), ("b", stored("b")), ("a", related("b", "related", 1.0))]);
        let (now_states, now) = now.last().unwrap();
        let (a, c) = (ContentHash::of_content("a"), ContentHash::of_content("c"));
        let mut changes = Changes::default();
        changes.events.push(Step { memory: a, kind: EventKind::Deleted { reason: None }, expect: Expect::Version(2) });
        plan((then_states, then), (now_states, now), &HashSet::from([c]), &mut changes);
        assert_eq!((changes.relations_restored, changes.relations_removed), (1, 0));
        let made = &changes.events[1];
        assert_eq!((made.memory, &made.kind, made.expect), (a, &related("b", "related", 1.0), Expect::Version(3)));
    }
}
