//! A room's options beyond AWS's (issue 22), read from tags with the reserved prefix
//! `ivschat-server:` (README "Extensions (not AWS)"). Tags, because AWS accepts any key not
//! starting with `aws:`: the same CreateRoom and TagResource calls work unchanged against AWS,
//! where these tags are inert, and they need no new request shape.
//!
//! | key | value | default |
//! |---|---|---|
//! | `ivschat-server:history` | messages and events kept, 1..=1000 | off |
//! | `ivschat-server:history-max-age` | seconds, 1..=604800 | 86400 |
//! | `ivschat-server:replay` | `on` or `off`: new connections first get the history | off |
//! | `ivschat-server:presence-events` | `on` or `off`: join/leave custom EVENTs | off |
//!
//! [`RoomOptions::parse`] refuses a bad value of one of these keys (the API answers
//! ValidationException); every other tag is left alone. [`RoomOptions::of`] reads stored tags,
//! which were checked when they were written.

use std::time::Duration;

use ivschat_proto::control::StringMap;
use serde::{Deserialize, Serialize};

pub const PREFIX: &str = "ivschat-server:";
pub const HISTORY: &str = "ivschat-server:history";
pub const HISTORY_MAX_AGE: &str = "ivschat-server:history-max-age";
pub const REPLAY: &str = "ivschat-server:replay";
pub const PRESENCE_EVENTS: &str = "ivschat-server:presence-events";

pub const MAX_HISTORY: u32 = 1000;
pub const MAX_HISTORY_AGE_SECONDS: u32 = 604_800;
pub const DEFAULT_HISTORY_AGE_SECONDS: u32 = 86_400;

/// What a room keeps and announces beyond AWS's behaviour. The default is AWS's: nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomOptions {
    /// Messages and events kept (`None`: history off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<u32>,
    /// How long a kept frame stays, in seconds (applies only when `history` is on).
    #[serde(default = "default_age")]
    pub history_max_age: u32,
    /// New connections first receive the kept frames (needs `history`).
    #[serde(default)]
    pub replay: bool,
    /// Join and leave custom EVENTs (issue 22, presence).
    #[serde(default)]
    pub presence_events: bool,
}

fn default_age() -> u32 {
    DEFAULT_HISTORY_AGE_SECONDS
}

/// What a room's history keeps: at most `count` frames, none older than `max_age`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub count: usize,
    pub max_age: Duration,
}

impl Default for RoomOptions {
    fn default() -> RoomOptions {
        RoomOptions::default_off()
    }
}

/// A bad value for one of our keys: the tag key and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadOption {
    pub key: String,
    pub message: String,
}

impl RoomOptions {
    /// Reads and checks our keys in `tags`; any other key is ignored.
    pub fn parse(tags: &StringMap) -> Result<RoomOptions, BadOption> {
        let mut options = RoomOptions::default_off();
        for (key, value) in tags {
            // Tag keys are case-sensitive, like AWS's: only the exact keys are ours.
            if !key.starts_with(PREFIX) {
                continue;
            }
            match key.as_str() {
                HISTORY => options.history = Some(number(key, value, 1, MAX_HISTORY)?),
                HISTORY_MAX_AGE => {
                    options.history_max_age = number(key, value, 1, MAX_HISTORY_AGE_SECONDS)?
                }
                REPLAY => options.replay = switch(key, value)?,
                PRESENCE_EVENTS => options.presence_events = switch(key, value)?,
                // Any other tag is the user's own (the shared contract of issue 22).
                _ => {}
            }
        }
        Ok(options)
    }

    /// The options of stored tags (checked when written); a value that does not parse counts
    /// as absent.
    pub fn of(tags: &StringMap) -> RoomOptions {
        if !tags.keys().any(|key| key.starts_with(PREFIX)) {
            return RoomOptions::default_off();
        }
        RoomOptions::parse(tags).unwrap_or_else(|_| RoomOptions::default_off())
    }

    /// AWS's behaviour: no history, no replay, no presence events.
    pub fn default_off() -> RoomOptions {
        RoomOptions {
            history: None,
            history_max_age: DEFAULT_HISTORY_AGE_SECONDS,
            replay: false,
            presence_events: false,
        }
    }

    /// What the room's history keeps, if it keeps anything.
    pub fn retention(&self) -> Option<Retention> {
        self.history.map(|count| Retention {
            count: count as usize,
            max_age: Duration::from_secs(u64::from(self.history_max_age)),
        })
    }

    /// Whether a new connection first gets the kept frames (replay needs history).
    pub fn replays(&self) -> bool {
        self.replay && self.history.is_some()
    }
}

fn number(key: &str, value: &str, min: u32, max: u32) -> Result<u32, BadOption> {
    match value.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) && !value.starts_with('+') => Ok(n),
        _ => Err(BadOption {
            key: key.to_string(),
            message: format!("the value of {key} must be an integer from {min} to {max}"),
        }),
    }
}

fn switch(key: &str, value: &str) -> Result<bool, BadOption> {
    match value {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(BadOption {
            key: key.to_string(),
            message: format!("the value of {key} must be on or off"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> StringMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn no_tags_is_aws_behaviour() {
        let options = RoomOptions::parse(&tags(&[("team", "a")])).unwrap();
        assert_eq!(options, RoomOptions::default());
        // Other keys under our prefix are the user's, untouched.
        assert!(RoomOptions::parse(&tags(&[("ivschat-server:mine", "x")])).is_ok());
        assert_eq!(options.retention(), None);
        assert!(!options.replays());
    }

    #[test]
    fn our_keys_are_read() {
        let options = RoomOptions::parse(&tags(&[
            (HISTORY, "100"),
            (HISTORY_MAX_AGE, "60"),
            (REPLAY, "on"),
            (PRESENCE_EVENTS, "on"),
        ]))
        .unwrap();
        assert_eq!(
            options.retention(),
            Some(Retention {
                count: 100,
                max_age: Duration::from_secs(60)
            })
        );
        assert!(options.replays());
        assert!(options.presence_events);
        let defaults = RoomOptions::parse(&tags(&[(HISTORY, "1000")])).unwrap();
        assert_eq!(
            defaults.retention().unwrap().max_age,
            Duration::from_secs(86_400)
        );
        // Replay without history replays nothing.
        assert!(!RoomOptions::parse(&tags(&[(REPLAY, "on")]))
            .unwrap()
            .replays());
    }

    #[test]
    fn bad_values_of_our_keys_are_refused_with_the_key() {
        for (key, value) in [
            (HISTORY, "0"),
            (HISTORY, "1001"),
            (HISTORY, "ten"),
            (HISTORY, "+5"),
            (HISTORY, ""),
            (HISTORY_MAX_AGE, "604801"),
            (HISTORY_MAX_AGE, "-1"),
            (REPLAY, "yes"),
            (PRESENCE_EVENTS, "ON"),
        ] {
            let e = RoomOptions::parse(&tags(&[(key, value)])).unwrap_err();
            assert_eq!(e.key, key);
            assert!(e.message.contains(key), "{e:?}");
        }
        // Stored tags are read leniently.
        assert_eq!(
            RoomOptions::of(&tags(&[(HISTORY, "0")])),
            RoomOptions::default_off()
        );
    }
}
