//! The process's own figures, read from Linux's `/proc` at scrape time: CPU seconds, resident
//! memory and open file descriptors (every socket is one; the limit is `ulimit -n`). Elsewhere
//! they are left out of the scrape. Rendered here rather than through the recorder, whose
//! counters are integers while CPU time is fractional.

use std::fmt::Write;

/// CPU time spent by the process, user and system (counter, seconds).
pub const CPU_SECONDS: &str = "chat_process_cpu_seconds_total";
/// Resident memory (gauge, bytes).
pub const RESIDENT_MEMORY: &str = "chat_process_resident_memory_bytes";
/// Open file descriptors (gauge).
pub const OPEN_FDS: &str = "chat_process_open_fds";

/// Clock ticks per second of the times in `/proc/<pid>/stat`: `USER_HZ`, which Linux fixes at
/// 100 for user space on every architecture (reading `sysconf(_SC_CLK_TCK)` would need
/// `unsafe`, which this crate forbids).
const TICKS_PER_SECOND: f64 = 100.0;

/// What could be read; `None` where it could not (not Linux, or `/proc` not mounted).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessFigures {
    /// User plus system CPU time, in seconds.
    pub cpu_seconds: Option<f64>,
    /// Resident set size, in bytes.
    pub resident_bytes: Option<u64>,
    /// Open file descriptors.
    pub open_fds: Option<usize>,
}

impl ProcessFigures {
    /// Reads this process's figures now.
    pub fn read() -> ProcessFigures {
        let read = |path| std::fs::read_to_string(path).ok();
        ProcessFigures {
            cpu_seconds: read("/proc/self/stat").and_then(|s| cpu_seconds(&s)),
            resident_bytes: read("/proc/self/status").and_then(|s| resident_bytes(&s)),
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|entries| entries.count()),
        }
    }

    /// Appends the figures that could be read, each with its HELP and TYPE.
    pub fn render_into(&self, out: &mut String) {
        let mut metric = |name: &str, kind: &str, help: &str, value: String| {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n\n"
            );
        };
        if let Some(seconds) = self.cpu_seconds {
            let help = "CPU time used by the process, user and system, in seconds.";
            metric(CPU_SECONDS, "counter", help, seconds.to_string());
        }
        if let Some(bytes) = self.resident_bytes {
            let help = "Resident memory of the process, in bytes.";
            metric(RESIDENT_MEMORY, "gauge", help, bytes.to_string());
        }
        if let Some(fds) = self.open_fds {
            let help = "Open file descriptors of the process (each socket is one).";
            metric(OPEN_FDS, "gauge", help, fds.to_string());
        }
    }
}

/// User plus system time from the text of `/proc/<pid>/stat`. The command name (field 2, in
/// parentheses) may hold spaces and parentheses itself, so the fields are counted from the
/// last `)`: after it come state, ppid, ..., and utime and stime as the 12th and 13th.
pub fn cpu_seconds(stat: &str) -> Option<f64> {
    let (_, after_name) = stat.rsplit_once(')')?;
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / TICKS_PER_SECOND)
}

/// The resident set size from the text of `/proc/<pid>/status` (`VmRSS:  1234 kB`). Read
/// there rather than from `statm`, which counts pages of a size only `sysconf` tells.
pub fn resident_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut parts = line["VmRSS:".len()..].split_whitespace();
    let amount: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") => Some(amount * 1024),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_counted_after_the_command_name_even_when_it_holds_parentheses_and_spaces() {
        let stat = "4242 (chat (x) y) S 1 4242 4242 0 -1 4194304 98 0 0 0 250 75 0 0 20 0 9 0 \
                    278411 3133440 382 18446744073709551615";
        assert_eq!(cpu_seconds(stat), Some(3.25));
        assert_eq!(cpu_seconds("4242 (cut) S 1 2"), None);
        assert_eq!(cpu_seconds("garbage"), None);
    }

    #[test]
    fn resident_memory_is_the_vmrss_line_in_bytes() {
        let status = "Name:\tchat-server\nVmPeak:\t  9000 kB\nVmRSS:\t    2052 kB\nThreads:\t9\n";
        assert_eq!(resident_bytes(status), Some(2052 * 1024));
        assert_eq!(resident_bytes("Name:\tkthread\n"), None);
        assert_eq!(resident_bytes("VmRSS:\tmany kB\n"), None);
    }

    #[test]
    fn this_process_has_figures_on_linux_and_renders_them_with_help_and_type() {
        let figures = ProcessFigures::read();
        if cfg!(target_os = "linux") {
            assert!(figures.cpu_seconds.is_some_and(|s| s >= 0.0));
            assert!(figures.resident_bytes.is_some_and(|b| b > 0));
            assert!(figures.open_fds.is_some_and(|n| n > 0));
        }
        let mut text = String::new();
        ProcessFigures {
            cpu_seconds: Some(1.5),
            resident_bytes: Some(4096),
            open_fds: None,
        }
        .render_into(&mut text);
        assert!(text.contains("# TYPE chat_process_cpu_seconds_total counter\n"));
        assert!(
            text.contains("\nchat_process_cpu_seconds_total 1.5\n"),
            "{text}"
        );
        assert!(text.contains("\nchat_process_resident_memory_bytes 4096\n"));
        assert!(!text.contains(OPEN_FDS));
    }
}
