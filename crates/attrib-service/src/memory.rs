//! The process's own memory, as the kernel accounts it (Linux `/proc/self/status`): what the
//! service holds (a gauge) and what a batch run peaked at (its summary).

/// Resident memory of this process now and at its peak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessMemory {
    pub resident_bytes: u64,
    pub peak_resident_bytes: u64,
}

/// Reads `VmRSS` and `VmHWM`; None where the platform has no `/proc` (the figures are then
/// simply not reported).
pub fn process_memory() -> Option<ProcessMemory> {
    parse_status(&std::fs::read_to_string("/proc/self/status").ok()?)
}

fn parse_status(status: &str) -> Option<ProcessMemory> {
    let kib = |field: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(field))?;
        line[field.len()..].trim().trim_end_matches("kB").trim().parse::<u64>().ok().map(|k| k * 1024)
    };
    Some(ProcessMemory { resident_bytes: kib("VmRSS:")?, peak_resident_bytes: kib("VmHWM:")? })
}

/// What the Prometheus clients' standard `process_*` metrics report, read from `/proc`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessStats {
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub cpu_seconds: f64,
    pub threads: u64,
    pub open_fds: u64,
    pub max_fds: Option<u64>,
    /// Unix time the process started.
    pub start_time_seconds: f64,
}

/// Clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`, 100 on Linux everywhere).
const TICKS_PER_SECOND: f64 = 100.0;

/// The process's stats now; None where the platform has no `/proc`.
pub fn process_stats() -> Option<ProcessStats> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let boot = std::fs::read_to_string("/proc/stat").ok()?;
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let open_fds = std::fs::read_dir("/proc/self/fd").map(|d| d.count() as u64).unwrap_or(0);
    parse_stats(&status, &stat, &boot, &limits, open_fds)
}

fn parse_stats(status: &str, stat: &str, boot: &str, limits: &str, open_fds: u64) -> Option<ProcessStats> {
    let kib = |field: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(field))?;
        line[field.len()..].trim().trim_end_matches("kB").trim().parse::<u64>().ok().map(|k| k * 1024)
    };
    // Fields after the command name (which may hold spaces, inside parentheses).
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 1..)?.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    let cpu_ticks = field(14)? + field(15)?;
    let boot_time: u64 = boot.lines().find_map(|l| l.strip_prefix("btime "))?.trim().parse().ok()?;
    let max_fds = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok());
    Some(ProcessStats {
        resident_bytes: kib("VmRSS:")?,
        virtual_bytes: kib("VmSize:")?,
        cpu_seconds: cpu_ticks as f64 / TICKS_PER_SECOND,
        threads: status.lines().find_map(|l| l.strip_prefix("Threads:"))?.trim().parse().ok()?,
        open_fds,
        max_fds,
        start_time_seconds: boot_time as f64 + field(22)? as f64 / TICKS_PER_SECOND,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_resident_and_peak_memory_in_bytes() {
        let status = "Name:\tattrib\nVmHWM:\t  204800 kB\nVmSize:\t  409600 kB\nVmRSS:\t  102400 kB\nThreads:\t3\n";
        assert_eq!(
            parse_status(status),
            Some(ProcessMemory { resident_bytes: 104_857_600, peak_resident_bytes: 209_715_200 })
        );
        assert_eq!(parse_status("Name:\tx\n"), None);
        let stat = "4242 (attrib (x)) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 7 0 123400 1000 2000";
        let s = parse_stats(
            status,
            stat,
            "cpu 1 2 3\nbtime 1700000000\n",
            "Max open files            1024                 4096                 files",
            12,
        )
        .expect("stats");
        assert_eq!((s.cpu_seconds, s.start_time_seconds, s.threads, s.max_fds), (3.0, 1_700_001_234.0, 3, Some(1024)));
        if cfg!(target_os = "linux") {
            let stats = process_stats().expect("/proc on Linux");
            assert!(
                stats.resident_bytes > 0 && stats.threads >= 1 && stats.open_fds > 0 && stats.start_time_seconds > 1e9
            );
            let now = process_memory().expect("/proc/self/status on Linux");
            assert!(now.resident_bytes > 0 && now.peak_resident_bytes >= now.resident_bytes);
        }
    }
}
