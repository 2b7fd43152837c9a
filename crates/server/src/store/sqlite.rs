//! The embedded store: SQLite in WAL mode with `synchronous = FULL`, so a write that
//! returned has reached the disk and survives `kill -9` or power loss.
//!
//! One connection writes (SQLite allows one writer at a time anyway, and a single writer
//! connection means transactions never fail with SQLITE_BUSY); a small pool reads
//! concurrently, which WAL allows. Rooms read by id are kept in a small in-process cache
//! ([`RoomCache`]), because that read sits on the hot path of CreateChatToken, GetRoom and the
//! chat handshake.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use ivschat_proto::control::StringMap;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Sqlite, Transaction};

use super::rows::{
    from_json, to_json, DbContext, LoggingRow, RoomRow, LOGGING_COLUMNS, ROOM_COLUMNS,
};
use super::{LoggingChange, PageCursor, RoomChange, RoomFilter, Store, StoreError, TagsChange};
use crate::config::Quotas;
use crate::domain::arn::ResourceKind;
use crate::domain::resources::{LoggingConfiguration, Room};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    rooms: Arc<RoomCache>,
}

/// Rooms recently read by id.
///
/// Why: sqlx runs every SQLite statement on a worker thread owned by the connection, so each
/// read costs a pool checkout, a channel round trip and two thread wake-ups. Profiling
/// GetRoom under load (`bench/run-control-plane.sh`) put about half of the server's CPU time
/// in that hand-off (futex wake/wait, flume) rather than in SQLite itself. A hit here is one
/// hash lookup and a clone.
///
/// Why it is coherent: this process is the only writer of its database (several nodes share
/// PostgreSQL, never a SQLite file), and every write that can change a room goes through this
/// store. Each such write removes the room once its transaction is over (committed or not)
/// and bumps `generation`; a read that missed only fills the cache if no write ended since
/// it started, so a value read just before a concurrent write can never be cached after it.
/// A reader therefore sees a write as soon as the write has returned, as it did without the
/// cache. Room writes run in their own task ([`to_completion`]), so a request that goes away
/// mid-write (a dropped future) cannot leave a committed change behind a stale entry.
struct RoomCache {
    inner: Mutex<RoomCacheInner>,
}

#[derive(Default)]
struct RoomCacheInner {
    /// Bumped by every room write.
    generation: u64,
    rooms: HashMap<String, Room>,
    /// Sum of [`approximate_size`] over `rooms`.
    bytes: usize,
}

/// Memory the cache may hold; when a new room would not fit, it starts over (rooms read often
/// come back at once). A typical room is a few hundred bytes, so thousands fit; one with the
/// maximum 50 tags is about 20 KiB, so even those cannot grow the cache past this.
const ROOM_CACHE_BYTES: usize = 4 * 1024 * 1024;

/// Heap and map overhead of a cached room, roughly.
fn approximate_size(room: &Room) -> usize {
    const OVERHEAD: usize = 256;
    OVERHEAD
        + 2 * room.id.len()
        + room.name.len()
        + room.review_handler_uri.as_ref().map_or(0, String::len)
        + room
            .tags
            .iter()
            .map(|(k, v)| k.len() + v.len() + 64)
            .sum::<usize>()
        + room
            .logging_configuration_ids
            .iter()
            .map(|id| id.len() + 24)
            .sum::<usize>()
}

impl RoomCache {
    fn new() -> RoomCache {
        RoomCache {
            inner: Mutex::new(RoomCacheInner::default()),
        }
    }

    // Never held across an await, and only for a lookup/clone, so a std Mutex is right.
    fn lock(&self) -> std::sync::MutexGuard<'_, RoomCacheInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached room, or the generation to hand to [`RoomCache::fill`] after reading it.
    fn get(&self, id: &str) -> Result<Room, u64> {
        let inner = self.lock();
        match inner.rooms.get(id) {
            Some(room) => Ok(room.clone()),
            None => Err(inner.generation),
        }
    }

    /// Caches `room`, read from the database after [`RoomCache::get`] returned `generation`,
    /// unless a room write ended in between.
    fn fill(&self, generation: u64, room: &Room) {
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        if let Some(old) = inner.rooms.remove(&room.id) {
            inner.bytes -= approximate_size(&old);
        }
        let size = approximate_size(room);
        if inner.bytes + size > ROOM_CACHE_BYTES {
            inner.rooms.clear();
            inner.bytes = 0;
        }
        inner.rooms.insert(room.id.clone(), room.clone());
        inner.bytes += size;
    }

    /// Called when a write that may have changed room `id` is over.
    fn invalidate(&self, id: &str) {
        let mut inner = self.lock();
        inner.generation = inner.generation.wrapping_add(1);
        if let Some(old) = inner.rooms.remove(id) {
            inner.bytes -= approximate_size(&old);
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) `ivschat.db` in `data_dir` and brings its schema up to date.
    pub async fn open(data_dir: &Path) -> anyhow::Result<SqliteStore> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating data directory {}", data_dir.display()))?;
        let path = data_dir.join("ivschat.db");
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .with_context(|| format!("opening {}", path.display()))?;
        MIGRATOR
            .run(&writer)
            .await
            .with_context(|| format!("migrating {}", path.display()))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        Ok(SqliteStore {
            writer,
            reader,
            rooms: Arc::new(RoomCache::new()),
        })
    }

    async fn begin(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        begin(&self.writer).await
    }
}

async fn begin(writer: &SqlitePool) -> Result<Transaction<'static, Sqlite>, StoreError> {
    writer.begin().await.store_context("starting a transaction")
}

/// `SELECT … FROM rooms WHERE id = ?`, built once (sqlx caches prepared statements by text).
static SELECT_ROOM: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE id = ?"));

/// Runs a room write in its own task and waits for it: if the caller's future is dropped
/// (the client went away), the write and the cache invalidation after it still both happen.
async fn to_completion<T: Send + 'static>(
    write: impl std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
) -> Result<T, StoreError> {
    match tokio::spawn(write).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(StoreError::Backend(anyhow::anyhow!(
            "a room write was cancelled: {e}"
        ))),
    }
}

async fn count(tx: &mut Transaction<'_, Sqlite>, sql: &str) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query_scalar(sql)
        .fetch_one(&mut **tx)
        .await
        .store_context("counting rows")?;
    Ok(n.max(0) as u64)
}

async fn select_room(tx: &mut Transaction<'_, Sqlite>, id: &str) -> Result<Room, StoreError> {
    let row: Option<RoomRow> = sqlx::query_as(&SELECT_ROOM)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
        .store_context("reading a room")?;
    match row {
        Some(row) => row.into_room(),
        None => Err(StoreError::NotFound {
            kind: ResourceKind::Room,
            id: id.to_string(),
        }),
    }
}

async fn select_logging(
    tx: &mut Transaction<'_, Sqlite>,
    id: &str,
) -> Result<LoggingConfiguration, StoreError> {
    let row: Option<LoggingRow> = sqlx::query_as(&format!(
        "SELECT {LOGGING_COLUMNS} FROM logging_configurations WHERE id = ?"
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
    .store_context("reading a logging configuration")?;
    match row {
        Some(row) => row.into_config(),
        None => Err(StoreError::NotFound {
            kind: ResourceKind::LoggingConfiguration,
            id: id.to_string(),
        }),
    }
}

/// Checks that every attached logging configuration exists and records the attachments.
async fn attach_logging(
    tx: &mut Transaction<'_, Sqlite>,
    room: &Room,
    quotas: &Quotas,
) -> Result<(), StoreError> {
    if room.logging_configuration_ids.len() as u64 > quotas.logging_configurations_per_room {
        return Err(StoreError::QuotaExceeded {
            what: "logging configurations per room",
            limit: quotas.logging_configurations_per_room,
        });
    }
    sqlx::query("DELETE FROM room_logging WHERE room_id = ?")
        .bind(&room.id)
        .execute(&mut **tx)
        .await
        .store_context("detaching logging configurations")?;
    for logging_id in &room.logging_configuration_ids {
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM logging_configurations WHERE id = ?")
                .bind(logging_id)
                .fetch_optional(&mut **tx)
                .await
                .store_context("checking a logging configuration")?;
        if exists.is_none() {
            return Err(StoreError::NotFound {
                kind: ResourceKind::LoggingConfiguration,
                id: logging_id.clone(),
            });
        }
        sqlx::query("INSERT OR IGNORE INTO room_logging (room_id, logging_id) VALUES (?, ?)")
            .bind(&room.id)
            .bind(logging_id)
            .execute(&mut **tx)
            .await
            .store_context("attaching a logging configuration")?;
    }
    Ok(())
}

async fn insert_room_row(tx: &mut Transaction<'_, Sqlite>, room: &Room) -> Result<(), StoreError> {
    let row = RoomRow::from_room(room);
    sqlx::query(&format!(
        "INSERT INTO rooms ({ROOM_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(row.id)
    .bind(row.name)
    .bind(row.create_time)
    .bind(row.update_time)
    .bind(row.max_rate)
    .bind(row.max_length)
    .bind(row.review_uri)
    .bind(row.review_fallback)
    .bind(row.tags)
    .bind(row.logging_ids)
    .execute(&mut **tx)
    .await
    .store_context("inserting a room")?;
    Ok(())
}

/// Writes back a room read by [`select_room`] (everything but `create_time` may have changed).
async fn update_room_row(
    tx: &mut Transaction<'_, Sqlite>,
    id: &str,
    room: &Room,
) -> Result<(), StoreError> {
    let row = RoomRow::from_room(room);
    sqlx::query(
        "UPDATE rooms SET name = ?, update_time = ?, max_rate = ?, max_length = ?, \
         review_uri = ?, review_fallback = ?, tags = ?, logging_ids = ? WHERE id = ?",
    )
    .bind(row.name)
    .bind(row.update_time)
    .bind(row.max_rate)
    .bind(row.max_length)
    .bind(row.review_uri)
    .bind(row.review_fallback)
    .bind(row.tags)
    .bind(row.logging_ids)
    .bind(id)
    .execute(&mut **tx)
    .await
    .store_context("updating a room")?;
    Ok(())
}

async fn update_room_tx(
    writer: &SqlitePool,
    id: &str,
    quotas: &Quotas,
    change: RoomChange,
) -> Result<Room, StoreError> {
    let mut tx = begin(writer).await?;
    let mut room = select_room(&mut tx, id).await?;
    let attached_before = room.logging_configuration_ids.clone();
    change(&mut room).map_err(StoreError::Rejected)?;
    update_room_row(&mut tx, id, &room).await?;
    if room.logging_configuration_ids != attached_before {
        attach_logging(&mut tx, &room, quotas).await?;
    }
    tx.commit()
        .await
        .store_context("committing a room update")?;
    Ok(room)
}

async fn update_tags_tx(
    writer: &SqlitePool,
    kind: ResourceKind,
    id: &str,
    change: TagsChange,
) -> Result<StringMap, StoreError> {
    let table = match kind {
        ResourceKind::Room => "rooms",
        ResourceKind::LoggingConfiguration => "logging_configurations",
    };
    let mut tx = begin(writer).await?;
    let current: Option<String> =
        sqlx::query_scalar(&format!("SELECT tags FROM {table} WHERE id = ?"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .store_context("reading tags")?;
    let Some(current) = current else {
        return Err(StoreError::NotFound {
            kind,
            id: id.to_string(),
        });
    };
    let mut tags: StringMap = from_json(&current)?;
    change(&mut tags).map_err(StoreError::Rejected)?;
    sqlx::query(&format!("UPDATE {table} SET tags = ? WHERE id = ?"))
        .bind(to_json(&tags))
        .bind(id)
        .execute(&mut *tx)
        .await
        .store_context("updating tags")?;
    tx.commit()
        .await
        .store_context("committing a tags update")?;
    Ok(tags)
}

#[async_trait]
impl Store for SqliteStore {
    async fn insert_room(&self, room: &Room, quotas: &Quotas) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        if count(&mut tx, "SELECT COUNT(*) FROM rooms").await? >= quotas.rooms {
            return Err(StoreError::QuotaExceeded {
                what: "rooms",
                limit: quotas.rooms,
            });
        }
        insert_room_row(&mut tx, room).await?;
        attach_logging(&mut tx, room, quotas).await?;
        tx.commit().await.store_context("committing a new room")
    }

    async fn get_room(&self, id: &str) -> Result<Option<Room>, StoreError> {
        let generation = match self.rooms.get(id) {
            Ok(room) => return Ok(Some(room)),
            Err(generation) => generation,
        };
        let row: Option<RoomRow> = sqlx::query_as(&SELECT_ROOM)
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .store_context("reading a room")?;
        let room = row.map(RoomRow::into_room).transpose()?;
        if let Some(room) = &room {
            self.rooms.fill(generation, room);
        }
        Ok(room)
    }

    async fn update_room(
        &self,
        id: &str,
        quotas: &Quotas,
        change: RoomChange,
    ) -> Result<Room, StoreError> {
        let (writer, rooms, id, quotas) = (
            self.writer.clone(),
            self.rooms.clone(),
            id.to_string(),
            quotas.clone(),
        );
        to_completion(async move {
            let result = update_room_tx(&writer, &id, &quotas, change).await;
            rooms.invalidate(&id);
            result
        })
        .await
    }

    async fn delete_room(&self, id: &str) -> Result<(), StoreError> {
        let (writer, rooms, id) = (self.writer.clone(), self.rooms.clone(), id.to_string());
        to_completion(async move {
            // room_logging rows go with the room (ON DELETE CASCADE).
            let done = sqlx::query("DELETE FROM rooms WHERE id = ?")
                .bind(&id)
                .execute(&writer)
                .await
                .store_context("deleting a room");
            rooms.invalidate(&id);
            if done?.rows_affected() == 0 {
                return Err(StoreError::NotFound {
                    kind: ResourceKind::Room,
                    id,
                });
            }
            Ok(())
        })
        .await
    }

    async fn list_rooms(
        &self,
        filter: &RoomFilter,
        after: Option<&PageCursor>,
        limit: usize,
    ) -> Result<Vec<Room>, StoreError> {
        let mut sql =
            QueryBuilder::<Sqlite>::new(format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE 1 = 1"));
        if let Some(name) = &filter.name {
            sql.push(" AND name = ").push_bind(name);
        }
        match filter.review_handler_uri.as_deref() {
            Some("") => {
                sql.push(" AND review_uri IS NULL");
            }
            Some(uri) => {
                sql.push(" AND review_uri = ").push_bind(uri);
            }
            None => {}
        }
        if let Some(logging_id) = &filter.logging_configuration_id {
            sql.push(" AND id IN (SELECT room_id FROM room_logging WHERE logging_id = ")
                .push_bind(logging_id)
                .push(")");
        }
        if let Some(cursor) = after {
            sql.push(" AND (update_time < ")
                .push_bind(cursor.update_time)
                .push(" OR (update_time = ")
                .push_bind(cursor.update_time)
                .push(" AND id < ")
                .push_bind(&cursor.id)
                .push("))");
        }
        sql.push(" ORDER BY update_time DESC, id DESC LIMIT ")
            .push_bind(limit as i64);
        let rows: Vec<RoomRow> = sql
            .build_query_as()
            .fetch_all(&self.reader)
            .await
            .store_context("listing rooms")?;
        rows.into_iter().map(RoomRow::into_room).collect()
    }

    async fn insert_logging_configuration(
        &self,
        config: &LoggingConfiguration,
        quotas: &Quotas,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let existing = count(&mut tx, "SELECT COUNT(*) FROM logging_configurations").await?;
        if existing >= quotas.logging_configurations {
            return Err(StoreError::QuotaExceeded {
                what: "logging configurations",
                limit: quotas.logging_configurations,
            });
        }
        let row = LoggingRow::from_config(config);
        sqlx::query(&format!(
            "INSERT INTO logging_configurations ({LOGGING_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(row.id)
        .bind(row.name)
        .bind(row.create_time)
        .bind(row.update_time)
        .bind(row.destination)
        .bind(row.state)
        .bind(row.tags)
        .execute(&mut *tx)
        .await
        .store_context("inserting a logging configuration")?;
        tx.commit()
            .await
            .store_context("committing a new logging configuration")
    }

    async fn get_logging_configuration(
        &self,
        id: &str,
    ) -> Result<Option<LoggingConfiguration>, StoreError> {
        let row: Option<LoggingRow> = sqlx::query_as(&format!(
            "SELECT {LOGGING_COLUMNS} FROM logging_configurations WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.reader)
        .await
        .store_context("reading a logging configuration")?;
        row.map(LoggingRow::into_config).transpose()
    }

    async fn update_logging_configuration(
        &self,
        id: &str,
        change: LoggingChange,
    ) -> Result<LoggingConfiguration, StoreError> {
        let mut tx = self.begin().await?;
        let mut config = select_logging(&mut tx, id).await?;
        change(&mut config).map_err(StoreError::Rejected)?;
        let row = LoggingRow::from_config(&config);
        sqlx::query(
            "UPDATE logging_configurations SET name = ?, update_time = ?, destination = ?, \
             state = ?, tags = ? WHERE id = ?",
        )
        .bind(row.name)
        .bind(row.update_time)
        .bind(row.destination)
        .bind(row.state)
        .bind(row.tags)
        .bind(id)
        .execute(&mut *tx)
        .await
        .store_context("updating a logging configuration")?;
        tx.commit()
            .await
            .store_context("committing a logging configuration update")?;
        Ok(config)
    }

    async fn delete_logging_configuration(&self, id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let user: Option<String> = sqlx::query_scalar(
            "SELECT room_id FROM room_logging WHERE logging_id = ? ORDER BY room_id LIMIT 1",
        )
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
        let done = sqlx::query("DELETE FROM logging_configurations WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await
            .store_context("deleting a logging configuration")?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                kind: ResourceKind::LoggingConfiguration,
                id: id.to_string(),
            });
        }
        tx.commit()
            .await
            .store_context("committing a logging configuration deletion")
    }

    async fn list_logging_configurations(
        &self,
        after: Option<&PageCursor>,
        limit: usize,
    ) -> Result<Vec<LoggingConfiguration>, StoreError> {
        let mut sql = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {LOGGING_COLUMNS} FROM logging_configurations"
        ));
        if let Some(cursor) = after {
            sql.push(" WHERE (update_time < ")
                .push_bind(cursor.update_time)
                .push(" OR (update_time = ")
                .push_bind(cursor.update_time)
                .push(" AND id < ")
                .push_bind(&cursor.id)
                .push("))");
        }
        sql.push(" ORDER BY update_time DESC, id DESC LIMIT ")
            .push_bind(limit as i64);
        let rows: Vec<LoggingRow> = sql
            .build_query_as()
            .fetch_all(&self.reader)
            .await
            .store_context("listing logging configurations")?;
        rows.into_iter().map(LoggingRow::into_config).collect()
    }

    async fn update_tags(
        &self,
        kind: ResourceKind,
        id: &str,
        change: TagsChange,
    ) -> Result<StringMap, StoreError> {
        match kind {
            ResourceKind::LoggingConfiguration => {
                update_tags_tx(&self.writer, kind, id, change).await
            }
            ResourceKind::Room => {
                let (writer, rooms, id) = (self.writer.clone(), self.rooms.clone(), id.to_string());
                to_completion(async move {
                    let result = update_tags_tx(&writer, kind, &id, change).await;
                    rooms.invalidate(&id);
                    result
                })
                .await
            }
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .store_context("pinging SQLite")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::new_id;

    fn room(name: &str) -> Room {
        Room {
            id: new_id(),
            name: name.to_string(),
            create_time: 1,
            update_time: 1,
            maximum_message_rate_per_second: 10,
            maximum_message_length: 500,
            review_handler_uri: None,
            review_fallback: ivschat_proto::control::FallbackResult::Allow,
            tags: StringMap::new(),
            logging_configuration_ids: Vec::new(),
        }
    }

    #[test]
    fn a_read_that_raced_a_write_is_not_cached() {
        let cache = RoomCache::new();
        let old = room("old");
        let generation = cache.get(&old.id).unwrap_err();
        // A write to the room ends between the read's miss and its fill.
        cache.invalidate(&old.id);
        cache.fill(generation, &old);
        assert!(
            cache.get(&old.id).is_err(),
            "the stale read must not be cached"
        );
        let generation = cache.get(&old.id).unwrap_err();
        cache.fill(generation, &old);
        assert_eq!(cache.get(&old.id).unwrap(), old);
        cache.invalidate(&old.id);
        assert!(cache.get(&old.id).is_err());
    }

    #[test]
    fn a_full_cache_starts_over() {
        let cache = RoomCache::new();
        let per_room = approximate_size(&room("r"));
        let fit = ROOM_CACHE_BYTES / per_room;
        let rooms: Vec<Room> = (0..=fit).map(|_| room("r")).collect();
        for r in &rooms {
            let generation = cache.get(&r.id).unwrap_err();
            cache.fill(generation, r);
            // Filling twice does not count twice.
            cache.fill(generation, r);
        }
        assert_eq!(cache.lock().rooms.len(), 1);
        assert_eq!(cache.lock().bytes, per_room);
        assert!(cache.get(&rooms[fit].id).is_ok());
        cache.invalidate(&rooms[fit].id);
        assert_eq!(cache.lock().bytes, 0);
    }

    /// Reads after each kind of room write see the write (the cache never serves a room the
    /// database no longer has).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_see_every_room_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        let quotas = Quotas::default();
        let r = room("before");
        store.insert_room(&r, &quotas).await.unwrap();
        assert_eq!(store.get_room(&r.id).await.unwrap().unwrap().name, "before");
        store
            .update_room(
                &r.id,
                &quotas,
                Box::new(|room: &mut Room| {
                    room.name = "after".into();
                    Ok(())
                }),
            )
            .await
            .unwrap();
        assert_eq!(store.get_room(&r.id).await.unwrap().unwrap().name, "after");
        store
            .update_tags(
                ResourceKind::Room,
                &r.id,
                Box::new(|tags: &mut StringMap| {
                    tags.insert("k".into(), "v".into());
                    Ok(())
                }),
            )
            .await
            .unwrap();
        let tags = store.get_room(&r.id).await.unwrap().unwrap().tags;
        assert_eq!(tags.get("k").map(String::as_str), Some("v"));
        store.delete_room(&r.id).await.unwrap();
        assert!(store.get_room(&r.id).await.unwrap().is_none());
        assert!(matches!(
            store.delete_room(&r.id).await,
            Err(StoreError::NotFound { .. })
        ));
    }
}
