//! The embedded store: SQLite in WAL mode with `synchronous = FULL`, so a write that
//! returned has reached the disk and survives `kill -9` or power loss.
//!
//! One connection writes (SQLite allows one writer at a time anyway, and a single writer
//! connection means transactions never fail with SQLITE_BUSY); a small pool reads
//! concurrently, which WAL allows.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use ivschat_proto::control::{DestinationConfiguration, FallbackResult, StringMap};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};

use super::{LoggingChange, PageCursor, RoomChange, RoomFilter, Store, StoreError, TagsChange};
use crate::config::Quotas;
use crate::domain::arn::ResourceKind;
use crate::domain::resources::{LoggingConfiguration, LoggingState, Room};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
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
        Ok(SqliteStore { writer, reader })
    }

    async fn begin(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.writer.begin().await.map_err(backend)
    }
}

fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Backend(anyhow::Error::new(e))
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Maps of strings, lists of strings and the destination enum always serialise.
    serde_json::to_string(value).unwrap_or_default()
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Backend(anyhow::anyhow!("corrupt JSON column: {e}")))
}

const ROOM_COLUMNS: &str = "id, name, create_time, update_time, max_rate, max_length, \
                            review_uri, review_fallback, tags, logging_ids";

fn room_from_row(row: &SqliteRow) -> Result<Room, StoreError> {
    let fallback: String = row.get("review_fallback");
    Ok(Room {
        id: row.get("id"),
        name: row.get("name"),
        create_time: row.get("create_time"),
        update_time: row.get("update_time"),
        maximum_message_rate_per_second: row.get("max_rate"),
        maximum_message_length: row.get("max_length"),
        review_handler_uri: row.get("review_uri"),
        review_fallback: FallbackResult::parse(&fallback).unwrap_or(FallbackResult::Allow),
        tags: from_json(row.get("tags"))?,
        logging_configuration_ids: from_json(row.get("logging_ids"))?,
    })
}

const LOGGING_COLUMNS: &str = "id, name, create_time, update_time, destination, state, tags";

fn logging_from_row(row: &SqliteRow) -> Result<LoggingConfiguration, StoreError> {
    let state: String = row.get("state");
    let destination: DestinationConfiguration = from_json(row.get("destination"))?;
    Ok(LoggingConfiguration {
        id: row.get("id"),
        name: row.get("name"),
        create_time: row.get("create_time"),
        update_time: row.get("update_time"),
        destination,
        state: LoggingState::parse(&state).unwrap_or(LoggingState::Active),
        tags: from_json(row.get("tags"))?,
    })
}

async fn count(tx: &mut Transaction<'_, Sqlite>, sql: &str) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query_scalar(sql)
        .fetch_one(&mut **tx)
        .await
        .map_err(backend)?;
    Ok(n.max(0) as u64)
}

async fn select_room(
    tx: &mut Transaction<'_, Sqlite>,
    id: &str,
) -> Result<Option<Room>, StoreError> {
    let row = sqlx::query(&format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE id = ?"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(backend)?;
    row.as_ref().map(room_from_row).transpose()
}

async fn select_logging(
    tx: &mut Transaction<'_, Sqlite>,
    id: &str,
) -> Result<Option<LoggingConfiguration>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {LOGGING_COLUMNS} FROM logging_configurations WHERE id = ?"
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
    .map_err(backend)?;
    row.as_ref().map(logging_from_row).transpose()
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
        .map_err(backend)?;
    for logging_id in &room.logging_configuration_ids {
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM logging_configurations WHERE id = ?")
                .bind(logging_id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(backend)?;
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
            .map_err(backend)?;
    }
    Ok(())
}

async fn write_room(tx: &mut Transaction<'_, Sqlite>, room: &Room) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO rooms (id, name, create_time, update_time, max_rate, max_length, \
         review_uri, review_fallback, tags, logging_ids) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, update_time = excluded.update_time, \
         max_rate = excluded.max_rate, max_length = excluded.max_length, \
         review_uri = excluded.review_uri, review_fallback = excluded.review_fallback, \
         tags = excluded.tags, logging_ids = excluded.logging_ids",
    )
    .bind(&room.id)
    .bind(&room.name)
    .bind(room.create_time)
    .bind(room.update_time)
    .bind(room.maximum_message_rate_per_second)
    .bind(room.maximum_message_length)
    .bind(&room.review_handler_uri)
    .bind(room.review_fallback.as_str())
    .bind(to_json(&room.tags))
    .bind(to_json(&room.logging_configuration_ids))
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(())
}

async fn write_logging(
    tx: &mut Transaction<'_, Sqlite>,
    config: &LoggingConfiguration,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO logging_configurations (id, name, create_time, update_time, destination, \
         state, tags) VALUES (?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, update_time = excluded.update_time, \
         destination = excluded.destination, state = excluded.state, tags = excluded.tags",
    )
    .bind(&config.id)
    .bind(&config.name)
    .bind(config.create_time)
    .bind(config.update_time)
    .bind(to_json(&config.destination))
    .bind(config.state.as_str())
    .bind(to_json(&config.tags))
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(())
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
        write_room(&mut tx, room).await?;
        attach_logging(&mut tx, room, quotas).await?;
        tx.commit().await.map_err(backend)
    }

    async fn get_room(&self, id: &str) -> Result<Option<Room>, StoreError> {
        let row = sqlx::query(&format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        row.as_ref().map(room_from_row).transpose()
    }

    async fn update_room(
        &self,
        id: &str,
        quotas: &Quotas,
        change: RoomChange,
    ) -> Result<Room, StoreError> {
        let mut tx = self.begin().await?;
        let mut room = select_room(&mut tx, id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                kind: ResourceKind::Room,
                id: id.to_string(),
            })?;
        let attached_before = room.logging_configuration_ids.clone();
        change(&mut room).map_err(StoreError::Rejected)?;
        write_room(&mut tx, &room).await?;
        if room.logging_configuration_ids != attached_before {
            attach_logging(&mut tx, &room, quotas).await?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(room)
    }

    async fn delete_room(&self, id: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM rooms WHERE id = ?")
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                kind: ResourceKind::Room,
                id: id.to_string(),
            });
        }
        Ok(())
    }

    async fn list_rooms(
        &self,
        filter: &RoomFilter,
        after: Option<&PageCursor>,
        limit: usize,
    ) -> Result<Vec<Room>, StoreError> {
        let mut sql = format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE 1 = 1");
        if filter.name.is_some() {
            sql.push_str(" AND name = ?");
        }
        match filter.review_handler_uri.as_deref() {
            Some("") => sql.push_str(" AND review_uri IS NULL"),
            Some(_) => sql.push_str(" AND review_uri = ?"),
            None => {}
        }
        if filter.logging_configuration_id.is_some() {
            sql.push_str(" AND id IN (SELECT room_id FROM room_logging WHERE logging_id = ?)");
        }
        if after.is_some() {
            sql.push_str(" AND (update_time < ? OR (update_time = ? AND id < ?))");
        }
        sql.push_str(" ORDER BY update_time DESC, id DESC LIMIT ?");
        let mut query = sqlx::query(&sql);
        if let Some(name) = &filter.name {
            query = query.bind(name);
        }
        if let Some(uri) = filter
            .review_handler_uri
            .as_deref()
            .filter(|u| !u.is_empty())
        {
            query = query.bind(uri);
        }
        if let Some(logging_id) = &filter.logging_configuration_id {
            query = query.bind(logging_id);
        }
        if let Some(cursor) = after {
            query = query
                .bind(cursor.update_time)
                .bind(cursor.update_time)
                .bind(&cursor.id);
        }
        let rows = query
            .bind(limit as i64)
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        rows.iter().map(room_from_row).collect()
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
        write_logging(&mut tx, config).await?;
        tx.commit().await.map_err(backend)
    }

    async fn get_logging_configuration(
        &self,
        id: &str,
    ) -> Result<Option<LoggingConfiguration>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {LOGGING_COLUMNS} FROM logging_configurations WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        row.as_ref().map(logging_from_row).transpose()
    }

    async fn update_logging_configuration(
        &self,
        id: &str,
        change: LoggingChange,
    ) -> Result<LoggingConfiguration, StoreError> {
        let mut tx = self.begin().await?;
        let mut config =
            select_logging(&mut tx, id)
                .await?
                .ok_or_else(|| StoreError::NotFound {
                    kind: ResourceKind::LoggingConfiguration,
                    id: id.to_string(),
                })?;
        change(&mut config).map_err(StoreError::Rejected)?;
        write_logging(&mut tx, &config).await?;
        tx.commit().await.map_err(backend)?;
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
        .map_err(backend)?;
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
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                kind: ResourceKind::LoggingConfiguration,
                id: id.to_string(),
            });
        }
        tx.commit().await.map_err(backend)
    }

    async fn list_logging_configurations(
        &self,
        after: Option<&PageCursor>,
        limit: usize,
    ) -> Result<Vec<LoggingConfiguration>, StoreError> {
        let mut sql = format!("SELECT {LOGGING_COLUMNS} FROM logging_configurations");
        if after.is_some() {
            sql.push_str(" WHERE (update_time < ? OR (update_time = ? AND id < ?))");
        }
        sql.push_str(" ORDER BY update_time DESC, id DESC LIMIT ?");
        let mut query = sqlx::query(&sql);
        if let Some(cursor) = after {
            query = query
                .bind(cursor.update_time)
                .bind(cursor.update_time)
                .bind(&cursor.id);
        }
        let rows = query
            .bind(limit as i64)
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        rows.iter().map(logging_from_row).collect()
    }

    async fn update_tags(
        &self,
        kind: ResourceKind,
        id: &str,
        change: TagsChange,
    ) -> Result<StringMap, StoreError> {
        let table = match kind {
            ResourceKind::Room => "rooms",
            ResourceKind::LoggingConfiguration => "logging_configurations",
        };
        let mut tx = self.begin().await?;
        let current: Option<String> =
            sqlx::query_scalar(&format!("SELECT tags FROM {table} WHERE id = ?"))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
        let mut tags: StringMap = match current {
            Some(text) => from_json(&text)?,
            None => {
                return Err(StoreError::NotFound {
                    kind,
                    id: id.to_string(),
                })
            }
        };
        change(&mut tags).map_err(StoreError::Rejected)?;
        sqlx::query(&format!("UPDATE {table} SET tags = ? WHERE id = ?"))
            .bind(to_json(&tags))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(tags)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(backend)?;
        Ok(())
    }
}
