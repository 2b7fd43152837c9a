//! The embedded store: SQLite in WAL mode with `synchronous = FULL`, so a write that
//! returned has reached the disk and survives `kill -9` or power loss.
//!
//! One connection writes (SQLite allows one writer at a time anyway, and a single writer
//! connection means transactions never fail with SQLITE_BUSY); a small pool reads
//! concurrently, which WAL allows. Rooms read by id are kept in a small in-process cache
//! ([`RoomCache`]), because that read sits on the hot path of CreateChatToken, GetRoom and the
//! chat handshake.
//!
//! The SQL is `sql.rs`'s, run with SQLite's dialect: no row locks and no quota locks, since
//! the single writer already runs the transactions one at a time. This file owns opening and
//! migrating the database, the two pools and the room cache.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use ivschat_proto::control::StringMap;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::Sqlite;

use super::sql::{Dialect, SqlStore};
use super::{
    LoggingChange, Owner, PageCursor, RoomChange, RoomFilter, Store, StoreError, TagsChange,
};
use crate::config::Quotas;
use crate::domain::arn::ResourceKind;
use crate::domain::resources::{LoggingConfiguration, Room};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// No row locks, no quota locks: see the module doc.
const DIALECT: Dialect = Dialect {
    lock_to_rewrite: "",
    lock_to_delete: "",
    lock_referenced: "",
    quota_locks: None,
    keeps_token_key: false,
};

pub struct SqliteStore {
    sql: Arc<SqlStore<Sqlite>>,
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
        crate::private_files::create_dir_all(data_dir)
            .with_context(|| format!("creating data directory {}", data_dir.display()))?;
        let path = data_dir.join("ivschat.db");
        // Made here so that it, and the -wal and -shm files SQLite gives its mode, are 0600.
        crate::private_files::create_file(&path)
            .with_context(|| format!("creating {}", path.display()))?;
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
            sql: Arc::new(SqlStore::new(writer, reader, DIALECT)),
            rooms: Arc::new(RoomCache::new()),
        })
    }
}

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

#[async_trait]
impl Store for SqliteStore {
    async fn insert_room(&self, room: &Room, quotas: &Quotas) -> Result<(), StoreError> {
        self.sql.insert_room(room, quotas).await
    }

    async fn get_room(&self, owner: Owner<'_>, id: &str) -> Result<Option<Room>, StoreError> {
        // The cache holds rows by id whatever their account; a row of another account is
        // "not found", as the SQL read's `account = $2` answers.
        let in_scope = |room: &Room| owner.key().is_none_or(|key| room.account == key);
        let generation = match self.rooms.get(id) {
            Ok(room) => return Ok(in_scope(&room).then_some(room)),
            Err(generation) => generation,
        };
        let room = self.sql.get_room(owner, id).await?;
        if let Some(room) = &room {
            self.rooms.fill(generation, room);
        }
        Ok(room)
    }

    async fn update_room(
        &self,
        account: &str,
        id: &str,
        quotas: &Quotas,
        change: RoomChange,
    ) -> Result<Room, StoreError> {
        let (sql, rooms, account, id, quotas) = (
            self.sql.clone(),
            self.rooms.clone(),
            account.to_string(),
            id.to_string(),
            quotas.clone(),
        );
        to_completion(async move {
            let result = sql.update_room(&account, &id, &quotas, change).await;
            rooms.invalidate(&id);
            result
        })
        .await
    }

    async fn delete_room(&self, account: &str, id: &str) -> Result<(), StoreError> {
        let (sql, rooms, account, id) = (
            self.sql.clone(),
            self.rooms.clone(),
            account.to_string(),
            id.to_string(),
        );
        to_completion(async move {
            let result = sql.delete_room(&account, &id).await;
            rooms.invalidate(&id);
            result
        })
        .await
    }

    async fn list_rooms(
        &self,
        account: &str,
        filter: &RoomFilter,
        after: Option<&PageCursor>,
        limit: usize,
    ) -> Result<Vec<Room>, StoreError> {
        self.sql.list_rooms(account, filter, after, limit).await
    }

    async fn insert_logging_configuration(
        &self,
        config: &LoggingConfiguration,
        quotas: &Quotas,
    ) -> Result<(), StoreError> {
        self.sql.insert_logging_configuration(config, quotas).await
    }

    async fn get_logging_configuration(
        &self,
        owner: Owner<'_>,
        id: &str,
    ) -> Result<Option<LoggingConfiguration>, StoreError> {
        self.sql.get_logging_configuration(owner, id).await
    }

    async fn update_logging_configuration(
        &self,
        account: &str,
        id: &str,
        change: LoggingChange,
    ) -> Result<LoggingConfiguration, StoreError> {
        self.sql
            .update_logging_configuration(account, id, change)
            .await
    }

    async fn delete_logging_configuration(
        &self,
        account: &str,
        id: &str,
    ) -> Result<(), StoreError> {
        self.sql.delete_logging_configuration(account, id).await
    }

    async fn list_logging_configurations(
        &self,
        account: &str,
        after: Option<&PageCursor>,
        limit: usize,
    ) -> Result<Vec<LoggingConfiguration>, StoreError> {
        self.sql
            .list_logging_configurations(account, after, limit)
            .await
    }

    async fn update_tags(
        &self,
        account: &str,
        kind: ResourceKind,
        id: &str,
        change: TagsChange,
    ) -> Result<StringMap, StoreError> {
        match kind {
            ResourceKind::LoggingConfiguration => {
                self.sql.update_tags(account, kind, id, change).await
            }
            ResourceKind::Room => {
                let (sql, rooms, account, id) = (
                    self.sql.clone(),
                    self.rooms.clone(),
                    account.to_string(),
                    id.to_string(),
                );
                to_completion(async move {
                    let result = sql.update_tags(&account, kind, &id, change).await;
                    rooms.invalidate(&id);
                    result
                })
                .await
            }
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.sql.ping().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::new_id;

    fn room(name: &str) -> Room {
        Room {
            id: new_id(),
            account: String::new(),
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

    /// A database created by a release must still open (see
    /// `sql::assert_released_migrations_unchanged`).
    #[test]
    fn released_migrations_are_unchanged() {
        crate::store::sql::assert_released_migrations_unchanged(
            &MIGRATOR,
            &[(
                1,
                "065d03ecee3c14006911cc77283b90fa983a2421a2c47272\
                 a805b592ceeb1ba376a779bd7592bbee0c46c3445bae7d78",
            )],
        );
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
        assert_eq!(
            store
                .get_room(Owner::Account(""), &r.id)
                .await
                .unwrap()
                .unwrap()
                .name,
            "before"
        );
        store
            .update_room(
                "",
                &r.id,
                &quotas,
                Box::new(|room: &mut Room| {
                    room.name = "after".into();
                    Ok(())
                }),
            )
            .await
            .unwrap();
        assert_eq!(
            store
                .get_room(Owner::Account(""), &r.id)
                .await
                .unwrap()
                .unwrap()
                .name,
            "after"
        );
        store
            .update_tags(
                "",
                ResourceKind::Room,
                &r.id,
                Box::new(|tags: &mut StringMap| {
                    tags.insert("k".into(), "v".into());
                    Ok(())
                }),
            )
            .await
            .unwrap();
        let tags = store
            .get_room(Owner::Account(""), &r.id)
            .await
            .unwrap()
            .unwrap()
            .tags;
        assert_eq!(tags.get("k").map(String::as_str), Some("v"));
        store.delete_room("", &r.id).await.unwrap();
        assert!(store
            .get_room(Owner::Account(""), &r.id)
            .await
            .unwrap()
            .is_none());
        assert!(matches!(
            store.delete_room("", &r.id).await,
            Err(StoreError::NotFound { .. })
        ));
    }
}
