//! ABI v1 (DESIGN §3): outcome codes, the decision word, and the input encoding shared by every host.

use std::net::{IpAddr, Ipv6Addr};

use serde::Serialize;

use crate::input::{ClaimValue, Request};
use crate::ir::{Slot, SlotSource, SlotType};

/// The ABI version `edgeward_abi_version` returns.
pub const ABI_VERSION: i32 = 1;
/// `rule_index` when no rule is reported.
pub const NO_RULE: u32 = 0xFFFF_FFFF;

/// The module's outcomes, with their codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Outcome {
    Allow = 1,
    Deny = 2,
    Require = 3,
    Default = 4,
    NoRoute = 5,
    UnknownTarget = 6,
    BadInput = 7,
}

impl Outcome {
    pub fn from_code(code: u32) -> Option<Outcome> {
        Some(match code {
            1 => Outcome::Allow,
            2 => Outcome::Deny,
            3 => Outcome::Require,
            4 => Outcome::Default,
            5 => Outcome::NoRoute,
            6 => Outcome::UnknownTarget,
            7 => Outcome::BadInput,
            _ => return None,
        })
    }

    pub fn code(self) -> u32 {
        self as u32
    }

    /// The outcome name used in JSON, logs and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
            Outcome::Require => "require",
            Outcome::Default => "default",
            Outcome::NoRoute => "no_route",
            Outcome::UnknownTarget => "unknown_target",
            Outcome::BadInput => "bad_input",
        }
    }

    pub fn is_allow(self) -> bool {
        self == Outcome::Allow
    }
}

/// A decision of the module (or the interpreter): the outcome and the index of the reported rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decision {
    pub outcome: Outcome,
    pub rule: Option<u32>,
}

impl Decision {
    /// Packs into `(rule_index << 32) | outcome`.
    pub fn to_word(self) -> i64 {
        let rule = self.rule.unwrap_or(NO_RULE) as u64;
        ((rule << 32) | self.outcome.code() as u64) as i64
    }

    /// Unpacks a decision word; `None` for an outcome code outside the ABI.
    pub fn from_word(word: i64) -> Option<Decision> {
        let w = word as u64;
        let outcome = Outcome::from_code((w & 0xFFFF_FFFF) as u32)?;
        let rule = (w >> 32) as u32;
        Some(Decision {
            outcome,
            rule: (rule != NO_RULE).then_some(rule),
        })
    }
}

/// A slot's value, converted from the request as every host converts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotValue {
    String(String),
    Set(Vec<String>),
    Int(i64),
    Bool(bool),
    /// IPv6, IPv4 as IPv4-mapped.
    Ip(Ipv6Addr),
}

/// An IP address as the ABI carries it (IPv4 as IPv4-mapped IPv6).
pub fn ip16(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_ipv6_mapped(),
            None => v6,
        },
    }
}

/// The value of one slot for a request; `None` when absent (or of a type the slot cannot take,
/// which the module answers as `bad_input` when the slot is required).
pub fn slot_value(slot: &Slot, req: &Request) -> Option<SlotValue> {
    match &slot.source {
        SlotSource::Method => Some(SlotValue::String(req.method.clone())),
        SlotSource::Host => Some(SlotValue::String(req.host.clone())),
        SlotSource::Path => Some(SlotValue::String(req.path.clone())),
        SlotSource::Time => Some(SlotValue::Int(req.time)),
        SlotSource::Ip => req.ip.map(|ip| SlotValue::Ip(ip16(ip))),
        SlotSource::Country => req.country.clone().map(SlotValue::String),
        SlotSource::Claim(name) => {
            let v = req.claims.get(name)?;
            match (slot.ty, v) {
                (SlotType::String, ClaimValue::String(s)) => Some(SlotValue::String(s.clone())),
                (SlotType::Set, ClaimValue::Set(s)) => Some(SlotValue::Set(s.clone())),
                (SlotType::Set, ClaimValue::String(s)) => Some(SlotValue::Set(vec![s.clone()])),
                (SlotType::Int, ClaimValue::Int(i) | ClaimValue::Time(i)) => {
                    Some(SlotValue::Int(*i))
                }
                (SlotType::Bool, ClaimValue::Bool(b)) => Some(SlotValue::Bool(*b)),
                _ => None,
            }
        }
    }
}

/// The values of every slot, in encoding order.
pub fn slot_values(slots: &[Slot], req: &Request) -> Vec<Option<SlotValue>> {
    slots.iter().map(|s| slot_value(s, req)).collect()
}

/// Encodes a request straight into the input buffer format, as [`slot_values`] then [`encode`]
/// would, without building the values first: slot by slot as the host writes them into the
/// module's buffer.
pub fn encode_request(slots: &[Slot], req: &Request, out: &mut Vec<u8>) {
    for slot in slots {
        // a vector takes every byte
        let _ = encode_slot_into(slot, req, out);
    }
}

/// The length in bytes of `req`'s encoding (what [`encode_request`] writes), without writing it.
pub fn encoded_len(slots: &[Slot], req: &Request) -> usize {
    struct Count(usize);
    impl Sink for Count {
        fn put(&mut self, bytes: &[u8]) -> Option<()> {
            self.0 += bytes.len();
            Some(())
        }
    }
    let mut count = Count(0);
    for slot in slots {
        // a count takes every byte
        let _ = encode_slot_into(slot, req, &mut count);
    }
    count.0
}

/// Where an encoding goes: a growing vector, or a fixed buffer that refuses bytes past its end
/// (`None`).
pub trait Sink {
    fn put(&mut self, bytes: &[u8]) -> Option<()>;

    /// A string slot: the tag, the length as a little-endian `u32`, the bytes. A sink may write it
    /// in one go (one bounds check instead of three).
    fn string(&mut self, tag: u8, s: &[u8]) -> Option<()> {
        let [a, b, c, d] = (s.len() as u32).to_le_bytes();
        self.put(&[tag, a, b, c, d])?;
        self.put(s)
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) -> Option<()> {
        self.extend_from_slice(bytes);
        Some(())
    }
}

/// Encodes one slot of a request (see [`encode_request`]) into any [`Sink`]; `None` when the sink
/// refused bytes.
pub fn encode_slot_into<S: Sink>(slot: &Slot, req: &Request, out: &mut S) -> Option<()> {
    match &slot.source {
        SlotSource::Method => string(out, &req.method),
        SlotSource::Host => string(out, &req.host),
        SlotSource::Path => string(out, &req.path),
        SlotSource::Country => match &req.country {
            Some(c) => string(out, c),
            None => out.put(&[0]),
        },
        SlotSource::Time => {
            let [a, b, c, d, e, f, g, h] = req.time.to_le_bytes();
            out.put(&[SlotType::Int.tag(), a, b, c, d, e, f, g, h])
        }
        SlotSource::Ip => match req.ip {
            Some(ip) => {
                out.put(&[SlotType::Ip.tag()])?;
                out.put(&ip16(ip).octets())
            }
            None => out.put(&[0]),
        },
        SlotSource::Claim(name) => encode_claim_into(slot.ty, req.claims.get(name), out),
    }
}

/// A string slot holding `s`.
fn string<S: Sink>(out: &mut S, s: &str) -> Option<()> {
    out.string(SlotType::String.tag(), s.as_bytes())
}

/// A claim slot of type `ty` holding `value` (see [`encode_slot_into`]): absent when the claim
/// is, or when its value is of a type the slot cannot take.
pub fn encode_claim_into<S: Sink>(
    ty: SlotType,
    value: Option<&ClaimValue>,
    out: &mut S,
) -> Option<()> {
    match (ty, value) {
        (SlotType::String, Some(ClaimValue::String(s))) => string(out, s),
        (SlotType::Set, Some(ClaimValue::Set(items))) => {
            out.put(&[SlotType::Set.tag()])?;
            out.put(&(items.len() as u32).to_le_bytes())?;
            for i in items {
                out.put(&(i.len() as u32).to_le_bytes())?;
                out.put(i.as_bytes())?;
            }
            Some(())
        }
        (SlotType::Set, Some(ClaimValue::String(s))) => {
            out.put(&[SlotType::Set.tag()])?;
            out.put(&1u32.to_le_bytes())?;
            out.put(&(s.len() as u32).to_le_bytes())?;
            out.put(s.as_bytes())
        }
        (SlotType::Int, Some(ClaimValue::Int(i) | ClaimValue::Time(i))) => {
            out.put(&[SlotType::Int.tag()])?;
            out.put(&i.to_le_bytes())
        }
        (SlotType::Bool, Some(ClaimValue::Bool(b))) => {
            out.put(&[SlotType::Bool.tag()])?;
            out.put(&[u8::from(*b)])
        }
        _ => out.put(&[0]),
    }
}

/// Encodes slot values into the input buffer format (DESIGN §3), appending to `out`.
pub fn encode(values: &[Option<SlotValue>], out: &mut Vec<u8>) {
    for v in values {
        match v {
            None => out.push(0),
            Some(SlotValue::String(s)) => {
                out.push(SlotType::String.tag());
                out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            Some(SlotValue::Set(items)) => {
                out.push(SlotType::Set.tag());
                out.extend_from_slice(&(items.len() as u32).to_le_bytes());
                for s in items {
                    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                    out.extend_from_slice(s.as_bytes());
                }
            }
            Some(SlotValue::Int(i)) => {
                out.push(SlotType::Int.tag());
                out.extend_from_slice(&i.to_le_bytes());
            }
            Some(SlotValue::Bool(b)) => {
                out.push(SlotType::Bool.tag());
                out.push(u8::from(*b));
            }
            Some(SlotValue::Ip(ip)) => {
                out.push(SlotType::Ip.tag());
                out.extend_from_slice(&ip.octets());
            }
        }
    }
}
