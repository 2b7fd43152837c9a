//! SigV4 signing for the load generators, shared by `ivschat-cpbench` (every control-plane
//! request) and `ivschat-bench` (its CreateChatToken mints, `--mint fast`) through `#[path]`.
//!
//! Every request gets its own signature, computed for the current second, exactly as a client
//! SDK computes one. What does not depend on the time is prepared once per request template:
//!
//! * the canonical request is `<prefix><X-Amz-Date><suffix><payload hash>`: method,
//!   (double-encoded) URI, query, the signed headers before and after `x-amz-date` and the
//!   signed-header list are all fixed for a template, so only the date is spliced in, and the
//!   payload hash too (the template's, prepared once, or with [`FastSigner::sign_body`] that of
//!   a body of the request's own, e.g. a different `userId` for each mint);
//! * the signing key `HMAC(HMAC(HMAC(HMAC("AWS4"+secret, day), region), service), "aws4_request")`
//!   depends on the day only, so it is derived once per day (a real SDK derives it per request;
//!   that cost is the *server's* to bear, not the generator's).
//!
//! Per request this leaves one SHA-256 of the canonical request (~250 bytes) and one HMAC of
//! the string to sign (plus one SHA-256 of the body with [`FastSigner::sign_body`]). [`FastSigner::self_test`] checks the output against the `aws-sigv4`
//! crate at start-up, and `--signer aws-sigv4` uses that crate for every request instead.

use std::time::SystemTime;

use anyhow::{bail, ensure, Context, Result};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const SERVICE: &str = "ivschat";

/// Who signs, and for which region.
#[derive(Debug, Clone)]
pub struct SigningIdentity {
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
}

/// One request shape: everything but the time.
#[derive(Debug, Clone)]
pub struct Template {
    pub method: &'static str,
    /// The path as sent on the wire (already percent-encoded).
    pub raw_path: String,
    /// `host` header value (`127.0.0.1:8080`).
    pub host: String,
    /// Sent (and signed) with `content-type: application/json` when non-empty.
    pub body: Vec<u8>,
}

/// The headers a signed request carries, besides `host` (and `content-type` for a body).
pub struct Signed {
    pub amz_date: String,
    pub authorization: String,
}

/// Seconds since the epoch → `YYYYMMDDTHHMMSSZ` (UTC), without a date library.
pub fn amz_date(unix_seconds: u64) -> String {
    let days = (unix_seconds / 86_400) as i64;
    let rem = unix_seconds % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 → (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The 64 lower-case hex digits of a SHA-256 digest.
fn hex32(bytes: &[u8]) -> [u8; 64] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 64];
    for (i, &b) in bytes.iter().take(32).enumerate() {
        out[2 * i] = DIGITS[usize::from(b >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(b & 0x0f)];
    }
    out
}

/// Appends lower-case hex (a table lookup per nibble; `hex::encode` goes through a `char`
/// iterator, which showed up in the generator's profile).
fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// AWS's URI encoding of a path that is already percent-encoded (every service but S3 encodes
/// it a second time): all bytes but `A-Za-z0-9-_.~/` become `%XX`.
fn double_encode_path(raw_path: &str) -> String {
    let mut out = String::with_capacity(raw_path.len() * 2);
    for b in raw_path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A template, with the time-independent parts of its canonical request prepared.
pub struct FastSigner {
    identity: SigningIdentity,
    signed_headers: &'static str,
    /// Canonical request up to (excluding) the `x-amz-date` value.
    prefix: Vec<u8>,
    /// Canonical request after the `x-amz-date` value, up to the payload hash.
    suffix: Vec<u8>,
    /// The template body's SHA-256, hex.
    body_hash: [u8; 64],
    /// Day, credential scope and signing key of the last request.
    key: Option<(String, String, [u8; 32])>,
    /// Reused buffers.
    canonical: Vec<u8>,
    string_to_sign: String,
}

impl FastSigner {
    pub fn new(identity: SigningIdentity, template: &Template) -> FastSigner {
        let has_body = !template.body.is_empty();
        let mut prefix = Vec::with_capacity(256);
        prefix.extend_from_slice(template.method.as_bytes());
        prefix.push(b'\n');
        prefix.extend_from_slice(double_encode_path(&template.raw_path).as_bytes());
        prefix.extend_from_slice(b"\n\n"); // empty canonical query
        if has_body {
            prefix.extend_from_slice(b"content-type:application/json\n");
        }
        prefix.extend_from_slice(b"host:");
        prefix.extend_from_slice(template.host.as_bytes());
        prefix.extend_from_slice(b"\nx-amz-date:");
        let signed_headers = if has_body {
            "content-type;host;x-amz-date"
        } else {
            "host;x-amz-date"
        };
        let mut suffix = Vec::with_capacity(128);
        suffix.extend_from_slice(b"\n\n");
        suffix.extend_from_slice(signed_headers.as_bytes());
        suffix.push(b'\n');
        FastSigner {
            identity,
            signed_headers,
            prefix,
            suffix,
            body_hash: hex32(&Sha256::digest(&template.body)),
            key: None,
            canonical: Vec::with_capacity(512),
            string_to_sign: String::with_capacity(256),
        }
    }

    /// Signs the template for `amz_date` (`YYYYMMDDTHHMMSSZ`).
    pub fn sign(&mut self, amz_date: &str) -> Signed {
        let body_hash = self.body_hash;
        self.sign_hashed(amz_date, &body_hash)
    }

    /// Signs the template with `body` instead of the template's body, for `amz_date`. The body
    /// must be empty exactly when the template's is (that decides whether `content-type` is
    /// signed).
    #[allow(dead_code)] // ivschat-bench's mints; ivschat-cpbench signs fixed templates only
    pub fn sign_body(&mut self, amz_date: &str, body: &[u8]) -> Signed {
        debug_assert_eq!(
            body.is_empty(),
            !self.signed_headers.starts_with("content-type"),
            "a body where the template has none, or the reverse"
        );
        self.sign_hashed(amz_date, &hex32(&Sha256::digest(body)))
    }

    fn sign_hashed(&mut self, amz_date: &str, body_hash: &[u8; 64]) -> Signed {
        let day = &amz_date[..8];
        if self.key.as_ref().map(|(d, _, _)| d.as_str()) != Some(day) {
            let mut k_secret = b"AWS4".to_vec();
            k_secret.extend_from_slice(self.identity.secret_key.as_bytes());
            let k_date = hmac(&k_secret, day.as_bytes());
            let k_region = hmac(&k_date, self.identity.region.as_bytes());
            let k_service = hmac(&k_region, SERVICE.as_bytes());
            let scope = format!("{day}/{}/{SERVICE}/aws4_request", self.identity.region);
            self.key = Some((day.to_string(), scope, hmac(&k_service, b"aws4_request")));
        }
        let (_, scope, key) = self.key.as_ref().expect("derived above");
        self.canonical.clear();
        self.canonical.extend_from_slice(&self.prefix);
        self.canonical.extend_from_slice(amz_date.as_bytes());
        self.canonical.extend_from_slice(&self.suffix);
        self.canonical.extend_from_slice(body_hash);
        self.string_to_sign.clear();
        self.string_to_sign.push_str(ALGORITHM);
        self.string_to_sign.push('\n');
        self.string_to_sign.push_str(amz_date);
        self.string_to_sign.push('\n');
        self.string_to_sign.push_str(scope);
        self.string_to_sign.push('\n');
        push_hex(&mut self.string_to_sign, &Sha256::digest(&self.canonical));
        let signature = hmac(key, self.string_to_sign.as_bytes());
        let mut authorization = String::with_capacity(200);
        authorization.push_str(ALGORITHM);
        authorization.push_str(" Credential=");
        authorization.push_str(&self.identity.access_key);
        authorization.push('/');
        authorization.push_str(scope);
        authorization.push_str(", SignedHeaders=");
        authorization.push_str(self.signed_headers);
        authorization.push_str(", Signature=");
        push_hex(&mut authorization, &signature);
        Signed {
            amz_date: amz_date.to_string(),
            authorization,
        }
    }

    /// Signs `template` at `time` with both this signer and the `aws-sigv4` crate and fails
    /// unless the two `Authorization` headers are identical.
    pub fn self_test(identity: &SigningIdentity, template: &Template) -> Result<()> {
        let time = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_767_225_600 + 45_296);
        let date = amz_date(1_767_225_600 + 45_296);
        ensure!(date == "20260101T123456Z", "amz_date is wrong: {date}");
        let ours = FastSigner::new(identity.clone(), template).sign(&date);
        let theirs = sign_with_aws_sigv4(identity, template, time)?;
        if ours.authorization != theirs.authorization || ours.amz_date != theirs.amz_date {
            bail!(
                "the fast signer disagrees with aws-sigv4 for {} {}:\n  ours:   {}\n  theirs: {}",
                template.method,
                template.raw_path,
                ours.authorization,
                theirs.authorization
            );
        }
        Ok(())
    }
}

/// Signs `template` at `time` with the `aws-sigv4` crate (what the AWS SDK for Rust uses),
/// deriving everything from scratch, as an SDK does for each request.
pub fn sign_with_aws_sigv4(
    identity: &SigningIdentity,
    template: &Template,
    time: SystemTime,
) -> Result<Signed> {
    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4;
    use aws_smithy_runtime_api::client::identity::Identity;

    let id: Identity = Credentials::new(
        &identity.access_key,
        &identity.secret_key,
        None,
        None,
        "ivschat-cpbench",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&id)
        .region(&identity.region)
        .name(SERVICE)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .context("SigV4 signing parameters")?
        .into();
    let url = format!("http://{}{}", template.host, template.raw_path);
    let mut headers: Vec<(&str, &str)> = vec![("host", template.host.as_str())];
    if !template.body.is_empty() {
        headers.push(("content-type", "application/json"));
    }
    let signable = SignableRequest::new(
        template.method,
        url,
        headers.into_iter(),
        SignableBody::Bytes(&template.body),
    )
    .context("a signable request")?;
    let (instructions, _) = sign(signable, &params)
        .context("aws-sigv4 signing")?
        .into_parts();
    let mut amz_date = None;
    let mut authorization = None;
    for (name, value) in instructions.headers() {
        match name {
            "x-amz-date" => amz_date = Some(value.to_string()),
            "authorization" => authorization = Some(value.to_string()),
            _ => {}
        }
    }
    Ok(Signed {
        amz_date: amz_date.context("aws-sigv4 set no x-amz-date")?,
        authorization: authorization.context("aws-sigv4 set no authorization")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> SigningIdentity {
        SigningIdentity {
            access_key: "test".into(),
            secret_key: "test".into(),
            region: "us-east-1".into(),
        }
    }

    #[test]
    fn hex_is_lower_case() {
        let mut s = String::new();
        push_hex(&mut s, &[0x00, 0x9f, 0xa0, 0xff]);
        assert_eq!(s, "009fa0ff");
    }

    #[test]
    fn dates() {
        assert_eq!(amz_date(0), "19700101T000000Z");
        assert_eq!(amz_date(951_782_400), "20000229T000000Z");
        assert_eq!(amz_date(1_767_225_599), "20251231T235959Z");
    }

    #[test]
    fn agrees_with_aws_sigv4() {
        for template in [
            Template {
                method: "POST",
                raw_path: "/CreateChatToken".into(),
                host: "127.0.0.1:8080".into(),
                body: br#"{"roomIdentifier":"arn:aws:ivschat:us-east-1:000000000000:room/abc","userId":"u"}"#.to_vec(),
            },
            Template {
                method: "GET",
                raw_path: "/tags/arn%3Aaws%3Aivschat%3Aus-east-1%3A000000000000%3Aroom%2Fabc"
                    .into(),
                host: "localhost:18080".into(),
                body: Vec::new(),
            },
        ] {
            FastSigner::self_test(&identity(), &template).unwrap();
        }
    }

    /// A body of the request's own signs as a template with that body would.
    #[test]
    fn own_bodies_sign_like_their_templates() {
        let template = |body: &str| Template {
            method: "POST",
            raw_path: "/CreateChatToken".into(),
            host: "127.0.0.1:8080".into(),
            body: body.as_bytes().to_vec(),
        };
        let date = amz_date(1_767_225_600 + 45_296);
        let mut shared = FastSigner::new(identity(), &template(r#"{"userId":"a"}"#));
        for body in [
            r#"{"userId":"b"}"#,
            r#"{"userId":"a"}"#,
            r#"{"userId":"ccc"}"#,
        ] {
            let own = shared.sign_body(&date, body.as_bytes());
            let theirs = sign_with_aws_sigv4(
                &identity(),
                &template(body),
                SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_767_225_600 + 45_296),
            )
            .unwrap();
            assert_eq!(own.authorization, theirs.authorization);
            assert_eq!(own.amz_date, theirs.amz_date);
        }
        // The template's own body is still what `sign` uses.
        let again = shared.sign(&date);
        let first = FastSigner::new(identity(), &template(r#"{"userId":"a"}"#)).sign(&date);
        assert_eq!(again.authorization, first.authorization);
    }

    #[test]
    fn hex32_matches_push_hex() {
        let digest = Sha256::digest(b"abc");
        let mut s = String::new();
        push_hex(&mut s, &digest);
        assert_eq!(&hex32(&digest)[..], s.as_bytes());
    }
}
