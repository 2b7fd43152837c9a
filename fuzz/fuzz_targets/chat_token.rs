//! Chat-token decoding (`TokenKey::open`), what the WebSocket handshake does with the
//! `Sec-WebSocket-Protocol` it is offered.
//!
//! Input: a mode byte, then either
//! * (even) a token string as a client could offer it: `open` must refuse it (it is not sealed
//!   under the key, except with probability 2^-128) without panicking, or
//! * (odd) arbitrary claims, a byte position and a replacement character: the sealed token
//!   opens to the same claims, a token sealed for another account is refused, and changing one
//!   character of the token makes it invalid.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use ivschat_proto::control::ChatTokenCapability;
use ivschat_server::domain::token::{TokenClaims, TokenKey, MAX_TOKEN_LEN};
use libfuzzer_sys::fuzz_target;

const BASE64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn key() -> TokenKey {
    TokenKey::new([7u8; 32], "us-east-1", "000000000000")
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let token = String::from_utf8_lossy(rest);
        assert!(
            key().open(&token).is_err(),
            "forged token accepted: {token:?}"
        );
        return;
    }
    let mut u = Unstructured::new(rest);
    let Ok(claims) = claims(&mut u) else { return };
    let token = key().seal(&claims);
    assert!(
        token.bytes().all(|b| BASE64URL.contains(&b)),
        "not a subprotocol token: {token}"
    );
    if token.len() <= MAX_TOKEN_LEN {
        assert_eq!(key().open(&token).as_ref(), Ok(&claims));
    } else {
        assert!(key().open(&token).is_err());
    }
    let other_account = TokenKey::new([7u8; 32], "us-east-1", "111111111111");
    assert!(other_account.open(&token).is_err());

    // One character changed (to another base64url character): refused.
    let (Ok(pos), Ok(c)) = (u.arbitrary::<usize>(), u.arbitrary::<u8>()) else {
        return;
    };
    let pos = pos % token.len();
    let mut bytes = token.into_bytes();
    let replacement = BASE64URL[usize::from(c) % BASE64URL.len()];
    if bytes[pos] == replacement {
        return;
    }
    bytes[pos] = replacement;
    let tampered = String::from_utf8(bytes).expect("ASCII");
    assert!(key().open(&tampered).is_err(), "tampered token accepted");
});

fn claims(u: &mut Unstructured<'_>) -> arbitrary::Result<TokenClaims> {
    let capabilities = Vec::<u8>::arbitrary(u)?
        .into_iter()
        .map(|b| match b % 3 {
            0 => ChatTokenCapability::SendMessage,
            1 => ChatTokenCapability::DeleteMessage,
            _ => ChatTokenCapability::DisconnectUser,
        })
        .collect();
    Ok(TokenClaims {
        room: u.arbitrary()?,
        account: u.arbitrary()?,
        user_id: u.arbitrary()?,
        capabilities,
        attributes: u.arbitrary()?,
        token_expires: u.arbitrary()?,
        session_expires: u.arbitrary()?,
        token_id: u.arbitrary()?,
    })
}
