//! Why a request was refused, in the four shapes AWS JSON services use.

use std::fmt;

/// Why a request failed authentication.
///
/// Each variant is one AWS error type (see [`AuthError::error_type`]). Messages follow AWS's
/// wording where AWS has one, and never contain a secret: neither a secret key nor a session
/// token. They may echo what the client sent in a SigV4 `Authorization` header (it holds only
/// the access key id, scope and signature), never a non-SigV4 `Authorization` value.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header and no presigned `X-Amz-*` query parameters.
    #[error("MissingAuthenticationTokenException: {0}")]
    MissingAuthenticationToken(String),
    /// The signature information is malformed or incomplete.
    #[error("IncompleteSignatureException: {0}")]
    IncompleteSignature(String),
    /// Unknown access key, or a session token that does not match.
    #[error("UnrecognizedClientException: {0}")]
    UnrecognizedClient(String),
    /// Wrong signature, wrong credential scope, expired or not yet valid request, or a body that
    /// does not match its `X-Amz-Content-Sha256`.
    #[error("InvalidSignatureException: {message}")]
    InvalidSignature {
        message: String,
        /// Set when the signature itself did not match: what the server computed, for
        /// debug-level logs (never put it in the response).
        debug: Option<Box<SigningDebug>>,
    },
}

/// What the server signed when a signature did not match, to compare with the client's own
/// debug output (botocore and the Rust SDK log their canonical request at debug level).
///
/// The session token is replaced by `<redacted>` in `canonical_request`; `string_to_sign` is the
/// real one (it holds only a hash of the real canonical request).
#[derive(Clone, PartialEq, Eq)]
pub struct SigningDebug {
    pub canonical_request: String,
    pub string_to_sign: String,
}

impl fmt::Debug for SigningDebug {
    // Multi-line output reads better in logs than escaped `\n`s.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "canonical request:\n{}\nstring to sign:\n{}",
            self.canonical_request, self.string_to_sign
        )
    }
}

pub(crate) const INVALID_TOKEN: &str = "The security token included in the request is invalid.";
pub(crate) const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match \
     the signature you provided. Check your AWS Secret Access Key and signing method. Consult the \
     service documentation for details.";

impl AuthError {
    /// The AWS error type name, e.g. for the `__type` field and `x-amzn-ErrorType` header.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken(_) => "MissingAuthenticationTokenException",
            Self::IncompleteSignature(_) => "IncompleteSignatureException",
            Self::UnrecognizedClient(_) => "UnrecognizedClientException",
            Self::InvalidSignature { .. } => "InvalidSignatureException",
        }
    }

    /// The message for the client.
    pub fn message(&self) -> &str {
        match self {
            Self::MissingAuthenticationToken(m)
            | Self::IncompleteSignature(m)
            | Self::UnrecognizedClient(m)
            | Self::InvalidSignature { message: m, .. } => m,
        }
    }

    /// The HTTP status: 403 for all four, the convention of AWS's REST services
    /// (`docs/protocol/control-plane.md` §6, "Errors outside the model").
    pub fn http_status(&self) -> http::StatusCode {
        match self {
            Self::MissingAuthenticationToken(_)
            | Self::IncompleteSignature(_)
            | Self::UnrecognizedClient(_)
            | Self::InvalidSignature { .. } => http::StatusCode::FORBIDDEN,
        }
    }

    /// The canonical request and string to sign, when the signature did not match.
    pub fn debug_hint(&self) -> Option<&SigningDebug> {
        match self {
            Self::InvalidSignature { debug, .. } => debug.as_deref(),
            _ => None,
        }
    }

    pub(crate) fn incomplete(message: impl Into<String>) -> Self {
        Self::IncompleteSignature(message.into())
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidSignature {
            message: message.into(),
            debug: None,
        }
    }

    pub(crate) fn signature_mismatch(debug: SigningDebug) -> Self {
        Self::InvalidSignature {
            message: SIGNATURE_MISMATCH.to_string(),
            debug: Some(Box::new(debug)),
        }
    }

    pub(crate) fn invalid_token() -> Self {
        Self::UnrecognizedClient(INVALID_TOKEN.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_statuses_and_display() {
        let cases = [
            (
                AuthError::MissingAuthenticationToken("m".into()),
                "MissingAuthenticationTokenException",
                403,
            ),
            (
                AuthError::incomplete("m"),
                "IncompleteSignatureException",
                403,
            ),
            (
                AuthError::invalid_token(),
                "UnrecognizedClientException",
                403,
            ),
            (AuthError::invalid("m"), "InvalidSignatureException", 403),
        ];
        for (err, ty, status) in cases {
            assert_eq!(err.error_type(), ty);
            assert_eq!(err.http_status().as_u16(), status);
            assert_eq!(err.to_string(), format!("{ty}: {}", err.message()));
        }
    }
}
