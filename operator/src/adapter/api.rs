//! What the adapter pipeline needs from the HyperFleet API, as a trait: the real client in
//! `run`/`local`, fixed files in `adapter test`.

use std::sync::Mutex;

use async_trait::async_trait;

use hyperfleet_api_model::{AdapterStatus, Resource, StatusReport, client::Client};

/// An API call failure; `transient` ones (5xx, 429, network) are retried by redelivery.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiCallError {
    /// What failed.
    pub message: String,
    /// Whether trying again later may work.
    pub transient: bool,
}

impl From<hyperfleet_api_model::client::ClientError> for ApiCallError {
    fn from(err: hyperfleet_api_model::client::ClientError) -> Self {
        Self { message: hyperfleet_telemetry::error_chain(&err), transient: err.is_transient() }
    }
}

/// The API as an adapter sees it.
#[async_trait]
pub trait AdapterApi: Send + Sync + std::fmt::Debug {
    /// The resource at `href`, `None` when it is gone.
    async fn resource(&self, href: &str) -> Result<Option<Resource>, ApiCallError>;
    /// Every adapter's status of the resource at `href`.
    async fn statuses(&self, href: &str) -> Result<Vec<AdapterStatus>, ApiCallError>;
    /// Reports; `false` when the API discarded the report as stale.
    async fn report(&self, href: &str, report: &StatusReport) -> Result<bool, ApiCallError>;
}

#[async_trait]
impl AdapterApi for Client {
    async fn resource(&self, href: &str) -> Result<Option<Resource>, ApiCallError> {
        Ok(self.get_resource(href).await?)
    }

    async fn statuses(&self, href: &str) -> Result<Vec<AdapterStatus>, ApiCallError> {
        Ok(self.list_statuses(href).await?.items)
    }

    async fn report(&self, href: &str, report: &StatusReport) -> Result<bool, ApiCallError> {
        Ok(self.put_status(href, report).await?.is_some())
    }
}

/// A fixed resource and statuses (from files), recording reports instead of sending them.
#[derive(Debug)]
pub struct FixedApi {
    /// The resource every `href` resolves to.
    pub resource: Resource,
    /// The statuses of every resource.
    pub statuses: Vec<AdapterStatus>,
    /// Reports received.
    pub reports: Mutex<Vec<StatusReport>>,
}

#[async_trait]
impl AdapterApi for FixedApi {
    async fn resource(&self, _href: &str) -> Result<Option<Resource>, ApiCallError> {
        Ok(Some(self.resource.clone()))
    }

    async fn statuses(&self, _href: &str) -> Result<Vec<AdapterStatus>, ApiCallError> {
        Ok(self.statuses.clone())
    }

    async fn report(&self, _href: &str, report: &StatusReport) -> Result<bool, ApiCallError> {
        if let Ok(mut reports) = self.reports.lock() {
            reports.push(report.clone());
        }
        Ok(true)
    }
}
