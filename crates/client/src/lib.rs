//! A chat client for Amazon IVS Chat and for `ivschat-server`: the chat WebSocket of
//! `docs/protocol/messaging.md`, with what the official JavaScript SDK does and a little more.
//!
//! * **Tokens.** Connect with one token, or with a token provider (an async closure, like the
//!   SDK's `tokenProvider`) that the client calls before every connection.
//! * **Requests** ([`ChatSender::send_message`], [`ChatSender::delete_message`],
//!   [`ChatSender::disconnect_user`]) carry a fresh `RequestId` and resolve on the frame that
//!   answers them, or fail with the server's ERROR, a time-out, or the end of the connection.
//! * **Reconnect.** When a connection ends (a dropped socket, a server restart, session expiry
//!   at `sessionExpirationTime`), the client fetches a fresh token and connects again after an
//!   exponential, jittered delay ([`Reconnect`]); the receive queue says so
//!   ([`Update::Disconnected`], [`Update::Reconnected`]). A kick or a deleted room is final by
//!   default.
//! * **Backpressure.** Frames wait in a bounded queue; see [`ChatClient::recv`].
//! * **Endpoints.** An AWS region (`wss://edge.ivschat.<region>.amazonaws.com`) or any `ws://`
//!   or `wss://` URL; TLS with rustls, trusting the system's and Mozilla's roots and any CA added
//!   with [`ClientBuilder::add_root_certificates_pem`].
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let (url, mint_token) = doc_server::start().await;
//! use ivschat_client::{ChatClient, Update};
//!
//! // `mint_token` calls CreateChatToken (e.g. with aws-sdk-ivschat) on the app's backend.
//! let mut client = ChatClient::builder(&url) // or a region: "us-west-2"
//!     .token_provider(move || mint_token("sam"))
//!     .connect()
//!     .await?;
//!
//! let sent = client.send_message("hello").await?;
//! match client.recv().await {
//!     Some(Update::Message(message)) => {
//!         assert_eq!((message.id, message.content), (sent.id, "hello".to_string()));
//!         assert_eq!(message.sender.user_id, "sam");
//!     }
//!     other => panic!("{other:?}"),
//! }
//! client.close().await;
//! # Ok(())
//! # }
//! # mod doc_server { include!("../tests/support/doc_server.rs"); }
//! ```
//!
//! Requests from other tasks go through a [`ChatSender`], while one task reads:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let (url, mint_token) = doc_server::start().await;
//! use ivschat_client::{ChatClient, Disconnect, Update};
//!
//! let mut moderator = ChatClient::builder(&url)
//!     .token_provider(move || mint_token("mod"))
//!     .connect()
//!     .await?;
//! let sender = moderator.sender();
//! let kick = tokio::spawn(async move { sender.disconnect_user("spammer", Some("spam")).await });
//! while let Some(update) = moderator.recv().await {
//!     if let Update::Event(event) = update {
//!         assert_eq!(event.disconnected_user_id(), Some("spammer"));
//!         break;
//!     }
//! }
//! assert_eq!(kick.await??.reason(), Some("spam"));
//! # Ok(())
//! # }
//! # mod doc_server { include!("../tests/support/doc_server.rs"); }
//! ```

mod client;
mod driver;
mod endpoint;
mod error;
mod frame;
mod reconnect;
mod request;
mod socket;
mod tls;
mod token;
mod update;

pub use client::{ChatClient, ChatSender, ClientBuilder};
pub use endpoint::chat_url;
pub use error::{Disconnect, Error};
pub use frame::{ChatError, Event, Frame, Message, Sender};
pub use ivschat_proto::messaging::Attributes;
pub use reconnect::Reconnect;
pub use request::SendMessage;
pub use token::{BoxError, ChatToken};
pub use update::Update;
