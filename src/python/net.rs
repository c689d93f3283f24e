//! Glue for the bridge network's netlink path: `new_network_namespace`, `ensure_bridge`,
//! `attach_veth`, `delete_link`, `link_exists`. Values are parsed by the core; a refused step
//! raises `hybridock.errors.NetworkError` (with the kernel's errno), a bad value `ConfigError`.

use std::os::fd::{BorrowedFd, IntoRawFd};

use pyo3::prelude::*;

use super::errors::to_py;
use crate::error::Error;
use crate::net::{self, Bridge, Veth};

/// A new network namespace with `lo` up, as an `O_CLOEXEC` fd the caller owns.
#[pyfunction]
fn new_network_namespace(py: Python<'_>) -> PyResult<i32> {
    py.detach(net::new_network_namespace)
        .map(IntoRawFd::into_raw_fd)
        .map_err(to_py)
}

/// Creates the bridge `name` unless it exists (True when this call made it), with its
/// address, up.
#[pyfunction]
#[pyo3(signature = (name, address, prefix, mtu=1500))]
fn ensure_bridge(
    py: Python<'_>,
    name: &str,
    address: &str,
    prefix: u8,
    mtu: u32,
) -> PyResult<bool> {
    let bridge = Bridge::new(name, address, prefix, mtu).map_err(to_py)?;
    py.detach(|| net::ensure_bridge(&bridge)).map_err(to_py)
}

/// A veth pair from `bridge` into the namespace `netns` (see `_native.pyi`).
#[pyfunction]
#[pyo3(signature = (
    netns, bridge, host_name, address, prefix, gateway, mac, mtu=1500, interface="eth0"
))]
#[allow(clippy::too_many_arguments)] // one per property of the attachment, as docker's
fn attach_veth(
    py: Python<'_>,
    netns: i32,
    bridge: String,
    host_name: String,
    address: &str,
    prefix: u8,
    gateway: Option<&str>,
    mac: &str,
    mtu: u32,
    interface: &str,
) -> PyResult<()> {
    let veth = Veth {
        bridge,
        host_name,
        interface: interface.to_owned(),
        address: net::parse_ipv4("address", address).map_err(to_py)?,
        prefix,
        gateway: gateway
            .map(|gateway| net::parse_ipv4("gateway", gateway))
            .transpose()
            .map_err(to_py)?,
        mac: net::parse_mac(mac).map_err(to_py)?,
        mtu,
    };
    if netns < 0 {
        return Err(to_py(Error::InvalidNetworkValue {
            what: "network namespace fd",
            value: netns.to_string(),
            reason: "is negative",
        }));
    }
    // SAFETY: the caller's fd (not -1), borrowed for the length of this call only.
    let namespace = unsafe { BorrowedFd::borrow_raw(netns) };
    py.detach(|| net::attach_veth(namespace, &veth))
        .map_err(to_py)
}

/// Deletes the link `name` of our namespace; False when there is none.
#[pyfunction]
fn delete_link(py: Python<'_>, name: &str) -> PyResult<bool> {
    py.detach(|| net::delete_link(name)).map_err(to_py)
}

/// Whether our namespace has a link named `name`.
#[pyfunction]
fn link_exists(py: Python<'_>, name: &str) -> PyResult<bool> {
    py.detach(|| net::link_exists(name)).map_err(to_py)
}

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(new_network_namespace, module)?)?;
    module.add_function(wrap_pyfunction!(ensure_bridge, module)?)?;
    module.add_function(wrap_pyfunction!(attach_veth, module)?)?;
    module.add_function(wrap_pyfunction!(delete_link, module)?)?;
    module.add_function(wrap_pyfunction!(link_exists, module)?)?;
    Ok(())
}
