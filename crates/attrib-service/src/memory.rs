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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_resident_and_peak_memory_in_bytes() {
        let status = "Name:\tattrib\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t3\n";
        assert_eq!(
            parse_status(status),
            Some(ProcessMemory { resident_bytes: 104_857_600, peak_resident_bytes: 209_715_200 })
        );
        assert_eq!(parse_status("Name:\tx\n"), None);
        if cfg!(target_os = "linux") {
            let now = process_memory().expect("/proc/self/status on Linux");
            assert!(now.resident_bytes > 0 && now.peak_resident_bytes >= now.resident_bytes);
        }
    }
}
