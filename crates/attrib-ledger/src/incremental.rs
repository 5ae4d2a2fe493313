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

/// A string of a row key: a name the journey store holds (most touch event ids), else one of
/// the ledger's own (conversion ids, model names). Once a string has a name it keeps it: the
/// ledger's own names are looked up first, and the store only ever adds names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct KeyName(u32);

const OWN: u32 = 1 << 31;

#[derive(Debug, Default)]
struct KeyNames {
    own: Symbols,
}

impl KeyNames {
    fn of(&mut self, store: &Symbols, s: &str) -> KeyName {
        if let Some(own) = self.own.get(s) {
            return KeyName(own.index() as u32 | OWN);
        }
        match store.get(s) {
            Some(sym) => KeyName(sym.index() as u32),
            None => KeyName(self.own.intern(s).index() as u32 | OWN),
        }
    }

    fn resolve<'a>(&'a self, store: &'a Symbols, k: KeyName) -> &'a str {
        let sym = |i: u32| Sym::from_index(i as usize);
        if k.0 & OWN != 0 {
            self.own.resolve(sym(k.0 & !OWN))
        } else {
            store.resolve(sym(k.0))
        }
    }
}

/// The table key of a touchpoint row: (touch_source, touch_event_id).
type TouchKey = (KeyName, KeyName);
/// The table key of a conversion row: (conversion_id, conversion_version).
type ConversionKey = (KeyName, i64);
/// The table key of a credit or pipeline row:
/// (conversion_id, conversion_version, model, touch_source, touch_event_id).
type CreditKey = (KeyName, i64, Model, Option<TouchSource>, KeyName);

/// A row already written, remembered by its table key and a hash of its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Written<K> {
    key: K,
    content: u64,
}

/// What was written for one person, as fingerprints.
#[derive(Debug, Clone, Default, PartialEq)]
struct WrittenPerson {
    credits: Vec<Written<CreditKey>>,
    conversions: Vec<Written<ConversionKey>>,
    touches: Vec<Written<TouchKey>>,
    pipeline: Vec<Written<CreditKey>>,
}

impl WrittenPerson {
    fn absorb(&mut self, other: WrittenPerson) {
        self.pipeline.extend(other.pipeline);
        self.credits.extend(other.credits);
        self.conversions.extend(other.conversions);
        self.touches.extend(other.touches);
    }
}

/// A stable hash of a row's content (xxh3 over the derived `Hash` of its fields).
fn content_hash<T: Hash>(row: &T) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    row.hash(&mut h);
    h.finish()
}

/// How a ledger table's rows are keyed, and what its tombstones hold.
trait Keyed: Hash + Clone {
    type Key: Ord + Copy;
    fn key(&self, names: &mut KeyNames, store: &Symbols) -> Self::Key;
    /// A tombstone: the key's columns set, every other column empty.
    fn tombstone(key: Self::Key, names: &KeyNames, store: &Symbols) -> Self;
}

impl Keyed for TouchRow {
    type Key = TouchKey;
    fn key(&self, names: &mut KeyNames, store: &Symbols) -> TouchKey {
        (names.of(store, self.touch_source.as_str()), names.of(store, &self.touch_event_id))
    }
    /// Only the key's columns mean anything in a tombstone: the others are written empty.
    fn tombstone((source, event): TouchKey, names: &KeyNames, store: &Symbols) -> Self {
        TouchRow {
            // Keys of touch rows are only ever made from a source's name.
            touch_source: TouchSource::parse(names.resolve(store, source)).unwrap_or(TouchSource::Web),
            touch_event_id: Name::new(names.resolve(store, event)),
            person_id: Name::default(),
            touch_time: Timestamp::from_unix_nanos(0),
            channel: Channel::Direct,
            actor_type: None,
            interaction: None,
            account_id: Name::default(),
            campaign_id: Name::default(),
            post_id: Name::default(),
            ad_id: Name::default(),
        }
    }
}

impl Keyed for ConversionRow {
    type Key = ConversionKey;
    fn key(&self, names: &mut KeyNames, store: &Symbols) -> ConversionKey {
        (names.of(store, &self.conversion_id), self.conversion_version)
    }
    /// Only the key's columns mean anything in a tombstone: the others are written empty.
    fn tombstone((id, version): ConversionKey, names: &KeyNames, store: &Symbols) -> Self {
        ConversionRow {
            conversion_id: Name::new(names.resolve(store, id)),
            conversion_version: version,
            conversion_type: ConversionType::Order,
            person_id: Name::default(),
            conversion_time: Timestamp::from_unix_nanos(0),
            revenue_minor: 0,
            currency: None,
            touches: 0,
            first_touch_time: None,
            seconds_to_convert: None,
            source_event_id: Name::default(),
            reporting_currency: Currency::XXX,
            revenue_reporting_minor: None,
            fx_status: FxStatus::Same,
            fx_date: None,
            path: Name::default(),
        }
    }
}

impl Keyed for CreditRow {
    type Key = CreditKey;
    fn key(&self, names: &mut KeyNames, store: &Symbols) -> CreditKey {
        (
            names.of(store, &self.conversion_id),
            self.conversion_version,
            self.model,
            self.touch_source,
            names.of(store, &self.touch_event_id),
        )
    }
    /// Only the key's columns mean anything in a tombstone: the others are written empty.
    fn tombstone((id, version, model, source, event): CreditKey, names: &KeyNames, store: &Symbols) -> Self {
        CreditRow {
            conversion_id: Name::new(names.resolve(store, id)),
            conversion_version: version,
            conversion_type: ConversionType::Order,
            model,
            model_version: Name::default(),
            person_id: Name::default(),
            touch_event_id: Name::new(names.resolve(store, event)),
            touch_source: source,
            touch_time: None,
            channel: None,
            platform: None,
            campaign_id: Name::default(),
            post_id: Name::default(),
            ad_id: Name::default(),
            actor_type: None,
            weight: 0.0,
            credit_minor: 0,
            currency: None,
            conversion_time: Timestamp::from_unix_nanos(0),
            credit_reporting_minor: None,
            reporting_currency: Currency::XXX,
        }
    }
}

/// The fingerprint of one row.
fn fingerprint<T: Keyed>(row: &T, names: &mut KeyNames, store: &Symbols) -> Written<T::Key> {
    Written { key: row.key(names, store), content: content_hash(row) }
}

/// Fingerprints of `rows`, whose content hashes are `contents`.
fn fingerprints<T: Keyed>(rows: &[T], contents: &[u64], names: &mut KeyNames, store: &Symbols) -> Vec<Written<T::Key>> {
    rows.iter().zip(contents).map(|(r, &content)| Written { key: r.key(names, store), content }).collect()
}

/// Every person's rows of one table beside their fingerprints, for `diff_rows`.
fn paired<'a, T: Keyed>(
    now: &'a [PersonRows],
    written: &[WrittenPerson],
    rows: fn(&PersonRows) -> &[T],
    fingerprints: fn(&WrittenPerson) -> &[Written<T::Key>],
) -> Vec<(Written<T::Key>, &'a T)> {
    now.iter().zip(written).flat_map(|(p, w)| fingerprints(w).iter().copied().zip(rows(p))).collect()
}

/// Appends to `out` what turns the `old` rows into the `new` ones, matched by table key:
/// new or changed rows live, vanished rows as tombstones (key only).
fn diff_rows<T: Keyed>(
    mut old: Vec<Written<T::Key>>,
    new: &[(Written<T::Key>, &T)],
    names: &KeyNames,
    store: &Symbols,
    out: &mut Vec<Change<T>>,
) {
    old.sort_unstable_by_key(|w| w.key);
    let mut new: Vec<&(Written<T::Key>, &T)> = new.iter().collect();
    new.sort_unstable_by_key(|(w, _)| w.key);
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        let order = match (old.get(i), new.get(j)) {
            (Some(o), Some((n, _))) => o.key.cmp(&n.key),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Less => {
                out.push(Change { row: T::tombstone(old[i].key, names, store), deleted: true });
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(Change { row: new[j].1.clone(), deleted: false });
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                if old[i].content != new[j].0.content {
                    out.push(Change { row: new[j].1.clone(), deleted: false });
                }
                i += 1;
                j += 1;
            }
        }
    }
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

    /// Refits the data-driven models on all journeys and marks everyone for recomputation,
    /// so the next `update` rewrites data-driven credits with the new `model_version`.
    pub fn refit(&mut self, engine: &mut Engine) {
        self.fit(engine);
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
