//! The engine against PyTorch on the reference model, in one run: 200,000 rows from
//! `../shared/bench/gen_credit.py`, 5 epochs, batch 256 and 32, 2 threads, the peers' recipe
//! (missing → 0, z-scores from the first 80 %, the last 20 % validate). Prints samples per second
//! of training (validation excluded, as the peer measures it), validation AUC and peak memory of
//! both, and the ratio.
//!
//! `cargo bench -p licentia-train --bench engine`. Environment:
//! - `LICENTIA_BENCH_PYTHON`: a Python with numpy, pandas, scipy and torch (default
//!   `/tmp/peers/bin/python`; see `../shared/bench/README.md`);
//! - `LICENTIA_BENCH_DIR`: the peer benchmark folder (default `../shared/bench` beside the repo);
//! - `LICENTIA_BENCH_ROWS` (default 200000), `LICENTIA_BENCH_CSV` (an existing file to use).
//!
//! Each measurement runs in a child process so that its peak RSS is its own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use licentia_train::data::{Limits, parse_csv_from};
use licentia_train::prep::{Missing, Split};
use licentia_train::{Hyper, Template, cpu, train};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// The child: trains once and prints one RESULT line like the peers do.
fn child(csv: &Path, batch: usize) -> Res<()> {
    let t0 = Instant::now();
    // Streamed from the file into typed columns, as an upload is: the text is never whole in memory.
    let table = parse_csv_from(std::io::BufReader::new(std::fs::File::open(csv)?), &Limits::default())?;
    let load_s = t0.elapsed().as_secs_f64();
    let mut h = Hyper::new(Template::TabularBinaryMlp, "target");
    h.epochs = 5;
    h.batch_size = batch;
    h.learning_rate = 1e-3;
    h.missing = Missing::Zero;
    h.split = Split::Ordered;
    let out = train(&table, &h, &cpu(), &mut |_| {}, &AtomicBool::new(false))?;
    let last = out.metrics.last().ok_or("no metrics")?;
    println!(
        "RESULT impl=licentia-burn-flex batch={batch} epochs={} train_s={:.3} samples_per_s={:.0} val_acc={:.4} val_auc={:.4} load_s={load_s:.2} peak_rss_kib={}",
        out.epochs_done,
        out.train_seconds,
        (out.train_rows as u64 * u64::from(out.epochs_done)) as f64 / out.train_seconds,
        last.accuracy.unwrap_or(0.0),
        last.auc.unwrap_or(0.0),
        peak_rss_kib()
    );
    Ok(())
}

#[derive(Debug, Default, Clone)]
struct Result1 {
    samples_per_s: f64,
    auc: f64,
    peak_mib: f64,
}

fn parse_result(stdout: &str, peak_kib: Option<u64>) -> Res<Result1> {
    let line = stdout.lines().find(|l| l.starts_with("RESULT ")).ok_or_else(|| format!("no RESULT line in: {stdout}"))?;
    let field = |k: &str| line.split_whitespace().find_map(|w| w.strip_prefix(&format!("{k}="))).and_then(|v| v.parse::<f64>().ok());
    let peak = peak_kib.map(|k| k as f64).or_else(|| field("peak_rss_kib")).unwrap_or(0.0) / 1024.0;
    Ok(Result1 { samples_per_s: field("samples_per_s").ok_or("no samples_per_s")?, auc: field("val_auc").ok_or("no val_auc")?, peak_mib: peak })
}

/// `/usr/bin/time -v` reports the maximum resident set size of a child in KiB.
fn max_rss_from_time(stderr: &str) -> Option<u64> {
    stderr.lines().find(|l| l.contains("Maximum resident set size")).and_then(|l| l.rsplit(':').next()).and_then(|v| v.trim().parse().ok())
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let csv = PathBuf::from(args.get(i + 1).ok_or("--child CSV BATCH")?);
        let batch: usize = args.get(i + 2).ok_or("--child CSV BATCH")?.parse()?;
        return child(&csv, batch);
    }
    if args.iter().any(|a| a == "--list") {
        return Ok(());
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bench_dir = std::env::var("LICENTIA_BENCH_DIR").map(PathBuf::from).unwrap_or_else(|_| manifest.join("../../../shared/bench"));
    let python = std::env::var("LICENTIA_BENCH_PYTHON").unwrap_or_else(|_| "/tmp/peers/bin/python".into());
    let rows: usize = std::env::var("LICENTIA_BENCH_ROWS").ok().and_then(|r| r.parse().ok()).unwrap_or(200_000);
    let csv = match std::env::var("LICENTIA_BENCH_CSV") {
        Ok(p) => PathBuf::from(p),
        Err(_) => {
            let p = std::env::temp_dir().join(format!("licentia-credit-{rows}.csv"));
            if !p.exists() {
                let st = Command::new(&python).arg(bench_dir.join("gen_credit.py")).args(["--rows", &rows.to_string(), "--out"]).arg(&p).status()?;
                if !st.success() {
                    return Err(format!("gen_credit.py failed with {python}: install numpy (see ../shared/bench/README.md)").into());
                }
            }
            p
        }
    };
    let me = std::env::current_exe()?;
    println!("training engine vs PyTorch: {rows} rows, 5 epochs, 2 threads, reference MLP (30 → 64 → 64 → 1)");
    println!("{:<7} {:<22} {:>13} {:>9} {:>10} {:>8}", "batch", "implementation", "samples/s", "val AUC", "peak MiB", "ratio");
    let mut verdicts = Vec::new();
    for (batch, target) in [(256usize, 2.5f64), (32, 4.5)] {
        let ours = Command::new(&me).arg("--child").arg(&csv).arg(batch.to_string()).env("RAYON_NUM_THREADS", "2").output()?;
        if !ours.status.success() {
            return Err(format!("engine run failed: {}", String::from_utf8_lossy(&ours.stderr)).into());
        }
        let ours = parse_result(&String::from_utf8_lossy(&ours.stdout), None)?;
        let peer = Command::new("/usr/bin/time")
            .arg("-v")
            .arg(&python)
            .arg(bench_dir.join("peers/torch_mlp.py"))
            .arg(&csv)
            .args([batch.to_string(), "5".into(), "2".into()])
            .current_dir(bench_dir.join("peers"))
            .output()?;
        if !peer.status.success() {
            return Err(format!("torch_mlp.py failed ({python}; see ../shared/bench/README.md): {}", String::from_utf8_lossy(&peer.stderr)).into());
        }
        let stderr = String::from_utf8_lossy(&peer.stderr);
        let peer = parse_result(&String::from_utf8_lossy(&peer.stdout), max_rss_from_time(&stderr))?;
        let ratio = ours.samples_per_s / peer.samples_per_s;
        println!("{batch:<7} {:<22} {:>13.0} {:>9.4} {:>10.0} {:>8}", "PyTorch CPU", peer.samples_per_s, peer.auc, peer.peak_mib, "1.00");
        println!("{batch:<7} {:<22} {:>13.0} {:>9.4} {:>10.0} {:>7.2}x", "licentia (burn flex)", ours.samples_per_s, ours.auc, ours.peak_mib, ratio);
        let auc_gap = (ours.auc - peer.auc).abs();
        verdicts.push(format!(
            "batch {batch}: {ratio:.2}x (target ≥ {target}x) {}; AUC gap {auc_gap:.4} (target ≤ 0.005) {}",
            if ratio >= target { "met" } else { "NOT met" },
            if auc_gap <= 0.005 { "met" } else { "NOT met" }
        ));
    }
    for v in verdicts {
        println!("{v}");
    }
    Ok(())
}
