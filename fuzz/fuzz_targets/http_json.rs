//! Fuzz target `http_json`: its body and invariants are `mcp_memory_service::fuzzing::http_json` (see FUZZING.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcp_memory_service::fuzzing::http_json(data));
