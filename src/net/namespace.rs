//! Network namespaces from the calling thread, which always ends in its own namespace.
//!
//! A network namespace is per thread (`nsproxy` is per task), so `unshare(CLONE_NEWNET)` and
//! `setns(fd, CLONE_NEWNET)` move only the calling thread, even in a multi-threaded process.
//! [`ThreadInNamespace`] records the thread's own namespace (an open
//! `/proc/thread-self/ns/net`) before it leaves and puts it back on drop, on every path: a
//! thread that stayed elsewhere would create the caller's later sockets and children in a
//! container's namespace. While away, the thread only opens what it needs there (the
//! namespace's fd, a netlink socket, which stays bound to that namespace) and comes straight
//! back; the talking happens from home.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use crate::error::{Error, Result};
use crate::net::message;
use crate::net::socket::RouteSocket;

const THREAD_NETWORK_NAMESPACE: &std::ffi::CStr = c"/proc/thread-self/ns/net";

fn open_namespace_file() -> io::Result<OwnedFd> {
    // SAFETY: a NUL-terminated literal path; the fd returned is ours.
    let fd = unsafe {
        libc::open(
            THREAD_NETWORK_NAMESPACE.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: open returned a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The calling thread, away from its own network namespace until this is dropped.
struct ThreadInNamespace {
    own: OwnedFd,
}

impl ThreadInNamespace {
    /// Moves the thread into the namespace `target` (an open netns fd).
    fn enter(target: BorrowedFd<'_>) -> Result<Self> {
        let own = open_namespace_file()
            .map_err(|source| Error::network("opening our own network namespace", source))?;
        // SAFETY: integer arguments; affects only this thread's network namespace.
        if unsafe { libc::setns(target.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(Error::network(
                format!("entering the network namespace (fd {})", target.as_raw_fd()),
                io::Error::last_os_error(),
            ));
        }
        Ok(Self { own })
    }

    /// Moves the thread into a new, empty network namespace.
    fn enter_new() -> Result<Self> {
        let own = open_namespace_file()
            .map_err(|source| Error::network("opening our own network namespace", source))?;
        // SAFETY: an integer argument; affects only this thread (CLONE_NEWNET alone does
        // not unshare anything shared with the other threads).
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(Error::network(
                "creating a network namespace",
                io::Error::last_os_error(),
            ));
        }
        Ok(Self { own })
    }
}

impl Drop for ThreadInNamespace {
    fn drop(&mut self) {
        // SAFETY: integer arguments. Returning to the namespace the thread came from needs
        // the same privilege that let it leave.
        let restored = unsafe { libc::setns(self.own.as_raw_fd(), libc::CLONE_NEWNET) };
        // A thread that cannot come back must not run on in a container's namespace.
        assert!(
            restored == 0,
            "cannot return to our own network namespace: {}",
            io::Error::last_os_error()
        );
    }
}

/// A new network namespace with `lo` up, as an `O_CLOEXEC` fd the caller owns; nothing holds
/// the namespace but that fd until a process joins it.
pub fn new_network_namespace() -> Result<OwnedFd> {
    let (namespace, mut socket) = {
        let _away = ThreadInNamespace::enter_new()?;
        let namespace = open_namespace_file()
            .map_err(|source| Error::network("opening the new network namespace", source))?;
        let socket = RouteSocket::open().map_err(|source| {
            Error::network("opening a netlink socket in the new namespace", source)
        })?;
        (namespace, socket)
    };
    socket
        .execute(message::set_link_up("lo"))
        .map_err(|source| Error::network("bringing lo up in the new namespace", source))?;
    Ok(namespace)
}

/// A netlink socket bound to the network namespace `namespace`.
pub fn route_socket_in(namespace: BorrowedFd<'_>) -> Result<RouteSocket> {
    let _away = ThreadInNamespace::enter(namespace)?;
    RouteSocket::open().map_err(|source| {
        Error::network(
            "opening a netlink socket in the container's namespace",
            source,
        )
    })
}
