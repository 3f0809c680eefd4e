//! What the kernel says about the server under test, from /proc (no libc): its CPU
//! time and resident memory.

use std::fs;

/// CPU time of every thread of process `pid` so far, in seconds, with nanosecond
/// precision (the first field of each thread's `schedstat`: time on a CPU).
/// Threads that exited are not counted: the servers measured keep theirs.
pub fn pid_cpu_secs(pid: u32) -> f64 {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0.0;
    };
    let mut nanos: u64 = 0;
    for entry in dir.flatten() {
        if let Ok(s) = fs::read_to_string(entry.path().join("schedstat"))
            && let Some(n) = s
                .split_whitespace()
                .next()
                .and_then(|f| f.parse::<u64>().ok())
        {
            nanos += n;
        }
    }
    nanos as f64 / 1e9
}

/// Resident set size of process `pid` now, KiB.
pub fn pid_rss_kib(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let line = status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))?
                .to_string();
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_process() {
        let me = std::process::id();
        assert!(pid_rss_kib(me) > 0);
        let spin = (0..2_000_000u64).fold(0u64, |a, b| a.wrapping_add(b * b));
        assert!(spin > 0);
        assert!(pid_cpu_secs(me) > 0.0);
        assert_eq!(pid_rss_kib(u32::MAX), 0, "no such process");
    }
}
