//! Accepting connections (at most `--max-connections` open), timing requests out, the access
//! log and request metrics around every route, the signals: SIGHUP reloads the model,
//! SIGTERM or Ctrl-C shut down gracefully (stop accepting, finish what is in flight).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::body::{Body, HttpBody};
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::Semaphore;
use tower_service::Service;

use super::log::Access;
use super::routes::{reload_model, route_label, router, ApiError, TextsScored};
use super::write_deadline::WriteDeadline;
use super::Shared;

/// The signals that stop the server.
struct StopSignals {
    terminate: Signal,
    interrupt: Signal,
}

fn listen_for(kind: SignalKind, name: &str) -> Result<Signal> {
    signal(kind).with_context(|| format!("cannot listen for {name}"))
}

impl StopSignals {
    fn register() -> Result<Self> {
        Ok(StopSignals {
            terminate: listen_for(SignalKind::terminate(), "SIGTERM")?,
            interrupt: listen_for(SignalKind::interrupt(), "SIGINT")?,
        })
    }

    /// Waits for SIGTERM or SIGINT; returns its name.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}

/// Serves until SIGTERM or SIGINT, then waits for the requests in flight.
pub(crate) async fn run(shared: Arc<Shared>) -> Result<()> {
    let mut stop = StopSignals::register()?;
    let mut hangup = listen_for(SignalKind::hangup(), "SIGHUP")?;
    let addr = shared.settings.addr;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener
        .local_addr()
        .context("cannot read the bound address")?;
    shared.log.event(
        "listening",
        &[
            ("addr", bound.to_string().into()),
            ("model", shared.model.path().display().to_string().into()),
            ("workers", shared.settings.workers.into()),
        ],
    );
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(shared.settings.max_connections));
    let router = router(Arc::clone(&shared));
    let stopped_by = loop {
        tokio::select! {
            name = stop.next() => break name,
            _ = hangup.recv() => {
                // The outcome is logged; the reload runs beside the accepting.
                tokio::spawn(reload_model(Arc::clone(&shared)));
            }
            accepted = accept(&listener, &slots) => {
                let Some((stream, remote, slot)) = accepted else { continue };
                spawn_connection(stream, remote, slot, &router, &shared, &graceful);
            }
        }
    };
    drop(listener);
    shared.draining.store(true, Ordering::Relaxed);
    shared
        .log
        .event("shutting-down", &[("signal", stopped_by.into())]);
    // In-flight requests have their timeout to finish; a second signal stops at once.
    let grace = shared.settings.request_timeout + Duration::from_secs(1);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => {
            shared.log.event("shutdown-timeout", &[("seconds", grace.as_secs_f64().into())]);
        }
        name = stop.next() => {
            shared.log.event("stopping-now", &[("signal", name.into())]);
        }
    }
    Ok(())
}

/// The next connection, once a slot is free. An accept error (a connection reset before it
/// was accepted, too many open files) is logged and costs a short pause, not the server.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> Option<(
    tokio::net::TcpStream,
    SocketAddr,
    tokio::sync::OwnedSemaphorePermit,
)> {
    let slot = Arc::clone(slots).acquire_owned().await.ok()?;
    match listener.accept().await {
        Ok((stream, remote)) => {
            // Answers are small and latency matters: no Nagle delay.
            let _ = stream.set_nodelay(true);
            Some((stream, remote, slot))
        }
        Err(_) => {
            tokio::time::sleep(Duration::from_millis(10)).await;
            None
        }
    }
}

/// Serves one connection: every request through [`answer`]; the slot is freed when it ends.
fn spawn_connection(
    stream: tokio::net::TcpStream,
    remote: SocketAddr,
    slot: tokio::sync::OwnedSemaphorePermit,
    router: &Router,
    shared: &Arc<Shared>,
    graceful: &GracefulShutdown,
) {
    let (router, shared_for_service) = (router.clone(), Arc::clone(shared));
    let service = service_fn(move |request: Request<Incoming>| {
        let (router, shared) = (router.clone(), Arc::clone(&shared_for_service));
        async move { Ok::<_, Infallible>(answer(router, &shared, remote, request).await) }
    });
    let timeout = shared.settings.request_timeout;
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .serve_connection(TokioIo::new(WriteDeadline::new(stream, timeout)), service);
    let connection = graceful.watch(connection);
    tokio::spawn(async move {
        // A connection's end (closed, reset, timed out) is the client's business.
        let _ = connection.await;
        drop(slot);
    });
}

/// Routes a request within `--request-timeout`, then counts and logs it.
async fn answer(
    mut router: Router,
    shared: &Shared,
    remote: SocketAddr,
    request: Request<Incoming>,
) -> Response {
    let start = Instant::now();
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let timeout = shared.settings.request_timeout;
    let mut response = match tokio::time::timeout(timeout, router.call(request.map(Body::new)))
        .await
    {
        Ok(Ok(response)) => response,
        Ok(Err(never)) => match never {},
        Err(_) => {
            let message = format!(
                "the request was not done within {} s (--request-timeout)",
                timeout.as_secs_f64()
            );
            let mut response = ApiError::new(StatusCode::REQUEST_TIMEOUT, message).into_response();
            // The body may be half read: the connection cannot carry another request.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
    };
    let seconds = start.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    shared.metrics.request(route_label(&path), status, seconds);
    let texts = response
        .extensions_mut()
        .remove::<TextsScored>()
        .map_or(0, |t| t.0);
    shared.log.access(&Access {
        remote,
        method: &method,
        path: &path,
        status,
        seconds,
        texts,
        response_bytes: response.body().size_hint().exact(),
    });
    response
}
