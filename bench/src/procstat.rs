//! CPU time and resident memory of a process, from /proc (Linux).

use std::sync::OnceLock;

#[derive(Debug, Clone, Copy)]
pub struct ProcSample {
    /// user + system CPU seconds so far.
    pub cpu_secs: f64,
    /// resident set size, bytes.
    pub rss_bytes: u64,
    /// peak resident set size, bytes.
    pub hwm_bytes: u64,
}

/// Clock ticks per second of /proc/PID/stat (USER_HZ): `getconf CLK_TCK`, else 100.
fn ticks_per_sec() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// Samples `/proc/<who>/...`; `who` is a PID or "self".
pub fn sample(who: &str) -> Result<ProcSample, String> {
    let stat_path = format!("/proc/{who}/stat");
    let stat = std::fs::read_to_string(&stat_path).map_err(|e| format!("{stat_path}: {e}"))?;
    // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
    let after = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .ok_or_else(|| format!("{stat_path}: unexpected format"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // after ')': index 0 is field 3 (state); utime is field 14, stime field 15.
    let field = |i: usize| -> Result<u64, String> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| format!("{stat_path}: unexpected format"))
    };
    let ticks = field(11)? + field(12)?;
    let status_path = format!("/proc/{who}/status");
    let status =
        std::fs::read_to_string(&status_path).map_err(|e| format!("{status_path}: {e}"))?;
    let kb = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(ProcSample {
        cpu_secs: ticks as f64 / ticks_per_sec(),
        rss_bytes: kb("VmRSS:") * 1024,
        hwm_bytes: kb("VmHWM:") * 1024,
    })
}

/// The server's process, if `--server-pid` was given.
#[derive(Debug, Clone)]
pub struct Server(pub Option<String>);

impl Server {
    pub fn new(pid: Option<u32>) -> Result<Server, String> {
        Server::named(pid, "--server-pid")
    }

    /// `flag` names the option in the error (`--server-pid`, `--redis-pid`).
    pub fn named(pid: Option<u32>, flag: &str) -> Result<Server, String> {
        match pid {
            None => Ok(Server(None)),
            Some(p) => {
                let s = p.to_string();
                sample(&s).map_err(|e| {
                    format!("{flag} {p}: cannot read the process ({e}); is it running?")
                })?;
                Ok(Server(Some(s)))
            }
        }
    }

    /// One per node: `pids` empty (none measured) or one per node, in the order of `--url`.
    pub fn nodes(pids: &[u32], nodes: usize) -> Result<Vec<Server>, String> {
        if pids.is_empty() {
            return Ok(vec![Server(None); nodes]);
        }
        if pids.len() != nodes {
            return Err(format!(
                "--server-pid is given {} times for {nodes} --url: give one per node, in the \
                 same order, or none",
                pids.len()
            ));
        }
        pids.iter().map(|p| Server::new(Some(*p))).collect()
    }

    /// A sample, or None without --server-pid (or if the server went away).
    pub fn sample(&self) -> Option<ProcSample> {
        self.0.as_deref().and_then(|p| sample(p).ok())
    }
}

/// Samples every process of `servers`.
pub fn sample_all(servers: &[Server]) -> Vec<Option<ProcSample>> {
    servers.iter().map(Server::sample).collect()
}
