//! An in-process Maestro for tests: the `CloudEventService` over gRPC (plain or TLS, optionally
//! requiring client certificates), the REST reads, a store of resource bundles per consumer, and
//! a work agent that reports status and feedback back. It can be stopped and started again on
//! the same ports with its state, to test outages and reconnection. The REST side is plain HTTP.

mod grpc;
mod rest;
mod store;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use serde_json::Value;
use tokio::{net::TcpListener, sync::broadcast, task::JoinHandle};
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig, server::TcpIncoming};

pub use store::Taken;

use crate::{proto::cloud_event_service_server::CloudEventServiceServer, work};

/// Server certificates of the double's gRPC side.
#[derive(Debug, Clone)]
pub struct DoubleTls {
    /// PEM certificate.
    pub cert_pem: String,
    /// PEM key.
    pub key_pem: String,
    /// When set, clients must present a certificate this CA signed.
    pub client_ca_pem: Option<String>,
}

#[derive(Debug)]
struct Shared {
    store: Mutex<store::Store>,
    statuses: broadcast::Sender<grpc::StatusEvent>,
    /// The bearer token every call must carry, when set.
    token: Mutex<Option<String>>,
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, store::Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether an `authorization` header value is what the double requires.
    fn authorized(&self, header: Option<&str>) -> bool {
        let token = self.token.lock().unwrap_or_else(PoisonError::into_inner);
        token.as_ref().is_none_or(|token| header == Some(format!("Bearer {token}").as_str()))
    }
}

/// A running (or stopped) double.
#[derive(Debug)]
pub struct MaestroDouble {
    shared: Arc<Shared>,
    grpc: SocketAddr,
    http: SocketAddr,
    tls: Option<DoubleTls>,
    servers: Vec<(tokio::sync::oneshot::Sender<()>, JoinHandle<()>)>,
}

impl MaestroDouble {
    /// Starts a double on free loopback ports.
    pub async fn start(tls: Option<DoubleTls>) -> std::io::Result<Self> {
        let (statuses, _) = broadcast::channel(256);
        let shared = Arc::new(Shared { store: Mutex::default(), statuses, token: Mutex::default() });
        let grpc = TcpListener::bind("127.0.0.1:0").await?;
        let http = TcpListener::bind("127.0.0.1:0").await?;
        let mut double =
            Self { shared, grpc: grpc.local_addr()?, http: http.local_addr()?, tls, servers: Vec::new() };
        double.serve(grpc, http)?;
        Ok(double)
    }

    fn serve(&mut self, grpc: TcpListener, http: TcpListener) -> std::io::Result<()> {
        let mut builder = Server::builder();
        if let Some(tls) = &self.tls {
            let mut config = ServerTlsConfig::new().identity(Identity::from_pem(&tls.cert_pem, &tls.key_pem));
            if let Some(ca) = &tls.client_ca_pem {
                config = config.client_ca_root(Certificate::from_pem(ca));
            }
            builder = builder.tls_config(config).map_err(std::io::Error::other)?;
        }
        let service = CloudEventServiceServer::new(grpc::Service { shared: self.shared.clone() });
        let router = builder.add_service(service);
        let (stop_grpc, stopped) = tokio::sync::oneshot::channel::<()>();
        let grpc_server = tokio::spawn(async move {
            let stopped = async { drop(stopped.await) };
            if let Err(err) = router.serve_with_incoming_shutdown(TcpIncoming::from(grpc), stopped).await {
                eprintln!("the Maestro double's gRPC server stopped: {err}");
            }
        });
        let (stop_http, stopped) = tokio::sync::oneshot::channel::<()>();
        let routes = rest::routes(self.shared.clone());
        let http_server = tokio::spawn(async move {
            let stopped = async { drop(stopped.await) };
            if let Err(err) = axum::serve(http, routes).with_graceful_shutdown(stopped).await {
                eprintln!("the Maestro double's REST server stopped: {err}");
            }
        });
        self.servers = vec![(stop_grpc, grpc_server), (stop_http, http_server)];
        Ok(())
    }

    /// Stops serving (the state is kept); calls fail as against a Maestro that is down.
    pub async fn stop(&mut self) {
        for (stop, server) in std::mem::take(&mut self.servers) {
            let _ = stop.send(());
            let _ = server.await;
        }
    }

    /// Serves again on the same ports, with the same state.
    pub async fn restart(&mut self) -> std::io::Result<()> {
        self.stop().await;
        let grpc = TcpListener::bind(self.grpc).await?;
        let http = TcpListener::bind(self.http).await?;
        self.serve(grpc, http)
    }

    /// The gRPC address, `http://` or `https://127.0.0.1:<port>`.
    pub fn grpc_address(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.grpc)
    }

    /// The REST base address.
    pub fn http_address(&self) -> String {
        format!("http://{}", self.http)
    }

    /// Registers a consumer (a managed cluster whose agent talks to this Maestro).
    pub fn register_consumer(&self, name: &str) {
        self.shared.store().consumers.insert(name.to_owned());
    }

    /// The agent reports `value` for the feedback rule `name` of the work `work` on `consumer`.
    pub fn set_feedback(&self, consumer: &str, work: &str, name: &str, value: Value) {
        let mut store = self.shared.store();
        store.feedback.insert((consumer.to_owned(), work.to_owned(), name.to_owned()), value);
        let changed = store.report();
        for bundle in changed {
            let id = bundle["id"].as_str().and_then(|id| id.parse().ok());
            if let Some(source) = id.and_then(|id| store.sources.get(&id)).cloned() {
                let _ = self.shared.statuses.send((source, grpc::status_event(&bundle)));
            }
        }
    }

    /// From now on every gRPC and REST call must carry `Authorization: Bearer <token>`.
    pub fn require_token(&self, token: &str) {
        *self.shared.token.lock().unwrap_or_else(PoisonError::into_inner) = Some(token.to_owned());
    }

    /// Refuses the next publish with `message`, as Maestro refuses a request it cannot store.
    pub fn refuse_next(&self, message: &str) {
        self.shared.store().refusal = Some(message.to_owned());
    }

    /// Every event taken so far, in order.
    pub fn taken(&self) -> Vec<Taken> {
        self.shared.store().taken.clone()
    }

    /// The works stored for `consumer`, as ManifestWorks.
    pub fn works(&self, consumer: &str) -> Vec<Value> {
        let store = self.shared.store();
        store.bundles.values().filter(|b| b["consumer_name"] == consumer).map(work::from_bundle).collect()
    }
}
