//! Reading an input file whole, gunzipping it when it starts with gzip's magic bytes.

use std::io::Read;
use std::path::Path;

use super::ImportError;

/// gzip's first two bytes.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Whether `data` starts like a gzip stream.
pub fn is_gzip(data: &[u8]) -> bool {
    data.starts_with(&GZIP_MAGIC)
}

/// Decompress `data` (a gzip stream, members concatenated), refusing to produce more than
/// `bytes_max` bytes.
pub fn gunzip(data: &[u8], bytes_max: u64) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data)
        .take(bytes_max.saturating_add(1))
        .read_to_end(&mut out)?;
    if out.len() as u64 > bytes_max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("decompresses to more than {bytes_max} bytes"),
        ));
    }
    Ok(out)
}

/// The bytes of `path`, decompressed when it is gzip (whatever its name), at most
/// `bytes_max` of them (before and after decompression).
pub fn read_input(path: &Path, bytes_max: u64) -> Result<Vec<u8>, ImportError> {
    let io = |source| ImportError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut data = Vec::new();
    file.take(bytes_max.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(io)?;
    if data.len() as u64 > bytes_max {
        return Err(ImportError::TooLarge {
            path: path.to_owned(),
            bytes_max,
        });
    }
    if is_gzip(&data) {
        data = gunzip(&data, bytes_max).map_err(io)?;
    }
    Ok(data)
}
