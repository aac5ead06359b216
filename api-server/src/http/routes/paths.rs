//! The one place a route's path becomes a [`Locator`]: every route that names a resource (or an
//! adapter's report about one) extracts one of these path types, so a malformed id is the same
//! 404 everywhere and a node pool is always looked up within its cluster.

use serde::{Deserialize, de::DeserializeOwned};
use uuid::Uuid;

use crate::{http::error::ApiError, kinds::Kind, store::Locator};

/// A path naming one resource.
pub trait ResourcePath: DeserializeOwned + Send + 'static {
    /// The resource the path names.
    fn locate(&self) -> Result<Locator, ApiError>;
}

/// A path naming one adapter's report about one resource.
pub trait AdapterPath: ResourcePath {
    /// The adapter named.
    fn adapter(&self) -> &str;
}

/// An id from a path: one that is not a UUID names nothing (404, as for an unknown one).
pub fn parse_id(kind: Kind, raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::NotFound { kind, id: raw.to_owned() })
}

/// `/clusters/{cluster_id}` (and the routes under it that act on the cluster).
#[derive(Debug, Deserialize)]
pub struct ClusterPath {
    cluster_id: String,
}

/// `/clusters/{cluster_id}/nodepools/{nodepool_id}`.
#[derive(Debug, Deserialize)]
pub struct NodePoolPath {
    cluster_id: String,
    nodepool_id: String,
}

/// `/clusters/{cluster_id}/statuses/{adapter}`.
#[derive(Debug, Deserialize)]
pub struct ClusterAdapterPath {
    cluster_id: String,
    adapter: String,
}

/// `/clusters/{cluster_id}/nodepools/{nodepool_id}/statuses/{adapter}`.
#[derive(Debug, Deserialize)]
pub struct NodePoolAdapterPath {
    cluster_id: String,
    nodepool_id: String,
    adapter: String,
}

fn cluster(cluster_id: &str) -> Result<Locator, ApiError> {
    Ok(Locator { kind: Kind::Cluster, id: parse_id(Kind::Cluster, cluster_id)?, owner: None })
}

fn nodepool(cluster_id: &str, nodepool_id: &str) -> Result<Locator, ApiError> {
    let owner = Some(parse_id(Kind::Cluster, cluster_id)?);
    Ok(Locator { kind: Kind::NodePool, id: parse_id(Kind::NodePool, nodepool_id)?, owner })
}

impl ResourcePath for ClusterPath {
    fn locate(&self) -> Result<Locator, ApiError> {
        cluster(&self.cluster_id)
    }
}

impl ResourcePath for NodePoolPath {
    fn locate(&self) -> Result<Locator, ApiError> {
        nodepool(&self.cluster_id, &self.nodepool_id)
    }
}

impl ResourcePath for ClusterAdapterPath {
    fn locate(&self) -> Result<Locator, ApiError> {
        cluster(&self.cluster_id)
    }
}

impl AdapterPath for ClusterAdapterPath {
    fn adapter(&self) -> &str {
        &self.adapter
    }
}

impl ResourcePath for NodePoolAdapterPath {
    fn locate(&self) -> Result<Locator, ApiError> {
        nodepool(&self.cluster_id, &self.nodepool_id)
    }
}

impl AdapterPath for NodePoolAdapterPath {
    fn adapter(&self) -> &str {
        &self.adapter
    }
}
