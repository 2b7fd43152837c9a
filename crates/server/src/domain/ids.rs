//! Identifiers: 12 alphanumeric characters, as IVS Chat uses for rooms, logging
//! configurations, messages and events (`RoomID`, `MessageID`, `ID` in the model).

use rand::Rng;

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A fresh random 12-character id (62^12 ≈ 3·10^21 values, so collisions are not a concern).
pub fn new_id() -> String {
    let mut rng = rand::thread_rng();
    (0..12)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// True for a string shaped like an id this service issues.
pub fn is_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_twelve_alphanumerics_and_distinct() {
        let a = new_id();
        let b = new_id();
        assert!(is_id(&a) && is_id(&b));
        assert_ne!(a, b);
    }
}
