//! Control-plane request and response bodies, named after the service model's shapes
//! (`crates/proto/model/ivschat-service-2.json`).
//!
//! Requests are deserialised only after [`crate::validate::validate_input`] has checked the
//! JSON against the model, so types and constraints are already known to hold here; these
//! structs only carry the values. Responses omit absent optional members (restJson1 never
//! sends `null`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `Tags`, `EventAttributes`, `ChatTokenAttributes`: string → string maps.
/// A BTreeMap keeps responses stable (sorted keys), which makes them easy to diff.
pub type StringMap = BTreeMap<String, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FallbackResult {
    Allow,
    Deny,
}

impl FallbackResult {
    pub fn as_str(self) -> &'static str {
        match self {
            FallbackResult::Allow => "ALLOW",
            FallbackResult::Deny => "DENY",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ALLOW" => Some(FallbackResult::Allow),
            "DENY" => Some(FallbackResult::Deny),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChatTokenCapability {
    SendMessage,
    DisconnectUser,
    DeleteMessage,
}

/// `MessageReviewHandler` as sent by a client: both members optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageReviewHandlerInput {
    pub uri: Option<String>,
    pub fallback_result: Option<FallbackResult>,
}

/// `MessageReviewHandler` as returned: the server always fills in `fallbackResult`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageReviewHandler {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    pub fallback_result: FallbackResult,
}

/// `DestinationConfiguration`: a union, so exactly one variant travels on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DestinationConfiguration {
    S3(S3DestinationConfiguration),
    CloudWatchLogs(CloudWatchLogsDestinationConfiguration),
    Firehose(FirehoseDestinationConfiguration),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3DestinationConfiguration {
    pub bucket_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudWatchLogsDestinationConfiguration {
    pub log_group_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirehoseDestinationConfiguration {
    pub delivery_stream_name: String,
}

// ---------------------------------------------------------------- requests

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateChatTokenRequest {
    pub room_identifier: String,
    pub user_id: String,
    pub capabilities: Option<Vec<ChatTokenCapability>>,
    pub session_duration_in_minutes: Option<i32>,
    pub attributes: Option<StringMap>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateLoggingConfigurationRequest {
    pub destination_configuration: DestinationConfiguration,
    pub name: Option<String>,
    pub tags: Option<StringMap>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRoomRequest {
    pub name: Option<String>,
    pub maximum_message_rate_per_second: Option<i32>,
    pub maximum_message_length: Option<i32>,
    pub message_review_handler: Option<MessageReviewHandlerInput>,
    pub tags: Option<StringMap>,
    pub logging_configuration_identifiers: Option<Vec<String>>,
}

/// DeleteRoom, GetRoom, DeleteLoggingConfiguration, GetLoggingConfiguration.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentifierRequest {
    pub identifier: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteMessageRequest {
    pub room_identifier: String,
    pub id: String,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DisconnectUserRequest {
    pub room_identifier: String,
    pub user_id: String,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListLoggingConfigurationsRequest {
    pub next_token: Option<String>,
    pub max_results: Option<i32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListRoomsRequest {
    pub name: Option<String>,
    pub next_token: Option<String>,
    pub max_results: Option<i32>,
    pub message_review_handler_uri: Option<String>,
    pub logging_configuration_identifier: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendEventRequest {
    pub room_identifier: String,
    pub event_name: String,
    pub attributes: Option<StringMap>,
}

/// ListTagsForResource: `resourceArn` comes from the path label.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTagsForResourceRequest {
    pub resource_arn: String,
}

/// TagResource: `resourceArn` from the path label, `tags` from the body.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagResourceRequest {
    pub resource_arn: String,
    pub tags: StringMap,
}

/// UntagResource: `resourceArn` from the path label, `tagKeys` from the repeated query parameter.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UntagResourceRequest {
    pub resource_arn: String,
    pub tag_keys: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateLoggingConfigurationRequest {
    pub identifier: String,
    pub name: Option<String>,
    pub destination_configuration: Option<DestinationConfiguration>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateRoomRequest {
    pub identifier: String,
    pub name: Option<String>,
    pub maximum_message_rate_per_second: Option<i32>,
    pub maximum_message_length: Option<i32>,
    pub message_review_handler: Option<MessageReviewHandlerInput>,
    pub logging_configuration_identifiers: Option<Vec<String>>,
}

// ---------------------------------------------------------------- responses

/// The Room object returned by CreateRoom, GetRoom and UpdateRoom (every member filled in).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomOutput {
    pub arn: String,
    pub id: String,
    pub name: String,
    pub create_time: String,
    pub update_time: String,
    pub maximum_message_rate_per_second: i32,
    pub maximum_message_length: i32,
    pub message_review_handler: MessageReviewHandler,
    pub tags: StringMap,
    pub logging_configuration_identifiers: Vec<String>,
}

/// `RoomSummary` (ListRooms): the Room object without the two limits.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomSummary {
    pub arn: String,
    pub id: String,
    pub name: String,
    pub message_review_handler: MessageReviewHandler,
    pub create_time: String,
    pub update_time: String,
    pub tags: StringMap,
    pub logging_configuration_identifiers: Vec<String>,
}

/// The LoggingConfiguration object (Create/Get/Update output and `LoggingConfigurationSummary`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggingConfigurationOutput {
    pub arn: String,
    pub id: String,
    pub create_time: String,
    pub update_time: String,
    pub name: String,
    pub destination_configuration: DestinationConfiguration,
    pub state: String,
    pub tags: StringMap,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateChatTokenResponse {
    pub token: String,
    pub token_expiration_time: String,
    pub session_expiration_time: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListRoomsResponse {
    pub rooms: Vec<RoomSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListLoggingConfigurationsResponse {
    pub logging_configurations: Vec<LoggingConfigurationOutput>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTagsForResourceResponse {
    pub tags: StringMap,
}

/// SendEvent and DeleteMessage: the id of the event delivered to the room.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdResponse {
    pub id: String,
}

/// DisconnectUser, TagResource, UntagResource: `{}`.
#[derive(Debug, Clone, Serialize)]
pub struct EmptyResponse {}
