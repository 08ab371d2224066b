//! What an operator reads and does, one implementation for the admin CLI (`routeq-admin`) and
//! the gateway's web console: the queue overview ([`stats`]: backlog, rates, oldest job,
//! predicted wait, workers, breakers), any tenant's job ([`jobs`]), and pausing the fleet
//! ([`pause`]). Dead letters and API keys are [`crate::redis::deadletters`] and
//! [`crate::redis::apikeys`].

pub mod jobs;
pub mod pause;
pub mod stats;
mod value;
