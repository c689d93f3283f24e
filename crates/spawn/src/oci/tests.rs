//! Loading and translating the configs real callers write (captured under tests/data/).

use super::*;

fn data(name: &str) -> Config {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    Config::parse(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn runc_spec_loads_with_the_spec_defaults() {
    let config = data("runc-spec.json");
    let process = config.process.as_ref().unwrap();
    assert_eq!(process.args, ["sh"]);
    assert!(process.terminal);
    assert_eq!(config.root.as_ref().unwrap().path, "rootfs");
    assert!(config.root.as_ref().unwrap().readonly);
    let linux = config.linux.as_ref().unwrap();
    assert_eq!(linux.namespaces.len(), 5);
    assert!(linux.uid_mappings.is_empty());
    assert_eq!(config.mounts[0].destination, "/proc");
}

#[test]
fn unknown_fields_are_ignored_and_errors_name_the_file() {
    let config = Config::parse(br#"{"ociVersion":"1.2.0","vm":{},"process":{"x":1}}"#).unwrap();
    assert_eq!(config.oci_version, "1.2.0");
    let missing = Config::load(std::path::Path::new("/nonexistent-bundle")).unwrap_err();
    assert_eq!(
        missing.to_string(),
        "JSON specification file /nonexistent-bundle/config.json not found"
    );
}
