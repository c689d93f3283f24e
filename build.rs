//! Builds `monitor/main.rs`, the per-container supervisor, as standalone executables that the
//! extension embeds (maturin cannot ship a binary beside a pyo3 module). It is std-only, so a
//! plain `rustc` call builds it: no nested cargo, no lock contention with this build.
//!
//! And builds `hybridock-runtime` (crates/runtime, the OCI runtime), which links the container
//! core and so needs cargo: a nested `cargo build -p hybridock-runtime` with a target directory
//! of its own (no lock shared with this build), whose binary is copied to
//! `target/wheel-data/scripts/` beside Cargo.toml; `wheel-data/scripts/hybridock-runtime`, the
//! directory maturin installs into the environment's bin/ beside the `hybridock` script
//! (`[tool.maturin] data`), holds a symlink to it.
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

/// The workspace's target directory: `OUT_DIR` is `<target>[/<triple>]/<profile>/build/<pkg>/out`.
fn target_directory(out: &Path) -> PathBuf {
    if let Some(dir) = env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let profile_dir = out
        .ancestors()
        .nth(3)
        .expect("OUT_DIR has the cargo layout");
    let dir = profile_dir
        .parent()
        .expect("a profile directory has a parent");
    // with an explicit --target the profile directory sits one level lower
    if dir
        .file_name()
        .is_some_and(|name| name == env::var_os("TARGET").unwrap_or_default())
    {
        dir.parent()
            .expect("a target-triple directory has a parent")
            .to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

/// Builds the OCI runtime binary and puts it where the wheel takes its scripts from.
fn build_runtime(out: &Path, target: &str) {
    println!("cargo:rerun-if-changed=crates");
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let release = env::var("PROFILE").is_ok_and(|profile| profile == "release");
    let targets = target_directory(out);
    let runtime_targets = targets.join("runtime");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&manifest_dir)
        .args([
            "build",
            "--quiet",
            "-p",
            "hybridock-runtime",
            "--target",
            target,
        ])
        .arg("--target-dir")
        .arg(&runtime_targets);
    if release {
        command.arg("--release");
    }
    // this build's own settings are not the nested one's
    for (key, _) in env::vars_os() {
        let key = key.to_string_lossy();
        // (and clippy's driver, when clippy runs this build: the runtime is linted as a
        // workspace member, its build here is a plain one)
        if key.starts_with("CARGO_FEATURE_")
            || key == "CARGO_TARGET_DIR"
            || key == "RUSTFLAGS"
            || key == "RUSTC_WORKSPACE_WRAPPER"
        {
            command.env_remove(key.as_ref());
        }
    }
    let status = command
        .status()
        .expect("running cargo for hybridock-runtime");
    assert!(status.success(), "building hybridock-runtime failed");
    let built = runtime_targets
        .join(target)
        .join(if release { "release" } else { "debug" })
        .join("hybridock-runtime");
    // beside the manifest, whatever the target directory: pyproject.toml names it
    let scripts = manifest_dir
        .join("target")
        .join("wheel-data")
        .join("scripts");
    std::fs::create_dir_all(&scripts).expect("creating target/wheel-data/scripts");
    let installed = scripts.join("hybridock-runtime");
    let staging = scripts.join(".hybridock-runtime.new");
    std::fs::copy(&built, &staging).expect("copying hybridock-runtime");
    std::fs::rename(&staging, &installed).expect("placing hybridock-runtime");
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
    build_runtime(&out, &target);
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
