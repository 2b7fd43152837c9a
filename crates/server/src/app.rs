//! What the request handlers share: configuration, store, clock, keys, the chat hub and what
//! chat sessions share, and the recorded metrics. Built by `server.rs`.

use std::sync::Arc;

use crate::api::Authenticator;
use crate::chat::handshake_rate::HandshakeRate;
use crate::chat::session::Sessions;
use crate::chat::Hub;
use crate::config::Config;
use crate::domain::arn::ArnScope;
use crate::domain::clock::Clock;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::token_keys::TokenKeys;

pub struct App {
    pub config: Config,
    pub scope: ArnScope,
    pub store: Arc<dyn Store>,
    pub clock: Clock,
    pub auth: Authenticator,
    /// The chat-token keys, kept up to date with their source (`token_keys.rs`).
    pub token_keys: Arc<TokenKeys>,
    pub chat: Arc<Hub>,
    /// Handed to every chat session by the handshake.
    pub sessions: Arc<Sessions>,
    pub metrics: Arc<Metrics>,
    /// Chat upgrade attempts per client address (`[limits] handshakes_per_second`).
    pub handshake_rate: HandshakeRate,
}

impl App {
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        clock: Clock,
        token_keys: Arc<TokenKeys>,
        chat: Arc<Hub>,
        sessions: Arc<Sessions>,
        metrics: Arc<Metrics>,
    ) -> App {
        App {
            scope: ArnScope {
                region: config.region.clone(),
                account_id: config.account_id.clone(),
            },
            auth: Authenticator::new(&config),
            handshake_rate: HandshakeRate::new(
                config.limits.handshakes_per_second,
                config.limits.handshake_burst,
            ),
            store,
            chat,
            clock,
            token_keys,
            sessions,
            metrics,
            config,
        }
    }
}
