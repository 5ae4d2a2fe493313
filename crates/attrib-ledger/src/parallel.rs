//! Spreading independent per-person work over scoped threads.

/// The threads per-person work may use when the caller did not say: the machine's cores, at
/// most 8 (beyond that the single-threaded hand-over dominates).
pub(crate) fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(8)
}

/// Maps `f` over `items` on up to `threads` scoped threads; the result keeps `items` order.
pub(crate) fn par_map<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = threads.max(1);
    if threads == 1 || items.len() < 2 {
        return items.iter().map(&f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> =
            items.chunks(chunk).map(|part| s.spawn(move || part.iter().map(f).collect::<Vec<_>>())).collect();
        // A worker can only panic on a bug; losing its rows silently would lose money.
        handles.into_iter().flat_map(|h| h.join().expect("worker thread panicked")).collect()
    })
}
