//! The Sentinel between polls: it follows the API's change feed and publishes at once for a
//! resource whose status changed, never twice for a state it already announced.

use crate::{
    common,
    sentinel::{Received, drain, listen, settings},
};

use std::time::Duration;

use sqlx::PgPool;

use hyperfleet_api_model::{ConditionStatus, client::Client};
use hyperfleet_broker::Consumer;
use hyperfleet_operator::{
    sentinel::{Sentinel, SentinelSettings, decision::Backoff, metrics::SentinelMetrics},
    tasks::TaskRegistry,
};
use prometheus_client::registry::Registry;

/// Between polls (here an hour apart), the Sentinel follows the API's change feed: a report that
/// changes a condition of a resource not yet reconciled gets its event at once (the next adapter
/// may act now); a repeated report changes nothing and publishes nothing; once reconciled, a
/// change publishes nothing either.
#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn a_report_between_polls_is_published_at_once_through_the_change_feed(pool: PgPool) {
    let client = common::api_requiring(pool, &["validation", "dns"]).await;
    let (sentinel, received, _consumer) = feed_only_sentinel(&client, 5).await;
    let cluster = common::cluster(&client, "prod", &[("region", "eu")]).await;
    let mut tasks = TaskRegistry::new(Duration::from_secs(5));
    tasks.ensure(&"eu".to_owned(), 1, |context| sentinel.run(context)).await;
    let first = drain(&received, 1).await;
    assert_eq!(first, [(cluster.id.to_string(), 1, "new".to_owned())]);

    common::report_done(&client, &cluster, "validation", 1).await;
    let changed = drain(&received, 1).await;
    assert_eq!(
        changed,
        [(cluster.id.to_string(), 1, "resource_changed".to_owned())],
        "at once, not an hour later"
    );

    common::report_done(&client, &cluster, "validation", 1).await;
    common::report_done(&client, &cluster, "dns", 1).await;
    // The dns report reconciles the cluster: nothing to announce; the repeat changed nothing.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(drain(&received, 0).await.is_empty(), "{:?}", received.lock().unwrap());
    tasks.shutdown_all().await;
}

/// The `eu` shard's Sentinel polling once an hour, so only the change feed (its reads held
/// `follow_wait` seconds) moves it, publishing on a fresh topic that the `Received` records.
async fn feed_only_sentinel(client: &Client, follow_wait: u32) -> (Sentinel, Received, Consumer) {
    following_sentinel(client, |settings| SentinelSettings {
        poll_interval: Duration::from_secs(3600),
        follow_wait,
        ..settings
    })
    .await
}

/// The `eu` shard's Sentinel with its settings as `tune` makes them, publishing on a fresh
/// topic that the `Received` records.
async fn following_sentinel(
    client: &Client,
    tune: impl FnOnce(SentinelSettings) -> SentinelSettings,
) -> (Sentinel, Received, Consumer) {
    let broker = common::memory_broker().await;
    let topic = format!("feed-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let (received, consumer) = listen(&broker, &topic).await;
    let settings = tune(settings("eu", "eu", &topic));
    (Sentinel::new(settings, client.clone(), broker), received, consumer)
}

/// How many requests the API has answered whose method and route match, from its own counter.
async fn requests(base: &str, method: &str, route: impl Fn(&str) -> bool) -> u64 {
    let text = reqwest::get(format!("{base}/metrics")).await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|line| line.starts_with("hyperfleet_api_requests_total{"))
        .filter(|line| line.contains(&format!("method=\"{method}\"")))
        .filter(|line| {
            line.split("path=\"").nth(1).and_then(|rest| rest.split('"').next()).is_some_and(&route)
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// How many change-feed reads the API has answered.
async fn feed_reads(base: &str) -> u64 {
    requests(base, "GET", |route| route.ends_with("/changes")).await
}

/// The feed's first cursor is conservative: while an older transaction is open anywhere in the
/// database server, the feed starts before changes the first poll has already seen (here, the
/// cluster's creation). The Sentinel does not announce that state a second time; the next real
/// change still gets its event at once.
#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn a_change_the_poll_already_announced_is_not_published_again(pool: PgPool) {
    let mut older = pool.begin().await.unwrap();
    sqlx::query("select txid_current()").execute(&mut *older).await.unwrap();
    let served = hyperfleet_testing::api::serve_requiring(pool, &["validation", "dns"], &[]).await.unwrap();
    let (client, base) = (served.client.clone(), served.base.clone());
    let (sentinel, received, _consumer) = feed_only_sentinel(&client, 1).await;
    let cluster = common::cluster(&client, "prod", &[("region", "eu")]).await;
    let mut tasks = TaskRegistry::new(Duration::from_secs(5));
    tasks.ensure(&"eu".to_owned(), 1, |context| sentinel.run(context)).await;
    assert_eq!(drain(&received, 1).await, [(cluster.id.to_string(), 1, "new".to_owned())]);
    let what = "the Sentinel's first feed read";
    hyperfleet_testing::wait_until(what, Duration::from_secs(10), || async { feed_reads(&base).await >= 1 })
        .await;

    // The creation becomes readable; two reads later the Sentinel has seen it and reacted.
    older.commit().await.unwrap();
    let seen = feed_reads(&base).await + 3;
    let what = "three more feed reads";
    hyperfleet_testing::wait_until(what, Duration::from_secs(10), || async {
        feed_reads(&base).await >= seen
    })
    .await;
    assert!(drain(&received, 0).await.is_empty(), "the poll already announced this state");

    common::report_done(&client, &cluster, "validation", 1).await;
    let changed = drain(&received, 1).await;
    assert_eq!(changed, [(cluster.id.to_string(), 1, "resource_changed".to_owned())]);
    tasks.shutdown_all().await;
}

/// Many resources changing at once are read back in a few lists, not one GET each, and each
/// gets one event; a report that only says work is under way (Available False) lets no adapter
/// go on and publishes nothing.
#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn many_changes_are_read_together_and_only_progress_is_announced(pool: PgPool) {
    let served = hyperfleet_testing::api::serve_requiring(pool, &["validation", "dns"], &[]).await.unwrap();
    let (client, base) = (served.client.clone(), served.base.clone());
    let (sentinel, received, _consumer) = feed_only_sentinel(&client, 1).await;
    let mut clusters = Vec::new();
    for n in 0..150 {
        clusters.push(common::cluster(&client, &format!("c-{n:03}"), &[("region", "eu")]).await);
    }
    let mut tasks = TaskRegistry::new(Duration::from_secs(5));
    tasks.ensure(&"eu".to_owned(), 1, |context| sentinel.run(context)).await;
    assert_eq!(drain(&received, 150).await.len(), 150, "one new event each");

    for cluster in &clusters {
        common::report(&client, cluster, "validation", 1, ConditionStatus::False).await;
    }
    let seen = feed_reads(&base).await + 3;
    hyperfleet_testing::wait_until("three more feed reads", Duration::from_secs(10), || async {
        feed_reads(&base).await >= seen
    })
    .await;
    assert!(drain(&received, 0).await.is_empty(), "work under way is not announced");

    let single_gets = || requests(&base, "GET", |route| route.ends_with('}') && route.contains("/clusters/"));
    let gets_before = single_gets().await;
    for cluster in &clusters {
        common::report_done(&client, cluster, "validation", 1).await;
    }
    let events = drain(&received, 150).await;
    let mut expected: Vec<_> =
        clusters.iter().map(|c| (c.id.to_string(), 1, "resource_changed".to_owned())).collect();
    expected.sort();
    assert_eq!(events, expected, "each once, at once");
    assert_eq!(single_gets().await, gets_before, "read back by lists, not one GET each");
    tasks.shutdown_all().await;
}

/// While the feed is followed, the polls between full ones read only the resources due by then:
/// 100 clusters created while the Sentinel follows the feed are read once by its reaction, not
/// by every poll, and again when their not-ready repeat falls due, which publishes it.
#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn polls_between_full_ones_read_only_the_resources_due(pool: PgPool) {
    let served = hyperfleet_testing::api::serve_requiring(pool, &["validation", "dns"], &[]).await.unwrap();
    let (client, base) = (served.client.clone(), served.base.clone());
    let mut registry = Registry::default();
    let metrics = SentinelMetrics::register(&mut registry);
    let (sentinel, received, _consumer) = following_sentinel(&client, |settings| SentinelSettings {
        follow_wait: 1,
        // Following the feed, a not-ready repeat waits 16 backoffs (3.2 s); a full poll comes
        // every 64 (12.8 s).
        backoff: Backoff { not_ready: chrono::Duration::milliseconds(200), ..settings.backoff },
        ..settings
    })
    .await;
    let mut tasks = TaskRegistry::new(Duration::from_secs(5));
    tasks.ensure(&"eu".to_owned(), 1, |context| sentinel.with_metrics(metrics).run(context)).await;
    // The feed's start is read before the first full poll; the second read follows it.
    let what = "the Sentinel's first poll, then following the feed";
    hyperfleet_testing::wait_until(what, Duration::from_secs(10), || async {
        polls(&registry) >= 1 && feed_reads(&base).await >= 2
    })
    .await;
    for n in 0..100 {
        common::cluster(&client, &format!("c-{n:03}"), &[("region", "eu")]).await;
    }
    assert_eq!(drain(&received, 100).await.len(), 100, "one event each, as they are created");
    let polled = polls(&registry);
    let what = "ten more polls";
    hyperfleet_testing::wait_until(what, Duration::from_secs(10), || async {
        polls(&registry) >= polled + 10
    })
    .await;
    assert_eq!(read_by(&registry, "full_poll"), 0, "the one full poll ran before they existed");
    assert_eq!(read_by(&registry, "due_poll"), 0, "nothing is due before the repeat");

    let repeats = drain(&received, 100).await;
    assert_eq!(repeats.len(), 100);
    assert!(repeats.iter().all(|(_, _, reason)| reason == "not_ready_backoff"), "{repeats:?}");
    assert_eq!(read_by(&registry, "due_poll"), 100, "read when due, each once");
    assert_eq!(read_by(&registry, "full_poll"), 0);
    assert!(polls(&registry) >= polled + 25, "a full poll each time would have read 100 each");
    let published =
        |reason: &str| sentinel_series(&registry, "events_created_total", &format!("reason=\"{reason}\""));
    assert_eq!(published("not_ready_backoff"), 100, "counted by reason");
    tasks.shutdown_all().await;
}

/// The sum of the Sentinel series `name` whose labels contain `label`, as `/metrics` shows it.
fn sentinel_series(registry: &Registry, name: &str, label: &str) -> u64 {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
    text.lines()
        .filter(|line| line.starts_with(&format!("hyperfleet_sentinel_{name}{{")) && line.contains(label))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn polls(registry: &Registry) -> u64 {
    sentinel_series(registry, "poll_duration_seconds_count", "shard=\"eu\"")
}

fn read_by(registry: &Registry, by: &str) -> u64 {
    sentinel_series(registry, "resources_read_total", &format!("by=\"{by}\""))
}
