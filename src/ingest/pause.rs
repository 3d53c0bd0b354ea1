//! The pause switches of the inputs: the control API (`crate::control::inputs`) sets them,
//! the input tasks read them between reads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Whether an input is paused. Clones share the flag; reading it is one relaxed load.
#[derive(Debug, Clone, Default)]
pub struct PauseFlag(Arc<AtomicBool>);

impl PauseFlag {
    /// True while the input is paused (TCP: not read; UDP: drained, datagrams dropped and
    /// counted as `paused`; EVTX: no file read, positions kept; HTTP: requests answered 503).
    #[inline]
    pub fn is_paused(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Pause (`true`) or resume the input; returns whether it was paused before.
    pub fn set(&self, paused: bool) -> bool {
        self.0.swap(paused, Ordering::Relaxed)
    }
}

/// The pause flags the input tasks read: one per syslog listener (UDP, TCP, TLS), one for the
/// HTTP input and one per EVTX input (config order). A disabled input's flag is never set.
#[derive(Debug, Clone, Default)]
pub struct PauseFlags {
    pub udp: PauseFlag,
    pub tcp: PauseFlag,
    /// The syslog TLS listener's (paused as TCP is: not accepting, connections not read).
    pub tls: PauseFlag,
    pub http: PauseFlag,
    pub evtx: Vec<PauseFlag>,
}
