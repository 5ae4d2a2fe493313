//! Journeys (DESIGN.md §3): identity-resolved people with their touchpoints and
//! conversions. Pure: no IO, no async.

mod channel;
mod first_copy;
mod journey;
mod store;

pub use channel::{classify_host, classify_session, referrer_host, Channel};
pub use first_copy::FirstCopies;
pub use journey::*;
pub use store::{DealRecord, Ingested, JourneyStore, SocialActivity, Sym, Symbols};

#[cfg(test)]
mod tests;
