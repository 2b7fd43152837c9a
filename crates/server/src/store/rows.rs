//! The stored columns, their row structs, and the mapping between rows and domain records.
//! The tables have the same columns in SQLite and PostgreSQL (see
//! `migrations/*/0001_initial.sql` and `0004_accounts.sql`); the statements that read and write them are `sql.rs`'s.
//!
//! Maps and lists are stored as JSON text, so a record reads back exactly as it was written
//! (tags are a `BTreeMap`, so their order never matters; attached logging configuration ids
//! keep the client's order).

use ivschat_proto::control::FallbackResult;

use super::StoreError;
use crate::domain::resources::{LoggingConfiguration, LoggingState, Room};

/// The columns of `rooms`, in the order of [`RoomRow`].
pub const ROOM_COLUMNS: &str = "id, name, create_time, update_time, max_rate, max_length, \
                                review_uri, review_fallback, tags, logging_ids, account";

/// The columns of `logging_configurations`, in the order of [`LoggingRow`].
pub const LOGGING_COLUMNS: &str = "id, name, create_time, update_time, destination, state, tags, \
                                   account";

/// One row of `rooms`, as stored.
#[derive(Debug, sqlx::FromRow)]
pub struct RoomRow {
    pub id: String,
    pub name: String,
    pub create_time: i64,
    pub update_time: i64,
    pub max_rate: i32,
    pub max_length: i32,
    pub review_uri: Option<String>,
    pub review_fallback: String,
    /// JSON object.
    pub tags: String,
    /// JSON array of logging configuration ids.
    pub logging_ids: String,
    /// The owning account's key (migration 0004).
    pub account: String,
}

impl RoomRow {
    pub fn from_room(room: &Room) -> RoomRow {
        RoomRow {
            id: room.id.clone(),
            name: room.name.clone(),
            create_time: room.create_time,
            update_time: room.update_time,
            max_rate: room.maximum_message_rate_per_second,
            max_length: room.maximum_message_length,
            review_uri: room.review_handler_uri.clone(),
            review_fallback: room.review_fallback.as_str().to_string(),
            tags: to_json(&room.tags),
            logging_ids: to_json(&room.logging_configuration_ids),
            account: room.account.clone(),
        }
    }

    pub fn into_room(self) -> Result<Room, StoreError> {
        Ok(Room {
            review_fallback: FallbackResult::parse(&self.review_fallback)
                .ok_or_else(|| corrupt("rooms.review_fallback", &self.review_fallback))?,
            tags: from_json(&self.tags)?,
            logging_configuration_ids: from_json(&self.logging_ids)?,
            id: self.id,
            account: self.account,
            name: self.name,
            create_time: self.create_time,
            update_time: self.update_time,
            maximum_message_rate_per_second: self.max_rate,
            maximum_message_length: self.max_length,
            review_handler_uri: self.review_uri,
        })
    }
}

/// One row of `logging_configurations`, as stored.
#[derive(Debug, sqlx::FromRow)]
pub struct LoggingRow {
    pub id: String,
    pub name: String,
    pub create_time: i64,
    pub update_time: i64,
    /// JSON `DestinationConfiguration`.
    pub destination: String,
    pub state: String,
    /// JSON object.
    pub tags: String,
    /// The owning account's key (migration 0004).
    pub account: String,
}

impl LoggingRow {
    pub fn from_config(config: &LoggingConfiguration) -> LoggingRow {
        LoggingRow {
            id: config.id.clone(),
            name: config.name.clone(),
            create_time: config.create_time,
            update_time: config.update_time,
            destination: to_json(&config.destination),
            state: config.state.as_str().to_string(),
            tags: to_json(&config.tags),
            account: config.account.clone(),
        }
    }

    pub fn into_config(self) -> Result<LoggingConfiguration, StoreError> {
        Ok(LoggingConfiguration {
            destination: from_json(&self.destination)?,
            state: LoggingState::parse(&self.state)
                .ok_or_else(|| corrupt("logging_configurations.state", &self.state))?,
            tags: from_json(&self.tags)?,
            id: self.id,
            account: self.account,
            name: self.name,
            create_time: self.create_time,
            update_time: self.update_time,
        })
    }
}

pub fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Maps of strings, lists of strings and the destination enum always serialise.
    serde_json::to_string(value).unwrap_or_default()
}

pub fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Backend(anyhow::anyhow!("corrupt JSON column: {e}")))
}

fn corrupt(column: &str, value: &str) -> StoreError {
    StoreError::Backend(anyhow::anyhow!("corrupt {column} value {value:?}"))
}

/// Turns a database error into [`StoreError::Backend`], saying what the store was doing.
/// The message includes the database's own, so the error reads whole even where it is
/// logged with `{}` rather than `{:#}`.
pub trait DbContext<T> {
    fn store_context(self, doing: &'static str) -> Result<T, StoreError>;
}

impl<T> DbContext<T> for Result<T, sqlx::Error> {
    fn store_context(self, doing: &'static str) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::Backend(anyhow::anyhow!("{doing}: {e}")))
    }
}
