//! Builds `monitor/main.rs`, the per-container supervisor, as a standalone executable that the
//! extension embeds (maturin cannot ship a binary beside a pyo3 module). It is std-only, so a
//! plain `rustc` call builds it: no nested cargo, no lock contention with this build.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let source = "monitor/main.rs";
    println!("cargo:rerun-if-changed={source}");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let target = env::var("TARGET").expect("cargo sets TARGET");
    let mut command = Command::new(rustc);
    command
        .args(["--edition", "2021", "--crate-name", "hybridock_monitor", "--target", &target])
        .args(["-C", "opt-level=s", "-C", "panic=abort", "-C", "strip=symbols"])
        .args(["-C", "codegen-units=1"]);
    if let Ok(linker) = env::var(format!("CARGO_TARGET_{}_LINKER", target.to_uppercase().replace('-', "_"))) {
        command.arg("-C").arg(format!("linker={linker}"));
    }
    let status = command
        .arg("-o")
        .arg(out.join("hybridock-monitor"))
        .arg(source)
        .status()
        .expect("running rustc for the monitor");
    assert!(status.success(), "building {source} failed");
}
