//! Spill write throughput: ring frames of realistic syslog lines (the golden corpus, each
//! with its own sequence number) compressed into blocks and written through `SpillWriter`
//! (O_DIRECT via glommio's io_uring), as the shard's spill task does, on one core.
//! Prints one JSON line: event bytes in, disk bytes out, seconds. Run by `bench/spill.sh`,
//! which puts it beside `dd oflag=direct` on the same disk.
//!
//! Usage: spill_bench DIR MIB [LEVEL]

use std::cell::RefCell;
use std::time::Instant;

use linerate::buffer::frame;
use linerate::buffer::spill::{Collected, Spill, SpillConfig, SpillWriter};
use linerate::event::ReceiveMeta;
use linerate::event::Transport;

fn corpus_lines() -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    for e in std::fs::read_dir("tests/data/syslog_corpus").expect("run from the repository") {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "log") {
            let text = std::fs::read(&p).unwrap();
            lines.extend(
                text.split(|b| *b == b'\n')
                    .filter(|l| !l.is_empty())
                    .map(<[u8]>::to_vec),
            );
        }
    }
    lines
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(&args[1]);
    let mib: u64 = args[2].parse().unwrap();
    let level: i32 = args.get(3).map_or(1, |l| l.parse().unwrap());
    let block_bytes_max = 256 << 10;
    let lines = corpus_lines();
    let cfg = SpillConfig {
        dir: dir.clone(),
        bytes_max: 1 << 40,
        segment_bytes_max: 64 << 20,
        block_bytes_max,
        zstd_level: level,
        sync_each_block: false,
    };
    let (spill, _) = Spill::open(cfg, 0, 0).unwrap();
    let out = glommio::LocalExecutorBuilder::new(glommio::Placement::Fixed(0))
        .io_memory(4 << 20)
        .spawn(move || async move {
            let cell = RefCell::new(spill);
            let mut w = SpillWriter::new(&cell.borrow()).unwrap();
            let with_spill = |f: &mut dyn FnMut(&mut Spill)| f(&mut cell.borrow_mut());
            let total = mib << 20;
            let (mut seq, mut event_bytes, mut disk_bytes) = (0u64, 0u64, 0u64);
            let mut line = 0usize;
            let mut frames = Vec::with_capacity(block_bytes_max * 2);
            let started = Instant::now();
            while event_bytes < total {
                // One block's worth of frames, built as the ring holds them.
                frames.clear();
                let first = seq;
                while frames.len() < block_bytes_max {
                    let mut raw = lines[line % lines.len()].clone();
                    raw.extend_from_slice(format!(" seq={seq}").as_bytes());
                    line += 7;
                    let at = frames.len();
                    frames.resize(at + frame::frame_len(raw.len()), 0);
                    let meta = ReceiveMeta {
                        received_unix_micros: 1_736_334_000_000_000 + seq as i64,
                        peer: Some("10.0.0.9:5140".parse().unwrap()),
                    };
                    frame::write_event(
                        &mut frames[at..],
                        seq,
                        &meta,
                        Transport::Tcp,
                        false,
                        linerate::event::RecordKind::Syslog,
                        &raw,
                    );
                    seq += 1;
                }
                event_bytes += frames.len() as u64;
                std::mem::swap(&mut w.frames, &mut frames);
                let c = Collected {
                    count: (seq - first) as u32,
                    first_seq: first,
                    last_seq: seq - 1,
                    ring_end: 0,
                };
                disk_bytes += w.write_block(c, &with_spill).await.unwrap();
                std::mem::swap(&mut w.frames, &mut frames);
            }
            w.close(&with_spill).await.unwrap();
            let secs = started.elapsed().as_secs_f64();
            (event_bytes, disk_bytes, secs, seq)
        })
        .unwrap()
        .join()
        .unwrap();
    let (event_bytes, disk_bytes, secs, events) = out;
    println!(
        "{{\"event_bytes\":{event_bytes},\"disk_bytes\":{disk_bytes},\"events\":{events},\"seconds\":{secs:.3},\"level\":{level}}}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
