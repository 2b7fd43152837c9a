//! SigV4 verification of control-plane requests, with the ivschat specifics
//! (`docs/protocol/control-plane.md` §2): signing name `ivschat`, the server's region,
//! double-encoded canonical URI, 15 minutes of clock skew. The algorithm lives in the
//! `ivschat-sigv4` crate. A verified request yields its [`Principal`]: who signed it, and
//! the policies (if any) that `authorize.rs` checks.

use std::collections::HashMap;

use ivschat_proto::errors::{ErrorKind, ServiceError};
use ivschat_sigv4::{
    AuthError, Credential, RequestParts, SecretKey, SigningKeyCache, UriEncoding, VerifierConfig,
};

use crate::config::Config;
use crate::domain::account::Account;
use crate::domain::arn::ArnScope;
use crate::domain::clock::Clock;
use crate::iam::Principal;

/// The accepted credentials and the signing scope.
pub struct Authenticator {
    credentials: HashMap<String, Credential>,
    /// Who each access key belongs to.
    principals: HashMap<String, Principal>,
    verifier: VerifierConfig,
    /// Signing keys derived per access key and day, instead of per request (four HMACs, most
    /// of a verification's hashing). The signature comparison is unchanged (constant time).
    keys: SigningKeyCache,
}

impl Authenticator {
    pub fn new(config: &Config) -> Authenticator {
        let server = ArnScope {
            region: config.region.clone(),
            account_id: config.account_id.clone(),
        };
        let mut credentials = HashMap::new();
        let mut principals = HashMap::new();
        // `[[credentials]]` keys: full access, as before policies existed. AWS names a root
        // user's ARN `arn:aws:iam::<account>:root`.
        for c in config.effective_credentials() {
            principals.insert(
                c.access_key_id.clone(),
                Principal {
                    arn: format!("arn:aws:iam::{}:root", config.account_id),
                    account: Account::of(&server, &config.account_id),
                    policies: None,
                },
            );
            credentials.insert(
                c.access_key_id.clone(),
                Credential {
                    access_key_id: c.access_key_id,
                    secret: SecretKey::new(c.secret_access_key.expose()),
                    session_token: c.session_token.map(|t| SecretKey::new(t.expose())),
                },
            );
        }
        for user in &config.users {
            for key in &user.access_keys {
                principals.insert(
                    key.access_key_id.clone(),
                    Principal {
                        arn: Principal::user_arn(&user.account_id, &user.name),
                        account: Account::of(&server, &user.account_id),
                        policies: Some(user.policies.clone()),
                    },
                );
                credentials.insert(
                    key.access_key_id.clone(),
                    Credential {
                        access_key_id: key.access_key_id.clone(),
                        secret: SecretKey::new(key.secret_access_key.expose()),
                        session_token: None,
                    },
                );
            }
        }
        Authenticator {
            credentials,
            principals,
            verifier: VerifierConfig {
                service: "ivschat".to_string(),
                region: config.region.clone(),
                max_clock_skew: time::Duration::minutes(15),
                uri_encoding: UriEncoding::Double,
            },
            keys: SigningKeyCache::new(),
        }
    }

    /// Checks the request's signature; on success returns who signed it.
    pub fn verify(
        &self,
        parts: &http::request::Parts,
        body: &[u8],
        clock: &Clock,
    ) -> Result<&Principal, ServiceError> {
        // HTTP/2 carries the host as `:authority`, which `http` keeps in the URI: the signature
        // covers it as `host` (see `RequestParts`).
        let with_host;
        let headers = match parts.uri.authority() {
            Some(authority) if !parts.headers.contains_key(http::header::HOST) => {
                let mut headers = parts.headers.clone();
                if let Ok(host) = http::HeaderValue::from_str(authority.as_str()) {
                    headers.insert(http::header::HOST, host);
                }
                with_host = headers;
                &with_host
            }
            _ => &parts.headers,
        };
        let request = RequestParts {
            method: parts.method.as_str(),
            raw_path: parts.uri.path(),
            raw_query: parts.uri.query(),
            headers,
            body,
        };
        ivschat_sigv4::verify_with_cache(
            &request,
            &self.credentials,
            &self.verifier,
            clock.now(),
            &self.keys,
        )
        .map_err(auth_error)
        .and_then(|verified| {
            // Every key in `credentials` is in `principals` (both are filled together).
            self.principals.get(&verified.access_key_id).ok_or_else(|| {
                ServiceError::new(
                    ErrorKind::InternalServer,
                    "a verified access key has no principal",
                )
            })
        })
    }
}

fn auth_error(e: AuthError) -> ServiceError {
    if let Some(hint) = e.debug_hint() {
        // What the server signed, to compare with the client's own debug output. Secrets and
        // the Authorization header are redacted by the verifier.
        tracing::debug!(
            canonical_request = %hint.canonical_request,
            string_to_sign = %hint.string_to_sign,
            "signature mismatch"
        );
    }
    let kind = match e {
        AuthError::MissingAuthenticationToken(_) => ErrorKind::MissingAuthenticationToken,
        AuthError::IncompleteSignature(_) => ErrorKind::IncompleteSignature,
        AuthError::UnrecognizedClient(_) => ErrorKind::UnrecognizedClient,
        AuthError::InvalidSignature { .. } => ErrorKind::InvalidSignature,
    };
    ServiceError::new(kind, e.message())
}
