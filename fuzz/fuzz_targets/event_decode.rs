//! Fuzz target `event_decode`: its body and invariants are `mcp_memory_service::fuzzing::event_decode` (see FUZZING.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcp_memory_service::fuzzing::event_decode(data));
