//! What the adapter pipeline needs from the HyperFleet API, as a trait: the real client in
//! `run`/`local`, fixed files in `adapter test`. Errors are the client's own: whether one is
//! worth a retry is [`ClientError::is_transient`].

use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;

use hyperfleet_api_model::{
    AdapterStatus, Resource, StatusReport,
    client::{Client, ClientError},
};

/// The API as an adapter sees it.
#[async_trait]
pub trait AdapterApi: Send + Sync + std::fmt::Debug {
    /// The resource at `href` and every adapter's status of it (one request), `None` when it is
    /// gone.
    async fn resource(&self, href: &str) -> Result<Option<(Resource, Vec<AdapterStatus>)>, ClientError>;
    /// Reports; `false` when the API discarded the report as stale.
    async fn report(&self, href: &str, report: &StatusReport) -> Result<bool, ClientError>;
}

#[async_trait]
impl AdapterApi for Client {
    async fn resource(&self, href: &str) -> Result<Option<(Resource, Vec<AdapterStatus>)>, ClientError> {
        self.get_resource_with_statuses(href).await
    }

    async fn report(&self, href: &str, report: &StatusReport) -> Result<bool, ClientError> {
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
    async fn resource(&self, _href: &str) -> Result<Option<(Resource, Vec<AdapterStatus>)>, ClientError> {
        Ok(Some((self.resource.clone(), self.statuses.clone())))
    }

    async fn report(&self, _href: &str, report: &StatusReport) -> Result<bool, ClientError> {
        self.reports.lock().unwrap_or_else(PoisonError::into_inner).push(report.clone());
        Ok(true)
    }
}
