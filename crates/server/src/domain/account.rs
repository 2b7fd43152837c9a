//! Accounts (README "Several accounts"): which account a request acts for, the ARNs it sees
//! and the key its rows are stored under.
//!
//! The server's own account (`--account-id`) is stored as `''`, so its rooms and logging
//! configurations follow `--account-id` exactly as they did when the server had one account;
//! any other account's rows carry its 12-digit id.

use super::arn::ArnScope;

/// The key under which the server's own account's rows are stored.
pub const SERVER_ACCOUNT_KEY: &str = "";

/// One account as the store and the ARNs see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Mints and resolves this account's ARNs (the server's region, this account's id).
    pub arns: ArnScope,
    /// The `account` column of this account's rows.
    pub key: String,
}

impl Account {
    /// `account_id` as seen by a server that answers for `server` (its region and own account).
    pub fn of(server: &ArnScope, account_id: &str) -> Account {
        let key = if account_id == server.account_id {
            SERVER_ACCOUNT_KEY
        } else {
            account_id
        };
        Account {
            arns: ArnScope {
                region: server.region.clone(),
                account_id: account_id.to_string(),
            },
            key: key.to_string(),
        }
    }
}

impl ArnScope {
    /// The ARNs of the account whose rows are stored under `key`.
    pub fn of_stored_account(&self, key: &str) -> std::borrow::Cow<'_, ArnScope> {
        if key == SERVER_ACCOUNT_KEY {
            std::borrow::Cow::Borrowed(self)
        } else {
            std::borrow::Cow::Owned(ArnScope {
                region: self.region.clone(),
                account_id: key.to_string(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::arn::ResourceKind;

    fn server() -> ArnScope {
        ArnScope {
            region: "us-west-2".into(),
            account_id: "123456789012".into(),
        }
    }

    #[test]
    fn the_server_account_is_stored_as_the_empty_key() {
        let own = Account::of(&server(), "123456789012");
        assert_eq!(own.key, "");
        assert_eq!(own.arns, server());
        let other = Account::of(&server(), "111111111111");
        assert_eq!(other.key, "111111111111");
        assert_eq!(
            other.arns.arn(ResourceKind::Room, "abc"),
            "arn:aws:ivschat:us-west-2:111111111111:room/abc"
        );
        assert_eq!(*server().of_stored_account(""), server());
        assert_eq!(
            server().of_stored_account("111111111111").account_id,
            "111111111111"
        );
    }
}
