//! The ledger kept up to date one batch at a time (the streaming service's view).
//!
//! After each batch, only the people whose journeys may have changed are recomputed. The
//! result is compared with what was written before: new or changed rows are emitted, rows
//! that no longer exist (a restated deal's old version, a session that turned out to be a
//! social click, a conversion that moved to a merged person) are emitted as tombstones.
//! Rows are keyed deterministically, so writing the same change twice never changes a total,
//! and after all events are in, the live rows equal the batch ledger whatever the arrival
//! order.

use crate::credits::{
    attribute_journey, model_versions, sort_ledger, AttributionConfig, ConversionRow, CreditRow, JourneyCredits,
    ModelVersions,
};
use crate::engine::Engine;
use crate::fit::{DataDrivenFits, FitReport};
use crate::fx::{FxStatus, FxTable};
use crate::parallel::par_map;
use attrib_contract::{ActorType, Currency, InteractionKind, Name, Platform, Timestamp};
use attrib_identity::NodeId;
use attrib_journeys::{Channel, ConversionType, Journey, JourneyStore, Sym, Symbols, Touch, TouchSource};
use attrib_models::Model;
use hashbrown::{HashMap, HashSet};

mod checkpoint;
mod fingerprint;

use fingerprint::*;
use std::hash::{Hash, Hasher};

/// One touchpoint as written to the `touchpoints` table, its values typed (they become text
/// only in the ClickHouse row).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TouchRow {
    pub touch_source: TouchSource,
    pub touch_event_id: Name,
    pub person_id: Name,
    pub touch_time: Timestamp,
    pub channel: Channel,
    pub actor_type: Option<ActorType>,
    pub interaction: Option<InteractionKind>,
    /// Empty when the touch has none (as the column).
    pub account_id: Name,
    pub campaign_id: Name,
    pub post_id: Name,
    pub ad_id: Name,
}

impl TouchRow {
    pub fn of(person: &Name, t: &Touch<'_>) -> TouchRow {
        TouchRow {
            touch_source: t.source,
            touch_event_id: Name::new(t.event_id),
            person_id: person.clone(),
            touch_time: t.time,
            channel: t.channel,
            actor_type: t.actor_type,
            interaction: t.interaction,
            account_id: Name::or_empty(t.account_id),
            campaign_id: Name::or_empty(t.campaign_id),
            post_id: Name::or_empty(t.post_id),
            ad_id: Name::or_empty(t.ad_id),
        }
    }

    /// The platform of a social channel.
    pub fn platform(&self) -> Option<Platform> {
        self.channel.platform()
    }
}

/// A row to write: live, or a tombstone (`deleted`) carrying the values it reverses.
#[derive(Debug, Clone, PartialEq)]
pub struct Change<T> {
    pub row: T,
    pub deleted: bool,
}

/// Everything one update produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    pub credits: Vec<Change<CreditRow>>,
    pub conversions: Vec<Change<ConversionRow>>,
    pub touchpoints: Vec<Change<TouchRow>>,
    pub pipeline: Vec<Change<CreditRow>>,
    /// People recomputed.
    pub people: usize,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.rows() == 0
    }

    pub fn rows(&self) -> usize {
        self.credits.len() + self.conversions.len() + self.touchpoints.len() + self.pipeline.len()
    }
}

/// Whether `recompute` hashes the rows it computes (a diff needs them, a listing does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RowHashes {
    Compute,
    Skip,
}

/// Journeys, touch rows and credits of `roots`, on all available cores, in `roots` order.
fn recompute(
    store: &JourneyStore,
    roots: &[NodeId],
    config: &AttributionConfig,
    fits: &DataDrivenFits,
    versions: &ModelVersions,
    fx: &FxTable,
    hashes: RowHashes,
) -> Vec<PersonRows> {
    let one = |root: &NodeId| -> PersonRows {
        let journey: Journey<'_> = store.journey(*root);
        let person = Name::new(journey.person);
        let touches: Vec<TouchRow> = journey.touches.iter().map(|t| TouchRow::of(&person, t)).collect();
        let JourneyCredits { credits, conversions, pipeline, .. } =
            attribute_journey(&journey, config, fits, versions, fx);
        // Hashing the rows is pure too: done here, on all cores, not in the serial diff.
        let contents = match hashes {
            RowHashes::Compute => Contents {
                credits: credits.iter().map(content_hash).collect(),
                conversions: conversions.iter().map(content_hash).collect(),
                touches: touches.iter().map(content_hash).collect(),
                pipeline: pipeline.iter().map(content_hash).collect(),
            },
            RowHashes::Skip => Contents::default(),
        };
        PersonRows { credits, conversions, touches, pipeline, contents }
    };
    // Small batches are not worth the threads.
    let threads = if roots.len() < 256 { 1 } else { crate::parallel::available_threads() };
    par_map(roots, threads, one)
}

/// Live rows of every ledger table, as a restart reads them back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveRows {
    pub credits: Vec<CreditRow>,
    pub conversions: Vec<ConversionRow>,
    pub touches: Vec<TouchRow>,
    pub pipeline: Vec<CreditRow>,
}

/// The rows computed for one person, and the content hash of each.
#[derive(Debug, Clone, Default)]
struct PersonRows {
    credits: Vec<CreditRow>,
    conversions: Vec<ConversionRow>,
    touches: Vec<TouchRow>,
    pipeline: Vec<CreditRow>,
    contents: Contents,
}

/// The content hash of every row of `PersonRows`, table by table, in row order.
#[derive(Debug, Clone, Default)]
struct Contents {
    credits: Vec<u64>,
    conversions: Vec<u64>,
    touches: Vec<u64>,
    pipeline: Vec<u64>,
}

/// What has been written, per person, keyed by the person's root node at the time of writing
/// (a root absorbed by a later merge is found through the store's absorbed list). Rows are
/// remembered by fingerprint (table key + content hash), not as rows (DESIGN §8).
#[derive(Debug, Default)]
pub struct IncrementalLedger {
    people: HashMap<NodeId, WrittenPerson>,
    /// Changed people not yet recomputed, and absorbed roots whose rows they will take.
    pending: Vec<NodeId>,
    pending_absorbed: Vec<NodeId>,
    names: KeyNames,
    fits: DataDrivenFits,
    versions: ModelVersions,
    /// A fit changed since the last refit rewrote the people it shapes (`fit` alone, as a
    /// restart does, leaves their rows at the versions they were written with).
    rows_behind_fit: bool,
    /// What changed since the last checkpoint, when checkpoints of changes are taken.
    changes: Option<LedgerChanges>,
}

/// The roots whose written rows changed since a checkpoint, and the ledger names it held.
#[derive(Debug, Default)]
pub(crate) struct LedgerChanges {
    pub(crate) saved_names: usize,
    pub(crate) people: HashSet<NodeId>,
}

impl IncrementalLedger {
    pub fn new() -> Self {
        Self::default()
    }

    /// Rows currently live, as a restart reads them back from the store it wrote to. Call it
    /// after the engine holds the events those rows came from: rows are filed under the
    /// person their `person_id` belongs to now, and rows of unknown people are dropped.
    pub fn seed(&mut self, engine: &Engine, rows: LiveRows) {
        let store = engine.store();
        let mut roots: HashMap<String, Option<NodeId>> = HashMap::new();
        let mut root = |key: &str| *roots.entry(key.to_string()).or_insert_with(|| store.root_of_key(key));
        let symbols = store.names();
        self.file(&mut root, symbols, &rows.conversions, |c| &c.person_id, |p| &mut p.conversions);
        self.file(&mut root, symbols, &rows.credits, |c| &c.person_id, |p| &mut p.credits);
        self.file(&mut root, symbols, &rows.touches, |t| &t.person_id, |p| &mut p.touches);
        self.file(&mut root, symbols, &rows.pipeline, |c| &c.person_id, |p| &mut p.pipeline);
    }

    /// Files each row's fingerprint under its person's root (rows of unknown people are dropped).
    fn file<T: Keyed>(
        &mut self,
        root: &mut impl FnMut(&str) -> Option<NodeId>,
        symbols: &Symbols,
        rows: &[T],
        person_of: fn(&T) -> &str,
        list: fn(&mut WrittenPerson) -> &mut Vec<Written<T::Key>>,
    ) {
        for row in rows {
            if let Some(r) = root(person_of(row)) {
                let written = fingerprint(row, &mut self.names, symbols);
                list(self.people.entry(r).or_default()).push(written);
            }
        }
    }

    /// Reports of the current data-driven fits.
    pub fn fit_reports(&self) -> &[FitReport] {
        &self.fits.reports
    }

    /// Refits the data-driven models on all journeys. When a fit changed since the last refit
    /// (its `model_version` did, here or in a `fit` since), the people holding a possible
    /// conversion are marked for recomputation, so the next `update` rewrites their data-driven
    /// credits. A fit shapes nothing else (touches, people without outcomes), and a refit that
    /// finds every fit unchanged changes no row at all.
    pub fn refit(&mut self, engine: &mut Engine) {
        self.fit(engine);
        if std::mem::take(&mut self.rows_behind_fit) {
            engine.store_mut().mark_converting_dirty();
        }
    }

    /// Refits and marks everyone for recomputation: to rebuild the whole ledger against rows
    /// read back from the tables (a restart without fingerprints).
    pub fn refit_everyone(&mut self, engine: &mut Engine) {
        self.fit(engine);
        self.rows_behind_fit = false;
        engine.store_mut().mark_all_dirty();
    }

    /// Whether changed people are still waiting for `update_at_most`.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Number of rows remembered (their fingerprints), over all tables.
    pub fn written_rows(&self) -> usize {
        self.people.values().map(|p| p.credits.len() + p.conversions.len() + p.touches.len() + p.pipeline.len()).sum()
    }

    /// Recomputes the people changed since the last update and returns the rows to write.
    pub fn update(&mut self, engine: &mut Engine) -> Changes {
        self.update_at_most(engine, usize::MAX)
    }

    /// Like `update`, for at most `max_people` of the people changed: the rest stay pending
    /// (see `has_pending`) for the next call. A refit makes everyone dirty; writing it in
    /// chunks keeps the rows of one chunk in memory, not the whole ledger's.
    pub fn update_at_most(&mut self, engine: &mut Engine, max_people: usize) -> Changes {
        if self.versions.models() != engine.config().models.len() {
            self.versions = model_versions(engine.config(), &self.fits);
        }
        let store = engine.store_mut();
        self.pending.extend(store.take_dirty());
        self.pending_absorbed.extend(store.take_absorbed());
        // Pending roots stay roots: chunks are drained before more records are ingested, and
        // a root that did get absorbed meanwhile is mapped to its survivor here.
        let graph = store.graph();
        let mut pending: Vec<NodeId> = self.pending.iter().map(|n| graph.root_of(*n)).collect();
        pending.sort_unstable();
        pending.dedup();
        let rest = pending.split_off(pending.len().min(max_people));
        let dirty = pending;
        self.pending = rest;
        // Rows written under a root a merge absorbed belong to the person it joined.
        let chunk: HashSet<NodeId> = dirty.iter().copied().collect();
        let (absorbed, later): (Vec<NodeId>, Vec<NodeId>) =
            self.pending_absorbed.iter().partition(|a| chunk.contains(&graph.root_of(**a)));
        self.pending_absorbed = later;
        let mut changes = Changes { people: dirty.len(), ..Changes::default() };
        // Everything written for people who are now (part of) a dirty person: every absorbed
        // root belongs to a dirty person, since a merge makes its survivor dirty.
        let mut old = WrittenPerson::default();
        // When checkpoints of changes are taken: what each was, so only people whose rows
        // changed are saved (a new rate recomputes every converting person, most unchanged).
        let mut before: HashMap<NodeId, WrittenPerson> = HashMap::new();
        for node in dirty.iter().chain(&absorbed) {
            if let Some(p) = self.people.remove(node) {
                if self.changes.is_some() {
                    before.insert(*node, p.clone());
                }
                old.absorb(p);
            }
        }
        if let Some(c) = &mut self.changes {
            c.people.extend(&absorbed);
        }
        if dirty.is_empty() {
            return changes;
        }
        // Recomputing people is pure and independent: spread it over the cores.
        let (store, config, fx) = (engine.store(), engine.config(), engine.fx_table());
        let now = recompute(store, &dirty, config, &self.fits, &self.versions, fx, RowHashes::Compute);
        let symbols = engine.store().names();
        let names = &mut self.names;
        let written: Vec<WrittenPerson> = now
            .iter()
            .map(|p| WrittenPerson {
                credits: fingerprints(&p.credits, &p.contents.credits, names, symbols),
                conversions: fingerprints(&p.conversions, &p.contents.conversions, names, symbols),
                touches: fingerprints(&p.touches, &p.contents.touches, names, symbols),
                pipeline: fingerprints(&p.pipeline, &p.contents.pipeline, names, symbols),
            })
            .collect();
        let names = &self.names;
        diff_rows(
            old.touches,
            &paired(&now, &written, |p| &p.touches, |w| &w.touches),
            names,
            symbols,
            &mut changes.touchpoints,
        );
        diff_rows(
            old.conversions,
            &paired(&now, &written, |p| &p.conversions, |w| &w.conversions),
            names,
            symbols,
            &mut changes.conversions,
        );
        diff_rows(
            old.credits,
            &paired(&now, &written, |p| &p.credits, |w| &w.credits),
            names,
            symbols,
            &mut changes.credits,
        );
        diff_rows(
            old.pipeline,
            &paired(&now, &written, |p| &p.pipeline, |w| &w.pipeline),
            names,
            symbols,
            &mut changes.pipeline,
        );
        for (root, person) in dirty.into_iter().zip(written) {
            if let Some(c) = &mut self.changes {
                if before.get(&root) != Some(&person) {
                    c.people.insert(root);
                }
            }
            self.people.insert(root, person);
        }
        changes
    }

    /// Every live row, recomputed for the people written (what a restart would read back).
    pub fn live_rows(&self, engine: &Engine) -> LiveRows {
        let mut roots: Vec<NodeId> = self.people.keys().copied().collect();
        roots.sort_unstable();
        let (store, config, fx) = (engine.store(), engine.config(), engine.fx_table());
        let all = recompute(store, &roots, config, &self.fits, &self.versions, fx, RowHashes::Skip);
        let mut live = LiveRows::default();
        for p in all {
            live.credits.extend(p.credits);
            live.conversions.extend(p.conversions);
            live.touches.extend(p.touches);
            live.pipeline.extend(p.pipeline);
        }
        sort_ledger(&mut live.credits);
        sort_ledger(&mut live.pipeline);
        live.conversions
            .sort_by(|a, b| (&a.conversion_id, a.conversion_version).cmp(&(&b.conversion_id, b.conversion_version)));
        live.touches.sort_by(|a, b| (&a.touch_source, &a.touch_event_id).cmp(&(&b.touch_source, &b.touch_event_id)));
        live
    }

    /// The live credit rows, as the ledger currently stands.
    pub fn live_credits(&self, engine: &Engine) -> Vec<CreditRow> {
        self.live_rows(engine).credits
    }

    /// The live pipeline rows (open deals credited).
    pub fn live_pipeline(&self, engine: &Engine) -> Vec<CreditRow> {
        self.live_rows(engine).pipeline
    }
}
