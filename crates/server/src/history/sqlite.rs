//! Where the embedded history (`embedded.rs`) persists: `history.db` in the data directory
//! (SQLite, WAL), so a room's history survives a restart.
//!
//! One task owns the database and applies the changes in the order they were made, several
//! per transaction when they come quickly: a message costs the sender no disk wait (the ring
//! in memory is what replay reads), and a burst costs one commit. Loading a room's rows goes
//! through the same task, behind every change made before it. `synchronous = NORMAL`: a
//! power loss may lose the last history writes (never corrupt the file); the chat log, not
//! the history, is the durable record of what was said.

use std::path::Path;

use anyhow::Context;
use sqlx::{Row as _, SqlitePool};
use tokio::sync::{mpsc, oneshot};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite-history");

/// Changes applied in one transaction at most.
const BATCH: usize = 512;

/// A kept frame as stored.
#[derive(Debug, Clone)]
pub struct Row {
    pub seq: u64,
    pub message_id: String,
    pub at_micros: i64,
    pub frame: String,
}

#[derive(Debug)]
pub enum Change {
    Append {
        room_id: String,
        row: Row,
    },
    /// A deleted message.
    Delete {
        room_id: String,
        seq: u64,
    },
    /// Everything before `seq` (trimmed by count or age).
    TrimBefore {
        room_id: String,
        seq: u64,
    },
    ForgetRoom {
        room_id: String,
    },
}

enum Op {
    Change(Change),
    Load {
        room_id: String,
        answer: oneshot::Sender<anyhow::Result<Vec<Row>>>,
    },
    /// Answered once every change before it is committed.
    Flush(oneshot::Sender<()>),
}

#[derive(Debug, Clone)]
pub struct HistoryDb {
    ops: mpsc::UnboundedSender<Op>,
}

impl HistoryDb {
    /// Opens (creating if needed) `history.db` in `data_dir` and starts its writer.
    pub async fn open(data_dir: &Path) -> anyhow::Result<HistoryDb> {
        let path = data_dir.join("history.db");
        let pool = crate::sqlite_file::open_private_wal(&path, 1).await?;
        MIGRATOR
            .run(&pool)
            .await
            .with_context(|| format!("migrating {}", path.display()))?;
        let (ops, queued) = mpsc::unbounded_channel();
        tokio::spawn(write(pool, queued));
        Ok(HistoryDb { ops })
    }

    pub fn change(&self, change: Change) {
        // Gone only when the runtime is: nothing is left to keep.
        let _ = self.ops.send(Op::Change(change));
    }

    /// The room's rows, oldest first, with every change made before this call applied.
    pub async fn load(&self, room_id: &str) -> anyhow::Result<Vec<Row>> {
        let (answer, loaded) = oneshot::channel();
        self.ops
            .send(Op::Load {
                room_id: room_id.to_string(),
                answer,
            })
            .map_err(|_| anyhow::anyhow!("the history database is closed"))?;
        loaded
            .await
            .map_err(|_| anyhow::anyhow!("the history database is closed"))?
    }

    /// Waits until every change made before this call is committed.
    pub async fn flush(&self) {
        let (done, flushed) = oneshot::channel();
        if self.ops.send(Op::Flush(done)).is_ok() {
            let _ = flushed.await;
        }
    }
}

/// The writer task: applies changes in order, a batch per transaction.
async fn write(pool: SqlitePool, mut queued: mpsc::UnboundedReceiver<Op>) {
    let mut batch = Vec::with_capacity(BATCH);
    while queued.recv_many(&mut batch, BATCH).await > 0 {
        let mut changes = Vec::new();
        for op in batch.drain(..) {
            match op {
                Op::Change(change) => changes.push(change),
                Op::Load { room_id, answer } => {
                    apply(&pool, std::mem::take(&mut changes)).await;
                    let _ = answer.send(load(&pool, &room_id).await);
                }
                Op::Flush(done) => {
                    apply(&pool, std::mem::take(&mut changes)).await;
                    let _ = done.send(());
                }
            }
        }
        apply(&pool, changes).await;
    }
}

async fn apply(pool: &SqlitePool, changes: Vec<Change>) {
    if changes.is_empty() {
        return;
    }
    let count = changes.len();
    if let Err(e) = apply_in_one_transaction(pool, changes).await {
        tracing::error!(error = %format!("{e:#}"), changes = count, "cannot write room history to history.db; those changes are lost");
    }
}

async fn apply_in_one_transaction(pool: &SqlitePool, changes: Vec<Change>) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    for change in changes {
        match change {
            Change::Append { room_id, row } => {
                sqlx::query(
                    "INSERT OR REPLACE INTO room_history (room_id, seq, message_id, at_micros, frame) \
                     VALUES (?, ?, ?, ?, ?)",
                )
                .bind(room_id)
                .bind(row.seq as i64)
                .bind(row.message_id)
                .bind(row.at_micros)
                .bind(row.frame)
                .execute(&mut *tx)
                .await?;
            }
            Change::Delete { room_id, seq } => {
                sqlx::query("DELETE FROM room_history WHERE room_id = ? AND seq = ?")
                    .bind(room_id)
                    .bind(seq as i64)
                    .execute(&mut *tx)
                    .await?;
            }
            Change::TrimBefore { room_id, seq } => {
                sqlx::query("DELETE FROM room_history WHERE room_id = ? AND seq < ?")
                    .bind(room_id)
                    .bind(seq as i64)
                    .execute(&mut *tx)
                    .await?;
            }
            Change::ForgetRoom { room_id } => {
                sqlx::query("DELETE FROM room_history WHERE room_id = ?")
                    .bind(room_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

async fn load(pool: &SqlitePool, room_id: &str) -> anyhow::Result<Vec<Row>> {
    let rows = sqlx::query(
        "SELECT seq, message_id, at_micros, frame FROM room_history WHERE room_id = ? ORDER BY seq",
    )
    .bind(room_id)
    .fetch_all(pool)
    .await
    .context("reading room history from history.db")?;
    rows.into_iter()
        .map(|row| {
            Ok(Row {
                seq: row.try_get::<i64, _>(0)? as u64,
                message_id: row.try_get(1)?,
                at_micros: row.try_get(2)?,
                frame: row.try_get(3)?,
            })
        })
        .collect()
}
