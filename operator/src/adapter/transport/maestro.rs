//! The Maestro transport: the adapter's `transport: maestro` entries travel as ManifestWorks
//! (built by [`crate::adapter::maestro`]) through one Maestro server per AdapterConfig. The
//! objects this transport handles are ManifestWorks, addressed as Kubernetes would address
//! them (namespace = consumer); works are found by name only (their ids derive from it).

use async_trait::async_trait;
use serde_json::Value;

use hyperfleet_maestro::{MaestroClient, MaestroError};

use super::{ObjectTransport, Select, Target, TransportError};

/// ManifestWorks through a Maestro server.
#[derive(Debug, Clone)]
pub struct Maestro {
    client: MaestroClient,
}

impl Maestro {
    /// The transport over `client`.
    pub fn new(client: MaestroClient) -> Self {
        Self { client }
    }
}

fn failed(operation: &'static str, target: String) -> impl FnOnce(MaestroError) -> TransportError {
    move |source| TransportError::Maestro { operation, target, source }
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
        let target = Target::of(manifest)?.to_string();
        let (applied, work) = self.client.apply(manifest).await.map_err(failed("apply", target))?;
        tracing::debug!(?applied, "ManifestWork sent to Maestro");
        Ok(work)
    }

    async fn find(&self, target: &Target) -> Result<Option<Value>, TransportError> {
        let (consumer, name) = address(target)?;
        self.client.get(consumer, name).await.map_err(failed("get", target.to_string()))
    }

    async fn list(&self, target: &Target) -> Result<Vec<Value>, TransportError> {
        Ok(self.find(target).await?.into_iter().collect())
    }

    async fn delete(&self, target: &Target) -> Result<bool, TransportError> {
        let (consumer, name) = address(target)?;
        self.client.delete(consumer, name).await.map_err(failed("delete", target.to_string()))
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
