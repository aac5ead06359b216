//! Maestro delivery of an adapter's resources: the server (`spec.maestro`, the spike's
//! "deployment config") and, per `resources[]` entry with `transport: maestro`, what the
//! ManifestWork carries besides the manifest (feedback rules, delete propagation).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::SecretKeyRef;

/// A Maestro server the adapter sends ManifestWorks through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaestroServer {
    /// gRPC endpoint for writes: `https://host:port` (`http://` only with `tls.insecure`).
    #[schemars(length(min = 1, max = 512))]
    pub grpc_address: String,
    /// REST base address for reads, e.g. `https://maestro.maestro:8000`.
    #[schemars(length(min = 1, max = 512))]
    pub http_address: String,
    /// The CloudEvents source id of this adapter: it owns the works it sends, so give each
    /// adapter its own.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"))]
    pub source_id: String,
    /// Transport security.
    #[serde(default)]
    pub tls: MaestroTls,
    /// Bound of one call, e.g. `10s` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    pub timeout: Option<String>,
    /// HTTP/2 keepalive ping interval of the gRPC connection, e.g. `30s` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    pub keepalive: Option<String>,
}

/// How the adapter authenticates to Maestro and checks it: mutual TLS (CA + client
/// certificate), CA + token, or `insecure` (plaintext, development only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaestroTls {
    /// Plaintext gRPC and HTTP, no authentication. Development only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// The CA that signed Maestro's certificates (system roots otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<SecretKeyRef>,
    /// A `kubernetes.io/tls` Secret (`tls.crt`, `tls.key`) with the client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub client_certificate_secret: Option<String>,
    /// A directory in the operator's pod with `ca.crt`, `tls.crt` and `tls.key` (the chart
    /// mounts `operator.maestroCertificatesSecret` at `/etc/maestro/certs`); the files present
    /// are used where `ca` and `clientCertificateSecret` are not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub certificates_path: Option<String>,
    /// A bearer token sent with every call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<SecretKeyRef>,
    /// The name Maestro's certificate is checked against, when not the address' host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub server_name: Option<String>,
}

/// A value the work agent reads from the delivered object and reports back (an OCM
/// `JSONPaths` feedback rule); CEL sees it as `resources.<entry>.status.feedback.<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedbackRule {
    /// The value's name.
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-zA-Z_][a-zA-Z0-9_]*$"))]
    pub name: String,
    /// JSONPath into the object, e.g. `.status.conditions[?(@.type=="Available")].status`.
    #[schemars(length(min = 1, max = 512))]
    pub path: String,
}

/// What happens to the delivered object when the work is deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DeletePropagation {
    /// Deleted, waiting for its dependents (the default).
    #[default]
    Foreground,
    /// Deleted; dependents are collected after.
    Background,
    /// Left on the managed cluster.
    Orphan,
}

impl super::AdapterConfigSpec {
    /// Maestro entries need the server and a target; Maestro fields elsewhere are mistakes;
    /// `insecure` goes with `http://` and only with it.
    pub(super) fn check_maestro(&self, errors: &mut Vec<String>) {
        use super::Transport;
        for resource in &self.resources {
            let name = &resource.name;
            if resource.transport == Transport::Maestro {
                if self.maestro.is_none() {
                    errors.push(format!(
                        "resources: '{name}' uses transport maestro, which needs spec.maestro"
                    ));
                }
                if resource.target_cluster.is_none() {
                    errors.push(format!(
                        "resources: '{name}' uses transport maestro, which needs targetCluster"
                    ));
                }
            } else if resource.target_cluster.is_some()
                || !resource.feedback.is_empty()
                || resource.delete_propagation.is_some()
            {
                errors.push(format!(
                    "resources: '{name}': targetCluster, feedback and deletePropagation are for transport maestro"
                ));
            }
        }
        let Some(server) = &self.maestro else { return };
        for (field, address) in [("grpcAddress", &server.grpc_address), ("httpAddress", &server.http_address)]
        {
            let plain = address.starts_with("http://");
            if !plain && !address.starts_with("https://") {
                errors.push(format!("maestro.{field}: '{address}' is not an http(s) URL"));
            } else if plain != server.tls.insecure {
                let want = if server.tls.insecure { "http://" } else { "https:// (or set tls.insecure)" };
                errors.push(format!("maestro.{field}: '{address}' must start with {want}"));
            }
        }
        for (field, value) in [("timeout", &server.timeout), ("keepalive", &server.keepalive)] {
            if let Some(value) = value.as_deref().filter(|v| humantime::parse_duration(v).is_err()) {
                errors.push(format!("maestro.{field}: '{value}' is not a duration such as 10s"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::v1alpha1::AdapterConfigSpec;

    fn spec(maestro: &str, entry: &str) -> AdapterConfigSpec {
        let yaml = format!(
            "adapterType: hs\nresourceType: clusters\nhyperfleetAPI: {{url: \"http://api\"}}\n\
             broker: {{type: memory, topic: t}}\n{maestro}\nresources:\n  - name: hc\n    manifest: x\n{entry}"
        );
        serde_saphyr::from_str(&yaml).unwrap()
    }

    const SERVER: &str =
        "maestro: {grpcAddress: \"https://m:8090\", httpAddress: \"https://m:8000\", sourceId: hf}";

    #[test]
    fn a_maestro_entry_needs_the_server_and_a_target() {
        let errors = spec("", "    transport: maestro\n").validate().unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("needs spec.maestro") && errors[1].contains("needs targetCluster"));
        assert!(spec(SERVER, "    transport: maestro\n    targetCluster: mc\n").validate().is_ok());
    }

    #[test]
    fn maestro_fields_on_another_transport_and_mismatched_schemes_are_refused() {
        let errors = spec(SERVER, "    targetCluster: mc\n").validate().unwrap_err();
        assert!(errors[0].contains("are for transport maestro"), "{errors:?}");
        let insecure = SERVER.replace("sourceId: hf", "sourceId: hf, tls: {insecure: true}");
        let errors =
            spec(&insecure, "    transport: maestro\n    targetCluster: mc\n").validate().unwrap_err();
        assert!(
            errors.iter().all(|e| e.contains("must start with http://")) && errors.len() == 2,
            "{errors:?}"
        );
        let slow = SERVER.replace("sourceId: hf", "sourceId: hf, timeout: soon");
        let errors = spec(&slow, "    transport: maestro\n    targetCluster: mc\n").validate().unwrap_err();
        assert!(errors[0].contains("maestro.timeout"), "{errors:?}");
    }
}
