//! Shared test helpers: a parser for the raw requests of the AWS test suite, and `aws-sigv4`
//! as a signing oracle.
#![allow(dead_code)]

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use http::header::HOST;
use http::{HeaderValue, Request};
use ivschat_sigv4::{
    verify, verify_with_cache, AuthError, CredentialStore, RequestParts, SigningKeyCache, Verified,
    VerifierConfig,
};
use time::OffsetDateTime;

pub const HOST_NAME: &str = "ivschat.us-east-1.amazonaws.com";
pub const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
pub const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
pub const TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLE//+/session+token==";
pub const ROOM_ARN_PATH: &str =
    "/tags/arn%3Aaws%3Aivschat%3Aus-west-2%3A123456789012%3Aroom%2Fg1H2I3j4k5L6";
pub const ROOM_ARN_CANONICAL: &str =
    "/tags/arn%253Aaws%253Aivschat%253Aus-west-2%253A123456789012%253Aroom%252Fg1H2I3j4k5L6";

pub fn t0() -> OffsetDateTime {
    time::macros::datetime!(2015-08-30 12:36:00 UTC)
}

/// Verifies `req` without a key cache, and checks that `verify_with_cache` (first a miss, then
/// a hit) gives exactly the same answer.
pub fn verify_http(
    req: &Request<Vec<u8>>,
    creds: &impl CredentialStore,
    cfg: &VerifierConfig,
    now: OffsetDateTime,
) -> Result<Verified, AuthError> {
    let parts = RequestParts::from_http(req);
    let uncached = verify(&parts, creds, cfg, now);
    let keys = SigningKeyCache::new();
    for round in ["miss", "hit"] {
        let cached = verify_with_cache(&parts, creds, cfg, now, &keys);
        assert_eq!(
            format!("{cached:?}"),
            format!("{uncached:?}"),
            "verify_with_cache ({round}) disagrees with verify"
        );
    }
    uncached
}

// ---------------------------------------------------------------------------------------------
// The AWS test suite's raw requests

/// Parses a raw HTTP/1.1 request as the AWS test suite writes it into what a server would see:
/// the request target percent-encoded where HTTP requires it (spaces, non-ASCII), header
/// values with surrounding whitespace stripped and obsolete line folding replaced by a space.
pub fn parse_raw_request(text: &str) -> Request<Vec<u8>> {
    let text = text.replace("\r\n", "\n");
    let (head, body) = text.split_once("\n\n").unwrap_or((text.as_str(), ""));
    let mut lines = head.lines();
    let request_line = lines.next().expect("request line");
    let (method, rest) = request_line.split_once(' ').expect("method");
    let target = rest.strip_suffix(" HTTP/1.1").unwrap_or(rest);

    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with(' ') || line.starts_with('\t') {
            let last = headers.last_mut().expect("folded line follows a header");
            last.1.push(' ');
            last.1.push_str(line.trim_end());
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((
                name.to_string(),
                value.trim_matches([' ', '\t']).to_string(),
            ));
        }
    }

    let mut builder = Request::builder().method(method).uri(encode_target(target));
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    builder
        .body(body.trim_end_matches('\n').as_bytes().to_vec())
        .expect("valid request")
}

/// What an HTTP client puts on the wire for a target with spaces or non-ASCII characters.
fn encode_target(target: &str) -> String {
    let mut out = String::new();
    for c in target.chars() {
        if c == ' ' || !c.is_ascii() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// aws-sigv4 as an oracle

#[derive(Clone, Debug)]
pub enum Body {
    /// Hash the bytes (what the SDKs do for non-S3 services).
    Hashed,
    /// `UNSIGNED-PAYLOAD`.
    Unsigned,
}

#[derive(Clone, Debug)]
pub struct Signer {
    pub access_key_id: String,
    pub secret: String,
    pub session_token: Option<String>,
    pub region: String,
    pub service: String,
    pub time: OffsetDateTime,
    /// `None`: Authorization header; `Some(seconds)`: presigned query.
    pub presign_expires: Option<u64>,
    /// Send and sign `x-amz-content-sha256` (aws-sdk-js-v3 and S3 do).
    pub content_sha256_header: bool,
    pub body: Body,
}

impl Default for Signer {
    fn default() -> Self {
        Self {
            access_key_id: AKID.into(),
            secret: SECRET.into(),
            session_token: None,
            region: "us-east-1".into(),
            service: "ivschat".into(),
            time: t0(),
            presign_expires: None,
            content_sha256_header: false,
            body: Body::Hashed,
        }
    }
}

impl Signer {
    /// Signs `method https://HOST_NAME{path_and_query}` with `headers` and `body` using the
    /// aws-sigv4 crate with the Rust SDK's default settings for a non-S3 service, then adds the
    /// `Host` header an HTTP client would send.
    pub fn sign(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Request<Vec<u8>> {
        let identity: Identity = Credentials::new(
            &self.access_key_id,
            &self.secret,
            self.session_token.clone(),
            None,
            "oracle",
        )
        .into();
        let mut settings = SigningSettings::default();
        if let Some(expires) = self.presign_expires {
            settings.signature_location = SignatureLocation::QueryParams;
            settings.expires_in = Some(Duration::from_secs(expires));
        }
        if self.content_sha256_header {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        }
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(&self.service)
            .time(SystemTime::from(self.time))
            .settings(settings)
            .build()
            .expect("signing params")
            .into();

        let uri = format!("https://{HOST_NAME}{path_and_query}");
        let signable_body = match self.body {
            Body::Hashed => SignableBody::Bytes(body),
            Body::Unsigned => SignableBody::UnsignedPayload,
        };
        let signable =
            SignableRequest::new(method, uri.as_str(), headers.iter().copied(), signable_body)
                .expect("signable request");
        let (instructions, _signature) = sign(signable, &params).expect("signs").into_parts();

        let mut builder = Request::builder().method(method).uri(uri.as_str());
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let mut req = builder.body(body.to_vec()).expect("request");
        instructions.apply_to_request_http1x(&mut req);
        req.headers_mut()
            .insert(HOST, HeaderValue::from_static(HOST_NAME));
        req
    }
}

/// A store with the default signer's key (and token, when given).
pub fn store(session_token: Option<&str>) -> Vec<ivschat_sigv4::Credential> {
    let c = ivschat_sigv4::Credential::new(AKID, SECRET);
    vec![match session_token {
        Some(t) => c.with_session_token(t),
        None => c,
    }]
}

pub fn ivschat_cfg() -> VerifierConfig {
    VerifierConfig::ivschat("us-east-1")
}

/// The error type name, or "OK".
pub fn outcome(r: &Result<Verified, AuthError>) -> &'static str {
    match r {
        Ok(_) => "OK",
        Err(e) => e.error_type(),
    }
}

/// Replaces the value of one query parameter in the request URI (raw, not re-encoded).
pub fn set_query_param(req: &mut Request<Vec<u8>>, key: &str, value: &str) {
    let uri = req.uri().clone();
    let path = uri.path();
    let query = uri.query().unwrap_or("");
    let mut replaced = false;
    let pairs: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, _)) if k == key => {
                replaced = true;
                format!("{k}={value}")
            }
            _ => p.to_string(),
        })
        .collect();
    let mut pairs = pairs;
    if !replaced {
        pairs.push(format!("{key}={value}"));
    }
    *req.uri_mut() = format!("{path}?{}", pairs.join("&")).parse().expect("uri");
}

/// Flips the last hex digit of a signature.
pub fn flip_last_hex(s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let last = chars.last_mut().expect("non-empty");
    *last = if *last == '0' { '1' } else { '0' };
    chars.into_iter().collect()
}
