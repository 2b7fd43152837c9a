//! Clients for the AWS services this server calls (Lambda for review handlers; S3, CloudWatch
//! Logs and Firehose for chat logging), built with the maintained AWS SDK for Rust.
//!
//! Each service's endpoint setting is either a URL (LocalStack, moto, `sam local`, MinIO, …)
//! or the word `aws` for the real service in this server's region. Credentials come from the
//! standard AWS chain (`AWS_ACCESS_KEY_ID`, profiles, instance roles…). For a local URL with no
//! credentials in the environment, `test`/`test` is used, as local AWS emulators expect; that
//! also keeps the SDK from probing the EC2 metadata service.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_lambda::config::{Credentials, Region};

/// What an endpoint setting asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// The real AWS service.
    Aws,
    /// A service at this URL that speaks the AWS API.
    Url(String),
}

impl Endpoint {
    pub fn parse(setting: &str) -> Endpoint {
        if setting.trim().eq_ignore_ascii_case("aws") {
            Endpoint::Aws
        } else {
            Endpoint::Url(setting.trim().to_string())
        }
    }
}

/// Shared SDK configuration (region, credentials) for a client of `endpoint`.
pub async fn sdk_config(region: &str, endpoint: &Endpoint) -> SdkConfig {
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).region(Region::new(region.to_string()));
    if let Endpoint::Url(url) = endpoint {
        loader = loader.endpoint_url(url);
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            loader = loader.credentials_provider(Credentials::new(
                "test",
                "test",
                None,
                None,
                "ivschat-local-endpoint",
            ));
        }
    }
    loader.load().await
}
