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

/// Maps `f` over `items`, `chunk` items at a time, on `threads` long-lived worker threads, and
/// hands each chunk's results to `each` on the calling thread in `items` order. Each worker
/// folds into a state of its own (from `init`), returned at the end, so order-free sums need
/// not wait for the hand-over. Workers take the next chunk as soon as they finish one, and at
/// most two chunks per worker are out at once, so the results waiting to be handed over stay
/// bounded. Returns the first error of `each`; no chunk is handed over after it.
pub(crate) fn par_chunks_in_order<T: Sync, S: Send, R: Send, E>(
    items: &[T],
    chunk: usize,
    threads: usize,
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, &T) -> R + Sync,
    mut each: impl FnMut(Vec<R>) -> Result<(), E>,
) -> Result<Vec<S>, E> {
    use std::collections::BTreeMap;
    use std::sync::{mpsc, Condvar, Mutex};

    let chunks: Vec<&[T]> = items.chunks(chunk.max(1)).collect();
    let threads = threads.max(1).min(chunks.len().max(1));
    if threads == 1 {
        let mut state = init();
        chunks.iter().try_for_each(|part| each(part.iter().map(|x| f(&mut state, x)).collect()))?;
        return Ok(vec![state]);
    }
    let window = 2 * threads;
    /// The next chunk to take, how many were handed over, and whether to stop early.
    struct Tasks {
        next: usize,
        handed_over: usize,
        stop: bool,
    }
    /// Tells every worker to stop when dropped, also by a panic (of `f` or `each`), so no
    /// thread waits for a hand-over that will never come and the scope re-raises the panic.
    struct StopOnDrop<'a>(&'a Mutex<Tasks>, &'a Condvar);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).stop = true;
            self.1.notify_all();
        }
    }
    let tasks = Mutex::new(Tasks { next: 0, handed_over: 0, stop: false });
    let wake = Condvar::new();
    let (send, receive) = mpsc::channel::<(usize, Vec<R>)>();
    let (init, f, chunks, tasks, wake) = (&init, &f, &chunks, &tasks, &wake);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let send = send.clone();
                s.spawn(move || {
                    let _stop = StopOnDrop(tasks, wake);
                    let mut state = init();
                    loop {
                        let index = {
                            let mut t = tasks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                            while !t.stop && t.next < chunks.len() && t.next >= t.handed_over + window {
                                t = wake.wait(t).unwrap_or_else(std::sync::PoisonError::into_inner);
                            }
                            if t.stop || t.next >= chunks.len() {
                                return state;
                            }
                            t.next += 1;
                            t.next - 1
                        };
                        let rows = chunks[index].iter().map(|x| f(&mut state, x)).collect();
                        if send.send((index, rows)).is_err() {
                            return state;
                        }
                    }
                })
            })
            .collect();
        drop(send);
        let finish = |stop: bool| {
            let mut t = tasks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            t.handed_over += 1;
            t.stop |= stop;
            wake.notify_all();
        };
        let _stop = StopOnDrop(tasks, wake);
        let mut waiting = BTreeMap::new();
        let mut next = 0;
        while next < chunks.len() {
            // A worker only stops early on a panic, which the scope re-raises on exit.
            let Ok((index, rows)) = receive.recv() else { break };
            waiting.insert(index, rows);
            while let Some(rows) = waiting.remove(&next) {
                next += 1;
                if let Err(e) = each(rows) {
                    finish(true);
                    return Err(e);
                }
                finish(false);
            }
        }
        // A worker can only panic on a bug; losing its sums silently would lose money.
        Ok(workers.into_iter().map(|w| w.join().expect("worker thread panicked")).collect())
    })
}

#[cfg(test)]
mod tests {
    use super::par_chunks_in_order;

    #[test]
    fn chunks_are_handed_over_in_order_whatever_the_threads() {
        let items: Vec<u64> = (0..1000).collect();
        for threads in [1, 2, 3, 8] {
            for chunk in [1, 7, 64, 2000] {
                let mut seen = Vec::new();
                let slow_first = |x: &u64| {
                    if *x < 8 {
                        std::thread::sleep(std::time::Duration::from_millis(2));
                    }
                    x * 2
                };
                let sums = par_chunks_in_order(
                    &items,
                    chunk,
                    threads,
                    || 0u64,
                    |sum, x| {
                        *sum += x;
                        slow_first(x)
                    },
                    |rows| {
                        assert!(rows.len() <= chunk);
                        seen.extend(rows);
                        Ok::<(), ()>(())
                    },
                )
                .unwrap();
                assert!(sums.len() <= threads);
                assert_eq!(sums.iter().sum::<u64>(), items.iter().sum::<u64>());
                assert_eq!(
                    seen,
                    items.iter().map(|x| x * 2).collect::<Vec<_>>(),
                    "{threads} threads, chunks of {chunk}"
                );
            }
        }
    }

    #[test]
    fn a_panic_in_a_worker_or_in_the_hand_over_is_raised_not_waited_on() {
        let items: Vec<u32> = (0..10_000).collect();
        let in_worker = std::panic::catch_unwind(|| {
            par_chunks_in_order(&items, 10, 2, || (), |_, x| assert!(*x != 500, "bad item"), |_| Ok::<(), ()>(()))
        });
        assert!(in_worker.is_err());
        let in_hand_over = std::panic::catch_unwind(|| {
            par_chunks_in_order(
                &items,
                10,
                2,
                || (),
                |_, x| *x,
                |rows| {
                    assert!(rows[0] != 30, "bad chunk");
                    Ok::<(), ()>(())
                },
            )
        });
        assert!(in_hand_over.is_err());
    }

    #[test]
    fn the_first_error_stops_the_hand_over() {
        let items: Vec<u32> = (0..10_000).collect();
        let mut handed = 0;
        let result = par_chunks_in_order(
            &items,
            10,
            2,
            || (),
            |_, x| *x,
            |rows| {
                handed += 1;
                if rows[0] == 50 {
                    Err(rows[0])
                } else {
                    Ok(())
                }
            },
        );
        assert_eq!(result, Err(50));
        assert_eq!(handed, 6);
    }
}
