//! Test support: a scripted Kubernetes API server (kube's mock service over `tower-test`) and
//! builders for the objects and context the reconcilers take. Every expectation is awaited
//! with a timeout, so a missing call fails the test instead of hanging it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test support code

use std::{sync::Arc, time::Duration};

use http::{Request, Response};
use kube::{
    client::Body,
    runtime::events::{Recorder, Reporter},
};
use serde_json::{Value, json};

use super::Context;
use crate::{
    adapter::{
        Transports,
        transport::dry_run::{DryRun, JobOutcome},
    },
    metrics::OperatorMetrics,
    resolve::EnvSecrets,
    workloads::{Resources, Workloads},
};

/// Dry-run transports whose Jobs finish at once.
pub fn dry_run_transports() -> Transports {
    let dry_run = Arc::new(DryRun::new(Duration::ZERO, JobOutcome::Succeed));
    Transports { kubernetes: dry_run.clone(), dry_run: dry_run.clone(), maestro: Some(dry_run) }
}

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// The scripted API server's side of the mock.
pub struct ApiServer(Handle);

impl ApiServer {
    /// Waits (at most a second) for the next request; asserts its method and path, answers
    /// `answer`, and returns the request body as JSON.
    pub async fn expect(&mut self, method: &str, path: &str, answer: Value) -> Value {
        self.expect_answering(method, path, 200, answer).await
    }

    /// Like [`ApiServer::expect`], answering with HTTP status `code`.
    pub async fn expect_answering(&mut self, method: &str, path: &str, code: u16, answer: Value) -> Value {
        self.expect_typed(method, path, |_| (code, answer)).await.1
    }

    /// Like [`ApiServer::expect`]; returns the request's query string (selectors, options).
    pub async fn expect_query(&mut self, method: &str, path: &str, answer: Value) -> String {
        let (request, send) = self.receive(method, path).await;
        let query = request.uri().query().unwrap_or_default().to_owned();
        let response = Response::builder().status(200).body(Body::from(serde_json::to_vec(&answer).unwrap()));
        send.send_response(response.unwrap());
        query
    }

    /// Like [`ApiServer::expect`], answering with the request's own body, as the API server
    /// answers an apply with the object it stored; returns that body.
    pub async fn expect_echo(&mut self, method: &str, path: &str) -> Value {
        let (request, send) = self.receive(method, path).await;
        let body = request.into_body().collect_bytes().await.unwrap();
        send.send_response(Response::builder().status(200).body(Body::from(body.to_vec())).unwrap());
        serde_json::from_slice(&body).unwrap()
    }

    /// Takes the next request (`method path`) and never answers it: the caller holds the
    /// returned handle, as a frozen connection would hold the request.
    pub async fn expect_unanswered(
        &mut self,
        method: &str,
        path: &str,
    ) -> tower_test::mock::SendResponse<Response<Body>> {
        self.receive(method, path).await.1
    }

    /// The next request (waiting at most a second), asserted to be `method path`.
    async fn receive(
        &mut self,
        method: &str,
        path: &str,
    ) -> (Request<Body>, tower_test::mock::SendResponse<Response<Body>>) {
        let (request, send) = tokio::time::timeout(Duration::from_secs(1), self.0.next_request())
            .await
            .unwrap_or_else(|_| panic!("no request came; expected {method} {path}"))
            .expect("the client is gone");
        assert_eq!(request.method().as_str(), method, "method of {}", request.uri());
        assert_eq!(request.uri().path(), path);
        (request, send)
    }

    /// Like [`ApiServer::expect_answering`], the answer chosen by the request's content type
    /// (which says whether a PATCH is a server-side apply or a merge patch); returns both.
    pub async fn expect_typed(
        &mut self,
        method: &str,
        path: &str,
        answer: impl FnOnce(&str) -> (u16, Value),
    ) -> (String, Value) {
        let (request, send) = self.receive(method, path).await;
        let content_type = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = request.into_body().collect_bytes().await.unwrap();
        let body = if body.is_empty() { Value::Null } else { serde_json::from_slice(&body).unwrap() };
        let (code, answer) = answer(&content_type);
        let response =
            Response::builder().status(code).body(Body::from(serde_json::to_vec(&answer).unwrap()));
        send.send_response(response.unwrap());
        (content_type, body)
    }

    /// Expects a status apply of a SentinelConfig; returns the applied status.
    pub async fn expect_sentinel_status(&mut self, namespace: &str, name: &str) -> Value {
        self.expect_status("sentinelconfigs", "SentinelConfig", namespace, name).await
    }

    /// Expects a status apply of an object of `kind` (`plural`); returns the applied status.
    pub async fn expect_status(&mut self, plural: &str, kind: &str, namespace: &str, name: &str) -> Value {
        let path =
            format!("/apis/hyperfleet.redhat.com/v1alpha1/namespaces/{namespace}/{plural}/{name}/status");
        let answer = json!({"apiVersion": "hyperfleet.redhat.com/v1alpha1", "kind": kind, "metadata": {"name": name, "namespace": namespace}});
        let body = self.expect("PATCH", &path, answer).await;
        assert_eq!(body["kind"], kind);
        body["status"].clone()
    }

    /// Expects a merge patch of an AdapterConfig's finalizers; returns them.
    pub async fn expect_adapter_finalizers(&mut self, namespace: &str, name: &str) -> Value {
        let path =
            format!("/apis/hyperfleet.redhat.com/v1alpha1/namespaces/{namespace}/adapterconfigs/{name}");
        let answer = json!({"apiVersion": "hyperfleet.redhat.com/v1alpha1", "kind": "AdapterConfig", "metadata": {"name": name, "namespace": namespace}});
        let body = self.expect("PATCH", &path, answer).await;
        body["metadata"]["finalizers"].clone()
    }

    /// Expects the status write of an object the API server cannot decode (it no longer matches
    /// the schema). As a real server does, a server-side apply to it is refused with a 500
    /// ("failed to create typed live object"); only a merge patch of `/status` is accepted.
    /// Returns the content type and the status written.
    pub async fn expect_status_of_undecodable(
        &mut self,
        plural: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> (String, Value) {
        let path =
            format!("/apis/hyperfleet.redhat.com/v1alpha1/namespaces/{namespace}/{plural}/{name}/status");
        let (content_type, body) = self
            .expect_typed("PATCH", &path, |content_type| {
                if content_type.starts_with("application/apply-patch") {
                    let refused = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 500,
                        "message": "failed to create typed live object: .spec: expected a map"});
                    return (500, refused);
                }
                (200, json!({"apiVersion": "hyperfleet.redhat.com/v1alpha1", "kind": kind, "metadata": {"name": name, "namespace": namespace}}))
            })
            .await;
        (content_type, body["status"].clone())
    }

    /// Expects an Event about an object; returns it.
    pub async fn expect_event(&mut self, namespace: &str) -> Value {
        let path = format!("/apis/events.k8s.io/v1/namespaces/{namespace}/events");
        let answer = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"}, "eventTime": null});
        self.expect("POST", &path, answer).await
    }

    /// Asserts that no request comes within 100 ms.
    pub async fn expect_nothing(&mut self) {
        if let Ok(Some((request, _))) =
            tokio::time::timeout(Duration::from_millis(100), self.0.next_request()).await
        {
            panic!("unexpected request {} {}", request.method(), request.uri());
        }
    }
}

/// A client talking to the returned scripted server.
pub fn client() -> (kube::Client, ApiServer) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (kube::Client::new(service, "default"), ApiServer(handle))
}

/// A context whose client talks to the returned scripted server; tasks use the memory broker.
pub fn context() -> (Arc<Context>, ApiServer) {
    let (client, server) = client();
    let metrics = OperatorMetrics::new();
    let (workloads, _changes) =
        Workloads::new(Resources::new(&metrics, Arc::new(EnvSecrets), dry_run_transports()));
    let reporter = Reporter { controller: "hyperfleet-operator".into(), instance: Some("test".into()) };
    let context = Context {
        client: client.clone(),
        recorder: Recorder::new(client, reporter),
        workloads: Arc::new(workloads),
        metrics: metrics.reconcile.clone(),
        status_interval: Duration::from_secs(30),
        readiness: Arc::default(),
        shares: None,
    };
    (Arc::new(context), server)
}

/// A SentinelConfig as the API server would send it. The API URL points at a closed port: the
/// task runs (and its polls fail), which is all these tests need.
pub fn sentinel_json(namespace: &str, name: &str, generation: i64, spec_overrides: Value) -> Value {
    let mut spec = json!({
        "resourceType": "clusters",
        "shardSelector": {"matchLabels": {"region": "eu-west"}},
        "pollInterval": "1h",
        "backoffNotReady": "1h",
        "backoffReady": "2h",
        "hyperfleetAPI": {"url": "http://127.0.0.1:9", "timeout": "1s"},
        "broker": {"type": "memory", "topic": "clusters"},
    });
    if let (Some(spec), Some(overrides)) = (spec.as_object_mut(), spec_overrides.as_object()) {
        for (key, value) in overrides {
            spec.insert(key.clone(), value.clone());
        }
    }
    json!({
        "apiVersion": "hyperfleet.redhat.com/v1alpha1",
        "kind": "SentinelConfig",
        "metadata": {"name": name, "namespace": namespace, "generation": generation, "uid": format!("uid-{name}")},
        "spec": spec,
    })
}
