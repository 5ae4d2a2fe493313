//! The written-row fingerprints as checkpoint records (tags 40–49): a restart that restores
//! them knows what ClickHouse holds without reading the ledger back.

use super::*;
use crate::fit::fit_data_driven;
use attrib_identity::checkpoint::{CheckpointWriter, CodecError, Decoder, Encoder};

const OWN_NAME: u8 = 40;
const WRITTEN: u8 = 41;
const PENDING: u8 = 42;
const PENDING_ABSORBED: u8 = 43;
/// A root whose rows were all withdrawn or moved since the checkpoint below.
const WRITTEN_GONE: u8 = 44;
/// The pending lists that follow replace those of the checkpoint below.
const PENDING_RESET: u8 = 45;

fn put_source(e: &mut Encoder, s: Option<TouchSource>) {
    e.u8(match s {
        None => 0,
        Some(TouchSource::Social) => 1,
        Some(TouchSource::Web) => 2,
    });
}

fn get_source(d: &mut Decoder<'_>) -> Result<Option<TouchSource>, CodecError> {
    match d.u8()? {
        0 => Ok(None),
        1 => Ok(Some(TouchSource::Social)),
        2 => Ok(Some(TouchSource::Web)),
        b => Err(CodecError(format!("{b} is no touch source"))),
    }
}

fn put_model(e: &mut Encoder, m: Model) {
    e.u8(Model::ALL.iter().position(|x| *x == m).unwrap_or(0) as u8);
}

fn get_model(d: &mut Decoder<'_>) -> Result<Model, CodecError> {
    let i = d.u8()?;
    Model::ALL.get(i as usize).copied().ok_or_else(|| CodecError(format!("{i} is no model")))
}

/// Writes a list of fingerprints: its length, then each key (by `key`) and content hash.
fn put_list<K: Copy>(e: &mut Encoder, list: &[Written<K>], key: impl Fn(&mut Encoder, K)) {
    e.u64(list.len() as u64);
    for w in list {
        key(e, w.key);
        e.u64(w.content);
    }
}

impl IncrementalLedger {
    /// Writes the fingerprints of every written row as checkpoint records. The names they
    /// refer to are the store's (checkpointed by the engine, before these) and the ledger's own.
    pub fn checkpoint(&self, w: &mut CheckpointWriter) {
        for name in self.names.own.iter() {
            w.record(OWN_NAME, |e| e.str(name));
        }
        for (root, p) in &self.people {
            write_person(w, *root, p);
        }
        self.write_pending(w);
    }

    fn write_pending(&self, w: &mut CheckpointWriter) {
        for n in &self.pending {
            w.record(PENDING, |e| e.u32(n.index()));
        }
        for n in self.pending_absorbed.iter().chain(&self.stray_absorbed) {
            w.record(PENDING_ABSORBED, |e| e.u32(n.index()));
        }
    }

    /// Starts remembering whose rows change (from the fingerprints as they are now, which the
    /// caller has saved or restored); called again once the changes are saved.
    pub fn track_changes(&mut self) {
        self.changes = Some(LedgerChanges { saved_names: self.names.own.len(), people: HashSet::new() });
    }

    /// Writes the fingerprints that changed since the last checkpoint (all of them when not
    /// tracking): restored on top of that checkpoint, they give these.
    pub fn checkpoint_changes(&self, w: &mut CheckpointWriter) {
        let Some(c) = &self.changes else { return self.checkpoint(w) };
        for i in c.saved_names..self.names.own.len() {
            w.record(OWN_NAME, |e| e.str(self.names.own.resolve(Sym::from_index(i))));
        }
        let mut people: Vec<NodeId> = c.people.iter().copied().collect();
        people.sort_unstable();
        for root in people {
            match self.people.get(&root) {
                Some(p) => write_person(w, root, p),
                None => w.record(WRITTEN_GONE, |e| e.u32(root.index())),
            }
        }
        w.record(PENDING_RESET, |_| {});
        self.write_pending(w);
    }
}

/// One person's written-row fingerprints.
fn write_person(w: &mut CheckpointWriter, root: NodeId, p: &WrittenPerson) {
    let name = |e: &mut Encoder, k: KeyName| e.u32(k.0);
    let credit = |e: &mut Encoder, (id, version, model, source, event): CreditKey| {
        name(e, id);
        e.i64(version);
        put_model(e, model);
        put_source(e, source);
        name(e, event);
    };
    w.record(WRITTEN, |e| {
        e.u32(root.index());
        put_list(e, &p.credits, credit);
        put_list(e, &p.conversions, |e, (id, version)| {
            name(e, id);
            e.i64(version);
        });
        put_list(e, &p.touches, |e, (source, event)| {
            name(e, source);
            name(e, event);
        });
        put_list(e, &p.pipeline, credit);
    });
}

impl IncrementalLedger {
    /// Applies one checkpoint record if its tag is the ledger's; false for another layer's.
    /// `store` is the restored store (its names and identifiers are already there).
    pub fn restore_record(&mut self, tag: u8, d: &mut Decoder<'_>, store: &JourneyStore) -> Result<bool, CodecError> {
        let identifiers = store.graph().identifiers();
        let node = |d: &mut Decoder<'_>| -> Result<NodeId, CodecError> {
            let i = d.u32()?;
            match (i as usize) < identifiers {
                true => Ok(NodeId::from_index(i)),
                false => Err(CodecError(format!("identifier {i} of {identifiers} is not there"))),
            }
        };
        match tag {
            OWN_NAME => {
                let s = d.str()?;
                let n = self.names.own.len();
                if self.names.own.intern(s).index() != n {
                    return Err(CodecError(format!("ledger name {s:?} twice")));
                }
            }
            WRITTEN => {
                let root = node(d)?;
                let (store_names, own_names) = (store.names().len(), self.names.own.len());
                let name = |d: &mut Decoder<'_>| -> Result<KeyName, CodecError> {
                    let k = d.u32()?;
                    let known = match k & OWN != 0 {
                        true => ((k & !OWN) as usize) < own_names,
                        false => (k as usize) < store_names,
                    };
                    known.then_some(KeyName(k)).ok_or_else(|| CodecError(format!("key name {k} is not there")))
                };
                fn list<K>(
                    d: &mut Decoder<'_>,
                    key: impl Fn(&mut Decoder<'_>) -> Result<K, CodecError>,
                ) -> Result<Vec<Written<K>>, CodecError> {
                    let n = d.u64()?;
                    let mut out = Vec::with_capacity(n.min(1 << 16) as usize);
                    for _ in 0..n {
                        let key = key(d)?;
                        out.push(Written { key, content: d.u64()? });
                    }
                    Ok(out)
                }
                let credit = |d: &mut Decoder<'_>| -> Result<CreditKey, CodecError> {
                    Ok((name(d)?, d.i64()?, get_model(d)?, get_source(d)?, name(d)?))
                };
                let person = WrittenPerson {
                    credits: list(d, credit)?,
                    conversions: list(d, |d| Ok((name(d)?, d.i64()?)))?,
                    touches: list(d, |d| Ok((name(d)?, name(d)?)))?,
                    pipeline: list(d, credit)?,
                };
                self.people.insert(root, person);
            }
            PENDING => {
                let n = node(d)?;
                self.pending.push(n);
                self.pending_ordered = false;
            }
            PENDING_ABSORBED => {
                let n = node(d)?;
                self.pending_absorbed.push(n);
                self.pending_ordered = false;
            }
            WRITTEN_GONE => {
                let n = node(d)?;
                self.people.remove(&n);
            }
            PENDING_RESET => {
                self.pending.clear();
                self.pending_absorbed.clear();
                self.stray_absorbed.clear();
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Fits the data-driven models on the engine's journeys without marking anyone dirty: after
    /// a restore, the rows written before it stand, and only people who change are recomputed.
    pub fn fit(&mut self, engine: &Engine) {
        let config = engine.config();
        let store = engine.store();
        let latest = store.latest_event_time();
        let threads = crate::parallel::available_threads();
        self.fits = fit_data_driven(&store.person_roots_unordered(), |r| store.journey(*r), threads, config, latest);
        let versions = model_versions(config, &self.fits);
        // Rows written before keep the versions they were computed with until a refit.
        self.rows_behind_fit |= versions != self.versions;
        self.versions = versions;
    }
}
