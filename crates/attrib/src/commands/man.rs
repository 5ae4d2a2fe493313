//! `attrib man`: Print the manual page (roff) of `attrib`, or write one page per command into --out.

use crate::say;
use anyhow::{Context, Result};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A folder for attrib.1 and attrib-<command>.1.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let Args { out } = args;
    let command = <crate::cli::Cli as clap::CommandFactory>::command();
    match out {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command).render(&mut page)?;
            crate::exit::print(&String::from_utf8_lossy(&page))?;
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(command, &dir).with_context(|| format!("writing pages into {}", dir.display()))?;
            say!("manual pages written to {}", dir.display());
        }
    }
    Ok(())
}
