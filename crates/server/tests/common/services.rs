//! The PostgreSQL and Redis that some tests need, found through the environment only:
//! `IVSCHAT_TEST_DATABASE_URL` (`postgres://…`) and `IVSCHAT_TEST_REDIS_URL` (`redis://…`).
//! `scripts/test.sh` starts private instances and sets both (see `scripts/services.sh`).
//!
//! Without a URL, a test that needs the service is skipped: it says so on the terminal (past
//! the test harness's output capture) and returns. Under `IVSCHAT_REQUIRE_SERVICES=1`, which
//! `scripts/test.sh` sets, a missing service fails the test instead, so a suite run can never
//! pass by skipping them.

use std::io::Write;
use std::sync::Once;

const HOW: &str = "run `bash scripts/test.sh`, which starts private instances, or set \
                   IVSCHAT_TEST_DATABASE_URL=postgres://… and IVSCHAT_TEST_REDIS_URL=redis://…";

/// The PostgreSQL database tests may create schemas in, or `None` (skip).
pub fn database_url() -> Option<String> {
    static SAID: Once = Once::new();
    from_env("IVSCHAT_TEST_DATABASE_URL", "PostgreSQL", &SAID)
}

/// The Redis server tests may use (keys under their own prefix), or `None` (skip).
pub fn redis_url() -> Option<String> {
    static SAID: Once = Once::new();
    from_env("IVSCHAT_TEST_REDIS_URL", "Redis", &SAID)
}

/// Whether `program` can be started from PATH; when it cannot, the test skips (or fails under
/// `IVSCHAT_REQUIRE_SERVICES=1`) with the reason.
pub fn program_available(program: &str) -> bool {
    let found = std::process::Command::new(program)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok();
    if !found {
        missing(program, &format!("`{program}` is not on PATH"));
    }
    found
}

fn from_env(var: &str, service: &str, said: &Once) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            let reason = format!("{var} is not set");
            if required() {
                missing(service, &reason);
            }
            said.call_once(|| missing(service, &reason));
            None
        }
    }
}

fn required() -> bool {
    std::env::var("IVSCHAT_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// Fails under `IVSCHAT_REQUIRE_SERVICES=1`; otherwise tells the terminal why tests skip.
fn missing(service: &str, reason: &str) {
    if required() {
        panic!("this test needs {service}: {reason}, and IVSCHAT_REQUIRE_SERVICES=1; {HOW}");
    }
    // Straight to the process's stderr: the harness captures only print!/eprint! output, and
    // only shows it for failing tests.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: the tests that need {service} ({reason}); to run them, {HOW}"
    );
}

/// Drops a test cluster's schema and Redis keys, on a thread of its own (`Drop` runs inside
/// the test's runtime).
pub fn remove_cluster(name: &str, database_url: &str, redis_url: &str) {
    let (name, database_url, redis_url) = (
        name.to_string(),
        database_url.to_string(),
        redis_url.to_string(),
    );
    let _ = std::thread::spawn(move || {
        use sqlx::Connection;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            if let Ok(mut conn) = sqlx::PgConnection::connect(&database_url).await {
                let statement = format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE");
                let _ = sqlx::query(&statement).execute(&mut conn).await;
                let _ = conn.close().await;
            }
        });
        if let Ok(mut redis) =
            redis::Client::open(redis_url.as_str()).and_then(|c| c.get_connection())
        {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{name}:*"))
                .query(&mut redis)
                .unwrap_or_default();
            if !keys.is_empty() {
                let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(keys).query(&mut redis);
            }
        }
    })
    .join();
}
