//! Packaging: how the Helm chart is rendered for checks ([`helm`], through Helm's own Go SDK
//! from PyPI, no helm binary), and how the OLM bundle is generated from that render and the
//! samples ([`bundle`]), so chart and bundle cannot drift. `bundlegen` writes `bundle/`. The
//! chart's alert rules are checked and unit-tested with Prometheus' `promtool` ([`promtool`]).
#![warn(missing_docs)]

pub mod bundle;
pub mod helm;
pub mod promtool;

use std::path::PathBuf;

/// Why packaging failed.
#[derive(Debug, thiserror::Error)]
pub enum PackagingError {
    /// No Python with the Helm SDK was given.
    #[error(
        "HYPERFLEET_HELM_PYTHON is not set: run through hack/test.sh, or export HYPERFLEET_HELM_PYTHON=$(hack/helm-env.sh)"
    )]
    NoHelm,
    /// hack/helm.py failed.
    #[error("hack/helm.py {command} failed: {message}")]
    Helm {
        /// `lint` or `render`.
        command: &'static str,
        /// Its stderr (and stdout for lint).
        message: String,
    },
    /// promtool failed or found a problem.
    #[error("promtool {command}: {message}")]
    Promtool {
        /// The subcommand and its arguments.
        command: String,
        /// What promtool said.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Something did not parse.
    #[error("{what}: {message}")]
    Parse {
        /// What.
        what: String,
        /// Why.
        message: String,
    },
}

/// The repository's root (where `charts/`, `bundle/` and `config/` are).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The chart's directory.
pub fn chart_dir() -> PathBuf {
    repo_root().join("charts/hyperfleet")
}

/// Every PromQL query of the chart's Grafana dashboard (`files/dashboard.json`).
pub fn dashboard_queries() -> Result<Vec<String>, PackagingError> {
    let path = chart_dir().join("files/dashboard.json");
    let text =
        std::fs::read_to_string(&path).map_err(|source| PackagingError::Io { path: path.clone(), source })?;
    let parse = |message: String| PackagingError::Parse { what: path.display().to_string(), message };
    let dashboard: serde_json::Value = serde_json::from_str(&text).map_err(|err| parse(err.to_string()))?;
    let panels = dashboard["panels"].as_array().ok_or_else(|| parse("no panels".into()))?;
    let targets = panels.iter().flat_map(|p| p["targets"].as_array().into_iter().flatten());
    Ok(targets.filter_map(|t| t["expr"].as_str().map(str::to_owned)).collect())
}
