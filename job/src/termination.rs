//! The Job's result for the adapter: Kubernetes keeps what a container writes to its
//! termination-message file (`/dev/termination-log`) in the pod's status, at most 4096 bytes;
//! the adapter reads it from there and reports it as the condition's message.

use std::path::Path;

use crate::checks::Problem;

/// The most a termination message may hold (the kubelet truncates beyond it).
pub const MAX_BYTES: usize = 4096;

/// The message for `problems`: every problem, `; `-separated, cut to [`MAX_BYTES`] with a count
/// of what was left out.
pub fn message(problems: &[Problem]) -> String {
    if problems.is_empty() {
        return "valid".into();
    }
    let noun = if problems.len() == 1 { "problem" } else { "problems" };
    let mut text = format!("{} {noun}: ", problems.len());
    for (n, problem) in problems.iter().enumerate() {
        let part = format!("{}{problem}", if n == 0 { "" } else { "; " });
        let rest = format!(" ... and {} more", problems.len() - n);
        if text.len() + part.len() + rest.len() > MAX_BYTES {
            text.push_str(&rest);
            break;
        }
        text.push_str(&part);
    }
    text
}

/// Writes `message` to `path` (a missing directory is an error: outside a pod, pass another
/// path or `-` for none).
pub fn write(path: &Path, message: &str) -> std::io::Result<()> {
    if path == Path::new("-") {
        return Ok(());
    }
    std::fs::write(path, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(n: usize, size: usize) -> Vec<Problem> {
        (0..n).map(|i| Problem { field: format!("f{i}"), message: "x".repeat(size) }).collect()
    }

    #[test]
    fn the_message_lists_every_problem_and_fits_what_the_kubelet_keeps() {
        assert_eq!(message(&[]), "valid");
        assert_eq!(message(&problems(1, 3)), "1 problem: f0: xxx");
        assert_eq!(message(&problems(2, 1)), "2 problems: f0: x; f1: x");
        let long = message(&problems(100, 100));
        assert!(long.len() <= MAX_BYTES, "{}", long.len());
        assert!(long.starts_with("100 problems: f0: "), "{long}");
        assert!(long.ends_with(" more"), "{long}");
        let kept = long.matches("; f").count() + 1;
        assert!(long.ends_with(&format!(" ... and {} more", 100 - kept)), "{long}");
    }
}
