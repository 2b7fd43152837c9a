//! Extension (not AWS, issue 22): `POST /ivschat-server/ListRoomMessages`, the frames a room's
//! history keeps (`history/`), oldest first, exactly as they were delivered. Signed and
//! authorized like every operation (IAM action `ivschat-server:ListRoomMessages` on the room),
//! in the signer's account. `docs/extensions/openapi.yaml` describes it.
//!
//! Input: `roomIdentifier` (required, the room's ARN), `maxResults` (1..=100, default 50),
//! `nextToken` (from the previous page), `since` (a message `Id`: only what followed it, or
//! everything kept when it is no longer kept). Output: `messages` (the MESSAGE and EVENT
//! frames as JSON objects), `nextToken` when there is more.

use ivschat_proto::errors::{ErrorKind, ServiceError};
use serde::Deserialize;

use super::authorize::AuthorizationFacts;
use super::reply::{from_store, OpResult, Reply};
use super::rooms::resolve_room;
use crate::app::App;
use crate::chat::Declined;
use crate::domain::account::Account;
use crate::history::after_message;
use crate::room::frame::HistoryId;
use crate::room::options::RoomOptions;
use crate::store::Owner;

pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: i64 = 100;
/// Longest `roomIdentifier` and `since`, as the model bounds identifiers.
const MAX_IDENTIFIER_CHARS: usize = 128;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListRoomMessagesRequest {
    pub room_identifier: String,
    #[serde(default)]
    pub max_results: Option<i64>,
    #[serde(default)]
    pub next_token: Option<String>,
    #[serde(default)]
    pub since: Option<String>,
}

impl AuthorizationFacts for ListRoomMessagesRequest {
    fn resource_arn(&self) -> Option<&str> {
        Some(&self.room_identifier)
    }
}

/// The body as JSON, checked: the same error types as the model-checked operations.
pub fn parse_request(body: &[u8]) -> Result<ListRoomMessagesRequest, ServiceError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        body
    };
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        ServiceError::new(
            ErrorKind::Serialization,
            format!("the request body is not valid JSON: {e}"),
        )
    })?;
    if !value.is_object() {
        return Err(ServiceError::new(
            ErrorKind::Serialization,
            "the request body must be a JSON object",
        ));
    }
    if value.get("roomIdentifier").is_none() {
        return Err(ServiceError::invalid_field(
            "roomIdentifier",
            "Value null at 'roomIdentifier' failed to satisfy constraint: Member must not be null",
        ));
    }
    let request: ListRoomMessagesRequest = serde_json::from_value(value).map_err(|e| {
        ServiceError::validation(
            ivschat_proto::errors::ValidationReason::FieldValidationFailed,
            format!("1 validation error detected. {e}"),
            Vec::new(),
        )
    })?;
    let chars = request.room_identifier.chars().count();
    if !(1..=MAX_IDENTIFIER_CHARS).contains(&chars) {
        return Err(ServiceError::invalid_field(
            "roomIdentifier",
            format!(
                "Value at 'roomIdentifier' failed to satisfy constraint: Member must have length \
                 between 1 and {MAX_IDENTIFIER_CHARS}"
            ),
        ));
    }
    if let Some(n) = request.max_results {
        if !(1..=MAX_PAGE_SIZE).contains(&n) {
            return Err(ServiceError::invalid_field(
                "maxResults",
                format!(
                    "Value '{n}' at 'maxResults' failed to satisfy constraint: Member must have \
                     value between 1 and {MAX_PAGE_SIZE}"
                ),
            ));
        }
    }
    if let Some(since) = &request.since {
        let chars = since.chars().count();
        if !(1..=MAX_IDENTIFIER_CHARS).contains(&chars) {
            return Err(ServiceError::invalid_field(
                "since",
                format!(
                    "Value at 'since' failed to satisfy constraint: Member must have length \
                     between 1 and {MAX_IDENTIFIER_CHARS}"
                ),
            ));
        }
    }
    Ok(request)
}

pub async fn list_room_messages(
    app: &App,
    account: &Account,
    req: ListRoomMessagesRequest,
) -> OpResult {
    let after: Option<HistoryId> = match &req.next_token {
        None => None,
        Some(token) => Some(token.parse().map_err(|_| {
            ServiceError::invalid_field(
                "nextToken",
                "Value at 'nextToken' failed to satisfy constraint: not a token this operation \
                 returned",
            )
        })?),
    };
    let id = resolve_room(account, &req.room_identifier)?;
    let room = app
        .store
        .get_room(Owner::Account(&account.key), id)
        .await
        .map_err(|e| from_store(e, id))?
        .ok_or_else(|| ServiceError::not_found(id, "Room"))?;
    // A room without history keeps nothing: an empty list, not an error.
    let kept = match RoomOptions::of(&room.tags).retention() {
        None => Vec::new(),
        Some(retention) => app
            .chat
            .kept_since(&room.id, retention, req.since.as_deref())
            .await
            .map_err(|e| match e {
                Declined::Unavailable | Declined::RateLimited { .. } => ServiceError::new(
                    ErrorKind::InternalServer,
                    "ListRoomMessages could not read the room's history: the cluster bus is \
                 unreachable; retry",
                ),
            })?,
    };
    let page_size = req.max_results.map_or(DEFAULT_PAGE_SIZE, |n| n as usize);
    let mut remaining = after_message(kept, req.since.as_deref())
        .into_iter()
        .filter(|kept| after.is_none_or(|after| kept.id > after));
    let page: Vec<_> = remaining.by_ref().take(page_size).collect();
    let next_token = match (remaining.next(), page.last()) {
        (Some(_), Some(last)) => Some(last.id.to_string()),
        _ => None,
    };
    // The frames go out as the very JSON members received them.
    let mut body =
        Vec::with_capacity(64 + page.iter().map(|k| k.frame.json().len() + 1).sum::<usize>());
    body.extend_from_slice(b"{\"messages\":[");
    for (n, kept) in page.iter().enumerate() {
        if n > 0 {
            body.push(b',');
        }
        body.extend_from_slice(kept.frame.json());
    }
    body.push(b']');
    if let Some(token) = next_token {
        body.extend_from_slice(b",\"nextToken\":");
        body.extend(serde_json::to_vec(&token).unwrap_or_default());
    }
    body.push(b'}');
    Ok(Reply::Json(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(body: &str) -> (ErrorKind, String) {
        let e = parse_request(body.as_bytes()).unwrap_err();
        (e.kind, e.message)
    }

    #[test]
    fn bad_input_gets_the_aws_error_types() {
        assert_eq!(refusal("").0, ErrorKind::Validation);
        assert_eq!(refusal("not json").0, ErrorKind::Serialization);
        assert_eq!(refusal("[]").0, ErrorKind::Serialization);
        assert_eq!(refusal(r#"{"roomIdentifier":""}"#).0, ErrorKind::Validation);
        assert_eq!(refusal(r#"{"roomIdentifier":5}"#).0, ErrorKind::Validation);
        let (kind, message) = refusal(r#"{"roomIdentifier":"a","maxResults":101}"#);
        assert_eq!(kind, ErrorKind::Validation);
        assert!(message.contains("maxResults"), "{message}");
        assert_eq!(
            refusal(r#"{"roomIdentifier":"a","maxResults":0}"#).0,
            ErrorKind::Validation
        );
        assert_eq!(
            refusal(r#"{"roomIdentifier":"a","since":""}"#).0,
            ErrorKind::Validation
        );
        let ok = parse_request(br#"{"roomIdentifier":"a","maxResults":100,"since":"x"}"#).unwrap();
        assert_eq!(ok.max_results, Some(100));
    }
}
