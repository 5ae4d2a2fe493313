//! `attrib validate`: Check a configuration (and optionally sample events) without running anything.

use super::threads;
use crate::config::Config;
use crate::exit::{CheckFailed, Usage};
use crate::{batch, say};
use anyhow::Result;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// A folder of JSON Lines files to decode and report on.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Exit 1 when any record of --input is rejected.
    #[arg(long)]
    pub strict: bool,
    /// Print the result as one JSON object.
    #[arg(long, conflicts_with = "print")]
    pub json: bool,
    /// Print the effective configuration (file, environment and defaults) as TOML, secrets
    /// redacted, instead of the summary: itself a valid configuration file.
    #[arg(long)]
    pub print: bool,
}

/// The configuration as TOML, with secret-looking property values shown as `***`.
fn effective_toml(cfg: &Config) -> Result<String> {
    let mut shown = cfg.clone();
    for (key, value) in shown.kafka.properties.iter_mut() {
        if crate::service::secret_property(key) {
            *value = "***".into();
        }
    }
    // Secrets are never printed (nor serialisable); say which are set, as TOML comments.
    let set: Vec<&str> = cfg.secrets().iter().filter(|(_, s)| s.is_set()).map(|(k, _)| *k).collect();
    let note = if set.is_empty() { "none".to_string() } else { set.join(", ") };
    Ok(format!("# secrets set (not shown): {note}\n{}", toml::to_string(&shown)?))
}

pub fn run(args: Args) -> Result<()> {
    let Args { config, input, strict, json, print } = args;
    let cfg = Config::load(config.as_deref())?;
    cfg.kafka.settings().check().map_err(|e| Usage(format!("kafka.properties: {e}")))?;
    if print {
        crate::exit::print(&effective_toml(&cfg)?)?;
        return Ok(());
    }
    let run = input.map(|dir| batch::run(&dir, &cfg, threads(None), None)).transpose()?;
    let rejected = run.as_ref().map_or(0, |r| r.rejected.len());
    if json {
        let topics: serde_json::Map<String, serde_json::Value> = run
            .iter()
            .flat_map(|r| r.engine.counts())
            .map(|(topic, c)| {
                let counts = serde_json::json!({"received": c.received, "accepted": c.accepted,
                    "duplicates": c.duplicates, "rejected": c.rejected});
                (topic.to_string(), counts)
            })
            .collect();
        let first: Vec<serde_json::Value> = run
            .iter()
            .flat_map(|r| r.rejected.iter().take(20))
            .map(|r| serde_json::json!({"file": r.file, "line": r.line, "error": r.error}))
            .collect();
        let out = serde_json::json!({"config": "ok", "models": cfg.models.enabled, "topics": topics,
            "rejected": rejected, "first_rejected": first});
        say!("{out}");
    } else {
        say!("config ok: models {}", cfg.models.enabled.join(", "));
        if let Some(run) = &run {
            for (topic, c) in run.engine.counts() {
                say!(
                    "{topic}: {} records, {} valid, {} duplicates, {} rejected",
                    c.received,
                    c.accepted,
                    c.duplicates,
                    c.rejected
                );
            }
            for r in run.rejected.iter().take(20) {
                say!("  {}:{}: {}", r.file, r.line, r.error);
            }
        }
    }
    if strict && rejected > 0 {
        return Err(CheckFailed(format!("{rejected} records rejected (--strict)")).into());
    }
    Ok(())
}
