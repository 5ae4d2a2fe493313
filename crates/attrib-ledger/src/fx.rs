//! Money in the reporting currency: daily rates from `fx.rates`, applied exactly.
//!
//! An amount is converted at the rate of its own date (a conversion's date, a spend's date),
//! never today's. Rates are exact decimals; the result is rounded half away from zero to the
//! reporting currency's minor unit. Without a usable rate the amount is reported as missing,
//! never converted at 1.0.

use attrib_contract::{Currency, Date, FxRate};
use std::collections::{BTreeMap, HashMap};

/// How amounts are brought into the reporting currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportingConfig {
    pub currency: Currency,
    /// How many days back a missing day's rate may be taken from (0: the exact date only;
    /// e.g. 4 for the ECB's business-day rates over weekends and holidays).
    pub fx_fallback_days: u32,
}

impl Default for ReportingConfig {
    fn default() -> Self {
        ReportingConfig {
            currency: Currency::parse("USD").unwrap_or_else(|| unreachable!("USD is a currency")),
            fx_fallback_days: 0,
        }
    }
}

/// How an amount got its reporting value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FxStatus {
    /// Already in the reporting currency, or no money at all (leads, signups).
    Same,
    /// Converted at the rate of `fx_date`.
    Converted,
    /// No rate for the currency on the date (or within the fallback days).
    MissingRate,
}

impl FxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FxStatus::Same => "same",
            FxStatus::Converted => "converted",
            FxStatus::MissingRate => "missing_rate",
        }
    }

    pub fn parse(s: &str) -> Option<FxStatus> {
        [FxStatus::Same, FxStatus::Converted, FxStatus::MissingRate].into_iter().find(|f| f.as_str() == s)
    }
}

attrib_contract::serde_by_name!(FxStatus, "fx status");

/// An amount in the reporting currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportedAmount {
    /// None when the rate is missing.
    pub minor: Option<i64>,
    pub status: FxStatus,
    /// The date of the rate used.
    pub fx_date: Option<Date>,
}

/// An exact decimal rate: `mantissa / 10^scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rate {
    mantissa: i128,
    scale: u32,
}

impl Rate {
    /// Parses the contract's decimal string (digits with an optional fraction).
    fn parse(text: &str) -> Option<Rate> {
        let (int, frac) = text.split_once('.').unwrap_or((text, ""));
        if int.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let frac = frac.trim_end_matches('0');
        let digits = format!("{int}{frac}");
        let mantissa: i128 = digits.parse().ok()?;
        let scale = u32::try_from(frac.len()).ok().filter(|s| *s <= 30)?;
        Some(Rate { mantissa, scale })
    }
}

/// `numerator / denominator` rounded half away from zero (denominator > 0).
fn div_round(numerator: i128, denominator: i128) -> i128 {
    let q = numerator / denominator;
    let r = numerator % denominator;
    if 2 * r.abs() >= denominator {
        q + numerator.signum()
    } else {
        q
    }
}

/// Daily rates per currency (the first copy of a date wins, as everywhere in the contract).
#[derive(Debug, Clone, Default)]
pub struct FxTable {
    rates: HashMap<Currency, BTreeMap<Date, Rate>>,
}

impl FxTable {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn from_rates<'a>(rates: impl IntoIterator<Item = &'a FxRate>) -> Self {
        let mut t = FxTable::new();
        for r in rates {
            t.insert(r);
        }
        t
    }

    /// Adds a rate; returns false (and keeps the earlier one) if the date already had one.
    pub fn insert(&mut self, r: &FxRate) -> bool {
        let Some(rate) = Rate::parse(&r.rate_to_reporting) else { return false };
        let days = self.rates.entry(r.currency).or_default();
        if days.contains_key(&r.date) {
            return false;
        }
        days.insert(r.date, rate);
        true
    }

    /// The rate that applies to `currency` on `date`, and its date.
    fn rate(&self, currency: Currency, date: Date, fallback_days: u32) -> Option<(Date, Rate)> {
        let days = self.rates.get(&currency)?;
        let earliest = Date::from_days_since_epoch(date.days_since_epoch() - fallback_days as i32);
        days.range(earliest..=date).next_back().map(|(d, r)| (*d, *r))
    }

    /// `amount_minor` of `currency`, dated `date`, in the reporting currency.
    pub fn report(
        &self,
        amount_minor: i64,
        currency: Option<Currency>,
        date: Date,
        cfg: &ReportingConfig,
    ) -> ReportedAmount {
        let Some(currency) = currency.filter(|c| *c != cfg.currency) else {
            return ReportedAmount { minor: Some(amount_minor), status: FxStatus::Same, fx_date: None };
        };
        let Some((fx_date, rate)) = self.rate(currency, date, cfg.fx_fallback_days) else {
            return ReportedAmount { minor: None, status: FxStatus::MissingRate, fx_date: None };
        };
        // amount / 10^from × rate × 10^to, exactly, then rounded once.
        let (from, to) = (currency.minor_unit_digits(), cfg.currency.minor_unit_digits());
        let mut numerator = i128::from(amount_minor) * rate.mantissa * 10i128.pow(to);
        let mut denominator = 10i128.pow(from + rate.scale);
        // Keep within i128 for long fractions: both sides share powers of ten.
        while denominator > 1 && numerator % 10 == 0 && denominator % 10 == 0 {
            numerator /= 10;
            denominator /= 10;
        }
        let minor = i64::try_from(div_round(numerator, denominator)).ok();
        let status = if minor.is_some() { FxStatus::Converted } else { FxStatus::MissingRate };
        ReportedAmount { minor, status, fx_date: Some(fx_date) }
    }

    /// Whether any rate of `currency` is known.
    pub fn knows(&self, currency: Currency) -> bool {
        self.rates.contains_key(&currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(date: &str, cur: &str, r: &str) -> FxRate {
        FxRate {
            date: Date::parse(date).expect("date"),
            currency: Currency::parse(cur).expect("currency"),
            rate_to_reporting: r.into(),
        }
    }

    fn cfg(cur: &str, fallback: u32) -> ReportingConfig {
        ReportingConfig { currency: Currency::parse(cur).expect("currency"), fx_fallback_days: fallback }
    }

    fn d(s: &str) -> Date {
        Date::parse(s).expect("date")
    }

    fn eur() -> Option<Currency> {
        Currency::parse("EUR")
    }

    #[test]
    fn converts_at_the_rate_of_the_amounts_own_date_and_rounds_half_away_from_zero() {
        let t = FxTable::from_rates(&[rate("2026-03-01", "EUR", "1.08"), rate("2026-03-02", "EUR", "1.10")]);
        let usd = cfg("USD", 0);
        // 100.00 EUR on 1 March → 108.00 USD; on 2 March → 110.00 USD.
        assert_eq!(t.report(10_000, eur(), d("2026-03-01"), &usd).minor, Some(10_800));
        assert_eq!(t.report(10_000, eur(), d("2026-03-02"), &usd).minor, Some(11_000));
        // 0.05 EUR × 1.10 = 0.055 → 0.06 (half away from zero).
        assert_eq!(t.report(5, eur(), d("2026-03-02"), &usd).minor, Some(6));
        // 0.04 × 1.08 = 0.0432 → 0.04.
        assert_eq!(t.report(4, eur(), d("2026-03-01"), &usd).minor, Some(4));
        let r = t.report(10_000, eur(), d("2026-03-02"), &usd);
        assert_eq!((r.status, r.fx_date), (FxStatus::Converted, Some(d("2026-03-02"))));
    }

    #[test]
    fn a_missing_rate_is_reported_missing_never_one() {
        let t = FxTable::from_rates(&[rate("2026-03-01", "EUR", "1.08")]);
        let r = t.report(10_000, eur(), d("2026-03-03"), &cfg("USD", 0));
        assert_eq!(r, ReportedAmount { minor: None, status: FxStatus::MissingRate, fx_date: None });
        let gbp = t.report(10_000, Currency::parse("GBP"), d("2026-03-01"), &cfg("USD", 7));
        assert_eq!(gbp.status, FxStatus::MissingRate);
        // With fallback days the last earlier rate applies, and its date is recorded.
        let r = t.report(10_000, eur(), d("2026-03-03"), &cfg("USD", 2));
        assert_eq!((r.minor, r.fx_date), (Some(10_800), Some(d("2026-03-01"))));
        assert_eq!(t.report(10_000, eur(), d("2026-03-04"), &cfg("USD", 2)).status, FxStatus::MissingRate);
        // A later rate is never used for an earlier date.
        assert_eq!(t.report(10_000, eur(), d("2026-02-28"), &cfg("USD", 30)).status, FxStatus::MissingRate);
    }

    #[test]
    fn the_reporting_currency_and_money_less_amounts_need_no_rate() {
        let t = FxTable::new();
        let r = t.report(1_234, Currency::parse("USD"), d("2026-03-01"), &cfg("USD", 0));
        assert_eq!(r, ReportedAmount { minor: Some(1_234), status: FxStatus::Same, fx_date: None });
        assert_eq!(t.report(0, None, d("2026-03-01"), &cfg("USD", 0)).status, FxStatus::Same);
    }

    #[test]
    fn minor_units_follow_iso_4217() {
        // 1,000 JPY (no minor unit) at 0.0067 USD → 6.70 USD.
        let t = FxTable::from_rates(&[rate("2026-03-01", "JPY", "0.0067"), rate("2026-03-01", "KWD", "3.25")]);
        let usd = cfg("USD", 0);
        assert_eq!(t.report(1_000, Currency::parse("JPY"), d("2026-03-01"), &usd).minor, Some(670));
        // 1.500 KWD (3 digits) × 3.25 = 4.875 → 4.88 USD.
        assert_eq!(t.report(1_500, Currency::parse("KWD"), d("2026-03-01"), &usd).minor, Some(488));
        // Into JPY: 100.00 USD at 149.5 → 14,950 JPY.
        let t = FxTable::from_rates(&[rate("2026-03-01", "USD", "149.5")]);
        assert_eq!(t.report(10_000, Currency::parse("USD"), d("2026-03-01"), &cfg("JPY", 0)).minor, Some(14_950));
    }

    #[test]
    fn the_first_rate_of_a_date_wins() {
        let mut t = FxTable::new();
        assert!(t.insert(&rate("2026-03-01", "EUR", "1.08")));
        assert!(!t.insert(&rate("2026-03-01", "EUR", "2")));
        assert_eq!(t.report(100, eur(), d("2026-03-01"), &cfg("USD", 0)).minor, Some(108));
    }
}
