//! `ivschat`: chat in, watch and moderate an IVS Chat room from a terminal, against AWS or
//! ivschat-server. Tokens are minted with CreateChatToken (SigV4, the usual AWS credentials);
//! the chat itself goes through `ivschat-client`.

mod aws;
mod chat_ui;
mod render;

use std::sync::Arc;

use anyhow::{anyhow, Context};
use aws::{parse_attribute, ControlPlane, Target, TokenRequest};
use clap::{Parser, Subcommand};
use ivschat_client::{ChatClient, Reconnect, SendMessage, Update};
use tokio::io::AsyncWriteExt;

#[derive(Debug, Parser)]
#[command(
    name = "ivschat",
    version,
    about = "Chat, watch and moderate an Amazon IVS Chat room"
)]
struct Cli {
    #[command(flatten)]
    target: Target,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Interactive chat: the room's messages scroll above a prompt. Enter sends; `/delete ID`,
    /// `/kick USER [REASON]` moderate (with the capabilities); Ctrl-C or `/quit` leaves.
    Chat {
        /// Room id or ARN.
        room: String,
        #[command(flatten)]
        who: Who,
    },
    /// Print every frame of the room as a JSON line (MESSAGE, EVENT, ERROR as the server sent
    /// them; connection changes as {"Type":"CONNECTED"|"DISCONNECTED"|"RECONNECTED",…}).
    Tail {
        room: String,
        /// The user id to watch as.
        #[arg(long, default_value = "ivschat-tail")]
        user: String,
        /// Stop after this many frames.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Send one message over the WebSocket and print the MESSAGE the room received.
    Send {
        room: String,
        /// The message.
        content: String,
        #[arg(long)]
        user: String,
        /// Message attribute (repeatable).
        #[arg(long = "attribute", value_parser = parse_attribute)]
        attributes: Vec<(String, String)>,
    },
    /// Send an event to the room (SendEvent) and print its id.
    Event {
        room: String,
        /// Event name (1..100 characters).
        name: String,
        /// Event attribute (repeatable).
        #[arg(long = "attribute", value_parser = parse_attribute)]
        attributes: Vec<(String, String)>,
    },
    /// Disconnect every connection of a user (DisconnectUser).
    Kick {
        room: String,
        user: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Tell clients to delete a message (DeleteMessage).
    Delete {
        room: String,
        /// The message's `Id`.
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    // `history` and `presence` will go here once the server's extension API for them exists
    // (issue 22): they are HTTP operations of the control plane, like `event` and `kick`.
}

/// The identity of a chat connection.
#[derive(Debug, Clone, clap::Args)]
struct Who {
    /// User id (1..128 characters).
    #[arg(long)]
    user: String,
    /// Capabilities of the token: SEND_MESSAGE, DELETE_MESSAGE, DISCONNECT_USER (repeatable;
    /// default SEND_MESSAGE).
    #[arg(long = "capability")]
    capabilities: Vec<String>,
    /// Token attribute, shown as the sender's (repeatable).
    #[arg(long = "attribute", value_parser = parse_attribute)]
    attributes: Vec<(String, String)>,
    /// Session duration in minutes (1..180; default the server's, 60).
    #[arg(long)]
    session_minutes: Option<i32>,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli).await {
        eprintln!("ivschat: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let plane = Arc::new(ControlPlane::new(&cli.target).await?);
    match cli.command {
        Command::Chat { room, who } => {
            let mut capabilities = who.capabilities.clone();
            if capabilities.is_empty() {
                capabilities.push("SEND_MESSAGE".into());
            }
            let request = TokenRequest {
                room_arn: plane.room_arn(&room).await?,
                user: who.user.clone(),
                capabilities,
                attributes: who.attributes.clone(),
                session_minutes: who.session_minutes,
            };
            let client = connect(&plane, request).await?;
            chat_ui::run(client, &who.user).await
        }
        Command::Tail { room, user, count } => {
            let request = TokenRequest {
                room_arn: plane.room_arn(&room).await?,
                user,
                capabilities: Vec::new(),
                attributes: Vec::new(),
                session_minutes: None,
            };
            let client = connect(&plane, request).await?;
            tail(client, count).await
        }
        Command::Send {
            room,
            content,
            user,
            attributes,
        } => {
            let request = TokenRequest {
                room_arn: plane.room_arn(&room).await?,
                user,
                capabilities: vec!["SEND_MESSAGE".into()],
                attributes: Vec::new(),
                session_minutes: None,
            };
            let client = connect(&plane, request).await?;
            let mut message = SendMessage::new(content);
            for (key, value) in attributes {
                message = message.attribute(key, value);
            }
            let sent = client.send_message(message).await;
            client.close().await;
            let sent = sent?;
            println!(
                "{}",
                serde_json::to_string(&ivschat_client::Frame::Message(sent))?
            );
            Ok(())
        }
        Command::Event {
            room,
            name,
            attributes,
        } => {
            let output = plane
                .sdk
                .send_event()
                .room_identifier(plane.room_arn(&room).await?)
                .event_name(name)
                .set_attributes(Some(attributes.into_iter().collect()))
                .send()
                .await
                .map_err(aws::explain)
                .context("SendEvent")?;
            println!("{}", serde_json::json!({ "id": output.id() }));
            Ok(())
        }
        Command::Kick { room, user, reason } => {
            plane
                .sdk
                .disconnect_user()
                .room_identifier(plane.room_arn(&room).await?)
                .user_id(user)
                .set_reason(reason)
                .send()
                .await
                .map_err(aws::explain)
                .context("DisconnectUser")?;
            Ok(())
        }
        Command::Delete { room, id, reason } => {
            let output = plane
                .sdk
                .delete_message()
                .room_identifier(plane.room_arn(&room).await?)
                .id(id)
                .set_reason(reason)
                .send()
                .await
                .map_err(aws::explain)
                .context("DeleteMessage")?;
            println!("{}", serde_json::json!({ "id": output.id() }));
            Ok(())
        }
    }
}

/// A client that mints a fresh token for every connection. The first token is minted before
/// connecting, so bad credentials or an unreachable control plane fail at once with the AWS
/// error instead of being retried. A kick is final; other disconnections are retried 20 times
/// in a row (about 8 minutes with the delays capped at 30 s).
async fn connect(plane: &Arc<ControlPlane>, request: TokenRequest) -> anyhow::Result<ChatClient> {
    let first = std::sync::Mutex::new(Some(plane.mint(&request).await?));
    let provider_plane = plane.clone();
    let mut builder = ChatClient::builder(&plane.chat_url)
        .reconnect(Reconnect::default().max_attempts(Some(20)))
        .token_provider(move || {
            let first = first.lock().unwrap_or_else(|e| e.into_inner()).take();
            let plane = provider_plane.clone();
            let request = request.clone();
            async move {
                match first {
                    Some(token) => Ok(token),
                    None => plane
                        .mint(&request)
                        .await
                        .map_err(|e| ivschat_client::BoxError::from(format!("{e:#}"))),
                }
            }
        });
    if let Some(pem) = &plane.ca_pem {
        builder = builder.add_root_certificates_pem(pem.clone());
    }
    builder
        .connect()
        .await
        .with_context(|| format!("joining the room at {}", plane.chat_url))
}

/// `ivschat tail`: one JSON line per update, flushed at once (for pipes). Fails when the room
/// ends the watch (a kick, a deleted room, reconnection given up), after printing why.
async fn tail(mut client: ChatClient, count: Option<u64>) -> anyhow::Result<()> {
    let mut stdout = tokio::io::stdout();
    // First line: the room is joined, so a pipe knows from when on nothing is missed.
    stdout.write_all(b"{\"Type\":\"CONNECTED\"}\n").await?;
    stdout.flush().await?;
    let mut frames = 0u64;
    while count.is_none_or(|n| frames < n) {
        let Some(update) = client.recv().await else {
            break;
        };
        let ended = match &update {
            Update::Disconnected {
                cause,
                reconnect_in: None,
            } => Some(cause.clone()),
            _ => None,
        };
        if update.clone().into_frame().is_some() {
            frames += 1;
        }
        let mut line = render::json_line(update);
        line.push('\n');
        stdout.write_all(line.as_bytes()).await?;
        stdout.flush().await?;
        if let Some(cause) = ended {
            return Err(anyhow!("the connection ended: {cause}"));
        }
    }
    client.close().await;
    Ok(())
}
