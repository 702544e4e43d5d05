//! Fuzz target `time_expr`: its body and invariants are `mcp_memory_service::fuzzing::time_expr` (see FUZZING.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcp_memory_service::fuzzing::time_expr(data));
