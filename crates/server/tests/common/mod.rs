//! An in-process `ivschat-server` on `127.0.0.1:0` for integration tests, and clients for it.
#![allow(dead_code)]

pub mod lambda;
pub mod process;
pub mod proxy_forwarder;
pub mod raw_h2;
pub mod raw_ws;
pub mod services;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use aws_sdk_ivschat::config::{BehaviorVersion, Credentials, Region};
use ivschat_server::app::App;
use ivschat_server::config::Config;
use ivschat_server::domain::clock::Clock;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct TestServer {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    pub clock: Clock,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    // Keeps the data directory alive for the server's lifetime (when the server owns it).
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::for_tests(dir.path());
        let mut server = TestServer::start_with(config).await;
        server._dir = Some(dir);
        server
    }

    /// Starts a server whose data directory the caller owns (restart tests).
    pub async fn start_in(dir: &Path) -> TestServer {
        TestServer::start_with(Config::for_tests(dir)).await
    }

    pub async fn start_with(config: Config) -> TestServer {
        let clock = Clock::system();
        let server = ivschat_server::Server::open(config, clock.clone())
            .await
            .unwrap();
        let app = server.app().clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(listener, async move {
            let _ = rx.await;
        }));
        TestServer {
            addr,
            app,
            clock,
            shutdown: Some(tx),
            task: Some(task),
            _dir: None,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The real AWS SDK for Rust, pointed at this server with the default `test`/`test` key.
    pub fn client(&self) -> aws_sdk_ivschat::Client {
        self.client_with("test", "test")
    }

    /// A client that does not retry: for tests of throttling, which the SDK would retry away.
    pub fn client_without_retries(&self) -> aws_sdk_ivschat::Client {
        let config = self
            .client()
            .config()
            .to_builder()
            .retry_config(aws_sdk_ivschat::config::retry::RetryConfig::disabled())
            .build();
        aws_sdk_ivschat::Client::from_conf(config)
    }

    pub fn client_with(&self, access_key: &str, secret: &str) -> aws_sdk_ivschat::Client {
        let config = aws_sdk_ivschat::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(self.endpoint())
            .credentials_provider(Credentials::new(access_key, secret, None, None, "tests"))
            .build();
        aws_sdk_ivschat::Client::from_conf(config)
    }

    /// Stops the server and waits until it has released its listener and store.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

/// Signs raw HTTP requests with SigV4 (via the `aws-sigv4` crate), for tests that must send
/// what no SDK would (malformed bodies, wrong types, odd headers).
pub mod raw {
    use std::time::SystemTime;

    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4;
    use aws_smithy_runtime_api::client::identity::Identity;

    pub struct RawResponse {
        pub status: u16,
        pub headers: reqwest::header::HeaderMap,
        pub body: String,
    }

    impl RawResponse {
        pub fn error_type(&self) -> &str {
            self.headers
                .get("x-amzn-errortype")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        }
        pub fn json(&self) -> serde_json::Value {
            serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
        }
    }

    /// Sends `method path` with `body` and the extra `headers`, signed as the SDKs sign.
    pub async fn send(
        endpoint: &str,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> RawResponse {
        send_signed(
            endpoint,
            ("test", "test"),
            method,
            path_and_query,
            headers,
            body,
        )
        .await
    }

    /// `POST`-style JSON request signed with another access key.
    pub async fn send_as(
        endpoint: &str,
        key: (&str, &str),
        method: &str,
        path_and_query: &str,
        body: &str,
    ) -> RawResponse {
        let headers = [("content-type", "application/json")];
        send_signed(
            endpoint,
            key,
            method,
            path_and_query,
            &headers,
            body.as_bytes(),
        )
        .await
    }

    async fn send_signed(
        endpoint: &str,
        key: (&str, &str),
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> RawResponse {
        let request = signed_request(endpoint, key, method, path_and_query, headers, body);
        let client = reqwest::Client::new();
        let mut builder = client.request(request.method().clone(), request.uri().to_string());
        for (k, v) in request.headers() {
            builder = builder.header(k, v);
        }
        let response = builder.body(request.body().clone()).send().await.unwrap();
        RawResponse {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    /// The request `send_signed` sends, signed as the SDKs sign (for clients other than
    /// reqwest: HTTP/2, TLS). `endpoint` is `http://host:port` or `https://host:port`.
    pub fn signed_request(
        endpoint: &str,
        (access_key, secret): (&str, &str),
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> http::Request<Vec<u8>> {
        let url = format!("{endpoint}{path_and_query}");
        let host = endpoint
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .to_string();
        let mut all_headers: Vec<(String, String)> = vec![("host".into(), host)];
        all_headers.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let identity: Identity = Credentials::new(access_key, secret, None, None, "raw").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("ivschat")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let signable = SignableRequest::new(
            method,
            url.clone(),
            all_headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut request = http::Request::builder().method(method).uri(&url);
        for (k, v) in &all_headers {
            if k != "host" {
                request = request.header(k, v);
            }
        }
        let mut request = request.body(body.to_vec()).unwrap();
        instructions.apply_to_request_http1x(&mut request);
        request
    }

    /// `POST /<operation>` with a JSON body.
    pub async fn post_json(endpoint: &str, operation: &str, body: &str) -> RawResponse {
        send(
            endpoint,
            "POST",
            &format!("/{operation}"),
            &[("content-type", "application/json")],
            body.as_bytes(),
        )
        .await
    }
}

/// A chat WebSocket client (tokio-tungstenite) that speaks the IVS Chat protocol.
pub mod chat {
    use std::time::Duration;

    use futures_util::{SinkExt, StreamExt};
    use serde_json::Value;
    use tokio::net::TcpStream;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    use tokio_tungstenite::tungstenite::{Error as WsError, Message};
    use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

    /// Guards against a hung test only; no test asserts on time.
    const HANG_GUARD: Duration = Duration::from_secs(20);

    pub struct ChatClient {
        pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
        pub protocol: Option<String>,
    }

    /// What the server said when it closed the socket.
    #[derive(Debug, PartialEq, Eq)]
    pub struct Closed {
        pub code: u16,
        pub reason: String,
    }

    impl ChatClient {
        /// Opens `ws://addr/` with `token` as the subprotocol. `Err(status)` if the server
        /// refused the upgrade.
        pub async fn connect(addr: std::net::SocketAddr, token: &str) -> Result<ChatClient, u16> {
            ChatClient::connect_with(addr, token, &[]).await
        }

        /// As [`ChatClient::connect`], with extra request headers (`X-Forwarded-For`, …).
        pub async fn connect_with(
            addr: std::net::SocketAddr,
            token: &str,
            headers: &[(&'static str, &str)],
        ) -> Result<ChatClient, u16> {
            let mut request = format!("ws://{addr}/").into_client_request().unwrap();
            request
                .headers_mut()
                .insert("sec-websocket-protocol", token.parse().unwrap());
            for (name, value) in headers {
                request.headers_mut().append(*name, value.parse().unwrap());
            }
            match tokio_tungstenite::connect_async(request).await {
                Ok((ws, response)) => Ok(ChatClient {
                    ws,
                    protocol: response
                        .headers()
                        .get("sec-websocket-protocol")
                        .map(|v| v.to_str().unwrap().to_string()),
                }),
                Err(WsError::Http(response)) => Err(response.status().as_u16()),
                Err(e) => panic!("connect failed: {e}"),
            }
        }

        pub async fn send(&mut self, request: Value) {
            self.ws
                .send(Message::Text(request.to_string().into()))
                .await
                .unwrap();
        }

        pub async fn send_raw(&mut self, message: Message) {
            self.ws.send(message).await.unwrap();
        }

        /// The next JSON frame (panics on close).
        pub async fn frame(&mut self) -> Value {
            loop {
                match tokio::time::timeout(HANG_GUARD, self.ws.next())
                    .await
                    .expect("no frame within the hang guard")
                {
                    Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    other => panic!("expected a frame, got {other:?}"),
                }
            }
        }

        /// The next frame, which must be of this `Type`.
        pub async fn frame_of(&mut self, kind: &str) -> Value {
            let frame = self.frame().await;
            assert_eq!(frame["Type"], kind, "{frame}");
            frame
        }

        /// Reads until the server's close frame (skipping data frames) and returns it.
        pub async fn closed(&mut self) -> Closed {
            loop {
                match tokio::time::timeout(HANG_GUARD, self.ws.next())
                    .await
                    .expect("no close within the hang guard")
                {
                    Some(Ok(Message::Close(Some(frame)))) => {
                        return Closed {
                            code: u16::from(frame.code),
                            reason: frame.reason.to_string(),
                        }
                    }
                    Some(Ok(Message::Close(None))) => {
                        return Closed {
                            code: u16::from(CloseCode::Status),
                            reason: String::new(),
                        }
                    }
                    Some(Ok(_)) => continue,
                    other => panic!("expected a close frame, got {other:?}"),
                }
            }
        }
    }
}

impl TestServer {
    /// A chat token for `user` in `room_arn` with the given capabilities.
    pub async fn token(&self, room_arn: &str, user: &str, capabilities: &[&str]) -> String {
        self.token_with(room_arn, user, capabilities, None, &[])
            .await
    }

    pub async fn token_with(
        &self,
        room_arn: &str,
        user: &str,
        capabilities: &[&str],
        session_minutes: Option<i32>,
        attributes: &[(&str, &str)],
    ) -> String {
        let mut request = self
            .client()
            .create_chat_token()
            .room_identifier(room_arn)
            .user_id(user)
            .set_session_duration_in_minutes(session_minutes);
        for c in capabilities {
            request = request.capabilities(aws_sdk_ivschat::types::ChatTokenCapability::from(*c));
        }
        for (k, v) in attributes {
            request = request.attributes(*k, *v);
        }
        request.send().await.unwrap().token.unwrap()
    }

    /// Connects `user` to the room with the given capabilities.
    pub async fn join(
        &self,
        room_arn: &str,
        user: &str,
        capabilities: &[&str],
    ) -> chat::ChatClient {
        let token = self.token(room_arn, user, capabilities).await;
        chat::ChatClient::connect(self.addr, &token).await.unwrap()
    }

    /// The repository's Rust chat client (`crates/client`) as `user`, minting a fresh token for
    /// every connection: for tests of what a well-behaved client sees (answers matched to
    /// requests, refusals as errors) rather than of the raw frames, which `chat::ChatClient`
    /// sends and reads as they are.
    pub async fn rust_client(
        &self,
        room_arn: &str,
        user: &str,
        capabilities: &[&str],
    ) -> ivschat_client::ChatClient {
        let sdk = self.client();
        let (room, user) = (room_arn.to_string(), user.to_string());
        let capabilities: Vec<aws_sdk_ivschat::types::ChatTokenCapability> =
            capabilities.iter().map(|c| (*c).into()).collect();
        ivschat_client::ChatClient::builder(&format!("ws://{}", self.addr))
            .token_provider(move || {
                let request = sdk
                    .create_chat_token()
                    .room_identifier(&room)
                    .user_id(&user)
                    .set_capabilities(Some(capabilities.clone()));
                let user = user.clone();
                async move {
                    let token = request
                        .send()
                        .await
                        .map_err(aws_sdk_ivschat::Error::from)?
                        .token
                        .unwrap_or_default();
                    Ok::<_, aws_sdk_ivschat::Error>(
                        ivschat_client::ChatToken::new(token).with_user_id(user),
                    )
                }
            })
            .connect()
            .await
            .unwrap()
    }

    /// Creates a room and returns its ARN.
    pub async fn room(&self) -> String {
        self.client()
            .create_room()
            .send()
            .await
            .unwrap()
            .arn
            .unwrap()
    }
}

/// Adds the user `tenant` (key `tenant` / `tenant-secret`, every ivschat action allowed) in
/// `account`, for tests of resources in an account other than the server's.
pub fn add_tenant(
    config: &mut ivschat_server::config::Config,
    dir: &std::path::Path,
    account: &str,
) {
    use ivschat_server::config::Secret;
    use ivschat_server::iam::users::{load_users, AccessKeyFile, UserFile};
    config.users = load_users(
        vec![UserFile {
            name: "tenant".into(),
            account_id: Some(account.into()),
            access_keys: vec![AccessKeyFile {
                access_key_id: "tenant".into(),
                secret_access_key: Secret::new("tenant-secret"),
            }],
            policies: vec![
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ivschat:*","Resource":"*"}}"#
                    .into(),
            ],
        }],
        dir,
        &config.account_id,
    )
    .unwrap();
}
