//! Raw HTTP against an in-process server: what no SDK would send (malformed JSON, wrong
//! types, bad unions, wrong media types, unknown routes, missing auth) gets the 4xx answer
//! of `docs/protocol/control-plane.md` §6 and §10, with `X-Amzn-Errortype`, a JSON `message` and a
//! request id; never a 5xx.

mod common;

use common::raw::{post_json, send, RawResponse};
use common::TestServer;

fn assert_error(r: &RawResponse, status: u16, error_type: &str) {
    assert_eq!(r.status, status, "{} {}", r.error_type(), r.body);
    assert_eq!(r.error_type(), error_type, "{}", r.body);
    assert!(
        r.json()["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error body has a message: {}",
        r.body
    );
    assert!(r.headers.contains_key("x-amzn-requestid"));
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(
        r.json()["__type"],
        error_type,
        "the body names the type too"
    );
}

#[tokio::test]
async fn malformed_bodies_are_serialization_exceptions() {
    let server = TestServer::start().await;
    let endpoint = server.endpoint();
    for body in [
        "{",
        "[]",
        "null",
        "42",
        "\"room\"",
        "{\"name\":\"a\"} trailing",
        "{'name':'a'}",
        "{\"name\":\"a\" /* comment */}",
        "{\"maximumMessageLength\":\"5\"}",
        "{\"maximumMessageLength\":5.5}",
        "{\"maximumMessageLength\":9223372000000000000}",
        "{\"maximumMessageLength\":2147483648}",
        "{\"maximumMessageLength\":true}",
        "{\"name\":5}",
        "{\"tags\":[]}",
        "{\"tags\":{\"a\":1}}",
        "{\"tags\":{\"a\":null}}",
        "{\"loggingConfigurationIdentifiers\":\"arn\"}",
        "{\"loggingConfigurationIdentifiers\":[null]}",
        "{\"messageReviewHandler\":[]}",
    ] {
        let r = post_json(&endpoint, "CreateRoom", body).await;
        assert_error(&r, 400, "SerializationException");
    }
}

#[tokio::test]
async fn unions_need_exactly_one_known_member() {
    let server = TestServer::start().await;
    let endpoint = server.endpoint();
    for body in [
        r#"{"destinationConfiguration":{}}"#,
        r#"{"destinationConfiguration":{"s3":{"bucketName":"abc"},"firehose":{"deliveryStreamName":"x"}}}"#,
        r#"{"destinationConfiguration":{"kinesis":{"streamName":"x"}}}"#,
        r#"{"destinationConfiguration":["s3"]}"#,
        r#"{"destinationConfiguration":"s3"}"#,
    ] {
        let r = post_json(&endpoint, "CreateLoggingConfiguration", body).await;
        assert_error(&r, 400, "SerializationException");
    }
    // A null union member counts as absent.
    let r = post_json(
        &endpoint,
        "CreateLoggingConfiguration",
        r#"{"destinationConfiguration":{"s3":{"bucketName":"abc"},"firehose":null}}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["destinationConfiguration"],
        serde_json::json!({"s3":{"bucketName":"abc"}})
    );
    // A missing required union is a validation error, not a serialization one.
    let r = post_json(&endpoint, "CreateLoggingConfiguration", "{}").await;
    assert_error(&r, 400, "ValidationException");
}

#[tokio::test]
async fn validation_exception_body_shape() {
    let server = TestServer::start().await;
    let r = post_json(
        &server.endpoint(),
        "CreateRoom",
        r#"{"maximumMessageLength":501}"#,
    )
    .await;
    assert_error(&r, 400, "ValidationException");
    let body = r.json();
    assert_eq!(body["reason"], "FIELD_VALIDATION_FAILED");
    assert_eq!(body["fieldList"][0]["name"], "/maximumMessageLength");
    assert_eq!(
        body["message"],
        "1 validation error detected. Value 501 at '/maximumMessageLength' failed to satisfy \
         constraint: Member must be between 1 and 500, inclusive"
    );
    let r = post_json(&server.endpoint(), "GetRoom", "{}").await;
    assert_error(&r, 400, "ValidationException");
    assert_eq!(r.json()["fieldList"][0]["name"], "/identifier");
}

#[tokio::test]
async fn sensitive_values_are_never_echoed() {
    let server = TestServer::start().await;
    let secret_user = "SECRETUSER".repeat(13);
    let body = serde_json::json!({
        "roomIdentifier": "arn:aws:ivschat:us-east-1:000000000000:room/AAAAAAAAAAAA",
        "userId": secret_user,
    });
    let r = post_json(&server.endpoint(), "CreateChatToken", &body.to_string()).await;
    assert_error(&r, 400, "ValidationException");
    assert!(!r.body.contains("SECRETUSER"), "{}", r.body);
}

#[tokio::test]
async fn null_members_are_absent_and_empty_bodies_are_empty_objects() {
    let server = TestServer::start().await;
    let endpoint = server.endpoint();
    let r = post_json(
        &endpoint,
        "CreateRoom",
        r#"{"name":null,"tags":null,"unknownMember":1}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["name"], "");
    let r = send(&endpoint, "POST", "/CreateRoom", &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let room = r.json();
    // Times are RFC 3339 strings in UTC with milliseconds, never epoch numbers.
    let created = room["createTime"].as_str().unwrap();
    assert!(created.ends_with('Z') && created.len() == 24, "{created}");
    let r = send(&endpoint, "POST", "/ListRooms", &[], b"").await;
    assert_eq!(r.status, 200);
    assert!(
        r.json().get("nextToken").is_none(),
        "no token on the last page"
    );
}

#[tokio::test]
async fn status_codes_and_bodies_of_successes() {
    let server = TestServer::start().await;
    let endpoint = server.endpoint();
    let room = post_json(&endpoint, "CreateRoom", "{}").await.json();
    let arn = room["arn"].as_str().unwrap();
    let r = post_json(
        &endpoint,
        "DisconnectUser",
        &serde_json::json!({"roomIdentifier": arn, "userId": "u"}).to_string(),
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (200, "{}"));
    let r = post_json(
        &endpoint,
        "DeleteRoom",
        &serde_json::json!({"identifier": arn}).to_string(),
    )
    .await;
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert!(r.headers.contains_key("x-amzn-requestid"));
}

#[tokio::test]
async fn media_types_are_checked() {
    let server = TestServer::start().await;
    let endpoint = server.endpoint();
    let r = send(
        &endpoint,
        "POST",
        "/CreateRoom",
        &[("content-type", "text/plain")],
        b"{}",
    )
    .await;
    assert_error(&r, 415, "UnsupportedMediaTypeException");
    let r = send(&endpoint, "POST", "/CreateRoom", &[], b"{}").await;
    assert_error(&r, 415, "UnsupportedMediaTypeException");
    let r = send(
        &endpoint,
        "POST",
        "/CreateRoom",
        &[
            ("content-type", "application/json"),
            ("accept", "text/html"),
        ],
        b"{}",
    )
    .await;
    assert_error(&r, 406, "NotAcceptableException");
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let server = TestServer::start().await;
    let endpoint = server.endpoint();
    let r = post_json(&endpoint, "CreateChannel", "{}").await;
    assert_error(&r, 404, "UnknownOperationException");
    let r = send(&endpoint, "GET", "/CreateRoom", &[], b"").await;
    assert_error(&r, 404, "UnknownOperationException");
    let r = send(&endpoint, "PUT", "/tags/x", &[], b"").await;
    assert_error(&r, 404, "UnknownOperationException");
}

#[tokio::test]
async fn unsigned_and_oversized_requests() {
    let server = TestServer::start().await;
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{}/ListRooms", server.endpoint()))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(
        r.headers()["x-amzn-errortype"],
        "MissingAuthenticationTokenException"
    );
    let r = client
        .post(format!("{}/ListRooms", server.endpoint()))
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/ivschat/aws4_request",
        )
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["x-amzn-errortype"],
        "IncompleteSignatureException"
    );

    let huge = format!("{{\"name\":\"{}\"}}", "a".repeat(300 * 1024));
    let r = post_json(&server.endpoint(), "CreateRoom", &huge).await;
    assert_eq!(r.status, 413);
    assert!(r.headers.contains_key("x-amzn-errortype"));
}

#[tokio::test]
async fn openapi_client_quirks_are_tolerated() {
    let server = TestServer::start().await;
    let endpoint = server.endpoint();
    let room = post_json(&endpoint, "CreateRoom", r#"{"tags":{"a":"1","b":"2"}}"#)
        .await
        .json();
    let arn = room["arn"].as_str().unwrap();
    let encoded: String = arn
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    // The OpenAPI UntagResource path ends in the `#tagKeys` marker.
    let r = send(
        &endpoint,
        "DELETE",
        &format!("/tags/{encoded}%23tagKeys?tagKeys=a"),
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // An unencoded ARN in the label works too (greedy label).
    let r = send(&endpoint, "GET", &format!("/tags/{arn}"), &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["tags"], serde_json::json!({"b":"2"}));
    // UntagResource without any tagKeys: the required member is missing.
    let r = send(&endpoint, "DELETE", &format!("/tags/{encoded}"), &[], b"").await;
    assert_error(&r, 400, "ValidationException");

    // Pagination members given as query parameters (body wins when both are present).
    post_json(&endpoint, "CreateRoom", "{}").await;
    let r = send(
        &endpoint,
        "POST",
        "/ListRooms?maxResults=1",
        &[("content-type", "application/json")],
        b"{}",
    )
    .await;
    assert_eq!(r.json()["rooms"].as_array().unwrap().len(), 1);
    let token = r.json()["nextToken"].as_str().unwrap().to_string();
    let r = send(
        &endpoint,
        "POST",
        &format!("/ListRooms?nextToken={token}"),
        &[("content-type", "application/json")],
        br#"{"maxResults":5}"#,
    )
    .await;
    assert_eq!(r.json()["rooms"].as_array().unwrap().len(), 1);
    assert!(r.json().get("nextToken").is_none());
}

#[tokio::test]
async fn cors_preflight_and_exposed_headers() {
    let server = TestServer::start().await;
    let client = reqwest::Client::new();
    let r = client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/CreateRoom", server.endpoint()),
        )
        .header("origin", "http://app.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert!(r.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("X-Amz-Date"));
}
