use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = attrib::cli::Cli::parse();
    match attrib::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
