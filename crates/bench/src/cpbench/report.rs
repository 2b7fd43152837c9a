//! Results: merging the connections' outcomes, the table, the JSON, and medians over runs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::procfs::CpuUse;
use crate::spread::{spread, Spread};

/// What one connection saw inside the measurement window.
pub struct ConnOutcome {
    /// Microseconds from just before signing to the last byte of the answer.
    pub latency: Histogram<u64>,
    /// `"200"`, `"403 InvalidSignatureException"`, … → count.
    pub statuses: BTreeMap<String, u64>,
    pub requests: u64,
    /// Connect, send or receive failures (the connection is then reopened).
    pub io_errors: u64,
    pub first_error: Option<String>,
}

pub struct RunInfo<'a> {
    pub label: &'a str,
    pub operation: &'static str,
    pub concurrency: usize,
    pub threads: usize,
    pub rooms: usize,
    pub signer: &'static str,
    pub warmup: Duration,
    pub server_pid: Option<u32>,
    pub rooms_left_behind: usize,
}

/// Read from /proc over the window.
pub struct Measured {
    pub window: Duration,
    pub cpu: CpuUse,
    pub server_rss_kib_before: Option<u64>,
    pub server_rss_kib_after: Option<u64>,
    pub server_hwm_kib: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LatencyUs {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

/// One run, as printed and written to `--json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub tool: String,
    pub label: String,
    pub operation: String,
    pub concurrency: usize,
    pub generator_threads: usize,
    pub rooms: usize,
    pub signer: String,
    pub warmup_s: f64,
    pub duration_s: f64,
    pub requests: u64,
    pub requests_per_s: f64,
    /// 2xx answers per second.
    pub ok_per_s: f64,
    pub non_2xx: u64,
    pub io_errors: u64,
    #[serde(default)]
    pub first_error: Option<String>,
    pub statuses: BTreeMap<String, u64>,
    pub latency_us: LatencyUs,
    pub cpu: CpuUse,
    /// Server CPU per request, µs (server CPU time in the window / requests).
    pub server_cpu_us_per_request: Option<f64>,
    pub generator_cpu_us_per_request: Option<f64>,
    pub server_pid: Option<u32>,
    pub server_rss_kib_before: Option<u64>,
    pub server_rss_kib_after: Option<u64>,
    pub server_hwm_kib: Option<u64>,
    pub rooms_left_behind: usize,
    pub unix_time: u64,
}

pub fn summary(info: &RunInfo<'_>, outcomes: &[ConnOutcome], measured: Measured) -> Summary {
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
    let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
    let mut requests = 0;
    let mut io_errors = 0;
    let mut first_error = None;
    for o in outcomes {
        latency.add(&o.latency).expect("same bounds");
        for (k, v) in &o.statuses {
            *statuses.entry(k.clone()).or_insert(0) += v;
        }
        requests += o.requests;
        io_errors += o.io_errors;
        if first_error.is_none() {
            first_error.clone_from(&o.first_error);
        }
    }
    let ok: u64 = statuses
        .iter()
        .filter(|(k, _)| k.starts_with('2'))
        .map(|(_, v)| v)
        .sum();
    let secs = measured.window.as_secs_f64().max(1e-9);
    let rps = requests as f64 / secs;
    let per_request = |pct: Option<f64>| -> Option<f64> {
        // pct of one core over `secs` = pct/100 × secs CPU-seconds.
        let pct = pct?;
        (requests > 0).then(|| pct / 100.0 * secs * 1e6 / requests as f64)
    };
    Summary {
        tool: format!("ivschat-cpbench {}", env!("CARGO_PKG_VERSION")),
        label: info.label.to_string(),
        operation: info.operation.to_string(),
        concurrency: info.concurrency,
        generator_threads: info.threads,
        rooms: info.rooms,
        signer: info.signer.to_string(),
        warmup_s: info.warmup.as_secs_f64(),
        duration_s: secs,
        requests,
        requests_per_s: rps,
        ok_per_s: ok as f64 / secs,
        non_2xx: requests - ok,
        io_errors,
        first_error,
        statuses,
        latency_us: LatencyUs {
            p50: latency.value_at_quantile(0.50),
            p90: latency.value_at_quantile(0.90),
            p99: latency.value_at_quantile(0.99),
            p999: latency.value_at_quantile(0.999),
            max: latency.max(),
            mean: latency.mean(),
        },
        server_cpu_us_per_request: per_request(measured.cpu.server_pct_of_core),
        generator_cpu_us_per_request: per_request(measured.cpu.generator_pct_of_core),
        cpu: measured.cpu,
        server_pid: info.server_pid,
        server_rss_kib_before: measured.server_rss_kib_before,
        server_rss_kib_after: measured.server_rss_kib_after,
        server_hwm_kib: measured.server_hwm_kib,
        rooms_left_behind: info.rooms_left_behind,
        unix_time: std::time::SystemTime::now()
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.0}%"))
}

fn us(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.1} µs"))
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("-".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

pub fn table(s: &Summary) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "\n{} {}: {} connections, {} generator thread(s), signer {}, {} s (+{} s warm-up)",
        s.operation,
        s.label,
        s.concurrency,
        s.generator_threads,
        s.signer,
        s.duration_s,
        s.warmup_s
    );
    let rows: Vec<(&str, String)> = vec![
        ("requests/s", format!("{:.0}", s.requests_per_s)),
        ("2xx/s", format!("{:.0}", s.ok_per_s)),
        (
            "latency p50 / p90 / p99",
            format!(
                "{:.2} / {:.2} / {:.2} ms",
                s.latency_us.p50 as f64 / 1000.0,
                s.latency_us.p90 as f64 / 1000.0,
                s.latency_us.p99 as f64 / 1000.0
            ),
        ),
        (
            "latency max",
            format!("{:.2} ms", s.latency_us.max as f64 / 1000.0),
        ),
        (
            "statuses",
            s.statuses
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ("i/o errors", s.io_errors.to_string()),
        (
            "CPU server / generator / others",
            format!(
                "{} / {} / {} of one core ({} CPUs)",
                pct(s.cpu.server_pct_of_core),
                pct(s.cpu.generator_pct_of_core),
                pct(s.cpu.others_pct_of_core),
                s.cpu.cpus
            ),
        ),
        (
            "CPU per request server / generator",
            format!(
                "{} / {}",
                us(s.server_cpu_us_per_request),
                us(s.generator_cpu_us_per_request)
            ),
        ),
        (
            "server RSS before → after (peak)",
            format!(
                "{} → {} ({})",
                mib(s.server_rss_kib_before),
                mib(s.server_rss_kib_after),
                mib(s.server_hwm_kib)
            ),
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(t, "  {k:<36} {v}");
    }
    if let Some(e) = &s.first_error {
        let _ = writeln!(t, "  {:<36} {e}", "first error");
    }
    t
}

#[derive(Debug, Clone, Serialize)]
pub struct OperationMedians {
    pub operation: String,
    pub runs: usize,
    pub files: Vec<PathBuf>,
    pub figures: BTreeMap<String, Spread>,
    /// Runs with a non-2xx answer or an i/o error.
    pub unclean_runs: usize,
}

/// Figures summarised over runs: (JSON key, table label, unit scale, decimals).
const FIGURES: [(&str, &str, f64, usize); 9] = [
    ("requests_per_s", "requests/s", 1.0, 0),
    ("latency_p50_ms", "p50 ms", 1.0, 2),
    ("latency_p90_ms", "p90 ms", 1.0, 2),
    ("latency_p99_ms", "p99 ms", 1.0, 2),
    ("latency_max_ms", "max ms", 1.0, 1),
    ("server_cpu_pct", "server CPU %", 1.0, 0),
    ("generator_cpu_pct", "gen CPU %", 1.0, 0),
    ("others_cpu_pct", "others %", 1.0, 0),
    ("server_cpu_us_per_request", "srv µs/req", 1.0, 1),
];

fn figure(s: &Summary, key: &str) -> Option<f64> {
    Some(match key {
        "requests_per_s" => s.requests_per_s,
        "latency_p50_ms" => s.latency_us.p50 as f64 / 1000.0,
        "latency_p90_ms" => s.latency_us.p90 as f64 / 1000.0,
        "latency_p99_ms" => s.latency_us.p99 as f64 / 1000.0,
        "latency_max_ms" => s.latency_us.max as f64 / 1000.0,
        "server_cpu_pct" => s.cpu.server_pct_of_core?,
        "generator_cpu_pct" => s.cpu.generator_pct_of_core?,
        "others_cpu_pct" => s.cpu.others_pct_of_core?,
        "server_cpu_us_per_request" => s.server_cpu_us_per_request?,
        _ => return None,
    })
}

/// Reads run results, groups them by operation (in first-seen order), prints medians with
/// min–max, and writes them to `json_out`.
pub fn summarize(paths: &[PathBuf], json_out: Option<&Path>) -> Result<String> {
    let mut groups: Vec<(String, Vec<(PathBuf, Summary)>)> = Vec::new();
    for path in paths {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let s: Summary =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        match groups.iter_mut().find(|(op, _)| *op == s.operation) {
            Some((_, runs)) => runs.push((path.clone(), s)),
            None => groups.push((s.operation.clone(), vec![(path.clone(), s)])),
        }
    }
    ensure!(!groups.is_empty(), "no results to summarize");
    let mut medians = Vec::new();
    for (operation, runs) in &groups {
        let mut figures = BTreeMap::new();
        for (key, _, _, _) in FIGURES {
            let values: Vec<f64> = runs.iter().filter_map(|(_, s)| figure(s, key)).collect();
            if let Some(sp) = spread(values) {
                figures.insert(key.to_string(), sp);
            }
        }
        medians.push(OperationMedians {
            operation: operation.clone(),
            runs: runs.len(),
            files: runs.iter().map(|(p, _)| p.clone()).collect(),
            figures,
            unclean_runs: runs
                .iter()
                .filter(|(_, s)| s.non_2xx > 0 || s.io_errors > 0)
                .count(),
        });
    }
    let mut t = String::new();
    let _ = writeln!(t, "\nMedian (min–max) over runs:");
    let _ = write!(t, "{:<22} {:>4}", "operation", "runs");
    for (_, label, _, _) in FIGURES {
        let _ = write!(t, " {label:>21}");
    }
    let _ = writeln!(t);
    for m in &medians {
        let _ = write!(t, "{:<22} {:>4}", m.operation, m.runs);
        for (key, _, scale, decimals) in FIGURES {
            let cell = m.figures.get(key).map_or("-".to_string(), |s| {
                format!(
                    "{:.d$} ({:.d$}–{:.d$})",
                    s.median * scale,
                    s.min * scale,
                    s.max * scale,
                    d = decimals
                )
            });
            let _ = write!(t, " {cell:>21}");
        }
        let _ = writeln!(t);
        if m.unclean_runs > 0 {
            let _ = writeln!(
                t,
                "  ! {} run(s) had non-2xx answers or i/o errors",
                m.unclean_runs
            );
        }
    }
    if let Some(path) = json_out {
        let json = serde_json::to_string_pretty(&medians)?;
        std::fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        let s = spread(vec![3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(spread(vec![1.0, 4.0]).unwrap().median, 2.5);
        assert!(spread(vec![]).is_none());
    }
}
