//! hybridock-monitor: the supervisor of one detached container.
//!
//! The hybridock CLI forks; the child spawns the container (so the container is the child's own
//! child) and then execs this program, which must stay small: it runs for the container's whole
//! life, one per container, and a Python interpreter kept around for that costs ~10 MB each.
//! It relays the container's output into `<dir>/container.log` as docker's json-file lines
//! (`jsonlog.rs`, shared with the extension, which writes attached runs' logs with it),
//! reaps the container, and writes `<dir>/exit.json` atomically (temp file, fsync, rename). It
//! never touches the database: `hybridock ps` folds exit.json into the record.
//!
//! Usage: `hybridock-monitor DIR PID OUT_FD ERR_FD IN_FD ATTACH_FD [--if-exists MARKER]
//! [--health MS PROBE...] [-- ON_EXIT_ARGV...]`
//! (`ERR_FD` is -1 with a tty, whose master is `OUT_FD`; `IN_FD` is the container's stdin, -1
//! without `-i`, the master again with a tty; `ATTACH_FD` the listening `attach.sock`, or -1).
//! Attached clients (`attach.rs`) get the output as it comes, feed `IN_FD`, resize the tty and
//! get the exit code; neither they nor a full stdin ever make the monitor wait. `--health` runs
//! PROBE every MS milliseconds while the container runs (`health.rs`).
//! `ON_EXIT_ARGV` (e.g. `hybridock rm` for `--rm`) is exec'd after exit.json is written and the
//! clients are told; with `--if-exists`, only if MARKER exists then (the on-exit judge of a
//! container started without a restart policy, asked for by an `update --restart` during the
//! run: one stat instead of a Python start at every exit).
//!
//! The same program is also `--init` (built a second time, statically, so it runs inside any
//! image): invoked as `hybridock-init -- CMD...` it runs as the container's pid 1, starts CMD,
//! forwards every catchable signal to it, reaps every orphan that the kernel re-parents to it,
//! and exits with CMD's status (128+n for a signal).
//!
//! And `hybridock-monitor --reclaim TRASH` deletes, in the background, every tree the store took
//! out of service by renaming it into TRASH (a removed container's directory, an image's
//! layers): it forks, the parent exits at once (the CLI reaps it), the child starts its own
//! session and deletes, so `rm` and `run --rm` return after one rename.
//!
//! Built by build.rs with plain rustc: std only, no dependencies, so it needs no cargo lock.

mod attach;
mod health;
mod jsonlog;

use std::ffi::CString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use attach::{Hub, Input};
use jsonlog::JsonLog;

mod sys {
    use std::os::raw::{c_char, c_int, c_long, c_short};
    #[repr(C)]
    pub struct PollFd {
        pub fd: c_int,
        pub events: c_short,
        pub revents: c_short,
    }
    pub const POLLIN: c_short = 1;
    pub const POLLOUT: c_short = 4;
    pub const POLLERR: c_short = 8;
    pub const POLLHUP: c_short = 16;
    pub const POLLNVAL: c_short = 32;
    pub const EAGAIN: c_int = 11;
    pub const F_SETFD: c_int = 2;
    pub const FD_CLOEXEC: c_int = 1;
    pub const F_GETFL: c_int = 3;
    pub const F_SETFL: c_int = 4;
    pub const O_NONBLOCK: c_int = 0o4000;
    pub const TIOCSWINSZ: u64 = 0x5414;
    #[repr(C)]
    pub struct WinSize {
        pub rows: u16,
        pub columns: u16,
        pub x_pixels: u16,
        pub y_pixels: u16,
    }
    pub const WNOHANG: c_int = 1;
    pub const EINTR: c_int = 4;
    pub const ECHILD: c_int = 10;
    pub const SIGINT: c_int = 2;
    pub const SIGHUP: c_int = 1;
    pub const SIGPIPE: c_int = 13;
    pub const SIG_DFL: usize = 0;
    pub const SIG_IGN: usize = 1;
    extern "C" {
        pub fn poll(fds: *mut PollFd, nfds: u64, timeout: c_int) -> c_int;
        pub fn read(fd: c_int, buf: *mut u8, count: usize) -> isize;
        pub fn write(fd: c_int, buf: *const u8, count: usize) -> isize;
        pub fn fcntl(fd: c_int, command: c_int, ...) -> c_int;
        pub fn ioctl(fd: c_int, request: u64, ...) -> c_int;
        pub fn close(fd: c_int) -> c_int;
        pub fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
        pub fn signal(signum: c_int, handler: usize) -> usize;
        pub fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int;
        pub fn __errno_location() -> *mut c_int;
        pub fn _exit(code: c_int) -> !;
        pub fn prctl(
            option: c_int,
            arg2: c_long,
            arg3: c_long,
            arg4: c_long,
            arg5: c_long,
        ) -> c_int;
        pub fn fork() -> c_int;
        pub fn setsid() -> c_int;
        pub fn setpriority(which: c_int, who: c_int, prio: c_int) -> c_int;
        pub fn kill(pid: c_int, sig: c_int) -> c_int;
        pub fn sigfillset(set: *mut SigSet) -> c_int;
        pub fn sigemptyset(set: *mut SigSet) -> c_int;
        pub fn sigprocmask(how: c_int, set: *const SigSet, old: *mut SigSet) -> c_int;
        pub fn sigwaitinfo(set: *const SigSet, info: *mut SigInfo) -> c_int;
    }
    /// glibc's `sigset_t`: 1024 bits.
    #[repr(C)]
    pub struct SigSet(pub [u64; 16]);
    /// `siginfo_t` is 128 bytes; only `si_signo` (the first int) is read.
    #[repr(C)]
    pub struct SigInfo(pub [u64; 16]);
    pub const SIG_SETMASK: c_int = 2;
    pub const SIGCHLD: c_int = 17;
}

const BUFFER: usize = 64 * 1024;
/// Input from attached clients not yet taken by the container; past it, clients wait.
const STDIN_LIMIT: usize = 1 << 20;

fn errno() -> i32 {
    // SAFETY: __errno_location returns the calling thread's errno slot, always valid.
    unsafe { *sys::__errno_location() }
}

/// One of the container's output pipes, and which stream it is.
struct Stream {
    fd: RawFd,
    kind: jsonlog::Stream,
}

impl Stream {
    fn frame_kind(&self) -> u8 {
        match self.kind {
            jsonlog::Stream::Stdout => attach::STDOUT,
            jsonlog::Stream::Stderr => attach::STDERR,
        }
    }
}

/// The container's stdin (a pipe, or the tty's master, which the output stream owns), written
/// without blocking from what attached clients sent.
struct Stdin {
    fd: RawFd,
    owned: bool,
    pending: Vec<u8>,
    /// a client asked for the end of input (`STDIN_END`): closed once `pending` is written
    ending: bool,
}

impl Stdin {
    fn new(fd: RawFd, owned: bool) -> Self {
        // SAFETY: fcntl on an fd we were given; failure leaves it blocking, which poll guards.
        unsafe {
            let flags = sys::fcntl(fd, sys::F_GETFL);
            if flags >= 0 {
                sys::fcntl(fd, sys::F_SETFL, flags | sys::O_NONBLOCK);
            }
        }
        Self {
            fd,
            owned,
            pending: Vec::new(),
            ending: false,
        }
    }

    /// Writes what the container takes now; false once it cannot take any more (gone).
    fn write_pending(&mut self) -> bool {
        while !self.pending.is_empty() {
            // SAFETY: pending is valid for its length for the call's duration.
            let count = unsafe { sys::write(self.fd, self.pending.as_ptr(), self.pending.len()) };
            if count > 0 {
                self.pending.drain(..count.unsigned_abs());
                continue;
            }
            let error = errno();
            if error == sys::EINTR {
                continue;
            }
            return error == sys::EAGAIN;
        }
        true
    }

    fn close(self) {
        if self.owned {
            // SAFETY: our own pipe end, closed once.
            unsafe { sys::close(self.fd) };
        }
    }
}

/// The container's fds are the monitor's alone: nothing it starts (the on-exit program)
/// inherits them.
fn close_on_exec(fd: RawFd) {
    if fd >= 0 {
        // SAFETY: fcntl on an fd we were given; failure only leaves it inheritable.
        unsafe { sys::fcntl(fd, sys::F_SETFD, sys::FD_CLOEXEC) };
    }
}

/// `TIOCSWINSZ` on the container's pty; failure (not a tty) is harmless.
fn resize(master: RawFd, rows: u16, columns: u16) {
    let size = sys::WinSize {
        rows,
        columns,
        x_pixels: 0,
        y_pixels: 0,
    };
    // SAFETY: size is a valid winsize for the call's duration.
    unsafe { sys::ioctl(master, sys::TIOCSWINSZ, &raw const size) };
}

/// Everything the relay loop serves for one container.
struct Supervised<'a> {
    pid: i32,
    streams: Vec<Stream>,
    stdin: Option<Stdin>,
    terminal: Option<RawFd>,
    hub: Option<Hub>,
    log: Option<&'a mut JsonLog>,
}

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args
        .first()
        .is_some_and(|a| a.as_bytes().ends_with(b"init"))
    {
        let command: Vec<std::ffi::OsString> = args
            .iter()
            .skip(1)
            .skip_while(|a| a.as_bytes() == b"--")
            .cloned()
            .collect();
        init(&command);
    }
    if args.len() == 3 && args[1].as_bytes() == b"--reclaim" {
        reclaim(Path::new(&args[2]));
    }
    if args.len() < 7 {
        eprintln!(
            "usage: hybridock-monitor DIR PID OUT_FD ERR_FD IN_FD ATTACH_FD [--if-exists MARKER] \
             [--health MS PROBE...] [-- ON_EXIT...]"
        );
        eprintln!("       hybridock-monitor --reclaim TRASH");
        std::process::exit(2);
    }
    let dir = PathBuf::from(&args[1]);
    let parse = |index: usize| -> i32 {
        args[index]
            .to_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                eprintln!("hybridock-monitor: bad argument {}", args[index].display());
                std::process::exit(2)
            })
    };
    let pid = parse(2);
    let out_fd = parse(3);
    let err_fd = parse(4);
    let in_fd = parse(5);
    let attach_fd = parse(6);
    let (marker, rest) = split_marker(&args[7..]);
    let (probe, on_exit) = health::split_arguments(rest);

    // SAFETY: setting dispositions to SIG_IGN has no handler code to race with.
    unsafe {
        sys::signal(sys::SIGINT, sys::SIG_IGN);
        sys::signal(sys::SIGHUP, sys::SIG_IGN);
        sys::signal(sys::SIGPIPE, sys::SIG_IGN);
    }
    set_name(b"hd-monitor\0");

    let mut log = JsonLog::open(&dir.join("container.log")).ok();
    let mut streams = vec![Stream {
        fd: out_fd,
        kind: jsonlog::Stream::Stdout,
    }];
    if err_fd >= 0 {
        streams.push(Stream {
            fd: err_fd,
            kind: jsonlog::Stream::Stderr,
        });
    }
    for fd in [out_fd, err_fd, in_fd, attach_fd] {
        close_on_exec(fd);
    }
    let timer = probe.map(|probe| health::Timer::start(probe, &[out_fd, err_fd]));
    let hub = (attach_fd >= 0)
        .then(|| {
            // SAFETY: the fd is the listening socket handed to us for this purpose, owned here.
            Hub::new(unsafe { UnixListener::from_raw_fd(attach_fd) })
        })
        .and_then(Result::ok);
    let mut supervised = Supervised {
        pid,
        streams,
        stdin: (in_fd >= 0).then(|| Stdin::new(in_fd, in_fd != out_fd)),
        terminal: (err_fd < 0).then_some(out_fd),
        hub,
        log: log.as_mut(),
    };
    let status = supervised.relay_until_exit();
    let hub = supervised.hub.take();
    if let Some(stdin) = supervised.stdin.take() {
        stdin.close(); // not inherited by the on-exit program
    }
    if let Some(log) = log.as_mut() {
        log.finish();
    }
    let code = exit_code(status);
    // before exit.json: once that is read, a new start may bind its own socket here
    let _ = fs::remove_file(dir.join("attach.sock"));
    if let Err(error) = write_exit(&dir, code) {
        eprintln!("hybridock-monitor: cannot record the exit of {pid}: {error}");
    }
    if let Some(timer) = timer {
        timer.stop();
    }
    if let Some(hub) = hub {
        hub.finish(code);
    }
    if !on_exit.is_empty() && marker.is_none_or(|marker| marker.exists()) {
        run_on_exit(&on_exit);
    }
}

impl Supervised<'_> {
    /// Relays output to the log and the attached clients, and their input to the container,
    /// until it has exited and its streams are drained; returns the wait status (or -1 if the
    /// child could not be waited for).
    fn relay_until_exit(&mut self) -> i32 {
        let mut buffer = vec![0u8; BUFFER];
        let mut inputs = Vec::new();
        let mut status: Option<i32> = None;
        loop {
            let mut fds: Vec<sys::PollFd> = self
                .streams
                .iter()
                .filter(|s| s.fd >= 0)
                .map(|s| poll_fd(s.fd, sys::POLLIN))
                .collect();
            let outputs = fds.len();
            if outputs == 0 {
                break;
            }
            let stdin_waiting = self.stdin.as_ref().is_some_and(|s| !s.pending.is_empty());
            if let Some(stdin) = self.stdin.as_ref().filter(|_| stdin_waiting) {
                fds.push(poll_fd(stdin.fd, sys::POLLOUT));
            }
            let clients_start = fds.len();
            let reading = self
                .stdin
                .as_ref()
                .is_none_or(|s| s.pending.len() < STDIN_LIMIT);
            if let Some(hub) = &self.hub {
                fds.extend(hub.interests(reading).iter().map(|interest| {
                    let read = if interest.read { sys::POLLIN } else { 0 };
                    let write = if interest.write { sys::POLLOUT } else { 0 };
                    poll_fd(interest.fd, read | write)
                }));
            }
            // After the exit, only drain what is already buffered (grandchildren may hold the
            // pipe).
            let timeout = if status.is_some() { 0 } else { 200 };
            // SAFETY: fds is a valid array of fds.len() PollFd structs for the call's duration.
            let ready = unsafe { sys::poll(fds.as_mut_ptr(), fds.len() as u64, timeout) };
            if ready < 0 && errno() != sys::EINTR {
                break;
            }
            let drained_all = self.relay_output(&fds[..outputs], &mut buffer);
            if stdin_waiting && fds[outputs].revents != 0 {
                self.feed_stdin();
            }
            if let Some(hub) = self.hub.as_mut() {
                let lost = sys::POLLERR | sys::POLLHUP | sys::POLLNVAL;
                let ready: Vec<(RawFd, bool)> = fds[clients_start..]
                    .iter()
                    .filter(|p| p.revents != 0)
                    .map(|p| (p.fd, p.revents & lost != 0))
                    .collect();
                hub.serve(&ready, reading, &mut inputs);
            }
            self.take_inputs(&mut inputs);
            if status.is_none() {
                status = reap(self.pid, sys::WNOHANG);
            } else if ready <= 0 || drained_all {
                break;
            }
        }
        status.or_else(|| reap(self.pid, 0)).unwrap_or(-1)
    }

    /// Reads the ready output streams into the log and the clients; true when none had data.
    fn relay_output(&mut self, polled: &[sys::PollFd], buffer: &mut [u8]) -> bool {
        let mut drained_all = true;
        for poll_fd in polled.iter().filter(|p| p.revents != 0) {
            let stream = self
                .streams
                .iter_mut()
                .find(|s| s.fd == poll_fd.fd)
                .expect("polled fd");
            // SAFETY: buffer is valid for its length and owned by the caller.
            let count = unsafe { sys::read(stream.fd, buffer.as_mut_ptr(), buffer.len()) };
            if count > 0 {
                drained_all = false;
                let data = &buffer[..count.unsigned_abs()];
                if let Some(log) = self.log.as_deref_mut() {
                    log.write(stream.kind, data);
                }
                if let Some(hub) = self.hub.as_mut() {
                    hub.broadcast(stream.frame_kind(), data);
                }
                continue;
            }
            let error = errno();
            if count < 0 && (error == sys::EINTR || error == sys::EAGAIN) {
                continue;
            }
            if self.stdin.as_ref().is_some_and(|s| s.fd == stream.fd) {
                self.stdin = None; // the tty's master, closed just below
            }
            if self.terminal == Some(stream.fd) {
                self.terminal = None;
            }
            // SAFETY: the fd is ours (inherited for this purpose) and closed once.
            unsafe { sys::close(stream.fd) };
            stream.fd = -1;
        }
        drained_all
    }

    fn feed_stdin(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let open = stdin.write_pending();
            if open && !(stdin.ending && stdin.pending.is_empty()) {
                self.stdin = Some(stdin);
            } else {
                // the container closed its end (input has nowhere to go), or its input ended
                stdin.close();
            }
        }
    }

    fn take_inputs(&mut self, inputs: &mut Vec<Input>) {
        for input in inputs.drain(..) {
            match input {
                Input::Stdin(bytes) => {
                    if let Some(stdin) = self.stdin.as_mut() {
                        stdin.pending.extend_from_slice(&bytes);
                    }
                }
                // docker's detached containers are not StdinOnce: one client's end of input
                // is not the container's
                Input::CloseStdin => {}
                // the attached client's end of input is the container's (a pipe's; a tty's
                // master is also its output, and stays)
                Input::EndStdin => {
                    if let Some(stdin) = self.stdin.as_mut().filter(|s| s.owned) {
                        stdin.ending = true;
                    }
                }
                Input::Resize { rows, columns } => {
                    if let Some(master) = self.terminal {
                        resize(master, rows, columns);
                    }
                }
            }
        }
        if self
            .stdin
            .as_ref()
            .is_some_and(|s| !s.pending.is_empty() || s.ending)
        {
            self.feed_stdin();
        }
    }
}

fn poll_fd(fd: RawFd, events: std::os::raw::c_short) -> sys::PollFd {
    sys::PollFd {
        fd,
        events,
        revents: 0,
    }
}

fn reap(pid: i32, options: i32) -> Option<i32> {
    let mut status = 0;
    loop {
        // SAFETY: status is a valid out-pointer.
        let result = unsafe { sys::waitpid(pid, &raw mut status, options) };
        if result == pid {
            return Some(status);
        }
        if result == 0 {
            return None;
        }
        let error = errno();
        if error == sys::EINTR {
            continue;
        }
        return if error == sys::ECHILD { Some(-1) } else { None };
    }
}

fn exit_code(status: i32) -> i32 {
    if status < 0 {
        return 255;
    }
    let signal = status & 0x7f;
    if signal == 0 {
        (status >> 8) & 0xff
    } else {
        128 + signal
    }
}

fn write_exit(dir: &Path, code: i32) -> io::Result<()> {
    let (seconds, nanos) = jsonlog::now();
    let record = format!(
        "{{\"exit_code\": {code}, \"finished_at\": {seconds}.{nanos:09}, \"oom_killed\": false}}"
    );
    let temp = dir.join(".exit.json.tmp");
    let mut file = File::create(&temp)?;
    file.write_all(record.as_bytes())?;
    file.sync_all()?;
    fs::rename(&temp, dir.join("exit.json"))
}

/// `PR_SET_NAME` so `ps` shows what this process is; failure is harmless.
fn set_name(name: &[u8]) {
    debug_assert!(name.ends_with(b"\0"));
    // SAFETY: `name` is NUL-terminated and outlives the call, which copies it.
    unsafe { sys::prctl(15, name.as_ptr() as std::os::raw::c_long, 0, 0, 0) };
}

/// Deletes every entry of `trash` from a detached child (see the module's docs). Entries that
/// vanish meanwhile (another reclaimer, a `prune`) are skipped; whatever cannot be deleted
/// stays for the next reclaim. `remove_dir_all` never follows a symlink out of the tree.
fn reclaim(trash: &Path) -> ! {
    // SAFETY: fork in a single-threaded program. Without a child (-1) the deleting is done
    // in the foreground, still correct.
    let child = unsafe { sys::fork() };
    if child > 0 {
        // SAFETY: the parent exits without running anything else.
        unsafe { sys::_exit(0) }
    }
    // SAFETY: plain syscalls on the calling process; failures are harmless (it stays in the
    // CLI's session, at normal priority).
    unsafe {
        sys::setsid();
        sys::setpriority(0, 0, 10); // PRIO_PROCESS, self: yield the CPU to the next command
    }
    set_name(b"hd-reclaim\0");
    if let Ok(entries) = fs::read_dir(trash) {
        for entry in entries.flatten() {
            let path = entry.path();
            let _ = match entry.file_type() {
                Ok(kind) if kind.is_dir() => fs::remove_dir_all(&path),
                _ => fs::remove_file(&path),
            };
        }
    }
    // SAFETY: nothing is buffered; exiting.
    unsafe { sys::_exit(0) }
}

/// The monitor's arguments after `ATTACH_FD`: `[--if-exists MARKER]` and the rest.
fn split_marker(rest: &[std::ffi::OsString]) -> (Option<PathBuf>, &[std::ffi::OsString]) {
    match rest {
        [flag, marker, rest @ ..] if flag.as_bytes() == b"--if-exists" => {
            (Some(PathBuf::from(marker)), rest)
        }
        _ => (None, rest),
    }
}

fn run_on_exit(argv: &[std::ffi::OsString]) -> ! {
    let owned: Vec<CString> = argv
        .iter()
        .filter_map(|a| CString::new(a.as_bytes().to_vec()).ok())
        .collect();
    let mut pointers: Vec<*const std::os::raw::c_char> = owned.iter().map(|c| c.as_ptr()).collect();
    pointers.push(std::ptr::null());
    // SAFETY: pointers is a NULL-terminated array of valid C strings that outlive the call.
    unsafe {
        sys::execvp(pointers[0], pointers.as_ptr());
        let error = io::Error::last_os_error();
        eprintln!("hybridock-init: exec {}: {error}", argv[0].display());
        sys::_exit(if error.raw_os_error() == Some(2) {
            127
        } else {
            126
        });
    }
}

/// pid 1 duties for `--init`: all signals blocked and taken synchronously with sigwaitinfo, so
/// there is no handler code at all; SIGCHLD reaps, every other signal is forwarded.
fn init(command: &[std::ffi::OsString]) -> ! {
    if command.is_empty() {
        eprintln!("hybridock-init: no command given");
        std::process::exit(2);
    }
    let mut all = sys::SigSet([0; 16]);
    let mut none = sys::SigSet([0; 16]);
    // SAFETY: plain out-parameters on this stack frame.
    unsafe {
        sys::sigfillset(&raw mut all);
        sys::sigemptyset(&raw mut none);
        sys::sigprocmask(sys::SIG_SETMASK, &raw const all, std::ptr::null_mut());
    }
    // SAFETY: fork in a single-threaded program; the child only restores the mask and execs.
    let child = unsafe { sys::fork() };
    if child < 0 {
        eprintln!("hybridock-init: fork: {}", io::Error::last_os_error());
        std::process::exit(125);
    }
    if child == 0 {
        // Rust's runtime ignores SIGPIPE in this program, and an ignored signal stays ignored
        // across exec: the command gets the default action back, as under docker-init, so a
        // writer whose reader went away ends by SIGPIPE as it would outside a container.
        // SAFETY: default action and mask restored before exec; run_on_exit never returns.
        unsafe {
            sys::signal(sys::SIGPIPE, sys::SIG_DFL);
            sys::sigprocmask(sys::SIG_SETMASK, &raw const none, std::ptr::null_mut());
        }
        run_on_exit(command);
    }
    loop {
        let mut info = sys::SigInfo([0; 16]);
        // SAFETY: `all` is a valid set and `info` a 128-byte siginfo buffer.
        let signal = unsafe { sys::sigwaitinfo(&raw const all, &raw mut info) };
        if signal < 0 {
            continue;
        }
        if signal != sys::SIGCHLD {
            // SAFETY: forwarding a signal to our own child.
            unsafe { sys::kill(child, signal) };
            continue;
        }
        loop {
            let mut status = 0;
            // SAFETY: status is a valid out-pointer; -1 reaps any child.
            let reaped = unsafe { sys::waitpid(-1, &raw mut status, sys::WNOHANG) };
            if reaped <= 0 {
                break;
            }
            if reaped == child {
                std::process::exit(exit_code(status));
            }
        }
    }
}
