//! `SeqWatch`: a position in the log that threads can wait on and be told about.

use crate::ids::Seq;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

type Listener = Arc<dyn Fn(Seq) + Send + Sync>;

/// A monotonic sequence number with blocking waits and advance listeners.
/// The log uses one for its last commit; each projection runner uses one for what it has applied.
#[derive(Default)]
pub struct SeqWatch {
    seq: Mutex<Seq>,
    advanced: Condvar,
    listeners: Mutex<Vec<Listener>>,
}

impl SeqWatch {
    /// A watch starting at `seq`.
    pub fn new(seq: Seq) -> SeqWatch {
        SeqWatch { seq: Mutex::new(seq), ..SeqWatch::default() }
    }

    /// The current position.
    pub fn get(&self) -> Seq {
        self.seq.lock().map(|s| *s).unwrap_or_default()
    }

    /// Moves the position (never backwards, except through `reset`) and tells waiters and listeners.
    pub fn advance(&self, seq: Seq) {
        if let Ok(mut current) = self.seq.lock() {
            if seq <= *current {
                return;
            }
            *current = seq;
        }
        self.advanced.notify_all();
        self.notify(seq);
    }

    /// Sets the position, also backwards (after a rebuild), and tells listeners.
    pub fn reset(&self, seq: Seq) {
        if let Ok(mut current) = self.seq.lock() {
            *current = seq;
        }
        self.advanced.notify_all();
        self.notify(seq);
    }

    fn notify(&self, seq: Seq) {
        let listeners = self.listeners.lock().map(|l| l.clone()).unwrap_or_default();
        for listener in listeners {
            listener(seq);
        }
    }

    /// Blocks until the position reaches `seq` or the timeout ends; returns the position then.
    pub fn wait_for(&self, seq: Seq, timeout: Duration) -> Seq {
        let deadline = Instant::now() + timeout;
        let Ok(mut current) = self.seq.lock() else {
            return Seq::ZERO;
        };
        while *current < seq {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.advanced.wait_timeout(current, left) {
                Ok((guard, _)) => current = guard,
                Err(_) => return Seq::ZERO,
            }
        }
        *current
    }

    /// Calls `listener` after every advance, on the advancing thread. It must not block.
    pub fn on_advance(&self, listener: impl Fn(Seq) + Send + Sync + 'static) {
        if let Ok(mut listeners) = self.listeners.lock() {
            listeners.push(Arc::new(listener));
        }
    }
}
