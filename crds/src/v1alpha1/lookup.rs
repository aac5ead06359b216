//! An AdapterConfig's `lookups`: Kubernetes objects the adapter reads from the operator's cluster
//! for each event, before its params, so CEL and templates can use them (an inventory of
//! management clusters, the source of a pull secret).

use std::collections::BTreeMap;

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// One object (`byName`; null when it does not exist) or every object carrying labels
/// (`byLabels`; a list sorted by name), as `lookups.<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.byName) != has(self.byLabels)").message("set exactly one of byName and byLabels"))]
pub struct Lookup {
    /// Identifier in CEL and templates (`lookups.<name>`).
    #[schemars(regex(pattern = r"^[a-zA-Z_][a-zA-Z0-9_]*$"), length(max = 63))]
    pub name: String,
    /// `apiVersion` of the object, e.g. `v1`.
    #[schemars(length(min = 1, max = 253))]
    pub api_version: String,
    /// `kind` of the object, e.g. `ConfigMap`.
    #[schemars(length(min = 1, max = 63))]
    pub kind: String,
    /// Namespace (templated); required for namespaced kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub namespace: Option<String>,
    /// Object name (templated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub by_name: Option<String>,
    /// Labels the objects carry (values templated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = crate::MAX_MAP_ENTRIES))]
    pub by_labels: Option<BTreeMap<String, String>>,
    /// Its values are secret: they are redacted wherever they could surface (condition messages,
    /// `data`, logs, `adapter test` output). A Secret always is.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sensitive: bool,
}

impl Lookup {
    /// Whether its values must never be shown.
    pub fn is_sensitive(&self) -> bool {
        self.sensitive || (self.kind == "Secret" && self.api_version == "v1")
    }
}
