//! Turning an HTTP request into an operation's typed input (`docs/protocol/control-plane.md` §1,
//! §6, §10): content negotiation, JSON parsing, placing the path label and query members, model
//! validation, then deserialisation.

use ivschat_proto::errors::{ErrorKind, ServiceError, ValidationField, ValidationReason};
use ivschat_proto::validate::{validate_input, InputError};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::route::{Operation, Routed};

/// Refuses a body that is not JSON (415) and an `Accept` that excludes JSON (406).
pub fn check_media_types(headers: &http::HeaderMap, body: &[u8]) -> Result<(), ServiceError> {
    if let Some(accept) = headers.get(http::header::ACCEPT) {
        let accept = accept.to_str().unwrap_or("");
        let acceptable = accept.split(',').any(|range| {
            let media = range.split(';').next().unwrap_or("").trim();
            media.is_empty()
                || media == "*/*"
                || media.eq_ignore_ascii_case("application/*")
                || media.eq_ignore_ascii_case("application/json")
        });
        if !acceptable {
            return Err(ServiceError::new(
                ErrorKind::NotAcceptable,
                format!("Accept: {accept:.100} does not allow application/json, the only type this service returns"),
            ));
        }
    }
    if body.is_empty() {
        return Ok(());
    }
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/json") {
        return Err(ServiceError::new(
            ErrorKind::UnsupportedMediaType,
            format!(
                "request bodies must be sent with Content-Type: application/json (got {:?})",
                truncate(content_type, 100)
            ),
        ));
    }
    Ok(())
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// Builds the operation's input object: the JSON body's members, plus `resourceArn` from the
/// path and `tagKeys` from the query; validates it against the model; deserialises it.
pub fn parse_input<T: DeserializeOwned>(
    routed: &Routed,
    raw_query: Option<&str>,
    body: &[u8],
) -> Result<T, ServiceError> {
    let mut input = if routed.operation.has_body() {
        parse_body(body)?
    } else {
        Map::new()
    };
    if let Some(arn) = &routed.resource_arn {
        input.insert("resourceArn".into(), Value::String(arn.clone()));
    }
    let query = parse_query(raw_query);
    match routed.operation {
        Operation::UntagResource => {
            let keys: Vec<Value> = query
                .iter()
                .filter(|(k, _)| k == "tagKeys")
                .map(|(_, v)| Value::String(v.clone()))
                .collect();
            // An SDK cannot serialise an empty list, so "no tagKeys" arrives as nothing at all;
            // the model then reports the required member as missing.
            if !keys.is_empty() {
                input.insert("tagKeys".into(), Value::Array(keys));
            }
        }
        Operation::ListRooms | Operation::ListLoggingConfigurations => {
            // The OpenAPI description also declares these as query parameters
            // (`docs/protocol/control-plane.md` §9); the body wins when both are given.
            for (key, value) in &query {
                if (key == "maxResults" || key == "nextToken") && !input.contains_key(key) {
                    let value = match (key.as_str(), value.parse::<i64>()) {
                        ("maxResults", Ok(n)) => Value::from(n),
                        _ => Value::String(value.clone()),
                    };
                    input.insert(key.clone(), value);
                }
            }
        }
        _ => {}
    }
    let mut input = Value::Object(input);
    validate_input(routed.operation.name(), &input).map_err(input_error)?;
    drop_nulls(&mut input);
    serde_json::from_value(input).map_err(|e| {
        ServiceError::new(
            ErrorKind::Serialization,
            format!(
                "the request body does not match the {} input: {e}",
                routed.operation.name()
            ),
        )
    })
}

/// `null` members mean "absent" (§1). Validation has already refused nulls inside lists and
/// maps, so removing every null object member leaves exactly what serde should see (a union
/// with `{"s3": {…}, "firehose": null}` then has its one member).
fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// An empty body is `{}`; anything else must be one JSON object.
pub(super) fn parse_body(body: &[u8]) -> Result<Map<String, Value>, ServiceError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(ServiceError::new(
            ErrorKind::Serialization,
            format!(
                "the request body must be a JSON object, not {}",
                json_type_name(&other)
            ),
        )),
        Err(e) => Err(ServiceError::new(
            ErrorKind::Serialization,
            format!("the request body is not valid JSON: {e}"),
        )),
    }
}

fn json_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `k=v&k2=v2` → decoded pairs, in order (repeated keys kept).
pub fn parse_query(raw_query: Option<&str>) -> Vec<(String, String)> {
    let Some(raw) = raw_query else {
        return Vec::new();
    };
    raw.split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            (decode_query_component(k), decode_query_component(v))
        })
        .collect()
}

fn decode_query_component(s: &str) -> String {
    // Query strings use `+` for space only in HTML forms; AWS SDKs send `%20`, so `+` is literal.
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn input_error(e: InputError) -> ServiceError {
    match e {
        InputError::Serialization { message } => {
            ServiceError::new(ErrorKind::Serialization, message)
        }
        InputError::UnknownOperation { operation } => ServiceError::new(
            ErrorKind::UnknownOperation,
            format!("unknown operation {operation}"),
        ),
        InputError::Validation { message, fields } => ServiceError::validation(
            ValidationReason::FieldValidationFailed,
            message,
            fields
                .into_iter()
                .map(|f| ValidationField {
                    name: f.name,
                    message: f.message,
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn media_types() {
        assert!(check_media_types(&headers(&[]), b"").is_ok());
        assert!(check_media_types(
            &headers(&[("content-type", "application/json; charset=utf-8")]),
            b"{}"
        )
        .is_ok());
        let e = check_media_types(&headers(&[("content-type", "text/plain")]), b"{}").unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnsupportedMediaType);
        let e = check_media_types(&headers(&[]), b"{}").unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnsupportedMediaType);
        let e = check_media_types(&headers(&[("accept", "text/html")]), b"").unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotAcceptable);
        assert!(check_media_types(&headers(&[("accept", "text/html, */*;q=0.1")]), b"").is_ok());
    }

    #[test]
    fn bodies_must_be_objects() {
        for bad in [&b"[]"[..], b"null", b"1", b"{", b"{\"a\":1} x", b"{'a':1}"] {
            let e = parse_body(bad).unwrap_err();
            assert_eq!(
                e.kind,
                ErrorKind::Serialization,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(parse_body(b"  ").unwrap().is_empty());
    }

    #[test]
    fn query_decoding_keeps_repeats() {
        assert_eq!(
            parse_query(Some("tagKeys=a&tagKeys=b%20c&tagKeys=d+e&x")),
            vec![
                ("tagKeys".to_string(), "a".to_string()),
                ("tagKeys".to_string(), "b c".to_string()),
                ("tagKeys".to_string(), "d+e".to_string()),
                ("x".to_string(), String::new()),
            ]
        );
    }
}
