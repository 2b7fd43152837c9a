//! Reading what the client claims: who signed, for which scope and time, which headers, and the
//! signature. Two places carry it: the `Authorization` header, or presigned `X-Amz-*` query
//! parameters. Malformed input is an `IncompleteSignature` error naming what is wrong.

use http::header::{AUTHORIZATION, DATE};
use http::{HeaderMap, HeaderValue};
use time::OffsetDateTime;

use crate::amz_time::{format_amz_date, parse_amz_date, parse_http_date};
use crate::canonical::QueryParam;
use crate::error::AuthError;
use crate::signing::ALGORITHM;
use crate::RequestParts;

pub(crate) const X_AMZ_ALGORITHM: &str = "X-Amz-Algorithm";
pub(crate) const X_AMZ_CREDENTIAL: &str = "X-Amz-Credential";
pub(crate) const X_AMZ_DATE: &str = "X-Amz-Date";
pub(crate) const X_AMZ_EXPIRES: &str = "X-Amz-Expires";
pub(crate) const X_AMZ_SIGNED_HEADERS: &str = "X-Amz-SignedHeaders";
pub(crate) const X_AMZ_SIGNATURE: &str = "X-Amz-Signature";
pub(crate) const X_AMZ_SECURITY_TOKEN: &str = "X-Amz-Security-Token";
pub(crate) const X_AMZ_CONTENT_SHA256: &str = "X-Amz-Content-Sha256";

/// AWS caps presigned URLs at seven days.
pub(crate) const MAX_EXPIRES_SECONDS: i64 = 604_800;
/// Larger `Authorization` values are refused before any parsing.
pub(crate) const MAX_AUTHORIZATION_LEN: usize = 8 * 1024;
/// More signed headers than this are refused (each costs a header lookup).
pub(crate) const MAX_SIGNED_HEADERS: usize = 64;

pub(crate) const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// `AKID/yyyymmdd/region/service/aws4_request`.
#[derive(Debug)]
pub(crate) struct Scope {
    pub(crate) access_key_id: String,
    pub(crate) date: String,
    pub(crate) region: String,
    pub(crate) service: String,
    pub(crate) terminator: String,
}

impl Scope {
    /// `yyyymmdd/region/service/aws4_request`, as in the string to sign.
    pub(crate) fn string(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.date, self.region, self.service, self.terminator
        )
    }
}

/// Everything the client claims about its signature, from either form.
#[derive(Debug)]
pub(crate) struct Claim {
    pub(crate) scope: Scope,
    /// Lower-case, sorted, unique, including `host`.
    pub(crate) signed_headers: Vec<String>,
    pub(crate) signature: String,
    /// When the request was signed.
    pub(crate) time: OffsetDateTime,
    /// `time` in ISO 8601 basic format, as in the string to sign.
    pub(crate) amz_date: String,
    /// `Some(seconds)` for a presigned request.
    pub(crate) expires: Option<i64>,
    pub(crate) security_token: Option<Vec<u8>>,
    /// The client's payload hash: `UNSIGNED-PAYLOAD` or 64 hex digits.
    pub(crate) content_sha256: Option<String>,
}

impl Claim {
    pub(crate) fn presigned(&self) -> bool {
        self.expires.is_some()
    }
}

/// Finds the signature in the request and reads it.
pub(crate) fn claim(req: &RequestParts<'_>, query: &[QueryParam]) -> Result<Claim, AuthError> {
    let authorization_count = req.headers.get_all(AUTHORIZATION).iter().take(2).count();
    let presigned = query.iter().any(|p| {
        [X_AMZ_ALGORITHM, X_AMZ_CREDENTIAL, X_AMZ_SIGNATURE]
            .iter()
            .any(|k| p.key == k.as_bytes())
    });
    match (authorization_count, presigned) {
        (0, false) => Err(AuthError::MissingAuthenticationToken(
            "Missing Authentication Token. Sign the request with AWS Signature Version 4 (an \
             'Authorization: AWS4-HMAC-SHA256 ...' header or presigned X-Amz-* query parameters)."
                .to_string(),
        )),
        (0, true) => from_query(req.headers, query),
        (_, true) => Err(AuthError::incomplete(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the \
             Authorization header should be specified.",
        )),
        (1, false) => from_header(req.headers),
        (_, false) => Err(AuthError::incomplete(
            "The request has more than one Authorization header.",
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Header form

#[derive(Debug)]
struct AuthorizationFields<'a> {
    credential: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

fn from_header(headers: &HeaderMap) -> Result<Claim, AuthError> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Err(AuthError::incomplete(
            "The Authorization header is missing.",
        ));
    };
    if value.len() > MAX_AUTHORIZATION_LEN {
        return Err(AuthError::incomplete(format!(
            "The Authorization header is {} bytes long; at most {MAX_AUTHORIZATION_LEN} are \
             accepted.",
            value.len()
        )));
    }
    // Not echoed: it may be another scheme's secret.
    let value = value.to_str().map_err(|_| {
        AuthError::incomplete(
            "The Authorization header contains characters that are not visible ASCII.",
        )
    })?;

    let amz_date = single_header(headers, "x-amz-date")?;
    let http_date = if amz_date.is_none() {
        single_header(headers, DATE.as_str())?
    } else {
        None
    };
    let fields = parse_authorization(value, amz_date.is_some() || http_date.is_some())?;

    let time = match (amz_date, http_date) {
        (Some(v), _) => header_str(v, "X-Amz-Date").and_then(parse_iso_date)?,
        (None, Some(v)) => header_str(v, "Date").and_then(|s| {
            parse_http_date(s).ok_or_else(|| {
                AuthError::incomplete(format!(
                    "The Date header must be an RFC 1123 date such as 'Sun, 30 Aug 2015 \
                     12:36:00 GMT'. Got '{}'.",
                    excerpt(s)
                ))
            })
        })?,
        // parse_authorization reported the missing date already.
        (None, None) => return Err(AuthError::incomplete("The request has no date.")),
    };

    let security_token =
        single_header(headers, "x-amz-security-token")?.map(|v| v.as_bytes().to_vec());
    let content_sha256 = single_header(headers, "x-amz-content-sha256")?
        .map(|v| parse_content_sha256(v.as_bytes()))
        .transpose()?;

    Ok(Claim {
        scope: parse_credential(fields.credential)?,
        signed_headers: parse_signed_headers(fields.signed_headers)?,
        signature: fields.signature.to_string(),
        amz_date: format_amz_date(time),
        time,
        expires: None,
        security_token,
        content_sha256,
    })
}

/// Splits `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`. Whitespace around the
/// algorithm, commas, keys and values is flexible and parameters may come in any order, as AWS
/// allows. Unknown parameters are ignored.
fn parse_authorization(value: &str, has_date: bool) -> Result<AuthorizationFields<'_>, AuthError> {
    let is_ws = |c: char| c == ' ' || c == '\t';
    let trimmed = value.trim_matches(is_ws);
    let (algorithm, params) = trimmed.split_once(is_ws).unwrap_or((trimmed, ""));
    if algorithm != ALGORITHM {
        return Err(unsupported_algorithm(algorithm));
    }

    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in params.split(',').map(|p| p.trim_matches(is_ws)) {
        if part.is_empty() {
            continue;
        }
        let Some((key, val)) = part.split_once('=') else {
            return Err(AuthError::incomplete(format!(
                "'{part}' not a valid key=value pair (missing equal-sign) in Authorization \
                 header: '{value}'."
            )));
        };
        let key = key.trim_matches(is_ws);
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => continue,
        };
        if slot.replace(val.trim_matches(is_ws)).is_some() {
            return Err(AuthError::incomplete(format!(
                "Authorization header has more than one '{key}' parameter. Authorization={value}"
            )));
        }
    }

    let mut problems = String::new();
    for (name, field) in [
        ("Credential", &credential),
        ("Signature", &signature),
        ("SignedHeaders", &signed_headers),
    ] {
        if field.is_none() {
            problems.push_str(&format!(
                "Authorization header requires '{name}' parameter. "
            ));
        }
    }
    if !has_date {
        problems.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
        );
    }
    match (credential, signed_headers, signature) {
        (Some(credential), Some(signed_headers), Some(signature)) if problems.is_empty() => {
            Ok(AuthorizationFields {
                credential,
                signed_headers,
                signature,
            })
        }
        _ => Err(AuthError::incomplete(format!(
            "{problems}Authorization={value}"
        ))),
    }
}

/// Names the scheme only when it looks like one: the rest of a non-SigV4 `Authorization` value
/// (a bearer token, basic credentials) is a secret and is never echoed.
fn unsupported_algorithm(algorithm: &str) -> AuthError {
    let looks_like_scheme = !algorithm.is_empty()
        && algorithm.len() <= 32
        && algorithm
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let named = if looks_like_scheme {
        format!(" '{algorithm}'")
    } else {
        String::new()
    };
    AuthError::incomplete(format!(
        "Unsupported Authorization type{named}; only '{ALGORITHM}' (AWS Signature Version 4) is \
         accepted."
    ))
}

// ---------------------------------------------------------------------------------------------
// Presigned (query) form

fn from_query(headers: &HeaderMap, query: &[QueryParam]) -> Result<Claim, AuthError> {
    let get = |name: &str| -> Result<Option<&[u8]>, AuthError> {
        let mut found = query.iter().filter(|p| p.key == name.as_bytes());
        let first = found.next();
        if found.next().is_some() {
            return Err(AuthError::incomplete(format!(
                "The query string has more than one '{name}' parameter."
            )));
        }
        Ok(first.map(|p| p.value.as_slice()))
    };

    let algorithm = get(X_AMZ_ALGORITHM)?;
    let credential = get(X_AMZ_CREDENTIAL)?;
    let date = get(X_AMZ_DATE)?;
    let expires = get(X_AMZ_EXPIRES)?;
    let signed_headers = get(X_AMZ_SIGNED_HEADERS)?;
    let signature = get(X_AMZ_SIGNATURE)?;

    let (
        Some(algorithm),
        Some(credential),
        Some(date),
        Some(expires),
        Some(signed_headers),
        Some(signature),
    ) = (
        algorithm,
        credential,
        date,
        expires,
        signed_headers,
        signature,
    )
    else {
        let mut problems = String::new();
        for (name, value) in [
            (X_AMZ_ALGORITHM, algorithm),
            (X_AMZ_CREDENTIAL, credential),
            (X_AMZ_SIGNATURE, signature),
            (X_AMZ_SIGNED_HEADERS, signed_headers),
            (X_AMZ_DATE, date),
            (X_AMZ_EXPIRES, expires),
        ] {
            if value.is_none() {
                problems.push_str(&format!(
                    "AWS query-string parameters must include '{name}'. "
                ));
            }
        }
        return Err(AuthError::incomplete(format!(
            "{problems}Re-examine the query-string parameters."
        )));
    };

    if algorithm != ALGORITHM.as_bytes() {
        return Err(AuthError::incomplete(format!(
            "X-Amz-Algorithm only supports \"{ALGORITHM}\"."
        )));
    }
    let time = query_str(date, X_AMZ_DATE).and_then(parse_iso_date)?;
    let expires = parse_expires(expires)?;

    // A token or payload hash may also travel as a header (aws-sdk-js-v3 hoists some headers).
    let security_token = match get(X_AMZ_SECURITY_TOKEN)? {
        Some(v) => Some(v.to_vec()),
        None => single_header(headers, "x-amz-security-token")?.map(|v| v.as_bytes().to_vec()),
    };
    let content_sha256 = match get(X_AMZ_CONTENT_SHA256)? {
        Some(v) => Some(parse_content_sha256(v)?),
        None => single_header(headers, "x-amz-content-sha256")?
            .map(|v| parse_content_sha256(v.as_bytes()))
            .transpose()?,
    };

    Ok(Claim {
        scope: parse_credential(query_str(credential, X_AMZ_CREDENTIAL)?)?,
        signed_headers: parse_signed_headers(query_str(signed_headers, X_AMZ_SIGNED_HEADERS)?)?,
        signature: query_str(signature, X_AMZ_SIGNATURE)?.to_string(),
        amz_date: format_amz_date(time),
        time,
        expires: Some(expires),
        security_token,
        content_sha256,
    })
}

fn parse_expires(raw: &[u8]) -> Result<i64, AuthError> {
    let digits_only = !raw.is_empty() && raw.len() <= 10 && raw.iter().all(u8::is_ascii_digit);
    let seconds = digits_only
        .then(|| std::str::from_utf8(raw).ok()?.parse::<i64>().ok())
        .flatten()
        .ok_or_else(|| {
            AuthError::incomplete("X-Amz-Expires should be a number of seconds (0 to 604800).")
        })?;
    if seconds > MAX_EXPIRES_SECONDS {
        return Err(AuthError::incomplete(format!(
            "X-Amz-Expires must be less than a week (in seconds) that is {MAX_EXPIRES_SECONDS}."
        )));
    }
    Ok(seconds)
}

// ---------------------------------------------------------------------------------------------
// Shared pieces

/// `AKID/yyyymmdd/region/service/aws4_request`; only the shape is checked here, the values are
/// compared with the request date and the server's configuration later.
fn parse_credential(credential: &str) -> Result<Scope, AuthError> {
    let parts: Vec<&str> = credential.splitn(6, '/').collect();
    match parts.as_slice() {
        [akid, date, region, service, terminator] if !akid.is_empty() => Ok(Scope {
            access_key_id: (*akid).to_string(),
            date: (*date).to_string(),
            region: (*region).to_string(),
            service: (*service).to_string(),
            terminator: (*terminator).to_string(),
        }),
        _ => Err(AuthError::incomplete(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. \
             keyid/date/region/service/aws4_request, got '{}'.",
            excerpt(credential)
        ))),
    }
}

/// `host;x-amz-date;…`: lower-case header names, sorted, unique, `host` among them.
fn parse_signed_headers(list: &str) -> Result<Vec<String>, AuthError> {
    let names: Vec<&str> = list.split(';').take(MAX_SIGNED_HEADERS + 1).collect();
    if names.len() > MAX_SIGNED_HEADERS {
        return Err(AuthError::incomplete(format!(
            "Too many signed headers; at most {MAX_SIGNED_HEADERS} are accepted."
        )));
    }
    let well_formed =
        names.iter().all(|n| is_lower_case_token(n)) && names.windows(2).all(|w| w[0] < w[1]);
    if !well_formed {
        return Err(AuthError::incomplete(format!(
            "SignedHeaders must be lower-case header names, sorted, separated by ';', got '{}'.",
            excerpt(list)
        )));
    }
    if !names.contains(&"host") {
        return Err(AuthError::incomplete(format!(
            "'host' must be a signed header, got SignedHeaders '{}'.",
            excerpt(list)
        )));
    }
    Ok(names.into_iter().map(str::to_string).collect())
}

/// An HTTP header name token (RFC 9110) with no upper-case letters.
fn is_lower_case_token(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
        })
}

fn parse_iso_date(s: &str) -> Result<OffsetDateTime, AuthError> {
    parse_amz_date(s).ok_or_else(|| {
        AuthError::incomplete(format!(
            "Date must be in ISO-8601 'basic format'. Got '{}'. See \
             http://en.wikipedia.org/wiki/ISO_8601",
            excerpt(s)
        ))
    })
}

/// `UNSIGNED-PAYLOAD` or a hex SHA-256. Other values (the streaming/chunked modes of S3) are not
/// supported: an IncompleteSignature error names them rather than a signature mismatch.
fn parse_content_sha256(raw: &[u8]) -> Result<String, AuthError> {
    let ok = raw == UNSIGNED_PAYLOAD.as_bytes()
        || (raw.len() == 64 && raw.iter().all(u8::is_ascii_hexdigit));
    if !ok {
        return Err(AuthError::incomplete(format!(
            "x-amz-content-sha256 must be UNSIGNED-PAYLOAD or the hex SHA-256 of the body, got \
             '{}'.",
            excerpt(&String::from_utf8_lossy(raw))
        )));
    }
    // Checked ASCII above.
    Ok(String::from_utf8_lossy(raw).into_owned())
}

/// The value of a header that must appear at most once.
fn single_header<'h>(
    headers: &'h HeaderMap,
    name: &str,
) -> Result<Option<&'h HeaderValue>, AuthError> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(AuthError::incomplete(format!(
            "The request has more than one '{name}' header."
        )));
    }
    Ok(first)
}

fn header_str<'h>(value: &'h HeaderValue, name: &str) -> Result<&'h str, AuthError> {
    value
        .to_str()
        .map_err(|_| AuthError::incomplete(format!("The {name} header is not visible ASCII.")))
}

fn query_str<'q>(value: &'q [u8], name: &str) -> Result<&'q str, AuthError> {
    std::str::from_utf8(value)
        .map_err(|_| AuthError::incomplete(format!("The {name} query parameter is not UTF-8.")))
}

/// Client-provided text for an error message, cut to a readable length.
pub(crate) fn excerpt(s: &str) -> String {
    const MAX_CHARS: usize = 128;
    match s.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}...", &s[..cut]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incomplete_message(r: Result<impl std::fmt::Debug, AuthError>) -> String {
        match r {
            Err(AuthError::IncompleteSignature(m)) => m,
            other => panic!("expected IncompleteSignature, got {other:?}"),
        }
    }

    #[test]
    fn authorization_with_flexible_whitespace() {
        for value in [
            "AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=host, Signature=ab",
            "AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request,SignedHeaders=host,Signature=ab",
            "  AWS4-HMAC-SHA256\tCredential = A/20150830/r/s/aws4_request ,  Signature=ab,SignedHeaders=host ,",
        ] {
            let f = parse_authorization(value, true).unwrap();
            assert_eq!(f.credential, "A/20150830/r/s/aws4_request");
            assert_eq!(f.signed_headers, "host");
            assert_eq!(f.signature, "ab");
        }
    }

    #[test]
    fn authorization_lists_everything_missing() {
        let m = incomplete_message(parse_authorization("AWS4-HMAC-SHA256 Signature=ab", false));
        assert_eq!(
            m,
            "Authorization header requires 'Credential' parameter. Authorization header requires \
             'SignedHeaders' parameter. Authorization header requires existence of either a \
             'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256 Signature=ab"
        );
        let m = incomplete_message(parse_authorization("AWS4-HMAC-SHA256 Credential", true));
        assert!(m.contains("missing equal-sign"), "{m}");
        let m = incomplete_message(parse_authorization(
            "AWS4-HMAC-SHA256 Signature=a, Signature=b",
            true,
        ));
        assert!(m.contains("more than one 'Signature'"), "{m}");
    }

    #[test]
    fn other_schemes_are_not_echoed() {
        let m = incomplete_message(parse_authorization("Basic dXNlcjpwYXNzd29yZA==", true));
        assert!(m.contains("'Basic'"), "{m}");
        assert!(!m.contains("dXNlcjpwYXNzd29yZA"), "{m}");
        let m = incomplete_message(parse_authorization("secret-token-without-scheme:xyz", true));
        assert!(!m.contains("secret-token"), "{m}");
    }

    #[test]
    fn credential_shape() {
        let s = parse_credential("AKID/20150830/us-east-1/ivschat/aws4_request").unwrap();
        assert_eq!(s.access_key_id, "AKID");
        assert_eq!(s.string(), "20150830/us-east-1/ivschat/aws4_request");
        for bad in [
            "",
            "AKID",
            "AKID/20150830/us-east-1/ivschat",
            "/20150830/us-east-1/ivschat/aws4_request",
            "AKID/20150830/us-east-1/ivschat/aws4_request/x",
        ] {
            incomplete_message(parse_credential(bad));
        }
    }

    #[test]
    fn signed_headers_shape() {
        assert_eq!(
            parse_signed_headers("content-type;host;x-amz-date").unwrap(),
            ["content-type", "host", "x-amz-date"]
        );
        for bad in [
            "",
            "host;",
            "x-amz-date;host",
            "Host;x-amz-date",
            "host;host",
            "host;x amz",
            "x-amz-date",
        ] {
            incomplete_message(parse_signed_headers(bad));
        }
        let many: Vec<String> = (0..=MAX_SIGNED_HEADERS)
            .map(|i| format!("h{i:03}"))
            .collect();
        let m = incomplete_message(parse_signed_headers(&many.join(";")));
        assert!(m.contains("Too many"), "{m}");
    }

    #[test]
    fn expires_bounds() {
        assert_eq!(parse_expires(b"0").unwrap(), 0);
        assert_eq!(parse_expires(b"604800").unwrap(), 604_800);
        for bad in [
            &b"604801"[..],
            b"-1",
            b"",
            b"1e3",
            b"99999999999999999999",
            b" 1",
        ] {
            incomplete_message(parse_expires(bad));
        }
    }

    #[test]
    fn content_sha256_values() {
        assert_eq!(
            parse_content_sha256(b"UNSIGNED-PAYLOAD").unwrap(),
            "UNSIGNED-PAYLOAD"
        );
        let h = "E3B0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(parse_content_sha256(h.as_bytes()).unwrap(), h);
        for bad in [&b"STREAMING-AWS4-HMAC-SHA256-PAYLOAD"[..], b"abc", b"\xff"] {
            incomplete_message(parse_content_sha256(bad));
        }
    }

    #[test]
    fn excerpt_cuts_on_char_boundaries() {
        assert_eq!(excerpt("short"), "short");
        let long = "ሴ".repeat(200);
        let cut = excerpt(&long);
        assert!(cut.ends_with("..."));
        assert_eq!(cut.chars().count(), 131);
    }
}
