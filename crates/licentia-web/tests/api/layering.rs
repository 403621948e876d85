//! The layering as code, not as a promise: the use-case crate links no web framework, and the web
//! face opens no transaction (every change goes through a use case that owns its transaction and
//! its audit entry).

use std::path::{Path, PathBuf};

use crate::helpers::TestResult;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

#[test]
fn the_web_face_opens_no_transaction() -> TestResult {
    let mut files = Vec::new();
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files)?;
    assert!(files.len() > 20, "found only {} source files", files.len());
    let mut offenders = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f)?;
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if code.contains("db.begin()") || code.contains(".pool.begin()") || code.contains("tx.commit()") {
                offenders.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(offenders.is_empty(), "transactions in licentia-web:\n{}", offenders.join("\n"));
    Ok(())
}

#[test]
fn the_use_case_crate_links_no_web_framework() -> TestResult {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["tree", "-p", "licentia-app", "-e", "normal", "--prefix", "none", "--offline", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()?;
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && tree.contains("licentia-db"), "cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
    let web: Vec<&str> = tree.lines().filter(|l| l.starts_with("actix") || l.starts_with("askama") || l.starts_with("licentia-web")).collect();
    assert!(web.is_empty(), "licentia-app depends on {web:?}");
    Ok(())
}
