//! The summaries of a ledger folded one row at a time, so a batch run can write its credits as
//! they are computed and never hold them: channel KPIs, the reconciliation of credits to
//! revenue, the monthly ledger reconciliation, time to conversion and the credit side of the
//! KPI fact table. The slice functions of `kpi` fold too, and every sum is independent of the
//! order of the rows (money in integers, weights in `WeightSum`).

use crate::credits::{ConversionRow, CreditRow};
use crate::kpi::{
    time_bucket, time_bucket_label, ChannelKpi, LedgerReconciliationLine, PathKpi, Reconciliation, TimeToConversion,
    TimeToConversionBucket, TIME_BUCKET_DAYS,
};
use attrib_contract::{ActorType, Currency, Date, Name, Platform};
use attrib_journeys::{Channel, ConversionType};
use attrib_models::Model;
use hashbrown::HashMap;
use std::collections::BTreeMap;

/// A sum of model weights that does not depend on the order of its terms: each weight is
/// rounded to a multiple of 2⁻⁹⁶ (exact for every weight above 2⁻⁴³) and the multiples are
/// added as integers, so a ledger folded person by person sums exactly as one folded in
/// conversion order, on any number of threads.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WeightSum(i128);

impl WeightSum {
    const SCALE: f64 = (1u128 << 96) as f64;

    pub fn add(&mut self, weight: f64) {
        // Multiplying by a power of two is exact; weights are 0..=1, far from i128's range.
        self.0 += (weight * Self::SCALE).round() as i128;
    }

    pub fn value(self) -> f64 {
        self.0 as f64 / Self::SCALE
    }

    /// Adds the terms of another sum.
    pub fn merge(&mut self, other: WeightSum) {
        self.0 += other.0;
    }
}

/// The publisher group of social credits whose touch names no publisher (a session classed as
/// social by its UTM or referrer).
pub const UNKNOWN_PUBLISHER: &str = "unknown publisher";

/// The credit-side dimensions of one KPI fact (the text comes only when the table is built).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CellKey {
    pub day: Date,
    pub model: Model,
    pub platform: Option<Platform>,
    pub channel: Option<Channel>,
    pub campaign_id: Name,
    pub post_id: Name,
    pub ad_id: Name,
    pub actor_type: Option<ActorType>,
    pub conversion_type: ConversionType,
}

/// The measures of one credit-side KPI cell while it is summed.
#[derive(Debug, Default, Clone)]
pub(crate) struct CreditCell {
    /// The greatest reporting currency among its money rows (None before the first).
    pub reporting_currency: Option<Currency>,
    pub attributed_revenue_minor: i64,
    pub attributed_conversions: WeightSum,
    pub leads: WeightSum,
    pub pipeline_minor: i64,
    pub pipeline_deals: WeightSum,
    pub missing_fx_rows: u64,
}

impl CreditCell {
    fn priced_in(&mut self, c: Currency) {
        if self.reporting_currency.is_none_or(|r| c.as_str() > r.as_str()) {
            self.reporting_currency = Some(c);
        }
    }
}

/// Credits and pipeline summed per KPI cell (day of conversion, model and every dimension).
#[derive(Debug, Default)]
pub struct KpiCells {
    pub(crate) cells: HashMap<CellKey, CreditCell>,
}

impl KpiCells {
    fn cell(&mut self, c: &CreditRow) -> &mut CreditCell {
        let key = CellKey {
            day: c.conversion_time.date(),
            model: c.model,
            platform: c.platform,
            channel: c.channel,
            campaign_id: c.campaign_id.clone(),
            post_id: c.post_id.clone(),
            ad_id: c.ad_id.clone(),
            actor_type: c.actor_type,
            conversion_type: c.conversion_type,
        };
        let cell = self.cells.entry(key).or_default();
        cell.priced_in(c.reporting_currency);
        cell
    }

    pub fn add_credit(&mut self, c: &CreditRow) {
        let f = self.cell(c);
        match c.credit_reporting_minor {
            Some(m) => f.attributed_revenue_minor += m,
            None => f.missing_fx_rows += 1,
        }
        if acquires(c.conversion_type) {
            f.attributed_conversions.add(c.weight);
        } else if c.conversion_type == ConversionType::Lead {
            f.leads.add(c.weight);
        }
    }

    /// Adds the cells of `other`, summed on another thread.
    pub fn merge(&mut self, other: KpiCells) {
        for (key, cell) in other.cells {
            let mine = self.cells.entry(key).or_default();
            if let Some(c) = cell.reporting_currency {
                mine.priced_in(c);
            }
            mine.attributed_revenue_minor += cell.attributed_revenue_minor;
            mine.attributed_conversions.merge(cell.attributed_conversions);
            mine.leads.merge(cell.leads);
            mine.pipeline_minor += cell.pipeline_minor;
            mine.pipeline_deals.merge(cell.pipeline_deals);
            mine.missing_fx_rows += cell.missing_fx_rows;
        }
    }

    pub fn add_pipeline(&mut self, c: &CreditRow) {
        let f = self.cell(c);
        match c.credit_reporting_minor {
            Some(m) => f.pipeline_minor += m,
            None => f.missing_fx_rows += 1,
        }
        f.pipeline_deals.add(c.weight);
    }
}

/// A path's reporting currency: the greatest of its conversions' (should runs ever mix them).
fn raise_currency(current: &mut Option<Currency>, c: Currency) {
    if current.is_none_or(|r| c > r) {
        *current = Some(c);
    }
}

/// Orders and deals: the conversions that acquire a customer (and count in CPA).
pub(crate) fn acquires(t: ConversionType) -> bool {
    matches!(t, ConversionType::Order | ConversionType::Deal)
}

type ChannelKey = (Model, Option<Channel>, ConversionType, Option<Currency>);
/// (year and month of conversion, conversion type, denomination).
type MonthKey = ((i32, u32), ConversionType, Denomination);

/// Which amount of a credit the monthly reconciliation sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Denomination {
    /// In the conversion's own currency (none for leads and signups).
    Original(Option<Currency>),
    /// In the reporting currency, shown as `reporting:<code>`.
    Reporting(Currency),
}

/// (year and month of conversion, conversion type, denomination, model).
type MonthCreditKey = ((i32, u32), ConversionType, Denomination, Model);

/// Every summary of a ledger, folded row by row.
#[derive(Debug, Default)]
pub struct LedgerTotals {
    /// Conversions and revenue per (conversion type, currency), in the order of their text (a
    /// code's bytes order as its text does; no currency, empty, first).
    revenue: BTreeMap<(&'static str, Option<Currency>), (u64, i64)>,
    credited: HashMap<(ConversionType, Option<Currency>, Model), i64>,
    channels: HashMap<ChannelKey, (i64, WeightSum)>,
    month_revenue: HashMap<MonthKey, i64>,
    /// Credits of orders and deals.
    month_credited: HashMap<MonthCreditKey, i64>,
    /// Conversions and seconds to convert (of those with touches) per type.
    seconds: BTreeMap<&'static str, (u64, Vec<i64>)>,
    /// Conversions, reporting revenue and reporting currency per (type, path of channels).
    paths: HashMap<(&'static str, Name), (u64, i64, Option<Currency>)>,
    /// Social credits per (model, currency, actor type): who published what earned. `None`:
    /// a social touch with no known publisher (a session classed social by its UTM or referrer).
    actors: HashMap<(Model, Currency, Option<ActorType>), (i64, WeightSum)>,
    credit_rows: u64,
    pub kpi: KpiCells,
}

impl LedgerTotals {
    /// The totals of a whole ledger held in memory.
    pub fn of(conversions: &[ConversionRow], credits: &[CreditRow], pipeline: &[CreditRow]) -> LedgerTotals {
        let mut t = LedgerTotals::default();
        conversions.iter().for_each(|c| t.add_conversion(c));
        credits.iter().for_each(|c| t.add_credit(c));
        pipeline.iter().for_each(|c| t.add_pipeline(c));
        t
    }

    pub fn add_conversion(&mut self, c: &ConversionRow) {
        let ty = c.conversion_type.as_str();
        let e = self.revenue.entry((ty, c.currency)).or_default();
        e.0 += 1;
        e.1 += c.revenue_minor;
        let e = self.seconds.entry(ty).or_default();
        e.0 += 1;
        e.1.extend(c.seconds_to_convert);
        if c.touches > 0 {
            let e = self.paths.entry((ty, c.path.clone())).or_default();
            e.0 += 1;
            e.1 += c.revenue_reporting_minor.unwrap_or(0);
            raise_currency(&mut e.2, c.reporting_currency);
        }
        if acquires(c.conversion_type) {
            let (y, m, _) = c.conversion_time.date().ymd();
            let key = |d| ((y, m), c.conversion_type, d);
            *self.month_revenue.entry(key(Denomination::Original(c.currency))).or_default() += c.revenue_minor;
            *self.month_revenue.entry(key(Denomination::Reporting(c.reporting_currency))).or_default() +=
                c.revenue_reporting_minor.unwrap_or(0);
        }
    }

    pub fn add_credit(&mut self, c: &CreditRow) {
        self.credit_rows += 1;
        *self.credited.entry((c.conversion_type, c.currency, c.model)).or_default() += c.credit_minor;
        let e = self.channels.entry((c.model, c.channel, c.conversion_type, c.currency)).or_default();
        e.0 += c.credit_minor;
        e.1.add(c.weight);
        if acquires(c.conversion_type) {
            let (y, m, _) = c.conversion_time.date().ymd();
            let key = |cur| ((y, m), c.conversion_type, cur, c.model);
            *self.month_credited.entry(key(Denomination::Original(c.currency))).or_default() += c.credit_minor;
            *self.month_credited.entry(key(Denomination::Reporting(c.reporting_currency))).or_default() +=
                c.credit_reporting_minor.unwrap_or(0);
        }
        let social = c.actor_type.is_some() || matches!(c.channel, Some(Channel::Social(_)));
        if let (Some(currency), true) = (c.currency, social) {
            let e = self.actors.entry((c.model, currency, c.actor_type)).or_default();
            e.0 += c.credit_minor;
            e.1.add(c.weight);
        }
        self.kpi.add_credit(c);
    }

    pub fn add_pipeline(&mut self, c: &CreditRow) {
        self.kpi.add_pipeline(c);
    }

    /// Adds the totals of `other` (rows folded on another thread): every sum is order-free, so
    /// totals folded in parts and merged equal those folded in one pass.
    pub fn merge(&mut self, other: LedgerTotals) {
        fn add_all<K: std::hash::Hash + Eq>(mine: &mut HashMap<K, i64>, theirs: HashMap<K, i64>) {
            for (k, v) in theirs {
                *mine.entry(k).or_default() += v;
            }
        }
        fn add_weighted<K: std::hash::Hash + Eq>(
            mine: &mut HashMap<K, (i64, WeightSum)>,
            theirs: HashMap<K, (i64, WeightSum)>,
        ) {
            for (k, (v, w)) in theirs {
                let e = mine.entry(k).or_default();
                e.0 += v;
                e.1.merge(w);
            }
        }
        let LedgerTotals {
            revenue,
            credited,
            channels,
            month_revenue,
            month_credited,
            seconds,
            paths,
            actors,
            credit_rows,
            kpi,
        } = other;
        for (k, (n, rev)) in revenue {
            let e = self.revenue.entry(k).or_default();
            e.0 += n;
            e.1 += rev;
        }
        add_all(&mut self.credited, credited);
        add_weighted(&mut self.channels, channels);
        add_all(&mut self.month_revenue, month_revenue);
        add_all(&mut self.month_credited, month_credited);
        for (k, (n, secs)) in seconds {
            let e = self.seconds.entry(k).or_default();
            e.0 += n;
            e.1.extend(secs);
        }
        for (k, (n, revenue, currency)) in paths {
            let e = self.paths.entry(k).or_default();
            e.0 += n;
            e.1 += revenue;
            if let Some(c) = currency {
                raise_currency(&mut e.2, c);
            }
        }
        add_weighted(&mut self.actors, actors);
        self.credit_rows += credit_rows;
        self.kpi.merge(kpi);
    }

    pub fn credit_rows(&self) -> u64 {
        self.credit_rows
    }

    /// Conversions per type.
    pub fn conversions_by_type(&self) -> BTreeMap<&str, u64> {
        let mut out = BTreeMap::new();
        for ((ty, _), (n, _)) in &self.revenue {
            *out.entry(*ty).or_default() += n;
        }
        out
    }

    pub fn conversions(&self) -> u64 {
        self.revenue.values().map(|(n, _)| n).sum()
    }

    /// Revenue per currency (conversions with a currency), in minor units.
    pub fn revenue_by_currency(&self) -> BTreeMap<Currency, i64> {
        let mut out = BTreeMap::new();
        for ((_, cur), (_, rev)) in &self.revenue {
            if let Some(cur) = cur {
                *out.entry(*cur).or_default() += rev;
            }
        }
        out
    }

    /// Social revenue and conversions of `model` in `currency` per publisher type, with
    /// [`UNKNOWN_PUBLISHER`] for social touches no publisher is known for, so the groups add up
    /// to the social channels' revenue.
    pub fn actor_revenue(&self, model: Model, currency: Currency) -> BTreeMap<&'static str, (i64, f64)> {
        let mut out = BTreeMap::new();
        for ((m, c, actor), v) in &self.actors {
            if *m == model && *c == currency {
                out.insert(actor.map_or(UNKNOWN_PUBLISHER, ActorType::as_str), (v.0, v.1.value()));
            }
        }
        out
    }

    /// Sums by model, channel, conversion type and currency, in that (text) order.
    pub fn channel_kpis(&self) -> Vec<ChannelKpi> {
        let mut out: Vec<ChannelKpi> = self
            .channels
            .iter()
            .map(|((model, channel, ty, cur), (rev, conv))| ChannelKpi {
                model: model.as_str().into(),
                channel: crate::unattributed_channel::name(*channel).into(),
                conversion_type: ty.as_str().into(),
                currency: currency_text(cur).into(),
                attributed_revenue_minor: *rev,
                attributed_conversions: conv.value(),
            })
            .collect();
        out.sort_by(|a, b| {
            (&a.model, &a.channel, &a.conversion_type, &a.currency).cmp(&(
                &b.model,
                &b.channel,
                &b.conversion_type,
                &b.currency,
            ))
        });
        out
    }

    /// Per conversion type, currency and model: do the credits sum to the revenue?
    pub fn reconciliation(&self, models: &[&str]) -> Vec<Reconciliation> {
        let credited: HashMap<(&str, &str, &str), i64> =
            self.credited.iter().map(|((ty, cur, m), v)| ((ty.as_str(), currency_text(cur), m.as_str()), *v)).collect();
        let mut out = Vec::new();
        for ((ty, cur), (n, rev)) in &self.revenue {
            for m in models {
                let cr = credited.get(&(*ty, currency_text(cur), *m)).copied().unwrap_or(0);
                out.push(Reconciliation {
                    conversion_type: ty.to_string(),
                    currency: currency_text(cur).to_string(),
                    model: m.to_string(),
                    conversions: *n,
                    revenue_minor: *rev,
                    credited_minor: cr,
                    difference_minor: cr - rev,
                });
            }
        }
        out
    }

    /// How many conversions of each type fall in each time bucket (only non-empty buckets).
    pub fn time_to_conversion_buckets(&self) -> Vec<TimeToConversionBucket> {
        let mut out = Vec::new();
        for (ty, (_, secs)) in &self.seconds {
            let mut counts = [0u64; TIME_BUCKET_DAYS.len()];
            secs.iter().for_each(|s| counts[time_bucket(*s)] += 1);
            for (i, n) in counts.into_iter().enumerate().filter(|(_, n)| *n > 0) {
                out.push(TimeToConversionBucket {
                    conversion_type: ty.to_string(),
                    bucket: time_bucket_label(i),
                    lower_days: TIME_BUCKET_DAYS[i],
                    upper_days: TIME_BUCKET_DAYS.get(i + 1).copied(),
                    conversions: n,
                });
            }
        }
        out
    }

    /// Conversions and revenue per distinct path, by type then path.
    pub fn paths(&self) -> Vec<PathKpi> {
        let mut out: Vec<PathKpi> = self
            .paths
            .iter()
            .map(|((ty, path), (n, revenue, currency))| PathKpi {
                conversion_type: ty.to_string(),
                path: path.to_string(),
                conversions: *n,
                revenue_reporting_minor: *revenue,
                reporting_currency: currency.map(|c| c.to_string()).unwrap_or_default(),
            })
            .collect();
        out.sort_by(|a, b| (&a.conversion_type, &a.path).cmp(&(&b.conversion_type, &b.path)));
        out
    }

    /// Days from the first touch in the window to the conversion, per conversion type.
    pub fn time_to_conversion(&self) -> Vec<TimeToConversion> {
        self.seconds
            .iter()
            .map(|(ty, (n, secs))| {
                let mut secs = secs.clone();
                secs.sort_unstable();
                let days = |s: i64| s as f64 / 86_400.0;
                let m = secs.len();
                let median = match m {
                    0 => None,
                    _ if m % 2 == 1 => Some(days(secs[m / 2])),
                    _ => Some((days(secs[m / 2 - 1]) + days(secs[m / 2])) / 2.0),
                };
                let avg = crate::kpi::ratio(secs.iter().map(|s| *s as f64).sum::<f64>() / 86_400.0, m as f64);
                TimeToConversion {
                    conversion_type: ty.to_string(),
                    conversions: *n,
                    with_touches: m as u64,
                    avg_days: avg,
                    median_days: median,
                }
            })
            .collect()
    }

    /// Orders and deals, per month, type and currency (original and `reporting:<code>`),
    /// against every model's credits, ordered as the `kpi_reconciliation` view is.
    pub fn ledger_reconciliation(&self) -> Vec<LedgerReconciliationLine> {
        let mut out: Vec<LedgerReconciliationLine> = self
            .month_credited
            .iter()
            .map(|(((y, m), ty, denomination, model), credited_minor)| {
                let revenue_minor = self.month_revenue.get(&((*y, *m), *ty, *denomination)).copied().unwrap_or(0);
                LedgerReconciliationLine {
                    month: format!("{y:04}-{m:02}"),
                    conversion_type: ty.as_str().to_string(),
                    currency: match denomination {
                        Denomination::Original(c) => currency_text(c).to_string(),
                        Denomination::Reporting(c) => crate::finance::reporting_denomination(*c),
                    },
                    model: model.as_str().to_string(),
                    revenue_minor,
                    credited_minor: *credited_minor,
                    difference_minor: credited_minor - revenue_minor,
                }
            })
            .collect();
        out.sort_by(|a, b| {
            (&a.month, &a.conversion_type, &a.currency, &a.model).cmp(&(
                &b.month,
                &b.conversion_type,
                &b.currency,
                &b.model,
            ))
        });
        out
    }
}

/// A currency column's text: empty for none.
pub(crate) fn currency_text(c: &Option<Currency>) -> &str {
    c.as_ref().map_or("", Currency::as_str)
}
