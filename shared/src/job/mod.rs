//! Route jobs: the validated request ([`request`]), what a finished job holds ([`result`]), and a
//! job's life and the body clients read ([`view`]).

pub mod request;
pub mod result;
pub mod view;

pub use crate::clock::{now_ms, now_us, rfc3339_ms};
pub use request::{Coord, CoordError, Place, Profile, RouteRequest, StationSearch};
pub use result::{
    Alternative, FallbackEstimate, Outcome, ResolvedStop, RouteResult, StationChoice, Timings,
};
pub use view::{JobRecord, JobState, JobView};
