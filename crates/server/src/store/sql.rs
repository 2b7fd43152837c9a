//! The SQL both databases run: every statement behind [`Store`], written once, and
//! [`SqlStore`], which runs them on SQLite or PostgreSQL (generic over the sqlx database).
//! What differs between the two is the [`Dialect`]: a few row-lock clauses and how quota
//! checks take turns. `sqlite.rs` and `postgres.rs` fill it in and own the rest: connecting,
//! migrating, SQLite's room cache and PostgreSQL's schemas.
//!
//! Placeholders are PostgreSQL's `$1, $2, …` everywhere: sqlx's SQLite driver binds `$N` to
//! the N-th argument too. Statements that splice in a column list or a dialect clause are
//! built once, when the store opens ([`Statements`]); the others are constants. sqlx prepares
//! each text once per connection and keeps it.
//!
//! Every statement that reads or writes a room or logging configuration names the account it
//! acts for (`account = $N`, README "Several accounts"): another account's row is never read,
//! so it is "not found" exactly as a row that does not exist. The quotas count one account's
//! rows.
//!
//! Every read-modify-write is one transaction that reads its row with the dialect's lock
//! clause, so concurrent writers of a row take turns and never lose each other's changes.
//! Quota checks count rows and then insert; the dialect's quota lock, taken first, keeps two
//! writers from both seeing "one slot left". (SQLite writes through a single connection, so its
//! transactions never overlap and it needs neither.)

use std::fmt::Write;

use async_trait::async_trait;
use ivschat_proto::control::StringMap;
use sqlx::Arguments;
use sqlx::{
    ColumnIndex, Database, Decode, Encode, Executor, FromRow, IntoArguments, Pool, Transaction,
    Type,
};

use super::rows::{
    from_json, to_json, DbContext, LoggingRow, RoomRow, LOGGING_COLUMNS, ROOM_COLUMNS,
};
use super::{
    LoggingChange, Owner, PageCursor, RoomChange, RoomFilter, Store, StoreError, TagsChange,
};
use crate::config::Quotas;
use crate::domain::arn::ResourceKind;
use crate::domain::key_ring::{plan_rotation, Rotation, StoredKey};
use crate::domain::resources::{LoggingConfiguration, Room};

/// The SQL that differs between the databases.
pub struct Dialect {
    /// Appended to the `SELECT` of a row that the transaction then rewrites (never its key):
    /// read-modify-writes of one row take turns.
    pub lock_to_rewrite: &'static str,
    /// Appended to the `SELECT` of a row that the transaction then deletes.
    pub lock_to_delete: &'static str,
    /// Appended to the `SELECT` that checks a row a new reference will point at: the row
    /// cannot be deleted until the transaction ends.
    pub lock_referenced: &'static str,
    /// Statements that make quota checks take turns, run first in the transaction; `None`
    /// where write transactions never overlap.
    pub quota_locks: Option<QuotaLocks>,
    /// True when every node of a cluster shares the database, which then keeps the cluster's
    /// chat-token keys (the `chat_token_keys` table, PostgreSQL's migration 0003). SQLite is
    /// one node's own: its keys stay a file in the data directory.
    pub keeps_token_key: bool,
}

/// One statement per quota (see [`Dialect::quota_locks`]).
pub struct QuotaLocks {
    pub rooms: String,
    pub logging_configurations: String,
}

/// The statements that depend on the dialect or splice in a column list, built once.
struct Statements {
    /// Reads by id take the account as `$2`; the `_any` twins read any account's row.
    select_room: String,
    select_room_any: String,
    select_room_to_rewrite: String,
    insert_room: String,
    select_logging: String,
    select_logging_any: String,
    select_logging_to_rewrite: String,
    insert_logging: String,
    logging_exists_to_reference: String,
    logging_exists_to_delete: String,
    room_tags_to_rewrite: String,
    logging_tags_to_rewrite: String,
    /// The start of ListRooms and ListLoggingConfigurations; filters and the page follow.
    list_rooms: String,
    list_logging: String,
    quota_locks: Option<QuotaLocks>,
    keeps_token_key: bool,
    /// Appended to the read of the token keys a rotation rewrites.
    lock_token_keys: &'static str,
}

impl Statements {
    fn new(dialect: Dialect) -> Statements {
        let Dialect {
            lock_to_rewrite,
            lock_to_delete,
            lock_referenced,
            quota_locks,
            keeps_token_key,
        } = dialect;
        Statements {
            select_room: format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE id = $1 AND account = $2"),
            select_room_any: format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE id = $1"),
            select_room_to_rewrite: format!(
                "SELECT {ROOM_COLUMNS} FROM rooms WHERE id = $1 AND account = $2{lock_to_rewrite}"
            ),
            insert_room: format!(
                "INSERT INTO rooms ({ROOM_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            ),
            select_logging: format!(
                "SELECT {LOGGING_COLUMNS} FROM logging_configurations \
                 WHERE id = $1 AND account = $2"
            ),
            select_logging_any: format!(
                "SELECT {LOGGING_COLUMNS} FROM logging_configurations WHERE id = $1"
            ),
            select_logging_to_rewrite: format!(
                "SELECT {LOGGING_COLUMNS} FROM logging_configurations \
                 WHERE id = $1 AND account = $2{lock_to_rewrite}"
            ),
            insert_logging: format!(
                "INSERT INTO logging_configurations ({LOGGING_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            ),
            logging_exists_to_reference: format!(
                "SELECT 1 FROM logging_configurations \
                 WHERE id = $1 AND account = $2{lock_referenced}"
            ),
            logging_exists_to_delete: format!(
                "SELECT 1 FROM logging_configurations \
                 WHERE id = $1 AND account = $2{lock_to_delete}"
            ),
            room_tags_to_rewrite: format!(
                "SELECT tags FROM rooms WHERE id = $1 AND account = $2{lock_to_rewrite}"
            ),
            logging_tags_to_rewrite: format!(
                "SELECT tags FROM logging_configurations \
                 WHERE id = $1 AND account = $2{lock_to_rewrite}"
            ),
            // The account is the first argument; filters and the page follow.
            list_rooms: format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE account = "),
            list_logging: format!(
                "SELECT {LOGGING_COLUMNS} FROM logging_configurations WHERE account = "
            ),
            quota_locks,
            keeps_token_key,
            lock_token_keys: lock_to_rewrite,
        }
    }
}

/// Writes back a room read by `select_room_to_rewrite` (everything but `create_time` and the
/// account may have changed). The writes below address a row by its id alone: the transaction
/// has already read it in the caller's account.
const UPDATE_ROOM: &str = "UPDATE rooms SET name = $2, update_time = $3, max_rate = $4, \
                           max_length = $5, review_uri = $6, review_fallback = $7, tags = $8, \
                           logging_ids = $9 WHERE id = $1";
const UPDATE_LOGGING: &str = "UPDATE logging_configurations SET name = $2, update_time = $3, \
                              destination = $4, state = $5, tags = $6 WHERE id = $1";
const UPDATE_ROOM_TAGS: &str = "UPDATE rooms SET tags = $2 WHERE id = $1";
const UPDATE_LOGGING_TAGS: &str = "UPDATE logging_configurations SET tags = $2 WHERE id = $1";
/// Quotas count one account's rows.
const COUNT_ROOMS: &str = "SELECT COUNT(*) FROM rooms WHERE account = $1";
const COUNT_LOGGING: &str = "SELECT COUNT(*) FROM logging_configurations WHERE account = $1";
/// room_logging rows go with the room (ON DELETE CASCADE).
const DELETE_ROOM: &str = "DELETE FROM rooms WHERE id = $1 AND account = $2";
const DELETE_LOGGING: &str = "DELETE FROM logging_configurations WHERE id = $1";
const DETACH_ALL_LOGGING: &str = "DELETE FROM room_logging WHERE room_id = $1";
const ATTACH_LOGGING: &str =
    "INSERT INTO room_logging (room_id, logging_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
const FIRST_ROOM_USING_LOGGING: &str =
    "SELECT room_id FROM room_logging WHERE logging_id = $1 ORDER BY room_id LIMIT 1";
/// The first node to start stores its candidate key as generation 1; the others' inserts do
/// nothing (the table is no longer empty, or their generation 1 conflicts), and every node
/// reads back what is there (race-free without a lock: the primary key decides).
const INSERT_FIRST_TOKEN_KEY: &str =
    "INSERT INTO chat_token_keys (generation, key_hex, activate_time, retire_time) \
     SELECT 1, $1, 0, NULL WHERE NOT EXISTS (SELECT 1 FROM chat_token_keys) \
     ON CONFLICT (generation) DO NOTHING";
const SELECT_TOKEN_KEYS: &str = "SELECT generation, key_hex, activate_time, retire_time \
                                 FROM chat_token_keys ORDER BY generation";
const DELETE_TOKEN_KEY: &str = "DELETE FROM chat_token_keys WHERE generation = $1";
const RETIRE_TOKEN_KEY: &str = "UPDATE chat_token_keys SET retire_time = $2 WHERE generation = $1";
const INSERT_TOKEN_KEY: &str =
    "INSERT INTO chat_token_keys (generation, key_hex, activate_time, retire_time) \
     VALUES ($1, $2, $3, NULL)";
/// Both lists: newest update first, id breaks ties (the index order, see the migrations).
const PAGE_ORDER: &str = " ORDER BY update_time DESC, id DESC LIMIT ";

/// A [`Store`] in an SQL database.
pub struct SqlStore<DB: Database> {
    /// Runs the transactions and every other write.
    writer: Pool<DB>,
    /// Runs the reads outside transactions (may be `writer`).
    reader: Pool<DB>,
    sql: Statements,
    /// Bounds on each [`Store`] call; `None` runs them to completion (SQLite, a local file).
    deadlines: Option<Deadlines>,
}

/// How long a [`Store`] call may take on a database across a network, which can go silent
/// without closing (`postgres.rs`, "Liveness"). A call that runs out fails as a backend error;
/// a transaction it had begun is rolled back (or, if its commit was already on its way, may
/// have committed: the caller was told it failed, as for any lost reply).
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    pub operation: std::time::Duration,
    /// `/ready`'s ping.
    pub ping: std::time::Duration,
}

impl<DB> SqlStore<DB>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i32: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> RoomRow: FromRow<'r, DB::Row>,
    for<'r> LoggingRow: FromRow<'r, DB::Row>,
    usize: ColumnIndex<DB::Row>,
    DB::QueryResult: RowsAffected,
{
    /// A store that writes through `writer` and reads through `reader`, in an up-to-date
    /// schema.
    pub fn new(writer: Pool<DB>, reader: Pool<DB>, dialect: Dialect) -> SqlStore<DB> {
        SqlStore {
            writer,
            reader,
            sql: Statements::new(dialect),
            deadlines: None,
        }
    }

    /// Bounds every [`Store`] call (see [`Deadlines`]).
    pub fn with_deadlines(self, deadlines: Deadlines) -> SqlStore<DB> {
        SqlStore {
            deadlines: Some(deadlines),
            ..self
        }
    }

    /// Runs `call` within the operation deadline, if there is one.
    async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        within(self.deadlines.map(|d| d.operation), call).await
    }

    async fn begin(&self) -> Result<Transaction<'static, DB>, StoreError> {
        self.writer
            .begin()
            .await
            .store_context("starting a transaction")
    }

    pub async fn insert_room(&self, room: &Room, quotas: &Quotas) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        self.lock_quota(&mut tx, |locks| &locks.rooms).await?;
        if Self::count(&mut tx, COUNT_ROOMS, &room.account).await? >= quotas.rooms {
            return Err(StoreError::QuotaExceeded {
                what: "rooms",
                limit: quotas.rooms,
            });
        }
        let row = RoomRow::from_room(room);
        sqlx::query(&self.sql.insert_room)
            .bind(row.id.as_str())
            .bind(row.name.as_str())
            .bind(row.create_time)
            .bind(row.update_time)
            .bind(row.max_rate)
            .bind(row.max_length)
            .bind(row.review_uri.as_deref())
            .bind(row.review_fallback.as_str())
            .bind(row.tags.as_str())
            .bind(row.logging_ids.as_str())
            .bind(row.account.as_str())
            .execute(&mut *tx)
            .await
            .store_context("inserting a room")?;
        self.attach_logging(&mut tx, room, quotas).await?;
        tx.commit().await.store_context("committing a new room")
    }

    pub async fn get_room(&self, owner: Owner<'_>, id: &str) -> Result<Option<Room>, StoreError> {
        let query = match owner {
            Owner::Account(account) => sqlx::query_as(&self.sql.select_room).bind(id).bind(account),
            Owner::Any => sqlx::query_as(&self.sql.select_room_any).bind(id),
        };
        let row: Option<RoomRow> = query
            .fetch_optional(&self.reader)
            .await
            .store_context("reading a room")?;
        row.map(RoomRow::into_room).transpose()
    }

    pub async fn update_room(
        &self,
        account: &str,
        id: &str,
        quotas: &Quotas,
        change: RoomChange,
    ) -> Result<Room, StoreError> {
        let mut tx = self.begin().await?;
        let row: Option<RoomRow> = sqlx::query_as(&self.sql.select_room_to_rewrite)
            .bind(id)
            .bind(account)
            .fetch_optional(&mut *tx)
            .await
            .store_context("reading a room")?;
        let mut room = row
            .ok_or_else(|| not_found(ResourceKind::Room, id))?
            .into_room()?;
        let attached_before = room.logging_configuration_ids.clone();
        change(&mut room).map_err(StoreError::Rejected)?;
        let row = RoomRow::from_room(&room);
        sqlx::query(UPDATE_ROOM)
            .bind(id)
            .bind(row.name.as_str())
            .bind(row.update_time)
            .bind(row.max_rate)
            .bind(row.max_length)
            .bind(row.review_uri.as_deref())
            .bind(row.review_fallback.as_str())
            .bind(row.tags.as_str())
            .bind(row.logging_ids.as_str())
            .execute(&mut *tx)
            .await
            .store_context("updating a room")?;
        if room.logging_configuration_ids != attached_before {
            self.attach_logging(&mut tx, &room, quotas).await?;
        }
        tx.commit()
            .await
            .store_context("committing a room update")?;
        Ok(room)
    }

    pub async fn delete_room(&self, account: &str, id: &str) -> Result<(), StoreError> {
        let done = sqlx::query(DELETE_ROOM)
            .bind(id)
            .bind(account)
            .execute(&self.writer)
            .await
            .store_context("deleting a room")?;
        if done.rows_affected() == 0 {
            return Err(not_found(ResourceKind::Room, id));
        }
        Ok(())
    }

    pub async fn list_rooms(
        &self,
        account: &str,
        filter: &RoomFilter,
        after: Option<&PageCursor>,
        limit: usize,
    ) -> Result<Vec<Room>, StoreError> {
        let mut query = ListQuery::<DB>::new(&self.sql.list_rooms);
        query.bind(account);
        if let Some(name) = &filter.name {
            query.push(" AND name = ").bind(name.as_str());
        }
        match filter.review_handler_uri.as_deref() {
            Some("") => {
                query.push(" AND review_uri IS NULL");
            }
            Some(uri) => {
                query.push(" AND review_uri = ").bind(uri);
            }
            None => {}
        }
        if let Some(logging_id) = &filter.logging_configuration_id {
            query
                .push(" AND id IN (SELECT room_id FROM room_logging WHERE logging_id = ")
                .bind(logging_id.as_str())
                .push(")");
        }
        query.page(after, limit);
        let (text, args) = query.finish()?;
        let rows: Vec<RoomRow> = sqlx::query_as_with(&text, args)
            .fetch_all(&self.reader)
            .await
            .store_context("listing rooms")?;
        rows.into_iter().map(RoomRow::into_room).collect()
    }

    pub async fn insert_logging_configuration(
        &self,
        config: &LoggingConfiguration,
        quotas: &Quotas,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        self.lock_quota(&mut tx, |locks| &locks.logging_configurations)
            .await?;
        if Self::count(&mut tx, COUNT_LOGGING, &config.account).await?
            >= quotas.logging_configurations
        {
            return Err(StoreError::QuotaExceeded {
                what: "logging configurations",
                limit: quotas.logging_configurations,
            });
        }
        let row = LoggingRow::from_config(config);
        sqlx::query(&self.sql.insert_logging)
            .bind(row.id.as_str())
            .bind(row.name.as_str())
            .bind(row.create_time)
            .bind(row.update_time)
            .bind(row.destination.as_str())
            .bind(row.state.as_str())
            .bind(row.tags.as_str())
            .bind(row.account.as_str())
            .execute(&mut *tx)
            .await
            .store_context("inserting a logging configuration")?;
        tx.commit()
            .await
            .store_context("committing a new logging configuration")
    }

    pub async fn get_logging_configuration(
        &self,
        owner: Owner<'_>,
        id: &str,
    ) -> Result<Option<LoggingConfiguration>, StoreError> {
        let query = match owner {
            Owner::Account(account) => sqlx::query_as(&self.sql.select_logging)
                .bind(id)
                .bind(account),
            Owner::Any => sqlx::query_as(&self.sql.select_logging_any).bind(id),
        };
        let row: Option<LoggingRow> = query
            .fetch_optional(&self.reader)
            .await
            .store_context("reading a logging configuration")?;
        row.map(LoggingRow::into_config).transpose()
    }

    pub async fn update_logging_configuration(
        &self,
        account: &str,
        id: &str,
        change: LoggingChange,
    ) -> Result<LoggingConfiguration, StoreError> {
        let mut tx = self.begin().await?;
        let row: Option<LoggingRow> = sqlx::query_as(&self.sql.select_logging_to_rewrite)
            .bind(id)
            .bind(account)
            .fetch_optional(&mut *tx)
            .await
            .store_context("reading a logging configuration")?;
        let mut config = row
            .ok_or_else(|| not_found(ResourceKind::LoggingConfiguration, id))?
            .into_config()?;
        change(&mut config).map_err(StoreError::Rejected)?;
        let row = LoggingRow::from_config(&config);
        sqlx::query(UPDATE_LOGGING)
            .bind(id)
            .bind(row.name.as_str())
            .bind(row.update_time)
            .bind(row.destination.as_str())
            .bind(row.state.as_str())
            .bind(row.tags.as_str())
            .execute(&mut *tx)
            .await
            .store_context("updating a logging configuration")?;
        tx.commit()
            .await
            .store_context("committing a logging configuration update")?;
        Ok(config)
    }

    pub async fn delete_logging_configuration(
        &self,
        account: &str,
        id: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        // Locked first (for deletion, which the lock taken by `attach_logging` waits for), so
        // a room being attached to it concurrently either committed before (and shows up
        // below) or waits and then finds it gone.
        let found: Option<i32> = sqlx::query_scalar(&self.sql.logging_exists_to_delete)
            .bind(id)
            .bind(account)
            .fetch_optional(&mut *tx)
            .await
            .store_context("locking a logging configuration")?;
        if found.is_none() {
            return Err(not_found(ResourceKind::LoggingConfiguration, id));
        }
        let user: Option<String> = sqlx::query_scalar(FIRST_ROOM_USING_LOGGING)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .store_context("checking which rooms use a logging configuration")?;
        if let Some(room_id) = user {
            return Err(StoreError::InUse {
                logging_id: id.to_string(),
                room_id,
            });
        }
        sqlx::query(DELETE_LOGGING)
            .bind(id)
            .execute(&mut *tx)
            .await
            .store_context("deleting a logging configuration")?;
        tx.commit()
            .await
            .store_context("committing a logging configuration deletion")
    }

    pub async fn list_logging_configurations(
        &self,
        account: &str,
        after: Option<&PageCursor>,
        limit: usize,
    ) -> Result<Vec<LoggingConfiguration>, StoreError> {
        let mut query = ListQuery::<DB>::new(&self.sql.list_logging);
        query.bind(account);
        query.page(after, limit);
        let (text, args) = query.finish()?;
        let rows: Vec<LoggingRow> = sqlx::query_as_with(&text, args)
            .fetch_all(&self.reader)
            .await
            .store_context("listing logging configurations")?;
        rows.into_iter().map(LoggingRow::into_config).collect()
    }

    pub async fn update_tags(
        &self,
        account: &str,
        kind: ResourceKind,
        id: &str,
        change: TagsChange,
    ) -> Result<StringMap, StoreError> {
        let (select, update) = match kind {
            ResourceKind::Room => (&self.sql.room_tags_to_rewrite, UPDATE_ROOM_TAGS),
            ResourceKind::LoggingConfiguration => {
                (&self.sql.logging_tags_to_rewrite, UPDATE_LOGGING_TAGS)
            }
        };
        let mut tx = self.begin().await?;
        let current: Option<String> = sqlx::query_scalar(select)
            .bind(id)
            .bind(account)
            .fetch_optional(&mut *tx)
            .await
            .store_context("reading tags")?;
        let current = current.ok_or_else(|| not_found(kind, id))?;
        let mut tags: StringMap = from_json(&current)?;
        change(&mut tags).map_err(StoreError::Rejected)?;
        let json = to_json(&tags);
        sqlx::query(update)
            .bind(id)
            .bind(json.as_str())
            .execute(&mut *tx)
            .await
            .store_context("updating tags")?;
        tx.commit()
            .await
            .store_context("committing a tags update")?;
        Ok(tags)
    }

    /// The cluster's chat-token keys (see [`Store::token_keys`]).
    pub async fn token_keys(&self, candidate: &str) -> Result<Option<Vec<StoredKey>>, StoreError> {
        if !self.sql.keeps_token_key {
            return Ok(None);
        }
        // Every node reads this every few seconds: only a read once the first key exists.
        let keys = Self::read_token_keys(&self.writer, "").await?;
        if !keys.is_empty() {
            return Ok(Some(keys));
        }
        sqlx::query(INSERT_FIRST_TOKEN_KEY)
            .bind(candidate)
            .execute(&self.writer)
            .await
            .store_context("storing the cluster's first chat-token key")?;
        let keys = Self::read_token_keys(&self.writer, "").await?;
        Ok(Some(keys))
    }

    /// Rotates the cluster's chat-token key (see [`Store::rotate_token_key`]). The rows are
    /// locked while the rotation is planned; a rotation run at the same moment elsewhere
    /// plans the same generation and fails on the primary key rather than overwrite this one.
    pub async fn rotate_token_key(
        &self,
        new_key_hex: &str,
        now: i64,
    ) -> Result<Option<Rotation>, StoreError> {
        if !self.sql.keeps_token_key {
            return Ok(None);
        }
        let mut tx = self.begin().await?;
        let existing = Self::read_token_keys(&mut *tx, self.sql.lock_token_keys).await?;
        let rotation = plan_rotation(&existing, new_key_hex.to_string(), now);
        for generation in &rotation.removed {
            sqlx::query(DELETE_TOKEN_KEY)
                .bind(*generation)
                .execute(&mut *tx)
                .await
                .store_context("deleting a retired chat-token key")?;
        }
        for key in &rotation.keys {
            let before = existing.iter().find(|k| k.generation == key.generation);
            if let (Some(before), Some(retire)) = (before, key.retire_micros) {
                if before.retire_micros != Some(retire) {
                    sqlx::query(RETIRE_TOKEN_KEY)
                        .bind(key.generation)
                        .bind(retire)
                        .execute(&mut *tx)
                        .await
                        .store_context("retiring a chat-token key")?;
                }
            }
        }
        sqlx::query(INSERT_TOKEN_KEY)
            .bind(rotation.added.generation)
            .bind(rotation.added.key_hex.as_str())
            .bind(rotation.added.activate_micros)
            .execute(&mut *tx)
            .await
            .store_context(
                "adding the new chat-token key (did another rotation run at the same moment? \
                 run it again)",
            )?;
        tx.commit()
            .await
            .store_context("committing a chat-token key rotation")?;
        Ok(Some(rotation))
    }

    async fn read_token_keys<'e, E>(executor: E, lock: &str) -> Result<Vec<StoredKey>, StoreError>
    where
        E: Executor<'e, Database = DB>,
    {
        let rows: Vec<(i64, String, i64, Option<i64>)> =
            sqlx::query_as(&format!("{SELECT_TOKEN_KEYS}{lock}"))
                .fetch_all(executor)
                .await
                .store_context("reading the cluster's chat-token keys")?;
        Ok(rows
            .into_iter()
            .map(
                |(generation, key_hex, activate_micros, retire_micros)| StoredKey {
                    generation,
                    key_hex,
                    activate_micros,
                    retire_micros,
                },
            )
            .collect())
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(|e| StoreError::Backend(anyhow::anyhow!("pinging {}: {e}", DB::NAME)))?;
        Ok(())
    }

    async fn count(
        tx: &mut Transaction<'static, DB>,
        sql: &'static str,
        account: &str,
    ) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(sql)
            .bind(account)
            .fetch_one(&mut **tx)
            .await
            .store_context("counting rows")?;
        Ok(n.max(0) as u64)
    }

    /// Takes the dialect's lock for the quota `which` picks, if it has one, until the
    /// transaction ends. It is its own statement, run before counting: in READ COMMITTED each
    /// statement sees everything committed before it started, including the previous
    /// holder's insert.
    async fn lock_quota(
        &self,
        tx: &mut Transaction<'static, DB>,
        which: fn(&QuotaLocks) -> &String,
    ) -> Result<(), StoreError> {
        if let Some(locks) = &self.sql.quota_locks {
            sqlx::query(which(locks))
                .execute(&mut **tx)
                .await
                .store_context("waiting for a quota lock")?;
        }
        Ok(())
    }

    /// Checks that every attached logging configuration exists in the room's account and
    /// records the attachments.
    ///
    /// Each configuration is read with the dialect's `lock_referenced`, which conflicts with
    /// the lock a concurrent delete takes first: either the delete sees this room's
    /// attachment and refuses with `InUse`, or this waits, sees the configuration gone and
    /// fails with `NotFound`.
    async fn attach_logging(
        &self,
        tx: &mut Transaction<'static, DB>,
        room: &Room,
        quotas: &Quotas,
    ) -> Result<(), StoreError> {
        if room.logging_configuration_ids.len() as u64 > quotas.logging_configurations_per_room {
            return Err(StoreError::QuotaExceeded {
                what: "logging configurations per room",
                limit: quotas.logging_configurations_per_room,
            });
        }
        sqlx::query(DETACH_ALL_LOGGING)
            .bind(room.id.as_str())
            .execute(&mut **tx)
            .await
            .store_context("detaching logging configurations")?;
        for logging_id in &room.logging_configuration_ids {
            let exists: Option<i32> = sqlx::query_scalar(&self.sql.logging_exists_to_reference)
                .bind(logging_id.as_str())
                .bind(room.account.as_str())
                .fetch_optional(&mut **tx)
                .await
                .store_context("checking a logging configuration")?;
            if exists.is_none() {
                return Err(not_found(ResourceKind::LoggingConfiguration, logging_id));
            }
            sqlx::query(ATTACH_LOGGING)
                .bind(room.id.as_str())
                .bind(logging_id.as_str())
                .execute(&mut **tx)
                .await
                .store_context("attaching a logging configuration")?;
        }
        Ok(())
    }
}

// The same bounds as the inherent impl above (Rust does not carry them over).
#[async_trait]
impl<DB> Store for SqlStore<DB>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i32: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> RoomRow: FromRow<'r, DB::Row>,
    for<'r> LoggingRow: FromRow<'r, DB::Row>,
    usize: ColumnIndex<DB::Row>,
    DB::QueryResult: RowsAffected,
{
    async fn insert_room(&self, room: &Room, quotas: &Quotas) -> Result<(), StoreError> {
        self.bounded(SqlStore::insert_room(self, room, quotas))
            .await
    }

    async fn get_room(&self, owner: Owner<'_>, id: &str) -> Result<Option<Room>, StoreError> {
        self.bounded(SqlStore::get_room(self, owner, id)).await
    }

    async fn update_room(
        &self,
        account: &str,
        id: &str,
        quotas: &Quotas,
        change: RoomChange,
    ) -> Result<Room, StoreError> {
        self.bounded(SqlStore::update_room(self, account, id, quotas, change))
            .await
    }

    async fn delete_room(&self, account: &str, id: &str) -> Result<(), StoreError> {
        self.bounded(SqlStore::delete_room(self, account, id)).await
    }

    async fn list_rooms(
        &self,
        account: &str,
        filter: &RoomFilter,
        after: Option<&PageCursor>,
        limit: usize,
    ) -> Result<Vec<Room>, StoreError> {
        self.bounded(SqlStore::list_rooms(self, account, filter, after, limit))
            .await
    }

    async fn insert_logging_configuration(
        &self,
        config: &LoggingConfiguration,
        quotas: &Quotas,
    ) -> Result<(), StoreError> {
        self.bounded(SqlStore::insert_logging_configuration(self, config, quotas))
            .await
    }

    async fn get_logging_configuration(
        &self,
        owner: Owner<'_>,
        id: &str,
    ) -> Result<Option<LoggingConfiguration>, StoreError> {
        self.bounded(SqlStore::get_logging_configuration(self, owner, id))
            .await
    }

    async fn update_logging_configuration(
        &self,
        account: &str,
        id: &str,
        change: LoggingChange,
    ) -> Result<LoggingConfiguration, StoreError> {
        self.bounded(SqlStore::update_logging_configuration(
            self, account, id, change,
        ))
        .await
    }

    async fn delete_logging_configuration(
        &self,
        account: &str,
        id: &str,
    ) -> Result<(), StoreError> {
        self.bounded(SqlStore::delete_logging_configuration(self, account, id))
            .await
    }

    async fn list_logging_configurations(
        &self,
        account: &str,
        after: Option<&PageCursor>,
        limit: usize,
    ) -> Result<Vec<LoggingConfiguration>, StoreError> {
        self.bounded(SqlStore::list_logging_configurations(
            self, account, after, limit,
        ))
        .await
    }

    async fn update_tags(
        &self,
        account: &str,
        kind: ResourceKind,
        id: &str,
        change: TagsChange,
    ) -> Result<StringMap, StoreError> {
        self.bounded(SqlStore::update_tags(self, account, kind, id, change))
            .await
    }

    async fn token_keys(&self, candidate: &str) -> Result<Option<Vec<StoredKey>>, StoreError> {
        self.bounded(SqlStore::token_keys(self, candidate)).await
    }

    async fn rotate_token_key(
        &self,
        new_key_hex: &str,
        now: i64,
    ) -> Result<Option<Rotation>, StoreError> {
        self.bounded(SqlStore::rotate_token_key(self, new_key_hex, now))
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        within(self.deadlines.map(|d| d.ping), SqlStore::ping(self)).await
    }
}

/// Runs `call`, failing it as a backend error once `limit` (if any) has passed.
async fn within<T>(
    limit: Option<std::time::Duration>,
    call: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let Some(limit) = limit else {
        return call.await;
    };
    tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
        Err(StoreError::Backend(anyhow::anyhow!(
            "the database did not answer within {limit:?}"
        )))
    })
}

/// A list query, built per call since its filters vary: its text, with a `$N` placeholder
/// for each argument.
struct ListQuery<'q, DB: Database> {
    text: String,
    args: DB::Arguments<'q>,
    /// The first argument that failed to encode.
    error: Option<sqlx::error::BoxDynError>,
}

impl<'q, DB: Database> ListQuery<'q, DB> {
    fn new(start: &str) -> ListQuery<'q, DB> {
        let mut text = String::with_capacity(start.len() + 160);
        text.push_str(start);
        ListQuery {
            text,
            args: Default::default(),
            error: None,
        }
    }

    fn push(&mut self, sql: &str) -> &mut Self {
        self.text.push_str(sql);
        self
    }

    fn bind<T: 'q + Encode<'q, DB> + Type<DB>>(&mut self, value: T) -> &mut Self {
        if let Err(e) = self.args.add(value) {
            self.error.get_or_insert(e);
        }
        let _ = write!(self.text, "${}", self.args.len());
        self
    }

    /// Ends the query: the page after `after` (newest first), at most `limit` rows.
    fn page(&mut self, after: Option<&'q PageCursor>, limit: usize)
    where
        &'q str: Encode<'q, DB> + Type<DB>,
        i64: Encode<'q, DB> + Type<DB>,
    {
        // A row-value comparison: both databases search the (update_time DESC, id DESC)
        // index from the cursor with it.
        if let Some(cursor) = after {
            self.push(" AND (update_time, id) < (")
                .bind(cursor.update_time)
                .push(", ")
                .bind(cursor.id.as_str())
                .push(")");
        }
        self.push(PAGE_ORDER).bind(limit as i64);
    }

    fn finish(self) -> Result<(String, DB::Arguments<'q>), StoreError> {
        match self.error {
            Some(e) => Err(StoreError::Backend(anyhow::anyhow!(
                "encoding a list query's argument: {e}"
            ))),
            None => Ok((self.text, self.args)),
        }
    }
}

/// `rows_affected`, which sqlx's query results each have but not in a shared trait.
pub trait RowsAffected {
    fn rows_affected(&self) -> u64;
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

fn not_found(kind: ResourceKind, id: &str) -> StoreError {
    StoreError::NotFound {
        kind,
        id: id.to_string(),
    }
}

/// Fails unless `migrator` still embeds each `released` migration, given as (version,
/// SHA-384 checksum of its file in hex), unchanged.
///
/// sqlx records each applied migration's checksum and refuses to open a database whose
/// recorded checksum differs from the file's: a migration that has shipped must stay
/// byte-identical, or every database created by that release stops opening. (New migrations
/// are new files; the backends' tests list them once released.)
#[cfg(test)]
pub fn assert_released_migrations_unchanged(
    migrator: &sqlx::migrate::Migrator,
    released: &[(i64, &str)],
) {
    for &(version, checksum) in released {
        let embedded = migrator.iter().find(|m| m.version == version);
        let embedded = embedded.map(|m| {
            m.checksum
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        });
        assert_eq!(
            embedded.as_deref(),
            Some(checksum),
            "migration {version} changed since it was released"
        );
    }
}
