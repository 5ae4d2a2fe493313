//! Interned strings: every distinct string is stored once and named by a dense number.
//!
//! Identifiers, event ids and content ids repeat across millions of records; holding each
//! as its own `String` costs a heap block and 24 bytes of header per copy. Here a string
//! costs its bytes (in 64 KiB pages, so the store never moves gigabytes when it grows),
//! 12 bytes of location and one hash-table slot.

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

/// An append-only interner.
#[derive(Default)]
pub struct Symbols {
    pages: Vec<String>,
    spans: Vec<Span>,
    table: HashTable<u32>,
}

impl std::fmt::Debug for Symbols {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Symbols").field("len", &self.spans.len()).field("bytes", &self.bytes()).finish()
    }
}

fn hash(s: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(s.as_bytes())
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
        let (pages, spans) = (&self.pages, &self.spans);
        if let Some(&i) = self.table.find(h, |&i| text(pages, spans[i as usize]) == s) {
            return Sym::from_index(i as usize);
        }
        let span = self.push(s);
        let i = self.spans.len();
        self.spans.push(span);
        let (pages, spans) = (&self.pages, &self.spans);
        self.table.insert_unique(h, i as u32, |&j| hash(text(pages, spans[j as usize])));
        Sym::from_index(i)
    }

    /// The symbol of `s`, if interned.
    pub fn get(&self, s: &str) -> Option<Sym> {
        let (pages, spans) = (&self.pages, &self.spans);
        self.table.find(hash(s), |&i| text(pages, spans[i as usize]) == s).map(|&i| Sym::from_index(i as usize))
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
