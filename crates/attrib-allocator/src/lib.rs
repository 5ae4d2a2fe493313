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

/// mimalloc's `purge_delay` option (its index in `mimalloc.h`'s `mi_option_e`; the Rust bindings
/// name the options around it but not this one).
const PURGE_DELAY_OPTION: libmimalloc_sys::mi_option_t = 15;
/// A delay (about 50 days) no run reaches: memory is purged when `release_free_memory` forces it.
const PURGE_WHEN_RELEASED_MS: std::ffi::c_long = 1 << 32;

/// Makes mimalloc hand free memory back to the system only when `release_free_memory` is
/// called, instead of once it has been free for a second (mimalloc 3's default). The service
/// frees a batch's rows and allocates the rows of the batches after it within seconds: purging
/// in between made the kernel zero and fault those pages in again, batch after batch (1 M people: 25 s of system time in 125 s of
/// CPU; 14 s without). For a process that calls `release_free_memory` at intervals; a
/// no-op when the user set `MIMALLOC_PURGE_DELAY` (theirs wins). Returns whether it was set.
pub fn purge_only_when_released() -> bool {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return false;
    }
    // SAFETY: mi_option_set only stores an option's value; the index is the documented one.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(PURGE_DELAY_OPTION, PURGE_WHEN_RELEASED_MS)
    };
    true
}

/// Returns the free pages inside every heap to the system, not only those at a heap's top.
/// A service whose batches are built on one thread and written on another frees memory in
/// the middle of several per-thread heaps, which the trim threshold never reaches. Takes a
/// few milliseconds per gigabyte: call it after large, rare steps (a checkpoint, a refit, a
/// ledger write at most every few seconds).
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
    fn the_purge_delay_option_is_the_one_set() {
        // SAFETY: reading an option's value.
        #[allow(unsafe_code)]
        let get = || unsafe { libmimalloc_sys::mi_option_get(super::PURGE_DELAY_OPTION) };
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            // mimalloc 3's default for `purge_delay` (the options around it default to 0 and 1).
            assert_eq!(get(), 1000, "option {} is not purge_delay", super::PURGE_DELAY_OPTION);
        }
        assert_eq!(super::purge_only_when_released(), std::env::var_os("MIMALLOC_PURGE_DELAY").is_none());
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(get(), super::PURGE_WHEN_RELEASED_MS);
        }
        let block = vec![1u8; 8 << 20];
        drop(std::hint::black_box(block));
        super::release_free_memory();
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_accepts_the_thresholds() {
        assert!(super::set_thresholds(), "mallopt refused a threshold");
    }
}
