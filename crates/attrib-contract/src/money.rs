//! Money for people to read: an amount in a currency's minor units, shown with that
//! currency's ISO 4217 exponent (JPY 0 decimals, EUR 2, KWD 3) and grouped thousands.
//! Every output that shows money (terminal summary, `reconcile`, the report) goes through it,
//! so no view divides by a constant 100.

use crate::Currency;
use std::fmt;

/// An exact amount: integer minor units of `currency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    /// The amount with grouped thousands and the currency's decimals, no code: `1,234.56`,
    /// `1,500,000` (JPY), `-1.234` (KWD).
    pub fn amount(&self) -> String {
        self.digits(true)
    }

    /// The amount as a plain decimal (`-1234.56`), for JSON and CSV readers.
    pub fn decimal(&self) -> String {
        self.digits(false)
    }

    /// The amount in major units as a float: only for drawing (chart positions), never for sums.
    pub fn major(&self) -> f64 {
        self.minor as f64 / 10f64.powi(self.currency.minor_unit_digits() as i32)
    }

    /// Like `Display` (`EUR 1,234.56`) but with the currency's symbol where it has an
    /// unambiguous one (`€1,234.56`, `¥1,500,000`, `-£5.00`), else the code.
    pub fn with_symbol(&self) -> String {
        match self.currency.symbol() {
            Some(sym) => {
                let sign = if self.minor < 0 { "-" } else { "" };
                format!("{sign}{sym}{}", Money::new(self.minor.saturating_abs(), self.currency).amount())
            }
            None => self.to_string(),
        }
    }

    fn digits(&self, grouped: bool) -> String {
        let exponent = self.currency.minor_unit_digits();
        let scale = 10u64.pow(exponent);
        let abs = self.minor.unsigned_abs();
        let mut out = String::with_capacity(24);
        if self.minor < 0 {
            out.push('-');
        }
        push_whole(&mut out, abs / scale, grouped);
        if exponent > 0 {
            out.push('.');
            out.push_str(&format!("{:0width$}", abs % scale, width = exponent as usize));
        }
        out
    }
}

/// Appends `n` in decimal, with a comma between groups of three digits when `grouped`.
fn push_whole(out: &mut String, n: u64, grouped: bool) {
    let digits = n.to_string();
    for (i, ch) in digits.chars().enumerate() {
        if grouped && i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
}

/// A whole number with grouped thousands (`1,234,567`, `-5`), as money amounts show theirs.
pub fn grouped(n: i64) -> String {
    let mut out = String::new();
    if n < 0 {
        out.push('-');
    }
    push_whole(&mut out, n.unsigned_abs(), true);
    out
}

/// `EUR 1,234.56`, `JPY 1,500,000`, `KWD -1.234`: the ISO code, then the grouped amount.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.currency, self.amount())
    }
}

impl Currency {
    /// The symbol people read without ambiguity, for the currencies that have one.
    /// `$` is left out: it names a dozen currencies.
    pub fn symbol(self) -> Option<&'static str> {
        Some(match self.as_str() {
            "EUR" => "€",
            "GBP" => "£",
            "JPY" => "¥",
            "INR" => "₹",
            "KRW" => "₩",
            "ILS" => "₪",
            "NGN" => "₦",
            "UAH" => "₴",
            "VND" => "₫",
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cur(code: &str) -> Currency {
        Currency::parse(code).expect("code")
    }

    #[test]
    fn each_currency_keeps_its_own_exponent() {
        assert_eq!(Money::new(1_500_000, cur("JPY")).to_string(), "JPY 1,500,000");
        assert_eq!(Money::new(123_456_789, cur("EUR")).to_string(), "EUR 1,234,567.89");
        assert_eq!(Money::new(1_234_567, cur("KWD")).to_string(), "KWD 1,234.567");
        assert_eq!(Money::new(5, cur("KWD")).amount(), "0.005");
        assert_eq!(Money::new(5, cur("EUR")).amount(), "0.05");
        assert_eq!(Money::new(0, cur("JPY")).amount(), "0");
        assert_eq!(Money::new(12345, cur("CLF")).amount(), "1.2345");
    }

    #[test]
    fn negatives_and_extremes() {
        assert_eq!(Money::new(-100_000, cur("EUR")).to_string(), "EUR -1,000.00");
        assert_eq!(Money::new(-7, cur("KWD")).amount(), "-0.007");
        assert_eq!(Money::new(i64::MIN, cur("JPY")).amount(), "-9,223,372,036,854,775,808");
        assert_eq!(Money::new(i64::MIN, cur("EUR")).decimal(), "-92233720368547758.08");
    }

    #[test]
    fn whole_numbers_group_like_amounts() {
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(grouped(-5), "-5");
        assert_eq!(grouped(i64::MIN), "-9,223,372,036,854,775,808");
    }

    #[test]
    fn plain_decimals_and_symbols() {
        assert_eq!(Money::new(-123_456, cur("EUR")).decimal(), "-1234.56");
        assert_eq!(Money::new(1_500_000, cur("JPY")).decimal(), "1500000");
        assert_eq!(Money::new(1_500_000, cur("JPY")).with_symbol(), "¥1,500,000");
        assert_eq!(Money::new(-500, cur("GBP")).with_symbol(), "-£5.00");
        assert_eq!(Money::new(1_234_567, cur("KWD")).with_symbol(), "KWD 1,234.567");
        assert_eq!(Money::new(100, cur("USD")).with_symbol(), "USD 1.00");
        assert!((Money::new(1_234_567, cur("KWD")).major() - 1234.567).abs() < 1e-9);
    }
}
