//! `WorkerPulse`: one tiny actor per HTTP worker thread. The chat server asks it for a
//! [`Pulse`] after each round of deliveries; since a worker runs its woken tasks in the order
//! they were woken, the answer comes once the worker has written what the round woke. That
//! paces delivery rounds by how fast the workers write: no delay while they keep up, and
//! under load several commits' frames for one connection go out in one write.

use crate::chat::messages::{Pulse, RegisterWorker};
use crate::chat::ChatServer;
use actix::prelude::*;
use std::cell::Cell;

/// Answers [`Pulse`] on the worker thread it was started on.
pub struct WorkerPulse;

impl Actor for WorkerPulse {
    type Context = Context<Self>;
}

impl Handler<Pulse> for WorkerPulse {
    type Result = ();

    fn handle(&mut self, _: Pulse, _: &mut Context<Self>) {}
}

thread_local! {
    static STARTED: Cell<bool> = const { Cell::new(false) };
}

/// Starts this worker thread's pulse and registers it with the chat server, once per thread.
/// Called from the HTTP server's app factory, which runs on every worker thread.
pub fn start_on_this_worker(chat: &Addr<ChatServer>) {
    if STARTED.with(|started| started.replace(true)) {
        return;
    }
    let pulse = WorkerPulse.start();
    chat.do_send(RegisterWorker(pulse.recipient()));
}
