//! glibc's allocator raises its mmap threshold each time a large block is freed (up to 32 MB)
//! and keeps up to twice that free at the top of each heap. An engine that grows and drops
//! large vectors phase after phase (decode, ingest, attribute) then holds hundreds of
//! megabytes it no longer uses: measured on `attrib batch` of 100 k people, peak RSS 407 MB
//! against a 353 MB heap peak. Fixing the thresholds gives blocks of 1 MB and more their own
//! mappings, returned on free, and trims the heaps beyond 1 MB: 311 MB, the same run time.

/// Blocks at least this large are mapped on their own and unmapped when freed.
pub const MMAP_THRESHOLD_BYTES: i32 = 1 << 20;
/// Free memory beyond this at the top of a heap goes back to the system.
pub const TRIM_THRESHOLD_BYTES: i32 = 1 << 20;

/// Fixes the allocator's thresholds; call first thing in `main`. A no-op off glibc, and when
/// the user set `MALLOC_MMAP_THRESHOLD_` or `MALLOC_TRIM_THRESHOLD_` (theirs win). Returns
/// whether the thresholds were set.
pub fn tune() -> bool {
    let user_set = ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"].iter().any(|v| std::env::var_os(v).is_some());
    !user_set && set_thresholds()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_thresholds() -> bool {
    // SAFETY: mallopt only sets allocator parameters; it is called with documented parameter
    // numbers and values in range, and glibc serialises it against allocations.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_thresholds() -> bool {
    false
}

/// Returns the free pages inside every heap to the system, not only those at a heap's top.
/// A service whose batches are built on one thread and written on another frees memory in
/// the middle of several per-thread heaps, which the trim threshold never reaches. Takes a
/// few milliseconds per gigabyte: call it after large, rare steps (a checkpoint, a refit).
/// Returns whether memory was released; a no-op off glibc.
pub fn release_free_memory() -> bool {
    trim()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() -> bool {
    // SAFETY: malloc_trim only walks the allocator's own heaps, under their locks.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0) == 1
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() -> bool {
    false
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_accepts_the_thresholds() {
        assert!(super::set_thresholds(), "mallopt refused a threshold");
    }
}
