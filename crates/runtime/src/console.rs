//! runc's console socket protocol: the pty master of a `process.terminal` process goes to the
//! caller (conmon, containerd's shim, `recvtty`) over the unix socket named by
//! `--console-socket`, as one `SCM_RIGHTS` message whose payload is the master's name
//! (`/dev/ptmx`, as runc's `utils.SendFd` sends it; callers read only the fd).

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use crate::errors::{io_context, Result, RuntimeError};

/// Connects to the caller's console socket.
pub fn connect(path: &str) -> Result<UnixStream> {
    UnixStream::connect(path).map_err(io_context(
        "cannot connect to the console socket",
        Path::new(path),
    ))
}

/// Sends `master` over `socket`.
pub fn send_master(socket: &UnixStream, master: &OwnedFd) -> Result<()> {
    let name = b"/dev/ptmx";
    let mut iov = libc::iovec {
        iov_base: name.as_ptr() as *mut libc::c_void,
        iov_len: name.len(),
    };
    let fd = master.as_raw_fd();
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<i32>() as u32) } as usize;
    let mut control = vec![0u8; space];
    // SAFETY: a zeroed msghdr is valid; every pointer set below outlives the sendmsg call.
    let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
    message.msg_iov = &mut iov;
    message.msg_iovlen = 1;
    message.msg_control = control.as_mut_ptr().cast();
    message.msg_controllen = space;
    // SAFETY: the control buffer has room for one cmsghdr with one int (CMSG_SPACE above).
    unsafe {
        let header = libc::CMSG_FIRSTHDR(&message);
        (*header).cmsg_level = libc::SOL_SOCKET;
        (*header).cmsg_type = libc::SCM_RIGHTS;
        (*header).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<i32>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(header).cast::<i32>(), fd);
    }
    // SAFETY: sendmsg(2) on a connected socket with the message built above.
    if unsafe { libc::sendmsg(socket.as_raw_fd(), &message, 0) } < 0 {
        return Err(RuntimeError::new(format!(
            "cannot send the console over the console socket: {}",
            crate::errors::strip_os_error(&std::io::Error::last_os_error())
        )));
    }
    Ok(())
}
