//! Authorization of a parsed request against the signer's IAM policies (`iam/`): which
//! resource ARN and which tags the input carries, the resource's tags when a policy's
//! condition needs them, and the AccessDeniedException AWS answers with.
//!
//! A principal without policies (`[[credentials]]`) returns at once: no allocation, no
//! store read. With policies, the store is read only if some condition uses
//! `aws:ResourceTag/…` and the operation names an existing resource.

use std::borrow::Cow;

use ivschat_proto::control::*;
use ivschat_proto::errors::{ErrorKind, ServiceError};

use super::route::Operation;
use crate::app::App;
use crate::iam::actions::{
    action_of, dependent_actions, new_resource_pattern, resource_of, Action, ResourceOf,
};
use crate::iam::eval::{evaluate, Decision, RequestContext};
use crate::iam::Principal;

/// What authorization reads from an operation's input.
pub trait AuthorizationFacts {
    /// The existing resource the input names.
    fn resource_arn(&self) -> Option<&str> {
        None
    }
    /// Tags the request sets (`aws:RequestTag/…`, and their keys are `aws:TagKeys`).
    fn request_tags(&self) -> Option<&StringMap> {
        None
    }
    /// Tag keys the request names without values (UntagResource's `aws:TagKeys`).
    fn tag_keys(&self) -> &[String] {
        &[]
    }
}

macro_rules! names_resource {
    ($($ty:ty => $field:ident),* $(,)?) => {$(
        impl AuthorizationFacts for $ty {
            fn resource_arn(&self) -> Option<&str> {
                Some(&self.$field)
            }
        }
    )*};
}

names_resource!(
    CreateChatTokenRequest => room_identifier,
    IdentifierRequest => identifier,
    DeleteMessageRequest => room_identifier,
    DisconnectUserRequest => room_identifier,
    SendEventRequest => room_identifier,
    ListTagsForResourceRequest => resource_arn,
    UpdateLoggingConfigurationRequest => identifier,
    UpdateRoomRequest => identifier,
);

impl AuthorizationFacts for ListRoomsRequest {}
impl AuthorizationFacts for ListLoggingConfigurationsRequest {}

impl AuthorizationFacts for CreateRoomRequest {
    fn request_tags(&self) -> Option<&StringMap> {
        self.tags.as_ref()
    }
}

impl AuthorizationFacts for CreateLoggingConfigurationRequest {
    fn request_tags(&self) -> Option<&StringMap> {
        self.tags.as_ref()
    }
}

impl AuthorizationFacts for TagResourceRequest {
    fn resource_arn(&self) -> Option<&str> {
        Some(&self.resource_arn)
    }
    fn request_tags(&self) -> Option<&StringMap> {
        Some(&self.tags)
    }
}

impl AuthorizationFacts for UntagResourceRequest {
    fn resource_arn(&self) -> Option<&str> {
        Some(&self.resource_arn)
    }
    fn tag_keys(&self) -> &[String] {
        &self.tag_keys
    }
}

/// Refuses the request unless the principal's policies allow the operation's action and its
/// dependent actions.
pub async fn authorize<T: AuthorizationFacts>(
    app: &App,
    principal: &Principal,
    operation: Operation,
    input: &T,
) -> Result<(), ServiceError> {
    let Some(policies) = principal.policies.as_deref() else {
        return Ok(());
    };
    let of = resource_of(operation);
    let resource: Cow<str> = match of {
        ResourceOf::Any => Cow::Borrowed("*"),
        ResourceOf::Named => Cow::Borrowed(input.resource_arn().unwrap_or("*")),
        ResourceOf::NewRoom | ResourceOf::NewLoggingConfiguration => Cow::Owned(
            new_resource_pattern(of, &app.scope.region, &principal.account.arns.account_id)
                .unwrap_or_default(),
        ),
    };
    let resource_tags = match (of, policies.uses_resource_tags) {
        (ResourceOf::Named, true) => resource_tags(app, principal, &resource).await?,
        _ => None,
    };
    let request_tags = input.request_tags().filter(|t| !t.is_empty());
    let tag_keys: Vec<&str> = match request_tags {
        Some(tags) => tags.keys().map(String::as_str).collect(),
        None => input.tag_keys().iter().map(String::as_str).collect(),
    };
    let actions = std::iter::once(action_of(operation)).chain(
        dependent_actions(operation, request_tags.is_some())
            .iter()
            .copied(),
    );
    for action in actions {
        let context = RequestContext {
            action: action.lowercase,
            resource: &resource,
            request_tags,
            tag_keys: &tag_keys,
            resource_tags: resource_tags.as_ref(),
        };
        match evaluate(&policies.policies, &context) {
            Decision::Allow => {}
            denied => return Err(access_denied(principal, action, &resource, denied)),
        }
    }
    Ok(())
}

/// The tags of the principal's room or logging configuration `arn` names; `None` when it is
/// not one of its account's or does not exist (the handler then answers
/// ResourceNotFoundException if allowed): another account's tags never decide a condition.
async fn resource_tags(
    app: &App,
    principal: &Principal,
    arn: &str,
) -> Result<Option<StringMap>, ServiceError> {
    let Some((kind, id)) = principal.account.arns.resolve_any(arn) else {
        return Ok(None);
    };
    super::tags::stored_tags(app, &principal.account, kind, id).await
}

/// AWS's wording, so that tools matching on it (and people used to it) see the same.
fn access_denied(
    principal: &Principal,
    action: Action,
    resource: &str,
    decision: Decision,
) -> ServiceError {
    let why = match decision {
        Decision::ExplicitDeny => "with an explicit deny in an identity-based policy".to_string(),
        _ => format!(
            "because no identity-based policy allows the {} action",
            action.name
        ),
    };
    ServiceError::new(
        ErrorKind::AccessDenied,
        format!(
            "User: {} is not authorized to perform: {} on resource: {resource} {why}",
            principal.arn, action.name
        ),
    )
}
