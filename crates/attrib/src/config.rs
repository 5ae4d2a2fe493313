//! Configuration: one TOML file plus `ATTRIB_…` environment overrides.
//!
//! An override names a key path with `__` between levels, e.g.
//! `ATTRIB_JOURNEYS__VIEW_THROUGH=true` or `ATTRIB_MODELS__PARAMS__HALF_LIFE_SECS=86400`.
//! Values are parsed as TOML (numbers, booleans, arrays), falling back to a string.

use anyhow::{bail, Context, Result};
use attrib_contract::Currency;
use attrib_journeys::JourneyConfig;
use attrib_ledger::{AttributionConfig, ReportingConfig};
use attrib_models::{MarkovParams, Model, RuleParams, MAX_ORDER};
use serde::Deserialize;
use std::path::Path;

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub journeys: JourneyConfig,
    pub models: ModelsConfig,
    pub reporting: ReportingSection,
    pub kafka: attrib_service::KafkaConfig,
    pub clickhouse: attrib_service::ClickHouseConfig,
    pub service: attrib_service::ServiceSettings,
    pub connectors: attrib_connectors::ConnectorsConfig,
}

/// `[models]`: which models run and their parameters.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelsConfig {
    pub enabled: Vec<String>,
    pub params: RuleParams,
    pub markov: MarkovParams,
}

/// `[reporting]`: the one currency KPIs are reported in, and how rates are looked up.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportingSection {
    /// ISO 4217 code; `fx.rates` give each currency's rate to it.
    pub currency: String,
    /// Days back a missing day's rate may come from (0: the amount's own date only).
    pub fx_fallback_days: u32,
}

impl Default for ReportingSection {
    fn default() -> Self {
        let d = ReportingConfig::default();
        ReportingSection { currency: d.currency.to_string(), fx_fallback_days: d.fx_fallback_days }
    }
}

impl Default for ModelsConfig {
    fn default() -> Self {
        ModelsConfig {
            enabled: Model::ALL.iter().map(|m| m.as_str().to_string()).collect(),
            params: RuleParams::default(),
            markov: MarkovParams::default(),
        }
    }
}

impl Config {
    /// Reads `path` (if given), applies environment overrides and validates.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p).with_context(|| format!("reading config {}", p.display()))?,
            None => String::new(),
        };
        // A configuration that does not parse or validate is a usage error (exit status 2).
        Self::from_toml_with_env(&text, std::env::vars())
            .map_err(|e| anyhow::Error::new(crate::exit::Usage(format!("{e:#}"))))
    }

    pub fn from_toml_with_env(text: &str, env: impl Iterator<Item = (String, String)>) -> Result<Config> {
        let mut doc: toml::Table = text.parse().context("config is not valid TOML")?;
        let file: Config = toml::Value::Table(doc.clone()).try_into().context("invalid configuration")?;
        file.refuse_secrets_in_the_file()?;
        // `ATTRIB_SECTION__KEY[__KEY…]` overlays the file; variables without `__` are not
        // configuration (ATTRIB_LOG_FORMAT), except the credentials' older names.
        let env: Vec<(String, String)> = env.filter(|(k, _)| k.starts_with("ATTRIB_")).collect();
        let mut overlays: Vec<(String, String)> = env.iter().filter(|(k, _)| k.contains("__")).cloned().collect();
        for (old, new) in RENAMED_VARIABLES {
            let Some((_, value)) = env.iter().find(|(k, _)| k == old) else { continue };
            if overlays.iter().any(|(k, _)| k == new) {
                eprintln!("warning: {old} is ignored: {new} is set (and replaces it)");
            } else {
                eprintln!("warning: {old} is deprecated: set {new} instead");
                overlays.push((new.to_string(), value.clone()));
            }
        }
        overlays.sort();
        for (key, value) in overlays {
            let parts: Vec<String> = key["ATTRIB_".len()..].split("__").map(|p| p.to_ascii_lowercase()).collect();
            if !KNOWN_SECTIONS.contains(&parts[0].as_str()) {
                bail!(
                    "environment variable {key}: no configuration section {:?} (known: {})",
                    parts[0],
                    KNOWN_SECTIONS.join(", ")
                );
            }
            // Each variable checked as it is applied, so an error names the one that caused it.
            // A value that reads as TOML but not as the key's type (a password of digits, a
            // group named `123`) is taken as the string it was.
            set_path(&mut doc, &parts, parse_env_value(&value));
            if toml::Value::Table(doc.clone()).try_into::<Config>().is_err() {
                set_path(&mut doc, &parts, toml::Value::String(value.clone()));
                toml::Value::Table(doc.clone())
                    .try_into::<Config>()
                    .map_err(|e| anyhow::anyhow!("environment variable {key}: {e}"))?;
            }
        }
        let mut config: Config = toml::Value::Table(doc).try_into().context("invalid configuration")?;
        config.validate()?;
        config.clickhouse.resolve_secrets()?;
        config.kafka.resolve_secrets()?;
        Ok(config)
    }

    /// Secrets do not belong in a file that lands in a ConfigMap or a repository: each has a
    /// variable (`ATTRIB_SECTION__KEY`, like every override) and a `<key>_file` sibling.
    fn refuse_secrets_in_the_file(&self) -> Result<()> {
        let refuse = |key: &str| -> Result<()> {
            let var = format!("ATTRIB_{}", key.replace('.', "__").to_ascii_uppercase());
            bail!("{key} in the configuration file: secrets stay out of it; set {var} or {key}_file instead")
        };
        if self.kafka.properties.keys().any(|k| k.eq_ignore_ascii_case("sasl.password")) {
            bail!(
                "kafka.properties.\"sasl.password\" in the configuration file: secrets stay out of it; \
                 set ATTRIB_KAFKA__SASL_PASSWORD or kafka.sasl_password_file instead"
            );
        }
        for (key, secret) in self.secrets() {
            if secret.is_set() {
                refuse(key)?;
            }
        }
        Ok(())
    }

    /// Every secret of the configuration, by key.
    pub fn secrets(&self) -> [(&'static str, &attrib_secret::Secret); 6] {
        let c = &self.connectors;
        [
            ("clickhouse.password", &self.clickhouse.password),
            ("kafka.sasl_password", &self.kafka.sasl_password),
            ("connectors.hubspot.token", &c.hubspot.token),
            ("connectors.salesforce.token", &c.salesforce.token),
            ("connectors.meta.token", &c.meta.token),
            ("connectors.linkedin.token", &c.linkedin.token),
        ]
    }

    /// Checks values that types alone do not.
    pub fn validate(&self) -> Result<()> {
        if self.models.enabled.is_empty() {
            bail!("models.enabled must name at least one model");
        }
        for m in &self.models.enabled {
            if Model::parse(m).is_none() {
                let known: Vec<_> = Model::ALL.iter().map(|m| m.as_str()).collect();
                bail!("models.enabled: unknown model {m:?} (known: {})", known.join(", "));
            }
        }
        self.models.params.validate().map_err(|e| anyhow::anyhow!("models.params: {e}"))?;
        if !(1..=MAX_ORDER).contains(&self.models.markov.order) {
            bail!("models.markov.order must be between 1 and {MAX_ORDER} (got {})", self.models.markov.order);
        }
        if self.service.batch_max_messages == 0 {
            bail!("service.batch_max_messages must be at least 1");
        }
        if self.kafka.partitions < 1 || self.kafka.replication < 1 {
            bail!("kafka.partitions and kafka.replication must be at least 1");
        }
        if Currency::parse(&self.reporting.currency).is_none() {
            bail!("reporting.currency must be three upper-case letters (ISO 4217), got {:?}", self.reporting.currency);
        }
        if self.reporting.fx_fallback_days > 31 {
            bail!("reporting.fx_fallback_days must be at most 31 (got {})", self.reporting.fx_fallback_days);
        }
        let lb = &self.journeys.lookback_days;
        for (name, days) in [("order", lb.order), ("signup", lb.signup), ("lead", lb.lead), ("deal", lb.deal)] {
            if !(1..=3650).contains(&days) {
                bail!("journeys.lookback_days.{name} must be between 1 and 3650 (got {days})");
            }
        }
        Ok(())
    }

    /// The engine's view of this configuration.
    pub fn attribution(&self) -> AttributionConfig {
        AttributionConfig {
            models: self.models.enabled.iter().filter_map(|m| Model::parse(m)).collect(),
            params: self.models.params,
            markov: self.models.markov,
            journeys: self.journeys,
            reporting: ReportingConfig {
                currency: Currency::parse(&self.reporting.currency).unwrap_or(ReportingConfig::default().currency),
                fx_fallback_days: self.reporting.fx_fallback_days,
            },
        }
    }
}

/// The credentials' variables before they followed `ATTRIB_SECTION__KEY`: still read, with a
/// warning.
const RENAMED_VARIABLES: [(&str, &str); 3] = [
    ("ATTRIB_CLICKHOUSE_USER", "ATTRIB_CLICKHOUSE__USER"),
    ("ATTRIB_CLICKHOUSE_PASSWORD", "ATTRIB_CLICKHOUSE__PASSWORD"),
    ("ATTRIB_KAFKA_SASL_PASSWORD", "ATTRIB_KAFKA__SASL_PASSWORD"),
];

const KNOWN_SECTIONS: &[&str] = &["journeys", "models", "reporting", "kafka", "clickhouse", "service", "connectors"];

fn parse_env_value(raw: &str) -> toml::Value {
    let wrapped = format!("v = {raw}");
    match wrapped.parse::<toml::Table>() {
        Ok(mut t) => t.remove("v").unwrap_or_else(|| toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) {
    match path {
        [] => {}
        [last] => {
            table.insert(last.clone(), value);
        }
        [head, rest @ ..] => {
            let entry = table.entry(head.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !entry.is_table() {
                *entry = toml::Value::Table(toml::Table::new());
            }
            if let toml::Value::Table(t) = entry {
                set_path(t, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>().into_iter()
    }

    #[test]
    fn defaults_match_the_design() {
        let c = Config::from_toml_with_env("", env(&[])).expect("defaults");
        assert_eq!(c.journeys.lookback_days.order, 30);
        assert_eq!(c.journeys.lookback_days.deal, 90);
        assert!(!c.journeys.view_through);
        assert_eq!(c.attribution().models.len(), 10);
        assert_eq!(c.models.params.half_life_secs, 604_800.0);
    }

    #[test]
    fn environment_overrides_the_file() {
        let toml = "[journeys]\nview_through = false\n[models]\nenabled = [\"linear\"]\n";
        let c = Config::from_toml_with_env(
            toml,
            env(&[
                ("ATTRIB_JOURNEYS__VIEW_THROUGH", "true"),
                ("ATTRIB_JOURNEYS__LOOKBACK_DAYS__ORDER", "7"),
                ("ATTRIB_MODELS__ENABLED", "[\"linear\", \"w_shaped\"]"),
                ("ATTRIB_UNRELATED", "x"),
                ("PATH", "/bin"),
            ]),
        )
        .expect("valid");
        assert!(c.journeys.view_through);
        assert_eq!(c.journeys.lookback_days.order, 7);
        assert_eq!(c.models.enabled, vec!["linear", "w_shaped"]);
    }

    #[test]
    fn environment_mistakes_name_the_variable_and_secrets_stay_out_of_the_file() {
        let e =
            Config::from_toml_with_env("", env(&[("ATTRIB_KAFK__BROKERS", "x:9092")])).expect_err("unknown section");
        assert!(e.to_string().contains("ATTRIB_KAFK__BROKERS") && e.to_string().contains("\"kafk\""), "{e}");
        let e = Config::from_toml_with_env("", env(&[("ATTRIB_KAFKA__BROKRS", "x:9092")])).expect_err("unknown key");
        assert!(e.to_string().contains("ATTRIB_KAFKA__BROKRS") && e.to_string().contains("brokrs"), "{e}");
        // Not overlays: credentials and switches without `__`.
        let ok =
            Config::from_toml_with_env("", env(&[("ATTRIB_CLICKHOUSE_PASSWORD", "p"), ("ATTRIB_LOG_FORMAT", "json")]));
        assert!(ok.is_ok());
        let e = Config::from_toml_with_env("[kafka.properties]\n\"sasl.password\" = \"hunter2\"\n", env(&[]))
            .expect_err("password in the file");
        assert!(e.to_string().contains("ATTRIB_KAFKA__SASL_PASSWORD") && !e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn every_secret_follows_one_scheme_variable_or_file_never_the_file_itself() {
        let dir = std::env::temp_dir().join(format!("attrib-config-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pw = dir.join("ch-password");
        std::fs::write(&pw, "from-file\n").unwrap();
        // From the variables of the overlay, digits and all.
        let c = Config::from_toml_with_env(
            "[clickhouse]\nuser = \"attrib\"\n",
            env(&[
                ("ATTRIB_CLICKHOUSE__PASSWORD", "12345"),
                ("ATTRIB_KAFKA__SASL_PASSWORD", "true"),
                ("ATTRIB_CONNECTORS__HUBSPOT__TOKEN", "pat-1"),
            ]),
        )
        .expect("secrets from the environment");
        let access = c.clickhouse.access();
        assert_eq!((access.user.as_deref(), access.password.as_deref()), (Some("attrib"), Some("12345")));
        assert_eq!(c.kafka.settings().properties.get("sasl.password").map(String::as_str), Some("true"));
        assert_eq!(c.connectors.hubspot.token.expose(), Some("pat-1"));
        assert!(!format!("{c:?}").contains("12345") && !format!("{c:?}").contains("pat-1"));
        // From a mounted file, named in the file or by a variable.
        let toml = format!("[clickhouse]\npassword_file = {:?}\n", pw.display().to_string());
        let c = Config::from_toml_with_env(&toml, env(&[])).expect("password file");
        assert_eq!(c.clickhouse.access().password.as_deref(), Some("from-file"));
        let both = Config::from_toml_with_env(&toml, env(&[("ATTRIB_CLICKHOUSE__PASSWORD", "x")])).expect_err("both");
        assert!(both.to_string().contains("clickhouse.password") && both.to_string().contains("set one"), "{both}");
        let missing = Config::from_toml_with_env("", env(&[("ATTRIB_KAFKA__SASL_PASSWORD_FILE", "/nonexistent/pw")]))
            .expect_err("missing file");
        assert!(missing.to_string().contains("kafka.sasl_password_file /nonexistent/pw"), "{missing}");
        // Never in the file: the error names the variable and the file key, not the value.
        for (toml, var) in [
            ("[clickhouse]\npassword = \"hunter2\"\n", "ATTRIB_CLICKHOUSE__PASSWORD"),
            ("[kafka]\nsasl_password = \"hunter2\"\n", "ATTRIB_KAFKA__SASL_PASSWORD"),
            ("[connectors.meta]\ntoken = \"hunter2\"\n", "ATTRIB_CONNECTORS__META__TOKEN"),
        ] {
            let e = Config::from_toml_with_env(toml, env(&[])).expect_err(toml).to_string();
            assert!(e.contains(var) && e.contains("_file") && !e.contains("hunter2"), "{e}");
        }
        // The older names still work.
        let c = Config::from_toml_with_env(
            "",
            env(&[
                ("ATTRIB_CLICKHOUSE_USER", "u"),
                ("ATTRIB_CLICKHOUSE_PASSWORD", "p"),
                ("ATTRIB_KAFKA_SASL_PASSWORD", "k"),
            ]),
        )
        .expect("deprecated names");
        assert_eq!(c.clickhouse.access().password.as_deref(), Some("p"));
        assert_eq!(c.clickhouse.user, "u");
        assert!(c.kafka.sasl_password.is_set());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn mistakes_are_reported_clearly() {
        let e = Config::from_toml_with_env("[models]\nenabled = [\"lienar\"]", env(&[])).expect_err("bad");
        assert!(e.to_string().contains("unknown model \"lienar\""), "{e}");
        let e = Config::from_toml_with_env("[journeys]\nview_thru = true", env(&[])).expect_err("bad");
        assert!(format!("{e:#}").contains("view_thru"), "{e:#}");
        let e = Config::from_toml_with_env("[models.params]\nw_role = 0.5", env(&[])).expect_err("bad");
        assert!(e.to_string().contains("w_role"), "{e}");
    }
}
