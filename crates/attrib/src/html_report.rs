//! The self-contained HTML report (`attrib report`, written by `demo` too): the dashboard's
//! views as one file with inline SVG charts, no script or font from the network.

use attrib_contract::{Currency, Date};
use attrib_ledger::{ratio, sum_by, KpiFact, LedgerReconciliationLine, TimeToConversion};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// What the report shows, read from a batch folder or from ClickHouse's KPI views.
#[derive(Debug, Clone, Default)]
pub struct ReportData {
    /// `kpi_daily`.
    pub facts: Vec<KpiFact>,
    pub time_to_conversion: Vec<TimeToConversion>,
    pub reconciliation: Vec<LedgerReconciliationLine>,
    /// Where the data came from, shown in the header.
    pub source: String,
}

const PALETTE: [&str; 8] = ["#3366cc", "#dc3912", "#ff9900", "#109618", "#990099", "#0099c6", "#dd4477", "#66aa00"];

/// Escapes text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Money in the reporting currency: minor units to a grouped decimal string.
struct Money {
    digits: u32,
    code: String,
}

impl Money {
    fn fmt(&self, minor: i64) -> String {
        let scale = 10i64.pow(self.digits);
        let sign = if minor < 0 { "-" } else { "" };
        let m = minor.unsigned_abs();
        let whole = group((m / scale as u64).to_string());
        match self.digits {
            0 => format!("{sign}{whole}"),
            d => format!("{sign}{whole}.{:0width$}", m % scale as u64, width = d as usize),
        }
    }

    fn units(&self, minor: f64) -> f64 {
        minor / 10f64.powi(self.digits as i32)
    }
}

fn group(digits: String) -> String {
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn num(x: f64, decimals: usize) -> String {
    format!("{x:.decimals$}")
}

fn opt(x: Option<f64>, decimals: usize) -> String {
    x.map_or_else(|| "–".to_string(), |v| num(v, decimals))
}

/// The Monday of the ISO week of a `YYYY-MM-DD` day.
fn week_of(day: &str) -> String {
    match Date::parse(day) {
        Some(d) => {
            let days = d.days_since_epoch();
            // 1970-01-01 was a Thursday: Monday-based weekday = (days + 3) mod 7.
            Date::from_days_since_epoch(days - (days + 3).rem_euclid(7)).to_string()
        }
        None => day.to_string(),
    }
}

/// The source a credit is shown under: its platform, or its channel for non-social touches.
fn source_of(f: &KpiFact) -> String {
    if f.platform.is_empty() {
        f.channel.to_string()
    } else {
        f.platform.to_string()
    }
}

/// A horizontal bar chart of (label, value) pairs.
fn bar_chart(bars: &[(String, f64)], value_label: impl Fn(f64) -> String) -> String {
    if bars.is_empty() {
        return "<p class=\"empty\">No data.</p>".to_string();
    }
    let (row, label_w, plot_w) = (22.0, 220.0, 460.0);
    let max = bars.iter().map(|b| b.1.abs()).fold(0.0, f64::max).max(f64::MIN_POSITIVE);
    let height = row * bars.len() as f64 + 10.0;
    let mut s = format!(
        "<svg class=\"chart\" role=\"img\" viewBox=\"0 0 {w} {height}\" width=\"{w}\" height=\"{height}\">",
        w = label_w + plot_w + 120.0
    );
    for (i, (label, v)) in bars.iter().enumerate() {
        let y = 5.0 + row * i as f64;
        let w = (v.abs() / max * plot_w).max(1.0);
        let _ = write!(
            s,
            "<text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">{l}</text>\
             <rect class=\"mark\" x=\"{label_w}\" y=\"{y}\" width=\"{w:.1}\" height=\"{h}\" fill=\"{c}\"><title>{l}: {vl}</title></rect>\
             <text x=\"{vx:.1}\" y=\"{ty}\">{vl}</text>",
            lx = label_w - 6.0,
            ty = y + 14.0,
            l = esc(label),
            h = row - 6.0,
            c = if *v < 0.0 { "#dc3912" } else { PALETTE[0] },
            vl = esc(&value_label(*v)),
            vx = label_w + w + 6.0,
        );
    }
    s.push_str("</svg>");
    s
}

/// A line chart: one line per series over shared x labels (weeks).
fn line_chart(x: &[String], series: &[(String, Vec<f64>)], axis_label: &str) -> String {
    if x.is_empty() || series.is_empty() {
        return "<p class=\"empty\">No data.</p>".to_string();
    }
    let (w, h, left, bottom, top) = (760.0, 280.0, 70.0, 40.0, 10.0);
    let plot_w = w - left - 150.0;
    let plot_h = h - bottom - top;
    let max = series.iter().flat_map(|s| s.1.iter()).fold(0.0f64, |a, b| a.max(*b)).max(f64::MIN_POSITIVE);
    let px = |i: usize| left + if x.len() > 1 { plot_w * i as f64 / (x.len() - 1) as f64 } else { plot_w / 2.0 };
    let py = |v: f64| top + plot_h - v / max * plot_h;
    let mut s = format!("<svg class=\"chart\" role=\"img\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\">");
    let _ = write!(
        s,
        "<line x1=\"{left}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#999\"/><line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{b}\" stroke=\"#999\"/>\
         <text x=\"4\" y=\"{top2}\">{max_label}</text><text x=\"4\" y=\"{b}\">0</text><text x=\"{left}\" y=\"{xl}\">{first}</text>\
         <text x=\"{r}\" y=\"{xl}\" text-anchor=\"end\">{last}</text><text x=\"{left}\" y=\"{h2}\" class=\"axis\">{axis}</text>",
        b = top + plot_h,
        r = left + plot_w,
        top2 = top + 10.0,
        max_label = esc(&num(max, 0)),
        xl = top + plot_h + 16.0,
        first = esc(&x[0]),
        last = esc(&x[x.len() - 1]),
        h2 = h - 4.0,
        axis = esc(axis_label),
    );
    for (k, (name, values)) in series.iter().enumerate() {
        let color = PALETTE[k % PALETTE.len()];
        let points: Vec<String> =
            values.iter().enumerate().map(|(i, v)| format!("{:.1},{:.1}", px(i), py(*v))).collect();
        let _ = write!(
            s,
            "<polyline class=\"mark\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"><title>{n}</title></polyline>\
             <rect x=\"{lx}\" y=\"{ly}\" width=\"10\" height=\"10\" fill=\"{color}\"/><text x=\"{tx}\" y=\"{ty}\">{n}</text>",
            points.join(" "),
            n = esc(name),
            lx = left + plot_w + 14.0,
            ly = top + 16.0 * k as f64,
            tx = left + plot_w + 28.0,
            ty = top + 9.0 + 16.0 * k as f64,
        );
    }
    s.push_str("</svg>");
    s
}

fn table(head: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut s = String::from("<table><thead><tr>");
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
    s.push_str("</tbody></table>");
    s
}

/// The models in the data, and the one the report shows (`wanted`, else linear, else the first).
fn pick_model(facts: &[KpiFact], wanted: Option<&str>) -> (Vec<String>, String) {
    let models: Vec<String> = facts.iter().map(|f| f.model.to_string()).collect::<BTreeSet<_>>().into_iter().collect();
    let chosen = match wanted {
        Some(m) => m.to_string(),
        None if models.iter().any(|m| m == "linear") => "linear".to_string(),
        None => models.first().cloned().unwrap_or_default(),
    };
    (models, chosen)
}

/// Renders the report for `model` (default: linear when present).
pub fn render(data: &ReportData, model: Option<&str>) -> String {
    let (models, model) = pick_model(&data.facts, model);
    let currency = data.facts.iter().map(|f| f.reporting_currency.as_str()).max().unwrap_or_default().to_string();
    let money = Money {
        digits: Currency::parse(&currency).map_or(2, Currency::minor_unit_digits),
        code: if currency.is_empty() { "—".into() } else { currency.clone() },
    };
    let of_model: Vec<&KpiFact> = data.facts.iter().filter(|f| f.model.as_str() == model).collect();
    let days: BTreeSet<&str> = of_model.iter().map(|f| f.day.as_str()).collect();
    let mut body = String::new();

    // Headline figures of the chosen model.
    let total = sum_by(of_model.iter().copied(), |_| ()).pop().map(|(_, t)| t).unwrap_or_default();
    let get = |f: fn(&KpiFact) -> f64| f(&total);
    let (revenue, spend) = (get(|t| t.attributed_revenue_minor as f64), get(|t| t.spend_minor as f64));
    let (conversions, leads) = (get(|t| t.attributed_conversions), get(|t| t.leads));
    let cards = [
        ("Attributed revenue", money.fmt(revenue as i64)),
        ("Spend", money.fmt(spend as i64)),
        ("ROAS", opt(ratio(revenue, spend), 2)),
        ("Conversions (orders + deals)", num(conversions, 1)),
        ("CPA", opt(ratio(spend, conversions).map(|v| money.units(v)), 2)),
        ("Leads", num(leads, 1)),
        ("Cost per lead", opt(ratio(spend, leads).map(|v| money.units(v)), 2)),
        ("Pipeline influenced", money.fmt(get(|t| t.pipeline_minor as f64) as i64)),
        ("Rows missing an FX rate", num(get(|t| t.missing_fx_rows as f64), 0)),
    ];
    body.push_str("<div class=\"cards\">");
    for (label, value) in cards {
        let _ = write!(
            body,
            "<div class=\"card\"><div class=\"v\">{}</div><div class=\"l\">{}</div></div>",
            esc(&value),
            esc(label)
        );
    }
    body.push_str("</div>");

    // Revenue by platform (channel for non-social) over weeks.
    let credited = |f: &&KpiFact| !f.conversion_type.is_empty();
    let by_week: BTreeMap<(String, String), i64> =
        sum_by(of_model.iter().copied().filter(credited), |f| (week_of(&f.day), source_of(f)))
            .into_iter()
            .map(|(k, f)| (k, f.attributed_revenue_minor))
            .collect();
    let mut per_source: BTreeMap<String, i64> = BTreeMap::new();
    for ((_, source), revenue) in &by_week {
        *per_source.entry(source.clone()).or_default() += revenue;
    }
    let mut top_sources: Vec<(String, i64)> = per_source.into_iter().collect();
    top_sources.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    top_sources.truncate(8);
    let weeks: Vec<String> = by_week.keys().map(|(w, _)| w.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    let series: Vec<(String, Vec<f64>)> = top_sources
        .iter()
        .map(|(src, _)| {
            let revenue = |w: &String| by_week.get(&(w.clone(), src.clone())).copied().unwrap_or(0);
            (src.clone(), weeks.iter().map(|w| money.units(revenue(w) as f64)).collect())
        })
        .collect();
    section(
        &mut body,
        "Attributed revenue by platform, per week",
        &format!("{model} model, {} by week of conversion", money.code),
        &line_chart(&weeks, &series, &format!("revenue ({})", money.code)),
    );

    // Revenue by source under the chosen model, and how the models split it.
    let by_source = sum_by(of_model.iter().copied().filter(credited), source_of);
    let mut bars: Vec<(String, f64)> =
        by_source.iter().map(|(src, f)| (src.clone(), money.units(f.attributed_revenue_minor as f64))).collect();
    bars.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let matrix: BTreeMap<(String, String), i64> =
        sum_by(data.facts.iter().filter(credited), |f| (source_of(f), f.model.to_string()))
            .into_iter()
            .map(|(k, f)| (k, f.attributed_revenue_minor))
            .collect();
    let mut head = vec!["source"];
    head.extend(models.iter().map(String::as_str));
    let rows = bars.iter().map(|(src, _)| {
        let mut row = vec![src.clone()];
        row.extend(models.iter().map(|m| money.fmt(matrix.get(&(src.clone(), m.clone())).copied().unwrap_or(0))));
        row
    });
    let content = bar_chart(&bars, |v| num(v, 2)) + &table(&head, rows);
    section(
        &mut body,
        "Attributed revenue by source, and by model",
        &format!("chart: {model} model; table: every model, {}", money.code),
        &content,
    );

    // Campaigns: ROAS and CPA as ratios of sums.
    let mut campaigns = sum_by(of_model.iter().copied().filter(|f| !f.campaign_id.is_empty()), |f| {
        (f.platform.to_string(), f.campaign_id.to_string())
    });
    campaigns.sort_by(|(_, a), (_, b)| {
        b.spend_minor.cmp(&a.spend_minor).then(b.attributed_revenue_minor.cmp(&a.attributed_revenue_minor))
    });
    campaigns.truncate(20);
    let roas_bars: Vec<(String, f64)> = campaigns
        .iter()
        .filter_map(|((platform, campaign), c)| {
            let roas = ratio(c.attributed_revenue_minor as f64, c.spend_minor as f64);
            roas.map(|r| (format!("{platform} {campaign}"), r))
        })
        .collect();
    let rows = campaigns.iter().map(|((platform, campaign), c)| {
        let (rev, sp) = (c.attributed_revenue_minor as f64, c.spend_minor as f64);
        vec![
            platform.clone(),
            campaign.clone(),
            money.fmt(c.spend_minor),
            money.fmt(c.attributed_revenue_minor),
            num(c.attributed_conversions, 2),
            num(c.leads, 2),
            opt(ratio(rev, sp), 2),
            opt(ratio(sp, c.attributed_conversions).map(|v| money.units(v)), 2),
            opt(ratio(sp, c.leads).map(|v| money.units(v)), 2),
            money.fmt(c.pipeline_minor),
        ]
    });
    let head = [
        "platform",
        "campaign",
        "spend",
        "revenue",
        "conversions",
        "leads",
        "ROAS",
        "CPA",
        "cost per lead",
        "pipeline",
    ];
    section(
        &mut body,
        "ROAS and CPA by campaign",
        &format!("{model} model; ROAS = Σ revenue / Σ spend, CPA = Σ spend / Σ conversions; top 20 by spend"),
        &(bar_chart(&roas_bars, |v| num(v, 2)) + &table(&head, rows)),
    );

    // Posts: revenue next to likes.
    let mut posts = sum_by(of_model.iter().copied().filter(|f| !f.post_id.is_empty()), |f| {
        (f.post_id.to_string(), f.platform.to_string(), f.actor_type.to_string())
    });
    posts.sort_by(|(ka, a), (kb, b)| {
        b.attributed_revenue_minor.cmp(&a.attributed_revenue_minor).then(b.likes.cmp(&a.likes)).then(ka.cmp(kb))
    });
    posts.truncate(15);
    let post_bars: Vec<(String, f64)> =
        posts.iter().map(|((post, _, _), p)| (post.clone(), money.units(p.attributed_revenue_minor as f64))).collect();
    let rows = posts.iter().map(|((post, platform, actor), p)| {
        vec![
            post.clone(),
            platform.clone(),
            actor.clone(),
            money.fmt(p.attributed_revenue_minor),
            num(p.attributed_conversions, 2),
            p.likes.to_string(),
            p.shares.to_string(),
            p.comments.to_string(),
            (p.clicks + p.link_clicks).to_string(),
            p.impressions.to_string(),
        ]
    });
    let head =
        ["post", "platform", "actor", "revenue", "conversions", "likes", "shares", "comments", "clicks", "impressions"];
    section(
        &mut body,
        "Top posts: attributed revenue vs likes",
        &format!("{model} model; top 15 by revenue"),
        &(bar_chart(&post_bars, |v| num(v, 2)) + &table(&head, rows)),
    );

    // Who published: employee advocacy vs brand vs paid vs influencer.
    let actors = sum_by(of_model.iter().copied().filter(|f| !f.actor_type.is_empty()), |f| f.actor_type.to_string());
    let actor_bars: Vec<(String, f64)> = actors
        .iter()
        .flat_map(|(actor, a)| {
            [
                (format!("{actor} revenue"), money.units(a.attributed_revenue_minor as f64)),
                (format!("{actor} pipeline"), money.units(a.pipeline_minor as f64)),
                (format!("{actor} spend"), money.units(a.spend_minor as f64)),
            ]
        })
        .collect();
    let rows = actors.iter().map(|(actor, a)| {
        vec![
            actor.clone(),
            money.fmt(a.attributed_revenue_minor),
            num(a.attributed_conversions, 2),
            money.fmt(a.pipeline_minor),
            money.fmt(a.spend_minor),
            (a.likes + a.comments + a.shares).to_string(),
        ]
    });
    section(
        &mut body,
        "Employee advocacy vs brand vs paid vs influencer",
        &format!("{model} model, {}", money.code),
        &(bar_chart(&actor_bars, |v| num(v, 2))
            + &table(&["published by", "revenue", "conversions", "pipeline", "spend", "likes+comments+shares"], rows)),
    );

    // Pipeline influenced.
    let mut pipeline = sum_by(of_model.iter().copied().filter(|f| f.pipeline_minor != 0), source_of);
    pipeline.sort_by(|(ka, a), (kb, b)| b.pipeline_minor.cmp(&a.pipeline_minor).then(ka.cmp(kb)));
    let bars: Vec<(String, f64)> =
        pipeline.iter().map(|(source, p)| (source.clone(), money.units(p.pipeline_minor as f64))).collect();
    section(
        &mut body,
        "Pipeline influenced",
        &format!("open deals' amounts credited to the touches before each deal was created, {model} model"),
        &bar_chart(&bars, |v| num(v, 2)),
    );

    // Time to conversion.
    let mut times: Vec<&TimeToConversion> = data.time_to_conversion.iter().collect();
    times.sort_by(|a, b| a.conversion_type.cmp(&b.conversion_type));
    let rows = times.iter().map(|t| {
        vec![
            t.conversion_type.clone(),
            t.conversions.to_string(),
            t.with_touches.to_string(),
            opt(t.avg_days, 2),
            opt(t.median_days, 2),
        ]
    });
    section(
        &mut body,
        "Days from first touch to conversion",
        "touches inside each conversion's window",
        &table(&["type", "conversions", "with touches", "average", "median"], rows),
    );

    // Reconciliation.
    let unbalanced = data.reconciliation.iter().filter(|l| l.difference_minor != 0).count();
    let status = if unbalanced == 0 {
        format!(
            "<p class=\"ok\">All {} lines balance to the cent: every model's credits equal the revenue.</p>",
            data.reconciliation.len()
        )
    } else {
        format!("<p class=\"bad\">{unbalanced} of {} lines do not balance.</p>", data.reconciliation.len())
    };
    let mut lines: Vec<&LedgerReconciliationLine> = data.reconciliation.iter().collect();
    lines.sort();
    let rows = lines.into_iter().filter(|l| l.model == model || l.difference_minor != 0).map(|l| {
        vec![
            l.month.clone(),
            l.conversion_type.clone(),
            l.currency.clone(),
            l.model.clone(),
            group_signed(l.revenue_minor),
            group_signed(l.credited_minor),
            l.difference_minor.to_string(),
        ]
    });
    section(
        &mut body,
        "Reconciliation",
        "per month of conversion, type and currency, in minor units",
        &(status + &table(&["month", "type", "currency", "model", "revenue", "credited", "difference"], rows)),
    );

    let period = match (days.first(), days.last()) {
        (Some(a), Some(b)) => format!("{a} to {b}"),
        _ => "no data".to_string(),
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Social attribution report</title>\
         <style>{STYLE}</style></head><body><h1>Social attribution report</h1>\
         <p class=\"meta\">{period} · reporting currency {cur} · model <b>{model}</b> (of {models}) · source {source}</p>{body}\
         <script>{SCRIPT}</script></body></html>\n",
        cur = esc(&money.code),
        model = esc(&model),
        models = esc(&models.join(", ")),
        source = esc(&data.source),
    )
}

fn group_signed(v: i64) -> String {
    let s = group(v.unsigned_abs().to_string());
    if v < 0 {
        format!("-{s}")
    } else {
        s
    }
}

fn section(body: &mut String, title: &str, note: &str, content: &str) {
    let _ = write!(body, "<section><h2>{}</h2><p class=\"note\">{}</p>{content}</section>", esc(title), esc(note));
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}\
h1{margin:0 0 4px}h2{margin:28px 0 2px;font-size:18px}.meta,.note{color:#666;margin:2px 0 10px}\
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:150px}\
.card .v{font-size:20px;font-weight:600}.card .l{color:#666;font-size:12px}\
table{border-collapse:collapse;margin-top:8px;font-size:13px}th,td{border-bottom:1px solid #eee;padding:3px 8px;text-align:right}\
th:first-child,td:first-child{text-align:left}svg text{font-size:11px;fill:#333}.ok{color:#109618}.bad{color:#dc3912;font-weight:600}";

/// Marks the page with how many charts drew visible marks, for people and for the test.
const SCRIPT: &str = "(function(){var c=document.querySelectorAll('svg.chart'),n=0;\
for(var i=0;i<c.length;i++){var m=c[i].querySelectorAll('.mark'),ok=false;\
for(var j=0;j<m.length;j++){var b=m[j].getBBox();if(b.width>0||b.height>0){ok=true;break;}}if(ok)n++;}\
document.documentElement.setAttribute('data-charts-rendered',n+'/'+c.length);})();";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_uses_the_currency_minor_units_and_groups_thousands() {
        let usd = Money { digits: 2, code: "USD".into() };
        assert_eq!(usd.fmt(123_456_789), "1,234,567.89");
        assert_eq!(usd.fmt(-5), "-0.05");
        let jpy = Money { digits: 0, code: "JPY".into() };
        assert_eq!(jpy.fmt(1_234_567), "1,234,567");
    }

    #[test]
    fn weeks_start_on_monday() {
        assert_eq!(week_of("2026-11-23"), "2026-11-23"); // a Monday
        assert_eq!(week_of("2026-11-29"), "2026-11-23");
        assert_eq!(week_of("1970-01-01"), "1969-12-29");
    }

    #[test]
    fn text_from_the_data_is_escaped() {
        let bars = vec![("<script>x</script>".to_string(), 1.0)];
        let svg = bar_chart(&bars, |v| num(v, 0));
        assert!(!svg.contains("<script>") && svg.contains("&lt;script&gt;"));
    }
}
