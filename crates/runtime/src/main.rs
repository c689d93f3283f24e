//! `hybridock-runtime`: hybridock's spawner as an OCI runtime, speaking runc's command line
//! (`create`, `start`, `state`, `kill`, `delete`, `run`, `exec`, `list`, `ps`, `pause`,
//! `resume`, `update`, `features`, `spec`) on an OCI bundle, so containerd's shim, podman's
//! conmon and Kubernetes nodes can run containers with it.
//!
//! Modules: [`cli`] parses runc's flags by hand, [`state`] keeps `<root>/<id>/`, [`container`]
//! runs a container's life, [`hooks`] the OCI hooks, [`commands`] one function per command,
//! [`log`] errors as runc logs them (containerd reads `--log-format json`).

mod cli;
mod commands;
mod console;
mod container;
mod errors;
mod hooks;
mod log;
mod state;

use cli::Invocation;

const VERSION: &str = env!("CARGO_PKG_VERSION");

const USAGE: &str = "\
NAME:
   hybridock-runtime - hybridock's OCI runtime (runc's command line)

USAGE:
   hybridock-runtime [global options] command [command options] [arguments...]

COMMANDS:
   create    create a container
   delete    delete any resources held by the container often used with detached container
   exec      execute new process inside the container
   features  show the enabled features
   kill      kill sends the specified signal (default: SIGTERM) to the container's init process
   list      lists containers started by hybridock-runtime with the given root
   pause     pause suspends all processes inside the container
   ps        ps displays the processes running inside a container
   resume    resumes all processes that have been previously paused
   run       create and run a container
   spec      create a new specification file
   start     executes the user defined process in a created container
   state     output the state of a container
   update    update container resource constraints

GLOBAL OPTIONS:
   --debug             enable debug logging
   --log value         set the log file to write logs to (default is '/dev/stderr')
   --log-format value  set the log format ('text' (default), or 'json')
   --root value        root directory for storage of container state (default: \"/run/hybridock-runtime\")
   --criu value        accepted and ignored (no checkpoint/restore)
   --systemd-cgroup    cgroupsPath as \"slice:prefix:name\"; made through cgroupfs (no systemd is asked)
   --rootless value    'auto' or 'false' (rootless is not supported)
   --help, -h          show help
   --version, -v       print the version
";

fn main() {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let (global, command) = match cli::parse(&arguments) {
        Ok(Invocation::Version) => {
            println!(
                "hybridock-runtime version {VERSION}\nspec: {}",
                state::OCI_VERSION
            );
            return;
        }
        Ok(Invocation::Help) => {
            print!("{USAGE}");
            return;
        }
        Ok(Invocation::CommandHelp(name)) => {
            let line = USAGE
                .lines()
                .find(|line| line.trim_start().starts_with(&format!("{name} ")))
                .map_or("", str::trim);
            let description = line.split_once(' ').map_or("", |(_, rest)| rest.trim());
            println!("NAME:\n   hybridock-runtime {name} - {description}\n\nUSAGE:\n   hybridock-runtime {name} [command options] <container-id>");
            return;
        }
        Ok(Invocation::Run(global, command)) => (global, command),
        Err(error) => {
            log::error(&cli::Global::default(), &error.to_string());
            std::process::exit(1);
        }
    };
    log::debug(&global, &format!("command: {arguments:?}"));
    match commands::dispatch(&global, &command) {
        Ok(code) => std::process::exit(code),
        Err(error) => {
            let message = match command.name.as_str() {
                "create" | "run" => format!("hybridock-runtime {} failed: {error}", command.name),
                _ => error.to_string(),
            };
            log::error(&global, &message);
            // runc exec's own failures (not the process's) are 255, every other command's 1
            std::process::exit(if command.name == "exec" { 255 } else { 1 });
        }
    }
}
