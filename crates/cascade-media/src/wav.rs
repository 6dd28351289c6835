//! Reading the WAV a TTS command writes (or a `PLAY` URL serves): RIFF/WAVE with 16-bit
//! PCM, mono or stereo (averaged to mono), any sample rate. A streamed header whose sizes
//! are unknown (0 or 0xFFFFFFFF, as `espeak-ng --stdout` writes) reads to the end.

/// Mono 16-bit samples at `rate` Hz.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audio {
    pub rate: u32,
    pub samples: Vec<i16>,
}

/// Why bytes are not a WAV Cascade can play.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WavError {
    NotRiffWave,
    /// A format other than 16-bit integer PCM (1 or 2 channels).
    Unsupported(String),
    NoFormat,
    NoData,
}

impl std::fmt::Display for WavError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WavError::NotRiffWave => write!(f, "not a RIFF/WAVE file"),
            WavError::Unsupported(what) => write!(f, "unsupported WAV format: {what}"),
            WavError::NoFormat => write!(f, "no fmt chunk before the data"),
            WavError::NoData => write!(f, "no data chunk"),
        }
    }
}

impl std::error::Error for WavError {}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

/// Read a WAV file's audio as mono.
///
/// # Errors
/// See [`WavError`].
pub fn read(bytes: &[u8]) -> Result<Audio, WavError> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(WavError::NotRiffWave);
    }
    let mut at = 12;
    let mut format: Option<(u16, u32)> = None;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32_at(bytes, at + 4).unwrap_or(0);
        let body = at + 8;
        if id == b"fmt " {
            let tag = u16_at(bytes, body).ok_or(WavError::NoFormat)?;
            let channels = u16_at(bytes, body + 2).ok_or(WavError::NoFormat)?;
            let rate = u32_at(bytes, body + 4).ok_or(WavError::NoFormat)?;
            let bits = u16_at(bytes, body + 14).ok_or(WavError::NoFormat)?;
            // 1 = PCM; 0xFFFE = extensible, whose sub-format espeak-ng does not use.
            if !(tag == 1 || tag == 0xFFFE)
                || bits != 16
                || !(1..=2).contains(&channels)
                || rate == 0
            {
                return Err(WavError::Unsupported(format!(
                    "format {tag}, {channels} channel(s), {bits} bits, {rate} Hz"
                )));
            }
            format = Some((channels, rate));
        } else if id == b"data" {
            let (channels, rate) = format.ok_or(WavError::NoFormat)?;
            let declared = usize::try_from(size).unwrap_or(usize::MAX);
            let end = if size == 0 || size == u32::MAX {
                bytes.len()
            } else {
                body.saturating_add(declared).min(bytes.len())
            };
            let data = &bytes[body.min(end)..end];
            let frame = 2 * usize::from(channels);
            let samples = data
                .chunks_exact(frame)
                .map(|f| {
                    let sum: i32 = f
                        .chunks_exact(2)
                        .map(|s| i32::from(i16::from_le_bytes([s[0], s[1]])))
                        .sum();
                    (sum / i32::from(channels)) as i16
                })
                .collect();
            return Ok(Audio { rate, samples });
        }
        // Chunks are padded to an even size.
        let step = usize::try_from(size).unwrap_or(usize::MAX);
        at = body.saturating_add(step).saturating_add(step & 1);
    }
    if format.is_none() {
        return Err(WavError::NoFormat);
    }
    Err(WavError::NoData)
}

/// A mono 16-bit PCM WAV of `audio` (for tests and fixtures).
pub fn write(audio: &Audio) -> Vec<u8> {
    let data_len = u32::try_from(audio.samples.len() * 2).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(44 + audio.samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&audio.rate.to_le_bytes());
    out.extend_from_slice(&(audio.rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in &audio.samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_streamed_header_reads_to_the_end_and_stereo_becomes_mono() {
        let mut w = write(&Audio {
            rate: 22_050,
            samples: vec![],
        });
        // espeak-ng --stdout: sizes unknown.
        w[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        w[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
        w.extend_from_slice(&[0x10, 0x00, 0xF0, 0xFF]);
        assert_eq!(read(&w).unwrap().samples, vec![16, -16]);

        let mut stereo = write(&Audio {
            rate: 8000,
            samples: vec![100, 300],
        });
        stereo[22] = 2; // two channels: one frame of (100, 300)
        assert_eq!(read(&stereo).unwrap().samples, vec![200]);
    }

    #[test]
    fn unknown_chunks_are_skipped() {
        let audio = Audio {
            rate: 16_000,
            samples: vec![1, 2, 3],
        };
        let plain = write(&audio);
        let mut with_list = plain[..36].to_vec();
        with_list.extend_from_slice(b"LIST");
        with_list.extend_from_slice(&3u32.to_le_bytes());
        with_list.extend_from_slice(&[1, 2, 3, 0]); // padded to even
        with_list.extend_from_slice(&plain[36..]);
        assert_eq!(read(&with_list), Ok(audio));
    }

    #[test]
    fn what_cannot_be_played_is_refused() {
        assert_eq!(read(b"not a wav"), Err(WavError::NotRiffWave));
        let mut eight_bit = write(&Audio {
            rate: 8000,
            samples: vec![0],
        });
        eight_bit[34] = 8;
        assert!(matches!(read(&eight_bit), Err(WavError::Unsupported(_))));
        let header_only = &write(&Audio {
            rate: 8000,
            samples: vec![],
        })[..36];
        assert_eq!(read(header_only), Err(WavError::NoData));
    }

    proptest! {
        #[test]
        fn written_audio_reads_back(rate in 1u32..96_000, samples in proptest::collection::vec(any::<i16>(), 0..500)) {
            let audio = Audio { rate, samples };
            prop_assert_eq!(read(&write(&audio)), Ok(audio));
        }

        #[test]
        fn any_bytes_read_or_fail_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = read(&bytes);
        }
    }
}
