//! Chat logging (`docs/protocol/messaging.md` §8), owned by [`ChatLogger`]: every MESSAGE and EVENT
//! sent in a room with logging configurations becomes a record for each of them, spooled
//! durably before the room's connections get the frame (`spool.rs`), then shipped to its
//! destination (`sinks.rs`) by one background loop, with retries and backoff while a
//! destination is down. Shipping is at-least-once: a record whose shipping was cut off half-way
//! may arrive twice. (The chat side's "deliver" is the fan-out to connections, not this.)

pub mod sinks;
pub mod spool;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::LoggingConfig;
use crate::domain::clock::{format_time_millis, to_micros, Clock};
use crate::store::{Owner, Store};
use sinks::Sinks;
use spool::{seqs, NewRecord, NotSpooled, Spool, SpooledRecord, Unsettled};

/// Records read from the spool per destination per round.
const MAX_BATCH: usize = 5000;
/// Longest wait between attempts for a destination that keeps failing.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// `type` of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordType {
    Message,
    Event,
}

impl RecordType {
    fn as_str(self) -> &'static str {
        match self {
            RecordType::Message => "MESSAGE",
            RecordType::Event => "EVENT",
        }
    }
}

/// `{"event_timestamp":…,"type":…,"payload":<the frame clients received>,"version":"1.0"}`,
/// keys in the order seen in real logs. `frame_json` is inserted verbatim, so the payload is
/// byte for byte what clients received.
pub fn record_json(at: OffsetDateTime, kind: RecordType, frame_json: &str) -> String {
    format!(
        "{{\"event_timestamp\":\"{}\",\"type\":\"{}\",\"payload\":{frame_json},\"version\":\"1.0\"}}",
        format_time_millis(to_micros(at)),
        kind.as_str()
    )
}

pub struct ChatLogger {
    spool: Spool,
    sinks: Sinks,
    store: Arc<dyn Store>,
    config: LoggingConfig,
    clock: Clock,
    /// Total records delivered since start (tests and operators wait on it).
    delivered: watch::Sender<u64>,
}

impl std::fmt::Debug for ChatLogger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatLogger")
            .field("spool", &self.spool)
            .finish()
    }
}

/// Records [`ChatLogger::log`] spooled (their sequence numbers), unsettled: the shipper holds
/// them until this is dropped (the frame went out, or may have: they ship) or given to
/// [`ChatLogger::retract`] (it did not: they are removed first).
#[derive(Debug)]
pub struct Spooled {
    seqs: Vec<i64>,
    unsettled: Arc<Unsettled>,
}

impl Drop for Spooled {
    fn drop(&mut self) {
        self.unsettled.settle(&self.seqs);
    }
}

impl ChatLogger {
    pub fn new(
        spool: Spool,
        sinks: Sinks,
        store: Arc<dyn Store>,
        config: LoggingConfig,
        clock: Clock,
    ) -> ChatLogger {
        ChatLogger {
            spool,
            sinks,
            store,
            config,
            clock,
            delivered: watch::Sender::new(0),
        }
    }

    pub fn spool(&self) -> &Spool {
        &self.spool
    }

    /// Shutdown, once nothing logs any more and [`ChatLogger::run`] has stopped: commits what
    /// was spooled and closes the spool. Undelivered records stay in it for the next start.
    pub async fn close(&self) {
        self.spool.close().await;
    }

    /// Subscribes to the count of delivered records.
    pub fn delivered(&self) -> watch::Receiver<u64> {
        self.delivered.subscribe()
    }

    /// Spools one record per logging configuration; returns once they are durable, with
    /// what [`ChatLogger::retract`] takes should the frame not be delivered after all, or why
    /// they were not spooled.
    pub async fn log(
        &self,
        room_id: &str,
        logging_ids: &[String],
        kind: RecordType,
        frame_json: &str,
        at: OffsetDateTime,
    ) -> Result<Spooled, NotSpooled> {
        let spooled = |seqs| Spooled {
            seqs,
            unsettled: self.spool.unsettled.clone(),
        };
        if logging_ids.is_empty() {
            return Ok(spooled(Vec::new()));
        }
        let body = record_json(at, kind, frame_json);
        let timestamp_ms = to_micros(at) / 1000;
        let records = logging_ids
            .iter()
            .map(|logging_id| NewRecord {
                logging_id: logging_id.clone(),
                room_id: room_id.to_string(),
                timestamp_ms,
                body: body.clone(),
            })
            .collect();
        self.spool.append(records).await.map(spooled)
    }

    /// Takes back records whose frame was refused (the bus could not deliver it), so the log
    /// holds no message nobody received. A record the shipper took meanwhile is already out.
    /// Removed before they are settled (when `spooled` drops), so the shipper never sees them.
    pub async fn retract(&self, spooled: Spooled) {
        if let Err(e) = self.spool.remove(&spooled.seqs).await {
            tracing::error!(error = %format!("{e:#}"), records = spooled.seqs.len(), "cannot retract chat log records of a message that was not delivered");
        }
    }

    /// Ships spooled records until `stop`, which also cuts a round short: a record leaves the
    /// spool only once its destination accepted it, so one cut off is shipped again at the next
    /// start (at-least-once), and a destination that hangs cannot hold up shutdown.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut tick =
            tokio::time::interval(Duration::from_millis(self.config.flush_interval_ms.max(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut retry_at: HashMap<String, (Instant, Duration)> = HashMap::new();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.round(&mut retry_at) => {}
            }
        }
    }

    /// Ships what is due for every destination that is not waiting to be retried.
    async fn round(&self, retry_at: &mut HashMap<String, (Instant, Duration)>) {
        let destinations = match self.spool.destinations().await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "reading the chat logging spool failed");
                return;
            }
        };
        for logging_id in destinations {
            if retry_at
                .get(&logging_id)
                .is_some_and(|(at, _)| Instant::now() < *at)
            {
                continue;
            }
            match self.ship(&logging_id).await {
                Ok(()) => {
                    retry_at.remove(&logging_id);
                }
                Err(e) => {
                    let wait = retry_at
                        .get(&logging_id)
                        .map(|(_, wait)| (*wait * 2).min(MAX_BACKOFF))
                        .unwrap_or(Duration::from_secs(1));
                    tracing::warn!(
                        logging_configuration = %logging_id,
                        retry_in = ?wait,
                        error = %format!("{e:#}"),
                        "shipping chat log records failed; they stay spooled"
                    );
                    retry_at.insert(logging_id, (Instant::now() + wait, wait));
                }
            }
        }
    }

    /// Ships what is due for one logging configuration.
    async fn ship(&self, logging_id: &str) -> anyhow::Result<()> {
        let Some(config) = self
            .store
            .get_logging_configuration(Owner::Any, logging_id)
            .await?
        else {
            // Deleted: nowhere to ship to any more.
            let batch = self.spool.batch(logging_id, MAX_BATCH).await?;
            tracing::warn!(logging_configuration = %logging_id, records = batch.len(), "dropping chat log records of a deleted logging configuration");
            return self.spool.remove(&seqs(&batch)).await;
        };
        let destination = config.destination;
        let batch = self.spool.batch(logging_id, MAX_BATCH).await?;
        let Some(oldest) = batch.first() else {
            return Ok(());
        };
        // S3 objects gather records for a while (AWS: about 5 minutes); streams go at once.
        let window = sinks::batch_window_ms(&self.config, &destination);
        let age = self.clock.now_micros() / 1000 - oldest.timestamp_ms;
        if age < window && batch.len() < MAX_BATCH {
            return Ok(());
        }
        for (room_id, records) in by_room(&batch) {
            let delivered = self
                .sinks
                .for_destination(&destination)
                .ship(&destination, &config.account, &room_id, &records)
                .await?;
            self.spool.remove(&delivered).await?;
            let n = delivered.len() as u64;
            self.spool
                .stats
                .delivered
                .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            self.delivered.send_modify(|total| *total += n);
            if delivered.len() < records.len() {
                anyhow::bail!(
                    "{} of {} records were not accepted",
                    records.len() - delivered.len(),
                    records.len()
                );
            }
        }
        Ok(())
    }
}

/// Groups records by room, keeping their order (rooms in order of first appearance).
fn by_room(records: &[SpooledRecord]) -> Vec<(String, Vec<SpooledRecord>)> {
    let mut groups: Vec<(String, Vec<SpooledRecord>)> = Vec::new();
    for record in records {
        match groups.iter_mut().find(|(room, _)| *room == record.room_id) {
            Some((_, list)) => list.push(record.clone()),
            None => groups.push((record.room_id.clone(), vec![record.clone()])),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_wrap_the_frame_verbatim() {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_672_929_212_894_089_757).unwrap();
        let frame = r#"{"Type":"MESSAGE","Id":"WhO6MW6iRdS5","RequestId":"","Attributes":{},"Content":"bbiab!","SendTime":"2023-01-05T14:33:32.894089757Z","Sender":{"UserId":"u","Attributes":{}}}"#;
        let record = record_json(at, RecordType::Message, frame);
        assert_eq!(
            record,
            format!(
                r#"{{"event_timestamp":"2023-01-05T14:33:32.894Z","type":"MESSAGE","payload":{frame},"version":"1.0"}}"#
            )
        );
        let parsed: serde_json::Value = serde_json::from_str(&record).unwrap();
        assert_eq!(parsed["payload"]["Content"], "bbiab!");
    }
}
