//! `--room-tag KEY=VALUE`: the tags `ivschat-bench` puts on the rooms it creates (IVS only),
//! so a run can measure a room with our extensions on (e.g. `ivschat-server:history=100`,
//! README "Extensions (not AWS)") against the same run on an untagged room.

/// One `KEY=VALUE` tag. The key is everything before the first `=`, so a value may itself
/// contain `=`; an empty key, a missing `=` or a key or value beyond CreateRoom's limits
/// (AWS tags: keys 1..128 characters, values up to 256) is refused here rather than by
/// the server after the run has started.
pub fn parse_room_tag(s: &str) -> Result<(String, String), String> {
    let (key, value) = s
        .split_once('=')
        .ok_or_else(|| format!("room tag {s:?} is not KEY=VALUE"))?;
    if key.is_empty() {
        return Err(format!("room tag {s:?} has an empty key"));
    }
    if key.chars().count() > 128 {
        return Err(format!(
            "room tag key {key:?} is longer than 128 characters"
        ));
    }
    if value.chars().count() > 256 {
        return Err(format!(
            "room tag {key:?}'s value is longer than 256 characters"
        ));
    }
    Ok((key.to_owned(), value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::parse_room_tag;

    #[test]
    fn key_and_value() {
        assert_eq!(
            parse_room_tag("ivschat-server:history=100"),
            Ok(("ivschat-server:history".into(), "100".into()))
        );
        // Only the first `=` splits; an empty value is a value.
        assert_eq!(parse_room_tag("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(parse_room_tag("k="), Ok(("k".into(), String::new())));
    }

    #[test]
    fn refused() {
        for bad in ["", "novalue", "=v"] {
            assert!(parse_room_tag(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse_room_tag(&format!("{}=v", "k".repeat(129))).is_err());
        assert!(parse_room_tag(&format!("k={}", "v".repeat(257))).is_err());
        assert!(parse_room_tag(&format!("{}={}", "k".repeat(128), "v".repeat(256))).is_ok());
    }
}
