//! The bounded pool for CPU work: feed parsing, page extraction, classification and robots.txt
//! compilation run here, never on the async runtime's workers, and never more jobs at once than
//! the machine has cores. Blocking threads therefore stay few at any load (tokio's blocking pool
//! would otherwise grow to 512 threads under a burst), and a long job cannot stall the runtime:
//! a task waiting for one can be abandoned on shutdown while the job finishes on its own.

use std::sync::{Arc, OnceLock};
use tokio::sync::Semaphore;

/// How many CPU jobs may run at once: the number of cores.
pub fn capacity() -> usize {
    std::thread::available_parallelism().map_or(2, |cores| cores.get())
}

fn permits() -> &'static Arc<Semaphore> {
    static PERMITS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    PERMITS.get_or_init(|| Arc::new(Semaphore::new(capacity())))
}

/// A CPU job panicked (a bug: the pure modules promise never to panic on input).
#[derive(Debug, thiserror::Error)]
#[error("CPU job crashed: {message}")]
pub struct Crashed {
    pub message: String,
}

/// Runs `job` on the pool once a core is free. The permit goes with the job, so a job whose
/// caller stopped waiting still counts until it ends.
pub async fn run<T, F>(job: F) -> Result<T, Crashed>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    // The semaphore is never closed, so acquiring cannot fail.
    let permit = permits().clone().acquire_owned().await.expect("the CPU semaphore is never closed");
    let joined = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        job()
    })
    .await;
    joined.map_err(|join_error| Crashed {
        message: match join_error.try_into_panic() {
            Ok(payload) => crate::error::panic_message(payload),
            Err(join_error) => join_error.to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_and_panics_are_errors() {
        assert_eq!(run(|| 2 + 2).await.unwrap(), 4);
        let crashed = run(|| -> u32 { panic!("boom") }).await.unwrap_err();
        assert!(crashed.to_string().contains("boom"), "{crashed}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_jobs_than_cores_run_at_once() {
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let jobs: Vec<_> = (0..4 * capacity())
            .map(|_| {
                let (running, peak) = (running.clone(), peak.clone());
                tokio::spawn(run(move || {
                    let now = running.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    peak.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    running.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                }))
            })
            .collect();
        for job in jobs {
            job.await.unwrap().unwrap();
        }
        let peak = peak.load(std::sync::atomic::Ordering::SeqCst);
        assert!((1..=capacity()).contains(&peak), "{peak} jobs at once on {} cores", capacity());
    }
}
