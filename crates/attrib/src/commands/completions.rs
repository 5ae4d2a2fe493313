//! `attrib completions`: Print a shell completion script (bash, zsh, fish, elvish, powershell) for `attrib`.

use anyhow::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub fn run(args: Args) -> Result<()> {
    let Args { shell } = args;
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut <crate::cli::Cli as clap::CommandFactory>::command(), "attrib", &mut script);
    crate::exit::print(&String::from_utf8_lossy(&script))?;
    Ok(())
}
