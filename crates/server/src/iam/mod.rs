//! Authorization: IAM identity-based policies per user, evaluated on every control-plane
//! request as AWS does for ivschat (README "Credentials and permissions").
//!
//! `policy.rs` parses and compiles policy documents at start-up, `eval.rs` decides one
//! request (pure), `actions.rs` says which action and resource each operation is checked on,
//! `wildcard.rs` matches `*`/`?` patterns. The request-side glue (reading the input's ARN and
//! tags, the store read for `aws:ResourceTag`) is `api/authorize.rs`.

pub mod actions;
pub mod eval;
pub mod policy;
pub mod users;
pub mod wildcard;

#[cfg(test)]
mod reference_model_tests;

use std::sync::Arc;

use policy::Policy;

use crate::domain::account::Account;

/// The policies of one user, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySet {
    pub policies: Vec<Policy>,
    /// Some condition reads `aws:ResourceTag/…`: the resource's tags must be read first.
    pub uses_resource_tags: bool,
}

impl PolicySet {
    pub fn new(policies: Vec<Policy>) -> PolicySet {
        let uses_resource_tags = policies.iter().any(Policy::uses_resource_tags);
        PolicySet {
            policies,
            uses_resource_tags,
        }
    }
}

/// Who signed a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `arn:aws:iam::<account>:user/<name>`, as AccessDeniedException messages name it.
    pub arn: String,
    /// The account it acts for: whose resources it sees, and their ARNs.
    pub account: Account,
    /// `None`: a `[[credentials]]` key, allowed everything (as before policies existed).
    pub policies: Option<Arc<PolicySet>>,
}

impl Principal {
    pub fn user_arn(account_id: &str, user_name: &str) -> String {
        format!("arn:aws:iam::{account_id}:user/{user_name}")
    }
}
