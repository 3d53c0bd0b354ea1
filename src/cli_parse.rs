//! `linerate parse`: syslog from stdin or a file to ECS JSON on stdout, one object per message
//! in input order, through exactly the appliance's parser and writer.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::event::ReceiveMeta;
use crate::ingest::framing::{Framer, Step};
use crate::normalize::syslog_to_ecs;
use crate::parse::{Format, ParseOptions, TimeZone};

/// Longest message read (as in the appliance's default `message_bytes_max`).
const MESSAGE_BYTES_MAX: usize = 64 << 10;

/// Input grammar flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    Auto,
    Rfc5424,
    Rfc3164,
}

/// Input framing flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FramingArg {
    /// One message per line.
    Lf,
    /// RFC 6587 octet counting (`LEN SP MSG`).
    Octet,
}

/// `linerate parse` options.
#[derive(clap::Args, Debug)]
pub struct ParseArgs {
    /// Read this file instead of stdin.
    pub file: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "auto")]
    pub format: FormatArg,
    #[arg(long, value_enum, default_value = "lf")]
    pub framing: FramingArg,
    /// Year of RFC 3164 timestamps (default: inferred from the clock).
    #[arg(long)]
    pub year: Option<i32>,
    /// Zone of RFC 3164 timestamps: UTC, +02:00, or an IANA name.
    #[arg(long, default_value = "UTC")]
    pub timezone: String,
}

/// Run the command.
pub fn run(args: &ParseArgs) -> Result<()> {
    let timezone = TimeZone::parse(&args.timezone)
        .with_context(|| format!("unknown time zone `{}`", args.timezone))?;
    let format = match args.format {
        FormatArg::Auto => Format::Auto,
        FormatArg::Rfc5424 => Format::Rfc5424,
        FormatArg::Rfc3164 => Format::Rfc3164,
    };
    let opts = ParseOptions {
        format,
        year: args.year,
        timezone,
    };
    let input: Box<dyn Read> = match &args.file {
        Some(p) => {
            Box::new(std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?)
        }
        None => Box::new(std::io::stdin().lock()),
    };
    let mut reader = BufReader::with_capacity(1 << 16, input);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut json = Vec::with_capacity(4096);
    let mut emit = |msg: &[u8], out: &mut dyn Write| -> Result<()> {
        let meta = ReceiveMeta {
            received_unix_micros: crate::event::unix_micros_now(),
            peer: None,
        };
        json.clear();
        syslog_to_ecs(msg, &opts, &meta, &mut json);
        json.push(b'\n');
        out.write_all(&json)?;
        Ok(())
    };
    match args.framing {
        FramingArg::Lf => {
            let mut line = Vec::new();
            loop {
                line.clear();
                if reader.read_until(b'\n', &mut line)? == 0 {
                    break;
                }
                let trimmed = line.strip_suffix(b"\n").unwrap_or(&line);
                let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
                if trimmed.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                emit(trimmed, &mut out)?;
            }
        }
        FramingArg::Octet => {
            let mut data = Vec::new();
            reader.read_to_end(&mut data)?;
            let mut framer = Framer::new(MESSAGE_BYTES_MAX);
            let mut pos = 0;
            loop {
                match framer.next(&data[pos..]) {
                    Step::Frame {
                        message, consumed, ..
                    } => {
                        emit(message, &mut out)?;
                        pos += consumed;
                    }
                    Step::Skip { consumed } => pos += consumed,
                    Step::NeedMore => break,
                    Step::Error { read, .. } => {
                        // The rest cannot be framed: one pipeline_error event says so.
                        let meta = ReceiveMeta {
                            received_unix_micros: crate::event::unix_micros_now(),
                            peer: None,
                        };
                        let mut json = Vec::new();
                        crate::normalize::framing_error_to_ecs(read, &meta, &mut json);
                        json.push(b'\n');
                        out.write_all(&json)?;
                        pos = data.len();
                        break;
                    }
                }
            }
            if let Some((msg, _)) = framer.finish(&data[pos..]) {
                emit(msg, &mut out)?;
            }
        }
    }
    out.flush()?;
    Ok(())
}
