//! The journey store as checkpoint records, and back (tags 10–29; the graph's are its own).

use super::*;
use attrib_identity::checkpoint::{CheckpointWriter, CodecError, Decoder, Encoder};

const NAME: u8 = 10;
const SEEN: u8 = 11;
const PERSON: u8 = 12;
const DEAL_VERSION: u8 = 13;
const SOCIAL_CLICK: u8 = 14;
const ORDER: u8 = 15;
const DEAL: u8 = 16;
const FLAGS: u8 = 17;
const DIRTY: u8 = 18;
const ABSORBED: u8 = 19;
/// A root a merge absorbed since the checkpoint below (a checkpoint of changes): its facts moved.
const PERSON_GONE: u8 = 20;
/// The dirty and absorbed lists that follow replace those of the checkpoint below.
const PENDING_RESET: u8 = 21;

/// The store's changes since a checkpoint, enough to write only those (see
/// `checkpoint_changes`). Names and deal versions are only ever appended.
#[derive(Debug, Default)]
pub(super) struct StoreChanges {
    pub(super) saved_names: usize,
    pub(super) saved_deal_versions: usize,
    /// Roots whose facts changed (a root absorbed since is in `gone`, its survivor here).
    pub(super) people: HashSet<NodeId>,
    pub(super) gone: Vec<NodeId>,
    pub(super) social_clicks: Vec<NodeId>,
    pub(super) orders: HashSet<Sym>,
    pub(super) deals: HashSet<Sym>,
}

const FACT_SOCIAL: u8 = 0;
const FACT_SESSION: u8 = 1;
const FACT_ORDER: u8 = 2;
const FACT_LEAD: u8 = 3;
const FACT_SIGNUP: u8 = 4;
const FACT_DEAL: u8 = 5;

/// The position of a closed value in its list of every value (its code in a checkpoint).
fn code<T: PartialEq>(all: &[T], v: T) -> u8 {
    all.iter().position(|x| *x == v).unwrap_or(0) as u8
}

fn decode_code<T: Copy>(all: &[T], d: &mut Decoder<'_>, what: &str) -> Result<T, CodecError> {
    let i = d.u8()?;
    all.get(i as usize).copied().ok_or_else(|| CodecError(format!("{i} is no {what}")))
}

fn put_time(e: &mut Encoder, t: Timestamp) {
    e.i128(t.unix_nanos());
}

fn get_time(d: &mut Decoder<'_>) -> Result<Timestamp, CodecError> {
    d.i128().map(Timestamp::from_unix_nanos)
}

fn put_currency(e: &mut Encoder, c: Currency) {
    e.str(c.as_str());
}

fn get_currency(d: &mut Decoder<'_>) -> Result<Currency, CodecError> {
    let s = d.str()?;
    Currency::parse(s).ok_or_else(|| CodecError(format!("{s:?} is no currency")))
}

fn put_channel(e: &mut Encoder, c: Channel) {
    e.str(c.as_str());
}

fn get_channel(d: &mut Decoder<'_>) -> Result<Channel, CodecError> {
    let s = d.str()?;
    Channel::parse(s).ok_or_else(|| CodecError(format!("{s:?} is no channel")))
}

impl JourneyStore {
    fn sym(&self, d: &mut Decoder<'_>) -> Result<Sym, CodecError> {
        let i = d.u32()?;
        match (i as usize) < self.names.len() {
            true => Ok(Sym::from_index(i as usize)),
            false => Err(CodecError(format!("name {i} of {} is not there", self.names.len()))),
        }
    }

    fn opt_sym(&self, d: &mut Decoder<'_>) -> Result<Option<Sym>, CodecError> {
        d.opt(|d| self.sym(d))
    }

    fn node(&self, d: &mut Decoder<'_>) -> Result<NodeId, CodecError> {
        let i = d.u32()?;
        match (i as usize) < self.graph.identifiers() {
            true => Ok(NodeId::from_index(i)),
            false => Err(CodecError(format!("identifier {i} of {} is not there", self.graph.identifiers()))),
        }
    }

    /// A social activity's fields, its ids as names of this store.
    pub fn put_activity(e: &mut Encoder, a: &SocialActivity) {
        let sym = |e: &mut Encoder, s: Sym| e.u32(s.index() as u32);
        put_time(e, a.time);
        sym(e, a.event);
        sym(e, a.account);
        sym(e, a.post);
        e.opt(a.campaign, sym);
        e.opt(a.ad, sym);
        e.u8(code(Platform::ALL, a.platform));
        e.u8(code(InteractionKind::ALL, a.interaction));
        e.u8(code(ActorType::ALL, a.actor));
    }

    /// A social activity `put_activity` wrote, once the names it refers to are restored.
    pub fn get_activity(&self, d: &mut Decoder<'_>) -> Result<SocialActivity, CodecError> {
        Ok(SocialActivity {
            time: get_time(d)?,
            event: self.sym(d)?,
            account: self.sym(d)?,
            post: self.sym(d)?,
            campaign: self.opt_sym(d)?,
            ad: self.opt_sym(d)?,
            platform: decode_code(Platform::ALL, d, "platform")?,
            interaction: decode_code(InteractionKind::ALL, d, "interaction")?,
            actor: decode_code(ActorType::ALL, d, "actor type")?,
        })
    }

    fn put_fact(e: &mut Encoder, f: &Fact) {
        let sym = |e: &mut Encoder, s: Sym| e.u32(s.index() as u32);
        match *f {
            Fact::Social(a) => {
                e.u8(FACT_SOCIAL);
                Self::put_activity(e, &a);
            }
            Fact::Session(s) => {
                e.u8(FACT_SESSION);
                put_time(e, s.time);
                sym(e, s.event);
                e.opt(s.campaign, sym);
                e.opt(s.click, |e, n| e.u32(n.index()));
                put_channel(e, s.channel);
            }
            Fact::Order { time, event, order, revenue_minor, currency } => {
                e.u8(FACT_ORDER);
                put_time(e, time);
                sym(e, event);
                sym(e, order);
                e.i64(revenue_minor);
                put_currency(e, currency);
            }
            Fact::Lead { time, event } | Fact::Signup { time, event } => {
                e.u8(if matches!(f, Fact::Lead { .. }) { FACT_LEAD } else { FACT_SIGNUP });
                put_time(e, time);
                sym(e, event);
            }
            Fact::Deal(i) => {
                e.u8(FACT_DEAL);
                e.u32(i);
            }
        }
    }

    fn get_fact(&self, d: &mut Decoder<'_>) -> Result<Fact, CodecError> {
        Ok(match d.u8()? {
            FACT_SOCIAL => Fact::Social(self.get_activity(d)?),
            FACT_SESSION => Fact::Session(SessionFact {
                time: get_time(d)?,
                event: self.sym(d)?,
                campaign: self.opt_sym(d)?,
                click: d.opt(|d| self.node(d))?,
                channel: get_channel(d)?,
            }),
            FACT_ORDER => Fact::Order {
                time: get_time(d)?,
                event: self.sym(d)?,
                order: self.sym(d)?,
                revenue_minor: d.i64()?,
                currency: get_currency(d)?,
            },
            FACT_LEAD => Fact::Lead { time: get_time(d)?, event: self.sym(d)? },
            FACT_SIGNUP => Fact::Signup { time: get_time(d)?, event: self.sym(d)? },
            FACT_DEAL => {
                let i = d.u32()?;
                if i as usize >= self.deal_versions.len() {
                    return Err(CodecError(format!("deal version {i} is not there")));
                }
                Fact::Deal(i)
            }
            other => return Err(CodecError(format!("{other} is no kind of fact"))),
        })
    }

    fn put_deal_version(e: &mut Encoder, v: &DealFact) {
        e.u32(v.event.index() as u32);
        put_time(e, v.occurred_at);
        e.u32(v.deal.index() as u32);
        e.u32(v.contact.index() as u32);
        e.i64(v.version);
        e.u8(code(DealStage::ALL, v.stage));
        e.i64(v.amount_minor);
        put_currency(e, v.currency);
        put_time(e, v.created_at);
        e.opt(v.closed_at, put_time);
        e.u32(v.owner.index());
    }

    fn put_order(w: &mut CheckpointWriter, order: Sym, claim: &OrderClaim) {
        w.record(ORDER, |e| {
            e.u32(order.index() as u32);
            put_time(e, claim.time);
            e.u32(claim.event.index() as u32);
            e.u32(claim.owner.index());
        });
    }

    /// Writes the whole store as checkpoint records: names and the graph first (everything
    /// else refers to them), deal versions before the facts that point at them.
    pub fn checkpoint(&self, w: &mut CheckpointWriter) {
        for name in self.names.iter() {
            w.record(NAME, |e| e.str(name));
        }
        self.graph.checkpoint(w);
        for fp in self.seen.fingerprints() {
            w.record(SEEN, |e| e.u128_fixed(fp));
        }
        for v in &self.deal_versions {
            w.record(DEAL_VERSION, |e| Self::put_deal_version(e, v));
        }
        for (root, facts) in &self.facts {
            self.write_person(w, *root, facts);
        }
        for n in &self.social_clicks {
            w.record(SOCIAL_CLICK, |e| e.u32(n.index()));
        }
        for (order, claim) in &self.orders {
            Self::put_order(w, *order, claim);
        }
        for (deal, version) in &self.deals {
            w.record(DEAL, |e| {
                e.u32(deal.index() as u32);
                e.u32(*version);
            });
        }
        self.write_pending(w);
    }

    fn write_pending(&self, w: &mut CheckpointWriter) {
        for n in &self.dirty {
            w.record(DIRTY, |e| e.u32(n.index()));
        }
        for n in &self.absorbed {
            w.record(ABSORBED, |e| e.u32(n.index()));
        }
        w.record(FLAGS, |e| {
            e.opt(self.latest, put_time);
            e.bool(self.converting_dirty);
        });
    }

    fn write_person(&self, w: &mut CheckpointWriter, root: NodeId, facts: &[Fact]) {
        w.record(PERSON, |e| {
            e.u32(root.index());
            e.u64(facts.len() as u64);
            for f in facts {
                Self::put_fact(e, f);
            }
        });
    }

    /// Starts remembering what changes (from the state as it is now, which the caller has
    /// saved or restored), so `checkpoint_changes` can write only that.
    pub fn track_changes(&mut self) {
        self.changes = Some(StoreChanges {
            saved_names: self.names.len(),
            saved_deal_versions: self.deal_versions.len(),
            ..StoreChanges::default()
        });
        self.graph.track_changes();
        self.seen.track_changes();
    }

    /// Writes what changed since the last checkpoint (everything when not tracking): restored
    /// on top of that checkpoint, these records give this store. In the order `checkpoint`
    /// keeps: what is referred to before what refers to it.
    pub fn checkpoint_changes(&self, w: &mut CheckpointWriter) {
        let Some(c) = &self.changes else { return self.checkpoint(w) };
        for i in c.saved_names..self.names.len() {
            w.record(NAME, |e| e.str(self.names.resolve(Sym::from_index(i))));
        }
        self.graph.checkpoint_changes(w);
        for fp in self.seen.added_since_saved() {
            w.record(SEEN, |e| e.u128_fixed(fp));
        }
        for v in &self.deal_versions[c.saved_deal_versions..] {
            w.record(DEAL_VERSION, |e| Self::put_deal_version(e, v));
        }
        let mut people: Vec<NodeId> = c.people.iter().copied().collect();
        people.sort_unstable();
        for root in people {
            if let Some(facts) = self.facts.get(&root) {
                self.write_person(w, root, facts);
            }
        }
        for n in &c.gone {
            w.record(PERSON_GONE, |e| e.u32(n.index()));
        }
        for n in &c.social_clicks {
            w.record(SOCIAL_CLICK, |e| e.u32(n.index()));
        }
        for order in &c.orders {
            if let Some(claim) = self.orders.get(order) {
                Self::put_order(w, *order, claim);
            }
        }
        for deal in &c.deals {
            if let Some(version) = self.deals.get(deal) {
                w.record(DEAL, |e| {
                    e.u32(deal.index() as u32);
                    e.u32(*version);
                });
            }
        }
        w.record(PENDING_RESET, |_| {});
        self.write_pending(w);
    }

    /// Applies one checkpoint record if its tag is the store's (or its graph's); false for
    /// another layer's. Every id a record refers to must already be there.
    pub fn restore_record(&mut self, tag: u8, d: &mut Decoder<'_>) -> Result<bool, CodecError> {
        match tag {
            NAME => {
                let s = d.str()?;
                let n = self.names.len();
                if self.names.intern(s).index() != n {
                    return Err(CodecError(format!("name {s:?} twice")));
                }
            }
            SEEN => self.seen.insert_fingerprint(d.u128_fixed()?),
            DEAL_VERSION => {
                let v = DealFact {
                    event: self.sym(d)?,
                    occurred_at: get_time(d)?,
                    deal: self.sym(d)?,
                    contact: self.sym(d)?,
                    version: d.i64()?,
                    stage: decode_code(DealStage::ALL, d, "deal stage")?,
                    amount_minor: d.i64()?,
                    currency: get_currency(d)?,
                    created_at: get_time(d)?,
                    closed_at: d.opt(get_time)?,
                    owner: self.node(d)?,
                };
                self.deal_versions.push(v);
            }
            PERSON => {
                let root = self.node(d)?;
                let n = d.u64()?;
                let mut facts = Vec::with_capacity(n.min(1 << 16) as usize);
                for _ in 0..n {
                    facts.push(self.get_fact(d)?);
                }
                self.facts.insert(root, facts);
            }
            SOCIAL_CLICK => {
                let n = self.node(d)?;
                self.social_clicks.insert(n);
            }
            ORDER => {
                let order = self.sym(d)?;
                let claim = OrderClaim { time: get_time(d)?, event: self.sym(d)?, owner: self.node(d)? };
                self.orders.insert(order, claim);
            }
            DEAL => {
                let deal = self.sym(d)?;
                let version = d.u32()?;
                if version as usize >= self.deal_versions.len() {
                    return Err(CodecError(format!("deal version {version} is not there")));
                }
                self.deals.insert(deal, version);
            }
            DIRTY => {
                let n = self.node(d)?;
                self.dirty.insert(n);
            }
            ABSORBED => {
                let n = self.node(d)?;
                self.absorbed.push(n);
            }
            PERSON_GONE => {
                let n = self.node(d)?;
                self.facts.remove(&n);
            }
            PENDING_RESET => {
                self.dirty.clear();
                self.absorbed.clear();
            }
            FLAGS => {
                self.latest = d.opt(get_time)?;
                self.converting_dirty = d.bool()?;
            }
            other => return self.graph.restore_record(other, d),
        }
        Ok(true)
    }
}
