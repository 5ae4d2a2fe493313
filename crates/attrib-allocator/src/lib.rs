//! glibc's allocator raises its mmap threshold each time a large block is freed (up to 32 MB)
//! and keeps up to twice that free at the top of each heap. An engine that grows and drops
//! large vectors phase after phase (decode, ingest, attribute) then holds hundreds of
//! megabytes it no longer uses: measured on `attrib batch` of 100 k people, peak RSS 407 MB
//! against a 353 MB heap peak. Fixing the thresholds gives blocks of 1 MB and more their own
//! mappings, returned on free, and trims the heaps beyond 1 MB: 311 MB, the same run time.

/// The allocator of the process's Rust code (declared `#[global_allocator]` by the binary):
/// mimalloc, whose per-thread free lists take back memory freed on another thread cheaply.
/// The service builds rows on one thread and frees them on the one that wrote them, and copies
/// every Kafka message once; under glibc's allocator that took about 40 % of its CPU (a perf
/// profile of 1 M people: `malloc_consolidate`, `unlink_chunk`, `_int_free`). The C libraries
/// (librdkafka) keep glibc's, tuned by `tune`.
pub use mimalloc::MiMalloc as Allocator;

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
    // SAFETY: mi_collect only walks mimalloc's own heaps, freeing what is unused.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_collect(true)
    };
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
    use std::alloc::{GlobalAlloc, Layout};

    #[test]
    fn memory_from_the_allocator_can_be_freed_on_another_thread_and_collected() {
        let layout = Layout::from_size_align(4096, 64).expect("layout");
        // SAFETY: a non-zero size layout; the block is written within it and freed once, with it.
        #[allow(unsafe_code)]
        let block = unsafe { super::Allocator.alloc(layout) } as usize;
        assert!(block != 0 && block.is_multiple_of(64), "an aligned block");
        std::thread::spawn(move || {
            // SAFETY: the block above, 4096 bytes, written within and freed once with its layout.
            #[allow(unsafe_code)]
            unsafe {
                std::ptr::write_bytes(block as *mut u8, 7, 4096);
                super::Allocator.dealloc(block as *mut u8, layout);
            }
        })
        .join()
        .expect("freed on another thread");
        super::release_free_memory();
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_accepts_the_thresholds() {
        assert!(super::set_thresholds(), "mallopt refused a threshold");
    }
}
