//! The one place that reads the wall clock.

use cascade_core::Timestamp;

/// Now, in milliseconds since the Unix epoch.
pub fn now() -> Timestamp {
    cascade_providers::sandbox::wall_clock()
}
