//! runc's console socket protocol: the pty master of a `process.terminal` process goes to the
//! caller (conmon, containerd's shim, `recvtty`) over the unix socket named by
//! `--console-socket`, as one `SCM_RIGHTS` message whose payload is the master's name
//! (`/dev/ptmx`, as runc's `utils.SendFd` sends it; callers read only the fd).

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use hybridock_spawn::spawn::syscall::send_fd_with;

use crate::errors::{io_context, Result, RuntimeError};

/// Connects to the caller's console socket.
pub fn connect(path: &str) -> Result<UnixStream> {
    UnixStream::connect(path).map_err(io_context(
        "cannot connect to the console socket",
        Path::new(path),
    ))
}

/// Sends `master` over `socket` (the spawner's `SCM_RIGHTS` sender, runc's payload).
pub fn send_master(socket: &UnixStream, master: &OwnedFd) -> Result<()> {
    send_fd_with(socket.as_raw_fd(), master.as_raw_fd(), b"/dev/ptmx").map_err(|errno| {
        RuntimeError::new(format!(
            "cannot send the console over the console socket: {}",
            crate::errors::strip_os_error(&std::io::Error::from_raw_os_error(errno.0))
        ))
    })
}

/// `run` in the foreground with a terminal and no console socket (runc does the same): our
/// terminal is put in raw mode, sized onto the container's, and bytes are copied both ways
/// until the container's side closes (every slave fd gone: the process exited).
pub fn proxy(master: &OwnedFd) {
    let raw = RawMode::enter(libc::STDIN_FILENO);
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ with a winsize the size of the kernel's.
    unsafe {
        if libc::ioctl(libc::STDIN_FILENO, libc::TIOCGWINSZ, &mut size) == 0 {
            libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size);
        }
    }
    let mut stdin_open = true;
    let mut buffer = [0u8; 8192];
    loop {
        let mut fds = [
            libc::pollfd {
                fd: master.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if stdin_open { libc::STDIN_FILENO } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: poll(2) on two pollfds (a negative fd is ignored).
        if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            break;
        }
        if fds[0].revents != 0 {
            // SAFETY: read(2) into our buffer.
            let count =
                unsafe { libc::read(master.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len()) };
            if count <= 0 {
                break; // EIO: the last slave closed
            }
            write_all(libc::STDOUT_FILENO, &buffer[..count as usize]);
        }
        if fds[1].revents != 0 {
            // SAFETY: read(2) into our buffer.
            let count =
                unsafe { libc::read(libc::STDIN_FILENO, buffer.as_mut_ptr().cast(), buffer.len()) };
            if count <= 0 {
                stdin_open = false;
            } else {
                write_all(master.as_raw_fd(), &buffer[..count as usize]);
            }
        }
    }
    drop(raw);
}

fn write_all(fd: i32, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: write(2) from a live slice.
        let written = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if written <= 0 {
            return;
        }
        bytes = &bytes[written as usize..];
    }
}

/// A terminal in raw mode until dropped (nothing when `fd` is not a terminal).
struct RawMode {
    fd: i32,
    saved: Option<libc::termios>,
}

impl RawMode {
    fn enter(fd: i32) -> Self {
        // SAFETY: tcgetattr/tcsetattr on a termios of our own.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::isatty(fd) == 0 || libc::tcgetattr(fd, &mut saved) != 0 {
                return Self { fd, saved: None };
            }
            let mut raw = saved;
            libc::cfmakeraw(&mut raw);
            libc::tcsetattr(fd, libc::TCSANOW, &raw);
            Self {
                fd,
                saved: Some(saved),
            }
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            // SAFETY: restores the settings read in `enter`.
            unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, saved) };
        }
    }
}
