//! A progress bar on stderr (indicatif), drawn only when stderr is a terminal.

use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress(ProgressBar);

impl Progress {
    pub fn new(label: &str, total: u64) -> Self {
        // indicatif's stderr target hides itself when stderr is not a terminal (CI, logs).
        let bar = ProgressBar::new(total.max(1));
        let style = ProgressStyle::with_template("  {msg:<22} {bar:30} {percent:>3}%  {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_message(label.to_string());
        Progress(bar)
    }

    pub fn advance(&mut self, n: u64) {
        self.0.inc(n);
    }

    pub fn finish(self) {
        self.0.finish();
    }
}
