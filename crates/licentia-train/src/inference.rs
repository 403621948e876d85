//! Prediction with saved weights. The weights are checked before burn reads them: their size
//! against the architecture the preprocessing and hyperparameters describe, then the record's own
//! structure; a malformed or hostile file is an error, never a panic or an allocation bomb.

use burn::module::Module;
use burn::tensor::Device;
use serde::Serialize;

use crate::TrainError;
use crate::data::Table;
use crate::model::{Hyper, Net};
use crate::prep::{Preprocessing, Task};
use crate::training::scores;

pub use crate::model::MAX_WEIGHTS;

pub struct Model {
    net: Net,
    prep: Preprocessing,
    device: Device,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Prediction {
    /// Binary and multiclass: the predicted class label.
    pub label: Option<String>,
    /// Binary: P(second class); multiclass: the predicted class's probability.
    pub probability: Option<f64>,
    /// Regression: the predicted value.
    pub value: Option<f64>,
}

pub fn load(weights: &[u8], prep: &Preprocessing, hyper: &Hyper, device: &Device) -> Result<Model, TrainError> {
    let net = crate::model::load_net(weights, prep, hyper, device)?;
    Ok(Model { net: net.valid(), prep: prep.clone(), device: device.clone() })
}

/// Checks that `weights` are the weights of the network `prep` and `hyper` describe, without
/// keeping them: what a published model version is checked with before it is stored.
pub fn check(weights: &[u8], prep: &Preprocessing, hyper: &Hyper) -> Result<(), TrainError> {
    if prep.width
        != prep
            .features
            .iter()
            .map(|f| match f {
                crate::prep::Feature::Scaled { .. } => 1,
                crate::prep::Feature::OneHot { categories, .. } => categories.len(),
            })
            .sum::<usize>()
    {
        return Err(TrainError::Model("the preprocessing's width is not the sum of its features".into()));
    }
    if prep.task != hyper.template.task() {
        return Err(TrainError::Model(format!("the preprocessing is for a {:?} task; {} is not", prep.task, hyper.template.as_str())));
    }
    crate::model::load_net(weights, prep, hyper, &crate::cpu()).map(|_| ())
}

impl Model {
    pub fn predict(&self, table: &Table) -> Result<Vec<Prediction>, TrainError> {
        let rows: Vec<usize> = (0..table.rows).collect();
        let m = self.prep.transform(table, &rows)?;
        let s = scores(&self.net, self.prep.task, &m, &self.device)?;
        Ok(match self.prep.task {
            Task::Binary => s
                .iter()
                .map(|p| Prediction { label: self.prep.classes.get(usize::from(*p >= 0.5)).cloned(), probability: Some(f64::from(*p)), value: None })
                .collect(),
            Task::Multiclass => {
                let k = self.prep.classes.len();
                s.chunks(k)
                    .map(|row| {
                        let (best, p) = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or((0, 0.0), |(i, p)| (i, *p));
                        Prediction { label: self.prep.classes.get(best).cloned(), probability: Some(f64::from(p)), value: None }
                    })
                    .collect()
            }
            Task::Regression => s
                .iter()
                .map(|v| Prediction { label: None, probability: None, value: Some(f64::from(*v) * self.prep.target_std + self.prep.target_mean) })
                .collect(),
        })
    }
}
