//! ARNs of this server's resources: `arn:aws:ivschat:<region>:<account>:<type>/<id>`.
//!
//! Every `identifier` input must be an ARN (the model's patterns enforce it). An ARN that is
//! well formed but names another region or account cannot be one of ours, so it resolves to
//! "not found" rather than to a validation error, as on AWS.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    Room,
    LoggingConfiguration,
}

impl ResourceKind {
    pub fn arn_type(self) -> &'static str {
        match self {
            ResourceKind::Room => "room",
            ResourceKind::LoggingConfiguration => "logging-configuration",
        }
    }

    /// How error messages name the resource.
    pub fn display_name(self) -> &'static str {
        match self {
            ResourceKind::Room => "Room",
            ResourceKind::LoggingConfiguration => "Logging configuration",
        }
    }
}

/// The region and account this server answers for; it mints and resolves ARNs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArnScope {
    pub region: String,
    pub account_id: String,
}

/// A parsed ARN. `id` is whatever follows the `/`; it is one of ours only if [`ArnScope::resolve`] says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn<'a> {
    pub region: &'a str,
    pub account_id: &'a str,
    pub resource_type: &'a str,
    pub id: &'a str,
}

impl<'a> Arn<'a> {
    pub fn parse(s: &'a str) -> Option<Arn<'a>> {
        let rest = s.strip_prefix("arn:aws:ivschat:")?;
        let mut parts = rest.splitn(3, ':');
        let region = parts.next()?;
        let account_id = parts.next()?;
        let resource = parts.next()?;
        let (resource_type, id) = resource.split_once('/')?;
        Some(Arn {
            region,
            account_id,
            resource_type,
            id,
        })
    }
}

impl fmt::Display for Arn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:aws:ivschat:{}:{}:{}/{}",
            self.region, self.account_id, self.resource_type, self.id
        )
    }
}

impl ArnScope {
    pub fn arn(&self, kind: ResourceKind, id: &str) -> String {
        format!(
            "arn:aws:ivschat:{}:{}:{}/{}",
            self.region,
            self.account_id,
            kind.arn_type(),
            id
        )
    }

    /// The id inside `arn` if it names a resource of `kind` in this region and account.
    pub fn resolve<'a>(&self, arn: &'a str, kind: ResourceKind) -> Option<&'a str> {
        let parsed = Arn::parse(arn)?;
        (parsed.region == self.region
            && parsed.account_id == self.account_id
            && parsed.resource_type == kind.arn_type())
        .then_some(parsed.id)
    }

    /// The kind and id of any of our resources named by `arn` (used by the tag operations).
    pub fn resolve_any<'a>(&self, arn: &'a str) -> Option<(ResourceKind, &'a str)> {
        [ResourceKind::Room, ResourceKind::LoggingConfiguration]
            .into_iter()
            .find_map(|kind| self.resolve(arn, kind).map(|id| (kind, id)))
    }
}

/// The id to put in `resourceId` of an error about `arn`: it must match `^[a-zA-Z0-9]+$`,
/// so the ARN's tail with anything else removed (never empty).
pub fn error_resource_id(arn: &str) -> String {
    let tail = arn.rsplit(['/', ':']).next().unwrap_or(arn);
    let id: String = tail.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    if id.is_empty() {
        "unknown".to_string()
    } else {
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> ArnScope {
        ArnScope {
            region: "us-west-2".into(),
            account_id: "123456789012".into(),
        }
    }

    #[test]
    fn mints_and_resolves_its_own_arns() {
        let arn = scope().arn(ResourceKind::Room, "g1H2I3j4k5L6");
        assert_eq!(
            arn,
            "arn:aws:ivschat:us-west-2:123456789012:room/g1H2I3j4k5L6"
        );
        assert_eq!(
            scope().resolve(&arn, ResourceKind::Room),
            Some("g1H2I3j4k5L6")
        );
        assert_eq!(
            scope().resolve(&arn, ResourceKind::LoggingConfiguration),
            None
        );
        assert_eq!(
            scope().resolve_any(&scope().arn(ResourceKind::LoggingConfiguration, "ABcdef34ghIJ")),
            Some((ResourceKind::LoggingConfiguration, "ABcdef34ghIJ"))
        );
    }

    #[test]
    fn other_regions_and_accounts_are_not_ours() {
        let s = scope();
        assert_eq!(
            s.resolve(
                "arn:aws:ivschat:us-east-1:123456789012:room/a",
                ResourceKind::Room
            ),
            None
        );
        assert_eq!(
            s.resolve(
                "arn:aws:ivschat:us-west-2:000000000000:room/a",
                ResourceKind::Room
            ),
            None
        );
        assert_eq!(
            s.resolve("arn:aws:ivschat:us-west-2", ResourceKind::Room),
            None
        );
    }

    #[test]
    fn error_ids_are_alphanumeric() {
        assert_eq!(
            error_resource_id("arn:aws:ivschat:r:1:room/abc-DEF"),
            "abcDEF"
        );
        assert_eq!(error_resource_id("///"), "unknown");
    }
}
