//! `attrib reconcile`: CRM closed-won revenue against every model's credits for one month,
//! per currency and in the reporting currency, from a batch output folder or ClickHouse.

use crate::batch::FxRow;
use crate::config::Config;
use crate::files::read_csv;
use anyhow::{bail, Result};
use attrib_contract::{Currency, Date, FxRate, Money};
use attrib_ledger::{
    denomination_currency as line_currency, reconcile_month, Adjustment, CreditRow, DealVersionRow, FxTable,
    MonthReconciliation, ReconciliationLine,
};
use std::collections::BTreeSet;
use std::path::Path;

/// Where the ledger and the CRM history are read from.
pub enum Source<'a> {
    Dir(&'a Path),
    ClickHouse { url: &'a str, database: &'a str, access: attrib_clickhouse::Access },
}

impl<'a> Source<'a> {
    /// `--input DIR` or `--clickhouse URL` (`--database`, else the configured one, and the
    /// configured TLS settings), as the commands take them.
    pub fn of(
        input: Option<&'a Path>,
        clickhouse: Option<&'a str>,
        database: Option<&'a str>,
        config: &'a Config,
    ) -> Result<Source<'a>> {
        match (input, clickhouse) {
            (Some(dir), _) => Ok(Source::Dir(dir)),
            (None, Some(url)) => Ok(Source::ClickHouse {
                url,
                database: database.unwrap_or(&config.clickhouse.database),
                access: config.clickhouse.access(),
            }),
            (None, None) => bail!("give --input DIR or --clickhouse URL"),
        }
    }
}

fn fx_table(rows: impl IntoIterator<Item = (String, String, String)>) -> FxTable {
    let mut t = FxTable::new();
    for (date, currency, rate) in rows {
        if let (Some(date), Some(currency)) = (Date::parse(&date), Currency::parse(&currency)) {
            t.insert(&FxRate { date, currency, rate_to_reporting: rate });
        }
    }
    t
}

/// Reads the inputs and reconciles `month`.
pub fn reconcile(month: &str, source: Source<'_>, config: &Config) -> Result<MonthReconciliation> {
    let valid = month.len() == 7 && Date::parse(&format!("{month}-01")).is_some();
    if !valid {
        return Err(crate::exit::Usage(format!("--month {month:?} is not YYYY-MM")).into());
    }
    let (deals, credits, fx): (Vec<DealVersionRow>, Vec<CreditRow>, FxTable) = match source {
        Source::Dir(dir) => {
            let fx: Vec<FxRow> = read_csv(&dir.join("fx_rates.csv"))?;
            (
                read_csv(&dir.join("deals.csv"))?,
                read_csv(&dir.join("credits.csv"))?,
                fx_table(fx.into_iter().map(|r| (r.date, r.currency, r.rate_to_reporting))),
            )
        }
        Source::ClickHouse { url, database, access } => crate::service::runtime()?.block_on(async {
            let client = attrib_clickhouse::connect(url, Some(database), &access)?;
            let deals = attrib_clickhouse::deal_versions(&client).await?;
            let credits = attrib_clickhouse::live_credits(&client).await?;
            let fx = attrib_clickhouse::fx_rates(&client).await?;
            Ok::<_, anyhow::Error>((deals, credits, fx_table(fx)))
        })?,
    };
    // Every model the ledger holds; the configured ones when it holds none.
    let mut models: BTreeSet<String> = credits.iter().map(|c| c.model.to_string()).collect();
    if models.is_empty() {
        models = config.attribution().models.iter().map(|m| m.as_str().to_string()).collect();
    }
    let models: Vec<String> = models.into_iter().collect();
    let result = reconcile_month(month, &deals, &credits, &models, &fx, &config.attribution().reporting);
    if result.lines.is_empty() && result.adjustments.is_empty() {
        // Balanced only because there is nothing to compare: say so, and where the data is.
        let days = credits
            .iter()
            .map(|c| c.conversion_time.to_string())
            .chain(deals.iter().flat_map(|d| [d.occurred_at.clone(), d.closed_at.clone()]))
            .filter_map(|t| t.get(..10).map(str::to_string))
            .filter(|d| Date::parse(d).is_some());
        let (first, last) = days.fold((None::<String>, None::<String>), |(lo, hi), d| {
            (Some(lo.map_or(d.clone(), |l| l.min(d.clone()))), Some(hi.map_or(d.clone(), |h| h.max(d))))
        });
        match (first, last) {
            (Some(first), Some(last)) => {
                eprintln!("warning: no closed-won deals and no deal credits in {month}; the data spans {first} to {last}")
            }
            _ => eprintln!("warning: no closed-won deals and no deal credits in {month}; the input holds no deals or credits at all"),
        }
    }
    Ok(result)
}

/// An amount with its currency's decimals; raw minor units only if the code is not a currency.
fn amount(minor: i64, code: &str) -> String {
    line_currency(code).map_or_else(|| minor.to_string(), |c| Money::new(minor, c).amount())
}

/// A line as `--json` prints it: the exact minor units, plus each amount as a decimal string
/// in the currency's own exponent for readers that do not know ISO 4217.
#[derive(serde::Serialize)]
struct JsonLine<'a> {
    #[serde(flatten)]
    line: &'a ReconciliationLine,
    minor_unit_digits: Option<u32>,
    crm_closed_won: String,
    credited: String,
    difference: String,
}

#[derive(serde::Serialize)]
struct JsonAdjustment<'a> {
    #[serde(flatten)]
    adjustment: &'a Adjustment,
    minor_unit_digits: Option<u32>,
    previous: String,
    restated: String,
    adjustment_amount: String,
}

#[derive(serde::Serialize)]
struct JsonReconciliation<'a> {
    month: &'a str,
    balanced: bool,
    lines: Vec<JsonLine<'a>>,
    adjustments: Vec<JsonAdjustment<'a>>,
}

fn decimal(minor: i64, code: &str) -> String {
    line_currency(code).map_or_else(|| minor.to_string(), |c| Money::new(minor, c).decimal())
}

/// The `--json` document.
pub fn to_json(r: &MonthReconciliation) -> serde_json::Result<String> {
    let doc = JsonReconciliation {
        month: &r.month,
        balanced: r.balanced(),
        lines: r
            .lines
            .iter()
            .map(|l| JsonLine {
                line: l,
                minor_unit_digits: line_currency(&l.currency).map(Currency::minor_unit_digits),
                crm_closed_won: decimal(l.crm_closed_won_minor, &l.currency),
                credited: decimal(l.credited_minor, &l.currency),
                difference: decimal(l.difference_minor, &l.currency),
            })
            .collect(),
        adjustments: r
            .adjustments
            .iter()
            .map(|a| JsonAdjustment {
                adjustment: a,
                minor_unit_digits: line_currency(&a.currency).map(Currency::minor_unit_digits),
                previous: decimal(a.previous_minor, &a.currency),
                restated: decimal(a.restated_minor, &a.currency),
                adjustment_amount: decimal(a.adjustment_minor, &a.currency),
            })
            .collect(),
    };
    serde_json::to_string_pretty(&doc)
}

/// The human-readable report.
pub fn render(r: &MonthReconciliation) -> String {
    let mut out = format!("Reconciliation {} — CRM closed-won revenue against credits per model\n\n", r.month);
    let row = |cells: [&str; 6]| {
        let [currency, model, deals, crm, credited, difference] = cells;
        format!("{currency:<14} {model:<16} {deals:>6} {crm:>16} {credited:>16} {difference:>12}\n")
    };
    out.push_str(&row(["currency", "model", "deals", "crm_closed_won", "credited", "difference"]));
    for l in &r.lines {
        let c = &l.currency;
        let (crm, credited, difference) =
            (amount(l.crm_closed_won_minor, c), amount(l.credited_minor, c), amount(l.difference_minor, c));
        out.push_str(&row([&l.currency, &l.model, &l.deals.to_string(), &crm, &credited, &difference]));
    }
    if r.lines.is_empty() {
        out.push_str("(no closed-won deals and no deal credits in this month)\n");
    }
    out.push_str(&format!("\nAdjustments recorded in {} (restated or refunded deals):\n", r.month));
    if r.adjustments.is_empty() {
        out.push_str("(none)\n");
    }
    for a in &r.adjustments {
        out.push_str(&format!(
            "deal {} v{} → v{} ({}): {} {} → {} = {} (booked in {})\n",
            a.deal_id,
            a.from_version,
            a.to_version,
            a.stage,
            a.currency,
            amount(a.previous_minor, &a.currency),
            amount(a.restated_minor, &a.currency),
            amount(a.adjustment_minor, &a.currency),
            if a.booked_month.is_empty() { "-" } else { &a.booked_month }
        ));
    }
    out.push_str(if r.lines.is_empty() && r.adjustments.is_empty() {
        "\nNO DATA: nothing to reconcile in this month.\n"
    } else if r.balanced() {
        "\nBALANCED: every difference is 0.\n"
    } else {
        "\nNOT BALANCED.\n"
    });
    out
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The month, YYYY-MM.
    #[arg(long)]
    pub month: String,
    /// A batch output folder (credits.csv, deals.csv, fx_rates.csv).
    #[arg(long, conflicts_with = "clickhouse", required_unless_present = "clickhouse")]
    pub input: Option<std::path::PathBuf>,
    /// Read the service's ClickHouse tables instead.
    #[arg(long)]
    pub clickhouse: Option<String>,
    #[arg(long)]
    pub database: Option<String>,
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
    /// Print JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let Args { month, input, clickhouse, database, config, json } = args;
    let cfg = crate::config::Config::load(config.as_deref())?;
    let source =
        crate::commands::reconcile::Source::of(input.as_deref(), clickhouse.as_deref(), database.as_deref(), &cfg)?;
    let r = crate::commands::reconcile::reconcile(&month, source, &cfg)?;
    if json {
        crate::say!("{}", crate::commands::reconcile::to_json(&r)?);
    } else {
        crate::exit::print(&crate::commands::reconcile::render(&r))?;
    }
    if !r.balanced() {
        return Err(crate::exit::CheckFailed(format!("reconciliation for {month} does not balance")).into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(currency: &str, crm: i64, credited: i64) -> ReconciliationLine {
        ReconciliationLine {
            month: "2026-03".into(),
            currency: currency.into(),
            model: "linear".into(),
            deals: 1,
            crm_closed_won_minor: crm,
            credited_minor: credited,
            difference_minor: credited - crm,
        }
    }

    #[test]
    fn each_currency_is_shown_with_its_own_exponent_in_text_and_json() {
        let r = MonthReconciliation {
            month: "2026-03".into(),
            lines: vec![
                line("JPY", 1_500_000, 1_500_000),
                line("KWD", 1_234_567, 1_234_560),
                line("EUR", 123_456, 123_456),
                line("reporting:USD", 1_000_050, 1_000_050),
            ],
            adjustments: vec![Adjustment {
                month: "2026-03".into(),
                deal_id: "d-1".into(),
                from_version: 1,
                to_version: 2,
                stage: "closed_won".into(),
                currency: "JPY".into(),
                previous_minor: 1_000_000,
                restated_minor: 1_500_000,
                adjustment_minor: 500_000,
                booked_month: "2026-03".into(),
            }],
        };
        let text = render(&r);
        assert!(text.contains("1,500,000") && !text.contains("15,000.00"), "{text}");
        assert!(text.contains("1,234.567") && text.contains("-0.007"), "{text}");
        assert!(text.contains("1,234.56") && text.contains("10,000.50"), "{text}");
        assert!(text.contains("JPY 1,000,000 → 1,500,000 = 500,000"), "{text}");

        let json: serde_json::Value = serde_json::from_str(&to_json(&r).expect("json")).expect("parses");
        let lines = json["lines"].as_array().expect("lines");
        assert_eq!(lines[0]["crm_closed_won"], "1500000");
        assert_eq!(lines[0]["crm_closed_won_minor"], 1_500_000);
        assert_eq!(lines[0]["minor_unit_digits"], 0);
        assert_eq!(lines[1]["difference"], "-0.007");
        assert_eq!(lines[1]["minor_unit_digits"], 3);
        assert_eq!(lines[2]["credited"], "1234.56");
        assert_eq!(lines[3]["credited"], "10000.50");
        assert_eq!(json["adjustments"][0]["adjustment_amount"], "500000");
        assert_eq!(json["balanced"], false);
    }
}
