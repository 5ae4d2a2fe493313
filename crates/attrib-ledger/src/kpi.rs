//! KPI summaries over the ledger: attributed revenue and conversions by channel,
//! engagement next to revenue by post, and the reconciliation of credits to revenue.

use crate::credits::{ConversionRow, CreditRow};
use crate::spend::SpendRow;
use attrib_contract::{ActorType, InteractionKind, Platform, SocialInteraction};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// The post an interaction was with.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PostKey {
    pub platform: Platform,
    pub post_id: String,
}

/// What is known about a post and how people engaged with it (all valid interactions,
/// identified or not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostStats {
    pub account_id: String,
    pub actor_type: ActorType,
    pub campaign_id: Option<String>,
    /// Count per interaction kind, indexed like `InteractionKind::ALL`.
    pub counts: [u64; InteractionKind::ALL.len()],
}

impl PostStats {
    pub fn count(&self, kind: InteractionKind) -> u64 {
        self.counts[kind as usize]
    }
}

/// Engagement counts per post.
#[derive(Debug, Default)]
pub struct Engagement {
    posts: HashMap<PostKey, PostStats>,
}

impl Engagement {
    /// Registers the post of an interaction (first interaction seen describes it) and returns its key.
    pub fn key_of(&mut self, e: &SocialInteraction) -> PostKey {
        let key = PostKey { platform: e.platform, post_id: e.post_id.clone() };
        self.posts.entry(key.clone()).or_insert_with(|| PostStats {
            account_id: e.account_id.clone(),
            actor_type: e.actor_type,
            campaign_id: e.campaign_id.clone(),
            counts: [0; InteractionKind::ALL.len()],
        });
        key
    }

    pub fn record(&mut self, key: PostKey, kind: InteractionKind) {
        if let Some(p) = self.posts.get_mut(&key) {
            p.counts[kind as usize] += 1;
        }
    }

    pub fn get(&self, platform: Platform, post_id: &str) -> Option<&PostStats> {
        self.posts.get(&PostKey { platform, post_id: post_id.to_string() })
    }

    pub fn posts(&self) -> impl Iterator<Item = (&PostKey, &PostStats)> {
        self.posts.iter()
    }
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
    let mut acc: BTreeMap<(&str, &str, &str, &str), (i64, f64)> = BTreeMap::new();
    for c in credits {
        let e = acc.entry((&c.model, &c.channel, &c.conversion_type, &c.currency)).or_default();
        e.0 += c.credit_minor;
        e.1 += c.weight;
    }
    acc.into_iter()
        .map(|((model, channel, ty, cur), (rev, conv))| ChannelKpi {
            model: model.into(),
            channel: channel.into(),
            conversion_type: ty.into(),
            currency: cur.into(),
            attributed_revenue_minor: rev,
            attributed_conversions: conv,
        })
        .collect()
}

/// Engagement and attributed revenue of one post under one model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PostKpi {
    pub model: String,
    pub platform: String,
    pub post_id: String,
    pub account_id: String,
    pub actor_type: String,
    pub campaign_id: String,
    pub currency: String,
    pub attributed_revenue_minor: i64,
    pub attributed_conversions: f64,
    pub impressions: u64,
    pub views: u64,
    pub likes: u64,
    pub comments: u64,
    pub shares: u64,
    pub saves: u64,
    pub clicks: u64,
    pub link_clicks: u64,
}

/// Attributed revenue per post and model, next to the post's engagement counts.
/// Posts with engagement but no revenue appear under every model with zero revenue.
pub fn post_kpis(credits: &[CreditRow], engagement: &Engagement, models: &[&str]) -> Vec<PostKpi> {
    let mut acc: BTreeMap<(String, String, String, String), (i64, f64)> = BTreeMap::new();
    for c in credits.iter().filter(|c| !c.post_id.is_empty()) {
        let e = acc.entry((c.model.clone(), c.platform.clone(), c.post_id.clone(), c.currency.clone())).or_default();
        e.0 += c.credit_minor;
        e.1 += c.weight;
    }
    let credited: std::collections::HashSet<(String, String, String)> =
        acc.keys().map(|(m, p, id, _)| (m.clone(), p.clone(), id.clone())).collect();
    for (key, _) in engagement.posts() {
        for m in models {
            let k = (m.to_string(), key.platform.to_string(), key.post_id.clone());
            if !credited.contains(&k) {
                acc.insert((k.0, k.1, k.2, String::new()), (0, 0.0));
            }
        }
    }
    acc.into_iter()
        .map(|((model, platform, post_id, currency), (rev, conv))| {
            let stats = Platform::parse(&platform).and_then(|p| engagement.get(p, &post_id));
            let n = |k| stats.map_or(0, |s| s.count(k));
            PostKpi {
                model,
                account_id: stats.map(|s| s.account_id.clone()).unwrap_or_default(),
                actor_type: stats.map(|s| s.actor_type.to_string()).unwrap_or_default(),
                campaign_id: stats.and_then(|s| s.campaign_id.clone()).unwrap_or_default(),
                platform,
                post_id,
                currency,
                attributed_revenue_minor: rev,
                attributed_conversions: conv,
                impressions: n(InteractionKind::Impression),
                views: n(InteractionKind::View),
                likes: n(InteractionKind::Like),
                comments: n(InteractionKind::Comment),
                shares: n(InteractionKind::Share),
                saves: n(InteractionKind::Save),
                clicks: n(InteractionKind::Click),
                link_clicks: n(InteractionKind::LinkClick),
            }
        })
        .collect()
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
    let mut revenue: BTreeMap<(&str, &str), (u64, i64)> = BTreeMap::new();
    for c in ledger_conversions {
        let e = revenue.entry((&c.conversion_type, &c.currency)).or_default();
        e.0 += 1;
        e.1 += c.revenue_minor;
    }
    let mut credited: HashMap<(&str, &str, &str), i64> = HashMap::new();
    for c in credits {
        *credited.entry((&c.conversion_type, &c.currency, &c.model)).or_default() += c.credit_minor;
    }
    let mut out = Vec::new();
    for ((ty, cur), (n, rev)) in revenue {
        for m in models {
            let cr = credited.get(&(ty, cur, *m)).copied().unwrap_or(0);
            out.push(Reconciliation {
                conversion_type: ty.into(),
                currency: cur.into(),
                model: m.to_string(),
                conversions: n,
                revenue_minor: rev,
                credited_minor: cr,
                difference_minor: cr - rev,
            });
        }
    }
    out
}

/// Conversion types that acquire a customer (count towards CPA); leads count towards CPL.
pub const ACQUISITION_TYPES: [&str; 2] = ["order", "deal"];

/// One cell of the KPI fact table: attributed revenue and conversions by day, model and every
/// dimension dashboards slice by, with spend on rows of its own (repeated for each model so a
/// model filter keeps it). Money in the reporting currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiFact {
    /// The conversion's UTC date for credits, the spend's date for spend.
    pub day: String,
    pub model: String,
    pub platform: String,
    pub channel: String,
    pub campaign_id: String,
    pub post_id: String,
    pub ad_id: String,
    pub actor_type: String,
    /// Empty on spend rows.
    pub conversion_type: String,
    pub reporting_currency: String,
    pub attributed_revenue_minor: i64,
    /// Σ weights of orders and deals.
    pub attributed_conversions: f64,
    /// Σ weights of leads.
    pub leads: f64,
    pub spend_minor: i64,
    /// Credit or spend rows left out of the money columns for want of an exchange rate.
    pub missing_fx_rows: u64,
}

type FactKey = (String, String, String, String, String, String, String, String, String);

/// The KPI fact table of a ledger and its spend, ordered by its dimensions.
pub fn kpi_facts(credits: &[CreditRow], spend: &[SpendRow], models: &[&str], reporting_currency: &str) -> Vec<KpiFact> {
    fn cell<'a>(acc: &'a mut BTreeMap<FactKey, KpiFact>, key: FactKey, reporting_currency: &str) -> &'a mut KpiFact {
        acc.entry(key.clone()).or_insert_with(|| KpiFact {
            day: key.0,
            model: key.1,
            platform: key.2,
            channel: key.3,
            campaign_id: key.4,
            post_id: key.5,
            ad_id: key.6,
            actor_type: key.7,
            conversion_type: key.8,
            reporting_currency: reporting_currency.to_string(),
            attributed_revenue_minor: 0,
            attributed_conversions: 0.0,
            leads: 0.0,
            spend_minor: 0,
            missing_fx_rows: 0,
        })
    }
    let mut acc: BTreeMap<FactKey, KpiFact> = BTreeMap::new();
    for c in credits {
        let day = c.conversion_time.get(..10).unwrap_or_default().to_string();
        let f = cell(
            &mut acc,
            (
                day,
                c.model.clone(),
                c.platform.clone(),
                c.channel.clone(),
                c.campaign_id.clone(),
                c.post_id.clone(),
                c.ad_id.clone(),
                c.actor_type.clone(),
                c.conversion_type.clone(),
            ),
            reporting_currency,
        );
        match c.credit_reporting_minor {
            Some(m) => f.attributed_revenue_minor += m,
            None => f.missing_fx_rows += 1,
        }
        if ACQUISITION_TYPES.contains(&c.conversion_type.as_str()) {
            f.attributed_conversions += c.weight;
        } else if c.conversion_type == "lead" {
            f.leads += c.weight;
        }
    }
    for s in spend {
        for m in models {
            let f = cell(
                &mut acc,
                (
                    s.date.clone(),
                    m.to_string(),
                    s.platform.clone(),
                    s.platform.clone(),
                    s.campaign_id.clone(),
                    s.post_id.clone(),
                    s.ad_id.clone(),
                    s.actor_type.clone(),
                    String::new(),
                ),
                reporting_currency,
            );
            match s.spend_reporting_minor {
                Some(v) => f.spend_minor += v,
                None => f.missing_fx_rows += 1,
            }
        }
    }
    acc.into_values().collect()
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
    let mut acc: BTreeMap<(&str, &str, &str), CampaignKpi> = BTreeMap::new();
    for f in facts {
        let k = acc.entry((&f.model, &f.platform, &f.campaign_id)).or_insert_with(|| CampaignKpi {
            model: f.model.clone(),
            platform: f.platform.clone(),
            campaign_id: f.campaign_id.clone(),
            reporting_currency: f.reporting_currency.clone(),
            attributed_revenue_minor: 0,
            attributed_conversions: 0.0,
            leads: 0.0,
            spend_minor: 0,
            roas: None,
            cpa_minor: None,
            cost_per_lead_minor: None,
            missing_fx_rows: 0,
        });
        k.attributed_revenue_minor += f.attributed_revenue_minor;
        k.attributed_conversions += f.attributed_conversions;
        k.leads += f.leads;
        k.spend_minor += f.spend_minor;
        k.missing_fx_rows += f.missing_fx_rows;
    }
    acc.into_values()
        .map(|mut k| {
            let spend = k.spend_minor as f64;
            k.roas = ratio(k.attributed_revenue_minor as f64, spend);
            k.cpa_minor = ratio(spend, k.attributed_conversions);
            k.cost_per_lead_minor = ratio(spend, k.leads);
            k
        })
        .collect()
}

/// Days from the first touch in the window to the conversion, per conversion type.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimeToConversion {
    pub conversion_type: String,
    pub conversions: u64,
    /// Conversions with at least one touch in their window (the others have no first touch).
    pub with_touches: u64,
    pub avg_days: Option<f64>,
    /// The middle value (the mean of the two middle values for an even count).
    pub median_days: Option<f64>,
}

pub fn time_to_conversion(conversions: &[ConversionRow]) -> Vec<TimeToConversion> {
    let mut by_type: BTreeMap<&str, (u64, Vec<i64>)> = BTreeMap::new();
    for c in conversions {
        let e = by_type.entry(&c.conversion_type).or_default();
        e.0 += 1;
        e.1.extend(c.seconds_to_convert);
    }
    by_type
        .into_iter()
        .map(|(ty, (n, mut secs))| {
            secs.sort_unstable();
            let days = |s: i64| s as f64 / 86_400.0;
            let m = secs.len();
            let median = match m {
                0 => None,
                _ if m % 2 == 1 => Some(days(secs[m / 2])),
                _ => Some((days(secs[m / 2 - 1]) + days(secs[m / 2])) / 2.0),
            };
            let avg = ratio(secs.iter().map(|s| *s as f64).sum::<f64>() / 86_400.0, m as f64);
            TimeToConversion {
                conversion_type: ty.to_string(),
                conversions: n,
                with_touches: m as u64,
                avg_days: avg,
                median_days: median,
            }
        })
        .collect()
}
