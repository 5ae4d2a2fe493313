//! The command line.

use crate::commands;
use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "attrib", version, about = "Social-to-CRM attribution: which social activity produced revenue")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a realistic synthetic dataset in the wire format, one JSON Lines file per topic.
    Generate(commands::generate::Args),
    /// Run the whole engine over a folder of JSON Lines files and write the ledger and KPIs.
    Batch(commands::batch::Args),
    /// The embedded default: generate a sample (or read --input), attribute in process, print KPIs.
    Demo(commands::demo::Args),
    /// Path-level attribution over ChannelAttribution's CSV input (path, total_conversions, ...).
    Paths(commands::paths::Args),
    /// The streaming service: consume the topics, attribute, write ClickHouse, commit offsets.
    Run(commands::run::Args),
    /// Finance reconciliation for one month: CRM closed-won revenue against every model's
    /// credits, per currency and in the reporting currency; exit code 1 unless all differences are 0.
    Reconcile(commands::reconcile::Args),
    /// Write the self-contained HTML report (inline SVG charts, no network) of a batch output
    /// folder or of the service's ClickHouse KPI views.
    Report(commands::report::Args),
    /// Apply the ClickHouse migrations in schemas/clickhouse (idempotent).
    Migrate(commands::migrate::Args),
    /// Load the JSON Lines files of `generate` into their topics (one message per line).
    Produce(commands::produce::Args),
    /// Run a source connector (hubspot, salesforce, meta, linkedin, ecb): pulls the vendor API
    /// incrementally on a schedule (or once) and publishes contract records to the topics, or to
    /// JSON Lines with --output.
    Connect(commands::connect::Args),
    /// Probe a health endpoint of a running service (the container's HEALTHCHECK): exit 0 on a
    /// 200 answer within `--timeout-secs`, 1 otherwise.
    Healthcheck(commands::healthcheck::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) for `attrib`.
    Completions(commands::completions::Args),
    /// Print the manual page (roff) of `attrib`, or write one page per command into --out.
    Man(commands::man::Args),
    /// Check a configuration (and optionally sample events) without running anything.
    Validate(commands::validate::Args),
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Generate(args) => commands::generate::run(args),
        Command::Batch(args) => commands::batch::run(args),
        Command::Demo(args) => commands::demo::run(args),
        Command::Paths(args) => commands::paths::run(args),
        Command::Run(args) => commands::run::run(args),
        Command::Reconcile(args) => commands::reconcile::run(args),
        Command::Report(args) => commands::report::run(args),
        Command::Migrate(args) => commands::migrate::run(args),
        Command::Produce(args) => commands::produce::run(args),
        Command::Connect(args) => commands::connect::run(args),
        Command::Healthcheck(args) => commands::healthcheck::run(args),
        Command::Completions(args) => commands::completions::run(args),
        Command::Man(args) => commands::man::run(args),
        Command::Validate(args) => commands::validate::run(args),
    }
}
