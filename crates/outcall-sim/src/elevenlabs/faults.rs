//! Latency and faults the simulated ElevenLabs injects, drawn from a seeded
//! generator so a failing run replays with its seed: a slow or failing
//! signed-URL endpoint, a WebSocket connect that is slow, refused or never
//! answered, an agent that stays silent or closes mid-call, a socket closed
//! while it waits for the client data, and a late or duplicated post-call webhook.
//! Everything is off by default.

use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::faults::Profile;

/// A delay of `base` plus up to `jitter`, drawn per request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delay {
    pub base: Duration,
    pub jitter: Duration,
}

impl Delay {
    pub fn fixed(base: Duration) -> Self {
        Self {
            base,
            jitter: Duration::ZERO,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ElevenLabsFaults {
    /// Seeds every draw below.
    pub seed: u64,
    /// Before the signed-URL answer (e.g. the network round trip to ElevenLabs).
    pub signed_url_delay: Delay,
    /// Share of signed-URL requests answered 503.
    pub signed_url_failure_rate: f64,
    /// Before the WebSocket upgrade is answered.
    pub connect_delay: Delay,
    /// Share of upgrades refused with 503.
    pub connect_refuse_rate: f64,
    /// Share of upgrades never answered: the request hangs.
    pub connect_hang_rate: f64,
    /// How long an open socket waits for `conversation_initiation_client_data`
    /// before the agent closes it (1008).
    pub init_timeout: Duration,
    /// Share of conversations whose agent never says anything (no metadata, no
    /// audio, no pings): it only reads.
    pub silent_rate: f64,
    /// The agent closes the conversation (1011) this long after it started.
    pub close_mid_call_after: Option<Duration>,
    /// The post-call webhook is sent this long after the conversation ended.
    pub webhook_delay: Duration,
    /// Extra copies of each post-call webhook.
    pub webhook_duplicates: u32,
}

impl ElevenLabsFaults {
    /// The faults of a named profile (see [`crate::faults::Profile`]), with its
    /// latency on both hops. An agent closing mid-call applies to every
    /// conversation, so no profile sets it; tests do.
    pub fn for_profile(profile: Profile, seed: u64) -> Self {
        let latency = profile.latency();
        let hop = Delay {
            base: latency.min,
            jitter: latency.max.saturating_sub(latency.min),
        };
        // (signed URL fails, connect refused, connect hangs, silent agent)
        let (fails, refused, hangs, silent) = match profile {
            Profile::None => return Self::default(),
            Profile::Flaky => (0.02, 0.02, 0.0, 0.02),
            Profile::Chaos => (0.08, 0.05, 0.02, 0.05),
        };
        Self {
            seed,
            signed_url_delay: hop,
            signed_url_failure_rate: fails,
            connect_delay: hop,
            connect_refuse_rate: refused,
            connect_hang_rate: hangs,
            silent_rate: silent,
            webhook_delay: Duration::from_secs(2),
            webhook_duplicates: u32::from(profile == Profile::Chaos),
            ..Self::default()
        }
    }
}

impl Default for ElevenLabsFaults {
    fn default() -> Self {
        Self {
            seed: 0,
            signed_url_delay: Delay::default(),
            signed_url_failure_rate: 0.0,
            connect_delay: Delay::default(),
            connect_refuse_rate: 0.0,
            connect_hang_rate: 0.0,
            init_timeout: Duration::from_secs(10),
            silent_rate: 0.0,
            close_mid_call_after: None,
            webhook_delay: Duration::ZERO,
            webhook_duplicates: 0,
        }
    }
}

/// The seeded draws, shared by the simulator's handlers.
#[derive(Debug)]
pub(super) struct Dice(Mutex<StdRng>);

impl Dice {
    pub(super) fn new(seed: u64) -> Self {
        Self(Mutex::new(StdRng::seed_from_u64(seed)))
    }

    /// True with probability `rate` (never for 0, always for 1).
    pub(super) fn hit(&self, rate: f64) -> bool {
        if rate <= 0.0 {
            return false;
        }
        if rate >= 1.0 {
            return true;
        }
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .random_bool(rate)
    }

    pub(super) fn delay(&self, d: Delay) -> Duration {
        if d.jitter.is_zero() {
            return d.base;
        }
        let extra = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .random_range(0..=d.jitter.as_micros() as u64);
        d.base + Duration::from_micros(extra)
    }
}

/// What the simulator saw of its WebSocket connections, conversation or not:
/// what a bill by connection time would count.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SocketStats {
    /// Upgrades accepted.
    pub opened: u64,
    /// Sockets whose first message was the client data (a conversation started).
    pub initiated: u64,
    /// Sockets closed (by either side) before any client data.
    pub closed_before_initiation: u64,
    /// Of which the agent closed for want of client data (`init_timeout`).
    pub closed_by_agent_before_initiation: u64,
    /// Seconds sockets were open before their client data, or before they
    /// closed without any.
    pub seconds_before_initiation: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_replay_with_their_seed() {
        let (a, b) = (Dice::new(7), Dice::new(7));
        let d = Delay {
            base: Duration::from_millis(100),
            jitter: Duration::from_millis(50),
        };
        for _ in 0..20 {
            assert_eq!(a.hit(0.5), b.hit(0.5));
            let (x, y) = (a.delay(d), b.delay(d));
            assert_eq!(x, y);
            assert!(x >= d.base && x <= d.base + d.jitter);
        }
        assert!(!a.hit(0.0) && a.hit(1.0));
    }

    #[test]
    fn profiles_grow_more_hostile_and_none_injects_nothing() {
        assert_eq!(
            ElevenLabsFaults::for_profile(Profile::None, 3),
            ElevenLabsFaults::default()
        );
        let flaky = ElevenLabsFaults::for_profile(Profile::Flaky, 3);
        let chaos = ElevenLabsFaults::for_profile(Profile::Chaos, 3);
        assert_eq!((flaky.seed, chaos.seed), (3, 3));
        for (f, c) in [
            (flaky.signed_url_failure_rate, chaos.signed_url_failure_rate),
            (flaky.connect_refuse_rate, chaos.connect_refuse_rate),
            (flaky.silent_rate, chaos.silent_rate),
        ] {
            assert!(f > 0.0 && c > f, "flaky {f}, chaos {c}");
        }
        // Latency on both hops, as the profile says.
        assert_eq!(chaos.connect_delay.base, Profile::Chaos.latency().min);
        assert_eq!(
            chaos.signed_url_delay.base + chaos.signed_url_delay.jitter,
            Profile::Chaos.latency().max
        );
        // An agent closing mid-call would end every call: never from a profile.
        assert_eq!(chaos.close_mid_call_after, None);
    }
}
