//! A tmux server of the test's own (its own socket), to run a terminal program such as
//! `linerate top` in a real pseudo-terminal and read its screen. Killed on drop.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// One tmux server with one session, `name`.
pub struct Tmux {
    socket: String,
    name: String,
}

impl Tmux {
    /// Start `command` in a detached session of `width`×`height` cells.
    pub fn start(name: &str, command: &str, width: u16, height: u16) -> Self {
        let t = Self {
            socket: format!("linerate-test-{name}-{}", std::process::id()),
            name: name.to_string(),
        };
        let out = t.cmd(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            command,
        ]);
        assert!(out.status.success(), "tmux new-session: {out:?}");
        t
    }

    /// Run a tmux command against this server.
    pub fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux (scripts/setup.sh installs it)")
    }

    /// The visible screen, one line per row.
    pub fn screen(&self) -> String {
        let out = self.cmd(&["capture-pane", "-p", "-t", &self.name]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Type `keys` (tmux key names: `q`, `Enter`, `C-c`).
    pub fn send_keys(&self, keys: &str) {
        let out = self.cmd(&["send-keys", "-t", &self.name, keys]);
        assert!(out.status.success(), "tmux send-keys: {out:?}");
    }

    /// Whether the session (its program) still runs.
    pub fn alive(&self) -> bool {
        self.cmd(&["has-session", "-t", &self.name])
            .status
            .success()
    }

    /// Poll the screen until `pred` holds; panics with the last screen after `bound` (a
    /// bound against hanging, not a timing assertion).
    pub fn wait_screen(&self, what: &str, bound: Duration, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(start.elapsed() < bound, "screen never showed {what}:\n{s}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Poll until the session ended; panics after `bound`.
    pub fn wait_exit(&self, bound: Duration) {
        let start = Instant::now();
        while self.alive() {
            assert!(start.elapsed() < bound, "still running:\n{}", self.screen());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// The whitespace-separated cells of the first screen line that starts (after blanks) with
/// `first`.
pub fn line_cells<'a>(screen: &'a str, first: &str) -> Option<Vec<&'a str>> {
    screen
        .lines()
        .find(|l| l.trim_start().starts_with(first))
        .map(|l| l.split_whitespace().collect())
}
