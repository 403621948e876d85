//! `cargo bench -p licentia-crypto`: streaming envelope encryption and decryption throughput beside
//! `openssl speed -evp aes-256-gcm -bytes 16384` on the same machine, in the same run, as a ratio.
//!
//! Ours includes everything a real upload pays for besides I/O: segmenting, per-segment nonces and
//! associated data, tags, and buffer copies. Input arrives in 16 KiB pieces, as openssl's blocks.

use std::process::Command;
use std::time::Instant;

use licentia_crypto::envelope::{Binding, DEFAULT_SEGMENT, DataKey, Decryptor, Encryptor};

fn openssl_mb_per_s() -> Option<f64> {
    let out = Command::new("openssl").args(["speed", "-evp", "aes-256-gcm", "-bytes", "16384", "-seconds", "3"]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().rev().find(|l| l.to_ascii_uppercase().starts_with("AES-256-GCM"))?;
    let k: f64 = line.split_whitespace().last()?.trim_end_matches('k').parse().ok()?;
    Some(k * 1000.0 / 1e6)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let total: usize = std::env::var("BENCH_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(512) * 1024 * 1024;
    let piece = vec![0x5au8; 16 * 1024];
    let key = DataKey::generate()?;
    let binding = Binding { artifact_id: [3; 16], version: 1 };

    // Encrypt `total` bytes, keeping the ciphertext of the first 64 MiB for the decryption run.
    let keep = 64 * 1024 * 1024;
    let mut kept = Vec::with_capacity(keep + keep / 100);
    let start = Instant::now();
    let mut enc = Encryptor::new(&key, binding, DEFAULT_SEGMENT)?;
    let mut fed = 0;
    let mut sink = 0usize;
    while fed < total {
        let ct = enc.push(&piece)?;
        if fed < keep {
            kept.extend_from_slice(&ct);
        }
        sink += ct.len();
        fed += piece.len();
    }
    sink += enc.finish()?.len();
    let enc_secs = start.elapsed().as_secs_f64();
    let enc_mb = total as f64 / enc_secs / 1e6;

    // Decrypt: the kept ciphertext fed in 16 KiB pieces, repeatedly up to `total` bytes. Only whole
    // streams are timed, so every run ends with a verified last segment.
    let mut short = Encryptor::new(&key, binding, DEFAULT_SEGMENT)?;
    let mut stream = short.push(&vec![0x5au8; keep])?;
    stream.extend_from_slice(&short.finish()?);
    let rounds = total.div_ceil(keep);
    let start = Instant::now();
    let mut out = 0usize;
    for _ in 0..rounds {
        let mut dec = Decryptor::new(&key, binding)?;
        for c in stream.chunks(16 * 1024) {
            out += dec.push(c)?.len();
        }
        out += dec.finish()?.len();
    }
    let dec_secs = start.elapsed().as_secs_f64();
    let dec_mb = out as f64 / dec_secs / 1e6;
    std::hint::black_box((sink, kept.len()));

    println!("streaming AES-256-GCM envelope ({} MiB, 64 KiB segments, 16 KiB input pieces)", total / (1024 * 1024));
    match openssl_mb_per_s() {
        Some(ossl) => {
            println!("{:<34} {:>10}", "", "MB/s");
            println!("{:<34} {:>10.0}", "openssl speed aes-256-gcm 16 KiB", ossl);
            println!("{:<34} {:>10.0}   ratio {:.2}", "licentia encrypt", enc_mb, enc_mb / ossl);
            println!("{:<34} {:>10.0}   ratio {:.2}", "licentia decrypt", dec_mb, dec_mb / ossl);
        }
        None => {
            println!("openssl not found: no peer figure. encrypt {enc_mb:.0} MB/s, decrypt {dec_mb:.0} MB/s");
        }
    }
    Ok(())
}
