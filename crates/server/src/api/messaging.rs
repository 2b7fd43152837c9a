//! The control plane's messaging operations: CreateChatToken, SendEvent, DeleteMessage,
//! DisconnectUser (`docs/protocol/control-plane.md` §5, `docs/protocol/messaging.md` §10).

use ivschat_proto::control::{
    CreateChatTokenRequest, CreateChatTokenResponse, DeleteMessageRequest, DisconnectUserRequest,
    EmptyResponse, IdResponse, SendEventRequest, StringMap,
};
use ivschat_proto::errors::{ErrorKind, ServiceError};

use super::reply::{from_store, OpResult, Reply};
use super::rooms::resolve_room;
use crate::app::App;
use crate::chat::{Declined, RoomRef};
use crate::domain::account::Account;
use crate::domain::clock::format_time_millis;
use crate::domain::resources::Room;
use crate::domain::token::{attributes_size, TokenClaims, MAX_ATTRIBUTES_BYTES};
use crate::store::Owner;

/// "The token is valid for one minute."
pub const TOKEN_LIFETIME_MICROS: i64 = 60 * 1_000_000;
pub const DEFAULT_SESSION_MINUTES: i32 = 60;

pub async fn create_chat_token(
    app: &App,
    account: &Account,
    req: CreateChatTokenRequest,
) -> OpResult {
    let attributes = req.attributes.unwrap_or_default();
    check_attributes_size(&attributes)?;
    let room = existing_room(app, account, &req.room_identifier).await?;
    let mut capabilities = req.capabilities.unwrap_or_default();
    capabilities.sort_by_key(|c| *c as u8);
    capabilities.dedup();
    let now = app.clock.now_micros();
    let session_minutes = i64::from(
        req.session_duration_in_minutes
            .unwrap_or(DEFAULT_SESSION_MINUTES),
    );
    let claims = TokenClaims {
        room: room.id,
        account: room.account,
        user_id: req.user_id,
        capabilities,
        attributes,
        token_expires: now + TOKEN_LIFETIME_MICROS,
        session_expires: now + session_minutes * 60 * 1_000_000,
        token_id: super::random_uuid().simple().to_string(),
    };
    Ok(Reply::json(&CreateChatTokenResponse {
        token: app.token_keys.seal(&claims),
        token_expiration_time: format_time_millis(claims.token_expires),
        session_expiration_time: format_time_millis(claims.session_expires),
    }))
}

pub async fn send_event(app: &App, account: &Account, req: SendEventRequest) -> OpResult {
    let attributes = req.attributes.unwrap_or_default();
    check_attributes_size(&attributes)?;
    let room = existing_room(app, account, &req.room_identifier).await?;
    let id = app
        .chat
        .send_event(RoomRef::of(&room), req.event_name, attributes)
        .await
        .map_err(|declined| service_error(&room.id, "SendEvent", declined))?;
    Ok(Reply::json(&IdResponse { id }))
}

pub async fn delete_message(app: &App, account: &Account, req: DeleteMessageRequest) -> OpResult {
    let room = existing_room(app, account, &req.room_identifier).await?;
    let id = app
        .chat
        .delete_message(RoomRef::of(&room), req.id, req.reason, None)
        .await
        .map_err(|declined| service_error(&room.id, "DeleteMessage", declined))?;
    Ok(Reply::json(&IdResponse { id }))
}

pub async fn disconnect_user(app: &App, account: &Account, req: DisconnectUserRequest) -> OpResult {
    let room = existing_room(app, account, &req.room_identifier).await?;
    app.chat
        .disconnect_user(RoomRef::of(&room), req.user_id, req.reason, None)
        .await
        .map_err(|declined| service_error(&room.id, "DisconnectUser", declined))?;
    Ok(Reply::json(&EmptyResponse {}))
}

/// ThrottlingException for an account-wide rate quota (`docs/protocol/messaging.md` §9), or
/// InternalServerException when the cluster bus is unreachable.
fn service_error(room_id: &str, operation: &str, declined: Declined) -> ServiceError {
    match declined {
        Declined::RateLimited { limit } => ServiceError::over_limit(
            ErrorKind::Throttling,
            room_id,
            i64::from(limit),
            format!("{operation} is limited to {limit} requests per second for the account"),
        ),
        Declined::Unavailable => ServiceError::new(
            ErrorKind::InternalServer,
            format!("{operation} could not be delivered: the cluster bus is unreachable; retry"),
        ),
    }
}

/// The account's room `arn` names.
async fn existing_room(app: &App, account: &Account, arn: &str) -> Result<Room, ServiceError> {
    let id = resolve_room(account, arn)?;
    app.store
        .get_room(Owner::Account(&account.key), id)
        .await
        .map_err(|e| from_store(e, id))?
        .ok_or_else(|| ServiceError::not_found(id, "Room"))
}

/// "Maximum length … 1 KB total": keys and values, in bytes.
fn check_attributes_size(attributes: &StringMap) -> Result<(), ServiceError> {
    let size = attributes_size(attributes);
    if size > MAX_ATTRIBUTES_BYTES {
        return Err(ServiceError::invalid_field(
            "/attributes",
            format!(
                "Value with size {size} bytes at '/attributes' failed to satisfy constraint: \
                 attribute keys and values must total at most {MAX_ATTRIBUTES_BYTES} bytes"
            ),
        ));
    }
    Ok(())
}
