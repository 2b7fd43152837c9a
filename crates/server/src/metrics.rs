//! Prometheus metrics, served on their own listener (`--metrics-listen`) so they never share
//! the public port: control-plane requests by operation and status with latency histograms,
//! chat connections, live rooms, messages in and frames out, slow-client disconnects,
//! review-handler outcomes, the chat-logging backlog, TLS handshake failures and reloads, and
//! connections refused for a missing or invalid PROXY protocol header.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::chat::Hub;
use crate::chat_log::spool::SpoolStats;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub operation: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabel {
    pub operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

/// Metrics recorded where things happen (the request pipeline, the review worker).
#[derive(Debug)]
pub struct Metrics {
    pub requests: Family<RequestLabels, Counter>,
    pub request_seconds: Family<OperationLabel, Histogram>,
    pub review_outcomes: Family<OutcomeLabel, Counter>,
    /// `timeout`, `refused` (not TLS, no common version or cipher suite) or `closed`.
    pub tls_handshake_failures: Family<ReasonLabel, Counter>,
    /// `loaded` or `refused`.
    pub tls_reloads: Family<OutcomeLabel, Counter>,
    /// Connections closed at accept for want of a valid PROXY protocol header, by reason
    /// (`http_server/client_address.rs`).
    pub proxy_protocol_rejections: Family<ReasonLabel, Counter>,
    /// Free heap memory given back to the system while connections were quiet
    /// (`idle_trim.rs`), by outcome: `released` (some was), `nothing` (none was free).
    pub heap_trims: Family<OutcomeLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(|| {
                // 50 µs … ~1.6 s
                Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                    0.00005, 2.0, 16,
                ))
            }),
            review_outcomes: Family::default(),
            tls_handshake_failures: Family::default(),
            tls_reloads: Family::default(),
            proxy_protocol_rejections: Family::default(),
            heap_trims: Family::default(),
        }
    }
}

impl Metrics {
    pub fn observe_request(&self, operation: &'static str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels { operation, status })
            .inc();
        self.request_seconds
            .get_or_create(&OperationLabel { operation })
            .observe(seconds);
    }

    pub fn tls_handshake_failed(&self, reason: &'static str) {
        self.tls_handshake_failures
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    pub fn proxy_protocol_rejected(&self, reason: &'static str) {
        self.proxy_protocol_rejections
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    pub fn tls_reload(&self, outcome: &'static str) {
        self.tls_reloads
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }

    pub fn heap_trimmed(&self, released: bool) {
        let outcome = if released { "released" } else { "nothing" };
        self.heap_trims
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }

    /// Heap trims so far, whatever their outcome.
    pub fn heap_trims(&self) -> u64 {
        ["released", "nothing"]
            .into_iter()
            .map(|outcome| {
                self.heap_trims
                    .get_or_create(&OutcomeLabel { outcome })
                    .get()
            })
            .sum()
    }

    pub fn review_outcome(&self, outcome: &'static str) {
        self.review_outcomes
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }
}

fn gauge_of(value: u64) -> Gauge {
    let gauge = Gauge::default();
    gauge.set(value as i64);
    gauge
}

fn counter_of(value: &AtomicU64) -> Counter {
    let counter = Counter::default();
    counter.inc_by(value.load(Ordering::Relaxed));
    counter
}

/// What `/metrics` reads: the recorded metrics, and the counters the chat side and the chat
/// logging spool keep themselves.
#[derive(Clone)]
pub struct Sources {
    pub recorded: Arc<Metrics>,
    pub hub: Arc<Hub>,
    pub spool: Arc<SpoolStats>,
}

/// The exposition text.
pub fn render(sources: &Sources) -> String {
    let mut registry = Registry::with_prefix("ivschat");
    let m = &sources.recorded;
    registry.register(
        "requests",
        "Control-plane requests by operation and HTTP status",
        m.requests.clone(),
    );
    registry.register(
        "request_duration_seconds",
        "Control-plane request latency",
        m.request_seconds.clone(),
    );
    registry.register(
        "review_outcomes",
        "Message review handler outcomes (allowed, denied, fallback)",
        m.review_outcomes.clone(),
    );
    registry.register(
        "tls_handshake_failures",
        "TLS handshakes that failed, by reason (timeout, refused, closed)",
        m.tls_handshake_failures.clone(),
    );
    registry.register(
        "tls_reloads",
        "TLS certificate reloads, by outcome (loaded, refused)",
        m.tls_reloads.clone(),
    );
    registry.register(
        "proxy_protocol_rejected_connections",
        "Connections closed at accept for want of a valid PROXY protocol header, by reason \
         (source_not_allowed, invalid, timeout, closed)",
        m.proxy_protocol_rejections.clone(),
    );
    registry.register(
        "heap_trims",
        "Times free heap memory was given back to the system after connections stopped coming \
         and going, by outcome (released, nothing)",
        m.heap_trims.clone(),
    );
    let chat = &sources.hub.stats;
    registry.register(
        "chat_connections",
        "Open chat connections on this node",
        gauge_of(chat.connections_open.load(Ordering::Relaxed)),
    );
    registry.register(
        "chat_connections_opened",
        "Chat connections opened on this node",
        counter_of(&chat.connections_opened),
    );
    registry.register(
        "chat_live_rooms",
        "Rooms with at least one connection on this node",
        gauge_of(sources.hub.live_rooms() as u64),
    );
    registry.register(
        "chat_requests_in",
        "Chat requests received from clients",
        counter_of(&chat.messages_in),
    );
    registry.register(
        "chat_frames_out",
        "Frames written to chat connections",
        counter_of(&chat.frames_out),
    );
    registry.register(
        "chat_slow_disconnects",
        "Connections closed for falling behind or not reading",
        counter_of(&chat.slow_disconnects),
    );
    registry.register(
        "chat_abuse_disconnects",
        "Connections closed (1008) for sending more frames than their budget",
        counter_of(&chat.abuse_disconnects),
    );
    registry.register(
        "chat_handshakes_rate_limited",
        "Chat upgrade attempts refused (429) by the per-address handshake rate",
        counter_of(&chat.handshakes_rate_limited),
    );
    registry.register(
        "chat_handshakes_spent_token",
        "Chat upgrade attempts refused (401) before any work: the token was used on this node",
        counter_of(&chat.handshakes_spent_token),
    );
    let spool = &sources.spool;
    registry.register(
        "logging_backlog_records",
        "Chat log records waiting in the spool",
        gauge_of(spool.pending.load(Ordering::Relaxed)),
    );
    registry.register(
        "logging_delivered_records",
        "Chat log records delivered to destinations",
        counter_of(&spool.delivered),
    );
    registry.register(
        "logging_dropped_records",
        "Chat log records dropped because the spool was full",
        counter_of(&spool.dropped),
    );
    registry.register(
        "logging_unwritten_records",
        "Chat log records the spool could not write (disk full, I/O error); their messages were refused",
        counter_of(&spool.unwritten),
    );
    registry.register(
        "logging_spool_failing",
        "1 while the chat logging spool cannot write (from a failed write until one succeeds)",
        gauge_of(u64::from(spool.failing.load(Ordering::Relaxed))),
    );
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut text, &registry);
    text
}

/// Serves `GET /metrics` on `listener` until `stop`.
pub async fn serve(sources: Sources, listener: TcpListener, stop: CancellationToken) {
    let router = Router::new().route(
        "/metrics",
        get(move || {
            let sources = sources.clone();
            async move {
                let mut response = render(&sources).into_response();
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    ),
                );
                response
            }
        }),
    );
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await;
    if let Err(e) = served {
        tracing::error!(error = %e, "metrics listener failed");
    }
}

/// Binds the metrics listener, if one is configured.
pub async fn bind(address: Option<SocketAddr>) -> anyhow::Result<Option<TcpListener>> {
    match address {
        Some(address) => Ok(Some(TcpListener::bind(address).await?)),
        None => Ok(None),
    }
}
