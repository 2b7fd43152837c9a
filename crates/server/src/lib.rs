//! `ivschat-server`: Amazon IVS Chat, self-hosted.
//!
//! [`run`] serves the control plane (restJson1 over HTTP, SigV4-signed) and the chat
//! WebSocket on one listener, until `shutdown` resolves; [`Server`] (`server.rs`) is the same in
//! two steps, for callers that act between opening and serving: `main` logs its ready line
//! there, and tests keep the state to look into. Tests bind `127.0.0.1:0` and serve as `main`
//! does.

pub mod api;
pub mod app;
pub mod aws_clients;
pub mod bus;
pub mod chat;
pub mod chat_log;
pub mod config;
pub mod console;
pub mod domain;
pub mod expiring_ids;
pub mod history;
pub mod http_server;
pub mod iam;
pub mod idle_trim;
#[doc(hidden)]
pub mod introspect;
pub mod limits;
pub mod metrics;
pub mod presence;
pub mod private_files;
pub mod room;
pub mod server;
pub mod sqlite_file;
pub mod store;
pub mod token_bucket;
pub mod token_keys;

use std::future::Future;

use tokio::net::TcpListener;

use config::Config;
use domain::clock::Clock;
pub use server::Server;

/// Opens what `config` names and serves it on `listener` until `shutdown` completes, then shuts
/// down in order (see `server.rs`).
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    Server::open(config, Clock::system())
        .await?
        .run(listener, shutdown)
        .await
}
