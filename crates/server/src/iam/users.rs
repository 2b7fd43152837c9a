//! IAM users from the configuration file: `[[users]]` with a name, an optional account id,
//! access keys and policies (inline JSON or a file path). Loading reads and compiles every
//! policy, so a bad one stops start-up with a message naming the user, the policy, the
//! statement and the field.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use serde::Deserialize;

use super::policy::Policy;
use super::PolicySet;
use crate::config::Secret;

/// `[[users]]` as written in the TOML file.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UserFile {
    pub name: String,
    #[serde(default)]
    pub account_id: Option<String>,
    pub access_keys: Vec<AccessKeyFile>,
    /// Each entry: a policy document (text starting with `{`) or the path of a JSON file
    /// holding one, relative to the configuration file's directory.
    pub policies: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AccessKeyFile {
    pub access_key_id: String,
    pub secret_access_key: Secret,
}

/// A user ready to authenticate and authorize.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub account_id: String,
    pub access_keys: Vec<AccessKeyFile>,
    pub policies: Arc<PolicySet>,
}

/// Reads and compiles the users' policies. `base_dir` anchors relative policy paths;
/// `default_account` is the server's `account_id`.
pub fn load_users(
    users: Vec<UserFile>,
    base_dir: &Path,
    default_account: &str,
) -> anyhow::Result<Vec<User>> {
    users
        .into_iter()
        .map(|u| {
            let name = u.name;
            check_user_name(&name)?;
            if u.access_keys.is_empty() {
                bail!("user {name:?} has no access_keys");
            }
            if u.policies.is_empty() {
                bail!(
                    "user {name:?} has no policies, so it could do nothing: give it a policy \
                     (README \"Credentials and permissions\"), or use [[credentials]] for a \
                     key with full access"
                );
            }
            let policies = u
                .policies
                .iter()
                .enumerate()
                .map(|(i, source)| load_policy(&name, i, source, base_dir))
                .collect::<anyhow::Result<Vec<_>>>()?;
            Ok(User {
                account_id: u.account_id.unwrap_or_else(|| default_account.to_string()),
                access_keys: u.access_keys,
                policies: Arc::new(PolicySet::new(policies)),
                name,
            })
        })
        .collect()
}

fn load_policy(user: &str, index: usize, source: &str, base_dir: &Path) -> anyhow::Result<Policy> {
    let (text, origin) = if source.trim_start().starts_with('{') {
        (source.to_string(), format!("policies[{index}]"))
    } else {
        let path = base_dir.join(source);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "user {user:?}: policies[{index}] is not a JSON document (it does not start \
                 with {{), so it is a file path, and {} cannot be read",
                path.display()
            )
        })?;
        (text, format!("policies[{index}] ({})", path.display()))
    };
    Policy::parse(&text).map_err(|e| anyhow::anyhow!("user {user:?}, {origin}: {e}"))
}

/// IAM user names: 1..64 characters of letters, digits and `+=,.@_-`.
fn check_user_name(name: &str) -> anyhow::Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if !ok {
        bail!("user name {name:?} must be 1..64 characters of letters, digits and +=,.@_-");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOW: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ivschat:GetRoom","Resource":"*"}}"#;

    fn user(name: &str, policies: Vec<String>) -> UserFile {
        UserFile {
            name: name.into(),
            account_id: None,
            access_keys: vec![AccessKeyFile {
                access_key_id: "AK".into(),
                secret_access_key: Secret::new("SK"),
            }],
            policies,
        }
    }

    #[test]
    fn inline_and_file_policies_load_relative_to_the_config() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("p")).unwrap();
        std::fs::write(dir.path().join("p/read.json"), ALLOW).unwrap();
        let users = load_users(
            vec![user("ops", vec![ALLOW.into(), "p/read.json".into()])],
            dir.path(),
            "111111111111",
        )
        .unwrap();
        assert_eq!(users[0].account_id, "111111111111");
        assert_eq!(users[0].policies.policies.len(), 2);
    }

    #[test]
    fn a_bad_policy_names_user_policy_statement_and_field() {
        let bad = r#"{"Statement":[{"Sid":"Tokens","Effect":"Allow","Action":"ivschat:*"}]}"#;
        let e = load_users(
            vec![user("app", vec![ALLOW.into(), bad.into()])],
            Path::new("."),
            "1",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "user \"app\", policies[1]: Statement[0] (Sid \"Tokens\"), Resource: a statement \
             needs Resource or NotResource"
        );
    }

    #[test]
    fn a_missing_policy_file_is_explained() {
        let e = load_users(
            vec![user("app", vec!["nope.json".into()])],
            Path::new("/nonexistent"),
            "1",
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("/nonexistent/nope.json"), "{e:#}");
    }

    #[test]
    fn users_need_a_valid_name_keys_and_policies() {
        let e = load_users(vec![user("a b", vec![ALLOW.into()])], Path::new("."), "1").unwrap_err();
        assert!(e.to_string().contains("user name"));
        let e = load_users(vec![user("a", vec![])], Path::new("."), "1").unwrap_err();
        assert!(e.to_string().contains("has no policies"));
        let mut no_keys = user("a", vec![ALLOW.into()]);
        no_keys.access_keys.clear();
        let e = load_users(vec![no_keys], Path::new("."), "1").unwrap_err();
        assert!(e.to_string().contains("no access_keys"));
    }
}
