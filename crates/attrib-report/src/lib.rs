//! The self-contained HTML attribution report (`attrib report`, written by `demo` too): KPI
//! rows in, one HTML file out, with inline SVG charts and no script, font or image from the
//! network. Laid out as analysts read attribution reports: headline KPIs that say what they
//! divide, a side-by-side model comparison, a conversion-type filter, then where revenue came
//! from (platforms over time, campaigns, posts, publishers), and the reconciliation to the cent.
//!
//! Pure: no IO.

mod chart;
mod page;

use attrib_contract::{Currency, Date, Money};
use attrib_ledger::{
    ratio, sum_by, KpiFact, LedgerReconciliationLine, PathKpi, TimeToConversion, TimeToConversionBucket, UNATTRIBUTED,
    UNKNOWN_PUBLISHER,
};
use chart::{OTHER, PALETTE};
use page::Page;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// What the report shows, read from a batch folder or from ClickHouse's KPI views.
#[derive(Debug, Clone, Default)]
pub struct ReportData {
    /// `kpi_daily`.
    pub facts: Vec<KpiFact>,
    pub time_to_conversion: Vec<TimeToConversion>,
    /// `kpi_time_to_conversion_buckets`: the distribution behind the mean and median.
    pub time_buckets: Vec<TimeToConversionBucket>,
    /// `kpi_paths`.
    pub paths: Vec<PathKpi>,
    pub reconciliation: Vec<LedgerReconciliationLine>,
    /// Where the data came from, shown in the header.
    pub source: String,
}

/// Which models the report shows.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The model every section uses (default: linear when present, else the first).
    pub model: Option<String>,
    /// The model compared with it (default: last_touch when present, else another one).
    pub compare: Option<String>,
}

/// The label social channels that are not one of the six platforms, and every other channel,
/// are grouped under in the platform chart.
pub const OTHER_CHANNELS: &str = "other channels";

/// Escapes text for HTML element content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The conversion types the filter offers; each is one view of the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    /// Orders and closed-won deals: the conversions that bring revenue and count in CPA.
    Acquisitions,
    Orders,
    Deals,
    Leads,
}

impl View {
    const ALL: [View; 4] = [View::Acquisitions, View::Orders, View::Deals, View::Leads];

    fn id(self) -> &'static str {
        match self {
            View::Acquisitions => "all",
            View::Orders => "order",
            View::Deals => "deal",
            View::Leads => "lead",
        }
    }

    fn label(self) -> &'static str {
        match self {
            View::Acquisitions => "Orders + deals",
            View::Orders => "Orders",
            View::Deals => "Deals",
            View::Leads => "Leads",
        }
    }

    /// Whether a credit fact (conversion type set) belongs to this view; spend and engagement
    /// facts (no conversion type) belong to every view.
    fn takes(self, f: &KpiFact) -> bool {
        match (self, f.conversion_type.as_str()) {
            (_, "") => true,
            (View::Acquisitions, t) => t == "order" || t == "deal",
            (View::Orders, t) => t == "order",
            (View::Deals, t) => t == "deal",
            (View::Leads, t) => t == "lead",
        }
    }

    /// What a credit is worth in this view: revenue in minor units, or (leads) a lead's weight.
    fn value(self, f: &KpiFact) -> f64 {
        match self {
            View::Leads => f.leads,
            _ => f.attributed_revenue_minor as f64,
        }
    }
}

/// The models in the data, the one shown and the one it is compared with.
fn pick_models(facts: &[KpiFact], options: &Options) -> (Vec<String>, String, Option<String>) {
    let models: Vec<String> = facts.iter().map(|f| f.model.to_string()).collect::<BTreeSet<_>>().into_iter().collect();
    let has = |m: &str| models.iter().any(|x| x == m);
    let main = match &options.model {
        Some(m) => m.clone(),
        None if has("linear") => "linear".to_string(),
        None => models.first().cloned().unwrap_or_default(),
    };
    let compare = match &options.compare {
        Some(m) => Some(m.clone()),
        None if has("last_touch") && main != "last_touch" => Some("last_touch".to_string()),
        None => models.iter().find(|m| **m != main).cloned(),
    };
    (models, main, compare)
}

/// The Monday of the ISO week of a day.
fn week_of(day: Date) -> Date {
    let days = day.days_since_epoch();
    // 1970-01-01 was a Thursday: Monday-based weekday = (days + 3) mod 7.
    Date::from_days_since_epoch(days - (days + 3).rem_euclid(7))
}

fn is_credit(f: &KpiFact) -> bool {
    !f.conversion_type.is_empty()
}

fn is_social(f: &KpiFact) -> bool {
    !f.platform.is_empty()
}

/// The source a credit is shown under: its platform, or its channel for non-social touches.
fn source_of(f: &KpiFact) -> String {
    if is_social(f) {
        f.platform.to_string()
    } else {
        f.channel.to_string()
    }
}

/// The publisher group of a social fact: its actor type, or "unknown publisher".
fn publisher_of(f: &KpiFact) -> String {
    if f.actor_type.is_empty() {
        UNKNOWN_PUBLISHER.to_string()
    } else {
        f.actor_type.to_string()
    }
}

/// Formats amounts of the reporting currency.
struct Fmt {
    currency: Option<Currency>,
    code: String,
}

impl Fmt {
    /// `USD 1,234.56`; minor units when the data names no currency.
    fn money(&self, minor: i64) -> String {
        match self.currency {
            Some(c) => Money::new(minor, c).to_string(),
            None => minor.to_string(),
        }
    }
    fn amount(&self, minor: i64) -> String {
        match self.currency {
            Some(c) => Money::new(minor, c).amount(),
            None => minor.to_string(),
        }
    }
    /// A ratio in minor units (a CPA) as money, rounded to the minor unit.
    fn money_f(&self, minor: Option<f64>) -> String {
        minor.map_or_else(|| "–".to_string(), |m| self.money(m.round() as i64))
    }
    fn major(&self, minor: f64) -> f64 {
        minor / 10f64.powi(self.currency.map_or(2, Currency::minor_unit_digits) as i32)
    }
    fn code(&self) -> &str {
        &self.code
    }
}

fn count(x: f64) -> String {
    // Weights of one conversion sum to 1, so totals are whole up to rounding.
    attrib_contract::grouped(x.round() as i64)
}

fn ratio_text(x: Option<f64>) -> String {
    x.map_or_else(|| "–".to_string(), |v| format!("{v:.2}"))
}

fn percent_change(from: f64, to: f64) -> String {
    match ratio(to - from, from.abs()) {
        Some(r) => format!("{:+.1} %", r * 100.0),
        None if to == 0.0 => "0.0 %".to_string(),
        None => "new".to_string(),
    }
}

fn table(head: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut s = String::from("<div class=\"scroll\"><table><thead><tr>");
    for h in head {
        let _ = write!(s, "<th>{}</th>", esc(h));
    }
    s.push_str("</tr></thead><tbody>");
    for row in rows {
        s.push_str("<tr>");
        for cell in row {
            let _ = write!(s, "<td>{}</td>", esc(&cell));
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table></div>");
    s
}

fn section(body: &mut String, title: &str, note: &str, content: &str) {
    let _ = write!(body, "<section><h2>{}</h2><p class=\"note\">{}</p>{content}</section>", esc(title), esc(note));
}

/// One headline tile; `kpi`/`value` name the figure and its exact value for machines (tests,
/// scrapers) next to the text people read.
fn tile(label: &str, text: &str, detail: &str, kpi: &str, value: impl std::fmt::Display) -> String {
    format!(
        "<div class=\"card\" data-kpi=\"{kpi}\" data-value=\"{value}\"><div class=\"v\">{}</div><div class=\"l\">{}</div>{}</div>",
        esc(text),
        esc(label),
        if detail.is_empty() { String::new() } else { format!("<div class=\"d\">{}</div>", esc(detail)) }
    )
}

fn time_to_conversion(out: &mut String, times: &[TimeToConversion], buckets: &[TimeToConversionBucket]) {
    let mut times: Vec<&TimeToConversion> = times.iter().collect();
    times.sort_by(|a, b| a.conversion_type.cmp(&b.conversion_type));
    let days = |x: Option<f64>| x.map_or_else(|| "–".to_string(), |v| format!("{v:.1}"));
    // Every bucket in order, so a gap shows as 0; each type as its share of its conversions,
    // so a type with few conversions is as readable as one with many.
    let mut labels: Vec<(u32, String)> = buckets.iter().map(|b| (b.lower_days, b.bucket.clone())).collect();
    labels.sort();
    labels.dedup();
    let types: BTreeSet<&str> = buckets.iter().map(|b| b.conversion_type.as_str()).collect();
    let series: Vec<(String, Vec<f64>, &str)> = types
        .iter()
        .enumerate()
        .map(|(k, ty)| {
            let of_type: Vec<&TimeToConversionBucket> = buckets.iter().filter(|b| b.conversion_type == *ty).collect();
            let total: u64 = of_type.iter().map(|b| b.conversions).sum();
            let share = |lower: u32| {
                let n = of_type.iter().filter(|b| b.lower_days == lower).map(|b| b.conversions).sum::<u64>();
                ratio(n as f64 * 100.0, total as f64).unwrap_or(0.0)
            };
            (ty.to_string(), labels.iter().map(|(lower, _)| share(*lower)).collect(), PALETTE[k % PALETTE.len()])
        })
        .collect();
    let names: Vec<String> = labels.iter().map(|(_, l)| l.clone()).collect();
    let rows = times.iter().map(|t| {
        vec![
            t.conversion_type.clone(),
            t.conversions.to_string(),
            t.with_touches.to_string(),
            days(t.avg_days),
            days(t.median_days),
        ]
    });
    section(
        out,
        "Days from first touch to conversion",
        "the distribution per conversion type (share of the type's conversions with a touch in their window, per bucket of days: lower bound included), then the mean and median",
        &(chart::grouped_bars(&names, &series, "% of conversions")
            + &table(&["type", "conversions", "with touches", "average days", "median days"], rows)),
    );
}

/// A reconciliation row's revenue and each model's difference.
type RevenueAndDifferences<'a> = (i64, BTreeMap<&'a str, i64>);

fn reconciliation(out: &mut String, lines: &[LedgerReconciliationLine], models: &[String]) {
    let unbalanced = lines.iter().filter(|l| l.difference_minor != 0).count();
    let status = if unbalanced == 0 {
        format!(
            "<p class=\"ok\">All {} lines balance to the cent: under every model the credits equal the revenue.</p>",
            lines.len()
        )
    } else {
        format!("<p class=\"bad\">{unbalanced} of {} lines do not balance.</p>", lines.len())
    };
    // One row per month, type and currency; one difference column per model.
    let mut grid: BTreeMap<(&str, &str, &str), RevenueAndDifferences<'_>> = BTreeMap::new();
    for l in lines {
        let e = grid.entry((l.month.as_str(), l.conversion_type.as_str(), l.currency.as_str())).or_default();
        e.0 = l.revenue_minor;
        e.1.insert(l.model.as_str(), l.difference_minor);
    }
    let amount = |minor: i64, code: &str| match attrib_ledger::denomination_currency(code) {
        Some(c) => Money::new(minor, c).amount(),
        None => minor.to_string(),
    };
    let rows = grid.iter().map(|((month, ty, cur), (revenue, diffs))| {
        let mut row = vec![month.to_string(), ty.to_string(), cur.to_string(), amount(*revenue, cur)];
        row.extend(models.iter().map(|m| diffs.get(m.as_str()).map_or_else(|| "–".to_string(), |d| amount(*d, cur))));
        row
    });
    let mut head = vec!["month", "type", "currency", "revenue"];
    head.extend(models.iter().map(String::as_str));
    section(
        out,
        "Reconciliation",
        "revenue per month of conversion, type and currency (as booked, and in the reporting currency), and per model the credits minus the revenue: every cell must be 0",
        &(status + &table(&head, rows)),
    );
}

/// Renders the report.
pub fn render(data: &ReportData, options: &Options) -> String {
    let (models, model, compare) = pick_models(&data.facts, options);
    let currency = data.facts.iter().filter_map(|f| Currency::parse(&f.reporting_currency)).max();
    let fmt = Fmt { currency, code: currency.map_or("minor units".to_string(), |c| c.to_string()) };
    let days: BTreeSet<Date> = data.facts.iter().filter_map(|f| Date::parse(&f.day)).collect();
    let last_day = days.last().copied();
    // The filter: one radio per view, placed before the panels as their siblings so CSS shows
    // the checked view's panel; no script needed.
    let mut radios = String::new();
    let mut nav = String::from("<nav class=\"filter\" aria-label=\"conversion type\"><span>Conversion type:</span>");
    for (i, v) in View::ALL.iter().enumerate() {
        let id = v.id();
        let checked = if i == 0 { " checked" } else { "" };
        let _ = write!(radios, "<input type=\"radio\" name=\"view\" id=\"view-{id}\"{checked}>");
        let _ = write!(nav, "<label for=\"view-{id}\">{}</label>", v.label());
    }
    nav.push_str("</nav>");
    let mut body = String::new();
    for v in View::ALL {
        let of = |m: &str| data.facts.iter().filter(|f| f.model.as_str() == m && v.takes(f)).collect::<Vec<_>>();
        let page = Page {
            facts: of(&model),
            paths: data
                .paths
                .iter()
                .filter(|p| {
                    v.takes(&KpiFact { conversion_type: p.conversion_type.as_str().into(), ..KpiFact::default() })
                })
                .collect(),
            compare: compare.as_deref().map(of).unwrap_or_default(),
            view: v,
            model: &model,
            compare_model: compare.as_deref(),
            fmt: &fmt,
            last_day,
        };
        let _ = write!(body, "<div class=\"view\" id=\"panel-{}\" data-view=\"{}\">", v.id(), v.id());
        page.render(&mut body);
        body.push_str("</div>");
    }
    time_to_conversion(&mut body, &data.time_to_conversion, &data.time_buckets);
    reconciliation(&mut body, &data.reconciliation, &models);

    let period = match (days.first(), days.last()) {
        (Some(a), Some(b)) => format!("{a} to {b}"),
        _ => "no data".to_string(),
    };
    let show_checked: String = View::ALL
        .iter()
        .map(|v| format!("#view-{id}:checked~.views #panel-{id}{{display:block}}", id = v.id()))
        .collect::<Vec<_>>()
        .join("");
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Social attribution report</title><style>{STYLE}{show_checked}</style></head><body>\
         <h1>Social attribution report</h1>\
         <p class=\"meta\">{period} · money in the reporting currency {cur} · model <b>{model}</b>{vs} (of {models}) · source {source}</p>\
         {radios}{nav}<div class=\"views\">{body}</div></body></html>\n",
        cur = esc(fmt.code()),
        model = esc(&model),
        vs = compare.as_deref().map_or(String::new(), |c| format!(", compared with <b>{}</b>", esc(c))),
        models = esc(&models.join(", ")),
        source = esc(&data.source),
    )
}

const STYLE: &str = "*{box-sizing:border-box}body{font:14px/1.4 system-ui,sans-serif;margin:24px auto;padding:0 16px;color:#222;max-width:1100px}\
h1{margin:0 0 4px;font-size:24px}h2{margin:28px 0 2px;font-size:18px}.meta,.note{color:#666;margin:2px 0 10px}\
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:10px}\
.card{border:1px solid #ddd;border-radius:6px;padding:10px 12px}.card .v{font-size:19px;font-weight:600;overflow-wrap:anywhere}\
.card .l{color:#444;font-size:12px;font-weight:600}.card .d{color:#777;font-size:11px}\
.scroll{overflow-x:auto;max-width:100%}table{border-collapse:collapse;margin-top:8px;font-size:13px}\
th,td{border-bottom:1px solid #eee;padding:3px 8px;text-align:right;white-space:nowrap}th:first-child,td:first-child{text-align:left}\
svg.chart{display:block;width:100%;height:auto}svg text{font-size:12px;fill:#333}svg .axis-title{font-size:12px;fill:#555;font-weight:600}\
svg .grid{stroke:#e6e6e6}svg .axis,svg .tick{stroke:#888}svg .partial{fill:#f2f2f2}\
svg .reference{stroke:#109618;stroke-width:2;stroke-dasharray:5 3}svg .reference-label{fill:#109618;font-weight:600}\
.legend{list-style:none;padding:0;margin:4px 0 8px;display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px}\
.legend i{display:inline-block;width:10px;height:10px;margin-right:5px;vertical-align:-1px}\
.pair{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:16px}\
.ok{color:#109618}.bad{color:#dc3912;font-weight:600}\
input[name=view]{position:absolute;opacity:0;pointer-events:none}.filter{margin:14px 0 4px;display:flex;flex-wrap:wrap;gap:6px;align-items:center}\
.filter label{border:1px solid #bbb;border-radius:14px;padding:2px 12px;cursor:pointer}.view{display:none}\
#view-all:checked~.filter label[for=view-all],#view-order:checked~.filter label[for=view-order],\
#view-deal:checked~.filter label[for=view-deal],#view-lead:checked~.filter label[for=view-lead]{background:#3366cc;color:#fff;border-color:#3366cc}\
@media (max-width:600px){body{margin:12px auto;padding:0 10px}h1{font-size:20px}}";

#[cfg(test)]
mod tests;
