//! The command table: every command and subcommand, declared once.
//!
//! Dispatch (lookup, arity, auth), `COMMAND` and its subcommands, statistics and the
//! slot of a command's keys all read these specs. Adding a command is one spec in its
//! family's `COMMANDS` list plus one handler.

use std::sync::OnceLock;

use bytes::Bytes;

use super::Ctx;
use crate::error::CmdResult;

pub type Handler = fn(&mut Ctx<'_>, &[Bytes]) -> CmdResult;

// Command flags (Redis names in `flag_names`).
pub const WRITE: u32 = 1 << 0;
pub const READONLY: u32 = 1 << 1;
pub const DENYOOM: u32 = 1 << 2;
pub const ADMIN: u32 = 1 << 3;
pub const PUBSUB: u32 = 1 << 4;
pub const NOSCRIPT: u32 = 1 << 5;
pub const BLOCKING: u32 = 1 << 6;
pub const LOADING: u32 = 1 << 7;
pub const STALE: u32 = 1 << 8;
pub const SKIP_MONITOR: u32 = 1 << 9;
pub const SKIP_SLOWLOG: u32 = 1 << 10;
pub const FAST: u32 = 1 << 11;
pub const NO_AUTH: u32 = 1 << 12;
pub const MAY_REPLICATE: u32 = 1 << 13;
pub const NO_MULTI: u32 = 1 << 14;
pub const ALLOW_BUSY: u32 = 1 << 15;
/// Keys found by parsing the arguments (SORT ... STORE); numkeys commands get it too.
pub const MOVABLE_KEYS: u32 = 1 << 16;
/// Refused unless `enable-debug-command` allows it for the client (DEBUG).
pub const PROTECTED: u32 = 1 << 17;

const FLAG_NAMES: &[(u32, &str)] = &[
    (WRITE, "write"),
    (READONLY, "readonly"),
    (DENYOOM, "denyoom"),
    (ADMIN, "admin"),
    (PUBSUB, "pubsub"),
    (NOSCRIPT, "noscript"),
    (BLOCKING, "blocking"),
    (LOADING, "loading"),
    (STALE, "stale"),
    (SKIP_MONITOR, "skip_monitor"),
    (SKIP_SLOWLOG, "skip_slowlog"),
    (FAST, "fast"),
    (NO_AUTH, "no_auth"),
    (MAY_REPLICATE, "may_replicate"),
    (NO_MULTI, "no_multi"),
    (ALLOW_BUSY, "allow_busy"),
    (MOVABLE_KEYS, "movablekeys"),
];

// ACL categories beyond those implied by flags.
pub const KEYSPACE: u32 = 1 << 0;
pub const STRING: u32 = 1 << 1;
pub const CONNECTION: u32 = 1 << 2;
pub const DANGEROUS: u32 = 1 << 3;
pub const SERVER: u32 = 1 << 4;
pub const TRANSACTION: u32 = 1 << 5;
pub const HASH: u32 = 1 << 6;
pub const LIST: u32 = 1 << 7;
pub const SET: u32 = 1 << 8;
pub const SORTEDSET: u32 = 1 << 9;
pub const BITMAP: u32 = 1 << 10;
pub const HYPERLOGLOG: u32 = 1 << 11;
/// `@admin` for a command without the admin flag (LASTSAVE).
pub const ADMIN_CAT: u32 = 1 << 12;

/// Redis's category table order.
const ACL_ORDER: [&str; 21] = [
    "@keyspace",
    "@read",
    "@write",
    "@set",
    "@sortedset",
    "@list",
    "@hash",
    "@string",
    "@bitmap",
    "@hyperloglog",
    "@geo",
    "@stream",
    "@pubsub",
    "@admin",
    "@fast",
    "@slow",
    "@blocking",
    "@dangerous",
    "@connection",
    "@transaction",
    "@scripting",
];

const ACL_NAMES: &[(u32, &str)] = &[
    (KEYSPACE, "@keyspace"),
    (STRING, "@string"),
    (CONNECTION, "@connection"),
    (TRANSACTION, "@transaction"),
    (HASH, "@hash"),
    (LIST, "@list"),
    (SET, "@set"),
    (SORTEDSET, "@sortedset"),
    (BITMAP, "@bitmap"),
    (HYPERLOGLOG, "@hyperloglog"),
    (DANGEROUS, "@dangerous"),
];

/// One command or subcommand.
pub struct CommandSpec {
    /// Lower-case name; subcommands are `parent|sub`.
    pub name: &'static str,
    /// Redis convention: N = exactly N arguments (name included), -N = at least N.
    pub arity: i32,
    pub flags: u32,
    /// Key positions: first, last (negative counts from the end), step. 0,0,0 = none.
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    /// Index of a `numkeys` argument followed by that many keys (ZUNIONSTORE, LMPOP);
    /// 0 = none. Such commands have "movablekeys".
    pub numkeys: i32,
    /// A keyword whose next argument is a key (SORT ... STORE destination).
    pub key_after: Option<&'static str>,
    pub acl: u32,
    pub group: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
    pub handler: Handler,
    pub subcommands: &'static [CommandSpec],
}

impl CommandSpec {
    pub const fn new(name: &'static str, arity: i32, flags: u32, handler: Handler) -> CommandSpec {
        CommandSpec {
            name,
            arity,
            flags,
            first_key: 0,
            last_key: 0,
            step: 0,
            numkeys: 0,
            key_after: None,
            acl: 0,
            group: "generic",
            summary: "",
            since: "1.0.0",
            handler,
            subcommands: &[],
        }
    }

    pub const fn keys(mut self, first: i32, last: i32, step: i32) -> CommandSpec {
        self.first_key = first;
        self.last_key = last;
        self.step = step;
        self
    }

    pub const fn numkeys(mut self, at: i32) -> CommandSpec {
        self.numkeys = at;
        self
    }

    pub const fn key_after(mut self, keyword: &'static str) -> CommandSpec {
        self.key_after = Some(keyword);
        self
    }

    pub const fn acl(mut self, acl: u32) -> CommandSpec {
        self.acl = acl;
        self
    }

    pub const fn group(mut self, group: &'static str) -> CommandSpec {
        self.group = group;
        self
    }

    pub const fn doc(mut self, summary: &'static str, since: &'static str) -> CommandSpec {
        self.summary = summary;
        self.since = since;
        self
    }

    pub const fn subs(mut self, subcommands: &'static [CommandSpec]) -> CommandSpec {
        self.subcommands = subcommands;
        self
    }

    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// Whether the table gives this command key positions at all.
    pub fn has_key_positions(&self) -> bool {
        self.first_key > 0 || self.numkeys > 0 || self.key_after.is_some()
    }

    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i32;
        if self.arity >= 0 { argc == self.arity } else { argc >= -self.arity }
    }

    pub fn flag_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> =
            FLAG_NAMES.iter().filter(|(f, _)| self.flags & f != 0).map(|(_, n)| *n).collect();
        if self.numkeys > 0 && !self.has(MOVABLE_KEYS) {
            names.push("movablekeys");
        }
        names
    }

    /// ACL categories: the explicit ones plus those Redis derives from the flags, in the
    /// order of Redis's category table (`ACLCommandCategories`), as COMMAND INFO lists them.
    pub fn acl_categories(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        if self.has(WRITE) {
            out.push("@write");
        }
        if self.has(READONLY) {
            out.push("@read");
        }
        if self.has(ADMIN) || self.acl & ADMIN_CAT != 0 {
            out.push("@admin");
        }
        if self.has(PUBSUB) {
            out.push("@pubsub");
        }
        if self.has(BLOCKING) {
            out.push("@blocking");
        }
        out.push(if self.has(FAST) { "@fast" } else { "@slow" });
        for (bit, name) in ACL_NAMES {
            if self.acl & bit != 0 || (*bit == DANGEROUS && self.has(ADMIN)) {
                out.push(name);
            }
        }
        out.sort_by_key(|c| ACL_ORDER.iter().position(|o| o == c));
        out
    }

    /// Indices of the key arguments of `argv` according to the key spec.
    pub fn key_indices(&self, argv: &[Bytes]) -> impl Iterator<Item = usize> {
        let argc = argv.len();
        // MIGRATE ... "" ... KEYS k1 k2: the keys are the arguments after KEYS (Redis's
        // migrateGetKeys).
        let migrate_keys = (self.name == "migrate")
            .then(|| (6..argc).find(|&i| crate::protocol::args::is(&argv[i], "KEYS")))
            .flatten()
            .map(|i| (i + 1)..argc);
        let (first, step) = (self.first_key, self.step.max(1));
        let last = if self.last_key < 0 { argc as i32 + self.last_key } else { self.last_key };
        let last = last.min(argc as i32 - 1);
        let fixed = (first..=last).step_by(step as usize).filter(move |_| first > 0).map(|i| i as usize);
        let at = self.numkeys as usize;
        let counted = match argv.get(at).filter(|_| at > 0).map(|n| crate::protocol::args::parse_i64(n)) {
            None => Some(0..0),
            Some(Some(n)) if n > 0 && (n as usize) < argc - at => Some((at + 1)..(at + 1 + n as usize)),
            // A numkeys that is not a count of the keys present makes the whole key
            // extraction invalid, as Redis's getKeysUsingKeySpecs: no keys at all.
            Some(_) => None,
        };
        let valid = counted.is_some();
        let after = self.key_after.and_then(|w| keyword_key(argv, w));
        let plain = migrate_keys.is_none();
        fixed
            .filter(move |_| valid && plain)
            .chain(counted.unwrap_or(0..0))
            .chain(after)
            .chain(migrate_keys.unwrap_or(0..0))
    }
}

/// The argument after the *last* `keyword` (SORT's STORE), stepping over the arguments
/// of the options that take some (LIMIT two, GET and BY one), as Redis's `sortGetKeys`:
/// `SORT k GET store` names no key, and with several STOREs the last one is the key.
fn keyword_key(argv: &[Bytes], keyword: &str) -> Option<usize> {
    use crate::protocol::args::is;
    let mut found = None;
    let mut i = 2;
    while i < argv.len() {
        let a = &argv[i];
        if is(a, "LIMIT") {
            i += 2;
        } else if is(a, "GET") || is(a, "BY") {
            i += 1;
        } else if is(a, keyword) && i + 1 < argv.len() {
            found = Some(i + 1);
            i += 1;
        }
        i += 1;
    }
    found
}

/// The flattened table with name lookups.
pub struct Table {
    pub specs: Vec<&'static CommandSpec>,
    by_name: hashbrown::HashMap<&'static [u8], usize>,
}

/// Longest command name looked up; longer names are unknown by construction.
const MAX_NAME: usize = 64;

impl Table {
    fn build() -> Table {
        let mut specs: Vec<&'static CommandSpec> = Vec::new();
        let mut by_name = hashbrown::HashMap::new();
        for family in super::FAMILIES {
            for spec in family.iter() {
                let previous = by_name.insert(spec.name.as_bytes(), specs.len());
                assert!(previous.is_none(), "duplicate command {}", spec.name);
                specs.push(spec);
                for sub in spec.subcommands {
                    let previous = by_name.insert(sub.name.as_bytes(), specs.len());
                    assert!(previous.is_none(), "duplicate subcommand {}", sub.name);
                    specs.push(sub);
                }
            }
        }
        Table { specs, by_name }
    }

    /// Case-insensitive lookup of a top-level command, without allocating. A name with
    /// `|` (`CONFIG|GET`) is no command: subcommands are found through their parent.
    pub fn lookup(&self, name: &[u8]) -> Option<usize> {
        if name.contains(&b'|') {
            return None;
        }
        let mut buf = [0u8; MAX_NAME];
        let lower = lowercase_into(&mut buf, &[name])?;
        self.by_name.get(lower).copied()
    }

    /// Looks up `parent|sub`.
    pub fn lookup_sub(&self, parent: &CommandSpec, sub: &[u8]) -> Option<usize> {
        let mut buf = [0u8; MAX_NAME];
        let lower = lowercase_into(&mut buf, &[parent.name.as_bytes(), b"|", sub])?;
        self.by_name.get(lower).copied()
    }

    pub fn get(&self, name: &str) -> Option<&'static CommandSpec> {
        self.by_name.get(name.as_bytes()).map(|&i| self.specs[i])
    }

    /// Top-level commands only.
    pub fn commands(&self) -> impl Iterator<Item = &'static CommandSpec> + '_ {
        self.specs.iter().copied().filter(|s| !s.name.contains('|'))
    }
}

fn lowercase_into<'b>(buf: &'b mut [u8; MAX_NAME], parts: &[&[u8]]) -> Option<&'b [u8]> {
    let mut n = 0;
    for part in parts {
        if n + part.len() > MAX_NAME {
            return None;
        }
        for (dst, src) in buf[n..n + part.len()].iter_mut().zip(part.iter()) {
            *dst = src.to_ascii_lowercase();
        }
        n += part.len();
    }
    Some(&buf[..n])
}

pub fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(Table::build)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        let t = table();
        assert!(t.specs.len() > 80);
        for spec in &t.specs {
            assert_eq!(spec.name, spec.name.to_ascii_lowercase(), "names are lower case");
            assert!(spec.arity != 0, "{} has arity 0", spec.name);
            assert!(!(spec.has(WRITE) && spec.has(READONLY)), "{} is both write and readonly", spec.name);
            assert!(!spec.summary.is_empty(), "{} has no summary", spec.name);
            if spec.first_key > 0 {
                assert!(spec.step > 0, "{}", spec.name);
                if spec.arity > 0 {
                    assert!(spec.first_key < spec.arity, "{} first key beyond arity", spec.name);
                } else {
                    // Keys may all be optional (SUNSUBSCRIBE: arity -1, first key 1).
                    assert!(spec.first_key <= -spec.arity, "{} first key beyond arity", spec.name);
                }
                if spec.last_key > 0 {
                    assert!(spec.last_key >= spec.first_key, "{}", spec.name);
                }
            }
            if let Some((parent, _)) = spec.name.split_once('|') {
                assert!(t.get(parent).is_some(), "{} has no parent", spec.name);
            }
        }
        assert!(t.lookup(b"GeT").is_some());
        assert!(t.lookup(b"nosuchcommand").is_none());
        let config = t.get("config").unwrap();
        assert!(t.lookup_sub(config, b"GET").is_some());
    }

    #[test]
    fn key_indices_follow_spec() {
        let t = table();
        let mset = t.get("mset").unwrap();
        let argv = |n: usize| vec![Bytes::from_static(b"x"); n];
        assert_eq!(mset.key_indices(&argv(5)).collect::<Vec<_>>(), vec![1, 3]);
        let get = t.get("get").unwrap();
        assert_eq!(get.key_indices(&argv(2)).collect::<Vec<_>>(), vec![1]);
        let ping = t.get("ping").unwrap();
        assert_eq!(ping.key_indices(&argv(1)).count(), 0);
        let sort = t.get("sort").unwrap();
        let sort_argv: Vec<Bytes> = ["SORT", "k", "LIMIT", "0", "1", "STORE", "d"]
            .iter()
            .map(|a| Bytes::from_static(a.as_bytes()))
            .collect();
        assert_eq!(sort.key_indices(&sort_argv).collect::<Vec<_>>(), vec![1, 6]);
        let words =
            |w: &[&'static str]| w.iter().map(|a| Bytes::from_static(a.as_bytes())).collect::<Vec<_>>();
        let twice = words(&["SORT", "k", "STORE", "a", "GET", "store", "STORE", "b"]);
        assert_eq!(
            sort.key_indices(&twice).collect::<Vec<_>>(),
            vec![1, 7],
            "the last STORE, not GET's argument"
        );
        let none = words(&["SORT", "k", "BY", "store", "LIMIT", "store", "1"]);
        assert_eq!(sort.key_indices(&none).collect::<Vec<_>>(), vec![1]);
    }
}
