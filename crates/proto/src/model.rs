//! The AWS service model for Amazon IVS Chat (botocore `ivschat/2020-07-14/service-2.json`,
//! copied to `crates/proto/model/`), embedded in the binary and parsed once.
//!
//! Everything the server knows about routes and input constraints comes from here:
//! operations (method, URI, status code, input/output shapes, errors) and shapes (types,
//! members, `required`, `min`/`max`, `pattern`, `enum`, `union`, `sensitive`).
//! [`crate::validate`] walks these shapes; nothing is copied from the model by hand.
//!
//! Two rules are applied while loading (see `docs/protocol/control-plane.md` §0 and §3):
//! * every `pattern` is a **whole-string** match, compiled once as `^(?:<pattern>)$`
//!   (botocore 1.44.5 dropped the anchors that the Smithy source model has);
//! * the deliberate departures from the model are listed in [`PATTERN_OVERRIDES`], and
//!   nowhere else.
//!
//! Member order is the order of the model file (it decides the order of validation errors),
//! so the JSON objects of the model are read in document order, without going through
//! `serde_json::Map` (which sorts keys unless the `preserve_order` feature is on).

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::LazyLock;

use regex::Regex;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

/// The embedded botocore model.
pub const MODEL_JSON: &str = include_str!("../model/ivschat-service-2.json");

/// A deliberate departure from a `pattern` in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatternOverride {
    /// The shape whose pattern is replaced.
    pub shape: &'static str,
    /// The pattern the model has today. The override is applied only while the model still
    /// says exactly this, so a model update that changes the pattern is noticed (a unit test
    /// checks that every override is applied) instead of being silently papered over.
    pub model_pattern: &'static str,
    /// The pattern used instead (also a whole-string match).
    pub pattern: &'static str,
    /// Why.
    pub reason: &'static str,
}

/// THE list of places where this server does not enforce the model's pattern as written.
pub const PATTERN_OVERRIDES: &[PatternOverride] = &[PatternOverride {
    shape: "ResourceArn",
    model_pattern: "arn:aws:ivschat:[a-z0-9-]+:[0-9]+:[a-z-]/[a-zA-Z0-9-]+",
    pattern: "arn:aws:ivschat:[a-z0-9-]+:[0-9]+:[a-z-]+/[a-zA-Z0-9-]+",
    reason: "The model's `[a-z-]` matches exactly one character before the `/`, so no real \
             `room/…` or `logging-configuration/…` ARN matches and tagging could never work. \
             The real service cannot be enforcing it, and SDKs never check patterns \
             (docs/protocol/control-plane.md §3, the ResourceArn warning). `[a-z-]+` accepts \
             both resource types.",
}];

static MODEL: LazyLock<Model> = LazyLock::new(|| {
    // The model is a compile-time constant covered by unit tests, not client input: failing
    // to load it is a build defect, so there is nothing better to do than stop loudly.
    Model::parse(MODEL_JSON).expect("embedded ivschat service model must load")
});

/// The embedded service model, parsed (and every pattern compiled) on first use.
pub fn model() -> &'static Model {
    &MODEL
}

/// Why a model file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("shape `{from}` refers to unknown shape `{target}`")]
    UnknownShape { from: String, target: String },
    #[error("structure `{shape}` lists unknown required member `{member}`")]
    UnknownRequiredMember { shape: String, member: String },
    #[error("shape `{shape}`: {problem}")]
    BadShape { shape: String, problem: String },
    #[error("shape `{shape}`: pattern does not compile: {error}")]
    BadPattern { shape: String, error: String },
    #[error("operation `{operation}`: {problem}")]
    BadOperation { operation: String, problem: String },
}

/// A parsed service model.
#[derive(Debug)]
pub struct Model {
    api_version: String,
    operations: Vec<Operation>,
    operation_index: HashMap<String, usize>,
    shapes: Vec<Shape>,
    shape_index: HashMap<String, usize>,
}

/// One operation (`operations.<Name>` in the model).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub name: String,
    /// `http.method`, e.g. `POST`.
    pub method: String,
    /// `http.requestUri`, e.g. `/tags/{resourceArn}`.
    pub request_uri: String,
    /// `http.responseCode` (200 when absent).
    pub response_code: u16,
    /// Input shape name.
    pub input: Option<String>,
    /// Output shape name (absent for `DeleteRoom`/`DeleteLoggingConfiguration`: 204, no body).
    pub output: Option<String>,
    /// Modeled error shape names, in model order.
    pub errors: Vec<String>,
    /// `idempotent: true` in the model.
    pub idempotent: bool,
}

/// One shape (`shapes.<Name>` in the model).
#[derive(Debug)]
pub struct Shape {
    pub name: String,
    /// `sensitive: true`: values of this shape, and of everything inside it, must never be
    /// echoed (logs, error messages).
    pub sensitive: bool,
    pub kind: ShapeKind,
}

#[derive(Debug)]
pub enum ShapeKind {
    Structure(StructureShape),
    String(StringShape),
    Integer(IntegerShape),
    List(ListShape),
    Map(MapShape),
    Timestamp(TimestampShape),
    /// A type this model does not use today (boolean, long, blob, …): kept so that a model
    /// update loads, but the validator only checks what it knows.
    Other {
        type_name: String,
    },
}

/// Inclusive length bounds: code points for strings, items for lists, entries for maps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Length {
    pub min: Option<u64>,
    pub max: Option<u64>,
}

impl Length {
    pub fn is_unbounded(&self) -> bool {
        self.min.is_none() && self.max.is_none()
    }

    pub fn contains(&self, n: u64) -> bool {
        self.min.is_none_or(|min| n >= min) && self.max.is_none_or(|max| n <= max)
    }
}

/// Inclusive value bounds of a number shape.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Range {
    pub min: Option<i64>,
    pub max: Option<i64>,
}

impl Range {
    pub fn contains(&self, n: i64) -> bool {
        self.min.is_none_or(|min| n >= min) && self.max.is_none_or(|max| n <= max)
    }
}

#[derive(Debug)]
pub struct StructureShape {
    /// Members in model order.
    pub members: Vec<Member>,
    /// `union: true`: exactly one member must be set.
    pub union: bool,
    /// `exception: true` (an error shape).
    pub exception: bool,
    /// `error.httpStatusCode` of an error shape.
    pub http_status: Option<u16>,
}

impl StructureShape {
    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }
}

/// Where an input member travels on the wire (botocore `location`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// No `location`: a top-level member of the JSON body.
    Body,
    /// `uri`: a `{label}` in `requestUri`.
    Uri,
    /// `querystring`.
    QueryString,
    /// `header`.
    Header,
    /// `headers` (prefix headers).
    Headers,
    /// `statusCode`.
    StatusCode,
}

#[derive(Debug)]
pub struct Member {
    pub name: String,
    /// Target shape name.
    pub target: String,
    pub required: bool,
    pub location: Location,
    /// `locationName`: the label, query parameter or header name.
    pub location_name: Option<String>,
    pub(crate) target_index: usize,
}

#[derive(Debug)]
pub struct StringShape {
    pub length: Length,
    pub pattern: Option<Pattern>,
    /// Allowed values, in model order.
    pub enum_values: Option<Vec<String>>,
}

#[derive(Debug)]
pub struct IntegerShape {
    pub range: Range,
}

#[derive(Debug)]
pub struct ListShape {
    pub member: String,
    pub length: Length,
    pub(crate) member_index: usize,
}

#[derive(Debug)]
pub struct MapShape {
    pub key: String,
    pub value: String,
    pub length: Length,
    pub(crate) key_index: usize,
    pub(crate) value_index: usize,
}

#[derive(Debug)]
pub struct TimestampShape {
    /// botocore `timestampFormat` (`iso8601` for `Time`).
    pub format: Option<String>,
}

/// A compiled `pattern`: always a whole-string match.
#[derive(Debug)]
pub struct Pattern {
    model: String,
    effective: String,
    display: String,
    overridden: bool,
    regex: Regex,
}

impl Pattern {
    fn compile(model: &str, effective: &str, overridden: bool) -> Result<Self, regex::Error> {
        Ok(Pattern {
            model: model.to_owned(),
            effective: effective.to_owned(),
            // How the pattern is quoted in validation messages: the anchored form, which is
            // what the Smithy source model (and the protocol tests' style) shows,
            // e.g. `^[a-zA-Z0-9-_]*$`.
            display: format!("^{effective}$"),
            overridden,
            regex: Regex::new(&format!("^(?:{effective})$"))?,
        })
    }

    /// Whole-string match.
    pub fn is_match(&self, s: &str) -> bool {
        self.regex.is_match(s)
    }

    /// The pattern as written in the model file.
    pub fn model_pattern(&self) -> &str {
        &self.model
    }

    /// The pattern enforced (differs from [`Pattern::model_pattern`] only for an override).
    pub fn effective_pattern(&self) -> &str {
        &self.effective
    }

    /// The anchored form quoted in validation messages.
    pub fn display(&self) -> &str {
        &self.display
    }

    /// Whether this pattern comes from [`PATTERN_OVERRIDES`].
    pub fn is_override(&self) -> bool {
        self.overridden
    }
}

impl Model {
    /// Parses a botocore JSON model, resolving every shape reference and compiling every
    /// pattern (with [`PATTERN_OVERRIDES`] applied).
    pub fn parse(json: &str) -> Result<Model, ModelError> {
        let raw: raw::Model = serde_json::from_str(json)?;

        let mut shape_index = HashMap::with_capacity(raw.shapes.0.len());
        for (i, (name, _)) in raw.shapes.0.iter().enumerate() {
            shape_index.insert(name.clone(), i);
        }
        let resolve = |from: &str, target: &str| -> Result<usize, ModelError> {
            shape_index
                .get(target)
                .copied()
                .ok_or_else(|| ModelError::UnknownShape {
                    from: from.to_owned(),
                    target: target.to_owned(),
                })
        };

        let mut shapes = Vec::with_capacity(raw.shapes.0.len());
        for (name, s) in &raw.shapes.0 {
            let bad = |problem: &str| ModelError::BadShape {
                shape: name.clone(),
                problem: problem.to_owned(),
            };
            let length = || -> Result<Length, ModelError> {
                let conv = |v: Option<i64>| -> Result<Option<u64>, ModelError> {
                    v.map(|n| u64::try_from(n).map_err(|_| bad("negative length bound")))
                        .transpose()
                };
                Ok(Length {
                    min: conv(s.min)?,
                    max: conv(s.max)?,
                })
            };
            let kind = match s.type_name.as_str() {
                "structure" => {
                    let required = s.required.clone().unwrap_or_default();
                    let raw_members = s.members.as_ref().map(|m| m.0.as_slice()).unwrap_or(&[]);
                    for r in &required {
                        if !raw_members.iter().any(|(n, _)| n == r) {
                            return Err(ModelError::UnknownRequiredMember {
                                shape: name.clone(),
                                member: r.clone(),
                            });
                        }
                    }
                    let mut members = Vec::with_capacity(raw_members.len());
                    for (member_name, m) in raw_members {
                        let location = match m.location.as_deref() {
                            None => Location::Body,
                            Some("uri") => Location::Uri,
                            Some("querystring") => Location::QueryString,
                            Some("header") => Location::Header,
                            Some("headers") => Location::Headers,
                            Some("statusCode") => Location::StatusCode,
                            Some(other) => {
                                return Err(bad(&format!(
                                    "member `{member_name}` has unknown location `{other}`"
                                )))
                            }
                        };
                        members.push(Member {
                            name: member_name.clone(),
                            target: m.shape.clone(),
                            required: required.iter().any(|r| r == member_name),
                            location,
                            location_name: m.location_name.clone(),
                            target_index: resolve(name, &m.shape)?,
                        });
                    }
                    ShapeKind::Structure(StructureShape {
                        members,
                        union: s.union.unwrap_or(false),
                        exception: s.exception.unwrap_or(false),
                        http_status: s.error.as_ref().and_then(|e| e.http_status_code),
                    })
                }
                "string" => {
                    let pattern = match &s.pattern {
                        None => None,
                        Some(p) => {
                            let over = PATTERN_OVERRIDES
                                .iter()
                                .find(|o| o.shape == name && o.model_pattern == p);
                            let (effective, overridden) = match over {
                                Some(o) => (o.pattern, true),
                                None => (p.as_str(), false),
                            };
                            Some(Pattern::compile(p, effective, overridden).map_err(|e| {
                                ModelError::BadPattern {
                                    shape: name.clone(),
                                    error: e.to_string(),
                                }
                            })?)
                        }
                    };
                    ShapeKind::String(StringShape {
                        length: length()?,
                        pattern,
                        enum_values: s.enum_values.clone(),
                    })
                }
                "integer" => ShapeKind::Integer(IntegerShape {
                    range: Range {
                        min: s.min,
                        max: s.max,
                    },
                }),
                "list" => {
                    let member = s
                        .member
                        .as_ref()
                        .ok_or_else(|| bad("list without member"))?;
                    ShapeKind::List(ListShape {
                        member: member.shape.clone(),
                        length: length()?,
                        member_index: resolve(name, &member.shape)?,
                    })
                }
                "map" => {
                    let key = s.key.as_ref().ok_or_else(|| bad("map without key"))?;
                    let value = s.value.as_ref().ok_or_else(|| bad("map without value"))?;
                    ShapeKind::Map(MapShape {
                        key: key.shape.clone(),
                        value: value.shape.clone(),
                        length: length()?,
                        key_index: resolve(name, &key.shape)?,
                        value_index: resolve(name, &value.shape)?,
                    })
                }
                "timestamp" => ShapeKind::Timestamp(TimestampShape {
                    format: s.timestamp_format.clone(),
                }),
                other => ShapeKind::Other {
                    type_name: other.to_owned(),
                },
            };
            shapes.push(Shape {
                name: name.clone(),
                sensitive: s.sensitive.unwrap_or(false),
                kind,
            });
        }

        // A map key must be a string shape (JSON object keys are strings).
        for s in &shapes {
            if let ShapeKind::Map(m) = &s.kind {
                if !matches!(shapes[m.key_index].kind, ShapeKind::String(_)) {
                    return Err(ModelError::BadShape {
                        shape: s.name.clone(),
                        problem: "map key is not a string shape".to_owned(),
                    });
                }
            }
        }

        let mut operations = Vec::with_capacity(raw.operations.0.len());
        let mut operation_index = HashMap::with_capacity(raw.operations.0.len());
        for (key, o) in &raw.operations.0 {
            let bad = |problem: String| ModelError::BadOperation {
                operation: key.clone(),
                problem,
            };
            let name = o.name.clone().unwrap_or_else(|| key.clone());
            if &name != key {
                return Err(bad(format!("name `{name}` differs from its key")));
            }
            for r in o
                .input
                .iter()
                .chain(&o.output)
                .chain(o.errors.iter().flatten())
            {
                resolve(key, &r.shape)?;
            }
            if let Some(input) = &o.input {
                if !matches!(
                    shapes[resolve(key, &input.shape)?].kind,
                    ShapeKind::Structure(_)
                ) {
                    return Err(bad("input is not a structure".to_owned()));
                }
            }
            operation_index.insert(name.clone(), operations.len());
            operations.push(Operation {
                name,
                method: o.http.method.clone(),
                request_uri: o.http.request_uri.clone(),
                response_code: o.http.response_code.unwrap_or(200),
                input: o.input.as_ref().map(|r| r.shape.clone()),
                output: o.output.as_ref().map(|r| r.shape.clone()),
                errors: o.errors.iter().flatten().map(|r| r.shape.clone()).collect(),
                idempotent: o.idempotent.unwrap_or(false),
            });
        }

        Ok(Model {
            api_version: raw.metadata.api_version,
            operations,
            operation_index,
            shapes,
            shape_index,
        })
    }

    /// `metadata.apiVersion` (`2020-07-14`).
    pub fn api_version(&self) -> &str {
        &self.api_version
    }

    /// All operations, in model order.
    pub fn operations(&self) -> impl Iterator<Item = &Operation> {
        self.operations.iter()
    }

    pub fn operation(&self, name: &str) -> Option<&Operation> {
        self.operation_index.get(name).map(|&i| &self.operations[i])
    }

    /// All shapes, in model order.
    pub fn shapes(&self) -> impl Iterator<Item = &Shape> {
        self.shapes.iter()
    }

    pub fn shape(&self, name: &str) -> Option<&Shape> {
        self.shape_index.get(name).map(|&i| &self.shapes[i])
    }

    /// The input structure of an operation.
    pub fn input_of(&self, operation: &Operation) -> Option<&StructureShape> {
        match &self.shape(operation.input.as_deref()?)?.kind {
            ShapeKind::Structure(s) => Some(s),
            _ => None,
        }
    }

    /// The shape a member, list member, map key or map value points to (resolved at load).
    pub(crate) fn shape_at(&self, index: usize) -> &Shape {
        &self.shapes[index]
    }

    pub(crate) fn shape_index(&self, name: &str) -> Option<usize> {
        self.shape_index.get(name).copied()
    }
}

/// A JSON object read in document order.
struct Ordered<T>(Vec<(String, T)>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for OrderedVisitor<T> {
            type Value = Ordered<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::with_capacity(access.size_hint().unwrap_or(0));
                while let Some(entry) = access.next_entry::<String, T>()? {
                    entries.push(entry);
                }
                Ok(Ordered(entries))
            }
        }

        deserializer.deserialize_map(OrderedVisitor(PhantomData))
    }
}

/// The botocore JSON as written; only the fields this crate uses.
mod raw {
    use serde::Deserialize;

    use super::Ordered;

    #[derive(Deserialize)]
    pub(super) struct Model {
        pub metadata: Metadata,
        pub operations: Ordered<Operation>,
        pub shapes: Ordered<Shape>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Metadata {
        pub api_version: String,
    }

    #[derive(Deserialize)]
    pub(super) struct Operation {
        pub name: Option<String>,
        pub http: Http,
        pub input: Option<ShapeRef>,
        pub output: Option<ShapeRef>,
        pub errors: Option<Vec<ShapeRef>>,
        pub idempotent: Option<bool>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Http {
        pub method: String,
        pub request_uri: String,
        pub response_code: Option<u16>,
    }

    #[derive(Deserialize)]
    pub(super) struct ShapeRef {
        pub shape: String,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Member {
        pub shape: String,
        pub location: Option<String>,
        pub location_name: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Shape {
        #[serde(rename = "type")]
        pub type_name: String,
        pub members: Option<Ordered<Member>>,
        pub required: Option<Vec<String>>,
        pub member: Option<ShapeRef>,
        pub key: Option<ShapeRef>,
        pub value: Option<ShapeRef>,
        pub min: Option<i64>,
        pub max: Option<i64>,
        pub pattern: Option<String>,
        #[serde(rename = "enum")]
        pub enum_values: Option<Vec<String>>,
        pub union: Option<bool>,
        pub sensitive: Option<bool>,
        pub exception: Option<bool>,
        pub error: Option<Error>,
        pub timestamp_format: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Error {
        pub http_status_code: Option<u16>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string_shape(name: &str) -> &'static StringShape {
        match &model().shape(name).expect(name).kind {
            ShapeKind::String(s) => s,
            other => panic!("{name} is not a string: {other:?}"),
        }
    }

    #[test]
    fn loads_all_operations_in_model_order() {
        let names: Vec<&str> = model().operations().map(|o| o.name.as_str()).collect();
        assert_eq!(names.len(), 17);
        assert_eq!(names[0], "CreateChatToken");
        assert_eq!(names[16], "UpdateRoom");
        assert_eq!(model().api_version(), "2020-07-14");
    }

    #[test]
    fn operation_http_bindings() {
        let m = model();
        let tag = m.operation("TagResource").unwrap();
        assert_eq!(
            (
                tag.method.as_str(),
                tag.request_uri.as_str(),
                tag.response_code
            ),
            ("POST", "/tags/{resourceArn}", 200)
        );
        let del = m.operation("DeleteRoom").unwrap();
        assert_eq!(del.response_code, 204);
        assert_eq!(del.output, None);
        let untag = m.operation("UntagResource").unwrap();
        assert_eq!(untag.method, "DELETE");
        assert!(untag.idempotent);
        let input = m.input_of(untag).unwrap();
        let keys = input.member("tagKeys").unwrap();
        assert_eq!(keys.location, Location::QueryString);
        assert_eq!(keys.location_name.as_deref(), Some("tagKeys"));
        assert!(keys.required);
        assert_eq!(input.member("resourceArn").unwrap().location, Location::Uri);
    }

    #[test]
    fn members_keep_model_order() {
        let ShapeKind::Structure(s) = &model().shape("CreateRoomRequest").unwrap().kind else {
            panic!("not a structure");
        };
        let names: Vec<&str> = s.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "name",
                "maximumMessageRatePerSecond",
                "maximumMessageLength",
                "messageReviewHandler",
                "tags",
                "loggingConfigurationIdentifiers"
            ]
        );
    }

    #[test]
    fn constraints_come_from_the_model() {
        let m = model();
        let ShapeKind::Integer(rate) = &m.shape("RoomMaxMessageRatePerSecond").unwrap().kind else {
            panic!()
        };
        assert_eq!(
            rate.range,
            Range {
                min: Some(1),
                max: Some(100)
            }
        );
        let ShapeKind::Map(tags) = &m.shape("Tags").unwrap().kind else {
            panic!()
        };
        assert_eq!(
            tags.length,
            Length {
                min: Some(0),
                max: Some(50)
            }
        );
        assert!(m.shape("UserID").unwrap().sensitive);
        assert!(m.shape("ChatTokenAttributes").unwrap().sensitive);
        let ShapeKind::Structure(dest) = &m.shape("DestinationConfiguration").unwrap().kind else {
            panic!()
        };
        assert!(dest.union);
        let ShapeKind::Structure(ve) = &m.shape("ValidationException").unwrap().kind else {
            panic!()
        };
        assert!(ve.exception);
        assert_eq!(ve.http_status, Some(400));
        assert_eq!(
            string_shape("FallbackResult").enum_values.as_deref(),
            Some(&["ALLOW".to_owned(), "DENY".to_owned()][..])
        );
    }

    #[test]
    fn every_override_is_applied() {
        // Fails when a model update changes an overridden pattern: review the override then.
        for o in PATTERN_OVERRIDES {
            let p = string_shape(o.shape).pattern.as_ref().unwrap();
            assert!(p.is_override(), "override for {} not applied", o.shape);
            assert_eq!(p.model_pattern(), o.model_pattern);
            assert_eq!(p.effective_pattern(), o.pattern);
        }
    }

    #[test]
    fn resource_arn_model_pattern_is_broken_and_override_fixes_it() {
        let room = "arn:aws:ivschat:us-west-2:123456789012:room/g1H2I3j4k5L6";
        let lc = "arn:aws:ivschat:us-west-2:123456789012:logging-configuration/ABcdef34ghIJ";
        let broken = Regex::new(&format!("^(?:{})$", PATTERN_OVERRIDES[0].model_pattern)).unwrap();
        assert!(!broken.is_match(room) && !broken.is_match(lc));
        let p = string_shape("ResourceArn").pattern.as_ref().unwrap();
        assert!(p.is_match(room) && p.is_match(lc));
        assert!(!p.is_match("g1H2I3j4k5L6"));
    }

    #[test]
    fn patterns_are_whole_string_matches() {
        let room = string_shape("RoomIdentifier").pattern.as_ref().unwrap();
        let arn = "arn:aws:ivschat:us-west-2:123456789012:room/g1H2I3j4k5L6";
        assert!(room.is_match(arn));
        assert!(!room.is_match(&format!("x{arn}")));
        assert!(!room.is_match(&format!("{arn}/")));
        assert!(!room.is_match(&format!("{arn}\n")));
        assert_eq!(
            string_shape("RoomName").pattern.as_ref().unwrap().display(),
            "^[a-zA-Z0-9-_]*$"
        );
        let lambda = string_shape("LambdaArn").pattern.as_ref().unwrap();
        assert!(lambda.is_match(""));
        assert!(lambda.is_match("arn:aws:lambda:us-east-1:123456789012:function:f"));
        assert!(!lambda.is_match("arn:aws:lambda:us-east-1:12345:function:f"));
        assert!(!lambda.is_match("junk"));
    }

    #[test]
    fn every_pattern_compiles() {
        let n = model()
            .shapes()
            .filter(|s| {
                matches!(
                    &s.kind,
                    ShapeKind::String(StringShape {
                        pattern: Some(_),
                        ..
                    })
                )
            })
            .count();
        assert_eq!(n, 16);
    }

    #[test]
    fn rejects_dangling_references() {
        let json = r#"{"metadata":{"apiVersion":"x"},"operations":{},
            "shapes":{"A":{"type":"list","member":{"shape":"Missing"}}}}"#;
        assert!(matches!(
            Model::parse(json),
            Err(ModelError::UnknownShape { .. })
        ));
    }
}
