//! Instruction counts of parsing, for `bench/parse_instructions.sh`: parses the lines of
//! `lines.rs` ITERATIONS times with one parser, so that valgrind's callgrind can count the
//! instructions per line of linerate's parser and of `syslog_loose` (the parser Vector uses).
//! Counts do not depend on what else the machine is doing, unlike criterion's times.
//!
//! Prints the number of lines per iteration.
//!
//! Usage: `parse_instructions linerate|syslog_loose rfc5424|rfc3164 ITERATIONS`

use std::hint::black_box;

use linerate::parse::{parse, ParseOptions};

mod lines;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(parser), Some(format), Some(iterations)) = (args.get(1), args.get(2), args.get(3))
    else {
        eprintln!("usage: parse_instructions linerate|syslog_loose rfc5424|rfc3164 ITERATIONS");
        std::process::exit(2);
    };
    let lines = match format.as_str() {
        "rfc5424" => lines::RFC5424,
        "rfc3164" => lines::RFC3164,
        other => {
            eprintln!("unknown format {other}");
            std::process::exit(2);
        }
    };
    let iterations: u64 = iterations.parse().unwrap_or(0);
    let opts = ParseOptions {
        year: Some(2025),
        ..Default::default()
    };
    let now_micros = 1_736_334_000_000_000;
    for _ in 0..iterations {
        for l in lines {
            match parser.as_str() {
                "linerate" => {
                    black_box(&parse(black_box(l.as_bytes()), &opts, now_micros));
                }
                _ => {
                    black_box(&syslog_loose::parse_message_with_year_tz::<_, chrono::Utc>(
                        black_box(*l),
                        |_| 2025,
                        Some(chrono::Utc),
                        syslog_loose::Variant::Either,
                    ));
                }
            }
        }
    }
    // The script divides by lines parsed per iteration.
    println!("{}", lines.len());
}
