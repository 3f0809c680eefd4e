//! Faults the Twilio simulator injects, driven two ways: scripted rules for tests
//! ("the next create to +1555… answers 500", "the 2nd create of attempt X is
//! answered too late") and a seeded random [`TwilioFaultRates`] profile, deterministic
//! from its seed (one draw per create request in arrival order; each call's
//! callbacks from a dice forked at its create). Rules win over the profile.
//!
//! Faults on `POST Calls.json` ([`CreateFault`]) act on the real connection: an
//! error answer, a reset (RST) or a close without answer, an answer held back.
//! A connection refused is an outage of the REST listener
//! ([`TwilioFaults::refuse_for`]): it stops listening, so clients see ECONNREFUSED.
//! Faults on callbacks ([`CallbackFault`]) drop, duplicate, delay or reorder them.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use super::listener::ListenSlot;
use crate::faults::{Dice, Latency, Profile};

/// What happens to one `POST Calls.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateFault {
    /// An HTTP 5xx with Twilio's error JSON; no call is created.
    ServerError { status: u16 },
    /// HTTP 429 with `Retry-After` (whole seconds); no call is created.
    RateLimited { retry_after_secs: u32 },
    /// The request is read, then the connection is reset (RST) with no answer and
    /// no call created.
    ResetBeforeCreate,
    /// The call is created, then the connection is reset (RST) before the answer.
    ResetAfterCreate,
    /// The call is created and the connection closed (FIN) without an answer.
    AnswerLost,
    /// The call is created and its 201 sent only after this long (past the
    /// client's timeout when longer than it).
    AnswerDelayed(Duration),
    /// The call is created and its 201 held until the call's first callbacks, the
    /// TwiML fetch and the media stream's `start` went out (or the call ended), at
    /// most [`EARLY_START_CAP`].
    EarlyStart,
}

/// The longest an [`CreateFault::EarlyStart`] answer is held.
pub const EARLY_START_CAP: Duration = Duration::from_secs(5);

impl CreateFault {
    /// A short name, as the simulator's log shows it.
    pub fn name(&self) -> String {
        match self {
            CreateFault::ServerError { status } => format!("server-error-{status}"),
            CreateFault::RateLimited { .. } => "rate-limited".into(),
            CreateFault::ResetBeforeCreate => "reset-before-create".into(),
            CreateFault::ResetAfterCreate => "reset-after-create".into(),
            CreateFault::AnswerLost => "answer-lost".into(),
            CreateFault::AnswerDelayed(_) => "answer-delayed".into(),
            CreateFault::EarlyStart => "early-start".into(),
        }
    }

    /// Whether the call is created despite the fault.
    pub fn creates_call(&self) -> bool {
        !matches!(
            self,
            CreateFault::ServerError { .. }
                | CreateFault::RateLimited { .. }
                | CreateFault::ResetBeforeCreate
        )
    }
}

/// What happens to one callback to the server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackFault {
    /// Never sent.
    Drop,
    /// Sent twice.
    Duplicate,
    /// Sent this much later, while the call goes on (later callbacks may overtake it).
    Delay(Duration),
    /// Held back and sent right after the call's next callback.
    Reorder,
}

impl CallbackFault {
    pub fn name(&self) -> &'static str {
        match self {
            CallbackFault::Drop => "dropped",
            CallbackFault::Duplicate => "duplicated",
            CallbackFault::Delay(_) => "delayed",
            CallbackFault::Reorder => "reordered",
        }
    }
}

/// Which requests a rule applies to: the `To` number's start, the attempt id of
/// the StatusCallback URL, and from which matching request on.
#[derive(Debug, Clone, Default)]
struct Matcher {
    to_prefix: Option<String>,
    attempt: Option<String>,
    /// The rule fires from the nth matching request (1-based) on.
    nth: u32,
    /// Matching requests seen so far.
    seen: u32,
    /// Requests it still applies to (`None`: every one).
    remaining: Option<u32>,
}

impl Matcher {
    /// Whether the request matches and the rule fires for it (counting it).
    fn fire(&mut self, to: &str, attempt: Option<&str>) -> bool {
        if self.remaining == Some(0) {
            return false;
        }
        if self
            .to_prefix
            .as_deref()
            .is_some_and(|p| !to.starts_with(p))
        {
            return false;
        }
        if self.attempt.is_some() && self.attempt.as_deref() != attempt {
            return false;
        }
        self.seen += 1;
        if self.seen < self.nth.max(1) {
            return false;
        }
        if let Some(n) = self.remaining.as_mut() {
            *n -= 1;
        }
        true
    }
}

/// A scripted fault for `POST Calls.json`. Applies once unless told otherwise.
///
/// ```
/// use outcall_sim::twilio::{CreateFault, CreateRule};
/// // The next create to a number starting +1555 answers 500.
/// let a = CreateRule::to("+1555").fault(CreateFault::ServerError { status: 500 });
/// // The 2nd create of attempt X is answered after 20 s.
/// let b = CreateRule::attempt("X")
///     .nth(2)
///     .fault(CreateFault::AnswerDelayed(std::time::Duration::from_secs(20)));
/// ```
#[derive(Debug, Clone)]
pub struct CreateRule {
    matcher: Matcher,
    fault: Option<CreateFault>,
}

impl CreateRule {
    /// Every create.
    pub fn any() -> Self {
        Self {
            matcher: Matcher {
                remaining: Some(1),
                ..Default::default()
            },
            fault: None,
        }
    }

    /// Creates whose `To` starts with `prefix` (a whole number matches itself).
    pub fn to(prefix: &str) -> Self {
        let mut rule = Self::any();
        rule.matcher.to_prefix = Some(prefix.to_string());
        rule
    }

    /// Creates whose StatusCallback URL carries `attemptId=attempt`.
    pub fn attempt(attempt: &str) -> Self {
        let mut rule = Self::any();
        rule.matcher.attempt = Some(attempt.to_string());
        rule
    }

    /// Also requires the `To` number to start with `prefix`.
    pub fn and_to(mut self, prefix: &str) -> Self {
        self.matcher.to_prefix = Some(prefix.to_string());
        self
    }

    /// Fires from the nth matching create on (1-based; earlier ones pass untouched).
    pub fn nth(mut self, n: u32) -> Self {
        self.matcher.nth = n;
        self
    }

    /// Applies to this many matching creates (1 by default).
    pub fn times(mut self, n: u32) -> Self {
        self.matcher.remaining = Some(n);
        self
    }

    /// Applies to every matching create.
    pub fn always(mut self) -> Self {
        self.matcher.remaining = None;
        self
    }

    /// What happens to the matching creates. `None` (the default) lets them through
    /// untouched, which shields them from the seeded profile.
    pub fn fault(mut self, fault: impl Into<Option<CreateFault>>) -> Self {
        self.fault = fault.into();
        self
    }
}

/// Status callbacks by event, plus the AMD and recording callbacks.
pub const CALLBACK_EVENTS: [&str; 6] = [
    "initiated",
    "ringing",
    "answered",
    "completed",
    "amd",
    "recording",
];

/// A scripted fault for callbacks. Applies once unless told otherwise.
#[derive(Debug, Clone)]
pub struct CallbackRule {
    matcher: Matcher,
    event: Option<String>,
    fault: Option<CallbackFault>,
}

impl CallbackRule {
    /// Every callback (status, AMD, recording).
    pub fn any() -> Self {
        Self {
            matcher: Matcher {
                remaining: Some(1),
                ..Default::default()
            },
            event: None,
            fault: None,
        }
    }

    /// Callbacks of one event: a status event (`initiated`, `ringing`, `answered`,
    /// `completed`), `amd` or `recording`.
    pub fn event(event: &str) -> Self {
        let mut rule = Self::any();
        rule.event = Some(event.to_string());
        rule
    }

    /// Only for calls whose `To` starts with `prefix`.
    pub fn to(mut self, prefix: &str) -> Self {
        self.matcher.to_prefix = Some(prefix.to_string());
        self
    }

    /// Only for calls created with this attempt id.
    pub fn attempt(mut self, attempt: &str) -> Self {
        self.matcher.attempt = Some(attempt.to_string());
        self
    }

    pub fn nth(mut self, n: u32) -> Self {
        self.matcher.nth = n;
        self
    }

    pub fn times(mut self, n: u32) -> Self {
        self.matcher.remaining = Some(n);
        self
    }

    pub fn always(mut self) -> Self {
        self.matcher.remaining = None;
        self
    }

    pub fn fault(mut self, fault: impl Into<Option<CallbackFault>>) -> Self {
        self.fault = fault.into();
        self
    }
}

/// Fault rates of a seeded random profile: per create request, per callback and
/// per create an outage of the REST listener, plus latency on every hop.
#[derive(Debug, Clone, PartialEq)]
pub struct TwilioFaultRates {
    /// Chance that a create meets a fault; which one is drawn by `create_weights`.
    pub create: f64,
    /// Weights of server error, 429, reset before create, reset after create,
    /// answer lost, answer delayed, early start.
    pub create_weights: [u32; 7],
    /// How long a delayed answer is held (past the client's timeout by default).
    pub answer_delay: Duration,
    /// `Retry-After` of a 429, in seconds.
    pub retry_after_secs: u32,
    /// Chance that a callback meets a fault; weights of drop, duplicate, delay, reorder.
    pub callback: f64,
    pub callback_weights: [u32; 4],
    /// How late a delayed callback is, at most.
    pub callback_delay: Duration,
    /// Chance, after each create, that the REST listener stops accepting for a while.
    pub outage: f64,
    /// How long an outage lasts, at most (at least a tenth of it).
    pub outage_for: Duration,
    pub latency: Latency,
}

impl TwilioFaultRates {
    /// No faults, no latency.
    pub fn none() -> Self {
        Self::for_profile(Profile::None)
    }

    /// The rates of a named profile.
    pub fn for_profile(profile: Profile) -> Self {
        let (create, callback, outage) = match profile {
            Profile::None => (0.0, 0.0, 0.0),
            Profile::Flaky => (0.08, 0.05, 0.01),
            Profile::Chaos => (0.3, 0.2, 0.03),
        };
        Self {
            create,
            create_weights: [4, 3, 2, 2, 2, 1, 3],
            answer_delay: Duration::from_secs(20),
            retry_after_secs: 1,
            callback,
            callback_weights: [1, 1, 1, 1],
            callback_delay: Duration::from_secs(2),
            outage,
            outage_for: Duration::from_secs(2),
            latency: profile.latency(),
        }
    }

    fn is_quiet(&self) -> bool {
        self.create <= 0.0 && self.callback <= 0.0 && self.outage <= 0.0
    }

    fn draw_create(&self, dice: &Dice) -> Option<CreateFault> {
        if !dice.chance(self.create) {
            return None;
        }
        Some(match dice.weighted(&self.create_weights)? {
            0 => CreateFault::ServerError {
                status: [500, 502, 503][dice.below(3) as usize],
            },
            1 => CreateFault::RateLimited {
                retry_after_secs: self.retry_after_secs,
            },
            2 => CreateFault::ResetBeforeCreate,
            3 => CreateFault::ResetAfterCreate,
            4 => CreateFault::AnswerLost,
            5 => CreateFault::AnswerDelayed(self.answer_delay),
            _ => CreateFault::EarlyStart,
        })
    }

    fn draw_callback(&self, dice: &Dice) -> Option<CallbackFault> {
        if !dice.chance(self.callback) {
            return None;
        }
        Some(match dice.weighted(&self.callback_weights)? {
            0 => CallbackFault::Drop,
            1 => CallbackFault::Duplicate,
            2 => CallbackFault::Delay(dice.duration(Duration::ZERO, self.callback_delay)),
            _ => CallbackFault::Reorder,
        })
    }
}

/// The seeded profile in force and its dice.
#[derive(Debug)]
struct Seeded {
    rates: TwilioFaultRates,
    seed: u64,
    dice: Dice,
}

/// What was decided for one create request.
#[derive(Debug)]
pub(super) struct CreateDecision {
    pub fault: Option<CreateFault>,
    /// An outage of the REST listener to start once this request is answered.
    pub outage: Option<Duration>,
    /// The dice of this call's callbacks (`None` without a seeded profile).
    pub call_dice: Option<Dice>,
}

/// The Twilio simulator's fault controls, from [`super::TwilioSim::faults`].
#[derive(Debug)]
pub struct TwilioFaults {
    create_rules: Mutex<Vec<CreateRule>>,
    callback_rules: Mutex<Vec<CallbackRule>>,
    seeded: Mutex<Seeded>,
    /// Latency given explicitly, over the profile's.
    latency: Mutex<Option<Latency>>,
    /// Dice for latencies of hops that belong to no call.
    latency_dice: Dice,
    /// The REST listener's socket, closed during an outage (set at start).
    listener: OnceLock<Arc<ListenSlot>>,
    /// Bumped by each outage, so an older outage's end does not end a newer one.
    outage_epoch: Arc<AtomicU64>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl TwilioFaults {
    pub(super) fn new(rates: TwilioFaultRates, seed: u64) -> Self {
        Self {
            create_rules: Mutex::default(),
            callback_rules: Mutex::default(),
            seeded: Mutex::new(Seeded {
                rates,
                seed,
                dice: Dice::new(seed),
            }),
            latency: Mutex::default(),
            latency_dice: Dice::new(seed ^ 0x1a7e_0c1e),
            listener: OnceLock::new(),
            outage_epoch: Arc::default(),
        }
    }

    /// Adds a scripted fault for creates (checked in the order added).
    pub fn on_create(&self, rule: CreateRule) -> &Self {
        lock(&self.create_rules).push(rule);
        self
    }

    /// Adds a scripted fault for callbacks (checked in the order added).
    pub fn on_callback(&self, rule: CallbackRule) -> &Self {
        lock(&self.callback_rules).push(rule);
        self
    }

    /// Removes every scripted rule.
    pub fn clear_rules(&self) {
        lock(&self.create_rules).clear();
        lock(&self.callback_rules).clear();
    }

    /// Replaces the seeded profile (its dice restart from `seed`).
    pub fn set_profile(&self, rates: TwilioFaultRates, seed: u64) {
        *lock(&self.seeded) = Seeded {
            rates,
            seed,
            dice: Dice::new(seed),
        };
    }

    /// The seeded profile's rates and seed.
    pub fn profile(&self) -> (TwilioFaultRates, u64) {
        let s = lock(&self.seeded);
        (s.rates.clone(), s.seed)
    }

    /// Sets the latency of every hop, over the profile's.
    pub fn set_latency(&self, latency: Latency) {
        *lock(&self.latency) = Some(latency);
    }

    pub(super) fn latency(&self) -> Latency {
        lock(&self.latency).unwrap_or_else(|| lock(&self.seeded).rates.latency)
    }

    /// One hop's latency, drawn from `dice` or the simulator's own.
    pub(super) fn hop_latency(&self, dice: Option<&Dice>) -> Duration {
        let latency = self.latency();
        if latency.is_zero() {
            return Duration::ZERO;
        }
        latency.draw(dice.unwrap_or(&self.latency_dice))
    }

    pub(super) fn set_listener(&self, slot: Arc<ListenSlot>) {
        let _ = self.listener.set(slot);
    }

    fn close(&self) {
        if let Some(l) = self.listener.get() {
            l.close();
        }
    }

    /// Binds the listener again, retrying in the background if the address is
    /// briefly unavailable (until another outage or refusal begins).
    fn open(&self, epoch: u64) {
        let Some(slot) = self.listener.get().cloned() else {
            return;
        };
        if slot.open().is_ok() {
            return;
        }
        let epochs = self.outage_epoch.clone();
        tokio::spawn(async move {
            while epochs.load(SeqCst) == epoch {
                match slot.open() {
                    Ok(()) => return,
                    Err(e) => {
                        tracing::warn!(addr = %slot.addr(), error = %e, "Twilio simulator cannot listen again yet");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        });
    }

    /// The REST listener stops accepting now and for `d`: connections are refused.
    pub fn refuse_for(self: &Arc<Self>, d: Duration) {
        let epoch = self.outage_epoch.fetch_add(1, SeqCst) + 1;
        self.close();
        let this = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(d).await;
            // An outage (or refusal) begun since then decides instead.
            if this.outage_epoch.load(SeqCst) == epoch {
                this.open(epoch);
            }
        });
    }

    /// The REST listener stops accepting until [`TwilioFaults::accept`]: from now on
    /// connections are refused.
    pub fn refuse(&self) {
        self.outage_epoch.fetch_add(1, SeqCst);
        self.close();
    }

    /// The REST listener accepts again, from now on.
    pub fn accept(&self) {
        let epoch = self.outage_epoch.fetch_add(1, SeqCst) + 1;
        self.open(epoch);
    }

    /// Whether the REST listener accepts connections now.
    pub fn accepting(&self) -> bool {
        self.listener.get().is_none_or(|l| l.is_open())
    }

    /// Decides a create request's fate: the first firing rule, else the profile.
    pub(super) fn decide_create(&self, to: &str, attempt: Option<&str>) -> CreateDecision {
        let ruled = lock(&self.create_rules)
            .iter_mut()
            .find_map(|r| r.matcher.fire(to, attempt).then_some(r.fault));
        let seeded = lock(&self.seeded);
        let rates = &seeded.rates;
        // The profile's draws happen for every request, ruled or not, so a rule
        // does not shift the decisions of the requests after it.
        let (drawn, outage, call_dice) = if rates.is_quiet() {
            (None, None, None)
        } else {
            let drawn = rates.draw_create(&seeded.dice);
            let outage = seeded.dice.chance(rates.outage).then(|| {
                seeded
                    .dice
                    .duration(rates.outage_for / 10, rates.outage_for)
            });
            (drawn, outage, Some(seeded.dice.fork()))
        };
        CreateDecision {
            fault: match ruled {
                Some(f) => f,
                None => drawn,
            },
            outage,
            call_dice,
        }
    }

    /// Decides a callback's fate: the first firing rule, else the call's dice.
    pub(super) fn decide_callback(
        &self,
        event: &str,
        to: &str,
        attempt: Option<&str>,
        call_dice: Option<&Dice>,
    ) -> Option<CallbackFault> {
        let ruled = lock(&self.callback_rules).iter_mut().find_map(|r| {
            if r.event.as_deref().is_some_and(|e| e != event) {
                return None;
            }
            r.matcher.fire(to, attempt).then_some(r.fault)
        });
        let rates = lock(&self.seeded).rates.clone();
        let drawn = call_dice.and_then(|d| rates.draw_callback(d));
        match ruled {
            Some(f) => f,
            None => drawn,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_fire_on_their_nth_match_and_only_as_often_as_told() {
        let faults = TwilioFaults::new(TwilioFaultRates::none(), 1);
        let err = CreateFault::ServerError { status: 500 };
        faults.on_create(CreateRule::attempt("X").nth(2).fault(err));
        faults.on_create(
            CreateRule::to("+1555")
                .times(2)
                .fault(CreateFault::AnswerLost),
        );
        let f = |to, a| faults.decide_create(to, a).fault;
        assert_eq!(f("+1444", Some("X")), None, "1st of X passes");
        assert_eq!(f("+1444", Some("Y")), None);
        assert_eq!(f("+1444", Some("X")), Some(err), "2nd of X");
        assert_eq!(f("+1444", Some("X")), None, "once only");
        assert_eq!(f("+15550001", None), Some(CreateFault::AnswerLost));
        assert_eq!(f("+15550002", None), Some(CreateFault::AnswerLost));
        assert_eq!(f("+15550003", None), None);
    }

    #[test]
    fn a_seeded_profile_repeats_its_decisions_and_rules_do_not_shift_them() {
        let run = |with_rule: bool| {
            let faults = TwilioFaults::new(TwilioFaultRates::for_profile(Profile::Chaos), 42);
            if with_rule {
                faults.on_create(CreateRule::to("+1999").fault(CreateFault::EarlyStart));
            }
            (0..200)
                .map(|i| {
                    let to = if i == 3 { "+1999" } else { "+1444" };
                    let d = faults.decide_create(to, None);
                    let cb = faults.decide_callback("completed", to, None, d.call_dice.as_ref());
                    (d.fault, d.outage, cb)
                })
                .collect::<Vec<_>>()
        };
        let a = run(false);
        assert_eq!(a, run(false));
        let b = run(true);
        assert_eq!(b[3].0, Some(CreateFault::EarlyStart));
        assert_eq!(a[4..], b[4..], "the rule shifted later decisions");
        let faulty = a.iter().filter(|d| d.0.is_some()).count();
        assert!((30..100).contains(&faulty), "chaos: {faulty} of 200");
        assert!(a.iter().any(|d| d.2.is_some()), "callback faults drawn");
    }
}
