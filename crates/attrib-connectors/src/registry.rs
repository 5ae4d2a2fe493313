//! The connectors `attrib connect` knows, each set up from its configuration section: its HTTP
//! client (rate, credentials, headers), its schedule, and its pass.

use crate::http::{Http, HttpPolicy};
use crate::{ads, ecb, hubspot, salesforce};
use crate::{ConnectorError, ConnectorMetrics, ConnectorsConfig, CursorStore, PassReport, Sink};
use attrib_contract::{Currency, Date};
use attrib_secret::Secret;
use std::time::Duration;

/// One connector kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    HubSpot,
    Salesforce,
    Meta,
    LinkedIn,
    Ecb,
}

impl Kind {
    pub const ALL: [Kind; 5] = [Kind::HubSpot, Kind::Salesforce, Kind::Meta, Kind::LinkedIn, Kind::Ecb];

    pub fn name(self) -> &'static str {
        match self {
            Kind::HubSpot => "hubspot",
            Kind::Salesforce => "salesforce",
            Kind::Meta => "meta",
            Kind::LinkedIn => "linkedin",
            Kind::Ecb => "ecb",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// A connector ready to run passes.
pub struct Connector {
    kind: Kind,
    http: Http,
    interval: Duration,
    /// A token sent as a query parameter (Meta's documented form) rather than a header.
    query_token: Option<String>,
}

/// A connector's token: `token` (from `ATTRIB_CONNECTORS__<NAME>__TOKEN`), or the file
/// `token_file` names, or else the variable `token_env` names.
fn token(value: &Secret, file: &str, env: &str, kind: Kind) -> Result<String, ConnectorError> {
    let name = kind.name();
    let key = format!("connectors.{name}.token");
    let configured = value.or_file(file, &key).map_err(|e| ConnectorError::Config(e.to_string()))?;
    if let Some(t) = configured.expose() {
        return Ok(t.to_string());
    }
    std::env::var(env).ok().filter(|v| !v.is_empty()).ok_or_else(|| {
        let var = format!("ATTRIB_CONNECTORS__{}__TOKEN", name.to_ascii_uppercase());
        ConnectorError::Config(format!("no {name} token: set {var} or {key}_file (or {env}, which {key}_env names)"))
    })
}

impl Connector {
    pub fn new(kind: Kind, config: &ConnectorsConfig, metrics: &ConnectorMetrics) -> Result<Connector, ConnectorError> {
        let http = |rps: f64| {
            Http::new(kind.name(), HttpPolicy { requests_per_second: rps, ..HttpPolicy::default() }, metrics.clone())
                .map_err(|e| ConnectorError::Config(format!("building the HTTP client: {e}")))
        };
        let (http, interval, query_token) = match kind {
            Kind::HubSpot => {
                let c = &config.hubspot;
                let t = token(&c.token, &c.token_file, &c.token_env, kind)?;
                (http(c.requests_per_second)?.with_bearer(Some(t)), c.interval_secs, None)
            }
            Kind::Salesforce => {
                let c = &config.salesforce;
                let t = token(&c.token, &c.token_file, &c.token_env, kind)?;
                (http(c.requests_per_second)?.with_bearer(Some(t)), c.interval_secs, None)
            }
            Kind::Meta => {
                let c = &config.meta;
                let t = token(&c.token, &c.token_file, &c.token_env, kind)?;
                (http(c.requests_per_second)?, c.interval_secs, Some(t))
            }
            Kind::LinkedIn => {
                let c = &config.linkedin;
                let t = token(&c.token, &c.token_file, &c.token_env, kind)?;
                let client = http(c.requests_per_second)?
                    .with_bearer(Some(t))
                    .with_header("LinkedIn-Version", &c.api_version)
                    .with_header("X-Restli-Protocol-Version", "2.0.0");
                (client, c.interval_secs, None)
            }
            Kind::Ecb => (http(1.0)?, config.ecb.interval_secs, None),
        };
        Ok(Connector { kind, http, interval: Duration::from_secs(interval.max(1)), query_token })
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The time between passes.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// One pass from the cursor in `store`. `today` bounds the ad connectors' settled days;
    /// `reporting` is the currency the rates are published against.
    pub async fn pass(
        &self,
        config: &ConnectorsConfig,
        reporting: Currency,
        today: Date,
        store: &CursorStore,
        sink: &mut Sink,
    ) -> Result<PassReport, ConnectorError> {
        let http = &self.http;
        match self.kind {
            Kind::HubSpot => hubspot::pass(&config.hubspot, http, store, sink).await,
            Kind::Salesforce => salesforce::pass(&config.salesforce, http, store, sink).await,
            Kind::Meta => {
                let token = self.query_token.as_deref().unwrap_or_default();
                ads::meta_pass(&config.meta, token, today, http, store, sink).await
            }
            Kind::LinkedIn => ads::linkedin_pass(&config.linkedin, today, http, store, sink).await,
            Kind::Ecb => ecb::pass(&config.ecb, reporting, http, store, sink).await,
        }
    }
}
