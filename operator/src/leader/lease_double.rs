//! Test support: a protocol-faithful double of the Kubernetes API's Leases
//! (`coordination.k8s.io/v1`) that several replicas share: get, list by label selector, create
//! (409 AlreadyExists), replace (409 Conflict on a stale `resourceVersion`), server-side apply,
//! delete, with resourceVersions from one counter as etcd gives them. Each replica's client has
//! its own link, which can be partitioned: its requests hang until the link heals, as over a
//! frozen connection.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test support code

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use http::{Request, Response};
use kube::client::Body;
use serde_json::{Value, json};
use tokio::sync::watch;

/// The shared Lease store.
#[derive(Clone, Default)]
pub struct LeaseServer {
    store: Arc<Mutex<Store>>,
}

#[derive(Default)]
struct Store {
    leases: BTreeMap<String, Value>,
    version: u64,
}

/// One replica's connection to the server.
pub struct Link {
    partitioned: watch::Sender<bool>,
}

impl Link {
    /// From now on this replica's requests hang.
    pub fn partition(&self) {
        self.partitioned.send_replace(true);
    }

    /// The hanging requests go through, and later ones answer at once.
    pub fn heal(&self) {
        self.partitioned.send_replace(false);
    }
}

impl LeaseServer {
    /// A client of this server over its own link.
    pub fn client(&self) -> (kube::Client, Link) {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let (partitioned, mut open) = watch::channel(false);
        let server = self.clone();
        tokio::spawn(async move {
            while let Some((request, send)) = handle.next_request().await {
                let _ = open.wait_for(|partitioned| !*partitioned).await;
                let (code, answer) = server.answer(request).await;
                let response = Response::builder()
                    .status(code)
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&answer).unwrap()))
                    .unwrap();
                send.send_response(response);
            }
        });
        (kube::Client::new(service, "default"), Link { partitioned })
    }

    /// The stored Lease `name`.
    pub fn lease(&self, name: &str) -> Option<Value> {
        self.store.lock().unwrap().leases.get(name).cloned()
    }

    async fn answer(&self, request: Request<Body>) -> (u16, Value) {
        let method = request.method().as_str().to_owned();
        let uri = request.uri().clone();
        let body = request.into_body().collect_bytes().await.unwrap();
        let body: Value = if body.is_empty() { Value::Null } else { serde_json::from_slice(&body).unwrap() };
        let path = uri.path();
        let (namespace, name) = parse(path).unwrap_or_else(|| panic!("not a Lease path: {path}"));
        let query = uri.query().unwrap_or("");
        // As the API server records it: who wrote the object last, and how.
        let manager = query_value(query, "fieldManager").unwrap_or_else(|| "unnamed".into());
        let body = match &body {
            Value::Object(_) => {
                let mut body = body;
                let operation = if method == "PATCH" { "Apply" } else { "Update" };
                body["metadata"]["managedFields"] = json!([{"manager": manager, "operation": operation}]);
                body
            }
            _ => body,
        };
        let mut store = self.store.lock().unwrap();
        match (method.as_str(), name) {
            ("GET", None) => (200, store.list(query)),
            ("POST", None) => store.create(namespace, body),
            ("GET", Some(name)) => store.get(name),
            ("PUT", Some(name)) => store.replace(name, body),
            ("PATCH", Some(name)) => store.apply(namespace, name, body),
            ("DELETE", Some(name)) => store.delete(name),
            (method, name) => panic!("the Lease double does not serve {method} {name:?}"),
        }
    }
}

/// `(namespace, name)` of a Lease path (no name for the collection).
fn parse(path: &str) -> Option<(&str, Option<&str>)> {
    let rest = path.strip_prefix("/apis/coordination.k8s.io/v1/namespaces/")?;
    let (namespace, rest) = rest.split_once("/leases")?;
    Some((namespace, rest.strip_prefix('/')))
}

fn query_value(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes()).find(|(key, _)| key == name).map(|(_, value)| value.into_owned())
}

fn status(code: u16, reason: &str, message: String) -> (u16, Value) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "message": message, "code": code}),
    )
}

impl Store {
    fn stamp(&mut self, mut lease: Value, namespace: &str, name: &str) -> Value {
        self.version += 1;
        lease["apiVersion"] = json!("coordination.k8s.io/v1");
        lease["kind"] = json!("Lease");
        lease["metadata"]["name"] = json!(name);
        lease["metadata"]["namespace"] = json!(namespace);
        lease["metadata"]["resourceVersion"] = json!(self.version.to_string());
        self.leases.insert(name.to_owned(), lease.clone());
        lease
    }

    fn list(&self, query: &str) -> Value {
        let selector = query_value(query, "labelSelector").unwrap_or_default();
        let wanted: Vec<(&str, &str)> = selector.split(',').filter_map(|term| term.split_once('=')).collect();
        let items: Vec<Value> = self
            .leases
            .values()
            .filter(|lease| wanted.iter().all(|(k, v)| lease["metadata"]["labels"][k] == *v))
            .cloned()
            .collect();
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "LeaseList",
               "metadata": {"resourceVersion": self.version.to_string()}, "items": items})
    }

    fn create(&mut self, namespace: &str, lease: Value) -> (u16, Value) {
        let name = lease["metadata"]["name"].as_str().unwrap().to_owned();
        if self.leases.contains_key(&name) {
            return status(409, "AlreadyExists", format!("leases \"{name}\" already exists"));
        }
        (201, self.stamp(lease, namespace, &name))
    }

    fn get(&self, name: &str) -> (u16, Value) {
        match self.leases.get(name) {
            Some(lease) => (200, lease.clone()),
            None => status(404, "NotFound", format!("leases \"{name}\" not found")),
        }
    }

    fn replace(&mut self, name: &str, lease: Value) -> (u16, Value) {
        let Some(stored) = self.leases.get(name) else {
            return status(404, "NotFound", format!("leases \"{name}\" not found"));
        };
        if lease["metadata"]["resourceVersion"] != stored["metadata"]["resourceVersion"] {
            return status(409, "Conflict", format!("the object has been modified: leases \"{name}\""));
        }
        let namespace = stored["metadata"]["namespace"].as_str().unwrap().to_owned();
        (200, self.stamp(lease, &namespace, name))
    }

    fn apply(&mut self, namespace: &str, name: &str, patch: Value) -> (u16, Value) {
        let mut lease = self.leases.get(name).cloned().unwrap_or_else(|| json!({"metadata": {}}));
        for field in ["labels", "annotations"] {
            if let Some(values) = patch["metadata"][field].as_object() {
                for (key, value) in values {
                    lease["metadata"][field][key] = value.clone();
                }
            }
        }
        lease["spec"] = patch["spec"].clone();
        lease["metadata"]["managedFields"] = patch["metadata"]["managedFields"].clone();
        (200, self.stamp(lease, namespace, name))
    }

    fn delete(&mut self, name: &str) -> (u16, Value) {
        match self.leases.remove(name) {
            Some(lease) => (200, lease),
            None => status(404, "NotFound", format!("leases \"{name}\" not found")),
        }
    }
}
