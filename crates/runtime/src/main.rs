//! `hybridock-runtime`: runc's command line over hybridock's spawner (placeholder).

fn main() {
    eprintln!("hybridock-runtime: not implemented yet");
    std::process::exit(1);
}
