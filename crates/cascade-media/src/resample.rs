//! Sample-rate conversion to 8 kHz (or any rate): a windowed-sinc interpolator whose
//! low-pass sits just under the lower of the two Nyquist frequencies, so TTS audio at
//! 22.05 kHz loses what G.711 cannot carry instead of folding it back as noise.

use std::f64::consts::PI;

/// Input samples on each side of an output sample.
const HALF_TAPS: i64 = 16;
/// The pass band ends at this fraction of the lower Nyquist frequency.
const CUTOFF: f64 = 0.92;

/// `samples` at `from` Hz, converted to `to` Hz.
pub fn resample(samples: &[i16], from: u32, to: u32) -> Vec<i16> {
    if from == to || samples.is_empty() || from == 0 || to == 0 {
        return samples.to_vec();
    }
    let ratio = f64::from(from) / f64::from(to);
    // Normalised cut-off, relative to the input rate.
    let fc = CUTOFF * 0.5 * f64::from(from.min(to)) / f64::from(from);
    let scale = if to < from {
        f64::from(to) / f64::from(from)
    } else {
        1.0
    };
    let half = if to < from {
        (HALF_TAPS as f64 / scale).ceil() as i64
    } else {
        HALF_TAPS
    };
    let out_len = ((samples.len() as f64) / ratio).floor() as usize;
    let last = samples.len() as i64 - 1;
    (0..out_len)
        .map(|n| {
            let t = n as f64 * ratio;
            let centre = t.floor() as i64;
            let mut acc = 0.0;
            let mut norm = 0.0;
            for k in (centre - half + 1)..=(centre + half) {
                if k < 0 || k > last {
                    continue;
                }
                let x = t - k as f64;
                let w = kernel(x, fc, half as f64);
                acc += w * f64::from(samples[k as usize]);
                norm += w;
            }
            let y = if norm.abs() > 1e-9 { acc / norm } else { 0.0 };
            y.round().clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16
        })
        .collect()
}

/// A sinc low-pass at `fc` (cycles per input sample) under a Blackman window `half`
/// samples wide on each side.
fn kernel(x: f64, fc: f64, half: f64) -> f64 {
    if x.abs() >= half {
        return 0.0;
    }
    let sinc = if x.abs() < 1e-12 {
        2.0 * fc
    } else {
        (2.0 * PI * fc * x).sin() / (PI * x)
    };
    let r = (x + half) / (2.0 * half);
    let window = 0.42 - 0.5 * (2.0 * PI * r).cos() + 0.08 * (4.0 * PI * r).cos();
    sinc * window
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, rate: u32, seconds: f64, amplitude: f64) -> Vec<i16> {
        let n = (f64::from(rate) * seconds) as usize;
        (0..n)
            .map(|i| (amplitude * (2.0 * PI * freq * i as f64 / f64::from(rate)).sin()) as i16)
            .collect()
    }

    /// Root mean square over the middle half (away from the edges).
    fn rms(x: &[i16]) -> f64 {
        let mid = &x[x.len() / 4..3 * x.len() / 4];
        (mid.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / mid.len() as f64).sqrt()
    }

    fn zero_crossings(x: &[i16]) -> usize {
        x.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count()
    }

    #[test]
    fn a_tone_in_the_pass_band_keeps_its_level_and_pitch() {
        let input = tone(1000.0, 22_050, 1.0, 10_000.0);
        let out = resample(&input, 22_050, 8000);
        assert_eq!(out.len(), 8000);
        let ratio = rms(&out) / rms(&input);
        assert!((0.97..1.03).contains(&ratio), "level kept: {ratio}");
        let crossings = zero_crossings(&out);
        assert!(
            (1990..=2010).contains(&crossings),
            "1 kHz: {crossings} crossings"
        );
    }

    #[test]
    fn a_tone_above_the_new_nyquist_is_removed_not_folded() {
        let input = tone(6000.0, 22_050, 1.0, 10_000.0);
        let out = resample(&input, 22_050, 8000);
        let db = 20.0 * (rms(&out) / rms(&input)).log10();
        assert!(db < -40.0, "6 kHz at 8 kHz: {db:.1} dB");
    }

    #[test]
    fn upsampling_keeps_a_tone() {
        let input = tone(440.0, 8000, 0.5, 8000.0);
        let out = resample(&input, 8000, 16_000);
        assert_eq!(out.len(), 8000);
        let ratio = rms(&out) / rms(&input);
        assert!((0.97..1.03).contains(&ratio), "{ratio}");
    }

    #[test]
    fn the_same_rate_and_empty_input_pass_through() {
        assert_eq!(resample(&[1, 2, 3], 8000, 8000), vec![1, 2, 3]);
        assert!(resample(&[], 22_050, 8000).is_empty());
    }
}
