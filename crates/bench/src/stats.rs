//! Measurement plumbing: per-worker-thread latency histograms and counters (no shared cache
//! line written per frame), and `/proc` readers for resident memory and CPU time.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use hdrhistogram::Histogram;

/// Highest latency the histograms hold (larger values are clamped): 60 s in nanoseconds.
pub const MAX_LATENCY_NS: u64 = 60_000_000_000;

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("valid histogram bounds")
}

/// What the connections on one worker thread have seen. Only that thread writes it (the mutex
/// is uncontended except when the progress printer or the final report reads it).
pub struct Shard {
    /// Send→receive latency of deliveries of messages sent inside the measurement window.
    pub latency: Histogram<u64>,
    /// The same deliveries' send→arrival latency: until the kernel had the bytes in the
    /// receiving socket, before this process read them (off with `--no-arrival-timestamps`).
    pub arrival: Histogram<u64>,
    /// Send→the server's own timestamp of the message (IVS Chat's `SendTime`: the request
    /// read, checked and handed to the fan-out); empty for servers that send none.
    pub accepted: Histogram<u64>,
    /// Every MESSAGE frame received, at any time (for the progress line).
    pub frames: u64,
}

static SHARDS: Mutex<Vec<Arc<Mutex<Shard>>>> = Mutex::new(Vec::new());

thread_local! {
    static LOCAL: RefCell<Option<Arc<Mutex<Shard>>>> = const { RefCell::new(None) };
}

/// Runs `f` on this thread's shard (creating and registering it on first use).
pub fn with_shard<R>(f: impl FnOnce(&mut Shard) -> R) -> R {
    LOCAL.with(|cell| {
        let mut slot = cell.borrow_mut();
        let shard = slot.get_or_insert_with(|| {
            let shard = Arc::new(Mutex::new(Shard {
                latency: new_histogram(),
                arrival: new_histogram(),
                accepted: new_histogram(),
                frames: 0,
            }));
            lock(&SHARDS).push(shard.clone());
            shard
        });
        let mut guard = lock(shard);
        f(&mut guard)
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Frames received so far, all threads together.
pub fn total_frames() -> u64 {
    lock(&SHARDS).iter().map(|s| lock(s).frames).sum()
}

/// One of the shards' histograms (`which` picks it: `|s| &s.latency`), all threads merged.
/// Empty when no thread recorded any (arrival without timestamps, accepted without a server
/// that stamps).
pub fn merged(which: impl Fn(&Shard) -> &Histogram<u64>) -> Histogram<u64> {
    let mut all = new_histogram();
    for shard in lock(&SHARDS).iter() {
        all.add(which(&lock(shard))).expect("same bounds");
    }
    all
}

/// `/proc` readers (Linux). Every reader returns `None` when the file is missing or odd.
pub mod proc {
    use crate::proc_read::status_value;
    pub use crate::proc_read::{cpu_ticks, machine_ticks, TICKS_PER_SECOND};

    /// Resident set size of a process in KiB (`VmRSS` in `/proc/<pid>/status`).
    pub fn rss_kib(pid: u32) -> Option<u64> {
        status_value(pid, "VmRSS:")
    }

    /// Open file descriptors of a process (entries of `/proc/<pid>/fd`): one per live socket.
    pub fn open_fds(pid: u32) -> Option<u64> {
        Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
    }

    /// Threads of a process (`Threads` in `/proc/<pid>/status`).
    pub fn threads(pid: u32) -> Option<u64> {
        status_value(pid, "Threads:")
    }

    /// `f` summed over `pids`: `None` when there are none or one cannot be read.
    pub fn sum(pids: &[u32], f: impl Fn(u32) -> Option<u64>) -> Option<u64> {
        if pids.is_empty() {
            return None;
        }
        pids.iter().map(|&p| f(p)).sum()
    }

    /// A CPU-time snapshot of the server(s), this process, the watched processes and the
    /// machine.
    #[derive(Debug, Clone)]
    pub struct CpuSnapshot {
        pub at: std::time::Instant,
        /// All server processes together.
        pub server: Option<u64>,
        /// Each server process (when there are several).
        pub servers: Vec<Option<u64>>,
        pub generator: Option<u64>,
        /// `--watch-pid` processes together (e.g. redis-server).
        pub watched: Option<u64>,
        pub machine: Option<(u64, u64)>,
    }

    impl CpuSnapshot {
        pub fn take(server_pids: &[u32], watched_pids: &[u32]) -> CpuSnapshot {
            let servers: Vec<Option<u64>> = server_pids.iter().map(|&p| cpu_ticks(p)).collect();
            CpuSnapshot {
                at: std::time::Instant::now(),
                server: if servers.is_empty() {
                    None
                } else {
                    servers.iter().copied().sum()
                },
                servers: if servers.len() > 1 {
                    servers
                } else {
                    Vec::new()
                },
                generator: cpu_ticks(std::process::id()),
                watched: sum(watched_pids, cpu_ticks),
                machine: machine_ticks(),
            }
        }
    }

    /// CPU use between two snapshots, in percent of one core (server, generator) and in
    /// percent of the whole machine (busy).
    #[derive(Debug, Clone, Default, serde::Serialize)]
    pub struct CpuUse {
        /// All server processes together.
        pub server_pct_of_core: Option<f64>,
        /// Each server process, in `--server-pid` order (only with several).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub per_server_pct_of_core: Vec<Option<f64>>,
        pub generator_pct_of_core: Option<f64>,
        /// The `--watch-pid` processes together (e.g. redis-server).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub watched_pct_of_core: Option<f64>,
        pub machine_busy_pct: Option<f64>,
        /// Everything else on the machine (other people's builds, the kernel's own threads),
        /// in percent of one core: machine busy × CPUs − server − generator − watched.
        pub others_pct_of_core: Option<f64>,
    }

    pub fn cpu_use(from: &CpuSnapshot, to: &CpuSnapshot) -> CpuUse {
        let secs = to.at.duration_since(from.at).as_secs_f64().max(1e-9);
        let pct = |a: Option<u64>, b: Option<u64>| -> Option<f64> {
            Some((b?.saturating_sub(a?)) as f64 / TICKS_PER_SECOND / secs * 100.0)
        };
        let machine = match (from.machine, to.machine) {
            (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => {
                Some((b1 - b0) as f64 / (t1 - t0) as f64 * 100.0)
            }
            _ => None,
        };
        let server = pct(from.server, to.server);
        let generator = pct(from.generator, to.generator);
        let watched = pct(from.watched, to.watched);
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let others = machine.map(|m| {
            (m * cpus - server.unwrap_or(0.0) - generator.unwrap_or(0.0) - watched.unwrap_or(0.0))
                .max(0.0)
        });
        CpuUse {
            server_pct_of_core: server,
            per_server_pct_of_core: from
                .servers
                .iter()
                .zip(&to.servers)
                .map(|(a, b)| pct(*a, *b))
                .collect(),
            generator_pct_of_core: generator,
            watched_pct_of_core: watched,
            machine_busy_pct: machine,
            others_pct_of_core: others,
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn reads_own_process() {
            let me = std::process::id();
            assert!(rss_kib(me).unwrap() > 0);
            assert!(cpu_ticks(me).is_some());
            assert!(threads(me).unwrap() >= 1);
            assert!(open_fds(me).unwrap() >= 1);
            let (busy, total) = machine_ticks().unwrap();
            assert!(total >= busy);
            assert_eq!(sum(&[], rss_kib), None);
            assert_eq!(sum(&[me, me], |_| Some(2)), Some(4));
            assert_eq!(sum(&[me, u32::MAX], rss_kib), None);
            let a = CpuSnapshot::take(&[me, me], &[me]);
            assert_eq!(a.servers.len(), 2);
            let use_ = cpu_use(&a, &CpuSnapshot::take(&[me, me], &[me]));
            assert_eq!(use_.per_server_pct_of_core.len(), 2);
            assert!(use_.watched_pct_of_core.is_some());
        }
    }
}
