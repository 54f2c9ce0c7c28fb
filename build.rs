//! Build script: tells the fast path whether this compiler accepts the AVX-512 target features
//! (stable from Rust 1.89). With an older compiler — down to the declared `rust-version` — the
//! element code is compiled for AVX2 and the baseline only, with the same results.

use std::process::Command;

fn main() {
    println!("cargo:rustc-check-cfg=cfg(ufl_avx512)");
    println!("cargo:rerun-if-env-changed=RUSTC");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    // `rustc 1.95.0 (…)`: the minor version of a 1.x compiler.
    let minor = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| {
            let version = text.split_whitespace().nth(1)?.to_string();
            let mut parts = version.split('.');
            (parts.next()? == "1").then_some(())?;
            parts.next()?.parse::<u32>().ok()
        });
    if minor.is_some_and(|m| m >= 89) {
        println!("cargo:rustc-cfg=ufl_avx512");
    }
}
