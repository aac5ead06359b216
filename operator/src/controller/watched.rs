//! Which namespaces the controllers watch, and one leadership term's controllers over them: one
//! controller per kind and namespace (kube watches one namespace or all), each fed the task
//! changes of its own namespace. `WATCH_NAMESPACE` may list several (OLM's MultiNamespace
//! install: the operator's namespace and the one its adapters' Jobs run in).

use std::sync::Arc;

use futures::{StreamExt as _, future::join_all};
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

use hyperfleet_crds::v1alpha1::{AdapterConfig, SentinelConfig};

use super::{
    Context,
    driver::{self, Managed},
};
use crate::tasks::TaskKey;

/// Task changes of one kind, shared by the leadership terms (each term borrows the receiver).
pub type SharedChanges = Arc<Mutex<mpsc::UnboundedReceiver<TaskKey>>>;

/// Why the controllers cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The API server does not serve a CRD the operator watches.
    #[error("the {kind} CRD is not installed: apply it first (kubectl apply -f crds/, or install the chart)")]
    CrdMissing {
        /// The kind.
        kind: &'static str,
    },
    /// The operator may not list a kind it watches.
    #[error("cannot list {kind}s{}", .namespace.as_deref().map(|ns| format!(" in {ns}")).unwrap_or_default())]
    Forbidden {
        /// The kind.
        kind: &'static str,
        /// Where (every namespace when `None`).
        namespace: Option<String>,
        /// The API server's answer.
        #[source]
        source: kube::Error,
    },
}

/// Checks, before anything runs, that both CRDs are served and listable where they are watched:
/// a missing CRD is a clear startup error, not an endless loop of watch errors.
pub async fn check_crds(client: &kube::Client, namespaces: &[String]) -> Result<(), StartError> {
    check::<SentinelConfig>(client, namespaces).await?;
    check::<AdapterConfig>(client, namespaces).await
}

async fn check<K: Managed>(client: &kube::Client, namespaces: &[String]) -> Result<(), StartError> {
    let watched: Vec<Option<&String>> =
        if namespaces.is_empty() { vec![None] } else { namespaces.iter().map(Some).collect() };
    for namespace in watched {
        let api: kube::Api<kube::core::DeserializeGuard<K>> = match namespace {
            Some(ns) => kube::Api::namespaced(client.clone(), ns),
            None => kube::Api::all(client.clone()),
        };
        match api.list_metadata(&kube::api::ListParams::default().limit(1)).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {
                return Err(StartError::CrdMissing { kind: K::KIND });
            }
            Err(source) => {
                return Err(StartError::Forbidden { kind: K::KIND, namespace: namespace.cloned(), source });
            }
        }
    }
    Ok(())
}

/// The namespaces of `WATCH_NAMESPACE` (comma-separated); empty means every namespace.
pub fn parse_namespaces(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|ns| !ns.is_empty()).map(str::to_owned).collect()
}

/// Runs the controllers of both kinds over `namespaces` until `stop`.
pub async fn controllers(
    context: Arc<Context>,
    namespaces: &[String],
    (sentinels, adapters): (SharedChanges, SharedChanges),
    stop: CancellationToken,
) {
    tokio::join!(
        per_namespace::<SentinelConfig>(context.clone(), namespaces, sentinels, stop.clone()),
        per_namespace::<AdapterConfig>(context, namespaces, adapters, stop),
    );
}

async fn per_namespace<K: Managed>(
    context: Arc<Context>,
    namespaces: &[String],
    changes: SharedChanges,
    stop: CancellationToken,
) {
    let watched: Vec<Option<String>> =
        if namespaces.is_empty() { vec![None] } else { namespaces.iter().cloned().map(Some).collect() };
    let mut routes = Vec::new();
    let mut runs = Vec::new();
    for namespace in watched {
        let (send, receive) = mpsc::unbounded_channel::<TaskKey>();
        routes.push((namespace.clone(), send));
        let triggers = stream_of(receive).map(|key| driver::object_ref::<K>(&key));
        let (context, stop) = (context.clone(), stop.clone());
        runs.push(async move { driver::run::<K>(context, namespace.as_deref(), triggers, stop).await });
    }
    let route = async { route(&mut *changes.lock().await, &routes, &stop).await };
    tokio::join!(join_all(runs), route);
}

/// Hands each change to the controllers of its namespace (a controller of every namespace gets
/// them all) until `stop` or the registry goes.
async fn route(
    changes: &mut mpsc::UnboundedReceiver<TaskKey>,
    routes: &[(Option<String>, mpsc::UnboundedSender<TaskKey>)],
    stop: &CancellationToken,
) {
    loop {
        let key = tokio::select! {
            () = stop.cancelled() => break,
            key = changes.recv() => key,
        };
        let Some(key) = key else { break };
        for (namespace, send) in routes {
            if namespace.as_deref().is_none_or(|ns| ns == key.namespace) {
                // A controller that has stopped no longer needs triggers.
                let _ = send.send(key.clone());
            }
        }
    }
}

/// The receiver as a stream of what it receives.
fn stream_of(
    receive: mpsc::UnboundedReceiver<TaskKey>,
) -> impl futures::Stream<Item = TaskKey> + Send + 'static {
    futures::stream::unfold(
        receive,
        |mut receive| async move { receive.recv().await.map(|key| (key, receive)) },
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[tokio::test]
    async fn the_replica_is_ready_only_once_its_watch_has_listed_everything() {
        let (context, mut server) = crate::controller::fixtures::context();
        context.readiness.started();
        let stop = CancellationToken::new();
        let watch = tokio::spawn(driver::run::<SentinelConfig>(
            context.clone(),
            Some("fleet"),
            futures::stream::pending(),
            stop.clone(),
        ));
        let path = "/apis/hyperfleet.redhat.com/v1alpha1/namespaces/fleet/sentinelconfigs";
        let listed = json!({"apiVersion": "hyperfleet.redhat.com/v1alpha1", "kind": "SentinelConfigList",
                            "metadata": {"resourceVersion": "7"}, "items": []});
        let readiness = context.readiness.clone();
        server
            .expect_typed("GET", path, |_| {
                assert_eq!(readiness.waiting_for(), Some("watches syncing"), "not ready before the list");
                (200, listed)
            })
            .await;
        hyperfleet_testing::wait_until("the watch synced", std::time::Duration::from_secs(5), async || {
            context.readiness.waiting_for().is_none()
        })
        .await;
        stop.cancel();
        watch.await.unwrap();
    }

    #[tokio::test]
    async fn a_missing_crd_is_a_clear_startup_error() {
        let (client, mut server) = crate::controller::fixtures::client();
        let check = tokio::spawn(async move { check_crds(&client, &["fleet".to_owned()]).await });
        let listed = json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": []});
        server
            .expect("GET", "/apis/hyperfleet.redhat.com/v1alpha1/namespaces/fleet/sentinelconfigs", listed)
            .await;
        let not_found = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                               "message": "the server could not find the requested resource", "code": 404});
        server
            .expect_answering(
                "GET",
                "/apis/hyperfleet.redhat.com/v1alpha1/namespaces/fleet/adapterconfigs",
                404,
                not_found,
            )
            .await;
        let err = check.await.unwrap().unwrap_err().to_string();
        assert!(err.contains("the AdapterConfig CRD is not installed"), "{err}");
    }

    #[tokio::test]
    async fn each_change_reaches_the_controllers_of_its_namespace_only() {
        let (registry, mut changes) = mpsc::unbounded_channel();
        let (to_a, mut a) = mpsc::unbounded_channel();
        let (to_b, mut b) = mpsc::unbounded_channel();
        let (to_all, mut all) = mpsc::unbounded_channel();
        let routes = [(Some("a".to_owned()), to_a), (Some("b".to_owned()), to_b), (None, to_all)];
        registry.send(TaskKey::new("a", "eu")).unwrap();
        registry.send(TaskKey::new("b", "us")).unwrap();
        drop(registry);
        route(&mut changes, &routes, &CancellationToken::new()).await;
        assert_eq!(a.recv().await.unwrap(), TaskKey::new("a", "eu"));
        assert_eq!(b.recv().await.unwrap(), TaskKey::new("b", "us"));
        assert!(a.try_recv().is_err() && b.try_recv().is_err(), "nothing crosses namespaces");
        assert_eq!((all.recv().await, all.recv().await).1, Some(TaskKey::new("b", "us")));
    }

    #[test]
    fn watch_namespace_is_a_comma_separated_list_and_empty_means_all() {
        assert_eq!(parse_namespaces(""), Vec::<String>::new());
        assert_eq!(parse_namespaces("hyperfleet"), ["hyperfleet"]);
        assert_eq!(parse_namespaces("hyperfleet, hyperfleet-jobs,"), ["hyperfleet", "hyperfleet-jobs"]);
    }
}
