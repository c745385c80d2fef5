//! Bounds the CPU and memory that password hashing may take.
//!
//! argon2id costs about 19 MiB and tens of milliseconds per hash, and any visitor
//! can ask for one (sign-in with a random email, sign-up). At most `concurrency`
//! hashes run at once on blocking threads; up to `queue` more callers wait for a
//! slot; anyone past them is turned away at once, before any memory is spent.
//! Each slot lends its hash one reused set of argon2 memory blocks: freed 19 MiB
//! buffers would otherwise stay resident in the allocator, one per hash computed.

use argon2::Block;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// Every hashing slot and queue place is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateFull;

#[derive(Clone)]
pub struct PasswordGate {
    inner: Arc<Inner>,
}

struct Inner {
    slots: Arc<Semaphore>,
    /// Running plus waiting callers; never more than `capacity`.
    admitted: AtomicUsize,
    capacity: usize,
    running: AtomicUsize,
    peak_running: AtomicUsize,
    computed: AtomicU64,
    /// Argon2 memory, one set per slot at most, handed from hash to hash.
    memory: Mutex<Vec<Vec<Block>>>,
}

/// Gives a caller's admission back when its hash has run (or it gave up waiting).
struct Admission(Arc<Inner>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

impl PasswordGate {
    pub fn new(concurrency: usize, queue: usize) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            inner: Arc::new(Inner {
                slots: Arc::new(Semaphore::new(concurrency)),
                admitted: AtomicUsize::new(0),
                capacity: concurrency + queue,
                running: AtomicUsize::new(0),
                peak_running: AtomicUsize::new(0),
                computed: AtomicU64::new(0),
                memory: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Runs `hash` on a blocking thread once a slot is free, with the slot's argon2
    /// memory, or refuses at once when the slots and the queue are full. The slot
    /// stays taken until `hash` returns, even if the caller stops waiting.
    pub async fn run<T: Send + 'static>(&self, hash: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static) -> Result<T, GateFull> {
        let inner = &self.inner;
        if inner.admitted.fetch_add(1, Ordering::AcqRel) >= inner.capacity {
            inner.admitted.fetch_sub(1, Ordering::AcqRel);
            return Err(GateFull);
        }
        let admission = Admission(inner.clone());
        let slot = inner.slots.clone().acquire_owned().await.map_err(|_| GateFull)?;
        let inner = inner.clone();
        let running = tokio::task::spawn_blocking(move || {
            let now_running = inner.running.fetch_add(1, Ordering::AcqRel) + 1;
            inner.peak_running.fetch_max(now_running, Ordering::AcqRel);
            let lent = inner.memory.lock().map(|mut spare| spare.pop()).unwrap_or_default();
            let mut memory = lent.unwrap_or_default();
            let value = hash(&mut memory);
            if let Ok(mut spare) = inner.memory.lock() {
                spare.push(memory);
            }
            inner.running.fetch_sub(1, Ordering::AcqRel);
            inner.computed.fetch_add(1, Ordering::AcqRel);
            drop((slot, admission));
            value
        });
        running.await.map_err(|_| GateFull)
    }

    /// Hashes computed (or verified) since start.
    pub fn computed(&self) -> u64 {
        self.inner.computed.load(Ordering::Acquire)
    }

    /// The most hashes that ever ran at the same time.
    pub fn peak_running(&self) -> usize {
        self.inner.peak_running.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn past_the_slots_and_the_queue_callers_are_refused_at_once() {
        let gate = PasswordGate::new(2, 1);
        let (release, released) = mpsc::channel::<()>();
        let released = Arc::new(std::sync::Mutex::new(released));
        let mut held = Vec::new();
        for _ in 0..3 {
            let (gate, released) = (gate.clone(), released.clone());
            held.push(tokio::spawn(async move {
                gate.run(move |_| released.lock().map(|r| r.recv().is_ok()).unwrap_or(false)).await
            }));
        }
        // Two run (blocked on the channel) and one waits; wait until all three are admitted.
        while gate.inner.admitted.load(Ordering::Acquire) < 3 {
            tokio::task::yield_now().await;
        }
        assert_eq!(gate.run(|_| ()).await, Err(GateFull));
        for _ in 0..3 {
            release.send(()).unwrap();
        }
        for task in held {
            assert_eq!(task.await.unwrap(), Ok(true));
        }
        assert_eq!(gate.computed(), 3);
        assert!(gate.peak_running() <= 2, "peak {}", gate.peak_running());
        assert_eq!(gate.run(|_| 7).await, Ok(7));
        assert!(gate.inner.memory.lock().unwrap().len() <= 2, "one memory set per slot at most");
    }
}
