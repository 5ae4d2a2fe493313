//! The contract's "first valid copy of an event id wins", in 16 bytes per event id.

use attrib_contract::Topic;

/// The event ids seen per topic, as 128-bit fingerprints (the first valid copy wins).
#[derive(Debug, Default)]
pub struct FirstCopies {
    seen: hashbrown::HashTable<u128>,
    /// Fingerprints added since the last checkpoint, when checkpoints of changes are taken.
    added: Option<Vec<u128>>,
}

impl FirstCopies {
    /// Whether `(topic, key)` is new; remembers it.
    pub fn insert(&mut self, topic: Topic, key: &str) -> bool {
        let fp = fingerprint(topic, key);
        let low = fp as u64;
        if self.seen.find(low, |&s| s == fp).is_some() {
            return false;
        }
        self.seen.insert_unique(low, fp, |&s| s as u64);
        if let Some(added) = &mut self.added {
            added.push(fp);
        }
        true
    }

    /// Starts remembering the fingerprints added from now on (`added_since_saved`); called
    /// again once those are saved.
    pub fn track_changes(&mut self) {
        self.added = Some(Vec::new());
    }

    /// The fingerprints added since the last `track_changes`: all of them when not tracking.
    pub fn added_since_saved(&self) -> Box<dyn Iterator<Item = u128> + '_> {
        match &self.added {
            Some(added) => Box::new(added.iter().copied()),
            None => Box::new(self.fingerprints()),
        }
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Every fingerprint held, for a checkpoint.
    pub fn fingerprints(&self) -> impl Iterator<Item = u128> + '_ {
        self.seen.iter().copied()
    }

    /// Remembers a fingerprint `fingerprints` gave (restoring a checkpoint).
    pub fn insert_fingerprint(&mut self, fp: u128) {
        let low = fp as u64;
        if self.seen.find(low, |&s| s == fp).is_none() {
            self.seen.insert_unique(low, fp, |&s| s as u64);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// A stable 128-bit fingerprint of a topic's event id (xxh3: the same in every build).
fn fingerprint(topic: Topic, key: &str) -> u128 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(topic.as_str().as_bytes());
    h.update(&[0]);
    h.update(key.as_bytes());
    h.digest128()
}
