//! The adapter task's health from its recent events: Degraded while any of the last
//! [`WINDOW`] events failed (transient or terminal, or reported as a failure such as a 403 on
//! its Job), saying how many and the last error, so one bad event does not flap the
//! AdapterConfig's conditions and a stream of failures is never shown as healthy.

use std::collections::VecDeque;

use crate::tasks::TaskHealth;

/// How many recent events the health looks at.
pub const WINDOW: usize = 20;

/// Outcomes of the last events.
#[derive(Debug, Default)]
pub struct RecentFailures {
    outcomes: VecDeque<bool>,
    last_error: Option<String>,
}

impl RecentFailures {
    /// Records one event (`failure` is its error, if any) and returns the health after it.
    pub fn record(&mut self, failure: Option<&str>) -> TaskHealth {
        if self.outcomes.len() == WINDOW {
            self.outcomes.pop_front();
        }
        self.outcomes.push_back(failure.is_some());
        if let Some(message) = failure {
            self.last_error = Some(message.to_owned());
        }
        let failed = self.outcomes.iter().filter(|failed| **failed).count();
        match &self.last_error {
            Some(last) if failed > 0 => TaskHealth::Degraded(format!(
                "{failed} of the last {} events failed; last: {last}",
                self.outcomes.len()
            )),
            _ => TaskHealth::Running,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degraded_while_a_failure_is_among_the_last_events_then_running_again() {
        let mut recent = RecentFailures::default();
        assert_eq!(recent.record(None), TaskHealth::Running);
        let degraded = recent.record(Some("jobs.batch is forbidden"));
        assert_eq!(
            degraded,
            TaskHealth::Degraded("1 of the last 2 events failed; last: jobs.batch is forbidden".into())
        );
        for _ in 0..WINDOW - 1 {
            assert!(matches!(recent.record(None), TaskHealth::Degraded(_)), "one success does not hide it");
        }
        assert_eq!(recent.record(None), TaskHealth::Running, "gone out of the window");
    }
}
