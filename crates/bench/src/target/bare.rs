//! A bare WebSocket fan-out (`bench/floor-server`): the URL path `/room/<n>` names the room,
//! a send is the content itself as a text frame, and every text frame received is a delivery.
//! No control plane: rooms exist as soon as someone connects to them.

use std::borrow::Cow;

use anyhow::{Context, Result};
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::uri::PathAndQuery;
use tokio_tungstenite::tungstenite::http::Uri;

use super::{Frame, Incoming, RoomRef};

/// The path of room `id`.
pub fn room_path(id: &str) -> String {
    format!("/room/{id}")
}

/// Points `request` (already aimed at the right server, whatever path its URL has) at
/// `room`'s path.
pub fn route(room: &RoomRef, request: &mut Request) -> Result<()> {
    let mut parts = request.uri().clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(room_path(&room.id))?);
    *request.uri_mut() = Uri::from_parts(parts).context("room URL")?;
    Ok(())
}

/// Every text frame is a delivery, its whole text the content.
pub fn classify(frame: Frame<'_>) -> Incoming<'_> {
    match frame {
        Frame::Text(text) => Incoming::Delivery {
            content: Cow::Borrowed(text),
            server_time: None,
        },
        Frame::Binary(_) => Incoming::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_in_the_path() {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let room = RoomRef { id: "3".into() };
        for url in ["ws://127.0.0.1:9090/", "ws://127.0.0.1:9090/x?y=1"] {
            let mut request = url.into_client_request().unwrap();
            route(&room, &mut request).unwrap();
            assert_eq!(request.uri().to_string(), "ws://127.0.0.1:9090/room/3");
        }
        assert_eq!(
            classify(Frame::Text("1.2.3.x")),
            Incoming::Delivery {
                content: Cow::Borrowed("1.2.3.x"),
                server_time: None
            }
        );
        assert_eq!(classify(Frame::Binary(b"1.2.3.x")), Incoming::Other);
    }
}
