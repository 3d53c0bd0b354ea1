//! Instruction counts of EVTX import, for `bench/import_instructions.sh`: reads one EVTX file
//! ITERATIONS times, either with the `evtx` crate alone (`records()`, every record rendered as
//! XML: the baseline of issue 6) or with linerate's import (the same iteration, each record
//! normalized to ECS JSON, no output I/O), so that valgrind's callgrind can count the
//! instructions per record of each. Counts do not depend on what else the machine is doing,
//! unlike criterion's times.
//!
//! Prints the number of records per iteration.
//!
//! Usage: `import_instructions crate|linerate FILE ITERATIONS`

use std::hint::black_box;
use std::path::Path;

use evtx::EvtxParser;
use linerate::import::{ImportError, ImportOptions, Importer, Kind, Sink};

/// Takes the normalized objects and keeps only their total size (no output I/O).
struct CountingSink(usize);

impl Sink for CountingSink {
    fn write(&mut self, json: &[u8]) -> Result<(), ImportError> {
        self.0 += black_box(json).len();
        Ok(())
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(reader), Some(file), Some(iterations)) = (args.get(1), args.get(2), args.get(3))
    else {
        eprintln!("usage: import_instructions crate|linerate FILE ITERATIONS");
        std::process::exit(2);
    };
    let path = Path::new(file);
    let iterations: u64 = iterations.parse().unwrap_or(0);
    let mut importer = Importer::new(ImportOptions::default());
    for _ in 0..iterations {
        match reader.as_str() {
            "crate" => {
                let mut parser = EvtxParser::from_path(path).expect("an EVTX file");
                for r in parser.records().flatten() {
                    black_box(&r.data);
                }
            }
            _ => {
                let mut sink = CountingSink(0);
                importer
                    .import_path(Kind::Evtx, path, &mut sink)
                    .expect("an EVTX file");
                black_box(sink.0);
            }
        }
    }
    // The script divides by the records read per iteration.
    let records = EvtxParser::from_path(path)
        .expect("an EVTX file")
        .records()
        .filter(Result::is_ok)
        .count();
    println!("{records}");
}
