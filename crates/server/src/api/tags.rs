//! TagResource, UntagResource, ListTagsForResource, and the tag rules shared with the
//! Create operations.
//!
//! Rooms and logging configurations both carry tags (`docs/protocol/control-plane.md` §8). Beyond
//! the model's limits (≤ 50 tags, key 1..128, value 0..256), AWS's general tagging rule applies:
//! the `aws:` key prefix is reserved.

use ivschat_proto::control::{
    EmptyResponse, ListTagsForResourceRequest, ListTagsForResourceResponse, StringMap,
    TagResourceRequest, UntagResourceRequest,
};
use ivschat_proto::errors::ServiceError;

use super::reply::{from_store, OpResult, Reply};
use crate::app::App;
use crate::domain::account::Account;
use crate::domain::arn::{error_resource_id, ResourceKind};
use crate::room::options::RoomOptions;
use crate::store::Owner;

pub const MAX_TAGS: usize = 50;

pub async fn list_tags_for_resource(
    app: &App,
    account: &Account,
    req: ListTagsForResourceRequest,
) -> OpResult {
    let (kind, id) = resolve(account, &req.resource_arn)?;
    let tags = stored_tags(app, account, kind, id)
        .await?
        .ok_or_else(|| ServiceError::not_found(id, kind.display_name()))?;
    Ok(Reply::json(&ListTagsForResourceResponse { tags }))
}

/// The stored tags of one of the account's rooms or logging configurations; `None` when it
/// does not exist there.
pub(crate) async fn stored_tags(
    app: &App,
    account: &Account,
    kind: ResourceKind,
    id: &str,
) -> Result<Option<StringMap>, ServiceError> {
    Ok(match kind {
        ResourceKind::Room => app
            .store
            .get_room(Owner::Account(&account.key), id)
            .await
            .map_err(|e| from_store(e, id))?
            .map(|r| r.tags),
        ResourceKind::LoggingConfiguration => app
            .store
            .get_logging_configuration(Owner::Account(&account.key), id)
            .await
            .map_err(|e| from_store(e, id))?
            .map(|c| c.tags),
    })
}

pub async fn tag_resource(app: &App, account: &Account, req: TagResourceRequest) -> OpResult {
    check_new_tags(&req.tags)?;
    let (kind, id) = resolve(account, &req.resource_arn)?;
    if kind == ResourceKind::Room {
        check_room_options(&req.tags)?;
    }
    let new_tags = req.tags;
    app.store
        .update_tags(
            &account.key,
            kind,
            id,
            Box::new(move |tags: &mut StringMap| {
                tags.extend(new_tags);
                if tags.len() > MAX_TAGS {
                    return Err(too_many_tags(tags.len()));
                }
                Ok(())
            }),
        )
        .await
        .map_err(|e| from_store(e, id))?;
    if kind == ResourceKind::Room {
        options_changed(app, account, id).await;
    }
    Ok(Reply::json(&EmptyResponse {}))
}

pub async fn untag_resource(app: &App, account: &Account, req: UntagResourceRequest) -> OpResult {
    let (kind, id) = resolve(account, &req.resource_arn)?;
    let keys = req.tag_keys;
    app.store
        .update_tags(
            &account.key,
            kind,
            id,
            Box::new(move |tags: &mut StringMap| {
                // Removing a key that is not there is fine: UntagResource is idempotent.
                for key in &keys {
                    tags.remove(key);
                }
                Ok(())
            }),
        )
        .await
        .map_err(|e| from_store(e, id))?;
    if kind == ResourceKind::Room {
        options_changed(app, account, id).await;
    }
    Ok(Reply::json(&EmptyResponse {}))
}

/// A room's tags changed, so may its `ivschat-server:` options: live rooms on every node take
/// them as they take UpdateRoom's settings (`Hub::room_updated`). Only when the room has or
/// had one of our keys would anything change, but telling the nodes is cheap and always right.
async fn options_changed(app: &App, account: &Account, id: &str) {
    match app.store.get_room(Owner::Account(&account.key), id).await {
        Ok(Some(room)) => {
            app.chat.room_updated(&room).await;
            // History turned off: what was kept goes, so turning it on again starts afresh.
            if RoomOptions::of(&room.tags).retention().is_none() {
                if let Err(e) = app.chat.history().forget_room(id).await {
                    tracing::error!(room = %id, error = %format!("{e:#}"), "cannot forget the history of a room whose history was turned off; it expires by its age limit");
                }
            }
        }
        // Deleted meanwhile: nothing live to update.
        Ok(None) => {}
        // Committed already: nodes read the room afresh at their next reconciliation.
        Err(e) => {
            tracing::error!(room = %id, error = %e, "cannot re-read a room after a tag change")
        }
    }
}

/// Our room options (`ivschat-server:` tags, `room/options.rs`) must have valid values;
/// any other tag is the user's.
pub fn check_room_options(tags: &StringMap) -> Result<(), ServiceError> {
    RoomOptions::parse(tags).map(|_| ()).map_err(|bad| {
        ServiceError::invalid_field(
            &format!("/tags/{}", bad.key),
            format!(
                "Value at '/tags/{}' failed to satisfy constraint: {}",
                bad.key, bad.message
            ),
        )
    })
}

/// Tags given on create or TagResource may not use the reserved `aws:` prefix.
pub fn check_new_tags(tags: &StringMap) -> Result<(), ServiceError> {
    match tags
        .keys()
        .find(|k| k.to_ascii_lowercase().starts_with("aws:"))
    {
        Some(key) => Err(ServiceError::invalid_field(
            &format!("/tags/{key}"),
            format!(
                "Value {key} at '/tags' failed to satisfy constraint: Tag keys must not begin \
                 with the reserved prefix 'aws:'"
            ),
        )),
        None => Ok(()),
    }
}

fn too_many_tags(count: usize) -> ServiceError {
    ServiceError::invalid_field(
        "/tags",
        format!(
            "Value with length {count} at '/tags' failed to satisfy constraint: a resource can \
             have at most {MAX_TAGS} tags"
        ),
    )
}

fn resolve<'a>(account: &Account, arn: &'a str) -> Result<(ResourceKind, &'a str), ServiceError> {
    account
        .arns
        .resolve_any(arn)
        .ok_or_else(|| ServiceError::not_found(&error_resource_id(arn), "Resource"))
}
