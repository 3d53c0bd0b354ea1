//! The input registry: every enabled syslog input by name, with its listen address and the
//! control-plane flag that pauses it.
//!
//! A flag is one `Arc<AtomicBool>` per input, written only by the control API and read by
//! each shard's input task once per read (TCP) or per `recvmmsg` batch (UDP), never per event.
//! The flag is not kept across restarts: every input starts running.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::Serialize;

use crate::config::SyslogConfig;
use crate::shard::stats::Transport;

/// Name of the UDP syslog input in the API and in metric labels.
pub const SYSLOG_UDP: &str = "syslog_udp";
/// Name of the TCP syslog input in the API and in metric labels.
pub const SYSLOG_TCP: &str = "syslog_tcp";

/// Whether an input is paused. Clones share the flag; reading it is one relaxed load.
#[derive(Debug, Clone, Default)]
pub struct PauseFlag(Arc<AtomicBool>);

impl PauseFlag {
    /// True while the input is paused (TCP: not read; UDP: drained, datagrams dropped and
    /// counted as `paused`).
    #[inline]
    pub fn is_paused(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self, paused: bool) -> bool {
        self.0.swap(paused, Ordering::Relaxed)
    }
}

/// The pause flags a shard's input tasks read, one per transport. A disabled input's flag is
/// never set.
#[derive(Debug, Clone, Default)]
pub struct PauseFlags {
    pub udp: PauseFlag,
    pub tcp: PauseFlag,
}

/// What an input is doing, as the API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputState {
    Running,
    Paused,
}

/// One enabled input.
#[derive(Debug)]
pub struct Input {
    /// Stable name (`syslog_udp`, `syslog_tcp`).
    pub name: &'static str,
    pub transport: Transport,
    /// The configured listen address (every shard binds it with SO_REUSEPORT).
    pub listen: String,
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

/// Every enabled input, in a fixed order (UDP, then TCP). Shared by the HTTP server, the
/// metrics and, through [`Inputs::flags`], the shards.
#[derive(Debug, Default)]
pub struct Inputs {
    inputs: Vec<Input>,
    flags: PauseFlags,
}

impl Inputs {
    /// The inputs `[syslog]` enables (an empty listen address disables one), all running.
    pub fn from_config(cfg: &SyslogConfig) -> Self {
        let flags = PauseFlags::default();
        let mut inputs = Vec::with_capacity(2);
        if !cfg.udp_listen.is_empty() {
            inputs.push(Input {
                name: SYSLOG_UDP,
                transport: Transport::Udp,
                listen: cfg.udp_listen.clone(),
                flag: flags.udp.clone(),
            });
        }
        if !cfg.tcp_listen.is_empty() {
            inputs.push(Input {
                name: SYSLOG_TCP,
                transport: Transport::Tcp,
                listen: cfg.tcp_listen.clone(),
                flag: flags.tcp.clone(),
            });
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

    #[test]
    fn pausing_reaches_the_shards_flags_and_is_idempotent() {
        let inputs = Inputs::from_config(&SyslogConfig::default());
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
        let cfg = SyslogConfig {
            udp_listen: String::new(),
            ..SyslogConfig::default()
        };
        let inputs = Inputs::from_config(&cfg);
        let names: Vec<&str> = inputs.iter().map(|i| i.name).collect();
        assert_eq!(names, [SYSLOG_TCP]);
        assert_eq!(inputs.set_paused(SYSLOG_UDP, true), None);
    }
}
