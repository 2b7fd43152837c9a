//! Our presence operations (issue 22; README "Extensions (not AWS)",
//! `docs/extensions/openapi.yaml`): `POST /ivschat-server/GetRoomPresence` and
//! `POST /ivschat-server/ListRoomUsers`. restJson1 and SigV4 like the AWS operations, checked
//! against the IAM actions `ivschat-server:GetRoomPresence` / `ivschat-server:ListRoomUsers`
//! on the room's ARN, with AWS's error shapes. No AWS model describes them, so their input is
//! checked here.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ivschat_proto::control::StringMap;
use ivschat_proto::errors::{ErrorKind, ServiceError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::authorize::{authorize, AuthorizationFacts};
use super::input::parse_body;
use super::reply::{from_store, OpResult, Reply};
use super::rooms::resolve_room;
use super::route::Operation;
use crate::app::App;
use crate::iam::Principal;
use crate::presence::{DEFAULT_PAGE, MAX_PAGE};
use crate::store::Owner;

/// Longest `roomIdentifier` (a room ARN, as in the AWS operations) and `nextToken` accepted.
const MAX_IDENTIFIER: usize = 128;
const MAX_TOKEN: usize = 1024;

struct RoomInput {
    room_identifier: String,
}

struct ListUsersInput {
    room: RoomInput,
    max_results: usize,
    next_token: Option<String>,
}

impl AuthorizationFacts for RoomInput {
    fn resource_arn(&self) -> Option<&str> {
        Some(&self.room_identifier)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PresenceOutput {
    connections: u64,
    users: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserOutput {
    user_id: String,
    attributes: StringMap,
    connections: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListUsersOutput {
    users: Vec<UserOutput>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// GetRoomPresence: `{roomIdentifier}` → `{connections, users}`, over every node.
pub async fn get_room_presence(app: &App, who: &Principal, body: &[u8]) -> OpResult {
    let mut members = parse_body(body)?;
    let input = room_input(&mut members)?;
    authorize(app, who, Operation::GetRoomPresence, &input).await?;
    let room_id = existing_room(app, who, &input).await?;
    let counts = app
        .chat
        .presence()
        .counts(&room_id)
        .await
        .map_err(|e| unavailable("GetRoomPresence", e))?;
    Ok(Reply::json(&PresenceOutput {
        connections: counts.connections,
        users: counts.users,
    }))
}

/// ListRoomUsers: `{roomIdentifier, maxResults?, nextToken?}` → `{users, nextToken?}`, users
/// in byte order of their ids; the token is the last id returned, so pages hold while users
/// come and go (a user who arrives behind the cursor is in a later page, or none).
pub async fn list_room_users(app: &App, who: &Principal, body: &[u8]) -> OpResult {
    let mut members = parse_body(body)?;
    let input = ListUsersInput {
        room: room_input(&mut members)?,
        max_results: max_results(members.get("maxResults"))?,
        next_token: optional_string(members.get("nextToken"), "nextToken", MAX_TOKEN)?,
    };
    authorize(app, who, Operation::ListRoomUsers, &input.room).await?;
    let room_id = existing_room(app, who, &input.room).await?;
    let after = match input.next_token.as_deref().filter(|t| !t.is_empty()) {
        Some(token) => Some(decode_token(&room_id, token)?),
        None => None,
    };
    let page = app
        .chat
        .presence()
        .users(&room_id, after.as_deref(), input.max_results)
        .await
        .map_err(|e| unavailable("ListRoomUsers", e))?;
    let next_token = page
        .more
        .then(|| {
            page.users
                .last()
                .map(|u| encode_token(&room_id, &u.user_id))
        })
        .flatten();
    Ok(Reply::json(&ListUsersOutput {
        users: page
            .users
            .into_iter()
            .map(|u| UserOutput {
                user_id: u.user_id,
                attributes: u.attributes,
                connections: u.connections,
            })
            .collect(),
        next_token,
    }))
}

/// The room's id, if the signer's account has it (else ResourceNotFoundException, as the AWS
/// operations answer for another account's room).
async fn existing_room(
    app: &App,
    who: &Principal,
    input: &RoomInput,
) -> Result<String, ServiceError> {
    let id = resolve_room(&who.account, &input.room_identifier)?;
    app.store
        .get_room(Owner::Account(&who.account.key), id)
        .await
        .map_err(|e| from_store(e, id))?
        .map(|room| room.id)
        .ok_or_else(|| ServiceError::not_found(id, "Room"))
}

fn room_input(members: &mut Map<String, Value>) -> Result<RoomInput, ServiceError> {
    match optional_string(
        members.get("roomIdentifier"),
        "roomIdentifier",
        MAX_IDENTIFIER,
    )? {
        Some(id) if !id.is_empty() => Ok(RoomInput {
            room_identifier: id,
        }),
        Some(_) => Err(ServiceError::invalid_field(
            "/roomIdentifier",
            "Value at '/roomIdentifier' failed to satisfy constraint: Member must have length \
             greater than or equal to 1",
        )),
        None => Err(ServiceError::invalid_field(
            "/roomIdentifier",
            "Value null at '/roomIdentifier' failed to satisfy constraint: Member must not be null",
        )),
    }
}

fn optional_string(
    value: Option<&Value>,
    name: &str,
    max_len: usize,
) -> Result<Option<String>, ServiceError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max_len => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(ServiceError::invalid_field(
            &format!("/{name}"),
            format!(
                "Value at '/{name}' failed to satisfy constraint: Member must have length less \
                 than or equal to {max_len}"
            ),
        )),
        Some(_) => Err(ServiceError::new(
            ErrorKind::Serialization,
            format!("{name} must be a string"),
        )),
    }
}

fn max_results(value: Option<&Value>) -> Result<usize, ServiceError> {
    let out_of_range = || {
        ServiceError::invalid_field(
            "/maxResults",
            format!(
                "Value at '/maxResults' failed to satisfy constraint: Member must be between 1 \
                 and {MAX_PAGE}"
            ),
        )
    };
    match value {
        None | Some(Value::Null) => Ok(DEFAULT_PAGE),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(n) if (1..=MAX_PAGE as i64).contains(&n) => Ok(n as usize),
            Some(_) => Err(out_of_range()),
            None => Err(ServiceError::new(
                ErrorKind::Serialization,
                "maxResults must be an integer",
            )),
        },
        Some(_) => Err(ServiceError::new(
            ErrorKind::Serialization,
            "maxResults must be an integer",
        )),
    }
}

/// The opaque `nextToken`: base64url JSON of the room and the last user id returned, so a
/// token is refused for another room.
#[derive(Serialize, Deserialize)]
struct TokenBody {
    v: u8,
    k: String,
    r: String,
    a: String,
}

const TOKEN_KIND: &str = "room-users";

fn encode_token(room_id: &str, last_user: &str) -> String {
    let body = TokenBody {
        v: 1,
        k: TOKEN_KIND.to_string(),
        r: room_id.to_string(),
        a: last_user.to_string(),
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&body).unwrap_or_default())
}

fn decode_token(room_id: &str, token: &str) -> Result<String, ServiceError> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<TokenBody>(&bytes).ok())
        .filter(|body| body.v == 1 && body.k == TOKEN_KIND && body.r == room_id)
        .map(|body| body.a)
        .ok_or_else(|| {
            ServiceError::invalid_field(
                "/nextToken",
                "Value at '/nextToken' failed to satisfy constraint: Member must be a nextToken \
                 returned by a previous ListRoomUsers call for this room",
            )
        })
}

fn unavailable(operation: &str, error: anyhow::Error) -> ServiceError {
    tracing::error!(error = %format!("{error:#}"), "{operation}: presence cannot be read");
    ServiceError::new(
        ErrorKind::InternalServer,
        format!("{operation}: presence cannot be read now (the cluster bus is unreachable); retry"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_for_their_room_only() {
        let token = encode_token("room1", "user ✓");
        assert_eq!(decode_token("room1", &token).unwrap(), "user ✓");
        assert!(decode_token("room2", &token).is_err());
        assert!(decode_token("room1", "garbage").is_err());
    }

    #[test]
    fn page_sizes_are_checked() {
        assert_eq!(max_results(None).unwrap(), DEFAULT_PAGE);
        assert_eq!(max_results(Some(&Value::from(100))).unwrap(), 100);
        for bad in [0, 101, -1] {
            let e = max_results(Some(&Value::from(bad))).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Validation);
        }
        let e = max_results(Some(&Value::from("5"))).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Serialization);
    }
}
