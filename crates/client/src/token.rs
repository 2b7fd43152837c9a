//! Where chat tokens come from: one token, or a provider the client calls for every connection
//! (like the official SDK's `tokenProvider`). A token opens one connection only
//! (`docs/protocol/messaging.md` §1.3), so reconnecting needs a provider.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

/// What a token provider's error may be.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A chat token, as CreateChatToken returns it.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChatToken {
    /// The token, sent as the WebSocket subprotocol.
    pub token: String,
    /// The token's `userId`, when the provider knows it. It tells a kick of this user apart from
    /// the kick of someone else followed by a server restart (both end in close 1001).
    pub user_id: Option<String>,
}

impl ChatToken {
    pub fn new(token: impl Into<String>) -> ChatToken {
        ChatToken {
            token: token.into(),
            user_id: None,
        }
    }

    /// The `userId` the token was minted for.
    pub fn with_user_id(mut self, user_id: impl Into<String>) -> ChatToken {
        self.user_id = Some(user_id.into());
        self
    }
}

impl std::fmt::Debug for ChatToken {
    // A token is a credential: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatToken")
            .field("token", &"<redacted>")
            .field("user_id", &self.user_id)
            .finish()
    }
}

impl From<String> for ChatToken {
    fn from(token: String) -> ChatToken {
        ChatToken::new(token)
    }
}

impl From<&str> for ChatToken {
    fn from(token: &str) -> ChatToken {
        ChatToken::new(token)
    }
}

type TokenFuture = Pin<Box<dyn Future<Output = Result<ChatToken, BoxError>> + Send>>;
type ProviderFn = dyn Fn() -> TokenFuture + Send + Sync;

/// Why no token could be had.
pub(crate) enum NoToken {
    /// The one token given was used: nothing can reconnect.
    Spent,
    /// The provider failed (retried with backoff).
    Failed(String),
}

#[derive(Clone)]
pub(crate) enum Tokens {
    Once(Arc<Mutex<Option<ChatToken>>>),
    Provider(Arc<ProviderFn>),
}

impl Tokens {
    pub(crate) fn once(token: ChatToken) -> Tokens {
        Tokens::Once(Arc::new(Mutex::new(Some(token))))
    }

    pub(crate) fn provider<F, Fut, T, E>(provider: F) -> Tokens
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Into<ChatToken>,
        E: Into<BoxError>,
    {
        Tokens::Provider(Arc::new(move || {
            let future = provider();
            Box::pin(async move { future.await.map(Into::into).map_err(Into::into) })
        }))
    }

    pub(crate) async fn next(&self) -> Result<ChatToken, NoToken> {
        match self {
            Tokens::Once(slot) => slot
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .take()
                .ok_or(NoToken::Spent),
            Tokens::Provider(provider) => {
                provider().await.map_err(|e| NoToken::Failed(e.to_string()))
            }
        }
    }
}
