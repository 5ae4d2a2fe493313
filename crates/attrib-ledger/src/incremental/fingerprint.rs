//! How the incremental ledger remembers the rows it wrote (table key + content hash, with the
//! key's strings named compactly) and turns a person's old fingerprints and new rows into
//! the changes to write.

use super::*;

/// A string of a row key: a name the journey store holds (most touch event ids), else one of
/// the ledger's own (conversion ids, model names). Once a string has a name it keeps it: the
/// ledger's own names are looked up first, and the store only ever adds names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct KeyName(pub(super) u32);

pub(super) const OWN: u32 = 1 << 31;

#[derive(Debug, Default)]
pub(super) struct KeyNames {
    pub(super) own: Symbols,
}

impl KeyNames {
    pub(super) fn of(&mut self, store: &Symbols, s: &str) -> KeyName {
        if let Some(own) = self.own.get(s) {
            return KeyName(own.index() as u32 | OWN);
        }
        match store.get(s) {
            Some(sym) => KeyName(sym.index() as u32),
            None => KeyName(self.own.intern(s).index() as u32 | OWN),
        }
    }

    /// The name `s` has already, if any (no name: it is new to the ledger and to the store).
    pub(super) fn known(&self, store: &Symbols, s: &str) -> Option<KeyName> {
        if let Some(own) = self.own.get(s) {
            return Some(KeyName(own.index() as u32 | OWN));
        }
        store.get(s).map(|sym| KeyName(sym.index() as u32))
    }

    pub(super) fn resolve<'a>(&'a self, store: &'a Symbols, k: KeyName) -> &'a str {
        let sym = |i: u32| Sym::from_index(i as usize);
        if k.0 & OWN != 0 {
            self.own.resolve(sym(k.0 & !OWN))
        } else {
            store.resolve(sym(k.0))
        }
    }
}

/// The table key of a touchpoint row: (touch_source, touch_event_id).
pub(super) type TouchKey = (KeyName, KeyName);
/// The table key of a conversion row: (conversion_id, conversion_version).
pub(super) type ConversionKey = (KeyName, i64);
/// The table key of a credit or pipeline row:
/// (conversion_id, conversion_version, model, touch_source, touch_event_id).
pub(super) type CreditKey = (KeyName, i64, Model, Option<TouchSource>, KeyName);

/// A row already written, remembered by its table key and a hash of its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Written<K> {
    pub(super) key: K,
    pub(super) content: u64,
}

/// What was written for one person, as fingerprints.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct WrittenPerson {
    pub(super) credits: Vec<Written<CreditKey>>,
    pub(super) conversions: Vec<Written<ConversionKey>>,
    pub(super) touches: Vec<Written<TouchKey>>,
    pub(super) pipeline: Vec<Written<CreditKey>>,
}

impl WrittenPerson {
    pub(super) fn absorb(&mut self, other: WrittenPerson) {
        self.pipeline.extend(other.pipeline);
        self.credits.extend(other.credits);
        self.conversions.extend(other.conversions);
        self.touches.extend(other.touches);
    }
}

/// A stable hash of a row's content (xxh3 over the derived `Hash` of its fields).
pub(super) fn content_hash<T: Hash>(row: &T) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    row.hash(&mut h);
    h.finish()
}

/// How a ledger table's rows are keyed, and what its tombstones hold.
pub(super) trait Keyed: Hash + Clone {
    type Key: Ord + Copy + Hash;
    fn key(&self, names: &mut KeyNames, store: &Symbols) -> Self::Key;
    /// The key, if each of its strings has a name already.
    fn known_key(&self, names: &KeyNames, store: &Symbols) -> Option<Self::Key>;
    /// A tombstone: the key's columns set, every other column empty.
    fn tombstone(key: Self::Key, names: &KeyNames, store: &Symbols) -> Self;
}

impl Keyed for TouchRow {
    type Key = TouchKey;
    fn key(&self, names: &mut KeyNames, store: &Symbols) -> TouchKey {
        (names.of(store, self.touch_source.as_str()), names.of(store, &self.touch_event_id))
    }
    fn known_key(&self, names: &KeyNames, store: &Symbols) -> Option<TouchKey> {
        Some((names.known(store, self.touch_source.as_str())?, names.known(store, &self.touch_event_id)?))
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
    fn known_key(&self, names: &KeyNames, store: &Symbols) -> Option<ConversionKey> {
        Some((names.known(store, &self.conversion_id)?, self.conversion_version))
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
    fn known_key(&self, names: &KeyNames, store: &Symbols) -> Option<CreditKey> {
        Some((
            names.known(store, &self.conversion_id)?,
            self.conversion_version,
            self.model,
            self.touch_source,
            names.known(store, &self.touch_event_id)?,
        ))
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
pub(super) fn fingerprint<T: Keyed>(row: &T, names: &mut KeyNames, store: &Symbols) -> Written<T::Key> {
    Written { key: row.key(names, store), content: content_hash(row) }
}

/// What a person had written before an update: under its own root, and under the roots it
/// absorbed since.
pub(super) struct OldRows {
    pub(super) own: Option<WrittenPerson>,
    pub(super) absorbed: WrittenPerson,
}

/// One person's update, table by table.
#[derive(Default)]
pub(super) struct PersonUpdate {
    pub(super) credits: TableUpdate<CreditRow>,
    pub(super) conversions: TableUpdate<ConversionRow>,
    pub(super) touches: TableUpdate<TouchRow>,
    pub(super) pipeline: TableUpdate<CreditRow>,
}

/// One table of a person's update: the rows to write, and the fingerprints that remain.
pub(super) struct TableUpdate<T: Keyed> {
    /// New or changed rows live, vanished ones as tombstones.
    changes: Vec<Change<T>>,
    /// The tombstones among `changes` (index, key), and those cancelled since.
    tombstones: Vec<(usize, T::Key)>,
    cancelled: Vec<usize>,
    /// Fingerprints of the person's rows now, sorted by key (once `name_new_keys` ran).
    pub(super) written: Vec<Written<T::Key>>,
    /// Changes whose key has a string the ledger never named (index, content hash).
    unnamed: Vec<(usize, u64)>,
}

impl<T: Keyed> Default for TableUpdate<T> {
    fn default() -> Self {
        TableUpdate { changes: vec![], tombstones: vec![], cancelled: vec![], written: vec![], unnamed: vec![] }
    }
}

impl<T: Keyed> TableUpdate<T> {
    /// Names the strings of keys met for the first time and files their fingerprints.
    pub(super) fn name_new_keys(&mut self, names: &mut KeyNames, store: &Symbols) {
        if self.unnamed.is_empty() {
            return;
        }
        for &(change, content) in &self.unnamed {
            self.written.push(Written { key: self.changes[change].row.key(names, store), content });
        }
        self.unnamed.clear();
        self.written.sort_unstable_by_key(|w| w.key);
    }

    /// Moves the changes (less any cancelled tombstone) to `out`.
    pub(super) fn drain_changes_into(&mut self, out: &mut Vec<Change<T>>) {
        if self.cancelled.is_empty() {
            out.append(&mut self.changes);
            return;
        }
        let cancelled: HashSet<usize> = self.cancelled.drain(..).collect();
        out.extend(
            std::mem::take(&mut self.changes)
                .into_iter()
                .enumerate()
                .filter_map(|(i, c)| (!cancelled.contains(&i)).then_some(c)),
        );
    }
}

/// Turns a person's `old` fingerprints (its own and those of the roots it absorbed) and its
/// `rows` now into the changes to write, matched by table key: new or changed rows live,
/// vanished rows as tombstones (key only). A row whose key holds a string the ledger never
/// named cannot have been written: it is new.
pub(super) fn diff_person<T: Keyed>(
    own: &[Written<T::Key>],
    absorbed: &[Written<T::Key>],
    rows: Vec<T>,
    names: &KeyNames,
    store: &Symbols,
) -> TableUpdate<T> {
    use std::cmp::Ordering;
    let mut old: Vec<Written<T::Key>> = own.iter().chain(absorbed).copied().collect();
    old.sort_unstable_by_key(|w| w.key);
    let mut update = TableUpdate { written: Vec::with_capacity(rows.len()), ..TableUpdate::default() };
    // None: written as it is; Some(None): write, its key named; Some(Some(content)): write, unnamed.
    let mut emit: Vec<Option<Option<u64>>> = vec![None; rows.len()];
    let mut named: Vec<(Written<T::Key>, usize)> = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let content = content_hash(row);
        match row.known_key(names, store) {
            Some(key) => named.push((Written { key, content }, i)),
            None => emit[i] = Some(Some(content)),
        }
    }
    named.sort_unstable_by_key(|(w, _)| w.key);
    update.written.extend(named.iter().map(|(w, _)| *w));
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < named.len() {
        let order = match (old.get(i), named.get(j)) {
            (Some(o), Some((n, _))) => o.key.cmp(&n.key),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        match order {
            Ordering::Less => {
                update.tombstones.push((update.changes.len(), old[i].key));
                update.changes.push(Change { row: T::tombstone(old[i].key, names, store), deleted: true });
                i += 1;
            }
            Ordering::Greater => {
                emit[named[j].1] = Some(None);
                j += 1;
            }
            Ordering::Equal => {
                if old[i].content != named[j].0.content {
                    emit[named[j].1] = Some(None);
                }
                i += 1;
                j += 1;
            }
        }
    }
    for (row, e) in rows.into_iter().zip(emit) {
        match e {
            None => {}
            Some(unnamed) => {
                if let Some(content) = unnamed {
                    update.unnamed.push((update.changes.len(), content));
                }
                update.changes.push(Change { row, deleted: false });
            }
        }
    }
    update
}

/// Cancels the tombstones of keys another person of the same update holds live: a key that
/// moved between two people recomputed together (an order id another person's copy now
/// claims) must not be deleted by the one it left.
pub(super) fn cancel_moved_tombstones<T: Keyed>(
    updates: &mut [PersonUpdate],
    table: impl Fn(&mut PersonUpdate) -> &mut TableUpdate<T>,
) {
    let mut tombstones: HashMap<T::Key, Vec<(usize, usize)>> = HashMap::new();
    for (person, u) in updates.iter_mut().enumerate() {
        for &(change, key) in &table(u).tombstones {
            tombstones.entry(key).or_default().push((person, change));
        }
    }
    if tombstones.is_empty() {
        return;
    }
    let mut cancel = Vec::new();
    for (person, u) in updates.iter_mut().enumerate() {
        for w in &table(u).written {
            if let Some(left) = tombstones.get(&w.key) {
                cancel.extend(left.iter().filter(|(p, _)| *p != person));
            }
        }
    }
    for (person, change) in cancel {
        table(&mut updates[person]).cancelled.push(change);
    }
}
