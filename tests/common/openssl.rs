//! `openssl s_client` as a TLS client nobody here wrote, for the TLS tests: a session whose
//! stdin the test writes (closing it ends the session with a close_notify), the certificate
//! a server presents, and certificate files replaced as renewal tools do.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::pki::Leaf;

/// How long a session may take before it is killed.
pub const WAIT: Duration = Duration::from_secs(60);

/// `openssl s_client` connected to `port` with `args`, its stdin a pipe (closing it ends
/// the session with a close_notify), stdout and stderr captured.
pub fn s_client(port: u16, args: &[&str]) -> Child {
    Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-quiet", "-no_ign_eof"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl s_client (Debian package openssl)")
}

pub fn client_args(leaf: &Leaf, ca: &Path) -> Vec<String> {
    vec![
        "-cert".into(),
        leaf.cert.display().to_string(),
        "-key".into(),
        leaf.key.display().to_string(),
        "-CAfile".into(),
        ca.display().to_string(),
    ]
}

/// Run `s_client` to completion with `input` on its stdin: (exit success, stdout+stderr).
pub fn s_client_run(port: u16, args: &[String], input: &[u8]) -> (bool, String) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child = s_client(port, &args);
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(input);
    drop(stdin);
    wait_output(child, WAIT)
}

/// Wait for `child` (killed after `limit`): (exit success, stdout+stderr).
pub fn wait_output(mut child: Child, limit: Duration) -> (bool, String) {
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut text = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut text);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut text);
    }
    (status.is_some_and(|s| s.success()), text)
}

/// The subject of the certificate the server at `port` presents now (a fresh handshake).
pub fn presented_subject(port: u16, ca: &Path, client: &Leaf) -> String {
    let mut args = client_args(client, ca);
    args.retain(|a| a != "-quiet");
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdin.take());
    let (_, text) = wait_output(child, WAIT);
    text.lines()
        .find(|l| l.starts_with("subject="))
        .unwrap_or_default()
        .to_string()
}

/// Replace `to` by `from`'s contents through a rename (a new inode, as renewal tools do).
pub fn replace(from: &Path, to: &Path) {
    let tmp: PathBuf = to.with_extension("tmp");
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(&tmp, to).unwrap();
}
