//! The Maestro transport: the adapter's `transport: maestro` entries travel as ManifestWorks
//! (built by [`crate::adapter::maestro`]) through one Maestro server per AdapterConfig. The
//! objects this transport handles are ManifestWorks, addressed as Kubernetes would address
//! them (namespace = consumer); works are found by name only (their ids derive from it).

use async_trait::async_trait;
use serde_json::Value;

use hyperfleet_maestro::{MaestroClient, MaestroError};

use super::{ObjectTransport, Select, Target, TransportError};
use crate::adapter::metrics::{AdapterLabels, AdapterMetrics};

/// ManifestWorks through a Maestro server.
#[derive(Debug, Clone)]
pub struct Maestro {
    client: MaestroClient,
    metrics: Option<(AdapterMetrics, AdapterLabels)>,
}

impl Maestro {
    /// The transport over `client`.
    pub fn new(client: MaestroClient) -> Self {
        Self { client, metrics: None }
    }

    /// Counts and times every call as `adapter`'s.
    pub fn with_metrics(mut self, metrics: AdapterMetrics, adapter: AdapterLabels) -> Self {
        self.metrics = Some((metrics, adapter));
        self
    }

    /// Runs one Maestro call, recording it, and names what it was about when it fails.
    async fn call<T>(
        &self,
        operation: &'static str,
        target: impl std::fmt::Display,
        call: impl Future<Output = Result<T, MaestroError>>,
    ) -> Result<T, TransportError> {
        let started = std::time::Instant::now();
        let result = call.await;
        if let Some((metrics, adapter)) = &self.metrics {
            let outcome = result.as_ref().err().map_or("ok", MaestroError::category);
            metrics.maestro_call(adapter, operation, outcome, started.elapsed().as_secs_f64());
        }
        result.map_err(|source| TransportError::Maestro { operation, target: target.to_string(), source })
    }
}

/// The consumer and work name `target` names.
fn address(target: &Target) -> Result<(&str, &str), TransportError> {
    match (&target.namespace, &target.select) {
        (Some(consumer), Select::Name(name)) if target.kind == hyperfleet_maestro::work::KIND => {
            Ok((consumer.as_str(), name.as_str()))
        }
        _ => Err(TransportError::Manifest(format!(
            "Maestro finds ManifestWorks by consumer and name, not {target}"
        ))),
    }
}

#[async_trait]
impl ObjectTransport for Maestro {
    async fn create(&self, manifest: &Value) -> Result<(Value, bool), TransportError> {
        let target = Target::of(manifest)?;
        if let Some(found) = self.find(&target).await? {
            return Ok((found, false));
        }
        Ok((self.apply(manifest).await?, true))
    }

    async fn apply(&self, manifest: &Value) -> Result<Value, TransportError> {
        let target = Target::of(manifest)?;
        let (applied, work) = self.call("apply", target, self.client.apply(manifest)).await?;
        tracing::debug!(?applied, "ManifestWork sent to Maestro");
        Ok(work)
    }

    async fn find(&self, target: &Target) -> Result<Option<Value>, TransportError> {
        let (consumer, name) = address(target)?;
        self.call("get", target, self.client.get(consumer, name)).await
    }

    async fn list(&self, target: &Target) -> Result<Vec<Value>, TransportError> {
        Ok(self.find(target).await?.into_iter().collect())
    }

    async fn delete(&self, target: &Target) -> Result<bool, TransportError> {
        let (consumer, name) = address(target)?;
        self.call("delete", target, self.client.delete(consumer, name)).await
    }
}

/// The transport for `server`, its TLS material and token read from the Secrets the
/// AdapterConfig names (in its namespace). Connects on first use.
pub async fn connect(
    server: &hyperfleet_crds::v1alpha1::MaestroServer,
    namespace: &str,
    secrets: &dyn crate::resolve::SecretSource,
) -> Result<Maestro, crate::resolve::ResolveError> {
    use crate::resolve::ResolveError;
    use hyperfleet_crds::parse_duration;
    use hyperfleet_crds::v1alpha1::SecretKeyRef;
    let duration = |field: &str, value: &Option<String>, default: u64| match value {
        Some(text) => parse_duration(field, text).map_err(ResolveError::ApiTimeout),
        None => Ok(std::time::Duration::from_secs(default)),
    };
    let timeout = duration("maestro.timeout", &server.timeout, 10)?;
    let tls = &server.tls;
    let mut settings =
        hyperfleet_maestro::MaestroTls { server_name: tls.server_name.clone(), ..Default::default() };
    if let Some(ca) = &tls.ca {
        settings.ca_pem = Some(secrets.get(namespace, ca).await?);
    }
    if let Some(name) = &tls.client_certificate_secret {
        let key = |key: &str| SecretKeyRef { name: name.clone(), key: key.to_owned() };
        settings.client = Some((
            secrets.get(namespace, &key("tls.crt")).await?,
            secrets.get(namespace, &key("tls.key")).await?,
        ));
    }
    if let Some(dir) = &tls.certificates_path {
        let read = |file: &str| mounted(std::path::Path::new(dir).join(file));
        if settings.ca_pem.is_none() {
            settings.ca_pem = read("ca.crt")?;
        }
        if let (None, Some(cert), Some(key)) = (&settings.client, read("tls.crt")?, read("tls.key")?) {
            settings.client = Some((cert, key));
        }
    }
    if let Some(token) = &tls.token {
        settings.token = Some(secrets.get(namespace, token).await?);
    }
    let connection = hyperfleet_maestro::MaestroConnection {
        grpc_address: server.grpc_address.clone(),
        http_address: server.http_address.clone(),
        source_id: server.source_id.clone(),
        tls: settings,
        timeout,
        connect_timeout: timeout.min(std::time::Duration::from_secs(5)),
        keepalive: duration("maestro.keepalive", &server.keepalive, 30)?,
    };
    Ok(Maestro::new(MaestroClient::new(&connection).map_err(ResolveError::Maestro)?))
}

/// Largest certificate or key file read from a mounted Secret.
const MAX_PEM: u64 = 64 * 1024;

/// The PEM file `path`, if it exists; unreadable or oversized is a configuration error. (Read
/// synchronously: a few KiB, once per AdapterConfig generation.)
fn mounted(path: std::path::PathBuf) -> Result<Option<String>, crate::resolve::ResolveError> {
    use std::io::Read as _;
    let invalid = |why: String| {
        crate::resolve::ResolveError::Maestro(MaestroError::Config(format!("{}: {why}", path.display())))
    };
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(invalid(err.to_string())),
    };
    let mut text = String::new();
    file.take(MAX_PEM + 1).read_to_string(&mut text).map_err(|err| invalid(err.to_string()))?;
    if text.len() as u64 > MAX_PEM {
        return Err(invalid(format!("larger than {MAX_PEM} bytes")));
    }
    Ok(Some(text))
}
