//! runc's command line, parsed by hand (no clap: start-up cost is part of every `create`).
//!
//! Shape: `hybridock-runtime [global flags] COMMAND [flags] ARGS...`, flags as urfave/cli (runc's
//! parser) takes them: `--name value`, `--name=value`, `-n value`, single-dash long names
//! (`-bundle`), booleans with an optional `=true|false`. Flags may follow the arguments, except
//! for `exec` and `ps`, where everything after the container id belongs to the process.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::errors::RuntimeError;

/// The global flags every caller passes before the command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Global {
    pub root: PathBuf,
    pub log: Option<PathBuf>,
    pub log_json: bool,
    pub debug: bool,
    pub systemd_cgroup: bool,
}

impl Default for Global {
    fn default() -> Self {
        Self {
            root: PathBuf::from(DEFAULT_ROOT),
            log: None,
            log_json: false,
            debug: false,
            systemd_cgroup: false,
        }
    }
}

pub const DEFAULT_ROOT: &str = "/run/hybridock-runtime";

/// One flag a command takes: its names (without dashes) and whether it takes a value.
#[derive(Clone, Copy, Debug)]
pub struct Flag {
    pub names: &'static [&'static str],
    pub value: bool,
}

const fn flag(names: &'static [&'static str]) -> Flag {
    Flag { names, value: true }
}

const fn switch(names: &'static [&'static str]) -> Flag {
    Flag {
        names,
        value: false,
    }
}

const GLOBAL_FLAGS: &[Flag] = &[
    flag(&["root"]),
    flag(&["log"]),
    flag(&["log-format"]),
    switch(&["debug"]),
    switch(&["systemd-cgroup"]),
    flag(&["criu"]),
    flag(&["rootless"]),
    switch(&["help", "h"]),
    switch(&["version", "v"]),
];

const CREATE_FLAGS: &[Flag] = &[
    flag(&["bundle", "b"]),
    flag(&["console-socket"]),
    flag(&["pid-file"]),
    switch(&["no-pivot"]),
    switch(&["no-new-keyring"]),
    flag(&["preserve-fds"]),
];

const RUN_FLAGS: &[Flag] = &[
    flag(&["bundle", "b"]),
    flag(&["console-socket"]),
    flag(&["pid-file"]),
    switch(&["no-pivot"]),
    switch(&["no-new-keyring"]),
    flag(&["preserve-fds"]),
    switch(&["detach", "d"]),
    switch(&["keep"]),
    switch(&["no-subreaper"]),
];

const EXEC_FLAGS: &[Flag] = &[
    flag(&["console-socket"]),
    flag(&["cwd"]),
    flag(&["env", "e"]),
    switch(&["tty", "t"]),
    flag(&["user", "u"]),
    flag(&["additional-gids", "g"]),
    flag(&["process", "p"]),
    switch(&["detach", "d"]),
    flag(&["pid-file"]),
    flag(&["process-label"]),
    flag(&["apparmor"]),
    switch(&["no-new-privs"]),
    flag(&["cap", "c"]),
    flag(&["preserve-fds"]),
    flag(&["cgroup"]),
    switch(&["ignore-paused"]),
];

const UPDATE_FLAGS: &[Flag] = &[
    flag(&["resources", "r"]),
    flag(&["blkio-weight"]),
    flag(&["cpu-period"]),
    flag(&["cpu-quota"]),
    flag(&["cpu-share"]),
    flag(&["cpu-rt-period"]),
    flag(&["cpu-rt-runtime"]),
    flag(&["cpuset-cpus"]),
    flag(&["cpuset-mems"]),
    flag(&["memory"]),
    flag(&["memory-reservation"]),
    flag(&["memory-swap"]),
    flag(&["pids-limit"]),
    flag(&["l3-cache-schema"]),
    flag(&["mem-bw-schema"]),
];

/// The flags of a command, how many arguments it takes (min, max), and whether flag parsing
/// stops at the first argument.
fn command_shape(command: &str) -> Option<(&'static [Flag], usize, usize, bool)> {
    const FORMAT: &[Flag] = &[flag(&["format", "f"])];
    const LIST: &[Flag] = &[flag(&["format", "f"]), switch(&["quiet", "q"])];
    const KILL: &[Flag] = &[switch(&["all", "a"])];
    const DELETE: &[Flag] = &[switch(&["force", "f"])];
    const SPEC: &[Flag] = &[flag(&["bundle", "b"]), switch(&["rootless"])];
    Some(match command {
        "create" => (CREATE_FLAGS, 1, 1, false),
        "run" => (RUN_FLAGS, 1, 1, false),
        "start" | "state" | "pause" | "resume" | "events" => (&[], 1, 1, false),
        "kill" => (KILL, 1, 2, false),
        "delete" => (DELETE, 1, usize::MAX, false),
        "exec" => (EXEC_FLAGS, 1, usize::MAX, true),
        "ps" => (FORMAT, 1, usize::MAX, true),
        "list" => (LIST, 0, 0, false),
        "update" => (UPDATE_FLAGS, 1, 1, false),
        "features" => (&[], 0, 0, false),
        "spec" => (SPEC, 0, 0, false),
        _ => return None,
    })
}

/// A parsed command: its name, flags (every value of a repeated flag, under its first name)
/// and arguments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Command {
    pub name: String,
    pub flags: BTreeMap<&'static str, Vec<String>>,
    pub args: Vec<String>,
}

impl Command {
    #[must_use]
    pub fn value(&self, name: &str) -> Option<&str> {
        self.flags
            .get(name)
            .and_then(|values| values.last())
            .map(String::as_str)
    }

    #[must_use]
    pub fn values(&self, name: &str) -> &[String] {
        self.flags.get(name).map_or(&[], Vec::as_slice)
    }

    #[must_use]
    pub fn is_set(&self, name: &str) -> bool {
        self.value(name).is_some_and(|value| value != "false")
    }

    /// The container id (every command with arguments takes it first).
    #[must_use]
    pub fn id(&self) -> &str {
        self.args.first().map_or("", String::as_str)
    }
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    Version,
    Help,
    /// `COMMAND -h`: the command's usage.
    CommandHelp(String),
    Run(Global, Command),
}

/// Parses the arguments after the program name.
pub fn parse(arguments: &[String]) -> Result<Invocation, RuntimeError> {
    let mut global = Global::default();
    let mut global_flags = Command::default();
    let rest = parse_flags(arguments, GLOBAL_FLAGS, true, &mut global_flags)?;
    if global_flags.is_set("version") {
        return Ok(Invocation::Version);
    }
    if let Some(root) = global_flags.value("root") {
        global.root = PathBuf::from(root);
    }
    global.log = global_flags
        .value("log")
        .filter(|log| !log.is_empty())
        .map(PathBuf::from);
    match global_flags.value("log-format") {
        None | Some("text") => {}
        Some("json") => global.log_json = true,
        Some(other) => return Err(RuntimeError::new(format!("invalid log-format: {other}"))),
    }
    global.debug = global_flags.is_set("debug");
    global.systemd_cgroup = global_flags.is_set("systemd-cgroup");
    if global_flags.value("rootless") == Some("true") {
        return Err(RuntimeError::new(
            "rootless containers are not supported: run as root (--rootless=auto or false)",
        ));
    }
    let Some((name, rest)) = rest.split_first() else {
        return Ok(Invocation::Help);
    };
    if global_flags.is_set("help") || name == "help" {
        return Ok(Invocation::Help);
    }
    let Some((flags, min, max, stop_at_argument)) = command_shape(name) else {
        return Err(RuntimeError::new(format!("No help topic for '{name}'")));
    };
    let flags_part = rest
        .iter()
        .take_while(|argument| argument.starts_with('-') && *argument != "--");
    if flags_part
        .into_iter()
        .any(|argument| argument == "-h" || argument == "--help")
    {
        return Ok(Invocation::CommandHelp(name.clone()));
    }
    let mut command = Command {
        name: name.clone(),
        ..Command::default()
    };
    command.args = parse_flags(rest, flags, stop_at_argument, &mut command)?;
    let count = command.args.len();
    if count < min || count > max {
        let wanted = if min == max {
            format!("exactly {min}")
        } else if count < min {
            format!("a minimum of {min}")
        } else {
            format!("a maximum of {max}")
        };
        return Err(RuntimeError::new(format!(
            "hybridock-runtime: \"{name}\" requires {wanted} argument(s)"
        )));
    }
    Ok(Invocation::Run(global, command))
}

/// Takes the flags out of `arguments` into `into`; returns the arguments left, in order.
fn parse_flags(
    arguments: &[String],
    known: &[Flag],
    stop_at_argument: bool,
    into: &mut Command,
) -> Result<Vec<String>, RuntimeError> {
    let mut rest = Vec::new();
    let mut index = 0;
    while index < arguments.len() {
        let argument = &arguments[index];
        index += 1;
        if argument == "--" {
            rest.extend(arguments[index..].iter().cloned());
            break;
        }
        let Some(body) = argument
            .strip_prefix("--")
            .or_else(|| argument.strip_prefix('-'))
            .filter(|body| !body.is_empty() && argument != "-")
        else {
            rest.push(argument.clone());
            if stop_at_argument {
                rest.extend(arguments[index..].iter().cloned());
                break;
            }
            continue;
        };
        let (name, inline) = match body.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (body, None),
        };
        let Some(flag) = known.iter().find(|flag| flag.names.contains(&name)) else {
            if argument.starts_with('-') && argument[1..].parse::<i64>().is_ok() {
                rest.push(argument.clone()); // a negative number argument
                continue;
            }
            return Err(RuntimeError::new(format!(
                "flag provided but not defined: -{name}"
            )));
        };
        let value = if flag.value {
            if let Some(value) = inline {
                value
            } else {
                let Some(value) = arguments.get(index) else {
                    return Err(RuntimeError::new(format!(
                        "flag needs an argument: -{name}"
                    )));
                };
                index += 1;
                value.clone()
            }
        } else {
            inline.unwrap_or_else(|| "true".to_owned())
        };
        into.flags.entry(flag.names[0]).or_default().push(value);
    }
    Ok(rest)
}

/// A signal by name (`KILL`, `SIGKILL`, `kill`) or number (0 only checks, as kill(2)).
pub fn parse_signal(text: &str) -> Result<i32, RuntimeError> {
    if let Ok(number) = text.parse::<i32>() {
        if (0..=64).contains(&number) {
            return Ok(number);
        }
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let number = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "STKFLT" => libc::SIGSTKFLT,
        "CHLD" | "CLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => {
            return Err(RuntimeError::new(format!("unknown signal {text:?}")));
        }
    };
    Ok(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    fn run(text: &str) -> (Global, Command) {
        match parse(&args(text)).unwrap() {
            Invocation::Run(global, command) => (global, command),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn containerd_create() {
        let (global, command) = run("--root /r --log /b/log.json --log-format json create --bundle /b --pid-file /b/init.pid box");
        assert_eq!(global.root, PathBuf::from("/r"));
        assert_eq!(global.log, Some(PathBuf::from("/b/log.json")));
        assert!(global.log_json);
        assert_eq!(command.name, "create");
        assert_eq!(command.value("bundle"), Some("/b"));
        assert_eq!(command.value("pid-file"), Some("/b/init.pid"));
        assert_eq!(command.args, ["box"]);
    }

    #[test]
    fn flag_forms() {
        let (_, command) = run("create -b=/b --no-pivot -console-socket /s box");
        assert_eq!(command.value("bundle"), Some("/b"));
        assert!(command.is_set("no-pivot"));
        assert_eq!(command.value("console-socket"), Some("/s"));
        let (_, command) = run("kill box 9 --all");
        assert!(command.is_set("all"));
        assert_eq!(command.args, ["box", "9"]);
    }

    #[test]
    fn exec_stops_at_the_id() {
        let (_, command) = run("exec -e A=1 --env B=2 -t box sh -c --tty");
        assert_eq!(command.values("env"), ["A=1", "B=2"]);
        assert!(command.is_set("tty"));
        assert_eq!(command.args, ["box", "sh", "-c", "--tty"]);
    }

    #[test]
    fn errors_in_runcs_words() {
        let message = |text: &str| parse(&args(text)).unwrap_err().to_string();
        assert_eq!(
            message("state"),
            "hybridock-runtime: \"state\" requires exactly 1 argument(s)"
        );
        assert_eq!(
            message("kill"),
            "hybridock-runtime: \"kill\" requires a minimum of 1 argument(s)"
        );
        assert_eq!(message("bogus"), "No help topic for 'bogus'");
        assert_eq!(
            message("create --nope x"),
            "flag provided but not defined: -nope"
        );
        assert_eq!(parse(&args("-v")).unwrap(), Invocation::Version);
        assert_eq!(
            parse(&args("--root /r --version")).unwrap(),
            Invocation::Version
        );
    }

    #[test]
    fn signals() {
        for (text, number) in [
            ("KILL", 9),
            ("SIGKILL", 9),
            ("9", 9),
            ("term", 15),
            ("SIGWINCH", 28),
        ] {
            assert_eq!(parse_signal(text).unwrap(), number, "{text}");
        }
        assert_eq!(
            parse_signal("NOPE").unwrap_err().to_string(),
            "unknown signal \"NOPE\""
        );
    }
}
