//! `linerate top` in a real terminal (tmux) watching a real appliance and one that is down:
//! the screen shows the appliance and its shards, a receive rate while load runs, Kafka's
//! state, the down appliance's error; `q` quits.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::tmux::{line_cells, Tmux};
use common::{bin, free_port, Appliance, Kafka};

/// Killed on drop.
struct Load(Child);

impl Drop for Load {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn top_shows_a_running_and_a_down_appliance_and_q_quits() {
    let kafka = Kafka::start();
    let app = Appliance::start(&kafka.bootstrap(), "");
    let target = format!("127.0.0.1:{}", app.http_port);
    let down = format!("127.0.0.1:{}", free_port());
    // Load for as long as the test needs it (killed when done).
    let _load = Load(
        Command::new(bin())
            .args(["loadgen", "--target"])
            .arg(format!("127.0.0.1:{}", app.syslog_port))
            .args(["--duration", "120", "--rate", "2000"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let command = format!("{} top {target} {down}", bin().display());
    let tmux = Tmux::start("top", &command, 200, 30);

    let bound = Duration::from_secs(60);
    let screen = tmux.wait_screen("both appliances and the header", bound, |s| {
        s.contains("APPLIANCE") && s.contains(&target) && s.contains(&down)
    });
    assert!(screen.contains("linerate top"), "{screen}");
    for col in [
        "SHARD", "RECV/s", "DELIV/s", "DROPS/s", "RING", "SPILL", "KAFKA",
    ] {
        assert!(screen.contains(col), "no {col}:\n{screen}");
    }
    // The down appliance says why, on its own row.
    let row = line_cells(&screen, &down).unwrap();
    assert!(
        row.join(" ").contains("appliance down"),
        "{row:?}\n{screen}"
    );

    // The running appliance: a receive rate above zero while the load runs, Kafka ok, and a
    // row per shard under it.
    let screen = tmux.wait_screen("a receive rate", bound, |s| {
        // Not while a shard has not reported yet: its row reads "all (1 down)", whose words
        // would shift the columns (the first snapshot comes one stats interval after start).
        line_cells(s, &target).is_some_and(|c| {
            c.len() >= 9
                && c[1] == "all"
                && !c.contains(&"down)")
                && c[2] != "-"
                && c[2] != "0"
                && c[2] != "0.0"
        })
    });
    let row = line_cells(&screen, &target).unwrap();
    assert_eq!(row.last(), Some(&"ok"), "{row:?}\n{screen}");
    assert_eq!(row[4], "0", "no drops {row:?}");
    assert!(row[5].ends_with('%'), "ring fill {row:?}");
    for shard in ["0", "1"] {
        let r = line_cells(&screen, shard).unwrap_or_else(|| panic!("no shard {shard}:\n{screen}"));
        assert_eq!(r.last(), Some(&"ok"), "{r:?}");
    }
    assert!(screen.contains("1/2 appliances up"), "{screen}");

    // q quits: the session (whose only process is top) ends.
    assert!(tmux.alive());
    tmux.send_keys("q");
    tmux.wait_exit(Duration::from_secs(30));
}
