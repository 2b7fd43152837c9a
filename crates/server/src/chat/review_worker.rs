//! A connection's review worker (`docs/protocol/messaging.md` §7): the task that sends its messages
//! to the room's review handler one at a time, so they are delivered in the order they were
//! sent, broadcasts what the handler allows, and hands ERROR 406 for what it denies back to the
//! session. Started on a connection's first message in a room with a review handler (most
//! connections never send, and two channels cost more than a kilobyte per connection); it ends
//! once its session has ended and the messages already queued are reviewed.

use std::sync::Arc;

use ivschat_proto::control::FallbackResult;
use ivschat_proto::messaging::{to_json, ChatErrorCode, ErrorFrame, MessageFrame, Sender};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tungstenite::Utf8Bytes;

use super::review::{Outcome, ReviewRequest, Verdict};
use super::rooms::LiveRoom;
use super::session::{unavailable, Sessions};
use super::{FrameIds, RoomRef};
use crate::chat_log::RecordType;
use crate::domain::clock::format_time_nanos;
use crate::domain::ids::new_id;

/// Messages waiting for review, and answers waiting to be written; a connection has at most a
/// few reviews in flight (10 requests per second, 200 ms each), so these never fill in practice.
const REPLY_QUEUE: usize = 32;

/// A SEND_MESSAGE waiting for the room's review handler.
pub struct PendingReview {
    pub function_arn: String,
    /// The room's account key (the token's), for the chat log's `RoomRef`.
    pub account: String,
    pub request: ReviewRequest,
    pub request_id: Option<String>,
    pub fallback: FallbackResult,
    pub max_length: usize,
    pub at: OffsetDateTime,
    pub sender: Sender,
}

/// The session's side of its review worker.
pub struct ReviewLink {
    /// Messages to review, in the order they were sent.
    queue: mpsc::Sender<PendingReview>,
    /// Answers produced by the worker (ERROR 406 on DENY), written by the session loop.
    replies: mpsc::Receiver<Utf8Bytes>,
}

impl ReviewLink {
    /// Starts a worker for a connection in `room`, on the sessions' tracker.
    pub fn start(shared: &Arc<Sessions>, room: Arc<LiveRoom>) -> ReviewLink {
        let (queue, queued) = mpsc::channel(REPLY_QUEUE);
        let (replies_tx, replies) = mpsc::channel(REPLY_QUEUE);
        shared
            .tasks
            .spawn(run(shared.clone(), room, queued, replies_tx));
        ReviewLink { queue, replies }
    }

    /// Hands a message to the worker. The queue cannot fill within the per-connection rate
    /// limit; if it does, the sender is answered rather than the message dropped.
    pub fn queue(&self, pending: PendingReview) -> Result<(), (ChatErrorCode, String)> {
        self.queue.try_send(pending).map_err(|_| {
            (
                ChatErrorCode::TooManyRequests,
                "too many messages waiting for review".to_string(),
            )
        })
    }
}

/// The next answer from the review worker; never resolves while there is no worker.
pub async fn next_reply(reviews: &mut Option<ReviewLink>) -> Option<Utf8Bytes> {
    match reviews {
        Some(link) => link.replies.recv().await,
        None => std::future::pending().await,
    }
}

/// Reviews a connection's messages in order: delivers what the handler allows, and answers
/// ERROR 406 to the sender for what it denies.
async fn run(
    shared: Arc<Sessions>,
    room: Arc<LiveRoom>,
    mut queue: mpsc::Receiver<PendingReview>,
    replies: mpsc::Sender<Utf8Bytes>,
) {
    while let Some(pending) = queue.recv().await {
        let (verdict, outcome) = shared
            .reviewer
            .review(
                &pending.function_arn,
                &pending.request,
                pending.fallback,
                pending.max_length,
            )
            .await;
        let label = match outcome {
            Outcome::Allowed => "allowed",
            Outcome::Denied => "denied",
            Outcome::Fallback(why) => {
                tracing::debug!(room = %room.id, why, "review handler fallback applied");
                "fallback"
            }
        };
        shared.metrics.review_outcome(label);
        match verdict {
            Verdict::Allow {
                content,
                attributes,
            } => {
                // The id sent for review is the id the message is delivered with.
                let frame = MessageFrame::new(
                    pending.request.message_id,
                    pending.request_id.clone(),
                    content,
                    attributes,
                    format_time_nanos(pending.at),
                    pending.sender,
                );
                // Logging configurations as they are now, at delivery.
                let settings = room.settings();
                let target = RoomRef {
                    id: &room.id,
                    account: &pending.account,
                    logging_ids: &settings.logging_configuration_ids,
                    history: settings.options.retention(),
                };
                if shared
                    .hub
                    .broadcast(
                        target,
                        RecordType::Message,
                        &frame,
                        FrameIds::of(&frame.id),
                        pending.at,
                    )
                    .await
                    .is_err()
                {
                    let (code, message) = unavailable();
                    let frame = ErrorFrame::new(new_id(), pending.request_id, code, message);
                    if replies
                        .send(Utf8Bytes::from(to_json(&frame)))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
            Verdict::Deny { reason } => {
                let message = match reason {
                    Some(reason) => format!("Message rejected by review handler: {reason}"),
                    None => "Message rejected by review handler".to_string(),
                };
                let frame = ErrorFrame::new(
                    new_id(),
                    pending.request_id,
                    ChatErrorCode::NotAcceptable,
                    message,
                );
                if replies
                    .send(Utf8Bytes::from(to_json(&frame)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}
