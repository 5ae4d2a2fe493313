//! A small progress bar on stderr, shown only when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::time::Instant;

pub struct Progress {
    label: String,
    total: u64,
    done: u64,
    shown: bool,
    started: Instant,
    last_draw: Instant,
}

impl Progress {
    pub fn new(label: &str, total: u64) -> Self {
        let now = Instant::now();
        Progress {
            label: label.to_string(),
            total: total.max(1),
            done: 0,
            shown: std::io::stderr().is_terminal(),
            started: now,
            last_draw: now,
        }
    }

    pub fn advance(&mut self, n: u64) {
        self.done = (self.done + n).min(self.total);
        if self.shown && self.last_draw.elapsed().as_millis() >= 100 {
            self.draw();
        }
    }

    fn draw(&mut self) {
        self.last_draw = Instant::now();
        let width = 30;
        let filled = (self.done * width / self.total) as usize;
        let bar: String = "█".repeat(filled) + &"░".repeat(width as usize - filled);
        eprint!(
            "\r  {:<22} {bar} {:>3}%  {:.1}s",
            self.label,
            self.done * 100 / self.total,
            self.started.elapsed().as_secs_f64()
        );
        let _ = std::io::stderr().flush();
    }

    pub fn finish(mut self) {
        self.done = self.total;
        if self.shown {
            self.draw();
            eprintln!();
        }
    }
}
