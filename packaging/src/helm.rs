//! Lint and render the chart with `hack/helm.py` (Helm's Go SDK from PyPI), offline.

use std::{path::Path, process::Command};

use serde_json::Value;

use crate::{PackagingError, chart_dir, repo_root};

fn run(command: &'static str, values: Option<&Path>) -> Result<std::process::Output, PackagingError> {
    let python = std::env::var("HYPERFLEET_HELM_PYTHON").map_err(|_| PackagingError::NoHelm)?;
    let mut call = Command::new(python);
    call.arg(repo_root().join("hack/helm.py")).arg(command).arg(chart_dir());
    if let Some(values) = values {
        call.arg(values);
    }
    call.output().map_err(|source| PackagingError::Io { path: repo_root().join("hack/helm.py"), source })
}

/// `helm lint --strict`: the report, or an error with it when something is at warning level
/// or worse.
pub fn lint(values: Option<&Path>) -> Result<Value, PackagingError> {
    let output = run("lint", values)?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        let message = format!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
        return Err(PackagingError::Helm { command: "lint", message });
    }
    serde_json::from_str(&stdout)
        .map_err(|err| PackagingError::Parse { what: "lint report".into(), message: err.to_string() })
}

/// `helm template` (release `hyperfleet` in namespace `hyperfleet`): every rendered object.
pub fn render(values: Option<&Path>) -> Result<Vec<Value>, PackagingError> {
    let output = run("render", values)?;
    if !output.status.success() {
        let message = String::from_utf8_lossy(&output.stderr).into_owned();
        return Err(PackagingError::Helm { command: "render", message });
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let documents: Vec<Value> = serde_saphyr::from_multiple(&text)
        .map_err(|err| PackagingError::Parse { what: "rendered chart".into(), message: err.to_string() })?;
    Ok(documents.into_iter().filter(|d| !d.is_null()).collect())
}

/// The objects of `kind` among `objects`.
pub fn of_kind<'a>(objects: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    objects.iter().filter(move |o| o["kind"] == kind)
}
