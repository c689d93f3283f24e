//! Builds `monitor/main.rs`, the per-container supervisor, as standalone executables that the
//! extension embeds (maturin cannot ship a binary beside a pyo3 module). It is std-only, so a
//! plain `rustc` call builds it: no nested cargo, no lock contention with this build.
//!
//! Two builds of the one source: `hybridock-monitor`, dynamically linked (its libc pages are
//! shared with every other process, which keeps each monitor's PSS small), and
//! `hybridock-init`, statically linked, because it runs inside containers whose images may
//! have no glibc at all. A toolchain without a static libc still builds the extension; only
//! `--init` then reports that it is unavailable (the embedded init is empty).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const SOURCE: &str = "monitor/main.rs";

fn rustc(target: &str, output: &Path, extra: &[&str]) -> bool {
    let compiler = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let mut command = Command::new(compiler);
    command
        .args([
            "--edition",
            "2021",
            "--crate-name",
            "hybridock_monitor",
            "--target",
            target,
        ])
        .args([
            "-C",
            "opt-level=s",
            "-C",
            "panic=abort",
            "-C",
            "strip=symbols",
        ])
        .args(["-C", "codegen-units=1"])
        .args(extra);
    let linker_variable = format!(
        "CARGO_TARGET_{}_LINKER",
        target.to_uppercase().replace('-', "_")
    );
    if let Ok(linker) = env::var(linker_variable) {
        command.arg("-C").arg(format!("linker={linker}"));
    }
    command.arg("-o").arg(output).arg(SOURCE);
    command.status().is_ok_and(|status| status.success())
}

fn main() {
    println!("cargo:rerun-if-changed={SOURCE}");
    println!("cargo:rerun-if-changed=monitor/jsonlog.rs");
    println!("cargo:rerun-if-changed=monitor/attach.rs");
    println!("cargo:rerun-if-changed=monitor/health.rs");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target = env::var("TARGET").expect("cargo sets TARGET");
    assert!(
        rustc(&target, &out.join("hybridock-monitor"), &[]),
        "building {SOURCE} (the monitor) failed"
    );
    let init = out.join("hybridock-init");
    let static_flags = [
        "-C",
        "target-feature=+crt-static",
        "-C",
        "relocation-model=static",
    ];
    if !rustc(&target, &init, &static_flags) {
        println!("cargo:warning=no static libc: --init will be unavailable in this build");
        std::fs::write(&init, b"").expect("writing the empty init placeholder");
    }
}
