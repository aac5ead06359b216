//! The Maestro source client: writes are CloudEvents published over gRPC, reads are REST GETs of
//! resource bundles. The gRPC channel connects lazily and reconnects by itself (a Maestro
//! restart costs the calls made while it is down, nothing more); every call is bounded by the
//! connection's timeout.

use std::time::Duration;

use chrono::Utc;
use serde_json::Value;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::{
    event::{SpecAction, SpecEvent},
    proto::{PublishRequest, cloud_event_service_client::CloudEventServiceClient},
    work,
};

/// How Maestro speaks: the constraint name its database reports when a work names a consumer
/// that is not registered (Maestro's `resources` table references `consumers`).
const UNKNOWN_CONSUMER_MARK: &str = "fk_resources_consumers";

/// Where Maestro is and how to talk to it.
#[derive(Debug, Clone)]
pub struct MaestroConnection {
    /// gRPC endpoint for writes, `http://` or `https://host:port`.
    pub grpc_address: String,
    /// REST base for reads, e.g. `https://maestro.maestro:8000`.
    pub http_address: String,
    /// This source's id: the `source` of every event and the owner of every work it sends.
    pub source_id: String,
    /// Transport security.
    pub tls: MaestroTls,
    /// Bound of one call.
    pub timeout: Duration,
    /// Bound of establishing a connection.
    pub connect_timeout: Duration,
    /// HTTP/2 keepalive ping interval of the gRPC connection.
    pub keepalive: Duration,
}

/// Transport security of a connection.
#[derive(Clone, Default)]
pub struct MaestroTls {
    /// PEM of the CA that signed Maestro's certificates (system roots when absent).
    pub ca_pem: Option<String>,
    /// PEM client certificate and key, for mutual TLS.
    pub client: Option<(String, String)>,
    /// A bearer token sent with every call.
    pub token: Option<String>,
    /// The name Maestro's certificate is checked against, when not the address' host.
    pub server_name: Option<String>,
}

impl std::fmt::Debug for MaestroTls {
    /// Never shows the key or the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaestroTls")
            .field("ca", &self.ca_pem.is_some())
            .field("client_certificate", &self.client.is_some())
            .field("token", &self.token.is_some())
            .field("server_name", &self.server_name)
            .finish()
    }
}

/// A failed Maestro call.
#[derive(Debug, thiserror::Error, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum MaestroError {
    /// The connection settings are unusable (an address that does not parse, a bad PEM).
    #[error("invalid Maestro connection settings: {0}")]
    Config(String),
    /// Maestro could not be reached or did not answer in time.
    #[error("Maestro is unavailable ({operation})")]
    Unavailable {
        /// What was attempted.
        operation: &'static str,
        /// The underlying failure.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The consumer is not registered with Maestro.
    #[error("the Maestro consumer '{0}' is not registered")]
    UnknownConsumer(String),
    /// Maestro refused the request.
    #[error("Maestro refused to {operation}: {message}")]
    Rejected {
        /// What was attempted.
        operation: &'static str,
        /// Maestro's reason.
        message: String,
    },
    /// Maestro answered something that is not a resource bundle.
    #[error("Maestro's answer to {operation} does not decode")]
    Decode {
        /// What was attempted.
        operation: &'static str,
        /// The parser's error.
        #[source]
        source: reqwest::Error,
    },
}

impl MaestroError {
    /// Whether trying again later may work (Maestro down, slow or overloaded).
    pub fn is_transient(&self) -> bool {
        matches!(self, MaestroError::Unavailable { .. })
    }

    /// Bounded label for metrics.
    pub fn category(&self) -> &'static str {
        self.into()
    }

    fn from_status(operation: &'static str, status: tonic::Status, consumer: &str) -> Self {
        use tonic::Code;
        match status.code() {
            Code::Unavailable
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::Cancelled => MaestroError::Unavailable { operation, source: Box::new(status) },
            _ if status.message().contains(UNKNOWN_CONSUMER_MARK) => {
                MaestroError::UnknownConsumer(consumer.to_owned())
            }
            _ => MaestroError::Rejected { operation, message: status.message().chars().take(500).collect() },
        }
    }
}

/// What [`MaestroClient::apply`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The work was new and was sent.
    Created,
    /// The work changed and was sent again.
    Updated,
    /// Maestro already has this very request: nothing was sent.
    Unchanged,
}

/// A connection to one Maestro server, as one source.
#[derive(Clone)]
pub struct MaestroClient {
    grpc: CloudEventServiceClient<Channel>,
    http: reqwest::Client,
    http_base: String,
    source: String,
    token: Option<String>,
}

impl std::fmt::Debug for MaestroClient {
    /// Never shows the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaestroClient")
            .field("http_base", &self.http_base)
            .field("source", &self.source)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

impl MaestroClient {
    /// A client for `connection`; connects on first use. Call it inside a Tokio runtime (the
    /// gRPC channel spawns its worker there).
    pub fn new(connection: &MaestroConnection) -> Result<Self, MaestroError> {
        let invalid =
            |what: &str, err: &dyn std::fmt::Display| MaestroError::Config(format!("{what}: {err}"));
        let mut endpoint = Endpoint::from_shared(connection.grpc_address.clone())
            .map_err(|err| invalid(&format!("gRPC address '{}'", connection.grpc_address), &err))?
            .timeout(connection.timeout)
            .connect_timeout(connection.connect_timeout)
            .http2_keep_alive_interval(connection.keepalive)
            .keep_alive_timeout(connection.timeout)
            .keep_alive_while_idle(true);
        let tls = &connection.tls;
        let mut http = reqwest::Client::builder()
            .timeout(connection.timeout)
            .connect_timeout(connection.connect_timeout);
        if connection.grpc_address.starts_with("https://") {
            let mut config = ClientTlsConfig::new().with_native_roots();
            if let Some(ca) = &tls.ca_pem {
                config = config.ca_certificate(Certificate::from_pem(ca));
            }
            if let Some((cert, key)) = &tls.client {
                config = config.identity(Identity::from_pem(cert, key));
            }
            if let Some(name) = &tls.server_name {
                config = config.domain_name(name.clone());
            }
            endpoint = endpoint.tls_config(config).map_err(|err| invalid("gRPC TLS settings", &err))?;
        }
        if let Some(ca) = &tls.ca_pem {
            let ca = reqwest::Certificate::from_pem(ca.as_bytes())
                .map_err(|err| invalid("CA certificate", &err))?;
            http = http.add_root_certificate(ca);
        }
        if let Some((cert, key)) = &tls.client {
            let identity = reqwest::Identity::from_pem(format!("{cert}\n{key}").as_bytes())
                .map_err(|err| invalid("client certificate and key", &err))?;
            http = http.identity(identity);
        }
        let http = http.build().map_err(|err| invalid("HTTP client", &err))?;
        Ok(Self {
            grpc: CloudEventServiceClient::new(endpoint.connect_lazy()),
            http,
            http_base: connection.http_address.trim_end_matches('/').to_owned(),
            source: connection.source_id.clone(),
            token: tls.token.clone(),
        })
    }

    /// The work `name` on `consumer` as Maestro has it (status included), if it exists.
    pub async fn get(&self, consumer: &str, name: &str) -> Result<Option<Value>, MaestroError> {
        let id = work::work_id(&self.source, consumer, name);
        let url = format!("{}/api/maestro/v1/resource-bundles/{id}", self.http_base);
        let Some(bundle) = self.read("read a work", &url).await? else { return Ok(None) };
        Ok(Some(work::from_bundle(&bundle)))
    }

    /// Whether `consumer` is registered.
    pub async fn consumer_registered(&self, consumer: &str) -> Result<bool, MaestroError> {
        let search = format!("name='{}'", consumer.replace('\'', "''"));
        let url = format!("{}/api/maestro/v1/consumers", self.http_base);
        let request = self.http.get(url).query(&[("search", search.as_str())]);
        let list = self.send("list consumers", request).await?.unwrap_or_default();
        Ok(list.get("items").and_then(Value::as_array).is_some_and(|items| !items.is_empty()))
    }

    /// Sends `wanted` (a ManifestWork with namespace = consumer) unless Maestro already has the
    /// same request; returns what was done and the work as Maestro has it now.
    pub async fn apply(&self, wanted: &Value) -> Result<(Applied, Value), MaestroError> {
        let (consumer, name) = work::address(wanted).ok_or_else(|| {
            MaestroError::Config("a ManifestWork needs metadata.namespace and .name".into())
        })?;
        let existing = self.get(consumer, name).await?;
        let (action, applied, version) = match &existing {
            Some(found) if work::same_request(found, wanted) => {
                return Ok((Applied::Unchanged, found.clone()));
            }
            Some(found) => {
                let version = found.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
                (SpecAction::UpdateRequest, Applied::Updated, version + 1)
            }
            None if !self.consumer_registered(consumer).await? => {
                return Err(MaestroError::UnknownConsumer(consumer.to_owned()));
            }
            None => (SpecAction::CreateRequest, Applied::Created, 1),
        };
        self.publish(wanted, action, version).await?;
        let now = self.get(consumer, name).await?;
        Ok((applied, now.unwrap_or_else(|| wanted.clone())))
    }

    /// Asks Maestro to remove the work `name` from `consumer`; `false` when there was none.
    pub async fn delete(&self, consumer: &str, name: &str) -> Result<bool, MaestroError> {
        let Some(existing) = self.get(consumer, name).await? else { return Ok(false) };
        if existing.pointer("/metadata/deletionTimestamp").is_some() {
            return Ok(true);
        }
        let version = existing.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
        self.publish(&existing, SpecAction::DeleteRequest, version).await?;
        Ok(true)
    }

    async fn publish(&self, work: &Value, action: SpecAction, version: i64) -> Result<(), MaestroError> {
        let (consumer, name) = work::address(work).unwrap_or_default();
        let (metadata, bundle) = work::bundle_of(work);
        let event = SpecEvent {
            source: self.source.clone(),
            action,
            resource_id: work::work_id(&self.source, consumer, name),
            version,
            consumer: consumer.to_owned(),
            metadata,
            bundle,
        };
        let mut request = tonic::Request::new(PublishRequest { event: Some(event.to_proto(Utc::now())) });
        if let Some(token) = &self.token {
            let value = format!("Bearer {token}")
                .parse()
                .map_err(|_| MaestroError::Config("the token is not a valid header value".into()))?;
            request.metadata_mut().insert("authorization", value);
        }
        let operation: &'static str = action.into();
        self.grpc
            .clone()
            .publish(request)
            .await
            .map_err(|status| MaestroError::from_status(operation, status, consumer))?;
        tracing::debug!(source = %self.source, consumer, work = name, action = operation, version, "published to Maestro");
        Ok(())
    }

    async fn read(&self, operation: &'static str, url: &str) -> Result<Option<Value>, MaestroError> {
        self.send(operation, self.http.get(url)).await
    }

    /// One REST call: `None` on 404; 429 and 5xx are unavailability, other refusals terminal.
    async fn send(
        &self,
        operation: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<Option<Value>, MaestroError> {
        let request = match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let unavailable =
            |source: reqwest::Error| MaestroError::Unavailable { operation, source: Box::new(source) };
        let response = request.send().await.map_err(unavailable)?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(MaestroError::Unavailable { operation, source: format!("HTTP {status}").into() });
        }
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            let message = format!("HTTP {status}: {}", body.chars().take(300).collect::<String>());
            return Err(MaestroError::Rejected { operation, message });
        }
        response.json().await.map(Some).map_err(|source| MaestroError::Decode { operation, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neither_the_settings_nor_the_client_show_the_key_or_the_token() {
        let connection = MaestroConnection {
            grpc_address: "http://127.0.0.1:1".into(),
            http_address: "http://127.0.0.1:1".into(),
            source_id: "s".into(),
            tls: MaestroTls {
                token: Some("s3cret-token".into()),
                client: Some(("cert".into(), "k3y".into())),
                ..MaestroTls::default()
            },
            timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            keepalive: Duration::from_secs(1),
        };
        let client = MaestroClient::new(&connection);
        let shown = format!("{connection:?} {client:?}");
        assert!(!shown.contains("s3cret-token") && !shown.contains("k3y"), "{shown}");
    }
}
