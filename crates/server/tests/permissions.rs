//! IAM policies per user, through the AWS SDK for Rust: what each typical key may do, the
//! AccessDeniedException AWS answers otherwise, and that `[[credentials]]` keys keep full
//! access (README "Credentials and permissions").

mod common;

use aws_sdk_ivschat::error::ProvideErrorMetadata;
use common::TestServer;
use ivschat_server::config::{Config, CredentialConfig, Secret};
use ivschat_server::iam::users::{load_users, AccessKeyFile, UserFile};

const ACCOUNT: &str = "000000000000";

fn user(name: &str, key: &str, policy: &str) -> UserFile {
    UserFile {
        name: name.into(),
        account_id: None,
        access_keys: vec![AccessKeyFile {
            access_key_id: key.into(),
            secret_access_key: Secret::new(format!("{key}-secret")),
        }],
        policies: vec![policy.into()],
    }
}

const TOKENS_FOR_WEB_ROOMS: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"MintTokens",
    "Effect":"Allow","Action":"ivschat:CreateChatToken","Resource":"arn:aws:ivschat:*:*:room/*",
    "Condition":{"StringEquals":{"aws:ResourceTag/app":"web"}}}]}"#;
const READ_ONLY: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
    "Action":["ivschat:Get*","ivschat:List*"],"Resource":"*"}}"#;
const ALL_BUT_DELETE_ROOM: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":"ivschat:*","Resource":"*"},
    {"Sid":"NeverDelete","Effect":"Deny","Action":"ivschat:DeleteRoom","Resource":"*"}]}"#;
const CREATE_ONLY: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
    "Action":"ivschat:CreateRoom","Resource":"*"}}"#;
const CREATE_WEB_ROOMS: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
    "Action":["ivschat:CreateRoom","ivschat:TagResource"],"Resource":"*",
    "Condition":{"StringEquals":{"aws:RequestTag/app":"web"},
                 "ForAllValues:StringEquals":{"aws:TagKeys":["app"]}}}}"#;
const NOT_ACTION: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
    "NotAction":["ivschat:Delete*","ivschat:Update*"],"Resource":"*"}}"#;

async fn server() -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.credentials = vec![CredentialConfig {
        access_key_id: "admin".into(),
        secret_access_key: Secret::new("admin-secret"),
        session_token: None,
    }];
    config.users = load_users(
        vec![
            user("app-backend", "minter", TOKENS_FOR_WEB_ROOMS),
            user("auditor", "reader", READ_ONLY),
            user("operator", "operator", ALL_BUT_DELETE_ROOM),
            user("creator", "creator", CREATE_ONLY),
            user("web-creator", "webcreator", CREATE_WEB_ROOMS),
            user("careful", "careful", NOT_ACTION),
        ],
        dir.path(),
        ACCOUNT,
    )
    .unwrap();
    config.check().unwrap();
    (TestServer::start_with(config).await, dir)
}

fn client(server: &TestServer, key: &str) -> aws_sdk_ivschat::Client {
    server.client_with(key, &format!("{key}-secret"))
}

async fn room(admin: &aws_sdk_ivschat::Client, app: &str) -> String {
    admin
        .create_room()
        .tags("app", app)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap()
}

/// `(error code, message)` of a failed call.
fn denied<E: ProvideErrorMetadata>(e: E) -> (String, String) {
    (
        e.code().unwrap_or_default().to_string(),
        e.message().unwrap_or_default().to_string(),
    )
}

fn not_allowed(user: &str, action: &str, resource: &str) -> (String, String) {
    (
        "AccessDeniedException".into(),
        format!(
            "User: arn:aws:iam::{ACCOUNT}:user/{user} is not authorized to perform: {action} on \
             resource: {resource} because no identity-based policy allows the {action} action"
        ),
    )
}

#[tokio::test]
async fn a_token_minting_key_works_only_for_rooms_tagged_app_web() {
    let (server, _dir) = server().await;
    let admin = client(&server, "admin");
    let (web, ops) = (room(&admin, "web").await, room(&admin, "ops").await);
    let minter = client(&server, "minter");
    minter
        .create_chat_token()
        .room_identifier(&web)
        .user_id("u1")
        .send()
        .await
        .unwrap();
    let e = minter
        .create_chat_token()
        .room_identifier(&ops)
        .user_id("u1")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        denied(e),
        not_allowed("app-backend", "ivschat:CreateChatToken", &ops)
    );
    let e = minter
        .get_room()
        .identifier(&web)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        denied(e),
        not_allowed("app-backend", "ivschat:GetRoom", &web)
    );
    server.stop().await;
}

#[tokio::test]
async fn a_read_only_key_reads_and_cannot_change_anything() {
    let (server, _dir) = server().await;
    let admin = client(&server, "admin");
    let web = room(&admin, "web").await;
    let reader = client(&server, "reader");
    reader.get_room().identifier(&web).send().await.unwrap();
    assert_eq!(reader.list_rooms().send().await.unwrap().rooms().len(), 1);
    reader
        .list_tags_for_resource()
        .resource_arn(&web)
        .send()
        .await
        .unwrap();
    let e = reader
        .delete_room()
        .identifier(&web)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        denied(e),
        not_allowed("auditor", "ivschat:DeleteRoom", &web)
    );
    // ListRooms is authorized on `*`; CreateRoom on the room type's ARN pattern.
    let e = reader
        .create_room()
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        denied(e),
        not_allowed(
            "auditor",
            "ivschat:CreateRoom",
            &format!("arn:aws:ivschat:us-east-1:{ACCOUNT}:room/*")
        )
    );
    server.stop().await;
}

#[tokio::test]
async fn an_explicit_deny_overrides_a_wildcard_allow() {
    let (server, _dir) = server().await;
    let operator = client(&server, "operator");
    let web = room(&operator, "web").await;
    operator
        .update_room()
        .identifier(&web)
        .name("renamed")
        .send()
        .await
        .unwrap();
    let e = operator
        .delete_room()
        .identifier(&web)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        denied(e),
        (
            "AccessDeniedException".to_string(),
            format!(
                "User: arn:aws:iam::{ACCOUNT}:user/operator is not authorized to perform: \
                 ivschat:DeleteRoom on resource: {web} with an explicit deny in an \
                 identity-based policy"
            )
        )
    );
    server.stop().await;
}

#[tokio::test]
async fn not_action_allows_everything_else() {
    let (server, _dir) = server().await;
    let careful = client(&server, "careful");
    let web = room(&careful, "web").await;
    careful.get_room().identifier(&web).send().await.unwrap();
    let e = careful
        .update_room()
        .identifier(&web)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        denied(e),
        not_allowed("careful", "ivschat:UpdateRoom", &web)
    );
    server.stop().await;
}

#[tokio::test]
async fn creating_with_tags_also_needs_tag_resource() {
    let (server, _dir) = server().await;
    let creator = client(&server, "creator");
    creator.create_room().send().await.unwrap();
    let e = creator
        .create_room()
        .tags("app", "web")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        denied(e),
        not_allowed(
            "creator",
            "ivschat:TagResource",
            &format!("arn:aws:ivschat:us-east-1:{ACCOUNT}:room/*")
        )
    );
    server.stop().await;
}

#[tokio::test]
async fn request_tag_conditions_decide_what_may_be_created() {
    let (server, _dir) = server().await;
    let web_creator = client(&server, "webcreator");
    let arn = web_creator
        .create_room()
        .tags("app", "web")
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    for tags in [
        vec![("app", "ops")],
        vec![],
        vec![("app", "web"), ("x", "1")],
    ] {
        let mut create = web_creator.create_room();
        for (k, v) in &tags {
            create = create.tags(*k, *v);
        }
        let e = create.send().await.unwrap_err().into_service_error();
        assert_eq!(e.code(), Some("AccessDeniedException"), "{tags:?}");
    }
    // TagResource on an existing room: the same conditions on the request's tags.
    web_creator
        .tag_resource()
        .resource_arn(&arn)
        .tags("app", "web")
        .send()
        .await
        .unwrap();
    let e = web_creator
        .tag_resource()
        .resource_arn(&arn)
        .tags("owner", "me")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(e.code(), Some("AccessDeniedException"));
    server.stop().await;
}

#[tokio::test]
async fn access_denied_is_403_with_the_error_type_header() {
    let (server, _dir) = server().await;
    let response = common::raw::send_as(
        &server.endpoint(),
        ("reader", "reader-secret"),
        "POST",
        "/DeleteRoom",
        r#"{"identifier":"arn:aws:ivschat:us-east-1:000000000000:room/abcdefABCDEF"}"#,
    )
    .await;
    assert_eq!(response.status, 403);
    assert_eq!(response.error_type(), "AccessDeniedException");
    assert!(response.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("User: arn:aws:iam::000000000000:user/auditor is not authorized"));
    server.stop().await;
}
