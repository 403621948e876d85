//! Tabular data: a CSV parsed once, streaming, into typed columns (Apache Arrow arrays: `f32`
//! numbers, booleans and dictionary-encoded categories, each with a validity bitmap), refusing
//! what a model cannot learn from (and what an attacker might send) with the line and column at
//! fault. The typed table is what a dataset stores (an Arrow IPC stream, [`write_ipc`]) and what
//! every reader gets back without parsing text again ([`read_ipc`]).
//!
//! A column's type is set by its first non-empty value: a number makes it numeric, `true`/`false`
//! boolean, anything else categorical. A later value of another type is an error at its line,
//! which is what a person who wrote the file expects ("row 812 has `n/a` in `income`"). A column
//! with no value at all takes no memory (Arrow's `Null` type) and reads as numeric and missing.
//!
//! Rows live in chunks of [`CHUNK`] rows (one Arrow record batch each), so that a category's keys
//! fit in 16 bits and a stored dataset is written and read one batch at a time.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float32Builder, StringDictionaryBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::Int16Type;
use arrow_array::{Array, ArrayRef, BooleanArray, DictionaryArray, Float32Array, Int16Array, NullArray, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use serde::{Deserialize, Serialize};

/// Rows per chunk (and per stored record batch). At most this many categories per chunk, so
/// 16-bit dictionary keys always suffice.
pub const CHUNK: usize = 16_384;

/// The media type of a stored dataset (the Arrow IPC stream format, IANA-registered).
pub const IPC_MEDIA_TYPE: &str = "application/vnd.apache.arrow.stream";

/// Schema metadata that marks a stream as a Licentia dataset of this layout.
const FORMAT_KEY: &str = "licentia.dataset";
const FORMAT_VERSION: &str = "1";

/// What a file may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes of CSV text.
    pub max_bytes: usize,
    /// Bytes of the typed columns the text becomes (an empty cell of a numeric column takes four
    /// bytes as a column and one as text, so both are bounded).
    pub max_columnar_bytes: usize,
    pub max_columns: usize,
    pub max_line_bytes: usize,
    pub max_rows: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self::of_bytes(256 * 1024 * 1024)
    }
}

impl Limits {
    /// One figure decides what is accepted: `bytes` of text and as many bytes of columns.
    pub fn of_bytes(bytes: usize) -> Self {
        Self { max_bytes: bytes, max_columnar_bytes: bytes, max_columns: 1_000, max_line_bytes: 1024 * 1024, max_rows: 5_000_000 }
    }
}

/// Why a file was refused, and where. `line` is 1-based and counts the header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error, utoipa::ToSchema)]
#[error("line {line}{}: {message}", column.as_ref().map(|c| format!(", column {c}")).unwrap_or_default())]
pub struct DataError {
    pub line: u64,
    pub column: Option<String>,
    pub message: String,
}

fn err(line: u64, column: Option<&str>, message: impl Into<String>) -> DataError {
    DataError { line, column: column.map(|c| c.chars().take(100).collect()), message: message.into() }
}

/// A stored dataset that cannot be read back (not a data error of the user's file).
#[derive(Debug, thiserror::Error)]
#[error("stored dataset: {0}")]
pub struct StoredError(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Numeric,
    Boolean,
    Categorical,
}

/// One chunk of a categorical column: 16-bit keys into the chunk's own dictionary.
#[derive(Debug, Clone, PartialEq)]
pub struct Categories {
    pub keys: Int16Array,
    pub dictionary: StringArray,
}

impl Categories {
    fn get(&self, i: usize) -> Option<&str> {
        if self.keys.is_null(i) {
            return None;
        }
        usize::try_from(self.keys.value(i)).ok().filter(|k| *k < self.dictionary.len()).map(|k| self.dictionary.value(k))
    }
}

/// A column's values, chunk by chunk; a null is a missing value.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// Not one value in the whole file (this many rows, all missing).
    Empty(usize),
    Numeric(Vec<Float32Array>),
    Boolean(Vec<BooleanArray>),
    Categorical(Vec<Categories>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub values: Values,
}

/// What the schema page shows of a column.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ColumnSummary {
    pub name: String,
    pub kind: Kind,
    pub missing: usize,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
    /// Categorical: distinct values (at most 50 listed) and how many there are.
    pub categories: Vec<String>,
    pub distinct: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: usize,
}

/// Guards a stream of bytes against over-long lines before any of it is buffered as a record:
/// feed it every chunk as it arrives.
#[derive(Debug, Clone, Default)]
pub struct LineGuard {
    line: u64,
    current: usize,
    in_quotes: bool,
}

impl LineGuard {
    pub fn new() -> Self {
        Self { line: 1, current: 0, in_quotes: false }
    }

    /// Fails on the first line longer than `max` bytes (quoted newlines stay in their record).
    pub fn feed(&mut self, chunk: &[u8], max: usize) -> Result<(), DataError> {
        for &b in chunk {
            match b {
                b'"' => self.in_quotes = !self.in_quotes,
                b'\n' if !self.in_quotes => {
                    self.line += 1;
                    self.current = 0;
                    continue;
                }
                _ => {}
            }
            self.current += 1;
            if self.current > max {
                return Err(err(self.line, None, format!("the line is longer than {} bytes", max)));
            }
        }
        Ok(())
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" => Some(true),
        "false" | "no" => Some(false),
        _ => None,
    }
}

/// What a cell says as a number.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Number {
    Value(f32),
    /// A finite number beyond what an `f32` (the columns' type) holds.
    OutOfRange,
    /// Not a number at all (the column is then boolean or categorical).
    Not,
}

fn parse_number(s: &str) -> Number {
    // `f64::from_str` accepts "inf", "NaN" and "infinity": those are refused separately.
    let lower = s.to_ascii_lowercase();
    if lower.contains("inf") || lower.contains("nan") {
        return Number::Not;
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v.abs() <= f64::from(f32::MAX) => Number::Value(v as f32),
        Ok(v) if v.is_finite() => Number::OutOfRange,
        _ => Number::Not,
    }
}

fn is_non_finite(s: &str) -> bool {
    let l = s.trim().trim_start_matches(['+', '-']).to_ascii_lowercase();
    matches!(l.as_str(), "nan" | "inf" | "infinity")
}

/// Reads through the size limit and the line guard, so a stream is refused at the first byte too
/// many, whatever feeds it.
struct Guarded<R> {
    inner: R,
    limits: Limits,
    read: usize,
    guard: LineGuard,
    /// The first three bytes, however the stream is cut, to refuse a byte-order mark.
    head: Vec<u8>,
    refused: Option<DataError>,
}

impl<R: Read> Read for Guarded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let chunk = &buf[..n];
        let refuse = |e: DataError| std::io::Error::other(e.to_string());
        if self.head.len() < 3 {
            let take = (3 - self.head.len()).min(n);
            self.head.extend_from_slice(&chunk[..take]);
            if self.head == [0xEF, 0xBB, 0xBF] {
                let e = err(1, None, "the file starts with a byte-order mark; save it as UTF-8 without BOM");
                self.refused = Some(e.clone());
                return Err(refuse(e));
            }
        }
        self.read += n;
        if self.read > self.limits.max_bytes {
            let e = err(self.guard.line, None, format!("the file is larger than {} bytes", self.limits.max_bytes));
            self.refused = Some(e.clone());
            return Err(refuse(e));
        }
        if let Err(e) = self.guard.feed(chunk, self.limits.max_line_bytes) {
            self.refused = Some(e.clone());
            return Err(refuse(e));
        }
        Ok(n)
    }
}

/// One column while it is parsed: its type once known, finished chunks, and the chunk being built.
struct Building {
    name: String,
    kind: Option<Kind>,
    /// Whole chunks that went by before the first value (all missing).
    empty_chunks: usize,
    /// Missing values in the current chunk before the first value.
    pending_nulls: usize,
    values: Values,
    current: Option<Builder>,
}

enum Builder {
    Numeric(Float32Builder),
    Boolean(BooleanBuilder),
    Categorical(StringDictionaryBuilder<Int16Type>),
}

impl Builder {
    fn new(kind: Kind) -> Self {
        match kind {
            // Small and doubling: a full chunk ends exactly at its size (a power of two), and a
            // table of a few rows, however wide, takes little.
            Kind::Numeric => Self::Numeric(Float32Builder::new()),
            Kind::Boolean => Self::Boolean(BooleanBuilder::new()),
            Kind::Categorical => Self::Categorical(StringDictionaryBuilder::new()),
        }
    }

    fn append_nulls(&mut self, n: usize) {
        match self {
            Self::Numeric(b) => b.append_nulls(n),
            Self::Boolean(b) => b.append_nulls(n),
            Self::Categorical(b) => (0..n).for_each(|_| b.append_null()),
        }
    }

    /// Bytes a missing value takes in this column.
    fn null_width(kind: Kind) -> usize {
        match kind {
            Kind::Numeric => 4,
            Kind::Boolean => 1,
            Kind::Categorical => 2,
        }
    }
}

fn categories(d: DictionaryArray<Int16Type>) -> Result<Categories, String> {
    let dictionary = d.values().as_string_opt::<i32>().ok_or("a categorical column's dictionary is not text")?.clone();
    Ok(Categories { keys: d.keys().clone(), dictionary })
}

impl Building {
    fn new(name: String) -> Self {
        Self { name, kind: None, empty_chunks: 0, pending_nulls: 0, values: Values::Empty(0), current: None }
    }

    /// The first value fixes the type: the chunks before it become typed chunks of nulls.
    /// Returns the bytes that adds.
    fn start(&mut self, kind: Kind) -> usize {
        self.kind = Some(kind);
        let n = self.empty_chunks;
        self.values = match kind {
            Kind::Numeric => Values::Numeric((0..n).map(|_| Float32Array::new_null(CHUNK)).collect()),
            Kind::Boolean => Values::Boolean((0..n).map(|_| BooleanArray::new_null(CHUNK)).collect()),
            Kind::Categorical => Values::Categorical(
                (0..n).map(|_| Categories { keys: Int16Array::new_null(CHUNK), dictionary: StringArray::from(Vec::<&str>::new()) }).collect(),
            ),
        };
        let mut b = Builder::new(kind);
        b.append_nulls(self.pending_nulls);
        let added = (n * CHUNK + self.pending_nulls) * Builder::null_width(kind);
        self.pending_nulls = 0;
        self.current = Some(b);
        added
    }

    fn missing(&mut self) {
        match &mut self.current {
            Some(b) => b.append_nulls(1),
            None => self.pending_nulls += 1,
        }
    }

    /// Closes the current chunk; returns the bytes its dictionary holds.
    fn close_chunk(&mut self) -> Result<usize, String> {
        let Some(b) = self.current.as_mut() else {
            self.empty_chunks += usize::from(self.pending_nulls > 0);
            self.pending_nulls = 0;
            return Ok(0);
        };
        let mut dictionary_bytes = 0;
        match (b, &mut self.values) {
            (Builder::Numeric(b), Values::Numeric(chunks)) => chunks.push(b.finish()),
            (Builder::Boolean(b), Values::Boolean(chunks)) => chunks.push(b.finish()),
            (Builder::Categorical(b), Values::Categorical(chunks)) => {
                let c = categories(b.finish())?;
                // What the values take, not the builder's spare capacity.
                dictionary_bytes = c.dictionary.value_data().len() + 4 * (c.dictionary.len() + 1);
                chunks.push(c);
            }
            _ => return Err("a column changed type while it was built".into()),
        }
        Ok(dictionary_bytes)
    }
}

/// Parses and types a whole CSV file held in memory.
pub fn parse_csv(bytes: &[u8], limits: &Limits) -> Result<Table, DataError> {
    parse_csv_from(bytes, limits)
}

/// Parses and types a CSV read from `reader`, one record at a time: memory grows with the typed
/// columns, never with the text.
pub fn parse_csv_from<R: Read>(reader: R, limits: &Limits) -> Result<Table, DataError> {
    let mut guarded = Guarded { inner: reader, limits: *limits, read: 0, guard: LineGuard::new(), head: Vec::with_capacity(3), refused: None };
    let result = parse_guarded(&mut guarded, limits);
    // A refusal by the guard surfaces as an I/O error inside the CSV reader: report the guard's own.
    match (result, guarded.refused) {
        (Err(_), Some(refused)) => Err(refused),
        (r, _) => r,
    }
}

fn parse_guarded<R: Read>(reader: &mut Guarded<R>, limits: &Limits) -> Result<Table, DataError> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(reader);
    let mut record = csv::ByteRecord::new();
    let header = match reader.read_byte_record(&mut record) {
        Ok(false) => return Err(err(1, None, "the file is empty")),
        Err(e) => return Err(err(1, None, format!("unreadable header: {e}"))),
        Ok(true) => record.clone(),
    };
    if header.len() == 1 && header.get(0).is_some_and(|h| h.iter().all(u8::is_ascii_whitespace)) {
        return Err(err(1, None, "the file is empty"));
    }
    if header.len() > limits.max_columns {
        return Err(err(1, None, format!("{} columns; at most {} are allowed", header.len(), limits.max_columns)));
    }
    let mut cols = Vec::with_capacity(header.len());
    let mut seen = HashSet::new();
    for (i, raw) in header.iter().enumerate() {
        let name = std::str::from_utf8(raw).map_err(|_| err(1, Some(&format!("#{}", i + 1)), "the header is not valid UTF-8"))?.trim().to_owned();
        if name.is_empty() {
            return Err(err(1, Some(&format!("#{}", i + 1)), "a column has no name"));
        }
        if name.chars().any(char::is_control) || name.chars().count() > 200 {
            return Err(err(1, Some(&format!("#{}", i + 1)), "column names are at most 200 characters without control characters"));
        }
        if !seen.insert(name.clone()) {
            return Err(err(1, Some(&name), "the column name appears twice"));
        }
        cols.push(Building::new(name));
    }
    let width = cols.len();
    let mut rows = 0usize;
    let mut columnar = 0usize;
    let too_big = |line: u64| err(line, None, format!("the data takes more than {} bytes as typed columns", limits.max_columnar_bytes));
    let mut line: u64 = 1;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(err(line + 1, None, format!("unreadable row: {e}"))),
        }
        line = record.position().map_or(line + 1, |p| p.line());
        if record.len() == 1 && record.get(0).is_some_and(<[u8]>::is_empty) {
            continue; // a blank line
        }
        if record.len() != width {
            return Err(err(line, None, format!("{} fields, but the header has {width}", record.len())));
        }
        rows += 1;
        if rows > limits.max_rows {
            return Err(err(line, None, format!("more than {} rows", limits.max_rows)));
        }
        for (col, raw) in cols.iter_mut().zip(record.iter()) {
            let s = std::str::from_utf8(raw).map_err(|_| err(line, Some(&col.name), "not valid UTF-8"))?.trim();
            if s.is_empty() {
                columnar += col.kind.map_or(0, Builder::null_width);
                col.missing();
                continue;
            }
            if is_non_finite(s) {
                return Err(err(line, Some(&col.name), format!("{s:?}: NaN and infinite values are not allowed; leave the cell empty for a missing value")));
            }
            if col.kind.is_none() {
                let kind = if parse_number(s) != Number::Not {
                    Kind::Numeric
                } else if parse_bool(s).is_some() {
                    Kind::Boolean
                } else {
                    Kind::Categorical
                };
                columnar += col.start(kind);
            }
            match col.current.as_mut() {
                Some(Builder::Numeric(b)) => match parse_number(s) {
                    Number::Value(v) => b.append_value(v),
                    Number::OutOfRange => {
                        return Err(err(
                            line,
                            Some(&col.name),
                            format!("{:?} is beyond ±3.4e38, the largest number a column holds", s.chars().take(40).collect::<String>()),
                        ));
                    }
                    Number::Not => {
                        return Err(err(
                            line,
                            Some(&col.name),
                            format!("{:?} is not a number, and the column is numeric", s.chars().take(40).collect::<String>()),
                        ));
                    }
                },
                Some(Builder::Boolean(b)) => match parse_bool(s) {
                    Some(v) => b.append_value(v),
                    None => {
                        return Err(err(
                            line,
                            Some(&col.name),
                            format!("{:?} is not true or false, and the column is boolean", s.chars().take(40).collect::<String>()),
                        ));
                    }
                },
                Some(Builder::Categorical(b)) => {
                    b.append(s).map_err(|e| err(line, Some(&col.name), e.to_string()))?;
                }
                None => return Err(err(line, Some(&col.name), "the column has no type")),
            }
            columnar += col.kind.map_or(0, Builder::null_width);
        }
        if rows.is_multiple_of(CHUNK) {
            for col in &mut cols {
                columnar += col.close_chunk().map_err(|m| err(line, Some(&col.name), m))?;
            }
        }
        if columnar > limits.max_columnar_bytes {
            return Err(too_big(line));
        }
    }
    if rows == 0 {
        return Err(err(2, None, "the file has a header but no rows"));
    }
    if !rows.is_multiple_of(CHUNK) {
        for col in &mut cols {
            columnar += col.close_chunk().map_err(|m| err(line, Some(&col.name), m))?;
        }
    }
    if columnar > limits.max_columnar_bytes {
        return Err(too_big(line));
    }
    let columns = cols.into_iter().map(|c| Column { name: c.name, values: if c.kind.is_none() { Values::Empty(rows) } else { c.values } }).collect();
    Ok(Table { columns, rows })
}

/// Chunk and offset of row `r`.
fn at(r: usize) -> (usize, usize) {
    (r / CHUNK, r % CHUNK)
}

impl Column {
    pub fn kind(&self) -> Kind {
        match self.values {
            Values::Empty(_) | Values::Numeric(_) => Kind::Numeric,
            Values::Boolean(_) => Kind::Boolean,
            Values::Categorical(_) => Kind::Categorical,
        }
    }

    /// A numeric value, or a boolean as 1 or 0; `None` when missing or categorical.
    pub fn number(&self, r: usize) -> Option<f64> {
        let (c, i) = at(r);
        match &self.values {
            Values::Numeric(chunks) => chunks.get(c).filter(|a| a.is_valid(i)).map(|a| f64::from(a.value(i))),
            Values::Boolean(chunks) => chunks.get(c).filter(|a| a.is_valid(i)).map(|a| if a.value(i) { 1.0 } else { 0.0 }),
            Values::Empty(_) | Values::Categorical(_) => None,
        }
    }

    /// A categorical value; `None` when missing or of another kind.
    pub fn category(&self, r: usize) -> Option<&str> {
        let (c, i) = at(r);
        match &self.values {
            Values::Categorical(chunks) => chunks.get(c).and_then(|a| a.get(i)),
            _ => None,
        }
    }

    /// A categorical value as (chunk, dictionary key); `None` when missing or of another kind.
    pub fn category_key(&self, r: usize) -> Option<(usize, usize)> {
        let (c, i) = at(r);
        match &self.values {
            Values::Categorical(chunks) => chunks.get(c).filter(|a| a.keys.is_valid(i)).and_then(|a| usize::try_from(a.keys.value(i)).ok()).map(|k| (c, k)),
            _ => None,
        }
    }

    /// Any value as text (numbers as the shortest text that reads back the same `f32`).
    pub fn text(&self, r: usize) -> Option<Cow<'_, str>> {
        let (c, i) = at(r);
        match &self.values {
            Values::Numeric(chunks) => chunks.get(c).filter(|a| a.is_valid(i)).map(|a| Cow::Owned(a.value(i).to_string())),
            Values::Boolean(chunks) => chunks.get(c).filter(|a| a.is_valid(i)).map(|a| Cow::Owned(a.value(i).to_string())),
            Values::Categorical(chunks) => chunks.get(c).and_then(|a| a.get(i)).map(Cow::Borrowed),
            Values::Empty(_) => None,
        }
    }

    pub fn summary(&self) -> ColumnSummary {
        let mut s =
            ColumnSummary { name: self.name.clone(), kind: self.kind(), missing: 0, min: None, max: None, mean: None, categories: Vec::new(), distinct: 0 };
        match &self.values {
            Values::Empty(rows) => s.missing = *rows,
            Values::Numeric(chunks) => {
                let (mut n, mut sum, mut min, mut max) = (0usize, 0f64, f64::INFINITY, f64::NEG_INFINITY);
                for a in chunks {
                    s.missing += a.null_count();
                    for v in a.iter().flatten() {
                        let v = f64::from(v);
                        n += 1;
                        sum += v;
                        min = min.min(v);
                        max = max.max(v);
                    }
                }
                if n > 0 {
                    (s.min, s.max, s.mean) = (Some(min), Some(max), Some(sum / n as f64));
                }
            }
            Values::Boolean(chunks) => {
                let (mut present, mut trues) = (0usize, 0usize);
                for a in chunks {
                    s.missing += a.null_count();
                    present += a.len() - a.null_count();
                    trues += a.true_count();
                }
                if present > 0 {
                    s.mean = Some(trues as f64 / present as f64);
                }
            }
            Values::Categorical(chunks) => {
                let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
                for a in chunks {
                    s.missing += a.keys.null_count();
                    for k in a.keys.iter().flatten() {
                        if let Some(v) = usize::try_from(k).ok().filter(|k| *k < a.dictionary.len()) {
                            *counts.entry(a.dictionary.value(v)).or_default() += 1;
                        }
                    }
                }
                s.distinct = counts.len();
                let mut by_count: Vec<(&str, usize)> = counts.into_iter().collect();
                by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
                s.categories = by_count.into_iter().take(50).map(|(k, _)| k.to_owned()).collect();
            }
        }
        s
    }

    /// The Arrow array of chunk `c`, `len` rows long.
    fn chunk_array(&self, c: usize, len: usize) -> Result<ArrayRef, StoredError> {
        let missing = || StoredError(format!("column {:?} has no chunk {c}", self.name));
        Ok(match &self.values {
            Values::Empty(_) => Arc::new(NullArray::new(len)),
            Values::Numeric(chunks) => Arc::new(chunks.get(c).ok_or_else(missing)?.clone()),
            Values::Boolean(chunks) => Arc::new(chunks.get(c).ok_or_else(missing)?.clone()),
            Values::Categorical(chunks) => {
                let ch = chunks.get(c).ok_or_else(missing)?;
                Arc::new(DictionaryArray::<Int16Type>::try_new(ch.keys.clone(), Arc::new(ch.dictionary.clone())).map_err(|e| StoredError(e.to_string()))?)
            }
        })
    }

    fn data_type(&self) -> DataType {
        match self.values {
            Values::Empty(_) => DataType::Null,
            Values::Numeric(_) => DataType::Float32,
            Values::Boolean(_) => DataType::Boolean,
            Values::Categorical(_) => DataType::Dictionary(Box::new(DataType::Int16), Box::new(DataType::Utf8)),
        }
    }
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn schema(&self) -> Vec<ColumnSummary> {
        self.columns.iter().map(Column::summary).collect()
    }

    /// The first `n` rows as text, for the preview.
    pub fn preview(&self, n: usize) -> Vec<Vec<String>> {
        (0..self.rows.min(n)).map(|r| self.columns.iter().map(|c| c.text(r).map(Cow::into_owned).unwrap_or_default()).collect()).collect()
    }

    /// The table as tables of one chunk each (the arrays move, nothing is copied): dropping one
    /// frees its memory.
    pub fn into_chunks(self) -> Vec<Table> {
        let n = self.rows.div_ceil(CHUNK);
        let mut tables: Vec<Table> =
            (0..n).map(|c| Table { columns: Vec::with_capacity(self.columns.len()), rows: CHUNK.min(self.rows - c * CHUNK) }).collect();
        for col in self.columns {
            let name = col.name;
            let mut push = |c: usize, values: Values| {
                if let Some(t) = tables.get_mut(c) {
                    t.columns.push(Column { name: name.clone(), values });
                }
            };
            match col.values {
                Values::Empty(_) => (0..n).for_each(|c| push(c, Values::Empty(CHUNK.min(self.rows - c * CHUNK)))),
                Values::Numeric(ch) => ch.into_iter().enumerate().for_each(|(c, a)| push(c, Values::Numeric(vec![a]))),
                Values::Boolean(ch) => ch.into_iter().enumerate().for_each(|(c, a)| push(c, Values::Boolean(vec![a]))),
                Values::Categorical(ch) => ch.into_iter().enumerate().for_each(|(c, a)| push(c, Values::Categorical(vec![a]))),
            }
        }
        tables
    }

    /// Bytes the columns hold in memory.
    pub fn columnar_bytes(&self) -> usize {
        self.columns
            .iter()
            .map(|c| match &c.values {
                Values::Empty(_) => 0,
                Values::Numeric(ch) => ch.iter().map(Array::get_buffer_memory_size).sum(),
                Values::Boolean(ch) => ch.iter().map(Array::get_buffer_memory_size).sum(),
                Values::Categorical(ch) => ch.iter().map(|c| c.keys.get_buffer_memory_size() + c.dictionary.get_buffer_memory_size()).sum(),
            })
            .sum()
    }

    fn arrow_schema(&self) -> Schema {
        let fields: Vec<Field> = self.columns.iter().map(|c| Field::new(&c.name, c.data_type(), true)).collect();
        Schema::new(fields).with_metadata(std::collections::HashMap::from([(FORMAT_KEY.to_owned(), FORMAT_VERSION.to_owned())]))
    }
}

/// Writes `table` as an Arrow IPC stream, one record batch per chunk (so the encoder holds one
/// chunk at a time beside the table).
pub fn write_ipc<W: Write>(table: &Table, out: W) -> Result<W, StoredError> {
    let e = |e: arrow_schema::ArrowError| StoredError(e.to_string());
    let schema = Arc::new(table.arrow_schema());
    let mut writer = arrow_ipc::writer::StreamWriter::try_new(out, &schema).map_err(e)?;
    for c in 0..table.rows.div_ceil(CHUNK) {
        let len = CHUNK.min(table.rows - c * CHUNK);
        let arrays = table.columns.iter().map(|col| col.chunk_array(c, len)).collect::<Result<Vec<_>, _>>()?;
        let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(e)?;
        writer.write(&batch).map_err(e)?;
    }
    writer.finish().map_err(e)?;
    writer.into_inner().map_err(e)
}

/// Reads a stream [`write_ipc`] wrote, held whole. The arrays point into `bytes` (no copy when
/// aligned), so the table costs what the stored form does. `max_batches` stops early.
pub fn read_ipc(bytes: Vec<u8>, max_batches: Option<usize>) -> Result<Table, StoredError> {
    let mut reader = TableReader::new(max_batches);
    reader.push(bytes)?;
    reader.finish()
}

/// Reads a stored stream piece by piece, as it is decrypted: a preview stops after its first batch
/// without decrypting the rest, and a whole read never holds the stream and the table both.
pub struct TableReader {
    decoder: arrow_ipc::reader::StreamDecoder,
    columns: Option<Vec<Column>>,
    rows: usize,
    batches: usize,
    max_batches: Option<usize>,
}

impl TableReader {
    pub fn new(max_batches: Option<usize>) -> Self {
        Self { decoder: arrow_ipc::reader::StreamDecoder::new(), columns: None, rows: 0, batches: 0, max_batches }
    }

    fn enough(&self) -> bool {
        self.max_batches.is_some_and(|m| self.batches >= m)
    }

    /// Feeds the next piece; `false` once `max_batches` are read (feed no more).
    pub fn push(&mut self, piece: Vec<u8>) -> Result<bool, StoredError> {
        let e = |e: arrow_schema::ArrowError| StoredError(e.to_string());
        let mut buffer = arrow_buffer::Buffer::from_vec(piece);
        while !buffer.is_empty() && !self.enough() {
            if let Some(batch) = self.decoder.decode(&mut buffer).map_err(e)? {
                self.add(&batch)?;
            }
        }
        Ok(!self.enough())
    }

    fn add(&mut self, batch: &RecordBatch) -> Result<(), StoredError> {
        let schema = batch.schema();
        if schema.metadata().get(FORMAT_KEY).map(String::as_str) != Some(FORMAT_VERSION) {
            return Err(StoredError("not a Licentia dataset stream".into()));
        }
        if !self.rows.is_multiple_of(CHUNK) {
            return Err(StoredError(format!("a batch of {} rows follows a short one", batch.num_rows())));
        }
        let cols = self.columns.get_or_insert_with(|| {
            schema
                .fields()
                .iter()
                .map(|f| Column {
                    name: f.name().clone(),
                    values: match f.data_type() {
                        DataType::Float32 => Values::Numeric(Vec::new()),
                        DataType::Boolean => Values::Boolean(Vec::new()),
                        DataType::Dictionary(..) => Values::Categorical(Vec::new()),
                        _ => Values::Empty(0),
                    },
                })
                .collect()
        });
        if batch.num_rows() > CHUNK || batch.num_columns() != cols.len() {
            return Err(StoredError("a batch does not match the dataset's layout".into()));
        }
        for (col, array) in cols.iter_mut().zip(batch.columns()) {
            let wrong = || StoredError(format!("column {:?} changed type between batches", col.name));
            match &mut col.values {
                Values::Numeric(ch) => ch.push(array.as_primitive_opt::<arrow_array::types::Float32Type>().ok_or_else(wrong)?.clone()),
                Values::Boolean(ch) => ch.push(array.as_boolean_opt().ok_or_else(wrong)?.clone()),
                Values::Categorical(ch) => {
                    let d = array.as_dictionary_opt::<Int16Type>().ok_or_else(wrong)?.clone();
                    ch.push(categories(d).map_err(StoredError)?);
                }
                Values::Empty(n) if array.data_type() == &DataType::Null => *n += array.len(),
                Values::Empty(_) => return Err(wrong()),
            }
        }
        self.rows += batch.num_rows();
        self.batches += 1;
        Ok(())
    }

    /// The table read; a whole read must have ended exactly at the end of the stream.
    pub fn finish(mut self) -> Result<Table, StoredError> {
        if !self.enough() {
            self.decoder.finish().map_err(|e| StoredError(e.to_string()))?;
        }
        let columns = self.columns.ok_or_else(|| StoredError("the stream holds no rows".into()))?;
        Ok(Table { columns, rows: self.rows })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Table, DataError> {
        parse_csv(s.as_bytes(), &Limits::default())
    }

    fn at(r: Result<Table, DataError>) -> (u64, Option<String>) {
        match r {
            Err(e) => (e.line, e.column),
            Ok(_) => (0, None),
        }
    }

    #[test]
    fn types_come_from_the_first_value_and_summaries_count_missing() {
        let t = parse("age,city,member,target\n41,Paris,true,1\n,Lyon,false,0\n29,,true,1\n").unwrap_or_else(|e| panic!("{e}"));
        let s = t.schema();
        assert_eq!(s.iter().map(|c| c.kind).collect::<Vec<_>>(), vec![Kind::Numeric, Kind::Categorical, Kind::Boolean, Kind::Numeric]);
        assert_eq!((s[0].missing, s[0].min, s[0].max, s[0].mean), (1, Some(29.0), Some(41.0), Some(35.0)));
        assert_eq!((s[1].missing, s[1].distinct), (1, 2));
        assert_eq!(t.preview(1), vec![vec!["41".to_owned(), "Paris".into(), "true".into(), "1".into()]]);
    }

    #[test]
    fn every_bad_file_names_its_line_and_column() {
        assert_eq!(at(parse("")), (1, None));
        assert_eq!(at(parse("a,b\n")), (2, None), "header only");
        assert_eq!(at(parse("a,b\n1,2\n3\n")), (3, None), "ragged");
        assert_eq!(at(parse("a,b,a\n1,2,3\n")), (1, Some("a".into())), "duplicate header");
        assert_eq!(at(parse("a,b\n1,2\nx,3\n")), (3, Some("a".into())), "text in a numeric column");
        assert_eq!(at(parse("a,b\n1,NaN\n")), (2, Some("b".into())));
        assert_eq!(at(parse("a,b\n1,2\n-inf,2\n")), (3, Some("a".into())));
        assert_eq!(at(parse("\u{feff}a,b\n1,2\n")), (1, None), "BOM");
        assert_eq!(at(parse_csv(b"a,b\n1,\xff\xfe\n", &Limits::default())), (2, Some("b".into())), "invalid UTF-8");
        let wide = (0..10_000).map(|i| format!("c{i}")).collect::<Vec<_>>().join(",");
        assert_eq!(at(parse(&format!("{wide}\n"))), (1, None), "10,000 columns");
        let long = format!("a,b\n1,{}\n", "9".repeat(2 * 1024 * 1024));
        assert_eq!(at(parse(&long)), (2, None), "a line over the limit");
    }

    /// A reader that hands out one byte at a time: a stream cut at every possible place.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((b, rest)), Some(slot)) => {
                    *slot = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    /// Three chunks and a bit: a column empty until the third chunk, one empty throughout, a
    /// category per row in the second chunk, booleans and numbers with gaps.
    fn chunky_csv() -> String {
        let rows = 2 * CHUNK + CHUNK / 2;
        let mut s = String::from("late,never,city,flag,x\n");
        for r in 0..rows {
            let late = if r >= 2 * CHUNK + 3 { format!("{}", r % 7) } else { String::new() };
            let city = if r % 5 == 0 {
                String::new()
            } else if (CHUNK..2 * CHUNK).contains(&r) {
                format!("c{r}")
            } else {
                ["Paris", "Lyon"][r % 2].into()
            };
            let flag = if r % 3 == 0 {
                ""
            } else if r % 2 == 0 {
                "true"
            } else {
                "false"
            };
            let x = if r % 11 == 0 { String::new() } else { format!("{}.25", r) };
            s.push_str(&format!("{late},,{city},{flag},{x}\n"));
        }
        s
    }

    #[test]
    fn a_table_survives_the_stored_form_and_reads_back_cell_for_cell() {
        let csv = chunky_csv();
        let t = parse(&csv).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.rows, 2 * CHUNK + CHUNK / 2);
        let kinds: Vec<Kind> = t.columns.iter().map(Column::kind).collect();
        assert_eq!(kinds, vec![Kind::Numeric, Kind::Numeric, Kind::Categorical, Kind::Boolean, Kind::Numeric]);
        assert!(matches!(t.columns[1].values, Values::Empty(n) if n == t.rows), "a column with no value holds no array");
        // The late column: missing for two whole chunks and three rows, then numbers.
        let late = &t.columns[0];
        assert_eq!((late.number(0), late.number(2 * CHUNK + 2), late.number(2 * CHUNK + 3)), (None, None, Some(((2 * CHUNK + 3) % 7) as f64)));
        assert_eq!(t.columns[2].category(CHUNK + 2), Some(format!("c{}", CHUNK + 2).as_str()));
        assert_eq!(t.columns[2].category(CHUNK * 2 + 1), Some("Lyon"));
        assert_eq!((t.columns[3].number(2), t.columns[3].number(1), t.columns[3].number(3)), (Some(1.0), Some(0.0), None));
        assert_eq!(t.columns[4].text(CHUNK + 1).as_deref(), Some(format!("{}.25", CHUNK + 1).as_str()));

        let streamed = parse_csv_from(Trickle(csv.as_bytes()), &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(streamed, t, "a stream cut at every byte types the same table");

        let stored = write_ipc(&t, Vec::new()).unwrap_or_else(|e| panic!("{e}"));
        let back = read_ipc(stored.clone(), None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.rows, t.rows);
        assert_eq!(back.schema(), t.schema());
        for r in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 3, t.rows - 1] {
            for (a, b) in back.columns.iter().zip(&t.columns) {
                assert_eq!(a.text(r), b.text(r), "row {r}, column {}", a.name);
            }
        }
        let head = read_ipc(stored, Some(1)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((head.rows, head.preview(2)), (CHUNK, t.preview(2)), "a preview reads the first chunk only");
        assert!(read_ipc(b"a,b\n1,2\n".to_vec(), None).is_err(), "text is not a stored dataset");
    }

    #[test]
    fn memory_follows_the_typed_columns_and_one_limit_bounds_them() {
        // The adversarial file: 1,000 columns of nothing. As text, 1,000 bytes a line; as columns, nothing.
        let mut empty = (0..1000).map(|i| format!("c{i}")).collect::<Vec<_>>().join(",");
        empty.push('\n');
        let line = format!("{}\n", ",".repeat(999));
        for _ in 0..20_000 {
            empty.push_str(&line);
        }
        let t = parse(&empty).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((t.rows, t.columnar_bytes()), (20_000, 0));
        assert!(write_ipc(&t, Vec::new()).map(|v| v.len()).unwrap_or(usize::MAX) < 1_000_000, "stored, it is metadata only");
        // One value at the end types the column: every earlier row becomes a 4-byte missing
        // number, and the columnar limit (here 64 KiB) refuses it at that line.
        let mut late = String::from("a,b\n");
        for _ in 0..20_000 {
            late.push_str(",\n");
        }
        late.push_str("1,\n");
        let small = Limits { max_columnar_bytes: 64 * 1024, ..Limits::default() };
        let e = parse_csv(late.as_bytes(), &small).err();
        assert_eq!(e.as_ref().map(|e| e.line), Some(20_002), "{e:?}");
        assert!(e.is_some_and(|e| e.message.contains("typed columns")));
        // Numbers: four bytes a cell, as the engine uses them.
        let numbers: String = std::iter::once("x,y\n".to_owned()).chain((0..10_000).map(|i| format!("{i}.5,{}\n", i % 2))).collect();
        let t = parse(&numbers).unwrap_or_else(|e| panic!("{e}"));
        let bytes = t.columnar_bytes();
        assert!((2 * 10_000 * 4..=2 * 2 * 10_000 * 4).contains(&bytes), "{bytes} bytes for 20,000 numbers: within twice their size");
    }

    #[test]
    fn a_number_beyond_an_f32_is_refused_at_its_cell() {
        assert_eq!(at(parse("a\n1\n1e39\n")), (3, Some("a".into())));
        assert_eq!(at(parse("a\n1e39\n")), (2, Some("a".into())), "the first value too: it is a number, not a category");
        assert_eq!(parse("a\n3.4e38\n").map(|t| t.columns[0].kind()), Ok(Kind::Numeric));
    }

    #[test]
    fn the_line_guard_sees_a_long_line_across_chunks_and_ignores_quoted_newlines() {
        let mut g = LineGuard::new();
        assert!(g.feed(b"a,\"x\ny\"\n", 8).is_ok());
        assert!(g.feed(&[b'z'; 5], 8).is_ok());
        assert_eq!(g.feed(&[b'z'; 5], 8).map_err(|e| e.line), Err(2));
    }
}
