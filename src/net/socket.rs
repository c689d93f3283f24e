//! A `NETLINK_ROUTE` socket: one request at a time, each answered before the next is sent.
//!
//! A socket belongs to the network namespace of the thread that opened it, for its whole
//! life: that is how a namespace is configured without leaving a thread in it (open the socket
//! there, come back, then talk). Requests carry `NLM_F_ACK`, so the kernel answers every one
//! with an `NLMSG_ERROR` (error 0 is the ack); replies whose sequence number is not the
//! request's are skipped. `NETLINK_CAP_ACK` keeps the kernel from echoing the request in an
//! error reply.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::net::message::{self, Link, Message, Reply};

const SOL_NETLINK: libc::c_int = 270;
const NETLINK_CAP_ACK: libc::c_int = 10;

/// Large enough for any one answer hybridock asks for (a link is ~1.5 KiB).
const RECEIVE_BUFFER: usize = 32 * 1024;

pub struct RouteSocket {
    fd: OwnedFd,
    sequence: u32,
}

impl RouteSocket {
    /// A socket in the calling thread's current network namespace.
    pub fn open() -> io::Result<Self> {
        // SAFETY: integer arguments; the fd returned is ours.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: socket returned a fresh descriptor.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let on: libc::c_int = 1;
        // SAFETY: a valid fd and an int option of the size given. Failure (a kernel before
        // 4.3) only makes error replies longer, so it is ignored.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                SOL_NETLINK,
                NETLINK_CAP_ACK,
                (&raw const on).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        Ok(Self { fd, sequence: 0 })
    }

    /// Sends `message` and waits for its ack; an error reply becomes its errno.
    pub fn execute(&mut self, message: Message) -> io::Result<()> {
        match self.exchange(message)? {
            Reply::Ack => Ok(()),
            Reply::Error(errno) => Err(io::Error::from_raw_os_error(errno)),
            Reply::Link(_) | Reply::Other => Err(io::Error::from_raw_os_error(libc::EPROTO)),
        }
    }

    /// The link `name`, or `None` when there is none.
    pub fn link(&mut self, name: &str) -> io::Result<Option<Link>> {
        match self.exchange(message::get_link(name))? {
            Reply::Link(link) => Ok(Some(link)),
            Reply::Error(libc::ENODEV) => Ok(None),
            Reply::Error(errno) => Err(io::Error::from_raw_os_error(errno)),
            Reply::Ack | Reply::Other => Err(io::Error::from_raw_os_error(libc::EPROTO)),
        }
    }

    /// Sends `message` and returns the first reply that carries its sequence number.
    fn exchange(&mut self, message: Message) -> io::Result<Reply> {
        self.sequence = self.sequence.wrapping_add(1);
        let sequence = self.sequence;
        let request = message.finish(sequence);
        // SAFETY: a valid fd and a readable buffer of the length given; an unconnected
        // netlink socket sends to the kernel (port 0).
        let sent = unsafe {
            libc::send(
                self.fd.as_raw_fd(),
                request.as_ptr().cast(),
                request.len(),
                0,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buffer = vec![0u8; RECEIVE_BUFFER];
        loop {
            // SAFETY: a valid fd and a writable buffer of the length given.
            let received = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buffer.as_mut_ptr().cast(),
                    buffer.len(),
                    0,
                )
            };
            if received < 0 {
                let error = io::Error::last_os_error();
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(error);
            }
            let datagram = &buffer[..received as usize];
            if let Some((_, reply)) = message::replies(datagram)
                .into_iter()
                .find(|&(answered, _)| answered == sequence)
            {
                return Ok(reply);
            }
        }
    }
}
