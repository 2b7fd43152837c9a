//! Evaluating compiled policies against one authorization request, as IAM does for
//! identity-based policies in one account: an explicit `Deny` in any statement wins, else an
//! `Allow` in any statement allows, else the request is implicitly denied.
//!
//! Pure: no I/O, no allocation. The caller supplies every context value the conditions may
//! read (`aws:RequestTag/…`, `aws:TagKeys`, `aws:ResourceTag/…`).

use std::collections::BTreeMap;

use super::policy::{Condition, ConditionKey, Effect, Operator, Policy, SetQualifier, Statement};

/// What is being asked: one action on one resource, with its condition context.
#[derive(Debug, Clone, Copy)]
pub struct RequestContext<'a> {
    /// Lowercase, e.g. `ivschat:createroom`.
    pub action: &'a str,
    /// An ARN, an ARN pattern of a resource type (`…:room/*`), or `*`.
    pub resource: &'a str,
    /// The request's tags (`aws:RequestTag/…`); `None` when the operation carries none.
    pub request_tags: Option<&'a BTreeMap<String, String>>,
    /// `aws:TagKeys`; empty when the request names no tag keys (the key is then absent).
    pub tag_keys: &'a [&'a str],
    /// The existing resource's tags (`aws:ResourceTag/…`); `None` when there is no existing
    /// resource or its tags were not read.
    pub resource_tags: Option<&'a BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// No statement allows it.
    ImplicitDeny,
    /// A `Deny` statement matches.
    ExplicitDeny,
}

pub fn evaluate<'p>(
    policies: impl IntoIterator<Item = &'p Policy>,
    request: &RequestContext,
) -> Decision {
    let mut allowed = false;
    for statement in policies.into_iter().flat_map(|p| &p.statements) {
        if statement_applies(statement, request) {
            match statement.effect {
                Effect::Deny => return Decision::ExplicitDeny,
                Effect::Allow => allowed = true,
            }
        }
    }
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

fn statement_applies(statement: &Statement, request: &RequestContext) -> bool {
    statement.actions.matches(request.action)
        && statement.resources.matches(request.resource)
        && statement
            .conditions
            .iter()
            .all(|c| condition_holds(c, request))
}

/// The context values a key has in this request.
enum Values<'a> {
    Absent,
    One(&'a str),
    Many(&'a [&'a str]),
}

fn context_values<'a>(key: &ConditionKey, request: &RequestContext<'a>) -> Values<'a> {
    let tag = |tags: Option<&'a BTreeMap<String, String>>, wanted: &str| {
        // The tag-key part of aws:RequestTag/… and aws:ResourceTag/… is case-insensitive.
        tags.and_then(|tags| {
            tags.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(wanted))
                .map(|(_, v)| Values::One(v.as_str()))
        })
        .unwrap_or(Values::Absent)
    };
    match key {
        ConditionKey::RequestTag(k) => tag(request.request_tags, k),
        ConditionKey::ResourceTag(k) => tag(request.resource_tags, k),
        ConditionKey::TagKeys if request.tag_keys.is_empty() => Values::Absent,
        ConditionKey::TagKeys => Values::Many(request.tag_keys),
    }
}

fn condition_holds(condition: &Condition, request: &RequestContext) -> bool {
    let values = context_values(&condition.key, request);
    if condition.operator == Operator::Null {
        // `"true"`: the key must be absent; `"false"`: present. Several values: any.
        let absent = matches!(values, Values::Absent);
        return condition
            .values
            .iter()
            .any(|v| v.matches(if absent { "true" } else { "false" }));
    }
    let satisfies = |value: &str| {
        condition.values.iter().any(|p| p.matches(value)) != condition.operator.is_negated()
    };
    match (condition.qualifier, values) {
        (_, Values::Absent) => match condition.qualifier {
            _ if condition.if_exists => true,
            // "Every value" of nothing holds vacuously; "some value" of nothing does not.
            SetQualifier::ForAllValues => true,
            SetQualifier::ForAnyValue => false,
            // A negated operator on a missing key is true (nothing equals the values).
            SetQualifier::None => condition.operator.is_negated(),
        },
        (SetQualifier::ForAllValues, Values::One(v))
        | (SetQualifier::ForAnyValue, Values::One(v)) => satisfies(v),
        (SetQualifier::None, Values::One(v)) => satisfies(v),
        (SetQualifier::ForAllValues, Values::Many(vs)) => vs.iter().all(|v| satisfies(v)),
        (SetQualifier::ForAnyValue, Values::Many(vs)) => vs.iter().any(|v| satisfies(v)),
        // Without a set qualifier a multivalued key matches when any of its values equals
        // (is like) a policy value; the negated operators are the negation of that.
        (SetQualifier::None, Values::Many(vs)) => {
            if condition.operator.is_negated() {
                vs.iter().all(|v| satisfies(v))
            } else {
                vs.iter().any(|v| satisfies(v))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOM: &str = "arn:aws:ivschat:us-east-1:111111111111:room/abcDEF";

    fn policy(statements: &str) -> Policy {
        Policy::parse(&format!(
            r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#
        ))
        .unwrap()
    }

    fn request(action: &'static str) -> RequestContext<'static> {
        RequestContext {
            action,
            resource: ROOM,
            request_tags: None,
            tag_keys: &[],
            resource_tags: None,
        }
    }

    fn decide(statements: &str, request: &RequestContext) -> Decision {
        evaluate([&policy(statements)], request)
    }

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const ALLOW_ALL: &str = r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#;

    #[test]
    fn nothing_allows_by_default() {
        assert_eq!(
            evaluate([], &request("ivschat:getroom")),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide(
                r#"{"Effect":"Allow","Action":"ivschat:ListRooms","Resource":"*"}"#,
                &request("ivschat:getroom")
            ),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn a_matching_allow_allows() {
        assert_eq!(
            decide(ALLOW_ALL, &request("ivschat:getroom")),
            Decision::Allow
        );
    }

    #[test]
    fn an_explicit_deny_beats_an_allow_in_any_order_and_any_policy() {
        let deny = r#"{"Effect":"Deny","Action":"ivschat:DeleteRoom","Resource":"*"}"#;
        let r = request("ivschat:deleteroom");
        assert_eq!(
            decide(&format!("{ALLOW_ALL},{deny}"), &r),
            Decision::ExplicitDeny
        );
        assert_eq!(
            decide(&format!("{deny},{ALLOW_ALL}"), &r),
            Decision::ExplicitDeny
        );
        let (a, d) = (policy(ALLOW_ALL), policy(deny));
        assert_eq!(evaluate([&a, &d], &r), Decision::ExplicitDeny);
        // The deny is for DeleteRoom only.
        assert_eq!(
            evaluate([&a, &d], &request("ivschat:getroom")),
            Decision::Allow
        );
    }

    #[test]
    fn actions_match_case_insensitively_with_wildcards() {
        let s =
            r#"{"Effect":"Allow","Action":["IVSChat:get*","ivschat:?istRooms"],"Resource":"*"}"#;
        assert_eq!(decide(s, &request("ivschat:getroom")), Decision::Allow);
        assert_eq!(decide(s, &request("ivschat:listrooms")), Decision::Allow);
        assert_eq!(
            decide(s, &request("ivschat:deleteroom")),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn not_action_applies_to_every_other_action() {
        let s = r#"{"Effect":"Allow","NotAction":"ivschat:Delete*","Resource":"*"}"#;
        assert_eq!(decide(s, &request("ivschat:getroom")), Decision::Allow);
        assert_eq!(
            decide(s, &request("ivschat:deleteroom")),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn resources_match_case_sensitively_and_not_resource_negates() {
        let s = r#"{"Effect":"Allow","Action":"*","Resource":"arn:aws:ivschat:*:*:room/abc*"}"#;
        assert_eq!(decide(s, &request("ivschat:getroom")), Decision::Allow);
        let s = r#"{"Effect":"Allow","Action":"*","Resource":"arn:aws:ivschat:*:*:room/ABC*"}"#;
        assert_eq!(
            decide(s, &request("ivschat:getroom")),
            Decision::ImplicitDeny
        );
        let s = r#"{"Effect":"Allow","Action":"*","NotResource":"arn:aws:ivschat:*:*:room/*"}"#;
        assert_eq!(
            decide(s, &request("ivschat:getroom")),
            Decision::ImplicitDeny
        );
        let mut r = request("ivschat:getloggingconfiguration");
        r.resource = "arn:aws:ivschat:us-east-1:111111111111:logging-configuration/x";
        assert_eq!(decide(s, &r), Decision::Allow);
    }

    #[test]
    fn string_equals_needs_the_key_and_any_listed_value() {
        let s = r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/app":["web","mobile"]}}}"#;
        let (web, other) = (tags(&[("app", "web")]), tags(&[("app", "WEB")]));
        let mut r = request("ivschat:createchattoken");
        assert_eq!(decide(s, &r), Decision::ImplicitDeny, "absent key");
        r.resource_tags = Some(&web);
        assert_eq!(decide(s, &r), Decision::Allow);
        r.resource_tags = Some(&other);
        assert_eq!(
            decide(s, &r),
            Decision::ImplicitDeny,
            "values are case-sensitive"
        );
    }

    #[test]
    fn the_tag_key_in_a_condition_key_is_case_insensitive() {
        let s = r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:requesttag/APP":"web"}}}"#;
        let web = tags(&[("App", "web")]);
        let mut r = request("ivschat:createroom");
        r.request_tags = Some(&web);
        assert_eq!(decide(s, &r), Decision::Allow);
    }

    #[test]
    fn string_not_equals_holds_for_a_missing_key_and_for_other_values() {
        let s = r#"{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringNotEquals":{"aws:RequestTag/app":"web"}}}"#;
        let (web, mobile) = (tags(&[("app", "web")]), tags(&[("app", "mobile")]));
        let mut r = request("ivschat:createroom");
        assert_eq!(decide(s, &r), Decision::ExplicitDeny, "absent key");
        r.request_tags = Some(&mobile);
        assert_eq!(decide(s, &r), Decision::ExplicitDeny);
        r.request_tags = Some(&web);
        assert_eq!(decide(s, &r), Decision::ImplicitDeny);
    }

    #[test]
    fn string_like_and_not_like_use_wildcards() {
        let like = r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringLike":{"aws:RequestTag/app":"w?b*"}}}"#;
        let not_like = r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringNotLike":{"aws:RequestTag/app":"w?b*"}}}"#;
        let (webapp, api) = (tags(&[("app", "webapp")]), tags(&[("app", "api")]));
        let mut r = request("ivschat:createroom");
        r.request_tags = Some(&webapp);
        assert_eq!(decide(like, &r), Decision::Allow);
        assert_eq!(decide(not_like, &r), Decision::ImplicitDeny);
        r.request_tags = Some(&api);
        assert_eq!(decide(like, &r), Decision::ImplicitDeny);
        assert_eq!(decide(not_like, &r), Decision::Allow);
    }

    #[test]
    fn null_tests_presence() {
        let must_have = r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Null":{"aws:RequestTag/app":"false"}}}"#;
        let must_lack = r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Null":{"aws:RequestTag/app":true}}}"#;
        let web = tags(&[("app", "web")]);
        let mut r = request("ivschat:createroom");
        assert_eq!(decide(must_have, &r), Decision::ImplicitDeny);
        assert_eq!(decide(must_lack, &r), Decision::Allow);
        r.request_tags = Some(&web);
        assert_eq!(decide(must_have, &r), Decision::Allow);
        assert_eq!(decide(must_lack, &r), Decision::ImplicitDeny);
    }

    #[test]
    fn for_all_values_needs_every_key_listed_and_holds_without_keys() {
        let s = r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["app","env"]}}}"#;
        let mut r = request("ivschat:tagresource");
        assert_eq!(decide(s, &r), Decision::Allow, "vacuously true");
        r.tag_keys = &["app", "env"];
        assert_eq!(decide(s, &r), Decision::Allow);
        r.tag_keys = &["app", "owner"];
        assert_eq!(decide(s, &r), Decision::ImplicitDeny);
    }

    #[test]
    fn for_any_value_needs_one_key_listed_and_fails_without_keys() {
        let s = r#"{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"ForAnyValue:StringLike":{"aws:TagKeys":"sys*"}}}"#;
        let mut r = request("ivschat:untagresource");
        assert_eq!(decide(s, &r), Decision::ImplicitDeny);
        r.tag_keys = &["app", "system"];
        assert_eq!(decide(s, &r), Decision::ExplicitDeny);
        r.tag_keys = &["app"];
        assert_eq!(decide(s, &r), Decision::ImplicitDeny);
    }

    #[test]
    fn a_multivalued_key_without_qualifier_matches_on_any_value() {
        let eq = r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:TagKeys":"app"}}}"#;
        let ne = r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringNotEquals":{"aws:TagKeys":"app"}}}"#;
        let mut r = request("ivschat:tagresource");
        r.tag_keys = &["env", "app"];
        assert_eq!(decide(eq, &r), Decision::Allow);
        assert_eq!(decide(ne, &r), Decision::ImplicitDeny);
        r.tag_keys = &["env"];
        assert_eq!(decide(eq, &r), Decision::ImplicitDeny);
        assert_eq!(decide(ne, &r), Decision::Allow);
    }

    #[test]
    fn if_exists_makes_a_missing_key_pass() {
        let s = r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEqualsIfExists":{"aws:ResourceTag/app":"web"}}}"#;
        let (web, api) = (tags(&[("app", "web")]), tags(&[("app", "api")]));
        let mut r = request("ivschat:getroom");
        assert_eq!(decide(s, &r), Decision::Allow);
        r.resource_tags = Some(&api);
        assert_eq!(decide(s, &r), Decision::ImplicitDeny);
        r.resource_tags = Some(&web);
        assert_eq!(decide(s, &r), Decision::Allow);
    }

    #[test]
    fn conditions_combine_with_and() {
        let s = r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{
            "StringEquals":{"aws:RequestTag/app":"web","aws:RequestTag/env":"prod"}}}"#;
        let (both, one) = (
            tags(&[("app", "web"), ("env", "prod")]),
            tags(&[("app", "web")]),
        );
        let mut r = request("ivschat:createroom");
        r.request_tags = Some(&both);
        assert_eq!(decide(s, &r), Decision::Allow);
        r.request_tags = Some(&one);
        assert_eq!(decide(s, &r), Decision::ImplicitDeny);
    }

    #[test]
    fn a_deny_whose_condition_fails_does_not_deny() {
        let s = format!(
            r#"{ALLOW_ALL},{{"Effect":"Deny","Action":"*","Resource":"*","Condition":{{"StringEquals":{{"aws:ResourceTag/locked":"yes"}}}}}}"#
        );
        let locked = tags(&[("locked", "yes")]);
        let mut r = request("ivschat:deleteroom");
        assert_eq!(decide(&s, &r), Decision::Allow);
        r.resource_tags = Some(&locked);
        assert_eq!(decide(&s, &r), Decision::ExplicitDeny);
    }
}
