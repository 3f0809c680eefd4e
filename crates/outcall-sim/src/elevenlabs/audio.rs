//! The agent's "voice": 20 ms frames of a quiet 400 Hz tone in 8 kHz μ-law
//! (G.711), the format outcall configures (`ulaw_8000`), base64-encoded as
//! `audio_event.audio_base_64` carries it.

use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine;

/// Samples (and μ-law bytes) in one 20 ms frame at 8 kHz.
pub const FRAME_BYTES: usize = 160;
/// The length of one frame.
pub const FRAME: Duration = Duration::from_millis(20);

/// One frame, base64: the same for every frame (400 Hz is exactly 8 periods
/// in 20 ms, so frames join without a click).
pub(super) fn frame_base64() -> &'static str {
    static FRAME_B64: OnceLock<String> = OnceLock::new();
    FRAME_B64.get_or_init(|| base64::engine::general_purpose::STANDARD.encode(tone_frame()))
}

/// How many frames of speech a line of text makes.
pub(super) fn frames_for(text: &str, per_char: Duration) -> usize {
    let speech = per_char.saturating_mul(u32::try_from(text.chars().count()).unwrap_or(u32::MAX));
    let frames = speech.as_micros().div_ceil(FRAME.as_micros());
    usize::try_from(frames).unwrap_or(usize::MAX).max(1)
}

fn tone_frame() -> [u8; FRAME_BYTES] {
    let mut frame = [0u8; FRAME_BYTES];
    for (i, byte) in frame.iter_mut().enumerate() {
        let phase = 2.0 * std::f64::consts::PI * 400.0 * i as f64 / 8000.0;
        // About -18 dBFS: audible, not loud.
        let sample = (phase.sin() * 4000.0).round() as i16;
        *byte = linear_to_ulaw(sample);
    }
    frame
}

/// G.711 μ-law encoding of one 16-bit linear sample.
fn linear_to_ulaw(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32635;
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(CLIP) + BIAS;
    let mut exponent = 7;
    let mut mask = 0x4000;
    while exponent > 0 && s & mask == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = (s >> (exponent + 3)) & 0x0F;
    !((sign | (exponent << 4) | mantissa) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_known_values() {
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_ulaw(-1), 0x7F);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
    }

    #[test]
    fn frame_is_160_bytes_of_base64() {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(frame_base64())
            .expect("valid base64");
        assert_eq!(bytes.len(), FRAME_BYTES);
        assert!(bytes.iter().any(|&b| b != 0xFF), "a tone, not silence");
    }

    #[test]
    fn speech_length() {
        assert_eq!(frames_for("", Duration::from_millis(60)), 1);
        // 10 chars × 60 ms = 600 ms = 30 frames.
        assert_eq!(frames_for("0123456789", Duration::from_millis(60)), 30);
        assert_eq!(frames_for("abc", Duration::from_millis(1)), 1);
        assert_eq!(frames_for("abc", Duration::from_millis(10)), 2);
    }
}
