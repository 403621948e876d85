//! Fine-tuning against training from scratch, epoch by epoch, on the Palmer penguins (CC0,
//! `tests/data/README.md`): the licensor trains version 1 on one half of the rows (pairs 0–1, 4–5, …);
//! the licensee, on the other, trains the same template from random weights and fine-tunes version 1, each for the
//! same epochs with the same seed and split. Prints both validation curves as a Markdown table,
//! the first epoch each reaches the threshold, and writes them as an SVG chart.
//!
//! `cargo run -p licentia-train --example fine_tuning -- [EPOCHS] [SVG]`
//! (defaults: 30 epochs, `docs/fine-tuning.svg`).

use std::fmt::Write as _;
use std::sync::atomic::AtomicBool;

use licentia_train::data::{Limits, Table, parse_csv};
use licentia_train::metrics::EpochMetrics;
use licentia_train::{Base, Hyper, Template, cpu, fine_tune_observed, train, train_observed};

#[path = "../tests/common/penguins.rs"]
mod penguins;
use penguins::halves;

/// The validation AUC both runs are timed to.
const THRESHOLD: f64 = 0.93;

fn table(s: &str) -> Result<Table, String> {
    parse_csv(s.as_bytes(), &Limits::default()).map_err(|e| e.to_string())
}

fn hyper(epochs: u32) -> Hyper {
    let mut h = Hyper::new(Template::TabularBinaryMlp, "sex");
    h.epochs = epochs;
    h.batch_size = 16;
    h.learning_rate = 1e-3;
    h
}

fn auc(m: &EpochMetrics) -> f64 {
    m.auc.unwrap_or(0.0)
}

fn first_at(curve: &[EpochMetrics]) -> String {
    curve.iter().find(|m| auc(m) >= THRESHOLD).map_or_else(|| "not reached".to_owned(), |m| m.epoch.to_string())
}

fn svg(scratch: &[EpochMetrics], tuned: &[EpochMetrics]) -> String {
    let (w, h, left, bottom) = (640.0, 360.0, 56.0, 40.0);
    let epochs = scratch.len().max(tuned.len()).max(1) as f64;
    let (lo, hi) = (0.8, 1.0);
    let x = |e: f64| left + (e - 1.0) / (epochs - 1.0).max(1.0) * (w - left - 16.0);
    let y = |v: f64| 16.0 + (hi - v.clamp(lo, hi)) / (hi - lo) * (h - bottom - 16.0);
    let line = |c: &[EpochMetrics]| c.iter().map(|m| format!("{:.1},{:.1}", x(f64::from(m.epoch)), y(auc(m)))).collect::<Vec<_>>().join(" ");
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n"
    );
    for tick in [0.8, 0.85, 0.9, 0.95, 1.0] {
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{tick:.2}</text>",
            w - 16.0,
            y(tick),
            y(tick),
            left - 6.0,
            y(tick) + 4.0
        );
    }
    let _ =
        writeln!(s, "<line x1=\"{left}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#888\" stroke-dasharray=\"4 4\"/>", w - 16.0, y(THRESHOLD), y(THRESHOLD));
    let step = (epochs / 10.0).ceil().max(1.0) as usize;
    for e in (1..=epochs as usize).step_by(step) {
        let _ = writeln!(s, "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{e}</text>", x(e as f64), h - bottom + 16.0);
    }
    let _ = writeln!(s, "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">epoch</text>", (w + left) / 2.0, h - 6.0);
    let _ = writeln!(s, "<text x=\"14\" y=\"{:.1}\" transform=\"rotate(-90 14 {:.1})\" text-anchor=\"middle\">validation AUC</text>", h / 2.0, h / 2.0);
    let _ = writeln!(s, "<polyline fill=\"none\" stroke=\"#c0392b\" stroke-width=\"2\" points=\"{}\"/>", line(scratch));
    let _ = writeln!(s, "<polyline fill=\"none\" stroke=\"#1f6feb\" stroke-width=\"2\" points=\"{}\"/>", line(tuned));
    let _ = writeln!(s, "<text x=\"{}\" y=\"{:.1}\" fill=\"#1f6feb\">fine-tuned from version 1</text>", left + 12.0, y(0.835));
    let _ = writeln!(s, "<text x=\"{}\" y=\"{:.1}\" fill=\"#c0392b\">from random weights</text>", left + 12.0, y(0.815));
    s.push_str("</svg>\n");
    s
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let epochs: u32 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(30);
    let out = args.next().unwrap_or_else(|| "docs/fine-tuning.svg".into());
    let (licensor, licensee) = halves();
    let stop = AtomicBool::new(false);
    let base = train(&table(&licensor)?, &hyper(40), &cpu(), &mut |_| {}, &stop)?;
    let h = hyper(epochs);
    let scratch = train_observed(table(&licensee)?, &h, &cpu(), &mut |_| {}, &mut |_| {}, &stop)?;
    let b = Base { weights: &base.weights, preprocessing: &base.preprocessing, hyper: &base.hyper, freeze: 0, base_preprocessing: false };
    let tuned = fine_tune_observed(table(&licensee)?, &h, &b, &cpu(), &mut |_| {}, &mut |_| {}, &stop)?;
    println!(
        "version 1: {} epochs on {} licensor rows, validation AUC {:.3}; the licensee trains on {} rows and validates on {}\n",
        base.epochs_done,
        base.train_rows,
        base.metrics.last().map_or(0.0, auc),
        scratch.train_rows,
        scratch.valid_rows
    );
    println!("| epoch | from random weights: AUC | accuracy | fine-tuned from version 1: AUC | accuracy |");
    println!("|---|---|---|---|---|");
    for (s, t) in scratch.metrics.iter().zip(&tuned.metrics) {
        println!("| {} | {:.3} | {:.3} | {:.3} | {:.3} |", s.epoch, auc(s), s.accuracy.unwrap_or(0.0), auc(t), t.accuracy.unwrap_or(0.0));
    }
    println!("\nfirst epoch with validation AUC >= {THRESHOLD}: from random weights {}, fine-tuned {}", first_at(&scratch.metrics), first_at(&tuned.metrics));
    println!("compute units: from random weights {}, fine-tuned {}", scratch.compute_units(), tuned.compute_units());
    std::fs::write(&out, svg(&scratch.metrics, &tuned.metrics))?;
    println!("chart: {out}");
    Ok(())
}
