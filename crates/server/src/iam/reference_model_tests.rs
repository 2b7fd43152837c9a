//! The parser + evaluator against a small reference model that is obviously right: random
//! policies are written out as JSON, parsed and evaluated by the real code, and decided
//! again by a direct reading of the IAM rules over the un-parsed description (a recursive
//! wildcard matcher, "any Deny, else any Allow").

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::eval::{evaluate, Decision, RequestContext};
use super::policy::Policy;

#[derive(Debug, Clone)]
struct ModelStatement {
    deny: bool,
    not_action: bool,
    actions: Vec<&'static str>,
    not_resource: bool,
    resources: Vec<&'static str>,
    conditions: Vec<ModelCondition>,
}

#[derive(Debug, Clone)]
struct ModelCondition {
    qualifier: &'static str,
    operator: &'static str,
    if_exists: bool,
    key: &'static str,
    values: Vec<&'static str>,
}

#[derive(Debug, Clone)]
struct ModelRequest {
    action: &'static str,
    resource: &'static str,
    request_tags: Option<BTreeMap<String, String>>,
    tag_keys: Vec<&'static str>,
    resource_tags: Option<BTreeMap<String, String>>,
}

const ACTIONS: &[&str] = &[
    "*",
    "ivschat:*",
    "ivschat:GetRoom",
    "IVSCHAT:getroom",
    "ivschat:Get*",
    "ivschat:?eleteRoom",
    "ivschat:CreateChatToken",
    "s3:GetObject",
];
const REQUEST_ACTIONS: &[&str] = &[
    "ivschat:getroom",
    "ivschat:deleteroom",
    "ivschat:createchattoken",
    "ivschat:listrooms",
];
const RESOURCES: &[&str] = &[
    "*",
    "arn:aws:ivschat:us-east-1:111111111111:room/*",
    "arn:aws:ivschat:*:*:room/a?",
    "arn:aws:ivschat:us-east-1:111111111111:room/ab",
    "arn:aws:ivschat:us-east-1:111111111111:room/AB",
    "arn:aws:ivschat:*:111111111111:logging-configuration/*",
];
const REQUEST_RESOURCES: &[&str] = &[
    "*",
    "arn:aws:ivschat:us-east-1:111111111111:room/ab",
    "arn:aws:ivschat:us-east-1:111111111111:room/AB",
    "arn:aws:ivschat:us-east-1:111111111111:room/abc",
    "arn:aws:ivschat:us-east-1:111111111111:logging-configuration/ab",
];
const KEYS: &[&str] = &[
    "aws:RequestTag/app",
    "aws:requesttag/APP",
    "aws:RequestTag/env",
    "aws:ResourceTag/app",
    "AWS:ResourceTag/Env",
    "aws:TagKeys",
];
const VALUES: &[&str] = &["web", "w*", "prod", "app", "env", "?nv", "WEB"];
const TAG_VALUES: &[&str] = &["web", "WEB", "wx", "prod"];

fn pick(options: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
    prop::sample::select(options)
}

fn condition() -> impl Strategy<Value = ModelCondition> {
    (
        pick(&["", "ForAllValues:", "ForAnyValue:"]),
        pick(&[
            "StringEquals",
            "StringNotEquals",
            "StringLike",
            "StringNotLike",
            "Null",
        ]),
        any::<bool>(),
        pick(KEYS),
        prop::collection::vec(pick(VALUES), 1..3),
        prop::collection::vec(pick(&["true", "false"]), 1..3),
    )
        .prop_map(
            |(qualifier, operator, if_exists, key, values, null_values)| {
                let null = operator == "Null";
                ModelCondition {
                    qualifier,
                    operator,
                    if_exists: if_exists && !null,
                    key,
                    values: if null { null_values } else { values },
                }
            },
        )
}

fn statement() -> impl Strategy<Value = ModelStatement> {
    (
        any::<bool>(),
        prop::bool::weighted(0.2),
        prop::collection::vec(pick(ACTIONS), 1..3),
        prop::bool::weighted(0.2),
        prop::collection::vec(pick(RESOURCES), 1..3),
        prop::collection::vec(condition(), 0..3),
    )
        .prop_map(
            |(deny, not_action, actions, not_resource, resources, conditions)| ModelStatement {
                deny,
                not_action,
                actions,
                not_resource,
                resources,
                conditions,
            },
        )
}

fn tag_map() -> impl Strategy<Value = Option<BTreeMap<String, String>>> {
    prop::option::of(
        prop::collection::btree_map(pick(&["app", "Env"]), pick(TAG_VALUES), 0..3).prop_map(|m| {
            m.into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        }),
    )
}

fn request() -> impl Strategy<Value = ModelRequest> {
    (
        pick(REQUEST_ACTIONS),
        pick(REQUEST_RESOURCES),
        tag_map(),
        prop::collection::vec(pick(&["app", "env", "owner"]), 0..3),
        tag_map(),
    )
        .prop_map(
            |(action, resource, request_tags, tag_keys, resource_tags)| ModelRequest {
                action,
                resource,
                request_tags,
                tag_keys,
                resource_tags,
            },
        )
}

/// The model statements as a policy document. Conditions with the same operator share one
/// JSON object, so the model must not hold the same operator and key twice
/// ([`dedup_conditions`]).
fn to_json(statements: &[ModelStatement]) -> String {
    let list = |items: &[&str]| serde_json::to_string(items).unwrap();
    let statements: Vec<String> = statements
        .iter()
        .map(|s| {
            let mut blocks: BTreeMap<String, BTreeMap<&str, Vec<&str>>> = BTreeMap::new();
            for c in &s.conditions {
                let op = format!(
                    "{}{}{}",
                    c.qualifier,
                    c.operator,
                    if c.if_exists { "IfExists" } else { "" }
                );
                blocks
                    .entry(op)
                    .or_default()
                    .insert(c.key, c.values.clone());
            }
            format!(
                r#"{{"Effect":"{}","{}":{},"{}":{},"Condition":{}}}"#,
                if s.deny { "Deny" } else { "Allow" },
                if s.not_action { "NotAction" } else { "Action" },
                list(&s.actions),
                if s.not_resource {
                    "NotResource"
                } else {
                    "Resource"
                },
                list(&s.resources),
                serde_json::to_string(&blocks).unwrap()
            )
        })
        .collect();
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    )
}

/// Removes conditions the JSON cannot hold twice (same operator and same key, case included:
/// the later one wins in the JSON object, so the model keeps the later one too).
fn dedup_conditions(statement: &mut ModelStatement) {
    let mut kept: Vec<ModelCondition> = Vec::new();
    for c in statement.conditions.drain(..) {
        kept.retain(|k| {
            !(k.qualifier == c.qualifier
                && k.operator == c.operator
                && k.if_exists == c.if_exists
                && k.key == c.key)
        });
        kept.push(c);
    }
    statement.conditions = kept;
}

// ---------------------------------------------------------------- the reference model

fn glob(pattern: &[char], text: &[char]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some(('*', rest)) => glob(rest, text) || (!text.is_empty() && glob(pattern, &text[1..])),
        Some(('?', rest)) => !text.is_empty() && glob(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && glob(rest, &text[1..]),
    }
}

fn like(pattern: &str, text: &str) -> bool {
    glob(
        &pattern.chars().collect::<Vec<_>>(),
        &text.chars().collect::<Vec<_>>(),
    )
}

/// The values of a condition key in the request: `None` when absent.
fn key_values(key: &str, r: &ModelRequest) -> Option<Vec<String>> {
    let key = key.to_lowercase();
    let tag = |tags: &Option<BTreeMap<String, String>>, name: &str| {
        tags.as_ref().and_then(|t| {
            t.iter()
                .find(|(k, _)| k.to_lowercase() == name)
                .map(|(_, v)| vec![v.clone()])
        })
    };
    if let Some(name) = key.strip_prefix("aws:requesttag/") {
        tag(&r.request_tags, name)
    } else if let Some(name) = key.strip_prefix("aws:resourcetag/") {
        tag(&r.resource_tags, name)
    } else if r.tag_keys.is_empty() {
        None
    } else {
        Some(r.tag_keys.iter().map(|k| k.to_string()).collect())
    }
}

fn reference_condition(c: &ModelCondition, r: &ModelRequest) -> bool {
    let values = key_values(c.key, r);
    if c.operator == "Null" {
        return c.values.iter().any(|v| (*v == "true") == values.is_none());
    }
    let Some(values) = values else {
        // IAM: IfExists passes a missing key; ForAllValues holds for the empty set;
        // ForAnyValue does not; a plain negated operator holds, a plain positive one fails.
        return c.if_exists
            || c.qualifier == "ForAllValues:"
            || (c.qualifier.is_empty() && c.operator.contains("Not"));
    };
    let positive = |v: &str| {
        c.values.iter().any(|p| {
            if c.operator.contains("Like") {
                like(p, v)
            } else {
                p == &v
            }
        })
    };
    let negated = c.operator.contains("Not");
    let ok = |v: &String| positive(v) != negated;
    match c.qualifier {
        "ForAllValues:" => values.iter().all(ok),
        "ForAnyValue:" => values.iter().any(ok),
        // No qualifier: "some value matches", negated for the Not operators.
        _ => values.iter().any(|v| positive(v)) != negated,
    }
}

fn reference_applies(s: &ModelStatement, r: &ModelRequest) -> bool {
    let action = s.actions.iter().any(|a| like(&a.to_lowercase(), r.action)) != s.not_action;
    let resource = s.resources.iter().any(|p| like(p, r.resource)) != s.not_resource;
    action && resource && s.conditions.iter().all(|c| reference_condition(c, r))
}

fn reference(statements: &[ModelStatement], r: &ModelRequest) -> Decision {
    let applying: Vec<&ModelStatement> = statements
        .iter()
        .filter(|s| reference_applies(s, r))
        .collect();
    if applying.iter().any(|s| s.deny) {
        Decision::ExplicitDeny
    } else if applying.iter().any(|s| !s.deny) {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn evaluator_agrees_with_the_reference_model(
        mut statements in prop::collection::vec(statement(), 1..4),
        r in request(),
    ) {
        statements.iter_mut().for_each(dedup_conditions);
        let json = to_json(&statements);
        let policy = Policy::parse(&json).unwrap();
        let tag_keys: Vec<&str> = r.tag_keys.clone();
        let context = RequestContext {
            action: r.action,
            resource: r.resource,
            request_tags: r.request_tags.as_ref(),
            tag_keys: &tag_keys,
            resource_tags: r.resource_tags.as_ref(),
        };
        prop_assert_eq!(evaluate([&policy], &context), reference(&statements, &r), "{}", json);
    }
}
