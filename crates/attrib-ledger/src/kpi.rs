//! KPI summaries over the ledger: attributed revenue and conversions by channel,
//! engagement next to revenue by post, and the reconciliation of credits to revenue.

use crate::credits::{ConversionRow, CreditRow};
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
