//! A TCP proxy that breaks the network between the service and a server on purpose.
//!
//! It follows HTTP/1.1's request/response turns on each connection (a client's bytes after
//! the server answered start a new exchange; clients here never pipeline), and decides per
//! exchange whether to cut it before the request reaches the server, to forward the request
//! and then drop the answer (the server did the work, the client never hears of it), or to
//! pass it, with optional latency. It can also refuse every connection (a server away), and
//! cut once, in the middle, the first answer longer than a given size (a long read broken
//! half-way). Everything it did is counted, so a test can tell its faults happened.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does now; the test changes it while traffic flows.
#[derive(Default)]
pub struct FaultPlan {
    refuse: AtomicBool,
    cut_percent: AtomicU32,
    drop_percent: AtomicU32,
    latency_ms: AtomicU64,
    /// One-shot: the next answer longer than this many bytes is cut there (0: off).
    cut_answer_after: AtomicU64,
    rng: Mutex<u64>,
    pub refused: AtomicU64,
    pub cut_requests: AtomicU64,
    pub dropped_answers: AtomicU64,
    pub cut_answers: AtomicU64,
    pub exchanges: AtomicU64,
}

impl FaultPlan {
    /// Every new connection is closed at once (and exchanges on open ones are cut).
    pub fn refuse(&self, on: bool) {
        self.refuse.store(on, SeqCst);
    }

    /// Per exchange: `cut` % never reach the server, `dropped` % lose their answer; `latency_ms` per chunk.
    pub fn flaky(&self, cut: u32, dropped: u32, latency_ms: u64) {
        self.cut_percent.store(cut, SeqCst);
        self.drop_percent.store(dropped, SeqCst);
        self.latency_ms.store(latency_ms, SeqCst);
    }

    /// Cuts the next answer longer than `bytes`, once, after `bytes` of it went through.
    pub fn cut_next_long_answer(&self, bytes: u64) {
        self.cut_answer_after.store(bytes, SeqCst);
    }

    fn decide(&self) -> Fault {
        if self.refuse.load(SeqCst) {
            return Fault::Cut;
        }
        let roll = {
            let mut x = self.rng.lock().unwrap_or_else(|p| p.into_inner());
            // xorshift64*, seeded on first use.
            if *x == 0 {
                *x = 0x9e37_79b9_7f4a_7c15;
            }
            *x ^= *x >> 12;
            *x ^= *x << 25;
            *x ^= *x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) % 100
        } as u32;
        let (cut, dropped) = (self.cut_percent.load(SeqCst), self.drop_percent.load(SeqCst));
        if roll < cut {
            Fault::Cut
        } else if roll < cut + dropped {
            Fault::DropAnswer
        } else {
            Fault::Pass
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Pass,
    Cut,
    DropAnswer,
}

/// Where one connection stands in its current exchange.
struct Exchange {
    answering: bool,
    fault: Fault,
    answer_bytes: u64,
}

pub struct FaultProxy {
    pub addr: String,
    pub plan: Arc<FaultPlan>,
}

impl FaultProxy {
    /// Listens on a free local port and forwards to `upstream` (`host:port`).
    pub fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fault proxy");
        let addr = listener.local_addr().expect("addr").to_string();
        let plan = Arc::new(FaultPlan::default());
        let (upstream, p) = (upstream.to_string(), plan.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if p.refuse.load(SeqCst) {
                    p.refused.fetch_add(1, SeqCst);
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else { continue };
                let p = p.clone();
                std::thread::spawn(move || relay(client, server, p));
            }
        });
        FaultProxy { addr, plan }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn close(a: &TcpStream, b: &TcpStream) {
    let _ = a.shutdown(Shutdown::Both);
    let _ = b.shutdown(Shutdown::Both);
}

fn relay(client: TcpStream, server: TcpStream, plan: Arc<FaultPlan>) {
    let exchange = Arc::new(Mutex::new(Exchange { answering: true, fault: Fault::Pass, answer_bytes: 0 }));
    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else { return };
    let (ex, p) = (exchange.clone(), plan.clone());
    // Server → client: answers.
    let answers = std::thread::spawn(move || {
        let (mut from, mut to) = (s2, c2);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut forward = n;
            let mut last = false;
            {
                let mut e = ex.lock().unwrap_or_else(|p| p.into_inner());
                e.answering = true;
                if e.fault == Fault::DropAnswer {
                    p.dropped_answers.fetch_add(1, SeqCst);
                    close(&from, &to);
                    return;
                }
                let limit = p.cut_answer_after.load(SeqCst);
                if limit > 0
                    && e.answer_bytes + n as u64 > limit
                    && p.cut_answer_after.compare_exchange(limit, 0, SeqCst, SeqCst).is_ok()
                {
                    forward = (limit - e.answer_bytes.min(limit)) as usize;
                    last = true;
                    p.cut_answers.fetch_add(1, SeqCst);
                }
                e.answer_bytes += forward as u64;
            }
            if to.write_all(&buf[..forward]).is_err() || last {
                close(&from, &to);
                return;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
    // Client → server: requests.
    let (mut from, mut to) = (client, server);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => {
                let _ = to.shutdown(Shutdown::Write);
                break;
            }
            Ok(n) => n,
        };
        let fault = {
            let mut e = exchange.lock().unwrap_or_else(|p| p.into_inner());
            if e.answering {
                // The client speaks again after an answer: a new exchange.
                *e = Exchange { answering: false, fault: plan.decide(), answer_bytes: 0 };
                plan.exchanges.fetch_add(1, SeqCst);
                if e.fault == Fault::Cut {
                    plan.cut_requests.fetch_add(1, SeqCst);
                }
            }
            e.fault
        };
        if fault == Fault::Cut {
            close(&from, &to);
            break;
        }
        let latency = plan.latency_ms.load(SeqCst);
        if latency > 0 {
            std::thread::sleep(Duration::from_millis(latency));
        }
        if to.write_all(&buf[..n]).is_err() {
            close(&from, &to);
            break;
        }
    }
    let _ = answers.join();
}
