//! The human-readable summary `demo` (and `batch --summary`) prints.

use crate::batch::BatchRun;
use attrib_contract::{Currency, Money};
use attrib_ledger::{post_kpis, UNATTRIBUTED, UNKNOWN_PUBLISHER};
use attrib_models::{Model, RuleModel};
use std::collections::BTreeMap;
use std::fmt::Write;

fn short(model: &str) -> &str {
    match model {
        "first_touch" => "first",
        "last_touch" => "last",
        "last_non_direct" => "last non-dir",
        "time_decay" => "time decay",
        "position_based" => "U-shaped",
        "w_shaped" => "W-shaped",
        "full_path" => "full path",
        other => other,
    }
}

/// Revenue, conversion count and per-model differences of one type and currency.
type ReconGroup<'a> = (i64, u64, Vec<(&'a str, i64)>);

/// Renders the summary of a run; `generated` is the size of the sample when `demo` made it.
pub fn summary(run: &BatchRun, generated: Option<u64>) -> String {
    let mut s = String::new();
    let configured = &run.engine.config().models;
    let models: Vec<&str> = configured.iter().map(|m| m.as_str()).collect();
    // The model the single-model tables use, and the channel table is ranked by.
    let linear = Model::Rule(RuleModel::Linear);
    let main_model = if configured.contains(&linear) { linear } else { configured[0] };
    let _ = writeln!(s, "\nInput records");
    let _ = writeln!(s, "  {:<22}{:>10}{:>10}{:>12}{:>10}", "topic", "received", "accepted", "duplicates", "rejected");
    for (topic, c) in run.engine.counts() {
        let _ = writeln!(s, "  {topic:<22}{:>10}{:>10}{:>12}{:>10}", c.received, c.accepted, c.duplicates, c.rejected);
    }
    let by_type = run.totals.conversions_by_type();
    let conv: Vec<String> = by_type.iter().map(|(k, v)| format!("{v} {k}s")).collect();
    let people = run.engine.store().people();
    let _ = writeln!(s, "\nPeople: {people}   Conversions: {}", conv.join(", "));
    let _ = writeln!(
        s,
        "  (people = groups of linked identifiers: a device, social account or CRM contact that no login, \
         click id, e-mail hash or contact id ever joined to the rest of a person counts as a person of its own{})",
        match generated {
            Some(n) if people as u64 > n => format!(", which is why {people} exceeds the {n} generated people"),
            _ => String::new(),
        }
    );

    // Revenue by channel per currency, one column per model.
    let kpis = run.totals.channel_kpis();
    let mut currencies: Vec<(Currency, i64)> = run.totals.revenue_by_currency().into_iter().collect();
    currencies.sort_by_key(|c| std::cmp::Reverse(c.1));
    for (cur, total) in &currencies {
        let money = |minor: i64| Money::new(minor, *cur).amount();
        let _ = writeln!(
            s,
            "\nAttributed revenue by channel, in {cur} (original currency: conversions made in {cur} only; \
             orders + closed-won deals, total {})",
            Money::new(*total, *cur)
        );
        let _ = write!(s, "  {:<16}", "channel");
        for m in &models {
            let _ = write!(s, "{:>14}", short(m));
        }
        let _ = writeln!(s);
        let mut channels: BTreeMap<&str, BTreeMap<&str, i64>> = BTreeMap::new();
        for k in kpis.iter().filter(|k| k.currency == cur.as_str()) {
            *channels.entry(&k.channel).or_default().entry(&k.model).or_default() += k.attributed_revenue_minor;
        }
        let mut rows: Vec<_> = channels.into_iter().collect();
        rows.sort_by(|a, b| {
            let rank = |ch: &str, r: &BTreeMap<&str, i64>| {
                (ch == UNATTRIBUTED, -r.get(main_model.as_str()).copied().unwrap_or(0))
            };
            rank(a.0, &a.1).cmp(&rank(b.0, &b.1))
        });
        let mut unattributed = 0;
        for (channel, per_model) in rows {
            let _ = write!(s, "  {channel:<16}");
            for m in &models {
                let _ = write!(s, "{:>14}", money(per_model.get(m).copied().unwrap_or(0)));
            }
            let _ = writeln!(s);
            if channel == UNATTRIBUTED {
                unattributed = per_model.get(main_model.as_str()).copied().unwrap_or(0);
            }
        }
        let _ = writeln!(
            s,
            "  {UNATTRIBUTED} (conversions with no touch in their window): {} = {} of {cur} revenue",
            Money::new(unattributed, *cur),
            percent(unattributed, *total)
        );
    }

    // Who drives revenue: brand, employees, influencers, paid (linear model, main currency).
    if let Some((cur, _)) = currencies.first() {
        let actors = run.totals.actor_revenue(main_model, *cur);
        let model = main_model.as_str();
        let _ = writeln!(s, "\nSocial revenue by who published, in {cur} (original currency), {model} model");
        let (mut revenue, mut conversions) = (0, 0.0);
        let mut rows: Vec<_> = actors.into_iter().collect();
        // Known publishers first, the touches no publisher is known for last.
        rows.sort_by_key(|(actor, _)| (*actor == UNKNOWN_PUBLISHER, *actor));
        for (actor, (rev, n)) in rows {
            let _ = writeln!(s, "  {actor:<18}{:>16}   {n:>8.1} conversions", Money::new(rev, *cur).amount());
            revenue += rev;
            conversions += n;
        }
        let _ = writeln!(
            s,
            "  {:<18}{:>16}   {conversions:>8.1} conversions (= the social platforms' rows above)",
            "all social",
            Money::new(revenue, *cur).amount()
        );
    }
    {
        let model = main_model.as_str();
        let cur = run.engine.config().reporting.currency;
        let posts = post_kpis(&run.facts);
        let mut top: Vec<_> = posts.iter().filter(|p| p.model == model).collect();
        top.sort_by(|a, b| b.attributed_revenue_minor.cmp(&a.attributed_revenue_minor).then(a.post_id.cmp(&b.post_id)));
        let _ = writeln!(
            s,
            "\nTop posts by attributed revenue, in {cur} (reporting currency: every currency converted at the \
             day's rate), {model} model — next to their likes and shares"
        );
        let _ = writeln!(
            s,
            "  {:<34}{:<11}{:<12}{:>7}{:>7}{:>9}{:>8}{:>14}",
            "post", "platform", "actor", "likes", "shares", "comments", "clicks", "revenue"
        );
        for p in top.iter().take(10) {
            let _ = writeln!(
                s,
                "  {:<34}{:<11}{:<12}{:>7}{:>7}{:>9}{:>8}{:>14}",
                p.post_id,
                p.platform,
                p.actor_type,
                p.likes,
                p.shares,
                p.comments,
                p.link_clicks + p.clicks,
                Money::new(p.attributed_revenue_minor, cur).amount()
            );
        }
    }

    // What the data-driven models learned, per conversion type (orders and deals here; every
    // type's fit is in model_fits.json).
    for fit in run.fits.iter().filter(|f| f.conversion_type == "order" || f.conversion_type == "deal") {
        let _ = write!(
            s,
            "\n{} fit for {} conversions ({}) on {} converting and {} non-converting paths",
            fit.model, fit.conversion_type, fit.model_version, fit.converting_paths, fit.non_converting_paths
        );
        if let Some(p) = fit.p_conversion {
            let _ = write!(s, ", P(conversion) = {p:.4}");
        }
        let _ = writeln!(s);
        if let Some(e) = &fit.error {
            let _ = writeln!(s, "  fit failed, every conversion credited by last touch: {e}");
            continue;
        }
        let mut values: Vec<_> = fit.channel_values.iter().collect();
        values.sort_by(|a, b| b.1.total_cmp(a.1).then(a.0.cmp(b.0)));
        if fit.model == "markov" {
            // Removal effects overlap (a path needs several channels), so they sum to more than 1.
            let sum: f64 = values.iter().map(|(_, v)| v.max(0.0)).sum();
            for (channel, v) in values {
                let share = if sum > 0.0 { v.max(0.0) / sum } else { 0.0 };
                let _ = writeln!(s, "  {channel:<16}removal effect {v:>8.4}   share {:>6.2} %", share * 100.0);
            }
        } else {
            for (channel, v) in values {
                let _ = writeln!(s, "  {channel:<16}mean Shapley value {v:>8.4}");
            }
        }
        if fit.fallbacks_to_last_touch > 0 {
            let _ = writeln!(
                s,
                "  {} conversions had no touch of positive value under this fit (a channel set the \
                 training paths never converted on) and were credited by last touch",
                fit.fallbacks_to_last_touch
            );
        }
        if let Some(n) = fit.truncated_conversions.filter(|n| *n > 0) {
            let _ = writeln!(s, "  {n} conversions had more than 16 channels; the 16 most recent played");
        }
    }

    // Reconciliation to the cent.
    let _ = writeln!(s, "\nReconciliation: revenue of every conversion = Σ credits, per model (incl. {UNATTRIBUTED})");
    let mut groups: BTreeMap<(&str, &str), ReconGroup<'_>> = BTreeMap::new();
    for r in &run.reconciliation {
        let g = groups.entry((r.conversion_type.as_str(), r.currency.as_str())).or_insert((
            r.revenue_minor,
            r.conversions,
            Vec::new(),
        ));
        g.2.push((r.model.as_str(), r.difference_minor));
    }
    for ((ty, code), (revenue, n, diffs)) in groups.iter() {
        let Some(cur) = Currency::parse(code) else { continue };
        let bad: Vec<String> =
            diffs.iter().filter(|d| d.1 != 0).map(|(m, d)| format!("{m} off by {}", Money::new(*d, cur))).collect();
        let verdict = if bad.is_empty() {
            format!("✓ all {} models balance to the cent", diffs.len())
        } else {
            format!("✗ {}", bad.join(", "))
        };
        let label = if *ty == "deal" { "CRM closed-won deals" } else { "web orders" };
        let _ =
            writeln!(s, "  {label:<22}{cur} {:>16}  ({n} conversions)  {verdict}", Money::new(*revenue, cur).amount());
    }
    s
}

/// `part` as a share of `whole`, one decimal.
fn percent(part: i64, whole: i64) -> String {
    if whole == 0 {
        return "–".to_string();
    }
    format!("{:.1} %", part as f64 * 100.0 / whole as f64)
}

#[cfg(test)]
mod tests {
    use super::percent;

    #[test]
    fn shares_have_one_decimal_and_no_division_by_zero() {
        assert_eq!(percent(1, 3), "33.3 %");
        assert_eq!(percent(0, 0), "–");
    }
}
