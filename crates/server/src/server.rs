//! The process's life. [`Server::open`] opens what a node needs (store, token key, chat
//! logging, bus, hub) and wires each part to the narrow pieces it uses; [`Server::run`]
//! starts every task the server needs, on trackers it owns, serves until `shutdown`
//! completes, and then shuts down in this order:
//!
//! 1. **Stop accepting**: the HTTP listener and the metrics listener close.
//! 2. **Close the sessions**: every chat connection is closed with 1001, and HTTP requests in
//!    flight finish (both bounded by [`DRAIN_TIMEOUT`]; whatever is still open then is left to
//!    the runtime). Review workers, the clock forwarder, reconciliation and the chat-token
//!    key poller end with them.
//! 3. **Flush chat logging**: the shipper stops (even mid-round), then every spooled
//!    record is committed and the spool closed; undelivered records wait for the next start.
//!    The embedded room history (`history/`) commits what it kept.
//! 4. **Close the bus**: its tasks stop (the Redis bus takes this node's connection count out).
//! 5. The store closes when its last handle goes (`Store` has no close of its own).
//!
//! Tasks a part starts for itself end with what owns them: a room's fan-out shards when the
//! room's last connection leaves (step 2), the spool's writer at step 3.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::App;
use crate::bus::redis_link::RedisLink;
use crate::bus::{self, Bus};
use crate::chat::review::Reviewer;
use crate::chat::rooms::LiveRooms;
use crate::chat::session::Sessions;
use crate::chat::shard_runtime::ShardRuntime;
use crate::chat::{ChatStats, Hub};
use crate::chat_log::sinks::Sinks;
use crate::chat_log::spool::Spool;
use crate::chat_log::ChatLogger;
use crate::config::Config;
use crate::domain::arn::ArnScope;
use crate::domain::clock::Clock;
use crate::http_server::tls::Tls;
use crate::metrics::{self, Metrics};
use crate::presence::Presence;
use crate::token_keys::TokenKeys;
use crate::{history, http_server, private_files, store};

/// How long shutdown waits for chat sessions to send their close frames and for HTTP
/// requests in flight to finish.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// A node, opened and ready to serve.
pub struct Server {
    app: Arc<App>,
    logger: Arc<ChatLogger>,
    bus: Arc<dyn Bus>,
    metrics_listener: Option<TcpListener>,
    /// Chat sessions and their review workers (the handshake starts them).
    sessions: TaskTracker,
    /// TLS on the listener (`--tls-cert`), if configured.
    tls: Option<Arc<Tls>>,
}

impl Server {
    /// Opens the store, keys, chat logging spool and bus `config` names, and binds the
    /// metrics listener if one is configured. `clock` is the system clock, or one a test moves.
    pub async fn open(config: Config, clock: Clock) -> anyhow::Result<Server> {
        // Whatever the store: the token key file and the spool live here (issue 18), and only
        // this user may read them (issue 19: `private_files.rs`).
        private_files::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
        private_files::warn_if_shared(&config.data_dir);
        let store = store::open(&config).await?;
        let token_keys = TokenKeys::load(&config, store.clone(), clock.clone())
            .await
            .context("loading the chat token key")?;
        let reviewer = Reviewer::from_config(&config).await;
        let spool = Spool::open(&config.data_dir, config.logging.spool_max_records)
            .await
            .context("opening the chat logging spool")?;
        let sinks = Sinks::from_config(&config).await;
        let logger = Arc::new(ChatLogger::new(
            spool,
            sinks,
            store.clone(),
            config.logging.clone(),
            clock.clone(),
        ));
        let stats = Arc::new(ChatStats::default());
        // One command connection for the bus, history and presence (`bus/redis_link.rs`).
        let redis = RedisLink::open(&config).await?;
        let presence = Presence::open(&config, redis.as_ref());
        let shards = ShardRuntime::start(config.chat.fanout_threads)
            .context("starting the fan-out's runtime")?;
        let rooms = Arc::new(LiveRooms::new(stats.clone(), presence.clone(), shards));
        let bus = bus::open(&config, redis.as_ref(), rooms.clone());
        let history = history::open(&config, redis.as_ref(), rooms.clone(), clock.clone())
            .await
            .context("opening room history")?;
        let hub = Arc::new(Hub::new(
            rooms,
            bus.clone(),
            history,
            stats,
            clock.clone(),
            &config.quotas,
            logger.clone(),
        ));
        let metrics_listener = metrics::bind(config.metrics_listen)
            .await
            .context("binding --metrics-listen")?;
        let recorded = Arc::new(Metrics::default());
        let tls = match &config.tls {
            Some(files) => Some(Arc::new(Tls::load(files.clone(), recorded.clone())?)),
            None => None,
        };
        let session_tasks = TaskTracker::new();
        let sessions = Arc::new(Sessions {
            hub: hub.clone(),
            clock: clock.clone(),
            scope: ArnScope {
                region: config.region.clone(),
                account_id: config.account_id.clone(),
            },
            reviewer,
            metrics: recorded.clone(),
            write_timeout: Duration::from_millis(config.chat.write_timeout_ms),
            limits: config.chat.clone(),
            tasks: session_tasks.clone(),
        });
        let app = Arc::new(App::new(
            config,
            store,
            clock,
            Arc::new(token_keys),
            hub,
            sessions,
            recorded,
        ));
        Ok(Server {
            app,
            logger,
            bus,
            metrics_listener,
            sessions: session_tasks,
            tls,
        })
    }

    /// The state request handlers share (tests reach the hub through it).
    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Where `/metrics` is served, if `--metrics-listen` is set.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    /// Serves on `listener` until `shutdown` completes, then shuts down in the order the module
    /// documentation gives; returns once that is done.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Server {
            app,
            logger,
            bus,
            metrics_listener,
            sessions,
            tls,
        } = self;
        let hub = app.chat.clone();
        // One tracker and one stop signal per step of the shutdown order.
        let connections = TaskTracker::new();
        let (listening, stop_listening) = (TaskTracker::new(), CancellationToken::new());
        let (chat, stop_chat) = (TaskTracker::new(), CancellationToken::new());
        let (logging, stop_logging) = (TaskTracker::new(), CancellationToken::new());
        let (bus_tasks, stop_bus) = (TaskTracker::new(), CancellationToken::new());

        bus.clone().start(&bus_tasks, stop_bus.clone());
        logging.spawn(logger.clone().run(stop_logging.clone()));
        chat.spawn(hub.clone().forward_clock_changes(stop_chat.clone()));
        chat.spawn(crate::chat::reconcile::run(
            hub.clone(),
            app.store.clone(),
            Duration::from_millis(app.config.cluster.reconcile_interval_ms),
            stop_chat.clone(),
        ));
        chat.spawn(app.token_keys.clone().run(stop_chat.clone()));
        // Stopped with the chat tasks, after the sessions have closed: its last pass writes
        // their departures.
        chat.spawn(
            hub.presence()
                .clone()
                .run(bus.clone(), app.clock.clone(), stop_chat.clone()),
        );
        let idle_trim_after = Duration::from_millis(app.config.memory.idle_trim_after_ms);
        if crate::idle_trim::SUPPORTED && !idle_trim_after.is_zero() {
            chat.spawn(crate::idle_trim::run(
                hub.stats.clone(),
                app.metrics.clone(),
                idle_trim_after,
                stop_chat.clone(),
            ));
        }
        if let Some(listener) = metrics_listener {
            let sources = metrics::Sources {
                recorded: app.metrics.clone(),
                hub: hub.clone(),
                spool: logger.spool().stats.clone(),
            };
            listening.spawn(metrics::serve(sources, listener, stop_listening.clone()));
        }
        if let Some(tls) = &tls {
            listening.spawn(tls.clone().watch(stop_listening.clone()));
        }

        // 1. Serve until told to stop; then stop accepting.
        let stop_connections = CancellationToken::new();
        http_server::serve(
            app.clone(),
            listener,
            tls,
            shutdown,
            &connections,
            &stop_connections,
        )
        .await;
        stop_listening.cancel();
        finish(listening).await;

        // 2. Close every chat session with 1001; let HTTP requests in flight finish.
        hub.close_sessions();
        sessions.close();
        stop_connections.cancel();
        connections.close();
        let drained = async {
            connections.wait().await;
            sessions.wait().await;
        };
        if tokio::time::timeout(DRAIN_TIMEOUT, drained).await.is_err() {
            tracing::warn!("some connections did not close within {DRAIN_TIMEOUT:?}");
        }
        stop_chat.cancel();
        finish(chat).await;

        // 3. Flush chat logging.
        stop_logging.cancel();
        finish(logging).await;
        logger.close().await;
        if let Err(e) = hub.history().flush().await {
            tracing::error!(error = %format!("{e:#}"), "cannot persist the last room history");
        }

        // 4. Close the bus.
        stop_bus.cancel();
        finish(bus_tasks).await;
        Ok(())
    }
}

/// Waits for every task on `tasks` (each has been told to stop).
async fn finish(tasks: TaskTracker) {
    tasks.close();
    tasks.wait().await;
}
