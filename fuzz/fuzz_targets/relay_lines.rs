//! Fuzz target `relay_lines`: its body and invariants are `mcp_memory_service::fuzzing::relay_lines` (see FUZZING.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcp_memory_service::fuzzing::relay_lines(data));
