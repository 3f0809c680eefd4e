//! The frame probe the simulators report to: per call and direction, a queue of
//! the send times of frames not yet read on the other side. Frames keep their order
//! across the bridge, so a read frame is the oldest one in flight; its added latency
//! is read time minus send time, on one `Instant` clock.
//!
//! Only frames *sent* inside the measurement window are counted and timed, so the
//! ramp (frames queued while a call's agent connection opens) and the hang-up tail
//! stay out of the numbers.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use outcall_sim::probe::{Flow, FrameProbe};

/// Shards spread the simulators' threads over several locks.
const SHARDS: usize = 32;

fn index(flow: Flow) -> usize {
    match flow {
        Flow::CalleeToAgent => 0,
        Flow::AgentToCallee => 1,
    }
}

#[derive(Debug, Default)]
struct FlowState {
    /// Send time of each frame in flight, and whether it was sent in the window
    /// (decided once, at send time, so sent and received counts always agree).
    in_flight: VecDeque<(Instant, bool)>,
    sent: u64,
    received: u64,
    sent_in_window: u64,
    received_in_window: u64,
    /// Reads with nothing in flight (would mean a frame appeared from nowhere).
    unmatched: u64,
    /// When the first frame was sent (the callee's first follows Twilio's `start`).
    first_sent: Option<Instant>,
}

#[derive(Debug, Default)]
struct Shard {
    calls: HashMap<String, [FlowState; 2]>,
    /// Microseconds added to each frame sent in the window, per flow.
    latencies: [Vec<u32>; 2],
}

#[derive(Debug)]
pub struct Probe {
    epoch: Instant,
    /// The window as nanoseconds since `epoch`; `u64::MAX` before it is set.
    window_start: AtomicU64,
    window_end: AtomicU64,
    shards: Vec<Mutex<Shard>>,
}

/// Totals of one flow over all calls.
#[derive(Debug, Default, Clone, Copy)]
pub struct FlowTotals {
    pub sent: u64,
    pub received: u64,
    pub sent_in_window: u64,
    pub received_in_window: u64,
    pub unmatched: u64,
}

impl Probe {
    pub fn new() -> Self {
        Self {
            epoch: Instant::now(),
            window_start: AtomicU64::new(u64::MAX),
            window_end: AtomicU64::new(u64::MAX),
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
        }
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    fn in_window(&self, at: Instant) -> bool {
        let t = self.nanos(at);
        t >= self.window_start.load(Ordering::Relaxed)
            && t < self.window_end.load(Ordering::Relaxed)
    }

    fn shard(&self, call: &str) -> std::sync::MutexGuard<'_, Shard> {
        // FNV-1a: call sids are short and this runs once per frame.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in call.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        let i = usize::try_from(h % SHARDS as u64).unwrap_or(0);
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts and times frames sent from now for `length`, and returns when the
    /// window opened; reserves room for `expected` latencies per flow up front
    /// (untouched memory is not resident).
    pub fn open_window(&self, length: std::time::Duration, expected: usize) -> Instant {
        for shard in &self.shards {
            let mut s = shard.lock().unwrap_or_else(|p| p.into_inner());
            for l in &mut s.latencies {
                l.reserve(expected / SHARDS + 1024);
            }
        }
        let start = Instant::now();
        self.window_end
            .store(self.nanos(start + length), Ordering::Relaxed);
        self.window_start
            .store(self.nanos(start), Ordering::Relaxed);
        start
    }

    /// Calls whose audio reached the other side in both directions.
    pub fn flowing_calls(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = s.lock().unwrap_or_else(|p| p.into_inner());
                s.calls
                    .values()
                    .filter(|f| f[0].received > 0 && f[1].received > 0)
                    .count()
            })
            .sum()
    }

    /// Per call, when its first callee frame was sent: right after Twilio's `start`.
    pub fn first_callee_frames(&self) -> HashMap<String, Instant> {
        let mut out = HashMap::new();
        for shard in &self.shards {
            let s = shard.lock().unwrap_or_else(|p| p.into_inner());
            for (call, flows) in &s.calls {
                if let Some(at) = flows[0].first_sent {
                    out.insert(call.clone(), at);
                }
            }
        }
        out
    }

    /// Per flow: the totals, and every latency of a window frame (µs, unsorted).
    pub fn collect(&self) -> [(FlowTotals, Vec<u32>); 2] {
        let mut out: [(FlowTotals, Vec<u32>); 2] = Default::default();
        for shard in &self.shards {
            let s = shard.lock().unwrap_or_else(|p| p.into_inner());
            for flows in s.calls.values() {
                for (i, f) in flows.iter().enumerate() {
                    let t = &mut out[i].0;
                    t.sent += f.sent;
                    t.received += f.received;
                    t.sent_in_window += f.sent_in_window;
                    t.received_in_window += f.received_in_window;
                    t.unmatched += f.unmatched;
                }
            }
            for (i, l) in s.latencies.iter().enumerate() {
                out[i].1.extend_from_slice(l);
            }
        }
        out
    }
}

impl FrameProbe for Probe {
    fn sent(&self, flow: Flow, call: &str, at: Instant) {
        let counted = self.in_window(at);
        let mut shard = self.shard(call);
        let state = match shard.calls.get_mut(call) {
            Some(s) => s,
            None => shard.calls.entry(call.to_owned()).or_default(),
        };
        let f = &mut state[index(flow)];
        f.sent += 1;
        f.first_sent.get_or_insert(at);
        f.sent_in_window += u64::from(counted);
        f.in_flight.push_back((at, counted));
    }

    fn received(&self, flow: Flow, call: &str, at: Instant) {
        let mut shard = self.shard(call);
        let shard = &mut *shard;
        let state = match shard.calls.get_mut(call) {
            Some(s) => s,
            None => shard.calls.entry(call.to_owned()).or_default(),
        };
        let f = &mut state[index(flow)];
        f.received += 1;
        let Some((sent_at, counted)) = f.in_flight.pop_front() else {
            f.unmatched += 1;
            return;
        };
        if counted {
            f.received_in_window += 1;
            let micros = at.saturating_duration_since(sent_at).as_micros();
            shard.latencies[index(flow)].push(u32::try_from(micros).unwrap_or(u32::MAX));
        }
    }
}

/// p50, p99 and max of `micros`, in milliseconds.
pub fn percentiles(micros: &mut [u32]) -> Option<[f64; 3]> {
    if micros.is_empty() {
        return None;
    }
    micros.sort_unstable();
    let at = |q: f64| {
        // Nearest rank.
        let rank = ((q * micros.len() as f64).ceil() as usize).clamp(1, micros.len());
        f64::from(micros[rank - 1]) / 1000.0
    };
    Some([
        at(0.50),
        at(0.99),
        f64::from(micros[micros.len() - 1]) / 1000.0,
    ])
}
