//! The input registry: every enabled input by name (syslog UDP and TCP, each EVTX
//! directory, the HTTP input), with what the API shows of it and the control-plane flag that
//! pauses it.
//!
//! A flag is one `Arc<AtomicBool>` per input, written only by the control API and read by
//! the input's tasks once per read (TCP), per `recvmmsg` batch (UDP), per file step (EVTX) or
//! per request (HTTP), never per event. The flag is not kept across restarts: every input
//! starts running.

use std::path::PathBuf;

use serde::Serialize;

use crate::config::Config;
use crate::event::Transport;
use crate::ingest::pause::{PauseFlag, PauseFlags};

/// Name of the UDP syslog input in the API and in metric labels.
pub const SYSLOG_UDP: &str = "syslog_udp";
/// Name of the TCP syslog input in the API and in metric labels.
pub const SYSLOG_TCP: &str = "syslog_tcp";
/// Name of the syslog-over-TLS input in the API.
pub const SYSLOG_TLS: &str = "syslog_tls";
/// Name of the HTTP input (`[http_input]`) in the API and in metric labels.
pub const HTTP: &str = "http";

/// Name of the EVTX input at `index` in `[[evtx_input]]` (config order, from 0): `evtx_0`, ...
pub fn evtx_name(index: usize) -> String {
    format!("evtx_{index}")
}

/// What an input is doing, as the API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputState {
    Running,
    Paused,
}

/// Which kind of input an entry is, with what the API shows of its setup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputKind {
    /// A syslog socket; every shard binds `listen` with SO_REUSEPORT.
    Syslog {
        transport: Transport,
        listen: String,
    },
    /// One `[[evtx_input]]` directory, polled by one shard.
    Evtx {
        /// Position in `[[evtx_input]]`, from 0.
        index: usize,
        dir: PathBuf,
        /// The shard that polls it.
        shard: usize,
    },
    /// `[syslog] tls_listen`; every shard binds `listen` with SO_REUSEPORT. Its messages are
    /// counted with plain TCP's (`syslog_tcp`'s `received`).
    SyslogTls {
        listen: String,
        /// Clients must present a certificate (`tls_client_ca_file` set).
        mutual: bool,
    },
    /// `[http_input]`; every shard binds `listen` with SO_REUSEPORT.
    Http {
        listen: String,
        /// HTTPS (`tls_cert_file` set), and whether clients must present a certificate.
        tls: Option<bool>,
    },
}

/// One enabled input.
#[derive(Debug)]
pub struct Input {
    /// Stable name (`syslog_udp`, `syslog_tcp`, `syslog_tls`, `evtx_0`..., `http`).
    pub name: String,
    pub kind: InputKind,
    flag: PauseFlag,
}

impl Input {
    /// The input's current state.
    pub fn state(&self) -> InputState {
        if self.flag.is_paused() {
            InputState::Paused
        } else {
            InputState::Running
        }
    }
}

/// Every enabled input, in a fixed order (UDP, TCP, TLS, the EVTX inputs in config order,
/// HTTP).
/// Shared by the HTTP server, the metrics and, through [`Inputs::flags`], the shards.
#[derive(Debug, Default)]
pub struct Inputs {
    inputs: Vec<Input>,
    flags: PauseFlags,
}

impl Inputs {
    /// The inputs `cfg` enables (an empty listen address disables one), all running; EVTX
    /// input `i` belongs to shard `i % shards` (as the shards are set up).
    pub fn from_config(cfg: &Config, shards: usize) -> Self {
        let mut flags = PauseFlags::default();
        let mut inputs = Vec::with_capacity(4 + cfg.evtx_input.len());
        let mut push = |name: String, kind: InputKind, flag: &PauseFlag| {
            inputs.push(Input {
                name,
                kind,
                flag: flag.clone(),
            })
        };
        for (name, transport, listen, flag) in [
            (
                SYSLOG_UDP,
                Transport::Udp,
                &cfg.syslog.udp_listen,
                &flags.udp,
            ),
            (
                SYSLOG_TCP,
                Transport::Tcp,
                &cfg.syslog.tcp_listen,
                &flags.tcp,
            ),
        ] {
            if !listen.is_empty() {
                let listen = listen.clone();
                push(name.into(), InputKind::Syslog { transport, listen }, flag);
            }
        }
        if !cfg.syslog.tls_listen.is_empty() {
            let kind = InputKind::SyslogTls {
                listen: cfg.syslog.tls_listen.clone(),
                mutual: cfg.syslog.tls.tls_client_ca_file.is_some(),
            };
            push(SYSLOG_TLS.into(), kind, &flags.tls);
        }
        flags.evtx = cfg
            .evtx_input
            .iter()
            .map(|_| PauseFlag::default())
            .collect();
        for (index, (input, flag)) in cfg.evtx_input.iter().zip(&flags.evtx).enumerate() {
            let kind = InputKind::Evtx {
                index,
                dir: input.dir.clone(),
                shard: index % shards.max(1),
            };
            push(evtx_name(index), kind, flag);
        }
        if !cfg.http_input.listen.is_empty() {
            let h = &cfg.http_input;
            let kind = InputKind::Http {
                listen: h.listen.clone(),
                tls: h
                    .tls
                    .enabled()
                    .then_some(h.tls.tls_client_ca_file.is_some()),
            };
            push(HTTP.into(), kind, &flags.http);
        }
        Self { inputs, flags }
    }

    /// The flags to hand to every shard.
    pub fn flags(&self) -> PauseFlags {
        self.flags.clone()
    }

    /// Every enabled input.
    pub fn iter(&self) -> impl Iterator<Item = &Input> {
        self.inputs.iter()
    }

    /// The input called `name`, if it is enabled.
    pub fn get(&self, name: &str) -> Option<&Input> {
        self.inputs.iter().find(|i| i.name == name)
    }

    /// Pause or resume the input called `name` (idempotent). Returns `None` for an unknown
    /// or disabled input, else whether the state changed.
    pub fn set_paused(&self, name: &str, paused: bool) -> Option<bool> {
        let input = self.get(name)?;
        Some(input.flag.set(paused) != paused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EvtxInputConfig;

    #[test]
    fn pausing_reaches_the_shards_flags_and_is_idempotent() {
        let inputs = Inputs::from_config(&Config::default(), 2);
        let flags = inputs.flags();
        assert!(!flags.tcp.is_paused());
        assert_eq!(inputs.set_paused(SYSLOG_TCP, true), Some(true));
        assert_eq!(inputs.set_paused(SYSLOG_TCP, true), Some(false));
        assert!(flags.tcp.is_paused() && !flags.udp.is_paused());
        assert_eq!(
            inputs.get(SYSLOG_TCP).map(Input::state),
            Some(InputState::Paused)
        );
        assert_eq!(inputs.set_paused(SYSLOG_TCP, false), Some(true));
        assert!(!flags.tcp.is_paused());
        assert_eq!(inputs.set_paused("nope", true), None);
    }

    #[test]
    fn disabled_inputs_are_not_listed() {
        let mut cfg = Config::default();
        cfg.syslog.udp_listen = String::new();
        let inputs = Inputs::from_config(&cfg, 1);
        let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, [SYSLOG_TCP]);
        assert_eq!(inputs.set_paused(SYSLOG_UDP, true), None);
        assert_eq!(inputs.set_paused(HTTP, true), None);
    }

    #[test]
    fn evtx_and_http_inputs_are_listed_with_their_own_flags() {
        let mut cfg = Config::default();
        cfg.http_input.listen = "127.0.0.1:8088".into();
        cfg.syslog.tls_listen = "127.0.0.1:6514".into();
        cfg.evtx_input = ["a", "b", "c"]
            .into_iter()
            .map(|d| EvtxInputConfig {
                dir: d.into(),
                ..EvtxInputConfig::default()
            })
            .collect();
        let inputs = Inputs::from_config(&cfg, 2);
        let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(
            names,
            [SYSLOG_UDP, SYSLOG_TCP, SYSLOG_TLS, "evtx_0", "evtx_1", "evtx_2", HTTP]
        );
        let shards: Vec<usize> = inputs
            .iter()
            .filter_map(|i| match i.kind {
                InputKind::Evtx { shard, .. } => Some(shard),
                _ => None,
            })
            .collect();
        assert_eq!(shards, [0, 1, 0]);
        let flags = inputs.flags();
        assert_eq!(inputs.set_paused("evtx_1", true), Some(true));
        assert_eq!(inputs.set_paused(HTTP, true), Some(true));
        let evtx: Vec<bool> = flags.evtx.iter().map(PauseFlag::is_paused).collect();
        assert_eq!(evtx, [false, true, false]);
        assert!(flags.http.is_paused() && !flags.tcp.is_paused());
        assert_eq!(inputs.set_paused(SYSLOG_TLS, true), Some(true));
        assert!(flags.tls.is_paused() && !flags.tcp.is_paused());
    }
}
