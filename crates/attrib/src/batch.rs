//! `attrib batch`: JSON Lines in, the ledger and KPI summaries out.

use crate::config::Config;
use crate::files::{decode_file, topic_files, write_csv, write_jsonl, Rejected};
use crate::progress::Progress;
use anyhow::{Context, Result};
use attrib_contract::FxRate;
use attrib_contract::Topic;
use attrib_ledger::{
    campaign_kpis, post_kpis, Engine, FitReport, JourneyCredits, KpiFact, LedgerTotals, Reconciliation, TopicCounts,
};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What a batch run produced, for printing and tests.
pub struct BatchRun {
    pub engine: Engine,
    /// The ledger's summaries; its rows went to the ledger files as they were computed.
    pub totals: LedgerTotals,
    pub fits: Vec<FitReport>,
    /// The KPI fact table (`kpi_daily.csv`), in the reporting currency.
    pub facts: Vec<KpiFact>,
    pub rejected: Vec<Rejected>,
    pub reconciliation: Vec<Reconciliation>,
    pub timings: Timings,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    pub read_and_decode_secs: f64,
    pub attribute_secs: f64,
    pub write_secs: f64,
}

/// The machine-readable summary written as `summary.json`.
#[derive(Debug, Serialize)]
struct Summary<'a> {
    topics: &'a BTreeMap<&'static str, TopicCounts>,
    people: usize,
    conversions_by_type: BTreeMap<&'a str, u64>,
    credit_rows: u64,
    models: Vec<&'static str>,
    reconciled: bool,
    timings: &'a Timings,
    /// Peak resident memory of the process (Linux), for sizing: bytes per input record.
    peak_resident_bytes: Option<u64>,
}

/// The ledger's files (`credits.csv`, `conversions.csv`, `pipeline.csv`), written one person
/// at a time as attribution goes.
struct LedgerFiles {
    credits: CsvFile,
    conversions: CsvFile,
    pipeline: CsvFile,
}

/// One person's ledger rows as CSV lines, formatted on the attributing thread, with the first
/// row of each file (for its header): the rest are dropped where they were made.
struct FormattedPart {
    part: JourneyCredits,
    lines: Result<[Vec<u8>; 3]>,
}

impl FormattedPart {
    fn of(mut part: JourneyCredits, formatting: bool) -> FormattedPart {
        let lines = if formatting {
            (|| Ok([csv_lines(&part.credits)?, csv_lines(&part.conversions)?, csv_lines(&part.pipeline)?]))()
        } else {
            Ok(Default::default())
        };
        part.credits.truncate(1);
        part.conversions.truncate(1);
        part.pipeline.truncate(1);
        FormattedPart { part, lines }
    }
}

/// Rows as CSV lines, without the header.
fn csv_lines<T: Serialize>(rows: &[T]) -> Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    rows.iter().try_for_each(|r| w.serialize(r))?;
    w.into_inner().map_err(|e| anyhow::anyhow!("formatting CSV: {}", e.error()))
}

/// A CSV file written from formatted lines; its header (from the rows' field names) comes
/// before the first row, and a file without rows stays empty, as `csv::Writer` leaves it.
struct CsvFile {
    out: std::io::BufWriter<std::fs::File>,
    path: PathBuf,
    header_written: bool,
}

impl CsvFile {
    fn create(path: PathBuf) -> Result<CsvFile> {
        let file = std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(CsvFile { out: std::io::BufWriter::with_capacity(1 << 20, file), path, header_written: false })
    }

    fn append<T: Serialize>(&mut self, rows: &[T], lines: &[u8]) -> Result<()> {
        let Some(first) = rows.first() else { return Ok(()) };
        if !self.header_written {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.serialize(first)?;
            let with_header = w.into_inner().map_err(|e| anyhow::anyhow!("formatting CSV: {}", e.error()))?;
            let header_end = with_header.iter().position(|b| *b == b'\n').map_or(with_header.len(), |i| i + 1);
            self.out.write_all(&with_header[..header_end])?;
            self.header_written = true;
        }
        self.out.write_all(lines).with_context(|| format!("writing {}", self.path.display()))
    }

    fn finish(mut self) -> Result<()> {
        self.out.flush().with_context(|| format!("writing {}", self.path.display()))
    }
}

impl LedgerFiles {
    fn create(out: &Path) -> Result<LedgerFiles> {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        Ok(LedgerFiles {
            credits: CsvFile::create(out.join("credits.csv"))?,
            conversions: CsvFile::create(out.join("conversions.csv"))?,
            pipeline: CsvFile::create(out.join("pipeline.csv"))?,
        })
    }

    fn write(&mut self, formatted: FormattedPart) -> Result<()> {
        let [credits, conversions, pipeline] = formatted.lines?;
        let part = &formatted.part;
        self.credits.append(&part.credits, &credits)?;
        self.conversions.append(&part.conversions, &conversions)?;
        self.pipeline.append(&part.pipeline, &pipeline)
    }

    fn finish(self) -> Result<()> {
        self.credits.finish()?;
        self.conversions.finish()?;
        self.pipeline.finish()
    }
}

/// Reads every topic under `input` into a fresh engine and attributes. The ledger's rows are
/// written to `ledger_out` (when given) as they are computed and not kept: the run keeps their
/// summaries. `write` adds the other outputs.
pub fn run(input: &Path, config: &Config, threads: usize, ledger_out: Option<&Path>) -> Result<BatchRun> {
    let started = Instant::now();
    let mut engine = Engine::new(config.attribution());
    let mut rejected = Vec::new();
    let mut files = Vec::new();
    for topic in Topic::ALL {
        for f in topic_files(input, *topic)? {
            files.push((*topic, f));
        }
    }
    let unread = if input.is_dir() { crate::files::unread_inputs(input)? } else { Vec::new() };
    for (name, meant) in unread {
        match meant {
            Some(meant) => eprintln!("warning: {} is not read: did you mean {meant}?", input.join(&name).display()),
            None => eprintln!("warning: {} is not read (no topic has that name)", input.join(&name).display()),
        }
    }
    anyhow::ensure!(!files.is_empty(), "no input files under {} (expected e.g. web.events.jsonl)", input.display());
    let mut bar = Progress::new("reading events", files.len() as u64);
    for (topic, path) in files {
        let file = path.display().to_string();
        decode_file(&path, topic, threads, |lines| {
            for item in lines {
                match item {
                    Ok(event) => {
                        engine.ingest(event);
                    }
                    Err((line, e, bytes)) => {
                        engine.record_rejected(topic);
                        let utf8 = std::str::from_utf8(bytes).is_ok();
                        rejected.push(Rejected {
                            topic: topic.as_str(),
                            file: file.clone(),
                            line: *line,
                            code: e.code(),
                            field: e.field.clone(),
                            error: e.to_string(),
                            record: String::from_utf8_lossy(bytes).into_owned(),
                            utf8,
                        });
                    }
                }
            }
        })?;
        bar.advance(1);
    }
    bar.finish();
    let read_secs = started.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut files = ledger_out.map(LedgerFiles::create).transpose()?;
    let formatting = files.is_some();
    // The summaries are order-free sums: each attributing thread folds its people's rows, and
    // only the formatted lines are handed over to be written in ledger order.
    let (fits, parts) = engine.attribute_each_prepared(
        threads,
        LedgerTotals::default,
        |totals, part| {
            part.conversions.iter().for_each(|c| totals.add_conversion(c));
            part.credits.iter().for_each(|c| totals.add_credit(c));
            part.pipeline.iter().for_each(|c| totals.add_pipeline(c));
            FormattedPart::of(part, formatting)
        },
        |formatted| files.as_mut().map_or(Ok(()), |f| f.write(formatted)),
    )?;
    files.map(LedgerFiles::finish).transpose()?;
    let mut parts = parts.into_iter();
    let mut totals = parts.next().unwrap_or_default();
    parts.for_each(|part| totals.merge(part));
    let models: Vec<&str> = engine.config().models.iter().map(|m| m.as_str()).collect();
    let reconciliation = totals.reconciliation(&models);
    let facts = engine.kpi_facts_of(&totals.kpi);
    // The cells are in `facts` now.
    totals.kpi = Default::default();
    let timings =
        Timings { read_and_decode_secs: read_secs, attribute_secs: t.elapsed().as_secs_f64(), write_secs: 0.0 };
    Ok(BatchRun { engine, totals, fits, facts, rejected, reconciliation, timings })
}

/// Writes the outputs of a run other than the ledger files (which `run` wrote into the same
/// folder) into `out` and returns the paths of all of them.
pub fn write(run: &mut BatchRun, out: &Path) -> Result<Vec<PathBuf>> {
    let t = Instant::now();
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let models: Vec<&'static str> = run.engine.config().models.iter().map(|m| m.as_str()).collect();
    let path = |name: &str| out.join(name);
    write_jsonl(&path("rejected.jsonl"), &run.rejected)?;
    write_csv(&path("kpi_channels.csv"), &run.totals.channel_kpis())?;
    write_csv(&path("kpi_posts.csv"), &post_kpis(&run.facts))?;
    write_csv(&path("reconciliation.csv"), &run.reconciliation)?;
    write_csv(&path("kpi_daily.csv"), &run.facts)?;
    write_csv(&path("kpi_campaigns.csv"), &campaign_kpis(&run.facts))?;
    write_csv(&path("kpi_time_to_conversion.csv"), &run.totals.time_to_conversion())?;
    write_csv(&path("kpi_time_to_conversion_buckets.csv"), &run.totals.time_to_conversion_buckets())?;
    write_csv(&path("kpi_paths.csv"), &run.totals.paths())?;
    write_csv(&path("kpi_reconciliation.csv"), &run.totals.ledger_reconciliation())?;
    write_csv(&path("spend.csv"), &run.engine.spend_rows())?;
    write_csv(&path("deals.csv"), &run.engine.deal_versions())?;
    write_csv(&path("fx_rates.csv"), &fx_rows(run.engine.fx_rates()))?;
    std::fs::write(path("model_fits.json"), serde_json::to_string_pretty(&run.fits)? + "\n")?;
    run.timings.write_secs = t.elapsed().as_secs_f64();
    let summary = Summary {
        topics: run.engine.counts(),
        people: run.engine.store().people(),
        conversions_by_type: run.totals.conversions_by_type(),
        credit_rows: run.totals.credit_rows(),
        models,
        reconciled: run.reconciliation.iter().all(|r| r.difference_minor == 0),
        timings: &run.timings,
        peak_resident_bytes: attrib_service::process_memory().map(|m| m.peak_resident_bytes),
    };
    std::fs::write(path("summary.json"), serde_json::to_string_pretty(&summary)?)?;
    Ok([
        "credits.csv",
        "conversions.csv",
        "pipeline.csv",
        "rejected.jsonl",
        "kpi_channels.csv",
        "kpi_posts.csv",
        "reconciliation.csv",
        "kpi_daily.csv",
        "kpi_campaigns.csv",
        "kpi_time_to_conversion.csv",
        "kpi_time_to_conversion_buckets.csv",
        "kpi_paths.csv",
        "kpi_reconciliation.csv",
        "spend.csv",
        "deals.csv",
        "fx_rates.csv",
        "summary.json",
    ]
    .iter()
    .map(|n| path(n))
    .collect())
}

/// `fx_rates.csv`: the rates as received (the reconciliation reads them back).
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct FxRow {
    pub date: String,
    pub currency: String,
    pub rate_to_reporting: String,
}

fn fx_rows(rates: &[FxRate]) -> Vec<FxRow> {
    rates
        .iter()
        .map(|r| FxRow {
            date: r.date.to_string(),
            currency: r.currency.to_string(),
            rate_to_reporting: r.rate_to_reporting.clone(),
        })
        .collect()
}
