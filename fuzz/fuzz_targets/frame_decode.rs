//! Fuzz target `frame_decode`: arbitrary bytes from a peer through the wire decoder.
//!
//! The input is read three ways: as a stream (`Frame::split` repeatedly, as the driver reads
//! a connection), as one buffer (`Frame::split` once) and as a bare frame body
//! (`Frame::decode_body`). Errors are fine; a panic is a bug. Whatever decodes must re-encode
//! and decode back to the same frame, and `split` must never claim more bytes than it was
//! given, nor report a whole frame as incomplete.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeline_sync::frame::Frame;

fn round_trip(frame: &Frame) {
    let _ = frame.kind();
    let bytes = frame
        .encode()
        .expect("a frame that decoded must encode (encoding is never longer)");
    let (again, used) = Frame::split(&bytes)
        .expect("an encoded frame must decode")
        .expect("an encoded frame is whole");
    assert_eq!(used, bytes.len(), "split used a different length");
    assert_eq!(&again, frame, "decode(encode(f)) != f");
}

fuzz_target!(|data: &[u8]| {
    // As a stream of frames.
    let mut at = 0;
    loop {
        let rest = &data[at..];
        match Frame::split(rest) {
            Ok(Some((frame, used))) => {
                assert!(
                    used >= 4 && used <= rest.len(),
                    "split used {used} of {}",
                    rest.len()
                );
                round_trip(&frame);
                at += used;
            }
            Ok(None) => {
                if let Some(prefix) = rest.get(..4) {
                    let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
                    assert!(
                        rest.len() < 4 + len as usize,
                        "a whole frame reported short"
                    );
                }
                break;
            }
            Err(_) => break,
        }
    }
    // As a bare body.
    if let Ok(frame) = Frame::decode_body(data) {
        round_trip(&frame);
    }
});
