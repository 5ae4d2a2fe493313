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

/// Rows of CSV with a header row, mapped by column name; ClickHouse's `\N` (NULL) reads as an
/// empty field. The one CSV reader of the binary (batch output files, ClickHouse answers).
pub fn parse_csv<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<Vec<T>> {
    let mut reader = csv::Reader::from_reader(bytes);
    let headers = reader.headers().with_context(|| format!("reading {what}"))?.clone();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.with_context(|| format!("reading {what}"))?;
        let cleaned: csv::StringRecord = record.iter().map(|f| if f == "\\N" { "" } else { f }).collect();
        rows.push(cleaned.deserialize(Some(&headers)).with_context(|| format!("parsing {what}"))?);
    }
    Ok(rows)
}

/// `parse_csv` of a file; an empty file has no rows.
pub fn read_csv<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    parse_csv(&bytes, &path.display().to_string())
}

/// Entries of an input folder no topic reads (a misnamed `crm_records.jsonl`, say), each with
/// the topic file it may have meant. Hidden entries are left alone.
pub fn unread_inputs(dir: &Path) -> Result<Vec<(String, Option<String>)>> {
    let read: Vec<String> =
        Topic::ALL.iter().flat_map(|t| [format!("{}.jsonl", t.as_str()), t.as_str().to_string()]).collect();
    let mut unread = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || read.contains(&name) {
            continue;
        }
        // `crm_records.jsonl`, `CRM.Records.jsonl`, `crm-records/`: the same name, spelt differently.
        let key = |s: &str| s.to_ascii_lowercase().replace(['_', '-', '.'], "");
        let meant = read.iter().find(|r| key(r) == key(&name)).cloned();
        unread.push((name, meant));
    }
    unread.sort();
    Ok(unread)
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

/// Lines decoded per chunk: enough to keep every core busy, small enough that a file is never
/// held whole (a year of web events is gigabytes).
const LINES_PER_CHUNK: usize = 65_536;

/// One decoded line, in file order: the event, or the line number, error and original bytes.
pub type DecodedLine = Result<Event, (usize, DecodeError, Vec<u8>)>;

/// Reads and decodes a JSON Lines file chunk by chunk and hands each chunk's lines to `each`
/// in file order. Blank lines are skipped. With more than one thread, reading and decoding run
/// on other threads (decoding split over `threads - 1`) while `each` takes the chunk before, so
/// a serial `each` (the engine's ingest) and decoding overlap instead of taking turns; and a
/// chunk `each` has seen is freed by the thread that decoded it, where freeing its millions of
/// strings is the allocator's fast path (on the ingesting thread it took a fifth of ingest).
pub fn decode_file(path: &Path, topic: Topic, threads: usize, each: impl FnMut(&[DecodedLine])) -> Result<()> {
    decode_in_chunks(path, topic, threads, LINES_PER_CHUNK, each)
}

/// The lines of one chunk: their bytes end to end, and each line's number and span.
#[derive(Default)]
struct Chunk {
    text: Vec<u8>,
    lines: Vec<(usize, std::ops::Range<usize>)>,
}

/// Reads up to `max_lines` non-blank lines; `number` counts every line read so far.
fn read_chunk(reader: &mut impl std::io::BufRead, number: &mut usize, max_lines: usize) -> std::io::Result<Chunk> {
    let mut chunk = Chunk::default();
    while chunk.lines.len() < max_lines.max(1) {
        let start = chunk.text.len();
        if reader.read_until(b'\n', &mut chunk.text)? == 0 {
            break;
        }
        *number += 1;
        let line = &chunk.text[start..];
        let end = line.len() - usize::from(line.ends_with(b"\n"));
        let end = end - usize::from(line[..end].ends_with(b"\r"));
        if line[..end].iter().all(u8::is_ascii_whitespace) {
            chunk.text.truncate(start);
        } else {
            chunk.lines.push((*number, start..start + end));
        }
    }
    Ok(chunk)
}

fn decode_chunk(chunk: &Chunk, topic: Topic, threads: usize) -> Vec<DecodedLine> {
    let decode_lines = |lines: &[(usize, std::ops::Range<usize>)]| -> Vec<DecodedLine> {
        let line = |span: &std::ops::Range<usize>| &chunk.text[span.clone()];
        lines.iter().map(|(n, span)| decode(topic, line(span)).map_err(|e| (*n, e, line(span).to_vec()))).collect()
    };
    if threads <= 1 {
        return decode_lines(&chunk.lines);
    }
    let part = chunk.lines.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = chunk.lines.chunks(part).map(|lines| s.spawn(move || decode_lines(lines))).collect();
        handles.into_iter().flat_map(|h| h.join().expect("decoder thread panicked")).collect()
    })
}

fn decode_in_chunks(
    path: &Path,
    topic: Topic,
    threads: usize,
    lines_per_chunk: usize,
    mut each: impl FnMut(&[DecodedLine]),
) -> Result<()> {
    let file = fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut number = 0usize;
    let mut next = move || read_chunk(&mut reader, &mut number, lines_per_chunk);
    let reading = || format!("reading {}", path.display());
    if threads <= 1 {
        loop {
            let chunk = next().with_context(reading)?;
            if chunk.lines.is_empty() {
                return Ok(());
            }
            each(&decode_chunk(&chunk, topic, 1));
        }
    }
    // One chunk decoded ahead at most: the memory in flight stays three chunks (and the
    // seen ones on their way back).
    let (send, receive) = std::sync::mpsc::sync_channel::<Vec<DecodedLine>>(1);
    let (give_back, seen) = std::sync::mpsc::channel::<Vec<DecodedLine>>();
    std::thread::scope(|s| {
        let producer = s.spawn(move || -> std::io::Result<()> {
            loop {
                seen.try_iter().for_each(drop);
                let chunk = next()?;
                if chunk.lines.is_empty() || send.send(decode_chunk(&chunk, topic, threads - 1)).is_err() {
                    break;
                }
            }
            // The last chunks come back once `each` has seen them all, which ends with `send`.
            drop(send);
            seen.iter().for_each(drop);
            Ok(())
        });
        for decoded in receive {
            each(&decoded);
            // The reader has stopped only when it failed, which the join below reports.
            let _ = give_back.send(decoded);
        }
        drop(give_back);
        producer.join().expect("reader thread panicked").with_context(reading)
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misnamed_input_files_are_found_with_the_name_they_meant() {
        let dir = std::env::temp_dir().join(format!("attrib-unread-{}", std::process::id()));
        fs::create_dir_all(dir.join("web.events")).unwrap();
        for f in ["crm_records.jsonl", "ads.spend.jsonl", "notes.txt", ".hidden"] {
            fs::write(dir.join(f), "").unwrap();
        }
        let unread = unread_inputs(&dir).unwrap();
        assert_eq!(
            unread,
            vec![
                ("crm_records.jsonl".to_string(), Some("crm.records.jsonl".to_string())),
                ("notes.txt".to_string(), None)
            ]
        );
        fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn chunked_reading_keeps_file_order_line_numbers_and_rejected_bytes() {
        let dir = std::env::temp_dir().join(format!("attrib-files-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("fx.rates.jsonl");
        let good = |d: u32| format!(r#"{{"date": "2026-01-{d:02}", "currency": "EUR", "rate_to_reporting": "1.1"}}"#);
        // Blank lines, CRLF, a bad line and no newline at the end, across chunks of 2 lines.
        let text = format!("{}\r\n\n{}\nnot json\r\n   \n{}\n{}", good(1), good(2), good(3), good(4));
        fs::write(&path, text).expect("write");
        for (lines_per_chunk, threads) in [(1, 1), (2, 2), (3, 1), (1000, 2)] {
            let mut seen = Vec::new();
            decode_in_chunks(&path, Topic::FxRates, threads, lines_per_chunk, |chunk| {
                assert!(chunk.len() <= lines_per_chunk);
                for item in chunk {
                    seen.push(match item {
                        Ok(Event::Fx(f)) => f.date.to_string(),
                        Ok(other) => panic!("not a rate: {other:?}"),
                        Err((line, _, bytes)) => format!("line {line}: {}", String::from_utf8_lossy(bytes)),
                    });
                }
            })
            .expect("read");
            assert_eq!(seen, ["2026-01-01", "2026-01-02", "line 4: not json", "2026-01-03", "2026-01-04"]);
        }
        let _ = fs::remove_dir_all(&dir);
    }
}
