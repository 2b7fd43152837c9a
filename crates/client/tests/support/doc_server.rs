// An in-process ivschat-server for the rustdoc examples (included by `src/lib.rs`): a room,
// and a token minter for it. Not a test of its own.
#[allow(dead_code)]
pub async fn start() -> (
    String,
    impl Fn(&str) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, aws_sdk_ivschat::Error>> + Send>> + Send + Sync + 'static,
) {
    use aws_sdk_ivschat::config::{BehaviorVersion, Credentials, Region};
    let dir = tempfile::tempdir().unwrap().keep();
    let config = ivschat_server::config::Config::for_tests(&dir);
    let server = ivschat_server::Server::open(config, ivschat_server::domain::clock::Clock::system())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server.run(listener, std::future::pending::<()>()));
    let sdk = aws_sdk_ivschat::Client::from_conf(
        aws_sdk_ivschat::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(format!("http://{addr}"))
            .credentials_provider(Credentials::new("test", "test", None, None, "doc"))
            .build(),
    );
    let room = sdk.create_room().send().await.unwrap().arn.unwrap();
    let mint = move |user: &str| {
        let request = sdk
            .create_chat_token()
            .room_identifier(&room)
            .user_id(user)
            .capabilities(aws_sdk_ivschat::types::ChatTokenCapability::SendMessage)
            .capabilities(aws_sdk_ivschat::types::ChatTokenCapability::DisconnectUser);
        Box::pin(async move {
            Ok(request.send().await.map_err(aws_sdk_ivschat::Error::from)?.token.unwrap())
        }) as std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send>>
    };
    (format!("ws://{addr}"), mint)
}
