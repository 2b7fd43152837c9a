//! The scale-out store: PostgreSQL, shared by every node of a cluster.
//!
//! Each cluster keeps its tables in its own schema, named by `--cluster-name`, so several
//! clusters (or test runs) can share one database: every pooled connection starts with
//! `search_path` set to that schema, and nothing in the SQL names a schema.
//!
//! Nodes write concurrently, so the SQL (`sql.rs`) runs with PostgreSQL's dialect: every
//! read-modify-write transaction (READ COMMITTED) locks the row it reads (`FOR NO KEY
//! UPDATE`: the id never changes, so attaching a logging configuration that is being updated
//! need not wait), and the quota checks, which count rows, first take a transaction-scoped
//! advisory lock for that quota: two nodes can never both see "one slot left" and both take
//! it. Default PostgreSQL commits are durable (`synchronous_commit = on`).
//!
//! **Encryption.** `sslmode=` and `sslrootcert=` in the URL work as in libpq (rustls does the
//! TLS): `require` encrypts without checking the certificate, `verify-ca` checks it against
//! the trusted roots, `verify-full` also checks the host name. The trusted roots are Mozilla's
//! (webpki-roots) plus the `sslrootcert` file.
//!
//! **Liveness.** A connection can die without a word (a failover, a NAT or firewall that
//! forgets it, a partition), and sqlx 0.8 sets no TCP keepalive on its sockets, so every bound
//! here is the application's own ([`liveness`] holds them; README and RELIABILITY.md state them):
//! * every store operation has a deadline ([`OPERATION_TIMEOUT`], `/ready`'s ping
//!   [`PING_TIMEOUT`]); one that passes it fails as a backend error (500) and its connection
//!   goes back to the pool, which checks it (below);
//! * a connection is pinged before each use and after each release, each ping bounded: one
//!   that does not answer is closed and replaced, never handed out or kept;
//! * idle connections are closed after [`IDLE_TIMEOUT`] (before a NAT or load balancer drops
//!   them silently) and every connection after [`MAX_LIFETIME`];
//! * the server side is told to probe this node with TCP keepalives and to end a transaction
//!   left idle ([`server_side_liveness`]), so a node that vanished cannot hold row or advisory
//!   locks for the kernel's default two hours.
//!
//! This file owns connecting, the schema and its migrations, and those locks.

use std::str::FromStr;

use anyhow::{bail, Context};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions, PgSslMode};
use sqlx::{Connection, Postgres};

use super::sql::{Deadlines, Dialect, QuotaLocks, SqlStore};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per node.
const POOL_SIZE: u32 = 10;

/// The liveness bounds (see the module doc).
pub mod liveness {
    use std::time::Duration;

    /// A whole store operation (a transaction, a read), waiting for a connection included.
    pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);
    /// `/ready`'s ping: a load balancer's probe must not wait long.
    pub const PING_TIMEOUT: Duration = Duration::from_secs(3);
    /// Waiting for a pooled connection, including its check before use (or making a new one).
    pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
    /// The check of a connection handed back to the pool.
    pub const RELEASE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);
    /// Idle connections are closed after this; a new one is made when needed.
    pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
    /// Every connection is replaced after this.
    pub const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);
}
use liveness::*;

/// Advisory locks, in the two-key form `(purpose, hashtext(schema))`: one lock per purpose
/// and cluster, so clusters sharing a database do not wait for each other. (A hash collision
/// between two schema names only makes them take turns.) The purposes are arbitrary
/// constants, unlikely to collide with another application's locks in the same database.
const LOCK_SCHEMA_SETUP: i32 = 0x1c5_0001;
const LOCK_ROOM_QUOTA: i32 = 0x1c5_0002;
const LOCK_LOGGING_QUOTA: i32 = 0x1c5_0003;

/// The store of a cluster: its schema in a shared PostgreSQL database.
pub type PostgresStore = SqlStore<Postgres>;

/// Row locks (see the module doc) and the quota locks of the cluster whose schema is `schema`.
fn dialect(schema: &str) -> Dialect {
    // The schema name is a checked identifier (`check_schema_name`), so it can be a literal
    // (built once, when the store opens). hashtext('name') is the hashtext($2) that earlier
    // releases bound the name to, so old and new nodes of a cluster take the same lock.
    let lock =
        |purpose: i32| format!("SELECT pg_advisory_xact_lock({purpose}, hashtext('{schema}'))");
    Dialect {
        lock_to_rewrite: " FOR NO KEY UPDATE",
        // FOR UPDATE conflicts with the FOR KEY SHARE below.
        lock_to_delete: " FOR UPDATE",
        lock_referenced: " FOR KEY SHARE",
        quota_locks: Some(QuotaLocks {
            rooms: lock(LOCK_ROOM_QUOTA),
            logging_configurations: lock(LOCK_LOGGING_QUOTA),
        }),
        keeps_token_key: true,
    }
}

impl SqlStore<Postgres> {
    /// Connects to `database_url`, creates `schema` if needed and brings it up to date.
    ///
    /// Several nodes may open the same database at once: they take turns (an advisory lock)
    /// to create the schema and run the migrations, so each migration runs exactly once.
    pub async fn open(database_url: &str, schema: &str) -> anyhow::Result<PostgresStore> {
        check_schema_name(schema)?;
        let options = PgConnectOptions::from_str(database_url)
            .context("parsing the PostgreSQL database URL")?
            .options([("search_path", format!("\"{schema}\""))])
            .options(server_side_liveness());
        let ssl_mode = ssl_mode_name(options.get_ssl_mode());
        let target = format!(
            "PostgreSQL database {:?} on {}:{} (sslmode={ssl_mode})",
            options.get_database().unwrap_or_default(),
            options.get_host(),
            options.get_port()
        );
        if matches!(options.get_ssl_mode(), PgSslMode::Require) {
            tracing::warn!(
                "--database-url has sslmode=require: the connection is encrypted but the \
                 server's certificate is not checked; use sslmode=verify-full (with \
                 sslrootcert= for a private CA) to know whom you are talking to"
            );
        }

        // One connection holds the set-up lock while the schema is created and migrated.
        let mut setup = tokio::time::timeout(ACQUIRE_TIMEOUT, PgConnection::connect_with(&options))
            .await
            .map_err(|_| anyhow::anyhow!("no answer within {ACQUIRE_TIMEOUT:?}"))
            .and_then(|connected| Ok(connected?))
            .with_context(|| format!("connecting to {target}"))?;
        lock_schema_setup(&mut setup, schema, true)
            .await
            .context("waiting for the schema set-up lock")?;
        create_schema(&mut setup, schema)
            .await
            .with_context(|| format!("creating schema {schema:?} in {target}"))?;
        let pool = pool_options()
            .connect_with(options)
            .await
            .with_context(|| format!("connecting to {target}"))?;
        MIGRATOR
            .run(&pool)
            .await
            .with_context(|| format!("migrating schema {schema:?} in {target}"))?;
        lock_schema_setup(&mut setup, schema, false).await?;
        setup.close().await?;
        tracing::info!("store: {target}");
        // Nodes write concurrently: one pool for everything.
        Ok(
            SqlStore::new(pool.clone(), pool, dialect(schema)).with_deadlines(Deadlines {
                operation: OPERATION_TIMEOUT,
                ping: PING_TIMEOUT,
            }),
        )
    }
}

/// The pool, with the connection checks of the module doc.
fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(POOL_SIZE)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // sqlx's default, stated: an idle connection is pinged before it is handed out (the
        // ping is bounded by the acquire timeout; one that fails is closed).
        .test_before_acquire(true)
        .idle_timeout(Some(IDLE_TIMEOUT))
        .max_lifetime(Some(MAX_LIFETIME))
        // sqlx pings a released connection too, but without a bound: a connection whose
        // operation passed its deadline on a silent network would hang there for good, holding
        // its pool slot. This bounded ping comes first; an error closes the connection.
        .after_release(|conn, _| {
            Box::pin(async move {
                match tokio::time::timeout(RELEASE_CHECK_TIMEOUT, conn.ping()).await {
                    Ok(Ok(())) => Ok(true),
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!(
                            "PostgreSQL did not answer a ping within {RELEASE_CHECK_TIMEOUT:?}"
                        ),
                    ))),
                }
            })
        })
}

/// Settings every session starts with so that the server finds out when this node is gone:
/// TCP keepalive probes after 10 s of silence, every 5 s, 3 of them, and unacknowledged data
/// given up after 25 s (so a vanished node's connection closes within about 25 s instead of
/// the kernel's two hours), and a transaction left idle for 60 s ended (our transactions never
/// wait between statements; one that does lost its node). All are settable by any user;
/// PostgreSQL ignores the TCP ones on a Unix socket.
fn server_side_liveness() -> [(&'static str, &'static str); 5] {
    [
        ("tcp_keepalives_idle", "10"),
        ("tcp_keepalives_interval", "5"),
        ("tcp_keepalives_count", "3"),
        ("tcp_user_timeout", "25000"),
        ("idle_in_transaction_session_timeout", "60000"),
    ]
}

/// libpq's name of an `sslmode`.
fn ssl_mode_name(mode: PgSslMode) -> &'static str {
    match mode {
        PgSslMode::Disable => "disable",
        PgSslMode::Allow => "allow",
        PgSslMode::Prefer => "prefer",
        PgSslMode::Require => "require",
        PgSslMode::VerifyCa => "verify-ca",
        PgSslMode::VerifyFull => "verify-full",
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A database created by a release must still open (see
    /// `sql::assert_released_migrations_unchanged`).
    #[test]
    fn released_migrations_are_unchanged() {
        crate::store::sql::assert_released_migrations_unchanged(
            &MIGRATOR,
            &[(
                1,
                "374e773348bb8416963ba9f2d16cc4430306b95123f04920\
                 e93e3eff8e02e48bec78d5ec04c747740c1198e559ea4179",
            )],
        );
    }
}
