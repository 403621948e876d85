//! The model templates a licence can allow, their bounded hyperparameters, and the network: a
//! stack of linear layers with ReLU between them (none for logistic regression).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::store::ModuleRecord;
use burn::tensor::activation::relu;
use burn::tensor::{Bytes, Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::prep::{Missing, Preprocessing, Split, Task};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Template {
    /// input → 64 relu → 64 relu → 1 sigmoid, Adam, binary cross-entropy: the reference model.
    TabularBinaryMlp,
    /// Softmax cross-entropy over the target's classes.
    TabularMulticlassMlp,
    /// Mean squared error on the (standardised) target.
    TabularRegressionMlp,
    /// One linear layer and a sigmoid.
    LogisticRegression,
}

impl Template {
    pub const ALL: [Template; 4] = [Template::TabularBinaryMlp, Template::TabularMulticlassMlp, Template::TabularRegressionMlp, Template::LogisticRegression];

    pub fn as_str(self) -> &'static str {
        match self {
            Template::TabularBinaryMlp => "tabular-binary-mlp",
            Template::TabularMulticlassMlp => "tabular-multiclass-mlp",
            Template::TabularRegressionMlp => "tabular-regression-mlp",
            Template::LogisticRegression => "logistic-regression",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    pub fn task(self) -> Task {
        match self {
            Template::TabularBinaryMlp | Template::LogisticRegression => Task::Binary,
            Template::TabularMulticlassMlp => Task::Multiclass,
            Template::TabularRegressionMlp => Task::Regression,
        }
    }

    pub fn default_hidden(self) -> Vec<usize> {
        match self {
            Template::LogisticRegression => Vec::new(),
            _ => vec![64, 64],
        }
    }
}

/// A training run's settings, each bounded: what a licensee may ask for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Hyper {
    pub template: Template,
    pub target: String,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default = "default_epochs")]
    pub epochs: u32,
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    #[serde(default = "default_lr")]
    pub learning_rate: f64,
    /// Hidden layer sizes; the template's when absent.
    pub hidden: Option<Vec<usize>>,
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Stop after this many epochs without a better validation loss (0: never).
    #[serde(default)]
    pub patience: u32,
    #[serde(default)]
    pub missing: Missing,
    #[serde(default)]
    pub split: Split,
}

fn default_epochs() -> u32 {
    5
}
fn default_batch() -> usize {
    256
}
fn default_lr() -> f64 {
    1e-3
}
fn default_seed() -> u64 {
    42
}

impl Hyper {
    pub fn new(template: Template, target: &str) -> Self {
        Self {
            template,
            target: target.to_owned(),
            exclude: Vec::new(),
            epochs: default_epochs(),
            batch_size: default_batch(),
            learning_rate: default_lr(),
            hidden: None,
            seed: default_seed(),
            patience: 0,
            missing: Missing::Zero,
            split: Split::Shuffled,
        }
    }

    /// Checks every bound; the error names the field.
    pub fn check(&self) -> Result<(), TrainError> {
        let bad = |f: &str, m: &str| Err(TrainError::Invalid { field: f.to_owned(), message: m.to_owned() });
        if !(1..=500).contains(&self.epochs) {
            return bad("epochs", "must be between 1 and 500");
        }
        if !(1..=8192).contains(&self.batch_size) {
            return bad("batch_size", "must be between 1 and 8192");
        }
        if !(self.learning_rate.is_finite() && (1e-6..=1.0).contains(&self.learning_rate)) {
            return bad("learning_rate", "must be between 0.000001 and 1");
        }
        if let Some(h) = &self.hidden {
            if self.template == Template::LogisticRegression && !h.is_empty() {
                return bad("hidden", "logistic regression has no hidden layers");
            }
            if h.len() > 4 || h.iter().any(|n| !(1..=1024).contains(n)) {
                return bad("hidden", "at most 4 hidden layers of 1 to 1024 units");
            }
        }
        if self.patience > 100 {
            return bad("patience", "must be at most 100");
        }
        if self.target.trim().is_empty() {
            return bad("target", "name the column to predict");
        }
        if self.exclude.len() > 1000 {
            return bad("exclude", "too many columns");
        }
        Ok(())
    }

    pub fn hidden_sizes(&self) -> Vec<usize> {
        self.hidden.clone().unwrap_or_else(|| self.template.default_hidden())
    }
}

/// Linear layers with ReLU between them; the last layer gives logits (or the regression value).
#[derive(Module, Debug)]
pub struct Net {
    pub hidden: Vec<Linear>,
    pub output: Linear,
}

impl Net {
    pub fn new(inputs: usize, hidden: &[usize], outputs: usize, device: &Device) -> Self {
        let mut layers = Vec::with_capacity(hidden.len());
        let mut width = inputs;
        for h in hidden {
            layers.push(LinearConfig::new(width, *h).init(device));
            width = *h;
        }
        Self { hidden: layers, output: LinearConfig::new(width, outputs).init(device) }
    }

    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let mut h = x;
        for l in &self.hidden {
            h = relu(l.forward(h));
        }
        self.output.forward(h)
    }
}

/// Output units for a task.
pub fn outputs(task: Task, classes: usize) -> usize {
    match task {
        Task::Multiclass => classes,
        Task::Binary | Task::Regression => 1,
    }
}

/// Largest weights file accepted (the biggest allowed network is a few MiB).
pub const MAX_WEIGHTS: usize = 64 * 1024 * 1024;

/// The number of f32 parameters of the network `prep` and `hyper` describe.
fn expected_params(prep: &Preprocessing, hyper: &Hyper) -> usize {
    let mut width = prep.width;
    let mut n = 0;
    for h in hyper.hidden_sizes() {
        n += width * h + h;
        width = h;
    }
    let out = outputs(prep.task, prep.classes.len());
    n + width * out + out
}

/// The network `prep` and `hyper` describe, with `weights` loaded onto `device` (an autodiff
/// device for fine-tuning, a plain one for prediction). Checked as [`load`] checks.
pub(crate) fn load_net(weights: &[u8], prep: &Preprocessing, hyper: &Hyper, device: &Device) -> Result<Net, TrainError> {
    hyper.check()?;
    if weights.len() > MAX_WEIGHTS {
        return Err(TrainError::Model(format!("the weights file is larger than {MAX_WEIGHTS} bytes")));
    }
    // The parameters alone take 4 bytes each; a file much smaller or larger than that is not the
    // weights of this model.
    let params = expected_params(prep, hyper);
    if weights.len() < params * 4 || weights.len() > params * 4 + 1024 * 1024 {
        return Err(TrainError::Model(format!("the weights file has {} bytes; this model needs about {}", weights.len(), params * 4)));
    }
    let bytes = weights.to_vec();
    let fresh = Net::new(prep.width, &hyper.hidden_sizes(), outputs(prep.task, prep.classes.len()), device);
    // burn validates the record's structure; the unwind guard is a last line for a decoder that
    // panics on input it did not expect.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes)).map_err(|e| TrainError::Model(e.to_string()))?;
        fresh.try_load_record(record.validate(true)).map_err(|e| TrainError::Model(e.to_string()))
    }))
    .map_err(|_| TrainError::Model("the weights file could not be read".into()))?
}
