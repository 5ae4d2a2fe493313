//! File IO for batch mode: JSON Lines in (one file or folder per topic), CSV and JSON out.

use anyhow::{Context, Result};
use attrib_contract::{decode, DecodeError, Event, Topic};
use serde::Serialize;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// The input files of a topic: `<dir>/<topic>.jsonl`, or every `*.jsonl` under `<dir>/<topic>/`, by name.
pub fn topic_files(dir: &Path, topic: Topic) -> Result<Vec<PathBuf>> {
    let single = dir.join(format!("{}.jsonl", topic.as_str()));
    let folder = dir.join(topic.as_str());
    let mut files = Vec::new();
    if single.is_file() {
        files.push(single);
    }
    if folder.is_dir() {
        let mut inner: Vec<PathBuf> = fs::read_dir(&folder)
            .with_context(|| format!("listing {}", folder.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl") && p.is_file())
            .collect();
        inner.sort();
        files.extend(inner);
    }
    Ok(files)
}

/// One line that failed to decode, with where it came from.
#[derive(Debug, Serialize)]
pub struct Rejected {
    pub topic: &'static str,
    pub file: String,
    pub line: usize,
    pub code: &'static str,
    pub field: String,
    pub error: String,
    /// The original line, untouched (lossy only if it was not UTF-8; then `utf8` is false).
    pub record: String,
    pub utf8: bool,
}

/// Decoded lines of one file, in file order: the valid events and the rejects.
pub struct DecodedFile {
    pub events: Vec<Result<Event, (usize, DecodeError)>>,
    pub raw: Vec<Vec<u8>>,
}

/// Reads and decodes a JSON Lines file, splitting the decoding over `threads`.
/// Blank lines are skipped; order is preserved.
pub fn decode_file(path: &Path, topic: Topic, threads: usize) -> Result<DecodedFile> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let lines: Vec<(usize, &[u8])> = bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
        .collect();
    let chunk = lines.len().div_ceil(threads.max(1)).max(1);
    let events: Vec<Result<Event, (usize, DecodeError)>> = std::thread::scope(|s| {
        let handles: Vec<_> = lines
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || part.iter().map(|(n, l)| decode(topic, l).map_err(|e| (*n, e))).collect::<Vec<_>>())
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("decoder thread panicked")).collect()
    });
    // Raw bytes are kept only for rejected lines (to write them untouched).
    let rejected_lines: std::collections::HashSet<usize> =
        events.iter().filter_map(|e| e.as_ref().err().map(|(n, _)| *n)).collect();
    let raw = lines.iter().filter(|(n, _)| rejected_lines.contains(n)).map(|(_, l)| l.to_vec()).collect();
    Ok(DecodedFile { events, raw })
}

/// Writes rows as CSV with a header.
pub fn write_csv<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let mut w = csv::Writer::from_path(path).with_context(|| format!("creating {}", path.display()))?;
    for r in rows {
        w.serialize(r)?;
    }
    w.flush()?;
    Ok(())
}

/// Writes values as JSON Lines.
pub fn write_jsonl<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let mut w = BufWriter::new(fs::File::create(path).with_context(|| format!("creating {}", path.display()))?);
    for r in rows {
        serde_json::to_writer(&mut w, r)?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    Ok(())
}

/// Writes lines to `<dir>/<topic>.jsonl`.
pub fn write_lines(path: &Path, lines: &[String]) -> Result<()> {
    let mut w = BufWriter::new(fs::File::create(path).with_context(|| format!("creating {}", path.display()))?);
    for l in lines {
        w.write_all(l.as_bytes())?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    Ok(())
}
