//! A typed async client for the HyperFleet API (feature `client`).
//!
//! Used by the operator (Sentinel polls, adapters fetch resources) and by the test suites. Every
//! non-2xx answer becomes [`ClientError::Api`] carrying the server's [`Problem`].

use reqwest::{Method, StatusCode};
use serde::{Serialize, de::DeserializeOwned};
use uuid::Uuid;

use crate::{
    AdapterStatus, BASE_PATH, CreateResource, ForceDelete, GetParams, ListParams, Page, PageParams,
    PatchResource, Problem, Resource, ResourceWithStatuses, StatusReport,
};

/// What can go wrong calling the API.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The API answered with an error status.
    #[error("API answered {status}: {} ({})", problem.detail, problem.code)]
    Api {
        /// HTTP status.
        status: StatusCode,
        /// The problem+json body (synthesised when the body was not problem+json).
        problem: Box<Problem>,
    },
    /// The request did not complete (connection refused, timeout, TLS, ...).
    #[error("failed to reach the API")]
    Transport(#[from] reqwest::Error),
    /// The API answered success with a body that is not what was asked for (e.g. an `href`
    /// that names something other than a resource).
    #[error("the API's answer is not the expected document")]
    Decode(#[source] serde_json::Error),
}

impl ClientError {
    /// HTTP status of an API error, if this is one.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the API answered 404: the resource does not exist (any more).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(StatusCode::NOT_FOUND)
    }

    /// Whether retrying the same call later may succeed (transport errors, 429, 5xx).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Api { status, .. } => {
                *status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
            }
            ClientError::Transport(_) => true,
            ClientError::Decode(_) => false,
        }
    }
}

/// Client for one API server, e.g. `Client::new("http://127.0.0.1:8000")`.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// A client for the API at `base_url` (scheme, host and port; the base path is added).
    pub fn new(base_url: &str) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder().build()?;
        Ok(Self::with_http(http, base_url))
    }

    /// A client whose every request gives up after `timeout`.
    pub fn with_timeout(base_url: &str, timeout: std::time::Duration) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder().timeout(timeout).connect_timeout(timeout).build()?;
        Ok(Self::with_http(http, base_url))
    }

    /// A client reusing an existing reqwest client (timeouts, TLS roots...).
    pub fn with_http(http: reqwest::Client, base_url: &str) -> Self {
        Self { http, base: format!("{}{BASE_PATH}", base_url.trim_end_matches('/')), token: None }
    }

    /// Sends `Authorization: Bearer <token>` on every request.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// `POST /clusters`.
    pub async fn create_cluster(&self, body: &CreateResource) -> Result<Resource, ClientError> {
        self.call(Method::POST, "/clusters", Some(body)).await
    }

    /// `GET /clusters/{id}`.
    pub async fn get_cluster(&self, id: Uuid) -> Result<Resource, ClientError> {
        self.call(Method::GET, &format!("/clusters/{id}"), None::<&()>).await
    }

    /// `GET /clusters`.
    pub async fn list_clusters(&self, params: &ListParams) -> Result<Page<Resource>, ClientError> {
        self.list("/clusters", params).await
    }

    /// `GET /changes`: the changes after `params.after` (held up to `params.wait` seconds while
    /// there are none). A 410 ([`ClientError::Api`]) means the cursor expired: list again.
    pub async fn changes(&self, params: &crate::ChangesParams) -> Result<crate::ChangePage, ClientError> {
        let request = self.request(Method::GET, "/changes").query(params);
        decode(request.send().await?).await
    }

    /// `PATCH /clusters/{id}`.
    pub async fn patch_cluster(&self, id: Uuid, body: &PatchResource) -> Result<Resource, ClientError> {
        self.call(Method::PATCH, &format!("/clusters/{id}"), Some(body)).await
    }

    /// `DELETE /clusters/{id}`: returns the resource marked for deletion.
    pub async fn delete_cluster(&self, id: Uuid) -> Result<Resource, ClientError> {
        self.call(Method::DELETE, &format!("/clusters/{id}"), None::<&()>).await
    }

    /// `POST /clusters/{cluster_id}/nodepools`.
    pub async fn create_nodepool(
        &self,
        cluster_id: Uuid,
        body: &CreateResource,
    ) -> Result<Resource, ClientError> {
        self.call(Method::POST, &format!("/clusters/{cluster_id}/nodepools"), Some(body)).await
    }

    /// `GET /clusters/{cluster_id}/nodepools/{id}`.
    pub async fn get_nodepool(&self, cluster_id: Uuid, id: Uuid) -> Result<Resource, ClientError> {
        self.call(Method::GET, &nodepool_path(cluster_id, id), None::<&()>).await
    }

    /// `GET /clusters/{cluster_id}/nodepools`.
    pub async fn list_nodepools(
        &self,
        cluster_id: Uuid,
        params: &ListParams,
    ) -> Result<Page<Resource>, ClientError> {
        self.list(&format!("/clusters/{cluster_id}/nodepools"), params).await
    }

    /// `GET /nodepools`: node pools of every cluster.
    pub async fn list_all_nodepools(&self, params: &ListParams) -> Result<Page<Resource>, ClientError> {
        self.list("/nodepools", params).await
    }

    /// `PATCH /clusters/{cluster_id}/nodepools/{id}`.
    pub async fn patch_nodepool(
        &self,
        cluster_id: Uuid,
        id: Uuid,
        body: &PatchResource,
    ) -> Result<Resource, ClientError> {
        self.call(Method::PATCH, &nodepool_path(cluster_id, id), Some(body)).await
    }

    /// `DELETE /clusters/{cluster_id}/nodepools/{id}`.
    pub async fn delete_nodepool(&self, cluster_id: Uuid, id: Uuid) -> Result<Resource, ClientError> {
        self.call(Method::DELETE, &nodepool_path(cluster_id, id), None::<&()>).await
    }

    /// `PUT .../statuses` of the resource at `href` (a resource's `href` field): `Some` when the
    /// report was stored, `None` when the API discarded it as stale.
    pub async fn put_status(
        &self,
        href: &str,
        report: &StatusReport,
    ) -> Result<Option<AdapterStatus>, ClientError> {
        let response =
            self.request(Method::PUT, &format!("{}/statuses", relative(href))).json(report).send().await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        decode(response).await.map(Some)
    }

    /// `GET` the resource at `href` (a cluster's or node pool's `href` field, or an event's);
    /// `None` when it no longer exists.
    pub async fn get_resource(&self, href: &str) -> Result<Option<Resource>, ClientError> {
        match self.call(Method::GET, relative(href), None::<&()>).await {
            Ok(resource) => Ok(Some(resource)),
            Err(err) if err.status() == Some(StatusCode::NOT_FOUND) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// `GET` the resource at `href` and every adapter's report in one request
    /// (`?include=statuses`); `None` when it no longer exists.
    pub async fn get_resource_with_statuses(
        &self,
        href: &str,
    ) -> Result<Option<(Resource, Vec<AdapterStatus>)>, ClientError> {
        let params = GetParams { include: Some("statuses".into()) };
        let request = self.request(Method::GET, relative(href)).query(&params);
        match decode::<ResourceWithStatuses>(request.send().await?).await {
            Ok(answer) => Ok(Some((answer.resource, answer.statuses.unwrap_or_default()))),
            Err(err) if err.status() == Some(StatusCode::NOT_FOUND) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// `GET .../statuses` of the resource at `href`.
    /// Every adapter's report fits one page of the largest size (a resource has a report per
    /// adapter, far fewer than 1000).
    pub async fn list_statuses(&self, href: &str) -> Result<Page<AdapterStatus>, ClientError> {
        let params = PageParams { page: None, size: Some(1000) };
        let request = self.request(Method::GET, &format!("{}/statuses", relative(href))).query(&params);
        decode(request.send().await?).await
    }

    /// `POST .../force-delete` of the resource at `href`.
    pub async fn force_delete(&self, href: &str, reason: &str) -> Result<(), ClientError> {
        let body = ForceDelete { reason: reason.to_owned() };
        let response = self
            .request(Method::POST, &format!("{}/force-delete", relative(href)))
            .json(&body)
            .send()
            .await?;
        if response.status().is_success() {
            return Ok(());
        }
        decode::<serde_json::Value>(response).await.map(|_| ())
    }

    async fn list(&self, path: &str, params: &ListParams) -> Result<Page<Resource>, ClientError> {
        let request = self.request(Method::GET, path).query(params);
        decode(request.send().await?).await
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(body);
        }
        decode(request.send().await?).await
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        for (name, value) in trace_context() {
            request = request.header(name, value);
        }
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }
}

/// The calling span's W3C trace context (`traceparent`, `tracestate`), through the globally
/// installed propagator; empty when nothing is traced.
fn trace_context() -> std::collections::HashMap<String, String> {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let mut carrier = std::collections::HashMap::new();
    let context = tracing::Span::current().context();
    if context.span().span_context().is_valid() {
        opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.inject_context(&context, &mut carrier)
        });
    }
    carrier
}

/// A resource `href` relative to the base path (hrefs carry the base path).
fn relative(href: &str) -> &str {
    href.strip_prefix(BASE_PATH).unwrap_or(href)
}

fn nodepool_path(cluster_id: Uuid, id: Uuid) -> String {
    format!("/clusters/{cluster_id}/nodepools/{id}")
}

async fn decode<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, ClientError> {
    let status = response.status();
    let bytes = response.bytes().await?;
    if status.is_success() {
        return serde_json::from_slice(&bytes).map_err(ClientError::Decode);
    }
    let problem = serde_json::from_slice::<Problem>(&bytes).unwrap_or_else(|_| Problem {
        type_uri: "about:blank".into(),
        title: status.canonical_reason().unwrap_or("error").into(),
        status: status.as_u16(),
        detail: String::from_utf8_lossy(&bytes).chars().take(512).collect(),
        code: "HYPERFLEET-UNKNOWN".into(),
        instance: None,
        trace_id: None,
        timestamp: None,
        errors: Vec::new(),
    });
    Err(ClientError::Api { status, problem: Box::new(problem) })
}
