//! Where the rooms' fan-out shards (`fanout.rs`) run: a tokio runtime of their own, apart
//! from the one that reads the sockets and serves the control plane.
//!
//! Why: a busy room's shard turn is a hundred socket writes or more. On the runtime that also
//! runs the sessions, a session whose socket became readable waits for tokio to poll its I/O
//! driver, which a busy worker does only every 61 task polls or when its queue is empty: with a
//! 10,000-member room's 79 shard turns queued, about once per sweep of the room. A sender's
//! message then waited 80–150 ms (p99) before the server even read it, a third of the room's
//! latency. Polling the driver more often does not help, because it also releases the shards'
//! `yield_now` early and each turn then writes fewer frames per `writev` (BENCHMARKS.md). With
//! the shards on their own threads, the operating system shares the cores between the two
//! runtimes and a session that wakes runs at once: send→accepted p99 fell to about 5 ms.
//! Measured in BENCHMARKS.md, "Fan-out shards on their own runtime".
//!
//! `[chat] fanout_threads` sets its worker threads; 0, the default, leaves one CPU to the
//! sessions: one fewer than the CPUs the process may use, and at least one.

use std::io;

use tokio::runtime::{Builder, Handle, Runtime};

/// The name of the shard runtime's threads (`top -H`, `/proc/PID/task/*/comm`).
pub const THREAD_NAME: &str = "ivschat-fanout";

pub struct ShardRuntime {
    handle: Handle,
    /// The runtime this owns; `None` when the shards run on the caller's runtime.
    own: Option<Runtime>,
}

impl ShardRuntime {
    /// Starts the shards' own runtime with `configured` worker threads (0: see
    /// [`ShardRuntime::threads_for`]).
    pub fn start(configured: usize) -> io::Result<ShardRuntime> {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let runtime = Builder::new_multi_thread()
            .worker_threads(Self::threads_for(configured, cpus))
            .thread_name(THREAD_NAME)
            // Sockets stay registered with the runtime that accepted them (its driver wakes
            // whoever waits on one); this runtime's own drivers are there for whatever a
            // shard's code may use, so that nothing panics for want of one.
            .enable_all()
            .build()?;
        Ok(ShardRuntime {
            handle: runtime.handle().clone(),
            own: Some(runtime),
        })
    }

    /// Shards on the runtime this is called from (unit tests of the fan-out alone).
    pub fn current() -> ShardRuntime {
        ShardRuntime {
            handle: Handle::current(),
            own: None,
        }
    }

    /// Worker threads for `configured` (0: automatic) on a machine with `cpus` CPUs.
    pub fn threads_for(configured: usize, cpus: usize) -> usize {
        match configured {
            0 => cpus.saturating_sub(1).max(1),
            n => n,
        }
    }

    /// Where shard tasks are spawned; each room's fan-out keeps a clone.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Drop for ShardRuntime {
    fn drop(&mut self) {
        // Dropped from async code (the hub goes with the server): a plain drop would block
        // there waiting for the workers, which tokio forbids. The shard tasks are dropped with
        // their rooms' sockets.
        if let Some(runtime) = self.own.take() {
            runtime.shutdown_background();
        }
    }
}

impl std::fmt::Debug for ShardRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardRuntime")
            .field("own", &self.own.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automatic_leaves_one_cpu_to_the_sessions() {
        assert_eq!(ShardRuntime::threads_for(0, 1), 1);
        assert_eq!(ShardRuntime::threads_for(0, 2), 1);
        assert_eq!(ShardRuntime::threads_for(0, 16), 15);
        assert_eq!(ShardRuntime::threads_for(3, 2), 3);
    }

    /// Tasks run on the runtime's own named threads, and it can be dropped from async code.
    #[tokio::test(flavor = "current_thread")]
    async fn shard_tasks_run_on_their_own_threads() {
        let shards = ShardRuntime::start(1).unwrap();
        let (sent, ran_on) = tokio::sync::oneshot::channel();
        shards.handle().spawn(async move {
            let _ = sent.send(std::thread::current().name().map(str::to_owned));
        });
        assert_eq!(ran_on.await.unwrap().as_deref(), Some(THREAD_NAME));
        drop(shards);
    }
}
