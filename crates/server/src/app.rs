//! The server's shared state: configuration, store, clock, keys and the chat hub.

use std::sync::Arc;

use crate::api::Authenticator;
use crate::chat::review::Reviewer;
use crate::chat::Hub;
use crate::config::Config;
use crate::domain::arn::ArnScope;
use crate::domain::clock::Clock;
use crate::domain::token::TokenKey;
use crate::metrics::Metrics;
use crate::store::Store;

pub struct App {
    pub config: Config,
    pub scope: ArnScope,
    pub store: Arc<dyn Store>,
    pub clock: Clock,
    pub auth: Authenticator,
    pub token_key: TokenKey,
    pub chat: Arc<Hub>,
    pub reviewer: Reviewer,
    pub metrics: Metrics,
}

impl App {
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        clock: Clock,
        token_key: TokenKey,
        reviewer: Reviewer,
        chat: Arc<Hub>,
    ) -> App {
        App {
            scope: ArnScope {
                region: config.region.clone(),
                account_id: config.account_id.clone(),
            },
            auth: Authenticator::new(&config),
            store,
            chat,
            clock,
            token_key,
            reviewer,
            metrics: Metrics::default(),
            config,
        }
    }
}
