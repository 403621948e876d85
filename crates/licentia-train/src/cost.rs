//! What a run costs, known before it starts: compute units from the model's size and the data,
//! and the memory the run will hold.
//!
//! **Compute units.** One unit is [`MACS_PER_UNIT`] (one million) multiply-adds of training. A
//! dense layer of `i` inputs and `o` outputs costs `i × o` multiply-adds per row forward; training
//! costs about three times the forward pass (the forward product, and the backward pass's two
//! products: the gradient for the weights and for the layer's input). So
//!
//! ```text
//! units = ceil(rows × epochs × 3 × Σ(i × o over the layers) / 1,000,000)
//! ```
//!
//! where the first layer's `i` is the input width (numeric and boolean columns 1 each, a
//! categorical column one per category kept, at most 32). Example: 6 inputs, hidden 64 and 64, one
//! output: 6·64 + 64·64 + 64·1 = 4,544 multiply-adds forward, 13,632 per row and epoch; 1,600 rows
//! for 25 epochs is 545,280,000, so 546 units. A logistic regression on the same data (6·1) costs
//! 1 unit.

use crate::prep::MAX_CATEGORIES;
use crate::prep::Task;

pub const MACS_PER_UNIT: u64 = 1_000_000;
/// Backward ≈ twice forward for dense layers.
pub const TRAINING_FACTOR: u64 = 3;

/// Multiply-adds of one forward pass of one row through dense layers `inputs → hidden… → outputs`.
pub fn forward_macs(inputs: usize, hidden: &[usize], outputs: usize) -> u64 {
    let mut width = inputs as u64;
    let mut total = 0u64;
    for h in hidden.iter().map(|h| *h as u64).chain(std::iter::once(outputs as u64)) {
        total = total.saturating_add(width.saturating_mul(h));
        width = h;
    }
    total
}

/// Compute units of `rows × epochs` training passes through a model of `forward` multiply-adds.
pub fn units(rows: u64, epochs: u64, forward: u64) -> u64 {
    let macs = u128::from(rows) * u128::from(epochs) * u128::from(TRAINING_FACTOR) * u128::from(forward);
    u64::try_from(macs.div_ceil(u128::from(MACS_PER_UNIT))).unwrap_or(u64::MAX)
}

/// Trainable parameters of the same layers (weights and biases).
pub fn parameters(inputs: usize, hidden: &[usize], outputs: usize) -> u64 {
    let mut width = inputs as u64;
    let mut total = 0u64;
    for h in hidden.iter().map(|h| *h as u64).chain(std::iter::once(outputs as u64)) {
        total = total.saturating_add(width.saturating_mul(h).saturating_add(h));
        width = h;
    }
    total
}

/// Bytes a run holds at its peak, estimated: the typed table (4 bytes a cell, an `f32` or a
/// category's key and its share of the dictionary), the feature matrix in `f32` twice (host copy and tensor), the target, and the
/// parameters four times over (weights, gradients and Adam's two moments), plus one batch of
/// activations.
pub fn memory_bytes(rows: u64, columns: u64, inputs: u64, params: u64, batch: u64, widest: u64) -> u64 {
    let table = rows.saturating_mul(columns).saturating_mul(4);
    let features = rows.saturating_mul(inputs).saturating_mul(4).saturating_mul(2);
    let target = rows.saturating_mul(4);
    let model = params.saturating_mul(4).saturating_mul(4);
    let activations = batch.saturating_mul(widest).saturating_mul(4).saturating_mul(4);
    table.saturating_add(features).saturating_add(target).saturating_add(model).saturating_add(activations)
}

/// A column as the schema describes it: whether it is categorical and how many distinct values
/// it has.
#[derive(Debug, Clone, Copy)]
pub struct ColumnShape {
    pub categorical: bool,
    pub distinct: usize,
}

impl ColumnShape {
    /// The inputs this column gives the model.
    pub fn width(self) -> usize {
        if self.categorical { self.distinct.min(MAX_CATEGORIES) } else { 1 }
    }
}

/// The output units of a task whose target has `distinct` values (before training knows the
/// classes of the training split, the schema's count stands in for them).
pub fn outputs(task: Task, distinct: usize) -> usize {
    crate::model::outputs(task, distinct.max(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worked_example_of_the_module_documentation() {
        let forward = forward_macs(6, &[64, 64], 1);
        assert_eq!(forward, 4_544);
        assert_eq!(units(1_600, 25, forward), 546);
        assert_eq!(units(1_600, 25, forward_macs(6, &[], 1)), 1, "6 × 1600 × 25 × 3 = 720,000 multiply-adds round up to one unit");
        assert_eq!(units(0, 25, forward), 0);
        assert_eq!(parameters(6, &[64, 64], 1), 6 * 64 + 64 + 64 * 64 + 64 + 64 + 1);
    }

    #[test]
    fn units_grow_with_the_model_not_only_with_the_rows() {
        let small = units(10_000, 10, forward_macs(30, &[], 1));
        let wide = units(10_000, 10, forward_macs(30, &[1024, 1024], 1));
        assert!(wide > 1000 * small, "{wide} vs {small}");
        assert_eq!(units(u64::MAX, 500, forward_macs(1024, &[1024; 4], 100)), u64::MAX, "saturates, never wraps");
    }

    #[test]
    fn a_categorical_column_is_as_wide_as_the_categories_kept() {
        assert_eq!(ColumnShape { categorical: true, distinct: 3 }.width(), 3);
        assert_eq!(ColumnShape { categorical: true, distinct: 5000 }.width(), MAX_CATEGORIES);
        assert_eq!(ColumnShape { categorical: false, distinct: 5000 }.width(), 1);
    }
}
