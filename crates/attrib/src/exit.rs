//! Exit statuses scripts can rely on, and stdout writes that end quietly when the reader goes
//! away (`attrib reconcile --json | head`).
//!
//! | status | meaning |
//! |---|---|
//! | 0 | done (also when stdout's reader closed the pipe early) |
//! | 1 | a check failed: books that do not balance, rejected records under `validate --strict`, an unhealthy probe |
//! | 2 | usage: a bad argument or configuration |
//! | 3 | input, IO or connection error |

use std::io::Write;

/// A check the command exists to make did not pass (exit status 1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CheckFailed(pub String);

/// The command line or the configuration is wrong (exit status 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

pub const OK: u8 = 0;
pub const CHECK_FAILED: u8 = 1;
pub const USAGE: u8 = 2;
pub const FAILURE: u8 = 3;

/// Whether the error is stdout's reader having gone away: not a failure of the command.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

/// The exit status of a command that failed with `e`.
pub fn status_of(e: &anyhow::Error) -> u8 {
    if is_broken_pipe(e) {
        OK
    } else if e.downcast_ref::<CheckFailed>().is_some() || e.chain().any(|c| c.is::<CheckFailed>()) {
        CHECK_FAILED
    } else if e.downcast_ref::<Usage>().is_some() || e.chain().any(|c| c.is::<Usage>()) {
        USAGE
    } else {
        FAILURE
    }
}

/// Writes `text` to stdout; a closed pipe comes back as an error `status_of` maps to 0.
pub fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// `println!` that returns the write error instead of panicking on a closed pipe.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::exit::print(&format!("{}\n", format_args!($($arg)*)))?
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_cause_anywhere_in_the_chain() {
        let check = anyhow::Error::new(CheckFailed("books".into())).context("reconcile");
        assert_eq!(status_of(&check), CHECK_FAILED);
        assert_eq!(status_of(&anyhow::Error::new(Usage("--month".into()))), USAGE);
        let pipe = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe)).context("printing");
        assert_eq!(status_of(&pipe), OK);
        assert_eq!(status_of(&anyhow::anyhow!("connection refused")), FAILURE);
    }
}
