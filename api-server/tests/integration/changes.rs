//! The change feed: every write a Sentinel decides on appears once, in order, and a repeat
//! appends nothing; kind and search filter it; concurrent writers lose nothing however their
//! commits interleave; a held request is woken by the commit; an expired cursor is 410.

use crate::common;

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use chrono::Utc;
use serde_json::json;
use sqlx::PgPool;

use hyperfleet_api::{
    feed::ChangeFeed,
    kinds::{KindSettings, Kinds},
    store::{NewResource, Store},
};
use hyperfleet_api_model::{
    ChangeKind, ChangesParams, ConditionStatus, PatchResource, ReportedCondition, StatusReport,
    client::Client,
};

fn requiring(adapter: &str) -> Kinds {
    let settings = KindSettings { required_adapters: vec![adapter.into()], ..KindSettings::default() };
    Kinds { cluster: settings.clone(), nodepool: settings }
}

fn report(generation: i64, available: ConditionStatus, finalized: bool) -> StatusReport {
    let condition =
        |t: &str, status| ReportedCondition { type_: t.into(), status, reason: None, message: None };
    let mut conditions = vec![
        condition("Applied", ConditionStatus::True),
        condition("Available", available),
        condition("Health", ConditionStatus::True),
    ];
    if finalized {
        conditions.push(condition("Finalized", ConditionStatus::True));
    }
    StatusReport {
        adapter: "dns".into(),
        observed_generation: generation,
        observed_time: Some(Utc::now()),
        conditions,
        data: None,
        metadata: None,
    }
}

/// Everything after `after`, page by page (`limit` each).
async fn follow(
    client: &Client,
    after: &str,
    limit: u32,
) -> (Vec<hyperfleet_api_model::ResourceChange>, String) {
    let (mut items, mut cursor) = (Vec::new(), after.to_owned());
    loop {
        let params =
            ChangesParams { after: Some(cursor.clone()), limit: Some(limit), ..ChangesParams::default() };
        let page = client.changes(&params).await.unwrap();
        cursor = page.cursor;
        if page.items.is_empty() {
            return (items, cursor);
        }
        items.extend(page.items);
    }
}

/// [`follow`] until `count` changes have come: a change shows once every transaction older than
/// it has ended, anywhere on the database server (here, other tests' too).
async fn follow_until(
    client: &Client,
    after: &str,
    limit: u32,
    count: usize,
) -> (Vec<hyperfleet_api_model::ResourceChange>, String) {
    let (mut items, mut cursor) = (Vec::new(), after.to_owned());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while items.len() < count && tokio::time::Instant::now() < deadline {
        let (more, next) = follow(client, &cursor, limit).await;
        items.extend(more);
        cursor = next;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (items, cursor)
}

async fn start_cursor(client: &Client) -> String {
    client.changes(&ChangesParams::default()).await.unwrap().cursor
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn every_decisive_write_appears_once_in_order_and_a_repeated_report_appends_nothing(pool: PgPool) {
    let api = common::start_with(pool, requiring("dns")).await;
    let start = start_cursor(&api.client).await;
    let cluster = api.cluster("prod", &[]).await;
    let patch = PatchResource { spec: Some(json!({"region": "eu-west-1"})), labels: None };
    api.client.patch_cluster(cluster.id, &patch).await.unwrap();
    api.client.put_status(&cluster.href, &report(2, ConditionStatus::False, false)).await.unwrap();
    // The same report again (a copy of an event handled twice): nothing new for a Sentinel.
    api.client.put_status(&cluster.href, &report(2, ConditionStatus::False, false)).await.unwrap();
    api.client.put_status(&cluster.href, &report(2, ConditionStatus::True, false)).await.unwrap();
    api.client.delete_cluster(cluster.id).await.unwrap();
    api.client.put_status(&cluster.href, &report(3, ConditionStatus::False, true)).await.unwrap();

    let (items, end) = follow_until(&api.client, &start, 2, 7).await;
    let seen: Vec<(ChangeKind, i64)> = items.iter().map(|c| (c.change, c.generation)).collect();
    use ChangeKind::{Created, Deleted, Deleting, Reported, Updated};
    assert_eq!(
        seen,
        [
            (Created, 1),
            (Updated, 2),
            (Reported, 2),
            (Reported, 2),
            (Deleting, 3),
            (Reported, 3),
            (Deleted, 3)
        ]
    );
    assert!(items.iter().all(|c| c.resource_id == cluster.id && c.kind == "Cluster"));
    assert_eq!(items[2].adapter.as_deref(), Some("dns"));
    let cursors: BTreeSet<&str> = items.iter().map(|c| c.cursor.as_str()).collect();
    assert_eq!(cursors.len(), items.len(), "every change has its own cursor");
    assert!(follow(&api.client, &end, 10).await.0.is_empty(), "nothing after the end");
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn kind_and_search_filter_the_feed_and_deletions_always_pass(pool: PgPool) {
    let api = common::start(pool).await;
    let start = start_cursor(&api.client).await;
    let a = api.cluster("shard-a", &[("shard", "a")]).await;
    let b = api.cluster("shard-b", &[("shard", "b")]).await;
    api.nodepool(&a, "workers").await;
    let only_a = ChangesParams {
        after: Some(start.clone()),
        kind: Some("Cluster".into()),
        search: Some("labels.shard = 'a'".into()),
        ..ChangesParams::default()
    };
    // A marker written last: once it shows, everything before it has been scanned.
    let marker = api.cluster("marker", &[("shard", "a")]).await;
    let (mut ids, mut cursor) = (Vec::new(), start);
    while !ids.contains(&marker.id) {
        let params = ChangesParams { after: Some(cursor), wait: Some(5), ..only_a.clone() };
        let page = api.client.changes(&params).await.unwrap();
        ids.extend(page.items.iter().map(|c| c.resource_id));
        cursor = page.cursor;
    }
    assert_eq!(ids, [a.id, marker.id], "b is another shard's, the node pool another kind");
    api.client.delete_cluster(b.id).await.unwrap();
    let mut gone = Vec::new();
    while gone.is_empty() {
        let params = ChangesParams { after: Some(cursor.clone()), wait: Some(5), ..only_a.clone() };
        let page = api.client.changes(&params).await.unwrap();
        gone.extend(page.items.iter().map(|c| (c.resource_id, c.change)));
        cursor = page.cursor;
    }
    assert_eq!(gone, [(b.id, ChangeKind::Deleted)], "a resource gone passes any search");
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn concurrent_writers_lose_nothing_whatever_their_commit_order(pool: PgPool) {
    let api = common::start(pool).await;
    let start = start_cursor(&api.client).await;
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let client = api.client.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for n in 0..25 {
                    let body = hyperfleet_api_model::CreateResource {
                        kind: None,
                        name: format!("c-{w}-{n}"),
                        spec: json!({}),
                        labels: Default::default(),
                    };
                    ids.push(client.create_cluster(&body).await.unwrap().id);
                }
                ids
            })
        })
        .collect();
    // A reader following while they write, in small pages.
    let mut seen = Vec::new();
    let mut cursor = start;
    let mut done = false;
    while !done {
        done = writers.iter().all(tokio::task::JoinHandle::is_finished);
        let (items, next) = follow(&api.client, &cursor, 7).await;
        seen.extend(items.into_iter().map(|c| c.resource_id));
        cursor = next;
    }
    let mut written = BTreeSet::new();
    for writer in writers {
        written.extend(writer.await.unwrap());
    }
    // The last commits show once every older transaction on the server has ended.
    let (rest, _) = follow_until(&api.client, &cursor, 7, 200 - seen.len()).await;
    seen.extend(rest.into_iter().map(|c| c.resource_id));
    let unique: BTreeSet<_> = seen.iter().copied().collect();
    assert_eq!(seen.len(), 200, "each change once");
    assert_eq!(unique, written, "none missed");
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn a_waiting_reader_gets_the_change_and_the_listener_is_woken_by_the_commit(pool: PgPool) {
    let api = common::start(pool.clone()).await;
    let start = start_cursor(&api.client).await;
    let waiting = {
        let client = api.client.clone();
        let params = ChangesParams { after: Some(start), wait: Some(20), ..ChangesParams::default() };
        tokio::spawn(async move { client.changes(&params).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let cluster = api.cluster("prod", &[]).await;
    let page = tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap().unwrap();
    assert_eq!(page.items[0].resource_id, cluster.id, "the held request answered with the change");

    // The listener itself: a commit notifies it, with nothing polling.
    let store = Store::new(pool, Arc::new(Kinds::default())).unwrap();
    let feed = Arc::new(ChangeFeed::default());
    let stop = tokio_util::sync::CancellationToken::new();
    let listening = tokio::spawn({
        let (feed, store, stop) = (feed.clone(), store.clone(), stop.clone());
        async move { feed.run(&store, Duration::from_secs(3600), stop).await }
    });
    let notified = feed.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    // The listener's first connection wakes waiters once; wait for that, then for a commit.
    tokio::time::timeout(Duration::from_secs(5), &mut notified).await.expect("the listener connected");
    let notified = feed.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    let new = NewResource { name: "dev".into(), spec: json!({}), labels: Default::default() };
    store.create(hyperfleet_api::kinds::Kind::Cluster, None, new, "test").await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), notified).await.expect("NOTIFY reached the listener");
    stop.cancel();
    listening.await.unwrap();
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn an_expired_cursor_is_410_and_bad_parameters_are_400(pool: PgPool) {
    let api = common::start(pool.clone()).await;
    let start = start_cursor(&api.client).await;
    api.cluster("prod", &[]).await;
    let store = Store::new(pool, Arc::new(Kinds::default())).unwrap();
    assert_eq!(store.prune_changes(Utc::now() + chrono::Duration::seconds(1)).await.unwrap(), 1);
    let expired = api.get(&format!("/changes?after={start}")).await;
    let problem = expired.problem(410, "HYPERFLEET-GON-001");
    assert!(problem["detail"].as_str().unwrap().contains("list the resources again"), "{problem}");
    // A fresh start works again.
    let fresh = start_cursor(&api.client).await;
    assert!(follow(&api.client, &fresh, 10).await.0.is_empty());

    for (query, field) in [
        ("after=nonsense", "after"),
        ("after=1-2-3", "after"),
        ("kind=Widget", "kind"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("wait=26", "wait"),
    ] {
        let answer = api.get(&format!("/changes?{query}")).await;
        let problem = answer.problem(400, "HYPERFLEET-VAL-000");
        assert_eq!(problem["errors"][0]["field"], field, "{query}: {problem}");
    }
    api.get("/changes?search=labels.x%20%3D").await.problem(400, "HYPERFLEET-VAL-005");
}

/// A reader of a kind that nothing writes (node pools in a fleet of clusters) still moves past
/// the other kinds' changes: its next read starts after them instead of scanning them again.
#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn a_reader_of_a_quiet_kind_moves_past_the_other_kinds_changes(pool: PgPool) {
    let api = common::start(pool).await;
    let start = start_cursor(&api.client).await;
    for n in 0..5 {
        api.cluster(&format!("c-{n}"), &[]).await;
    }
    let (items, _) = follow_until(&api.client, &start, 100, 5).await;
    assert_eq!(items.len(), 5, "the clusters' creations are visible");
    let nodepools = ChangesParams {
        after: Some(start.clone()),
        kind: Some("NodePool".into()),
        ..ChangesParams::default()
    };
    let page = api.client.changes(&nodepools).await.unwrap();
    assert!(page.items.is_empty(), "{:?}", page.items);
    let (behind, _) = follow(&api.client, &page.cursor, 100).await;
    assert!(behind.is_empty(), "the cursor {} is past the clusters' changes: {behind:?}", page.cursor);
}
