//! Persistence of rooms and logging configurations behind one trait, so the embedded
//! SQLite store and (for scale-out) PostgreSQL are interchangeable. Both run the same SQL
//! (`sql.rs`); `sqlite.rs` and `postgres.rs` hold what differs.
//!
//! Read-modify-write operations take a closure and run it inside the backend's transaction,
//! so concurrent updates never lose each other's changes and the rules (in `domain` and
//! `api`) stay out of SQL.

pub mod postgres;
mod rows;
mod sql;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use ivschat_proto::control::StringMap;
use ivschat_proto::errors::ServiceError;

use crate::config::{Config, Quotas};
use crate::domain::arn::ResourceKind;
use crate::domain::key_ring::{Rotation, StoredKey};
use crate::domain::resources::{LoggingConfiguration, Room};

/// Opens the store `config` names: PostgreSQL (in the schema named by `cluster_name`) when
/// `database_url` is set, otherwise SQLite in `data_dir`.
pub async fn open(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match &config.database_url {
        Some(url) => {
            Arc::new(postgres::PostgresStore::open(url.expose(), &config.cluster_name).await?)
        }
        None => Arc::new(sqlite::SqliteStore::open(&config.data_dir).await?),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{} {id} not found", kind.display_name())]
    NotFound { kind: ResourceKind, id: String },
    #[error("the {what} quota ({limit}) is reached")]
    QuotaExceeded { what: &'static str, limit: u64 },
    #[error("logging configuration {logging_id} is used by room {room_id}")]
    InUse { logging_id: String, room_id: String },
    /// A rule checked inside the transaction refused the change.
    #[error("{}", .0.message)]
    Rejected(ServiceError),
    #[error("storage backend: {0}")]
    Backend(#[from] anyhow::Error),
}

/// Whose rows a read sees (README "Several accounts").
///
/// Every write names the account it acts for by its key (`domain::account`); a row of
/// another account is then "not found", exactly as one that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner<'a> {
    /// The rows of the account stored under this key (`''`: the server's own account).
    Account(&'a str),
    /// Any account's: the server's own work on a resource it already holds the id of
    /// (re-reading a live room, shipping a logging configuration's records). Ids are unique
    /// across accounts.
    Any,
}

impl<'a> Owner<'a> {
    /// The key to match, `None` for any account.
    pub fn key(self) -> Option<&'a str> {
        match self {
            Owner::Account(key) => Some(key),
            Owner::Any => None,
        }
    }
}

/// ListRooms filters; they combine with AND.
#[derive(Debug, Clone, Default)]
pub struct RoomFilter {
    pub name: Option<String>,
    /// `Some("")` selects rooms without a review handler.
    pub review_handler_uri: Option<String>,
    pub logging_configuration_id: Option<String>,
}

/// Where a page starts: just after the item with this `(update_time, id)` in
/// newest-first order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageCursor {
    pub update_time: i64,
    pub id: String,
}

pub type RoomChange = Box<dyn FnOnce(&mut Room) -> Result<(), ServiceError> + Send>;
pub type LoggingChange =
    Box<dyn FnOnce(&mut LoggingConfiguration) -> Result<(), ServiceError> + Send>;
pub type TagsChange = Box<dyn FnOnce(&mut StringMap) -> Result<(), ServiceError> + Send>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Inserts a new room in `room.account`; fails if that account's room quota is reached or
    /// an attached logging configuration does not exist in it.
    async fn insert_room(&self, room: &Room, quotas: &Quotas) -> Result<(), StoreError>;
    async fn get_room(&self, owner: Owner<'_>, id: &str) -> Result<Option<Room>, StoreError>;
    /// Applies `change` to the account's stored room atomically and returns the result; the
    /// attached logging configurations must exist in the account and respect the per-room
    /// quota.
    async fn update_room(
        &self,
        account: &str,
        id: &str,
        quotas: &Quotas,
        change: RoomChange,
    ) -> Result<Room, StoreError>;
    async fn delete_room(&self, account: &str, id: &str) -> Result<(), StoreError>;
    /// Up to `limit` of the account's rooms after `after`, newest `update_time` first.
    async fn list_rooms(
        &self,
        account: &str,
        filter: &RoomFilter,
        after: Option<&PageCursor>,
        limit: usize,
    ) -> Result<Vec<Room>, StoreError>;
    /// Inserts a new logging configuration in `config.account`, within that account's quota.
    async fn insert_logging_configuration(
        &self,
        config: &LoggingConfiguration,
        quotas: &Quotas,
    ) -> Result<(), StoreError>;
    async fn get_logging_configuration(
        &self,
        owner: Owner<'_>,
        id: &str,
    ) -> Result<Option<LoggingConfiguration>, StoreError>;
    async fn update_logging_configuration(
        &self,
        account: &str,
        id: &str,
        change: LoggingChange,
    ) -> Result<LoggingConfiguration, StoreError>;
    /// Fails with [`StoreError::InUse`] while a room still uses the configuration.
    async fn delete_logging_configuration(&self, account: &str, id: &str)
        -> Result<(), StoreError>;
    async fn list_logging_configurations(
        &self,
        account: &str,
        after: Option<&PageCursor>,
        limit: usize,
    ) -> Result<Vec<LoggingConfiguration>, StoreError>;

    /// Applies `change` to the tags of one of the account's rooms or logging configurations
    /// atomically.
    async fn update_tags(
        &self,
        account: &str,
        kind: ResourceKind,
        id: &str,
        change: TagsChange,
    ) -> Result<StringMap, StoreError>;

    /// The chat-token keys every node of the cluster shares, oldest generation first
    /// (docs/scale-out.md, "The chat-token key"): the stored ones, or `candidate` as the first
    /// key if there are none yet (the first node to ask stores it; every node reads back the
    /// same). `None` when the store is one node's own (SQLite): the keys are then a file in
    /// the data directory (`token_keys.rs`).
    async fn token_keys(&self, candidate: &str) -> Result<Option<Vec<StoredKey>>, StoreError> {
        let _ = candidate;
        Ok(None)
    }

    /// Rotates the cluster's chat-token key at `now` to `new_key_hex` (see
    /// `domain::key_ring::plan_rotation`), in one transaction; `None` when the store keeps no
    /// keys (SQLite).
    async fn rotate_token_key(
        &self,
        new_key_hex: &str,
        now: i64,
    ) -> Result<Option<Rotation>, StoreError> {
        let _ = (new_key_hex, now);
        Ok(None)
    }

    /// True when the backend answers (the `/ready` probe).
    async fn ping(&self) -> Result<(), StoreError>;
}
