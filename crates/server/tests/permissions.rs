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

/// A `[[credentials]]` key with full access (`admin`/`admin-secret`), besides the users.
fn admin_credentials() -> Vec<CredentialConfig> {
    vec![CredentialConfig {
        access_key_id: "admin".into(),
        secret_access_key: Secret::new("admin-secret"),
        session_token: None,
    }]
}

async fn server() -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.credentials = admin_credentials();
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

// ------------------------------------------------------------------------- several accounts

const ACCOUNT_A: &str = "111111111111";
const ACCOUNT_B: &str = "222222222222";
const EVERYTHING: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
    "Action":"ivschat:*","Resource":"*"}}"#;

/// `admin` (`[[credentials]]`, the server's account 000000000000) and one user with full
/// access in each of two other accounts: `tenant-a` (key `a`) and `tenant-b` (key `b`).
async fn two_accounts() -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.credentials = admin_credentials();
    let in_account = |name: &str, key: &str, account: &str| UserFile {
        account_id: Some(account.into()),
        ..user(name, key, EVERYTHING)
    };
    config.users = load_users(
        vec![
            in_account("tenant-a", "a", ACCOUNT_A),
            in_account("tenant-b", "b", ACCOUNT_B),
        ],
        dir.path(),
        ACCOUNT,
    )
    .unwrap();
    config.check().unwrap();
    (TestServer::start_with(config).await, dir)
}

/// `arn` with its account replaced: the same id, asked for in another account.
fn in_account(arn: &str, account: &str) -> String {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    format!(
        "{}:{}:{}:{}:{account}:{}",
        parts[0], parts[1], parts[2], parts[3], parts[5]
    )
}

fn id_of(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap()
}

/// `(code, message)` AWS answers for a resource that does not exist.
fn not_found(what: &str, arn: &str) -> (String, String) {
    (
        "ResourceNotFoundException".into(),
        format!("{what} {} not found", id_of(arn)),
    )
}

#[tokio::test]
async fn two_accounts_cannot_see_or_reach_each_others_resources() {
    let (server, _dir) = two_accounts().await;
    let (a, b, admin) = (
        client(&server, "a"),
        client(&server, "b"),
        client(&server, "admin"),
    );
    let a_logging = a
        .create_logging_configuration()
        .destination_configuration(aws_sdk_ivschat::types::DestinationConfiguration::S3(
            aws_sdk_ivschat::types::S3DestinationConfiguration::builder()
                .bucket_name("a-bucket")
                .build()
                .unwrap(),
        ))
        .tags("team", "a")
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let a_room = a
        .create_room()
        .tags("team", "a")
        .logging_configuration_identifiers(&a_logging)
        .send()
        .await
        .unwrap();
    let a_room_arn = a_room.arn.clone().unwrap();
    let b_room_arn = room(&b, "b").await;

    // ARNs carry each account; attached logging configurations too.
    assert!(a_room_arn.starts_with(&format!("arn:aws:ivschat:us-east-1:{ACCOUNT_A}:room/")));
    assert!(a_logging.starts_with(&format!(
        "arn:aws:ivschat:us-east-1:{ACCOUNT_A}:logging-configuration/"
    )));
    assert_eq!(
        a_room.logging_configuration_identifiers(),
        [a_logging.as_str()]
    );
    assert!(b_room_arn.starts_with(&format!("arn:aws:ivschat:us-east-1:{ACCOUNT_B}:room/")));

    // Lists: each account its own, the server's account none of theirs.
    let listed = |rooms: &[aws_sdk_ivschat::types::RoomSummary]| -> Vec<String> {
        rooms.iter().map(|r| r.arn().unwrap().to_string()).collect()
    };
    assert_eq!(
        listed(a.list_rooms().send().await.unwrap().rooms()),
        [a_room_arn.as_str()]
    );
    assert_eq!(
        listed(b.list_rooms().send().await.unwrap().rooms()),
        [b_room_arn.as_str()]
    );
    assert!(admin.list_rooms().send().await.unwrap().rooms().is_empty());
    let logging_arns = |c: &aws_sdk_ivschat::Client| {
        let c = c.clone();
        async move {
            c.list_logging_configurations()
                .send()
                .await
                .unwrap()
                .logging_configurations()
                .iter()
                .map(|l| l.arn().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(logging_arns(&a).await, [a_logging.as_str()]);
    assert!(logging_arns(&b).await.is_empty());
    assert!(admin
        .list_rooms()
        .logging_configuration_identifier(in_account(&a_logging, ACCOUNT))
        .send()
        .await
        .is_err());

    // B asks for A's resources, by A's ARN and by the same id in its own account: both are
    // answered exactly as for a resource that does not exist.
    for arn in [a_room_arn.clone(), in_account(&a_room_arn, ACCOUNT_B)] {
        let expected = not_found("Room", &arn);
        let e = b.get_room().identifier(&arn).send().await.unwrap_err();
        assert_eq!(denied(e.into_service_error()), expected, "GetRoom {arn}");
        let e = b
            .update_room()
            .identifier(&arn)
            .name("x")
            .send()
            .await
            .unwrap_err();
        assert_eq!(denied(e.into_service_error()), expected, "UpdateRoom {arn}");
        let e = b.delete_room().identifier(&arn).send().await.unwrap_err();
        assert_eq!(denied(e.into_service_error()), expected, "DeleteRoom {arn}");
        let e = b
            .create_chat_token()
            .room_identifier(&arn)
            .user_id("intruder")
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            denied(e.into_service_error()),
            expected,
            "CreateChatToken {arn}"
        );
        let e = b
            .send_event()
            .room_identifier(&arn)
            .event_name("x")
            .send()
            .await
            .unwrap_err();
        assert_eq!(denied(e.into_service_error()), expected, "SendEvent {arn}");
        let e = b
            .disconnect_user()
            .room_identifier(&arn)
            .user_id("u")
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            denied(e.into_service_error()),
            expected,
            "DisconnectUser {arn}"
        );
    }
    let same_id = in_account(&a_room_arn, ACCOUNT_B);
    let resource = not_found("Room", &same_id);
    let e = b
        .list_tags_for_resource()
        .resource_arn(&same_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(denied(e.into_service_error()), resource);
    let e = b
        .tag_resource()
        .resource_arn(&same_id)
        .tags("team", "b")
        .send()
        .await
        .unwrap_err();
    assert_eq!(denied(e.into_service_error()), resource);
    let e = b
        .untag_resource()
        .resource_arn(&same_id)
        .tag_keys("team")
        .send()
        .await
        .unwrap_err();
    assert_eq!(denied(e.into_service_error()), resource);
    let b_view_of_a_logging = in_account(&a_logging, ACCOUNT_B);
    let expected = not_found("Logging configuration", &b_view_of_a_logging);
    let e = b
        .get_logging_configuration()
        .identifier(&b_view_of_a_logging)
        .send()
        .await
        .unwrap_err();
    assert_eq!(denied(e.into_service_error()), expected);
    let e = b
        .update_logging_configuration()
        .identifier(&b_view_of_a_logging)
        .name("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(denied(e.into_service_error()), expected);
    let e = b
        .delete_logging_configuration()
        .identifier(&b_view_of_a_logging)
        .send()
        .await
        .unwrap_err();
    assert_eq!(denied(e.into_service_error()), expected);
    let e = b
        .create_room()
        .logging_configuration_identifiers(&b_view_of_a_logging)
        .send()
        .await
        .unwrap_err();
    assert_eq!(denied(e.into_service_error()), expected);
    let e = b
        .list_rooms()
        .logging_configuration_identifier(&b_view_of_a_logging)
        .send()
        .await
        .unwrap_err();
    assert_eq!(denied(e.into_service_error()), expected);

    // A's resources are untouched, tags included.
    let tags = a
        .list_tags_for_resource()
        .resource_arn(&a_room_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().get("team").map(String::as_str), Some("a"));
    a.get_logging_configuration()
        .identifier(&a_logging)
        .send()
        .await
        .unwrap();
    server.stop().await;
}

#[tokio::test]
async fn chat_tokens_open_only_their_own_accounts_room() {
    let (server, _dir) = two_accounts().await;
    let (a, b) = (client(&server, "a"), client(&server, "b"));
    let a_room = room(&a, "a").await;
    let b_room = room(&b, "b").await;
    let token = a
        .create_chat_token()
        .room_identifier(&a_room)
        .user_id("alice")
        .send()
        .await
        .unwrap()
        .token
        .unwrap();
    common::chat::ChatClient::connect(server.addr, &token)
        .await
        .expect("A's token opens A's room");

    // A token whose claims name B's room but A's account (as a token minted in A for a room
    // of the same id would) does not open B's room.
    let now = server.app.clock.now_micros();
    let forged = ivschat_server::domain::token::TokenClaims {
        room: id_of(&b_room).to_string(),
        account: ACCOUNT_A.to_string(),
        user_id: "mallory".into(),
        capabilities: vec![],
        attributes: Default::default(),
        token_expires: now + 60_000_000,
        session_expires: now + 3_600_000_000,
        token_id: "forged-1".into(),
    };
    let sealed = server.app.token_keys.seal(&forged);
    assert_eq!(
        common::chat::ChatClient::connect(server.addr, &sealed)
            .await
            .err(),
        Some(404)
    );
    // The same claims in B's account open it: only the account differed.
    let sealed = server
        .app
        .token_keys
        .seal(&ivschat_server::domain::token::TokenClaims {
            account: ACCOUNT_B.to_string(),
            token_id: "forged-2".into(),
            ..forged
        });
    common::chat::ChatClient::connect(server.addr, &sealed)
        .await
        .expect("B's claims open B's room");
    server.stop().await;
}

/// The server's own account is stored without its id: changing `--account-id` on a data
/// directory shows its rooms under the new id, as it did before accounts existed, while
/// another account's rooms keep theirs.
#[tokio::test]
async fn changing_the_server_account_relabels_only_its_own_resources() {
    let dir = tempfile::tempdir().unwrap();
    let config = |server_account: &str| {
        let mut config = Config::for_tests(dir.path());
        config.account_id = server_account.into();
        config.credentials = admin_credentials();
        config.users = load_users(
            vec![UserFile {
                account_id: Some(ACCOUNT_A.into()),
                ..user("tenant-a", "a", EVERYTHING)
            }],
            dir.path(),
            server_account,
        )
        .unwrap();
        config
    };
    let before = TestServer::start_with(config(ACCOUNT)).await;
    let own = room(&client(&before, "admin"), "own").await;
    let theirs = room(&client(&before, "a"), "theirs").await;
    before.stop().await;

    const RENAMED: &str = "999999999999";
    let after = TestServer::start_with(config(RENAMED)).await;
    let (admin, a) = (client(&after, "admin"), client(&after, "a"));
    let moved = in_account(&own, RENAMED);
    let rooms = admin.list_rooms().send().await.unwrap();
    let arns: Vec<&str> = rooms.rooms().iter().map(|r| r.arn().unwrap()).collect();
    assert_eq!(arns, [moved.as_str()]);
    admin.get_room().identifier(&moved).send().await.unwrap();
    let e = admin.get_room().identifier(&own).send().await.unwrap_err();
    assert_eq!(denied(e.into_service_error()), not_found("Room", &own));
    let rooms = a.list_rooms().send().await.unwrap();
    let arns: Vec<&str> = rooms.rooms().iter().map(|r| r.arn().unwrap()).collect();
    assert_eq!(arns, [theirs.as_str()]);
    after.stop().await;
}

/// Our extensions (README "Extensions (not AWS)") are in our own IAM service prefix: a policy
/// allowing `ivschat:*` grants none of them, and `ivschat-server:<Operation>` on the room's ARN
/// grants that one operation and no other. Every extension the router knows is covered.
#[tokio::test]
async fn our_extensions_need_our_own_iam_prefix_one_action_each() {
    use ivschat_server::api::route::Operation;
    const IVSCHAT_STAR: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ivschat:*","Resource":"*"}}"#;
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.credentials = admin_credentials();
    let only = |operation: Operation| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"ivschat-server:{}","Resource":"arn:aws:ivschat:*:*:room/*"}}}}"#,
            operation.name()
        )
    };
    let mut users = vec![user("aws-only", "awsonly", IVSCHAT_STAR)];
    for operation in Operation::EXTENSIONS {
        let name = operation.name().to_lowercase();
        users.push(user(&name, &name, &only(operation)));
    }
    config.users = load_users(users, dir.path(), ACCOUNT).unwrap();
    config.check().unwrap();
    let server = TestServer::start_with(config).await;
    // With history, so ListRoomMessages has something to answer.
    let room = client(&server, "admin")
        .create_room()
        .tags("ivschat-server:history", "5")
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let body = serde_json::json!({"roomIdentifier": room}).to_string();
    let call = |key: String, operation: Operation| {
        let (endpoint, body) = (server.endpoint(), body.clone());
        async move {
            common::raw::send_as(
                &endpoint,
                (&key, &format!("{key}-secret")),
                "POST",
                &format!("/ivschat-server/{}", operation.name()),
                &body,
            )
            .await
        }
    };
    for operation in Operation::EXTENSIONS {
        let action = format!("ivschat-server:{}", operation.name());
        let mut callers = vec!["awsonly".to_string()];
        for other in Operation::EXTENSIONS {
            let key = other.name().to_lowercase();
            if other == operation {
                let allowed = call(key, operation).await;
                assert_eq!(allowed.status, 200, "{action}: {}", allowed.body);
            } else {
                callers.push(key);
            }
        }
        for key in callers {
            let denied = call(key.clone(), operation).await;
            assert_eq!(denied.status, 403, "{key} {action}: {}", denied.body);
            assert_eq!(denied.error_type(), "AccessDeniedException");
            assert!(
                denied.json()["message"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("{action} on resource: {room}")),
                "{}",
                denied.body
            );
        }
    }
    server.stop().await;
}
