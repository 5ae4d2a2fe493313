//! A JSON tree that borrows from the record's bytes, for the decoder.
//!
//! `serde_json::Value` allocates a `String` for every key and string and a map for every
//! object; a wire record is read once, field by field, and then dropped, so here keys and
//! strings point into the input (copied only when they hold an escape) and an object is a
//! flat list of its members. The parser is serde_json's, so what is valid JSON, the error
//! messages and the numbers are exactly `Value`'s.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Number;
use std::borrow::Cow;
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Members<'a>),
}

/// An object's members in input order. A repeated key means its last value, as in `Value`.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Members<'a>(Vec<(Cow<'a, str>, Json<'a>)>);

impl<'a> Members<'a> {
    pub(crate) fn get(&self, name: &str) -> Option<&Json<'a>> {
        self.0.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

impl<'a> Json<'a> {
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Json<'a>, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TreeVisitor)
    }
}

struct TreeVisitor;

impl<'de> Visitor<'de> for TreeVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Json<'de>, E> {
        // As `Value` does: a non-finite float (which JSON cannot spell) is null.
        Ok(Number::from_f64(v).map_or(Json::Null, Json::Number))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(v.to_string())))
    }

    fn visit_string<E>(self, v: String) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(v)))
    }

    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Json<'de>, D::Error> {
        Json::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(16));
        while let Some(key) = map.next_key::<Key<'de>>()? {
            members.push((key.0, map.next_value()?));
        }
        Ok(Json::Object(Members(members)))
    }
}

/// An object key, borrowed unless it holds an escape.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// The same tree as `Value`, member by member (a repeated key keeps its last value).
    fn same(json: &Json<'_>, value: &Value) -> bool {
        match (json, value) {
            (Json::Null, Value::Null) => true,
            (Json::Bool(a), Value::Bool(b)) => a == b,
            (Json::Number(a), Value::Number(b)) => a == b,
            (Json::String(a), Value::String(b)) => a == b,
            (Json::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y)),
            (Json::Object(a), Value::Object(b)) => {
                b.iter().all(|(k, v)| a.get(k).is_some_and(|x| same(x, v)))
                    && a.0.iter().all(|(k, _)| b.contains_key(k.as_ref()))
            }
            _ => false,
        }
    }

    #[test]
    fn parses_like_value_including_escapes_numbers_and_repeated_keys() {
        for text in [
            r#"{"a":1,"b":-2,"c":1.5,"d":1e400,"e":18446744073709551615,"f":18446744073709551616}"#,
            r#"{"k\"ey":"v\u00e9\n","plain":"x","a":{"b":[1,null,true,"s"]},"a":{"b":2}}"#,
            r#"[1,2,{"x":null}]"#,
            r#""just a string""#,
            r#"{"n":-0,"m":0.0,"big":-9223372036854775809}"#,
        ] {
            let json = Json::parse(text.as_bytes());
            let value: Result<Value, _> = serde_json::from_str(text);
            match (json, value) {
                (Ok(j), Ok(v)) => assert!(same(&j, &v), "{text}: {j:?} vs {v:?}"),
                (j, v) => assert_eq!(j.is_err(), v.is_err(), "{text}"),
            }
        }
    }

    #[test]
    fn invalid_json_fails_with_the_same_message_as_value() {
        for text in ["{nope", "{\"a\":}", "", "{\"a\":1}x", "\"\\ud800\"", "[1,]"] {
            let a = Json::parse(text.as_bytes()).expect_err(text).to_string();
            let b = serde_json::from_str::<Value>(text).expect_err(text).to_string();
            assert_eq!(a, b, "{text}");
        }
    }

    #[test]
    fn unescaped_strings_borrow_from_the_input() {
        let Ok(Json::Object(m)) = Json::parse(br#"{"id":"abc","esc":"a\tb"}"#) else { panic!("object") };
        assert!(matches!(m.get("id"), Some(Json::String(Cow::Borrowed("abc")))));
        assert!(matches!(m.get("esc"), Some(Json::String(Cow::Owned(s))) if s == "a\tb"));
    }
}
