//! The health check timer of one detached container's monitor.
//!
//! With `--health INTERVAL_MS PROBE...` before `--` on its command line, the monitor starts
//! this timer beside its relay: a thread (64 KiB of stack, asleep between probes) that runs
//! PROBE one interval after the container started and then one interval after each probe
//! ended, as docker's health monitor does, and reaps it. The probe is a short process
//! (`python -m hybridock.runtime.health`) that runs the check in the container with its
//! timeout, records the result atomically and exits, so nothing but this thread stays between
//! probes and no probe outlives the monitor's wait for it. `Timer::stop`, once the container
//! has exited and its exit is recorded, wakes the thread, waits for a probe still running (it
//! ends quickly: the container's processes are gone) and joins it.
//!
//! The thread only sleeps on a condition variable, spawns with `std::process::Command` and
//! waits for that one pid; the main thread's waits name the container's pid, so neither reaps
//! the other's child.

use std::ffi::OsString;
use std::os::raw::c_int;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

extern "C" {
    fn signal(signum: c_int, handler: usize) -> usize;
    fn fcntl(fd: c_int, command: c_int, ...) -> c_int; // as main.rs declares it: variadic
}
const F_SETFD: c_int = 2;
const FD_CLOEXEC: c_int = 1;
const SIG_DFL: usize = 0;
/// The signals the monitor ignores (SIGHUP, SIGINT, SIGPIPE): a probe gets their default back.
const IGNORED_BY_MONITOR: [c_int; 3] = [1, 2, 13];
const STACK: usize = 64 * 1024;

/// What to run, and how often.
pub struct Probe {
    interval: Duration,
    argv: Vec<OsString>,
}

/// The monitor's arguments after `ERR_FD`: `[--health INTERVAL_MS PROBE...] [-- ON_EXIT...]`;
/// returns the probe (None without `--health`, or with a bad interval) and the on-exit argv.
pub fn split_arguments(rest: &[OsString]) -> (Option<Probe>, Vec<OsString>) {
    let separator = rest
        .iter()
        .position(|a| a.as_bytes() == b"--")
        .unwrap_or(rest.len());
    let on_exit = rest.get(separator + 1..).unwrap_or_default().to_vec();
    let probe = match &rest[..separator] {
        [flag, interval, argv @ ..] if flag.as_bytes() == b"--health" && !argv.is_empty() => {
            interval
                .to_str()
                .and_then(|text| text.parse::<u64>().ok())
                .map(|milliseconds| Probe {
                    interval: Duration::from_millis(milliseconds.max(1)),
                    argv: argv.to_vec(),
                })
        }
        _ => None,
    };
    (probe, on_exit)
}

/// The running timer; `stop` ends it.
pub struct Timer {
    stopped: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Timer {
    /// Starts the thread; `private_fds` (the container's output pipes) are made close-on-exec
    /// first, so no probe holds them.
    pub fn start(probe: Probe, private_fds: &[i32]) -> Timer {
        for &fd in private_fds.iter().filter(|&&fd| fd >= 0) {
            // SAFETY: fcntl on an fd this process owns; failure only leaves it inheritable.
            unsafe { fcntl(fd, F_SETFD, FD_CLOEXEC) };
        }
        let stopped = Arc::new((Mutex::new(false), Condvar::new()));
        let shared = Arc::clone(&stopped);
        let thread = std::thread::Builder::new()
            .name("health".into())
            .stack_size(STACK)
            .spawn(move || run(&probe, &shared))
            .ok();
        Timer { stopped, thread }
    }

    pub fn stop(mut self) {
        let (flag, wake) = &*self.stopped;
        *flag.lock().unwrap_or_else(PoisonError::into_inner) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(probe: &Probe, stopped: &(Mutex<bool>, Condvar)) {
    let (flag, wake) = stopped;
    loop {
        let due = Instant::now() + probe.interval;
        let mut done = flag.lock().unwrap_or_else(PoisonError::into_inner);
        while !*done {
            let now = Instant::now();
            if now >= due {
                break;
            }
            done = wake
                .wait_timeout(done, due - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        if *done {
            return;
        }
        drop(done);
        run_once(&probe.argv);
    }
}

fn run_once(argv: &[OsString]) {
    let mut command = Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    // SAFETY: only signal(2), async-signal-safe, runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            for signum in IGNORED_BY_MONITOR {
                signal(signum, SIG_DFL);
            }
            Ok(())
        });
    }
    if let Ok(mut child) = command.spawn() {
        let _ = child.wait();
    }
}
