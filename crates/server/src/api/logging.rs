//! CreateLoggingConfiguration, GetLoggingConfiguration, UpdateLoggingConfiguration,
//! DeleteLoggingConfiguration, ListLoggingConfigurations (`docs/protocol/control-plane.md` §5).
//!
//! State: destinations are checked (by the model's constraints) before anything is stored,
//! so a configuration is `ACTIVE` from the moment Create or Update returns; the transitional
//! and `*_FAILED` states are never observed. Deleting a configuration that a room still
//! uses is refused with ConflictException (see README).

use ivschat_proto::control::{
    CreateLoggingConfigurationRequest, IdentifierRequest, ListLoggingConfigurationsRequest,
    ListLoggingConfigurationsResponse, UpdateLoggingConfigurationRequest,
};
use ivschat_proto::errors::ServiceError;

use super::pagination;
use super::reply::{from_store, OpResult, Reply};
use super::tags::check_new_tags;
use crate::app::App;
use crate::domain::account::Account;
use crate::domain::arn::{error_resource_id, ResourceKind};
use crate::domain::ids::new_id;
use crate::domain::resources::{next_update_time, LoggingConfiguration, LoggingState};
use crate::store::{Owner, PageCursor};

const DEFAULT_PAGE_SIZE: i32 = 50;

pub async fn create_logging_configuration(
    app: &App,
    account: &Account,
    req: CreateLoggingConfigurationRequest,
) -> OpResult {
    let tags = req.tags.unwrap_or_default();
    check_new_tags(&tags)?;
    let now = app.clock.now_micros();
    let config = LoggingConfiguration {
        id: new_id(),
        account: account.key.clone(),
        name: req.name.unwrap_or_default(),
        create_time: now,
        update_time: now,
        destination: req.destination_configuration,
        state: LoggingState::Active,
        tags,
    };
    app.store
        .insert_logging_configuration(&config, &app.config.quotas)
        .await
        .map_err(|e| from_store(e, &config.id))?;
    Ok(Reply::json(&config.to_output(&account.arns)))
}

pub async fn get_logging_configuration(
    app: &App,
    account: &Account,
    req: IdentifierRequest,
) -> OpResult {
    let id = resolve(account, &req.identifier)?;
    let config = app
        .store
        .get_logging_configuration(Owner::Account(&account.key), id)
        .await
        .map_err(|e| from_store(e, id))?
        .ok_or_else(|| ServiceError::not_found(id, "Logging configuration"))?;
    Ok(Reply::json(&config.to_output(&account.arns)))
}

pub async fn update_logging_configuration(
    app: &App,
    account: &Account,
    req: UpdateLoggingConfigurationRequest,
) -> OpResult {
    let id = resolve(account, &req.identifier)?;
    let now = app.clock.now_micros();
    let config = app
        .store
        .update_logging_configuration(
            &account.key,
            id,
            Box::new(move |config: &mut LoggingConfiguration| {
                if let Some(name) = req.name {
                    config.name = name;
                }
                if let Some(destination) = req.destination_configuration {
                    config.destination = destination;
                }
                config.state = LoggingState::Active;
                config.update_time = next_update_time(config.update_time, now);
                Ok(())
            }),
        )
        .await
        .map_err(|e| from_store(e, id))?;
    Ok(Reply::json(&config.to_output(&account.arns)))
}

pub async fn delete_logging_configuration(
    app: &App,
    account: &Account,
    req: IdentifierRequest,
) -> OpResult {
    let id = resolve(account, &req.identifier)?;
    app.store
        .delete_logging_configuration(&account.key, id)
        .await
        .map_err(|e| from_store(e, id))?;
    Ok(Reply::NoContent)
}

pub async fn list_logging_configurations(
    app: &App,
    account: &Account,
    req: ListLoggingConfigurationsRequest,
) -> OpResult {
    let after = pagination::decode("logging", req.next_token.as_deref())?;
    let page_size = req.max_results.unwrap_or(DEFAULT_PAGE_SIZE).clamp(1, 50) as usize;
    let mut configs = app
        .store
        .list_logging_configurations(&account.key, after.as_ref(), page_size + 1)
        .await
        .map_err(|e| from_store(e, "logging"))?;
    let next_token = if configs.len() > page_size {
        configs.truncate(page_size);
        configs.last().map(|last| {
            pagination::encode(
                "logging",
                &PageCursor {
                    update_time: last.update_time,
                    id: last.id.clone(),
                },
            )
        })
    } else {
        None
    };
    Ok(Reply::json(&ListLoggingConfigurationsResponse {
        logging_configurations: configs.iter().map(|c| c.to_output(&account.arns)).collect(),
        next_token,
    }))
}

fn resolve<'a>(account: &Account, arn: &'a str) -> Result<&'a str, ServiceError> {
    account
        .arns
        .resolve(arn, ResourceKind::LoggingConfiguration)
        .ok_or_else(|| ServiceError::not_found(&error_resource_id(arn), "Logging configuration"))
}
