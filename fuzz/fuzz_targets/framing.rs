//! Fuzz TCP framing: any byte stream, cut anywhere, frames without panicking, every frame is
//! at most `message_bytes_max`, and the framer always makes progress.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linerate::ingest::framing::{Framer, Step};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let max = 16 + usize::from(cut % 64);
    let mut f = Framer::new(max);
    let mut buf: Vec<u8> = Vec::new();
    for piece in stream.chunks(usize::from(cut).max(1)) {
        buf.extend_from_slice(piece);
        let mut pos = 0;
        loop {
            match f.next(&buf[pos..]) {
                Step::Frame {
                    message, consumed, ..
                } => {
                    assert!(message.len() <= max);
                    assert!(consumed > 0);
                    pos += consumed;
                }
                Step::Skip { consumed } => {
                    assert!(consumed > 0);
                    pos += consumed;
                }
                Step::NeedMore => break,
                Step::Error { read, .. } => {
                    assert!(read.len() <= max);
                    pos = buf.len();
                    break;
                }
            }
        }
        buf.drain(..pos);
        assert!(buf.len() <= f.buffer_bytes_min());
    }
    let _ = f.finish(&buf);
});
