//! What a departing owner waits for before it closes the relays' sessions: the requests still in flight on
//! them ([`InFlight`], read off the lines the host copies both ways), then a short grace for the relays to
//! take their last answers and disconnect ([`drain`]). A request is never cut for taking long: writes answer
//! within [`LONGEST_ACKNOWLEDGEMENT`] of their commit (the cloudflare backend's wait for Cloudflare
//! included), and the long tools (an import, a backup's verification, a restore, a forced sync) run to their
//! end, up to [`IN_FLIGHT_LIMIT`], the bound for a request that never ends.

use crate::service::LONGEST_ACKNOWLEDGEMENT;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// How long a departing owner waits at most for the requests in flight on its sessions.
pub(crate) const IN_FLIGHT_LIMIT: Duration = Duration::from_secs(600);

/// What [`drain`] ended on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Drained {
    /// Every session ended by itself.
    Ended,
    /// Nothing was in flight, and some relays were still connected after the grace.
    Idle,
    /// Requests were still in flight at [`IN_FLIGHT_LIMIT`].
    TooLong,
}

/// Waits for `ended` (every session over): as long as requests are in flight (`in_flight`, up to `limit`),
/// then at most `grace` while none is (a request that comes in meanwhile is waited for too).
pub(crate) async fn drain(
    ended: impl Future<Output = ()>,
    mut in_flight: watch::Receiver<usize>,
    grace: Duration,
    limit: Duration,
) -> Drained {
    let deadline = Instant::now() + limit;
    tokio::pin!(ended);
    loop {
        tokio::select! {
            () = &mut ended => return Drained::Ended,
            () = tokio::time::sleep_until(deadline) => return Drained::TooLong,
            () = until(&mut in_flight, |n| n == 0) => {}
        }
        let idle_until = (Instant::now() + grace).min(deadline);
        tokio::select! {
            () = &mut ended => return Drained::Ended,
            () = tokio::time::sleep_until(idle_until) => {
                return if *in_flight.borrow() == 0 { Drained::Idle } else { Drained::TooLong };
            }
            () = until(&mut in_flight, |n| n > 0) => {}
        }
    }
}

/// Waits until the count satisfies `condition`; forever once its sender is gone (it then never changes).
async fn until(count: &mut watch::Receiver<usize>, condition: impl Fn(usize) -> bool) {
    if count.wait_for(|n| condition(*n)).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The requests of one session that its server has not answered yet, by JSON-RPC id: a request from the
/// relay counts until an answer with its id comes back, or the relay cancels it.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    ids: HashSet<String>,
}

/// The parts of a JSON-RPC message that say whether it starts or ends a request; the rest is skipped.
#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    jsonrpc: Option<String>,
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    params: Option<Cancelled>,
}

/// `notifications/cancelled`'s parameters (any other method's read as none of these).
#[derive(Deserialize)]
struct Cancelled {
    #[serde(default, rename = "requestId")]
    request_id: Option<Value>,
}

/// The JSON-RPC 2.0 messages of a line: one, or a batch; none when it is not JSON-RPC (the server would not
/// answer it, so it must not be waited for).
fn messages(line: &str) -> Vec<Message> {
    let messages = match serde_json::from_str::<Message>(line) {
        Ok(one) => vec![one],
        Err(_) => serde_json::from_str::<Vec<Message>>(line).unwrap_or_default(),
    };
    messages.into_iter().filter(|m| m.jsonrpc.as_deref() == Some("2.0")).collect()
}

impl InFlight {
    /// A line from the relay to the server.
    pub(crate) fn relay_sent(&mut self, line: &str) {
        for message in messages(line) {
            match (message.method.as_deref(), message.id) {
                (Some("notifications/cancelled"), None) => {
                    if let Some(id) = message.params.and_then(|p| p.request_id) {
                        self.ids.remove(&id.to_string());
                    }
                }
                (Some(_), Some(id)) => {
                    self.ids.insert(id.to_string());
                }
                // Notifications, and the relay's answers to the server's own requests.
                _ => {}
            }
        }
    }

    /// A line from the server to the relay: an answer ends its request.
    pub(crate) fn server_sent(&mut self, line: &str) {
        for message in messages(line) {
            if let (None, Some(id)) = (message.method, message.id) {
                self.ids.remove(&id.to_string());
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }
}

/// The grace covers what a request that must not be cut may take.
const _: () = assert!(IN_FLIGHT_LIMIT.as_secs() > LONGEST_ACKNOWLEDGEMENT.as_secs());

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::host::DRAIN_GRACE;

    #[test]
    fn requests_count_until_their_answer_or_their_cancellation() {
        let mut flight = InFlight::default();
        flight.relay_sent(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"memory_store","arguments":{"content":"x"}}}"#);
        flight.relay_sent(r#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"memory_import"}}"#);
        flight.relay_sent(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        flight.relay_sent(r#"{"jsonrpc":"2.0","id":7,"result":{}}"#);
        flight.relay_sent("not JSON at all");
        flight.relay_sent(r#"{"id":4,"method":"tools/call"}"#);
        assert_eq!(flight.len(), 2, "two requests; a notification, an answer to the server and noise are none");
        // The server's own request is not an answer; the string id "1" is not the number 1.
        flight.server_sent(r#"{"jsonrpc":"2.0","id":9,"method":"ping"}"#);
        flight.server_sent(r#"{"jsonrpc":"2.0","id":"1","result":{}}"#);
        assert_eq!(flight.len(), 2);
        flight.server_sent(r#"{"jsonrpc":"2.0","id":1,"result":{"content":[]}}"#);
        assert_eq!(flight.len(), 1);
        flight.relay_sent(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"a"}}"#);
        assert_eq!(flight.len(), 0);
        // A batch counts each of its requests, and an error answers like a result.
        flight
            .relay_sent(r#"[{"jsonrpc":"2.0","id":2,"method":"tools/list"},{"jsonrpc":"2.0","id":3,"method":"ping"}]"#);
        assert_eq!(flight.len(), 2);
        flight.server_sent(
            r#"[{"jsonrpc":"2.0","id":2,"result":{}},{"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"no"}}]"#,
        );
        assert_eq!(flight.len(), 0);
    }

    #[test]
    fn the_wait_covers_the_longest_acknowledgement_and_more() {
        // Before, a departing owner cut every session 10 s after the handover, within the 30 s a cloudflare
        // write waits for Cloudflare.
        assert!(IN_FLIGHT_LIMIT >= LONGEST_ACKNOWLEDGEMENT + DRAIN_GRACE);
        assert!(LONGEST_ACKNOWLEDGEMENT >= Duration::from_secs(40), "{LONGEST_ACKNOWLEDGEMENT:?}");
    }

    /// Runs `drain` on a paused clock: `ended` and `in_flight` as the test drives them.
    struct Drain {
        ended: Option<tokio::sync::oneshot::Sender<()>>,
        in_flight: watch::Sender<usize>,
        outcome: tokio::task::JoinHandle<(Drained, Duration)>,
    }

    impl Drain {
        fn start(in_flight: usize) -> Drain {
            let (ended, ended_rx) = tokio::sync::oneshot::channel::<()>();
            let (count, receiver) = watch::channel(in_flight);
            let started = Instant::now();
            let outcome = tokio::spawn(async move {
                let ended = async move {
                    let _ = ended_rx.await;
                };
                let drained = drain(ended, receiver, DRAIN_GRACE, IN_FLIGHT_LIMIT).await;
                (drained, started.elapsed())
            });
            Drain { ended: Some(ended), in_flight: count, outcome }
        }

        /// Lets the paused clock run `by`, firing whatever timers come due.
        async fn advance(&self, by: Duration) {
            tokio::time::sleep(by).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_flight_is_waited_for_past_the_grace() {
        let mut drain = Drain::start(1);
        // The cloudflare backend's write waiting for Cloudflare, and then some.
        drain.advance(LONGEST_ACKNOWLEDGEMENT + DRAIN_GRACE * 3).await;
        assert!(!drain.outcome.is_finished(), "a request in flight was cut");
        // Answered: the relay disconnects, and the session ends.
        drain.in_flight.send_replace(0);
        drain.advance(Duration::from_secs(1)).await;
        assert!(!drain.outcome.is_finished());
        let _ = drain.ended.take().map(|end| end.send(()));
        let (drained, _) = drain.outcome.await.expect("drains");
        assert_eq!(drained, Drained::Ended);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_relays_get_the_grace_and_a_request_that_never_ends_the_limit() {
        // Nothing in flight, a relay that does not leave: cut after the grace.
        let idle = Drain::start(0);
        let (drained, took) = idle.outcome.await.expect("drains");
        assert_eq!((drained, took), (Drained::Idle, DRAIN_GRACE));
        // A request arriving within the grace is waited for, and the grace starts again after its answer.
        let late = Drain::start(0);
        late.advance(DRAIN_GRACE / 2).await;
        late.in_flight.send_replace(1);
        late.advance(DRAIN_GRACE * 5).await;
        assert!(!late.outcome.is_finished(), "a request in flight was cut");
        late.in_flight.send_replace(0);
        let (drained, took) = late.outcome.await.expect("drains");
        assert_eq!((drained, took), (Drained::Idle, DRAIN_GRACE / 2 + DRAIN_GRACE * 5 + DRAIN_GRACE));
        // A request that never ends: the limit.
        let stuck = Drain::start(1);
        let (drained, took) = stuck.outcome.await.expect("drains");
        assert_eq!((drained, took), (Drained::TooLong, IN_FLIGHT_LIMIT));
    }
}
