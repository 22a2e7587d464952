//! Redis 7.0's key specifications: for each key a command takes, how to find it in the
//! arguments and what the command does to it (`RW`, `access`, `delete`...); and the
//! command tips COMMAND INFO reports with them. The data is Redis's own
//! ([`keyspec_table`](super::keyspec_table), generated from its command documents);
//! this module holds the types, the search (`getKeysUsingKeySpecs`) and the
//! per-command fallbacks Redis uses where a spec cannot say it alone (SET and BITFIELD,
//! whose flags depend on the arguments; SORT, whose STORE may be anywhere).
//!
//! Dispatch does not read this: it routes by the command table's compact key positions
//! ([`CommandSpec::key_indices`]). `COMMAND INFO`, `COMMAND GETKEYS` and
//! `GETKEYSANDFLAGS` answer from here, and a unit test holds the two to the same keys for
//! every command.

use bytes::Bytes;

use super::keyspec_table::TABLE;
use super::table::CommandSpec;
use crate::protocol::args;

pub const RO: u16 = 1 << 0;
pub const RW: u16 = 1 << 1;
pub const OW: u16 = 1 << 2;
pub const RM: u16 = 1 << 3;
pub const ACCESS: u16 = 1 << 4;
pub const UPDATE: u16 = 1 << 5;
pub const INSERT: u16 = 1 << 6;
pub const DELETE: u16 = 1 << 7;
pub const NOT_KEY: u16 = 1 << 8;
pub const INCOMPLETE: u16 = 1 << 9;
pub const VARIABLE_FLAGS: u16 = 1 << 10;

/// Flag names in the order Redis replies with them (`addReplyFlagsForKeyArgs`).
pub const FLAG_NAMES: [(u16, &str); 11] = [
    (RO, "RO"),
    (RW, "RW"),
    (OW, "OW"),
    (RM, "RM"),
    (ACCESS, "access"),
    (UPDATE, "update"),
    (INSERT, "insert"),
    (DELETE, "delete"),
    (NOT_KEY, "not_key"),
    (INCOMPLETE, "incomplete"),
    (VARIABLE_FLAGS, "variable_flags"),
];

/// Where the search for a spec's keys starts.
#[derive(Debug)]
pub enum Begin {
    /// Keys cannot be found from the spec alone.
    Unknown,
    /// At this argument index.
    Index(i32),
    /// After this keyword, searched from `startfrom` (negative: from the end, backwards).
    Keyword(&'static str, i32),
}

/// How many keys follow the start.
#[derive(Debug)]
pub enum Find {
    Unknown,
    /// Up to `lastkey` (relative; negative counts from the end), every `step`; with
    /// `limit`, only 1/limit of the remaining arguments (XREAD's keys-then-ids).
    Range {
        lastkey: i32,
        step: i32,
        limit: i32,
    },
    /// A count at `keynumidx` (relative), keys from `firstkey` (relative to the start).
    Keynum {
        keynumidx: i32,
        firstkey: i32,
        step: i32,
    },
}

#[derive(Debug)]
pub struct KeySpec {
    pub notes: Option<&'static str>,
    pub flags: u16,
    pub begin: Begin,
    pub find: Find,
}

/// A command's key specs (none for a command without keys). `name` is the full name,
/// `parent|sub` for a subcommand.
pub fn of(name: &str) -> &'static [KeySpec] {
    entry(name).map_or(&[], |e| e.2)
}

/// A command's tips for clients and proxies (`nondeterministic_output`,
/// `request_policy:all_shards`...), as COMMAND INFO reports them.
pub fn tips(name: &str) -> &'static [&'static str] {
    entry(name).map_or(&[], |e| e.1)
}

type Entry = (&'static str, &'static [&'static str], &'static [KeySpec]);

fn entry(name: &str) -> Option<&'static Entry> {
    TABLE.binary_search_by(|e| e.0.cmp(name)).ok().map(|i| &TABLE[i])
}

/// Redis's `doesCommandHaveKeys`: some spec names real keys (shard channels are
/// `not_key`). A command of our own, unknown to Redis, has keys where the table says so.
pub fn has_keys(spec: &CommandSpec) -> bool {
    let specs = of(spec.name);
    if specs.is_empty() { spec.has_key_positions() } else { real_keys(specs) }
}

fn real_keys(specs: &[KeySpec]) -> bool {
    specs.iter().any(|s| s.flags & NOT_KEY == 0)
}

/// A key found in the arguments: its index and its spec's flags.
pub type KeyRef = (usize, u16);

/// The keys of `argv` (the command name first) with their flags, as Redis's
/// `getKeysFromCommandWithSpecs`: the specs when they are complete and their flags fixed,
/// else the command's own rule. Empty when the arguments name no valid keys.
pub fn keys(spec: &CommandSpec, argv: &[Bytes]) -> Vec<KeyRef> {
    let specs = of(spec.name);
    let variable = specs.iter().any(|s| s.flags & VARIABLE_FLAGS != 0);
    if real_keys(specs)
        && !variable
        && let Some(keys) = search(specs, argv, false)
    {
        return keys;
    }
    fallback(spec, argv)
}

/// `getKeysUsingKeySpecs`: `None` when a spec is unknown, incomplete or its count
/// or range does not fit the arguments. `not_keys` includes `not_key` specs.
fn search(specs: &[KeySpec], argv: &[Bytes], not_keys: bool) -> Option<Vec<KeyRef>> {
    let argc = argv.len() as i64;
    let mut out = Vec::new();
    for spec in specs.iter().filter(|s| not_keys || s.flags & NOT_KEY == 0) {
        let mut first = match spec.begin {
            Begin::Index(pos) => pos as i64,
            Begin::Keyword(word, startfrom) => {
                // Redis stops one short of the far end: forwards before the last
                // argument, backwards before the first.
                let found = if startfrom > 0 {
                    (startfrom as i64..argc - 1).find(|&i| args::is(&argv[i as usize], word))
                } else {
                    (2..=argc + startfrom as i64).rev().find(|&i| args::is(&argv[i as usize], word))
                };
                match found {
                    Some(i) => i + 1,
                    None => continue,
                }
            }
            Begin::Unknown => return None,
        };
        let (last, step) = match spec.find {
            Find::Range { lastkey, step, limit } => {
                let last = if lastkey >= 0 {
                    first + lastkey as i64
                } else if limit == 0 {
                    argc + lastkey as i64
                } else {
                    first + ((argc - first) / limit as i64 + lastkey as i64)
                };
                (last, step)
            }
            Find::Keynum { keynumidx, firstkey, step } => {
                let at = first + keynumidx as i64;
                let n = argv.get(at as usize).and_then(|a| args::parse_i64(a)).filter(|n| *n >= 0)?;
                first += firstkey as i64;
                (first + n - 1, step)
            }
            Find::Unknown => return None,
        };
        if last >= argc || last < first || first >= argc {
            return None;
        }
        out.extend((first..=last).step_by(step.max(1) as usize).map(|i| (i as usize, spec.flags)));
        if spec.flags & INCOMPLETE != 0 {
            return None;
        }
    }
    Some(out)
}

/// Redis's per-command `getkeys_proc`s, over the table's key positions.
fn fallback(spec: &CommandSpec, argv: &[Bytes]) -> Vec<KeyRef> {
    let flags_of = |pos: usize| -> u16 {
        match spec.name {
            // SET ... GET reads the old value; a plain SET overwrites.
            "set" if argv.iter().skip(3).any(|a| args::is(a, "GET")) => RW | ACCESS | UPDATE,
            "set" => OW | UPDATE,
            "bitfield" if bitfield_reads_only(argv) => RO | ACCESS,
            "bitfield" => RW | ACCESS | UPDATE,
            "sort" | "sort_ro" if pos == 1 => RO | ACCESS,
            "sort" => OW | UPDATE,
            _ => 0,
        }
    };
    spec.key_indices(argv).map(|i| (i, flags_of(i))).collect()
}

/// `bitfieldGetKeys`: only GET and OVERFLOW subcommands, each with its arguments.
fn bitfield_reads_only(argv: &[Bytes]) -> bool {
    let mut i = 2;
    while i < argv.len() {
        let left = argv.len() - i - 1;
        let a = &argv[i];
        if args::is(a, "GET") && left >= 2 {
            i += 3;
        } else if args::is(a, "OVERFLOW") && left >= 1 {
            i += 2;
        } else {
            return false;
        }
    }
    true
}

/// Writes a flag set as Redis does.
pub fn flag_names(flags: u16) -> impl Iterator<Item = &'static str> {
    FLAG_NAMES.iter().filter(move |(f, _)| flags & f != 0).map(|(_, n)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::table::table;

    #[test]
    fn table_is_sorted_and_unique() {
        assert!(TABLE.windows(2).all(|w| w[0].0 < w[1].0));
    }

    /// Every command of ours has key specs exactly when the command table gives it key
    /// positions, and both find the same keys in arguments built from words that
    /// steer the searches (counts, keywords, plain names).
    #[test]
    fn key_specs_agree_with_the_table_positions() {
        const WORDS: &[&str] =
            &["k", "1", "2", "3", "0", "-1", "x", "STORE", "GET", "BY", "LIMIT", "SET", "OVERFLOW", "WRAP"];
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut checked = 0;
        for spec in &table().specs {
            let specs = of(spec.name);
            assert_eq!(
                !specs.is_empty(),
                spec.has_key_positions(),
                "{}: key specs and table positions disagree on whether it has keys",
                spec.name
            );
            let name: Vec<&str> = spec.name.split('|').collect();
            let min = spec.arity.unsigned_abs() as usize;
            let max = if spec.arity < 0 { min + 7 } else { min };
            for len in min.max(name.len())..=max {
                for _ in 0..300 {
                    let mut argv: Vec<Bytes> =
                        name.iter().map(|n| Bytes::copy_from_slice(n.as_bytes())).collect();
                    while argv.len() < len {
                        argv.push(Bytes::from_static(WORDS[next() as usize % WORDS.len()].as_bytes()));
                    }
                    // Shard channels (`not_key`) route like keys here.
                    let found = if real_keys(specs) {
                        keys(spec, &argv)
                    } else {
                        search(specs, &argv, true).unwrap_or_default()
                    };
                    let by_spec: Vec<usize> = found.into_iter().map(|(i, _)| i).collect();
                    let by_table: Vec<usize> = spec.key_indices(&argv).collect();
                    assert_eq!(by_spec, by_table, "{} {:?}", spec.name, argv);
                    checked += 1;
                }
            }
        }
        assert!(checked > 10_000);
    }

    #[test]
    fn flags_follow_the_arguments_where_redis_does() {
        let t = table();
        let spec = |name: &str| t.specs[t.lookup(name.as_bytes()).unwrap()];
        let argv =
            |s: &str| -> Vec<Bytes> { s.split(' ').map(|a| Bytes::copy_from_slice(a.as_bytes())).collect() };
        assert_eq!(keys(spec("set"), &argv("set k v")), vec![(1, OW | UPDATE)]);
        assert_eq!(keys(spec("set"), &argv("set k v EX 10 get")), vec![(1, RW | ACCESS | UPDATE)]);
        assert_eq!(keys(spec("bitfield"), &argv("bitfield k GET u8 0")), vec![(1, RO | ACCESS)]);
        assert_eq!(
            keys(spec("bitfield"), &argv("bitfield k GET u8 0 SET u8 0 1")),
            vec![(1, RW | ACCESS | UPDATE)]
        );
        assert_eq!(
            keys(spec("sort"), &argv("sort k LIMIT 0 1 STORE d")),
            vec![(1, RO | ACCESS), (6, OW | UPDATE)]
        );
        assert_eq!(
            keys(spec("lmove"), &argv("lmove a b LEFT RIGHT")),
            vec![(1, RW | ACCESS | DELETE), (2, RW | INSERT)]
        );
        assert_eq!(
            keys(spec("zunionstore"), &argv("zunionstore d 2 a b")),
            vec![(1, OW | UPDATE), (3, RO | ACCESS), (4, RO | ACCESS)]
        );
        assert_eq!(keys(spec("zunionstore"), &argv("zunionstore d 3 a b")), vec![]);
        assert_eq!(keys(spec("getdel"), &argv("getdel k")), vec![(1, RW | ACCESS | DELETE)]);
    }
}
