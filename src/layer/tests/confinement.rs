//! Every confinement attack, with openat2 and with the fallback walk.

use std::fs;

use super::*;
use crate::error::Error;

struct AttackCase {
    name: &'static str,
    tar: Vec<u8>,
    unsafe_entry: Option<&'static str>,
}

fn confinement_cases() -> Vec<AttackCase> {
    vec![
        AttackCase {
            name: "dotdot file",
            tar: Tar::new().file("../escape", b"x").finish(),
            unsafe_entry: Some("../escape"),
        },
        AttackCase {
            name: "inner dotdot",
            tar: Tar::new().file("a/../../escape", b"x").finish(),
            unsafe_entry: Some("a/../../escape"),
        },
        AttackCase {
            name: "hardlink outside",
            tar: Tar::new().hardlink("h", "../outside/secret").finish(),
            unsafe_entry: Some("h"),
        },
        AttackCase {
            name: "whiteout dotdot",
            tar: Tar::new().file("a/.wh...", b"").finish(),
            unsafe_entry: Some("a/.wh..."),
        },
        AttackCase {
            name: "whiteout dot",
            tar: Tar::new().file(".wh..", b"").finish(),
            unsafe_entry: Some(".wh.."),
        },
        AttackCase {
            name: "symlink replacing root",
            tar: Tar::new().symlink(".", "/tmp").finish(),
            unsafe_entry: Some("."),
        },
        AttackCase {
            name: "symlink replacing slash",
            tar: Tar::new().symlink("/", "/tmp").finish(),
            unsafe_entry: Some("/"),
        },
        AttackCase {
            name: "hardlink to root",
            tar: Tar::new().hardlink("h", "/").finish(),
            unsafe_entry: Some("h"),
        },
        AttackCase {
            name: "absolute symlink then write through it",
            tar: Tar::new()
                .symlink("link", "/")
                .file("link/escape", b"x")
                .finish(),
            unsafe_entry: None,
        },
        AttackCase {
            name: "relative climbing symlink then write through it",
            tar: Tar::new()
                .symlink("up", "../../../../..")
                .dir("up/made")
                .file("up/made/escape", b"x")
                .finish(),
            unsafe_entry: None,
        },
        AttackCase {
            name: "symlinked dir then hardlink through it",
            tar: Tar::new()
                .symlink("etc", "/")
                .file("secret", b"s")
                .hardlink("h", "etc/secret")
                .finish(),
            unsafe_entry: None,
        },
        AttackCase {
            name: "absolute name",
            tar: Tar::new().file("/escape", b"x").finish(),
            unsafe_entry: None,
        },
    ]
}

#[test]
fn confinement_attacks() {
    for walk in [false, true] {
        crate::layer::path::force_walk(walk);
        check_confinement();
    }
    crate::layer::path::force_walk(false);
}

fn check_confinement() {
    for case in confinement_cases() {
        let d = dirs();
        fs::write(d.outside.join("secret"), b"host").unwrap();
        let result = extract(&case.tar, &d.dest);
        match (case.unsafe_entry, result) {
            (Some(entry), Err(Error::UnsafePath { entry: got, .. })) => {
                assert_eq!(got, entry, "{}", case.name);
            }
            (None, Ok(_)) => {}
            (expected, got) => panic!("{}: expected unsafe {expected:?}, got {got:?}", case.name),
        }
        let outside: Vec<_> = fs::read_dir(&d.outside)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            outside,
            ["secret"],
            "{}: nothing written outside",
            case.name
        );
        assert!(
            !d.dest.parent().unwrap().join("escape").exists(),
            "{}",
            case.name
        );
        assert!(
            !d.dest.parent().unwrap().join("made").exists(),
            "{}",
            case.name
        );
    }
}

#[test]
fn writes_through_symlinks_land_inside() {
    for walk in [false, true] {
        crate::layer::path::force_walk(walk);
        check_writes_through_symlinks();
    }
    crate::layer::path::force_walk(false);
}

fn check_writes_through_symlinks() {
    let d = dirs();
    let tar = Tar::new()
        .symlink("link", "/")
        .file("link/escape", b"x")
        .symlink("up", "../../..")
        .file("up/climbed", b"y")
        .file("secret", b"inside")
        .symlink("etc", "/")
        .hardlink("h", "etc/secret")
        .finish();
    extract(&tar, &d.dest).unwrap();
    assert_eq!(fs::read(d.dest.join("escape")).unwrap(), b"x");
    assert_eq!(fs::read(d.dest.join("climbed")).unwrap(), b"y");
    assert_eq!(fs::read(d.dest.join("h")).unwrap(), b"inside");
}
