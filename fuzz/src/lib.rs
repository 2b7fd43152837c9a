//! Helpers shared by the fuzz targets in `fuzz_targets/`.

use ivschat_proto::control::*;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A request written as text: `METHOD TARGET`, header lines `name: value`, a blank line, the
/// body. Header lines that are not valid HTTP are skipped (hyper would refuse the request).
pub struct TextRequest {
    pub method: String,
    pub target: String,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

pub fn parse_http_text(data: &[u8]) -> Option<TextRequest> {
    let split = data.windows(2).position(|w| w == b"\n\n");
    let (head, body) = match split {
        Some(i) => (&data[..i], data[i + 2..].to_vec()),
        None => (data, Vec::new()),
    };
    let head = std::str::from_utf8(head).ok()?;
    let mut lines = head.split('\n');
    let first = lines.next()?;
    let (method, target) = first.split_once(' ').unwrap_or((first, "/"));
    let mut headers = http::HeaderMap::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.trim().as_bytes()),
            http::HeaderValue::from_bytes(value.trim().as_bytes()),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    Some(TextRequest {
        method: method.to_string(),
        target: target.to_string(),
        headers,
        body,
    })
}

/// `null` members mean "absent": what `parse_input` does between validation and serde.
pub fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

fn de<T: DeserializeOwned>(v: Value) -> Result<(), String> {
    serde_json::from_value::<T>(v)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Deserialises `v` into the typed request the server uses for `operation`.
pub fn typed_input_ok(operation: &str, v: Value) -> Result<(), String> {
    match operation {
        "CreateChatToken" => de::<CreateChatTokenRequest>(v),
        "CreateLoggingConfiguration" => de::<CreateLoggingConfigurationRequest>(v),
        "CreateRoom" => de::<CreateRoomRequest>(v),
        "DeleteLoggingConfiguration" | "GetLoggingConfiguration" | "DeleteRoom" | "GetRoom" => {
            de::<IdentifierRequest>(v)
        }
        "DeleteMessage" => de::<DeleteMessageRequest>(v),
        "DisconnectUser" => de::<DisconnectUserRequest>(v),
        "ListLoggingConfigurations" => de::<ListLoggingConfigurationsRequest>(v),
        "ListRooms" => de::<ListRoomsRequest>(v),
        "ListTagsForResource" => de::<ListTagsForResourceRequest>(v),
        "SendEvent" => de::<SendEventRequest>(v),
        "TagResource" => de::<TagResourceRequest>(v),
        "UntagResource" => de::<UntagResourceRequest>(v),
        "UpdateLoggingConfiguration" => de::<UpdateLoggingConfigurationRequest>(v),
        "UpdateRoom" => de::<UpdateRoomRequest>(v),
        other => Err(format!("no typed request for operation {other}")),
    }
}
