//! Search over trackings (`POST /failover/tracking`): the query model and its parsing.
