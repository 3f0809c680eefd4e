//! The interruption rule for agent audio. When the caller talks over the
//! agent, ElevenLabs sends `interruption_event{event_id}`: every audio chunk
//! with `event_id` ≤ that id belongs to the interrupted turn and must not be
//! played (the bridge drops it and sends Twilio `clear`). Audio can still
//! arrive after the interruption, since frames already in flight are not
//! recalled, hence this check on every chunk.

/// Whether an agent audio chunk must be dropped, given the highest
/// interruption id seen so far (`None`: no interruption yet).
pub fn is_interrupted(audio_event_id: u64, last_interruption: Option<u64>) -> bool {
    last_interruption.is_some_and(|interrupted| audio_event_id <= interrupted)
}

/// The per-conversation state of [`is_interrupted`]: remembers the highest
/// interruption id, so an interruption arriving out of order cannot reopen
/// the gate for audio an earlier one already cut.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct InterruptionGate {
    last_interruption: Option<u64>,
}

impl InterruptionGate {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an `interruption_event`. Returns true when it moved the gate
    /// (a new, higher id), which is when the bridge should clear Twilio's
    /// buffer.
    pub fn interrupt(&mut self, event_id: u64) -> bool {
        if self.last_interruption.is_some_and(|last| event_id <= last) {
            return false;
        }
        self.last_interruption = Some(event_id);
        true
    }

    /// Whether the audio chunk with this `event_id` must be dropped.
    pub fn should_drop(&self, audio_event_id: u64) -> bool {
        is_interrupted(audio_event_id, self.last_interruption)
    }

    /// The highest interruption id seen, if any.
    pub fn last_interruption(&self) -> Option<u64> {
        self.last_interruption
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_dropped_before_an_interruption() {
        assert!(!is_interrupted(0, None));
        assert!(!is_interrupted(u64::MAX, None));
        let gate = InterruptionGate::new();
        assert!(!gate.should_drop(1));
        assert_eq!(gate.last_interruption(), None);
    }

    #[test]
    fn drops_up_to_and_including_the_interrupted_id() {
        assert!(is_interrupted(4, Some(5)));
        assert!(is_interrupted(5, Some(5)));
        assert!(!is_interrupted(6, Some(5)));
        let mut gate = InterruptionGate::new();
        assert!(gate.interrupt(5));
        assert!(gate.should_drop(3));
        assert!(gate.should_drop(5));
        assert!(!gate.should_drop(6));
    }

    #[test]
    fn a_lower_or_repeated_interruption_does_not_reopen_the_gate() {
        let mut gate = InterruptionGate::new();
        assert!(gate.interrupt(10));
        assert!(!gate.interrupt(7));
        assert!(!gate.interrupt(10));
        assert!(gate.should_drop(9));
        assert_eq!(gate.last_interruption(), Some(10));
        assert!(gate.interrupt(12));
        assert!(gate.should_drop(11));
        assert!(!gate.should_drop(13));
    }

    #[test]
    fn interruption_at_zero_drops_event_zero() {
        let mut gate = InterruptionGate::new();
        assert!(gate.interrupt(0));
        assert!(gate.should_drop(0));
        assert!(!gate.should_drop(1));
    }
}
