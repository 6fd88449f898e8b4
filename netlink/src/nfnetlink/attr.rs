//! Netlink attributes as nfnetlink uses them: type-length-value, padded to 4 bytes, strings
//! NUL-terminated, integers in network byte order; and the walk over an attribute list.

/// `NLA_F_NESTED`: the attribute holds an attribute list.
pub(super) const NLA_F_NESTED: u16 = 0x8000;
/// Attribute type bits that are flags (`NLA_F_NESTED`, `NLA_F_NET_BYTEORDER`).
const NLA_TYPE_MASK: u16 = 0x3fff;

/// Appends one attribute (padded to 4 bytes).
pub(super) fn put_attr(out: &mut Vec<u8>, ty: u16, value: &[u8]) {
    let len = 4 + value.len();
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize(out.len() + ((4 - len % 4) % 4), 0);
}

/// A 32-bit attribute; nf_tables wants them in network byte order.
pub(super) fn put_u32_attr(out: &mut Vec<u8>, ty: u16, value: u32) {
    put_attr(out, ty, &value.to_be_bytes());
}

/// A string attribute, NUL-terminated.
pub(super) fn put_str_attr(out: &mut Vec<u8>, ty: u16, value: &str) {
    let len = 4 + value.len() + 1;
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(value.as_bytes());
    out.push(0);
    out.resize(out.len() + ((4 - len % 4) % 4), 0);
}

/// The (type, value) pairs of a netlink attribute list; stops at the first malformed one.
pub(super) fn attributes(mut data: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if data.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([data[0], data[1]]) as usize;
        let ty = u16::from_ne_bytes([data[2], data[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > data.len() {
            return None;
        }
        let value = &data[4..len];
        data = &data[((len + 3) & !3).min(data.len())..];
        Some((ty, value))
    })
}

/// A string attribute's text, up to its NUL (empty when it is not UTF-8).
pub(super) fn c_str(value: &[u8]) -> &str {
    let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
    std::str::from_utf8(&value[..end]).unwrap_or_default()
}
