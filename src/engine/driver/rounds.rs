//! Gate rounds under way, measured side by side while a machine goes on being driven:
//! the effects of every machine with gates (a stepped rollout, the blue-green flow) start
//! the rounds it asks for here and hand each answer back as an observation.

use std::time::Duration;

use futures::StreamExt;
use futures::future::LocalBoxFuture;
use futures::stream::FuturesUnordered;

use crate::gates::{Context, Gate, Measurement, Prober};

type Round = LocalBoxFuture<'static, (usize, u32, Vec<Measurement>)>;

/// The rounds under way, and the HTTP client they share.
#[derive(Default)]
pub struct Rounds {
    prober: Prober,
    under_way: FuturesUnordered<Round>,
}

impl Rounds {
    /// Starts round `round` of gate number `index` (`gate`) in `ctx`, within `timeout`.
    pub fn measure(
        &mut self,
        index: usize,
        gate: Gate,
        round: u32,
        ctx: Context,
        timeout: Duration,
    ) {
        let prober = self.prober.clone();
        self.under_way.push(Box::pin(async move {
            let measured = prober.measure(&gate, round, &ctx, timeout).await;
            (index, round, measured)
        }));
    }

    /// The next round measured: (gate number, round, a measurement per target). Pending
    /// for ever when none is under way; cancel-safe, as the loop's select needs.
    pub async fn next(&mut self) -> (usize, u32, Vec<Measurement>) {
        match self.under_way.next().await {
            Some(measured) => measured,
            None => std::future::pending().await,
        }
    }

    /// Drops the rounds under way (the machine has decided without them).
    pub fn clear(&mut self) {
        self.under_way = FuturesUnordered::new();
    }
}
