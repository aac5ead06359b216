//! Where each run's CPU went: this process (the in-process API, as the bench's own client work
//! is idle while wrk runs) and PostgreSQL (every `postgres` process), read from `/proc` before
//! and after a run, so the table can say how many microseconds of each a request costs and
//! which side a change has to cut.

use std::time::Duration;

/// Linux reports process times in `USER_HZ` ticks, 100 per second on every architecture we
/// build for.
const TICK: Duration = Duration::from_millis(10);

/// CPU time used so far.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    api: Duration,
    postgres: Duration,
}

impl Usage {
    /// Reads the counters now.
    pub fn now() -> Result<Self, String> {
        let own =
            std::fs::read_to_string("/proc/self/stat").map_err(|err| format!("/proc/self/stat: {err}"))?;
        let api = times(&own).map(|t| t.own).ok_or("cannot parse /proc/self/stat")?;
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

struct Times {
    own: Duration,
    /// What the process's exited children used (the postmaster reaps the backends of closed
    /// connections, so pgbench's backends end up here when its run ends).
    children: Duration,
}

/// `utime stime cutime cstime` of one `/proc/<pid>/stat` line, after the `(comm)` field (which
/// may itself hold spaces and parentheses).
fn times(stat: &str) -> Option<Times> {
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split_whitespace().collect();
    let ticks = |index: usize| fields.get(index)?.parse::<u32>().ok();
    // Fields 14 to 17 of stat(5), counted here from field 3 (the state).
    Some(Times { own: TICK * (ticks(11)? + ticks(12)?), children: TICK * (ticks(13)? + ticks(14)?) })
}

/// The CPU of every live `postgres` process plus what their exited children used.
fn postgres() -> Result<Duration, String> {
    let mut total = Duration::ZERO;
    for entry in std::fs::read_dir("/proc").map_err(|err| format!("/proc: {err}"))?.flatten() {
        let is_pid = entry.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit());
        if !is_pid
            || std::fs::read_to_string(entry.path().join("comm")).map_or(true, |c| c.trim() != "postgres")
        {
            continue;
        }
        // A process that exits between the two reads is simply skipped.
        if let Some(times) =
            std::fs::read_to_string(entry.path().join("stat")).ok().as_deref().and_then(times)
        {
            total += times.own + times.children;
        }
    }
    Ok(total)
}
