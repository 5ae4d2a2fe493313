//! The journey store: valid records in, one journey per person out.
//!
//! Records may arrive in any order; everything derived here (people, winning orders,
//! current deal versions, which sessions are touches) depends only on the set of
//! records, never on their order, apart from the contract's "first valid copy of an
//! event id wins".
//!
//! The store keeps facts, not records (DESIGN §8): a touch is its time, channel and
//! interned ids; a conversion its time, amount and ids; a deal version its fields. Page
//! views, impressions (view-through off) and contacts keep nothing beyond the identity
//! links they add, and an event id that is not part of a fact is remembered only as a
//! 128-bit fingerprint for the first-copy rule.

use crate::channel::{classify_session, Channel};
use crate::first_copy::FirstCopies;
use crate::journey::*;
use attrib_contract::{
    ActorType, CrmObject, CrmRecord, Currency, DealStage, InteractionKind, Platform, SocialInteraction, Timestamp,
    Topic, WebEvent, WebEventType,
};
use attrib_identity::{crm_identifiers, social_identifiers, web_identifiers, Identifier, IdentityGraph, NodeId};
pub use attrib_identity::{Sym, Symbols};
// foldhash, not SipHash: these maps are hashed per record and never face untrusted key choice
// beyond what the dedup fingerprints already bound.
use hashbrown::{HashMap, HashSet};

mod checkpoint;

use checkpoint::StoreChanges;

/// What happened to a record offered to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    /// Stored. `person` is the person it now belongs to (None: it carries no identifier).
    Accepted { person: Option<NodeId> },
    /// An earlier valid record of the topic had the same event id; this one is dropped.
    Duplicate,
}

/// A social interaction with its ids interned in the store's names: a touch's fact, and
/// what engagement counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocialActivity {
    pub time: Timestamp,
    pub event: Sym,
    pub account: Sym,
    pub post: Sym,
    pub campaign: Option<Sym>,
    pub ad: Option<Sym>,
    pub platform: Platform,
    pub interaction: InteractionKind,
    pub actor: ActorType,
}

/// A web session, its channel classified on arrival.
#[derive(Debug, Clone, Copy)]
struct SessionFact {
    time: Timestamp,
    event: Sym,
    /// The session's utm_campaign, trimmed (web analytics report it as the campaign).
    campaign: Option<Sym>,
    /// The click id it landed with: a social interaction with it makes this the same touch.
    click: Option<NodeId>,
    channel: Channel,
}

/// What one record left of itself under its person.
#[derive(Debug, Clone, Copy)]
enum Fact {
    Social(SocialActivity),
    Session(SessionFact),
    Order {
        time: Timestamp,
        event: Sym,
        order: Sym,
        revenue_minor: i64,
        currency: Currency,
    },
    Lead {
        time: Timestamp,
        event: Sym,
    },
    Signup {
        time: Timestamp,
        event: Sym,
    },
    /// A deal version: an index into `deal_versions`.
    Deal(u32),
}

impl Fact {
    fn may_convert(&self) -> bool {
        !matches!(self, Fact::Social(_) | Fact::Session(_))
    }
}

/// One version of a deal as received (every version is kept: restatements and finance need them).
#[derive(Debug, Clone, Copy)]
struct DealFact {
    event: Sym,
    occurred_at: Timestamp,
    deal: Sym,
    contact: Sym,
    version: i64,
    stage: DealStage,
    amount_minor: i64,
    currency: Currency,
    created_at: Timestamp,
    closed_at: Option<Timestamp>,
    /// The node the version was filed under (its person is that node's root).
    owner: NodeId,
}

/// One deal version, with its ids resolved (the rows of `deals.csv` and `crm_deals`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DealRecord<'a> {
    pub deal_id: &'a str,
    pub version: i64,
    pub event_id: &'a str,
    pub occurred_at: Timestamp,
    pub contact_id: &'a str,
    pub stage: DealStage,
    pub amount_minor: i64,
    pub currency: Currency,
    pub created_at: Timestamp,
    pub closed_at: Option<Timestamp>,
}

impl<'a> DealRecord<'a> {
    /// The deal version a CRM record carries, if it is a deal.
    pub fn of(r: &'a CrmRecord) -> Option<DealRecord<'a>> {
        let d = r.deal.as_ref()?;
        Some(DealRecord {
            deal_id: &d.deal_id,
            version: d.version,
            event_id: &r.event_id,
            occurred_at: r.occurred_at,
            contact_id: &r.contact_id,
            stage: d.stage,
            amount_minor: d.amount.minor,
            currency: d.amount.currency,
            created_at: d.created_at,
            closed_at: d.closed_at,
        })
    }
}

/// The order record currently holding an order id (earliest by time, then event id).
#[derive(Debug, Clone, Copy)]
struct OrderClaim {
    time: Timestamp,
    event: Sym,
    owner: NodeId,
}

/// Holds the facts of every person and the identity graph over them.
#[derive(Debug, Default)]
pub struct JourneyStore {
    config: JourneyConfig,
    graph: IdentityGraph,
    /// Event ids, account, post, campaign, ad, order and deal ids: each held once.
    names: Symbols,
    seen: FirstCopies,
    /// Facts of each person, keyed by the root of its component (people with facts only).
    facts: HashMap<NodeId, Vec<Fact>>,
    deal_versions: Vec<DealFact>,
    /// Click-id nodes carried by social interactions: sessions landing with one are that same touch.
    social_clicks: HashSet<NodeId>,
    orders: HashMap<Sym, OrderClaim>,
    /// deal_id → index of the version holding the deal's current state.
    deals: HashMap<Sym, u32>,
    /// The latest `occurred_at` of any stored record: where the data ends.
    latest: Option<Timestamp>,
    /// Nodes of people whose journeys may have changed since the last `take_dirty`.
    dirty: HashSet<NodeId>,
    /// Roots absorbed by merges since the last `take_absorbed`: state kept per root must move.
    absorbed: Vec<NodeId>,
    /// Every person holding a possible conversion is dirty (resolved once, in `take_dirty`).
    converting_dirty: bool,
    /// What changed since the last checkpoint, when checkpoints of changes are taken.
    changes: Option<StoreChanges>,
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

    /// Interns a content id (account, post, campaign …) in the store's names.
    pub fn intern(&mut self, s: &str) -> Sym {
        self.names.intern(s)
    }

    /// The string behind a name interned here.
    pub fn name(&self, s: Sym) -> &str {
        self.names.resolve(s)
    }

    pub fn names(&self) -> &Symbols {
        &self.names
    }

    /// Number of people: components of the identity graph (each holds at least one record).
    pub fn people(&self) -> usize {
        self.graph.components()
    }

    /// Number of facts held (touches, conversions, deal versions).
    pub fn fact_count(&self) -> usize {
        self.facts.values().map(Vec::len).sum()
    }

    /// The latest `occurred_at` of any stored social, web or CRM record.
    pub fn latest_event_time(&self) -> Option<Timestamp> {
        self.latest
    }

    /// Whether an event id of a topic was already accepted; marks it seen (and the time) if not.
    fn first_copy(&mut self, topic: Topic, event_id: &str, at: Timestamp) -> bool {
        let first = self.seen.insert(topic, event_id);
        if first {
            self.latest = Some(self.latest.map_or(at, |l| l.max(at)));
        }
        first
    }

    /// Files a fact (if any) under its person. A record leaving no fact (a page view, an
    /// impression without view-through, a contact) and not `shaping` the journey otherwise
    /// only makes the person dirty when it merged people (which may rename the person).
    fn attach(
        &mut self,
        root: Option<NodeId>,
        merges: Vec<attrib_identity::Merge>,
        fact: Option<Fact>,
        shapes_journey: bool,
    ) -> Option<NodeId> {
        let merged = !merges.is_empty();
        for m in merges {
            if let Some(moved) = self.facts.remove(&m.absorbed) {
                self.facts.entry(m.survivor).or_default().extend(moved);
                if let Some(c) = &mut self.changes {
                    c.people.insert(m.survivor);
                }
            }
            if let Some(c) = &mut self.changes {
                c.gone.push(m.absorbed);
            }
            self.absorbed.push(m.absorbed);
        }
        if let Some(root) = root {
            if let Some(f) = fact {
                self.facts.entry(root).or_default().push(f);
                if let Some(c) = &mut self.changes {
                    c.people.insert(root);
                }
            }
            if shapes_journey || fact.is_some() || merged {
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
                self.facts.iter().filter(|(_, f)| f.iter().any(Fact::may_convert)).map(|(k, _)| *k).collect::<Vec<_>>();
            self.dirty.extend(converting);
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

    /// Marks every person with facts dirty (after a refit, or to rebuild the whole ledger).
    pub fn mark_all_dirty(&mut self) {
        self.dirty.extend(self.facts.keys().copied());
    }

    /// The root of the person holding an identifier key (e.g. a `person_id` written earlier).
    pub fn root_of_key(&self, key: &str) -> Option<NodeId> {
        self.graph.node(key).map(|n| self.graph.root_of(n))
    }

    fn opt_name(&mut self, s: Option<&str>) -> Option<Sym> {
        s.map(|s| self.names.intern(s))
    }

    pub fn ingest_social(&mut self, e: &SocialInteraction) -> Ingested {
        self.ingest_social_activity(e).0
    }

    /// Ingests a social interaction and returns, when accepted, its interned activity.
    pub fn ingest_social_activity(&mut self, e: &SocialInteraction) -> (Ingested, Option<SocialActivity>) {
        if !self.first_copy(Topic::SocialInteractions, &e.event_id, e.occurred_at) {
            return (Ingested::Duplicate, None);
        }
        let (root, merges) = self.graph.link(&social_identifiers(e));
        if let Some(c) = &e.click_id {
            if let Some(node) = self.graph.node(&Identifier::ClickId(c).key()) {
                if self.social_clicks.insert(node) {
                    if let Some(c) = &mut self.changes {
                        c.social_clicks.push(node);
                    }
                }
            }
        }
        let activity = SocialActivity {
            time: e.occurred_at,
            event: self.names.intern(&e.event_id),
            account: self.names.intern(&e.account_id),
            post: self.names.intern(&e.post_id),
            campaign: self.opt_name(e.campaign_id.as_deref()),
            ad: self.opt_name(e.ad_id.as_deref()),
            platform: e.platform,
            interaction: e.interaction,
            actor: e.actor_type,
        };
        let touch = self.config.view_through || !e.interaction.is_exposure();
        let fact = (touch && root.is_some()).then_some(Fact::Social(activity));
        // A click id may turn a session of this person into this same touch.
        let shapes = e.click_id.is_some();
        let person = self.attach(root, merges, fact, shapes);
        (Ingested::Accepted { person }, Some(activity))
    }

    pub fn ingest_web(&mut self, e: &WebEvent) -> Ingested {
        if !self.first_copy(Topic::WebEvents, &e.event_id, e.occurred_at) {
            return Ingested::Duplicate;
        }
        let (root, merges) = self.graph.link(&web_identifiers(e));
        let node = root.unwrap_or_else(|| unreachable!("a web event always carries its anonymous id"));
        let time = e.occurred_at;
        let fact = match e.kind {
            WebEventType::PageView => None,
            WebEventType::SessionStart => {
                let campaign =
                    e.utm.as_ref().and_then(|u| u.campaign.as_deref()).map(str::trim).filter(|c| !c.is_empty());
                let click = e.click_id.as_ref().and_then(|c| self.graph.node(&Identifier::ClickId(c).key()));
                Some(Fact::Session(SessionFact {
                    time,
                    event: self.names.intern(&e.event_id),
                    campaign: self.opt_name(campaign),
                    click,
                    channel: classify_session(e.utm.as_ref(), e.referrer.as_deref()),
                }))
            }
            WebEventType::Signup => Some(Fact::Signup { time, event: self.names.intern(&e.event_id) }),
            WebEventType::LeadForm => Some(Fact::Lead { time, event: self.names.intern(&e.event_id) }),
            WebEventType::Order => e.order.as_ref().map(|o| {
                let event = self.names.intern(&e.event_id);
                let order = self.names.intern(&o.order_id);
                self.claim_order(order, OrderClaim { time, event, owner: node });
                Fact::Order { time, event, order, revenue_minor: o.revenue.minor, currency: o.revenue.currency }
            }),
        };
        let person = self.attach(root, merges, fact, false);
        Ingested::Accepted { person }
    }

    /// The earliest order (time, then event id) holds the order id; the person that held it
    /// loses it, so becomes dirty.
    fn claim_order(&mut self, order: Sym, claim: OrderClaim) {
        if let Some(cur) = self.orders.get(&order) {
            let names = &self.names;
            let rank = |c: &OrderClaim| (c.time, names.resolve(c.event));
            if rank(&claim) >= rank(cur) {
                return;
            }
            self.dirty.insert(cur.owner);
        }
        self.orders.insert(order, claim);
        if let Some(c) = &mut self.changes {
            c.orders.insert(order);
        }
    }

    pub fn ingest_crm(&mut self, e: &CrmRecord) -> Ingested {
        if !self.first_copy(Topic::CrmRecords, &e.event_id, e.occurred_at) {
            return Ingested::Duplicate;
        }
        let (root, merges) = self.graph.link(&crm_identifiers(e));
        let node = root.unwrap_or_else(|| unreachable!("a CRM record always carries its contact id"));
        let fact = match (&e.object, DealRecord::of(e)) {
            (CrmObject::Lead, _) => Some(Fact::Lead { time: e.occurred_at, event: self.names.intern(&e.event_id) }),
            (CrmObject::Deal, Some(d)) => Some(Fact::Deal(self.add_deal_version(&d, node))),
            _ => None,
        };
        let person = self.attach(root, merges, fact, false);
        Ingested::Accepted { person }
    }

    /// Keeps a deal version; the highest version (then the later occurred_at, then the greater
    /// event id) holds the deal, and the person that held it before becomes dirty.
    fn add_deal_version(&mut self, d: &DealRecord<'_>, owner: NodeId) -> u32 {
        let idx = self.deal_versions.len() as u32;
        let fact = DealFact {
            event: self.names.intern(d.event_id),
            occurred_at: d.occurred_at,
            deal: self.names.intern(d.deal_id),
            contact: self.names.intern(d.contact_id),
            version: d.version,
            stage: d.stage,
            amount_minor: d.amount_minor,
            currency: d.currency,
            created_at: d.created_at,
            closed_at: d.closed_at,
            owner,
        };
        self.deal_versions.push(fact);
        let names = &self.names;
        let rank = |f: &DealFact| (f.version, f.occurred_at, names.resolve(f.event));
        match self.deals.get(&fact.deal).map(|&cur| self.deal_versions[cur as usize]) {
            Some(cur) if rank(&fact) <= rank(&cur) => {}
            Some(cur) => {
                self.dirty.insert(cur.owner);
                self.deals.insert(fact.deal, idx);
            }
            None => {
                self.deals.insert(fact.deal, idx);
            }
        }
        if let Some(c) = &mut self.changes {
            c.deals.insert(fact.deal);
        }
        idx
    }

    /// Every deal version received, in arrival order.
    pub fn deal_records(&self) -> impl Iterator<Item = DealRecord<'_>> + '_ {
        self.deal_versions.iter().map(|d| DealRecord {
            deal_id: self.names.resolve(d.deal),
            version: d.version,
            event_id: self.names.resolve(d.event),
            occurred_at: d.occurred_at,
            contact_id: self.names.resolve(d.contact),
            stage: d.stage,
            amount_minor: d.amount_minor,
            currency: d.currency,
            created_at: d.created_at,
            closed_at: d.closed_at,
        })
    }

    /// Roots of all people with facts, in a deterministic order (by person key).
    pub fn person_roots(&self) -> Vec<NodeId> {
        self.by_person_key(self.facts.keys().copied())
    }

    /// Roots of all people with facts, in no particular order (for sums over everyone).
    pub fn person_roots_unordered(&self) -> Vec<NodeId> {
        self.facts.keys().copied().collect()
    }

    /// Roots of the people holding at least one fact that can be a conversion (orders, leads,
    /// signups, deals), ordered by person key. Attribution needs only these.
    pub fn converting_roots(&self) -> Vec<NodeId> {
        self.by_person_key(self.facts.iter().filter(|(_, f)| f.iter().any(Fact::may_convert)).map(|(r, _)| *r))
    }

    /// `roots` sorted by person key, each key looked up once (not twice per comparison).
    fn by_person_key(&self, roots: impl Iterator<Item = NodeId>) -> Vec<NodeId> {
        let mut keyed: Vec<(&str, NodeId)> = roots.map(|r| (self.graph.person_key(r), r)).collect();
        // Each root has its own key, so an unstable sort is the stable one.
        keyed.sort_unstable();
        keyed.into_iter().map(|(_, r)| r).collect()
    }

    /// All journeys of people with facts, ordered by person key.
    pub fn journeys(&self) -> Vec<Journey<'_>> {
        self.person_roots().into_iter().map(|r| self.journey(r)).collect()
    }

    /// Journeys of the people with a conversion or an open deal, ordered by person key.
    pub fn converting_journeys(&self) -> Vec<Journey<'_>> {
        self.converting_roots().into_iter().map(|r| self.journey(r)).filter(|j| j.has_outcomes()).collect()
    }

    /// The journey of the person whose root is `root`.
    pub fn journey(&self, root: NodeId) -> Journey<'_> {
        let mut touches = Vec::new();
        let mut conversions = Vec::new();
        let mut open_deals = Vec::new();
        let mut first_lead = None;
        let name = |s: Sym| self.names.resolve(s);
        let simple = |kind: ConversionType, time: Timestamp, event: Sym| Conversion {
            id: format!("{kind}:{}", name(event)),
            kind,
            version: 1,
            time,
            revenue_minor: 0,
            currency: None,
            source_event_id: name(event),
            deal_created_at: None,
            deal_stage: None,
        };
        for fact in self.facts.get(&root).map(Vec::as_slice).unwrap_or_default() {
            match *fact {
                Fact::Social(s) => touches.push(Touch {
                    event_id: name(s.event),
                    source: TouchSource::Social,
                    time: s.time,
                    channel: Channel::Social(s.platform),
                    interaction: Some(s.interaction),
                    actor_type: Some(s.actor),
                    account_id: Some(name(s.account)),
                    campaign_id: s.campaign.map(name),
                    post_id: Some(name(s.post)),
                    ad_id: s.ad.map(name),
                }),
                Fact::Session(s) => {
                    let same_as_social = s.click.is_some_and(|c| self.social_clicks.contains(&c));
                    if !same_as_social {
                        touches.push(Touch {
                            event_id: name(s.event),
                            source: TouchSource::Web,
                            time: s.time,
                            channel: s.channel,
                            interaction: None,
                            actor_type: None,
                            account_id: None,
                            campaign_id: s.campaign.map(name),
                            post_id: None,
                            ad_id: None,
                        });
                    }
                }
                Fact::Signup { time, event } => conversions.push(simple(ConversionType::Signup, time, event)),
                Fact::Lead { time, event } => {
                    first_lead = Some(first_lead.map_or(time, |f: Timestamp| f.min(time)));
                    conversions.push(simple(ConversionType::Lead, time, event));
                }
                Fact::Order { time, event, order, revenue_minor, currency } => {
                    if self.orders.get(&order).is_some_and(|c| c.event == event) {
                        conversions.push(Conversion {
                            id: format!("order:{}", name(order)),
                            kind: ConversionType::Order,
                            version: 1,
                            time,
                            revenue_minor,
                            currency: Some(currency),
                            source_event_id: name(event),
                            deal_created_at: None,
                            deal_stage: None,
                        });
                    }
                }
                Fact::Deal(idx) => {
                    let d = &self.deal_versions[idx as usize];
                    if self.deals.get(&d.deal) != Some(&idx) {
                        continue;
                    }
                    let deal = |time| Conversion {
                        id: format!("deal:{}", name(d.deal)),
                        kind: ConversionType::Deal,
                        version: d.version,
                        time,
                        revenue_minor: d.amount_minor,
                        currency: Some(d.currency),
                        source_event_id: name(d.event),
                        deal_created_at: Some(d.created_at),
                        deal_stage: Some(d.stage),
                    };
                    match (d.stage, d.closed_at) {
                        (DealStage::ClosedWon, Some(closed_at)) => conversions.push(deal(closed_at)),
                        (DealStage::Open, _) => open_deals.push(deal(d.created_at)),
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
