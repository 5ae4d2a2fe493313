//! KPI summaries over the ledger: attributed revenue and conversions by channel,
//! engagement next to revenue by post, and the reconciliation of credits to revenue.

use crate::credits::{ConversionRow, CreditRow};
use crate::spend::SpendRow;
use crate::totals::{currency_text, KpiCells, LedgerTotals};
use attrib_contract::{comparable, ActorType, Date, InteractionKind, Name, Platform};
use attrib_journeys::{SocialActivity, Sym, Symbols};
use hashbrown::HashMap;
use serde::{Deserialize, Serialize};
use std::hash::Hash;

/// One valid social interaction (identified or not), as counted for engagement and written
/// to the `social_engagement` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngagementRow {
    pub event_id: String,
    /// UTC date of the interaction, YYYY-MM-DD.
    pub date: String,
    pub occurred_at: String,
    pub platform: String,
    pub account_id: String,
    pub actor_type: String,
    pub campaign_id: String,
    pub post_id: String,
    pub ad_id: String,
    pub interaction: String,
}

impl EngagementRow {
    /// The row of an interaction the store holds as an interned activity.
    pub fn of(a: &SocialActivity, names: &Symbols) -> EngagementRow {
        let name = |s: Option<Sym>| s.map(|s| names.resolve(s).to_string()).unwrap_or_default();
        EngagementRow {
            event_id: names.resolve(a.event).to_string(),
            date: a.time.date().to_string(),
            occurred_at: a.time.to_string(),
            platform: a.platform.as_str().to_string(),
            account_id: names.resolve(a.account).to_string(),
            actor_type: a.actor.as_str().to_string(),
            campaign_id: name(a.campaign),
            post_id: names.resolve(a.post).to_string(),
            ad_id: name(a.ad),
            interaction: a.interaction.as_str().to_string(),
        }
    }
}

/// Interactions of one kind counted per day and content: the engagement side of the fact
/// table, so the whole history of interactions is never materialised as rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngagementCount {
    pub day: Date,
    pub platform: Platform,
    pub campaign_id: String,
    pub post_id: String,
    pub ad_id: String,
    pub actor_type: ActorType,
    pub interaction: InteractionKind,
    pub count: u64,
}

/// Counts activities by day, platform, campaign, post, ad, actor type and interaction kind.
pub fn engagement_counts(activities: &[SocialActivity], names: &Symbols) -> Vec<EngagementCount> {
    type Key = (Date, Platform, Option<Sym>, Sym, Option<Sym>, ActorType, InteractionKind);
    let mut acc: HashMap<Key, u64> = HashMap::new();
    for a in activities {
        *acc.entry((a.time.date(), a.platform, a.campaign, a.post, a.ad, a.actor, a.interaction)).or_default() += 1;
    }
    let name = |s: Option<Sym>| s.map(|s| names.resolve(s).to_string()).unwrap_or_default();
    acc.into_iter()
        .map(|((day, platform, campaign, post, ad, actor_type, interaction), count)| EngagementCount {
            day,
            platform,
            campaign_id: name(campaign),
            post_id: names.resolve(post).to_string(),
            ad_id: name(ad),
            actor_type,
            interaction,
            count,
        })
        .collect()
}

/// Attributed revenue and conversions of one model, channel, conversion type and currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelKpi {
    pub model: String,
    pub channel: String,
    pub conversion_type: String,
    pub currency: String,
    pub attributed_revenue_minor: i64,
    /// Fractional: the sum of model weights.
    pub attributed_conversions: f64,
}

/// Sums the ledger by model, channel, conversion type and currency.
pub fn channel_kpis(credits: &[CreditRow]) -> Vec<ChannelKpi> {
    LedgerTotals::of(&[], credits, &[]).channel_kpis()
}

/// Revenue of one conversion type and currency against the credits of one model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reconciliation {
    pub conversion_type: String,
    pub currency: String,
    pub model: String,
    pub conversions: u64,
    pub revenue_minor: i64,
    pub credited_minor: i64,
    /// `credited − revenue`; must be 0.
    pub difference_minor: i64,
}

/// Checks, per conversion type, currency and model, that the credits sum to the revenue.
pub fn reconcile(ledger_conversions: &[ConversionRow], credits: &[CreditRow], models: &[&str]) -> Vec<Reconciliation> {
    LedgerTotals::of(ledger_conversions, credits, &[]).reconciliation(models)
}

/// The `KpiFact` counter of an interaction kind, borrowed as `$($borrow)*`.
macro_rules! interaction_field {
    ($fact:expr, $kind:expr, $($borrow:tt)*) => {
        match $kind {
            InteractionKind::Impression => $($borrow)* $fact.impressions,
            InteractionKind::View => $($borrow)* $fact.views,
            InteractionKind::Like => $($borrow)* $fact.likes,
            InteractionKind::Comment => $($borrow)* $fact.comments,
            InteractionKind::Share => $($borrow)* $fact.shares,
            InteractionKind::Save => $($borrow)* $fact.saves,
            InteractionKind::Follow => $($borrow)* $fact.follows,
            InteractionKind::Click => $($borrow)* $fact.clicks,
            InteractionKind::LinkClick => $($borrow)* $fact.link_clicks,
            InteractionKind::Message => $($borrow)* $fact.messages,
            InteractionKind::Mention => $($borrow)* $fact.mentions,
        }
    };
}

/// One cell of the KPI fact table: attributed revenue, conversions, leads, pipeline, spend and
/// engagement by day, model and every dimension dashboards slice by. Spend and engagement sit
/// on rows of their own (empty conversion type), repeated for each model so a model filter
/// keeps them. Money in the reporting currency.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KpiFact {
    /// The conversion's UTC date for credits, the deal's creation date for pipeline, the
    /// spend's or the interaction's date otherwise.
    pub day: Name,
    pub model: Name,
    pub platform: Name,
    pub channel: Name,
    pub campaign_id: Name,
    pub post_id: Name,
    pub ad_id: Name,
    pub actor_type: Name,
    /// Empty on spend and engagement rows.
    pub conversion_type: Name,
    pub reporting_currency: Name,
    pub attributed_revenue_minor: i64,
    /// Σ weights of orders and deals.
    pub attributed_conversions: f64,
    /// Σ weights of leads.
    pub leads: f64,
    /// Open deals' amounts credited to the touches before their creation.
    pub pipeline_minor: i64,
    /// Σ weights of open deals.
    pub pipeline_deals: f64,
    pub spend_minor: i64,
    pub impressions: u64,
    pub views: u64,
    pub likes: u64,
    pub comments: u64,
    pub shares: u64,
    pub saves: u64,
    pub follows: u64,
    pub clicks: u64,
    pub link_clicks: u64,
    pub messages: u64,
    pub mentions: u64,
    /// Credit, pipeline or spend rows left out of the money columns for want of an exchange rate.
    pub missing_fx_rows: u64,
}

impl KpiFact {
    /// A fact with the given dimensions and no measures yet, their text shared through `names`.
    fn with_dimensions<'a>(k: BorrowedKey<'a>, names: &mut SharedNames<'a>) -> KpiFact {
        let mut own = |i: usize| names.name(k[i]);
        KpiFact {
            day: own(0),
            model: own(1),
            platform: own(2),
            channel: own(3),
            campaign_id: own(4),
            post_id: own(5),
            ad_id: own(6),
            actor_type: own(7),
            conversion_type: own(8),
            ..KpiFact::default()
        }
    }

    /// The counter of one interaction kind.
    fn interactions_mut(&mut self, kind: InteractionKind) -> &mut u64 {
        interaction_field!(self, kind, &mut)
    }

    pub fn interactions(&self, kind: InteractionKind) -> u64 {
        *interaction_field!(self, kind, &)
    }

    /// Notes the reporting currency of a money row (the greatest, should runs ever mix them).
    fn priced_in(&mut self, currency: &str) {
        if currency > self.reporting_currency.as_str() {
            self.reporting_currency = Name::new(currency);
        }
    }

    /// Adds the measures of `other` (same dimensions or a roll-up of them).
    pub fn add(&mut self, o: &KpiFact) {
        self.priced_in(&o.reporting_currency);
        self.attributed_revenue_minor += o.attributed_revenue_minor;
        self.attributed_conversions += o.attributed_conversions;
        self.leads += o.leads;
        self.pipeline_minor += o.pipeline_minor;
        self.pipeline_deals += o.pipeline_deals;
        self.spend_minor += o.spend_minor;
        for kind in InteractionKind::ALL {
            let n = o.interactions(*kind);
            *self.interactions_mut(*kind) += n;
        }
        self.missing_fx_rows += o.missing_fx_rows;
    }
}

/// What the KPI fact table is built from.
#[derive(Debug, Clone, Copy)]
pub struct KpiInputs<'a> {
    /// Credits and pipeline, summed per cell.
    pub cells: &'a KpiCells,
    pub spend: &'a [SpendRow],
    pub engagement: &'a [EngagementCount],
    /// The configured models: spend and engagement rows are repeated for each.
    pub models: &'a [&'a str],
}

/// A fact's dimensions (day, model, platform, channel, campaign, post, ad, actor type,
/// conversion type), borrowed from the rows being summed: the maps hold no string of their
/// own until the table is built.
type BorrowedKey<'a> = [&'a str; 9];

/// A key whose empty parts compare fast (see [`EMPTY_TEXT`](attrib_contract::EMPTY_TEXT)):
/// the fact table sorts and sums on keys that are mostly empty.
fn comparable_key(parts: BorrowedKey<'_>) -> BorrowedKey<'_> {
    parts.map(comparable)
}

/// A spend or engagement row's dimensions before the model: day, platform, campaign, post,
/// ad, actor type.
type ActivityKey<'a> = [&'a str; 6];

/// The key of a spend or engagement row under `model` (channel = platform, no conversion type).
fn activity_key<'a>(
    day: &'a str,
    model: &'a str,
    platform: &'a str,
    campaign: &'a str,
    post: &'a str,
    ad: &'a str,
    actor: &'a str,
) -> BorrowedKey<'a> {
    comparable_key([day, model, platform, platform, campaign, post, ad, actor, ""])
}

/// The measures of one fact-table cell while it is summed (`KpiFact` without its dimensions).
#[derive(Debug, Default, Clone)]
struct Cell<'a> {
    reporting_currency: &'a str,
    attributed_revenue_minor: i64,
    attributed_conversions: f64,
    leads: f64,
    pipeline_minor: i64,
    pipeline_deals: f64,
    spend_minor: i64,
    interactions: [u64; InteractionKind::ALL.len()],
    missing_fx_rows: u64,
}

impl<'a> Cell<'a> {
    /// Notes the reporting currency of a money row (the greatest, should runs ever mix them).
    fn priced_in(&mut self, currency: &'a str) {
        self.reporting_currency = self.reporting_currency.max(currency);
    }
}

/// One `Name` per distinct dimension value: a fact table of many rows holds each text once.
#[derive(Default)]
struct SharedNames<'a>(HashMap<&'a str, Name>);

impl<'a> SharedNames<'a> {
    fn name(&mut self, s: &'a str) -> Name {
        self.0.entry(comparable(s)).or_insert_with(|| Name::new(s)).clone()
    }
}

/// The KPI fact table, ordered by its dimensions.
pub fn kpi_facts(input: &KpiInputs<'_>) -> Vec<KpiFact> {
    // Declared before the maps that borrow them.
    let days: Vec<String> = input.engagement.iter().map(|e| e.day.to_string()).collect();
    let credit_days: HashMap<Date, String> = input.cells.cells.keys().map(|k| (k.day, k.day.to_string())).collect();
    // Spend and engagement rows count the same under every model: summed once per key
    // without the model, then repeated for each model below.
    let mut acc: HashMap<ActivityKey<'_>, Cell<'_>> = HashMap::new();
    for s in input.spend {
        let key = [&*s.date, &s.platform, &s.campaign_id, &s.post_id, &s.ad_id, &s.actor_type].map(comparable);
        let f = acc.entry(key).or_default();
        f.priced_in(&s.reporting_currency);
        match s.spend_reporting_minor {
            Some(v) => f.spend_minor += v,
            None => f.missing_fx_rows += 1,
        }
    }
    for (e, day) in input.engagement.iter().zip(&days) {
        let key =
            [&**day, e.platform.as_str(), &e.campaign_id, &e.post_id, &e.ad_id, e.actor_type.as_str()].map(comparable);
        let kind = InteractionKind::ALL.iter().position(|k| *k == e.interaction).unwrap_or_default();
        acc.entry(key).or_default().interactions[kind] += e.count;
    }
    let activity_cells = acc.into_iter().flat_map(|(k, c)| {
        input.models.iter().map(move |m| (activity_key(k[0], m, k[1], k[2], k[3], k[4], k[5]), c.clone()))
    });
    // Credit cells never share a key with spend or engagement (those have no conversion type).
    let credit_cells = input.cells.cells.iter().map(|(k, c)| {
        let key = comparable_key([
            credit_days.get(&k.day).map_or("", String::as_str),
            k.model.as_str(),
            k.platform.map_or("", Platform::as_str),
            crate::unattributed_channel::name(k.channel),
            &k.campaign_id,
            &k.post_id,
            &k.ad_id,
            k.actor_type.map_or("", ActorType::as_str),
            k.conversion_type.as_str(),
        ]);
        let cell = Cell {
            reporting_currency: currency_text(&c.reporting_currency),
            attributed_revenue_minor: c.attributed_revenue_minor,
            attributed_conversions: c.attributed_conversions.value(),
            leads: c.leads.value(),
            pipeline_minor: c.pipeline_minor,
            pipeline_deals: c.pipeline_deals.value(),
            missing_fx_rows: c.missing_fx_rows,
            ..Cell::default()
        };
        (key, cell)
    });
    let mut cells: Vec<(BorrowedKey<'_>, Cell<'_>)> = activity_cells.chain(credit_cells).collect();
    let mut names = SharedNames::default();
    cells.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    cells
        .into_iter()
        .map(|(k, c)| {
            let mut fact = KpiFact {
                reporting_currency: names.name(c.reporting_currency),
                attributed_revenue_minor: c.attributed_revenue_minor,
                attributed_conversions: c.attributed_conversions,
                leads: c.leads,
                pipeline_minor: c.pipeline_minor,
                pipeline_deals: c.pipeline_deals,
                spend_minor: c.spend_minor,
                missing_fx_rows: c.missing_fx_rows,
                ..KpiFact::with_dimensions(k, &mut names)
            };
            for (kind, n) in InteractionKind::ALL.iter().zip(c.interactions) {
                *fact.interactions_mut(*kind) = n;
            }
            fact
        })
        .collect()
}

/// Engagement next to attributed revenue, per model, platform, post and actor type.
pub fn post_kpis(facts: &[KpiFact]) -> Vec<KpiFact> {
    rollup(facts.iter().filter(|f| !f.post_id.is_empty()), |f| {
        comparable_key(["", &f.model, &f.platform, "", "", &f.post_id, "", &f.actor_type, ""])
    })
}

/// Sums facts under a coarser key (dimensions left empty in the key are summed over).
pub fn rollup<'a>(
    facts: impl Iterator<Item = &'a KpiFact>,
    key: impl Fn(&'a KpiFact) -> BorrowedKey<'a>,
) -> Vec<KpiFact> {
    sum_by(facts, key)
        .into_iter()
        .map(|(k, sums)| {
            let mut f = KpiFact::with_dimensions(k, &mut SharedNames::default());
            f.add(&sums);
            f
        })
        .collect()
}

/// The measures of `facts` summed per key of any kind, in key order (dimensions left empty).
/// Each key's facts are added in input order, so float sums do not depend on the map.
pub fn sum_by<'a, K: Ord + Hash>(
    facts: impl Iterator<Item = &'a KpiFact>,
    key: impl Fn(&'a KpiFact) -> K,
) -> Vec<(K, KpiFact)> {
    let mut acc: HashMap<K, KpiFact> = HashMap::new();
    for f in facts {
        acc.entry(key(f)).or_default().add(f);
    }
    let mut sums: Vec<(K, KpiFact)> = acc.into_iter().collect();
    sums.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    sums
}

/// Revenue against spend for one model, platform and campaign. Ratios are ratios of sums.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CampaignKpi {
    pub model: String,
    pub platform: String,
    pub campaign_id: String,
    pub reporting_currency: String,
    pub attributed_revenue_minor: i64,
    pub attributed_conversions: f64,
    pub leads: f64,
    pub pipeline_minor: i64,
    pub spend_minor: i64,
    /// Σ revenue / Σ spend; empty without spend.
    pub roas: Option<f64>,
    /// Σ spend / Σ conversions (orders and deals), in minor units; empty without conversions.
    pub cpa_minor: Option<f64>,
    /// Σ spend / Σ leads, in minor units; empty without leads.
    pub cost_per_lead_minor: Option<f64>,
    pub missing_fx_rows: u64,
}

/// Σ a / Σ b, or None when Σ b is 0.
pub fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    (denominator != 0.0).then(|| numerator / denominator)
}

/// Rolls the fact table up to campaigns (spend with no revenue still shows).
pub fn campaign_kpis(facts: &[KpiFact]) -> Vec<CampaignKpi> {
    let sums =
        rollup(facts.iter(), |f| comparable_key(["", &f.model, &f.platform, "", &f.campaign_id, "", "", "", ""]));
    sums.into_iter()
        .map(|k| {
            let spend = k.spend_minor as f64;
            CampaignKpi {
                roas: ratio(k.attributed_revenue_minor as f64, spend),
                cpa_minor: ratio(spend, k.attributed_conversions),
                cost_per_lead_minor: ratio(spend, k.leads),
                model: k.model.to_string(),
                platform: k.platform.to_string(),
                campaign_id: k.campaign_id.to_string(),
                reporting_currency: k.reporting_currency.to_string(),
                attributed_revenue_minor: k.attributed_revenue_minor,
                attributed_conversions: k.attributed_conversions,
                leads: k.leads,
                pipeline_minor: k.pipeline_minor,
                spend_minor: k.spend_minor,
                missing_fx_rows: k.missing_fx_rows,
            }
        })
        .collect()
}

/// Days from the first touch in the window to the conversion, per conversion type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeToConversion {
    pub conversion_type: String,
    pub conversions: u64,
    /// Conversions with at least one touch in their window (the others have no first touch).
    pub with_touches: u64,
    pub avg_days: Option<f64>,
    /// The middle value (the mean of the two middle values for an even count).
    pub median_days: Option<f64>,
}

/// How many conversions of a type took a given time from first touch to conversion
/// (`kpi_time_to_conversion_buckets`): the distribution behind the mean and median.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeToConversionBucket {
    pub conversion_type: String,
    /// `< 1 day`, `1-2 days`, …, `90+ days`.
    pub bucket: String,
    /// Days from first touch: lower bound included, upper bound excluded (none for the last).
    pub lower_days: u32,
    pub upper_days: Option<u32>,
    pub conversions: u64,
}

/// The buckets' lower bounds in days (the SQL view uses the same).
pub const TIME_BUCKET_DAYS: [u32; 9] = [0, 1, 2, 4, 7, 14, 30, 60, 90];

/// The bucket index of a time to conversion in seconds.
pub(crate) fn time_bucket(seconds: i64) -> usize {
    TIME_BUCKET_DAYS.iter().rposition(|d| seconds >= i64::from(*d) * 86_400).unwrap_or(0)
}

pub(crate) fn time_bucket_label(i: usize) -> String {
    match (TIME_BUCKET_DAYS[i], TIME_BUCKET_DAYS.get(i + 1)) {
        (0, Some(_)) => "< 1 day".to_string(),
        (lo, Some(hi)) => format!("{lo}-{hi} days"),
        (lo, None) => format!("{lo}+ days"),
    }
}

/// Conversions per distinct path of channels (`kpi_paths`): the top conversion paths.
/// Conversions without a touch in their window have no path and are left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathKpi {
    pub conversion_type: String,
    pub path: String,
    pub conversions: u64,
    /// Σ revenue in the reporting currency (conversions missing a rate count 0).
    pub revenue_reporting_minor: i64,
    pub reporting_currency: String,
}

pub fn time_to_conversion(conversions: &[ConversionRow]) -> Vec<TimeToConversion> {
    LedgerTotals::of(conversions, &[], &[]).time_to_conversion()
}

/// One line of the ledger's monthly reconciliation (`kpi_reconciliation`): the revenue of one
/// month (of conversion), conversion type and currency against one model's credits. Currency
/// is the original one, or `reporting:<code>` for the amounts in the reporting currency.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LedgerReconciliationLine {
    pub month: String,
    pub conversion_type: String,
    pub currency: String,
    pub model: String,
    pub revenue_minor: i64,
    pub credited_minor: i64,
    /// `credited − revenue`; must be 0.
    pub difference_minor: i64,
}

/// Orders and deals, per month, type and currency (original and reporting), against every
/// model's credits, as the `kpi_reconciliation` view computes them.
pub fn ledger_reconciliation(conversions: &[ConversionRow], credits: &[CreditRow]) -> Vec<LedgerReconciliationLine> {
    LedgerTotals::of(conversions, credits, &[]).ledger_reconciliation()
}
