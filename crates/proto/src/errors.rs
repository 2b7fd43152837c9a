//! Every error the control plane can answer with, and ONE table from error to
//! `(HTTP status, X-Amzn-Errortype)` (`docs/protocol/control-plane.md` §6).
//!
//! The table is an exhaustive `match` with no `_` arm, so adding a kind forces a decision.

use serde::Serialize;

/// The error types this server sends. Modeled ones first, then the framework and auth ones
/// that AWS services answer with although the model does not list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    // Modeled (ivschat-service-2.json).
    Validation,
    ServiceQuotaExceeded,
    AccessDenied,
    PendingVerification,
    ResourceNotFound,
    Conflict,
    Throttling,
    InternalServer,
    // Framework (Smithy restJson1 servers).
    Serialization,
    UnsupportedMediaType,
    NotAcceptable,
    UnknownOperation,
    PayloadTooLarge,
    RequestTimeout,
    // Authentication (SigV4).
    MissingAuthenticationToken,
    IncompleteSignature,
    UnrecognizedClient,
    InvalidSignature,
}

impl ErrorKind {
    /// `(HTTP status, error type name)`; the name goes in `X-Amzn-Errortype`.
    pub fn wire(self) -> (u16, &'static str) {
        match self {
            ErrorKind::Validation => (400, "ValidationException"),
            ErrorKind::ServiceQuotaExceeded => (402, "ServiceQuotaExceededException"),
            ErrorKind::AccessDenied => (403, "AccessDeniedException"),
            ErrorKind::PendingVerification => (403, "PendingVerification"),
            ErrorKind::ResourceNotFound => (404, "ResourceNotFoundException"),
            ErrorKind::Conflict => (409, "ConflictException"),
            ErrorKind::Throttling => (429, "ThrottlingException"),
            ErrorKind::InternalServer => (500, "InternalServerException"),
            ErrorKind::Serialization => (400, "SerializationException"),
            ErrorKind::UnsupportedMediaType => (415, "UnsupportedMediaTypeException"),
            ErrorKind::NotAcceptable => (406, "NotAcceptableException"),
            ErrorKind::UnknownOperation => (404, "UnknownOperationException"),
            ErrorKind::PayloadTooLarge => (413, "RequestEntityTooLargeException"),
            ErrorKind::RequestTimeout => (408, "RequestTimeoutException"),
            ErrorKind::MissingAuthenticationToken => (403, "MissingAuthenticationTokenException"),
            ErrorKind::IncompleteSignature => (403, "IncompleteSignatureException"),
            ErrorKind::UnrecognizedClient => (403, "UnrecognizedClientException"),
            ErrorKind::InvalidSignature => (403, "InvalidSignatureException"),
        }
    }

    pub fn status(self) -> u16 {
        self.wire().0
    }

    pub fn type_name(self) -> &'static str {
        self.wire().1
    }
}

/// `ValidationExceptionReason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ValidationReason {
    UnknownOperation,
    FieldValidationFailed,
    Other,
}

/// `ValidationExceptionField`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidationField {
    pub name: String,
    pub message: String,
}

/// The only `ResourceType` value in the model. It is sent for logging configurations too
/// (see `docs/protocol/control-plane.md` §6): SDK enums are open, but staying inside the model is
/// safer.
pub const RESOURCE_TYPE_ROOM: &str = "ROOM";

/// An error as it goes on the wire: the kind picks status and type, the rest is the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceError {
    #[serde(skip)]
    pub kind: ErrorKind,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<ValidationReason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_list: Option<Vec<ValidationField>>,
}

impl ServiceError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ServiceError {
            kind,
            message: message.into(),
            resource_id: None,
            resource_type: None,
            limit: None,
            reason: None,
            field_list: None,
        }
    }

    /// ValidationException with `reason` and, for field errors, `fieldList`.
    pub fn validation(
        reason: ValidationReason,
        message: impl Into<String>,
        fields: Vec<ValidationField>,
    ) -> Self {
        ServiceError {
            reason: Some(reason),
            field_list: (!fields.is_empty()).then_some(fields),
            ..ServiceError::new(ErrorKind::Validation, message)
        }
    }

    /// A ValidationException about one field that the model's constraints cannot express
    /// (e.g. a pagination token that does not decode).
    pub fn invalid_field(name: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        ServiceError::validation(
            ValidationReason::FieldValidationFailed,
            format!("1 validation error detected. {message}"),
            vec![ValidationField {
                name: name.to_string(),
                message,
            }],
        )
    }

    /// ResourceNotFoundException, ConflictException: carry the 12-character id.
    pub fn about_resource(kind: ErrorKind, resource_id: &str, message: impl Into<String>) -> Self {
        ServiceError {
            resource_id: Some(resource_id.to_string()),
            resource_type: Some(RESOURCE_TYPE_ROOM),
            ..ServiceError::new(kind, message)
        }
    }

    /// ServiceQuotaExceededException, ThrottlingException: also carry the limit.
    pub fn over_limit(
        kind: ErrorKind,
        resource_id: &str,
        limit: i64,
        message: impl Into<String>,
    ) -> Self {
        ServiceError {
            limit: Some(limit),
            ..ServiceError::about_resource(kind, resource_id, message)
        }
    }

    pub fn not_found(resource_id: &str, what: &str) -> Self {
        ServiceError::about_resource(
            ErrorKind::ResourceNotFound,
            resource_id,
            format!("{what} {resource_id} not found"),
        )
    }

    pub fn internal() -> Self {
        ServiceError::new(
            ErrorKind::InternalServer,
            "An internal error occurred; the server log has the details under this request id",
        )
    }

    /// The JSON body. It also carries `__type` (the same name as `X-Amzn-Errortype`): SDKs
    /// read the header first, but clients that only see the body (generated OpenAPI clients)
    /// can still tell a ValidationException from a SerializationException.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising a struct of strings and integers cannot fail.
        let mut body = serde_json::to_value(self).unwrap_or_default();
        if let serde_json::Value::Object(map) = &mut body {
            map.insert("__type".into(), self.kind.type_name().into());
        }
        serde_json::to_vec(&body).unwrap_or_else(|_| b"{\"message\":\"error\"}".to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modeled_errors_match_the_model_status_codes() {
        let model: serde_json::Value =
            serde_json::from_str(include_str!("../model/ivschat-service-2.json")).unwrap();
        let kinds = [
            ErrorKind::Validation,
            ErrorKind::ServiceQuotaExceeded,
            ErrorKind::AccessDenied,
            ErrorKind::PendingVerification,
            ErrorKind::ResourceNotFound,
            ErrorKind::Conflict,
            ErrorKind::Throttling,
            ErrorKind::InternalServer,
        ];
        for kind in kinds {
            let (status, name) = kind.wire();
            let shape = &model["shapes"][name];
            assert_eq!(shape["exception"], true, "{name} is an exception shape");
            assert_eq!(shape["error"]["httpStatusCode"], status, "{name}");
        }
    }

    #[test]
    fn body_omits_absent_members() {
        let e = ServiceError::not_found("abcdefghijkl", "Room");
        let v: serde_json::Value = serde_json::from_slice(&e.to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"message":"Room abcdefghijkl not found","resourceId":"abcdefghijkl","resourceType":"ROOM","__type":"ResourceNotFoundException"})
        );
    }
}
