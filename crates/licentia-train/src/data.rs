//! Tabular data: a CSV parsed into typed columns with its schema inferred, refusing what a model
//! cannot learn from (and what an attacker might send) with the line and column at fault.
//!
//! A column's type is set by its first non-empty value: a number makes it numeric, `true`/`false`
//! boolean, anything else categorical. A later value of another type is an error at its line,
//! which is what a person who wrote the file expects ("row 812 has `n/a` in `income`").

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

/// What a file may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_columns: usize,
    pub max_line_bytes: usize,
    pub max_rows: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_bytes: 256 * 1024 * 1024, max_columns: 1_000, max_line_bytes: 1024 * 1024, max_rows: 5_000_000 }
    }
}

/// Why a file was refused, and where. `line` is 1-based and counts the header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("line {line}{}: {message}", column.as_ref().map(|c| format!(", column {c}")).unwrap_or_default())]
pub struct DataError {
    pub line: u64,
    pub column: Option<String>,
    pub message: String,
}

fn err(line: u64, column: Option<&str>, message: impl Into<String>) -> DataError {
    DataError { line, column: column.map(|c| c.chars().take(100).collect()), message: message.into() }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Numeric,
    Boolean,
    Categorical,
}

/// A column's values; `None` is missing.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    Numeric(Vec<Option<f64>>),
    Boolean(Vec<Option<bool>>),
    Categorical(Vec<Option<String>>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub values: Values,
}

/// What the schema page shows of a column.
#[derive(Debug, Clone, PartialEq, Serialize)]
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

fn parse_number(s: &str) -> Option<f64> {
    // `f64::from_str` accepts "inf", "NaN" and "infinity": those are refused separately.
    let lower = s.to_ascii_lowercase();
    if lower.contains("inf") || lower.contains("nan") {
        return None;
    }
    s.parse::<f64>().ok()
}

fn is_non_finite(s: &str) -> bool {
    let l = s.trim().trim_start_matches(['+', '-']).to_ascii_lowercase();
    matches!(l.as_str(), "nan" | "inf" | "infinity")
}

/// Parses and types a whole CSV file.
pub fn parse_csv(bytes: &[u8], limits: &Limits) -> Result<Table, DataError> {
    if bytes.is_empty() || bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(err(1, None, "the file is empty"));
    }
    if bytes.len() > limits.max_bytes {
        return Err(err(1, None, format!("the file is larger than {} bytes", limits.max_bytes)));
    }
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Err(err(1, None, "the file starts with a byte-order mark; save it as UTF-8 without BOM"));
    }
    LineGuard::new().feed(bytes, limits.max_line_bytes)?;
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(bytes);
    let mut records = reader.byte_records();
    let header = match records.next() {
        None => return Err(err(1, None, "the file is empty")),
        Some(Err(e)) => return Err(err(1, None, format!("unreadable header: {e}"))),
        Some(Ok(h)) => h,
    };
    if header.len() > limits.max_columns {
        return Err(err(1, None, format!("{} columns; at most {} are allowed", header.len(), limits.max_columns)));
    }
    let mut names = Vec::with_capacity(header.len());
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
        names.push(name);
    }
    let width = names.len();
    let mut cells: Vec<Vec<Option<String>>> = vec![Vec::new(); width];
    let mut kinds: Vec<Option<Kind>> = vec![None; width];
    let mut rows = 0usize;
    for rec in records {
        let line = rows as u64 + 2;
        let rec = rec.map_err(|e| err(line, None, format!("unreadable row: {e}")))?;
        if rec.len() == 1 && rec.get(0).is_some_and(<[u8]>::is_empty) {
            continue; // a blank line
        }
        if rec.len() != width {
            return Err(err(line, None, format!("{} fields, but the header has {width}", rec.len())));
        }
        rows += 1;
        if rows > limits.max_rows {
            return Err(err(line, None, format!("more than {} rows", limits.max_rows)));
        }
        for (i, raw) in rec.iter().enumerate() {
            let col = &names[i];
            let s = std::str::from_utf8(raw).map_err(|_| err(line, Some(col), "not valid UTF-8"))?.trim();
            if s.is_empty() {
                cells[i].push(None);
                continue;
            }
            if is_non_finite(s) {
                return Err(err(line, Some(col), format!("{s:?}: NaN and infinite values are not allowed; leave the cell empty for a missing value")));
            }
            let kind = *kinds[i].get_or_insert_with(|| {
                if parse_number(s).is_some() {
                    Kind::Numeric
                } else if parse_bool(s).is_some() {
                    Kind::Boolean
                } else {
                    Kind::Categorical
                }
            });
            match kind {
                Kind::Numeric if parse_number(s).is_none_or(|v| !v.is_finite()) => {
                    return Err(err(line, Some(col), format!("{:?} is not a number, and the column is numeric", s.chars().take(40).collect::<String>())));
                }
                Kind::Boolean if parse_bool(s).is_none() => {
                    return Err(err(line, Some(col), format!("{:?} is not true or false, and the column is boolean", s.chars().take(40).collect::<String>())));
                }
                _ => {}
            }
            cells[i].push(Some(s.to_owned()));
        }
    }
    if rows == 0 {
        return Err(err(2, None, "the file has a header but no rows"));
    }
    let columns = names
        .into_iter()
        .zip(cells)
        .zip(kinds)
        .map(|((name, cells), kind)| {
            let values = match kind.unwrap_or(Kind::Numeric) {
                Kind::Numeric => Values::Numeric(cells.into_iter().map(|c| c.and_then(|s| parse_number(&s))).collect()),
                Kind::Boolean => Values::Boolean(cells.into_iter().map(|c| c.and_then(|s| parse_bool(&s))).collect()),
                Kind::Categorical => Values::Categorical(cells),
            };
            Column { name, values }
        })
        .collect();
    Ok(Table { columns, rows })
}

impl Column {
    pub fn kind(&self) -> Kind {
        match self.values {
            Values::Numeric(_) => Kind::Numeric,
            Values::Boolean(_) => Kind::Boolean,
            Values::Categorical(_) => Kind::Categorical,
        }
    }

    pub fn summary(&self) -> ColumnSummary {
        let mut s =
            ColumnSummary { name: self.name.clone(), kind: self.kind(), missing: 0, min: None, max: None, mean: None, categories: Vec::new(), distinct: 0 };
        match &self.values {
            Values::Numeric(v) => {
                let present: Vec<f64> = v.iter().flatten().copied().collect();
                s.missing = v.len() - present.len();
                if !present.is_empty() {
                    s.min = present.iter().copied().reduce(f64::min);
                    s.max = present.iter().copied().reduce(f64::max);
                    s.mean = Some(present.iter().sum::<f64>() / present.len() as f64);
                }
            }
            Values::Boolean(v) => {
                s.missing = v.iter().filter(|x| x.is_none()).count();
                let trues = v.iter().flatten().filter(|b| **b).count();
                let present = v.len() - s.missing;
                if present > 0 {
                    s.mean = Some(trues as f64 / present as f64);
                }
            }
            Values::Categorical(v) => {
                s.missing = v.iter().filter(|x| x.is_none()).count();
                let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
                for x in v.iter().flatten() {
                    *counts.entry(x.as_str()).or_default() += 1;
                }
                s.distinct = counts.len();
                let mut by_count: Vec<(&str, usize)> = counts.into_iter().collect();
                by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
                s.categories = by_count.into_iter().take(50).map(|(k, _)| k.to_owned()).collect();
            }
        }
        s
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
        (0..self.rows.min(n))
            .map(|r| {
                self.columns
                    .iter()
                    .map(|c| match &c.values {
                        Values::Numeric(v) => v[r].map(|x| x.to_string()).unwrap_or_default(),
                        Values::Boolean(v) => v[r].map(|x| x.to_string()).unwrap_or_default(),
                        Values::Categorical(v) => v[r].clone().unwrap_or_default(),
                    })
                    .collect()
            })
            .collect()
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

    #[test]
    fn the_line_guard_sees_a_long_line_across_chunks_and_ignores_quoted_newlines() {
        let mut g = LineGuard::new();
        assert!(g.feed(b"a,\"x\ny\"\n", 8).is_ok());
        assert!(g.feed(&[b'z'; 5], 8).is_ok());
        assert_eq!(g.feed(&[b'z'; 5], 8).map_err(|e| e.line), Err(2));
    }
}
