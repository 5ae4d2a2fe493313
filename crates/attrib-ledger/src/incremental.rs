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
};
use crate::engine::Engine;
use crate::fit::{fit_data_driven, DataDrivenFits, FitReport};
use crate::fx::FxTable;
use crate::parallel::par_map;
use attrib_identity::NodeId;
use attrib_journeys::{Journey, JourneyStore, Touch};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One touchpoint as written to the `touchpoints` table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TouchRow {
    pub touch_source: String,
    pub touch_event_id: String,
    pub person_id: String,
    pub touch_time: String,
    pub channel: String,
    pub platform: String,
    pub actor_type: String,
    pub interaction: String,
    pub account_id: String,
    pub campaign_id: String,
    pub post_id: String,
    pub ad_id: String,
}

impl TouchRow {
    pub fn of(person: &str, t: &Touch<'_>) -> TouchRow {
        TouchRow {
            touch_source: t.source.as_str().to_string(),
            touch_event_id: t.event_id.to_string(),
            person_id: person.to_string(),
            touch_time: t.time.to_string(),
            channel: t.channel.as_str().to_string(),
            platform: t.platform().map(|p| p.as_str().to_string()).unwrap_or_default(),
            actor_type: t.actor_type.map(|a| a.as_str().to_string()).unwrap_or_default(),
            interaction: t.interaction.map(|i| i.as_str().to_string()).unwrap_or_default(),
            account_id: t.account_id.unwrap_or_default().to_string(),
            campaign_id: t.campaign_id.unwrap_or_default().to_string(),
            post_id: t.post_id.unwrap_or_default().to_string(),
            ad_id: t.ad_id.unwrap_or_default().to_string(),
        }
    }

    fn key(&self) -> (&str, &str) {
        (&self.touch_source, &self.touch_event_id)
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
    versions: &[String],
    fx: &FxTable,
) -> Vec<WrittenPerson> {
    let one = |root: &NodeId| -> WrittenPerson {
        let journey: Journey<'_> = store.journey(*root);
        let touches = journey.touches.iter().map(|t| TouchRow::of(journey.person, t)).collect();
        let JourneyCredits { credits, conversions, pipeline, .. } =
            attribute_journey(&journey, config, fits, versions, fx);
        WrittenPerson { credits, conversions, touches, pipeline }
    };
    // Small batches are not worth the threads.
    let threads =
        if roots.len() < 256 { 1 } else { std::thread::available_parallelism().map_or(1, |n| n.get()).min(8) };
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

/// The rows written for one person, as last computed.
#[derive(Debug, Clone, Default)]
struct WrittenPerson {
    credits: Vec<CreditRow>,
    conversions: Vec<ConversionRow>,
    touches: Vec<TouchRow>,
    pipeline: Vec<CreditRow>,
}

impl WrittenPerson {
    fn absorb(&mut self, other: WrittenPerson) {
        self.pipeline.extend(other.pipeline);
        self.credits.extend(other.credits);
        self.conversions.extend(other.conversions);
        self.touches.extend(other.touches);
    }
}

/// The table key of a credit row (the ORDER BY of `attribution_credits`).
fn credit_key(c: &CreditRow) -> (&str, i64, &str, &str, &str) {
    (&c.conversion_id, c.conversion_version, &c.model, &c.touch_source, &c.touch_event_id)
}

/// The table key of a conversion row (the ORDER BY of `conversions`).
fn conversion_key(c: &ConversionRow) -> (&str, i64) {
    (&c.conversion_id, c.conversion_version)
}

/// Appends to `out` what turns the `old` rows into the `new` ones, matched by table key:
/// new or changed rows live, vanished rows as tombstones. Unchanged rows cost no copy.
fn diff_rows<'a, T, K, F>(mut old: Vec<&'a T>, mut new: Vec<&'a T>, key: F, out: &mut Vec<Change<T>>)
where
    T: Clone + PartialEq,
    K: Ord,
    F: Fn(&'a T) -> K,
{
    old.sort_unstable_by_key(|a| key(a));
    new.sort_unstable_by_key(|a| key(a));
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        let order = match (old.get(i), new.get(j)) {
            (Some(o), Some(n)) => key(o).cmp(&key(n)),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Less => {
                out.push(Change { row: old[i].clone(), deleted: true });
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(Change { row: new[j].clone(), deleted: false });
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                if old[i] != new[j] {
                    out.push(Change { row: new[j].clone(), deleted: false });
                }
                i += 1;
                j += 1;
            }
        }
    }
}

/// What has been written, per person, keyed by the person's root node at the time of writing
/// (a root absorbed by a later merge is found through the store's absorbed list).
#[derive(Debug, Default)]
pub struct IncrementalLedger {
    people: HashMap<NodeId, WrittenPerson>,
    fits: DataDrivenFits,
    versions: Vec<String>,
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
        self.file(&mut root, rows.conversions, |c| &c.person_id, |p| &mut p.conversions);
        self.file(&mut root, rows.credits, |c| &c.person_id, |p| &mut p.credits);
        self.file(&mut root, rows.touches, |t| &t.person_id, |p| &mut p.touches);
        self.file(&mut root, rows.pipeline, |c| &c.person_id, |p| &mut p.pipeline);
    }

    /// Files each row under its person's root (rows of unknown people are dropped).
    fn file<T>(
        &mut self,
        root: &mut impl FnMut(&str) -> Option<NodeId>,
        rows: Vec<T>,
        person_of: fn(&T) -> &str,
        list: fn(&mut WrittenPerson) -> &mut Vec<T>,
    ) {
        for row in rows {
            if let Some(r) = root(person_of(&row)) {
                list(self.people.entry(r).or_default()).push(row);
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
        let config = engine.config().clone();
        let latest = engine.store().latest_event_time();
        self.fits = fit_data_driven(&engine.store().journeys(), &config, latest);
        self.versions = model_versions(&config, &self.fits);
        engine.store_mut().mark_all_dirty();
    }

    /// Recomputes the people changed since the last update and returns the rows to write.
    pub fn update(&mut self, engine: &mut Engine) -> Changes {
        if self.versions.len() != engine.config().models.len() {
            self.versions = model_versions(engine.config(), &self.fits);
        }
        let store = engine.store_mut();
        let dirty = store.take_dirty();
        let absorbed = store.take_absorbed();
        let mut changes = Changes { people: dirty.len(), ..Changes::default() };
        // Everything written for people who are now (part of) a dirty person: every absorbed
        // root belongs to a dirty person, since a merge makes its survivor dirty.
        let mut old = WrittenPerson::default();
        for node in dirty.iter().chain(&absorbed) {
            if let Some(p) = self.people.remove(node) {
                old.absorb(p);
            }
        }
        if dirty.is_empty() {
            return changes;
        }
        // Recomputing people is pure and independent: spread it over the cores.
        let now = recompute(engine.store(), &dirty, engine.config(), &self.fits, &self.versions, engine.fx_table());
        diff_rows(
            old.touches.iter().collect(),
            now.iter().flat_map(|p| &p.touches).collect(),
            TouchRow::key,
            &mut changes.touchpoints,
        );
        diff_rows(
            old.conversions.iter().collect(),
            now.iter().flat_map(|p| &p.conversions).collect(),
            conversion_key,
            &mut changes.conversions,
        );
        diff_rows(
            old.credits.iter().collect(),
            now.iter().flat_map(|p| &p.credits).collect(),
            credit_key,
            &mut changes.credits,
        );
        diff_rows(
            old.pipeline.iter().collect(),
            now.iter().flat_map(|p| &p.pipeline).collect(),
            credit_key,
            &mut changes.pipeline,
        );
        for (root, person) in dirty.into_iter().zip(now) {
            self.people.insert(root, person);
        }
        changes
    }

    /// Every live row, as a restart would read them back.
    pub fn live_rows(&self) -> LiveRows {
        LiveRows {
            credits: self.live_credits(),
            conversions: self.live_conversions(),
            touches: self.live_touches(),
            pipeline: self.live_pipeline(),
        }
    }

    /// The live credit rows, as the ledger currently stands.
    pub fn live_credits(&self) -> Vec<CreditRow> {
        let mut rows: Vec<CreditRow> = self.people.values().flat_map(|p| p.credits.iter().cloned()).collect();
        sort_ledger(&mut rows);
        rows
    }

    /// The live pipeline rows (open deals credited).
    pub fn live_pipeline(&self) -> Vec<CreditRow> {
        let mut rows: Vec<CreditRow> = self.people.values().flat_map(|p| p.pipeline.iter().cloned()).collect();
        sort_ledger(&mut rows);
        rows
    }

    /// The live conversion rows.
    pub fn live_conversions(&self) -> Vec<ConversionRow> {
        let mut rows: Vec<ConversionRow> = self.people.values().flat_map(|p| p.conversions.iter().cloned()).collect();
        rows.sort_by(|a, b| conversion_key(a).cmp(&conversion_key(b)));
        rows
    }

    /// The live touchpoint rows.
    pub fn live_touches(&self) -> Vec<TouchRow> {
        let mut rows: Vec<TouchRow> = self.people.values().flat_map(|p| p.touches.iter().cloned()).collect();
        rows.sort_by(|a, b| a.key().cmp(&b.key()));
        rows
    }
}
