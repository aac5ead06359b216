//! Where each run's CPU went: this process (the in-process API, as the bench's own client work
//! is idle while wrk runs) and PostgreSQL (every `postgres` process on the machine: the bench
//! runs next to its own server only), read before and after a run, so the table can say how
//! many microseconds of each a request costs and which side a change has to cut.

use std::time::Duration;

use hyperfleet_telemetry::process::CpuTimes;

/// CPU time used so far.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    api: Duration,
    postgres: Duration,
}

impl Usage {
    /// Reads the counters now.
    pub fn now() -> Result<Self, String> {
        let api = CpuTimes::of("self").ok_or("cannot read /proc/self/stat")?.own;
        Ok(Usage { api, postgres: postgres()? })
    }

    /// The CPU used since `before`, per request when `requests` were served.
    pub fn per_request_since(&self, before: &Usage, requests: f64) -> PerRequest {
        let per = |now: Duration, then: Duration| now.saturating_sub(then).div_f64(requests.max(1.0));
        PerRequest { api: per(self.api, before.api), postgres: per(self.postgres, before.postgres) }
    }
}

/// CPU time per request.
#[derive(Debug, Clone, Copy)]
pub struct PerRequest {
    /// The API process.
    pub api: Duration,
    /// PostgreSQL, all processes.
    pub postgres: Duration,
}

/// The CPU of every live `postgres` process plus what their exited children used: the
/// postmaster reaps the backends of closed connections, so pgbench's backends still count
/// after its run ends.
fn postgres() -> Result<Duration, String> {
    let mut total = Duration::ZERO;
    for entry in std::fs::read_dir("/proc").map_err(|err| format!("/proc: {err}"))?.flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit())
            || std::fs::read_to_string(entry.path().join("comm")).map_or(true, |c| c.trim() != "postgres")
        {
            continue;
        }
        // A process that exits between the two reads is simply skipped.
        if let Some(times) = CpuTimes::of(&pid) {
            total += times.own + times.children;
        }
    }
    Ok(total)
}
