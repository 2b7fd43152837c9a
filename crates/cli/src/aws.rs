//! The control plane as the CLI uses it: AWS configuration resolved as every AWS tool resolves
//! it (environment, profiles, `AWS_ENDPOINT_URL_IVSCHAT`/`AWS_ENDPOINT_URL`, flags), rooms named
//! by id or ARN, chat tokens minted with CreateChatToken, and the chat URL to open.

use anyhow::{anyhow, bail, Context};
use aws_config::BehaviorVersion;
use aws_sdk_ivschat::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ivschat::types::ChatTokenCapability;
use ivschat_client::ChatToken;

/// Where and as whom the CLI talks to IVS Chat (the global flags).
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// Control-plane endpoint (this server: http://127.0.0.1:8080). Default: AWS_ENDPOINT_URL_IVSCHAT,
    /// AWS_ENDPOINT_URL, the profile's endpoint_url, else AWS's regional endpoint.
    #[arg(long, global = true)]
    pub endpoint_url: Option<String>,
    /// AWS region. Default: AWS_REGION, AWS_DEFAULT_REGION or the profile's.
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Profile of ~/.aws/config and ~/.aws/credentials. Default: AWS_PROFILE, else `default`.
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// Chat WebSocket URL. Default: the endpoint's host with ws:// or wss://, or AWS's
    /// wss://edge.ivschat.<region>.amazonaws.com.
    #[arg(long, global = true)]
    pub chat_url: Option<String>,
    /// Also trust the CA certificates in this PEM file (a server with a private CA).
    #[arg(long, global = true)]
    pub ca_file: Option<std::path::PathBuf>,
}

/// A resolved control plane: the SDK client and the chat URL beside it.
pub struct ControlPlane {
    pub sdk: aws_sdk_ivschat::Client,
    pub chat_url: String,
    pub ca_pem: Option<Vec<u8>>,
}

impl ControlPlane {
    pub async fn new(target: &Target) -> anyhow::Result<ControlPlane> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = &target.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(profile) = &target.profile {
            loader = loader.profile_name(profile);
        }
        let shared = loader.load().await;
        let endpoint = target
            .endpoint_url
            .clone()
            .or_else(|| non_empty_env("AWS_ENDPOINT_URL_IVSCHAT"))
            .or_else(|| non_empty_env("AWS_ENDPOINT_URL"))
            .or_else(|| shared.endpoint_url().map(str::to_string));
        let mut config = aws_sdk_ivschat::config::Builder::from(&shared);
        if let Some(endpoint) = &endpoint {
            config = config.endpoint_url(endpoint);
        }
        let region = shared.region().map(|r| r.to_string());
        let chat_url = match (&target.chat_url, &endpoint, &region) {
            (Some(url), _, _) => url.clone(),
            (None, Some(endpoint), _) => chat_url_beside(endpoint)?,
            (None, None, Some(region)) => ivschat_client::chat_url(region)?,
            (None, None, None) => bail!(
                "no region: pass --region, set AWS_REGION or a profile's region, or pass --endpoint-url"
            ),
        };
        let ca_pem = match &target.ca_file {
            Some(path) => {
                Some(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)
            }
            None => None,
        };
        Ok(ControlPlane {
            sdk: aws_sdk_ivschat::Client::from_conf(config.build()),
            chat_url,
            ca_pem,
        })
    }

    /// The ARN of `room`, which is an ARN or a room id (found with ListRooms).
    pub async fn room_arn(&self, room: &str) -> anyhow::Result<String> {
        if room.starts_with("arn:") {
            return Ok(room.to_string());
        }
        let mut pages = self.sdk.list_rooms().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(explain)?;
            for summary in page.rooms() {
                if summary.id() == Some(room) {
                    return summary
                        .arn()
                        .map(str::to_string)
                        .ok_or_else(|| anyhow!("room {room} has no ARN"));
                }
            }
        }
        bail!("no room with id {room:?} (pass its id or ARN)")
    }

    /// A fresh chat token for `user` in `room_arn` (CreateChatToken).
    pub async fn mint(&self, request: &TokenRequest) -> anyhow::Result<ChatToken> {
        let mut call = self
            .sdk
            .create_chat_token()
            .room_identifier(&request.room_arn)
            .user_id(&request.user)
            .set_session_duration_in_minutes(request.session_minutes);
        for capability in &request.capabilities {
            call = call.capabilities(ChatTokenCapability::from(capability.as_str()));
        }
        for (key, value) in &request.attributes {
            call = call.attributes(key, value);
        }
        let output = call
            .send()
            .await
            .map_err(explain)
            .context("CreateChatToken")?;
        let token = output
            .token
            .ok_or_else(|| anyhow!("CreateChatToken returned no token"))?;
        Ok(ChatToken::new(token).with_user_id(&request.user))
    }
}

/// What a chat token is minted for.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub room_arn: String,
    pub user: String,
    pub capabilities: Vec<String>,
    pub attributes: Vec<(String, String)>,
    pub session_minutes: Option<i32>,
}

/// This server serves chat on the control plane's host and port (`docs/protocol/messaging.md`
/// §1.1), so `http://host:port` becomes `ws://host:port` and `https://` becomes `wss://`.
/// AWS's own control plane (`ivschat.<region>.amazonaws.com`) has its chat at `edge.ivschat…`.
fn chat_url_beside(endpoint: &str) -> anyhow::Result<String> {
    let endpoint = endpoint.trim_end_matches('/');
    if let Some(rest) = endpoint.strip_prefix("https://") {
        if let Some(aws) = rest
            .strip_prefix("ivschat.")
            .filter(|r| r.ends_with(".amazonaws.com"))
        {
            return Ok(format!("wss://edge.ivschat.{aws}"));
        }
        return Ok(format!("wss://{rest}"));
    }
    if let Some(rest) = endpoint.strip_prefix("http://") {
        return Ok(format!("ws://{rest}"));
    }
    bail!("the endpoint URL {endpoint:?} must start with http:// or https://")
}

/// An SDK error as `Code: message` (the service's words), or the SDK's whole story when the
/// request never got an answer (no connection, no credentials).
pub fn explain<E, R>(error: SdkError<E, R>) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match (error.code(), error.message()) {
        (Some(code), Some(message)) => anyhow!("{code}: {message}"),
        (Some(code), None) => anyhow!("{code}"),
        _ => anyhow!("{}", DisplayErrorContext(&error)),
    }
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `key=value` of `--attribute`.
pub fn parse_attribute(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{text:?} is not key=value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_urls_sit_beside_their_endpoints() {
        assert_eq!(
            chat_url_beside("http://127.0.0.1:8080/").unwrap(),
            "ws://127.0.0.1:8080"
        );
        assert_eq!(
            chat_url_beside("https://chat.example.com").unwrap(),
            "wss://chat.example.com"
        );
        assert_eq!(
            chat_url_beside("https://ivschat.eu-west-1.amazonaws.com").unwrap(),
            "wss://edge.ivschat.eu-west-1.amazonaws.com"
        );
        assert!(chat_url_beside("ftp://x").is_err());
    }
}
