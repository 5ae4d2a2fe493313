//! Child processes and servers the integration tests start, stop and poll.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) fn wait(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    None
}

pub(crate) fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill").args([sig, &child.id().to_string()]).status().expect("kill").success();
    assert!(ok, "kill {sig}");
}

pub(crate) fn poll_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    false
}

/// Kills the child process if the test ends (or panics) while it still runs.
pub(crate) struct Guard(pub(crate) Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A ClickHouse server of this test's own (ports 28123/29000/29009), stopped on drop.
pub(crate) struct PrivateClickHouse {
    dir: std::path::PathBuf,
}

impl PrivateClickHouse {
    pub(crate) fn start() -> PrivateClickHouse {
        let dir = std::env::temp_dir().join("attrib-test-private-clickhouse");
        let ch = PrivateClickHouse { dir };
        ch.stop();
        let _ = std::fs::remove_dir_all(&ch.dir);
        ch.start_again();
        ch
    }

    pub(crate) fn start_again(&self) {
        let ok = Command::new("bash")
            .arg(attrib_tests::repo_root().join("scripts/start-clickhouse.sh"))
            .env("CH_DIR", &self.dir)
            .env("CH_HTTP_PORT", "28123")
            .env("CH_TCP_PORT", "29000")
            .env("CH_INTERSERVER_PORT", "29009")
            .stdout(Stdio::null())
            .status()
            .expect("start clickhouse")
            .success();
        assert!(ok, "private ClickHouse started");
    }

    /// Stops the server (by its pid file) and waits until its port is closed.
    pub(crate) fn stop(&self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
        poll_until(Duration::from_secs(30), || std::net::TcpStream::connect("127.0.0.1:28123").is_err());
    }
}

impl Drop for PrivateClickHouse {
    fn drop(&mut self) {
        self.stop();
    }
}

pub(crate) fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else { return String::new() };
    // The server keeps HTTP/1.1 connections alive: ask it to close after the answer, and never
    // wait forever for that.
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes());
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}
