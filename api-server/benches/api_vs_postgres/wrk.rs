//! The API's side of the comparison: `wrk` (a C load generator, as light a client as pgbench's)
//! sending one kind of request over `c` keep-alive connections, its requests made by a Lua
//! script per case. Any answer that is not a success fails the benchmark.

use std::{path::Path, process::Command, time::Duration};

use super::Sample;

/// Runs wrk against `base` with `clients` connections for `duration`; `request` is the body of
/// the script's `request()` function (Lua, returning `wrk.format(...)`), `prelude` top-level Lua
/// it may use.
pub fn run(
    base: &str,
    prelude: &str,
    request: &str,
    clients: usize,
    duration: Duration,
    dir: &Path,
) -> Result<Sample, String> {
    let file = dir.join("requests.lua");
    let script = format!(
        "{prelude}\n\
         init = function(args) math.randomseed(os.time() + math.floor(os.clock() * 1000000)) end\n\
         request = function()\n{request}\nend\n"
    );
    std::fs::write(&file, script).map_err(|err| format!("cannot write {}: {err}", file.display()))?;
    let threads = clients.min(2).to_string();
    let output = Command::new("wrk")
        .args(["-t", &threads, "-c", &clients.to_string(), "-d", &format!("{}s", duration.as_secs())])
        .args(["--latency", "--timeout", "10s", "-s"])
        .arg(&file)
        .arg(base)
        .output()
        .map_err(|err| format!("cannot run wrk (hack/bench.sh installs it): {err}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!("wrk failed: {stdout}{}", String::from_utf8_lossy(&output.stderr)));
    }
    if let Some(line) = stdout.lines().find(|line| line.contains("Non-2xx or 3xx responses")) {
        return Err(format!("the API answered errors under load: {}", line.trim()));
    }
    if let Some(line) = stdout.lines().find(|line| line.trim_start().starts_with("Socket errors")) {
        return Err(format!("wrk saw socket errors: {}", line.trim()));
    }
    let per_second = stdout
        .lines()
        .find_map(|line| line.strip_prefix("Requests/sec:"))
        .and_then(|rate| rate.trim().parse().ok())
        .ok_or_else(|| format!("no Requests/sec in wrk's output: {stdout}"))?;
    let percentile = |which: &str| {
        stdout
            .lines()
            .find_map(|line| line.trim_start().strip_prefix(which))
            .and_then(|value| parse_duration(value.trim()))
            .ok_or_else(|| format!("no {which} latency in wrk's output: {stdout}"))
    };
    Ok(Sample { per_second, p50: percentile("50%")?, p99: percentile("99%")? })
}

/// wrk's `1.23ms`, `456.00us`, `1.02s`.
fn parse_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit {
        "us" => number / 1e6,
        "ms" => number / 1e3,
        "s" => number,
        "m" => number * 60.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(seconds))
}
