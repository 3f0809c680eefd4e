//! Seeded fault and latency profiles shared by the simulators.
//!
//! A [`Profile`] names how hostile a simulated service is (`none`, `flaky`,
//! `chaos`); each simulator turns it into its own fault rates (for Twilio see
//! [`crate::twilio::TwilioFaultRates`]). Every random decision comes from a
//! [`Dice`] seeded by the caller, so the same seed gives the same decisions for the
//! same requests in the same order. A [`Latency`] is the round trip added to every
//! simulated hop.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// How hostile a simulated service is, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Profile {
    /// No faults and no added latency (the default).
    #[default]
    None,
    /// Occasional faults of every kind and a little latency on every hop.
    Flaky,
    /// Frequent faults of every kind and more latency.
    Chaos,
}

impl Profile {
    /// Every profile, mildest first.
    pub const ALL: [Profile; 3] = [Profile::None, Profile::Flaky, Profile::Chaos];

    pub fn name(self) -> &'static str {
        match self {
            Profile::None => "none",
            Profile::Flaky => "flaky",
            Profile::Chaos => "chaos",
        }
    }

    /// One line saying what the profile does, printed when a simulator starts.
    pub fn describe(self) -> &'static str {
        match self {
            Profile::None => "no faults, no added latency",
            Profile::Flaky => "occasional faults of every kind, 20-50 ms per hop",
            Profile::Chaos => "frequent faults of every kind, 20-150 ms per hop",
        }
    }

    /// The round trip added to every simulated hop.
    pub fn latency(self) -> Latency {
        match self {
            Profile::None => Latency::ZERO,
            Profile::Flaky => {
                Latency::between(Duration::from_millis(20), Duration::from_millis(50))
            }
            Profile::Chaos => {
                Latency::between(Duration::from_millis(20), Duration::from_millis(150))
            }
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownProfile(pub String);

impl fmt::Display for UnknownProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Profile::ALL.iter().map(|p| p.name()).collect();
        write!(
            f,
            "unknown fault profile {:?}: use one of {}",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownProfile {}

impl FromStr for Profile {
    type Err = UnknownProfile;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Profile::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownProfile(s.to_string()))
    }
}

/// A round trip added to a simulated hop: uniform between `min` and `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Latency {
    pub min: Duration,
    pub max: Duration,
}

impl Latency {
    pub const ZERO: Latency = Latency {
        min: Duration::ZERO,
        max: Duration::ZERO,
    };

    /// Always exactly `d`.
    pub fn fixed(d: Duration) -> Self {
        Self { min: d, max: d }
    }

    pub fn between(min: Duration, max: Duration) -> Self {
        Self {
            min: min.min(max),
            max: max.max(min),
        }
    }

    pub fn is_zero(&self) -> bool {
        self.max.is_zero()
    }

    /// One hop's latency, drawn from `dice`.
    pub fn draw(&self, dice: &Dice) -> Duration {
        if self.min == self.max {
            return self.min;
        }
        dice.duration(self.min, self.max)
    }
}

/// A seeded stream of random decisions, shared by the tasks of one simulator.
#[derive(Debug)]
pub struct Dice(Mutex<StdRng>);

impl Dice {
    pub fn new(seed: u64) -> Self {
        Self(Mutex::new(StdRng::seed_from_u64(seed)))
    }

    fn with<T>(&self, f: impl FnOnce(&mut StdRng) -> T) -> T {
        // A poisoned lock only means another draw panicked; the generator is still usable.
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// True with probability `p` (0 never draws, so a zero rate costs no randomness).
    pub fn chance(&self, p: f64) -> bool {
        p > 0.0 && self.with(|r| r.random_bool(p.min(1.0)))
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        self.with(|r| r.random_range(0..n))
    }

    /// A duration uniform in `min..=max`.
    pub fn duration(&self, min: Duration, max: Duration) -> Duration {
        if max <= min {
            return min;
        }
        let span = u64::try_from((max - min).as_micros()).unwrap_or(u64::MAX);
        min + Duration::from_micros(self.with(|r| r.random_range(0..=span)))
    }

    /// Picks an index by weight (`None` when every weight is 0).
    pub fn weighted(&self, weights: &[u32]) -> Option<usize> {
        let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
        if total == 0 {
            return None;
        }
        let mut roll = self.below(total);
        for (i, w) in weights.iter().enumerate() {
            let w = u64::from(*w);
            if roll < w {
                return Some(i);
            }
            roll -= w;
        }
        None
    }

    /// A new, independent dice whose seed is the next draw: one per request or call,
    /// so their decisions do not depend on how other requests interleave.
    pub fn fork(&self) -> Dice {
        Dice::new(self.with(|r| r.random()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_parse_by_name_and_refuse_others() {
        for p in Profile::ALL {
            assert_eq!(p.name().parse::<Profile>(), Ok(p));
        }
        assert_eq!("CHAOS".parse::<Profile>(), Ok(Profile::Chaos));
        let err = "wild".parse::<Profile>().expect_err("unknown");
        assert!(err.to_string().contains("none, flaky, chaos"), "{err}");
        assert!(Profile::None.latency().is_zero());
        assert!(!Profile::Chaos.latency().is_zero());
    }

    #[test]
    fn the_same_seed_draws_the_same_decisions() {
        let draw = |seed| {
            let d = Dice::new(seed);
            let child = d.fork();
            (0..40)
                .map(|i| {
                    (
                        d.chance(0.3),
                        d.weighted(&[1, 0, 5]),
                        child.duration(Duration::ZERO, Duration::from_millis(i)),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(5), draw(5));
        assert_ne!(draw(5), draw(6));
        assert!(draw(5).iter().all(|(_, w, _)| *w != Some(1)));
        let d = Dice::new(1);
        assert!(!d.chance(0.0) && d.chance(1.0));
        assert_eq!(d.weighted(&[0, 0]), None);
    }
}
