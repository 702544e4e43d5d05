//! Target `event_decode`: arbitrary bytes as a stored event of any schema version (`mms_log::decode`, which
//! reads every released version and upcasts it to the current one).
//!
//! Invariants: decoding never panics and never allocates without bound (libFuzzer's memory limit catches
//! that); bytes that decode re-encode (in the current version) into bytes that decode to the same event; a
//! version 1 event upcasts to a kind version 1 had; and folding the event alone as a memory's history gives a
//! memory exactly when it is a store or an undelete.

use mms_log::{EventKind, Seq, decode, encode, fold_history};

pub fn event_decode(data: &[u8]) {
    let Ok(event) = decode(data) else { return };
    let again = decode(&encode(&event)).expect("a decoded event re-encodes into bytes that decode");
    assert_eq!(again, event, "an event changes through encode and decode");
    // The on-disk enum's first byte is its variant: 0 is version 1, which had neither redaction kind.
    if data.first() == Some(&0) {
        assert!(
            !matches!(event.kind, EventKind::Redacted { .. } | EventKind::Erased { .. }),
            "a version 1 event upcast to a kind version 1 did not have: {event:?}"
        );
    }
    // Alone, only a store or an undelete leaves a memory (an update or delete needs an earlier event).
    let state = fold_history([&event], Seq(u64::MAX));
    assert_eq!(state.is_some(), event.kind.record().is_some(), "folding {event:?} alone");
}
