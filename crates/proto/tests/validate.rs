//! Model-driven input validation (`ivschat_proto::validate`), one failing and one boundary-
//! passing case per constraint kind, plus the restJson1 type rules.

use ivschat_proto::model::{model, ShapeKind};
use ivschat_proto::validate::{validate_input, FieldError, InputError};
use serde_json::{json, Value};

const ROOM: &str = "arn:aws:ivschat:us-west-2:123456789012:room/g1H2I3j4k5L6";
const LOGCFG: &str = "arn:aws:ivschat:us-west-2:123456789012:logging-configuration/ABcdef34ghIJ";

fn ok(op: &str, input: Value) {
    if let Err(e) = validate_input(op, &input) {
        panic!("{op} {input} should pass, got {e:?}");
    }
}

fn fields(op: &str, input: Value) -> (String, Vec<FieldError>) {
    match validate_input(op, &input) {
        Err(InputError::Validation { message, fields }) => (message, fields),
        other => panic!("{op} {input}: expected Validation, got {other:?}"),
    }
}

/// Exactly one field error: returns (path, field message), and checks the overall message.
fn one(op: &str, input: Value) -> (String, String) {
    let (message, fields) = fields(op, input);
    assert_eq!(fields.len(), 1, "{fields:?}");
    let f = fields.into_iter().next().unwrap();
    assert_eq!(
        message,
        format!("1 validation error detected. {}", f.message)
    );
    (f.name, f.message)
}

fn serialization(op: &str, input: Value) -> String {
    match validate_input(op, &input) {
        Err(InputError::Serialization { message }) => message,
        other => panic!("{op} {input}: expected Serialization, got {other:?}"),
    }
}

#[test]
fn every_model_operation_is_known() {
    let mut n = 0;
    for op in model().operations() {
        n += 1;
        // Unknown operation would be an error of its own kind, never a validation result.
        match validate_input(&op.name, &json!({})) {
            Ok(()) | Err(InputError::Validation { .. }) => {}
            Err(e) => panic!("{}: {e:?}", op.name),
        }
    }
    assert_eq!(n, 17);
    assert!(matches!(
        validate_input("NoSuchOperation", &json!({})),
        Err(InputError::UnknownOperation { .. })
    ));
}

#[test]
fn empty_create_room_passes() {
    ok("CreateRoom", json!({}));
    ok("ListRooms", json!({}));
    ok("ListLoggingConfigurations", json!({}));
}

#[test]
fn full_create_room_passes() {
    ok(
        "CreateRoom",
        json!({
            "name": "my-room_1",
            "maximumMessageRatePerSecond": 100,
            "maximumMessageLength": 500,
            "messageReviewHandler": {"uri": "arn:aws:lambda:us-east-1:123456789012:function:f", "fallbackResult": "DENY"},
            "tags": {"k": "v", "empty": ""},
            "loggingConfigurationIdentifiers": [LOGCFG, LOGCFG, LOGCFG],
            "unknownMember": {"ignored": [1, 2, 3]}
        }),
    );
}

#[test]
fn body_must_be_an_object() {
    for body in [json!([]), json!(null), json!(1), json!("x")] {
        serialization("CreateRoom", body);
    }
}

// ---- required / null ------------------------------------------------------------------

#[test]
fn absent_required_member() {
    let (message, fields) = fields("CreateChatToken", json!({}));
    assert_eq!(
        fields,
        vec![
            FieldError {
                name: "/roomIdentifier".into(),
                message: "Value null at '/roomIdentifier' failed to satisfy constraint: Member must not be null".into(),
            },
            FieldError {
                name: "/userId".into(),
                message: "Value null at '/userId' failed to satisfy constraint: Member must not be null".into(),
            },
        ]
    );
    assert_eq!(
        message,
        "2 validation errors detected. \
         Value null at '/roomIdentifier' failed to satisfy constraint: Member must not be null; \
         Value null at '/userId' failed to satisfy constraint: Member must not be null"
    );
}

#[test]
fn null_required_member_is_must_not_be_null() {
    let (path, msg) = one("GetRoom", json!({"identifier": null}));
    assert_eq!(path, "/identifier");
    assert_eq!(
        msg,
        "Value null at '/identifier' failed to satisfy constraint: Member must not be null"
    );
}

#[test]
fn null_optional_member_is_absent() {
    ok(
        "CreateRoom",
        json!({"name": null, "maximumMessageLength": null, "tags": null,
               "messageReviewHandler": {"uri": null, "fallbackResult": null}}),
    );
}

#[test]
fn untag_requires_tag_keys() {
    let (path, _) = one("UntagResource", json!({"resourceArn": ROOM}));
    assert_eq!(path, "/tagKeys");
    ok(
        "UntagResource",
        json!({"resourceArn": ROOM, "tagKeys": ["a"]}),
    );
    ok("UntagResource", json!({"resourceArn": ROOM, "tagKeys": []}));
}

// ---- string length (code points) ------------------------------------------------------

#[test]
fn string_length_counts_code_points() {
    // UserID is 1..128: one emoji is length 1 (4 bytes), 128 emoji pass.
    ok(
        "DisconnectUser",
        json!({"roomIdentifier": ROOM, "userId": "👍"}),
    );
    ok(
        "DisconnectUser",
        json!({"roomIdentifier": ROOM, "userId": "👍".repeat(128)}),
    );
    let (path, msg) = one(
        "DisconnectUser",
        json!({"roomIdentifier": ROOM, "userId": "👍".repeat(129)}),
    );
    assert_eq!(path, "/userId");
    assert_eq!(
        msg,
        "Value with length 129 at '/userId' failed to satisfy constraint: Member must have length between 1 and 128, inclusive"
    );
    let (_, msg) = one(
        "DisconnectUser",
        json!({"roomIdentifier": ROOM, "userId": ""}),
    );
    assert_eq!(
        msg,
        "Value with length 0 at '/userId' failed to satisfy constraint: Member must have length between 1 and 128, inclusive"
    );
}

#[test]
fn event_name_and_reason_lengths() {
    ok(
        "SendEvent",
        json!({"roomIdentifier": ROOM, "eventName": "e".repeat(100)}),
    );
    let (path, _) = one(
        "SendEvent",
        json!({"roomIdentifier": ROOM, "eventName": "e".repeat(101)}),
    );
    assert_eq!(path, "/eventName");
    let (path, _) = one(
        "DeleteMessage",
        json!({"roomIdentifier": ROOM, "id": "abcdefABCDEF", "reason": ""}),
    );
    assert_eq!(path, "/reason");
}

#[test]
fn message_id_is_exactly_12() {
    ok(
        "DeleteMessage",
        json!({"roomIdentifier": ROOM, "id": "abcdefABCDEF"}),
    );
    let (_, msg) = one(
        "DeleteMessage",
        json!({"roomIdentifier": ROOM, "id": "abcdefABCDE"}),
    );
    assert_eq!(
        msg,
        "Value with length 11 at '/id' failed to satisfy constraint: Member must have length between 12 and 12, inclusive"
    );
}

// ---- pattern --------------------------------------------------------------------------

#[test]
fn room_name_pattern() {
    ok("CreateRoom", json!({"name": ""}));
    ok("CreateRoom", json!({"name": "a".repeat(128)}));
    let (path, msg) = one("CreateRoom", json!({"name": "has space"}));
    assert_eq!(path, "/name");
    assert_eq!(
        msg,
        "Value at '/name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9-_]*$"
    );
    assert!(!msg.contains("has space"), "string values are not echoed");
}

#[test]
fn bare_id_is_not_an_identifier() {
    let (path, msg) = one("GetRoom", json!({"identifier": "g1H2I3j4k5L6"}));
    assert_eq!(path, "/identifier");
    assert!(msg.ends_with(
        "Member must satisfy regular expression pattern: ^arn:aws:ivschat:[a-z0-9-]+:[0-9]+:room/[a-zA-Z0-9-]+$"
    ));
    ok("GetRoom", json!({"identifier": ROOM}));
    // A logging-configuration ARN is not a room identifier, and vice versa.
    one("GetRoom", json!({"identifier": LOGCFG}));
    one("GetLoggingConfiguration", json!({"identifier": ROOM}));
    ok("GetLoggingConfiguration", json!({"identifier": LOGCFG}));
    // Whole-string match: no prefix or suffix.
    one("GetRoom", json!({"identifier": format!("{ROOM}/x")}));
    one("GetRoom", json!({"identifier": format!(" {ROOM}")}));
}

#[test]
fn empty_identifier_fails_length_and_pattern() {
    let (message, fields) = fields("DeleteRoom", json!({"identifier": ""}));
    assert_eq!(fields.len(), 2);
    assert!(fields.iter().all(|f| f.name == "/identifier"));
    assert!(fields[0]
        .message
        .starts_with("Value with length 0 at '/identifier'"));
    assert!(fields[1].message.contains("regular expression pattern"));
    assert!(message.starts_with("2 validation errors detected. Value with length 0"));
}

#[test]
fn resource_arn_override_accepts_both_resource_types() {
    ok("ListTagsForResource", json!({"resourceArn": ROOM}));
    ok("ListTagsForResource", json!({"resourceArn": LOGCFG}));
    ok(
        "TagResource",
        json!({"resourceArn": ROOM, "tags": {"a": "b"}}),
    );
    let (path, msg) = one(
        "ListTagsForResource",
        json!({"resourceArn": "g1H2I3j4k5L6"}),
    );
    assert_eq!(path, "/resourceArn");
    assert!(msg.ends_with("pattern: ^arn:aws:ivschat:[a-z0-9-]+:[0-9]+:[a-z-]+/[a-zA-Z0-9-]+$"));
    one(
        "ListTagsForResource",
        json!({"resourceArn": "arn:aws-cn:ivschat:cn-north-1:123456789012:room/g1H2I3j4k5L6"}),
    );
}

#[test]
fn lambda_arn_pattern() {
    for uri in ["", "arn:aws:lambda:us-east-1:123456789012:function:f"] {
        ok("CreateRoom", json!({"messageReviewHandler": {"uri": uri}}));
        ok("ListRooms", json!({"messageReviewHandlerUri": uri}));
    }
    for junk in [
        "junk",
        "arn:aws:lambda:us-east-1:123:function:f",
        "arn:aws:lambda:us-east-1:123456789012:function:",
    ] {
        let (path, msg) = one("CreateRoom", json!({"messageReviewHandler": {"uri": junk}}));
        assert_eq!(path, "/messageReviewHandler/uri");
        assert!(msg.contains("regular expression pattern"), "{msg}");
    }
    let (_, msg) = one(
        "UpdateRoom",
        json!({"identifier": ROOM, "messageReviewHandler": {"uri": format!("arn:aws:lambda:us-east-1:123456789012:function:{}", "f".repeat(200))}}),
    );
    assert!(msg.contains("Member must have length between 0 and 170, inclusive"));
}

#[test]
fn destination_patterns() {
    ok(
        "CreateLoggingConfiguration",
        json!({"destinationConfiguration": {"s3": {"bucketName": "my.bucket-1"}}}),
    );
    let (path, _) = one(
        "CreateLoggingConfiguration",
        json!({"destinationConfiguration": {"s3": {"bucketName": "My_Bucket"}}}),
    );
    assert_eq!(path, "/destinationConfiguration/s3/bucketName");
    ok(
        "CreateLoggingConfiguration",
        json!({"destinationConfiguration": {"cloudWatchLogs": {"logGroupName": "/aws/ivs#chat.x-y_z"}}}),
    );
    let (path, msg) = one(
        "CreateLoggingConfiguration",
        json!({"destinationConfiguration": {"firehose": {}}}),
    );
    assert_eq!(
        path,
        "/destinationConfiguration/firehose/deliveryStreamName"
    );
    assert!(msg.starts_with("Value null at"));
}

// ---- enum -----------------------------------------------------------------------------

#[test]
fn enum_values() {
    ok(
        "CreateRoom",
        json!({"messageReviewHandler": {"fallbackResult": "ALLOW"}}),
    );
    let (path, msg) = one(
        "CreateRoom",
        json!({"messageReviewHandler": {"fallbackResult": "FOO"}}),
    );
    assert_eq!(path, "/messageReviewHandler/fallbackResult");
    assert_eq!(
        msg,
        "Value at '/messageReviewHandler/fallbackResult' failed to satisfy constraint: Member must satisfy enum value set: [ALLOW, DENY]"
    );
    // Enum values are case-sensitive.
    one(
        "CreateRoom",
        json!({"messageReviewHandler": {"fallbackResult": "allow"}}),
    );
}

#[test]
fn enum_list_items() {
    ok(
        "CreateChatToken",
        json!({"roomIdentifier": ROOM, "userId": "u",
               "capabilities": ["SEND_MESSAGE", "DISCONNECT_USER", "DELETE_MESSAGE"]}),
    );
    ok(
        "CreateChatToken",
        json!({"roomIdentifier": ROOM, "userId": "u", "capabilities": []}),
    );
    let (path, msg) = one(
        "CreateChatToken",
        json!({"roomIdentifier": ROOM, "userId": "u", "capabilities": ["SEND_MESSAGE", "VIEW"]}),
    );
    assert_eq!(path, "/capabilities/1");
    assert!(msg.ends_with("[SEND_MESSAGE, DISCONNECT_USER, DELETE_MESSAGE]"));
}

// ---- integer range and type -----------------------------------------------------------

#[test]
fn message_rate_range() {
    for n in [1, 100] {
        ok("CreateRoom", json!({"maximumMessageRatePerSecond": n}));
    }
    for n in [0, 101, -1] {
        let (path, msg) = one("CreateRoom", json!({"maximumMessageRatePerSecond": n}));
        assert_eq!(path, "/maximumMessageRatePerSecond");
        assert_eq!(
            msg,
            format!("Value {n} at '/maximumMessageRatePerSecond' failed to satisfy constraint: Member must be between 1 and 100, inclusive")
        );
    }
}

#[test]
fn message_length_and_session_duration_ranges() {
    let (_, msg) = one("CreateRoom", json!({"maximumMessageLength": 0}));
    assert_eq!(
        msg,
        "Value 0 at '/maximumMessageLength' failed to satisfy constraint: Member must be between 1 and 500, inclusive"
    );
    ok(
        "CreateChatToken",
        json!({"roomIdentifier": ROOM, "userId": "u", "sessionDurationInMinutes": 180}),
    );
    let (path, msg) = one(
        "CreateChatToken",
        json!({"roomIdentifier": ROOM, "userId": "u", "sessionDurationInMinutes": 181}),
    );
    assert_eq!(path, "/sessionDurationInMinutes");
    assert!(msg.starts_with("Value 181 at '/sessionDurationInMinutes'"));
    ok("ListRooms", json!({"maxResults": 50}));
    one("ListRooms", json!({"maxResults": 51}));
}

#[test]
fn integer_type_errors_are_serialization() {
    for bad in [
        json!("5"),
        json!(5.0),
        json!(1.5),
        json!(1e2),
        json!(9223372000000000000u64),
        json!(18446744073709551615u64),
        json!(2147483648i64),
        json!(-2147483649i64),
        json!(true),
        json!([5]),
        json!({"n": 5}),
    ] {
        let msg = serialization("CreateRoom", json!({"maximumMessageLength": bad}));
        assert!(msg.contains("'/maximumMessageLength'"), "{msg}");
    }
    // i32 bounds themselves are integers; the range check then applies.
    let (_, msg) = one("CreateRoom", json!({"maximumMessageLength": 2147483647}));
    assert!(msg.starts_with("Value 2147483647 at"));
}

// ---- lists and maps -------------------------------------------------------------------

#[test]
fn tags_entry_count() {
    let fifty: serde_json::Map<String, Value> =
        (0..50).map(|i| (format!("k{i}"), json!("v"))).collect();
    ok("CreateRoom", json!({"tags": fifty}));
    let fifty_one: serde_json::Map<String, Value> =
        (0..51).map(|i| (format!("k{i}"), json!("v"))).collect();
    let (path, msg) = one("CreateRoom", json!({"tags": fifty_one}));
    assert_eq!(path, "/tags");
    assert_eq!(
        msg,
        "Value with length 51 at '/tags' failed to satisfy constraint: Member must have length between 0 and 50, inclusive"
    );
    ok("TagResource", json!({"resourceArn": ROOM, "tags": {}}));
}

#[test]
fn tag_key_and_value_lengths() {
    ok(
        "CreateRoom",
        json!({"tags": {"k".repeat(128): "v".repeat(256)}}),
    );
    // Key violations are reported at the map (Smithy protocol test RestJsonMalformedLengthMapKey).
    let (path, msg) = one("CreateRoom", json!({"tags": {"k".repeat(129): "v"}}));
    assert_eq!(path, "/tags");
    assert_eq!(
        msg,
        "Value with length 129 at '/tags' failed to satisfy constraint: Member must have length between 1 and 128, inclusive"
    );
    one("CreateRoom", json!({"tags": {"": "v"}}));
    // Value violations at /tags/<key>, JSON-pointer escaped.
    let (path, msg) = one("CreateRoom", json!({"tags": {"a/b": "v".repeat(257)}}));
    assert_eq!(path, "/tags/a~1b");
    assert!(msg.starts_with("Value with length 257 at '/tags/a~1b'"));
}

#[test]
fn tag_key_list() {
    let fifty: Vec<String> = (0..50).map(|i| format!("k{i}")).collect();
    ok(
        "UntagResource",
        json!({"resourceArn": ROOM, "tagKeys": fifty}),
    );
    let fifty_one: Vec<String> = (0..51).map(|i| format!("k{i}")).collect();
    let (path, _) = one(
        "UntagResource",
        json!({"resourceArn": ROOM, "tagKeys": fifty_one}),
    );
    assert_eq!(path, "/tagKeys");
    let (path, _) = one(
        "UntagResource",
        json!({"resourceArn": ROOM, "tagKeys": ["ok", ""]}),
    );
    assert_eq!(path, "/tagKeys/1");
}

#[test]
fn logging_identifier_list() {
    ok(
        "UpdateRoom",
        json!({"identifier": ROOM, "loggingConfigurationIdentifiers": []}),
    );
    let (path, msg) = one(
        "UpdateRoom",
        json!({"identifier": ROOM, "loggingConfigurationIdentifiers": [LOGCFG, LOGCFG, LOGCFG, LOGCFG]}),
    );
    assert_eq!(path, "/loggingConfigurationIdentifiers");
    assert_eq!(
        msg,
        "Value with length 4 at '/loggingConfigurationIdentifiers' failed to satisfy constraint: Member must have length between 0 and 3, inclusive"
    );
    let (path, _) = one(
        "CreateRoom",
        json!({"loggingConfigurationIdentifiers": [LOGCFG, ROOM]}),
    );
    assert_eq!(path, "/loggingConfigurationIdentifiers/1");
}

#[test]
fn list_and_map_type_errors_are_serialization() {
    let cases = [
        (
            "CreateRoom",
            json!({"loggingConfigurationIdentifiers": LOGCFG}),
        ),
        (
            "CreateRoom",
            json!({"loggingConfigurationIdentifiers": [LOGCFG, null]}),
        ),
        (
            "CreateRoom",
            json!({"loggingConfigurationIdentifiers": [1]}),
        ),
        ("CreateRoom", json!({"tags": ["a"]})),
        ("CreateRoom", json!({"tags": {"a": 1}})),
        ("CreateRoom", json!({"tags": {"a": null}})),
        ("CreateRoom", json!({"tags": {"a": {"b": "c"}}})),
        ("CreateRoom", json!({"name": 5})),
        ("CreateRoom", json!({"messageReviewHandler": "x"})),
        (
            "SendEvent",
            json!({"roomIdentifier": ROOM, "eventName": "e", "attributes": {"k": 1}}),
        ),
        (
            "UntagResource",
            json!({"resourceArn": ROOM, "tagKeys": "a"}),
        ),
    ];
    for (op, input) in cases {
        serialization(op, input);
    }
}

// ---- unions ---------------------------------------------------------------------------

#[test]
fn union_rules() {
    let op = "CreateLoggingConfiguration";
    let s3 = json!({"bucketName": "bucket"});
    let cw = json!({"logGroupName": "group"});
    ok(op, json!({"destinationConfiguration": {"s3": s3}}));
    ok(
        op,
        json!({"destinationConfiguration": {"s3": s3, "firehose": null}}),
    );
    ok(
        op,
        json!({"destinationConfiguration": {"s3": s3, "__type": "x"}}),
    );
    for bad in [
        json!({}),
        json!({"s3": null}),
        json!({"s3": s3, "cloudWatchLogs": cw}),
        json!({"s3": s3, "unknown": "x"}),
        json!({"unknown": {"a": 1}}),
        json!(["s3"]),
        json!("s3"),
    ] {
        let msg = serialization(op, json!({"destinationConfiguration": bad}));
        assert!(msg.contains("'/destinationConfiguration'"), "{msg}");
    }
    // An absent optional union is fine; an absent required one is a validation error.
    ok("UpdateLoggingConfiguration", json!({"identifier": LOGCFG}));
    let (path, _) = one(op, json!({}));
    assert_eq!(path, "/destinationConfiguration");
}

// ---- ordering, precedence, sensitivity ------------------------------------------------

#[test]
fn serialization_wins_over_validation() {
    // `name` fails its pattern, then `tags` has a wrong type: the type error is reported.
    serialization("CreateRoom", json!({"name": "bad name", "tags": {"a": 1}}));
    serialization(
        "CreateChatToken",
        json!({"userId": "", "sessionDurationInMinutes": "60"}),
    );
}

#[test]
fn errors_in_model_member_order() {
    let (message, fields) = fields(
        "UpdateRoom",
        json!({
            "loggingConfigurationIdentifiers": [LOGCFG, LOGCFG, LOGCFG, LOGCFG],
            "maximumMessageLength": 501,
            "name": "bad name",
            "messageReviewHandler": {"fallbackResult": "X", "uri": "x"},
        }),
    );
    let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "/identifier",
            "/name",
            "/maximumMessageLength",
            "/messageReviewHandler/uri",
            "/messageReviewHandler/fallbackResult",
            "/loggingConfigurationIdentifiers",
        ]
    );
    assert!(message.starts_with("6 validation errors detected. Value null at '/identifier'"));
    let joined: Vec<&str> = fields.iter().map(|f| f.message.as_str()).collect();
    assert_eq!(
        message,
        format!("6 validation errors detected. {}", joined.join("; "))
    );
}

#[test]
fn sensitive_values_never_echoed() {
    let secret = "s3cr3t-user-id-".repeat(20);
    let (_, msg) = one(
        "CreateChatToken",
        json!({"roomIdentifier": ROOM, "userId": secret}),
    );
    assert!(msg.starts_with("Value with length 300 at '/userId'"));
    assert!(!msg.contains("s3cr3t"));
    // Attribute values are in a sensitive map: even a type error does not name the key.
    let msg = serialization(
        "CreateChatToken",
        json!({"roomIdentifier": ROOM, "userId": "u", "attributes": {"secret-key": 1}}),
    );
    assert!(!msg.contains("secret-key"), "{msg}");
    ok(
        "CreateChatToken",
        json!({"roomIdentifier": ROOM, "userId": "u", "attributes": {"k": "v"}}),
    );
}

#[test]
fn huge_inputs_give_bounded_messages() {
    let huge = "x".repeat(1 << 20);
    let (_, msg) = one("CreateRoom", json!({"name": huge}));
    assert!(msg.len() < 300, "{}", msg.len());
    let msg = serialization(
        "CreateLoggingConfiguration",
        json!({"destinationConfiguration": {"s3": {"bucketName": "b"}, "y".repeat(100_000): 1}}),
    );
    assert!(msg.len() < 300, "{}", msg.len());
}

#[test]
fn model_constraints_are_what_the_tests_assume() {
    // Guard: if the model changes a bound used above, this names the shape that changed.
    let m = model();
    let ShapeKind::String(user) = &m.shape("UserID").unwrap().kind else {
        panic!()
    };
    assert_eq!((user.length.min, user.length.max), (Some(1), Some(128)));
    assert!(m.shape("UserID").unwrap().sensitive);
}
