//! What handlers return, and how errors from the store become wire errors.

use ivschat_proto::errors::{ErrorKind, ServiceError};
use serde::Serialize;

use crate::store::StoreError;

/// A successful answer: 200 with a JSON body, or 204 with none (the two deletes).
#[derive(Debug)]
pub enum Reply {
    Json(Vec<u8>),
    NoContent,
}

impl Reply {
    pub fn json<T: Serialize>(value: &T) -> Reply {
        // Output types hold only strings, integers, lists and maps: serialising cannot fail.
        Reply::Json(serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec()))
    }
}

pub type OpResult = Result<Reply, ServiceError>;

/// Maps a store failure to the error the client sees. `subject_id` names the resource the
/// request was about, for errors (quotas) that have no other id to report.
pub fn from_store(e: StoreError, subject_id: &str) -> ServiceError {
    match e {
        StoreError::NotFound { kind, id } => ServiceError::not_found(&id, kind.display_name()),
        StoreError::QuotaExceeded { what, limit } => ServiceError::over_limit(
            ErrorKind::ServiceQuotaExceeded,
            subject_id,
            limit as i64,
            format!("the quota of {limit} {what} is reached"),
        ),
        StoreError::InUse {
            logging_id,
            room_id,
        } => ServiceError::about_resource(
            ErrorKind::Conflict,
            &logging_id,
            format!(
                "logging configuration {logging_id} is still used by room {room_id}; \
                 detach it from every room (UpdateRoom) before deleting it"
            ),
        ),
        StoreError::Rejected(e) => e,
        StoreError::Backend(e) => {
            tracing::error!(error = %format!("{e:#}"), "store operation failed");
            ServiceError::internal()
        }
    }
}
