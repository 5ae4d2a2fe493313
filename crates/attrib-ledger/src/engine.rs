//! The engine: records in (as bytes or typed events), the ledger out.
//!
//! The same engine serves batch, demo and the streaming service; it holds no IO.

use crate::credits::{attribute_journey, model_versions, AttributionConfig, ConversionRow, CreditRow, JourneyCredits};
use crate::finance::DealVersionRow;
use crate::fit::{count_into, fit_data_driven, FitReport};
use crate::fx::FxTable;
use crate::incremental::Change;
use crate::kpi::{engagement_counts, kpi_facts, EngagementRow, KpiFact, KpiInputs};
use crate::parallel::par_chunks_in_order;
use crate::spend::{AdDay, SpendEntry, SpendRow};
use crate::totals::{KpiCells, LedgerTotals};
use attrib_contract::Timestamp;
use attrib_contract::{decode, DecodeError, Event, FxRate, Topic};
use attrib_journeys::TouchSource;
use attrib_journeys::{FirstCopies, Ingested, JourneyStore, SocialActivity};
use attrib_models::Model;
use std::collections::{BTreeMap, HashMap};

mod checkpoint;
pub use checkpoint::Restore;

/// People attributed per hand-over of `attribute_each`: small enough that the rows in flight
/// (a few chunks per worker) stay a few megabytes, large enough that handing a chunk over
/// costs nothing measurable.
const HANDOVER_PEOPLE: usize = 512;

/// Counts of what happened to the records of one topic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TopicCounts {
    pub received: u64,
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: u64,
}

/// What became of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    Duplicate,
}

/// The whole ledger of a run: credit rows and conversion rows, sorted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ledger {
    pub credits: Vec<CreditRow>,
    pub conversions: Vec<ConversionRow>,
    /// Open deals credited to the touches before their creation (pipeline influenced).
    pub pipeline: Vec<CreditRow>,
    /// One report per data-driven model fitted for this ledger.
    pub fits: Vec<FitReport>,
}

/// Attribution engine over the valid records it was given.
#[derive(Debug)]
pub struct Engine {
    config: AttributionConfig,
    store: JourneyStore,
    /// Accepted social interactions (interned) not yet taken (see `take_engagement_rows`).
    engagement: Vec<SocialActivity>,
    fx: Vec<FxRate>,
    fx_table: FxTable,
    /// Paid amounts (ads.spend and interaction costs), and those to (re)write.
    spend_entries: Vec<SpendEntry>,
    dirty_spend: Vec<usize>,
    /// The entry stating each ad-day of `ads.spend` (its highest version).
    ad_days: HashMap<AdDay, usize>,
    /// Entries a higher version replaced, whose written facts are to be withdrawn.
    superseded_spend: Vec<SpendEntry>,
    seen_other: FirstCopies,
    counts: BTreeMap<&'static str, TopicCounts>,
    /// What changed since the last checkpoint, when checkpoints of changes are taken.
    changes: Option<EngineChanges>,
}

/// The engine's own changes since a checkpoint (the store keeps its own): rates are only
/// appended, spend entries appended or replaced in place.
#[derive(Debug, Default)]
struct EngineChanges {
    saved_fx: usize,
    spend: Vec<usize>,
}

impl Engine {
    pub fn new(config: AttributionConfig) -> Self {
        let store = JourneyStore::new(config.journeys);
        let counts = Topic::ALL.iter().map(|t| (t.as_str(), TopicCounts::default())).collect();
        Engine {
            config,
            store,
            engagement: Vec::new(),
            fx: Vec::new(),
            fx_table: FxTable::new(),
            spend_entries: Vec::new(),
            dirty_spend: Vec::new(),
            ad_days: HashMap::new(),
            superseded_spend: Vec::new(),
            seen_other: FirstCopies::default(),
            counts,
            changes: None,
        }
    }

    pub fn config(&self) -> &AttributionConfig {
        &self.config
    }

    pub fn store(&self) -> &JourneyStore {
        &self.store
    }

    /// Mutable access for incremental updates (dirty tracking, refits).
    pub fn store_mut(&mut self) -> &mut JourneyStore {
        &mut self.store
    }

    /// Accepted social interactions (every kind, identified or not) not yet taken, as rows:
    /// all of them for batch runs, which never take.
    pub fn engagement_rows(&self) -> Vec<EngagementRow> {
        self.engagement.iter().map(|a| EngagementRow::of(a, self.store.names())).collect()
    }

    /// Hands over the interactions accepted since the last call (the service writes them).
    pub fn take_engagement_rows(&mut self) -> Vec<EngagementRow> {
        let rows = self.engagement_rows();
        self.engagement.clear();
        rows
    }

    pub fn fx_rates(&self) -> &[FxRate] {
        &self.fx
    }

    /// Per-topic counts of received, accepted, duplicate and rejected records.
    /// The rates as applied (first copy of a date and currency).
    pub fn fx_table(&self) -> &FxTable {
        &self.fx_table
    }

    /// Every spend fact, priced with the rates known now, ordered by (source, event id).
    pub fn spend_rows(&self) -> Vec<SpendRow> {
        let mut rows: Vec<SpendRow> =
            self.spend_entries.iter().map(|e| e.row(&self.fx_table, &self.config.reporting)).collect();
        rows.sort_by(|a, b| (&a.source, &a.event_id).cmp(&(&b.source, &b.event_id)));
        rows
    }

    /// Spend facts that are new or whose reporting amount may have changed since the last call,
    /// and withdrawals (`deleted`) of facts a higher `ads.spend` version replaced.
    pub fn take_spend_changes(&mut self) -> Vec<Change<SpendRow>> {
        let mut idx = std::mem::take(&mut self.dirty_spend);
        idx.sort_unstable();
        idx.dedup();
        let reporting = &self.config.reporting;
        let withdrawn = std::mem::take(&mut self.superseded_spend)
            .into_iter()
            .map(|e| Change { row: e.row(&self.fx_table, reporting), deleted: true });
        let current = idx
            .into_iter()
            .map(|i| Change { row: self.spend_entries[i].row(&self.fx_table, reporting), deleted: false });
        withdrawn.chain(current).collect()
    }

    fn add_spend(&mut self, entry: SpendEntry) {
        self.spend_changed(self.spend_entries.len());
        self.spend_entries.push(entry);
    }

    /// Spend entry `i` is new or replaced: to write, and to checkpoint.
    fn spend_changed(&mut self, i: usize) {
        self.dirty_spend.push(i);
        if let Some(c) = &mut self.changes {
            c.spend.push(i);
        }
    }

    /// An `ads.spend` record: it states its ad-day unless a higher version already does.
    fn add_ad_spend(&mut self, entry: SpendEntry) {
        match self.ad_days.entry(entry.ad_day()) {
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(self.spend_entries.len());
                self.add_spend(entry);
            }
            std::collections::hash_map::Entry::Occupied(slot) => {
                let i = *slot.get();
                if entry.supersedes(&self.spend_entries[i]) {
                    let replaced = std::mem::replace(&mut self.spend_entries[i], entry);
                    self.superseded_spend.push(replaced);
                    self.spend_changed(i);
                }
            }
        }
    }

    /// The KPI fact table of `ledger` (attributed by this engine), its spend and engagement.
    pub fn kpi_facts(&self, ledger: &Ledger) -> Vec<KpiFact> {
        self.kpi_facts_of(&LedgerTotals::of(&[], &ledger.credits, &ledger.pipeline).kpi)
    }

    /// The KPI fact table of credit cells folded from this engine's ledger, with its spend and
    /// engagement.
    pub fn kpi_facts_of(&self, cells: &KpiCells) -> Vec<KpiFact> {
        let models: Vec<&str> = self.config.models.iter().map(|m| m.as_str()).collect();
        kpi_facts(&KpiInputs {
            cells,
            spend: &self.spend_rows(),
            engagement: &engagement_counts(&self.engagement, self.store.names()),
            models: &models,
        })
    }

    /// Every deal version received, ordered by deal, version and event id.
    pub fn deal_versions(&self) -> Vec<DealVersionRow> {
        let mut rows: Vec<DealVersionRow> = self.store.deal_records().map(|d| DealVersionRow::of(&d)).collect();
        rows.sort_by(|a, b| (&a.deal_id, a.version, &a.event_id).cmp(&(&b.deal_id, b.version, &b.event_id)));
        rows
    }

    pub fn counts(&self) -> &BTreeMap<&'static str, TopicCounts> {
        &self.counts
    }

    fn count(&mut self, topic: Topic) -> &mut TopicCounts {
        self.counts.entry(topic.as_str()).or_default()
    }

    /// Decodes and ingests one raw record. A rejected record changes nothing but the counts.
    pub fn ingest_bytes(&mut self, topic: Topic, bytes: &[u8]) -> Result<Outcome, DecodeError> {
        self.count(topic).received += 1;
        match decode(topic, bytes) {
            Ok(event) => Ok(self.ingest_valid(&event)),
            Err(e) => {
                self.count(topic).rejected += 1;
                Err(e)
            }
        }
    }

    /// Counts a record of `topic` that was rejected before reaching the engine
    /// (decoded elsewhere, e.g. on another thread).
    pub fn record_rejected(&mut self, topic: Topic) {
        let c = self.count(topic);
        c.received += 1;
        c.rejected += 1;
    }

    /// Ingests one already decoded record (it keeps none of the record's own memory: the
    /// caller frees it, on the thread that made it, say).
    pub fn ingest(&mut self, event: &Event) -> Outcome {
        self.count(event.topic()).received += 1;
        self.ingest_valid(event)
    }

    fn ingest_valid(&mut self, event: &Event) -> Outcome {
        let topic = event.topic();
        let accepted = match event {
            Event::Social(e) => {
                let cost = SpendEntry::from_interaction(e);
                let (ingested, activity) = self.store.ingest_social_activity(e);
                self.engagement.extend(activity);
                let accepted = matches!(ingested, Ingested::Accepted { .. });
                if accepted {
                    if let Some(cost) = cost {
                        self.add_spend(cost);
                    }
                }
                accepted
            }
            Event::Web(e) => matches!(self.store.ingest_web(e), Ingested::Accepted { .. }),
            Event::Crm(e) => matches!(self.store.ingest_crm(e), Ingested::Accepted { .. }),
            other @ (Event::Spend(_) | Event::Fx(_)) => {
                if self.seen_other.insert(topic, &other.dedup_key()) {
                    match other {
                        Event::Spend(s) => self.add_ad_spend(SpendEntry::from_ads(s)),
                        Event::Fx(f) => {
                            // A rate may arrive after the conversions it prices.
                            if self.fx_table.insert(f) && f.currency != self.config.reporting.currency {
                                self.store.mark_converting_dirty();
                                let reporting = self.config.reporting;
                                let priced = self.spend_entries.iter().enumerate();
                                let repriced = priced.filter(|(_, e)| e.priced_by(f.currency, f.date, &reporting));
                                self.dirty_spend.extend(repriced.map(|(i, _)| i));
                            }
                            self.fx.push(f.clone());
                        }
                        _ => {}
                    }
                    true
                } else {
                    false
                }
            }
        };
        let c = self.count(topic);
        if accepted {
            c.accepted += 1;
            Outcome::Accepted
        } else {
            c.duplicates += 1;
            Outcome::Duplicate
        }
    }

    /// Attributes every conversion of every person under every configured model.
    /// Data-driven models are fitted first on all journeys. Work is split over `threads`
    /// (journeys are independent); the result is sorted and does not depend on the split
    /// or on the order records arrived in.
    pub fn attribute(&self, threads: usize) -> Ledger {
        let mut ledger = Ledger::default();
        let fits = self.attribute_each(threads, |part| {
            ledger.credits.extend(part.credits);
            ledger.conversions.extend(part.conversions);
            ledger.pipeline.extend(part.pipeline);
            Ok::<(), std::convert::Infallible>(())
        });
        let Ok(fits) = fits;
        // Drop the slack of growing by doubling (a large block shrinks in place).
        ledger.credits.shrink_to_fit();
        ledger.pipeline.shrink_to_fit();
        ledger.conversions.shrink_to_fit();
        ledger.fits = fits;
        // A total order, so an in-place unstable sort gives the stable one without a scratch
        // copy of the ledger.
        let order = self.ledger_order();
        ledger.credits.sort_unstable_by(&order);
        ledger.pipeline.sort_unstable_by(&order);
        ledger.conversions.sort_by(|a, b| a.conversion_id.cmp(&b.conversion_id));
        ledger
    }

    /// The ledger's row order: by conversion, model (in configured order), then touch order
    /// (time, event id, topic), which the rows of one conversion and model are pushed in.
    fn ledger_order(&self) -> impl Fn(&CreditRow, &CreditRow) -> std::cmp::Ordering + '_ {
        let model_rank = |m: Model| self.config.models.iter().position(|x| *x == m).unwrap_or(usize::MAX);
        fn key(c: &CreditRow, rank: usize) -> (&str, usize, Option<Timestamp>, &str, Option<TouchSource>) {
            (&c.conversion_id, rank, c.touch_time, &c.touch_event_id, c.touch_source)
        }
        move |a: &CreditRow, b: &CreditRow| key(a, model_rank(a.model)).cmp(&key(b, model_rank(b.model)))
    }

    /// Attributes like `attribute`, but hands the rows over one person at a time, in person-key
    /// order (each person's rows in ledger order), so the ledger is never held whole: `each` runs
    /// on the calling thread while worker threads attribute the next people. Returns the fit reports, or
    /// the first error of `each` (no person is handed over after it).
    pub fn attribute_each<E>(
        &self,
        threads: usize,
        each: impl FnMut(JourneyCredits) -> Result<(), E>,
    ) -> Result<Vec<FitReport>, E> {
        self.attribute_each_prepared(threads, || (), |_, part| part, each).map(|(reports, _)| reports)
    }

    /// `attribute_each` with `prepare` run on the attributing threads, for each person's rows
    /// as they are computed (formatting them for a file, or adding them to order-free sums, say):
    /// `each` is given what it returns. Every attributing thread prepares with a state of its
    /// own, from `init`; the states come back with the fit reports.
    pub fn attribute_each_prepared<S: Send, T: Send, E>(
        &self,
        threads: usize,
        init: impl Fn() -> S + Sync,
        prepare: impl Fn(&mut S, JourneyCredits) -> T + Sync,
        each: impl FnMut(T) -> Result<(), E>,
    ) -> Result<(Vec<FitReport>, Vec<S>), E> {
        let store = &self.store;
        let fits = fit_data_driven(
            &store.person_roots_unordered(),
            |r| store.journey(*r),
            threads,
            &self.config,
            store.latest_event_time(),
        );
        let versions = model_versions(&self.config, &fits);
        let order = self.ledger_order();
        let roots = store.converting_roots();
        // What attributing counts (fallbacks, truncations) goes to the reports, while the fits
        // themselves are read by the workers.
        let mut reports = fits.reports.clone();
        let mut each = each;
        let states = par_chunks_in_order(
            &roots,
            HANDOVER_PEOPLE,
            threads,
            init,
            |state, root| {
                let mut part = attribute_journey(&store.journey(*root), &self.config, &fits, &versions, &self.fx_table);
                part.credits.sort_unstable_by(&order);
                part.pipeline.sort_unstable_by(&order);
                part.conversions.sort_by(|a, b| a.conversion_id.cmp(&b.conversion_id));
                let counts = std::mem::take(&mut part.counts);
                (counts, prepare(state, part))
            },
            |parts| {
                parts.into_iter().try_for_each(|(counts, part)| {
                    count_into(&mut reports, &counts);
                    each(part)
                })
            },
        )?;
        Ok((reports, states))
    }
}
