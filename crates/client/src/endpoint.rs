//! Which URL a client opens (`docs/protocol/messaging.md` §1.1), decided as the JS SDK decides
//! from its `regionOrUrl`: a `ws://` or `wss://` URL is used as given; anything else must be an
//! AWS region and becomes `wss://edge.ivschat.<region>.amazonaws.com`.

use crate::Error;

/// The chat URL for `region_or_url`.
///
/// ```
/// use ivschat_client::chat_url;
/// assert_eq!(chat_url("us-west-2").unwrap(), "wss://edge.ivschat.us-west-2.amazonaws.com");
/// assert_eq!(chat_url("ws://127.0.0.1:8080").unwrap(), "ws://127.0.0.1:8080");
/// assert!(chat_url("not a region").is_err());
/// ```
pub fn chat_url(region_or_url: &str) -> Result<String, Error> {
    let lower = region_or_url.to_ascii_lowercase();
    if lower.starts_with("ws://") || lower.starts_with("wss://") {
        return Ok(region_or_url.to_string());
    }
    let is_region = !region_or_url.is_empty()
        && region_or_url
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c));
    if !is_region {
        return Err(Error::InvalidEndpoint(format!(
            "{region_or_url:?} is neither a ws:// or wss:// URL nor an AWS region"
        )));
    }
    Ok(format!("wss://edge.ivschat.{region_or_url}.amazonaws.com"))
}
