//! IAM policy documents: parsing the JSON into a compiled [`Policy`], once, at start-up.
//!
//! The grammar is AWS's (IAM JSON policy reference): `Version`, `Statement` (one object or an
//! array), and per statement `Sid`, `Effect`, `Action`/`NotAction`, `Resource`/`NotResource`
//! (a string or an array of strings) and `Condition`. Compilation lowercases action patterns
//! and turns every pattern into a [`Wildcard`], so evaluation (`eval.rs`) neither allocates nor
//! parses. Anything this server would not evaluate exactly as AWS does (an unknown element or
//! operator, a condition key ivschat does not have, a policy variable) is refused with an
//! error naming the statement and the field, rather than silently ignored: a policy that
//! means less than its author thinks is a security hole.

use std::fmt;

use serde_json::{Map, Value};

use super::wildcard::Wildcard;

/// One parsed policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    /// Matched against lowercase action names (`ivschat:createroom`).
    pub actions: Matcher,
    pub resources: Matcher,
    /// All must hold (AND).
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// `Action` (any pattern matches) or `NotAction` (no pattern matches); same for resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    pub negated: bool,
    pub patterns: Vec<Wildcard>,
}

impl Matcher {
    pub fn matches(&self, text: &str) -> bool {
        self.patterns.iter().any(|p| p.matches(text)) != self.negated
    }
}

/// One `"<operator>": { "<key>": <values> }` entry of a `Condition` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub operator: Operator,
    pub qualifier: SetQualifier,
    /// `…IfExists`: an absent key makes the condition true.
    pub if_exists: bool,
    pub key: ConditionKey,
    /// The policy's values; for `Null`, `"true"`/`"false"`.
    pub values: Vec<Wildcard>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    StringEquals,
    StringNotEquals,
    StringLike,
    StringNotLike,
    Null,
}

impl Operator {
    /// The negated operators are true when the value matches none of the policy's values.
    pub fn is_negated(self) -> bool {
        matches!(self, Operator::StringNotEquals | Operator::StringNotLike)
    }
}

/// `ForAllValues:` / `ForAnyValue:` prefixes, for multivalued keys such as `aws:TagKeys`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetQualifier {
    None,
    ForAllValues,
    ForAnyValue,
}

/// The condition keys ivschat supports (Service Authorization Reference). Key names are
/// case-insensitive, and so is the tag-key part of the tag keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConditionKey {
    /// `aws:RequestTag/<key>`: a tag in the request (CreateRoom, CreateLoggingConfiguration,
    /// TagResource).
    RequestTag(String),
    /// `aws:ResourceTag/<key>`: a tag the existing resource carries.
    ResourceTag(String),
    /// `aws:TagKeys`: the tag keys in the request (multivalued).
    TagKeys,
}

/// Why a policy document was refused: where (statement index and Sid, element) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// Index in `Statement` (0 when it is a single object) and the statement's Sid.
    pub statement: Option<(usize, Option<String>)>,
    /// The policy element: `Version`, `Action`, `Condition.StringEquals.aws:TagKeys`, …
    pub field: String,
    pub problem: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.statement {
            Some((index, Some(sid))) => write!(f, "Statement[{index}] (Sid {sid:?}), ")?,
            Some((index, None)) => write!(f, "Statement[{index}], ")?,
            None => {}
        }
        write!(f, "{}: {}", self.field, self.problem)
    }
}

impl std::error::Error for PolicyError {}

const VERSION_2012: &str = "2012-10-17";
const VERSION_2008: &str = "2008-10-17";

impl Policy {
    /// Parses and compiles one policy document.
    pub fn parse(json: &str) -> Result<Policy, PolicyError> {
        let top = |field: &str, problem: String| PolicyError {
            statement: None,
            field: field.to_string(),
            problem,
        };
        let value: Value = serde_json::from_str(json)
            .map_err(|e| top("(document)", format!("not valid JSON: {e}")))?;
        let Value::Object(doc) = value else {
            return Err(top("(document)", "must be a JSON object".into()));
        };
        for key in doc.keys() {
            if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
                return Err(top(
                    key,
                    "unknown policy element (allowed: Version, Id, Statement)".into(),
                ));
            }
        }
        // Without a Version, AWS reads a policy as 2008-10-17.
        let version = match doc.get("Version") {
            None => VERSION_2008,
            Some(Value::String(v)) if v == VERSION_2012 => VERSION_2012,
            Some(Value::String(v)) if v == VERSION_2008 => VERSION_2008,
            Some(other) => {
                return Err(top(
                    "Version",
                    format!("must be \"{VERSION_2012}\" (or \"{VERSION_2008}\"), not {other}"),
                ))
            }
        };
        let statements = match doc.get("Statement") {
            Some(Value::Object(one)) => vec![one],
            Some(Value::Array(many)) if !many.is_empty() => many
                .iter()
                .enumerate()
                .map(|(i, s)| match s {
                    Value::Object(s) => Ok(s),
                    _ => Err(PolicyError {
                        statement: Some((i, None)),
                        field: "Statement".into(),
                        problem: "each statement must be a JSON object".into(),
                    }),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(top(
                    "Statement",
                    "must be a statement object or a non-empty array of them".into(),
                ))
            }
            None => return Err(top("Statement", "is missing".into())),
        };
        let statements = statements
            .into_iter()
            .enumerate()
            .map(|(index, s)| parse_statement(index, s, version))
            .collect::<Result<_, _>>()?;
        Ok(Policy { statements })
    }

    /// True when a condition reads `aws:ResourceTag/…`: only then does a request need the
    /// resource's tags from the store.
    pub fn uses_resource_tags(&self) -> bool {
        self.statements.iter().any(|s| {
            s.conditions
                .iter()
                .any(|c| matches!(c.key, ConditionKey::ResourceTag(_)))
        })
    }
}

fn parse_statement(
    index: usize,
    s: &Map<String, Value>,
    version: &str,
) -> Result<Statement, PolicyError> {
    let sid = match s.get("Sid") {
        None => None,
        Some(Value::String(sid)) => Some(sid.clone()),
        Some(_) => {
            return Err(PolicyError {
                statement: Some((index, None)),
                field: "Sid".into(),
                problem: "must be a string".into(),
            })
        }
    };
    let err = |field: &str, problem: String| PolicyError {
        statement: Some((index, sid.clone())),
        field: field.to_string(),
        problem,
    };
    for key in s.keys() {
        match key.as_str() {
            "Sid" | "Effect" | "Action" | "NotAction" | "Resource" | "NotResource"
            | "Condition" => {}
            "Principal" | "NotPrincipal" => {
                return Err(err(
                    key,
                    "identity-based policies (the ones attached to users) have no principal".into(),
                ))
            }
            _ => {
                return Err(err(
                    key,
                    "unknown statement element (allowed: Sid, Effect, Action, NotAction, \
                     Resource, NotResource, Condition)"
                        .into(),
                ))
            }
        }
    }
    let effect = match s.get("Effect") {
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(other) => {
            return Err(err(
                "Effect",
                format!("must be \"Allow\" or \"Deny\", not {other}"),
            ))
        }
        None => return Err(err("Effect", "is missing".into())),
    };
    let (action_field, negated, list) =
        one_of(s, "Action", "NotAction").map_err(|p| err("Action", p))?;
    let patterns = strings(list)
        .map_err(|p| err(action_field, p))?
        .into_iter()
        .map(|a| {
            if a == "*" || a.split_once(':').is_some_and(|(svc, _)| !svc.is_empty()) {
                Ok(Wildcard::compile_lowercase(a))
            } else {
                Err(err(
                    action_field,
                    format!("{a:?} is not an action: write service:Action, e.g. ivschat:CreateChatToken"),
                ))
            }
        })
        .collect::<Result<_, _>>()?;
    let actions = Matcher { negated, patterns };
    let (resource_field, negated, list) =
        one_of(s, "Resource", "NotResource").map_err(|p| err("Resource", p))?;
    let patterns = strings(list)
        .map_err(|p| err(resource_field, p))?
        .into_iter()
        .map(|r| {
            if r != "*" && !r.starts_with("arn:") {
                return Err(err(
                    resource_field,
                    format!(
                        "{r:?} is not an ARN (arn:aws:ivschat:<region>:<account>:room/<id>) or *"
                    ),
                ));
            }
            check_no_variables(r, version).map_err(|p| err(resource_field, p))?;
            Ok(Wildcard::compile(r))
        })
        .collect::<Result<_, _>>()?;
    let resources = Matcher { negated, patterns };
    let conditions = match s.get("Condition") {
        None => Vec::new(),
        Some(Value::Object(block)) => {
            parse_conditions(block, version).map_err(|(field, p)| err(&field, p))?
        }
        Some(_) => return Err(err("Condition", "must be a JSON object".into())),
    };
    Ok(Statement {
        sid,
        effect,
        actions,
        resources,
        conditions,
    })
}

/// Exactly one of the element and its `Not` form; returns (name, negated, value).
fn one_of<'a>(
    s: &'a Map<String, Value>,
    positive: &'static str,
    negative: &'static str,
) -> Result<(&'static str, bool, &'a Value), String> {
    match (s.get(positive), s.get(negative)) {
        (Some(v), None) => Ok((positive, false, v)),
        (None, Some(v)) => Ok((negative, true, v)),
        (Some(_), Some(_)) => Err(format!(
            "a statement has {positive} or {negative}, not both"
        )),
        (None, None) => Err(format!("a statement needs {positive} or {negative}")),
    }
}

/// A string or a non-empty array of strings.
fn strings(value: &Value) -> Result<Vec<&str>, String> {
    match value {
        Value::String(s) => Ok(vec![s.as_str()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| format!("must hold strings only, not {v}"))
            })
            .collect(),
        _ => Err("must be a string or a non-empty array of strings".into()),
    }
}

/// Version 2012-10-17 gives `${…}` a meaning (policy variables) this server does not
/// implement; taking it literally would make the policy mean something else.
fn check_no_variables(s: &str, version: &str) -> Result<(), String> {
    if version == VERSION_2012 && s.contains("${") {
        return Err(format!(
            "{s:?} uses a policy variable (${{…}}), which this server does not support"
        ));
    }
    Ok(())
}

fn parse_conditions(
    block: &Map<String, Value>,
    version: &str,
) -> Result<Vec<Condition>, (String, String)> {
    let mut conditions = Vec::new();
    for (operator_name, entries) in block {
        let field = format!("Condition.{operator_name}");
        let (qualifier, operator, if_exists) =
            parse_operator(operator_name).map_err(|p| (field.clone(), p))?;
        let Value::Object(entries) = entries else {
            return Err((field, "must map condition keys to values".into()));
        };
        if entries.is_empty() {
            return Err((field, "names no condition key".into()));
        }
        for (key_name, values) in entries {
            let field = format!("{field}.{key_name}");
            let key = parse_key(key_name).map_err(|p| (field.clone(), p))?;
            let values = condition_values(values).map_err(|p| (field.clone(), p))?;
            let values = values
                .iter()
                .map(|v| {
                    check_no_variables(v, version)?;
                    Ok(match operator {
                        Operator::StringLike | Operator::StringNotLike => Wildcard::compile(v),
                        Operator::Null if v != "true" && v != "false" => {
                            return Err(format!("Null takes \"true\" or \"false\", not {v:?}"))
                        }
                        _ => Wildcard::Exact(v.clone()),
                    })
                })
                .collect::<Result<_, String>>()
                .map_err(|p| (field.clone(), p))?;
            conditions.push(Condition {
                operator,
                qualifier,
                if_exists,
                key,
                values,
            });
        }
    }
    Ok(conditions)
}

fn parse_operator(name: &str) -> Result<(SetQualifier, Operator, bool), String> {
    let (qualifier, rest) = if let Some(rest) = name.strip_prefix("ForAllValues:") {
        (SetQualifier::ForAllValues, rest)
    } else if let Some(rest) = name.strip_prefix("ForAnyValue:") {
        (SetQualifier::ForAnyValue, rest)
    } else {
        (SetQualifier::None, name)
    };
    let (rest, if_exists) = match rest.strip_suffix("IfExists") {
        Some(base) => (base, true),
        None => (rest, false),
    };
    let operator = match rest {
        "StringEquals" => Operator::StringEquals,
        "StringNotEquals" => Operator::StringNotEquals,
        "StringLike" => Operator::StringLike,
        "StringNotLike" => Operator::StringNotLike,
        "Null" if !if_exists => Operator::Null,
        _ => {
            return Err("unsupported condition operator (supported: StringEquals, \
                 StringNotEquals, StringLike, StringNotLike, each with an optional IfExists \
                 suffix, and Null; optionally prefixed ForAllValues: or ForAnyValue:)"
                .to_string())
        }
    };
    Ok((qualifier, operator, if_exists))
}

fn parse_key(name: &str) -> Result<ConditionKey, String> {
    let lower = name.to_ascii_lowercase();
    let tag = |prefix: &str| -> Option<Result<String, String>> {
        lower.starts_with(prefix).then(|| {
            let tag_key = &name[prefix.len()..];
            if tag_key.is_empty() {
                Err(format!("{name:?} names no tag key"))
            } else {
                Ok(tag_key.to_string())
            }
        })
    };
    if let Some(key) = tag("aws:requesttag/") {
        return key.map(ConditionKey::RequestTag);
    }
    if let Some(key) = tag("aws:resourcetag/") {
        return key.map(ConditionKey::ResourceTag);
    }
    if lower == "aws:tagkeys" {
        return Ok(ConditionKey::TagKeys);
    }
    Err(format!(
        "condition key {name:?} is not supported by this server (supported: \
         aws:RequestTag/<tag-key>, aws:ResourceTag/<tag-key>, aws:TagKeys)"
    ))
}

/// A value or a non-empty array of values; AWS also accepts numbers and booleans and
/// compares them as their text.
fn condition_values(value: &Value) -> Result<Vec<String>, String> {
    let one = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(format!("condition values must be strings, not {other}")),
    };
    match value {
        Value::Array(items) if !items.is_empty() => items.iter().map(one).collect(),
        Value::Array(_) => Err("must list at least one value".into()),
        other => Ok(vec![one(other)?]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(json: &str) -> String {
        Policy::parse(json).unwrap_err().to_string()
    }

    #[test]
    fn a_single_statement_object_and_string_elements_parse() {
        let p = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ivschat:GetRoom","Resource":"*"}}"#,
        )
        .unwrap();
        assert_eq!(p.statements.len(), 1);
        let s = &p.statements[0];
        assert_eq!(s.effect, Effect::Allow);
        assert_eq!(s.sid, None);
        assert!(s.actions.matches("ivschat:getroom"));
        assert!(s.resources.matches("arn:aws:ivschat:us-east-1:1:room/x"));
    }

    #[test]
    fn action_patterns_are_lowercased_resources_are_not() {
        let p = Policy::parse(
            r#"{"Statement":[{"Effect":"Deny","Action":["IVSCHAT:Get*"],"Resource":["arn:aws:ivschat:*:*:room/AB*"]}]}"#,
        )
        .unwrap();
        let s = &p.statements[0];
        assert!(s.actions.matches("ivschat:getroom"));
        assert!(s.resources.matches("arn:aws:ivschat:r:1:room/ABc"));
        assert!(!s.resources.matches("arn:aws:ivschat:r:1:room/abc"));
    }

    #[test]
    fn not_action_and_not_resource_negate() {
        let p = Policy::parse(
            r#"{"Statement":[{"Effect":"Allow","NotAction":"ivschat:Delete*","NotResource":"arn:aws:ivschat:*:*:logging-configuration/*"}]}"#,
        )
        .unwrap();
        let s = &p.statements[0];
        assert!(s.actions.negated && s.resources.negated);
        assert!(s.actions.matches("ivschat:getroom"));
        assert!(!s.actions.matches("ivschat:deleteroom"));
        assert!(!s
            .resources
            .matches("arn:aws:ivschat:r:1:logging-configuration/x"));
    }

    #[test]
    fn conditions_parse_with_qualifiers_and_case_insensitive_keys() {
        let p = Policy::parse(
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{
                "StringEquals":{"AWS:RESOURCETAG/app":["web","mobile"]},
                "ForAllValues:StringLike":{"aws:tagkeys":"app*"},
                "StringNotEqualsIfExists":{"aws:RequestTag/env":"prod"},
                "Null":{"aws:RequestTag/app":false}}}]}"#,
        )
        .unwrap();
        let c = &p.statements[0].conditions;
        assert_eq!(c.len(), 4);
        assert!(c
            .iter()
            .any(|c| c.key == ConditionKey::ResourceTag("app".into()) && c.values.len() == 2));
        assert!(c.iter().any(|c| c.key == ConditionKey::TagKeys
            && c.qualifier == SetQualifier::ForAllValues
            && c.values[0].matches("app-x")));
        assert!(c
            .iter()
            .any(|c| c.if_exists && c.operator == Operator::StringNotEquals));
        assert!(c
            .iter()
            .any(|c| c.operator == Operator::Null
                && c.values == vec![Wildcard::Exact("false".into())]));
        assert!(p.uses_resource_tags());
    }

    #[test]
    fn uses_resource_tags_only_when_a_condition_reads_them() {
        let p = Policy::parse(
            r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:RequestTag/app":"web"}}}}"#,
        )
        .unwrap();
        assert!(!p.uses_resource_tags());
    }

    #[test]
    fn errors_name_the_statement_sid_and_field() {
        let e = parse_err(
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"Mod","Effect":"Allow","Action":"DeleteMessage","Resource":"*"}]}"#,
        );
        assert!(
            e.starts_with("Statement[1] (Sid \"Mod\"), Action: \"DeleteMessage\" is not an action"),
            "{e}"
        );
        let e = parse_err(r#"{"Statement":[{"Effect":"Permit","Action":"*","Resource":"*"}]}"#);
        assert!(
            e.starts_with("Statement[0], Effect: must be \"Allow\" or \"Deny\""),
            "{e}"
        );
        let e = parse_err(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:SourceIp":"1.2.3.4"}}}}"#,
        );
        assert!(
            e.starts_with("Statement[0], Condition.StringEquals.aws:SourceIp: condition key"),
            "{e}"
        );
    }

    #[test]
    fn malformed_documents_are_refused() {
        for (json, expect) in [
            ("[]", "(document): must be a JSON object"),
            ("{", "(document): not valid JSON"),
            (
                r#"{"Version":"2020-01-01","Statement":[]}"#,
                "Version: must be",
            ),
            (
                r#"{"Statement":[]}"#,
                "Statement: must be a statement object or a non-empty array",
            ),
            (r#"{"Version":"2012-10-17"}"#, "Statement: is missing"),
            (r#"{"Statment":{}}"#, "Statment: unknown policy element"),
            (
                r#"{"Statement":{"Action":"*","Resource":"*"}}"#,
                "Effect: is missing",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Resource":"*"}}"#,
                "Action: a statement needs Action or NotAction",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"*","NotAction":"*","Resource":"*"}}"#,
                "Action: a statement has Action or NotAction, not both",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"*"}}"#,
                "Resource: a statement needs Resource or NotResource",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":[],"Resource":"*"}}"#,
                "Action: must be a string or a non-empty array",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"room/*"}}"#,
                "Resource: \"room/*\" is not an ARN",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Principal":"*"}}"#,
                "Principal: identity-based policies",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericEquals":{"aws:TagKeys":"1"}}}}"#,
                "Condition.NumericEquals: unsupported condition operator",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Null":{"aws:TagKeys":"yes"}}}}"#,
                "Null takes",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:RequestTag/":"x"}}}}"#,
                "names no tag key",
            ),
            (
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:ivschat:*:*:room/${aws:username}"}}"#,
                "policy variable",
            ),
        ] {
            let e = parse_err(json);
            assert!(e.contains(expect), "{json}: {e}");
        }
    }

    #[test]
    fn the_readme_policies_parse() {
        let readme = include_str!("../../../../README.md");
        let section = readme
            .split("## Credentials and permissions")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .unwrap();
        let policies: Vec<&str> = section
            .split("```json\n")
            .skip(1)
            .map(|block| block.split("```").next().unwrap())
            .collect();
        assert_eq!(policies.len(), 3);
        for json in policies {
            Policy::parse(json).unwrap_or_else(|e| panic!("{e}\n{json}"));
        }
    }

    #[test]
    fn policy_variables_are_literal_text_in_version_2008() {
        let p = Policy::parse(
            r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:ivschat:*:*:room/${x}"}}"#,
        )
        .unwrap();
        assert!(p.statements[0]
            .resources
            .matches("arn:aws:ivschat:r:1:room/${x}"));
    }
}
