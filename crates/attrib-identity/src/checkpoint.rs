//! The binary form of a state checkpoint: a sequence of tagged records cut into parts.
//!
//! Each layer of the state (identity graph, journey store, engine) writes its records with
//! a tag of its own and reads back the tags it owns. Parts end on record boundaries, so a
//! restore applies them one at a time as they stream in: memory holds the state being
//! rebuilt and one part, never the whole checkpoint. Integers are LEB128 varints (signed
//! ones zigzag), text is length-prefixed UTF-8.

use std::fmt;

/// Why a checkpoint could not be read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError(pub String);

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "checkpoint unreadable: {}", self.0)
    }
}

impl std::error::Error for CodecError {}

fn truncated() -> CodecError {
    CodecError("a record ends before its fields do".into())
}

/// Appends values to a record.
#[derive(Debug, Default)]
pub struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }

    pub fn u64(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    pub fn u32(&mut self, v: u32) {
        self.u64(u64::from(v));
    }

    pub fn i64(&mut self, v: i64) {
        self.u64(((v << 1) ^ (v >> 63)) as u64);
    }

    pub fn i128(&mut self, v: i128) {
        let mut z = ((v << 1) ^ (v >> 127)) as u128;
        while z >= 0x80 {
            self.buf.push((z as u8) | 0x80);
            z >>= 7;
        }
        self.buf.push(z as u8);
    }

    /// 16 bytes as they are (fingerprints: varints would only grow them).
    pub fn u128_fixed(&mut self, v: u128) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.buf.extend_from_slice(s.as_bytes());
    }

    /// `None` as 0, `Some(v)` as 1 then `v`.
    pub fn opt<T>(&mut self, v: Option<T>, put: impl FnOnce(&mut Encoder, T)) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                put(self, v);
            }
        }
    }
}

/// Reads the values of one part back, in the order they were written.
#[derive(Debug)]
pub struct Decoder<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    pub fn new(bytes: &'a [u8]) -> Decoder<'a> {
        Decoder { bytes, pos: 0 }
    }

    /// Whether the part is read to its end.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    pub fn u8(&mut self) -> Result<u8, CodecError> {
        let b = *self.bytes.get(self.pos).ok_or_else(truncated)?;
        self.pos += 1;
        Ok(b)
    }

    pub fn bool(&mut self) -> Result<bool, CodecError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(CodecError(format!("{b} is not a boolean"))),
        }
    }

    fn varint(&mut self, max_bits: u32) -> Result<u128, CodecError> {
        let mut v: u128 = 0;
        let mut shift = 0;
        loop {
            let b = self.u8()?;
            if shift >= max_bits {
                return Err(CodecError("an integer longer than its type".into()));
            }
            v |= u128::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
            shift += 7;
        }
    }

    pub fn u64(&mut self) -> Result<u64, CodecError> {
        u64::try_from(self.varint(64)?).map_err(|_| CodecError("an integer longer than u64".into()))
    }

    pub fn u32(&mut self) -> Result<u32, CodecError> {
        u32::try_from(self.u64()?).map_err(|_| CodecError("an integer longer than u32".into()))
    }

    pub fn i64(&mut self) -> Result<i64, CodecError> {
        let z = self.u64()?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    pub fn i128(&mut self) -> Result<i128, CodecError> {
        let z = self.varint(128)?;
        Ok(((z >> 1) as i128) ^ -((z & 1) as i128))
    }

    pub fn u128_fixed(&mut self) -> Result<u128, CodecError> {
        let end = self.pos + 16;
        let bytes: [u8; 16] =
            self.bytes.get(self.pos..end).ok_or_else(truncated)?.try_into().map_err(|_| truncated())?;
        self.pos = end;
        Ok(u128::from_le_bytes(bytes))
    }

    pub fn str(&mut self) -> Result<&'a str, CodecError> {
        let len = usize::try_from(self.u64()?).map_err(|_| truncated())?;
        let end = self.pos.checked_add(len).ok_or_else(truncated)?;
        let bytes = self.bytes.get(self.pos..end).ok_or_else(truncated)?;
        self.pos = end;
        std::str::from_utf8(bytes).map_err(|_| CodecError("text that is not UTF-8".into()))
    }

    pub fn opt<T>(
        &mut self,
        get: impl FnOnce(&mut Decoder<'a>) -> Result<T, CodecError>,
    ) -> Result<Option<T>, CodecError> {
        match self.u8()? {
            0 => Ok(None),
            1 => get(self).map(Some),
            b => Err(CodecError(format!("{b} is not an option marker"))),
        }
    }
}

/// Size a part grows to before it is cut (at the next record boundary).
pub const PART_BYTES: usize = 4 << 20;

/// Collects tagged records into parts of about `PART_BYTES`.
#[derive(Debug, Default)]
pub struct CheckpointWriter {
    current: Encoder,
    parts: Vec<Vec<u8>>,
    records: u64,
}

impl CheckpointWriter {
    pub fn new() -> CheckpointWriter {
        CheckpointWriter::default()
    }

    /// One record: its tag, then what `body` writes.
    pub fn record(&mut self, tag: u8, body: impl FnOnce(&mut Encoder)) {
        self.current.u8(tag);
        body(&mut self.current);
        self.records += 1;
        if self.current.buf.len() >= PART_BYTES {
            self.parts.push(std::mem::take(&mut self.current.buf));
        }
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The parts, in order (the last one possibly short).
    pub fn finish(mut self) -> Vec<Vec<u8>> {
        if !self.current.buf.is_empty() {
            self.parts.push(self.current.buf);
        }
        self.parts
    }
}

/// An unknown tag: a checkpoint of another version, or damaged.
pub fn unknown_tag(tag: u8) -> CodecError {
    CodecError(format!("unknown record tag {tag}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_back_as_written_across_their_ranges() {
        let mut w = CheckpointWriter::new();
        w.record(7, |e| {
            for v in [0u64, 1, 127, 128, 300, u64::MAX] {
                e.u64(v);
            }
            for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
                e.i64(v);
            }
            for v in [0i128, -5, 1_767_225_600_000_000_000, i128::MIN, i128::MAX] {
                e.i128(v);
            }
            e.u128_fixed(u128::MAX - 3);
            e.str("héllo");
            e.opt(None::<u32>, Encoder::u32);
            e.opt(Some(9u32), Encoder::u32);
            e.bool(true);
        });
        let parts = w.finish();
        assert_eq!(parts.len(), 1);
        let mut d = Decoder::new(&parts[0]);
        assert_eq!(d.u8().unwrap(), 7);
        for v in [0u64, 1, 127, 128, 300, u64::MAX] {
            assert_eq!(d.u64().unwrap(), v);
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(d.i64().unwrap(), v);
        }
        for v in [0i128, -5, 1_767_225_600_000_000_000, i128::MIN, i128::MAX] {
            assert_eq!(d.i128().unwrap(), v);
        }
        assert_eq!(d.u128_fixed().unwrap(), u128::MAX - 3);
        assert_eq!(d.str().unwrap(), "héllo");
        assert_eq!(d.opt(Decoder::u32).unwrap(), None);
        assert_eq!(d.opt(Decoder::u32).unwrap(), Some(9));
        assert!(d.bool().unwrap());
        assert!(d.is_empty());
        assert_eq!(d.u8(), Err(truncated()));
    }

    #[test]
    fn parts_are_cut_on_record_boundaries() {
        let mut w = CheckpointWriter::new();
        let text = "x".repeat(1 << 20);
        for _ in 0..9 {
            w.record(1, |e| e.str(&text));
        }
        let parts = w.finish();
        assert_eq!(parts.len(), 3, "4 MiB parts of whole records: 4 + 4 + 1");
        let mut records = 0;
        for p in &parts {
            let mut d = Decoder::new(p);
            while !d.is_empty() {
                assert_eq!(d.u8().unwrap(), 1);
                assert_eq!(d.str().unwrap().len(), text.len());
                records += 1;
            }
        }
        assert_eq!(records, 9);
    }

    #[test]
    fn a_damaged_part_is_an_error_not_a_panic() {
        let mut d = Decoder::new(&[0xff, 0xff]);
        assert!(d.u64().is_err());
        let mut d = Decoder::new(&[5, b'a']);
        assert!(d.str().is_err());
        let mut d = Decoder::new(&[0xff; 20]);
        assert!(d.u64().is_err());
    }
}
