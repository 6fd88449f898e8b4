//! Helpers of the golden-byte tests: encoders' output compared with fixed bytes derived
//! once from the encoder, so that a dependency upgrade that changes the bytes is caught.

use netlink_packet_core::Emitable;

/// The bytes `msg` emits.
pub(crate) fn emit(msg: &impl Emitable) -> Vec<u8> {
    let mut buf = vec![0u8; msg.buffer_len()];
    msg.emit(&mut buf);
    buf
}

/// Bytes written as hex text: whitespace separates groups, and `#` starts a comment
/// that runs to the end of the line (naming the field or attribute of that line).
pub(crate) fn hex(text: &str) -> Vec<u8> {
    let digits: String = text
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .flat_map(|line| line.chars().filter(|c| !c.is_whitespace()))
        .collect();
    digits
        .as_bytes()
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).expect("hex digits");
            assert!(pair.len() == 2, "odd number of hex digits");
            u8::from_str_radix(pair, 16).expect("hex digits")
        })
        .collect()
}

/// Compares `got` with the golden `want`, showing both in hex when they differ.
#[track_caller]
pub(crate) fn assert_bytes(got: &[u8], want: &str) {
    let want = hex(want);
    let show = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    assert!(
        got == want.as_slice(),
        "encoding changed:\n got  {}\n want {}",
        show(got),
        show(&want)
    );
}
