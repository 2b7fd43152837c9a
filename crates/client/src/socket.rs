//! Opens one chat WebSocket (`docs/protocol/messaging.md` §1.2–§1.3): TCP, TLS for `wss://`,
//! then the upgrade with the token as the one subprotocol, which the server must echo.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::WebSocketStream;

/// A TCP or TLS stream.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

pub(crate) type ChatSocket = WebSocketStream<Box<dyn Stream>>;

/// Why a connection could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OpenError {
    /// The server answered the upgrade with this HTTP status (§1.3: 401 bad or spent token,
    /// 404 no such room, 429 quota, 503 unavailable).
    Refused(u16),
    /// The URL or token cannot be used at all: retrying cannot help.
    Unusable(String),
    /// DNS, TCP, TLS, a time-out or a broken handshake: worth retrying.
    Failed(String),
}

pub(crate) async fn open(
    url: &str,
    token: &str,
    tls: &Arc<ClientConfig>,
    timeout: Duration,
) -> Result<ChatSocket, OpenError> {
    match tokio::time::timeout(timeout, open_unbounded(url, token, tls)).await {
        Ok(result) => result,
        Err(_) => Err(OpenError::Failed(format!(
            "no connection within {} ms",
            timeout.as_millis()
        ))),
    }
}

async fn open_unbounded(
    url: &str,
    token: &str,
    tls: &Arc<ClientConfig>,
) -> Result<ChatSocket, OpenError> {
    let mut request = url
        .into_client_request()
        .map_err(|e| OpenError::Unusable(format!("invalid chat URL {url:?}: {e}")))?;
    let protocol = HeaderValue::from_str(token)
        .map_err(|_| OpenError::Unusable("the chat token is not a valid header value".into()))?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", protocol);
    let uri = request.uri().clone();
    let secure = uri.scheme_str() == Some("wss");
    let host = uri
        .host()
        .ok_or_else(|| OpenError::Unusable(format!("no host in {url:?}")))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| OpenError::Failed(format!("connecting to {host}:{port}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Stream> = if secure {
        let name = ServerName::try_from(host.clone())
            .map_err(|e| OpenError::Unusable(format!("invalid TLS server name {host:?}: {e}")))?;
        let tls = tokio_rustls::TlsConnector::from(tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| OpenError::Failed(format!("TLS with {host}:{port}: {e}")))?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    match tokio_tungstenite::client_async(request, stream).await {
        Ok((socket, _response)) => Ok(socket),
        Err(WsError::Http(response)) => Err(OpenError::Refused(response.status().as_u16())),
        Err(e) => Err(OpenError::Failed(format!("WebSocket handshake: {e}"))),
    }
}
