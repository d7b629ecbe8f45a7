//! Turns: a first-come, first-served lock for one instance's tasks (WASI 0.3 runs an
//! instance's tasks on one thread, interleaved at their awaits). A socket's reads take turns
//! through one, its writes through another, so a second `read-ln` waits for the first
//! instead of failing.

use std::cell::{Cell, RefCell, RefMut};
use std::collections::VecDeque;
use std::task::{Poll, Waker};

/// A value that one task at a time may use, in the order they asked.
pub(crate) struct Turns<T> {
    value: RefCell<T>,
    /// The tickets of the tasks waiting, first first, each with its waker once it has
    /// waited.
    queue: RefCell<VecDeque<(u64, Option<Waker>)>>,
    next_ticket: Cell<u64>,
}

/// A task's turn: the value, until it is dropped.
pub(crate) struct Turn<'a, T> {
    value: RefMut<'a, T>,
    turns: &'a Turns<T>,
}

impl<T> Turns<T> {
    pub(crate) fn new(value: T) -> Self {
        Turns {
            value: RefCell::new(value),
            queue: RefCell::new(VecDeque::new()),
            next_ticket: Cell::new(0),
        }
    }

    /// Wait for this task's turn.
    pub(crate) async fn turn(&self) -> Turn<'_, T> {
        let ticket = self.next_ticket.get();
        self.next_ticket.set(ticket.wrapping_add(1));
        self.queue.borrow_mut().push_back((ticket, None));
        // Leaves the queue even when the waiting task is cancelled (its future dropped).
        let mut waiting = Waiting {
            turns: self,
            ticket,
        };
        std::future::poll_fn(|cx| {
            let mut queue = self.queue.borrow_mut();
            match queue.front() {
                Some((first, _)) if *first == ticket => match self.value.try_borrow_mut() {
                    Ok(_) => Poll::Ready(()),
                    Err(_) => {
                        queue[0].1 = Some(cx.waker().clone());
                        Poll::Pending
                    }
                },
                _ => {
                    if let Some(entry) = queue.iter_mut().find(|(t, _)| *t == ticket) {
                        entry.1 = Some(cx.waker().clone());
                    }
                    Poll::Pending
                }
            }
        })
        .await;
        waiting.ticket = u64::MAX; // served: nothing to undo
        self.queue.borrow_mut().pop_front();
        drop(waiting);
        Turn {
            value: self.value.borrow_mut(),
            turns: self,
        }
    }

    /// The value now if nobody has it or waits for it.
    pub(crate) fn now(&self) -> Option<RefMut<'_, T>> {
        if !self.queue.borrow().is_empty() {
            return None;
        }
        self.value.try_borrow_mut().ok()
    }

    /// Wake the task whose turn is next.
    fn wake_next(&self) {
        let waker = self
            .queue
            .borrow_mut()
            .front_mut()
            .and_then(|(_, waker)| waker.take());
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// A task in the queue; leaving it (cancelled) lets the next one go.
struct Waiting<'a, T> {
    turns: &'a Turns<T>,
    ticket: u64,
}

impl<T> Drop for Waiting<'_, T> {
    fn drop(&mut self) {
        if self.ticket == u64::MAX {
            return;
        }
        let mut queue = self.turns.queue.borrow_mut();
        let was_first = queue.front().is_some_and(|(t, _)| *t == self.ticket);
        queue.retain(|(t, _)| *t != self.ticket);
        drop(queue);
        if was_first {
            self.turns.wake_next();
        }
    }
}

impl<T> std::ops::Deref for Turn<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> std::ops::DerefMut for Turn<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T> Drop for Turn<'_, T> {
    fn drop(&mut self) {
        // The borrow ends after this body; the next task looks again when it is polled.
        self.turns.wake_next();
    }
}
