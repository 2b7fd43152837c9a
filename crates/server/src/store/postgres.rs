//! The scale-out store: PostgreSQL, shared by every node of a cluster.
//!
//! Each cluster keeps its tables in its own schema, named by `--cluster-name`, so several
//! clusters (or test runs) can share one database: every pooled connection starts with
//! `search_path` set to that schema, and nothing in the SQL names a schema.
//!
//! Nodes write concurrently, so every read-modify-write runs in one transaction (READ
//! COMMITTED) with the row it reads locked (`FOR NO KEY UPDATE`: the id never changes, so
//! attaching a logging configuration that is being updated need not wait), and the quota
//! checks, which count rows, first take a transaction-scoped advisory lock for that quota:
//! two nodes can never both see "one slot left" and both take it. Default PostgreSQL commits
//! are durable (`synchronous_commit = on`).

use std::str::FromStr;

use anyhow::{bail, Context};
use async_trait::async_trait;
use ivschat_proto::control::StringMap;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, Postgres, QueryBuilder, Transaction};

use super::rows::{
    from_json, to_json, DbContext, LoggingRow, RoomRow, LOGGING_COLUMNS, ROOM_COLUMNS,
};
use super::{LoggingChange, PageCursor, RoomChange, RoomFilter, Store, StoreError, TagsChange};
use crate::config::Quotas;
use crate::domain::arn::ResourceKind;
use crate::domain::resources::{LoggingConfiguration, Room};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per node.
const POOL_SIZE: u32 = 10;

/// Advisory locks, in the two-key form `(purpose, hashtext(schema))`: one lock per purpose
/// and cluster, so clusters sharing a database do not wait for each other. (A hash collision
/// between two schema names only makes them take turns.) The purposes are arbitrary
/// constants, unlikely to collide with another application's locks in the same database.
const LOCK_SCHEMA_SETUP: i32 = 0x1c5_0001;
const LOCK_ROOM_QUOTA: i32 = 0x1c5_0002;
const LOCK_LOGGING_QUOTA: i32 = 0x1c5_0003;

pub struct PostgresStore {
    pool: PgPool,
    /// Names this cluster's advisory locks.
    schema: String,
}

impl PostgresStore {
    /// Connects to `database_url`, creates `schema` if needed and brings it up to date.
    ///
    /// Several nodes may open the same database at once: they take turns (an advisory lock)
    /// to create the schema and run the migrations, so each migration runs exactly once.
    pub async fn open(database_url: &str, schema: &str) -> anyhow::Result<PostgresStore> {
        check_schema_name(schema)?;
        let options = PgConnectOptions::from_str(database_url)
            .context("parsing the PostgreSQL database URL")?
            .options([("search_path", format!("\"{schema}\""))]);
        let target = format!(
            "PostgreSQL database {:?} on {}:{}",
            options.get_database().unwrap_or_default(),
            options.get_host(),
            options.get_port()
        );

        // One connection holds the set-up lock while the schema is created and migrated.
        let mut setup = PgConnection::connect_with(&options)
            .await
            .with_context(|| format!("connecting to {target}"))?;
        lock_schema_setup(&mut setup, schema, true)
            .await
            .context("waiting for the schema set-up lock")?;
        create_schema(&mut setup, schema)
            .await
            .with_context(|| format!("creating schema {schema:?} in {target}"))?;
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .connect_with(options)
            .await
            .with_context(|| format!("connecting to {target}"))?;
        MIGRATOR
            .run(&pool)
            .await
            .with_context(|| format!("migrating schema {schema:?} in {target}"))?;
        lock_schema_setup(&mut setup, schema, false).await?;
        setup.close().await?;
        Ok(PostgresStore {
            pool,
            schema: schema.to_string(),
        })
    }

    async fn begin(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.pool
            .begin()
            .await
            .store_context("starting a transaction")
    }
}

/// The schema name is spliced into SQL, so it must be a plain identifier. (`--cluster-name`
/// is checked to the same rule when the configuration loads.)
fn check_schema_name(schema: &str) -> anyhow::Result<()> {
    let ok = !schema.is_empty()
        && schema.len() <= 48
        && schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !ok {
        bail!("PostgreSQL schema name {schema:?} must be 1..48 characters of a-z, 0-9 and _");
    }
    Ok(())
}

/// Takes or releases this schema's set-up lock (a session lock, so it goes with the
/// connection if anything fails). Nodes starting together take turns to create and migrate
/// the schema: concurrent `CREATE SCHEMA IF NOT EXISTS` can fail with a unique violation, and
/// sqlx's migrator takes its own advisory lock only once the schema exists.
async fn lock_schema_setup(conn: &mut PgConnection, schema: &str, lock: bool) -> sqlx::Result<()> {
    let sql = if lock {
        "SELECT pg_advisory_lock($1, hashtext($2))"
    } else {
        "SELECT pg_advisory_unlock($1, hashtext($2))"
    };
    sqlx::query(sql)
        .bind(LOCK_SCHEMA_SETUP)
        .bind(schema)
        .execute(conn)
        .await?;
    Ok(())
}

/// Creates the schema if it is missing (under the set-up lock) and checks that the
/// connection's `search_path` resolves to it, since the migrations (and sqlx's own
/// `_sqlx_migrations` table) go wherever it points.
async fn create_schema(conn: &mut PgConnection, schema: &str) -> anyhow::Result<()> {
    // Only create what is missing: CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege on
    // the database even when the schema exists, and an administrator may have created it.
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
            .bind(schema)
            .fetch_one(&mut *conn)
            .await?;
    if !exists {
        sqlx::query(&format!("CREATE SCHEMA \"{schema}\""))
            .execute(&mut *conn)
            .await?;
    }
    let current: Option<String> = sqlx::query_scalar("SELECT current_schema()::text")
        .fetch_one(&mut *conn)
        .await?;
    if current.as_deref() != Some(schema) {
        bail!(
            "the connection's search_path resolves to schema {current:?}, not {schema:?} \
             (does the database URL set search_path?)"
        );
    }
    Ok(())
}

/// Waits for this cluster's lock `purpose` until the transaction ends. Take it in its own
/// statement, before counting: in READ COMMITTED each statement sees everything committed
/// before it started, including the previous holder's insert.
async fn lock_quota(
    tx: &mut Transaction<'_, Postgres>,
    purpose: i32,
    schema: &str,
) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(purpose)
        .bind(schema)
        .execute(&mut **tx)
        .await
        .store_context("waiting for a quota lock")?;
    Ok(())
}

async fn count(tx: &mut Transaction<'_, Postgres>, sql: &str) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query_scalar(sql)
        .fetch_one(&mut **tx)
        .await
        .store_context("counting rows")?;
    Ok(n.max(0) as u64)
}

/// Reads a room and locks it for an update until the transaction ends.
async fn lock_room(tx: &mut Transaction<'_, Postgres>, id: &str) -> Result<Room, StoreError> {
    let row: Option<RoomRow> = sqlx::query_as(&format!(
        "SELECT {ROOM_COLUMNS} FROM rooms WHERE id = $1 FOR NO KEY UPDATE"
    ))
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

/// Reads a logging configuration and locks it for an update until the transaction ends.
async fn lock_logging(
    tx: &mut Transaction<'_, Postgres>,
    id: &str,
) -> Result<LoggingConfiguration, StoreError> {
    let row: Option<LoggingRow> = sqlx::query_as(&format!(
        "SELECT {LOGGING_COLUMNS} FROM logging_configurations WHERE id = $1 FOR NO KEY UPDATE"
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
///
/// Each configuration is read `FOR KEY SHARE`, which conflicts with the `FOR UPDATE` a
/// concurrent delete takes first: either the delete sees this room's attachment and refuses
/// with `InUse`, or this waits, sees the configuration gone and fails with `NotFound`.
async fn attach_logging(
    tx: &mut Transaction<'_, Postgres>,
    room: &Room,
    quotas: &Quotas,
) -> Result<(), StoreError> {
    if room.logging_configuration_ids.len() as u64 > quotas.logging_configurations_per_room {
        return Err(StoreError::QuotaExceeded {
            what: "logging configurations per room",
            limit: quotas.logging_configurations_per_room,
        });
    }
    sqlx::query("DELETE FROM room_logging WHERE room_id = $1")
        .bind(&room.id)
        .execute(&mut **tx)
        .await
        .store_context("detaching logging configurations")?;
    for logging_id in &room.logging_configuration_ids {
        let exists: Option<bool> = sqlx::query_scalar(
            "SELECT TRUE FROM logging_configurations WHERE id = $1 FOR KEY SHARE",
        )
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
        sqlx::query(
            "INSERT INTO room_logging (room_id, logging_id) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&room.id)
        .bind(logging_id)
        .execute(&mut **tx)
        .await
        .store_context("attaching a logging configuration")?;
    }
    Ok(())
}

async fn insert_room_row(
    tx: &mut Transaction<'_, Postgres>,
    room: &Room,
) -> Result<(), StoreError> {
    let row = RoomRow::from_room(room);
    sqlx::query(&format!(
        "INSERT INTO rooms ({ROOM_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
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

/// Writes back a room read by [`lock_room`] (everything but `create_time` may have changed).
async fn update_room_row(
    tx: &mut Transaction<'_, Postgres>,
    id: &str,
    room: &Room,
) -> Result<(), StoreError> {
    let row = RoomRow::from_room(room);
    sqlx::query(
        "UPDATE rooms SET name = $2, update_time = $3, max_rate = $4, max_length = $5, \
         review_uri = $6, review_fallback = $7, tags = $8, logging_ids = $9 WHERE id = $1",
    )
    .bind(id)
    .bind(row.name)
    .bind(row.update_time)
    .bind(row.max_rate)
    .bind(row.max_length)
    .bind(row.review_uri)
    .bind(row.review_fallback)
    .bind(row.tags)
    .bind(row.logging_ids)
    .execute(&mut **tx)
    .await
    .store_context("updating a room")?;
    Ok(())
}

#[async_trait]
impl Store for PostgresStore {
    async fn insert_room(&self, room: &Room, quotas: &Quotas) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        lock_quota(&mut tx, LOCK_ROOM_QUOTA, &self.schema).await?;
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
        let row: Option<RoomRow> =
            sqlx::query_as(&format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .store_context("reading a room")?;
        row.map(RoomRow::into_room).transpose()
    }

    async fn update_room(
        &self,
        id: &str,
        quotas: &Quotas,
        change: RoomChange,
    ) -> Result<Room, StoreError> {
        let mut tx = self.begin().await?;
        let mut room = lock_room(&mut tx, id).await?;
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

    async fn delete_room(&self, id: &str) -> Result<(), StoreError> {
        // room_logging rows go with the room (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM rooms WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .store_context("deleting a room")?;
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
        let mut sql =
            QueryBuilder::<Postgres>::new(format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE TRUE"));
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
            sql.push(" AND (update_time, id) < (")
                .push_bind(cursor.update_time)
                .push(", ")
                .push_bind(&cursor.id)
                .push(")");
        }
        sql.push(" ORDER BY update_time DESC, id DESC LIMIT ")
            .push_bind(limit as i64);
        let rows: Vec<RoomRow> = sql
            .build_query_as()
            .fetch_all(&self.pool)
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
        lock_quota(&mut tx, LOCK_LOGGING_QUOTA, &self.schema).await?;
        let existing = count(&mut tx, "SELECT COUNT(*) FROM logging_configurations").await?;
        if existing >= quotas.logging_configurations {
            return Err(StoreError::QuotaExceeded {
                what: "logging configurations",
                limit: quotas.logging_configurations,
            });
        }
        let row = LoggingRow::from_config(config);
        sqlx::query(&format!(
            "INSERT INTO logging_configurations ({LOGGING_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)"
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
            "SELECT {LOGGING_COLUMNS} FROM logging_configurations WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
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
        let mut config = lock_logging(&mut tx, id).await?;
        change(&mut config).map_err(StoreError::Rejected)?;
        let row = LoggingRow::from_config(&config);
        sqlx::query(
            "UPDATE logging_configurations SET name = $2, update_time = $3, destination = $4, \
             state = $5, tags = $6 WHERE id = $1",
        )
        .bind(id)
        .bind(row.name)
        .bind(row.update_time)
        .bind(row.destination)
        .bind(row.state)
        .bind(row.tags)
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
        // Locked first (FOR UPDATE, which FOR KEY SHARE waits for), so a room being attached
        // to it concurrently either committed before (and shows up below) or waits and then
        // finds it gone (see `attach_logging`).
        let found: Option<bool> =
            sqlx::query_scalar("SELECT TRUE FROM logging_configurations WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .store_context("locking a logging configuration")?;
        if found.is_none() {
            return Err(StoreError::NotFound {
                kind: ResourceKind::LoggingConfiguration,
                id: id.to_string(),
            });
        }
        let user: Option<String> = sqlx::query_scalar(
            "SELECT room_id FROM room_logging WHERE logging_id = $1 ORDER BY room_id LIMIT 1",
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
        sqlx::query("DELETE FROM logging_configurations WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .store_context("deleting a logging configuration")?;
        tx.commit()
            .await
            .store_context("committing a logging configuration deletion")
    }

    async fn list_logging_configurations(
        &self,
        after: Option<&PageCursor>,
        limit: usize,
    ) -> Result<Vec<LoggingConfiguration>, StoreError> {
        let mut sql = QueryBuilder::<Postgres>::new(format!(
            "SELECT {LOGGING_COLUMNS} FROM logging_configurations"
        ));
        if let Some(cursor) = after {
            sql.push(" WHERE (update_time, id) < (")
                .push_bind(cursor.update_time)
                .push(", ")
                .push_bind(&cursor.id)
                .push(")");
        }
        sql.push(" ORDER BY update_time DESC, id DESC LIMIT ")
            .push_bind(limit as i64);
        let rows: Vec<LoggingRow> = sql
            .build_query_as()
            .fetch_all(&self.pool)
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
        let table = match kind {
            ResourceKind::Room => "rooms",
            ResourceKind::LoggingConfiguration => "logging_configurations",
        };
        let mut tx = self.begin().await?;
        let current: Option<String> = sqlx::query_scalar(&format!(
            "SELECT tags FROM {table} WHERE id = $1 FOR NO KEY UPDATE"
        ))
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
        sqlx::query(&format!("UPDATE {table} SET tags = $1 WHERE id = $2"))
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

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .store_context("pinging PostgreSQL")?;
        Ok(())
    }
}
