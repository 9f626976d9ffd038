//! The bounded pool for CPU work: feed parsing, page extraction, classification and robots.txt
//! compilation run here, never on the async runtime's workers. The pool is a fixed set of
//! threads, one per core, fed by a bounded queue: the thread count cannot grow with load (tokio's
//! blocking pool spawns a new thread whenever none is idle at that instant, up to 512), and a
//! long job cannot stall the runtime. A caller that stops waiting (a shutdown abandoning a long
//! classification) leaves the job to finish on its own; its result is dropped.

use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::{mpsc, oneshot};

/// Jobs waiting for a CPU thread; a full queue makes callers wait.
const QUEUE: usize = 256;

type Job = Box<dyn FnOnce() + Send>;

/// How many CPU jobs run at once: the number of cores.
pub fn capacity() -> usize {
    std::thread::available_parallelism().map_or(2, |cores| cores.get())
}

/// The pool's queue; its threads start on first use and live as long as the process.
fn queue() -> &'static mpsc::Sender<Job> {
    static QUEUE_SENDER: OnceLock<mpsc::Sender<Job>> = OnceLock::new();
    QUEUE_SENDER.get_or_init(|| {
        let (sender, receiver) = mpsc::channel::<Job>(QUEUE);
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..capacity() {
            let receiver = receiver.clone();
            let spawned =
                std::thread::Builder::new().name(format!("newswatch-cpu-{index}")).spawn(move || {
                    loop {
                        // Only the wait for the next job is under the lock.
                        let next =
                            receiver.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).blocking_recv();
                        match next {
                            Some(job) => job(),
                            None => return,
                        }
                    }
                });
            if let Err(err) = spawned {
                tracing::error!(error = %err, "cannot start a CPU thread");
            }
        }
        sender
    })
}

/// A CPU job panicked (a bug: the pure modules promise never to panic on input), or the pool
/// could not run it.
#[derive(Debug, thiserror::Error)]
#[error("CPU job crashed: {message}")]
pub struct Crashed {
    pub message: String,
}

/// Runs `job` on the pool and waits for its result.
pub async fn run<T, F>(job: F) -> Result<T, Crashed>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (reply, answer) = oneshot::channel();
    let job: Job = Box::new(move || {
        // A panic stays inside the job: the thread lives on and the caller gets an error.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job))
            .map_err(|payload| Crashed { message: crate::error::panic_message(payload) });
        let _ = reply.send(result);
    });
    let gone = || Crashed { message: "the CPU pool has stopped".to_string() };
    queue().send(job).await.map_err(|_| gone())?;
    answer.await.map_err(|_| gone())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_and_panics_are_errors() {
        assert_eq!(run(|| 2 + 2).await.unwrap(), 4);
        let crashed = run(|| -> u32 { panic!("boom") }).await.unwrap_err();
        assert!(crashed.to_string().contains("boom"), "{crashed}");
        assert_eq!(run(|| 3).await.unwrap(), 3, "the pool survives a panic");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_jobs_than_cores_run_at_once_on_no_more_threads() {
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let threads = Arc::new(Mutex::new(std::collections::HashSet::new()));
        let jobs: Vec<_> = (0..8 * capacity())
            .map(|_| {
                let (running, peak, threads) = (running.clone(), peak.clone(), threads.clone());
                tokio::spawn(run(move || {
                    threads.lock().unwrap().insert(std::thread::current().id());
                    let now = running.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    peak.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    running.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                }))
            })
            .collect();
        for job in jobs {
            job.await.unwrap().unwrap();
        }
        let peak = peak.load(std::sync::atomic::Ordering::SeqCst);
        assert!((1..=capacity()).contains(&peak), "{peak} jobs at once on {} cores", capacity());
        assert!(threads.lock().unwrap().len() <= capacity(), "jobs ran on more threads than cores");
    }
}
