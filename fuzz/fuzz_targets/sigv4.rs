//! SigV4 verification (`ivschat_sigv4::verify`) with arbitrary methods, paths, queries and
//! headers, in both the `Authorization` header form and the presigned query form.
//!
//! Input: one control byte, two bytes of clock offset, then a request as text (see
//! `fuzz/corpus/sigv4/`):
//!
//! ```text
//! POST /tags/arn%3Aaws%3Aivschat%3Aus-east-1%3A000000000000%3Aroom%2Fabc?x=1
//! host: 127.0.0.1:8080
//! x-amz-date: 20150830T123600Z
//! authorization: AWS4-HMAC-SHA256 Credential=test/20150830/us-east-1/ivschat/aws4_request, SignedHeaders=host;x-amz-date, Signature=00
//!
//! {}
//! ```
//!
//! Properties checked besides "never panics":
//! * every refusal is a 403 with one of the four AWS error types, and never echoes the secret
//!   or the session token;
//! * **re-signing**: when the only problem is the signature, putting the signature computed
//!   from the verifier's own string to sign in its place makes the request verify (or fail only
//!   the `X-Amz-Content-Sha256` body check). So the canonical request never depends on the
//!   signature's own value and verification is deterministic.
#![no_main]

use hmac::{Hmac, Mac};
use ivschat_sigv4::{verify, AuthError, Credential, RequestParts, VerifierConfig};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;

const AKID: &str = "test";
const SECRET: &str = "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY";
const SESSION_TOKEN: &str = "FwoGZXIvYXdzEXAMPLEsessiontoken";

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let control = data[0];
    let offset = i16::from_le_bytes([data[1], data[2]]);
    let Some(req) = ivschat_fuzz::parse_http_text(&data[3..]) else {
        return;
    };
    // The server passes the raw path and query of the request line, as hyper parsed them.
    let Ok(uri) = http::Uri::try_from(req.target.as_str()) else {
        return;
    };
    let mut credential = Credential::new(AKID, SECRET);
    if control & 1 == 1 {
        credential = credential.with_session_token(SESSION_TOKEN);
    }
    let creds = vec![credential];
    let cfg = VerifierConfig::ivschat("us-east-1");
    // 2015-08-30T12:36:00Z, the AWS test suite's date, ± about 9 hours in 1-second steps.
    let now = time::OffsetDateTime::from_unix_timestamp(1_440_938_160 + i64::from(offset))
        .expect("valid time");

    let parts = RequestParts {
        method: &req.method,
        raw_path: uri.path(),
        raw_query: uri.query(),
        headers: &req.headers,
        body: &req.body,
    };
    let err = match verify(&parts, &creds, &cfg, now) {
        Ok(verified) => {
            assert_eq!(verified.access_key_id, AKID);
            return;
        }
        Err(e) => e,
    };
    check_refusal(&err, data);
    let Some(hint) = err.debug_hint() else {
        return;
    };
    if !data.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()) {
        assert!(!hint.canonical_request.contains(SECRET));
    }

    // Re-sign with the verifier's own string to sign.
    let signature = sign(&hint.string_to_sign);
    let presigned = uri.query().is_some_and(|q| {
        q.split('&').any(|p| {
            p.starts_with("X-Amz-Algorithm=")
                || p.starts_with("X-Amz-Credential=")
                || p.starts_with("X-Amz-Signature=")
        })
    });
    let (headers, target) = if presigned {
        let Some(query) = uri.query() else { return };
        let Some(new_query) = replace_query_signature(query, &signature) else {
            return;
        };
        (req.headers.clone(), format!("{}?{new_query}", uri.path()))
    } else {
        let Some(new_headers) = replace_header_signature(&req.headers, &signature) else {
            return;
        };
        (new_headers, req.target.clone())
    };
    let Ok(uri2) = http::Uri::try_from(target.as_str()) else {
        return;
    };
    let parts2 = RequestParts {
        method: &req.method,
        raw_path: uri2.path(),
        raw_query: uri2.query(),
        headers: &headers,
        body: &req.body,
    };
    match verify(&parts2, &creds, &cfg, now) {
        Ok(verified) => assert_eq!(verified.access_key_id, AKID),
        Err(AuthError::InvalidSignature {
            message,
            debug: None,
        }) if message.contains("x-amz-content-sha256") => {}
        Err(e) => panic!(
            "re-signed request refused: {e}\nfirst: {:?}\nsecond: {:?}",
            hint,
            e.debug_hint()
        ),
    }
});

/// The configured secret and session token are never in a message, unless the request itself
/// carried them (an error may quote what the client sent, e.g. a malformed header value).
fn check_refusal(err: &AuthError, request: &[u8]) {
    assert_eq!(err.http_status(), http::StatusCode::FORBIDDEN);
    assert!(matches!(
        err.error_type(),
        "MissingAuthenticationTokenException"
            | "IncompleteSignatureException"
            | "UnrecognizedClientException"
            | "InvalidSignatureException"
    ));
    let message = err.message();
    let sent = |s: &str| request.windows(s.len()).any(|w| w == s.as_bytes());
    assert!(
        sent(SECRET) || !message.contains(SECRET),
        "secret echoed: {message}"
    );
    assert!(
        sent(SESSION_TOKEN) || !message.contains(SESSION_TOKEN),
        "session token echoed: {message}"
    );
}

/// The signature for `string_to_sign`, whose third line is the credential scope
/// `date/region/service/aws4_request`.
fn sign(string_to_sign: &str) -> String {
    let scope = string_to_sign.split('\n').nth(2).unwrap_or("");
    let mut key = format!("AWS4{SECRET}").into_bytes();
    for part in scope.split('/') {
        key = hmac(&key, part.as_bytes());
    }
    hex::encode(hmac(&key, string_to_sign.as_bytes()))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// `X-Amz-Signature=<old>` → `X-Amz-Signature=<new>`, when the parameter appears exactly once
/// and spelled literally (else the substitution is ambiguous and the check is skipped).
fn replace_query_signature(query: &str, signature: &str) -> Option<String> {
    let pieces: Vec<&str> = query.split('&').collect();
    let hits: Vec<usize> = pieces
        .iter()
        .enumerate()
        .filter(|(_, p)| p.starts_with("X-Amz-Signature"))
        .map(|(i, _)| i)
        .collect();
    let [i] = hits.as_slice() else { return None };
    if !pieces[*i].starts_with("X-Amz-Signature=") {
        return None;
    }
    let replacement = format!("X-Amz-Signature={signature}");
    let mut out: Vec<&str> = pieces.clone();
    out[*i] = &replacement;
    Some(out.join("&"))
}

/// Replaces the value of `Signature=` in the one `Authorization` header, when it is found
/// exactly once and `authorization` itself is not a signed header.
fn replace_header_signature(headers: &http::HeaderMap, signature: &str) -> Option<http::HeaderMap> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    if value.matches("Signature").count() != 1 || value.contains("authorization") {
        return None;
    }
    let start = value.find("Signature=")? + "Signature=".len();
    let end = value[start..].find(',').map_or(value.len(), |i| start + i);
    // Only a plain value: in `Signature=ab SignedHeaders=host` (no comma) the "signature" is
    // `ab SignedHeaders=host`, and replacing it would also remove a parameter.
    if value[start..end]
        .trim_matches([' ', '\t'])
        .contains([' ', '\t'])
    {
        return None;
    }
    let new_value = format!("{}{signature}{}", &value[..start], &value[end..]);
    let mut out = headers.clone();
    out.insert(
        http::header::AUTHORIZATION,
        http::HeaderValue::from_str(&new_value).ok()?,
    );
    Some(out)
}
