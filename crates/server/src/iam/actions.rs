//! What each ivschat operation asks of IAM, from the Service Authorization Reference
//! ("Actions, resources, and condition keys for Amazon Interactive Video Service Chat"):
//! its `ivschat:` action, the resource the action is checked on, and the dependent actions
//! it also needs.
//!
//! Our extension operations (issue 22) have actions in our own service prefix,
//! `ivschat-server:`, so that no AWS policy (`ivschat:*`) grants them by accident; they are
//! checked on the room's ARN.

use crate::api::route::Operation;

/// An IAM action: its name as policies and error messages spell it, and its lowercase form
/// (what compiled `Action` patterns are matched against).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action {
    pub name: &'static str,
    pub lowercase: &'static str,
}

const fn action(name: &'static str, lowercase: &'static str) -> Action {
    Action { name, lowercase }
}

pub const TAG_RESOURCE: Action = action("ivschat:TagResource", "ivschat:tagresource");

/// Every operation is authorized by the action of the same name.
pub fn action_of(op: Operation) -> Action {
    use Operation::*;
    match op {
        CreateChatToken => action("ivschat:CreateChatToken", "ivschat:createchattoken"),
        CreateLoggingConfiguration => action(
            "ivschat:CreateLoggingConfiguration",
            "ivschat:createloggingconfiguration",
        ),
        CreateRoom => action("ivschat:CreateRoom", "ivschat:createroom"),
        DeleteLoggingConfiguration => action(
            "ivschat:DeleteLoggingConfiguration",
            "ivschat:deleteloggingconfiguration",
        ),
        DeleteMessage => action("ivschat:DeleteMessage", "ivschat:deletemessage"),
        DeleteRoom => action("ivschat:DeleteRoom", "ivschat:deleteroom"),
        DisconnectUser => action("ivschat:DisconnectUser", "ivschat:disconnectuser"),
        GetLoggingConfiguration => action(
            "ivschat:GetLoggingConfiguration",
            "ivschat:getloggingconfiguration",
        ),
        GetRoom => action("ivschat:GetRoom", "ivschat:getroom"),
        ListLoggingConfigurations => action(
            "ivschat:ListLoggingConfigurations",
            "ivschat:listloggingconfigurations",
        ),
        ListRooms => action("ivschat:ListRooms", "ivschat:listrooms"),
        ListTagsForResource => action("ivschat:ListTagsForResource", "ivschat:listtagsforresource"),
        SendEvent => action("ivschat:SendEvent", "ivschat:sendevent"),
        TagResource => TAG_RESOURCE,
        UntagResource => action("ivschat:UntagResource", "ivschat:untagresource"),
        UpdateLoggingConfiguration => action(
            "ivschat:UpdateLoggingConfiguration",
            "ivschat:updateloggingconfiguration",
        ),
        UpdateRoom => action("ivschat:UpdateRoom", "ivschat:updateroom"),
        ListRoomMessages => action(
            "ivschat-server:ListRoomMessages",
            "ivschat-server:listroommessages",
        ),
        GetRoomPresence => action(
            "ivschat-server:GetRoomPresence",
            "ivschat-server:getroompresence",
        ),
        ListRoomUsers => action(
            "ivschat-server:ListRoomUsers",
            "ivschat-server:listroomusers",
        ),
    }
}

/// The resource an operation's action is checked on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceOf {
    /// No resource-level permissions: the policy must allow `*` (ListRooms,
    /// ListLoggingConfigurations).
    Any,
    /// Creating one: the resource type's ARN pattern, `arn:aws:ivschat:<region>:<account>:room/*`.
    NewRoom,
    /// `…:logging-configuration/*`.
    NewLoggingConfiguration,
    /// The existing resource the input names (`identifier`, `roomIdentifier`, `resourceArn`).
    Named,
}

pub fn resource_of(op: Operation) -> ResourceOf {
    use Operation::*;
    match op {
        ListRooms | ListLoggingConfigurations => ResourceOf::Any,
        CreateRoom => ResourceOf::NewRoom,
        CreateLoggingConfiguration => ResourceOf::NewLoggingConfiguration,
        CreateChatToken
        | DeleteLoggingConfiguration
        | DeleteMessage
        | DeleteRoom
        | DisconnectUser
        | GetLoggingConfiguration
        | GetRoom
        | ListTagsForResource
        | SendEvent
        | TagResource
        | UntagResource
        | UpdateLoggingConfiguration
        | UpdateRoom
        | ListRoomMessages
        | GetRoomPresence
        | ListRoomUsers => ResourceOf::Named,
    }
}

/// The resource ARN for [`ResourceOf::NewRoom`] / [`ResourceOf::NewLoggingConfiguration`].
pub fn new_resource_pattern(of: ResourceOf, region: &str, account_id: &str) -> Option<String> {
    let kind = match of {
        ResourceOf::NewRoom => "room",
        ResourceOf::NewLoggingConfiguration => "logging-configuration",
        ResourceOf::Any | ResourceOf::Named => return None,
    };
    Some(format!("arn:aws:ivschat:{region}:{account_id}:{kind}/*"))
}

/// Dependent actions: creating a room or logging configuration with tags also needs
/// `ivschat:TagResource` (on the same resource).
pub fn dependent_actions(op: Operation, has_request_tags: bool) -> &'static [Action] {
    match op {
        Operation::CreateRoom | Operation::CreateLoggingConfiguration if has_request_tags => {
            &[TAG_RESOURCE]
        }
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_maps_to_its_own_ivschat_action() {
        for op in Operation::ALL {
            let a = action_of(op);
            assert_eq!(a.name, format!("ivschat:{}", op.name()));
            assert_eq!(a.lowercase, a.name.to_lowercase());
        }
    }

    #[test]
    fn extensions_have_actions_of_our_own_prefix_on_the_room() {
        for op in Operation::EXTENSIONS {
            let a = action_of(op);
            assert_eq!(a.name, format!("ivschat-server:{}", op.name()));
            assert_eq!(a.lowercase, a.name.to_lowercase());
            assert_eq!(resource_of(op), ResourceOf::Named);
        }
    }

    #[test]
    fn resources_follow_the_service_authorization_reference() {
        assert_eq!(resource_of(Operation::ListRooms), ResourceOf::Any);
        assert_eq!(
            resource_of(Operation::ListLoggingConfigurations),
            ResourceOf::Any
        );
        assert_eq!(resource_of(Operation::CreateRoom), ResourceOf::NewRoom);
        for op in [
            Operation::CreateChatToken,
            Operation::SendEvent,
            Operation::DeleteMessage,
            Operation::DisconnectUser,
            Operation::TagResource,
        ] {
            assert_eq!(resource_of(op), ResourceOf::Named);
        }
        assert_eq!(
            new_resource_pattern(ResourceOf::NewRoom, "eu-west-1", "123456789012").as_deref(),
            Some("arn:aws:ivschat:eu-west-1:123456789012:room/*")
        );
        assert_eq!(
            new_resource_pattern(ResourceOf::NewLoggingConfiguration, "r", "1").as_deref(),
            Some("arn:aws:ivschat:r:1:logging-configuration/*")
        );
        assert_eq!(new_resource_pattern(ResourceOf::Named, "r", "1"), None);
    }

    #[test]
    fn creating_with_tags_also_needs_tag_resource() {
        assert_eq!(
            dependent_actions(Operation::CreateRoom, true),
            &[TAG_RESOURCE]
        );
        assert_eq!(
            dependent_actions(Operation::CreateLoggingConfiguration, true),
            &[TAG_RESOURCE]
        );
        assert!(dependent_actions(Operation::CreateRoom, false).is_empty());
        assert!(dependent_actions(Operation::UpdateRoom, true).is_empty());
    }
}
