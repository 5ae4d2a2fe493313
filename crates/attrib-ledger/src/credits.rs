//! The credits ledger: one row per (conversion, conversion version, model, touch).

use crate::fit::DataDrivenFits;
use crate::fx::{FxStatus, FxTable, ReportedAmount as Reported, ReportingConfig};
use attrib_contract::{ActorType, Currency, Date, Name, Platform, Timestamp};
use attrib_journeys::{Channel, Conversion, ConversionType, Journey, JourneyConfig, Touch, TouchSource};
use attrib_models::{allocate, ConversionFacts, MarkovParams, Model, RuleModel, RuleParams, TouchFacts, Weights};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The synthetic channel of conversions with no touch in their window.
pub const UNATTRIBUTED: &str = "(unattributed)";

/// One credit of the ledger, as written to `credits.csv` and ClickHouse. Values keep their
/// types; they become text only where they leave the process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreditRow {
    pub conversion_id: Name,
    pub conversion_version: i64,
    pub conversion_type: ConversionType,
    pub model: Model,
    pub model_version: Name,
    pub person_id: Name,
    /// Empty for `(unattributed)`.
    pub touch_event_id: Name,
    /// None for `(unattributed)`.
    pub touch_source: Option<TouchSource>,
    /// None for `(unattributed)`.
    pub touch_time: Option<Timestamp>,
    /// The touch's channel; None for a conversion without touches (`(unattributed)`).
    #[serde(with = "unattributed_channel")]
    pub channel: Option<Channel>,
    pub platform: Option<Platform>,
    pub campaign_id: Name,
    pub post_id: Name,
    pub ad_id: Name,
    pub actor_type: Option<ActorType>,
    /// The model weight, 0..=1.
    pub weight: f64,
    pub credit_minor: i64,
    /// None for leads and signups (no revenue).
    pub currency: Option<Currency>,
    pub conversion_time: Timestamp,
    /// The credit in the reporting currency (the conversion's reporting revenue allocated with
    /// the same weights, so it too sums exactly); None when the rate is missing.
    pub credit_reporting_minor: Option<i64>,
    pub reporting_currency: Currency,
}

/// A credit's channel as text: its name, or `(unattributed)` for none.
pub mod unattributed_channel {
    use super::UNATTRIBUTED;
    use attrib_journeys::Channel;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn name(c: Option<Channel>) -> &'static str {
        c.map_or(UNATTRIBUTED, Channel::as_str)
    }

    pub fn parse(s: &str) -> Option<Option<Channel>> {
        if s == UNATTRIBUTED {
            Some(None)
        } else {
            Channel::parse(s).map(Some)
        }
    }

    pub fn serialize<S: Serializer>(c: &Option<Channel>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(name(*c))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Channel>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        parse(&s).ok_or_else(|| D::Error::custom(format!("unknown channel {s:?}")))
    }
}

/// Every column, the weight by its bits (a written row's content fingerprint).
impl std::hash::Hash for CreditRow {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let CreditRow {
            conversion_id,
            conversion_version,
            conversion_type,
            model,
            model_version,
            person_id,
            touch_event_id,
            touch_source,
            touch_time,
            channel,
            platform,
            campaign_id,
            post_id,
            ad_id,
            actor_type,
            weight,
            credit_minor,
            currency,
            conversion_time,
            credit_reporting_minor,
            reporting_currency,
        } = self;
        (conversion_id, conversion_version, conversion_type, model, model_version, person_id).hash(h);
        (touch_event_id, touch_source, touch_time, channel, platform, campaign_id, post_id, ad_id).hash(h);
        (actor_type, weight.to_bits(), credit_minor, currency, conversion_time).hash(h);
        (credit_reporting_minor, reporting_currency).hash(h);
    }
}

impl CreditRow {
    /// The ledger's canonical order: conversion, model (by name), then touch (time, id).
    pub fn order_key(&self) -> (&str, &str, Option<Timestamp>, &str) {
        (&self.conversion_id, self.model.as_str(), self.touch_time, &self.touch_event_id)
    }

    /// The channel's name, `(unattributed)` for none.
    pub fn channel_name(&self) -> &'static str {
        unattributed_channel::name(self.channel)
    }
}

/// Sorts rows into the ledger's canonical order (see `CreditRow::order_key`).
pub fn sort_ledger(rows: &mut [CreditRow]) {
    rows.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
}

/// One conversion in its current version, as written to `conversions.csv`; its values keep
/// their types until they are written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConversionRow {
    pub conversion_id: Name,
    pub conversion_version: i64,
    pub conversion_type: ConversionType,
    pub person_id: Name,
    pub conversion_time: Timestamp,
    pub revenue_minor: i64,
    /// None for leads and signups (no revenue).
    pub currency: Option<Currency>,
    /// Touches inside the lookback window.
    pub touches: usize,
    /// The first touch in the window; None without touches.
    pub first_touch_time: Option<Timestamp>,
    /// Seconds from the first touch in the window to the conversion; None without touches.
    pub seconds_to_convert: Option<i64>,
    pub source_event_id: Name,
    pub reporting_currency: Currency,
    /// Revenue in the reporting currency at the rate of the conversion's (UTC) date; None
    /// when that rate is missing (`fx_status` = `missing_rate`).
    pub revenue_reporting_minor: Option<i64>,
    pub fx_status: FxStatus,
    /// The date of the rate used; None unless converted.
    pub fx_date: Option<Date>,
    /// The channels of the touches in the window, oldest first, as ChannelAttribution writes
    /// a path (`linkedin > direct > organic_search`); empty without touches.
    #[serde(default)]
    pub path: Name,
}

/// The separator of the channels in a conversion's path.
pub const PATH_SEPARATOR: &str = " > ";

/// Which models run and with which parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributionConfig {
    pub models: Vec<Model>,
    pub params: RuleParams,
    pub markov: MarkovParams,
    pub journeys: JourneyConfig,
    pub reporting: ReportingConfig,
}

impl Default for AttributionConfig {
    fn default() -> Self {
        AttributionConfig {
            models: Model::ALL.to_vec(),
            params: RuleParams::default(),
            markov: MarkovParams::default(),
            journeys: JourneyConfig::default(),
            reporting: ReportingConfig::default(),
        }
    }
}

impl AttributionConfig {
    /// A short, stable tag of a rule model and the parameters it uses, recorded on every row.
    /// (Data-driven models are tagged by their fit instead.)
    pub fn model_version(&self, model: RuleModel) -> String {
        let p = &self.params;
        let lb = &self.journeys.lookback_days;
        let tuned = match model {
            RuleModel::TimeDecay => format!("hl={}", p.half_life_secs),
            RuleModel::PositionBased => format!("u={}/{}", p.position_first, p.position_last),
            RuleModel::WShaped => format!("w={}", p.w_role),
            RuleModel::FullPath => format!("z={}", p.z_role),
            _ => String::new(),
        };
        let vt = self.journeys.view_through;
        let text = format!("{model};{tuned};lb={}/{}/{}/{};vt={vt}", lb.order, lb.signup, lb.lead, lb.deal);
        format!("rules-{:012x}", fnv1a(text.as_bytes()) & 0xffff_ffff_ffff)
    }
}

/// FNV-1a, 64-bit: a stable, dependency-free fingerprint for version tags.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// What attributing one journey produced.
#[derive(Debug, Default)]
pub struct JourneyCredits {
    pub credits: Vec<CreditRow>,
    pub conversions: Vec<ConversionRow>,
    /// Pipeline influenced: the open deals' amounts credited to the touches before each deal
    /// was created (deal window), one row per (deal, version, model, touch) like `credits`;
    /// `conversion_time` holds the deal's `created_at`.
    pub pipeline: Vec<CreditRow>,
    pub counts: FitCounts,
}

/// What the fit reports count about the conversions credited, per (model, conversion type).
#[derive(Debug, Default)]
pub struct FitCounts {
    /// Conversions credited by last touch because every weight was 0.
    pub fallbacks: BTreeMap<(Model, ConversionType), u64>,
    /// Shapley: conversions with more distinct channels than one game takes.
    pub truncated: BTreeMap<(Model, ConversionType), u64>,
}

/// Ledger rows, conversion rows and pipeline rows of one journey, for every configured model.
/// `versions` holds each model's version tag per conversion type.
pub fn attribute_journey(
    journey: &Journey<'_>,
    config: &AttributionConfig,
    fits: &DataDrivenFits,
    versions: &ModelVersions,
    fx: &FxTable,
) -> JourneyCredits {
    let mut out = JourneyCredits::default();
    for conversion in &journey.conversions {
        let touches = journey.touches_for(conversion, config.journeys.lookback_days.window(conversion.kind));
        let reported =
            fx.report(conversion.revenue_minor, conversion.currency, conversion.time.date(), &config.reporting);
        out.conversions.push(conversion_row(journey.person, conversion, touches, &reported, &config.reporting));
        let amounts =
            Amounts { revenue: conversion.revenue_minor, reported: reported.minor, reporting: &config.reporting };
        let rows = Credited { journey, conversion, touches, amounts: &amounts };
        rows.push_models(config, fits, versions, &mut out.credits, Some(&mut out.counts));
    }
    for deal in &journey.open_deals {
        let touches = journey.touches_for(deal, config.journeys.lookback_days.window(deal.kind));
        let reported = fx.report(deal.revenue_minor, deal.currency, deal.time.date(), &config.reporting);
        let amounts = Amounts { revenue: deal.revenue_minor, reported: reported.minor, reporting: &config.reporting };
        let rows = Credited { journey, conversion: deal, touches, amounts: &amounts };
        // Fallback counts describe conversions only.
        rows.push_models(config, fits, versions, &mut out.pipeline, None);
    }
    out
}

/// One conversion (or open deal) about to be credited under every model.
struct Credited<'j, 'a> {
    journey: &'j Journey<'a>,
    conversion: &'j Conversion<'a>,
    touches: &'j [Touch<'a>],
    amounts: &'j Amounts<'j>,
}

impl Credited<'_, '_> {
    /// `counts`: where fallbacks and truncations are counted (None: not counted).
    fn push_models(
        &self,
        config: &AttributionConfig,
        fits: &DataDrivenFits,
        versions: &ModelVersions,
        out: &mut Vec<CreditRow>,
        mut counts: Option<&mut FitCounts>,
    ) {
        let kind = self.conversion.kind;
        let names = CreditNames::of(self.journey.person, self.conversion, self.touches);
        for (i, model) in config.models.iter().enumerate() {
            let version = versions.get(i, kind);
            let weights = if self.touches.is_empty() {
                None
            } else {
                let w = model_weights(*model, self.journey, self.conversion, self.touches, config, fits);
                if let Some(c) = counts.as_deref_mut() {
                    if w.fell_back {
                        *c.fallbacks.entry((*model, kind)).or_default() += 1;
                    }
                    if w.truncated {
                        *c.truncated.entry((*model, kind)).or_default() += 1;
                    }
                }
                Some(w.weights)
            };
            push_rows(self.conversion, self.touches, &names, (*model, version), weights.as_ref(), self.amounts, out);
        }
    }
}

/// The version tag of each configured model for each conversion type: its parameters for a
/// rule (the same for every type), the fit of that type for a data-driven model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelVersions {
    /// In `config.models` order; per model, in `ConversionType::ALL` order.
    tags: Vec<[Name; 4]>,
}

impl ModelVersions {
    /// Number of models tagged.
    pub fn models(&self) -> usize {
        self.tags.len()
    }

    /// The tag of the `index`-th configured model for conversions of `kind`.
    pub fn get(&self, index: usize, kind: ConversionType) -> &Name {
        static UNTAGGED: std::sync::OnceLock<Name> = std::sync::OnceLock::new();
        let k = ConversionType::ALL.iter().position(|x| *x == kind).unwrap_or(0);
        self.tags.get(index).map_or_else(|| UNTAGGED.get_or_init(Name::default), |t| &t[k])
    }
}

pub fn model_versions(config: &AttributionConfig, fits: &DataDrivenFits) -> ModelVersions {
    let tags = config
        .models
        .iter()
        .map(|m| {
            ConversionType::ALL.map(|kind| match m {
                Model::Rule(r) => Name::from(config.model_version(*r)),
                other => fits.get(*other, kind).map(|f| Name::new(&f.version)).unwrap_or_default(),
            })
        })
        .collect();
    ModelVersions { tags }
}

/// A model's weights for one conversion, and what the fit report counts about them.
struct ModelWeights {
    weights: Weights,
    /// Every weight was 0: the conversion went to its last touch.
    fell_back: bool,
    /// Shapley left players out (more distinct channels than one game takes).
    truncated: bool,
}

/// Weights of a model for the touches of one conversion.
fn model_weights(
    model: Model,
    journey: &Journey<'_>,
    conversion: &Conversion<'_>,
    touches: &[Touch<'_>],
    config: &AttributionConfig,
    fits: &DataDrivenFits,
) -> ModelWeights {
    match model {
        Model::Rule(rule) => {
            let facts: Vec<TouchFacts> = touches
                .iter()
                .map(|t| TouchFacts { time: t.time, direct: t.channel == attrib_journeys::Channel::Direct })
                .collect();
            let conv = ConversionFacts {
                time: conversion.time,
                first_lead: journey.first_lead,
                deal_created_at: if conversion.kind == ConversionType::Deal {
                    conversion.deal_created_at
                } else {
                    None
                },
            };
            ModelWeights { weights: rule.weights(&facts, &conv, &config.params), fell_back: false, truncated: false }
        }
        data_driven => {
            // Each conversion type has its own fit (a free signup never weighs like a deal).
            let channels: Vec<&str> = touches.iter().map(|t| t.channel.as_str()).collect();
            let (values, truncated) = match fits.get(data_driven, conversion.kind) {
                Some(f) => f.touch_weights(&channels),
                None => (vec![0.0; touches.len()], false),
            };
            let w = Weights::from_f64(&values);
            if w.is_zero() {
                ModelWeights { weights: Weights::one_hot(touches.len(), touches.len() - 1), fell_back: true, truncated }
            } else {
                ModelWeights { weights: w, fell_back: false, truncated }
            }
        }
    }
}

fn conversion_row(
    person: &str,
    c: &Conversion<'_>,
    touches: &[Touch<'_>],
    reported: &Reported,
    reporting: &ReportingConfig,
) -> ConversionRow {
    let first = touches.first().map(|t| t.time);
    ConversionRow {
        conversion_id: Name::new(&c.id),
        conversion_version: c.version,
        conversion_type: c.kind,
        person_id: Name::new(person),
        conversion_time: c.time,
        revenue_minor: c.revenue_minor,
        currency: c.currency,
        touches: touches.len(),
        first_touch_time: first,
        seconds_to_convert: first.map(|t| c.time.since(t).as_nanos().div_euclid(1_000_000_000) as i64),
        source_event_id: Name::new(c.source_event_id),
        reporting_currency: reporting.currency,
        revenue_reporting_minor: reported.minor,
        fx_status: reported.status,
        fx_date: reported.fx_date,
        path: path_of(touches),
    }
}

fn path_of(touches: &[Touch<'_>]) -> Name {
    let mut path = String::with_capacity(touches.len() * 12);
    for (i, t) in touches.iter().enumerate() {
        if i > 0 {
            path.push_str(PATH_SEPARATOR);
        }
        path.push_str(t.channel.as_str());
    }
    Name::new(&path)
}

/// The money one conversion's credits split: in its own currency and in the reporting one.
struct Amounts<'a> {
    revenue: i64,
    reported: Option<i64>,
    reporting: &'a ReportingConfig,
}

/// The ids of one conversion's credit rows, made once and shared by the rows of every model.
struct CreditNames {
    conversion_id: Name,
    person_id: Name,
    touches: Vec<TouchNames>,
}

struct TouchNames {
    event_id: Name,
    campaign_id: Name,
    post_id: Name,
    ad_id: Name,
}

impl CreditNames {
    fn of(person: &str, conversion: &Conversion<'_>, touches: &[Touch<'_>]) -> CreditNames {
        let touches = touches
            .iter()
            .map(|t| TouchNames {
                event_id: Name::new(t.event_id),
                campaign_id: Name::or_empty(t.campaign_id),
                post_id: Name::or_empty(t.post_id),
                ad_id: Name::or_empty(t.ad_id),
            })
            .collect();
        CreditNames { conversion_id: Name::new(&conversion.id), person_id: Name::new(person), touches }
    }
}

/// Appends the rows of one conversion under one model: one per touch, or one
/// `(unattributed)` row when the conversion has no touch (`weights` is None).
fn push_rows(
    conversion: &Conversion<'_>,
    touches: &[Touch<'_>],
    names: &CreditNames,
    (model, model_version): (Model, &Name),
    weights: Option<&Weights>,
    amounts: &Amounts<'_>,
    out: &mut Vec<CreditRow>,
) {
    let base = CreditRow {
        conversion_id: names.conversion_id.clone(),
        conversion_version: conversion.version,
        conversion_type: conversion.kind,
        model,
        model_version: model_version.clone(),
        person_id: names.person_id.clone(),
        touch_event_id: Name::default(),
        touch_source: None,
        touch_time: None,
        channel: None,
        platform: None,
        campaign_id: Name::default(),
        post_id: Name::default(),
        ad_id: Name::default(),
        actor_type: None,
        weight: 1.0,
        credit_minor: amounts.revenue,
        currency: conversion.currency,
        conversion_time: conversion.time,
        credit_reporting_minor: amounts.reported,
        reporting_currency: amounts.reporting.currency,
    };
    let Some(weights) = weights else {
        out.push(base);
        return;
    };
    let money = allocate(amounts.revenue, weights);
    let mut reported = amounts.reported.map(|r| allocate(r, weights).into_iter());
    for (((t, names), w), credit) in touches.iter().zip(&names.touches).zip(weights.fractions()).zip(money) {
        let credit_reporting_minor = reported.as_mut().and_then(Iterator::next);
        out.push(CreditRow {
            touch_event_id: names.event_id.clone(),
            touch_source: Some(t.source),
            touch_time: Some(t.time),
            channel: Some(t.channel),
            platform: t.platform(),
            campaign_id: names.campaign_id.clone(),
            post_id: names.post_id.clone(),
            ad_id: names.ad_id.clone(),
            actor_type: t.actor_type,
            weight: w,
            credit_minor: credit,
            credit_reporting_minor,
            ..base.clone()
        });
    }
}
