//! Network checks: the receive buffer the kernel actually grants, the listen ports, and the
//! NUMA node of the NICs against the shards' cores.

use std::io;
use std::net::SocketAddr;
use std::path::Path;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::capabilities::{self, CAP_NET_ADMIN};
use super::cpu::{format_cpu_list, parse_cpu_list};
use super::{human_bytes, Check};
use crate::config::Config;
use crate::ingest::sockets;

const NET_DIR: &str = "/sys/class/net";
const NODE_DIR: &str = "/sys/devices/system/node";

/// The receive-buffer, port and NIC-placement checks for `cfg`.
pub fn check(cfg: &Config) -> Vec<Check> {
    let mut checks = vec![receive_buffer(cfg)];
    for (proto, addr) in [
        (Proto::Udp, &cfg.syslog.udp_listen),
        (Proto::Tcp, &cfg.syslog.tcp_listen),
        (Proto::Tcp, &cfg.http.listen),
    ] {
        if !addr.is_empty() {
            checks.push(port(proto, addr));
        }
    }
    checks.extend(nic_numa(&cfg.shard_cores()));
    checks
}

/// SO_RCVBUF as the appliance sets it (SO_RCVBUFFORCE, else SO_RCVBUF), read back.
fn receive_buffer(cfg: &Config) -> Check {
    const NAME: &str = "SO_RCVBUF granted";
    let requested = cfg.syslog.recv_buffer_bytes;
    let want = format!(
        ">= {} ([syslog] recv_buffer_bytes)",
        human_bytes(requested as u64)
    );
    let granted = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).and_then(|s| {
        sockets::set_recv_buffer(&s, requested)?;
        // The kernel reports double what it granted (its bookkeeping overhead).
        Ok(s.recv_buffer_size()? / 2)
    });
    let granted = match granted {
        Ok(g) => g,
        Err(e) => return Check::fail(NAME, format!("socket: {e}"), want, "see the error"),
    };
    let rmem_max = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unreadable".into());
    let cap = if capabilities::effective(CAP_NET_ADMIN) {
        "yes"
    } else {
        "no"
    };
    let found = format!(
        "{} (net.core.rmem_max {rmem_max}, CAP_NET_ADMIN {cap})",
        human_bytes(granted as u64)
    );
    if granted >= requested {
        Check::pass(NAME, found, want)
    } else {
        Check::fail(
            NAME,
            found,
            want,
            format!(
                "sysctl -w net.core.rmem_max={requested} (tuning/throughput.conf), or run with CAP_NET_ADMIN (tuning/linerate.service), or lower recv_buffer_bytes"
            ),
        )
    }
}

#[derive(Debug, Clone, Copy)]
enum Proto {
    Udp,
    Tcp,
}

/// Whether `addr` can be bound now, without SO_REUSEPORT (so a running appliance's sockets
/// count as taken).
fn port(proto: Proto, addr: &str) -> Check {
    let label = match proto {
        Proto::Udp => "udp",
        Proto::Tcp => "tcp",
    };
    let name = format!("port {label} {addr}");
    let want = "free";
    let Ok(sa) = addr.parse::<SocketAddr>() else {
        return Check::fail(name, "not an address", want, "fix the config");
    };
    let result = match proto {
        Proto::Udp => try_bind(sa, Type::DGRAM, Protocol::UDP),
        Proto::Tcp => try_bind(sa, Type::STREAM, Protocol::TCP),
    };
    let who = format!("ss -lnp{} 'sport = :{}'", &label[..1], sa.port());
    match result {
        Ok(()) => Check::pass(name, "free", want),
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => Check::fail(
            name,
            "in use (is linerate already running?)",
            want,
            format!("stop its owner (`{who}`) or pick another port"),
        ),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Check::fail(
            name,
            format!("{e}"),
            want,
            "a port >= 1024, or AmbientCapabilities=CAP_NET_BIND_SERVICE in the unit",
        ),
        Err(e) => Check::fail(
            name,
            format!("{e}"),
            want,
            "an address of this host, or 0.0.0.0",
        ),
    }
}

fn try_bind(addr: SocketAddr, ty: Type, proto: Protocol) -> io::Result<()> {
    let s = Socket::new(Domain::for_address(addr), ty, Some(proto))?;
    if ty == Type::STREAM {
        // As the appliance does: TIME_WAIT leftovers must not count as taken.
        s.set_reuse_address(true)?;
    }
    s.bind(&SockAddr::from(addr))?;
    if ty == Type::STREAM {
        s.listen(1)?;
    }
    Ok(())
}

/// One line per NIC with a device: its NUMA node against the shards' cores.
fn nic_numa(cores: &[usize]) -> Vec<Check> {
    const NAME: &str = "nic numa";
    let nodes: Vec<usize> = std::fs::read_to_string(Path::new(NODE_DIR).join("online"))
        .ok()
        .and_then(|t| parse_cpu_list(&t))
        .unwrap_or_default();
    if nodes.len() <= 1 {
        return vec![Check::skip(
            NAME,
            format!(
                "one NUMA node ({}): every core is as near the NIC as any other",
                if nodes.is_empty() {
                    "no node list".into()
                } else {
                    format!("node{}", nodes[0])
                }
            ),
        )];
    }
    let mut checks = Vec::new();
    let Ok(entries) = std::fs::read_dir(NET_DIR) else {
        return vec![Check::skip(NAME, format!("{NET_DIR} unreadable"))];
    };
    let mut ifaces: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().join("device").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ifaces.sort();
    for iface in ifaces {
        let name = format!("{NAME} {iface}");
        let Some(node) = nic_node(&Path::new(NET_DIR).join(&iface).join("device")) else {
            checks.push(Check::skip(
                name,
                "no NUMA node reported for its device (numa_node -1)",
            ));
            continue;
        };
        let local =
            std::fs::read_to_string(Path::new(NODE_DIR).join(format!("node{node}/cpulist")))
                .ok()
                .and_then(|t| parse_cpu_list(&t))
                .unwrap_or_default();
        let far: Vec<usize> = cores
            .iter()
            .copied()
            .filter(|c| !local.contains(c))
            .collect();
        let found = format!("node{node} (cores {})", format_cpu_list(&local));
        let want = format!("shard cores {} on it", format_cpu_list(cores));
        if far.is_empty() {
            checks.push(Check::pass(name, found, want));
        } else {
            checks.push(Check::warn(
                name,
                format!("{found}; shard cores {} are on another node", format_cpu_list(&far)),
                want,
                format!(
                    "[shards] cores from node{node}'s list (see shards/dual-socket.toml), if this NIC carries the syslog traffic"
                ),
            ));
        }
    }
    if checks.is_empty() {
        checks.push(Check::skip(NAME, "no NIC with a device in /sys/class/net"));
    }
    checks
}

/// The NUMA node of a NIC's device, or of its parent (a virtio device sits under its PCI
/// function); `None` when neither reports one.
fn nic_node(device: &Path) -> Option<usize> {
    [device.join("numa_node"), device.join("../numa_node")]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .find_map(|t| t.trim().parse::<i64>().ok())
        .filter(|&n| n >= 0)
        .and_then(|n| usize::try_from(n).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    #[test]
    fn a_bound_port_is_in_use() {
        let held = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = held.local_addr().unwrap().to_string();
        let c = port(Proto::Udp, &addr);
        assert_eq!(c.status, Status::Fail, "{c}");
        assert!(c.fix.unwrap().contains("ss -lnpu"));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        assert_eq!(port(Proto::Tcp, &addr).status, Status::Fail);
        drop(listener);
        assert_eq!(port(Proto::Tcp, &addr).status, Status::Pass);
    }

    #[test]
    fn nic_node_from_device_or_parent() {
        let dir = tempfile::tempdir().unwrap();
        let dev = dir.path().join("pci/virtio2");
        std::fs::create_dir_all(&dev).unwrap();
        assert_eq!(nic_node(&dev), None);
        std::fs::write(dir.path().join("pci/numa_node"), "-1\n").unwrap();
        assert_eq!(nic_node(&dev), None);
        std::fs::write(dir.path().join("pci/numa_node"), "1\n").unwrap();
        assert_eq!(nic_node(&dev), Some(1));
        std::fs::write(dev.join("numa_node"), "0\n").unwrap();
        assert_eq!(nic_node(&dev), Some(0));
    }
}
