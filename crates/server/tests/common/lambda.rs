//! A stand-in for a review handler's Lambda function: a small server speaking the Lambda Invoke
//! API (`POST /2015-03-31/functions/{name}/invocations`), recording what it was asked. What it
//! answers depends on the message content: allow (edited), deny, hang, garbage, error.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

/// The function's ARN, event and request headers of each invocation, in order.
#[derive(Default, Clone)]
pub struct Invocations(pub Arc<Mutex<Vec<(String, Value, HeaderMap)>>>);

async fn invoke(
    State(seen): State<Invocations>,
    Path(function): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let event: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    seen.0
        .lock()
        .unwrap()
        .push((function, event.clone(), headers));
    let content = event["Content"].as_str().unwrap_or("").to_string();
    match content.as_str() {
        "deny" => json!({"ReviewResult":"DENY","Attributes":{"Reason":"not nice"}})
            .to_string()
            .into_response(),
        "deny silently" => json!({"ReviewResult":"DENY"}).to_string().into_response(),
        "garbage" => "this is not json".into_response(),
        "too long" => json!({"ReviewResult":"ALLOW","Content":"x".repeat(600)})
            .to_string()
            .into_response(),
        "crash" => {
            let mut response = json!({"errorMessage":"boom","errorType":"Error"})
                .to_string()
                .into_response();
            response
                .headers_mut()
                .insert("x-amz-function-error", "Unhandled".parse().unwrap());
            response
        }
        "unavailable" => (StatusCode::SERVICE_UNAVAILABLE, "{}").into_response(),
        // Never answers: the 200 ms budget runs out.
        "hang" => std::future::pending::<Response>().await,
        _ => json!({
            "ReviewResult":"ALLOW",
            "Content": format!("{content} [reviewed]"),
            "Attributes": {"reviewed":"yes"}
        })
        .to_string()
        .into_response(),
    }
}

/// Starts the stand-in function server; returns its URL and what it was asked.
pub async fn function_server() -> (String, Invocations) {
    let seen = Invocations::default();
    let app = Router::new()
        .route("/2015-03-31/functions/{function}/invocations", post(invoke))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}
