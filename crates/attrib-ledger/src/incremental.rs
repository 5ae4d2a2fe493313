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

/// Journeys, touch rows and credits of `roots`, on all available cores, in `roots` order.
fn recompute(
    store: &JourneyStore,
    roots: &[NodeId],
    config: &AttributionConfig,
    fits: &DataDrivenFits,
    versions: &ModelVersions,
    fx: &FxTable,
) -> Vec<LiveRows> {
    let one = |root: &NodeId| -> LiveRows {
        let journey: Journey<'_> = store.journey(*root);
        let person = Name::new(journey.person);
        let touches: Vec<TouchRow> = journey.touches.iter().map(|t| TouchRow::of(&person, t)).collect();
        let JourneyCredits { credits, conversions, pipeline, .. } =
            attribute_journey(&journey, config, fits, versions, fx);
        LiveRows { credits, conversions, touches, pipeline }
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

/// What has been written, per person, keyed by the person's root node at the time of writing
/// (a root absorbed by a later merge is found through the store's absorbed list). Rows are
/// remembered by fingerprint (table key + content hash), not as rows (DESIGN §8).
#[derive(Debug, Default)]
pub struct IncrementalLedger {
    people: HashMap<NodeId, WrittenPerson>,
    /// Changed people not yet recomputed, and absorbed roots whose rows they will take.
    pending: Vec<NodeId>,
    pending_absorbed: Vec<NodeId>,
    /// `pending` holds distinct roots in descending order, and `pending_absorbed` is in
    /// descending order of the root each joined, so a chunk is taken off their ends (a refit
    /// leaves everyone pending; sorting all of them again for every chunk cost more than
    /// recomputing the chunk).
    pending_ordered: bool,
    /// Absorbed roots whose survivor was not pending when their turn came: they wait for it to
    /// change again (which brings them back into `pending_absorbed`).
    stray_absorbed: Vec<NodeId>,
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
        let (fresh, fresh_absorbed) = (store.take_dirty(), store.take_absorbed());
        let graph = store.graph();
        // Pending roots stay roots while no record arrives (chunks are drained before more
        // records are ingested); once one did, a root it absorbed is mapped to its survivor.
        if !fresh.is_empty() || !fresh_absorbed.is_empty() || !self.pending_ordered {
            self.pending.extend(fresh);
            self.pending_absorbed.extend(fresh_absorbed);
            self.pending_absorbed.append(&mut self.stray_absorbed);
            for n in &mut self.pending {
                *n = graph.root_of(*n);
            }
            self.pending.sort_unstable_by(|a, b| b.cmp(a));
            self.pending.dedup();
            self.pending_absorbed.sort_by_cached_key(|a| std::cmp::Reverse(graph.root_of(*a)));
            self.pending_ordered = true;
        }
        let mut dirty = self.pending.split_off(self.pending.len().saturating_sub(max_people));
        dirty.reverse();
        // Rows written under a root a merge absorbed belong to the person it joined.
        let position: HashMap<NodeId, usize> = dirty.iter().enumerate().map(|(i, r)| (*r, i)).collect();
        let mut absorbed = Vec::new();
        let last = dirty.last().copied();
        while let Some(&a) = self.pending_absorbed.last() {
            let root = graph.root_of(a);
            if last.is_none_or(|l| root > l) {
                break;
            }
            self.pending_absorbed.pop();
            if position.contains_key(&root) {
                absorbed.push(a);
            } else {
                self.stray_absorbed.push(a);
            }
        }
        let survivors: Vec<usize> = absorbed.iter().map(|a| position[&graph.root_of(*a)]).collect();
        let mut changes = Changes { people: dirty.len(), ..Changes::default() };
        if let Some(c) = &mut self.changes {
            c.people.extend(&absorbed);
        }
        // Everything written for each dirty person: its own rows, and those of the roots it
        // absorbed (a merge makes its survivor dirty, so every absorbed root has one here).
        let mut olds: Vec<OldRows> =
            dirty.iter().map(|r| OldRows { own: self.people.remove(r), absorbed: WrittenPerson::default() }).collect();
        for (node, survivor) in absorbed.iter().zip(survivors) {
            if let Some(p) = self.people.remove(node) {
                olds[survivor].absorbed.absorb(p);
            }
        }
        if dirty.is_empty() {
            return changes;
        }
        // Recomputing, fingerprinting and diffing a person is pure and independent of the
        // others: all of it runs on the cores, one person at a time.
        let (store, config, fx) = (engine.store(), engine.config(), engine.fx_table());
        let symbols = store.names();
        let items: Vec<(NodeId, &OldRows)> = dirty.iter().copied().zip(&olds).collect();
        let (fits, versions, names) = (&self.fits, &self.versions, &self.names);
        let one = |(root, old): &(NodeId, &OldRows)| -> PersonUpdate {
            let journey: Journey<'_> = store.journey(*root);
            let person = Name::new(journey.person);
            let touches: Vec<TouchRow> = journey.touches.iter().map(|t| TouchRow::of(&person, t)).collect();
            let JourneyCredits { credits, conversions, pipeline, .. } =
                attribute_journey(&journey, config, fits, versions, fx);
            let (own, absorbed) = (old.own.as_ref(), &old.absorbed);
            PersonUpdate {
                touches: diff_person(own.map_or(&[][..], |w| &w.touches), &absorbed.touches, touches, names, symbols),
                conversions: diff_person(
                    own.map_or(&[][..], |w| &w.conversions),
                    &absorbed.conversions,
                    conversions,
                    names,
                    symbols,
                ),
                credits: diff_person(own.map_or(&[][..], |w| &w.credits), &absorbed.credits, credits, names, symbols),
                pipeline: diff_person(
                    own.map_or(&[][..], |w| &w.pipeline),
                    &absorbed.pipeline,
                    pipeline,
                    names,
                    symbols,
                ),
            }
        };
        // Small batches are not worth the threads.
        let threads = if dirty.len() < 256 { 1 } else { crate::parallel::available_threads() };
        let mut updates = par_map(&items, threads, one);
        drop(items);
        // Names the ledger meets for the first time (a new conversion id) are given here.
        for u in &mut updates {
            u.touches.name_new_keys(&mut self.names, symbols);
            u.conversions.name_new_keys(&mut self.names, symbols);
            u.credits.name_new_keys(&mut self.names, symbols);
            u.pipeline.name_new_keys(&mut self.names, symbols);
        }
        // A key that moved between two people of this chunk (an order id another person's
        // copy now claims) is live in one of them: no tombstone for it.
        cancel_moved_tombstones(&mut updates, |u| &mut u.touches);
        cancel_moved_tombstones(&mut updates, |u| &mut u.conversions);
        cancel_moved_tombstones(&mut updates, |u| &mut u.credits);
        cancel_moved_tombstones(&mut updates, |u| &mut u.pipeline);
        for ((root, old), mut u) in dirty.into_iter().zip(olds).zip(updates) {
            u.touches.drain_changes_into(&mut changes.touchpoints);
            u.conversions.drain_changes_into(&mut changes.conversions);
            u.credits.drain_changes_into(&mut changes.credits);
            u.pipeline.drain_changes_into(&mut changes.pipeline);
            let person = WrittenPerson {
                credits: u.credits.written,
                conversions: u.conversions.written,
                touches: u.touches.written,
                pipeline: u.pipeline.written,
            };
            // When checkpoints of changes are taken, only people whose rows changed are saved
            // (a new rate recomputes every converting person, most of them unchanged).
            if let Some(c) = &mut self.changes {
                if old.own.as_ref() != Some(&person) {
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
        let all = recompute(store, &roots, config, &self.fits, &self.versions, fx);
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
