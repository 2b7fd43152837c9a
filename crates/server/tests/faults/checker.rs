//! Judges what the clients recorded, per fault: which messages were acknowledged (the sender
//! got its MESSAGE back) or refused (ERROR), which acknowledged messages a member that stayed
//! connected did not get (lost), got twice (duplicated) or got out of its sender's order
//! (reordered), and how long the cluster took to recover; and compares the chat log the nodes
//! wrote with what was acknowledged.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::clients::Record;

/// A member counts as having stayed connected for a message when its connection was open
/// before the message was sent and was still open this long after it was acknowledged (or
/// until the end of the run): delivery within this time is what is checked.
pub const DELIVERY_GRACE: Duration = Duration::from_secs(5);

/// One fault of the run: messages sent between `start` and `end` are judged under it.
#[derive(Debug, Clone)]
pub struct Phase {
    pub name: String,
    pub injected: String,
    pub start: Instant,
    /// When the fault was removed (the process restarted, the link up, the space freed).
    pub healed: Option<Instant>,
    /// When every node answered `/ready` 200 again after the fault was removed.
    pub ready: Option<Instant>,
    pub end: Instant,
    /// Extra observations (what the nodes answered meanwhile).
    pub notes: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Verdict {
    pub sent: usize,
    pub acked: usize,
    pub refused: usize,
    pub unanswered: usize,
    pub lost: usize,
    /// (message id, receiver client, receiver node) of the first few losses, to say which.
    pub lost_examples: Vec<String>,
    pub duplicated: usize,
    pub reordered: usize,
    /// Refused to its sender, delivered to someone all the same.
    pub refused_yet_delivered: usize,
    pub disconnects: usize,
    pub refused_connects: usize,
    pub to_ready: Option<Duration>,
    pub to_cross_node: Option<Duration>,
}

pub fn judge(record: &Record, phase: &Phase, run_end: Instant) -> Verdict {
    let mut verdict = Verdict::default();
    let in_phase = |t: Instant| t >= phase.start && t < phase.end;
    let delivered_to: HashMap<&str, usize> = record
        .incarnations
        .iter()
        .flat_map(|inc| inc.received.iter().map(|(id, _)| id.as_str()))
        .fold(HashMap::new(), |mut m, id| {
            *m.entry(id).or_default() += 1;
            m
        });
    let received: Vec<HashSet<&str>> = record
        .incarnations
        .iter()
        .map(|inc| inc.received.iter().map(|(id, _)| id.as_str()).collect())
        .collect();
    for sent in record.sent.iter().filter(|s| in_phase(s.sent)) {
        verdict.sent += 1;
        match (sent.acked, sent.refused) {
            (Some(acked), _) => {
                verdict.acked += 1;
                for (r, inc) in record.incarnations.iter().enumerate() {
                    let open_before = inc.connected < sent.sent;
                    let stayed = inc.ended.unwrap_or(run_end) >= acked + DELIVERY_GRACE
                        || inc.ended.is_none();
                    if open_before && stayed && !received[r].contains(sent.id.as_str()) {
                        verdict.lost += 1;
                        if verdict.lost_examples.len() < 3 {
                            verdict.lost_examples.push(format!(
                                "{} (sent via node {}) not at c{} on node {}",
                                sent.id,
                                record.incarnations[sent.incarnation].node,
                                inc.client,
                                inc.node
                            ));
                        }
                    }
                }
            }
            (None, Some(_)) => {
                verdict.refused += 1;
                if delivered_to.contains_key(sent.id.as_str()) {
                    verdict.refused_yet_delivered += 1;
                }
            }
            (None, None) => verdict.unanswered += 1,
        }
    }
    let seq_of = |id: &str| -> (usize, u64) {
        let (client, seq) = id[1..].split_once('-').unwrap();
        (client.parse().unwrap(), seq.parse().unwrap())
    };
    for inc in &record.incarnations {
        let mut seen = HashSet::new();
        let mut last_from: HashMap<usize, u64> = HashMap::new();
        for (id, at) in &inc.received {
            let (sender, seq) = seq_of(id);
            let counted = in_phase(*at);
            if !seen.insert(id.as_str()) && counted {
                verdict.duplicated += 1;
            }
            let last = last_from.entry(sender).or_default();
            if seq < *last && counted {
                verdict.reordered += 1;
            }
            *last = (*last).max(seq);
        }
        if inc.ended.is_some_and(in_phase) {
            verdict.disconnects += 1;
        }
    }
    verdict.refused_connects = record
        .refused_connects
        .iter()
        .filter(|(_, _, at)| in_phase(*at))
        .count();
    if let Some(healed) = phase.healed {
        verdict.to_ready = phase.ready.map(|ready| ready - healed);
        // The first message sent after the fault was removed that reached a member on another
        // node than its sender's.
        let sent_by: HashMap<&str, (usize, Instant)> = record
            .sent
            .iter()
            .map(|s| {
                (
                    s.id.as_str(),
                    (record.incarnations[s.incarnation].node, s.sent),
                )
            })
            .collect();
        verdict.to_cross_node = record
            .incarnations
            .iter()
            .flat_map(|inc| {
                let sent_by = &sent_by;
                inc.received.iter().filter_map(move |(id, at)| {
                    let (node, sent) = sent_by.get(id.as_str())?;
                    (*node != inc.node && *sent >= healed).then_some(*at)
                })
            })
            .min()
            .map(|at| at - healed);
    }
    verdict
}

/// What the chat log holds compared with what was acknowledged, for messages sent in a phase.
#[derive(Debug, Default)]
pub struct LogVerdict {
    /// Acknowledged, and not in the log.
    pub missing: usize,
    /// Of those, how many were sent through each node.
    pub missing_by_node: [usize; 3],
    /// Refused with an ERROR, and in the log all the same.
    pub refused_logged: usize,
    /// Never answered (connection lost first), in the log: in doubt, allowed.
    pub unanswered_logged: usize,
    /// Records beyond the first for one message (shipping is at-least-once).
    pub duplicate_records: usize,
}

pub fn judge_log(record: &Record, phase: &Phase, logged: &HashMap<String, usize>) -> LogVerdict {
    let mut verdict = LogVerdict::default();
    for sent in record
        .sent
        .iter()
        .filter(|s| s.sent >= phase.start && s.sent < phase.end)
    {
        let count = logged.get(&sent.id).copied().unwrap_or(0);
        verdict.duplicate_records += count.saturating_sub(1);
        match (sent.acked, sent.refused, count > 0) {
            (Some(_), _, false) => {
                verdict.missing += 1;
                verdict.missing_by_node[record.incarnations[sent.incarnation].node] += 1;
            }
            (None, Some(_), true) => verdict.refused_logged += 1,
            (None, None, true) => verdict.unanswered_logged += 1,
            _ => {}
        }
    }
    verdict
}

pub fn millis(d: Option<Duration>) -> String {
    d.map_or("—".to_string(), |d| format!("{:.1} s", d.as_secs_f64()))
}
