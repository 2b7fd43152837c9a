//! `ivschat-server`: Amazon IVS Chat, self-hosted.
//!
//! [`run`] serves the control plane (restJson1 over HTTP, SigV4-signed) and the chat
//! WebSocket on one listener, until `shutdown` resolves. Tests bind `127.0.0.1:0` and call the
//! same function as `main`.

pub mod api;
pub mod app;
pub mod aws_clients;
pub mod bus;
pub mod chat;
pub mod config;
pub mod delivery;
pub mod domain;
pub mod http_server;
pub mod limits;
pub mod metrics;
pub mod room;
pub mod store;
pub mod token_bucket;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use app::App;
use config::Config;
use domain::clock::Clock;
use domain::token::TokenKey;

/// Opens the store and keys for `config` and builds the shared state.
pub async fn build_app(config: Config, clock: Clock) -> anyhow::Result<Arc<App>> {
    let store = store::open(&config).await?;
    let token_key = TokenKey::load_or_create(
        config.token_key.as_ref().map(|k| k.expose()),
        &config.data_dir,
        &config.region,
        &config.account_id,
    )
    .context("loading the chat token key")?;
    let reviewer = chat::review::Reviewer::from_config(&config).await;
    let spool = delivery::spool::Spool::open(&config.data_dir, config.logging.spool_max_records)
        .await
        .context("opening the chat logging spool")?;
    let sinks = delivery::sinks::Sinks::from_config(&config).await;
    let logger = Arc::new(delivery::ChatLogger::new(
        spool,
        sinks,
        store.clone(),
        config.logging.clone(),
        clock.clone(),
    ));
    let stats = Arc::new(chat::ChatStats::default());
    let rooms = Arc::new(chat::rooms::LiveRooms::new(stats.clone()));
    let bus = bus::open(&config, rooms.clone()).await?;
    let hub = Arc::new(chat::Hub::new(
        rooms,
        bus.clone(),
        stats,
        clock.clone(),
        &config.quotas,
        logger.clone(),
    ));
    let app = Arc::new(App::new(config, store, clock, token_key, reviewer, hub));
    bus.start(
        &tokio_util::task::TaskTracker::new(),
        app.chat.shutdown.clone(),
    );
    tokio::spawn(app.chat.clone().forward_clock_changes());
    // Ships spooled chat log records until the server shuts down.
    tokio::spawn(logger.run(app.chat.shutdown.clone()));
    Ok(app)
}

/// Serves `app` on `listener` until `shutdown` completes.
pub async fn run(
    app: Arc<App>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    http_server::serve(app, listener, shutdown).await
}
