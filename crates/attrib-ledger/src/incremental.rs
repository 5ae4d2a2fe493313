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
use crate::parallel::par_map;
use attrib_identity::NodeId;
use attrib_journeys::{Journey, JourneyStore, Touch};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

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

    fn key(&self) -> (String, String) {
        (self.touch_source.clone(), self.touch_event_id.clone())
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
    /// People recomputed.
    pub people: usize,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.credits.is_empty() && self.conversions.is_empty() && self.touchpoints.is_empty()
    }

    pub fn rows(&self) -> usize {
        self.credits.len() + self.conversions.len() + self.touchpoints.len()
    }
}

/// A recomputed person: key, touch rows, and credits.
type Recomputed = (String, Vec<TouchRow>, JourneyCredits);

/// Journeys, touch rows and credits of `roots`, on all available cores, in `roots` order.
fn recompute(
    store: &JourneyStore,
    roots: &[NodeId],
    config: &AttributionConfig,
    fits: &DataDrivenFits,
    versions: &[String],
) -> Vec<Recomputed> {
    let one = |root: &NodeId| -> Recomputed {
        let journey: Journey<'_> = store.journey(*root);
        let touches = journey.touches.iter().map(|t| TouchRow::of(journey.person, t)).collect();
        (journey.person.to_string(), touches, attribute_journey(&journey, config, fits, versions))
    };
    // Small batches are not worth the threads.
    let threads =
        if roots.len() < 256 { 1 } else { std::thread::available_parallelism().map_or(1, |n| n.get()).min(8) };
    par_map(roots, threads, one)
}

/// The credit rows of one conversion version, keyed by (model, touch source, touch id).
type CreditKey = (String, String, String);

#[derive(Debug, Clone, Default)]
struct WrittenConversion {
    row: Option<ConversionRow>,
    credits: HashMap<CreditKey, CreditRow>,
}

#[derive(Debug, Clone, Default)]
struct WrittenPerson {
    conversions: HashMap<String, WrittenConversion>,
    touches: HashMap<(String, String), TouchRow>,
}

/// What has been written, per person (by the person key at the time of writing).
#[derive(Debug, Default)]
pub struct IncrementalLedger {
    people: HashMap<String, WrittenPerson>,
    fits: DataDrivenFits,
    versions: Vec<String>,
}

impl IncrementalLedger {
    pub fn new() -> Self {
        Self::default()
    }

    /// Rows currently live, as a restart reads them back from the store it wrote to.
    pub fn seed(&mut self, credits: Vec<CreditRow>, conversions: Vec<ConversionRow>, touches: Vec<TouchRow>) {
        for c in conversions {
            let p = self.people.entry(c.person_id.clone()).or_default();
            let id = c.conversion_id.clone();
            p.conversions.entry(id).or_default().row = Some(c);
        }
        for c in credits {
            let p = self.people.entry(c.person_id.clone()).or_default();
            let key = (c.model.clone(), c.touch_source.clone(), c.touch_event_id.clone());
            p.conversions.entry(c.conversion_id.clone()).or_default().credits.insert(key, c);
        }
        for t in touches {
            self.people.entry(t.person_id.clone()).or_default().touches.insert(t.key(), t);
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
        let dirty = engine.store_mut().take_dirty();
        let mut changes = Changes { people: dirty.len(), ..Changes::default() };
        if dirty.is_empty() {
            return changes;
        }
        let store = engine.store();
        let dirty_set: HashSet<_> = dirty.iter().copied().collect();
        // Everything written for people who are now (part of) a dirty person.
        let stale: Vec<String> = self
            .people
            .keys()
            .filter(|k| store.root_of_key(k).is_some_and(|r| dirty_set.contains(&r)))
            .cloned()
            .collect();
        let mut old = WrittenPerson::default();
        for k in stale {
            if let Some(p) = self.people.remove(&k) {
                old.conversions.extend(p.conversions);
                old.touches.extend(p.touches);
            }
        }
        // Recomputing people is pure and independent: spread it over the cores.
        let computed = recompute(store, &dirty, engine.config(), &self.fits, &self.versions);
        for (person, touch_rows, attributed) in computed {
            let mut now = WrittenPerson::default();
            for row in touch_rows {
                let key = row.key();
                let unchanged = old.touches.remove(&key).is_some_and(|prev| prev == row);
                if !unchanged {
                    changes.touchpoints.push(Change { row: row.clone(), deleted: false });
                }
                now.touches.insert(key, row);
            }
            // Credits come out grouped by conversion, in the order of `conversions`.
            let mut credit_rows = attributed.credits.into_iter().peekable();
            for conv in attributed.conversions {
                let prev = old.conversions.remove(&conv.conversion_id).unwrap_or_default();
                let same_version = prev.row.as_ref().is_some_and(|p| p.conversion_version == conv.conversion_version);
                match &prev.row {
                    Some(p) if p == &conv => {}
                    Some(p) if !same_version => {
                        changes.conversions.push(Change { row: p.clone(), deleted: true });
                        changes.conversions.push(Change { row: conv.clone(), deleted: false });
                    }
                    _ => changes.conversions.push(Change { row: conv.clone(), deleted: false }),
                }
                let mut written = WrittenConversion { row: Some(conv.clone()), credits: HashMap::new() };
                let mut prev_credits = prev.credits;
                while let Some(c) = credit_rows.next_if(|c| c.conversion_id == conv.conversion_id) {
                    let key = (c.model.clone(), c.touch_source.clone(), c.touch_event_id.clone());
                    match prev_credits.remove(&key) {
                        Some(b) if b == c => {}
                        Some(b) if b.conversion_version != c.conversion_version => {
                            changes.credits.push(Change { row: b, deleted: true });
                            changes.credits.push(Change { row: c.clone(), deleted: false });
                        }
                        _ => changes.credits.push(Change { row: c.clone(), deleted: false }),
                    }
                    written.credits.insert(key, c);
                }
                // Rows of this conversion that no longer exist.
                changes.credits.extend(prev_credits.into_values().map(|row| Change { row, deleted: true }));
                now.conversions.insert(conv.conversion_id.clone(), written);
            }
            self.people.insert(person, now);
        }
        // Conversions and touches the dirty people no longer hold.
        for (_, gone) in old.conversions {
            changes.conversions.extend(gone.row.map(|row| Change { row, deleted: true }));
            changes.credits.extend(gone.credits.into_values().map(|row| Change { row, deleted: true }));
        }
        changes.touchpoints.extend(old.touches.into_values().map(|row| Change { row, deleted: true }));
        // Deterministic order for writers and tests.
        changes.credits.sort_by(|a, b| {
            (&a.row.conversion_id, &a.row.model, &a.row.touch_event_id, a.deleted).cmp(&(
                &b.row.conversion_id,
                &b.row.model,
                &b.row.touch_event_id,
                b.deleted,
            ))
        });
        changes
    }

    /// The live credit rows, as the ledger currently stands.
    pub fn live_credits(&self) -> Vec<CreditRow> {
        let mut rows: Vec<CreditRow> = self
            .people
            .values()
            .flat_map(|p| p.conversions.values().flat_map(|c| c.credits.values().cloned()))
            .collect();
        sort_ledger(&mut rows);
        rows
    }
}
