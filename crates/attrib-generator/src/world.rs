//! The company's social presence: accounts, campaigns, ads and posts.

use crate::rng::Rng;
use attrib_contract::{ActorType, Currency, Platform};

pub const PLATFORMS: [Platform; 6] =
    [Platform::Facebook, Platform::Instagram, Platform::Linkedin, Platform::X, Platform::Tiktok, Platform::Youtube];

#[derive(Debug, Clone)]
pub struct Ad {
    pub id: String,
    pub platform: Platform,
    pub campaign: usize,
    pub daily_budget_minor: i64,
    /// Cost per thousand impressions, minor units.
    pub cpm_minor: i64,
    pub ctr: f64,
}

#[derive(Debug, Clone)]
pub struct Post {
    pub id: String,
    pub platform: Platform,
    pub account_id: String,
    pub actor_type: ActorType,
    pub campaign: Option<usize>,
    pub ad: Option<usize>,
    /// Day (from the dataset start) the post went live.
    pub day: u32,
    /// Relative pull: how likely people are to engage with it.
    pub appeal: f64,
}

#[derive(Debug, Clone)]
pub struct Campaign {
    pub id: String,
    pub start_day: u32,
    pub end_day: u32,
    pub currency: Currency,
    /// B2B campaigns target LinkedIn/X audiences and drive leads; B2C ones drive orders.
    pub b2b: bool,
}

#[derive(Debug, Clone)]
pub struct World {
    pub campaigns: Vec<Campaign>,
    pub ads: Vec<Ad>,
    pub posts: Vec<Post>,
    /// Post indices per platform, ordered by go-live day.
    pub posts_by_platform: Vec<(Platform, Vec<usize>)>,
}

const CAMPAIGNS: [(&str, bool, &str); 8] = [
    ("spring-launch", false, "USD"),
    ("summer-sale", false, "USD"),
    ("creator-collab", false, "EUR"),
    ("brand-awareness", false, "USD"),
    ("b2b-webinar", true, "USD"),
    ("enterprise-demo", true, "EUR"),
    ("partner-summit", true, "GBP"),
    ("product-tour", false, "GBP"),
];

fn currency(code: &str) -> Currency {
    Currency::parse(code).unwrap_or_else(|| unreachable!("fixed currency codes are valid"))
}

impl World {
    pub fn build(rng: &mut Rng, days: u32) -> World {
        let mut campaigns = Vec::new();
        let mut ads = Vec::new();
        let mut posts = Vec::new();
        for (ci, (name, b2b, cur)) in CAMPAIGNS.iter().enumerate() {
            let start = rng.range(0, (days * 2 / 3) as u64) as u32;
            let len = rng.range(14, 45) as u32;
            campaigns.push(Campaign {
                id: format!("cmp-{name}"),
                start_day: start,
                end_day: (start + len).min(days - 1),
                currency: currency(cur),
                b2b: *b2b,
            });
            let platforms: &[Platform] = if *b2b {
                &[Platform::Linkedin, Platform::X, Platform::Youtube]
            } else {
                &[Platform::Facebook, Platform::Instagram, Platform::Tiktok, Platform::Youtube, Platform::X]
            };
            for &p in platforms {
                if !rng.chance(0.8) {
                    continue;
                }
                let campaign = &campaigns[ci];
                let ad = ads.len();
                ads.push(Ad {
                    id: format!("ad-{name}-{p}"),
                    platform: p,
                    campaign: ci,
                    daily_budget_minor: rng.range(5_000, 60_000) as i64,
                    cpm_minor: rng.range(300, 2_500) as i64,
                    ctr: 0.004 + rng.f64() * 0.02,
                });
                let day = campaign.start_day;
                posts.push(post(
                    &format!("post-{name}-{p}-ad"),
                    p,
                    "acme",
                    ActorType::Paid,
                    Some(ci),
                    Some(ad),
                    day,
                    2.0,
                ));
                for k in 0..2 {
                    let d = rng.range(day as u64, campaign.end_day as u64 + 1) as u32;
                    posts.push(post(
                        &format!("post-{name}-{p}-b{k}"),
                        p,
                        "acme",
                        ActorType::Brand,
                        Some(ci),
                        None,
                        d,
                        1.0,
                    ));
                }
                if matches!(p, Platform::Linkedin | Platform::X) {
                    for k in 0..3 {
                        let d = rng.range(day as u64, campaign.end_day as u64 + 1) as u32;
                        let emp = format!("emp-{:02}", rng.range(1, 25));
                        posts.push(post(
                            &format!("post-{name}-{p}-e{k}"),
                            p,
                            &emp,
                            ActorType::Employee,
                            Some(ci),
                            None,
                            d,
                            1.3,
                        ));
                    }
                }
                if matches!(p, Platform::Instagram | Platform::Tiktok | Platform::Youtube) && rng.chance(0.7) {
                    let d = rng.range(day as u64, campaign.end_day as u64 + 1) as u32;
                    let inf = format!("inf-{:02}", rng.range(1, 12));
                    posts.push(post(
                        &format!("post-{name}-{p}-i"),
                        p,
                        &inf,
                        ActorType::Influencer,
                        Some(ci),
                        None,
                        d,
                        1.8,
                    ));
                }
            }
        }
        for p in PLATFORMS {
            for k in 0..4 {
                let d = (k * days / 4).min(days - 1);
                posts.push(post(&format!("post-evergreen-{p}-{k}"), p, "acme", ActorType::Brand, None, None, d, 0.6));
            }
        }
        let posts_by_platform = PLATFORMS
            .iter()
            .map(|&p| {
                let mut idx: Vec<usize> = (0..posts.len()).filter(|&i| posts[i].platform == p).collect();
                idx.sort_by_key(|&i| (posts[i].day, i));
                (p, idx)
            })
            .collect();
        World { campaigns, ads, posts, posts_by_platform }
    }

    /// A post on `platform` live by `day`, favouring appealing, recent and in-flight campaign posts.
    pub fn pick_post(&self, rng: &mut Rng, platform: Platform, day: u32) -> Option<usize> {
        let list = &self.posts_by_platform.iter().find(|(p, _)| *p == platform)?.1;
        let live: Vec<usize> = list.iter().copied().filter(|&i| self.posts[i].day <= day).collect();
        if live.is_empty() {
            return None;
        }
        let weights: Vec<f64> = live
            .iter()
            .map(|&i| {
                let p = &self.posts[i];
                let age = (day - p.day) as f64;
                let in_flight = p.campaign.is_some_and(|c| day <= self.campaigns[c].end_day);
                p.appeal * (-age / 20.0).exp() * if in_flight { 3.0 } else { 1.0 }
            })
            .collect();
        Some(live[rng.weighted(&weights)])
    }
}

#[allow(clippy::too_many_arguments)]
fn post(
    id: &str,
    platform: Platform,
    account: &str,
    actor_type: ActorType,
    campaign: Option<usize>,
    ad: Option<usize>,
    day: u32,
    appeal: f64,
) -> Post {
    let account_id = if account == "acme" { format!("acme-{platform}") } else { account.to_string() };
    Post { id: id.to_string(), platform, account_id, actor_type, campaign, ad, day, appeal }
}
