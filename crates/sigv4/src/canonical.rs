//! The canonical request: method, URI, query, headers, signed header list and payload hash,
//! rebuilt from the raw request exactly as a client's signer built it.
//!
//! Everything here works on bytes, so header values that are not UTF-8 and malformed
//! percent-escapes are canonicalised (and then fail the signature) instead of panicking.

use http::HeaderMap;
use percent_encoding::{percent_decode, percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::error::AuthError;
use crate::parse::{X_AMZ_SECURITY_TOKEN, X_AMZ_SIGNATURE};
use crate::UriEncoding;

/// AWS's URI encoding: everything but the unreserved characters `A-Za-z0-9-_.~` becomes `%XX`
/// (upper-case hex), byte by byte of the UTF-8 form.
const AWS_URI_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The same for a path, where `/` separates segments and stays as is.
const AWS_PATH_ENCODE: &AsciiSet = &AWS_URI_ENCODE.remove(b'/');

const REDACTED: &str = "<redacted>";
/// Header values left out of the loggable canonical request (aws-sigv4's list, minus the S3
/// customer-key headers this service never sees).
const SENSITIVE_HEADERS: [&str; 5] = [
    "authorization",
    "cookie",
    "proxy-authorization",
    "set-cookie",
    "x-amz-security-token",
];

/// One `key=value` pair of the raw query, percent-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueryParam {
    pub(crate) key: Vec<u8>,
    pub(crate) value: Vec<u8>,
}

/// Splits the raw query on `&` and decodes each side of the first `=` (a missing `=` means an
/// empty value, empty pieces such as `a=1&&b=2` are skipped, as `form_urlencoded` does).
///
/// `+` is *not* a space here: SDKs encode a space as `%20`, so a literal `+` is a plus sign and
/// canonicalises to `%2B` (botocore, aws-sdk-js-v3 and S3 agree; aws-sigv4 alone would read it as
/// a space, but the Rust SDK never puts a raw `+` in a query).
pub(crate) fn parse_query(raw: Option<&str>) -> Vec<QueryParam> {
    let Some(raw) = raw else { return Vec::new() };
    raw.split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
            QueryParam {
                key: percent_decode(key.as_bytes()).collect(),
                value: percent_decode(value.as_bytes()).collect(),
            }
        })
        .collect()
}

/// The canonical URI.
///
/// * `Double` (every AWS service but S3): the raw path is already percent-encoded; remove dot
///   segments and empty segments (RFC 3986 §5.2.4, as aws-sigv4, botocore and aws-sdk-js-v3 do
///   for non-S3 services), then URI-encode it again, keeping `/`. So `%3A` becomes `%253A`.
/// * `Single` (S3): the raw path exactly as sent, which is what S3 signers sign.
///
/// An empty path is `/`.
pub(crate) fn canonical_uri(raw_path: &str, encoding: UriEncoding) -> String {
    match encoding {
        UriEncoding::Double => {
            percent_encode(remove_dot_segments(raw_path).as_bytes(), AWS_PATH_ENCODE).to_string()
        }
        UriEncoding::Single if raw_path.is_empty() => "/".to_string(),
        UriEncoding::Single => raw_path.to_string(),
    }
}

/// RFC 3986 §5.2.4 plus collapsing of `//`, with the trailing-slash rule of aws-sigv4
/// (`/a/b/.` → `/a/b/`). The result always starts with `/`.
fn remove_dot_segments(path: &str) -> String {
    let needs_work = !path.starts_with('/') || path.contains("//") || path.contains('.');
    if !needs_work {
        return path.to_string();
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    let ends_with_slash = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    if out.is_empty() || (ends_with_slash && !out.ends_with('/')) {
        out.push('/');
    }
    out
}

/// The canonical query string: every pair URI-encoded, sorted by key then value (by encoded
/// bytes, as aws-sigv4 does), joined with `&`. Presigned requests leave out `X-Amz-Signature`.
pub(crate) fn canonical_query(params: &[QueryParam], presigned: bool, redact: bool) -> String {
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .filter(|p| !(presigned && p.key == X_AMZ_SIGNATURE.as_bytes()))
        .map(|p| {
            let value = if redact && p.key == X_AMZ_SECURITY_TOKEN.as_bytes() {
                REDACTED.to_string()
            } else {
                percent_encode(&p.value, AWS_URI_ENCODE).to_string()
            };
            (percent_encode(&p.key, AWS_URI_ENCODE).to_string(), value)
        })
        .collect();
    pairs.sort();
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Appends `name:value\n` for each signed header: values trimmed, runs of spaces collapsed to
/// one, repeated headers joined with `,` in the order received.
///
/// Only spaces are collapsed, as the SigV4 documentation and aws-sigv4 say (botocore and
/// aws-sdk-js-v3 also collapse tabs; no SDK puts tabs inside a header value).
fn canonical_headers(
    headers: &HeaderMap,
    signed: &[String],
    redact: bool,
    out: &mut Vec<u8>,
) -> Result<(), AuthError> {
    for name in signed {
        let mut values = headers.get_all(name.as_str()).iter().peekable();
        if values.peek().is_none() {
            return Err(AuthError::incomplete(format!(
                "The request does not include the header '{name}', which SignedHeaders says \
                 was signed."
            )));
        }
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        if redact && SENSITIVE_HEADERS.contains(&name.as_str()) {
            out.extend_from_slice(REDACTED.as_bytes());
        } else {
            for (i, value) in values.enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_trimmed(value.as_bytes(), out);
            }
        }
        out.push(b'\n');
    }
    Ok(())
}

/// Trims leading and trailing spaces and collapses sequential spaces to one.
fn push_trimmed(value: &[u8], out: &mut Vec<u8>) {
    let mut pending_space = false;
    let mut started = false;
    for &b in value {
        if b == b' ' {
            pending_space = started;
            continue;
        }
        if pending_space {
            out.push(b' ');
            pending_space = false;
        }
        out.push(b);
        started = true;
    }
}

/// Everything a canonical request is made of.
pub(crate) struct CanonicalInput<'a> {
    pub(crate) method: &'a str,
    pub(crate) canonical_uri: &'a str,
    pub(crate) query: &'a [QueryParam],
    pub(crate) presigned: bool,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) signed_headers: &'a [String],
    pub(crate) payload_hash: &'a str,
}

/// Builds the canonical request. With `redact`, the session token (header or query) and other
/// sensitive header values are replaced by `<redacted>` so the result can be logged; such a
/// request is never signed.
pub(crate) fn canonical_request(
    input: &CanonicalInput<'_>,
    redact: bool,
) -> Result<Vec<u8>, AuthError> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(input.method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(input.canonical_uri.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_query(input.query, input.presigned, redact).as_bytes());
    out.push(b'\n');
    canonical_headers(input.headers, input.signed_headers, redact, &mut out)?;
    out.push(b'\n');
    out.extend_from_slice(input.signed_headers.join(";").as_bytes());
    out.push(b'\n');
    out.extend_from_slice(input.payload_hash.as_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn double_encoding_encodes_the_encoded_path_again() {
        let raw = "/tags/arn%3Aaws%3Aivschat%3Aus-west-2%3A123456789012%3Aroom%2Fg1H2I3j4k5L6";
        assert_eq!(
            canonical_uri(raw, UriEncoding::Double),
            "/tags/arn%253Aaws%253Aivschat%253Aus-west-2%253A123456789012%253Aroom%252Fg1H2I3j4k5L6"
        );
        assert_eq!(canonical_uri(raw, UriEncoding::Single), raw);
    }

    #[test]
    fn empty_path_is_slash() {
        assert_eq!(canonical_uri("", UriEncoding::Double), "/");
        assert_eq!(canonical_uri("", UriEncoding::Single), "/");
    }

    #[test]
    fn double_encoding_keeps_unreserved_and_encodes_the_rest() {
        assert_eq!(
            canonical_uri("/-._~AZaz09/a b/ሴ/@!*", UriEncoding::Double),
            "/-._~AZaz09/a%20b/%E1%88%B4/%40%21%2A"
        );
    }

    #[test]
    fn dot_segments_and_double_slashes_are_removed() {
        for (raw, want) in [
            ("/", "/"),
            ("//", "/"),
            ("/./", "/"),
            ("/example/..", "/"),
            ("/example1/example2/../..", "/"),
            ("/./example", "/example"),
            ("//example//", "/example/"),
            ("/a/b/.", "/a/b/"),
            ("/a/b/..", "/a/"),
            ("/../a", "/a"),
            ("a/b", "/a/b"),
            ("/a.b/c..d", "/a.b/c..d"),
            ("/%2E%2E/x", "/%2E%2E/x"),
        ] {
            assert_eq!(remove_dot_segments(raw), want, "{raw}");
        }
    }

    #[test]
    fn query_is_decoded_reencoded_and_sorted() {
        let params = parse_query(Some("b=2&a=%7e&a=1&c&%E1%88%B4=x+y&&d=%zz&e=a=b"));
        assert_eq!(
            canonical_query(&params, false, false),
            "%E1%88%B4=x%2By&a=1&a=~&b=2&c=&d=%25zz&e=a%3Db"
        );
        assert_eq!(canonical_query(&parse_query(Some("")), false, false), "");
        assert_eq!(canonical_query(&parse_query(None), false, false), "");
    }

    #[test]
    fn presigned_query_drops_the_signature_and_can_redact_the_token() {
        let params = parse_query(Some("X-Amz-Signature=abc&X-Amz-Security-Token=s%2Fe&k=v"));
        assert_eq!(
            canonical_query(&params, true, false),
            "X-Amz-Security-Token=s%2Fe&k=v"
        );
        assert_eq!(
            canonical_query(&params, true, true),
            "X-Amz-Security-Token=<redacted>&k=v"
        );
        assert!(canonical_query(&params, false, false).contains("X-Amz-Signature=abc"));
    }

    #[test]
    fn header_values_are_trimmed_and_joined() {
        let mut headers = HeaderMap::new();
        headers.append("my-header", HeaderValue::from_static("  a   b  c "));
        headers.append("my-header", HeaderValue::from_static("d"));
        headers.append("other", HeaderValue::from_bytes(b"\xffx  y").unwrap());
        let mut out = Vec::new();
        canonical_headers(
            &headers,
            &["my-header".into(), "other".into()],
            false,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, b"my-header:a b c,d\nother:\xffx y\n");
        headers.insert("cookie", HeaderValue::from_static("session=s3cr3t"));
        headers.insert("x-amz-security-token", HeaderValue::from_static("t0k3n"));
        let mut out = Vec::new();
        let names = [
            "cookie".into(),
            "my-header".into(),
            "x-amz-security-token".into(),
        ];
        canonical_headers(&headers, &names, true, &mut out).unwrap();
        assert_eq!(
            out,
            b"cookie:<redacted>\nmy-header:a b c,d\nx-amz-security-token:<redacted>\n"
        );
        let err = canonical_headers(&headers, &["absent".into()], false, &mut Vec::new());
        assert!(matches!(err, Err(AuthError::IncompleteSignature(_))));
    }
}
