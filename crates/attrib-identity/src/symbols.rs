//! Interned strings: every distinct string is stored once and named by a dense number.
//!
//! Identifiers, event ids and content ids repeat across millions of records; holding each
//! as its own `String` costs a heap block and 24 bytes of header per copy. Here a string
//! costs its bytes (in 64 KiB pages, so the store never moves gigabytes when it grows),
//! 12 bytes of location and one 8-byte hash-table slot.

use hashbrown::HashTable;
use std::num::NonZeroU32;

/// The name of an interned string (`Option<Sym>` is as small as `Sym`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sym(NonZeroU32);

impl Sym {
    /// The dense index of the symbol (0 for the first string interned).
    pub fn index(self) -> usize {
        self.0.get() as usize - 1
    }

    /// The symbol with a dense index (as returned by `index`).
    pub fn from_index(i: usize) -> Sym {
        let n = u32::try_from(i + 1).expect("more than 4 billion interned strings");
        Sym(NonZeroU32::new(n).expect("i + 1 is never 0"))
    }
}

const PAGE: usize = 64 * 1024;

/// Where one string lives: page, start and length.
#[derive(Debug, Clone, Copy)]
struct Span {
    page: u32,
    start: u32,
    len: u32,
}

/// A table entry: a string's index, and 32 bits of its hash. Growing the table re-files every
/// entry by its stored bits instead of re-reading and re-hashing every string (scattered over
/// the pages: a cache miss each), and a probe compares the bits before it reads a string.
#[derive(Clone, Copy)]
struct Slot {
    index: u32,
    hash: u32,
}

impl Slot {
    /// The table's hash of the entry: its 32 bits spread over 64 (the table probes with the
    /// low bits and tags with the top ones), a bijection, so equal strings always agree.
    fn table_hash(hash: u32) -> u64 {
        u64::from(hash).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
}

/// An append-only interner.
#[derive(Default)]
pub struct Symbols {
    pages: Vec<String>,
    spans: Vec<Span>,
    table: HashTable<Slot>,
}

impl std::fmt::Debug for Symbols {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Symbols").field("len", &self.spans.len()).field("bytes", &self.bytes()).finish()
    }
}

fn hash(s: &str) -> u32 {
    xxhash_rust::xxh3::xxh3_64(s.as_bytes()) as u32
}

impl Symbols {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of distinct strings.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Bytes of string data held (not counting the index).
    pub fn bytes(&self) -> usize {
        self.spans.iter().map(|s| s.len as usize).sum()
    }

    /// The symbol of `s`, interning it if new.
    pub fn intern(&mut self, s: &str) -> Sym {
        let h = hash(s);
        if let Some(sym) = self.find(s, h) {
            return sym;
        }
        let span = self.push(s);
        let i = self.spans.len();
        self.spans.push(span);
        let slot = Slot { index: i as u32, hash: h };
        self.table.insert_unique(Slot::table_hash(h), slot, |e| Slot::table_hash(e.hash));
        Sym::from_index(i)
    }

    /// The symbol of `s`, if interned.
    pub fn get(&self, s: &str) -> Option<Sym> {
        self.find(s, hash(s))
    }

    fn find(&self, s: &str, h: u32) -> Option<Sym> {
        let (pages, spans) = (&self.pages, &self.spans);
        let same = |e: &Slot| e.hash == h && text(pages, spans[e.index as usize]) == s;
        self.table.find(Slot::table_hash(h), same).map(|e| Sym::from_index(e.index as usize))
    }

    /// The string a symbol names.
    pub fn resolve(&self, sym: Sym) -> &str {
        text(&self.pages, self.spans[sym.index()])
    }

    /// Every string, in interning order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        self.spans.iter().map(|s| text(&self.pages, *s))
    }

    fn push(&mut self, s: &str) -> Span {
        let fits = self.pages.last().is_some_and(|p| p.capacity() - p.len() >= s.len());
        if !fits {
            self.pages.push(String::with_capacity(PAGE.max(s.len())));
        }
        let page = self.pages.len() - 1;
        let p = &mut self.pages[page];
        let start = p.len();
        p.push_str(s);
        let len = u32::try_from(s.len()).expect("an interned string longer than 4 GiB");
        Span { page: page as u32, start: start as u32, len }
    }
}

fn text(pages: &[String], s: Span) -> &str {
    &pages[s.page as usize][s.start as usize..(s.start + s.len) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_string_is_one_symbol_and_resolves_back() {
        let mut s = Symbols::new();
        let a = s.intern("anon:1");
        let b = s.intern("click:x");
        assert_eq!(s.intern("anon:1"), a);
        assert_ne!(a, b);
        assert_eq!(s.resolve(a), "anon:1");
        assert_eq!(s.resolve(b), "click:x");
        assert_eq!(s.get("click:x"), Some(b));
        assert_eq!(s.get("nope"), None);
        assert_eq!(s.len(), 2);
        assert_eq!(std::mem::size_of::<Option<Sym>>(), 4);
    }

    #[test]
    fn strings_whose_stored_hash_bits_collide_stay_two_symbols() {
        // 32 bits collide by the birthday bound well within 500k strings: find a pair.
        let mut seen = std::collections::HashMap::new();
        let (a, b) = (0..500_000u32)
            .map(|i| format!("click:{i}"))
            .find_map(|t| seen.insert(hash(&t), t.clone()).map(|earlier| (earlier, t)))
            .expect("a 32-bit collision among 500k strings");
        assert_eq!(hash(&a), hash(&b));
        let mut s = Symbols::new();
        let (sa, sb) = (s.intern(&a), s.intern(&b));
        assert_ne!(sa, sb);
        assert_eq!((s.resolve(sa), s.resolve(sb)), (a.as_str(), b.as_str()));
        assert_eq!((s.get(&a), s.get(&b)), (Some(sa), Some(sb)));
        assert_eq!(s.intern(&b), sb);
    }

    #[test]
    fn strings_spanning_pages_and_larger_than_a_page_stay_intact() {
        let mut s = Symbols::new();
        let big = "x".repeat(PAGE + 17);
        let syms: Vec<(Sym, String)> = (0..20_000).map(|i| format!("event-{i}")).map(|t| (s.intern(&t), t)).collect();
        let b = s.intern(&big);
        let e = s.intern("");
        for (sym, t) in &syms {
            assert_eq!(s.resolve(*sym), t);
        }
        assert_eq!(s.resolve(b), big);
        assert_eq!(s.resolve(e), "");
        assert_eq!(s.iter().count(), 20_002);
    }
}
