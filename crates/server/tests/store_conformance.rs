//! One conformance suite for every `Store` backend: each check below is an async function
//! taking `Arc<dyn Store>`, run once against SQLite (in a temporary directory) and once
//! against PostgreSQL (`IVSCHAT_TEST_DATABASE_URL`, which `scripts/test.sh` points at a private
//! instance; without it the PostgreSQL half skips, see `common/services.rs`) in a fresh schema
//! that is dropped afterwards.
//!
//! Test names are `sqlite::<check>` and `postgres::<check>`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use ivschat_proto::control::{
    CloudWatchLogsDestinationConfiguration, DestinationConfiguration, FallbackResult,
    FirehoseDestinationConfiguration, S3DestinationConfiguration, StringMap,
};
use ivschat_proto::errors::{ErrorKind, ServiceError};
use ivschat_server::config::Quotas;
use ivschat_server::domain::arn::ResourceKind;
use ivschat_server::domain::ids::new_id;
use ivschat_server::domain::resources::{LoggingConfiguration, LoggingState, Room};
use ivschat_server::store::postgres::PostgresStore;
use ivschat_server::store::sqlite::SqliteStore;
use ivschat_server::store::{Owner, PageCursor, RoomFilter, Store, StoreError};

/// The server's own account, which every check but the accounts' acts in.
const OWN: Owner<'static> = Owner::Account("");

// ------------------------------------------------------------------------- harness

/// Generates `sqlite::<check>` and `postgres::<check>` for each check.
macro_rules! conformance {
    ($($check:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    super::on_sqlite(super::$check).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    super::on_postgres(super::$check).await;
                }
            )*
        }
    };
}

conformance!(
    ping,
    rooms_round_trip,
    logging_configurations_round_trip,
    rejected_changes_write_nothing,
    missing_resources_are_not_found,
    room_quota,
    logging_configuration_quota,
    logging_configurations_per_room_quota,
    unknown_logging_configurations_are_not_found,
    logging_configuration_in_use,
    list_rooms_order_and_pages,
    list_rooms_filters,
    list_logging_configurations_pages,
    update_tags_on_both_kinds,
    concurrent_tag_updates_are_not_lost,
    concurrent_room_inserts_respect_the_quota,
    concurrent_logging_inserts_respect_the_quota,
    attach_racing_delete_stays_consistent,
    accounts_do_not_reach_each_other,
    quotas_are_per_account,
    lists_and_pages_stay_in_the_account,
);

async fn on_sqlite<F, Fut>(check: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).await.unwrap();
    check(Arc::new(store)).await;
}

fn fresh_schema() -> String {
    format!("t_{}", hex::encode(rand::random::<[u8; 8]>()))
}

async fn drop_schema(database_url: &str, schema: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(database_url).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .execute(&mut conn)
        .await
        .unwrap();
    let _ = conn.close().await;
}

/// Runs `check` in a fresh schema, and drops the schema whether or not the check passed.
async fn in_fresh_schema<F, Fut>(database_url: &str, check: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let schema = fresh_schema();
    let outcome = AssertUnwindSafe(check(schema.clone())).catch_unwind().await;
    drop_schema(database_url, &schema).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn on_postgres<F, Fut>(check: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(database_url) = common::services::database_url() else {
        return; // skipped, and said so
    };
    let url = &database_url;
    in_fresh_schema(url, |schema| async move {
        let store = PostgresStore::open(url, &schema)
            .await
            .unwrap_or_else(|e| panic!("opening PostgreSQL at {url} failed: {e:#}"));
        check(Arc::new(store)).await;
    })
    .await;
}

// ------------------------------------------------------------------------- fixtures

fn quotas() -> Quotas {
    Quotas::default()
}

fn room(name: &str, update_time: i64) -> Room {
    Room {
        id: new_id(),
        account: String::new(),
        name: name.to_string(),
        create_time: update_time,
        update_time,
        maximum_message_rate_per_second: 10,
        maximum_message_length: 500,
        review_handler_uri: None,
        review_fallback: FallbackResult::Allow,
        tags: StringMap::new(),
        logging_configuration_ids: Vec::new(),
    }
}

fn logging(name: &str, update_time: i64) -> LoggingConfiguration {
    LoggingConfiguration {
        id: new_id(),
        account: String::new(),
        name: name.to_string(),
        create_time: update_time,
        update_time,
        destination: DestinationConfiguration::S3(S3DestinationConfiguration {
            bucket_name: "bucket".to_string(),
        }),
        state: LoggingState::Active,
        tags: StringMap::new(),
    }
}

fn tags(pairs: &[(&str, &str)]) -> StringMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn refusal() -> ServiceError {
    ServiceError::new(ErrorKind::Conflict, "refused by the rule")
}

async fn add_logging(store: &Arc<dyn Store>, name: &str, update_time: i64) -> String {
    let config = logging(name, update_time);
    store
        .insert_logging_configuration(&config, &quotas())
        .await
        .unwrap();
    config.id
}

/// Newest first, id breaking ties, as both list operations order.
fn newest_first<T>(items: &mut [T], key: impl Fn(&T) -> (i64, String)) {
    items.sort_by_key(|item| std::cmp::Reverse(key(item)));
}

/// Every room matching `filter`, `page` at a time, following the cursor.
async fn all_rooms(store: &Arc<dyn Store>, filter: &RoomFilter, page: usize) -> Vec<Room> {
    all_rooms_in(store, "", filter, page).await
}

/// Every room of the account stored under `account` matching `filter`, `page` at a time.
async fn all_rooms_in(
    store: &Arc<dyn Store>,
    account: &str,
    filter: &RoomFilter,
    page: usize,
) -> Vec<Room> {
    let mut all: Vec<Room> = Vec::new();
    let mut after: Option<PageCursor> = None;
    loop {
        let batch = store
            .list_rooms(account, filter, after.as_ref(), page)
            .await
            .unwrap();
        assert!(batch.len() <= page, "a page holds at most `limit` rooms");
        // A store that ignored the cursor would loop here forever: fail instead.
        if let (Some(cursor), Some(first)) = (&after, batch.first()) {
            assert!(
                (first.update_time, &first.id) < (cursor.update_time, &cursor.id),
                "a page must start after the cursor"
            );
        }
        let Some(last) = batch.last() else { break };
        after = Some(PageCursor {
            update_time: last.update_time,
            id: last.id.clone(),
        });
        let full = batch.len() == page;
        all.extend(batch);
        if !full {
            break;
        }
    }
    all
}

fn ids<'a>(rooms: impl IntoIterator<Item = &'a Room>) -> Vec<String> {
    rooms.into_iter().map(|r| r.id.clone()).collect()
}

// ------------------------------------------------------------------------- checks

async fn ping(store: Arc<dyn Store>) {
    store.ping().await.unwrap();
}

async fn rooms_round_trip(store: Arc<dyn Store>) {
    let first = add_logging(&store, "first", 1).await;
    let second = add_logging(&store, "second", 2).await;
    let mut original = room("lobby", 1_700_000_000_123_456);
    original.maximum_message_rate_per_second = 7;
    original.maximum_message_length = 123;
    original.review_handler_uri = Some("arn:aws:lambda:us-east-1:000000000000:function:f".into());
    original.review_fallback = FallbackResult::Deny;
    original.tags = tags(&[
        ("zeta", "1"),
        ("alpha", "ünïcødé \"quoted\""),
        ("", "empty key"),
    ]);
    // Client order, not sorted order, must survive.
    original.logging_configuration_ids = vec![second.clone(), first.clone()];
    store.insert_room(&original, &quotas()).await.unwrap();
    assert_eq!(
        store.get_room(OWN, &original.id).await.unwrap(),
        Some(original.clone())
    );

    let attach = first.clone();
    let updated = store
        .update_room(
            "",
            &original.id,
            &quotas(),
            Box::new(move |room: &mut Room| {
                room.name = "renamed".into();
                room.update_time += 5;
                room.maximum_message_length = 99;
                room.review_handler_uri = None;
                room.review_fallback = FallbackResult::Allow;
                room.logging_configuration_ids = vec![attach];
                Ok(())
            }),
        )
        .await
        .unwrap();
    let mut expected = original.clone();
    expected.name = "renamed".into();
    expected.update_time += 5;
    expected.maximum_message_length = 99;
    expected.review_handler_uri = None;
    expected.review_fallback = FallbackResult::Allow;
    expected.logging_configuration_ids = vec![first];
    assert_eq!(updated, expected);
    assert_eq!(
        store.get_room(OWN, &original.id).await.unwrap(),
        Some(expected)
    );

    store.delete_room("", &original.id).await.unwrap();
    assert_eq!(store.get_room(OWN, &original.id).await.unwrap(), None);
}

async fn logging_configurations_round_trip(store: Arc<dyn Store>) {
    let destinations = [
        DestinationConfiguration::S3(S3DestinationConfiguration {
            bucket_name: "my-bucket".into(),
        }),
        DestinationConfiguration::CloudWatchLogs(CloudWatchLogsDestinationConfiguration {
            log_group_name: "/aws/chat".into(),
        }),
        DestinationConfiguration::Firehose(FirehoseDestinationConfiguration {
            delivery_stream_name: "stream".into(),
        }),
    ];
    for (i, destination) in destinations.into_iter().enumerate() {
        let mut original = logging(&format!("config-{i}"), 1_000 + i as i64);
        original.destination = destination;
        original.state = LoggingState::Creating;
        original.tags = tags(&[("b", "2"), ("a", "1")]);
        store
            .insert_logging_configuration(&original, &quotas())
            .await
            .unwrap();
        assert_eq!(
            store
                .get_logging_configuration(OWN, &original.id)
                .await
                .unwrap(),
            Some(original.clone())
        );

        let updated = store
            .update_logging_configuration(
                "",
                &original.id,
                Box::new(|config: &mut LoggingConfiguration| {
                    config.name = "renamed".into();
                    config.update_time += 1;
                    config.state = LoggingState::Active;
                    config.destination = DestinationConfiguration::S3(S3DestinationConfiguration {
                        bucket_name: "other".into(),
                    });
                    Ok(())
                }),
            )
            .await
            .unwrap();
        assert_eq!(updated.name, "renamed");
        assert_eq!(updated.state, LoggingState::Active);
        assert_eq!(updated.create_time, original.create_time);
        assert_eq!(
            store
                .get_logging_configuration(OWN, &original.id)
                .await
                .unwrap(),
            Some(updated)
        );

        store
            .delete_logging_configuration("", &original.id)
            .await
            .unwrap();
        assert_eq!(
            store
                .get_logging_configuration(OWN, &original.id)
                .await
                .unwrap(),
            None
        );
    }
}

async fn rejected_changes_write_nothing(store: Arc<dyn Store>) {
    let config_id = add_logging(&store, "config", 1).await;
    let mut original = room("lobby", 10);
    original.tags = tags(&[("k", "v")]);
    store.insert_room(&original, &quotas()).await.unwrap();
    let config = store
        .get_logging_configuration(OWN, &config_id)
        .await
        .unwrap()
        .unwrap();

    let outcome = store
        .update_room(
            "",
            &original.id,
            &quotas(),
            Box::new(|room: &mut Room| {
                room.name = "changed".into();
                room.logging_configuration_ids = vec!["nonexistent1".into()];
                Err(refusal())
            }),
        )
        .await;
    match outcome {
        Err(StoreError::Rejected(e)) => {
            assert_eq!(e.kind, ErrorKind::Conflict);
            assert_eq!(e.message, "refused by the rule");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(
        store.get_room(OWN, &original.id).await.unwrap(),
        Some(original.clone())
    );

    let outcome = store
        .update_logging_configuration(
            "",
            &config_id,
            Box::new(|config: &mut LoggingConfiguration| {
                config.name = "changed".into();
                Err(refusal())
            }),
        )
        .await;
    assert!(
        matches!(outcome, Err(StoreError::Rejected(_))),
        "{outcome:?}"
    );
    assert_eq!(
        store
            .get_logging_configuration(OWN, &config_id)
            .await
            .unwrap(),
        Some(config.clone())
    );

    for (kind, id) in [
        (ResourceKind::Room, original.id.clone()),
        (ResourceKind::LoggingConfiguration, config_id.clone()),
    ] {
        let outcome = store
            .update_tags(
                "",
                kind,
                &id,
                Box::new(|tags: &mut StringMap| {
                    tags.clear();
                    tags.insert("new".into(), "x".into());
                    Err(refusal())
                }),
            )
            .await;
        assert!(
            matches!(outcome, Err(StoreError::Rejected(_))),
            "{outcome:?}"
        );
    }
    assert_eq!(
        store.get_room(OWN, &original.id).await.unwrap(),
        Some(original)
    );
    assert_eq!(
        store
            .get_logging_configuration(OWN, &config_id)
            .await
            .unwrap(),
        Some(config)
    );
}

fn assert_not_found<T: std::fmt::Debug>(
    outcome: Result<T, StoreError>,
    kind: ResourceKind,
    id: &str,
) {
    match outcome {
        Err(StoreError::NotFound { kind: k, id: i }) => {
            assert_eq!((k, i.as_str()), (kind, id));
        }
        other => panic!("expected NotFound {kind:?} {id}, got {other:?}"),
    }
}

async fn missing_resources_are_not_found(store: Arc<dyn Store>) {
    let missing = "AAAAAAAAAAAA";
    assert_eq!(store.get_room(OWN, missing).await.unwrap(), None);
    assert_eq!(
        store.get_logging_configuration(OWN, missing).await.unwrap(),
        None
    );

    let outcome = store
        .update_room(
            "",
            missing,
            &quotas(),
            Box::new(|_: &mut Room| panic!("the change must not run for a missing room")),
        )
        .await;
    assert_not_found(outcome, ResourceKind::Room, missing);
    assert_not_found(
        store.delete_room("", missing).await,
        ResourceKind::Room,
        missing,
    );

    let outcome = store
        .update_logging_configuration(
            "",
            missing,
            Box::new(|_: &mut LoggingConfiguration| panic!("must not run")),
        )
        .await;
    assert_not_found(outcome, ResourceKind::LoggingConfiguration, missing);
    assert_not_found(
        store.delete_logging_configuration("", missing).await,
        ResourceKind::LoggingConfiguration,
        missing,
    );

    for kind in [ResourceKind::Room, ResourceKind::LoggingConfiguration] {
        let outcome = store
            .update_tags(
                "",
                kind,
                missing,
                Box::new(|_: &mut StringMap| panic!("must not run")),
            )
            .await;
        assert_not_found(outcome, kind, missing);
    }

    // A deleted resource is as missing as one that never existed.
    let gone = room("gone", 1);
    store.insert_room(&gone, &quotas()).await.unwrap();
    store.delete_room("", &gone.id).await.unwrap();
    assert_not_found(
        store.delete_room("", &gone.id).await,
        ResourceKind::Room,
        &gone.id,
    );
}

fn assert_quota<T: std::fmt::Debug>(
    outcome: Result<T, StoreError>,
    expected_what: &str,
    expected_limit: u64,
) {
    match outcome {
        Err(StoreError::QuotaExceeded { what, limit }) => {
            assert_eq!((what, limit), (expected_what, expected_limit));
        }
        other => panic!("expected QuotaExceeded {expected_what}, got {other:?}"),
    }
}

async fn room_quota(store: Arc<dyn Store>) {
    let quotas = Quotas {
        rooms: 3,
        ..Quotas::default()
    };
    let mut inserted = Vec::new();
    for i in 0..3 {
        let r = room(&format!("r{i}"), i);
        store.insert_room(&r, &quotas).await.unwrap();
        inserted.push(r.id);
    }
    let extra = room("extra", 9);
    assert_quota(store.insert_room(&extra, &quotas).await, "rooms", 3);
    assert_eq!(store.get_room(OWN, &extra.id).await.unwrap(), None);

    // Deleting frees a slot.
    store.delete_room("", &inserted[0]).await.unwrap();
    store.insert_room(&extra, &quotas).await.unwrap();
    assert_quota(
        store.insert_room(&room("more", 10), &quotas).await,
        "rooms",
        3,
    );
}

async fn logging_configuration_quota(store: Arc<dyn Store>) {
    let quotas = Quotas {
        logging_configurations: 2,
        ..Quotas::default()
    };
    let first = logging("a", 1);
    store
        .insert_logging_configuration(&first, &quotas)
        .await
        .unwrap();
    store
        .insert_logging_configuration(&logging("b", 2), &quotas)
        .await
        .unwrap();
    let extra = logging("c", 3);
    assert_quota(
        store.insert_logging_configuration(&extra, &quotas).await,
        "logging configurations",
        2,
    );
    assert_eq!(
        store
            .get_logging_configuration(OWN, &extra.id)
            .await
            .unwrap(),
        None
    );

    store
        .delete_logging_configuration("", &first.id)
        .await
        .unwrap();
    store
        .insert_logging_configuration(&extra, &quotas)
        .await
        .unwrap();
}

async fn logging_configurations_per_room_quota(store: Arc<dyn Store>) {
    let quotas = Quotas {
        logging_configurations_per_room: 2,
        ..Quotas::default()
    };
    let mut configs = Vec::new();
    for i in 0..3 {
        configs.push(add_logging(&store, &format!("c{i}"), i).await);
    }

    let mut crowded = room("crowded", 1);
    crowded.logging_configuration_ids = configs.clone();
    assert_quota(
        store.insert_room(&crowded, &quotas).await,
        "logging configurations per room",
        2,
    );
    assert_eq!(store.get_room(OWN, &crowded.id).await.unwrap(), None);

    let mut ok = room("ok", 2);
    ok.logging_configuration_ids = configs[..2].to_vec();
    store.insert_room(&ok, &quotas).await.unwrap();
    let all = configs.clone();
    let outcome = store
        .update_room(
            "",
            &ok.id,
            &quotas,
            Box::new(move |room: &mut Room| {
                room.name = "changed".into();
                room.logging_configuration_ids = all;
                Ok(())
            }),
        )
        .await;
    assert_quota(outcome, "logging configurations per room", 2);
    assert_eq!(store.get_room(OWN, &ok.id).await.unwrap(), Some(ok.clone()));
    // The attachments did not change either.
    let filter = RoomFilter {
        logging_configuration_id: Some(configs[2].clone()),
        ..RoomFilter::default()
    };
    assert!(store
        .list_rooms("", &filter, None, 10)
        .await
        .unwrap()
        .is_empty());
}

async fn unknown_logging_configurations_are_not_found(store: Arc<dyn Store>) {
    let known = add_logging(&store, "known", 1).await;
    let unknown = "UNKNOWNUNKNO".to_string();

    let mut r = room("r", 1);
    r.logging_configuration_ids = vec![known.clone(), unknown.clone()];
    assert_not_found(
        store.insert_room(&r, &quotas()).await,
        ResourceKind::LoggingConfiguration,
        &unknown,
    );
    assert_eq!(store.get_room(OWN, &r.id).await.unwrap(), None);
    // The known one was not left attached to the room that was never created.
    store
        .delete_logging_configuration("", &known)
        .await
        .unwrap();

    let known = add_logging(&store, "known again", 2).await;
    let mut r = room("r", 2);
    r.logging_configuration_ids = vec![known.clone()];
    store.insert_room(&r, &quotas()).await.unwrap();
    let attach = vec![unknown.clone()];
    let outcome = store
        .update_room(
            "",
            &r.id,
            &quotas(),
            Box::new(move |room: &mut Room| {
                room.logging_configuration_ids = attach;
                Ok(())
            }),
        )
        .await;
    assert_not_found(outcome, ResourceKind::LoggingConfiguration, &unknown);
    assert_eq!(store.get_room(OWN, &r.id).await.unwrap(), Some(r.clone()));
    // The old attachment is intact.
    assert!(matches!(
        store.delete_logging_configuration("", &known).await,
        Err(StoreError::InUse { .. })
    ));
}

async fn logging_configuration_in_use(store: Arc<dyn Store>) {
    let config = add_logging(&store, "shared", 1).await;
    let mut users = Vec::new();
    for i in 0..2 {
        let mut r = room(&format!("user{i}"), i);
        r.logging_configuration_ids = vec![config.clone()];
        store.insert_room(&r, &quotas()).await.unwrap();
        users.push(r.id);
    }
    users.sort();

    match store.delete_logging_configuration("", &config).await {
        Err(StoreError::InUse {
            logging_id,
            room_id,
        }) => {
            assert_eq!(logging_id, config);
            assert_eq!(room_id, users[0], "the first user in id order is named");
        }
        other => panic!("expected InUse, got {other:?}"),
    }
    assert!(store
        .get_logging_configuration(OWN, &config)
        .await
        .unwrap()
        .is_some());

    // Detaching one user and deleting the other frees it.
    store
        .update_room(
            "",
            &users[0],
            &quotas(),
            Box::new(|room: &mut Room| {
                room.logging_configuration_ids.clear();
                Ok(())
            }),
        )
        .await
        .unwrap();
    match store.delete_logging_configuration("", &config).await {
        Err(StoreError::InUse { room_id, .. }) => assert_eq!(room_id, users[1]),
        other => panic!("expected InUse, got {other:?}"),
    }
    store.delete_room("", &users[1]).await.unwrap();
    store
        .delete_logging_configuration("", &config)
        .await
        .unwrap();
    assert_eq!(
        store.get_logging_configuration(OWN, &config).await.unwrap(),
        None
    );
}

async fn list_rooms_order_and_pages(store: Arc<dyn Store>) {
    assert!(store
        .list_rooms("", &RoomFilter::default(), None, 10)
        .await
        .unwrap()
        .is_empty());
    // Groups of three share an update_time, so the id must break ties.
    let mut rooms = Vec::new();
    for i in 0..25 {
        let r = room(&format!("room{i}"), 1_000 + i / 3);
        store.insert_room(&r, &quotas()).await.unwrap();
        rooms.push(r);
    }
    newest_first(&mut rooms, |r| (r.update_time, r.id.clone()));

    let everything = store
        .list_rooms("", &RoomFilter::default(), None, 100)
        .await
        .unwrap();
    assert_eq!(everything, rooms);

    for page in [1, 3, 4, 7, 25, 26] {
        let paged = all_rooms(&store, &RoomFilter::default(), page).await;
        assert_eq!(ids(&paged), ids(&rooms), "page size {page}");
    }

    // A cursor in the middle of a tie group starts just after it.
    let cursor = PageCursor {
        update_time: rooms[4].update_time,
        id: rooms[4].id.clone(),
    };
    let rest = store
        .list_rooms("", &RoomFilter::default(), Some(&cursor), 100)
        .await
        .unwrap();
    assert_eq!(ids(&rest), ids(&rooms[5..]));

    // An update moves a room to the front.
    let moved = rooms[20].id.clone();
    store
        .update_room(
            "",
            &moved,
            &quotas(),
            Box::new(|room: &mut Room| {
                room.update_time = 5_000;
                Ok(())
            }),
        )
        .await
        .unwrap();
    let first = store
        .list_rooms("", &RoomFilter::default(), None, 1)
        .await
        .unwrap();
    assert_eq!(ids(&first), vec![moved]);
}

async fn list_rooms_filters(store: Arc<dyn Store>) {
    let logs_a = add_logging(&store, "a", 1).await;
    let logs_b = add_logging(&store, "b", 2).await;
    let uri = "arn:aws:lambda:us-east-1:000000000000:function:review";
    let other_uri = "arn:aws:lambda:us-east-1:000000000000:function:other";

    // (name, review uri, attached)
    let specs: [(&str, Option<&str>, &[&String]); 8] = [
        ("alpha", None, &[]),
        ("alpha", Some(uri), &[&logs_a]),
        ("alpha", Some(other_uri), &[&logs_a, &logs_b]),
        ("beta", None, &[&logs_a]),
        ("beta", Some(uri), &[]),
        ("beta", Some(uri), &[&logs_b]),
        ("gamma", None, &[&logs_b]),
        ("alphabet", Some(uri), &[&logs_a]),
    ];
    let mut rooms = Vec::new();
    for (i, (name, review, attached)) in specs.iter().enumerate() {
        let mut r = room(name, 100 + i as i64);
        r.review_handler_uri = review.map(str::to_string);
        r.logging_configuration_ids = attached.iter().map(|id| id.to_string()).collect();
        store.insert_room(&r, &quotas()).await.unwrap();
        rooms.push(r);
    }
    newest_first(&mut rooms, |r| (r.update_time, r.id.clone()));

    let cases: Vec<RoomFilter> = vec![
        RoomFilter::default(),
        RoomFilter {
            name: Some("alpha".into()),
            ..RoomFilter::default()
        },
        RoomFilter {
            name: Some("nobody".into()),
            ..RoomFilter::default()
        },
        RoomFilter {
            review_handler_uri: Some(uri.into()),
            ..RoomFilter::default()
        },
        RoomFilter {
            review_handler_uri: Some(String::new()),
            ..RoomFilter::default()
        },
        RoomFilter {
            logging_configuration_id: Some(logs_a.clone()),
            ..RoomFilter::default()
        },
        RoomFilter {
            logging_configuration_id: Some("NOSUCHCONFIG".into()),
            ..RoomFilter::default()
        },
        RoomFilter {
            name: Some("alpha".into()),
            review_handler_uri: Some(String::new()),
            ..RoomFilter::default()
        },
        RoomFilter {
            name: Some("beta".into()),
            review_handler_uri: Some(uri.into()),
            ..RoomFilter::default()
        },
        RoomFilter {
            name: Some("alpha".into()),
            logging_configuration_id: Some(logs_a.clone()),
            ..RoomFilter::default()
        },
        RoomFilter {
            review_handler_uri: Some(uri.into()),
            logging_configuration_id: Some(logs_b.clone()),
            ..RoomFilter::default()
        },
        RoomFilter {
            name: Some("alpha".into()),
            review_handler_uri: Some(other_uri.into()),
            logging_configuration_id: Some(logs_b.clone()),
        },
    ];
    let matches = |r: &Room, f: &RoomFilter| {
        f.name.as_ref().is_none_or(|n| &r.name == n)
            && match f.review_handler_uri.as_deref() {
                None => true,
                Some("") => r.review_handler_uri.is_none(),
                Some(u) => r.review_handler_uri.as_deref() == Some(u),
            }
            && f.logging_configuration_id
                .as_ref()
                .is_none_or(|l| r.logging_configuration_ids.contains(l))
    };
    for filter in &cases {
        let expected: Vec<&Room> = rooms.iter().filter(|r| matches(r, filter)).collect();
        let listed = store.list_rooms("", filter, None, 100).await.unwrap();
        assert_eq!(ids(&listed), ids(expected.iter().copied()), "{filter:?}");
        let paged = all_rooms(&store, filter, 2).await;
        assert_eq!(
            ids(&paged),
            ids(expected.iter().copied()),
            "{filter:?} paged"
        );
    }
    // Sanity: the cases select different things.
    let alpha_a = &cases[9];
    assert_eq!(
        store
            .list_rooms("", alpha_a, None, 100)
            .await
            .unwrap()
            .len(),
        2
    );

    // The logging filter follows detachments and deletions.
    let by_b = RoomFilter {
        logging_configuration_id: Some(logs_b.clone()),
        ..RoomFilter::default()
    };
    let before = all_rooms(&store, &by_b, 100).await;
    assert_eq!(before.len(), 3);
    store
        .update_room(
            "",
            &before[0].id,
            &quotas(),
            Box::new(|room: &mut Room| {
                room.logging_configuration_ids.clear();
                Ok(())
            }),
        )
        .await
        .unwrap();
    store.delete_room("", &before[1].id).await.unwrap();
    assert_eq!(ids(&all_rooms(&store, &by_b, 100).await), ids(&before[2..]));
}

async fn list_logging_configurations_pages(store: Arc<dyn Store>) {
    assert!(store
        .list_logging_configurations("", None, 10)
        .await
        .unwrap()
        .is_empty());
    let mut configs = Vec::new();
    for i in 0..10 {
        let c = logging(&format!("c{i}"), 50 + i / 4);
        store
            .insert_logging_configuration(&c, &quotas())
            .await
            .unwrap();
        configs.push(c);
    }
    newest_first(&mut configs, |c| (c.update_time, c.id.clone()));
    assert_eq!(
        store
            .list_logging_configurations("", None, 100)
            .await
            .unwrap(),
        configs
    );
    for page in [1, 3, 4, 10, 11] {
        let mut seen = Vec::new();
        let mut after: Option<PageCursor> = None;
        loop {
            let batch = store
                .list_logging_configurations("", after.as_ref(), page)
                .await
                .unwrap();
            assert!(batch.len() <= page);
            let Some(last) = batch.last() else { break };
            after = Some(PageCursor {
                update_time: last.update_time,
                id: last.id.clone(),
            });
            let full = batch.len() == page;
            seen.extend(batch.into_iter().map(|c| c.id));
            if !full {
                break;
            }
        }
        let expected: Vec<String> = configs.iter().map(|c| c.id.clone()).collect();
        assert_eq!(seen, expected, "page size {page}");
    }
}

async fn update_tags_on_both_kinds(store: Arc<dyn Store>) {
    let mut r = room("tagged", 10);
    r.tags = tags(&[("keep", "1"), ("drop", "2")]);
    store.insert_room(&r, &quotas()).await.unwrap();
    let mut c = logging("tagged", 20);
    c.tags = tags(&[("x", "1")]);
    store
        .insert_logging_configuration(&c, &quotas())
        .await
        .unwrap();

    let new_tags = store
        .update_tags(
            "",
            ResourceKind::Room,
            &r.id,
            Box::new(|tags: &mut StringMap| {
                assert_eq!(tags.len(), 2, "the change sees the stored tags");
                tags.remove("drop");
                tags.insert("added".into(), "3".into());
                Ok(())
            }),
        )
        .await
        .unwrap();
    assert_eq!(new_tags, tags(&[("keep", "1"), ("added", "3")]));
    let stored = store.get_room(OWN, &r.id).await.unwrap().unwrap();
    assert_eq!(stored.tags, new_tags);
    // Tags are not a room update: nothing else changes.
    assert_eq!(
        stored,
        Room {
            tags: new_tags,
            ..r.clone()
        }
    );

    let new_tags = store
        .update_tags(
            "",
            ResourceKind::LoggingConfiguration,
            &c.id,
            Box::new(|tags: &mut StringMap| {
                tags.clear();
                Ok(())
            }),
        )
        .await
        .unwrap();
    assert!(new_tags.is_empty());
    let stored = store
        .get_logging_configuration(OWN, &c.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored,
        LoggingConfiguration {
            tags: BTreeMap::new(),
            ..c.clone()
        }
    );

    // Kinds do not mix: a room id is not a logging configuration.
    let outcome = store
        .update_tags(
            "",
            ResourceKind::LoggingConfiguration,
            &r.id,
            Box::new(|_: &mut StringMap| Ok(())),
        )
        .await;
    assert_not_found(outcome, ResourceKind::LoggingConfiguration, &r.id);
}

async fn concurrent_tag_updates_are_not_lost(store: Arc<dyn Store>) {
    let r = room("busy", 1);
    store.insert_room(&r, &quotas()).await.unwrap();
    let c = logging("busy", 1);
    store
        .insert_logging_configuration(&c, &quotas())
        .await
        .unwrap();

    for (kind, id) in [
        (ResourceKind::Room, r.id.clone()),
        (ResourceKind::LoggingConfiguration, c.id.clone()),
    ] {
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let store = store.clone();
                let id = id.clone();
                tokio::spawn(async move {
                    store
                        .update_tags(
                            "",
                            kind,
                            &id,
                            Box::new(move |tags: &mut StringMap| {
                                tags.insert(format!("key{i:02}"), i.to_string());
                                Ok(())
                            }),
                        )
                        .await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let stored = match kind {
            ResourceKind::Room => store.get_room(OWN, &id).await.unwrap().unwrap().tags,
            ResourceKind::LoggingConfiguration => {
                store
                    .get_logging_configuration(OWN, &id)
                    .await
                    .unwrap()
                    .unwrap()
                    .tags
            }
        };
        let expected: StringMap = (0..20)
            .map(|i| (format!("key{i:02}"), i.to_string()))
            .collect();
        assert_eq!(stored, expected, "{kind:?}");
    }
}

async fn concurrent_room_inserts_respect_the_quota(store: Arc<dyn Store>) {
    let quotas = Quotas {
        rooms: 5,
        ..Quotas::default()
    };
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            let quotas = quotas.clone();
            tokio::spawn(
                async move { store.insert_room(&room(&format!("r{i}"), i), &quotas).await },
            )
        })
        .collect();
    let mut succeeded = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => succeeded += 1,
            Err(StoreError::QuotaExceeded {
                what: "rooms",
                limit: 5,
            }) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(succeeded, 5);
    let listed = store
        .list_rooms("", &RoomFilter::default(), None, 100)
        .await
        .unwrap();
    assert_eq!(listed.len(), 5);
}

async fn concurrent_logging_inserts_respect_the_quota(store: Arc<dyn Store>) {
    let quotas = Quotas {
        logging_configurations: 3,
        ..Quotas::default()
    };
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let store = store.clone();
            let quotas = quotas.clone();
            tokio::spawn(async move {
                store
                    .insert_logging_configuration(&logging(&format!("c{i}"), i), &quotas)
                    .await
            })
        })
        .collect();
    let mut succeeded = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => succeeded += 1,
            Err(StoreError::QuotaExceeded { limit: 3, .. }) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(succeeded, 3);
    let listed = store
        .list_logging_configurations("", None, 100)
        .await
        .unwrap();
    assert_eq!(listed.len(), 3);
}

/// Attaching a configuration to a room while another request deletes it: exactly one wins,
/// each loser gets its proper error, and no room is left pointing at a deleted configuration.
async fn attach_racing_delete_stays_consistent(store: Arc<dyn Store>) {
    let mut outcomes = BTreeSet::new();
    for round in 0..10 {
        let config = add_logging(&store, "contested", round).await;
        let r = room("racer", round);
        store.insert_room(&r, &quotas()).await.unwrap();

        let attach = {
            let store = store.clone();
            let room_id = r.id.clone();
            let config = config.clone();
            tokio::spawn(async move {
                store
                    .update_room(
                        "",
                        &room_id,
                        &quotas(),
                        Box::new(move |room: &mut Room| {
                            room.logging_configuration_ids = vec![config];
                            Ok(())
                        }),
                    )
                    .await
            })
        };
        let delete = {
            let store = store.clone();
            let config = config.clone();
            tokio::spawn(async move { store.delete_logging_configuration("", &config).await })
        };
        let attached = attach.await.unwrap();
        let deleted = delete.await.unwrap();
        let stored = store.get_room(OWN, &r.id).await.unwrap().unwrap();
        let config_exists = store
            .get_logging_configuration(OWN, &config)
            .await
            .unwrap()
            .is_some();
        match (&attached, &deleted) {
            (Ok(_), Err(StoreError::InUse { room_id, .. })) => {
                assert_eq!(room_id, &r.id);
                assert!(config_exists);
                assert_eq!(stored.logging_configuration_ids, vec![config.clone()]);
                outcomes.insert("attach first");
            }
            (Err(StoreError::NotFound { kind, id }), Ok(())) => {
                assert_eq!((*kind, id), (ResourceKind::LoggingConfiguration, &config));
                assert!(!config_exists);
                assert!(stored.logging_configuration_ids.is_empty());
                outcomes.insert("delete first");
            }
            other => panic!("round {round}: unexpected outcome {other:?}"),
        }
        // Clean up so the next round starts from nothing attached.
        store.delete_room("", &r.id).await.unwrap();
        if config_exists {
            store
                .delete_logging_configuration("", &config)
                .await
                .unwrap();
        }
    }
    assert!(!outcomes.is_empty());
}

// ------------------------------------------------------------------------- PostgreSQL only

/// Nodes of a cluster start together: they all create the schema and migrate it at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_nodes_opening_a_new_schema_together() {
    let Some(database_url) = common::services::database_url() else {
        return; // skipped, and said so
    };
    let database_url = &database_url;
    in_fresh_schema(database_url, |schema| async move {
        let opens: Vec<_> = (0..6)
            .map(|_| {
                let (url, schema) = (database_url.clone(), schema.clone());
                tokio::spawn(async move { PostgresStore::open(&url, &schema).await })
            })
            .collect();
        let mut stores = Vec::new();
        for open in opens {
            stores.push(open.await.unwrap().unwrap());
        }
        // The migrations ran once, and their bookkeeping is in the schema too.
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(database_url)
            .await
            .unwrap();
        let applied: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM \"{schema}\"._sqlx_migrations WHERE success"
        ))
        .fetch_one(&mut conn)
        .await
        .unwrap();
        // Every file in migrations/postgres (0001_initial, 0002_chat_token_key, 0004_accounts,
        // …), counted rather than listed so a new migration does not have to edit this.
        let migrations =
            std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
                .unwrap()
                .filter(|f| f.as_ref().unwrap().path().extension() == Some("sql".as_ref()))
                .count();
        assert!(migrations >= 3);
        assert_eq!(applied, migrations as i64);
        let tables: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_tables WHERE schemaname = $1 AND tablename IN \
             ('rooms', 'logging_configurations', 'room_logging')",
        )
        .bind(&schema)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!(tables, 3);
        drop(conn);
        // They share the data, and reopening an up-to-date schema works.
        let r = room("shared", 1);
        stores[0].insert_room(&r, &quotas()).await.unwrap();
        let reopened = PostgresStore::open(database_url, &schema).await.unwrap();
        assert_eq!(
            reopened.get_room(OWN, &r.id).await.unwrap(),
            Some(r.clone())
        );
        for store in &stores {
            assert_eq!(store.get_room(OWN, &r.id).await.unwrap(), Some(r.clone()));
        }
    })
    .await;
}

/// Nodes starting together agree on one chat-token key, each offering its own candidate
/// (issue 18); SQLite, one node's own store, keeps none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_nodes_agree_on_one_chat_token_key() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(dir.path()).await.unwrap();
    assert_eq!(sqlite.token_keys("00").await.unwrap(), None);
    assert_eq!(sqlite.rotate_token_key("00", 1).await.unwrap(), None);
    let Some(database_url) = common::services::database_url() else {
        return; // skipped, and said so
    };
    let url = &database_url;
    in_fresh_schema(url, |schema| async move {
        let store = Arc::new(PostgresStore::open(url, &schema).await.unwrap());
        let asks: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let candidate = format!("{i:064x}");
                    store.token_keys(&candidate).await.unwrap()
                })
            })
            .collect();
        let mut keys = BTreeSet::new();
        for ask in asks {
            let held = ask.await.unwrap().expect("PostgreSQL keeps the keys");
            assert_eq!(held.len(), 1);
            assert_eq!((held[0].generation, held[0].retire_micros), (1, None));
            keys.insert(held[0].key_hex.clone());
        }
        assert_eq!(keys.len(), 1, "{keys:?}");
        let reopened = PostgresStore::open(url, &schema).await.unwrap();
        let held = reopened.token_keys("ff").await.unwrap().unwrap();
        assert_eq!(Some(&held[0].key_hex), keys.first());
    })
    .await;
}

/// A rotation in PostgreSQL: the new generation is stored with its activation time, the
/// previous one gets its retirement, and a later rotation deletes what has retired; a node
/// starting afterwards does not add a first key again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_rotates_the_chat_token_key() {
    use ivschat_server::domain::key_ring::{ACTIVATION_DELAY, OVERLAP};
    let Some(database_url) = common::services::database_url() else {
        return; // skipped, and said so
    };
    let url = &database_url;
    in_fresh_schema(url, |schema| async move {
        let store = PostgresStore::open(url, &schema).await.unwrap();
        let first = store.token_keys(&"a".repeat(64)).await.unwrap().unwrap();
        let t = 1_000_000_000;
        let rotation = store
            .rotate_token_key(&"b".repeat(64), t)
            .await
            .unwrap()
            .unwrap();
        let activate = t + ACTIVATION_DELAY.as_micros() as i64;
        let retire = activate + OVERLAP.as_micros() as i64;
        assert_eq!(rotation.added.generation, 2);
        let held = store.token_keys(&"c".repeat(64)).await.unwrap().unwrap();
        assert_eq!(held, rotation.keys);
        assert_eq!(
            held.iter()
                .map(|k| (
                    k.generation,
                    k.key_hex.as_str(),
                    k.activate_micros,
                    k.retire_micros
                ))
                .collect::<Vec<_>>(),
            [
                (1, first[0].key_hex.as_str(), 0, Some(retire)),
                (2, "b".repeat(64).as_str(), activate, None)
            ]
        );
        let later = store
            .rotate_token_key(&"d".repeat(64), retire)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(later.removed, [1]);
        let held = store.token_keys(&"e".repeat(64)).await.unwrap().unwrap();
        assert_eq!(
            held.iter().map(|k| k.generation).collect::<Vec<_>>(),
            [2, 3]
        );
    })
    .await;
}

/// Clusters sharing a database do not see each other's data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_schemas_are_separate() {
    let Some(database_url) = common::services::database_url() else {
        return; // skipped, and said so
    };
    let url = &database_url;
    in_fresh_schema(url, |one| async move {
        in_fresh_schema(url, |two| async move {
            let first = PostgresStore::open(url, &one).await.unwrap();
            let second = PostgresStore::open(url, &two).await.unwrap();
            let r = room("mine", 1);
            first.insert_room(&r, &quotas()).await.unwrap();
            assert_eq!(second.get_room(OWN, &r.id).await.unwrap(), None);
            let quotas = Quotas {
                rooms: 1,
                ..Quotas::default()
            };
            // The first cluster's room does not count against the second's quota.
            second
                .insert_room(&room("theirs", 1), &quotas)
                .await
                .unwrap();
        })
        .await;
    })
    .await;
}

#[tokio::test]
async fn postgres_rejects_unsafe_schema_names() {
    let Some(database_url) = common::services::database_url() else {
        return; // skipped, and said so
    };
    for bad in ["", "Upper", "semi;colon", "quote\"d", &"x".repeat(49)] {
        let Err(e) = PostgresStore::open(&database_url, bad).await else {
            panic!("schema name {bad:?} was accepted");
        };
        assert!(format!("{e:#}").contains("schema name"), "{bad:?}: {e:#}");
    }
}

// ------------------------------------------------------------------------- accounts

/// Another account than the server's own (stored as `''`).
const OTHER: &str = "111111111111";

fn in_account<T>(mut item: T, account: &str, set: impl FnOnce(&mut T, String)) -> T {
    set(&mut item, account.to_string());
    item
}

fn other_room(name: &str, update_time: i64) -> Room {
    in_account(room(name, update_time), OTHER, |r, a| r.account = a)
}

fn other_logging(name: &str, update_time: i64) -> LoggingConfiguration {
    in_account(logging(name, update_time), OTHER, |c, a| c.account = a)
}

fn assert_not_here<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::NotFound { .. })),
        "{what}: expected NotFound, got {result:?}"
    );
}

/// Each account sees, changes and deletes only its own rooms, logging configurations and
/// tags; another account's resource is "not found", as one that does not exist.
async fn accounts_do_not_reach_each_other(store: Arc<dyn Store>) {
    let own_logging = add_logging(&store, "own", 1).await;
    let theirs_logging = other_logging("theirs", 1);
    store
        .insert_logging_configuration(&theirs_logging, &quotas())
        .await
        .unwrap();
    let mut own = room("own", 1);
    own.logging_configuration_ids = vec![own_logging.clone()];
    store.insert_room(&own, &quotas()).await.unwrap();
    let theirs = other_room("theirs", 1);
    store.insert_room(&theirs, &quotas()).await.unwrap();
    let them = Owner::Account(OTHER);

    // Reads (twice each: SQLite's room cache must not serve a row across accounts either).
    for _ in 0..2 {
        assert_eq!(store.get_room(them, &own.id).await.unwrap(), None);
        assert_eq!(store.get_room(OWN, &theirs.id).await.unwrap(), None);
        assert_eq!(
            store.get_room(OWN, &own.id).await.unwrap(),
            Some(own.clone())
        );
        assert_eq!(
            store.get_room(them, &theirs.id).await.unwrap(),
            Some(theirs.clone())
        );
    }
    assert_eq!(
        store.get_room(Owner::Any, &theirs.id).await.unwrap(),
        Some(theirs.clone())
    );
    assert_eq!(
        store
            .get_logging_configuration(them, &own_logging)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .get_logging_configuration(OWN, &theirs_logging.id)
            .await
            .unwrap(),
        None
    );
    assert!(store
        .get_logging_configuration(Owner::Any, &theirs_logging.id)
        .await
        .unwrap()
        .is_some());

    // Writes.
    assert_not_here(
        store
            .update_room(
                OTHER,
                &own.id,
                &quotas(),
                Box::new(|r| {
                    r.name = "taken".into();
                    Ok(())
                }),
            )
            .await,
        "update_room across accounts",
    );
    assert_not_here(
        store
            .update_tags(
                OTHER,
                ResourceKind::Room,
                &own.id,
                Box::new(|t| {
                    t.insert("k".into(), "v".into());
                    Ok(())
                }),
            )
            .await,
        "update_tags on a room across accounts",
    );
    assert_not_here(
        store
            .update_tags(
                "",
                ResourceKind::LoggingConfiguration,
                &theirs_logging.id,
                Box::new(|t| {
                    t.insert("k".into(), "v".into());
                    Ok(())
                }),
            )
            .await,
        "update_tags on a logging configuration across accounts",
    );
    assert_not_here(
        store
            .update_logging_configuration(
                OTHER,
                &own_logging,
                Box::new(|c| {
                    c.name = "taken".into();
                    Ok(())
                }),
            )
            .await,
        "update_logging_configuration across accounts",
    );
    assert_not_here(
        store.delete_room(OTHER, &own.id).await,
        "delete_room across accounts",
    );
    assert_not_here(
        store
            .delete_logging_configuration("", &theirs_logging.id)
            .await,
        "delete_logging_configuration across accounts",
    );
    // A room cannot use another account's logging configuration.
    let mut borrowing = room("borrowing", 2);
    borrowing.logging_configuration_ids = vec![theirs_logging.id.clone()];
    assert_not_here(
        store.insert_room(&borrowing, &quotas()).await,
        "insert_room attaching another account's logging configuration",
    );
    let theirs_logging_id = theirs_logging.id.clone();
    assert_not_here(
        store
            .update_room(
                "",
                &own.id,
                &quotas(),
                Box::new(move |r| {
                    r.logging_configuration_ids = vec![theirs_logging_id];
                    Ok(())
                }),
            )
            .await,
        "update_room attaching another account's logging configuration",
    );

    // Nothing changed.
    assert_eq!(
        store.get_room(OWN, &own.id).await.unwrap(),
        Some(own.clone())
    );
    assert_eq!(
        store.get_room(them, &theirs.id).await.unwrap(),
        Some(theirs.clone())
    );
    assert_eq!(
        store
            .get_logging_configuration(them, &theirs_logging.id)
            .await
            .unwrap(),
        Some(theirs_logging.clone())
    );
    // And each account still deletes its own.
    store.delete_room(OTHER, &theirs.id).await.unwrap();
    store
        .delete_logging_configuration(OTHER, &theirs_logging.id)
        .await
        .unwrap();
}

/// The room and logging configuration quotas count each account's own resources.
async fn quotas_are_per_account(store: Arc<dyn Store>) {
    let quotas = Quotas {
        rooms: 2,
        logging_configurations: 1,
        ..Quotas::default()
    };
    for i in 0..2 {
        store.insert_room(&room("own", i), &quotas).await.unwrap();
    }
    assert_quota(
        store.insert_room(&room("own", 9), &quotas).await,
        "rooms",
        2,
    );
    for i in 0..2 {
        store
            .insert_room(&other_room("theirs", i), &quotas)
            .await
            .unwrap();
    }
    assert_quota(
        store.insert_room(&other_room("theirs", 9), &quotas).await,
        "rooms",
        2,
    );

    store
        .insert_logging_configuration(&logging("own", 1), &quotas)
        .await
        .unwrap();
    assert_quota(
        store
            .insert_logging_configuration(&logging("own", 2), &quotas)
            .await,
        "logging configurations",
        1,
    );
    store
        .insert_logging_configuration(&other_logging("theirs", 1), &quotas)
        .await
        .unwrap();
    assert_quota(
        store
            .insert_logging_configuration(&other_logging("theirs", 2), &quotas)
            .await,
        "logging configurations",
        1,
    );
}

/// ListRooms (with and without filters) and ListLoggingConfigurations list one account's
/// resources, page after page, whatever the other account holds at the same times.
async fn lists_and_pages_stay_in_the_account(store: Arc<dyn Store>) {
    let own_logging = add_logging(&store, "shared-name", 5).await;
    let theirs_logging = other_logging("shared-name", 5);
    store
        .insert_logging_configuration(&theirs_logging, &quotas())
        .await
        .unwrap();
    let (mut own, mut theirs) = (Vec::new(), Vec::new());
    for i in 0..7 {
        // Same names and update times in both accounts: pages interleave unless scoped.
        let mut r = room("same", 10 + i / 3);
        r.logging_configuration_ids = vec![own_logging.clone()];
        store.insert_room(&r, &quotas()).await.unwrap();
        own.push(r);
        let mut t = other_room("same", 10 + i / 3);
        t.logging_configuration_ids = vec![theirs_logging.id.clone()];
        store.insert_room(&t, &quotas()).await.unwrap();
        theirs.push(t);
    }
    newest_first(&mut own, |r| (r.update_time, r.id.clone()));
    newest_first(&mut theirs, |r| (r.update_time, r.id.clone()));
    let by_name = RoomFilter {
        name: Some("same".into()),
        ..RoomFilter::default()
    };
    for page in [1, 2, 3, 7, 50] {
        for filter in [RoomFilter::default(), by_name.clone()] {
            assert_eq!(
                all_rooms_in(&store, "", &filter, page).await,
                own,
                "page {page}"
            );
            assert_eq!(
                all_rooms_in(&store, OTHER, &filter, page).await,
                theirs,
                "page {page}"
            );
        }
    }
    // Filtering one account's rooms by the other's logging configuration finds nothing.
    let by_their_logging = RoomFilter {
        logging_configuration_id: Some(theirs_logging.id.clone()),
        ..RoomFilter::default()
    };
    assert!(all_rooms_in(&store, "", &by_their_logging, 50)
        .await
        .is_empty());
    assert_eq!(
        all_rooms_in(&store, OTHER, &by_their_logging, 50).await,
        theirs
    );
    for (account, expected) in [
        ("", own_logging.as_str()),
        (OTHER, theirs_logging.id.as_str()),
    ] {
        for page in [1, 50] {
            let listed = store
                .list_logging_configurations(account, None, page)
                .await
                .unwrap();
            assert_eq!(ids_of(&listed), vec![expected.to_string()], "{account:?}");
        }
        // A cursor from the other account's page does not bring its rows in.
        let after = PageCursor {
            update_time: 6,
            id: String::new(),
        };
        assert_eq!(
            ids_of(
                &store
                    .list_logging_configurations(account, Some(&after), 50)
                    .await
                    .unwrap()
            ),
            vec![expected.to_string()]
        );
    }
}

fn ids_of(configs: &[LoggingConfiguration]) -> Vec<String> {
    configs.iter().map(|c| c.id.clone()).collect()
}
