//! The resource kinds the API serves and the per-kind settings that come from configuration
//! (required adapters, an optional JSON schema for `spec`). Handlers and the store both speak
//! in terms of [`Kind`].

use std::{fmt, ops::RangeInclusive, sync::Arc};

use uuid::Uuid;

use hyperfleet_api_model::BASE_PATH;

/// A kind of resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A managed cluster (top-level).
    Cluster,
    /// A pool of nodes belonging to one cluster.
    NodePool,
}

impl Kind {
    /// The `kind` value on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Cluster => "Cluster",
            Kind::NodePool => "NodePool",
        }
    }

    /// Parses the stored `kind` value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Cluster" => Some(Kind::Cluster),
            "NodePool" => Some(Kind::NodePool),
            _ => None,
        }
    }

    /// Allowed name lengths (the reference API's limits: node pool names end up in host names).
    pub fn name_len(self) -> RangeInclusive<usize> {
        match self {
            Kind::Cluster => 3..=53,
            Kind::NodePool => 3..=15,
        }
    }

    /// The resource's path in the API.
    pub fn href(self, id: Uuid, owner: Option<Uuid>) -> String {
        match (self, owner) {
            (Kind::NodePool, Some(cluster)) => format!("{BASE_PATH}/clusters/{cluster}/nodepools/{id}"),
            _ => format!("{BASE_PATH}/clusters/{id}"),
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Configuration of one kind.
#[derive(Clone, Default)]
pub struct KindSettings {
    /// Adapters whose reports decide `Reconciled`; with none, DELETE removes the row at once.
    pub required_adapters: Vec<String>,
    /// JSON schema `spec` must satisfy on create and patch.
    pub spec_schema: Option<Arc<jsonschema::Validator>>,
}

impl fmt::Debug for KindSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KindSettings")
            .field("required_adapters", &self.required_adapters)
            .field("spec_schema", &self.spec_schema.is_some())
            .finish()
    }
}

/// Settings of every kind.
#[derive(Debug, Clone, Default)]
pub struct Kinds {
    /// Settings for clusters.
    pub cluster: KindSettings,
    /// Settings for node pools.
    pub nodepool: KindSettings,
}

impl Kinds {
    /// Settings of `kind`.
    pub fn get(&self, kind: Kind) -> &KindSettings {
        match kind {
            Kind::Cluster => &self.cluster,
            Kind::NodePool => &self.nodepool,
        }
    }

    /// Whether DELETE of `kind` must wait for adapters to finalize (itself or its children).
    pub fn delete_needs_finalization(&self, kind: Kind) -> bool {
        let own = !self.get(kind).required_adapters.is_empty();
        let children = kind == Kind::Cluster && !self.nodepool.required_adapters.is_empty();
        own || children
    }
}
