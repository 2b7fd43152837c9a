//! Where chat log records go (`docs/protocol/messaging.md` §8): S3, CloudWatch Logs and Firehose,
//! in the layout the real service uses, either through the AWS SDK (real AWS, MinIO, LocalStack,
//! moto) or, in the embedded default, as files under `<data-dir>/logs/` laid out the same way:
//!
//! * `logs/s3/<bucket>/AWSLogs/<account>/IVSChatLogs/1.0/<region>/room_<id>/YYYY/MM/DD/HH/<account>_IVSChatLogs_1.0_<region>_room_<id>_<YYYYMMDDTHHMMZ>_<hash>.log.gz`
//! * `logs/cloudwatch/<log group>/aws/IVSChatLogs/1.0/room_<id>` (one JSON record per line)
//! * `logs/firehose/<delivery stream>` (one JSON record per line)

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;
use ivschat_proto::control::DestinationConfiguration;
use rand::RngCore;

use super::spool::{seqs, SpooledRecord};
use crate::aws_clients::{sdk_config, Endpoint};
use crate::config::{Config, LoggingConfig};
use crate::domain::clock::from_micros;

/// Ships one room's records to one destination. Returns the sequence numbers the destination
/// accepted (all of them, or fewer when it accepts part of a batch); an error ships none.
/// `account` is the logging configuration's account key (`domain::account`), which S3 object
/// keys name.
#[async_trait]
pub trait Sink: Send + Sync {
    async fn ship(
        &self,
        destination: &DestinationConfiguration,
        account: &str,
        room_id: &str,
        records: &[SpooledRecord],
    ) -> anyhow::Result<Vec<i64>>;
}

/// One sink per destination kind.
pub struct Sinks {
    pub s3: Box<dyn Sink>,
    pub cloudwatch: Box<dyn Sink>,
    pub firehose: Box<dyn Sink>,
}

impl Sinks {
    pub fn for_destination(&self, destination: &DestinationConfiguration) -> &dyn Sink {
        match destination {
            DestinationConfiguration::S3(_) => self.s3.as_ref(),
            DestinationConfiguration::CloudWatchLogs(_) => self.cloudwatch.as_ref(),
            DestinationConfiguration::Firehose(_) => self.firehose.as_ref(),
        }
    }

    /// AWS clients for the destinations that have an endpoint configured; local files for the rest.
    pub async fn from_config(config: &Config) -> Sinks {
        let files = || -> Box<dyn Sink> {
            Box::new(FileSink {
                root: config.data_dir.join("logs"),
                layout: Layout::of(config),
            })
        };
        let logging = &config.logging;
        let endpoint = |specific: &Option<String>| {
            specific
                .as_ref()
                .or(logging.aws_endpoint.as_ref())
                .map(|s| Endpoint::parse(s))
        };
        let s3: Box<dyn Sink> = match endpoint(&logging.s3_endpoint) {
            Some(e) => {
                let shared = sdk_config(&config.region, &e).await;
                let s3_config = aws_sdk_s3::config::Builder::from(&shared)
                    // Emulators serve buckets by path, not by virtual host.
                    .force_path_style(matches!(e, Endpoint::Url(_)))
                    .build();
                Box::new(S3Sink {
                    client: aws_sdk_s3::Client::from_conf(s3_config),
                    layout: Layout::of(config),
                })
            }
            None => files(),
        };
        let cloudwatch: Box<dyn Sink> = match endpoint(&logging.cloudwatch_logs_endpoint) {
            Some(e) => Box::new(CloudWatchSink {
                client: aws_sdk_cloudwatchlogs::Client::new(&sdk_config(&config.region, &e).await),
            }),
            None => files(),
        };
        let firehose: Box<dyn Sink> = match endpoint(&logging.firehose_endpoint) {
            Some(e) => Box::new(FirehoseSink {
                client: aws_sdk_firehose::Client::new(&sdk_config(&config.region, &e).await),
            }),
            None => files(),
        };
        Sinks {
            s3,
            cloudwatch,
            firehose,
        }
    }
}

/// What the key and stream names are made of.
#[derive(Debug, Clone)]
pub struct Layout {
    pub account_id: String,
    pub region: String,
}

impl Layout {
    fn of(config: &Config) -> Layout {
        Layout {
            account_id: config.account_id.clone(),
            region: config.region.clone(),
        }
    }

    /// The S3 object key for a batch of `room_id` records starting at `first_ms`, in the
    /// account stored under `account_key` (`''`: the server's own).
    pub fn s3_key(&self, account_key: &str, room_id: &str, first_ms: i64) -> String {
        let t = from_micros(first_ms * 1000);
        let mut hash = [0u8; 4];
        rand::thread_rng().fill_bytes(&mut hash);
        let account = match account_key {
            "" => self.account_id.as_str(),
            other => other,
        };
        let region = &self.region;
        format!(
            "AWSLogs/{account}/IVSChatLogs/1.0/{region}/room_{room_id}/{:04}/{:02}/{:02}/{:02}/\
             {account}_IVSChatLogs_1.0_{region}_room_{room_id}_{:04}{:02}{:02}T{:02}{:02}Z_{}.log.gz",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            hex::encode(hash),
        )
    }
}

/// The CloudWatch Logs stream of a room.
pub fn log_stream_name(room_id: &str) -> String {
    format!("aws/IVSChatLogs/1.0/room_{room_id}")
}

/// JSON lines, one record per line, each ending in `\n`.
fn json_lines(records: &[SpooledRecord]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.iter().map(|r| r.body.len() + 1).sum());
    for record in records {
        out.extend_from_slice(record.body.as_bytes());
        out.push(b'\n');
    }
    out
}

fn gzip(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?)
}

// ---------------------------------------------------------------- local files

/// The embedded default: the destinations' layout as files under `<data-dir>/logs`.
pub struct FileSink {
    pub root: PathBuf,
    pub layout: Layout,
}

/// Joins `name`'s `/`-separated parts under `base`, refusing anything that could leave it
/// (`..`, `.`, empty parts). Log group names may contain `/` and `.`.
fn safe_join(base: &Path, name: &str) -> PathBuf {
    let mut path = base.to_path_buf();
    for part in name.split('/').filter(|p| !p.is_empty()) {
        match part {
            "." => path.push("%2E"),
            ".." => path.push("%2E%2E"),
            _ => path.push(part),
        }
    }
    path
}

fn append_to(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        crate::private_files::create_dir_all(dir)?;
    }
    let mut file = crate::private_files::open_options()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_data()?;
    Ok(())
}

#[async_trait]
impl Sink for FileSink {
    async fn ship(
        &self,
        destination: &DestinationConfiguration,
        account: &str,
        room_id: &str,
        records: &[SpooledRecord],
    ) -> anyhow::Result<Vec<i64>> {
        let lines = json_lines(records);
        match destination {
            DestinationConfiguration::S3(s3) => {
                let first = records.first().map(|r| r.timestamp_ms).unwrap_or_default();
                let key = self.layout.s3_key(account, room_id, first);
                let path = safe_join(
                    &safe_join(&self.root, "s3"),
                    &format!("{}/{key}", s3.bucket_name),
                );
                let body = gzip(&lines)?;
                let tmp = path.with_extension("tmp");
                if let Some(dir) = path.parent() {
                    crate::private_files::create_dir_all(dir)?;
                }
                crate::private_files::write(&tmp, &body)?;
                std::fs::rename(&tmp, &path)?;
            }
            DestinationConfiguration::CloudWatchLogs(cw) => {
                let group = safe_join(&self.root.join("cloudwatch"), &cw.log_group_name);
                append_to(&safe_join(&group, &log_stream_name(room_id)), &lines)?;
            }
            DestinationConfiguration::Firehose(firehose) => {
                let path = safe_join(&self.root.join("firehose"), &firehose.delivery_stream_name);
                append_to(&path, &lines)?;
            }
        }
        Ok(seqs(records))
    }
}

// ---------------------------------------------------------------- AWS

pub struct S3Sink {
    client: aws_sdk_s3::Client,
    layout: Layout,
}

#[async_trait]
impl Sink for S3Sink {
    async fn ship(
        &self,
        destination: &DestinationConfiguration,
        account: &str,
        room_id: &str,
        records: &[SpooledRecord],
    ) -> anyhow::Result<Vec<i64>> {
        let DestinationConfiguration::S3(s3) = destination else {
            bail!("not an S3 destination");
        };
        let first = records.first().map(|r| r.timestamp_ms).unwrap_or_default();
        let body = gzip(&json_lines(records))?;
        self.client
            .put_object()
            .bucket(&s3.bucket_name)
            .key(self.layout.s3_key(account, room_id, first))
            .content_type("application/x-gzip")
            .body(body.into())
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", aws_sdk_s3::error::DisplayErrorContext(e)))?;
        Ok(seqs(records))
    }
}

pub struct CloudWatchSink {
    client: aws_sdk_cloudwatchlogs::Client,
}

/// PutLogEvents limits: 10,000 events and 1,048,576 bytes (message bytes + 26 per event).
const CLOUDWATCH_MAX_EVENTS: usize = 10_000;
const CLOUDWATCH_MAX_BYTES: usize = 1_048_576;

#[async_trait]
impl Sink for CloudWatchSink {
    async fn ship(
        &self,
        destination: &DestinationConfiguration,
        _account: &str,
        room_id: &str,
        records: &[SpooledRecord],
    ) -> anyhow::Result<Vec<i64>> {
        let DestinationConfiguration::CloudWatchLogs(cw) = destination else {
            bail!("not a CloudWatch Logs destination");
        };
        let stream = log_stream_name(room_id);
        let mut delivered = Vec::new();
        for chunk in chunks(records, CLOUDWATCH_MAX_EVENTS, CLOUDWATCH_MAX_BYTES, 26) {
            if let Err(e) = self.put(&cw.log_group_name, &stream, chunk).await {
                if delivered.is_empty() {
                    return Err(e);
                }
                break;
            }
            delivered.extend(seqs(chunk));
        }
        Ok(delivered)
    }
}

impl CloudWatchSink {
    async fn put(
        &self,
        group: &str,
        stream: &str,
        records: &[SpooledRecord],
    ) -> anyhow::Result<()> {
        let mut events: Vec<InputLogEvent> = records
            .iter()
            .map(|r| {
                InputLogEvent::builder()
                    .timestamp(r.timestamp_ms)
                    .message(&r.body)
                    .build()
            })
            .collect::<Result<_, _>>()?;
        // PutLogEvents wants chronological order.
        events.sort_by_key(|e| e.timestamp);
        for attempt in 0..2 {
            let result = self
                .client
                .put_log_events()
                .log_group_name(group)
                .log_stream_name(stream)
                .set_log_events(Some(events.clone()))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(()),
                Err(e) => {
                    let missing_stream = e
                        .as_service_error()
                        .is_some_and(|s| s.is_resource_not_found_exception());
                    if attempt == 0 && missing_stream {
                        // The stream is created on first use; a missing group stays an error.
                        let created = self
                            .client
                            .create_log_stream()
                            .log_group_name(group)
                            .log_stream_name(stream)
                            .send()
                            .await;
                        if let Err(e) = created {
                            let exists = e
                                .as_service_error()
                                .is_some_and(|s| s.is_resource_already_exists_exception());
                            if !exists {
                                bail!(
                                    "creating log stream {stream} in {group}: {}",
                                    aws_sdk_cloudwatchlogs::error::DisplayErrorContext(e)
                                );
                            }
                        }
                        continue;
                    }
                    bail!(
                        "PutLogEvents to {group}: {}",
                        aws_sdk_cloudwatchlogs::error::DisplayErrorContext(e)
                    );
                }
            }
        }
        bail!("PutLogEvents to {group} failed after creating the stream")
    }
}

pub struct FirehoseSink {
    client: aws_sdk_firehose::Client,
}

/// PutRecordBatch limits: 500 records and 4 MiB.
const FIREHOSE_MAX_RECORDS: usize = 500;
const FIREHOSE_MAX_BYTES: usize = 4 * 1024 * 1024;

#[async_trait]
impl Sink for FirehoseSink {
    async fn ship(
        &self,
        destination: &DestinationConfiguration,
        _account: &str,
        _room_id: &str,
        records: &[SpooledRecord],
    ) -> anyhow::Result<Vec<i64>> {
        let DestinationConfiguration::Firehose(firehose) = destination else {
            bail!("not a Firehose destination");
        };
        let mut delivered = Vec::new();
        for chunk in chunks(records, FIREHOSE_MAX_RECORDS, FIREHOSE_MAX_BYTES, 1) {
            let batch: Vec<Record> = chunk
                .iter()
                .map(|r| {
                    let mut data = r.body.clone().into_bytes();
                    data.push(b'\n');
                    Record::builder().data(Blob::new(data)).build()
                })
                .collect::<Result<_, _>>()?;
            let output = match self
                .client
                .put_record_batch()
                .delivery_stream_name(&firehose.delivery_stream_name)
                .set_records(Some(batch))
                .send()
                .await
            {
                Ok(output) => output,
                Err(e) if delivered.is_empty() => bail!(
                    "PutRecordBatch to {}: {}",
                    firehose.delivery_stream_name,
                    aws_sdk_firehose::error::DisplayErrorContext(e)
                ),
                Err(_) => break,
            };
            // Partial failure: keep the failed records for the next attempt.
            for (record, response) in chunk.iter().zip(output.request_responses()) {
                if response.error_code().is_none() {
                    delivered.push(record.seq);
                }
            }
            if output.request_responses().is_empty() {
                delivered.extend(seqs(chunk));
            }
        }
        Ok(delivered)
    }
}

/// Splits records into runs that respect a count and a byte limit (`overhead` bytes per item).
fn chunks(
    records: &[SpooledRecord],
    max_items: usize,
    max_bytes: usize,
    overhead: usize,
) -> Vec<&[SpooledRecord]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, record) in records.iter().enumerate() {
        let size = record.body.len() + overhead;
        if i > start && (i - start >= max_items || bytes + size > max_bytes) {
            out.push(&records[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < records.len() {
        out.push(&records[start..]);
    }
    out
}

/// How long a destination's records gather before they are shipped: S3 objects collect them
/// for `logging.s3_batch_seconds` (AWS: about 5 minutes); streams take them at once.
pub fn batch_window_ms(config: &LoggingConfig, destination: &DestinationConfiguration) -> i64 {
    match destination {
        DestinationConfiguration::S3(_) => config.s3_batch_seconds as i64 * 1000,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: i64, body: &str) -> SpooledRecord {
        SpooledRecord {
            seq,
            logging_id: "L".into(),
            room_id: "R".into(),
            timestamp_ms: 0,
            body: body.into(),
        }
    }

    #[test]
    fn s3_keys_follow_the_documented_layout() {
        let layout = Layout {
            account_id: "123456789012".into(),
            region: "us-west-2".into(),
        };
        let key = layout.s3_key("", "g1H2I3j4k5L6", 1_672_929_212_894);
        let prefix =
            "AWSLogs/123456789012/IVSChatLogs/1.0/us-west-2/room_g1H2I3j4k5L6/2023/01/05/14/\
                      123456789012_IVSChatLogs_1.0_us-west-2_room_g1H2I3j4k5L6_20230105T1433Z_";
        assert!(key.starts_with(prefix), "{key}");
        assert!(key.ends_with(".log.gz"));
        // Another account's logging configuration writes under its own account.
        let key = layout.s3_key("111111111111", "g1H2I3j4k5L6", 1_672_929_212_894);
        let prefix =
            "AWSLogs/111111111111/IVSChatLogs/1.0/us-west-2/room_g1H2I3j4k5L6/2023/01/05/14/\
                      111111111111_IVSChatLogs_1.0_us-west-2_room_g1H2I3j4k5L6_20230105T1433Z_";
        assert!(key.starts_with(prefix), "{key}");
    }

    #[test]
    fn paths_never_leave_the_root() {
        let base = Path::new("/data/logs");
        assert_eq!(
            safe_join(base, "/ivs/../chat/./x"),
            PathBuf::from("/data/logs/ivs/%2E%2E/chat/%2E/x")
        );
    }

    #[test]
    fn chunks_respect_both_limits() {
        let records: Vec<_> = (0..10).map(|i| record(i, "12345")).collect();
        let by_count = chunks(&records, 3, 1000, 0);
        assert_eq!(
            by_count.iter().map(|c| c.len()).collect::<Vec<_>>(),
            [3, 3, 3, 1]
        );
        let by_bytes = chunks(&records, 100, 12, 1);
        assert_eq!(
            by_bytes.iter().map(|c| c.len()).collect::<Vec<_>>(),
            [2, 2, 2, 2, 2]
        );
    }
}
