//! `attrib healthcheck`: Probe a health endpoint of a running service (the container's HEALTHCHECK): exit 0 on a

use crate::exit::CheckFailed;
use crate::say;
use anyhow::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, default_value = "http://127.0.0.1:9464/healthz")]
    pub url: String,
    #[arg(long, default_value_t = 3)]
    pub timeout_secs: u64,
}

pub fn run(args: Args) -> Result<()> {
    let Args { url, timeout_secs } = args;
    crate::service::probe(&url, std::time::Duration::from_secs(timeout_secs))
        .map_err(|e| CheckFailed(format!("{e:#}")))?;
    say!("{url}: ok");
    Ok(())
}
