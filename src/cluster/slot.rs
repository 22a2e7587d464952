//! Key slots: `CRC16-XMODEM(key or {hashtag}) & 16383`, exactly as Redis Cluster.
//!
//! The slot decides a key's shard too, so a slot's keys always live together and
//! hash-tagged keys share a shard.

pub const SLOTS: usize = 16384;

const fn crc16_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

static CRC16_TABLE: [u16; 256] = crc16_table();

/// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0.
pub fn crc16(data: &[u8]) -> u16 {
    data.iter().fold(0u16, |crc, &b| (crc << 8) ^ CRC16_TABLE[(((crc >> 8) as u8) ^ b) as usize])
}

/// The part of the key that is hashed: the content of the first `{...}` when it is
/// non-empty, else the whole key.
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&c| c == b'{')
        && let Some(len) = key[open + 1..].iter().position(|&c| c == b'}')
        && len > 0
    {
        return &key[open + 1..open + 1 + len];
    }
    key
}

#[inline]
pub fn key_slot(key: &[u8]) -> u16 {
    crc16(hash_tag(key)) & (SLOTS as u16 - 1)
}

/// The one slot every key a glob pattern matches lives in, if there is one (Redis's
/// `patternHashSlot`): the slot of a non-empty `{tag}` met before any wildcard, or of
/// the whole pattern when it has no wildcard at all; None when its keys may be
/// anywhere (a wildcard or escape first).
pub fn pattern_slot(pattern: &[u8]) -> Option<u16> {
    let mut open: Option<usize> = None;
    let mut empty_tag = false;
    for (i, &c) in pattern.iter().enumerate() {
        match c {
            b'*' | b'?' | b'[' | b'\\' => return None,
            b'{' if open.is_none() && !empty_tag => open = Some(i),
            b'}' if open == Some(i.wrapping_sub(1)) => {
                // `{}`: the whole key is hashed; braces are ordinary from here on.
                open = None;
                empty_tag = true;
            }
            b'}' if open.is_some() => {
                let s = open.unwrap_or(0);
                return Some(crc16(&pattern[s + 1..i]) & (SLOTS as u16 - 1));
            }
            _ => {}
        }
    }
    Some(crc16(pattern) & (SLOTS as u16 - 1))
}

/// Slots as `a-b,c,...` (REPLCONF cluster-slots), in ascending ranges.
pub fn format_ranges(slots: &[bool]) -> String {
    let mut out = Vec::new();
    let mut s = 0;
    while s < slots.len() {
        if !slots[s] {
            s += 1;
            continue;
        }
        let start = s;
        while s + 1 < slots.len() && slots[s + 1] {
            s += 1;
        }
        out.push(if start == s { start.to_string() } else { format!("{start}-{s}") });
        s += 1;
    }
    out.join(",")
}

/// The slots `a-b,c,...` names, as a table of [`SLOTS`] flags; None when malformed.
pub fn parse_ranges(text: &[u8]) -> Option<Vec<bool>> {
    let mut slots = vec![false; SLOTS];
    for part in std::str::from_utf8(text).ok()?.split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
        if a > b || b >= SLOTS {
            return None;
        }
        slots[a..=b].fill(true);
    }
    Some(slots)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_pattern_has_a_slot_only_when_all_its_keys_share_one() {
        use super::*;
        assert_eq!(pattern_slot(b"{user1000}.*"), Some(key_slot(b"{user1000}.x")));
        assert_eq!(pattern_slot(b"weight_*"), None);
        assert_eq!(pattern_slot(b"w?{a}"), None, "a wildcard before the tag");
        assert_eq!(pattern_slot(b"plain"), Some(key_slot(b"plain")));
        assert_eq!(pattern_slot(b"{}x{a}"), Some(crc16(b"{}x{a}") & 16383), "an empty tag hashes all");
        assert_eq!(pattern_slot(b"\\{a}"), None);
    }

    use super::*;

    #[test]
    fn golden_slots() {
        // Values from `CLUSTER KEYSLOT` on Redis 7.0.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"hello"), 866);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"{user1000}.followers"), key_slot(b"{user1000}.following"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        assert_eq!(hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
        assert_eq!(hash_tag(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(hash_tag(b"foo{bar}{zap}"), b"bar");
        assert_eq!(key_slot(b""), 0);
    }

    #[test]
    fn slot_ranges_read_back_as_written() {
        let mut slots = vec![false; SLOTS];
        slots[0..=10].fill(true);
        slots[100] = true;
        slots[16000..].fill(true);
        let text = format_ranges(&slots);
        assert_eq!(text, "0-10,100,16000-16383");
        assert_eq!(parse_ranges(text.as_bytes()), Some(slots));
        assert_eq!(parse_ranges(b""), Some(vec![false; SLOTS]));
        assert_eq!(parse_ranges(b"5-2"), None);
        assert_eq!(parse_ranges(b"16384"), None);
        assert_eq!(parse_ranges(b"x"), None);
    }
}
