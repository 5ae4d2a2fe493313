//! Wire contract v1 of the attribution pipeline (DESIGN.md §2): typed records,
//! a decoder whose errors name the field and the problem, and the inverse encoder.
//!
//! Pure: no IO, no async.

mod decode;
mod encode;
mod json;
mod money;
mod name;
mod time;
mod types;

pub use decode::{decode, decode_value, is_positive_decimal, DecodeError, Problem};
pub use encode::encode;
pub use money::{grouped, Money};
pub use name::{comparable, Name, EMPTY_TEXT};
pub use time::{Date, Duration, Text, Timestamp};
pub use types::*;

#[cfg(test)]
mod tests;
