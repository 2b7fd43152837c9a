//! The logging spool: every chat log record is written here before the frame it describes is
//! delivered, and removed once its destination has accepted it (at-least-once), or retracted
//! when the frame could not be delivered after all. A record whose delivery is still being
//! decided (its frame not yet published) is *unsettled* and is not shipped until it is settled
//! (delivered: ship it) or retracted, so no destination receives a record of a message nobody
//! received. A record that cannot be written (disk full) is refused ([`NotSpooled::Failed`]: its
//! frame is then refused too), counted, logged, and shows as not ready until a write succeeds.
//!
//! It is a SQLite database (`spool.db` in the data directory, WAL, `synchronous = NORMAL`): a
//! committed record survives a crash or `kill -9` of the server; after a power loss the last
//! moments may be lost. Writers hand records to one writer task, which commits whatever has
//! queued up in one transaction (group commit), so many chat connections share each commit.
//! The spool is capped; when the cap is reached new records are dropped, counted and logged,
//! so a destination that stays down can never slow chat or fill the disk. The writer task runs
//! until [`Spool::close`] (shutdown), which commits what was handed to it and closes the
//! database, or until the last handle is dropped.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sqlx::sqlite::SqlitePool;
use sqlx::Row;
use tokio::sync::{mpsc, oneshot};

/// A record on its way to one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpooledRecord {
    pub seq: i64,
    pub logging_id: String,
    pub room_id: String,
    /// Milliseconds since the epoch (CloudWatch event timestamp, S3 key time).
    pub timestamp_ms: i64,
    /// The record JSON line, without the newline.
    pub body: String,
}

/// The spool sequence numbers of `records`: what [`Spool::remove`] takes.
pub fn seqs(records: &[SpooledRecord]) -> Vec<i64> {
    records.iter().map(|r| r.seq).collect()
}

/// A record to be spooled.
#[derive(Debug, Clone)]
pub struct NewRecord {
    pub logging_id: String,
    pub room_id: String,
    pub timestamp_ms: i64,
    pub body: String,
}

/// Why records were not spooled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotSpooled {
    /// The spool is at its cap (`[logging] spool_max_records`: a destination has been down for
    /// long): dropped and counted; their frame still goes out, unlogged, by configuration.
    Full,
    /// The spool cannot write (disk full, I/O error) or is closed: their frame must not go out.
    Failed,
}

struct Append {
    records: Vec<NewRecord>,
    /// Answered with the records' sequence numbers (unsettled) once committed.
    done: oneshot::Sender<Result<Vec<i64>, NotSpooled>>,
}

/// Sequence numbers of records committed whose frame's delivery is not decided yet: the
/// shipper stops short of the first of them.
#[derive(Debug, Default)]
pub struct Unsettled(Mutex<BTreeSet<i64>>);

impl Unsettled {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<i64>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn add(&self, seqs: &[i64]) {
        self.lock().extend(seqs.iter().copied());
    }

    /// Settles records: shipped from now on (or already removed, if retracted).
    pub fn settle(&self, seqs: &[i64]) {
        // Every message of a room without chat logging passes here with none: no lock then.
        if seqs.is_empty() {
            return;
        }
        let mut unsettled = self.lock();
        for seq in seqs {
            unsettled.remove(seq);
        }
    }

    fn first(&self) -> Option<i64> {
        self.lock().first().copied()
    }
}

/// What the writer task is asked to do.
enum Command {
    Append(Append),
    /// Commit what came before, close the database, then answer.
    Close(oneshot::Sender<()>),
}

/// Counters for operators.
#[derive(Debug, Default)]
pub struct SpoolStats {
    /// Records waiting to be shipped.
    pub pending: AtomicU64,
    /// Records dropped because the spool was full.
    pub dropped: AtomicU64,
    /// Records handed to destinations successfully.
    pub delivered: AtomicU64,
    /// Records the spool could not commit (disk full, I/O error): their frames were refused
    /// to the sender, not delivered (issue 18).
    pub unwritten: AtomicU64,
    /// True from a failed commit until a write succeeds again (`/ready`, metrics).
    pub failing: AtomicBool,
}

#[derive(Clone)]
pub struct Spool {
    pool: SqlitePool,
    commands: mpsc::Sender<Command>,
    max_records: u64,
    pub stats: Arc<SpoolStats>,
    pub unsettled: Arc<Unsettled>,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("max_records", &self.max_records)
            .field("stats", &self.stats)
            .finish()
    }
}

/// Most records committed in one transaction.
const MAX_GROUP: usize = 4096;

impl Spool {
    pub async fn open(data_dir: &Path, max_records: u64) -> anyhow::Result<Spool> {
        crate::private_files::create_dir_all(data_dir)?;
        let path = data_dir.join("spool.db");
        let pool = crate::sqlite_file::open_private_wal(&path, 2).await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS records (
                 seq INTEGER PRIMARY KEY AUTOINCREMENT,
                 logging_id TEXT NOT NULL,
                 room_id TEXT NOT NULL,
                 timestamp_ms INTEGER NOT NULL,
                 body TEXT NOT NULL)",
        )
        .execute(&pool)
        .await?;
        sqlx::query(
            "CREATE INDEX IF NOT EXISTS records_by_destination ON records (logging_id, seq)",
        )
        .execute(&pool)
        .await?;
        let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM records")
            .fetch_one(&pool)
            .await?;
        let stats = Arc::new(SpoolStats::default());
        stats
            .pending
            .store(pending.max(0) as u64, Ordering::Relaxed);
        let (commands, queue) = mpsc::channel(1024);
        let unsettled = Arc::new(Unsettled::default());
        tokio::spawn(writer(
            pool.clone(),
            queue,
            stats.clone(),
            unsettled.clone(),
        ));
        Ok(Spool {
            pool,
            commands,
            max_records,
            stats,
            unsettled,
        })
    }

    /// Makes the records durable; returns once they are committed, with their sequence numbers
    /// (for [`Spool::remove`]), which stay unsettled (not shipped) until
    /// [`Unsettled::settle`]; or why they were not spooled (counted and logged either way).
    pub async fn append(&self, records: Vec<NewRecord>) -> Result<Vec<i64>, NotSpooled> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let n = records.len() as u64;
        let pending = self.stats.pending.fetch_add(n, Ordering::Relaxed);
        if pending + n > self.max_records {
            self.stats.pending.fetch_sub(n, Ordering::Relaxed);
            let dropped = self.stats.dropped.fetch_add(n, Ordering::Relaxed) + n;
            // One line per thousand drops keeps the log readable while the cap holds.
            if dropped % 1000 < n {
                tracing::error!(
                    max_records = self.max_records,
                    dropped,
                    "chat logging spool is full (a destination has been down for long): dropping new records"
                );
            }
            return Err(NotSpooled::Full);
        }
        let (done, committed) = oneshot::channel();
        let append = Command::Append(Append { records, done });
        if self.commands.send(append).await.is_err() {
            self.stats.pending.fetch_sub(n, Ordering::Relaxed);
            tracing::warn!(
                records = n,
                "chat logging spool is closed (shutting down): refusing records"
            );
            return Err(NotSpooled::Failed);
        }
        committed.await.unwrap_or(Err(NotSpooled::Failed))
    }

    /// While writes fail: tries one (written and taken back in one transaction) and reports
    /// whether the spool can write again. `/ready` asks, so a node recovers without traffic.
    pub async fn can_write(&self) -> bool {
        if !self.stats.failing.load(Ordering::Relaxed) {
            return true;
        }
        let probe = async {
            let mut tx = self.pool.begin().await?;
            sqlx::query(
                "INSERT INTO records (logging_id, room_id, timestamp_ms, body) VALUES ('', '', 0, '')",
            )
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM records WHERE logging_id = ''")
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        };
        let ok = probe.await.is_ok();
        if ok {
            self.stats.failing.store(false, Ordering::Relaxed);
            tracing::info!("chat logging spool can write again");
        }
        ok
    }

    /// Shutdown: returns once every record appended before is committed and the database is
    /// closed. Appends after this are dropped (and logged).
    pub async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.commands.send(Command::Close(done)).await.is_ok() {
            let _ = closed.await;
        }
    }

    /// Destinations that have records waiting.
    pub async fn destinations(&self) -> anyhow::Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT DISTINCT logging_id FROM records")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// The oldest `limit` records for one destination, short of the first unsettled record
    /// (of any destination: records ship in the order they were spooled).
    pub async fn batch(
        &self,
        logging_id: &str,
        limit: usize,
    ) -> anyhow::Result<Vec<SpooledRecord>> {
        let rows = sqlx::query(
            "SELECT seq, logging_id, room_id, timestamp_ms, body FROM records \
             WHERE logging_id = ? ORDER BY seq LIMIT ?",
        )
        .bind(logging_id)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        // Read after the rows: a record is unsettled from before its commit, so one these rows
        // hold is either still unsettled here or settled for good.
        let hold_from = self.unsettled.first().unwrap_or(i64::MAX);
        Ok(rows
            .iter()
            .map(|row| SpooledRecord {
                seq: row.get("seq"),
                logging_id: row.get("logging_id"),
                room_id: row.get("room_id"),
                timestamp_ms: row.get("timestamp_ms"),
                body: row.get("body"),
            })
            .take_while(|record| record.seq < hold_from)
            .collect())
    }

    /// Forgets records (delivered, or retracted because their frame was not). Only the
    /// records still there count: one removed twice (retracted after the shipper delivered
    /// it) does not lower `pending` twice.
    pub async fn remove(&self, seqs: &[i64]) -> anyhow::Result<()> {
        if seqs.is_empty() {
            return Ok(());
        }
        let mut conn = self.pool.acquire().await?;
        let removed = match remove_on(&mut conn, seqs).await {
            Ok(removed) => removed,
            Err(e) => {
                discard(conn).await;
                return Err(e);
            }
        };
        self.stats.pending.fetch_sub(removed, Ordering::Relaxed);
        Ok(())
    }
}

/// Deletes the records; returns how many were there.
async fn remove_on(conn: &mut sqlx::SqliteConnection, seqs: &[i64]) -> anyhow::Result<u64> {
    use sqlx::Connection;
    let mut tx = conn.begin().await?;
    let mut removed = 0;
    for seq in seqs {
        removed += sqlx::query("DELETE FROM records WHERE seq = ?")
            .bind(seq)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    }
    tx.commit().await?;
    Ok(removed)
}

/// Commits appends in groups: everything that queued up while the previous commit ran.
async fn writer(
    pool: SqlitePool,
    mut queue: mpsc::Receiver<Command>,
    stats: Arc<SpoolStats>,
    unsettled: Arc<Unsettled>,
) {
    let mut closing = None;
    while closing.is_none() {
        let Some(first) = queue.recv().await else {
            return;
        };
        let mut group = Vec::new();
        let mut count = 0;
        let mut next = Some(first);
        while let Some(command) = next.take() {
            match command {
                Command::Append(append) => {
                    count += append.records.len();
                    group.push(append);
                }
                Command::Close(done) => {
                    // Nothing is taken after this; what was sent before is still committed.
                    queue.close();
                    closing = Some(done);
                }
            }
            if count < MAX_GROUP || closing.is_some() {
                next = queue.try_recv().ok();
            }
        }
        if group.is_empty() {
            continue;
        }
        let mut seqs = match commit(&pool, &group, &unsettled).await {
            Ok(seqs) => {
                stats.failing.store(false, Ordering::Relaxed);
                seqs
            }
            Err(e) => {
                // The records stay unwritten and their frames are refused. They no longer
                // wait in the spool: without this, a full disk would leave the pending count
                // high and the spool refusing every record until restart.
                let n = count as u64;
                stats.pending.fetch_sub(n, Ordering::Relaxed);
                stats.failing.store(true, Ordering::Relaxed);
                let unwritten = stats.unwritten.fetch_add(n, Ordering::Relaxed) + n;
                tracing::error!(
                    error = %format!("{e:#}"),
                    records = count,
                    unwritten_since_start = unwritten,
                    "chat logging spool write failed: refusing these messages (not ready until a write succeeds)"
                );
                for append in group {
                    let _ = append.done.send(Err(NotSpooled::Failed));
                }
                continue;
            }
        };
        for append in group {
            let rest = seqs.split_off(append.records.len().min(seqs.len()));
            let mine = std::mem::replace(&mut seqs, rest);
            if let Err(Ok(mine)) = append.done.send(Ok(mine)) {
                // Nobody waits for them any more (the sender went away mid-way): whether their
                // frame went out is unknown, so they ship (at least once), never stall the rest.
                unsettled.settle(&mine);
            }
        }
    }
    pool.close().await;
    if let Some(done) = closing {
        let _ = done.send(());
    }
}

/// Commits the group's records; returns their sequence numbers, in order, unsettled (marked
/// before the commit makes them visible to the shipper).
async fn commit(
    pool: &SqlitePool,
    group: &[Append],
    unsettled: &Unsettled,
) -> anyhow::Result<Vec<i64>> {
    let mut conn = pool.acquire().await?;
    let committed = commit_on(&mut conn, group, unsettled).await;
    if committed.is_err() {
        discard(conn).await;
    }
    committed
}

/// Closes a connection on which a write failed instead of returning it to the pool. A write
/// that fails for want of space (SQLITE_FULL, disk full) can leave SQLite and sqlx disagreeing
/// about the transaction: SQLite rolled it back by itself, sqlx's ROLLBACK then fails and the
/// connection stays "in a transaction" for sqlx, so every later BEGIN and COMMIT on it became
/// a SAVEPOINT and its RELEASE inside a transaction that never committed: appends were
/// acknowledged as durable and were gone at the next start, and the never-released write lock
/// made every removal fail with "database is locked", so the shipper sent the same records
/// again and again (found by the fault suite, `tests/faults`, fault e).
async fn discard(conn: sqlx::pool::PoolConnection<sqlx::Sqlite>) {
    use sqlx::Connection;
    let _ = conn.detach().close().await;
}

async fn commit_on(
    conn: &mut sqlx::SqliteConnection,
    group: &[Append],
    unsettled: &Unsettled,
) -> anyhow::Result<Vec<i64>> {
    use sqlx::Connection;
    let mut tx = conn.begin().await?;
    let mut seqs = Vec::new();
    for record in group.iter().flat_map(|a| &a.records) {
        let inserted = sqlx::query(
            "INSERT INTO records (logging_id, room_id, timestamp_ms, body) VALUES (?, ?, ?, ?)",
        )
        .bind(&record.logging_id)
        .bind(&record.room_id)
        .bind(record.timestamp_ms)
        .bind(&record.body)
        .execute(&mut *tx)
        .await?;
        seqs.push(inserted.last_insert_rowid());
    }
    unsettled.add(&seqs);
    if let Err(e) = tx.commit().await {
        unsettled.settle(&seqs);
        return Err(e.into());
    }
    Ok(seqs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(body: &str) -> NewRecord {
        NewRecord {
            logging_id: "L".into(),
            room_id: "R".into(),
            timestamp_ms: 1,
            body: body.into(),
        }
    }

    #[tokio::test]
    async fn records_survive_reopening_and_leave_once_removed() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 100).await.unwrap();
        spool.append(vec![record("a"), record("b")]).await.unwrap();
        spool.append(vec![record("c")]).await.unwrap();
        drop(spool);
        let spool = Spool::open(dir.path(), 100).await.unwrap();
        assert_eq!(spool.stats.pending.load(Ordering::Relaxed), 3);
        assert_eq!(spool.destinations().await.unwrap(), vec!["L".to_string()]);
        let batch = spool.batch("L", 2).await.unwrap();
        assert_eq!(
            batch.iter().map(|r| r.body.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        spool
            .remove(&batch.iter().map(|r| r.seq).collect::<Vec<_>>())
            .await
            .unwrap();
        let rest = spool.batch("L", 10).await.unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].body, "c");
    }

    /// Shutdown's flush: what was appended before `close` is committed, the database is
    /// closed (it reopens with the records), and a late append returns at once, dropped.
    #[tokio::test]
    async fn close_commits_what_came_before_and_drops_what_comes_after() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 100).await.unwrap();
        // Polled in order: both appends are queued, not yet committed, when close is sent.
        let (a, b, ()) = tokio::join!(
            spool.append(vec![record("a")]),
            spool.append(vec![record("b")]),
            spool.close()
        );
        assert_eq!((a.map(|s| s.len()), b.map(|s| s.len())), (Ok(1), Ok(1)));
        assert!(spool.pool.is_closed());
        assert_eq!(
            spool.append(vec![record("late")]).await,
            Err(NotSpooled::Failed)
        );
        assert_eq!(spool.stats.pending.load(Ordering::Relaxed), 2);
        let reopened = Spool::open(dir.path(), 100).await.unwrap();
        let bodies: Vec<String> = reopened
            .batch("L", 10)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.body)
            .collect();
        assert_eq!(bodies, ["a", "b"]);
    }

    /// Issue 18: a failed commit left `pending` counting records that were never written, so
    /// the spool later counted as full and dropped everything until restart; and the caller
    /// could not tell (its frame went out unlogged). Now it is told, the spool reports itself
    /// failing until a write succeeds, and the counts are right after recovery.
    #[tokio::test]
    async fn a_failed_commit_is_refused_counted_and_recovered_from() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 2).await.unwrap();
        // Any write fails from now on, as on a full disk.
        let fail = "CREATE TRIGGER full BEFORE INSERT ON records BEGIN SELECT RAISE(FAIL, 'disk full'); END";
        sqlx::query(fail).execute(&spool.pool).await.unwrap();
        for _ in 0..3 {
            assert_eq!(
                spool.append(vec![record("a"), record("b")]).await,
                Err(NotSpooled::Failed)
            );
        }
        assert_eq!(spool.stats.pending.load(Ordering::Relaxed), 0);
        assert_eq!(spool.stats.unwritten.load(Ordering::Relaxed), 6);
        assert_eq!(spool.stats.dropped.load(Ordering::Relaxed), 0);
        assert!(!spool.can_write().await);

        sqlx::query("DROP TRIGGER full")
            .execute(&spool.pool)
            .await
            .unwrap();
        assert!(spool.can_write().await);
        assert!(!spool.stats.failing.load(Ordering::Relaxed));
        assert_eq!(
            spool
                .append(vec![record("c"), record("d")])
                .await
                .map(|s| s.len()),
            Ok(2)
        );
        assert_eq!(spool.stats.pending.load(Ordering::Relaxed), 2);
    }

    /// Issue 18: a record spooled before its frame was published could be shipped before the
    /// publish failed and the record was retracted: the log then held a message nobody
    /// received. The shipper stops short of records whose delivery is not decided.
    #[tokio::test]
    async fn unsettled_records_are_not_shipped() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 10).await.unwrap();
        let first = spool.append(vec![record("a")]).await.unwrap();
        let second = spool.append(vec![record("b")]).await.unwrap();
        spool.unsettled.settle(&second);
        // "b" is settled but ships after "a", which is not.
        assert!(spool.batch("L", 10).await.unwrap().is_empty());
        spool.unsettled.settle(&first);
        assert_eq!(spool.batch("L", 10).await.unwrap().len(), 2);
    }

    /// Found by the fault suite (`tests/faults`, fault e): after the disk was full, the
    /// writer's connection stayed inside a transaction that never committed; appends were
    /// acknowledged and then missing after a restart, and every removal failed with "database
    /// is locked". Needs a real full file system: a 1 MiB tmpfs, so root (CI runs as root);
    /// elsewhere it says it skipped.
    #[tokio::test]
    async fn after_a_full_disk_is_freed_appends_are_durable_and_removals_work() {
        let dir = tempfile::tempdir().unwrap();
        let mount = dir.path().display().to_string();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs", &mount])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!(
                "SKIPPED: cannot mount a tmpfs here (not root?); the fault suite covers this too"
            );
            return;
        }
        let unmount = || {
            let _ = std::process::Command::new("umount")
                .args(["-l", &mount])
                .status();
        };
        let spool = Spool::open(dir.path(), 1_000_000).await.unwrap();
        let big = "x".repeat(4000);
        let before = spool.append(vec![record("before")]).await.unwrap();
        assert_eq!(before.len(), 1);
        // Some history in the WAL, as in a running server (without it the wedge did not show).
        let mut shipped = Vec::new();
        for _ in 0..20 {
            shipped.extend(spool.append(vec![record(&big)]).await.unwrap());
        }
        let filler = dir.path().join("filler");
        {
            use std::io::Write;
            let mut file = std::fs::File::create(&filler).unwrap();
            while file.write(&[0u8; 4096]).is_ok_and(|n| n > 0) {}
        }
        // A few failures, as chat goes on while the disk is full.
        let mut failed = 0;
        for _ in 0..64 {
            if spool.append(vec![record(&big)]).await.is_err() {
                failed += 1;
                if failed == 3 {
                    break;
                }
            }
        }
        std::fs::remove_file(&filler).unwrap();
        let after = spool
            .append(vec![record("after")])
            .await
            .unwrap_or_default();
        shipped.extend(before);
        let removed = spool.remove(&shipped).await;
        spool.close().await;
        let reopened = Spool::open(dir.path(), 1_000_000).await.unwrap();
        let bodies: Vec<String> = reopened
            .batch("L", 1000)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.body)
            .filter(|b| b.len() < 100)
            .collect();
        reopened.close().await;
        drop(reopened);
        unmount();
        assert_eq!(failed, 3, "the full disk made no append fail");
        assert_eq!(after.len(), 1, "an append after the space was freed failed");
        if let Err(e) = removed {
            panic!("removal after the space was freed: {e:#}");
        }
        assert_eq!(bodies, vec!["after".to_string()], "what a restart finds");
    }

    /// A record retracted after the shipper removed it must not lower `pending` twice.
    #[tokio::test]
    async fn removing_twice_counts_once() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 10).await.unwrap();
        let first = spool.append(vec![record("a"), record("b")]).await.unwrap();
        let second = spool.append(vec![record("c")]).await.unwrap();
        assert_eq!((first.len(), second.len()), (2, 1));
        spool.remove(&first).await.unwrap();
        spool.remove(&first).await.unwrap();
        assert_eq!(spool.stats.pending.load(Ordering::Relaxed), 1);
        spool.remove(&second).await.unwrap();
        assert_eq!(spool.stats.pending.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn a_full_spool_drops_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 2).await.unwrap();
        let kept = spool.append(vec![record("a"), record("b")]).await.unwrap();
        spool.unsettled.settle(&kept);
        assert_eq!(spool.append(vec![record("c")]).await, Err(NotSpooled::Full));
        assert_eq!(spool.stats.dropped.load(Ordering::Relaxed), 1);
        assert_eq!(spool.batch("L", 10).await.unwrap().len(), 2);
    }
}
