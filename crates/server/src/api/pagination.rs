//! Opaque pagination tokens for ListRooms and ListLoggingConfigurations
//! (`docs/protocol/control-plane.md` §7).
//!
//! A token is the keyset cursor `(update_time, id)` of the last item returned, so pages stay
//! consistent while other requests write, and a token can never repeat (smithy-rs paginators
//! stop when they see the same token twice). It is base64url JSON with a version tag; anything
//! that does not decode to that is a ValidationException.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ivschat_proto::errors::ServiceError;
use serde::{Deserialize, Serialize};

use crate::domain::ids::is_id;
use crate::store::PageCursor;

#[derive(Serialize, Deserialize)]
struct TokenBody {
    v: u8,
    /// Which listing this token belongs to, so a ListRooms token is refused by
    /// ListLoggingConfigurations.
    k: String,
    u: i64,
    i: String,
}

pub fn encode(listing: &str, cursor: &PageCursor) -> String {
    let body = TokenBody {
        v: 1,
        k: listing.to_string(),
        u: cursor.update_time,
        i: cursor.id.clone(),
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&body).unwrap_or_default())
}

/// `None` and `""` both mean "first page".
pub fn decode(listing: &str, token: Option<&str>) -> Result<Option<PageCursor>, ServiceError> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<TokenBody>(&bytes).ok())
        .filter(|body| body.v == 1 && body.k == listing && is_id(&body.i))
        .map(|body| {
            Some(PageCursor {
                update_time: body.u,
                id: body.i,
            })
        })
        .ok_or_else(|| {
            ServiceError::invalid_field(
                "/nextToken",
                "Value at '/nextToken' failed to satisfy constraint: Member must be a nextToken \
                 returned by a previous call of this operation",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects_foreign_tokens() {
        let c = PageCursor {
            update_time: 123,
            id: "abcdefghijkl".into(),
        };
        let t = encode("rooms", &c);
        assert_eq!(decode("rooms", Some(&t)).unwrap(), Some(c));
        assert!(decode("logging", Some(&t)).is_err());
        assert!(decode("rooms", Some("garbage")).is_err());
        assert_eq!(decode("rooms", Some("")).unwrap(), None);
        assert_eq!(decode("rooms", None).unwrap(), None);
    }
}
