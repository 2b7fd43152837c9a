//! The control plane driven by the real AWS SDK for Rust (`aws-sdk-ivschat`) against an
//! in-process server: every operation, its typed errors, defaults, pagination, filters, tags,
//! quotas and restart persistence.

mod common;

use std::collections::HashMap;

use aws_sdk_ivschat::error::ProvideErrorMetadata;
use aws_sdk_ivschat::operation::create_room::CreateRoomError;
use aws_sdk_ivschat::operation::delete_logging_configuration::DeleteLoggingConfigurationError;
use aws_sdk_ivschat::operation::get_room::GetRoomError;
use aws_sdk_ivschat::types::{
    ChatTokenCapability, CloudWatchLogsDestinationConfiguration, DestinationConfiguration,
    FallbackResult, FirehoseDestinationConfiguration, MessageReviewHandler,
    S3DestinationConfiguration, ValidationExceptionReason,
};
use aws_sdk_ivschat::Client;
use common::TestServer;
use ivschat_server::config::Config;

const LAMBDA: &str = "arn:aws:lambda:us-east-1:123456789012:function:review";

fn is_id(s: &str) -> bool {
    s.len() == 12 && s.chars().all(|c| c.is_ascii_alphanumeric())
}

fn s3(bucket: &str) -> DestinationConfiguration {
    DestinationConfiguration::S3(
        S3DestinationConfiguration::builder()
            .bucket_name(bucket)
            .build()
            .unwrap(),
    )
}

async fn new_logging(client: &Client, name: &str) -> String {
    client
        .create_logging_configuration()
        .name(name)
        .destination_configuration(s3("my-bucket"))
        .send()
        .await
        .unwrap()
        .arn
        .unwrap()
}

#[tokio::test]
async fn create_room_fills_in_every_default() {
    let server = TestServer::start().await;
    let room = server.client().create_room().send().await.unwrap();
    let id = room.id().unwrap();
    assert!(is_id(id), "{id}");
    assert_eq!(
        room.arn().unwrap(),
        format!("arn:aws:ivschat:us-east-1:000000000000:room/{id}")
    );
    assert_eq!(room.name(), Some(""));
    assert_eq!(room.maximum_message_rate_per_second(), Some(10));
    assert_eq!(room.maximum_message_length(), Some(500));
    let handler = room.message_review_handler().unwrap();
    assert_eq!(handler.uri(), None);
    assert_eq!(handler.fallback_result(), Some(&FallbackResult::Allow));
    assert!(room.tags().unwrap().is_empty());
    assert!(room.logging_configuration_identifiers().is_empty());
    assert_eq!(room.create_time(), room.update_time());
    let age = aws_smithy_types_now() - room.create_time().unwrap().secs();
    assert!((0..=5).contains(&age), "createTime is now, not {age} s ago");
}

fn aws_smithy_types_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn room_lifecycle_create_get_update_delete() {
    let server = TestServer::start().await;
    let client = server.client();
    let logging = new_logging(&client, "logs").await;
    let created = client
        .create_room()
        .name("stream-1_chat")
        .maximum_message_rate_per_second(5)
        .maximum_message_length(200)
        .message_review_handler(
            MessageReviewHandler::builder()
                .uri(LAMBDA)
                .fallback_result(FallbackResult::Deny)
                .build(),
        )
        .tags("team", "video")
        .logging_configuration_identifiers(&logging)
        .send()
        .await
        .unwrap();
    let arn = created.arn().unwrap();

    let got = client.get_room().identifier(arn).send().await.unwrap();
    assert_eq!(got.name(), Some("stream-1_chat"));
    assert_eq!(got.maximum_message_rate_per_second(), Some(5));
    assert_eq!(got.maximum_message_length(), Some(200));
    assert_eq!(got.message_review_handler().unwrap().uri(), Some(LAMBDA));
    assert_eq!(
        got.message_review_handler().unwrap().fallback_result(),
        Some(&FallbackResult::Deny)
    );
    assert_eq!(
        got.tags().unwrap().get("team").map(String::as_str),
        Some("video")
    );
    assert_eq!(
        got.logging_configuration_identifiers(),
        std::slice::from_ref(&logging)
    );
    assert_eq!(got.create_time(), created.create_time());

    // Only the given member changes; updateTime moves forward.
    let updated = client
        .update_room()
        .identifier(arn)
        .maximum_message_length(42)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.maximum_message_length(), Some(42));
    assert_eq!(updated.name(), Some("stream-1_chat"));
    assert_eq!(updated.maximum_message_rate_per_second(), Some(5));
    assert_eq!(
        updated.message_review_handler().unwrap().uri(),
        Some(LAMBDA)
    );
    assert_eq!(
        updated.logging_configuration_identifiers(),
        std::slice::from_ref(&logging)
    );
    assert_eq!(updated.tags().unwrap().len(), 1);
    assert!(updated.update_time().unwrap() > created.update_time().unwrap());
    assert_eq!(updated.create_time(), created.create_time());

    // An empty uri removes the handler; an empty list detaches the logging configurations.
    let updated = client
        .update_room()
        .identifier(arn)
        .message_review_handler(MessageReviewHandler::builder().uri("").build())
        .set_logging_configuration_identifiers(Some(vec![]))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.message_review_handler().unwrap().uri(), None);
    assert!(updated.logging_configuration_identifiers().is_empty());

    client.delete_room().identifier(arn).send().await.unwrap();
    let err = client
        .get_room()
        .identifier(arn)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let GetRoomError::ResourceNotFoundException(not_found) = err else {
        panic!("expected ResourceNotFoundException, got {err:?}");
    };
    assert_eq!(not_found.resource_id(), created.id().unwrap());
    assert_eq!(not_found.resource_type().as_str(), "ROOM");
    let err = client
        .delete_room()
        .identifier(arn)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception());
    let err = client
        .update_room()
        .identifier(arn)
        .name("x")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception());
}

#[tokio::test]
async fn identifiers_must_be_arns_of_this_region_and_account() {
    let server = TestServer::start().await;
    let client = server.client();
    let room = client.create_room().send().await.unwrap();
    let err = client
        .get_room()
        .identifier(room.id().unwrap())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let GetRoomError::ValidationException(validation) = err else {
        panic!("expected ValidationException, got {err:?}");
    };
    assert_eq!(
        validation.reason(),
        &ValidationExceptionReason::FieldValidationFailed
    );
    assert_eq!(validation.field_list()[0].name(), "/identifier");
    let foreign = room.arn().unwrap().replace("us-east-1", "eu-west-1");
    let err = client
        .get_room()
        .identifier(foreign)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception());
}

#[tokio::test]
async fn validation_errors_name_every_field() {
    let server = TestServer::start().await;
    let err = server
        .client()
        .create_room()
        .name("bad name!")
        .maximum_message_rate_per_second(101)
        .maximum_message_length(0)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let CreateRoomError::ValidationException(v) = err else {
        panic!("expected ValidationException, got {err:?}");
    };
    assert_eq!(
        v.reason(),
        &ValidationExceptionReason::FieldValidationFailed
    );
    let names: Vec<&str> = v.field_list().iter().map(|f| f.name()).collect();
    assert_eq!(
        names,
        [
            "/name",
            "/maximumMessageRatePerSecond",
            "/maximumMessageLength"
        ]
    );
    assert!(
        v.message().starts_with("3 validation errors detected"),
        "{}",
        v.message()
    );
}

#[tokio::test]
async fn list_rooms_pages_newest_update_first() {
    let server = TestServer::start().await;
    let client = server.client();
    let mut arns = Vec::new();
    for i in 0..7 {
        let room = client
            .create_room()
            .name(format!("r{i}"))
            .send()
            .await
            .unwrap();
        arns.push(room.arn().unwrap().to_string());
    }
    // Touch the oldest room: it becomes the newest.
    client
        .update_room()
        .identifier(&arns[0])
        .name("r0-updated")
        .send()
        .await
        .unwrap();
    let mut expected: Vec<String> = arns[1..].iter().rev().cloned().collect();
    expected.insert(0, arns[0].clone());

    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = client
            .list_rooms()
            .max_results(3)
            .set_next_token(token.clone())
            .send()
            .await
            .unwrap();
        pages += 1;
        assert!(page.rooms().len() <= 3);
        seen.extend(page.rooms().iter().map(|r| r.arn().unwrap().to_string()));
        match page.next_token() {
            Some(t) => {
                assert!(!t.is_empty());
                token = Some(t.to_string());
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, expected);

    // The SDK's own paginator walks the same pages and stops on the missing token.
    let mut pages = client.list_rooms().max_results(2).into_paginator().send();
    let mut all = 0;
    while let Some(page) = pages.next().await {
        all += page.unwrap().rooms().len();
    }
    assert_eq!(all, 7);

    let err = client
        .list_rooms()
        .next_token("not-a-token")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
}

#[tokio::test]
async fn list_rooms_filters_combine() {
    let server = TestServer::start().await;
    let client = server.client();
    let logging = new_logging(&client, "filter").await;
    let handler = MessageReviewHandler::builder().uri(LAMBDA).build();
    let a = client.create_room().name("alpha").send().await.unwrap();
    let b = client
        .create_room()
        .name("alpha")
        .message_review_handler(handler.clone())
        .send()
        .await
        .unwrap();
    let c = client
        .create_room()
        .name("gamma")
        .message_review_handler(handler)
        .logging_configuration_identifiers(&logging)
        .send()
        .await
        .unwrap();
    let ids = |rooms: &[aws_sdk_ivschat::types::RoomSummary]| -> Vec<String> {
        let mut ids: Vec<String> = rooms.iter().map(|r| r.id().unwrap().to_string()).collect();
        ids.sort();
        ids
    };
    let sorted = |mut v: Vec<&str>| -> Vec<String> {
        v.sort();
        v.into_iter().map(String::from).collect()
    };

    let by_name = client.list_rooms().name("alpha").send().await.unwrap();
    assert_eq!(
        ids(by_name.rooms()),
        sorted(vec![a.id().unwrap(), b.id().unwrap()])
    );
    let by_uri = client
        .list_rooms()
        .message_review_handler_uri(LAMBDA)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ids(by_uri.rooms()),
        sorted(vec![b.id().unwrap(), c.id().unwrap()])
    );
    let both = client
        .list_rooms()
        .name("alpha")
        .message_review_handler_uri(LAMBDA)
        .send()
        .await
        .unwrap();
    assert_eq!(ids(both.rooms()), sorted(vec![b.id().unwrap()]));
    let by_logging = client
        .list_rooms()
        .logging_configuration_identifier(&logging)
        .send()
        .await
        .unwrap();
    assert_eq!(ids(by_logging.rooms()), sorted(vec![c.id().unwrap()]));
    let summary = &by_logging.rooms()[0];
    assert_eq!(
        summary.logging_configuration_identifiers(),
        std::slice::from_ref(&logging)
    );
    assert_eq!(
        summary.message_review_handler().unwrap().uri(),
        Some(LAMBDA)
    );

    let missing = logging.replace(&logging[logging.len() - 12..], "AAAAAAAAAAAA");
    let err = client
        .list_rooms()
        .logging_configuration_identifier(missing)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
}

#[tokio::test]
async fn logging_configurations_for_each_destination() {
    let server = TestServer::start().await;
    let client = server.client();
    let destinations = [
        s3("chat-logs.example"),
        DestinationConfiguration::CloudWatchLogs(
            CloudWatchLogsDestinationConfiguration::builder()
                .log_group_name("/ivs/chat#1")
                .build()
                .unwrap(),
        ),
        DestinationConfiguration::Firehose(
            FirehoseDestinationConfiguration::builder()
                .delivery_stream_name("chat.stream-1")
                .build()
                .unwrap(),
        ),
    ];
    let mut arns = Vec::new();
    for (i, destination) in destinations.iter().enumerate() {
        let created = client
            .create_logging_configuration()
            .name(format!("cfg-{i}"))
            .destination_configuration(destination.clone())
            .tags("k", "v")
            .send()
            .await
            .unwrap();
        assert!(is_id(created.id().unwrap()));
        assert_eq!(
            created.arn().unwrap(),
            format!(
                "arn:aws:ivschat:us-east-1:000000000000:logging-configuration/{}",
                created.id().unwrap()
            )
        );
        assert_eq!(created.state().unwrap().as_str(), "ACTIVE");
        assert_eq!(created.destination_configuration(), Some(destination));
        assert_eq!(
            created.tags().unwrap().get("k").map(String::as_str),
            Some("v")
        );
        let got = client
            .get_logging_configuration()
            .identifier(created.arn().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(got.destination_configuration(), Some(destination));
        assert_eq!(got.state().unwrap().as_str(), "ACTIVE");
        arns.push(created.arn().unwrap().to_string());
    }

    let updated = client
        .update_logging_configuration()
        .identifier(&arns[0])
        .name("renamed")
        .send()
        .await
        .unwrap();
    assert_eq!(updated.name(), Some("renamed"));
    assert_eq!(updated.destination_configuration(), Some(&destinations[0]));
    let updated = client
        .update_logging_configuration()
        .identifier(&arns[0])
        .destination_configuration(destinations[2].clone())
        .send()
        .await
        .unwrap();
    assert_eq!(updated.name(), Some("renamed"));
    assert_eq!(updated.destination_configuration(), Some(&destinations[2]));

    let page1 = client
        .list_logging_configurations()
        .max_results(2)
        .send()
        .await
        .unwrap();
    assert_eq!(page1.logging_configurations().len(), 2);
    assert_eq!(
        page1.logging_configurations()[0].arn(),
        Some(arns[0].as_str())
    );
    let page2 = client
        .list_logging_configurations()
        .max_results(2)
        .next_token(page1.next_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(page2.logging_configurations().len(), 1);
    assert_eq!(page2.next_token(), None);

    for arn in &arns {
        client
            .delete_logging_configuration()
            .identifier(arn)
            .send()
            .await
            .unwrap();
    }
    let err = client
        .get_logging_configuration()
        .identifier(&arns[0])
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception());
    let empty = client.list_logging_configurations().send().await.unwrap();
    assert!(empty.logging_configurations().is_empty());
    assert_eq!(empty.next_token(), None);
}

#[tokio::test]
async fn logging_configuration_in_use_cannot_be_deleted() {
    let server = TestServer::start().await;
    let client = server.client();
    let logging = new_logging(&client, "in-use").await;
    let room = client
        .create_room()
        .logging_configuration_identifiers(&logging)
        .send()
        .await
        .unwrap();
    let err = client
        .delete_logging_configuration()
        .identifier(&logging)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let DeleteLoggingConfigurationError::ConflictException(conflict) = err else {
        panic!("expected ConflictException, got {err:?}");
    };
    assert_eq!(conflict.resource_id(), &logging[logging.len() - 12..]);

    client
        .update_room()
        .identifier(room.arn().unwrap())
        .set_logging_configuration_identifiers(Some(vec![]))
        .send()
        .await
        .unwrap();
    client
        .delete_logging_configuration()
        .identifier(&logging)
        .send()
        .await
        .unwrap();

    // Attaching a configuration that does not exist is ResourceNotFound.
    let err = client
        .create_room()
        .logging_configuration_identifiers(&logging)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
}

#[tokio::test]
async fn quotas_answer_service_quota_exceeded() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.quotas.rooms = 2;
    config.quotas.logging_configurations = 2;
    config.quotas.logging_configurations_per_room = 1;
    let server = TestServer::start_with(config).await;
    let client = server.client();
    client.create_room().send().await.unwrap();
    client.create_room().send().await.unwrap();
    let err = client
        .create_room()
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let CreateRoomError::ServiceQuotaExceededException(quota) = err else {
        panic!("expected ServiceQuotaExceededException, got {err:?}");
    };
    assert_eq!(quota.limit(), 2);

    let a = new_logging(&client, "a").await;
    let b = new_logging(&client, "b").await;
    let err = client
        .create_logging_configuration()
        .destination_configuration(s3("abc"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_service_quota_exceeded_exception(), "{err:?}");

    let rooms = client.list_rooms().send().await.unwrap();
    let err = client
        .update_room()
        .identifier(rooms.rooms()[0].arn().unwrap())
        .logging_configuration_identifiers(a)
        .logging_configuration_identifiers(b)
        .send()
        .await
        .unwrap_err();
    // UpdateRoom does not model this error; SDKs still see its code.
    assert_eq!(err.code(), Some("ServiceQuotaExceededException"));
}

#[tokio::test]
async fn default_logging_configuration_quota_is_ten() {
    let server = TestServer::start().await;
    let client = server.client();
    for i in 0..10 {
        new_logging(&client, &format!("q{i}")).await;
    }
    let err = client
        .create_logging_configuration()
        .destination_configuration(s3("abc"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 402);
    assert!(err
        .into_service_error()
        .is_service_quota_exceeded_exception());
}

#[tokio::test]
async fn tags_on_rooms_and_logging_configurations() {
    let server = TestServer::start().await;
    let client = server.client();
    let room = client.create_room().tags("a", "1").send().await.unwrap();
    let logging = new_logging(&client, "tagged").await;
    for arn in [room.arn().unwrap(), logging.as_str()] {
        client
            .tag_resource()
            .resource_arn(arn)
            .tags("b", "2")
            .tags("c", "")
            .send()
            .await
            .unwrap();
        client
            .untag_resource()
            .resource_arn(arn)
            .tag_keys("c")
            .tag_keys("never-there")
            .send()
            .await
            .unwrap();
        let tags = client
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .unwrap();
        let mut expected = HashMap::from([("b".to_string(), "2".to_string())]);
        if arn == room.arn().unwrap() {
            expected.insert("a".into(), "1".into());
        }
        assert_eq!(tags.tags(), &expected);
    }
    // Tags show up on the resource too.
    let got = client
        .get_room()
        .identifier(room.arn().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(got.tags().unwrap().len(), 2);

    // 50 tags at most, counting the ones already there.
    let mut request = client.tag_resource().resource_arn(room.arn().unwrap());
    for i in 0..49 {
        request = request.tags(format!("k{i}"), "v");
    }
    let err = request.send().await.unwrap_err().into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
    let tags = client
        .list_tags_for_resource()
        .resource_arn(room.arn().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags.tags().len(),
        2,
        "a refused TagResource changes nothing"
    );

    let err = client
        .tag_resource()
        .resource_arn(room.arn().unwrap())
        .tags("aws:reserved", "x")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_exception());

    client
        .delete_room()
        .identifier(room.arn().unwrap())
        .send()
        .await
        .unwrap();
    let err = client
        .list_tags_for_resource()
        .resource_arn(room.arn().unwrap())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception());
    let err = client
        .untag_resource()
        .resource_arn(room.arn().unwrap())
        .tag_keys("a")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception());
}

#[tokio::test]
async fn create_chat_token_returns_a_token_and_expirations() {
    let server = TestServer::start().await;
    let client = server.client();
    let room = client.create_room().send().await.unwrap();
    let out = client
        .create_chat_token()
        .room_identifier(room.arn().unwrap())
        .user_id("viewer-1")
        .capabilities(ChatTokenCapability::SendMessage)
        .session_duration_in_minutes(30)
        .attributes("displayName", "Sam")
        .send()
        .await
        .unwrap();
    let token = out.token().unwrap();
    assert!(token
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    let token_life = out.token_expiration_time().unwrap().secs() - aws_smithy_types_now();
    assert!((55..=61).contains(&token_life), "{token_life}");
    let session_life = out.session_expiration_time().unwrap().secs() - aws_smithy_types_now();
    assert!(
        (30 * 60 - 5..=30 * 60 + 1).contains(&session_life),
        "{session_life}"
    );

    let default_session = client
        .create_chat_token()
        .room_identifier(room.arn().unwrap())
        .user_id("viewer-2")
        .send()
        .await
        .unwrap();
    let session_life =
        default_session.session_expiration_time().unwrap().secs() - aws_smithy_types_now();
    assert!((3595..=3601).contains(&session_life), "{session_life}");

    let err = client
        .create_chat_token()
        .room_identifier(room.arn().unwrap())
        .user_id("u")
        .session_duration_in_minutes(181)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_exception());
    let err = client
        .create_chat_token()
        .room_identifier(room.arn().unwrap())
        .user_id("u")
        .attributes("big", "x".repeat(1100))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_exception());
    client
        .delete_room()
        .identifier(room.arn().unwrap())
        .send()
        .await
        .unwrap();
    let err = client
        .create_chat_token()
        .room_identifier(room.arn().unwrap())
        .user_id("u")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception());
}

#[tokio::test]
async fn send_event_delete_message_disconnect_user() {
    let server = TestServer::start().await;
    let client = server.client();
    let room = client.create_room().send().await.unwrap();
    let arn = room.arn().unwrap();
    let event = client
        .send_event()
        .room_identifier(arn)
        .event_name("app:custom")
        .attributes("k", "v")
        .send()
        .await
        .unwrap();
    assert!(is_id(event.id().unwrap()));
    let deleted = client
        .delete_message()
        .room_identifier(arn)
        .id(event.id().unwrap())
        .reason("spam")
        .send()
        .await
        .unwrap();
    assert!(is_id(deleted.id().unwrap()));
    assert_ne!(deleted.id(), event.id());
    client
        .disconnect_user()
        .room_identifier(arn)
        .user_id("someone")
        .reason("bye")
        .send()
        .await
        .unwrap();

    let err = client
        .delete_message()
        .room_identifier(arn)
        .id("short")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_exception());
    let err = client
        .send_event()
        .room_identifier(arn)
        .event_name("x".repeat(101))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_exception());
    client.delete_room().identifier(arn).send().await.unwrap();
    let err = client
        .send_event()
        .room_identifier(arn)
        .event_name("e")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception());
    let err = client
        .disconnect_user()
        .room_identifier(arn)
        .user_id("u")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception());
}

#[tokio::test]
async fn wrong_credentials_are_refused() {
    let server = TestServer::start().await;
    let err = server
        .client_with("test", "wrong-secret")
        .list_rooms()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 403);
    assert_eq!(err.code(), Some("InvalidSignatureException"));
    let err = server
        .client_with("AKIDUNKNOWN", "x")
        .list_rooms()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("UnrecognizedClientException"));
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let server = TestServer::start().await;
    let client = server.client();
    use aws_sdk_ivschat::operation::RequestId;
    let ok = client.list_rooms().send().await.unwrap();
    assert!(ok.request_id().is_some_and(|id| id.len() == 36));
    let err = client
        .get_room()
        .identifier("arn:aws:ivschat:us-east-1:000000000000:room/AAAAAAAAAAAA")
        .send()
        .await
        .unwrap_err();
    assert!(err.request_id().is_some());
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path()).await;
    let client = server.client();
    let logging = new_logging(&client, "persist").await;
    let room = client
        .create_room()
        .name("persisted")
        .tags("t", "1")
        .logging_configuration_identifiers(&logging)
        .send()
        .await
        .unwrap();
    let before = client
        .get_room()
        .identifier(room.arn().unwrap())
        .send()
        .await
        .unwrap();
    server.stop().await;

    let server = TestServer::start_in(dir.path()).await;
    let client = server.client();
    let after = client
        .get_room()
        .identifier(room.arn().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        format!("{before:?}"),
        format!("{after:?}").replace(
            &format!("{:?}", after.request_id_debug()),
            &format!("{:?}", before.request_id_debug()),
        )
    );
    assert_eq!(after.name(), Some("persisted"));
    assert_eq!(
        after.logging_configuration_identifiers(),
        std::slice::from_ref(&logging)
    );
    let logging_after = client
        .get_logging_configuration()
        .identifier(&logging)
        .send()
        .await
        .unwrap();
    assert_eq!(logging_after.name(), Some("persist"));
}

trait RequestIdDebug {
    fn request_id_debug(&self) -> Option<String>;
}

impl RequestIdDebug for aws_sdk_ivschat::operation::get_room::GetRoomOutput {
    fn request_id_debug(&self) -> Option<String> {
        use aws_sdk_ivschat::operation::RequestId;
        self.request_id().map(String::from)
    }
}
