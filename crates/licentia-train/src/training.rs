//! The training loop: batches cut from a row-major matrix on the host, Adam, the task's loss,
//! validation metrics after every epoch, a progress callback after every batch, a cancellation
//! flag checked before every batch, early stopping that keeps the best epoch's weights.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::{sigmoid, softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::data::Table;
use crate::metrics::{self, EpochMetrics};
use crate::model::{Hyper, Net, outputs};
use crate::prep::{self, Matrix, Preprocessing, Rng, Task};

/// Reported after every batch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Progress {
    pub epoch: u32,
    pub epochs: u32,
    pub batch: usize,
    pub batches: usize,
    /// Mean training loss of the epoch so far.
    pub loss: f64,
}

/// What a run produced.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Outcome {
    pub metrics: Vec<EpochMetrics>,
    pub preprocessing: Preprocessing,
    pub hyper: Hyper,
    /// The best epoch's weights (burn record bytes).
    #[serde(skip)]
    pub weights: Vec<u8>,
    pub best_epoch: u32,
    pub epochs_done: u32,
    pub train_rows: usize,
    pub valid_rows: usize,
    pub cancelled: bool,
    /// Seconds spent in training passes (validation excluded), for throughput figures.
    pub train_seconds: f64,
}

impl Outcome {
    /// Compute units used: the training rows × the epochs done × the model's multiply-adds
    /// (see [`crate::cost`]).
    pub fn compute_units(&self) -> u64 {
        let outputs = crate::model::outputs(self.preprocessing.task, self.preprocessing.classes.len());
        let forward = crate::cost::forward_macs(self.preprocessing.width, &self.hyper.hidden_sizes(), outputs);
        crate::cost::units(self.train_rows as u64, u64::from(self.epochs_done), forward)
    }
}

pub(crate) fn tensor2(data: &[f32], rows: usize, width: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(data.to_vec(), [rows, width]), device)
}

fn loss_of(net: &Net, task: Task, x: Tensor<2>, y: &[f32], device: &Device) -> Tensor<1> {
    let out = net.forward(x);
    let n = y.len();
    match task {
        Task::Binary => {
            // Binary cross-entropy on logits, the numerically stable form:
            // max(z, 0) − z·y + log(1 + e^−|z|).
            let t = tensor2(y, n, 1, device);
            (out.clone().clamp_min(0.0) - out.clone() * t + out.abs().neg().exp().log1p()).mean()
        }
        Task::Multiclass => {
            let targets: Vec<i64> = y.iter().map(|c| *c as i64).collect();
            let t = Tensor::<1, Int>::from_data(TensorData::new(targets, [n]), device);
            CrossEntropyLossConfig::new().init(device).forward(out, t)
        }
        Task::Regression => {
            let t = tensor2(y, n, 1, device);
            let d = out - t;
            (d.clone() * d).mean()
        }
    }
}

/// The network's outputs for `m` in evaluation mode, as host values: probabilities (binary),
/// class probabilities row-major (multiclass), or scaled regression values.
pub(crate) fn scores(net: &Net, task: Task, m: &Matrix, device: &Device) -> Result<Vec<f32>, TrainError> {
    let mut out = Vec::with_capacity(m.rows * 2);
    let chunk = 8192;
    let mut start = 0;
    while start < m.rows {
        let end = (start + chunk).min(m.rows);
        let x = tensor2(&m.x[start * m.width..end * m.width], end - start, m.width, device);
        let y = net.forward(x);
        let y = match task {
            Task::Binary => sigmoid(y),
            Task::Multiclass => softmax(y, 1),
            Task::Regression => y,
        };
        let v = y.into_data().convert::<f32>().try_into_vec::<f32>().map_err(|e| TrainError::Engine(format!("{e:?}")))?;
        out.extend(v);
        start = end;
    }
    Ok(out)
}

fn evaluate(net: &Net, prep: &Preprocessing, valid: &Matrix, device: &Device, epoch: u32, train_loss: f64) -> Result<EpochMetrics, TrainError> {
    let s = scores(net, prep.task, valid, device)?;
    let mut m = EpochMetrics { epoch, train_loss, ..Default::default() };
    match prep.task {
        Task::Binary => {
            let p: Vec<f64> = s.iter().map(|v| f64::from(*v)).collect();
            let labels: Vec<bool> = valid.y.iter().map(|y| *y >= 0.5).collect();
            m.valid_loss =
                p.iter().zip(&labels).map(|(p, l)| -(if *l { p.max(1e-7).ln() } else { (1.0 - p).max(1e-7).ln() })).sum::<f64>() / p.len().max(1) as f64;
            let (acc, precision, recall, f1) = metrics::binary(&p, &labels);
            m.accuracy = Some(acc);
            m.precision = Some(precision);
            m.recall = Some(recall);
            m.f1 = Some(f1);
            m.auc = metrics::auc(&p, &labels);
        }
        Task::Multiclass => {
            let k = prep.classes.len();
            let mut predicted = Vec::with_capacity(valid.rows);
            let mut nll = 0.0;
            for (r, y) in valid.y.iter().enumerate() {
                let row = &s[r * k..(r + 1) * k];
                let best = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i);
                predicted.push(best);
                nll -= f64::from(row[*y as usize].max(1e-7)).ln();
            }
            m.valid_loss = nll / valid.rows.max(1) as f64;
            let actual: Vec<usize> = valid.y.iter().map(|y| *y as usize).collect();
            let (acc, precision, recall, f1) = metrics::multiclass(&predicted, &actual, k);
            m.accuracy = Some(acc);
            m.precision = Some(precision);
            m.recall = Some(recall);
            m.f1 = Some(f1);
        }
        Task::Regression => {
            let pred: Vec<f64> = s.iter().map(|v| f64::from(*v) * prep.target_std + prep.target_mean).collect();
            let actual: Vec<f64> = valid.y.iter().map(|v| f64::from(*v) * prep.target_std + prep.target_mean).collect();
            m.valid_loss = s.iter().zip(&valid.y).map(|(p, y)| f64::from((p - y) * (p - y))).sum::<f64>() / valid.rows.max(1) as f64;
            let (rmse, mae, r2) = metrics::regression(&pred, &actual);
            m.rmse = Some(rmse);
            m.mae = Some(mae);
            m.r2 = Some(r2);
        }
    }
    Ok(m)
}

/// Trains `hyper` on `table`. `device` is a plain device (`Device::flex()`, a CUDA device, ...);
/// autodiff is added here.
pub fn train(table: &Table, hyper: &Hyper, device: &Device, on_progress: &mut dyn FnMut(&Progress), cancel: &AtomicBool) -> Result<Outcome, TrainError> {
    // A clone shares the arrays (reference counted): nothing is copied.
    train_observed(table.clone(), hyper, device, on_progress, &mut |_| {}, cancel)
}

/// [`train`], also reporting each epoch's validation metrics as soon as they are known (the
/// worker publishes them, so the run page's loss chart grows while the run trains). Takes the
/// table and frees it chunk by chunk as the feature matrices fill: a run holds one copy of the
/// data, in the row-major form batches are gathered from (fast), not two.
pub fn train_observed(
    table: Table,
    hyper: &Hyper,
    device: &Device,
    on_progress: &mut dyn FnMut(&Progress),
    on_epoch: &mut dyn FnMut(&EpochMetrics),
    cancel: &AtomicBool,
) -> Result<Outcome, TrainError> {
    run(table, hyper, None, device, on_progress, on_epoch, cancel)
}

/// Where a fine-tuning run starts: a published model version's weights with the preprocessing
/// and hyperparameters they were trained with.
#[derive(Debug, Clone, Copy)]
pub struct Base<'a> {
    pub weights: &'a [u8],
    pub preprocessing: &'a Preprocessing,
    pub hyper: &'a Hyper,
    /// The first this many layers (from the input) keep the base's weights: no gradient reaches
    /// them. At most the number of hidden layers (the output layer always trains).
    pub freeze: usize,
    /// Transform the new rows with the base's own statistics (`true`), or refit the numeric
    /// statistics on the new training rows keeping the base's features and categories (`false`).
    pub base_preprocessing: bool,
}

impl Base<'_> {
    /// What a fine-tuning run must agree on with its base: the template, the hidden layers and
    /// the target; and the frozen layers must leave something to train.
    pub fn check(&self, hyper: &Hyper) -> Result<(), TrainError> {
        let bad = |f: &str, m: String| Err(TrainError::Invalid { field: f.to_owned(), message: m });
        if hyper.template != self.hyper.template {
            return bad("template", format!("the base version is a {}; a fine-tuning run keeps its template", self.hyper.template.as_str()));
        }
        if hyper.hidden_sizes() != self.hyper.hidden_sizes() {
            return bad("hidden", format!("the base version's hidden layers are {:?}; a fine-tuning run keeps them", self.hyper.hidden_sizes()));
        }
        if hyper.target != self.preprocessing.target {
            return bad("target", format!("the base version predicts {:?}; a fine-tuning run predicts the same column", self.preprocessing.target));
        }
        if let Some(i) = self.preprocessing.inputs().into_iter().find(|i| hyper.exclude.contains(&i.column)) {
            return bad("exclude", format!("{:?} is an input of the base version; it cannot be left out", i.column));
        }
        let layers = self.hyper.hidden_sizes().len();
        if self.freeze > layers {
            return bad("freeze_layers", format!("at most {layers}: the output layer always trains"));
        }
        Ok(())
    }
}

/// Fine-tunes a published version on `table`: the network starts from `base`'s weights (checked
/// against its architecture as prediction checks them), its first `base.freeze` layers frozen,
/// the data transformed with the base's features; everything else as [`train_observed`].
pub fn fine_tune_observed(
    table: Table,
    hyper: &Hyper,
    base: &Base<'_>,
    device: &Device,
    on_progress: &mut dyn FnMut(&Progress),
    on_epoch: &mut dyn FnMut(&EpochMetrics),
    cancel: &AtomicBool,
) -> Result<Outcome, TrainError> {
    run(table, hyper, Some(base), device, on_progress, on_epoch, cancel)
}

fn run(
    table: Table,
    hyper: &Hyper,
    base: Option<&Base<'_>>,
    device: &Device,
    on_progress: &mut dyn FnMut(&Progress),
    on_epoch: &mut dyn FnMut(&EpochMetrics),
    cancel: &AtomicBool,
) -> Result<Outcome, TrainError> {
    hyper.check()?;
    if let Some(b) = base {
        b.check(hyper)?;
    }
    let task = hyper.template.task();
    if hyper.exclude.contains(&hyper.target) {
        return Err(TrainError::Invalid { field: "exclude".into(), message: "the target cannot be excluded".into() });
    }
    let labels = prep::labels(&table, &hyper.target)?;
    let (train_rows, valid_rows) = prep::split(&labels, task, hyper.split, hyper.seed);
    drop(labels);
    if train_rows.len() < 2 || valid_rows.is_empty() {
        return Err(TrainError::Data("too few rows with a target value to train and validate (at least 3 are needed)".into()));
    }
    let prep = match base {
        None => prep::fit(&table, &hyper.target, &hyper.exclude, task, hyper.missing, &train_rows)?,
        Some(b) => {
            let columns: Vec<(String, crate::data::Kind)> = table.columns.iter().map(|c| (c.name.clone(), c.kind())).collect();
            let problems = prep::schema_problems(b.preprocessing, &columns);
            if let Some(p) = problems.first() {
                return Err(TrainError::Data(format!("{}: {}", p.column, p.problem)));
            }
            let prep = if b.base_preprocessing { b.preprocessing.clone() } else { b.preprocessing.refit(&table, hyper.missing, &train_rows)? };
            prep.check_classes(&table, &train_rows)?;
            prep.check_classes(&table, &valid_rows)?;
            prep
        }
    };
    // The matrices hold their rows in table order (batches are drawn through a shuffled index),
    // so the table can be consumed chunk by chunk as they fill.
    let (mut train_rows, mut valid_rows) = (train_rows, valid_rows);
    train_rows.sort_unstable();
    valid_rows.sort_unstable();
    let [train_m, valid_m] = prep.transform_consuming(table, [&train_rows, &valid_rows])?;
    drop((train_rows, valid_rows));

    let train_device = device.clone().autodiff();
    train_device.seed(hyper.seed);
    let mut net = match base {
        None => Net::new(prep.width, &hyper.hidden_sizes(), outputs(task, prep.classes.len()), &train_device),
        Some(b) => {
            let mut net = crate::model::load_net(b.weights, b.preprocessing, b.hyper, &train_device)?;
            // A frozen layer's parameters take no gradient, so Adam never moves them.
            for layer in net.hidden.iter_mut().take(b.freeze) {
                *layer = layer.clone().no_grad();
            }
            net
        }
    };
    let mut optim = AdamConfig::new().with_epsilon(1e-7).init();
    let mut rng = Rng::new(hyper.seed.wrapping_add(1));
    let mut order: Vec<usize> = (0..train_m.rows).collect();
    let batches = train_m.rows.div_ceil(hyper.batch_size);
    let mut xb: Vec<f32> = Vec::with_capacity(hyper.batch_size * train_m.width);
    let mut yb: Vec<f32> = Vec::with_capacity(hyper.batch_size);
    let mut out = Outcome {
        metrics: Vec::new(),
        preprocessing: prep.clone(),
        hyper: hyper.clone(),
        weights: Vec::new(),
        best_epoch: 0,
        epochs_done: 0,
        train_rows: train_m.rows,
        valid_rows: valid_m.rows,
        cancelled: false,
        train_seconds: 0.0,
    };
    let mut best_loss = f64::INFINITY;
    let mut since_best = 0;
    for epoch in 1..=hyper.epochs {
        rng.shuffle(&mut order);
        let started = Instant::now();
        let (mut sampled, mut samples, mut loss_sum) = (0.0, 0u32, 0.0);
        for (b, chunk) in order.chunks(hyper.batch_size).enumerate() {
            if cancel.load(Ordering::Relaxed) {
                out.cancelled = true;
                out.train_seconds += started.elapsed().as_secs_f64();
                return finish(out, &net);
            }
            xb.clear();
            yb.clear();
            for &r in chunk {
                xb.extend_from_slice(&train_m.x[r * train_m.width..(r + 1) * train_m.width]);
                yb.push(train_m.y[r]);
            }
            let x = tensor2(&xb, chunk.len(), train_m.width, &train_device);
            let loss = loss_of(&net, task, x, &yb, &train_device);
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            // Reading the loss every batch would synchronise the backend; every 16th is enough
            // for a progress bar.
            if b % 16 == 0 || b + 1 == batches {
                sampled += f64::from(loss.clone().into_scalar::<f32>());
                samples += 1;
                loss_sum = sampled / f64::from(samples);
                on_progress(&Progress { epoch, epochs: hyper.epochs, batch: b + 1, batches, loss: loss_sum });
            }
            net = optim.step(hyper.learning_rate, net, grads);
        }
        out.train_seconds += started.elapsed().as_secs_f64();
        out.epochs_done = epoch;
        let valid_net = net.valid();
        let m = evaluate(&valid_net, &prep, &valid_m, device, epoch, loss_sum)?;
        let improved = m.valid_loss < best_loss;
        on_epoch(&m);
        out.metrics.push(m.clone());
        if improved {
            best_loss = m.valid_loss;
            out.best_epoch = epoch;
            out.weights = record_bytes(&valid_net)?;
            since_best = 0;
        } else {
            since_best += 1;
            if hyper.patience > 0 && since_best >= hyper.patience {
                break;
            }
        }
    }
    Ok(out)
}

fn record_bytes(net: &Net) -> Result<Vec<u8>, TrainError> {
    let bytes = net.clone().into_record().into_bytes().map_err(|e| TrainError::Engine(e.to_string()))?;
    Ok(bytes.to_vec())
}

/// A cancelled run keeps the best weights so far (or the current ones before any epoch ended).
fn finish(mut out: Outcome, net: &Net) -> Result<Outcome, TrainError> {
    if out.weights.is_empty() {
        out.weights = record_bytes(&net.valid())?;
    }
    Ok(out)
}
