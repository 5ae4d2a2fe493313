//! The engine's state as a checkpoint (tags 30–39 and `END`; the store's and graph's are
//! their own): saved with the input position it covers, restored part by part.

use super::*;
use crate::credits::fnv1a;
use crate::IncrementalLedger;
use attrib_contract::{ActorType, Currency, Date, Money, Platform};
use attrib_identity::checkpoint::{unknown_tag, CheckpointWriter, CodecError, Decoder, Encoder};

const ENGAGEMENT: u8 = 30;
const FX: u8 = 31;
const SPEND: u8 = 32;
const DIRTY_SPEND: u8 = 33;
const SEEN_OTHER: u8 = 34;
const COUNTS: u8 = 35;
/// An `ads.spend` entry a higher version replaced, whose written fact is still to withdraw.
const SUPERSEDED_SPEND: u8 = 36;
/// The engagement, withdrawal and to-write lists that follow replace those below (a
/// checkpoint of changes).
const LISTS_RESET: u8 = 37;
/// A spend entry new or replaced since the checkpoint below: its index, then the entry.
const SPEND_SET: u8 = 38;
/// The last record: how many came before it, so a checkpoint cut short is never taken whole.
const END: u8 = 255;

/// Bumped whenever a record's layout changes: a checkpoint of another layout is not read.
const LAYOUT: u32 = 3;

/// The sources a spend entry can have (its `source` is one of these).
const SPEND_SOURCES: [&str; 2] = ["ads.spend", "social.interactions"];

/// Puts a restored spend entry at `i` (replacing one, or appending at the end), filing an
/// `ads.spend` entry under its ad-day.
fn set_spend(e: &mut Engine, i: usize, entry: SpendEntry) -> Result<(), CodecError> {
    if i > e.spend_entries.len() {
        return Err(CodecError(format!("spend entry {i} is not there")));
    }
    if entry.source == SPEND_SOURCES[0] {
        e.ad_days.insert(entry.ad_day(), i);
    }
    if i == e.spend_entries.len() {
        e.spend_entries.push(entry);
    } else {
        e.spend_entries[i] = entry;
    }
    Ok(())
}

fn put_date(e: &mut Encoder, d: Date) {
    e.i64(i64::from(d.days_since_epoch()));
}

fn get_date(d: &mut Decoder<'_>) -> Result<Date, CodecError> {
    let days = i32::try_from(d.i64()?).map_err(|_| CodecError("a date out of range".into()))?;
    Ok(Date::from_days_since_epoch(days))
}

fn get_currency(d: &mut Decoder<'_>) -> Result<Currency, CodecError> {
    let s = d.str()?;
    Currency::parse(s).ok_or_else(|| CodecError(format!("{s:?} is no currency")))
}

fn put_fx(e: &mut Encoder, f: &FxRate) {
    put_date(e, f.date);
    e.str(f.currency.as_str());
    e.str(&f.rate_to_reporting);
}

fn put_spend(e: &mut Encoder, s: &SpendEntry) {
    e.str(s.source);
    e.str(&s.event_id);
    put_date(e, s.date);
    e.str(s.platform.as_str());
    e.str(&s.campaign_id);
    e.str(&s.ad_id);
    e.str(&s.post_id);
    e.str(&s.actor_type);
    e.i64(s.spend.minor);
    e.str(s.spend.currency.as_str());
    e.i64(s.impressions);
    e.i64(s.clicks);
    e.i64(s.version);
}

fn get_spend(d: &mut Decoder<'_>) -> Result<SpendEntry, CodecError> {
    let source = d.str()?;
    let source = SPEND_SOURCES
        .into_iter()
        .find(|s| *s == source)
        .ok_or_else(|| CodecError(format!("{source:?} is no spend source")))?;
    let event_id = d.str()?.to_string();
    let date = get_date(d)?;
    let platform = d.str()?;
    let platform = Platform::parse(platform).ok_or_else(|| CodecError(format!("{platform:?}")))?;
    let (campaign_id, ad_id, post_id) = (d.str()?.to_string(), d.str()?.to_string(), d.str()?.to_string());
    let actor_type = d.str()?.to_string();
    if ActorType::parse(&actor_type).is_none() {
        return Err(CodecError(format!("{actor_type:?} is no actor type")));
    }
    let spend = Money { minor: d.i64()?, currency: get_currency(d)? };
    let (impressions, clicks, version) = (d.i64()?, d.i64()?, d.i64()?);
    Ok(SpendEntry {
        source,
        event_id,
        date,
        platform,
        campaign_id,
        ad_id,
        post_id,
        actor_type,
        spend,
        impressions,
        clicks,
        version,
    })
}

impl Engine {
    /// What a checkpoint depends on besides the records: the layout and the journey settings
    /// that decide which facts are kept. A checkpoint taken under another tag is not restored.
    pub fn checkpoint_tag(&self) -> String {
        Engine::checkpoint_tag_of(&self.config)
    }

    /// `checkpoint_tag` of an engine configured with `config`, without building one.
    pub fn checkpoint_tag_of(config: &AttributionConfig) -> String {
        let text = format!("layout={LAYOUT};journeys={:?}", config.journeys);
        format!("state-{:012x}", fnv1a(text.as_bytes()) & 0xffff_ffff_ffff)
    }

    /// The whole state as checkpoint parts (each a few MiB, cut between records), with the
    /// fingerprints of the rows `ledger` wrote for it.
    pub fn checkpoint(&self, ledger: &IncrementalLedger) -> Vec<Vec<u8>> {
        let mut w = CheckpointWriter::new();
        self.store.checkpoint(&mut w);
        ledger.checkpoint(&mut w);
        for s in &self.spend_entries {
            w.record(SPEND, |e| put_spend(e, s));
        }
        for f in &self.fx {
            w.record(FX, |e| put_fx(e, f));
        }
        for fp in self.seen_other.fingerprints() {
            w.record(SEEN_OTHER, |e| e.u128_fixed(fp));
        }
        self.write_lists(&mut w);
        w.finish()
    }

    /// Starts remembering what changes in the engine, its store and `ledger` (from the state
    /// as it is now, which the caller has saved or restored), so `checkpoint_changes` can
    /// write only that. Called again once a checkpoint is saved.
    pub fn track_changes(&mut self, ledger: &mut IncrementalLedger) {
        self.store.track_changes();
        ledger.track_changes();
        self.seen_other.track_changes();
        self.changes = Some(EngineChanges { saved_fx: self.fx.len(), spend: Vec::new() });
    }

    /// What changed since the last checkpoint (or since `track_changes`) as checkpoint parts:
    /// restored on top of that checkpoint (see `Restore::next_checkpoint`), they give this
    /// state. Its size follows what changed, not the whole state. Without `track_changes`,
    /// the whole state.
    pub fn checkpoint_changes(&self, ledger: &IncrementalLedger) -> Vec<Vec<u8>> {
        let Some(c) = &self.changes else { return self.checkpoint(ledger) };
        let mut w = CheckpointWriter::new();
        self.store.checkpoint_changes(&mut w);
        ledger.checkpoint_changes(&mut w);
        let mut spend = c.spend.clone();
        spend.sort_unstable();
        spend.dedup();
        for i in spend {
            w.record(SPEND_SET, |e| {
                e.u64(i as u64);
                put_spend(e, &self.spend_entries[i]);
            });
        }
        for f in &self.fx[c.saved_fx..] {
            w.record(FX, |e| put_fx(e, f));
        }
        for fp in self.seen_other.added_since_saved() {
            w.record(SEEN_OTHER, |e| e.u128_fixed(fp));
        }
        w.record(LISTS_RESET, |_| {});
        self.write_lists(&mut w);
        w.finish()
    }

    /// The lists a batch fills and drains (normally empty between batches), the counts, and
    /// the end record.
    fn write_lists(&self, w: &mut CheckpointWriter) {
        for a in &self.engagement {
            w.record(ENGAGEMENT, |e| JourneyStore::put_activity(e, a));
        }
        for s in &self.superseded_spend {
            w.record(SUPERSEDED_SPEND, |e| put_spend(e, s));
        }
        for i in &self.dirty_spend {
            w.record(DIRTY_SPEND, |e| e.u64(*i as u64));
        }
        for (topic, c) in &self.counts {
            w.record(COUNTS, |e| {
                e.str(topic);
                for n in [c.received, c.accepted, c.duplicates, c.rejected] {
                    e.u64(n);
                }
            });
        }
        let records = w.records();
        w.record(END, |e| e.u64(records));
    }
}

/// An engine and its written-row fingerprints being rebuilt from checkpoint parts fed in order.
pub struct Restore {
    engine: Engine,
    ledger: IncrementalLedger,
    records: u64,
    ended: bool,
}

impl Restore {
    pub fn new(config: AttributionConfig) -> Restore {
        Restore { engine: Engine::new(config), ledger: IncrementalLedger::new(), records: 0, ended: false }
    }

    /// Ends one checkpoint of a chain, so the parts fed next are a checkpoint of the changes
    /// since it (`Engine::checkpoint_changes`).
    pub fn next_checkpoint(&mut self) -> Result<(), CodecError> {
        if !self.ended {
            return Err(CodecError(format!("cut short after {} records", self.records)));
        }
        (self.ended, self.records) = (false, 0);
        Ok(())
    }

    /// Applies every record of one part.
    pub fn feed(&mut self, part: &[u8]) -> Result<(), CodecError> {
        let mut d = Decoder::new(part);
        while !d.is_empty() {
            if self.ended {
                return Err(CodecError("records after the end".into()));
            }
            let tag = d.u8()?;
            if tag == END {
                let want = d.u64()?;
                if want != self.records {
                    return Err(CodecError(format!("{} records where the checkpoint wrote {want}", self.records)));
                }
                self.ended = true;
                continue;
            }
            self.record(tag, &mut d)?;
            self.records += 1;
        }
        Ok(())
    }

    fn record(&mut self, tag: u8, d: &mut Decoder<'_>) -> Result<(), CodecError> {
        let e = &mut self.engine;
        match tag {
            ENGAGEMENT => {
                let a = e.store.get_activity(d)?;
                e.engagement.push(a);
            }
            FX => {
                let date = get_date(d)?;
                let currency = get_currency(d)?;
                let rate = FxRate { date, currency, rate_to_reporting: d.str()?.to_string() };
                e.fx_table.insert(&rate);
                e.fx.push(rate);
            }
            SPEND => {
                let i = e.spend_entries.len();
                set_spend(e, i, get_spend(d)?)?;
            }
            SPEND_SET => {
                let i = d.u64()? as usize;
                set_spend(e, i, get_spend(d)?)?;
            }
            LISTS_RESET => {
                e.engagement.clear();
                e.superseded_spend.clear();
                e.dirty_spend.clear();
            }
            SUPERSEDED_SPEND => {
                let entry = get_spend(d)?;
                e.superseded_spend.push(entry);
            }
            DIRTY_SPEND => {
                let i = d.u64()? as usize;
                if i >= e.spend_entries.len() {
                    return Err(CodecError(format!("spend entry {i} is not there")));
                }
                e.dirty_spend.push(i);
            }
            SEEN_OTHER => e.seen_other.insert_fingerprint(d.u128_fixed()?),
            COUNTS => {
                let topic = d.str()?;
                let topic = Topic::parse(topic).ok_or_else(|| CodecError(format!("{topic:?} is no topic")))?;
                let c = e.count(topic);
                *c = TopicCounts { received: d.u64()?, accepted: d.u64()?, duplicates: d.u64()?, rejected: d.u64()? };
            }
            other => {
                if !e.store.restore_record(other, d)? && !self.ledger.restore_record(other, d, &e.store)? {
                    return Err(unknown_tag(other));
                }
            }
        }
        Ok(())
    }

    /// The engine and the fingerprints (without fits: see `IncrementalLedger::fit`), once the
    /// last part was fed.
    pub fn finish(self) -> Result<(Engine, IncrementalLedger), CodecError> {
        match self.ended {
            true => Ok((self.engine, self.ledger)),
            false => Err(CodecError(format!("cut short after {} records", self.records))),
        }
    }
}
