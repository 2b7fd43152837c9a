//! Message review handlers through a real chat client, with a stand-in for the user's Lambda
//! function (`common/lambda.rs`) that the server reaches through the AWS SDK. What the function
//! does depends on the message content: allow, edit, deny, hang, garbage, error.

mod common;

use aws_sdk_ivschat::types::{FallbackResult, MessageReviewHandler};
use common::lambda::function_server;
use common::TestServer;
use ivschat_client::{Error, SendMessage};
use serde_json::json;

const FUNCTION: &str = "arn:aws:lambda:us-east-1:123456789012:function:review";

async fn server_with_lambda(url: Option<String>) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ivschat_server::config::Config::for_tests(dir.path());
    config.review.lambda_endpoint = url;
    let server = TestServer::start_with(config).await;
    // The data directory lives as long as the test process; each test has its own.
    std::mem::forget(dir);
    server
}

async fn reviewed_room(server: &TestServer, fallback: FallbackResult) -> String {
    server
        .client()
        .create_room()
        .maximum_message_length(500)
        .message_review_handler(
            MessageReviewHandler::builder()
                .uri(FUNCTION)
                .fallback_result(fallback)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .arn
        .unwrap()
}

#[tokio::test]
async fn allow_edit_and_deny_through_a_chat_client() {
    let (url, seen) = function_server().await;
    let server = server_with_lambda(Some(url)).await;
    let room = reviewed_room(&server, FallbackResult::Allow).await;
    let token = server
        .token_with(
            &room,
            "alice",
            &["SEND_MESSAGE"],
            None,
            &[("displayName", "Alice")],
        )
        .await;
    let mut alice = common::chat::ChatClient::connect(server.addr, &token)
        .await
        .unwrap();
    let mut bob = server.join(&room, "bob", &[]).await;

    alice
        .send(json!({"Action":"SEND_MESSAGE","RequestId":"m1","Content":"hello","Attributes":{"kind":"greeting"}}))
        .await;
    let delivered = bob.frame_of("MESSAGE").await;
    assert_eq!(delivered["Content"], "hello [reviewed]");
    assert_eq!(delivered["Attributes"], json!({"reviewed":"yes"}));
    assert_eq!(delivered["RequestId"], "m1");
    assert_eq!(alice.frame_of("MESSAGE").await, delivered);

    // What the function was given: the documented event, with the id the message got.
    let (function, event, headers) = seen.0.lock().unwrap()[0].clone();
    assert_eq!(function, FUNCTION);
    assert_eq!(event["MessageId"], delivered["Id"]);
    assert_eq!(event["Content"], "hello");
    assert_eq!(event["RoomArn"], room);
    assert_eq!(event["Attributes"], json!({"kind":"greeting"}));
    assert_eq!(
        event["Sender"],
        json!({"Attributes":{"displayName":"Alice"},"UserId":"alice","Ip":"127.0.0.1"})
    );
    let authorization = headers["authorization"].to_str().unwrap();
    assert!(
        authorization.starts_with("AWS4-HMAC-SHA256 Credential=")
            && authorization.contains("/lambda/aws4_request"),
        "the Invoke call is SigV4-signed for lambda: {authorization}"
    );

    // DENY: ERROR 406 to the sender only, with the reason; nobody else sees anything.
    alice
        .send(json!({"Action":"SEND_MESSAGE","RequestId":"m2","Content":"deny"}))
        .await;
    let error = alice.frame_of("ERROR").await;
    assert_eq!(error["ErrorCode"], 406);
    assert_eq!(error["RequestId"], "m2");
    assert!(
        error["ErrorMessage"].as_str().unwrap().contains("not nice"),
        "{error}"
    );
    alice
        .send(json!({"Action":"SEND_MESSAGE","RequestId":"m3","Content":"deny silently"}))
        .await;
    assert_eq!(alice.frame_of("ERROR").await["ErrorCode"], 406);
    alice
        .send(json!({"Action":"SEND_MESSAGE","RequestId":"m4","Content":"after"}))
        .await;
    assert_eq!(
        bob.frame_of("MESSAGE").await["RequestId"],
        "m4",
        "bob saw nothing denied"
    );
}

#[tokio::test]
async fn failures_apply_the_fallback_result() {
    let (url, _seen) = function_server().await;
    let server = server_with_lambda(Some(url)).await;
    let allow_room = reviewed_room(&server, FallbackResult::Allow).await;
    let deny_room = reviewed_room(&server, FallbackResult::Deny).await;
    let allow_user = server
        .rust_client(&allow_room, "a", &["SEND_MESSAGE"])
        .await;
    let deny_user = server.rust_client(&deny_room, "d", &["SEND_MESSAGE"]).await;

    for failure in ["garbage", "too long", "crash", "unavailable", "hang"] {
        // Fallback ALLOW delivers the original content and attributes.
        let message = allow_user
            .send_message(SendMessage::new(failure).attribute("k", "v"))
            .await
            .unwrap();
        assert_eq!(message.content, failure);
        assert_eq!(
            message.attributes,
            [("k".to_string(), "v".to_string())].into()
        );
        // Fallback DENY refuses it with 406.
        match deny_user.send_message(failure).await {
            Err(Error::Refused(error)) => assert_eq!(error.error_code, 406, "{failure}"),
            other => panic!("{failure}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn without_a_lambda_endpoint_the_fallback_applies() {
    let server = server_with_lambda(None).await;
    let allow_room = reviewed_room(&server, FallbackResult::Allow).await;
    let deny_room = reviewed_room(&server, FallbackResult::Deny).await;
    let a = server
        .rust_client(&allow_room, "a", &["SEND_MESSAGE"])
        .await;
    let d = server.rust_client(&deny_room, "d", &["SEND_MESSAGE"]).await;
    assert_eq!(a.send_message("hello").await.unwrap().content, "hello");
    match d.send_message("hello").await {
        Err(Error::Refused(error)) => assert_eq!(error.error_code, 406),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn messages_are_delivered_in_order_and_review_changes_apply_live() {
    let (url, seen) = function_server().await;
    let server = server_with_lambda(Some(url)).await;
    let room = server.room().await;
    let mut user = server.join(&room, "u", &["SEND_MESSAGE"]).await;
    user.send(json!({"Action":"SEND_MESSAGE","Content":"plain"}))
        .await;
    assert_eq!(user.frame_of("MESSAGE").await["Content"], "plain");

    // Attach a handler while connected: the next message is reviewed.
    server
        .client()
        .update_room()
        .identifier(&room)
        .message_review_handler(MessageReviewHandler::builder().uri(FUNCTION).build())
        .send()
        .await
        .unwrap();
    for i in 0..5 {
        user.send(json!({"Action":"SEND_MESSAGE","Content":format!("m{i}")}))
            .await;
    }
    for i in 0..5 {
        assert_eq!(
            user.frame_of("MESSAGE").await["Content"],
            format!("m{i} [reviewed]")
        );
    }
    assert_eq!(seen.0.lock().unwrap().len(), 5);

    // An empty uri removes it again.
    server
        .client()
        .update_room()
        .identifier(&room)
        .message_review_handler(MessageReviewHandler::builder().uri("").build())
        .send()
        .await
        .unwrap();
    user.send(json!({"Action":"SEND_MESSAGE","Content":"plain again"}))
        .await;
    assert_eq!(user.frame_of("MESSAGE").await["Content"], "plain again");
}

/// A room of another account than the server's (README "Several accounts"): its review handler
/// is sent the room's ARN in that account, and the message is delivered as usual.
#[tokio::test]
async fn another_accounts_room_is_reviewed_under_its_own_arn() {
    const OTHER: &str = "111111111111";
    let (url, seen) = function_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = ivschat_server::config::Config::for_tests(dir.path());
    config.review.lambda_endpoint = Some(url);
    common::add_tenant(&mut config, dir.path(), OTHER);
    let server = TestServer::start_with(config).await;
    let tenant = server.client_with("tenant", "tenant-secret");
    let room = tenant
        .create_room()
        .message_review_handler(MessageReviewHandler::builder().uri(FUNCTION).build())
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    assert!(room.starts_with(&format!("arn:aws:ivschat:us-east-1:{OTHER}:room/")));
    let token = tenant
        .create_chat_token()
        .room_identifier(&room)
        .user_id("alice")
        .capabilities(aws_sdk_ivschat::types::ChatTokenCapability::SendMessage)
        .send()
        .await
        .unwrap()
        .token
        .unwrap();
    let mut alice = common::chat::ChatClient::connect(server.addr, &token)
        .await
        .unwrap();
    alice
        .send(json!({"Action":"SEND_MESSAGE","RequestId":"m1","Content":"hello"}))
        .await;
    assert_eq!(
        alice.frame_of("MESSAGE").await["Content"],
        "hello [reviewed]"
    );
    let (_, event, _) = seen.0.lock().unwrap()[0].clone();
    assert_eq!(event["RoomArn"], room);
    server.stop().await;
}
