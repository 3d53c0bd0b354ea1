//! Which of 16 bytes belong to a small class, as a bit mask (bit `k` for byte `k`): SSE2 on
//! x86_64 (part of its baseline, so always there), a byte loop elsewhere. For the hot scans
//! of the normalizers (JSON escaping, the `evtx` crate's event XML), where the bytes looked
//! for come every 10-20 bytes and a `memchr` call per find costs more than the scan.

/// Bytes one mask covers.
pub const CHUNK_BYTES: usize = 16;

/// The bytes of `chunk` equal to `a` and those equal to `b`, as two masks.
#[inline]
pub fn eq2(chunk: &[u8; CHUNK_BYTES], a: u8, b: u8) -> (u32, u32) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
        };
        // SAFETY: SSE2 is part of x86_64's baseline, and the load reads the 16 bytes of a
        // 16-byte array (unaligned loads are allowed).
        unsafe {
            let v = _mm_loadu_si128(chunk.as_ptr().cast());
            let ma = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(a as i8))) as u32;
            let mb = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b as i8))) as u32;
            (ma, mb)
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let (mut ma, mut mb) = (0, 0);
        for (k, &c) in chunk.iter().enumerate() {
            ma |= u32::from(c == a) << k;
            mb |= u32::from(c == b) << k;
        }
        (ma, mb)
    }
}

/// The bytes of `chunk` JSON needs escaped (controls, `"`, `\\`, DEL) and, when
/// `STOP_NON_ASCII`, every byte from 0x80.
#[inline]
pub fn json_escape<const STOP_NON_ASCII: bool>(chunk: &[u8; CHUNK_BYTES]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8,
            _mm_or_si128, _mm_set1_epi8,
        };
        // SAFETY: as in `eq2`.
        unsafe {
            let v = _mm_loadu_si128(chunk.as_ptr().cast());
            let below_space = if STOP_NON_ASCII {
                // Signed: the controls and every byte from 0x80 (negative).
                _mm_cmplt_epi8(v, _mm_set1_epi8(0x20))
            } else {
                // Unsigned `v <= 0x1f`.
                _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x1f)), _mm_set1_epi8(0x1f))
            };
            let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            let del = _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f));
            let m = _mm_or_si128(
                _mm_or_si128(below_space, quote),
                _mm_or_si128(backslash, del),
            );
            _mm_movemask_epi8(m) as u32
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let mut m = 0;
        for (k, &c) in chunk.iter().enumerate() {
            let escape = c < 0x20 || c == b'"' || c == b'\\' || c == 0x7f;
            m |= u32::from(escape || (STOP_NON_ASCII && c >= 0x80)) << k;
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_flag_exactly_their_bytes() {
        for c in 0..=255u8 {
            let mut chunk = [b'a'; CHUNK_BYTES];
            chunk[5] = c;
            let (lt, amp) = eq2(&chunk, b'<', b'&');
            assert_eq!(lt, u32::from(c == b'<') << 5, "{c:#x}");
            assert_eq!(amp, u32::from(c == b'&') << 5, "{c:#x}");
            let escape = c < 0x20 || c == b'"' || c == b'\\' || c == 0x7f;
            assert_eq!(
                json_escape::<false>(&chunk),
                u32::from(escape) << 5,
                "{c:#x}"
            );
            assert_eq!(
                json_escape::<true>(&chunk),
                u32::from(escape || c >= 0x80) << 5,
                "{c:#x}"
            );
        }
    }
}
