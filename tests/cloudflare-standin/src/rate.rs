//! Fixed-window rate limiting: once a window's allowance is spent, every call is refused until the window ends,
//! as Cloudflare blocks a token for the rest of its five minutes.

use std::time::{Duration, Instant};

/// One token's allowance: `limit` calls per `window`, counted from the first call of the window.
#[derive(Debug)]
pub(crate) struct FixedWindow {
    limit: u64,
    window: Duration,
    started: Option<Instant>,
    used: u64,
}

/// What a call may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Go ahead; `remaining` calls are left and the window resets in `reset_s` seconds.
    Allowed { remaining: u64, reset_s: u64 },
    /// Refused; the window ends in `retry_after_s` seconds (at least 1).
    Limited { retry_after_s: u64 },
}

impl FixedWindow {
    pub(crate) fn new(limit: u64, window: Duration) -> FixedWindow {
        FixedWindow { limit, window, started: None, used: 0 }
    }

    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    pub(crate) fn window(&self) -> Duration {
        self.window
    }

    /// Counts one call made at `now`.
    pub(crate) fn check(&mut self, now: Instant) -> Verdict {
        let started = match self.started {
            Some(started) if now < started + self.window => started,
            _ => {
                self.started = Some(now);
                self.used = 0;
                now
            }
        };
        let left = (started + self.window).saturating_duration_since(now);
        let reset_s = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        if self.used >= self.limit {
            return Verdict::Limited { retry_after_s: reset_s.max(1) };
        }
        self.used += 1;
        Verdict::Allowed { remaining: self.limit - self.used, reset_s }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_for_the_rest_of_the_window_then_resets() {
        let start = Instant::now();
        let mut window = FixedWindow::new(2, Duration::from_secs(10));
        assert_eq!(window.check(start), Verdict::Allowed { remaining: 1, reset_s: 10 });
        assert_eq!(window.check(start + Duration::from_secs(1)), Verdict::Allowed { remaining: 0, reset_s: 9 });
        assert_eq!(window.check(start + Duration::from_secs(2)), Verdict::Limited { retry_after_s: 8 });
        assert_eq!(window.check(start + Duration::from_millis(9_500)), Verdict::Limited { retry_after_s: 1 });
        assert_eq!(window.check(start + Duration::from_secs(10)), Verdict::Allowed { remaining: 1, reset_s: 10 });
    }
}
