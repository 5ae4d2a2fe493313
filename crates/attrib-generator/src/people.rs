//! How people behave: engagement, click-throughs, other visits, conversions, deals.
//! Plus daily ad spend, FX rates, and the deliberate faults.

use crate::rng::Rng;
use crate::world::{World, PLATFORMS};
use crate::{email_sha256, Draft};
use attrib_contract::*;

const SEC: i128 = 1_000_000_000;
const DAY_SECS: f64 = 86_400.0;

fn plus_secs(t: Timestamp, secs: f64) -> Timestamp {
    // Whole seconds keep the data readable; a few records get milliseconds below.
    Timestamp::from_unix_nanos(t.unix_nanos() + (secs.max(0.0) as i128) * SEC)
}

fn currency(code: &str) -> Currency {
    Currency::parse(code).unwrap_or_else(|| unreachable!("fixed currency codes are valid"))
}

fn click_prefix(p: Platform) -> &'static str {
    match p {
        Platform::Facebook => "fbclid",
        Platform::Instagram => "igclid",
        Platform::Linkedin => "li_fat_id",
        Platform::X => "twclid",
        Platform::Tiktok => "ttclid",
        Platform::Youtube => "ytclid",
        _ => "clid",
    }
}

/// UTM sources people really send for a platform (the aliases the channel rules know).
fn utm_source(rng: &mut Rng, p: Platform) -> &'static str {
    let options: &[&str] = match p {
        Platform::Facebook => &["facebook", "fb", "Facebook", "meta"],
        Platform::Instagram => &["instagram", "ig"],
        Platform::Linkedin => &["linkedin", "lnkd", "LinkedIn"],
        Platform::X => &["twitter", "x", "t.co"],
        Platform::Tiktok => &["tiktok"],
        Platform::Youtube => &["youtube"],
        _ => &["other"],
    };
    rng.pick::<&str>(options)
}

fn social_referrer(p: Platform) -> &'static str {
    match p {
        Platform::Facebook => "https://m.facebook.com/",
        Platform::Instagram => "https://l.instagram.com/",
        Platform::Linkedin => "https://www.linkedin.com/feed/",
        Platform::X => "https://t.co/a1b2c3",
        Platform::Tiktok => "https://www.tiktok.com/",
        Platform::Youtube => "https://www.youtube.com/",
        _ => "https://example.org/",
    }
}

struct Person<'a> {
    idx: u64,
    anon: Vec<String>,
    email: String,
    contact: String,
    b2b: bool,
    country_currency: Currency,
    platforms: Vec<Platform>,
    /// Offset in minutes their devices write timestamps with.
    tz: i32,
    drafts: &'a mut Vec<Draft>,
    /// Known to the site by contact id (after signup or lead).
    known_from: Option<Timestamp>,
    seq: u32,
}

impl Person<'_> {
    fn next_id(&mut self, prefix: &str) -> String {
        self.seq += 1;
        format!("{prefix}-{}-{}", self.idx, self.seq)
    }

    fn push(&mut self, at: Timestamp, event: Event) {
        let offset_minutes = self.tz;
        self.drafts.push(Draft { at, event, offset_minutes });
    }

    fn device(&self, rng: &mut Rng) -> String {
        rng.pick(&self.anon).clone()
    }

    fn web(&mut self, rng: &mut Rng, at: Timestamp, kind: WebEventType) -> WebEvent {
        let known = self.known_from.is_some_and(|k| k <= at);
        WebEvent {
            event_id: self.next_id("web"),
            occurred_at: at,
            anonymous_id: self.device(rng),
            user_id: known.then(|| self.contact.clone()),
            email_sha256: None,
            kind,
            utm: None,
            click_id: None,
            referrer: None,
            order: None,
        }
    }
}

/// Simulates one person over the period.
pub(crate) fn simulate(
    idx: u64,
    rng: &mut Rng,
    world: &World,
    start: Timestamp,
    end: Timestamp,
    days: u32,
    drafts: &mut Vec<Draft>,
) {
    let b2b = rng.chance(0.3);
    let platform_weights: [f64; 6] = if b2b { [0.5, 0.3, 3.0, 1.5, 0.2, 1.0] } else { [2.0, 2.0, 0.3, 0.8, 1.5, 1.5] };
    let n_platforms = 1 + rng.weighted(&[0.5, 0.35, 0.15]);
    let mut platforms = Vec::new();
    for _ in 0..n_platforms {
        let p = PLATFORMS[rng.weighted(&platform_weights)];
        if !platforms.contains(&p) {
            platforms.push(p);
        }
    }
    let mut anon = vec![format!("anon-{idx:07}")];
    if rng.chance(0.15) {
        anon.push(format!("anon-{idx:07}-m"));
    }
    let country_currency = currency(rng.pick::<&str>(&["USD", "USD", "USD", "EUR", "EUR", "GBP"]));
    let tz = *rng.pick(&[0, 0, 0, 60, 120, -300, -420, 330]);
    let mut p = Person {
        idx,
        anon,
        email: email_sha256(&format!("person{idx}@example.com")),
        contact: format!("ct-{idx:07}"),
        b2b,
        country_currency,
        platforms,
        tz,
        drafts,
        known_from: None,
        seq: 0,
    };

    let first_day = rng.range(0, (days.saturating_sub(7)).max(1) as u64) as f64;
    let active_from = plus_secs(start, first_day * DAY_SECS + rng.f64() * DAY_SECS);
    let mut touches_seen: Vec<Timestamp> = Vec::new();
    let mut social_clicks = 0u32;
    let mut b2b_pull = 0.0f64;

    // Social engagement.
    let engagements = rng.exp(if b2b { 3.0 } else { 2.5 }).round() as u32;
    for _ in 0..engagements {
        let at = plus_secs(active_from, rng.exp(12.0 * DAY_SECS));
        if at >= end {
            continue;
        }
        let platform = *rng.pick(&p.platforms);
        let day = (at.since(start).as_secs_f64() / DAY_SECS) as u32;
        let Some(post_idx) = world.pick_post(rng, platform, day) else {
            continue;
        };
        let post = &world.posts[post_idx];
        let kinds = [
            InteractionKind::Like,
            InteractionKind::Comment,
            InteractionKind::Share,
            InteractionKind::Save,
            InteractionKind::Click,
            InteractionKind::LinkClick,
            InteractionKind::View,
            InteractionKind::Follow,
            InteractionKind::Message,
            InteractionKind::Mention,
            InteractionKind::Impression,
        ];
        let video = matches!(platform, Platform::Youtube | Platform::Tiktok);
        let weights = [30.0, 6.0, 5.0, 4.0, 8.0, 17.0, if video { 20.0 } else { 6.0 }, 2.0, 1.0, 1.0, 10.0];
        let interaction = kinds[rng.weighted(&weights)];
        let paid = post.ad.is_some();
        let with_user = rng.chance(if paid && interaction == InteractionKind::LinkClick { 0.5 } else { 0.9 });
        let user = with_user.then(|| SocialUser {
            platform_user_id: Some(format!("{platform}-u{idx:07}")),
            email_sha256: rng.chance(0.04).then(|| p.email.clone()),
        });
        let campaign_id = post.campaign.map(|c| world.campaigns[c].id.clone());
        let click_id = (interaction == InteractionKind::LinkClick)
            .then(|| format!("{}-{}", click_prefix(platform), p.next_id("c")));
        // Influencers are paid per click; paid ads are billed through ads.spend instead.
        let cost = (interaction == InteractionKind::LinkClick && post.actor_type == ActorType::Influencer)
            .then(|| Money { minor: rng.range(40, 400) as i64, currency: currency("USD") });
        let event_id = p.next_id("soc");
        let utm = click_id.as_ref().map(|_| Utm {
            source: Some(utm_source(rng, platform).to_string()),
            medium: Some(if paid { "paid_social" } else { "social" }.to_string()),
            campaign: campaign_id.clone(),
            content: Some(post.id.clone()),
            term: None,
        });
        let base = post_interaction(world, post, event_id, at, platform, interaction);
        p.push(
            at,
            Event::Social(SocialInteraction { user, click_id: click_id.clone(), utm: utm.clone(), cost, ..base }),
        );
        if !interaction.is_exposure() {
            touches_seen.push(at);
        }
        if post.campaign.is_some_and(|c| world.campaigns[c].b2b) {
            b2b_pull += 0.5;
        }
        if let Some(click) = click_id {
            social_clicks += 1;
            if rng.chance(0.85) {
                let landed = plus_secs(at, rng.range(2, 40) as f64);
                let mut s = p.web(rng, landed, WebEventType::SessionStart);
                s.click_id = Some(click);
                // Some sites drop UTMs on redirect; the click id still joins the touch.
                s.utm = if rng.chance(0.85) { utm } else { None };
                p.push(landed, Event::Web(s));
                page_views(&mut p, rng, landed);
            }
        }
    }

    // Anonymous impressions: people who saw posts without the platform telling us who.
    for _ in 0..rng.range(0, 3) {
        let at = plus_secs(active_from, rng.exp(10.0 * DAY_SECS));
        let platform = *rng.pick(&PLATFORMS);
        let day = (at.since(start).as_secs_f64() / DAY_SECS) as u32;
        if at >= end {
            continue;
        }
        if let Some(post_idx) = world.pick_post(rng, platform, day) {
            let post = &world.posts[post_idx];
            let event_id = p.next_id("soc");
            let impression = post_interaction(world, post, event_id, at, platform, InteractionKind::Impression);
            p.push(at, Event::Social(impression));
        }
    }

    // Other visits: search, direct, email, referral, organic social by referrer.
    let visits = rng.exp(1.4).round() as u32;
    let mut other_sessions = 0u32;
    for _ in 0..visits {
        let at = plus_secs(active_from, rng.exp(14.0 * DAY_SECS));
        if at >= end {
            continue;
        }
        let mut s = p.web(rng, at, WebEventType::SessionStart);
        match rng.weighted(&[3.0, 2.5, 1.0, 1.0, 0.8, 0.7]) {
            0 => {
                s.referrer = Some(
                    rng.pick(&[
                        "https://www.google.com/",
                        "https://www.bing.com/",
                        "https://duckduckgo.com/",
                        "https://www.google.co.uk/",
                    ])
                    .to_string(),
                )
            }
            1 => {}
            2 => {
                s.utm = Some(Utm {
                    source: Some("google".into()),
                    medium: Some("cpc".into()),
                    campaign: Some("search-brand".into()),
                    ..Utm::default()
                })
            }
            3 if p.known_from.is_some() => {
                s.utm = Some(Utm { source: Some("newsletter".into()), medium: Some("email".into()), ..Utm::default() })
            }
            4 => {
                s.referrer = Some(
                    rng.pick(&[
                        "https://news.ycombinator.com/item?id=1",
                        "https://partner-blog.example/post",
                        "https://www.reddit.com/r/x",
                    ])
                    .to_string(),
                )
            }
            _ => s.referrer = Some(social_referrer(*rng.pick(&p.platforms)).to_string()),
        }
        p.push(at, Event::Web(s));
        page_views(&mut p, rng, at);
        touches_seen.push(at);
        other_sessions += 1;
    }

    if touches_seen.is_empty() && !rng.chance(0.05) {
        return;
    }
    touches_seen.sort();
    let last_touch = touches_seen.last().copied().unwrap_or(active_from);
    let intent = 0.04 + 0.07 * social_clicks as f64 + 0.03 * other_sessions as f64;
    let b2b = p.b2b || rng.chance((b2b_pull * 0.1).min(0.3));
    if b2b {
        b2b_path(&mut p, rng, last_touch, end, intent);
    } else {
        b2c_path(&mut p, rng, last_touch, end, intent);
    }
}

/// An interaction with a post by someone the platform does not name (no user, click or cost).
fn post_interaction(
    world: &World,
    post: &crate::world::Post,
    event_id: String,
    at: Timestamp,
    platform: Platform,
    interaction: InteractionKind,
) -> SocialInteraction {
    SocialInteraction {
        event_id,
        occurred_at: at,
        platform,
        interaction,
        account_id: post.account_id.clone(),
        actor_type: post.actor_type,
        post_id: post.id.clone(),
        campaign_id: post.campaign.map(|c| world.campaigns[c].id.clone()),
        ad_id: post.ad.map(|a| world.ads[a].id.clone()),
        user: None,
        click_id: None,
        utm: None,
        cost: None,
    }
}

fn page_views(p: &mut Person<'_>, rng: &mut Rng, session_at: Timestamp) {
    for k in 0..rng.range(0, 3) {
        let at = plus_secs(session_at, 20.0 + 40.0 * k as f64);
        let pv = p.web(rng, at, WebEventType::PageView);
        p.push(at, Event::Web(pv));
    }
}

fn b2c_path(p: &mut Person<'_>, rng: &mut Rng, last_touch: Timestamp, end: Timestamp, intent: f64) {
    let mut t = last_touch;
    if rng.chance((0.15 + intent).min(0.7)) {
        t = plus_secs(t, rng.exp(0.5 * DAY_SECS));
        if t < end {
            let mut s = p.web(rng, t, WebEventType::Signup);
            s.email_sha256 = Some(p.email.clone());
            s.user_id = Some(p.contact.clone());
            p.known_from = Some(t);
            p.push(t, Event::Web(s));
        }
    }
    let orders = if rng.chance((0.08 + intent).min(0.6)) { 1 + rng.weighted(&[0.8, 0.15, 0.05]) } else { 0 };
    for _ in 0..orders {
        t = plus_secs(t, rng.exp(3.0 * DAY_SECS));
        if t >= end {
            break;
        }
        let revenue = (rng.exp(6_000.0) + 999.0) as i64;
        let order_id = format!("ord-{}-{}", p.idx, p.seq + 1);
        let mut o = p.web(rng, t, WebEventType::Order);
        o.order =
            Some(Order { order_id: order_id.clone(), revenue: Money { minor: revenue, currency: p.country_currency } });
        p.push(t, Event::Web(o.clone()));
        if rng.chance(0.02) {
            // The tag fired twice: same order id, a later event. The earliest wins.
            let again = plus_secs(t, 3.0);
            let mut dup = o;
            dup.event_id = p.next_id("web");
            dup.occurred_at = again;
            p.push(again, Event::Web(dup));
        }
    }
}

fn b2b_path(p: &mut Person<'_>, rng: &mut Rng, last_touch: Timestamp, end: Timestamp, intent: f64) {
    if !rng.chance((0.12 + intent).min(0.7)) {
        return;
    }
    let lead_at = plus_secs(last_touch, rng.exp(1.0 * DAY_SECS));
    if lead_at >= end {
        return;
    }
    let mut form = p.web(rng, lead_at, WebEventType::LeadForm);
    form.email_sha256 = Some(p.email.clone());
    p.push(lead_at, Event::Web(form));
    p.known_from = Some(lead_at);
    let synced = plus_secs(lead_at, rng.range(30, 3_600) as f64);
    let contact = CrmRecord {
        event_id: p.next_id("crm"),
        occurred_at: synced,
        object: CrmObject::Contact,
        contact_id: p.contact.clone(),
        email_sha256: Some(p.email.clone()),
        deal: None,
    };
    p.push(synced, Event::Crm(contact));
    let lead = CrmRecord {
        event_id: p.next_id("crm"),
        occurred_at: plus_secs(synced, 5.0),
        object: CrmObject::Lead,
        contact_id: p.contact.clone(),
        email_sha256: None,
        deal: None,
    };
    p.push(plus_secs(synced, 5.0), Event::Crm(lead));
    if !rng.chance(0.55) {
        return;
    }
    let created = plus_secs(synced, rng.exp(8.0 * DAY_SECS));
    if created >= end {
        return;
    }
    let deal_id = format!("deal-{:07}", p.idx);
    let currency = *rng.pick(&[currency("USD"), currency("USD"), currency("EUR"), currency("GBP")]);
    let amount = rng.range(5_000, 80_000) as i64 * 100;
    let deal_record = |p: &mut Person<'_>, at: Timestamp, stage, minor, closed_at, version| CrmRecord {
        event_id: p.next_id("crm"),
        occurred_at: at,
        object: CrmObject::Deal,
        contact_id: p.contact.clone(),
        email_sha256: None,
        deal: Some(Deal {
            deal_id: deal_id.clone(),
            stage,
            amount: Money { minor, currency },
            created_at: created,
            closed_at,
            version,
        }),
    };
    let v1 = deal_record(p, created, DealStage::Open, amount, None, 1);
    p.push(created, Event::Crm(v1));
    let closed = plus_secs(created, rng.exp(20.0 * DAY_SECS));
    if closed >= end {
        return;
    }
    let won = rng.chance(0.55);
    let stage = if won { DealStage::ClosedWon } else { DealStage::ClosedLost };
    let v2 = deal_record(p, closed, stage, amount, Some(closed), 2);
    p.push(closed, Event::Crm(v2));
    if won && rng.chance(0.15) {
        let restated = plus_secs(closed, rng.exp(10.0 * DAY_SECS));
        if restated < end {
            // Discount agreed after signature, a partial refund, or the deal fell through.
            let (stage, minor) = match rng.weighted(&[0.5, 0.3, 0.2]) {
                0 => (DealStage::ClosedWon, amount * 8 / 10),
                1 => (DealStage::ClosedWon, amount / 2),
                _ => (DealStage::ClosedLost, amount),
            };
            let v3 = deal_record(p, restated, stage, minor, Some(closed), 3);
            p.push(restated, Event::Crm(v3));
        }
    }
}

/// Daily spend per ad over its campaign.
pub(crate) fn spend(world: &World, rng: &mut Rng, start: Date, days: u32, drafts: &mut Vec<Draft>) {
    for ad in &world.ads {
        let c = &world.campaigns[ad.campaign];
        for day in c.start_day..=c.end_day.min(days - 1) {
            let date = Date::from_days_since_epoch(start.days_since_epoch() + day as i32);
            let spend_minor = (ad.daily_budget_minor as f64 * (0.7 + 0.4 * rng.f64())) as i64;
            let impressions = spend_minor * 1_000 / ad.cpm_minor.max(1);
            let clicks = (impressions as f64 * ad.ctr) as i64;
            let record = AdSpend {
                event_id: format!("spend-{}-{date}", ad.id),
                date,
                platform: ad.platform,
                campaign_id: c.id.clone(),
                ad_id: Some(ad.id.clone()),
                spend: Money { minor: spend_minor, currency: c.currency },
                impressions,
                clicks,
                version: 0,
            };
            // Platforms revise recent days: about one ad-day in 25 is restated two days later
            // as version 1 (chosen by a hash, so the random stream of everything else is as
            // before).
            let restated =
                (fnv(ad.id.as_bytes()) ^ u64::from(day).wrapping_mul(0x9E37_79B9_7F4A_7C15)).is_multiple_of(25);
            if restated && day + 2 < days {
                let v1 = AdSpend {
                    event_id: format!("{}:v1", record.event_id),
                    spend: Money { minor: spend_minor * 9 / 10, currency: c.currency },
                    impressions: impressions * 9 / 10,
                    version: 1,
                    ..record.clone()
                };
                let at = Date::from_days_since_epoch(date.days_since_epoch() + 2).start();
                drafts.push(Draft { at, event: Event::Spend(v1), offset_minutes: 0 });
            }
            drafts.push(Draft { at: date.start(), event: Event::Spend(record), offset_minutes: 0 });
        }
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// Daily reference rates to the reporting currency (USD) for EUR and GBP.
pub(crate) fn fx(rng: &mut Rng, start: Date, days: u32, drafts: &mut Vec<Draft>) {
    let mut rates = [("EUR", 1.08f64), ("GBP", 1.27f64)];
    for day in 0..days + 1 {
        let date = Date::from_days_since_epoch(start.days_since_epoch() + day as i32);
        for (code, rate) in rates.iter_mut() {
            *rate *= 1.0 + (rng.f64() - 0.5) * 0.01;
            drafts.push(Draft {
                at: date.start(),
                event: Event::Fx(FxRate { date, currency: currency(code), rate_to_reporting: format!("{rate:.6}") }),
                offset_minutes: 0,
            });
        }
    }
}

/// Mixes malformed records and exact duplicates into a topic's lines.
/// Returns how many of each were added.
pub(crate) fn inject_faults(topic: Topic, lines: &mut Vec<String>, rng: &mut Rng) -> (usize, usize) {
    let n_bad = (lines.len() / 2_000).max(4);
    let n_dup = (lines.len() / 1_000).max(2);
    let mut added: Vec<(usize, String)> = Vec::new();
    for k in 0..n_bad {
        let i = rng.range(0, lines.len() as u64) as usize;
        let Ok(serde_json::Value::Object(mut obj)) = serde_json::from_str::<serde_json::Value>(&lines[i]) else {
            continue;
        };
        let bad = match k % 7 {
            0 => lines[i][..lines[i].len() / 2].to_string(),
            1 => "[\"not\", \"an\", \"object\"]".to_string(),
            2 => {
                let key = match topic {
                    Topic::AdsSpend | Topic::FxRates => "date",
                    _ => "occurred_at",
                };
                obj.remove(key);
                serde_json::Value::Object(obj).to_string()
            }
            3 => {
                let key = match topic {
                    Topic::AdsSpend | Topic::FxRates => "date",
                    _ => "occurred_at",
                };
                obj.insert(key.into(), "2026-13-45 25:61".into());
                serde_json::Value::Object(obj).to_string()
            }
            4 => {
                match topic {
                    Topic::SocialInteractions | Topic::AdsSpend => obj.insert("platform".into(), "myspace".into()),
                    Topic::WebEvents => obj.insert("type".into(), "Order".into()),
                    Topic::CrmRecords => obj.insert("object".into(), "opportunity".into()),
                    Topic::FxRates => obj.insert("rate_to_reporting".into(), "-1.5".into()),
                };
                serde_json::Value::Object(obj).to_string()
            }
            5 => {
                match topic {
                    Topic::FxRates => obj.insert("currency".into(), "eur".into()),
                    Topic::AdsSpend => obj.insert("spend_minor".into(), (-500).into()),
                    _ => obj.insert("event_id".into(), "".into()),
                };
                serde_json::Value::Object(obj).to_string()
            }
            _ => {
                let key = match topic {
                    Topic::FxRates => "currency",
                    Topic::AdsSpend => "campaign_id",
                    Topic::WebEvents => "anonymous_id",
                    Topic::CrmRecords => "contact_id",
                    Topic::SocialInteractions => "post_id",
                };
                obj.insert(key.into(), serde_json::Value::Null);
                serde_json::Value::Object(obj).to_string()
            }
        };
        added.push((i, bad));
    }
    let n_bad = added.len();
    for _ in 0..n_dup {
        let i = rng.range(0, lines.len() as u64) as usize;
        added.push((i + 1, lines[i].clone()));
    }
    // Merge in one pass: each added line goes before the original line at its position.
    added.sort_by_key(|a| a.0);
    let mut merged = Vec::with_capacity(lines.len() + added.len());
    let mut extra = added.into_iter().peekable();
    for (i, line) in std::mem::take(lines).into_iter().enumerate() {
        while let Some((_, l)) = extra.next_if(|(at, _)| *at <= i) {
            merged.push(l);
        }
        merged.push(line);
    }
    merged.extend(extra.map(|(_, l)| l));
    *lines = merged;
    (n_bad, n_dup)
}
