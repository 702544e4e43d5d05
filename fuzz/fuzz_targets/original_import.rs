//! Fuzz target `original_import`: its body and invariants are `mcp_memory_service::fuzzing::original_import` (see FUZZING.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcp_memory_service::fuzzing::original_import(data));
