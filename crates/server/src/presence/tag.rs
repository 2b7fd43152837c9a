//! The `ivschat-server:presence-events` room tag (issue 22; `docs/protocol/messaging.md`
//! §13): whether a room's members receive our join/leave EVENTs. A tag, so the same
//! CreateRoom/TagResource calls work unchanged against AWS, where the tag is inert.

use ivschat_proto::control::StringMap;

/// The tag key. Values: `on` | `off`; absent means off.
pub const PRESENCE_EVENTS: &str = "ivschat-server:presence-events";

/// Whether the tags turn presence events on. A stored value other than `on` (none can be
/// stored: [`check`] refuses them) counts as off.
pub fn presence_events(tags: &StringMap) -> bool {
    tags.get(PRESENCE_EVENTS).is_some_and(|v| v == "on")
}

/// Refuses a value of our key other than `on` or `off`, with the message the
/// ValidationException carries; other tags are not looked at.
pub fn check(tags: &StringMap) -> Result<(), String> {
    match tags.get(PRESENCE_EVENTS).map(String::as_str) {
        None | Some("on") | Some("off") => Ok(()),
        Some(other) => Err(format!(
            "Value {other:?} at '/tags/{PRESENCE_EVENTS}' failed to satisfy constraint: \
             {PRESENCE_EVENTS} must be \"on\" or \"off\""
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(value: &str) -> StringMap {
        StringMap::from([(PRESENCE_EVENTS.to_string(), value.to_string())])
    }

    #[test]
    fn on_and_off_and_nothing_else() {
        assert!(presence_events(&tags("on")));
        assert!(!presence_events(&tags("off")));
        assert!(!presence_events(&StringMap::new()));
        assert!(check(&tags("on")).is_ok());
        assert!(check(&tags("off")).is_ok());
        assert!(check(&StringMap::new()).is_ok());
        for bad in ["ON", "true", "1", ""] {
            let e = check(&tags(bad)).unwrap_err();
            assert!(e.contains("must be \"on\" or \"off\""), "{e}");
        }
        // Other tags, ours or not, are not this function's business.
        let other = StringMap::from([("ivschat-server:other".to_string(), "x".to_string())]);
        assert!(check(&other).is_ok());
    }
}
