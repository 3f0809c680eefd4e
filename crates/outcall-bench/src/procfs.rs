//! What the kernel says about this process, from /proc (no libc): CPU time of the
//! process and of each thread, resident memory, the open-files limit.

use std::fs;

/// Linux reports CPU times in USER_HZ ticks, 100 a second on every mainstream
/// architecture (it is fixed in the kernel ABI, unlike CONFIG_HZ).
const TICKS_PER_SEC: f64 = 100.0;

/// utime + stime of a `stat` line, in seconds. The comm field may hold spaces and
/// parentheses, so fields are counted from the last `)`.
fn stat_cpu_secs(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After `)`: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_SEC)
}

/// CPU seconds used by the whole process so far (all threads, live or exited).
pub fn process_cpu_secs() -> f64 {
    fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| stat_cpu_secs(&s))
        .unwrap_or(0.0)
}

/// CPU seconds per live thread, by thread name (`comm`), summed over same-named threads.
pub fn thread_cpu_secs() -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = Vec::new();
    let Ok(dir) = fs::read_dir("/proc/self/task") else {
        return out;
    };
    for entry in dir.flatten() {
        let path = entry.path();
        let (Ok(stat), Ok(comm)) = (
            fs::read_to_string(path.join("stat")),
            fs::read_to_string(path.join("comm")),
        ) else {
            continue;
        };
        let Some(secs) = stat_cpu_secs(&stat) else {
            continue;
        };
        let name = comm.trim().to_string();
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, s)) => *s += secs,
            None => out.push((name, secs)),
        }
    }
    out
}

/// A `Key:   123 kB` line of /proc/self/status, in KiB.
fn status_kib(key: &str) -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resident set size now, KiB.
pub fn rss_kib() -> u64 {
    status_kib("VmRSS:").unwrap_or(0)
}

/// Peak resident set size so far, KiB.
pub fn peak_rss_kib() -> u64 {
    status_kib("VmHWM:").unwrap_or(0)
}

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

/// The soft limit on open files (`ulimit -n`), if readable.
pub fn open_files_limit() -> Option<u64> {
    let limits = fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Files this process has open now.
pub fn open_files() -> usize {
    fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_stat_line_with_a_tricky_comm() {
        let line = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 1 2 3";
        assert_eq!(stat_cpu_secs(line), Some(3.0));
    }

    #[test]
    fn reads_this_process() {
        assert!(rss_kib() > 0);
        assert!(open_files_limit().is_some());
        assert!(process_cpu_secs() >= 0.0);
        assert!(!thread_cpu_secs().is_empty());
        let me = std::process::id();
        assert!(pid_rss_kib(me) > 0);
        assert!(pid_cpu_secs(me) > 0.0);
    }
}
