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
pub(super) fn fingerprint<T: Keyed>(row: &T, names: &mut KeyNames, store: &Symbols) -> Written<T::Key> {
    Written { key: row.key(names, store), content: content_hash(row) }
}

/// Fingerprints of `rows`, whose content hashes are `contents`.
pub(super) fn fingerprints<T: Keyed>(
    rows: &[T],
    contents: &[u64],
    names: &mut KeyNames,
    store: &Symbols,
) -> Vec<Written<T::Key>> {
    rows.iter().zip(contents).map(|(r, &content)| Written { key: r.key(names, store), content }).collect()
}

/// Every person's rows of one table beside their fingerprints, for `diff_rows`.
pub(super) fn paired<'a, T: Keyed>(
    now: &'a [PersonRows],
    written: &[WrittenPerson],
    rows: fn(&PersonRows) -> &[T],
    fingerprints: fn(&WrittenPerson) -> &[Written<T::Key>],
) -> Vec<(Written<T::Key>, &'a T)> {
    now.iter().zip(written).flat_map(|(p, w)| fingerprints(w).iter().copied().zip(rows(p))).collect()
}

/// Appends to `out` what turns the `old` rows into the `new` ones, matched by table key:
/// new or changed rows live, vanished rows as tombstones (key only).
pub(super) fn diff_rows<T: Keyed>(
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
