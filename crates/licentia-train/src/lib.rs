//! The training engine licensees run on their own data: tabular model templates on burn, the
//! preprocessing that turns a parsed CSV into tensors (missing values, z-scores from the training
//! split only, one-hot categoricals, a seeded and stratified split), per-epoch metrics, progress
//! callbacks and cancellation per batch, and inference from saved weights. No HTTP, no SQL: the
//! web layer meters and stores; this crate computes.

pub mod cost;
pub mod data;
pub mod inference;
pub mod metrics;
pub mod model;
pub mod prep;
pub mod training;

pub use burn::tensor::Device;
pub use model::{Hyper, Template};
pub use training::{Base, Outcome, Progress, fine_tune_observed, train, train_observed};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrainError {
    /// The data cannot train this model (no such target column, one class only, ...).
    #[error("{0}")]
    Data(String),
    /// A hyperparameter out of bounds.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// A weights file that is not this model's.
    #[error("{0}")]
    Model(String),
    /// The backend failed.
    #[error("training engine: {0}")]
    Engine(String),
}

/// The CPU device (burn's pure-Rust `flex` backend).
pub fn cpu() -> Device {
    Device::flex()
}

/// A device from its name: `cpu` (burn `flex`), `cuda` / `cuda:N` (needs the `cuda` feature),
/// `wgpu` (needs the `wgpu` feature). A GPU worker is the same program built with a feature.
pub fn device(spec: &str) -> Result<Device, TrainError> {
    let spec = spec.trim();
    let missing = |feature: &str| TrainError::Invalid {
        field: "device".into(),
        message: format!("this build has no {feature} backend (build with the cargo feature `{feature}`)"),
    };
    match spec {
        "" | "cpu" | "flex" => Ok(Device::flex()),
        s if s == "cuda" || s.starts_with("cuda:") => {
            let index = match s.strip_prefix("cuda:") {
                Some(n) => n.parse::<usize>().map_err(|_| TrainError::Invalid { field: "device".into(), message: "cuda:N takes a GPU index".into() })?,
                None => 0,
            };
            #[cfg(feature = "cuda")]
            {
                Ok(Device::cuda(index))
            }
            #[cfg(not(feature = "cuda"))]
            {
                let _ = index;
                Err(missing("cuda"))
            }
        }
        "wgpu" => {
            #[cfg(feature = "wgpu")]
            {
                Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice))
            }
            #[cfg(not(feature = "wgpu"))]
            {
                Err(missing("wgpu"))
            }
        }
        _ => Err(TrainError::Invalid { field: "device".into(), message: "one of cpu, cuda, cuda:N, wgpu".into() }),
    }
}
