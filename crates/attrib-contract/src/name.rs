//! Shared identifiers: one allocation per distinct id, however many rows carry it.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// The empty text, pointing into the program's own memory. A `""` literal and `String::new()`
/// point at address 1, and glibc's AVX-512 `memcmp` reads even zero bytes with a masked load,
/// which on an unmapped page takes a microcode assist: about 100 ns a comparison on this
/// machine, against 2 ns (a rollup of 288 k KPI facts, keys mostly empty, took 0.2 s instead
/// of 0.02 s). Keys compared often hold this for "none".
pub const EMPTY_TEXT: &str = match std::str::from_utf8(b" ".split_at(0).0) {
    Ok(s) => s,
    Err(_) => panic!("a space is UTF-8"),
};

/// `s`, or [`EMPTY_TEXT`] when it is empty: the same text, fast to compare.
pub fn comparable(s: &str) -> &str {
    if s.is_empty() {
        EMPTY_TEXT
    } else {
        s
    }
}

/// An identifier (a conversion, person, touch, campaign, post or ad id, a model version tag)
/// shared by every row that carries it: a clone copies a pointer, not the text. Empty means
/// absent, as in the CSV and ClickHouse columns.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(Arc<str>);

impl Name {
    pub fn new(s: &str) -> Name {
        Name(Arc::from(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name, or an empty one for `None`.
    pub fn or_empty(s: Option<&str>) -> Name {
        s.map_or_else(Name::default, Name::new)
    }
}

impl Default for Name {
    fn default() -> Name {
        // One shared empty name: absent ids allocate nothing per row.
        thread_local!(static EMPTY: Name = Name(Arc::from("")));
        EMPTY.with(Name::clone)
    }
}

impl Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Name {
    fn from(s: &str) -> Name {
        Name::new(s)
    }
}

impl From<String> for Name {
    fn from(s: String) -> Name {
        Name(Arc::from(s))
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl Serialize for Name {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Name, D::Error> {
        String::deserialize(d).map(Name::from)
    }
}

/// Serializes a type by its name (`as_str`) and deserializes it by `parse`, refusing unknown
/// names: a closed set of values that travels as text (CSV, ClickHouse, JSON).
#[macro_export]
macro_rules! serde_by_name {
    ($name:ty, $what:literal) => {
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                <$name>::parse(&s).ok_or_else(|| {
                    <D::Error as serde::de::Error>::custom(format!(concat!("unknown ", $what, " {:?}"), s))
                })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clone_shares_the_text_and_compares_as_the_text() {
        let a = Name::new("conv-1");
        let b = a.clone();
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert_eq!(a, "conv-1");
        assert!(Name::new("a") < Name::new("b"));
        assert!(Name::default().is_empty());
        assert_eq!(Name::or_empty(None), Name::new(""));
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"conv-1\"");
        assert_eq!(serde_json::from_str::<Name>("\"x\"").unwrap(), "x");
    }

    #[test]
    fn the_comparable_empty_text_is_empty_and_points_at_real_memory() {
        assert_eq!(EMPTY_TEXT, "");
        assert_ne!(EMPTY_TEXT.as_ptr() as usize, 1);
        assert_eq!(comparable(""), "");
        let no_text = String::new();
        assert_ne!(comparable(no_text.as_str()).as_ptr() as usize, 1);
        assert_eq!(comparable("x"), "x");
    }
}
