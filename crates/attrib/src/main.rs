use clap::Parser;

#[global_allocator]
static ALLOCATOR: attrib_allocator::Allocator = attrib_allocator::Allocator;

fn main() -> std::process::ExitCode {
    attrib_allocator::tune();
    // Usage errors exit 2 (clap's own status for them).
    let cli = attrib::cli::Cli::parse();
    match attrib::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // stdout's reader went away (`| head`): nothing more to say.
        Err(e) if attrib::exit::is_broken_pipe(&e) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(attrib::exit::status_of(&e))
        }
    }
}
