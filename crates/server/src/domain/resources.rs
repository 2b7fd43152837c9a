//! Rooms and logging configurations as the server keeps them, and how they look on the wire.
//!
//! Stored records hold ids, not ARNs: ARNs are derived from the server's region and account
//! whenever a record is shown, so they can never disagree with the configuration.

use ivschat_proto::control::{
    DestinationConfiguration, FallbackResult, LoggingConfigurationOutput, MessageReviewHandler,
    RoomOutput, RoomSummary, StringMap,
};

use super::arn::{ArnScope, ResourceKind};
use super::clock::format_time_millis;

/// Room defaults from the model's documentation.
pub const DEFAULT_MAX_MESSAGE_RATE_PER_SECOND: i32 = 10;
pub const DEFAULT_MAX_MESSAGE_LENGTH: i32 = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub id: String,
    /// The owning account's key (`domain::account`: `''` is the server's own account).
    pub account: String,
    pub name: String,
    /// Microseconds since the epoch.
    pub create_time: i64,
    pub update_time: i64,
    pub maximum_message_rate_per_second: i32,
    pub maximum_message_length: i32,
    /// `None` when the room has no review handler.
    pub review_handler_uri: Option<String>,
    pub review_fallback: FallbackResult,
    pub tags: StringMap,
    /// Ids (not ARNs) of attached logging configurations, in the order the client gave them.
    pub logging_configuration_ids: Vec<String>,
}

impl Room {
    pub fn review_handler(&self) -> MessageReviewHandler {
        MessageReviewHandler {
            uri: self.review_handler_uri.clone(),
            fallback_result: self.review_fallback,
        }
    }

    fn logging_arns(&self, scope: &ArnScope) -> Vec<String> {
        self.logging_configuration_ids
            .iter()
            .map(|id| scope.arn(ResourceKind::LoggingConfiguration, id))
            .collect()
    }

    pub fn to_output(&self, scope: &ArnScope) -> RoomOutput {
        RoomOutput {
            arn: scope.arn(ResourceKind::Room, &self.id),
            id: self.id.clone(),
            name: self.name.clone(),
            create_time: format_time_millis(self.create_time),
            update_time: format_time_millis(self.update_time),
            maximum_message_rate_per_second: self.maximum_message_rate_per_second,
            maximum_message_length: self.maximum_message_length,
            message_review_handler: self.review_handler(),
            tags: self.tags.clone(),
            logging_configuration_identifiers: self.logging_arns(scope),
        }
    }

    pub fn to_summary(&self, scope: &ArnScope) -> RoomSummary {
        RoomSummary {
            arn: scope.arn(ResourceKind::Room, &self.id),
            id: self.id.clone(),
            name: self.name.clone(),
            message_review_handler: self.review_handler(),
            create_time: format_time_millis(self.create_time),
            update_time: format_time_millis(self.update_time),
            tags: self.tags.clone(),
            logging_configuration_identifiers: self.logging_arns(scope),
        }
    }
}

/// `LoggingConfigurationState`. This server validates destinations when they are written,
/// so a configuration is `ACTIVE` as soon as Create/Update returns (see README, "Logging
/// configuration state").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoggingState {
    Creating,
    CreateFailed,
    Deleting,
    DeleteFailed,
    Updating,
    UpdateFailed,
    Active,
}

impl LoggingState {
    pub fn as_str(self) -> &'static str {
        match self {
            LoggingState::Creating => "CREATING",
            LoggingState::CreateFailed => "CREATE_FAILED",
            LoggingState::Deleting => "DELETING",
            LoggingState::DeleteFailed => "DELETE_FAILED",
            LoggingState::Updating => "UPDATING",
            LoggingState::UpdateFailed => "UPDATE_FAILED",
            LoggingState::Active => "ACTIVE",
        }
    }

    pub fn parse(s: &str) -> Option<LoggingState> {
        [
            LoggingState::Creating,
            LoggingState::CreateFailed,
            LoggingState::Deleting,
            LoggingState::DeleteFailed,
            LoggingState::Updating,
            LoggingState::UpdateFailed,
            LoggingState::Active,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggingConfiguration {
    pub id: String,
    /// The owning account's key (`domain::account`: `''` is the server's own account).
    pub account: String,
    pub name: String,
    pub create_time: i64,
    pub update_time: i64,
    pub destination: DestinationConfiguration,
    pub state: LoggingState,
    pub tags: StringMap,
}

impl LoggingConfiguration {
    pub fn to_output(&self, scope: &ArnScope) -> LoggingConfigurationOutput {
        LoggingConfigurationOutput {
            arn: scope.arn(ResourceKind::LoggingConfiguration, &self.id),
            id: self.id.clone(),
            create_time: format_time_millis(self.create_time),
            update_time: format_time_millis(self.update_time),
            name: self.name.clone(),
            destination_configuration: self.destination.clone(),
            state: self.state.as_str().to_string(),
            tags: self.tags.clone(),
        }
    }
}

/// A time strictly after `previous` and no earlier than `now`: `updateTime` must move forward
/// even when two updates land in the same microsecond.
pub fn next_update_time(previous: i64, now: i64) -> i64 {
    now.max(previous + 1)
}
