//! From a parsed table to the model's numbers: the seeded split (stratified for classification,
//! or the file's order), missing values (zero or the training mean), z-scores with the training
//! split's statistics only, one-hot categoricals (the training split's 32 most frequent values),
//! and the target encoded for the task. The statistics are kept so that prediction applies
//! exactly the same transformation.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::data::{Column, Kind, Table, Values};

/// Categories kept per categorical column; the rest share no column (all zeros).
pub const MAX_CATEGORIES: usize = 32;
/// Classes a multiclass target may have.
pub const MAX_CLASSES: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    Binary,
    Multiclass,
    Regression,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Missing {
    #[default]
    Zero,
    Mean,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// Seeded shuffle (stratified by class for classification), 80 % train.
    #[default]
    Shuffled,
    /// The first 80 % of rows train, the rest validate (the peers' recipe, for benchmarks).
    Ordered,
}

/// How one input column becomes features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Feature {
    /// Numeric or boolean: (value or fill − mean) / std.
    Scaled { column: String, fill: f64, mean: f64, std: f64 },
    /// One column per kept category.
    OneHot { column: String, categories: Vec<String> },
}

/// Everything prediction needs to transform new rows like the training rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Preprocessing {
    pub task: Task,
    pub target: String,
    pub features: Vec<Feature>,
    pub width: usize,
    /// Binary and multiclass: the class labels in index order.
    pub classes: Vec<String>,
    /// Regression: the target's training mean and std (the model learns the z-score).
    pub target_mean: f64,
    pub target_std: f64,
}

/// Rows as a dense row-major matrix, with targets.
#[derive(Debug, Clone, Default)]
pub struct Matrix {
    pub rows: usize,
    pub width: usize,
    pub x: Vec<f32>,
    /// Binary: 0/1; multiclass: class index; regression: the scaled target.
    pub y: Vec<f32>,
}

/// A small, fast, seeded generator (SplitMix64): shuffles must be reproducible everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

fn bad(message: impl Into<String>) -> TrainError {
    TrainError::Data(message.into())
}

/// Each row's target as a code into its distinct values (as text: classes, or numbers for
/// regression), so that a million labels cost four bytes each rather than a string each.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Labels {
    codes: Vec<u32>,
    names: Vec<String>,
}

impl Labels {
    const MISSING: u32 = u32::MAX;

    pub fn from_texts<S: AsRef<str>>(texts: impl IntoIterator<Item = Option<S>>) -> Self {
        let mut index: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
        let mut labels = Self::default();
        for t in texts {
            let code = match t {
                None => Self::MISSING,
                Some(t) => match index.get(t.as_ref()) {
                    Some(c) => *c,
                    None => {
                        let c = u32::try_from(labels.names.len()).unwrap_or(Self::MISSING);
                        index.insert(t.as_ref().to_owned(), c);
                        labels.names.push(t.as_ref().to_owned());
                        c
                    }
                },
            };
            labels.codes.push(code);
        }
        labels
    }

    pub fn len(&self) -> usize {
        self.codes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// Row `r`'s label, `None` when missing.
    pub fn get(&self, r: usize) -> Option<&str> {
        self.codes.get(r).and_then(|c| self.names.get(*c as usize)).map(String::as_str)
    }
}

fn target_labels(table: &Table, target: &str) -> Result<Labels, TrainError> {
    let col = table.column(target).ok_or_else(|| bad(format!("there is no column {target:?}")))?;
    Ok(Labels::from_texts((0..table.rows).map(|r| col.text(r))))
}

/// Row indices of the training and validation splits.
pub fn split(labels: &Labels, task: Task, how: Split, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let rows: Vec<usize> = (0..labels.len()).filter(|i| labels.get(*i).is_some()).collect();
    match (how, task) {
        (Split::Ordered, _) => {
            let n_train = rows.len() * 8 / 10;
            (rows[..n_train].to_vec(), rows[n_train..].to_vec())
        }
        (Split::Shuffled, Task::Regression) => {
            let mut r = rows;
            Rng::new(seed).shuffle(&mut r);
            let n_train = r.len() * 8 / 10;
            let valid = r.split_off(n_train);
            (r, valid)
        }
        (Split::Shuffled, _) => {
            // Stratified: 80 % of each class trains.
            let mut by_class: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
            for i in rows {
                if let Some(l) = labels.get(i) {
                    by_class.entry(l).or_default().push(i);
                }
            }
            // Each class gets 80 % of its rows, rounded down, and the rows left over by rounding
            // go to the classes with the largest remainders: exactly 80 % of all rows train, which
            // is what a launch reserves.
            let total: usize = by_class.values().map(Vec::len).sum();
            let mut quota: Vec<(usize, usize)> = by_class.values().map(|idx| (idx.len() * 8 / 10, (idx.len() * 8) % 10)).collect();
            let mut short = total * 8 / 10 - quota.iter().map(|q| q.0).sum::<usize>();
            let mut order: Vec<usize> = (0..quota.len()).collect();
            order.sort_by(|a, b| quota[*b].1.cmp(&quota[*a].1).then(a.cmp(b)));
            for i in order {
                if short == 0 {
                    break;
                }
                quota[i].0 += 1;
                short -= 1;
            }
            let mut rng = Rng::new(seed);
            let (mut train, mut valid) = (Vec::new(), Vec::new());
            for ((_, mut idx), (n_train, _)) in by_class.into_iter().zip(quota) {
                rng.shuffle(&mut idx);
                valid.extend_from_slice(&idx[n_train..]);
                idx.truncate(n_train);
                train.extend(idx);
            }
            rng.shuffle(&mut train);
            rng.shuffle(&mut valid);
            (train, valid)
        }
    }
}

/// Fits the preprocessing on the training rows.
pub fn fit(table: &Table, target: &str, exclude: &[String], task: Task, missing: Missing, train: &[usize]) -> Result<Preprocessing, TrainError> {
    let labels = target_labels(table, target)?;
    let mut features = Vec::new();
    let mut width = 0;
    for col in table.columns.iter().filter(|c| c.name != target && !exclude.contains(&c.name)) {
        match col.kind() {
            Kind::Numeric | Kind::Boolean => {
                let value = |r: usize| col.number(r);
                let present: Vec<f64> = train.iter().filter_map(|r| value(*r)).collect();
                let present_mean = if present.is_empty() { 0.0 } else { present.iter().sum::<f64>() / present.len() as f64 };
                let fill = match missing {
                    Missing::Zero => 0.0,
                    Missing::Mean => present_mean,
                };
                let filled: Vec<f64> = train.iter().map(|r| value(*r).unwrap_or(fill)).collect();
                let n = filled.len().max(1) as f64;
                let mean = filled.iter().sum::<f64>() / n;
                let var = filled.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
                let std = var.sqrt().max(1e-12);
                features.push(Feature::Scaled { column: col.name.clone(), fill, mean, std });
                width += 1;
            }
            Kind::Categorical => {
                let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
                for r in train {
                    if let Some(s) = col.category(*r) {
                        *counts.entry(s).or_default() += 1;
                    }
                }
                let mut ranked: Vec<(&str, usize)> = counts.into_iter().collect();
                ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
                let categories: Vec<String> = ranked.into_iter().take(MAX_CATEGORIES).map(|(k, _)| k.to_owned()).collect();
                width += categories.len();
                features.push(Feature::OneHot { column: col.name.clone(), categories });
            }
        }
    }
    if width == 0 {
        return Err(bad("no feature columns are left once the target and the excluded columns are removed"));
    }
    let mut prep = Preprocessing { task, target: target.to_owned(), features, width, classes: Vec::new(), target_mean: 0.0, target_std: 1.0 };
    match task {
        Task::Binary | Task::Multiclass => {
            let mut classes: Vec<String> =
                train.iter().filter_map(|r| labels.get(*r)).collect::<std::collections::BTreeSet<_>>().into_iter().map(str::to_owned).collect();
            // Numeric labels in numeric order ("2" before "10").
            if classes.iter().all(|c| c.parse::<f64>().is_ok()) {
                classes.sort_by(|a, b| a.parse::<f64>().unwrap_or(0.0).total_cmp(&b.parse::<f64>().unwrap_or(0.0)));
            }
            if task == Task::Binary && classes.len() != 2 {
                return Err(bad(format!("a binary target needs exactly two values in the training rows; {target:?} has {}", classes.len())));
            }
            if task == Task::Multiclass && !(2..=MAX_CLASSES).contains(&classes.len()) {
                return Err(bad(format!("a multiclass target needs 2 to {MAX_CLASSES} classes; {target:?} has {}", classes.len())));
            }
            prep.classes = classes;
        }
        Task::Regression => {
            let values: Vec<f64> = train.iter().filter_map(|r| labels.get(*r).and_then(|s| s.parse::<f64>().ok())).collect();
            if values.len() != train.len() {
                return Err(bad(format!("a regression target must be numeric; {target:?} is not")));
            }
            let n = values.len().max(1) as f64;
            let mean = values.iter().sum::<f64>() / n;
            prep.target_mean = mean;
            prep.target_std = (values.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt().max(1e-12);
        }
    }
    Ok(prep)
}

/// One input column a fitted preprocessing reads, and the kind it must have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Input {
    pub column: String,
    /// Scaled features need numbers (or booleans); one-hot features read any kind as text.
    pub numeric: bool,
}

/// Why a table cannot be read by a fitted preprocessing: each named by its column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SchemaProblem {
    pub column: String,
    pub problem: String,
}

/// The problems of a table's columns (name, kind) against `prep`: a feature or target column
/// missing, or a numeric feature that arrives as text. Extra columns are no problem (they are
/// left out). An empty answer means the table can be read.
pub fn schema_problems(prep: &Preprocessing, columns: &[(String, Kind)]) -> Vec<SchemaProblem> {
    let kind = |name: &str| columns.iter().find(|(n, _)| n == name).map(|(_, k)| *k);
    let mut problems = Vec::new();
    for input in prep.inputs() {
        match kind(&input.column) {
            None => problems.push(SchemaProblem { column: input.column, problem: "missing: the base model reads it".into() }),
            Some(Kind::Categorical) if input.numeric => {
                problems.push(SchemaProblem { column: input.column, problem: "is text here; the base model reads it as a number".into() })
            }
            Some(_) => {}
        }
    }
    if kind(&prep.target).is_none() {
        problems.push(SchemaProblem { column: prep.target.clone(), problem: "missing: the base model predicts it".into() });
    }
    problems
}

impl Preprocessing {
    /// The input columns, in feature order.
    pub fn inputs(&self) -> Vec<Input> {
        self.features
            .iter()
            .map(|f| match f {
                Feature::Scaled { column, .. } => Input { column: column.clone(), numeric: true },
                Feature::OneHot { column, .. } => Input { column: column.clone(), numeric: false },
            })
            .collect()
    }

    /// This preprocessing refit on other training rows for fine-tuning: the same features in the
    /// same order with the same categories and classes (so that each of the base model's input
    /// weights still reads the quantity it was trained on), but the numeric fill, mean and spread
    /// (and a regression target's scale) taken from `train`. A class the base model does not know
    /// is refused: its output layer has no unit for it.
    pub fn refit(&self, table: &Table, missing: Missing, train: &[usize]) -> Result<Preprocessing, TrainError> {
        let mut out = self.clone();
        for f in &mut out.features {
            if let Feature::Scaled { column, fill, mean, std } = f {
                let col = table.column(column).ok_or_else(|| bad(format!("the data has no column {column:?}")))?;
                let present: Vec<f64> = train.iter().filter_map(|r| col.number(*r)).collect();
                let present_mean = if present.is_empty() { 0.0 } else { present.iter().sum::<f64>() / present.len() as f64 };
                *fill = match missing {
                    Missing::Zero => 0.0,
                    Missing::Mean => present_mean,
                };
                let filled: Vec<f64> = train.iter().map(|r| col.number(*r).unwrap_or(*fill)).collect();
                let n = filled.len().max(1) as f64;
                *mean = filled.iter().sum::<f64>() / n;
                *std = (filled.iter().map(|x| (x - *mean) * (x - *mean)).sum::<f64>() / n).sqrt().max(1e-12);
            }
        }
        if self.task == Task::Regression {
            let labels = target_labels(table, &self.target)?;
            let values: Vec<f64> = train.iter().filter_map(|r| labels.get(*r).and_then(|s| s.parse::<f64>().ok())).collect();
            if values.len() != train.len() {
                return Err(bad(format!("a regression target must be numeric; {:?} is not", self.target)));
            }
            let n = values.len().max(1) as f64;
            out.target_mean = values.iter().sum::<f64>() / n;
            out.target_std = (values.iter().map(|x| (x - out.target_mean) * (x - out.target_mean)).sum::<f64>() / n).sqrt().max(1e-12);
        }
        Ok(out)
    }

    /// Refuses a table whose target has values outside the classes this preprocessing knows.
    pub fn check_classes(&self, table: &Table, rows: &[usize]) -> Result<(), TrainError> {
        if self.task == Task::Regression {
            return Ok(());
        }
        let labels = target_labels(table, &self.target)?;
        let unknown: std::collections::BTreeSet<&str> =
            rows.iter().filter_map(|r| labels.get(*r)).filter(|l| !self.classes.iter().any(|c| c == l)).take(10).collect();
        if !unknown.is_empty() {
            return Err(bad(format!(
                "{:?} has the value(s) {} the base model does not know; it predicts {}",
                self.target,
                unknown.into_iter().collect::<Vec<_>>().join(", "),
                self.classes.join(", ")
            )));
        }
        Ok(())
    }

    /// Transforms `rows` of `table` (targets included when the table has the target column).
    pub fn transform(&self, table: &Table, rows: &[usize]) -> Result<Matrix, TrainError> {
        let batcher = self.batcher(table)?;
        let mut m = Matrix { rows: rows.len(), width: self.width, x: Vec::new(), y: Vec::new() };
        batcher.fill(rows, &mut m.x, &mut m.y);
        Ok(m)
    }

    /// Transforms two sets of rows (each sorted ascending) of a table it consumes chunk by chunk:
    /// each chunk's arrays are freed once its rows are in the matrices, so the table and its
    /// features are never both whole in memory. The matrices hold the rows in table order.
    pub fn transform_consuming(&self, table: Table, sets: [&[usize]; 2]) -> Result<[Matrix; 2], TrainError> {
        let mut out =
            sets.map(|rows| Matrix { rows: rows.len(), width: self.width, x: Vec::with_capacity(rows.len() * self.width), y: Vec::with_capacity(rows.len()) });
        let mut next = [0usize; 2];
        let mut base = 0;
        for chunk in table.into_chunks() {
            let end = base + chunk.rows;
            let batcher = self.batcher(&chunk)?;
            for (k, rows) in sets.iter().enumerate() {
                let from = next[k];
                let upto = from + rows[from..].iter().take_while(|r| **r < end).count();
                let local: Vec<usize> = rows[from..upto].iter().map(|r| r - base).collect();
                let Matrix { x, y, .. } = &mut out[k];
                batcher.append(&local, x, y);
                next[k] = upto;
            }
            base = end;
        }
        Ok(out)
    }

    /// Resolves this preprocessing against `table` once (columns found, each chunk's categories
    /// mapped to their one-hot positions, every row's target encoded), so that batches of rows
    /// are transformed as they are drawn, at the cost of copying numbers.
    pub fn batcher<'t>(&self, table: &'t Table) -> Result<Batcher<'t>, TrainError> {
        let mut parts = Vec::with_capacity(self.features.len());
        let mut offset = 0;
        for f in &self.features {
            match f {
                Feature::Scaled { column, fill, mean, std } => {
                    let col = table.column(column).ok_or_else(|| bad(format!("the data has no column {column:?}")))?;
                    if col.kind() == Kind::Categorical {
                        return Err(bad(format!("column {column:?} was numeric in training and is text here")));
                    }
                    parts.push(Part::Scaled { col, offset, fill: *fill, mean: *mean, std: *std });
                    offset += 1;
                }
                Feature::OneHot { column, categories } => {
                    let col = table.column(column).ok_or_else(|| bad(format!("the data has no column {column:?}")))?;
                    let index: HashMap<&str, u32> = categories.iter().enumerate().map(|(i, c)| (c.as_str(), i as u32)).collect();
                    let positions = match &col.values {
                        Values::Categorical(chunks) => {
                            Some(chunks.iter().map(|ch| ch.dictionary.iter().map(|v| v.and_then(|s| index.get(s).copied())).collect::<Vec<_>>()).collect())
                        }
                        _ => None,
                    };
                    let by_text = positions.is_none().then(|| categories.iter().enumerate().map(|(i, c)| (c.clone(), i as u32)).collect());
                    parts.push(Part::OneHot { col, offset, positions, by_text });
                    offset += categories.len();
                }
            }
        }
        // Every row's target, once: a class position, or the scaled regression value.
        let y = match table.column(&self.target) {
            None => None,
            Some(_) => {
                let labels = target_labels(table, &self.target)?;
                let per_name: Vec<f32> = labels
                    .names
                    .iter()
                    .map(|label| match self.task {
                        Task::Binary | Task::Multiclass => self.classes.iter().position(|c| c == label).map_or(0.0, |p| p as f32),
                        Task::Regression => ((label.parse::<f64>().unwrap_or(self.target_mean) - self.target_mean) / self.target_std) as f32,
                    })
                    .collect();
                // A row without a target is in neither split; 0 keeps the vector indexable.
                Some(labels.codes.iter().map(|c| per_name.get(*c as usize).copied().unwrap_or(0.0)).collect())
            }
        };
        Ok(Batcher { width: self.width, parts, y })
    }
}

/// [`Preprocessing::batcher`]: a preprocessing bound to one table.
pub struct Batcher<'t> {
    width: usize,
    parts: Vec<Part<'t>>,
    /// Per table row; `None` when the table has no target column (prediction).
    y: Option<Vec<f32>>,
}

enum Part<'t> {
    Scaled {
        col: &'t Column,
        offset: usize,
        fill: f64,
        mean: f64,
        std: f64,
    },
    OneHot {
        col: &'t Column,
        offset: usize,
        /// Categorical columns: per chunk, each dictionary key's one-hot position.
        positions: Option<Vec<Vec<Option<u32>>>>,
        /// Other columns (numbers one-hot as their text).
        by_text: Option<HashMap<String, u32>>,
    },
}

impl Batcher<'_> {
    /// Writes the features of `rows` into `x` (row-major) and their targets into `y` (when known),
    /// replacing what the vectors held.
    pub fn fill(&self, rows: &[usize], x: &mut Vec<f32>, y: &mut Vec<f32>) {
        x.clear();
        y.clear();
        self.append(rows, x, y);
    }

    /// [`Self::fill`], after what the vectors hold.
    pub fn append(&self, rows: &[usize], x: &mut Vec<f32>, y: &mut Vec<f32>) {
        let start = x.len();
        x.resize(start + rows.len() * self.width, 0.0);
        let x = &mut x[start..];
        for part in &self.parts {
            match part {
                Part::Scaled { col, offset, fill, mean, std } => {
                    for (i, r) in rows.iter().enumerate() {
                        x[i * self.width + offset] = ((col.number(*r).unwrap_or(*fill) - mean) / std) as f32;
                    }
                }
                Part::OneHot { col, offset, positions, by_text } => {
                    for (i, r) in rows.iter().enumerate() {
                        let hit = match (positions, by_text) {
                            (Some(p), _) => col.category_key(*r).and_then(|(chunk, key)| p.get(chunk).and_then(|keys| keys.get(key).copied().flatten())),
                            (None, Some(t)) => col.text(*r).and_then(|s| t.get(s.as_ref()).copied()),
                            (None, None) => None,
                        };
                        if let Some(k) = hit {
                            x[i * self.width + offset + k as usize] = 1.0;
                        }
                    }
                }
            }
        }
        if let Some(all) = &self.y {
            y.extend(rows.iter().map(|r| all.get(*r).copied().unwrap_or(0.0)));
        }
    }
}

/// The target's labels, for the split.
pub fn labels(table: &Table, target: &str) -> Result<Labels, TrainError> {
    target_labels(table, target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Limits, parse_csv};

    #[test]
    fn statistics_come_from_the_training_rows_only_and_categories_become_columns() {
        let t = parse_csv(b"x,c,y\n1,a,0\n3,b,1\n,a,0\n100,z,1\n", &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
        let p = fit(&t, "y", &[], Task::Binary, Missing::Mean, &[0, 1, 2]).unwrap_or_else(|e| panic!("{e}"));
        // Train rows 0..3: x = 1, 3, missing → mean 2 fills it: mean 2, std sqrt(2/3).
        assert_eq!(p.features[0], Feature::Scaled { column: "x".into(), fill: 2.0, mean: 2.0, std: (2.0f64 / 3.0).sqrt() });
        assert_eq!(p.features[1], Feature::OneHot { column: "c".into(), categories: vec!["a".into(), "b".into()] });
        let m = p.transform(&t, &[3]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.x.len(), 3);
        assert!(m.x[0] > 100.0, "the validation row is scaled with the training statistics");
        assert_eq!(&m.x[1..], &[0.0, 0.0], "an unseen category sets no column");
        assert_eq!(m.y, vec![1.0]);
    }

    #[test]
    fn consuming_the_table_chunk_by_chunk_gives_the_same_features() {
        let mut csv = String::from("x,c,y\n");
        for r in 0..(2 * crate::data::CHUNK + 500) {
            let x = if r % 13 == 0 { String::new() } else { format!("{}", r % 97) };
            csv.push_str(&format!("{x},{},{}\n", ["a", "b", "c", "d"][r % 4], r % 2));
        }
        let t = parse_csv(csv.as_bytes(), &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
        let train: Vec<usize> = (0..t.rows).filter(|r| r % 5 != 0).collect();
        let valid: Vec<usize> = (0..t.rows).filter(|r| r % 5 == 0).collect();
        let p = fit(&t, "y", &[], Task::Binary, Missing::Mean, &train).unwrap_or_else(|e| panic!("{e}"));
        let whole = [p.transform(&t, &train), p.transform(&t, &valid)].map(|m| m.unwrap_or_else(|e| panic!("{e}")));
        let consumed = p.transform_consuming(t, [&train, &valid]).unwrap_or_else(|e| panic!("{e}"));
        for (a, b) in whole.iter().zip(&consumed) {
            assert_eq!((a.rows, a.width, &a.x, &a.y), (b.rows, b.width, &b.x, &b.y));
        }
        assert_eq!(consumed[0].x.len(), train.len() * 5, "x, then one column per category a-d");
    }

    #[test]
    fn stratified_split_keeps_each_class_near_eighty_percent_and_is_seeded() {
        let labels = Labels::from_texts((0..1000).map(|i| Some(if i % 10 == 0 { "1" } else { "0" })));
        let (train, valid) = split(&labels, Task::Binary, Split::Shuffled, 7);
        assert_eq!((train.len(), valid.len()), (800, 200));
        assert_eq!(train.iter().filter(|i| *i % 10 == 0).count(), 80);
        // 7 rows of one class, 6 of another: 13 × 0.8 = 10.4 → exactly 10 train.
        let odd = Labels::from_texts((0..13).map(|i| Some(if i < 7 { "a" } else { "b" })));
        assert_eq!(split(&odd, Task::Binary, Split::Shuffled, 1).0.len(), 10);
        assert_eq!(split(&labels, Task::Binary, Split::Shuffled, 7), (train.clone(), valid));
        assert_ne!(split(&labels, Task::Binary, Split::Shuffled, 8).0, train);
    }
}
