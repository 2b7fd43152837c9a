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
