//! AWS Signature Version 4 verification for a server that speaks an AWS API (here Amazon IVS
//! Chat, signing name `ivschat`). No I/O, no clock: the caller passes the request parts, a
//! credential store and the current time, and gets back who signed it or why it is refused.
//!
//! # What this crate owns
//!
//! * Reading the signature from the `Authorization` header or from presigned `X-Amz-*` query
//!   parameters, and refusing malformed ones with AWS's error types and messages
//!   ([`AuthError`]).
//! * Rebuilding the canonical request from the raw request, deriving the signing key and
//!   comparing signatures in constant time (`subtle`).
//! * Scope (date, region, service), clock skew (15 minutes by default), presigned expiry, session
//!   tokens, and `X-Amz-Content-Sha256`.
//!
//! It does not own routing, error bodies or logging: the server maps [`AuthError`] to a response
//! with [`AuthError::error_type`], [`AuthError::message`] and [`AuthError::http_status`], and may
//! log [`AuthError::debug_hint`] at debug level.
//!
//! # Why the URI is encoded twice
//!
//! SigV4 signs the *URI-encoded* path. Every AWS service except S3 applies that encoding to the
//! path as it appears in the HTTP request, which is already percent-encoded. So the SDKs
//! (botocore: `quote(path, safe='/~')`; aws-sigv4 and aws-sdk-js-v3 likewise) encode the
//! encoded path a second time. For ivschat this matters on `/tags/{resourceArn}`, where the ARN
//! is a single label: the wire path `/tags/arn%3Aaws%3Aivschat%3A…%3Aroom%2Fg1H2I3j4k5L6` is
//! signed as `/tags/arn%253Aaws%253Aivschat%253A…%253Aroom%252Fg1H2I3j4k5L6`.
//!
//! That is why [`RequestParts`] takes the raw path and query from the request line: a decoded
//! path cannot be re-encoded faithfully (`%2F` and `/` decode to the same byte). Non-S3 signers
//! also remove `.`/`..` segments and empty segments before encoding; [`UriEncoding::Double`]
//! does the same. [`UriEncoding::Single`] is the S3 rule (the path as sent, no normalisation).
//!
//! # Example
//!
//! ```
//! use ivschat_sigv4::{verify, AuthError, Credential, RequestParts, VerifierConfig};
//!
//! let creds = vec![Credential::new("AKIDEXAMPLE", "secret")];
//! let cfg = VerifierConfig::ivschat("us-east-1");
//! let headers = http::HeaderMap::new();
//! let req = RequestParts {
//!     method: "POST",
//!     raw_path: "/CreateRoom",
//!     raw_query: None,
//!     headers: &headers,
//!     body: b"{}",
//! };
//! let err = verify(&req, &creds, &cfg, time::OffsetDateTime::UNIX_EPOCH).unwrap_err();
//! assert!(matches!(err, AuthError::MissingAuthenticationToken(_)));
//! assert_eq!(err.error_type(), "MissingAuthenticationTokenException");
//! ```

mod amz_time;
mod canonical;
mod credentials;
mod error;
mod key_cache;
mod parse;
mod signing;

use subtle::ConstantTimeEq;
use time::OffsetDateTime;

pub use credentials::{Credential, CredentialStore, SecretKey};
pub use error::{AuthError, SigningDebug};
pub use key_cache::SigningKeyCache;

use amz_time::format_amz_date;
use canonical::{canonical_request, canonical_uri, parse_query, CanonicalInput};
use parse::{Claim, UNSIGNED_PAYLOAD};

/// How the canonical URI is built from the raw path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriEncoding {
    /// ivschat and every AWS service but S3: normalise `.`/`..`/`//`, then URI-encode the
    /// (already encoded) path again.
    Double,
    /// S3 style: the raw path exactly as sent.
    Single,
}

/// What the verifier accepts.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// The signing name in the credential scope, `ivschat`.
    pub service: String,
    /// The one region this server accepts in the credential scope.
    pub region: String,
    /// How far the request time may be from `now`, either way. AWS allows 15 minutes.
    pub max_clock_skew: time::Duration,
    pub uri_encoding: UriEncoding,
}

impl VerifierConfig {
    /// Double URI encoding and 15 minutes of clock skew, as AWS does for non-S3 services.
    pub fn new(service: impl Into<String>, region: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            region: region.into(),
            max_clock_skew: time::Duration::minutes(15),
            uri_encoding: UriEncoding::Double,
        }
    }

    /// The configuration for Amazon IVS Chat (signing name `ivschat`) in `region`.
    pub fn ivschat(region: impl Into<String>) -> Self {
        Self::new("ivschat", region)
    }
}

/// The parts of an HTTP request that signing covers.
///
/// `raw_path` and `raw_query` are the strings from the request line, still percent-encoded
/// (`http::Uri::path()` and `query()` give exactly these); never decoded ones.
///
/// `headers` must contain `host`: with HTTP/2 the authority arrives as the `:authority`
/// pseudo-header, which `http` keeps in the URI, so insert it as `host` before verifying.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    pub raw_path: &'a str,
    pub raw_query: Option<&'a str>,
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
}

impl<'a> RequestParts<'a> {
    /// The parts of an `http::Request` whose body is already buffered.
    pub fn from_http<B: AsRef<[u8]>>(req: &'a http::Request<B>) -> Self {
        Self {
            method: req.method().as_str(),
            raw_path: req.uri().path(),
            raw_query: req.uri().query(),
            headers: req.headers(),
            body: req.body().as_ref(),
        }
    }
}

/// A request whose signature checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub access_key_id: String,
}

/// Verifies the SigV4 signature of `req` at time `now`.
///
/// Checks run in the order AWS reports them: a missing or malformed signature
/// (`MissingAuthenticationToken`, `IncompleteSignature`), then the credential scope and the
/// request time (`InvalidSignature`), then the access key and session token
/// (`UnrecognizedClient`), then the signature and the payload hash (`InvalidSignature`).
pub fn verify<C: CredentialStore + ?Sized>(
    req: &RequestParts<'_>,
    creds: &C,
    cfg: &VerifierConfig,
    now: OffsetDateTime,
) -> Result<Verified, AuthError> {
    verify_inner(req, creds, cfg, now, None)
}

/// [`verify`], deriving each signing key once per access key and day and keeping it in
/// `keys` (see [`SigningKeyCache`]). Same checks, same answers.
pub fn verify_with_cache<C: CredentialStore + ?Sized>(
    req: &RequestParts<'_>,
    creds: &C,
    cfg: &VerifierConfig,
    now: OffsetDateTime,
    keys: &SigningKeyCache,
) -> Result<Verified, AuthError> {
    verify_inner(req, creds, cfg, now, Some(keys))
}

fn verify_inner<C: CredentialStore + ?Sized>(
    req: &RequestParts<'_>,
    creds: &C,
    cfg: &VerifierConfig,
    now: OffsetDateTime,
    keys: Option<&SigningKeyCache>,
) -> Result<Verified, AuthError> {
    let query = parse_query(req.raw_query);
    let claim = parse::claim(req, &query)?;
    check_scope(&claim, cfg)?;
    check_time(&claim, cfg.max_clock_skew, now)?;

    let credential = creds
        .lookup(&claim.scope.access_key_id)
        .ok_or_else(AuthError::invalid_token)?;
    check_session_token(credential, &claim)?;

    let payload = Payload::new(claim.content_sha256.as_deref(), req.body);
    let uri = canonical_uri(req.raw_path, cfg.uri_encoding);
    let input = CanonicalInput {
        method: req.method,
        canonical_uri: &uri,
        query: &query,
        presigned: claim.presigned(),
        headers: req.headers,
        signed_headers: &claim.signed_headers,
        payload_hash: payload.canonical_hash(),
    };
    let creq = canonical_request(&input, false)?;
    let string_to_sign = signing::string_to_sign(&claim.amz_date, &claim.scope.string(), &creq);
    let scope = &claim.scope;
    let key = match keys {
        Some(keys) => keys.signing_key(
            &scope.access_key_id,
            &credential.secret,
            &scope.date,
            &scope.region,
            &scope.service,
        ),
        None => signing::signing_key(
            &credential.secret,
            &scope.date,
            &scope.region,
            &scope.service,
        ),
    };
    let expected = signing::signature(&key, &string_to_sign);
    if !bool::from(expected.as_bytes().ct_eq(claim.signature.as_bytes())) {
        let canonical_request = canonical_request(&input, true)
            .map(|c| String::from_utf8_lossy(&c).into_owned())
            .unwrap_or_default();
        return Err(AuthError::signature_mismatch(SigningDebug {
            canonical_request,
            string_to_sign,
        }));
    }

    payload.check_body()?;
    Ok(Verified {
        access_key_id: claim.scope.access_key_id,
    })
}

/// The credential scope must name the request's date, this server's region and service, and
/// the `aws4_request` terminator. AWS reports these as `InvalidSignatureException`.
fn check_scope(claim: &Claim, cfg: &VerifierConfig) -> Result<(), AuthError> {
    let scope = &claim.scope;
    let request_day = &claim.amz_date[..8];
    if scope.date != request_day {
        return Err(AuthError::invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from \
             HTTP: '{}' != '{request_day}', from '{}'.",
            parse::excerpt(&scope.date),
            claim.amz_date
        )));
    }
    if scope.region != cfg.region {
        return Err(AuthError::invalid(format!(
            "Credential should be scoped to a valid region. This endpoint accepts '{}', not '{}'.",
            cfg.region,
            parse::excerpt(&scope.region)
        )));
    }
    if scope.service != cfg.service {
        return Err(AuthError::invalid(format!(
            "Credential should be scoped to correct service: '{}'.",
            cfg.service
        )));
    }
    if scope.terminator != signing::TERMINATOR {
        return Err(AuthError::invalid(format!(
            "Credential should be scoped with a valid terminator: '{}', not '{}'.",
            signing::TERMINATOR,
            parse::excerpt(&scope.terminator)
        )));
    }
    Ok(())
}

/// A signed request is valid within `max_skew` of `now` either way; a presigned one from
/// `max_skew` before its date until `X-Amz-Date + X-Amz-Expires`.
fn check_time(
    claim: &Claim,
    max_skew: time::Duration,
    now: OffsetDateTime,
) -> Result<(), AuthError> {
    let signed = claim.time;
    let skew = describe_duration(max_skew);
    if signed - now > max_skew {
        let latest = now.checked_add(max_skew).unwrap_or(now);
        return Err(AuthError::invalid(format!(
            "Signature not yet current: {} is still later than {} ({} + {skew}.)",
            claim.amz_date,
            format_amz_date(latest),
            format_amz_date(now)
        )));
    }
    match claim.expires {
        None if now - signed > max_skew => {
            let earliest = now.checked_sub(max_skew).unwrap_or(now);
            Err(AuthError::invalid(format!(
                "Signature expired: {} is now earlier than {} ({} - {skew}.)",
                claim.amz_date,
                format_amz_date(earliest),
                format_amz_date(now)
            )))
        }
        Some(expires) if now - signed > time::Duration::seconds(expires) => {
            let until = signed
                .checked_add(time::Duration::seconds(expires))
                .unwrap_or(signed);
            Err(AuthError::invalid(format!(
                "Signature expired: the presigned request was valid until {} ({} + X-Amz-Expires \
                 {expires} sec.); it is now {}.",
                format_amz_date(until),
                claim.amz_date,
                format_amz_date(now)
            )))
        }
        _ => Ok(()),
    }
}

/// `15 min` when whole minutes, else `90 sec`.
fn describe_duration(d: time::Duration) -> String {
    let seconds = d.whole_seconds();
    if seconds % 60 == 0 {
        format!("{} min", seconds / 60)
    } else {
        format!("{seconds} sec")
    }
}

/// A key issued with a session token only works together with that token (compared in constant
/// time). A key without one ignores whatever token the client sends.
fn check_session_token(credential: &Credential, claim: &Claim) -> Result<(), AuthError> {
    match (&credential.session_token, &claim.security_token) {
        (None, _) => Ok(()),
        (Some(expected), Some(sent)) if expected.ct_matches(sent) => Ok(()),
        (Some(_), _) => Err(AuthError::invalid_token()),
    }
}

/// The payload hash of the canonical request and what it promises about the body.
///
/// Without `X-Amz-Content-Sha256` it is the hex SHA-256 of the body, for presigned requests too
/// (botocore, aws-sigv4 and aws-sdk-js-v3 all hash the body for non-S3 presigning). With it,
/// the header's value is what was signed; after the signature matches, a hex value must also
/// equal the body's hash (else `InvalidSignature`, like S3's `XAmzContentSHA256Mismatch`), and
/// `UNSIGNED-PAYLOAD` leaves the body unauthenticated, as the client asked.
enum Payload<'a> {
    Computed(String),
    Claimed { hash: &'a str, body: &'a [u8] },
}

impl<'a> Payload<'a> {
    fn new(content_sha256: Option<&'a str>, body: &'a [u8]) -> Self {
        match content_sha256 {
            Some(hash) => Self::Claimed { hash, body },
            None => Self::Computed(signing::sha256_hex(body)),
        }
    }

    fn canonical_hash(&self) -> &str {
        match self {
            Self::Computed(hash) => hash,
            Self::Claimed { hash, .. } => hash,
        }
    }

    fn check_body(&self) -> Result<(), AuthError> {
        match self {
            Self::Claimed { hash, body }
                if *hash != UNSIGNED_PAYLOAD
                    && !hash.eq_ignore_ascii_case(&signing::sha256_hex(body)) =>
            {
                Err(AuthError::invalid(
                    "The provided 'x-amz-content-sha256' header does not match what was computed.",
                ))
            }
            _ => Ok(()),
        }
    }
}
