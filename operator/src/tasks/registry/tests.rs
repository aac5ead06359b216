use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use super::*;

type BoxedTask = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// A task counting its starts and its clean stops.
fn counted(starts: &Arc<AtomicUsize>, stops: &Arc<AtomicUsize>) -> impl FnOnce(TaskContext) -> BoxedTask {
    let (starts, stops) = (starts.clone(), stops.clone());
    move |context: TaskContext| {
        starts.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            context.report(TaskHealth::Running);
            context.cancel.cancelled().await;
            stops.fetch_add(1, Ordering::SeqCst);
        })
    }
}

fn registry() -> TaskRegistry<String> {
    TaskRegistry::new(Duration::from_millis(200))
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(20)).await;
}

#[tokio::test]
async fn same_generation_keeps_the_task_and_a_new_one_restarts_it() {
    let (starts, stops) = (Arc::default(), Arc::default());
    let mut tasks = registry();
    let key = "ns/shard-a".to_owned();
    assert_eq!(tasks.ensure(&key, 1, counted(&starts, &stops)).await, Ensured::Started);
    settle().await;
    assert_eq!(tasks.health(&key), Some(TaskHealth::Running));
    assert_eq!(tasks.ensure(&key, 1, counted(&starts, &stops)).await, Ensured::Unchanged);
    assert_eq!(starts.load(Ordering::SeqCst), 1);

    assert_eq!(tasks.ensure(&key, 2, counted(&starts, &stops)).await, Ensured::Restarted);
    assert_eq!(
        (starts.load(Ordering::SeqCst), stops.load(Ordering::SeqCst)),
        (2, 1),
        "old stopped before new"
    );
    assert_eq!(tasks.generation(&key), Some(2));
}

#[tokio::test]
async fn stop_and_shutdown_wait_for_tasks_to_finish() {
    let (starts, stops) = (Arc::default(), Arc::default());
    let mut tasks = registry();
    for name in ["a", "b", "c"] {
        tasks.ensure(&name.to_owned(), 1, counted(&starts, &stops)).await;
    }
    assert!(tasks.stop(&"a".to_owned()).await);
    assert!(!tasks.stop(&"a".to_owned()).await, "stopping twice is harmless");
    assert_eq!(stops.load(Ordering::SeqCst), 1);
    tasks.shutdown_all().await;
    assert_eq!(stops.load(Ordering::SeqCst), 3);
    assert_eq!(tasks.keys().count(), 0);
}

#[tokio::test]
async fn a_task_that_ends_or_panics_is_failed_and_restarted_by_ensure() {
    let mut tasks = registry();
    let key = "ns/adapter".to_owned();
    tasks.ensure(&key, 1, |_context| async {}).await;
    settle().await;
    assert!(matches!(tasks.health(&key), Some(TaskHealth::Failed(_))));
    let (starts, stops) = (Arc::default(), Arc::default());
    assert_eq!(tasks.ensure(&key, 1, counted(&starts, &stops)).await, Ensured::Restarted);

    let panicky = "ns/panicky".to_owned();
    tasks
        .ensure(&panicky, 1, |context: TaskContext| async move {
            context.report(TaskHealth::Failed("broker unreachable".into()));
            panic!("boom");
        })
        .await;
    settle().await;
    assert_eq!(tasks.health(&panicky), Some(TaskHealth::Failed("the task panicked: boom".into())));

    // A task that says why it gives up (an adapter whose consumer died) keeps its reason.
    let gave_up = "ns/gave-up".to_owned();
    tasks
        .ensure(&gave_up, 1, |context: TaskContext| async move {
            context.report(TaskHealth::Failed("the consumer of dns stopped".into()));
        })
        .await;
    settle().await;
    assert_eq!(tasks.health(&gave_up), Some(TaskHealth::Failed("the consumer of dns stopped".into())));
}

#[tokio::test]
async fn a_task_ignoring_its_stop_signal_is_aborted_after_the_timeout() {
    let mut tasks = registry();
    let key = "ns/stubborn".to_owned();
    tasks.ensure(&key, 1, |_context| async { tokio::time::sleep(Duration::from_secs(3600)).await }).await;
    let started = std::time::Instant::now();
    assert!(tasks.stop(&key).await);
    assert!(started.elapsed() < Duration::from_secs(2), "stop is bounded by the timeout");
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_every_task_under_one_deadline() {
    let mut tasks = registry();
    for n in 0..20 {
        let key = format!("ns/stubborn-{n}");
        tasks.ensure(&key, 1, |_context| async { tokio::time::sleep(Duration::from_secs(3600)).await }).await;
    }
    let started = tokio::time::Instant::now();
    tasks.shutdown_all().await;
    // On the paused clock: one stop timeout (200 ms), not twenty.
    assert!(started.elapsed() < Duration::from_millis(400), "took {:?}", started.elapsed());
    assert_eq!(tasks.keys().count(), 0);
}

#[tokio::test]
async fn health_reports_flow_back_to_the_registry() {
    let mut tasks = registry();
    let key = "ns/sentinel".to_owned();
    tasks
        .ensure(&key, 1, |context: TaskContext| async move {
            context.report(TaskHealth::Degraded("API answered 503".into()));
            context.cancel.cancelled().await;
        })
        .await;
    settle().await;
    assert_eq!(tasks.health(&key), Some(TaskHealth::Degraded("API answered 503".into())));
    tasks.shutdown_all().await;
}

#[tokio::test]
async fn health_changes_and_unexpected_ends_are_announced_and_progress_is_readable() {
    let (changes_tx, mut changes) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks: TaskRegistry<String, u64> =
        TaskRegistry::new(Duration::from_millis(200)).with_changes(changes_tx);
    let key = "ns/sentinel".to_owned();
    let (go_on, wait) = tokio::sync::oneshot::channel::<()>();
    tasks
        .ensure(&key, 1, |context: TaskContext<u64>| async move {
            context.update(|published| *published += 7);
            context.report(TaskHealth::Running);
            context.report(TaskHealth::Running);
            let _ = wait.await;
        })
        .await;
    let announced = tokio::time::timeout(Duration::from_secs(1), changes.recv()).await.unwrap();
    assert_eq!(announced.as_deref(), Some("ns/sentinel"));
    assert_eq!(tasks.progress(&key), Some(7));
    assert!(changes.try_recv().is_err(), "an unchanged health is not announced twice");

    go_on.send(()).unwrap();
    let announced = tokio::time::timeout(Duration::from_secs(1), changes.recv()).await.unwrap();
    assert_eq!(announced.as_deref(), Some("ns/sentinel"), "the end is announced");
    assert!(matches!(tasks.health(&key), Some(TaskHealth::Failed(_))));
}
