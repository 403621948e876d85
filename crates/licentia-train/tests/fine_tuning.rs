//! Fine-tuning a published model on other data, through the engine's public API, on a
//! public-domain table (the Palmer penguins, CC0: `tests/data/README.md`).

use std::sync::atomic::AtomicBool;

use licentia_train::data::{Limits, Table, parse_csv};
use licentia_train::metrics::EpochMetrics;
use licentia_train::model::Net;
use licentia_train::{Base, Hyper, Outcome, Template, TrainError, cpu, fine_tune_observed, inference, train};

#[path = "common/penguins.rs"]
mod penguins;
use penguins::halves;

type Res = Result<(), Box<dyn std::error::Error>>;

fn table(s: &str) -> Table {
    parse_csv(s.as_bytes(), &Limits::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn hyper(epochs: u32) -> Hyper {
    let mut h = Hyper::new(Template::TabularBinaryMlp, "sex");
    h.epochs = epochs;
    h.batch_size = 16;
    h.learning_rate = 1e-3;
    h
}

fn tune(data: &str, h: &Hyper, base: &Outcome, freeze: usize, base_preprocessing: bool) -> Result<Outcome, TrainError> {
    let b = Base { weights: &base.weights, preprocessing: &base.preprocessing, hyper: &base.hyper, freeze, base_preprocessing };
    fine_tune_observed(table(data), h, &b, &cpu(), &mut |_| {}, &mut |_| {}, &AtomicBool::new(false))
}

fn auc(m: &[EpochMetrics]) -> f64 {
    m.last().and_then(|m| m.auc).unwrap_or(0.0)
}

/// The licensor trains on its half; the licensee, on the other half, reaches a validation AUC
/// at least as good by fine-tuning that model as by training the template from random weights
/// with the same budget of 3 epochs (the metered budget is where starting from trained weights
/// pays: `cargo run -p licentia-train --example fine_tuning` prints both curves over 30 epochs,
/// where the run from random weights catches up after about 6). Both licensee runs see the same
/// rows in the same split (same data, same seed).
#[test]
fn fine_tuning_the_licensors_model_on_the_other_half_beats_training_from_scratch() -> Res {
    let (licensor, licensee) = halves();
    let base = train(&table(&licensor), &hyper(40), &cpu(), &mut |_| {}, &AtomicBool::new(false))?;
    assert!(auc(&base.metrics) > 0.85, "the base model learned something: {:?}", base.metrics.last());
    let h = hyper(3);
    let scratch = train(&table(&licensee), &h, &cpu(), &mut |_| {}, &AtomicBool::new(false))?;
    let tuned = tune(&licensee, &h, &base, 0, false)?;
    assert_eq!((scratch.train_rows, scratch.valid_rows), (tuned.train_rows, tuned.valid_rows));
    assert!(auc(&tuned.metrics) >= auc(&scratch.metrics), "fine-tuned {} < scratch {}", auc(&tuned.metrics), auc(&scratch.metrics));
    // After one epoch the fine-tuned model is already where the base model was; the random one
    // is not.
    let first = |o: &Outcome| o.metrics.first().and_then(|m| m.auc).unwrap_or(0.0);
    assert!(first(&tuned) > first(&scratch) + 0.05, "epoch 1: fine-tuned {} vs scratch {}", first(&tuned), first(&scratch));
    // Fine-tuning costs what training costs: the same rows × epochs × multiply-adds.
    assert_eq!(tuned.compute_units(), scratch.compute_units());
    Ok(())
}

fn layer_weights(o: &Outcome, layer: usize) -> Result<Vec<f32>, Box<dyn std::error::Error>> {
    let record = burn::store::ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(o.weights.clone()))?;
    let fresh = Net::new(o.preprocessing.width, &o.hyper.hidden_sizes(), 1, &cpu());
    let net: Net = burn::module::Module::try_load_record(fresh, record)?;
    let w = if layer < net.hidden.len() { net.hidden[layer].weight.val() } else { net.output.weight.val() };
    Ok(w.into_data().convert::<f32>().try_to_vec::<f32>().map_err(|e| format!("{e:?}"))?)
}

/// A frozen layer keeps the base's weights exactly; the layers after it move.
#[test]
fn frozen_layers_keep_the_base_weights_and_the_rest_train() -> Res {
    let (licensor, licensee) = halves();
    let base = train(&table(&licensor), &hyper(5), &cpu(), &mut |_| {}, &AtomicBool::new(false))?;
    let tuned = tune(&licensee, &hyper(3), &base, 1, true)?;
    assert_eq!(layer_weights(&tuned, 0)?, layer_weights(&base, 0)?, "layer 1 is frozen");
    assert_ne!(layer_weights(&tuned, 1)?, layer_weights(&base, 1)?, "layer 2 trains");
    assert_ne!(layer_weights(&tuned, 2)?, layer_weights(&base, 2)?, "the output layer trains");
    // With the base's preprocessing the statistics are the base's; refit, they are the new data's.
    assert_eq!(tuned.preprocessing, base.preprocessing);
    let refit = tune(&licensee, &hyper(1), &base, 0, false)?;
    assert_eq!(refit.preprocessing.inputs(), base.preprocessing.inputs(), "the same features in the same order");
    assert_ne!(refit.preprocessing.features, base.preprocessing.features, "means and spreads of the new rows");
    // The result is an ordinary model: it loads and predicts like any trained one.
    let model = inference::load(&tuned.weights, &tuned.preprocessing, &tuned.hyper, &cpu())?;
    assert_eq!(model.predict(&table(&licensee))?.len(), table(&licensee).rows);
    Ok(())
}

/// Data the base cannot read is refused naming the column; settings that would change the
/// base's architecture or freeze everything name their field.
#[test]
fn a_dataset_without_a_base_feature_and_a_changed_architecture_are_refused() -> Res {
    let (licensor, licensee) = halves();
    let base = train(&table(&licensor), &hyper(2), &cpu(), &mut |_| {}, &AtomicBool::new(false))?;
    let without: String =
        licensee.lines().map(|l| l.split(',').enumerate().filter(|(i, _)| *i != 3).map(|(_, c)| c).collect::<Vec<_>>().join(",") + "\n").collect();
    match tune(&without, &hyper(2), &base, 0, false) {
        Err(TrainError::Data(m)) => assert!(m.contains("bill_depth_mm"), "{m}"),
        other => panic!("{other:?}"),
    }
    let columns: Vec<(String, licentia_train::data::Kind)> = table(&without).columns.iter().map(|c| (c.name.clone(), c.kind())).collect();
    let problems = licentia_train::prep::schema_problems(&base.preprocessing, &columns);
    assert_eq!(problems.iter().map(|p| p.column.as_str()).collect::<Vec<_>>(), ["bill_depth_mm"]);
    let renamed = licensee.replace("male", "m");
    match tune(&renamed, &hyper(2), &base, 0, false) {
        Err(TrainError::Data(m)) => assert!(m.contains("does not know") && m.contains("m"), "{m}"),
        other => panic!("{other:?}"),
    }
    let mut wider = hyper(2);
    wider.hidden = Some(vec![32]);
    for (h, freeze, field) in [(wider, 0, "hidden"), (hyper(2), 3, "freeze_layers"), (Hyper::new(Template::LogisticRegression, "sex"), 0, "template")] {
        match tune(&licensee, &h, &base, freeze, false) {
            Err(TrainError::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    let mut drop_input = hyper(2);
    drop_input.exclude = vec!["island".into()];
    assert!(matches!(tune(&licensee, &drop_input, &base, 0, false), Err(TrainError::Invalid { field, .. }) if field == "exclude"));
    // Weights of another architecture are not a base.
    let other = train(
        &table(&licensor),
        &{
            let mut h = hyper(1);
            h.hidden = Some(vec![8]);
            h
        },
        &cpu(),
        &mut |_| {},
        &AtomicBool::new(false),
    )?;
    let forged = Outcome { weights: other.weights.clone(), ..base.clone() };
    assert!(matches!(tune(&licensee, &hyper(1), &forged, 0, false), Err(TrainError::Model(_))));
    assert!(inference::check(&other.weights, &base.preprocessing, &base.hyper).is_err());
    assert!(inference::check(&base.weights, &base.preprocessing, &base.hyper).is_ok());
    Ok(())
}
