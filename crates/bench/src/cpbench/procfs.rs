//! `/proc` readers (Linux): CPU time of the server and of this process, machine-wide busy
//! time, and resident memory. Every reader returns `None` when the file is missing or odd.

use std::time::Instant;

use serde::{Deserialize, Serialize};

pub use crate::proc_read::status_value as status_kib;
use crate::proc_read::{cpu_ticks, machine_ticks, TICKS_PER_SECOND};

fn cpus() -> f64 {
    std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64)
}

#[derive(Debug, Clone)]
pub struct CpuSnapshot {
    at: Instant,
    server: Option<u64>,
    generator: Option<u64>,
    machine: Option<(u64, u64)>,
}

impl CpuSnapshot {
    pub fn take(server_pid: Option<u32>) -> CpuSnapshot {
        CpuSnapshot {
            at: Instant::now(),
            server: server_pid.and_then(cpu_ticks),
            generator: cpu_ticks(std::process::id()),
            machine: machine_ticks(),
        }
    }
}

/// CPU use over a window, in percent of one core (so 200 = both cores of a 2-core machine).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CpuUse {
    pub server_pct_of_core: Option<f64>,
    pub generator_pct_of_core: Option<f64>,
    /// Everything busy on the machine, in percent of one core.
    pub machine_busy_pct_of_core: Option<f64>,
    /// machine − server − generator: other people's work and the kernel's own threads. Not
    /// near zero means the run shared the machine.
    pub others_pct_of_core: Option<f64>,
    pub cpus: f64,
}

pub fn cpu_use(from: &CpuSnapshot, to: &CpuSnapshot) -> CpuUse {
    let secs = to.at.duration_since(from.at).as_secs_f64().max(1e-9);
    let pct = |a: Option<u64>, b: Option<u64>| -> Option<f64> {
        Some(b?.saturating_sub(a?) as f64 / TICKS_PER_SECOND / secs * 100.0)
    };
    let cpus = cpus();
    let machine = match (from.machine, to.machine) {
        (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => {
            Some((b1 - b0) as f64 / (t1 - t0) as f64 * 100.0 * cpus)
        }
        _ => None,
    };
    let server = pct(from.server, to.server);
    let generator = pct(from.generator, to.generator);
    let others = machine.map(|m| (m - server.unwrap_or(0.0) - generator.unwrap_or(0.0)).max(0.0));
    CpuUse {
        server_pct_of_core: server,
        generator_pct_of_core: generator,
        machine_busy_pct_of_core: machine,
        others_pct_of_core: others,
        cpus,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let me = std::process::id();
        assert!(status_kib(me, "VmRSS:").unwrap() > 0);
        assert!(cpu_ticks(me).is_some());
        let a = CpuSnapshot::take(Some(me));
        let b = CpuSnapshot::take(Some(me));
        assert!(cpu_use(&a, &b).generator_pct_of_core.is_some());
    }
}
