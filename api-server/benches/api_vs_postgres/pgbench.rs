//! PostgreSQL's side of the comparison: the store's statements, as captured from sqlx while the
//! API served one request, replayed by `pgbench` with the same concurrency.
//!
//! The SQL text is the store's own (captured, never copied here); what this module supplies is
//! how pgbench fills each statement's parameters (`$1`...), statement by statement. A store that
//! runs a different sequence of statements for a request fails the benchmark with both lists,
//! rather than comparing against SQL it no longer runs.

use std::{path::Path, process::Command, time::Duration};

use super::Sample;

/// pgbench's parameters for one statement of a request, in `$n` order. pgbench expressions:
/// `:n` is the script's random cluster number; nothing may contain `:` followed by a letter or
/// digit except a pgbench variable (pgbench would take it for one), hence `now()` over literal
/// times.
pub type Args = &'static [&'static str];

/// Renders the pgbench script of one request: the captured statements with their parameters.
pub fn script(prelude: &str, captured: &[String], args: &[Args]) -> Result<String, String> {
    // sqlx logs a transaction's COMMIT but not its BEGIN.
    let mut captured = captured.to_vec();
    if captured.last().is_some_and(|last| last == "COMMIT") {
        captured.insert(0, "BEGIN".into());
    }
    if captured.len() != args.len() {
        return Err(format!(
            "the store ran {} statements, the pgbench mirror maps {}; update the mirror to:\n{}",
            captured.len(),
            args.len(),
            captured.join("\n")
        ));
    }
    let mut script = format!("{prelude}\n");
    for (sql, args) in captured.iter().zip(args) {
        let used = (1..=20).filter(|n| sql.contains(&format!("${n}"))).count();
        if used != args.len() {
            return Err(format!("`{sql}` takes {used} parameters, the mirror gives {}", args.len()));
        }
        let mut rendered = sql.clone();
        // Highest first, so that `$1` does not rewrite the start of `$10`.
        for (n, arg) in args.iter().enumerate().rev() {
            rendered = rendered.replace(&format!("${}", n + 1), arg);
        }
        script.push_str(&rendered.replace('\n', " "));
        script.push_str(";\n");
    }
    Ok(script)
}

/// Runs `script` with `clients` connections for `duration` and reads throughput and latency.
pub fn run(
    url: &str,
    script: &str,
    clients: usize,
    duration: Duration,
    dir: &Path,
) -> Result<Sample, String> {
    let file = dir.join("script.sql");
    std::fs::write(&file, script).map_err(|err| format!("cannot write {}: {err}", file.display()))?;
    let logs = dir.join("latency");
    let threads = clients.min(2).to_string();
    let output = Command::new(pgbench())
        .args(["-n", "-M", "prepared", "-c", &clients.to_string(), "-j", &threads])
        .args(["-T", &duration.as_secs().to_string(), "-f"])
        .arg(&file)
        .arg("-l")
        .arg(format!("--log-prefix={}", logs.display()))
        .arg(url)
        .current_dir(dir)
        .output()
        .map_err(|err| format!("cannot run pgbench: {err}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!("pgbench failed: {stdout}{}", String::from_utf8_lossy(&output.stderr)));
    }
    let tps = stdout
        .lines()
        .find_map(|line| line.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|tps| tps.parse().ok())
        .ok_or_else(|| format!("no tps in pgbench's output: {stdout}"))?;
    let latencies = read_latencies(dir)?;
    Ok(Sample::from_latencies(tps, latencies))
}

/// Per-transaction latencies from pgbench's logs (`client tx latency_us ...` per line).
fn read_latencies(dir: &Path) -> Result<Vec<Duration>, String> {
    let mut latencies = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|err| err.to_string())?;
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with("latency") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).map_err(|err| err.to_string())?;
        latencies.extend(
            text.lines()
                .filter_map(|line| line.split_whitespace().nth(2)?.parse().ok())
                .map(Duration::from_micros),
        );
        std::fs::remove_file(entry.path()).map_err(|err| err.to_string())?;
    }
    Ok(latencies)
}

/// `pgbench` from `PGBENCH`, the PATH, or PostgreSQL 15's directory.
fn pgbench() -> String {
    std::env::var("PGBENCH").unwrap_or_else(|_| {
        let packaged = "/usr/lib/postgresql/15/bin/pgbench";
        if Path::new(packaged).exists() { packaged.into() } else { "pgbench".into() }
    })
}
