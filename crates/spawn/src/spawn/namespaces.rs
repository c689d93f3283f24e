//! The namespaces a container gets, as `clone` flags.
//!
//! A new mount namespace is always part of the set: the rootfs, /proc, /dev and every bind
//! mount are made inside it, so they vanish with the container and never show on the host.
//! `CLONE_NEWPID` on the one `clone` makes the child pid 1 of the new namespace while it stays
//! a direct child of the caller (who reaps it with `waitpid`). No user namespace on docker's
//! path: hybridock runs containers as real root, like docker's default; an OCI config's one
//! (`Spec::user_namespace`) adds `CLONE_NEWUSER` in plan.rs, so the others are owned by it.

use libc::c_int;

use crate::spawn::spec::Namespaces;

/// The `CLONE_NEW*` flags for `namespaces` (always including `CLONE_NEWNS`). The cgroup
/// namespace is not among them: the child unshares it after joining its cgroups (see plan.rs).
#[must_use]
pub fn clone_flags(namespaces: Namespaces) -> c_int {
    let mut flags = libc::CLONE_NEWNS;
    for (wanted, flag) in [
        (namespaces.pid, libc::CLONE_NEWPID),
        (namespaces.uts, libc::CLONE_NEWUTS),
        (namespaces.ipc, libc::CLONE_NEWIPC),
        (namespaces.net, libc::CLONE_NEWNET),
    ] {
        if wanted {
            flags |= flag;
        }
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_per_namespace_set() {
        let cases = [
            (
                "all",
                Namespaces::default(),
                libc::CLONE_NEWNS
                    | libc::CLONE_NEWPID
                    | libc::CLONE_NEWUTS
                    | libc::CLONE_NEWIPC
                    | libc::CLONE_NEWNET,
            ),
            (
                "host network",
                Namespaces {
                    net: false,
                    ..Namespaces::default()
                },
                libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC,
            ),
            (
                "mount only",
                Namespaces {
                    pid: false,
                    uts: false,
                    ipc: false,
                    net: false,
                    cgroup: true, // unshared by the child after the cgroups are joined
                },
                libc::CLONE_NEWNS,
            ),
        ];
        for (name, namespaces, expected) in cases {
            assert_eq!(clone_flags(namespaces), expected, "{name}");
        }
    }
}
