//! Checks an operation's input against its input shape in the service model
//! ([`crate::model`]): JSON types first (a wrong type is a 400 `SerializationException`),
//! then every constraint (`required`, length, pattern, enum, range), which become the
//! model's 400 `ValidationException` with reason `FIELD_VALIDATION_FAILED` and a `fieldList`.
//!
//! Semantics are those of a Smithy restJson1 server (`docs/protocol/control-plane.md` §1, §6, §10):
//! * a JSON `null` member is the same as an absent one; unknown structure members are ignored;
//! * a union must be an object with exactly one non-null member, all of them known
//!   (`__type` is ignored, as the Smithy JSON protocols require);
//! * lists and maps are dense: a `null` item or map value is a `SerializationException`;
//! * integers are 32-bit: a float (`5.0`), a string (`"5"`) or anything beyond `i32` is a
//!   `SerializationException`;
//! * string length counts Unicode code points; patterns are whole-string matches.
//!
//! Messages follow the Smithy protocol tests (`smithy-aws-protocol-tests/model/restJson1/
//! validation/malformed-*.smithy`, after smithy PR #1622 stopped reflecting input values):
//! * `Value null at '/roomIdentifier' failed to satisfy constraint: Member must not be null`
//! * `Value with length 0 at '/userId' failed to satisfy constraint: Member must have length between 1 and 128, inclusive`
//! * `Value at '/name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9-_]*$`
//! * `Value at '/messageReviewHandler/fallbackResult' failed to satisfy constraint: Member must satisfy enum value set: [ALLOW, DENY]`
//! * `Value 0 at '/maximumMessageLength' failed to satisfy constraint: Member must be between 1 and 500, inclusive`
//!
//! String values are never echoed (so nothing sensitive or huge can leak into an error);
//! integers are, except inside a `sensitive` shape. A violation of a map KEY is reported at the
//! map's path, as the protocol tests (`RestJsonMalformedLengthMapKey`) require.
//!
//! The walk follows the model's shapes, not the input, so its depth is bounded by the model.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use crate::model::{model, Length, Model, Range, Shape, ShapeKind, StringShape, StructureShape};

/// At most this many field errors are listed (the total is still counted). One request can
/// otherwise produce an error per list item (`capabilities` has no length limit), and the
/// answer must not grow with the request.
pub const MAX_REPORTED_FIELD_ERRORS: usize = 50;

/// Map keys longer than this (in code points) are shortened in error paths.
const MAX_KEY_IN_PATH: usize = 128;

/// Guard against a (future) recursive model; the current model nests 4 levels at most.
const MAX_DEPTH: usize = 32;

/// Why an operation's input was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// Framework error (400 `SerializationException`): the JSON has the wrong type somewhere
    /// (string where integer expected, float for integer, integer beyond `i32`, non-object
    /// body, a list that is not an array, a map value that is not a string, a `null` inside a
    /// list or as a map value, a union with 0 or 2+ non-null members, an unknown union
    /// member, a union that is not an object).
    #[error("{message}")]
    Serialization { message: String },
    /// Modeled `ValidationException` (400), reason `FIELD_VALIDATION_FAILED`.
    /// `fields` is the `fieldList`, in model member order.
    #[error("{message}")]
    Validation {
        message: String,
        fields: Vec<FieldError>,
    },
    /// The operation name is not in the model (a routing bug, or a name that did not come
    /// from the router). Answer as for an unknown route (`docs/protocol/control-plane.md` §6).
    #[error("unknown operation: {operation}")]
    UnknownOperation { operation: String },
}

impl InputError {
    /// The overall message (`message` of the error body).
    pub fn message(&self) -> String {
        self.to_string()
    }
}

/// One `ValidationExceptionField`: serialises as `{"name": …, "message": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// JSON-pointer path of the member (`/messageReviewHandler/uri`, `/tags/<key>`,
    /// `/loggingConfigurationIdentifiers/0`).
    pub name: String,
    /// The per-field sentence.
    pub message: String,
}

/// Checks `input` (the operation's input as one JSON object: body members, plus the URI label
/// and query members already placed under their member names, e.g.
/// `{"resourceArn": "...", "tagKeys": ["a"]}`) against the operation's input shape.
///
/// An empty body should be passed as `{}`.
pub fn validate_input(operation: &str, input: &Value) -> Result<(), InputError> {
    let m = model();
    let Some(op) = m.operation(operation) else {
        return Err(InputError::UnknownOperation {
            operation: operation.to_owned(),
        });
    };
    let Some(shape) = op.input.as_deref().and_then(|name| m.shape_index(name)) else {
        // No input shape: nothing to check beyond the body being an object.
        return match input {
            Value::Object(_) => Ok(()),
            other => Err(serialization(format!(
                "Request body must be a JSON object, found {}",
                json_type(other)
            ))),
        };
    };
    if !input.is_object() {
        return Err(serialization(format!(
            "Request body must be a JSON object, found {}",
            json_type(input)
        )));
    }
    let mut walker = Walker {
        model: m,
        path: String::with_capacity(64),
        fields: Vec::new(),
        total: 0,
    };
    walker.walk(shape, input, false, 0)?;
    if walker.total == 0 {
        return Ok(());
    }
    Err(InputError::Validation {
        message: summary(walker.total, &walker.fields),
        fields: walker.fields,
    })
}

/// `1 validation error detected. <msg>` or `N validation errors detected. <msg1>; <msg2>…`
/// The single-error form is the one the Smithy protocol tests assert; the plural form keeps
/// that prefix and joins the field messages with `; ` as AWS services do.
fn summary(total: usize, fields: &[FieldError]) -> String {
    let mut s = if total == 1 {
        "1 validation error detected. ".to_owned()
    } else {
        format!("{total} validation errors detected. ")
    };
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            s.push_str("; ");
        }
        s.push_str(&f.message);
    }
    s
}

fn serialization(message: String) -> InputError {
    InputError::Serialization { message }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a floating-point number",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Shortens a client-supplied name for use in a message.
fn capped(s: &str, max_chars: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max_chars) {
        None => s.into(),
        Some((cut, _)) => format!("{}...", &s[..cut]).into(),
    }
}

struct Walker<'m> {
    model: &'m Model,
    /// JSON pointer of the value being checked; pushed and truncated as the walk descends.
    path: String,
    fields: Vec<FieldError>,
    total: usize,
}

impl Walker<'_> {
    /// Walks `value` (never `null`: callers handle absence) as shape `index`.
    /// `Err` is the first type error; it wins over any constraint violation.
    fn walk(
        &mut self,
        index: usize,
        value: &Value,
        sensitive: bool,
        depth: usize,
    ) -> Result<(), InputError> {
        if depth > MAX_DEPTH {
            return Err(serialization(format!(
                "Value at '{}' is nested too deeply",
                self.path
            )));
        }
        let model = self.model;
        let shape: &Shape = model.shape_at(index);
        let sensitive = sensitive || shape.sensitive;
        match &shape.kind {
            ShapeKind::Structure(s) if s.union => self.union(s, value, sensitive, depth),
            ShapeKind::Structure(s) => self.structure(s, value, sensitive, depth),
            ShapeKind::String(s) => {
                let Value::String(text) = value else {
                    return Err(self.type_error("a string", value));
                };
                self.string(s, text);
                Ok(())
            }
            ShapeKind::Integer(i) => {
                let n = self.integer(value)?;
                self.range(i.range, n, sensitive);
                Ok(())
            }
            ShapeKind::List(l) => {
                let Value::Array(items) = value else {
                    return Err(self.type_error("an array", value));
                };
                self.length(l.length, items.len());
                for (i, item) in items.iter().enumerate() {
                    let mark = self.path.len();
                    // Writing to a String cannot fail.
                    let _ = write!(self.path, "/{i}");
                    if item.is_null() {
                        return Err(serialization(format!(
                            "Value at '{}' must not be null: list items cannot be null",
                            self.path
                        )));
                    }
                    self.walk(l.member_index, item, sensitive, depth + 1)?;
                    self.path.truncate(mark);
                }
                Ok(())
            }
            ShapeKind::Map(m) => {
                let Value::Object(entries) = value else {
                    return Err(self.type_error("an object", value));
                };
                self.length(m.length, entries.len());
                let ShapeKind::String(key_shape) = &model.shape_at(m.key_index).kind else {
                    // Checked when the model is loaded.
                    return Ok(());
                };
                for (key, item) in entries {
                    // Key violations are reported at the map's own path (protocol tests).
                    self.string(key_shape, key);
                    let mark = self.path.len();
                    self.path.push('/');
                    if !sensitive {
                        push_pointer_token(&mut self.path, &capped(key, MAX_KEY_IN_PATH));
                    } else {
                        // A sensitive map's keys are data too: keep them out of messages.
                        self.path.push('*');
                    }
                    if item.is_null() {
                        return Err(serialization(format!(
                            "Value at '{}' must not be null: map values cannot be null",
                            self.path
                        )));
                    }
                    self.walk(m.value_index, item, sensitive, depth + 1)?;
                    self.path.truncate(mark);
                }
                Ok(())
            }
            // Timestamps appear only in outputs; other types are not used by this model.
            ShapeKind::Timestamp(_) | ShapeKind::Other { .. } => Ok(()),
        }
    }

    fn structure(
        &mut self,
        s: &StructureShape,
        value: &Value,
        sensitive: bool,
        depth: usize,
    ) -> Result<(), InputError> {
        let Value::Object(obj) = value else {
            return Err(self.type_error("an object", value));
        };
        for member in &s.members {
            let mark = self.path.len();
            self.path.push('/');
            push_pointer_token(&mut self.path, &member.name);
            match obj.get(&member.name) {
                None | Some(Value::Null) => {
                    if member.required {
                        let message = format!(
                            "Value null at '{}' failed to satisfy constraint: Member must not be null",
                            self.path
                        );
                        self.report(message);
                    }
                }
                Some(v) => self.walk(member.target_index, v, sensitive, depth + 1)?,
            }
            self.path.truncate(mark);
        }
        Ok(())
    }

    fn union(
        &mut self,
        s: &StructureShape,
        value: &Value,
        sensitive: bool,
        depth: usize,
    ) -> Result<(), InputError> {
        let Value::Object(obj) = value else {
            return Err(self.type_error("an object (a union)", value));
        };
        let mut set = None;
        let mut count = 0usize;
        for (key, v) in obj {
            // `null` is "not set"; `__type` must be ignored in JSON unions (Smithy spec).
            if v.is_null() || key == "__type" {
                continue;
            }
            let Some(member) = s.member(key) else {
                return Err(serialization(format!(
                    "Union at '{}' has unknown member '{}'",
                    self.path,
                    capped(key, 64)
                )));
            };
            count += 1;
            set = Some((member, v));
        }
        match (count, set) {
            (1, Some((member, v))) => {
                let mark = self.path.len();
                self.path.push('/');
                push_pointer_token(&mut self.path, &member.name);
                self.walk(member.target_index, v, sensitive, depth + 1)?;
                self.path.truncate(mark);
                Ok(())
            }
            (n, _) => Err(serialization(format!(
                "Union at '{}' must have exactly one member set, found {n}",
                self.path
            ))),
        }
    }

    /// A JSON integer that fits in `i32`.
    fn integer(&self, value: &Value) -> Result<i64, InputError> {
        let Value::Number(n) = value else {
            return Err(self.type_error("an integer", value));
        };
        if n.is_f64() {
            return Err(self.type_error("an integer", value));
        }
        match n.as_i64().and_then(|i| i32::try_from(i).ok()) {
            Some(i) => Ok(i64::from(i)),
            None => Err(serialization(format!(
                "Value at '{}' is out of range for a 32-bit integer",
                self.path
            ))),
        }
    }

    fn string(&mut self, s: &StringShape, text: &str) {
        if !s.length.is_unbounded() {
            self.length(s.length, text.chars().count());
        }
        if let Some(p) = &s.pattern {
            if !p.is_match(text) {
                let message = format!(
                    "Value at '{}' failed to satisfy constraint: Member must satisfy regular expression pattern: {}",
                    self.path,
                    p.display()
                );
                self.report(message);
            }
        }
        if let Some(allowed) = &s.enum_values {
            if !allowed.iter().any(|a| a == text) {
                let message = format!(
                    "Value at '{}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                    self.path,
                    allowed.join(", ")
                );
                self.report(message);
            }
        }
    }

    fn length(&mut self, length: Length, n: usize) {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        if length.contains(n) {
            return;
        }
        let bound = match (length.min, length.max) {
            (Some(min), Some(max)) => format!("between {min} and {max}, inclusive"),
            (Some(min), None) => format!("greater than or equal to {min}"),
            (None, Some(max)) => format!("less than or equal to {max}"),
            (None, None) => return,
        };
        let message = format!(
            "Value with length {n} at '{}' failed to satisfy constraint: Member must have length {bound}",
            self.path
        );
        self.report(message);
    }

    fn range(&mut self, range: Range, n: i64, sensitive: bool) {
        if range.contains(n) {
            return;
        }
        let bound = match (range.min, range.max) {
            (Some(min), Some(max)) => format!("between {min} and {max}, inclusive"),
            (Some(min), None) => format!("greater than or equal to {min}"),
            (None, Some(max)) => format!("less than or equal to {max}"),
            (None, None) => return,
        };
        let value = if sensitive {
            String::new()
        } else {
            format!("{n} ")
        };
        let message = format!(
            "Value {value}at '{}' failed to satisfy constraint: Member must be {bound}",
            self.path
        );
        self.report(message);
    }

    fn report(&mut self, message: String) {
        self.total += 1;
        if self.fields.len() < MAX_REPORTED_FIELD_ERRORS {
            self.fields.push(FieldError {
                name: self.path.clone(),
                message,
            });
        }
    }

    fn type_error(&self, expected: &str, found: &Value) -> InputError {
        let at = if self.path.is_empty() {
            "Request body".to_owned()
        } else {
            format!("Value at '{}'", self.path)
        };
        serialization(format!(
            "{at} must be {expected}, found {}",
            json_type(found)
        ))
    }
}

/// Appends one JSON-pointer reference token (RFC 6901: `~` → `~0`, `/` → `~1`).
fn push_pointer_token(path: &mut String, token: &str) {
    for c in token.chars() {
        match c {
            '~' => path.push_str("~0"),
            '/' => path.push_str("~1"),
            c => path.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn pointer_tokens_are_escaped() {
        let mut p = String::from("/tags/");
        push_pointer_token(&mut p, "a/b~c");
        assert_eq!(p, "/tags/a~1b~0c");
    }

    #[test]
    fn capped_cuts_on_char_boundaries() {
        assert_eq!(capped("abc", 3), "abc");
        assert_eq!(capped("👍👍👍👍", 2), "👍👍...");
    }

    #[test]
    fn map_key_violation_is_reported_at_the_map() {
        let key = "k".repeat(129);
        let err = validate_input(
            "TagResource",
            &json!({"resourceArn": "arn:aws:ivschat:us-west-2:123456789012:room/g1H2I3j4k5L6",
                    "tags": {key: "v"}}),
        )
        .unwrap_err();
        let InputError::Validation { fields, .. } = err else {
            panic!("{err:?}")
        };
        assert_eq!(fields.len(), 1);
        assert_eq!(fields[0].name, "/tags");
    }

    #[test]
    fn error_list_is_bounded() {
        let caps: Vec<&str> = vec!["NOPE"; 500];
        let err = validate_input(
            "CreateChatToken",
            &json!({"roomIdentifier": "arn:aws:ivschat:us-west-2:123456789012:room/g1H2I3j4k5L6",
                    "userId": "u", "capabilities": caps}),
        )
        .unwrap_err();
        let InputError::Validation { message, fields } = err else {
            panic!("{err:?}")
        };
        assert_eq!(fields.len(), MAX_REPORTED_FIELD_ERRORS);
        assert!(message.starts_with("500 validation errors detected. "));
    }
}
