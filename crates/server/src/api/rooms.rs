//! CreateRoom, GetRoom, UpdateRoom, DeleteRoom, ListRooms (`docs/protocol/control-plane.md` §5).

use ivschat_proto::control::{
    CreateRoomRequest, FallbackResult, IdentifierRequest, ListRoomsRequest, ListRoomsResponse,
    MessageReviewHandlerInput, UpdateRoomRequest,
};
use ivschat_proto::errors::ServiceError;

use super::pagination;
use super::reply::{from_store, OpResult, Reply};
use super::tags::{check_new_tags, check_room_options};
use crate::app::App;
use crate::domain::account::Account;
use crate::domain::arn::{error_resource_id, ResourceKind};
use crate::domain::ids::new_id;
use crate::domain::resources::{
    next_update_time, Room, DEFAULT_MAX_MESSAGE_LENGTH, DEFAULT_MAX_MESSAGE_RATE_PER_SECOND,
};
use crate::store::{Owner, RoomFilter};

/// Page size when `maxResults` is absent (the model's documented default).
const DEFAULT_PAGE_SIZE: i32 = 50;

pub async fn create_room(app: &App, account: &Account, req: CreateRoomRequest) -> OpResult {
    let tags = req.tags.unwrap_or_default();
    check_new_tags(&tags)?;
    check_room_options(&tags)?;
    let logging_ids = resolve_logging_ids(account, req.logging_configuration_identifiers)?;
    let (uri, fallback) = review_handler(req.message_review_handler, None, FallbackResult::Allow);
    let now = app.clock.now_micros();
    let room = Room {
        id: new_id(),
        account: account.key.clone(),
        name: req.name.unwrap_or_default(),
        create_time: now,
        update_time: now,
        maximum_message_rate_per_second: req
            .maximum_message_rate_per_second
            .unwrap_or(DEFAULT_MAX_MESSAGE_RATE_PER_SECOND),
        maximum_message_length: req
            .maximum_message_length
            .unwrap_or(DEFAULT_MAX_MESSAGE_LENGTH),
        review_handler_uri: uri,
        review_fallback: fallback,
        tags,
        logging_configuration_ids: logging_ids,
    };
    app.store
        .insert_room(&room, &app.config.quotas)
        .await
        .map_err(|e| from_store(e, &room.id))?;
    Ok(Reply::json(&room.to_output(&account.arns)))
}

pub async fn get_room(app: &App, account: &Account, req: IdentifierRequest) -> OpResult {
    let id = resolve_room(account, &req.identifier)?;
    let room = app
        .store
        .get_room(Owner::Account(&account.key), id)
        .await
        .map_err(|e| from_store(e, id))?
        .ok_or_else(|| ServiceError::not_found(id, "Room"))?;
    Ok(Reply::json(&room.to_output(&account.arns)))
}

pub async fn update_room(app: &App, account: &Account, req: UpdateRoomRequest) -> OpResult {
    let id = resolve_room(account, &req.identifier)?;
    let logging_ids = match req.logging_configuration_identifiers {
        Some(list) => Some(resolve_logging_ids(account, Some(list))?),
        None => None,
    };
    let now = app.clock.now_micros();
    let room = app
        .store
        .update_room(
            &account.key,
            id,
            &app.config.quotas,
            Box::new(move |room: &mut Room| {
                // Omitted members stay as they are; a given list replaces the old one.
                if let Some(name) = req.name {
                    room.name = name;
                }
                if let Some(rate) = req.maximum_message_rate_per_second {
                    room.maximum_message_rate_per_second = rate;
                }
                if let Some(length) = req.maximum_message_length {
                    room.maximum_message_length = length;
                }
                let (uri, fallback) = review_handler(
                    req.message_review_handler,
                    room.review_handler_uri.take(),
                    room.review_fallback,
                );
                room.review_handler_uri = uri;
                room.review_fallback = fallback;
                if let Some(ids) = logging_ids {
                    room.logging_configuration_ids = ids;
                }
                room.update_time = next_update_time(room.update_time, now);
                Ok(())
            }),
        )
        .await
        .map_err(|e| from_store(e, id))?;
    app.chat.room_updated(&room).await;
    Ok(Reply::json(&room.to_output(&account.arns)))
}

pub async fn delete_room(app: &App, account: &Account, req: IdentifierRequest) -> OpResult {
    let id = resolve_room(account, &req.identifier)?;
    app.store
        .delete_room(&account.key, id)
        .await
        .map_err(|e| from_store(e, id))?;
    app.chat.room_deleted(id).await;
    Ok(Reply::NoContent)
}

pub async fn list_rooms(app: &App, account: &Account, req: ListRoomsRequest) -> OpResult {
    let after = pagination::decode("rooms", req.next_token.as_deref())?;
    let logging_configuration_id = match &req.logging_configuration_identifier {
        Some(arn) => {
            let id = account
                .arns
                .resolve(arn, ResourceKind::LoggingConfiguration)
                .ok_or_else(|| {
                    ServiceError::not_found(&error_resource_id(arn), "Logging configuration")
                })?;
            let exists = app
                .store
                .get_logging_configuration(Owner::Account(&account.key), id)
                .await
                .map_err(|e| from_store(e, id))?;
            if exists.is_none() {
                return Err(ServiceError::not_found(id, "Logging configuration"));
            }
            Some(id.to_string())
        }
        None => None,
    };
    let filter = RoomFilter {
        name: req.name,
        review_handler_uri: req.message_review_handler_uri,
        logging_configuration_id,
    };
    let page_size = req.max_results.unwrap_or(DEFAULT_PAGE_SIZE).clamp(1, 50) as usize;
    // One extra row tells whether another page exists, so the last page has no token.
    let mut rooms = app
        .store
        .list_rooms(&account.key, &filter, after.as_ref(), page_size + 1)
        .await
        .map_err(|e| from_store(e, "rooms"))?;
    let next_token = if rooms.len() > page_size {
        rooms.truncate(page_size);
        rooms.last().map(|last| {
            pagination::encode(
                "rooms",
                &crate::store::PageCursor {
                    update_time: last.update_time,
                    id: last.id.clone(),
                },
            )
        })
    } else {
        None
    };
    Ok(Reply::json(&ListRoomsResponse {
        rooms: rooms.iter().map(|r| r.to_summary(&account.arns)).collect(),
        next_token,
    }))
}

/// The room id inside a `roomIdentifier`/`identifier` ARN, or ResourceNotFound when the ARN
/// cannot name one of the account's rooms.
pub fn resolve_room<'a>(account: &Account, arn: &'a str) -> Result<&'a str, ServiceError> {
    account
        .arns
        .resolve(arn, ResourceKind::Room)
        .ok_or_else(|| ServiceError::not_found(&error_resource_id(arn), "Room"))
}

/// Logging configuration ARNs → ids (duplicates dropped, order kept). Whether they exist in the
/// account is checked by the store inside the write transaction.
fn resolve_logging_ids(
    account: &Account,
    arns: Option<Vec<String>>,
) -> Result<Vec<String>, ServiceError> {
    let mut ids: Vec<String> = Vec::new();
    for arn in arns.unwrap_or_default() {
        let id = account
            .arns
            .resolve(&arn, ResourceKind::LoggingConfiguration)
            .ok_or_else(|| {
                ServiceError::not_found(&error_resource_id(&arn), "Logging configuration")
            })?;
        if !ids.iter().any(|known| known == id) {
            ids.push(id.to_string());
        }
    }
    Ok(ids)
}

/// Applies a `messageReviewHandler` input to the current handler: an empty `uri` removes the
/// handler, an absent one keeps it; an absent `fallbackResult` keeps the current one.
fn review_handler(
    input: Option<MessageReviewHandlerInput>,
    current_uri: Option<String>,
    current_fallback: FallbackResult,
) -> (Option<String>, FallbackResult) {
    let Some(input) = input else {
        return (current_uri, current_fallback);
    };
    let uri = match input.uri {
        Some(uri) if uri.is_empty() => None,
        Some(uri) => Some(uri),
        None => current_uri,
    };
    (uri, input.fallback_result.unwrap_or(current_fallback))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn review_handler_merging() {
        let allow = FallbackResult::Allow;
        let deny = FallbackResult::Deny;
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:f".to_string();
        assert_eq!(
            review_handler(None, Some(arn.clone()), deny),
            (Some(arn.clone()), deny)
        );
        let remove = MessageReviewHandlerInput {
            uri: Some(String::new()),
            fallback_result: None,
        };
        assert_eq!(
            review_handler(Some(remove), Some(arn.clone()), deny),
            (None, deny)
        );
        let only_fallback = MessageReviewHandlerInput {
            uri: None,
            fallback_result: Some(allow),
        };
        assert_eq!(
            review_handler(Some(only_fallback), Some(arn.clone()), deny),
            (Some(arn), allow)
        );
    }
}
