//! ECB euro foreign exchange reference rates (the public XML feed, or any URL serving the same
//! format) into `fx.rates`, as each currency's rate to the reporting currency.
//!
//! The feed gives `1 EUR = x CCY`. For reporting currency R: rate(CCY) = x_R / x_CCY (and
//! rate(EUR) = x_R); for R = EUR, rate(CCY) = 1 / x_CCY. Quotients are exact decimal arithmetic
//! rounded half away from zero to 10 decimal places.

use crate::cursor::CursorStore;
use crate::http::{Http, HttpError};
use crate::sink::{Record, Sink};
use crate::{ConnectorError, PassReport};
use attrib_contract::{Currency, Date, Event, FxRate};
use serde::{Deserialize, Serialize};

/// `[connectors.ecb]`.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EcbConfig {
    /// The daily feed, or `eurofxref-hist-90d.xml` / `eurofxref-hist.xml` for history.
    pub url: String,
    /// Currencies to publish (empty: every currency of the feed).
    pub currencies: Vec<String>,
    pub interval_secs: u64,
}

impl Default for EcbConfig {
    fn default() -> Self {
        EcbConfig {
            url: "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist-90d.xml".into(),
            currencies: Vec::new(),
            interval_secs: 3600,
        }
    }
}

/// The last day published.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EcbCursor {
    pub last_date: Option<String>,
}

/// One day of the feed: (date, [(currency, EUR→currency rate as text)]).
pub type FeedDay = (String, Vec<(String, String)>);

/// Reads `<Cube time='…'>` days and their `<Cube currency='…' rate='…'/>` entries with an XML
/// parser (quick-xml): comments, CDATA, escapes and either quote are read as XML reads them,
/// and a feed that is not well-formed XML is an error, not a partial list.
pub fn parse_feed(xml: &str) -> Result<Vec<FeedDay>, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut days: Vec<FeedDay> = Vec::new();
    loop {
        let event = reader.read_event().map_err(|e| format!("not XML at byte {}: {e}", reader.error_position()))?;
        let cube = match &event {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"Cube" => e,
            Event::Eof => break,
            _ => continue,
        };
        let (mut time, mut currency, mut rate) = (None, None, None);
        for attribute in cube.attributes() {
            let attribute = attribute.map_err(|e| format!("a <Cube> attribute: {e}"))?;
            let value = attribute.unescape_value().map_err(|e| format!("a <Cube> attribute: {e}"))?.into_owned();
            match attribute.key.local_name().as_ref() {
                b"time" => time = Some(value),
                b"currency" => currency = Some(value),
                b"rate" => rate = Some(value),
                _ => {}
            }
        }
        if let Some(time) = time {
            days.push((time, Vec::new()));
        } else if let (Some(currency), Some(rate)) = (currency, rate) {
            let day = days.last_mut().ok_or("a rate outside any <Cube time=…> day")?;
            day.1.push((currency, rate));
        }
    }
    if days.is_empty() {
        return Err("no <Cube time=…> day in the feed".into());
    }
    Ok(days)
}

/// A positive decimal as (mantissa, scale): value = mantissa / 10^scale.
fn decimal(text: &str) -> Option<(i128, u32)> {
    let (int, frac) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if int.is_empty() && frac.is_empty() || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mantissa: i128 = format!("{int}{frac}").parse().ok()?;
    (mantissa > 0 && frac.len() <= 18).then_some((mantissa, frac.len() as u32))
}

const QUOTIENT_DECIMALS: u32 = 10;

/// `a / b` to 10 decimal places, rounded half away from zero, as a plain decimal string.
fn divide(a: (i128, u32), b: (i128, u32)) -> String {
    // a/b = (ma / 10^sa) / (mb / 10^sb) = ma * 10^sb / (mb * 10^sa).
    let num = a.0 * 10i128.pow(b.1 + QUOTIENT_DECIMALS);
    let den = b.0 * 10i128.pow(a.1);
    let (q, r) = (num / den, num % den);
    let q = if 2 * r >= den { q + 1 } else { q };
    let scale = 10i128.pow(QUOTIENT_DECIMALS);
    let frac = format!("{:0width$}", q % scale, width = QUOTIENT_DECIMALS as usize);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{}", q / scale)
    } else {
        format!("{}.{frac}", q / scale)
    }
}

/// The `fx.rates` records of one feed day for `reporting`.
pub fn day_rates(
    date: &str,
    rates: &[(String, String)],
    reporting: Currency,
    only: &[String],
) -> Result<Vec<FxRate>, String> {
    let date = Date::parse(date).ok_or_else(|| format!("bad date {date:?} in the feed"))?;
    let eur = Currency::parse("EUR").expect("EUR");
    let parsed: Vec<(Currency, (i128, u32))> =
        rates.iter().filter_map(|(c, r)| Some((Currency::parse(c)?, decimal(r)?))).collect();
    // The reporting currency's value of one euro.
    let euro_in_reporting = if reporting == eur {
        (1, 0)
    } else {
        parsed
            .iter()
            .find(|(c, _)| *c == reporting)
            .map(|(_, r)| *r)
            .ok_or_else(|| format!("{date}: the feed has no {reporting} rate, needed as the reporting currency"))?
    };
    let wanted = |c: Currency| c != reporting && (only.is_empty() || only.iter().any(|o| o == c.as_str()));
    let mut out = Vec::new();
    if wanted(eur) {
        out.push(FxRate { date, currency: eur, rate_to_reporting: divide(euro_in_reporting, (1, 0)) });
    }
    for (currency, x) in parsed.into_iter().filter(|(c, _)| wanted(*c)) {
        out.push(FxRate { date, currency, rate_to_reporting: divide(euro_in_reporting, x) });
    }
    Ok(out)
}

/// One pass: fetch the feed, publish the days after the cursor, then move the cursor.
pub async fn pass(
    config: &EcbConfig,
    reporting: Currency,
    http: &Http,
    cursor: &CursorStore,
    sink: &mut Sink,
) -> Result<PassReport, ConnectorError> {
    let url = reqwest::Url::parse(&config.url).map_err(|e| ConnectorError::Config(format!("ecb.url: {e}")))?;
    let xml = http.get_text(&url).await?;
    let mut days = parse_feed(&xml).map_err(|p| ConnectorError::Vendor(format!("ecb: {p}")))?;
    days.sort_by(|a, b| a.0.cmp(&b.0));
    let mut state: EcbCursor = cursor.load()?;
    let mut report = PassReport { cursor: state.last_date.clone(), ..PassReport::default() };
    for (date, rates) in days {
        if state.last_date.as_ref().is_some_and(|last| date <= *last) {
            continue;
        }
        let records: Vec<Record> = day_rates(&date, &rates, reporting, &config.currencies)
            .map_err(|p| ConnectorError::Vendor(format!("ecb: {p}")))?
            .into_iter()
            .map(|r| Record::new(Event::Fx(r)))
            .collect();
        sink.publish(&records).await?;
        report.count(&records);
        state.last_date = Some(date.clone());
        cursor.save(&state)?;
        report.cursor = state.last_date.clone();
    }
    Ok(report)
}

impl From<HttpError> for ConnectorError {
    fn from(e: HttpError) -> Self {
        ConnectorError::Http(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FEED: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<gesmes:Envelope xmlns:gesmes=\"http://www.gesmes.org/xml/2002-08-01\" xmlns=\"http://www.ecb.int/vocabulary/2002-08-01/eurofxref\">\n<gesmes:subject>Reference rates</gesmes:subject>\n<Cube>\n<Cube time='2026-11-20'>\n<Cube currency='USD' rate='1.0825'/>\n<Cube currency='JPY' rate='162.11'/>\n<Cube currency='GBP' rate='0.8650'/>\n</Cube>\n</Cube>\n</gesmes:Envelope>";

    #[test]
    fn the_feed_parses_into_days_and_rates() {
        let days = parse_feed(FEED).expect("feed");
        assert_eq!(days.len(), 1);
        assert_eq!(days[0].0, "2026-11-20");
        assert_eq!(days[0].1[0], ("USD".to_string(), "1.0825".to_string()));
        assert!(parse_feed("<html>maintenance</html>").is_err());
        // What XML allows and a text search would misread: a commented-out day, escapes, CDATA.
        let tricky = "<Cube><!-- <Cube time='1999-01-01'> --><Cube time=\"2026-11-21\"><![CDATA[<Cube currency='XXX' rate='9'/>]]>\
                      <Cube rate='1.08' currency='U&#x53;D'/></Cube></Cube>";
        assert_eq!(
            parse_feed(tricky).expect("feed"),
            vec![("2026-11-21".to_string(), vec![("USD".to_string(), "1.08".to_string())])]
        );
        assert!(parse_feed("<Cube><Cube time='2026-11-21'></Cbe></Cube>").is_err(), "malformed");
    }

    #[test]
    fn rates_are_expressed_in_the_reporting_currency_exactly() {
        let days = parse_feed(FEED).expect("feed");
        let usd = Currency::parse("USD").unwrap();
        let r = day_rates(&days[0].0, &days[0].1, usd, &[]).expect("rates");
        let get = |c: &str| r.iter().find(|x| x.currency.as_str() == c).map(|x| x.rate_to_reporting.clone());
        assert_eq!(get("EUR").as_deref(), Some("1.0825"));
        // 1 GBP = 1.0825 / 0.8650 USD = 1.25144508670520… → 1.2514450867.
        assert_eq!(get("GBP").as_deref(), Some("1.2514450867"));
        // 1 JPY = 1.0825 / 162.11 = 0.006677564616…
        assert_eq!(get("JPY").as_deref(), Some("0.0066775646"));
        assert_eq!(get("USD"), None, "no rate of the reporting currency to itself");
        let eur = Currency::parse("EUR").unwrap();
        let in_eur = day_rates(&days[0].0, &days[0].1, eur, &["USD".into()]).expect("rates");
        assert_eq!(in_eur.len(), 1);
        // 1 / 1.0825 = 0.923787528868… → 0.9237875289.
        assert_eq!(in_eur[0].rate_to_reporting, "0.9237875289");
        let chf = Currency::parse("CHF").unwrap();
        assert!(day_rates(&days[0].0, &days[0].1, chf, &[]).is_err(), "reporting currency missing from the feed");
    }
}
