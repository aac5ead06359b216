//! Prometheus' own checker for the chart's rules: `promtool check rules` (every expression
//! parses, every rule is well formed) and `promtool test rules` (the alerts fire on the series
//! they should, and only on those). Rules are written as JSON, which promtool reads as YAML.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;

use crate::PackagingError;

/// `promtool` from `PROMTOOL` (set by hack/test-env.sh, which installs it) or the PATH.
fn promtool() -> PathBuf {
    std::env::var_os("PROMTOOL").map_or_else(|| PathBuf::from("promtool"), PathBuf::from)
}

fn run(args: &[&str], dir: &Path) -> Result<String, PackagingError> {
    let output = Command::new(promtool()).args(args).current_dir(dir).output().map_err(|source| {
        PackagingError::Promtool {
            command: args.join(" "),
            message: format!(
                "cannot run promtool ({source}): run through hack/test.sh, which installs Debian's prometheus package"
            ),
        }
    })?;
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    if output.status.success() {
        Ok(text)
    } else {
        Err(PackagingError::Promtool { command: args.join(" "), message: text })
    }
}

/// Writes `{"groups": groups}` to `dir/rules.yaml` (where a test file's `rule_files` finds it).
pub fn write_rules(groups: &Value, dir: &Path) -> Result<PathBuf, PackagingError> {
    let path = dir.join("rules.yaml");
    let text = serde_json::json!({ "groups": groups }).to_string();
    std::fs::write(&path, text).map_err(|source| PackagingError::Io { path: path.clone(), source })?;
    Ok(path)
}

/// `promtool check rules` over `groups`: its report, or an error saying what is wrong.
pub fn check_rules(groups: &Value, dir: &Path) -> Result<String, PackagingError> {
    write_rules(groups, dir)?;
    run(&["check", "rules", "rules.yaml"], dir)
}

/// `promtool test rules` of the unit tests in `tests` (whose `rule_files` is `rules.yaml`)
/// against `groups`.
pub fn test_rules(groups: &Value, tests: &Path, dir: &Path) -> Result<String, PackagingError> {
    write_rules(groups, dir)?;
    let copy = dir.join("tests.yaml");
    std::fs::copy(tests, &copy).map_err(|source| PackagingError::Io { path: tests.to_owned(), source })?;
    run(&["test", "rules", "tests.yaml"], dir)
}
