//! The engine through its public API on data generated here with known rules.

use std::sync::atomic::{AtomicBool, Ordering};

use licentia_train::data::{Limits, parse_csv};
use licentia_train::prep::Split;
use licentia_train::{Hyper, Template, TrainError, cpu, inference, train};

type Res = Result<(), Box<dyn std::error::Error>>;

/// `n` rows of two uniform features and a third irrelevant one; `label` decides the target.
fn csv(n: usize, seed: u64, label: impl Fn(f64, f64) -> String) -> String {
    let mut rng = licentia_train::prep::Rng::new(seed);
    let mut u = || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let mut s = String::from("x1,x2,noise,colour,y\n");
    for i in 0..n {
        let (a, b, c) = (u(), u(), u());
        let colour = ["red", "green", "blue"][i % 3];
        // Every 50th row misses x1: filled by the preprocessing.
        let x1 = if i % 50 == 7 { String::new() } else { format!("{a:.5}") };
        s.push_str(&format!("{x1},{b:.5},{c:.5},{colour},{}\n", label(a, b)));
    }
    s
}

fn table(s: &str) -> licentia_train::data::Table {
    parse_csv(s.as_bytes(), &Limits::default()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_known_linear_rule_is_learned_and_the_same_seed_gives_the_same_metrics() -> Res {
    let t = table(&csv(2000, 1, |a, b| if a + b > 1.0 { "1".into() } else { "0".into() }));
    let mut h = Hyper::new(Template::TabularBinaryMlp, "y");
    h.epochs = 25;
    h.batch_size = 32;
    h.learning_rate = 3e-3;
    let mut seen = 0;
    let out = train(&t, &h, &cpu(), &mut |_| seen += 1, &AtomicBool::new(false))?;
    let last = out.metrics.last().ok_or("no metrics")?;
    // The rule is exact but 2 % of rows miss x1, so ≈ 98–99 % is what the rule allows.
    assert!(last.accuracy.unwrap_or(0.0) > 0.95, "{last:?}");
    assert!(last.auc.unwrap_or(0.0) > 0.98, "{last:?}");
    assert!(seen > 25, "progress is reported during every epoch");
    assert_eq!((out.train_rows, out.valid_rows, out.epochs_done), (1600, 400, 25));
    // 6 inputs (x1, x2, noise and three colours), 64 → 64 → 1: 4,544 multiply-adds forward, three
    // times that to train, over 1,600 rows × 25 epochs: 545,280,000, so 546 units of a million.
    assert_eq!(out.compute_units(), 546);

    let again = train(&t, &h, &cpu(), &mut |_| {}, &AtomicBool::new(false))?;
    assert_eq!(out.metrics, again.metrics, "same seed, same result");
    // (The weights files differ in burn's random parameter ids, not in their values.)
    h.seed = 7;
    let other = train(&t, &h, &cpu(), &mut |_| {}, &AtomicBool::new(false))?;
    assert_ne!(out.metrics, other.metrics, "another seed, another run");
    Ok(())
}

#[test]
fn logistic_regression_multiclass_and_regression_templates() -> Res {
    let t = table(&csv(1500, 2, |a, b| if a + b > 1.0 { "yes".into() } else { "no".into() }));
    let mut h = Hyper::new(Template::LogisticRegression, "y");
    h.epochs = 30;
    h.batch_size = 32;
    h.learning_rate = 0.05;
    let out = train(&t, &h, &cpu(), &mut |_| {}, &AtomicBool::new(false))?;
    assert!(out.metrics.last().and_then(|m| m.accuracy).unwrap_or(0.0) > 0.93, "{:?}", out.metrics.last());
    // "yes"/"no" read as a boolean column; its classes are false and true.
    assert_eq!(out.preprocessing.classes, vec!["false".to_owned(), "true".into()]);

    let t = table(&csv(3000, 3, |a, b| (if a > 0.5 { if b > 0.5 { "A" } else { "B" } } else { "C" }).into()));
    let mut h = Hyper::new(Template::TabularMulticlassMlp, "y");
    h.epochs = 30;
    h.batch_size = 32;
    h.learning_rate = 3e-3;
    let out = train(&t, &h, &cpu(), &mut |_| {}, &AtomicBool::new(false))?;
    let m = out.metrics.last().ok_or("no metrics")?;
    assert!(m.accuracy.unwrap_or(0.0) > 0.9 && m.f1.unwrap_or(0.0) > 0.85, "{m:?}");

    let t = table(&csv(2000, 4, |a, b| format!("{:.5}", 3.0 * a - 2.0 * b + 10.0)));
    let mut h = Hyper::new(Template::TabularRegressionMlp, "y");
    h.epochs = 30;
    h.batch_size = 32;
    h.learning_rate = 3e-3;
    h.exclude = vec!["colour".into()];
    let out = train(&t, &h, &cpu(), &mut |_| {}, &AtomicBool::new(false))?;
    let m = out.metrics.last().ok_or("no metrics")?;
    // 2 % of rows miss x1 (filled with 0), which the rule cannot explain: R² stays below 1.
    assert!(m.r2.unwrap_or(0.0) > 0.9 && m.rmse.unwrap_or(9.0) < 0.4, "{m:?}");
    Ok(())
}

#[test]
fn saved_weights_predict_like_the_trained_model_and_bad_files_are_refused() -> Res {
    let t = table(&csv(1000, 5, |a, b| if a + b > 1.0 { "1".into() } else { "0".into() }));
    let mut h = Hyper::new(Template::TabularBinaryMlp, "y");
    h.epochs = 15;
    h.batch_size = 32;
    h.learning_rate = 3e-3;
    h.split = Split::Ordered;
    let out = train(&t, &h, &cpu(), &mut |_| {}, &AtomicBool::new(false))?;
    let model = inference::load(&out.weights, &out.preprocessing, &h, &cpu())?;
    let preds = model.predict(&t)?;
    assert_eq!(preds.len(), 1000);
    // The validation rows are the last 200 (ordered split): the loaded model scores them as well
    // as the run's best epoch did.
    let labels: Vec<&str> = t.preview(1000).iter().map(|r| if r[4] == "1" { "1" } else { "0" }).collect();
    let correct = preds[800..].iter().zip(&labels[800..]).filter(|(p, l)| p.label.as_deref() == Some(**l)).count();
    let best = &out.metrics[(out.best_epoch - 1) as usize];
    assert!((correct as f64 / 200.0 - best.accuracy.unwrap_or(0.0)).abs() < 1e-9, "{correct} vs {best:?}");

    for bad in [Vec::new(), vec![0u8; 100], vec![0xAB; out.weights.len()], out.weights[..out.weights.len() / 2].to_vec()] {
        match inference::load(&bad, &out.preprocessing, &h, &cpu()) {
            Err(TrainError::Model(_)) => {}
            Err(e) => panic!("wrong error {e}"),
            Ok(_) => panic!("a bad weights file of {} bytes was loaded", bad.len()),
        }
    }
    // Weights of another architecture are refused too.
    let mut wide = h.clone();
    wide.hidden = Some(vec![128, 64]);
    assert!(inference::load(&out.weights, &out.preprocessing, &wide, &cpu()).is_err());
    Ok(())
}

#[test]
fn cancellation_stops_before_the_next_batch_and_bad_settings_name_their_field() -> Res {
    let t = table(&csv(500, 6, |a, _| if a > 0.5 { "1".into() } else { "0".into() }));
    let mut h = Hyper::new(Template::TabularBinaryMlp, "y");
    h.batch_size = 16;
    let cancel = AtomicBool::new(false);
    let out = train(
        &t,
        &h,
        &cpu(),
        &mut |p| {
            if p.batch >= 1 {
                cancel.store(true, Ordering::Relaxed)
            }
        },
        &cancel,
    )?;
    assert!(out.cancelled && out.epochs_done == 0 && !out.weights.is_empty());

    for (mutate, field) in [
        (Box::new(|h: &mut Hyper| h.epochs = 0) as Box<dyn Fn(&mut Hyper)>, "epochs"),
        (Box::new(|h: &mut Hyper| h.learning_rate = f64::NAN), "learning_rate"),
        (Box::new(|h: &mut Hyper| h.hidden = Some(vec![4096])), "hidden"),
        (Box::new(|h: &mut Hyper| h.batch_size = 0), "batch_size"),
    ] {
        let mut bad = h.clone();
        mutate(&mut bad);
        match train(&t, &bad, &cpu(), &mut |_| {}, &AtomicBool::new(false)) {
            Err(TrainError::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    let mut no_target = h.clone();
    no_target.target = "missing".into();
    assert!(matches!(train(&t, &no_target, &cpu(), &mut |_| {}, &AtomicBool::new(false)), Err(TrainError::Data(_))));
    // Early stopping: with patience 1 and a learning rate that overshoots, training ends early.
    let mut noisy = h.clone();
    noisy.epochs = 50;
    noisy.patience = 1;
    noisy.learning_rate = 0.5;
    let out = train(&t, &noisy, &cpu(), &mut |_| {}, &AtomicBool::new(false))?;
    assert!(out.epochs_done < 50 && out.best_epoch <= out.epochs_done, "{} epochs", out.epochs_done);
    Ok(())
}

#[test]
fn devices_are_named_and_missing_backends_are_a_clear_error() {
    assert!(licentia_train::device("cpu").is_ok());
    assert!(matches!(licentia_train::device("tpu"), Err(TrainError::Invalid { .. })));
    if !cfg!(feature = "cuda") {
        match licentia_train::device("cuda:0") {
            Err(TrainError::Invalid { message, .. }) => assert!(message.contains("cargo feature `cuda`"), "{message}"),
            other => panic!("{other:?}"),
        }
    }
}
