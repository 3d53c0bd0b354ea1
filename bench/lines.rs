//! The syslog lines both parser benchmarks run on (`parse.rs`, `parse_instructions.rs`).

pub const RFC5424: &[&str] = &[
    "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed for lonvick on /dev/pts/8",
    "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.",
    r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event log entry..."#,
    "<134>1 2025-01-02T03:04:05.123456Z loadgen-host linerate-loadgen 4242 LOAD - seq=17 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
];

pub const RFC3164: &[&str] = &[
    "<13>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
    "<86>Jan  8 12:00:00 web1 sshd[4242]: Accepted publickey for deploy from 10.0.0.5 port 50412 ssh2: ED25519 SHA256:abc",
    "<166>Jan 08 2025 12:00:00 asa01 : %ASA-6-302013: Built inbound TCP connection 1234 for outside:10.1.1.1/443 (10.1.1.1/443) to inside:10.2.2.2/51234 (10.2.2.2/51234)",
    "<6>Jan  2 03:04:05 host kernel: [12345.678901] usb 1-1: new high-speed USB device number 2 using ehci-pci",
];
