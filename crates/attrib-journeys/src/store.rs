//! The journey store: valid records in, one journey per person out.
//!
//! Records may arrive in any order; everything derived here (people, winning orders,
//! current deal versions, which sessions are touches) depends only on the set of
//! records, never on their order, apart from the contract's "first valid copy of an
//! event id wins".

use crate::channel::{classify_session, Channel};
use crate::journey::*;
use attrib_contract::{CrmObject, CrmRecord, DealStage, SocialInteraction, Timestamp, Topic, WebEvent, WebEventType};
use attrib_identity::{crm_identifiers, social_identifiers, web_identifiers, IdentityGraph, NodeId};
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecordRef {
    Social(u32),
    Web(u32),
    Crm(u32),
}

/// What happened to a record offered to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    /// Stored. `person` is the person it now belongs to (None: it carries no identifier).
    Accepted { person: Option<NodeId> },
    /// An earlier valid record of the topic had the same event id; this one is dropped.
    Duplicate,
}

/// Makes record `idx` the holder of `id` when there is none yet or it `beats` the current
/// holder's record; the person that held it loses it, so becomes dirty.
fn claim<R>(
    holders: &mut HashMap<String, u32>,
    records: &[(R, NodeId)],
    dirty: &mut HashSet<NodeId>,
    id: &str,
    idx: u32,
    beats: impl FnOnce(&R) -> bool,
) {
    if let Some(&cur) = holders.get(id) {
        let (current, owner) = &records[cur as usize];
        if !beats(current) {
            return;
        }
        dirty.insert(*owner);
    }
    holders.insert(id.to_string(), idx);
}

/// Holds the valid social, web and CRM records and the identity graph over them.
#[derive(Debug, Default)]
pub struct JourneyStore {
    config: JourneyConfig,
    graph: IdentityGraph,
    seen: HashMap<Topic, HashSet<String>>,
    social: Vec<(SocialInteraction, Option<NodeId>)>,
    web: Vec<(WebEvent, NodeId)>,
    crm: Vec<(CrmRecord, NodeId)>,
    /// Records of each person, keyed by the root of its component.
    members: HashMap<NodeId, Vec<RecordRef>>,
    /// Click ids carried by social interactions: sessions landing with one are that same touch.
    social_click_ids: HashSet<String>,
    /// order_id → index of the winning web order (earliest by time, then event id).
    orders: HashMap<String, u32>,
    /// deal_id → index of the CRM record holding the deal's current version.
    deals: HashMap<String, u32>,
    /// The latest `occurred_at` of any stored record: where the data ends.
    latest: Option<Timestamp>,
    /// Nodes of people whose journeys may have changed since the last `take_dirty`.
    dirty: HashSet<NodeId>,
    /// Roots absorbed by merges since the last `take_absorbed`: state kept per root must move.
    absorbed: Vec<NodeId>,
    /// Every person holding a possible conversion is dirty (resolved once, in `take_dirty`).
    converting_dirty: bool,
}

impl JourneyStore {
    pub fn new(config: JourneyConfig) -> Self {
        JourneyStore { config, ..Self::default() }
    }

    pub fn config(&self) -> &JourneyConfig {
        &self.config
    }

    pub fn graph(&self) -> &IdentityGraph {
        &self.graph
    }

    /// Number of people (components) holding at least one record.
    pub fn people(&self) -> usize {
        self.members.len()
    }

    /// The latest `occurred_at` of any stored social, web or CRM record.
    pub fn latest_event_time(&self) -> Option<Timestamp> {
        self.latest
    }

    /// Whether an event id of a topic was already accepted; marks it seen (and the time) if not.
    fn first_copy(&mut self, topic: Topic, event_id: &str, at: Timestamp) -> bool {
        let first = self.seen.entry(topic).or_default().insert(event_id.to_string());
        if first {
            self.latest = Some(self.latest.map_or(at, |l| l.max(at)));
        }
        first
    }

    /// Files a record under its person. `shapes_journey` says whether the record can change
    /// the person's touches or conversions; one that cannot (a page view, an impression
    /// without view-through, a contact) only makes the person dirty when it merged people
    /// or added an identifier (which may rename the person).
    fn attach(
        &mut self,
        root: Option<NodeId>,
        merges: Vec<attrib_identity::Merge>,
        r: RecordRef,
        shapes_journey: bool,
    ) -> Option<NodeId> {
        let merged = !merges.is_empty();
        for m in merges {
            if let Some(moved) = self.members.remove(&m.absorbed) {
                self.members.entry(m.survivor).or_default().extend(moved);
            }
            self.absorbed.push(m.absorbed);
        }
        if let Some(root) = root {
            self.members.entry(root).or_default().push(r);
            if shapes_journey || merged {
                self.dirty.insert(root);
            }
        }
        root
    }

    /// Roots of the people whose journeys may have changed since the last call (a record
    /// joined them, they merged, or a conversion they held moved to someone else).
    pub fn take_dirty(&mut self) -> Vec<NodeId> {
        if std::mem::take(&mut self.converting_dirty) {
            let converting =
                self.members.iter().filter(|(_, m)| m.iter().any(|r| self.may_convert(*r))).map(|(k, _)| *k);
            self.dirty.extend(converting.collect::<Vec<_>>());
        }
        let mut roots: Vec<NodeId> = std::mem::take(&mut self.dirty).into_iter().map(|n| self.graph.find(n)).collect();
        roots.sort_unstable();
        roots.dedup();
        roots
    }

    /// Marks every person holding a possible conversion dirty (e.g. a new exchange rate). Cheap:
    /// the people are looked up once, at the next `take_dirty`, however many rates arrived.
    pub fn mark_converting_dirty(&mut self) {
        self.converting_dirty = true;
    }

    /// Nodes that stopped being roots (absorbed by a merge) since the last call.
    pub fn take_absorbed(&mut self) -> Vec<NodeId> {
        std::mem::take(&mut self.absorbed)
    }

    /// Marks every person dirty (after a refit, or to rebuild the whole ledger).
    pub fn mark_all_dirty(&mut self) {
        self.dirty.extend(self.members.keys().copied());
    }

    /// The root of the person holding an identifier key (e.g. a `person_id` written earlier).
    pub fn root_of_key(&self, key: &str) -> Option<NodeId> {
        self.graph.node(key).map(|n| self.graph.root_of(n))
    }

    pub fn ingest_social(&mut self, e: SocialInteraction) -> Ingested {
        if !self.first_copy(Topic::SocialInteractions, &e.event_id, e.occurred_at) {
            return Ingested::Duplicate;
        }
        let (root, merges) = self.graph.link(&social_identifiers(&e));
        if let Some(c) = &e.click_id {
            self.social_click_ids.insert(c.clone());
        }
        let idx = self.social.len() as u32;
        // A click id may turn a session of this person into this same touch.
        let shapes = self.config.view_through || !e.interaction.is_exposure() || e.click_id.is_some();
        self.social.push((e, root));
        let person = self.attach(root, merges, RecordRef::Social(idx), shapes);
        Ingested::Accepted { person }
    }

    pub fn ingest_web(&mut self, e: WebEvent) -> Ingested {
        if !self.first_copy(Topic::WebEvents, &e.event_id, e.occurred_at) {
            return Ingested::Duplicate;
        }
        let (root, merges) = self.graph.link(&web_identifiers(&e));
        let idx = self.web.len() as u32;
        if let Some(order) = &e.order {
            // The earliest order (time, then event id) holds the order id.
            let beats = |c: &WebEvent| (e.occurred_at, e.event_id.as_str()) < (c.occurred_at, c.event_id.as_str());
            claim(&mut self.orders, &self.web, &mut self.dirty, &order.order_id, idx, beats);
        }
        let node = root.unwrap_or_else(|| unreachable!("a web event always carries its anonymous id"));
        let shapes = e.kind != WebEventType::PageView;
        self.web.push((e, node));
        let person = self.attach(root, merges, RecordRef::Web(idx), shapes);
        Ingested::Accepted { person }
    }

    pub fn ingest_crm(&mut self, e: CrmRecord) -> Ingested {
        if !self.first_copy(Topic::CrmRecords, &e.event_id, e.occurred_at) {
            return Ingested::Duplicate;
        }
        let (root, merges) = self.graph.link(&crm_identifiers(&e));
        let idx = self.crm.len() as u32;
        if let Some(deal) = &e.deal {
            // The highest version (then the later occurred_at, then the greater event id) holds the deal.
            fn rank(r: &CrmRecord) -> (i64, Timestamp, &str) {
                (r.deal.as_ref().map_or(i64::MIN, |d| d.version), r.occurred_at, &r.event_id)
            }
            let beats = |c: &CrmRecord| rank(&e) > rank(c);
            claim(&mut self.deals, &self.crm, &mut self.dirty, &deal.deal_id, idx, beats);
        }
        let node = root.unwrap_or_else(|| unreachable!("a CRM record always carries its contact id"));
        let shapes = e.object != CrmObject::Contact;
        self.crm.push((e, node));
        let person = self.attach(root, merges, RecordRef::Crm(idx), shapes);
        Ingested::Accepted { person }
    }

    /// Every accepted CRM record, in arrival order.
    pub fn crm_records(&self) -> impl Iterator<Item = &CrmRecord> {
        self.crm.iter().map(|(r, _)| r)
    }

    /// Roots of all people, in a deterministic order (by person key).
    pub fn person_roots(&self) -> Vec<NodeId> {
        let mut roots: Vec<NodeId> = self.members.keys().copied().collect();
        roots.sort_by(|a, b| self.graph.person_key(*a).cmp(self.graph.person_key(*b)));
        roots
    }

    /// All journeys, ordered by person key.
    pub fn journeys(&self) -> Vec<Journey<'_>> {
        self.person_roots().into_iter().map(|r| self.journey(r)).collect()
    }

    /// Journeys of the people with at least one record that can be a conversion
    /// (orders, leads, signups, deals), ordered by person key. Attribution needs only these.
    pub fn converting_journeys(&self) -> Vec<Journey<'_>> {
        self.person_roots()
            .into_iter()
            .filter(|r| self.members[r].iter().any(|m| self.may_convert(*m)))
            .map(|r| self.journey(r))
            .filter(|j| j.has_outcomes())
            .collect()
    }

    fn may_convert(&self, r: RecordRef) -> bool {
        match r {
            RecordRef::Social(_) => false,
            RecordRef::Web(i) => {
                !matches!(self.web[i as usize].0.kind, WebEventType::SessionStart | WebEventType::PageView)
            }
            RecordRef::Crm(i) => self.crm[i as usize].0.object != CrmObject::Contact,
        }
    }

    /// The journey of the person whose root is `root`.
    pub fn journey(&self, root: NodeId) -> Journey<'_> {
        let mut touches = Vec::new();
        let mut conversions = Vec::new();
        let mut open_deals = Vec::new();
        let mut first_lead = None;
        let mut note_lead = |t: attrib_contract::Timestamp| {
            first_lead = Some(first_lead.map_or(t, |f: attrib_contract::Timestamp| f.min(t)));
        };
        for r in self.members.get(&root).map(Vec::as_slice).unwrap_or_default() {
            match *r {
                RecordRef::Social(i) => {
                    let e = &self.social[i as usize].0;
                    if self.config.view_through || !e.interaction.is_exposure() {
                        touches.push(social_touch(e));
                    }
                }
                RecordRef::Web(i) => {
                    let e = &self.web[i as usize].0;
                    match e.kind {
                        WebEventType::SessionStart => {
                            let same_as_social = e.click_id.as_ref().is_some_and(|c| self.social_click_ids.contains(c));
                            if !same_as_social {
                                touches.push(session_touch(e));
                            }
                        }
                        WebEventType::PageView => {}
                        WebEventType::Signup => conversions.push(simple(e, ConversionType::Signup, "signup")),
                        WebEventType::LeadForm => {
                            note_lead(e.occurred_at);
                            conversions.push(simple(e, ConversionType::Lead, "lead"));
                        }
                        WebEventType::Order => {
                            if let Some(o) = &e.order {
                                if self.orders.get(&o.order_id) == Some(&i) {
                                    conversions.push(Conversion {
                                        id: format!("order:{}", o.order_id),
                                        kind: ConversionType::Order,
                                        version: 1,
                                        time: e.occurred_at,
                                        revenue_minor: o.revenue.minor,
                                        currency: Some(o.revenue.currency),
                                        source_event_id: &e.event_id,
                                        deal_created_at: None,
                                        deal_stage: None,
                                    });
                                }
                            }
                        }
                    }
                }
                RecordRef::Crm(i) => {
                    let e = &self.crm[i as usize].0;
                    match (&e.object, &e.deal) {
                        (CrmObject::Lead, _) => {
                            note_lead(e.occurred_at);
                            conversions.push(Conversion {
                                id: format!("lead:{}", e.event_id),
                                kind: ConversionType::Lead,
                                version: 1,
                                time: e.occurred_at,
                                revenue_minor: 0,
                                currency: None,
                                source_event_id: &e.event_id,
                                deal_created_at: None,
                                deal_stage: None,
                            });
                        }
                        (CrmObject::Deal, Some(d)) if self.deals.get(&d.deal_id) == Some(&i) => {
                            let deal = |time| Conversion {
                                id: format!("deal:{}", d.deal_id),
                                kind: ConversionType::Deal,
                                version: d.version,
                                time,
                                revenue_minor: d.amount.minor,
                                currency: Some(d.amount.currency),
                                source_event_id: &e.event_id,
                                deal_created_at: Some(d.created_at),
                                deal_stage: Some(d.stage),
                            };
                            match (d.stage, d.closed_at) {
                                (DealStage::ClosedWon, Some(closed_at)) => conversions.push(deal(closed_at)),
                                (DealStage::Open, _) => open_deals.push(deal(d.created_at)),
                                _ => {}
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        touches.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        conversions.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
        open_deals.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
        Journey { person: self.graph.person_key(root), touches, conversions, open_deals, first_lead }
    }
}

fn simple<'a>(e: &'a WebEvent, kind: ConversionType, prefix: &str) -> Conversion<'a> {
    Conversion {
        id: format!("{prefix}:{}", e.event_id),
        kind,
        version: 1,
        time: e.occurred_at,
        revenue_minor: 0,
        currency: None,
        source_event_id: &e.event_id,
        deal_created_at: None,
        deal_stage: None,
    }
}

fn social_touch(e: &SocialInteraction) -> Touch<'_> {
    Touch {
        event_id: &e.event_id,
        source: TouchSource::Social,
        time: e.occurred_at,
        channel: Channel::Social(e.platform),
        interaction: Some(e.interaction),
        actor_type: Some(e.actor_type),
        account_id: Some(&e.account_id),
        campaign_id: e.campaign_id.as_deref(),
        post_id: Some(&e.post_id),
        ad_id: e.ad_id.as_deref(),
    }
}

fn session_touch(e: &WebEvent) -> Touch<'_> {
    let channel = classify_session(e.utm.as_ref(), e.referrer.as_deref());
    // The session's campaign is its utm_campaign, as web analytics report it.
    let campaign_id = e.utm.as_ref().and_then(|u| u.campaign.as_deref()).map(str::trim).filter(|c| !c.is_empty());
    Touch {
        event_id: &e.event_id,
        source: TouchSource::Web,
        time: e.occurred_at,
        channel,
        interaction: None,
        actor_type: None,
        account_id: None,
        campaign_id,
        post_id: None,
        ad_id: None,
    }
}
