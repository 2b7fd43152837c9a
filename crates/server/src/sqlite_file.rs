//! Opening the server's own side databases in the data directory (the chat logging spool,
//! `chat_log/spool.rs`; the embedded history, `history/sqlite.rs`): one SQLite file each,
//! private to this user, WAL, `synchronous = NORMAL` (a power loss may lose the last commits,
//! never corrupt the file; each module says why that is enough for it). The store
//! (`store/sqlite.rs`) is not one of them: it needs `synchronous = FULL`.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// Opens (creating if needed) the database at `path` with a pool of `max_connections`.
pub async fn open_private_wal(path: &Path, max_connections: u32) -> anyhow::Result<SqlitePool> {
    // Made here so that it, and the -wal and -shm files SQLite gives its mode, are 0600.
    crate::private_files::create_file(path)
        .with_context(|| format!("creating {}", path.display()))?;
    let options = SqliteConnectOptions::from_str("sqlite:")?
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5));
    SqlitePoolOptions::new()
        .max_connections(max_connections)
        .connect_with(options)
        .await
        .with_context(|| format!("opening {}", path.display()))
}
