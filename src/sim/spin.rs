//! Waiting for the next message of a helper thread that has a processor of its own: spin for a
//! short while before sleeping on the channel, since waking a sleeping thread costs tens of
//! microseconds and the messages of training batches and simulation steps come faster.
//!
//! What it does not do: decide whether spinning is right (callers spin only when every thread
//! has a processor of its own, or spinning threads would take time from working ones).

use std::sync::mpsc::{Receiver, RecvError, TryRecvError};
use std::time::{Duration, Instant};

/// How long a thread spins for the next message before it sleeps on the channel: longer than
/// the serial work between two messages (an optimiser step, a step's merge of spikes) even on
/// a machine ten times slower than usual. (100 us was enough on a quiet 2-core VM; on the
/// slowed VMs of later sessions a training helper slept 13-95 times a Yin-Yang epoch with it,
/// and 0-5 times with 2 ms, and the two-thread epoch took 8 % longer on average, from 5 %
/// shorter to 31 % longer, in alternating runs: see BENCHMARKS.md, session 18.)
const SPIN: Duration = Duration::from_millis(2);

/// The next message on `rx`: spun for up to [`SPIN`] when `spin`, then waited for.
pub(crate) fn receive<T>(rx: &Receiver<T>, spin: bool) -> Result<T, RecvError> {
    if !spin {
        return rx.recv();
    }
    let start = Instant::now();
    loop {
        for _ in 0..64 {
            match rx.try_recv() {
                Ok(message) => return Ok(message),
                Err(TryRecvError::Disconnected) => return Err(RecvError),
                Err(TryRecvError::Empty) => std::hint::spin_loop(),
            }
        }
        if start.elapsed() > SPIN {
            return rx.recv();
        }
    }
}
