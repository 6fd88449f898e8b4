//! nf_tables rule expressions ([`Expr`]): their encoding in a rule (`NFTA_LIST_ELEM`s of
//! `NFTA_RULE_EXPRESSIONS`), and their decoding from a rule dump, so that a caller can
//! compare the rules it finds with the rules it would write.
//!
//! Every expression is written with the attributes and values `nft` gives the same
//! statement, so `nft list` (and `nft --debug=netlink list`, which prints the kernel's copy
//! expression by expression) shows the rule as if nft had written it. The kernel reports some
//! attributes nft does not send (a NAT expression's `*_MAX` registers, the flag it derives
//! from an address register; a bitwise expression's operation); decoding drops exactly those,
//! so `decode(dump(encode(e))) == e`.

use super::attr::{attributes, c_str, put_attr, put_str_attr, put_u32_attr, NLA_F_NESTED};

const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;
const NFTA_VERDICT_CHAIN: u16 = 2;
/// `NFT_REG_VERDICT`.
const NFT_REG_VERDICT: u32 = 0;
/// `NFT_REG_1`, the register nft loads and compares in these rules.
pub const NFT_REG_1: u32 = 1;
/// `NFT_REG_2`, where nft puts a NAT statement's port.
pub const NFT_REG_2: u32 = 2;

/// `NFT_META_MARK`, `NFT_META_IIFNAME`, `NFT_META_OIFNAME`, `NFT_META_NFPROTO`,
/// `NFT_META_L4PROTO`.
pub const META_MARK: u32 = 3;
pub const META_IIFNAME: u32 = 6;
pub const META_OIFNAME: u32 = 7;
pub const META_NFPROTO: u32 = 15;
pub const META_L4PROTO: u32 = 16;
/// `NFT_PAYLOAD_NETWORK_HEADER`, `NFT_PAYLOAD_TRANSPORT_HEADER`.
pub const PAYLOAD_NETWORK_HEADER: u32 = 1;
pub const PAYLOAD_TRANSPORT_HEADER: u32 = 2;
/// `NFT_CMP_EQ`, `NFT_CMP_NEQ`.
pub const CMP_EQ: u32 = 0;
pub const CMP_NEQ: u32 = 1;
/// `NFT_FIB_RESULT_ADDRTYPE`: the route type of the looked-up address (`RTN_*`).
pub const FIB_RESULT_ADDRTYPE: u32 = 3;
/// `NFTA_FIB_F_DADDR`: look up the destination address.
pub const FIB_F_DADDR: u32 = 1 << 1;
/// `RTN_LOCAL`, the route type of the host's own addresses.
pub const RTN_LOCAL: u32 = 2;
/// `NFT_CT_STATUS`.
pub const CT_STATUS: u32 = 2;
/// `IPS_DST_NAT`: the connection's destination was translated.
pub const IPS_DST_NAT: u32 = 1 << 5;
/// `NFT_NAT_SNAT`, `NFT_NAT_DNAT`.
pub const NAT_SNAT: u32 = 0;
pub const NAT_DNAT: u32 = 1;
/// `NF_NAT_RANGE_MAP_IPS` (the kernel sets it whenever an address register is given) and
/// `NF_NAT_RANGE_PROTO_SPECIFIED` (nft sends it with a port).
pub const NAT_RANGE_MAP_IPS: u32 = 1;
pub const NAT_RANGE_PROTO_SPECIFIED: u32 = 2;

/// The verdict codes of `linux/netfilter.h` and `nf_tables.h`.
const NF_DROP: i32 = 0;
const NF_ACCEPT: i32 = 1;
const NFT_CONTINUE: i32 = -1;
const NFT_JUMP: i32 = -3;
const NFT_GOTO: i32 = -4;
const NFT_RETURN: i32 = -5;

/// One expression of a rule, as the kernel (and `nft --debug=netlink`) shows it. Registers
/// are `NFT_REG_1` unless the variant names one, as nft uses them for these statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// `meta load <key> => reg 1`.
    Meta { key: u32 },
    /// `payload load <len>b @ <base> header + <offset> => reg 1`.
    Payload { base: u32, offset: u32, len: u32 },
    /// `bitwise reg 1 = (reg 1 & mask) ^ xor`; `mask` and `xor` are as long as the value.
    Bitwise { mask: Vec<u8>, xor: Vec<u8> },
    /// `cmp <op> reg 1 <data>`.
    Cmp { op: u32, data: Vec<u8> },
    /// `masq`.
    Masq,
    /// `immediate reg <reg> <data>`: a value loaded into a data register.
    Immediate { reg: u32, data: Vec<u8> },
    /// `immediate reg 0 <verdict>`: `accept`, `jump <chain>`...
    Verdict(Verdict),
    /// `fib <flags> <result> => reg 1` (`fib daddr type` is flags [`FIB_F_DADDR`], result
    /// [`FIB_RESULT_ADDRTYPE`]).
    Fib { result: u32, flags: u32 },
    /// `ct load <key> => reg 1` (original direction unset).
    Ct { key: u32 },
    /// `nat <kind> <family> addr_min reg A proto_min reg P flags F` (`kind` [`NAT_DNAT`] or
    /// [`NAT_SNAT`], `family` `NFPROTO_IPV4`/`NFPROTO_IPV6`). `flags` as sent: without the
    /// [`NAT_RANGE_MAP_IPS`] the kernel adds for an address register.
    Nat {
        kind: u32,
        family: u32,
        addr_reg: Option<u32>,
        proto_reg: Option<u32>,
        flags: u32,
    },
    /// Decoding only: an expression, or a form of one, that this module does not model
    /// (never equal to one it writes).
    Other { name: String },
}

/// What an `immediate` expression tells the rule to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
    Continue,
    Return,
    Jump(String),
    Goto(String),
}

impl Verdict {
    fn code(&self) -> i32 {
        match self {
            Verdict::Accept => NF_ACCEPT,
            Verdict::Drop => NF_DROP,
            Verdict::Continue => NFT_CONTINUE,
            Verdict::Return => NFT_RETURN,
            Verdict::Jump(_) => NFT_JUMP,
            Verdict::Goto(_) => NFT_GOTO,
        }
    }

    fn from_code(code: i32, chain: Option<String>) -> Option<Verdict> {
        Some(match (code, chain) {
            (NF_ACCEPT, None) => Verdict::Accept,
            (NF_DROP, None) => Verdict::Drop,
            (NFT_CONTINUE, None) => Verdict::Continue,
            (NFT_RETURN, None) => Verdict::Return,
            (NFT_JUMP, Some(c)) => Verdict::Jump(c),
            (NFT_GOTO, Some(c)) => Verdict::Goto(c),
            _ => return None,
        })
    }
}

impl Expr {
    /// Appends this expression as one `NFTA_LIST_ELEM`.
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        let mut d = Vec::new();
        let name = match self {
            Expr::Meta { key } => {
                put_u32_attr(&mut d, 1, NFT_REG_1); // NFTA_META_DREG
                put_u32_attr(&mut d, 2, *key); // NFTA_META_KEY
                "meta"
            }
            Expr::Payload { base, offset, len } => {
                put_u32_attr(&mut d, 1, NFT_REG_1); // NFTA_PAYLOAD_DREG
                put_u32_attr(&mut d, 2, *base); // NFTA_PAYLOAD_BASE
                put_u32_attr(&mut d, 3, *offset); // NFTA_PAYLOAD_OFFSET
                put_u32_attr(&mut d, 4, *len); // NFTA_PAYLOAD_LEN
                "payload"
            }
            Expr::Bitwise { mask, xor } => {
                put_u32_attr(&mut d, 1, NFT_REG_1); // NFTA_BITWISE_SREG
                put_u32_attr(&mut d, 2, NFT_REG_1); // NFTA_BITWISE_DREG
                put_u32_attr(&mut d, 3, mask.len() as u32); // NFTA_BITWISE_LEN
                put_data_attr(&mut d, 4, mask); // NFTA_BITWISE_MASK
                put_data_attr(&mut d, 5, xor); // NFTA_BITWISE_XOR
                "bitwise"
            }
            Expr::Cmp { op, data } => {
                put_u32_attr(&mut d, 1, NFT_REG_1); // NFTA_CMP_SREG
                put_u32_attr(&mut d, 2, *op); // NFTA_CMP_OP
                put_data_attr(&mut d, 3, data); // NFTA_CMP_DATA
                "cmp"
            }
            Expr::Masq => "masq",
            Expr::Immediate { reg, data } => {
                put_u32_attr(&mut d, 1, *reg); // NFTA_IMMEDIATE_DREG
                put_data_attr(&mut d, 2, data); // NFTA_IMMEDIATE_DATA
                "immediate"
            }
            Expr::Verdict(v) => {
                put_u32_attr(&mut d, 1, NFT_REG_VERDICT); // NFTA_IMMEDIATE_DREG
                let mut verdict = Vec::new();
                put_u32_attr(&mut verdict, NFTA_VERDICT_CODE, v.code() as u32);
                if let Verdict::Jump(chain) | Verdict::Goto(chain) = v {
                    put_str_attr(&mut verdict, NFTA_VERDICT_CHAIN, chain);
                }
                let mut data = Vec::new();
                put_attr(&mut data, NFTA_DATA_VERDICT | NLA_F_NESTED, &verdict);
                put_attr(&mut d, 2 | NLA_F_NESTED, &data); // NFTA_IMMEDIATE_DATA
                "immediate"
            }
            Expr::Fib { result, flags } => {
                put_u32_attr(&mut d, 1, NFT_REG_1); // NFTA_FIB_DREG
                put_u32_attr(&mut d, 2, *result); // NFTA_FIB_RESULT
                put_u32_attr(&mut d, 3, *flags); // NFTA_FIB_FLAGS
                "fib"
            }
            Expr::Ct { key } => {
                put_u32_attr(&mut d, 1, NFT_REG_1); // NFTA_CT_DREG
                put_u32_attr(&mut d, 2, *key); // NFTA_CT_KEY
                "ct"
            }
            Expr::Nat {
                kind,
                family,
                addr_reg,
                proto_reg,
                flags,
            } => {
                put_u32_attr(&mut d, 1, *kind); // NFTA_NAT_TYPE
                put_u32_attr(&mut d, 2, *family); // NFTA_NAT_FAMILY
                if let Some(reg) = addr_reg {
                    put_u32_attr(&mut d, 3, *reg); // NFTA_NAT_REG_ADDR_MIN
                }
                if let Some(reg) = proto_reg {
                    put_u32_attr(&mut d, 5, *reg); // NFTA_NAT_REG_PROTO_MIN
                }
                if *flags != 0 {
                    put_u32_attr(&mut d, 7, *flags); // NFTA_NAT_FLAGS
                }
                "nat"
            }
            Expr::Other { name } => name.as_str(),
        };
        let mut elem = Vec::new();
        put_str_attr(&mut elem, NFTA_EXPR_NAME, name);
        if !d.is_empty() {
            put_attr(&mut elem, NFTA_EXPR_DATA | NLA_F_NESTED, &d);
        }
        put_attr(out, NFTA_LIST_ELEM | NLA_F_NESTED, &elem);
    }

    /// The expressions of an `NFTA_RULE_EXPRESSIONS` value, in order.
    pub(super) fn decode_list(list: &[u8]) -> Vec<Expr> {
        attributes(list)
            .filter(|(ty, _)| *ty == NFTA_LIST_ELEM)
            .map(|(_, elem)| Expr::decode(elem))
            .collect()
    }

    /// One `NFTA_LIST_ELEM`'s expression.
    fn decode(elem: &[u8]) -> Expr {
        let mut name = "";
        let mut data: &[u8] = &[];
        for (ty, value) in attributes(elem) {
            match ty {
                NFTA_EXPR_NAME => name = c_str(value),
                NFTA_EXPR_DATA => data = value,
                _ => {}
            }
        }
        let other = || Expr::Other {
            name: name.to_string(),
        };
        let a = Attrs::of(data);
        let reg1 = |ty| a.u32(ty) == Some(NFT_REG_1);
        let decoded = match name {
            "meta" if reg1(1) && a.only(&[1, 2]) => a.u32(2).map(|key| Expr::Meta { key }),
            "payload" if reg1(1) && a.only(&[1, 2, 3, 4]) => match (a.u32(2), a.u32(3), a.u32(4)) {
                (Some(base), Some(offset), Some(len)) => Some(Expr::Payload { base, offset, len }),
                _ => None,
            },
            // NFTA_BITWISE_OP (6) is reported as NFT_BITWISE_BOOL (0) for mask-and-xor.
            "bitwise" if reg1(1) && reg1(2) && a.only(&[1, 2, 3, 4, 5, 6]) => {
                match (a.u32(6).unwrap_or(0), a.data(4), a.data(5)) {
                    (0, Some(mask), Some(xor)) if a.u32(3) == Some(mask.len() as u32) => {
                        Some(Expr::Bitwise { mask, xor })
                    }
                    _ => None,
                }
            }
            "cmp" if reg1(1) && a.only(&[1, 2, 3]) => match (a.u32(2), a.data(3)) {
                (Some(op), Some(data)) => Some(Expr::Cmp { op, data }),
                _ => None,
            },
            "masq" if a.only(&[]) => Some(Expr::Masq),
            "immediate" if a.only(&[1, 2]) => match a.u32(1) {
                Some(NFT_REG_VERDICT) => a.verdict(2).map(Expr::Verdict),
                Some(reg) => a.data(2).map(|data| Expr::Immediate { reg, data }),
                None => None,
            },
            "fib" if reg1(1) && a.only(&[1, 2, 3]) => match (a.u32(2), a.u32(3)) {
                (Some(result), Some(flags)) => Some(Expr::Fib { result, flags }),
                _ => None,
            },
            "ct" if reg1(1) && a.only(&[1, 2]) => a.u32(2).map(|key| Expr::Ct { key }),
            "nat" if a.only(&[1, 2, 3, 4, 5, 6, 7]) => {
                let addr_reg = a.u32(3);
                let proto_reg = a.u32(5);
                let same_max = a.u32(4).is_none_or(|max| Some(max) == addr_reg)
                    && a.u32(6).is_none_or(|max| Some(max) == proto_reg);
                let mut flags = a.u32(7).unwrap_or(0);
                if addr_reg.is_some() {
                    flags &= !NAT_RANGE_MAP_IPS;
                }
                match (a.u32(1), a.u32(2)) {
                    (Some(kind), Some(family)) if same_max => Some(Expr::Nat {
                        kind,
                        family,
                        addr_reg,
                        proto_reg,
                        flags,
                    }),
                    _ => None,
                }
            }
            _ => None,
        };
        decoded.unwrap_or_else(other)
    }
}

/// The attributes of an expression's `NFTA_EXPR_DATA`.
struct Attrs<'a>(Vec<(u16, &'a [u8])>);

impl<'a> Attrs<'a> {
    fn of(data: &'a [u8]) -> Attrs<'a> {
        Attrs(attributes(data).collect())
    }

    fn get(&self, ty: u16) -> Option<&'a [u8]> {
        self.0.iter().find(|(t, _)| *t == ty).map(|(_, v)| *v)
    }

    /// Whether every attribute is one of `known`.
    fn only(&self, known: &[u16]) -> bool {
        self.0.iter().all(|(t, _)| known.contains(t))
    }

    fn u32(&self, ty: u16) -> Option<u32> {
        self.get(ty)
            .and_then(|v| v.try_into().ok())
            .map(u32::from_be_bytes)
    }

    /// The value of a data attribute (a nest holding `NFTA_DATA_VALUE`).
    fn data(&self, ty: u16) -> Option<Vec<u8>> {
        attributes(self.get(ty)?)
            .find(|(t, _)| *t == NFTA_DATA_VALUE)
            .map(|(_, v)| v.to_vec())
    }

    /// The verdict of a data attribute (a nest holding `NFTA_DATA_VERDICT`).
    fn verdict(&self, ty: u16) -> Option<Verdict> {
        let (_, verdict) = attributes(self.get(ty)?).find(|(t, _)| *t == NFTA_DATA_VERDICT)?;
        let mut code = None;
        let mut chain = None;
        for (t, v) in attributes(verdict) {
            match t {
                NFTA_VERDICT_CODE => code = v.try_into().ok().map(i32::from_be_bytes),
                NFTA_VERDICT_CHAIN => chain = Some(c_str(v).to_string()),
                _ => return None,
            }
        }
        Verdict::from_code(code?, chain)
    }
}

/// A data attribute: a nest holding `NFTA_DATA_VALUE`.
pub(super) fn put_data_attr(out: &mut Vec<u8>, ty: u16, value: &[u8]) {
    let mut nest = Vec::new();
    put_attr(&mut nest, NFTA_DATA_VALUE, value);
    put_attr(out, ty | NLA_F_NESTED, &nest);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::golden::assert_bytes;

    fn list(exprs: &[Expr]) -> Vec<u8> {
        let mut out = Vec::new();
        for e in exprs {
            e.encode(&mut out);
        }
        out
    }

    /// The expressions of `tcp dport 8080 dnat to 10.1.1.2:80` in an `ip` table and of
    /// `fib daddr type local jump hostports_all`, as nft writes them.
    fn dnat_and_jump() -> Vec<Expr> {
        vec![
            Expr::Meta { key: META_L4PROTO },
            Expr::Cmp {
                op: CMP_EQ,
                data: vec![6],
            },
            Expr::Payload {
                base: PAYLOAD_TRANSPORT_HEADER,
                offset: 2,
                len: 2,
            },
            Expr::Cmp {
                op: CMP_EQ,
                data: 8080u16.to_be_bytes().to_vec(),
            },
            Expr::Immediate {
                reg: NFT_REG_1,
                data: vec![10, 1, 1, 2],
            },
            Expr::Immediate {
                reg: NFT_REG_2,
                data: 80u16.to_be_bytes().to_vec(),
            },
            Expr::Nat {
                kind: NAT_DNAT,
                family: 2,
                addr_reg: Some(NFT_REG_1),
                proto_reg: Some(NFT_REG_2),
                flags: NAT_RANGE_PROTO_SPECIFIED,
            },
            Expr::Fib {
                result: FIB_RESULT_ADDRTYPE,
                flags: FIB_F_DADDR,
            },
            Expr::Cmp {
                op: CMP_EQ,
                data: RTN_LOCAL.to_ne_bytes().to_vec(),
            },
            Expr::Ct { key: CT_STATUS },
            Expr::Verdict(Verdict::Jump("hostports_all".into())),
            Expr::Verdict(Verdict::Accept),
        ]
    }

    #[test]
    fn encoding_round_trips_through_decoding() {
        let exprs = dnat_and_jump();
        assert_eq!(Expr::decode_list(&list(&exprs)), exprs);
        // Unknown expressions, and known ones in forms not modelled, decode as `Other`.
        let odd = list(&[
            Expr::Other {
                name: "counter".into(),
            },
            Expr::Immediate {
                reg: NFT_REG_VERDICT,
                data: vec![1, 2, 3, 4],
            },
        ]);
        assert_eq!(
            Expr::decode_list(&odd),
            [
                Expr::Other {
                    name: "counter".into()
                },
                Expr::Other {
                    name: "immediate".into()
                }
            ]
        );
    }

    /// What the kernel reports for a NAT statement nft wrote (`addr_max`/`proto_max` and
    /// `NF_NAT_RANGE_MAP_IPS` added) decodes as what was written.
    #[test]
    fn nat_as_dumped_decodes_as_written() {
        let mut d = Vec::new();
        for (ty, v) in [(1u16, 1u32), (2, 2), (3, 1), (4, 1), (5, 2), (6, 2), (7, 3)] {
            put_u32_attr(&mut d, ty, v);
        }
        let mut elem = Vec::new();
        put_str_attr(&mut elem, NFTA_EXPR_NAME, "nat");
        put_attr(&mut elem, NFTA_EXPR_DATA | NLA_F_NESTED, &d);
        let mut out = Vec::new();
        put_attr(&mut out, NFTA_LIST_ELEM | NLA_F_NESTED, &elem);
        assert_eq!(
            Expr::decode_list(&out),
            [Expr::Nat {
                kind: NAT_DNAT,
                family: 2,
                addr_reg: Some(NFT_REG_1),
                proto_reg: Some(NFT_REG_2),
                flags: NAT_RANGE_PROTO_SPECIFIED,
            }]
        );
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn new_expressions_golden_bytes() {
        let exprs = dnat_and_jump();
        assert_bytes(
            &list(&exprs[4..]),
            "2c00 0180                             # NFTA_LIST_ELEM
               0e00 0100 696d6d656469617465 000000 #   NFTA_EXPR_NAME immediate
               1800 0280                           #   NFTA_EXPR_DATA
                 0800 0100 00000001                #     NFTA_IMMEDIATE_DREG 1
                 0c00 0280                         #     NFTA_IMMEDIATE_DATA
                   0800 0100 0a010102              #       NFTA_DATA_VALUE 10.1.1.2
             2c00 0180                             # NFTA_LIST_ELEM
               0e00 0100 696d6d656469617465 000000 #   NFTA_EXPR_NAME immediate
               1800 0280                           #   NFTA_EXPR_DATA
                 0800 0100 00000002                #     NFTA_IMMEDIATE_DREG 2
                 0c00 0280                         #     NFTA_IMMEDIATE_DATA
                   0600 0100 0050 0000             #       NFTA_DATA_VALUE port 80
             3800 0180                             # NFTA_LIST_ELEM
               0800 0100 6e617400                  #   NFTA_EXPR_NAME nat
               2c00 0280                           #   NFTA_EXPR_DATA
                 0800 0100 00000001                #     NFTA_NAT_TYPE NFT_NAT_DNAT
                 0800 0200 00000002                #     NFTA_NAT_FAMILY NFPROTO_IPV4
                 0800 0300 00000001                #     NFTA_NAT_REG_ADDR_MIN 1
                 0800 0500 00000002                #     NFTA_NAT_REG_PROTO_MIN 2
                 0800 0700 00000002                #     NFTA_NAT_FLAGS PROTO_SPECIFIED
             2800 0180                             # NFTA_LIST_ELEM
               0800 0100 66696200                  #   NFTA_EXPR_NAME fib
               1c00 0280                           #   NFTA_EXPR_DATA
                 0800 0100 00000001                #     NFTA_FIB_DREG 1
                 0800 0200 00000003                #     NFTA_FIB_RESULT ADDRTYPE
                 0800 0300 00000002                #     NFTA_FIB_FLAGS DADDR
             2c00 0180                             # NFTA_LIST_ELEM
               0800 0100 636d7000                  #   NFTA_EXPR_NAME cmp
               2000 0280                           #   NFTA_EXPR_DATA
                 0800 0100 00000001                #     NFTA_CMP_SREG 1
                 0800 0200 00000000                #     NFTA_CMP_OP EQ
                 0c00 0380                         #     NFTA_CMP_DATA
                   0800 0100 02000000              #       NFTA_DATA_VALUE RTN_LOCAL (host order)
             2000 0180                             # NFTA_LIST_ELEM
               0700 0100 637400 00                 #   NFTA_EXPR_NAME ct
               1400 0280                           #   NFTA_EXPR_DATA
                 0800 0100 00000001                #     NFTA_CT_DREG 1
                 0800 0200 00000002                #     NFTA_CT_KEY STATUS
             4400 0180                             # NFTA_LIST_ELEM
               0e00 0100 696d6d656469617465 000000 #   NFTA_EXPR_NAME immediate
               3000 0280                           #   NFTA_EXPR_DATA
                 0800 0100 00000000                #     NFTA_IMMEDIATE_DREG verdict
                 2400 0280                         #     NFTA_IMMEDIATE_DATA
                   2000 0280                       #       NFTA_DATA_VERDICT
                     0800 0100 fffffffd            #         NFTA_VERDICT_CODE NFT_JUMP
                     1200 0200 686f7374706f7274735f616c6c 00 0000 # NFTA_VERDICT_CHAIN
             3000 0180                             # NFTA_LIST_ELEM
               0e00 0100 696d6d656469617465 000000 #   NFTA_EXPR_NAME immediate
               1c00 0280                           #   NFTA_EXPR_DATA
                 0800 0100 00000000                #     NFTA_IMMEDIATE_DREG verdict
                 1000 0280                         #     NFTA_IMMEDIATE_DATA
                   0c00 0280                       #       NFTA_DATA_VERDICT
                     0800 0100 00000001            #         NFTA_VERDICT_CODE NF_ACCEPT",
        );
    }
}
