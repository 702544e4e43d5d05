//! The accept loop. Each connection is served by hyper directly, so that a handler can cut its connection
//! (a simulated network failure): the connection task drops the socket without writing any reply.

use axum::Router;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tower::ServiceExt;

/// A request extension that lets a handler close its connection instead of answering.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionCut(Arc<Notify>);

impl ConnectionCut {
    /// Closes the connection; the caller's future is dropped with it, so this never returns.
    pub(crate) async fn sever(&self) -> Response {
        // `notify_one` keeps a permit, so the connection task sees it even if it is not waiting yet.
        self.0.notify_one();
        std::future::pending().await
    }
}

/// Serves `app` on `listener` until `shutdown` completes.
pub(crate) async fn serve(listener: TcpListener, app: Router, shutdown: impl Future<Output = ()>) {
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(connection(stream, app.clone()));
                }
                // Accept errors (e.g. too many open files) concern one connection; keep serving.
                Err(e) => eprintln!("cloudflare-standin: accept failed: {e}"),
            },
        }
    }
}

async fn connection(stream: TcpStream, app: Router) {
    let _ = stream.set_nodelay(true);
    let cut = ConnectionCut(Arc::new(Notify::new()));
    let hook = cut.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(hook.clone());
        app.clone().oneshot(request)
    });
    let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        // Errors here are the client's (reset, malformed request); nothing to report.
        _ = conn => {}
        () = cut.0.notified() => {}
    }
}
