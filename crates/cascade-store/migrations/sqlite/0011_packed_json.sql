-- From this version on, flows.state, flow_definitions.definition and flow_events.entry
-- may hold packed values (zstd frames, see crates/cascade-store/src/sqlite/packed.rs)
-- beside the JSON text of earlier rows. No schema change: the number marks the store
-- as written by a version that packs, so that a version which cannot read packed rows
-- and checks the numbers refuses the store instead of failing row by row.
SELECT 1;
