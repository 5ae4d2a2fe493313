//! The finance reconciliation: per month and currency, the CRM's closed-won revenue against
//! the credits of every model (including `(unattributed)`), to the cent; and the restatements
//! (new amount, closed-lost after closed-won, refunds) as adjustments in the month they happened.

use crate::credits::CreditRow;
use crate::fx::{FxTable, ReportingConfig};
use attrib_contract::{Currency, DealStage, Timestamp};
use attrib_journeys::{ConversionType, DealRecord};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One deal version as the CRM sent it (`deals.csv`, table `crm_deals`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealVersionRow {
    pub deal_id: String,
    pub version: i64,
    pub event_id: String,
    pub occurred_at: String,
    pub contact_id: String,
    pub stage: String,
    pub amount_minor: i64,
    pub currency: String,
    pub created_at: String,
    /// Empty unless sent.
    pub closed_at: String,
}

impl DealVersionRow {
    pub fn of(d: &DealRecord<'_>) -> DealVersionRow {
        DealVersionRow {
            deal_id: d.deal_id.to_string(),
            version: d.version,
            event_id: d.event_id.to_string(),
            occurred_at: d.occurred_at.to_string(),
            contact_id: d.contact_id.to_string(),
            stage: d.stage.as_str().to_string(),
            amount_minor: d.amount_minor,
            currency: d.currency.to_string(),
            created_at: d.created_at.to_string(),
            closed_at: d.closed_at.map(|t| t.to_string()).unwrap_or_default(),
        }
    }

    /// The order of versions (DESIGN §3): version, then the later `occurred_at`, then event id.
    fn rank(&self) -> (i64, Option<Timestamp>, &str) {
        (self.version, Timestamp::parse_rfc3339(&self.occurred_at), &self.event_id)
    }

    /// Whether this version books revenue: closed-won with a close date.
    fn is_won(&self) -> bool {
        self.stage == DealStage::ClosedWon.as_str() && !self.closed_at.is_empty()
    }

    /// Revenue this version books: its amount when won, else 0.
    fn won_minor(&self) -> i64 {
        if self.is_won() {
            self.amount_minor
        } else {
            0
        }
    }
}

/// `YYYY-MM` of an RFC 3339 UTC timestamp as the ledger writes them.
fn month_of(rfc3339: &str) -> &str {
    rfc3339.get(..7).unwrap_or_default()
}

/// One line of the reconciliation: a currency (or the reporting currency) in a month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReconciliationLine {
    pub month: String,
    /// A deal currency, or `reporting:<CUR>` for everything in the reporting currency.
    pub currency: String,
    pub model: String,
    pub deals: u64,
    pub crm_closed_won_minor: i64,
    pub credited_minor: i64,
    /// credited − CRM; must be 0.
    pub difference_minor: i64,
}

/// A restatement: a deal version that changed the revenue an earlier version booked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Adjustment {
    /// The month the restating version arrived (its `occurred_at`).
    pub month: String,
    pub deal_id: String,
    pub from_version: i64,
    pub to_version: i64,
    pub stage: String,
    pub currency: String,
    pub previous_minor: i64,
    pub restated_minor: i64,
    pub adjustment_minor: i64,
    /// The close month the revenue now sits in (empty if no longer won).
    pub booked_month: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MonthReconciliation {
    pub month: String,
    pub lines: Vec<ReconciliationLine>,
    pub adjustments: Vec<Adjustment>,
}

impl MonthReconciliation {
    pub fn balanced(&self) -> bool {
        self.lines.iter().all(|l| l.difference_minor == 0)
    }
}

/// How a reconciliation line names the reporting currency: `reporting:USD` (a plain code is
/// the currency the amounts were booked in).
pub fn reporting_denomination(currency: Currency) -> String {
    format!("reporting:{currency}")
}

/// The currency a reconciliation line's amounts are in: `EUR` → EUR, `reporting:USD` → USD.
pub fn denomination_currency(denomination: &str) -> Option<Currency> {
    Currency::parse(denomination.strip_prefix("reporting:").unwrap_or(denomination))
}

/// Reconciles deal revenue closed in `month` (`YYYY-MM`) with the credits of each model.
/// Credits count by their conversion's month; `models` lists every model expected, so a
/// model with no credits at all shows its whole difference.
pub fn reconcile_month(
    month: &str,
    deals: &[DealVersionRow],
    credits: &[CreditRow],
    models: &[String],
    fx: &FxTable,
    reporting: &ReportingConfig,
) -> MonthReconciliation {
    // The current version of each deal, and every version in order for the adjustments.
    let mut versions: BTreeMap<&str, Vec<&DealVersionRow>> = BTreeMap::new();
    for d in deals {
        versions.entry(&d.deal_id).or_default().push(d);
    }
    let reporting_key = reporting_denomination(reporting.currency);
    let mut crm: BTreeMap<String, (u64, i64)> = BTreeMap::new();
    let mut adjustments = Vec::new();
    for (_, mut vs) in versions {
        vs.sort_by(|a, b| a.rank().cmp(&b.rank()));
        let Some(current) = vs.last() else { continue };
        if current.is_won() && month_of(&current.closed_at) == month {
            let e = crm.entry(current.currency.clone()).or_default();
            e.0 += 1;
            e.1 += current.won_minor();
            let closed = Timestamp::parse_rfc3339(&current.closed_at).map(|t| t.date());
            let cur = Currency::parse(&current.currency);
            let reported = closed.map(|d| fx.report(current.won_minor(), cur, d, reporting).minor);
            let r = crm.entry(reporting_key.clone()).or_default();
            r.0 += 1;
            r.1 += reported.flatten().unwrap_or(0);
        }
        // A version restates revenue once some earlier version booked it; the first booking of
        // a deal (open → closed-won) is revenue of its close month, not an adjustment.
        let mut booked_before = false;
        for pair in vs.windows(2) {
            let (prev, next) = (pair[0], pair[1]);
            booked_before |= prev.won_minor() != 0;
            let changed = prev.won_minor() != next.won_minor()
                || (next.won_minor() != 0 && (prev.currency != next.currency || prev.closed_at != next.closed_at));
            if booked_before && changed && month_of(&next.occurred_at) == month {
                let previous = prev.won_minor();
                let restated = next.won_minor();
                adjustments.push(Adjustment {
                    month: month.to_string(),
                    deal_id: next.deal_id.clone(),
                    from_version: prev.version,
                    to_version: next.version,
                    stage: next.stage.clone(),
                    currency: next.currency.clone(),
                    previous_minor: previous,
                    restated_minor: restated,
                    adjustment_minor: restated - previous,
                    booked_month: if restated != 0 { month_of(&next.closed_at).to_string() } else { String::new() },
                });
            }
        }
    }
    let mut credited: HashMap<(&str, &str), i64> = HashMap::new();
    let deal_of_month =
        |c: &&CreditRow| c.conversion_type == ConversionType::Deal && c.conversion_time.date().year_month() == month;
    for c in credits.iter().filter(deal_of_month) {
        let currency = crate::totals::currency_text(&c.currency);
        *credited.entry((c.model.as_str(), currency)).or_default() += c.credit_minor;
        *credited.entry((c.model.as_str(), &reporting_key)).or_default() += c.credit_reporting_minor.unwrap_or(0);
    }
    // Currencies seen on either side.
    let mut currencies: BTreeSet<String> = crm.keys().cloned().collect();
    currencies.extend(credited.keys().map(|(_, c)| c.to_string()));
    let mut lines = Vec::new();
    for cur in &currencies {
        let (n, revenue) = crm.get(cur).copied().unwrap_or_default();
        for m in models {
            let cr = credited.get(&(m.as_str(), cur.as_str())).copied().unwrap_or(0);
            lines.push(ReconciliationLine {
                month: month.to_string(),
                currency: cur.clone(),
                model: m.clone(),
                deals: n,
                crm_closed_won_minor: revenue,
                credited_minor: cr,
                difference_minor: cr - revenue,
            });
        }
    }
    MonthReconciliation { month: month.to_string(), lines, adjustments }
}
