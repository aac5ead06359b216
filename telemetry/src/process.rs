//! A process's CPU time as Linux's `/proc/<pid>/stat` reports it: what the fleet run
//! (`hyperfleet-demo`) and the API benchmark read to say what each process spent.

use std::time::Duration;

/// Linux reports process times in `USER_HZ` ticks, 100 per second on every architecture we
/// build for.
const TICK: Duration = Duration::from_millis(10);

/// User plus system CPU time of one process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTimes {
    /// The process's own.
    pub own: Duration,
    /// What its exited children used (once it reaped them).
    pub children: Duration,
}

impl CpuTimes {
    /// Reads `/proc/<pid>/stat` (`pid` may be `self`); `None` when the process is gone or the
    /// file cannot be parsed.
    pub fn of(pid: &str) -> Option<Self> {
        parse(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
    }
}

/// `utime stime cutime cstime` (fields 14 to 17 of proc(5)), read after the `(comm)` field,
/// which may itself hold spaces and parentheses.
fn parse(stat: &str) -> Option<CpuTimes> {
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Counted from field 3 (the state), the first after the command.
    let ticks = |index: usize| fields.get(index)?.parse::<u32>().ok();
    Some(CpuTimes { own: TICK * (ticks(11)? + ticks(12)?), children: TICK * (ticks(13)? + ticks(14)?) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_times_after_a_command_with_spaces_and_parentheses() {
        let stat = "4242 (tokio (rt) worker) S 1 4242 4242 0 -1 4194560 9 0 0 0 150 25 7 3 20 0 2 0";
        let times = parse(stat).expect("a valid stat line");
        assert_eq!(times.own, Duration::from_millis(1750));
        assert_eq!(times.children, Duration::from_millis(100));
        assert_eq!(parse("4242 (truncated) S 1"), None);
    }

    #[test]
    fn reads_this_process() {
        assert!(CpuTimes::of("self").is_some());
    }
}
