//! Group commit for a module's writes: requests that arrive while earlier ones are being
//! written wait together and are written as one batch, in one transaction, by the
//! module's own function; each request is answered with its own result once the batch is
//! done. Alone, a request is written at once. The audit writer does the same for events.
//!
//! One statement writing many rows costs the database a fraction of the same rows written
//! one statement and one commit at a time (its constraints, triggers and plan are set up
//! once, and the commit waits for one flush), so under load a batch costs little more
//! than its first row.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};

/// Gathers jobs of type `J` into batches and answers each with an `R`.
pub struct Batcher<J, R> {
    jobs: mpsc::Sender<(J, oneshot::Sender<R>)>,
}

impl<J, R> std::fmt::Debug for Batcher<J, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher").finish_non_exhaustive()
    }
}

/// The batcher's task has ended (the runtime is shutting down), or a batch ended without
/// answering: the job's outcome is unknown.
#[derive(Debug, thiserror::Error)]
#[error("the write was not answered")]
pub struct Unanswered;

/// How many jobs may wait for a batch before `submit` itself waits.
const WAITING: usize = 1024;

impl<J: Send + 'static, R: Send + 'static> Batcher<J, R> {
    /// Starts the task that runs `write` on each batch: at most `in_flight` batches at
    /// once, each of at most `max` jobs, in the order they came. `write` returns one
    /// result per job, in the jobs' order. The task ends when the batcher is dropped.
    pub fn spawn<W, F>(max: usize, in_flight: usize, write: W) -> Self
    where
        W: Fn(Vec<J>) -> F + Send + Sync + 'static,
        F: Future<Output = Vec<R>> + Send + 'static,
    {
        let (jobs, mut waiting) = mpsc::channel::<(J, oneshot::Sender<R>)>(WAITING);
        let permits = Arc::new(Semaphore::new(in_flight.max(1)));
        let max = max.max(1);
        tokio::spawn(async move {
            loop {
                let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                    return;
                };
                let Some(first) = waiting.recv().await else { return };
                let mut batch = vec![first];
                while batch.len() < max {
                    match waiting.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                let (jobs, answers): (Vec<J>, Vec<oneshot::Sender<R>>) = batch.into_iter().unzip();
                let written = write(jobs);
                tokio::spawn(async move {
                    let results = written.await;
                    drop(permit);
                    // A job whose request went away is still written; its answer is dropped.
                    for (answer, result) in answers.into_iter().zip(results) {
                        let _ = answer.send(result);
                    }
                });
            }
        });
        Self { jobs }
    }

    /// Queues `job` for the next batch and waits for its result. The job is written even
    /// if the caller stops waiting.
    pub async fn submit(&self, job: J) -> Result<R, Unanswered> {
        let (answer, result) = oneshot::channel();
        self.jobs.send((job, answer)).await.map_err(|_| Unanswered)?;
        result.await.map_err(|_| Unanswered)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn jobs_that_wait_together_are_written_together_and_each_gets_its_own_answer() {
        let written = Arc::new(Mutex::new(Vec::<Vec<u32>>::new()));
        let seen = Arc::clone(&written);
        let batcher = Arc::new(Batcher::spawn(10, 1, move |jobs: Vec<u32>| {
            seen.lock().unwrap().push(jobs.clone());
            async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                jobs.into_iter().map(|j| j * 2).collect()
            }
        }));
        let first = tokio::spawn({
            let batcher = Arc::clone(&batcher);
            async move { batcher.submit(1).await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        // These arrive while the first batch is written: they go together in the next.
        let rest: Vec<_> = (2..=5)
            .map(|j| {
                let batcher = Arc::clone(&batcher);
                tokio::spawn(async move { batcher.submit(j).await })
            })
            .collect();
        assert_eq!(first.await.unwrap().unwrap(), 2);
        let mut answers = Vec::new();
        for handle in rest {
            answers.push(handle.await.unwrap().unwrap());
        }
        assert_eq!(answers, vec![4, 6, 8, 10]);
        assert_eq!(*written.lock().unwrap(), vec![vec![1], vec![2, 3, 4, 5]]);
    }

    #[tokio::test]
    async fn a_batch_that_does_not_answer_a_job_says_so() {
        let batcher = Batcher::spawn(10, 2, |_jobs: Vec<u32>| async { Vec::<u32>::new() });
        assert!(batcher.submit(7).await.is_err());
    }
}
