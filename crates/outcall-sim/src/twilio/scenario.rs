//! What a simulated callee does. Chosen per number (exact match) or drawn from a
//! seeded random mix, so a test or the demo gets the same calls every run.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// A person answers and talks until the agent or the call ends.
    Human,
    /// An answering machine picks up (AMD reports `machine_end_beep`).
    Voicemail,
    /// It rings until the timeout.
    NoAnswer,
    /// The line is busy.
    Busy,
    /// The carrier cannot place the call.
    Failed,
    /// A person answers, then hangs up mid-conversation.
    CalleeHangsUp,
    /// A person answers, then the media stream drops without a `stop`.
    NetworkDrop,
}

impl Scenario {
    pub fn answers(self) -> bool {
        matches!(
            self,
            Self::Human | Self::Voicemail | Self::CalleeHangsUp | Self::NetworkDrop
        )
    }

    /// `AnsweredBy` as Twilio's AMD reports it, for answered calls.
    pub fn answered_by(self) -> Option<&'static str> {
        match self {
            Self::Voicemail => Some("machine_end_beep"),
            s if s.answers() => Some("human"),
            _ => None,
        }
    }

    /// The final `CallStatus` when the callee side decides the end.
    pub fn final_status(self) -> &'static str {
        match self {
            Self::NoAnswer => "no-answer",
            Self::Busy => "busy",
            Self::Failed => "failed",
            _ => "completed",
        }
    }
}

/// Timings of a simulated call. Tests shrink them to milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    /// From the REST request to the first ring.
    pub dial: Duration,
    /// How long it rings before being answered (or before no-answer).
    pub ring: Duration,
    /// How long a callee who hangs up talks first.
    pub talk: Duration,
    /// How long AMD takes to decide.
    pub amd: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            dial: Duration::from_millis(300),
            ring: Duration::from_secs(3),
            talk: Duration::from_secs(20),
            amd: Duration::from_secs(2),
        }
    }
}

/// Picks each call's scenario: a fixed one for listed numbers, else a weighted draw.
#[derive(Debug)]
pub struct ScenarioBook {
    fixed: HashMap<String, Scenario>,
    mix: Vec<(Scenario, u32)>,
    rng: Mutex<StdRng>,
}

impl ScenarioBook {
    /// Everyone answers and talks (the default for tests that list nothing).
    pub fn all(scenario: Scenario) -> Self {
        Self::mix(0, vec![(scenario, 1)])
    }

    /// A seeded weighted mix, e.g. `[(Human, 6), (Voicemail, 2), (NoAnswer, 1), (Busy, 1)]`.
    pub fn mix(seed: u64, mix: Vec<(Scenario, u32)>) -> Self {
        Self {
            fixed: HashMap::new(),
            mix,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
        }
    }

    /// The demo's realistic mix.
    pub fn realistic(seed: u64) -> Self {
        use Scenario::*;
        Self::mix(
            seed,
            vec![
                (Human, 10),
                (Voicemail, 3),
                (NoAnswer, 2),
                (Busy, 1),
                (Failed, 1),
                (CalleeHangsUp, 2),
            ],
        )
    }

    /// Fixes the scenario for one E.164 number.
    pub fn with(mut self, number: &str, scenario: Scenario) -> Self {
        self.fixed.insert(number.to_string(), scenario);
        self
    }

    pub fn pick(&self, to: &str) -> Scenario {
        if let Some(s) = self.fixed.get(to) {
            return *s;
        }
        let total: u32 = self.mix.iter().map(|(_, w)| w).sum();
        if total == 0 {
            return Scenario::Human;
        }
        // A poisoned lock only means another draw panicked; the generator is still usable.
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        let mut roll = rng.random_range(0..total);
        for (scenario, weight) in &self.mix {
            if roll < *weight {
                return *scenario;
            }
            roll -= weight;
        }
        Scenario::Human
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_numbers_win_and_mixes_repeat_with_their_seed() {
        let book = ScenarioBook::realistic(7).with("+15550001111", Scenario::Busy);
        assert_eq!(book.pick("+15550001111"), Scenario::Busy);
        let a: Vec<_> = (0..50).map(|_| book.pick("+1")).collect();
        let again = ScenarioBook::realistic(7);
        let b: Vec<_> = (0..50).map(|_| again.pick("+1")).collect();
        assert_eq!(a, b);
        assert!(a.contains(&Scenario::Human) && a.contains(&Scenario::Voicemail));
    }
}
