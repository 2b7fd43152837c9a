//! `aws-sigv4` (the Rust SDK's signer, default non-S3 settings: double URI encoding, path
//! normalisation, body hashed, no `x-amz-content-sha256`) signs ivschat-shaped requests; the
//! verifier must accept them, and refuse each kind of tampering with the right error type.

mod common;

use common::{
    flip_last_hex, ivschat_cfg, outcome, set_query_param, store, verify_http, Body, Signer, AKID,
    ROOM_ARN_CANONICAL, ROOM_ARN_PATH, TOKEN,
};
use http::{HeaderValue, Request};
use ivschat_sigv4::VerifierConfig;

const JSON: (&str, &str) = ("content-type", "application/json");
const SDK_UA: (&str, &str) = (
    "x-amz-user-agent",
    "aws-sdk-rust/1.3.9 ua/2.1 api/ivschat/1.120.0",
);
const CREATE_ROOM_BODY: &[u8] =
    br#"{"name":"r1","maximumMessageLength":500,"tags":{"k":"v w"},"maximumMessageRatePerSecond":10}"#;

/// The requests the server will see most, in both forms and with and without a session token
/// and `x-amz-content-sha256`.
fn ivschat_requests(signer: &Signer) -> Vec<(String, Request<Vec<u8>>)> {
    let delete_tags = format!("{ROOM_ARN_PATH}?tagKeys=a&tagKeys=b");
    let odd_query = format!(
        "{ROOM_ARN_PATH}?tagKeys=a%20b&tagKeys=%E2%9C%93&tagKeys=%7E&tagKeys=&tagKeys=x%2By%3Dz%26"
    );
    vec![
        (
            "GET /tags/{arn}".into(),
            signer.sign("GET", ROOM_ARN_PATH, &[SDK_UA], b""),
        ),
        (
            "DELETE /tags/{arn}?tagKeys=a&tagKeys=b".into(),
            signer.sign("DELETE", &delete_tags, &[SDK_UA], b""),
        ),
        (
            "DELETE with encoded tag keys".into(),
            signer.sign("DELETE", &odd_query, &[], b""),
        ),
        (
            "POST /CreateRoom".into(),
            signer.sign("POST", "/CreateRoom", &[JSON, SDK_UA], CREATE_ROOM_BODY),
        ),
        (
            "POST /tags/{arn}".into(),
            signer.sign("POST", ROOM_ARN_PATH, &[JSON], br#"{"tags":{"a":"b"}}"#),
        ),
        (
            "POST /ListRooms with spaces in a header".into(),
            signer.sign(
                "POST",
                "/ListRooms",
                &[JSON, ("x-custom", "  a   b  c ")],
                br#"{"maxResults":5}"#,
            ),
        ),
        (
            "GET with dot segments".into(),
            signer.sign("GET", "/a/./b/../tags//x", &[], b""),
        ),
        (
            "GET with an empty path".into(),
            signer.sign("GET", "", &[], b""),
        ),
    ]
}

fn signer_variants() -> Vec<(&'static str, Signer)> {
    let base = Signer::default();
    vec![
        ("header", base.clone()),
        (
            "header + token",
            Signer {
                session_token: Some(TOKEN.into()),
                ..base.clone()
            },
        ),
        (
            "header + x-amz-content-sha256",
            Signer {
                content_sha256_header: true,
                ..base.clone()
            },
        ),
        (
            "presigned",
            Signer {
                presign_expires: Some(900),
                ..base.clone()
            },
        ),
        (
            "presigned + token",
            Signer {
                presign_expires: Some(3600),
                session_token: Some(TOKEN.into()),
                ..base
            },
        ),
    ]
}

#[test]
fn accepts_what_aws_sigv4_signs() {
    for (variant, signer) in signer_variants() {
        let token = signer.session_token.as_deref();
        for (name, req) in ivschat_requests(&signer) {
            let r = verify_http(&req, &store(token), &ivschat_cfg(), common::t0());
            match r {
                Ok(v) => assert_eq!(v.access_key_id, AKID),
                Err(e) => panic!("{variant} / {name}: {e}\n{:?}\n{:?}", e.debug_hint(), req),
            }
            // A key configured without a token ignores the token the client sends.
            verify_http(&req, &store(None), &ivschat_cfg(), common::t0())
                .unwrap_or_else(|e| panic!("{variant} / {name} (store without token): {e}"));
        }
    }
}

#[test]
fn the_arn_path_is_double_encoded() {
    let req = Signer::default().sign("GET", ROOM_ARN_PATH, &[], b"");
    assert_eq!(req.uri().path(), ROOM_ARN_PATH);
    let mut tampered = req.clone();
    let auth = tampered.headers()["authorization"]
        .to_str()
        .unwrap()
        .to_string();
    tampered
        .headers_mut()
        .insert("authorization", flip_last_hex(&auth).parse().unwrap());
    let err = verify_http(&tampered, &store(None), &ivschat_cfg(), common::t0()).unwrap_err();
    let canonical = &err.debug_hint().unwrap().canonical_request;
    assert_eq!(canonical.lines().nth(1), Some(ROOM_ARN_CANONICAL));
}

/// Each tampering of a signed request and the error type it must produce.
#[test]
fn refuses_tampering() {
    for (variant, signer) in signer_variants() {
        let token = signer.session_token.clone();
        let store = store(token.as_deref());
        let cfg = ivschat_cfg();
        let now = common::t0();
        let presigned = signer.presign_expires.is_some();

        let post = signer.sign("POST", "/CreateRoom", &[JSON, SDK_UA], CREATE_ROOM_BODY);
        let delete = signer.sign(
            "DELETE",
            &format!("{ROOM_ARN_PATH}?tagKeys=a&tagKeys=b"),
            &[SDK_UA],
            b"",
        );

        let mut cases: Vec<(&str, Request<Vec<u8>>, &str)> = Vec::new();

        let mut r = post.clone();
        r.body_mut()[3] ^= 1;
        cases.push(("body byte", r, "InvalidSignatureException"));

        let mut r = post.clone();
        r.body_mut().push(b' ');
        cases.push(("body appended", r, "InvalidSignatureException"));

        let mut r = post.clone();
        r.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("application/x-amz-json-1.1"),
        );
        cases.push(("signed header value", r, "InvalidSignatureException"));

        let mut r = post.clone();
        r.headers_mut().insert(
            "host",
            HeaderValue::from_static("ivschat.us-west-2.amazonaws.com"),
        );
        cases.push(("host", r, "InvalidSignatureException"));

        let mut r = post.clone();
        *r.method_mut() = http::Method::PUT;
        cases.push(("method", r, "InvalidSignatureException"));

        let mut r = post.clone();
        *r.uri_mut() = with_path(r.uri(), "/CreateRooms");
        cases.push(("path", r, "InvalidSignatureException"));

        let mut r = delete.clone();
        // Decoded the same as the signed path, but a different wire encoding.
        *r.uri_mut() = with_path(r.uri(), &ROOM_ARN_PATH.replace("%2F", "/"));
        cases.push(("path encoding", r, "InvalidSignatureException"));

        let mut r = delete.clone();
        set_query_param(&mut r, "tagKeys", "c");
        cases.push(("query value", r, "InvalidSignatureException"));

        let mut r = delete.clone();
        set_query_param(&mut r, "extra", "1");
        cases.push(("query param added", r, "InvalidSignatureException"));

        // The signature.
        let mut r = post.clone();
        if presigned {
            let sig = query_value(&r, "X-Amz-Signature");
            set_query_param(&mut r, "X-Amz-Signature", &flip_last_hex(&sig));
        } else {
            let auth = r.headers()["authorization"].to_str().unwrap().to_string();
            r.headers_mut()
                .insert("authorization", flip_last_hex(&auth).parse().unwrap());
        }
        cases.push(("signature", r, "InvalidSignatureException"));

        // The date, by one second (same day, within the skew): only the signature catches it.
        let mut r = post.clone();
        if presigned {
            set_query_param(&mut r, "X-Amz-Date", "20150830T123601Z");
        } else {
            r.headers_mut()
                .insert("x-amz-date", HeaderValue::from_static("20150830T123601Z"));
        }
        cases.push(("date", r, "InvalidSignatureException"));

        // Signed with other parameters.
        let other = |f: &dyn Fn(&mut Signer)| {
            let mut s = signer.clone();
            f(&mut s);
            s.sign("POST", "/CreateRoom", &[JSON], CREATE_ROOM_BODY)
        };
        cases.push((
            "region",
            other(&|s| s.region = "us-west-2".into()),
            "InvalidSignatureException",
        ));
        cases.push((
            "service",
            other(&|s| s.service = "ivs".into()),
            "InvalidSignatureException",
        ));
        cases.push((
            "secret",
            other(&|s| s.secret = "another-secret".into()),
            "InvalidSignatureException",
        ));
        cases.push((
            "access key",
            other(&|s| s.access_key_id = "AKIAUNKNOWN".into()),
            "UnrecognizedClientException",
        ));
        cases.push((
            "signed 40 minutes ago",
            other(&|s| s.time = common::t0() - time::Duration::minutes(40)),
            "OK-or-skew",
        ));
        if token.is_some() {
            cases.push((
                "session token",
                other(&|s| s.session_token = Some("another-token".into())),
                "UnrecognizedClientException",
            ));
            cases.push((
                "no session token",
                other(&|s| s.session_token = None),
                "UnrecognizedClientException",
            ));
        }

        for (what, req, want) in cases {
            let r = verify_http(&req, &store, &cfg, now);
            if want == "OK-or-skew" {
                // 40 minutes earlier: outside the skew for a header; for a presigned URL it
                // depends on X-Amz-Expires (900 s: expired, 3600 s: still valid).
                let expected = match signer.presign_expires {
                    Some(expires) if expires >= 40 * 60 => "OK",
                    _ => "InvalidSignatureException",
                };
                assert_eq!(outcome(&r), expected, "{variant}: {what}: {r:?}");
                continue;
            }
            assert_eq!(outcome(&r), want, "{variant}: tampered {what}: {r:?}");
        }
    }
}

/// Configuration mismatches are scope errors with AWS's messages.
#[test]
fn scope_messages() {
    let req = Signer::default().sign("GET", ROOM_ARN_PATH, &[], b"");
    let now = common::t0();

    let err = verify_http(
        &req,
        &store(None),
        &VerifierConfig::ivschat("eu-west-1"),
        now,
    )
    .unwrap_err();
    assert_eq!(err.error_type(), "InvalidSignatureException");
    assert_eq!(
        err.message(),
        "Credential should be scoped to a valid region. This endpoint accepts 'eu-west-1', not \
         'us-east-1'."
    );

    let other_service = Signer {
        service: "ivs".into(),
        ..Signer::default()
    }
    .sign("GET", ROOM_ARN_PATH, &[], b"");
    let err = verify_http(&other_service, &store(None), &ivschat_cfg(), now).unwrap_err();
    assert_eq!(
        err.message(),
        "Credential should be scoped to correct service: 'ivschat'."
    );

    let unknown = Signer {
        access_key_id: "AKIAUNKNOWN".into(),
        ..Signer::default()
    }
    .sign("GET", ROOM_ARN_PATH, &[], b"");
    let err = verify_http(&unknown, &store(None), &ivschat_cfg(), now).unwrap_err();
    assert_eq!(err.error_type(), "UnrecognizedClientException");
    assert_eq!(
        err.message(),
        "The security token included in the request is invalid."
    );

    let wrong_secret = Signer {
        secret: "nope".into(),
        ..Signer::default()
    }
    .sign("GET", ROOM_ARN_PATH, &[], b"");
    let err = verify_http(&wrong_secret, &store(None), &ivschat_cfg(), now).unwrap_err();
    assert_eq!(
        err.message(),
        "The request signature we calculated does not match the signature you provided. Check \
         your AWS Secret Access Key and signing method. Consult the service documentation for \
         details."
    );
}

/// With `x-amz-content-sha256` the header's value is what was signed; a body that does not
/// match it is refused after the signature checks out.
#[test]
fn content_sha256_must_match_the_body() {
    let signer = Signer {
        content_sha256_header: true,
        ..Signer::default()
    };
    let req = signer.sign("POST", "/CreateRoom", &[JSON], CREATE_ROOM_BODY);
    assert!(req.headers().contains_key("x-amz-content-sha256"));
    verify_http(&req, &store(None), &ivschat_cfg(), common::t0()).expect("verifies");

    let mut tampered = req.clone();
    tampered.body_mut()[0] = b'[';
    let err = verify_http(&tampered, &store(None), &ivschat_cfg(), common::t0()).unwrap_err();
    assert_eq!(err.error_type(), "InvalidSignatureException");
    assert_eq!(
        err.message(),
        "The provided 'x-amz-content-sha256' header does not match what was computed."
    );
    assert!(err.debug_hint().is_none());
}

/// `UNSIGNED-PAYLOAD` leaves the body out of the signature, as the client asked.
#[test]
fn unsigned_payload_is_honoured() {
    let signer = Signer {
        content_sha256_header: true,
        body: Body::Unsigned,
        ..Signer::default()
    };
    let req = signer.sign("POST", "/CreateRoom", &[JSON], CREATE_ROOM_BODY);
    assert_eq!(req.headers()["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
    let mut other_body = req.clone();
    *other_body.body_mut() = b"{}".to_vec();
    for r in [req, other_body] {
        verify_http(&r, &store(None), &ivschat_cfg(), common::t0()).expect("verifies");
    }
}

/// Presigned requests hash the body like header-signed ones (no UNSIGNED-PAYLOAD for non-S3).
#[test]
fn presigned_body_is_signed() {
    let signer = Signer {
        presign_expires: Some(60),
        ..Signer::default()
    };
    let req = signer.sign("POST", "/CreateRoom", &[JSON], CREATE_ROOM_BODY);
    assert!(req.uri().query().unwrap().contains("X-Amz-Signature="));
    assert!(!req.headers().contains_key("authorization"));
    verify_http(&req, &store(None), &ivschat_cfg(), common::t0()).expect("verifies");
    let mut tampered = req;
    *tampered.body_mut() = b"{}".to_vec();
    let err = verify_http(&tampered, &store(None), &ivschat_cfg(), common::t0()).unwrap_err();
    assert_eq!(err.error_type(), "InvalidSignatureException");
}

/// Secrets never appear in messages or in `Debug` (which includes the debug hint).
#[test]
fn errors_never_show_secrets() {
    let signer = Signer {
        session_token: Some(TOKEN.into()),
        ..Signer::default()
    };
    for presign in [None, Some(60)] {
        let signer = Signer {
            presign_expires: presign,
            ..signer.clone()
        };
        let mut req = signer.sign("POST", "/CreateRoom", &[JSON], CREATE_ROOM_BODY);
        req.body_mut().push(b'\n');
        let err = verify_http(&req, &store(Some(TOKEN)), &ivschat_cfg(), common::t0()).unwrap_err();
        assert!(err.debug_hint().is_some());
        let everything = format!("{err} {err:?} {}", err.message());
        let encoded_token =
            percent_encoding::utf8_percent_encode(TOKEN, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        for secret in [common::SECRET, TOKEN, encoded_token.as_str()] {
            assert!(!everything.contains(secret), "{everything}");
        }
        assert!(everything.contains("<redacted>"), "{everything}");
    }
}

fn with_path(uri: &http::Uri, path: &str) -> http::Uri {
    match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    }
    .parse()
    .unwrap()
}

fn query_value(req: &Request<Vec<u8>>, key: &str) -> String {
    req.uri()
        .query()
        .unwrap()
        .split('&')
        .find_map(|p| p.strip_prefix(&format!("{key}=")))
        .unwrap()
        .to_string()
}
