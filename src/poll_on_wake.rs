//! A future kept in flight across a select loop, polled again only when it woke.
//!
//! Why: the listeners keep one accept in flight while they also wait on timers (shutdown,
//! pause, the TCP hand-over inbox): dropping a submitted glommio accept loses a connection the
//! kernel already accepted. But glommio 0.9's io_uring sources store a clone of the polling
//! task's waker on *every* poll and keep it until the operation completes
//! (`Source::collect_rw` → `add_waiter_many`), and a task's waker count is an `i16`: a
//! pending accept polled again on every timer tick (every 5 ms on an idle TCP listener) panics
//! the shard ("Waker invariant broken") after 32,767 polls, under three minutes. Wrapped in
//! [`PollOnWake`], the inner future is polled once, then only after it signalled progress,
//! so it holds at most one waker of ours however often the loop around it turns.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// Wraps `F` so that it is polled only on its first poll and after it woke (see the module
/// docs). Single-task: the wrapper is polled from one task at a time (as a pinned local).
pub struct PollOnWake<F> {
    inner: Pin<Box<F>>,
    signal: Arc<Signal>,
    /// The waker the inner future was given: ours, created once.
    waker: Waker,
    /// Set until the inner future has been polled once.
    first: bool,
}

/// What the inner future's waker does: note the wake-up and wake whoever polled us last.
struct Signal {
    woken: AtomicBool,
    outer: Mutex<Option<Waker>>,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        let outer = self.outer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(w) = outer {
            w.wake();
        }
    }
}

impl<F: Future> PollOnWake<F> {
    /// Wrap `inner` (not yet polled).
    pub fn new(inner: F) -> Self {
        let signal = Arc::new(Signal {
            woken: AtomicBool::new(false),
            outer: Mutex::new(None),
        });
        Self {
            inner: Box::pin(inner),
            waker: Waker::from(signal.clone()),
            signal,
            first: true,
        }
    }
}

impl<F: Future> Future for PollOnWake<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        {
            let mut outer = this.signal.outer.lock().unwrap_or_else(|e| e.into_inner());
            if !outer.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *outer = Some(cx.waker().clone());
            }
        }
        let first = std::mem::replace(&mut this.first, false);
        if !first && !this.signal.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        this.inner
            .as_mut()
            .poll(&mut Context::from_waker(&this.waker))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::time::Duration;

    use futures_lite::future;

    /// glommio's own listener, its accept pending while a zero timer makes the loop turn
    /// 40,000 times (more than an `i16` of waker clones): the task survives, and a
    /// connection made afterwards is accepted by the same accept.
    #[test]
    fn a_pending_accept_survives_a_busy_select_loop() {
        let ex = glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let listener = glommio::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
                let accept = PollOnWake::new(listener.shared_accept());
                futures_lite::pin!(accept);
                for _ in 0..40_000 {
                    let polled = future::or(async { Some(accept.as_mut().await) }, async {
                        glommio::timer::sleep(Duration::ZERO).await;
                        None
                    })
                    .await;
                    assert!(polled.is_none(), "nothing connected yet");
                }
                let client = std::thread::spawn(move || std::net::TcpStream::connect(addr));
                let accepted = accept.as_mut().await;
                assert!(accepted.is_ok());
                assert!(client.join().unwrap().is_ok());
            })
            .unwrap();
        ex.join().unwrap();
    }

    /// The inner future is polled once, then only after its waker fired.
    #[test]
    fn the_inner_future_is_polled_only_after_it_woke() {
        let polls = Rc::new(RefCell::new(0u32));
        let stored: Rc<RefCell<Option<Waker>>> = Rc::new(RefCell::new(None));
        let (p, s) = (polls.clone(), stored.clone());
        let inner = future::poll_fn(move |cx| {
            *p.borrow_mut() += 1;
            *s.borrow_mut() = Some(cx.waker().clone());
            if *p.borrow() >= 2 {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        });
        let mut f = Box::pin(PollOnWake::new(inner));
        let noop = Waker::noop();
        let mut cx = Context::from_waker(noop);
        for _ in 0..100 {
            assert!(f.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(*polls.borrow(), 1);
        stored.borrow_mut().take().unwrap().wake();
        assert!(f.as_mut().poll(&mut cx).is_ready());
        assert_eq!(*polls.borrow(), 2);
    }
}
