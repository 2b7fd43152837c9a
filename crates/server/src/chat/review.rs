//! Message review handlers (`docs/protocol/messaging.md` §7): before a room with a review handler
//! delivers a SEND_MESSAGE, its Lambda function is invoked (the Lambda Invoke API, through the
//! AWS SDK) with the message, and answers ALLOW (possibly with edited content and attributes)
//! or DENY. An error, a timeout (200 ms) or an invalid answer applies the room's
//! `fallbackResult`; with no Lambda endpoint configured, the fallback always applies.

use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use ivschat_proto::control::FallbackResult;
use ivschat_proto::messaging::{Attributes, MAX_ATTRIBUTES_BYTES};
use serde::{Deserialize, Serialize};

use crate::aws_clients::{sdk_config, Endpoint};
use crate::config::Config;

/// The Lambda event (request payload).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReviewRequest {
    pub content: String,
    pub message_id: String,
    pub room_arn: String,
    pub attributes: Attributes,
    pub sender: ReviewSender,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReviewSender {
    pub attributes: Attributes,
    pub user_id: String,
    pub ip: String,
}

/// The Lambda's answer, as far as it parses.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReviewResponse {
    review_result: Option<String>,
    content: Option<serde_json::Value>,
    attributes: Option<serde_json::Value>,
}

/// What happens to the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow {
        content: String,
        attributes: Attributes,
    },
    Deny {
        reason: Option<String>,
    },
}

/// How a review ended, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    Denied,
    /// The fallback applied because of an error, a timeout, an invalid answer or no endpoint.
    Fallback(&'static str),
}

pub struct Reviewer {
    lambda: Option<aws_sdk_lambda::Client>,
    timeout: Duration,
}

impl std::fmt::Debug for Reviewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reviewer")
            .field("configured", &self.lambda.is_some())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Reviewer {
    pub async fn from_config(config: &Config) -> Reviewer {
        let timeout = Duration::from_millis(config.review.timeout_ms);
        let Some(setting) = &config.review.lambda_endpoint else {
            tracing::warn!(
                "no Lambda endpoint configured (--lambda-endpoint): rooms with a message review \
                 handler apply their fallbackResult to every message"
            );
            return Reviewer {
                lambda: None,
                timeout,
            };
        };
        let endpoint = Endpoint::parse(setting);
        let shared = sdk_config(&config.region, &endpoint).await;
        // One attempt: a retry could not finish inside the 200 ms budget anyway.
        let lambda_config = aws_sdk_lambda::config::Builder::from(&shared)
            .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
            .build();
        tracing::info!(endpoint = ?endpoint, "message review handlers are invoked through the Lambda Invoke API");
        Reviewer {
            lambda: Some(aws_sdk_lambda::Client::from_conf(lambda_config)),
            timeout,
        }
    }

    /// A reviewer that is not configured (tests, and servers without Lambda).
    pub fn disabled() -> Reviewer {
        Reviewer {
            lambda: None,
            timeout: Duration::from_millis(200),
        }
    }

    /// Reviews one message. `max_length` is the room's `maximumMessageLength`: edited content
    /// must still respect it.
    pub async fn review(
        &self,
        function_arn: &str,
        request: &ReviewRequest,
        fallback: FallbackResult,
        max_length: usize,
    ) -> (Verdict, Outcome) {
        let apply_fallback = |why: &'static str| {
            let verdict = match fallback {
                FallbackResult::Allow => Verdict::Allow {
                    content: request.content.clone(),
                    attributes: request.attributes.clone(),
                },
                FallbackResult::Deny => Verdict::Deny { reason: None },
            };
            (verdict, Outcome::Fallback(why))
        };
        let Some(lambda) = &self.lambda else {
            return apply_fallback("no Lambda endpoint configured");
        };
        let payload = serde_json::to_vec(request).unwrap_or_default();
        let call = lambda
            .invoke()
            .function_name(function_arn)
            .payload(Blob::new(payload))
            .send();
        let output = match tokio::time::timeout(self.timeout, call).await {
            Err(_) => return apply_fallback("timed out"),
            Ok(Err(e)) => {
                tracing::warn!(function = function_arn, error = %aws_sdk_lambda::error::DisplayErrorContext(&e), "review handler invocation failed");
                return apply_fallback("invocation failed");
            }
            Ok(Ok(output)) => output,
        };
        if output.function_error().is_some() {
            return apply_fallback("the function returned an error");
        }
        let Some(body) = output.payload() else {
            return apply_fallback("empty answer");
        };
        match interpret(body.as_ref(), request, max_length) {
            Some(verdict) => {
                let outcome = match verdict {
                    Verdict::Allow { .. } => Outcome::Allowed,
                    Verdict::Deny { .. } => Outcome::Denied,
                };
                (verdict, outcome)
            }
            None => apply_fallback("invalid answer"),
        }
    }
}

/// Reads the function's answer; `None` when it is not a valid review result.
fn interpret(body: &[u8], request: &ReviewRequest, max_length: usize) -> Option<Verdict> {
    let response: ReviewResponse = serde_json::from_slice(body).ok()?;
    let attributes = match response.attributes {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Object(map)) => {
            let mut attributes = Attributes::new();
            for (k, v) in map {
                attributes.insert(k, v.as_str()?.to_string());
            }
            Some(attributes)
        }
        Some(_) => return None,
    };
    match response.review_result.as_deref()? {
        "ALLOW" => {
            let content = response.content?.as_str()?.to_string();
            let length = content.chars().count();
            if length == 0 || length > max_length {
                return None;
            }
            // Returned attributes replace the message's; absent ones keep them.
            let attributes = attributes.unwrap_or_else(|| request.attributes.clone());
            let size: usize = attributes.iter().map(|(k, v)| k.len() + v.len()).sum();
            if size > MAX_ATTRIBUTES_BYTES {
                return None;
            }
            Some(Verdict::Allow {
                content,
                attributes,
            })
        }
        "DENY" => Some(Verdict::Deny {
            reason: attributes.and_then(|a| a.get("Reason").cloned()),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> ReviewRequest {
        ReviewRequest {
            content: "hello".into(),
            message_id: "WhO6MW6iRdS5".into(),
            room_arn: "arn:aws:ivschat:us-east-1:000000000000:room/g1H2I3j4k5L6".into(),
            attributes: [("kind".to_string(), "smoke".to_string())].into(),
            sender: ReviewSender {
                attributes: Attributes::new(),
                user_id: "u".into(),
                ip: "127.0.0.1".into(),
            },
        }
    }

    #[test]
    fn request_payload_has_the_documented_shape() {
        let json = serde_json::to_value(request()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"Content":"hello","MessageId":"WhO6MW6iRdS5",
                "RoomArn":"arn:aws:ivschat:us-east-1:000000000000:room/g1H2I3j4k5L6",
                "Attributes":{"kind":"smoke"},
                "Sender":{"Attributes":{},"UserId":"u","Ip":"127.0.0.1"}})
        );
    }

    #[test]
    fn answers_are_interpreted_strictly() {
        let r = request();
        assert_eq!(
            interpret(
                br#"{"ReviewResult":"ALLOW","Content":"hi [edited]","Attributes":{"a":"b"}}"#,
                &r,
                500
            ),
            Some(Verdict::Allow {
                content: "hi [edited]".into(),
                attributes: [("a".to_string(), "b".to_string())].into()
            })
        );
        assert_eq!(
            interpret(br#"{"ReviewResult":"ALLOW","Content":"hi"}"#, &r, 500),
            Some(Verdict::Allow {
                content: "hi".into(),
                attributes: r.attributes.clone()
            })
        );
        assert_eq!(
            interpret(
                br#"{"ReviewResult":"DENY","Attributes":{"Reason":"rude"}}"#,
                &r,
                500
            ),
            Some(Verdict::Deny {
                reason: Some("rude".into())
            })
        );
        assert_eq!(
            interpret(br#"{"ReviewResult":"DENY"}"#, &r, 500),
            Some(Verdict::Deny { reason: None })
        );
        for invalid in [
            &br#"not json"#[..],
            br#"{"ReviewResult":"MAYBE","Content":"x"}"#,
            br#"{"ReviewResult":"ALLOW"}"#,
            br#"{"ReviewResult":"ALLOW","Content":5}"#,
            br#"{"ReviewResult":"ALLOW","Content":""}"#,
            br#"{"ReviewResult":"ALLOW","Content":"x","Attributes":{"a":1}}"#,
            br#"{"Content":"x"}"#,
            br#"[]"#,
        ] {
            assert_eq!(
                interpret(invalid, &r, 500),
                None,
                "{}",
                String::from_utf8_lossy(invalid)
            );
        }
        // Edited content must still respect the room's limit.
        assert_eq!(
            interpret(br#"{"ReviewResult":"ALLOW","Content":"toolong"}"#, &r, 3),
            None
        );
    }
}
