//! The two kinds of error, never mixed.
//!
//! A [`ProtocolError`] means the byte stream itself is broken (a malformed or oversized
//! frame): the connection gets `-ERR Protocol error: ...` and is closed. A
//! [`CommandError`] is an ordinary reply (`-ERR syntax error`, `-WRONGTYPE ...`) and the
//! connection goes on. Every error string a client can see lives in this file, byte-exact
//! with Redis 7.0.

use std::borrow::Cow;
use std::fmt;

/// A broken request stream. The message follows `Protocol error: ` on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub &'static str);

impl ProtocolError {
    pub const INVALID_MULTIBULK_LEN: ProtocolError = ProtocolError("invalid multibulk length");
    pub const INVALID_BULK_LEN: ProtocolError = ProtocolError("invalid bulk length");
    pub const BIG_MBULK_COUNT: ProtocolError = ProtocolError("too big mbulk count string");
    pub const BIG_BULK_COUNT: ProtocolError = ProtocolError("too big bulk count string");
    pub const BIG_INLINE: ProtocolError = ProtocolError("too big inline request");
    pub const UNBALANCED_QUOTES: ProtocolError = ProtocolError("unbalanced quotes in request");
    pub const EXPECTED_DOLLAR: ProtocolError = ProtocolError("expected '$'");
    pub const UNAUTH_MULTIBULK_LEN: ProtocolError = ProtocolError("unauthenticated multibulk length");
    pub const UNAUTH_BULK_LEN: ProtocolError = ProtocolError("unauthenticated bulk length");

    /// The full error line as sent to the client, without the leading `-` and CRLF.
    pub fn reply_text(&self, got: Option<u8>) -> String {
        match (self, got) {
            (e, Some(c)) if *e == Self::EXPECTED_DOLLAR => {
                format!("ERR Protocol error: expected '$', got '{}'", c as char)
            }
            _ => format!("ERR Protocol error: {}", self.0),
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Protocol error: {}", self.0)
    }
}

/// An error reply. The text is the whole line without `-` and CRLF, prefix included
/// (`ERR syntax error`, `WRONGTYPE Operation against ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandError(Cow<'static, str>);

pub type CmdResult = Result<(), CommandError>;

impl CommandError {
    pub const fn new(text: &'static str) -> CommandError {
        CommandError(Cow::Borrowed(text))
    }

    pub fn owned(text: String) -> CommandError {
        CommandError(Cow::Owned(text))
    }

    pub fn text(&self) -> &str {
        &self.0
    }

    /// The error code: the first word (`ERR`, `WRONGTYPE`, `NOAUTH`...), as INFO
    /// errorstats counts it.
    pub fn code(&self) -> &str {
        self.0.split(' ').next().unwrap_or("ERR")
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub const SYNTAX: CommandError = CommandError::new("ERR syntax error");
pub const LOADING: CommandError = CommandError::new("LOADING Redis is loading the dataset in memory");
pub const MISCONF: CommandError = CommandError::new(
    "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.",
);
pub const BUSYKEY: CommandError = CommandError::new("BUSYKEY Target key name already exists.");
pub const DUMP_PAYLOAD: CommandError = CommandError::new("ERR DUMP payload version or checksum are wrong");
pub const BAD_DATA_FORMAT: CommandError = CommandError::new("ERR Bad data format");
pub const WRONGTYPE: CommandError =
    CommandError::new("WRONGTYPE Operation against a key holding the wrong kind of value");
pub const NOT_INTEGER: CommandError = CommandError::new("ERR value is not an integer or out of range");

// Redis Cluster (cluster.c `clusterRedirectClient`, and the CLUSTER command's own).
pub const CROSSSLOT: CommandError =
    CommandError::new("CROSSSLOT Keys in request don't hash to the same slot");
pub const CLUSTERDOWN: CommandError = CommandError::new("CLUSTERDOWN The cluster is down");
pub const CLUSTERDOWN_UNSERVED: CommandError = CommandError::new("CLUSTERDOWN Hash slot not served");
pub const CLUSTERDOWN_READS_ONLY: CommandError =
    CommandError::new("CLUSTERDOWN The cluster is down and only accepts read commands");
pub const CLUSTER_DISABLED: CommandError =
    CommandError::new("ERR This instance has cluster support disabled");
pub const SELECT_IN_CLUSTER: CommandError = CommandError::new("ERR SELECT is not allowed in cluster mode");
pub const INVALID_SLOT: CommandError = CommandError::new("ERR Invalid slot");
pub const INVALID_SLOT_OR_COUNT: CommandError = CommandError::new("ERR Invalid slot or number of keys");
/// ADDSLOTS, DELSLOTS, SETSLOT, REPLICATE, SET-CONFIG-EPOCH ...: slotcache assigns slots itself.
pub const SLOTS_BY_RING: CommandError = CommandError::new(
    "ERR slots are assigned by slotcache's ring: nodes place their tokens when they join; use CLUSTER MEET / FORGET",
);
pub const NOT_FLOAT: CommandError = CommandError::new("ERR value is not a valid float");
pub const OVERFLOW: CommandError = CommandError::new("ERR increment or decrement would overflow");
pub const NAN_OR_INF: CommandError = CommandError::new("ERR increment would produce NaN or Infinity");
/// HINCRBYFLOAT's increment itself is infinite (checked before the key is touched).
pub const VALUE_NAN_OR_INF: CommandError = CommandError::new("ERR value is NaN or Infinity");
pub const NO_SUCH_KEY: CommandError = CommandError::new("ERR no such key");
pub const INVALID_DB: CommandError = CommandError::new("ERR DB index is out of range");
pub const SAME_OBJECT: CommandError = CommandError::new("ERR source and destination objects are the same");
pub const NOAUTH: CommandError = CommandError::new("NOAUTH Authentication required.");
pub const WRONGPASS: CommandError =
    CommandError::new("WRONGPASS invalid username-password pair or user is disabled.");
pub const AUTH_NOT_CONFIGURED: CommandError = CommandError::new(
    "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
);
pub const STRING_TOO_LONG: CommandError =
    CommandError::new("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
pub const OFFSET_OUT_OF_RANGE: CommandError = CommandError::new("ERR offset is out of range");
pub const INVALID_EXPIRE: &str = "ERR invalid expire time in '{}' command";
pub const TIMEOUT_NOT_INTEGER: CommandError =
    CommandError::new("ERR timeout is not an integer or out of range");
pub const NOPROTO: CommandError = CommandError::new("NOPROTO unsupported protocol version");
pub const OOM: CommandError = CommandError::new("OOM command not allowed when used memory > 'maxmemory'.");
pub const MAX_CLIENTS: &str = "ERR max number of clients reached";
pub const NO_SUCH_CLIENT: CommandError = CommandError::new("ERR No such client");
pub const DEBUG_NOT_ALLOWED: CommandError = CommandError::new(
    "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.",
);
pub const EXPIRE_NX_XX: CommandError =
    CommandError::new("ERR NX and XX, GT or LT options at the same time are not compatible");
pub const EXPIRE_GT_LT: CommandError =
    CommandError::new("ERR GT and LT options at the same time are not compatible");

// Data types.
pub const BITFIELD_RO_GET_ONLY: CommandError =
    CommandError::new("ERR BITFIELD_RO only supports the GET subcommand");
pub const BITOP_NOT_ONE_KEY: CommandError =
    CommandError::new("ERR BITOP NOT must be called with a single source key.");
pub const COUNT_NEGATIVE: CommandError = CommandError::new("ERR COUNT can't be negative");
pub const ZADD_GT_LT_NX: CommandError =
    CommandError::new("ERR GT, LT, and/or NX options at the same time are not compatible");
pub const ZADD_INCR_PAIR: CommandError =
    CommandError::new("ERR INCR option supports a single increment-element pair");
pub const BITFIELD_OVERFLOW: CommandError = CommandError::new("ERR Invalid OVERFLOW type specified");
pub const LIMIT_NEGATIVE: CommandError = CommandError::new("ERR LIMIT can't be negative");
pub const MAXLEN_NEGATIVE: CommandError = CommandError::new("ERR MAXLEN can't be negative");
pub const NUMKEYS_OVER_ARGS: CommandError =
    CommandError::new("ERR Number of keys can't be greater than number of args");
pub const SORT_NOT_DOUBLE: CommandError =
    CommandError::new("ERR One or more scores can't be converted into double");
pub const BIT_ARG: CommandError = CommandError::new("ERR The bit argument must be 1 or 0.");
pub const XX_AND_NX: CommandError =
    CommandError::new("ERR XX and NX options at the same time are not compatible");
pub const BIT_VALUE: CommandError = CommandError::new("ERR bit is not an integer or out of range");
pub const BIT_OFFSET: CommandError = CommandError::new("ERR bit offset is not an integer or out of range");
pub const COUNT_NOT_POSITIVE: CommandError = CommandError::new("ERR count should be greater than 0");
pub const HASH_NOT_FLOAT: CommandError = CommandError::new("ERR hash value is not a float");
pub const HASH_NOT_INTEGER: CommandError = CommandError::new("ERR hash value is not an integer");
pub const INDEX_OUT_OF_RANGE: CommandError = CommandError::new("ERR index out of range");
pub const MIN_MAX_NOT_FLOAT: CommandError = CommandError::new("ERR min or max is not a float");
pub const BAD_LEX_RANGE: CommandError = CommandError::new("ERR min or max not valid string range item");
pub const NUMKEYS_NOT_POSITIVE: CommandError = CommandError::new("ERR numkeys should be greater than 0");
pub const SCORE_NAN: CommandError = CommandError::new("ERR resulting score is not a number (NaN)");
pub const READONLY_REPLICA: CommandError =
    CommandError::new("READONLY You can't write against a read only replica.");
pub const MASTERDOWN: CommandError =
    CommandError::new("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.");
pub const NOREPLICAS: CommandError = CommandError::new("NOREPLICAS Not enough good replicas to write.");
pub const TIMEOUT_NEGATIVE: CommandError = CommandError::new("ERR timeout is negative");
pub const TIMEOUT_NOT_FLOAT: CommandError = CommandError::new("ERR timeout is not a float or out of range");
pub const TIMEOUT_OUT_OF_RANGE: CommandError = CommandError::new("ERR timeout is out of range");
pub const OUT_OF_RANGE: CommandError = CommandError::new("ERR value is out of range");
pub const NOT_POSITIVE: CommandError = CommandError::new("ERR value is out of range, must be positive");
pub const WEIGHT_NOT_FLOAT: CommandError = CommandError::new("ERR weight value is not a float");
pub const HLL_CORRUPTED: CommandError = CommandError::new("INVALIDOBJ Corrupted HLL object detected");
pub const NOT_HLL: CommandError = CommandError::new("WRONGTYPE Key is not a valid HyperLogLog string value.");
pub const RANK_ZERO: CommandError = CommandError::new(
    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
);
pub const LIMIT_NEEDS_BY: CommandError = CommandError::new(
    "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
);
pub const WITHSCORES_BYLEX: CommandError =
    CommandError::new("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
pub const BITFIELD_TYPE: CommandError = CommandError::new(
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
);

pub fn invalid_expire(cmd: &str) -> CommandError {
    CommandError::owned(INVALID_EXPIRE.replace("{}", cmd))
}

pub fn wrong_arity(name: &str) -> CommandError {
    CommandError::owned(format!("ERR wrong number of arguments for '{}' command", name.to_ascii_lowercase()))
}

/// `ERR unknown command 'foo', with args beginning with: 'a' 'b' ` (the trailing space
/// is part of Redis's text). Redis truncates each echoed argument to 128 bytes.
pub fn unknown_command(argv: &[bytes::Bytes]) -> CommandError {
    let mut text = format!("ERR unknown command '{}', with args beginning with: ", sanitize(&argv[0]));
    for arg in argv[1..].iter() {
        if text.len() >= 1024 {
            break;
        }
        text.push('\'');
        text.push_str(&sanitize(arg));
        text.push_str("' ");
    }
    CommandError::owned(text)
}

pub fn unknown_subcommand(sub: &[u8], cmd: &str) -> CommandError {
    CommandError::owned(format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        sanitize(sub),
        cmd.to_ascii_uppercase()
    ))
}

pub fn unknown_subcommand_arity(sub: &[u8], cmd: &str) -> CommandError {
    CommandError::owned(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        sanitize(sub),
        cmd.to_ascii_uppercase()
    ))
}

/// Printable form of user bytes for error text: at most 128 bytes, newlines replaced
/// by spaces so the reply stays one line.
pub fn sanitize(b: &[u8]) -> String {
    let cut = &b[..b.len().min(128)];
    String::from_utf8_lossy(cut).chars().map(|c| if c == '\r' || c == '\n' { ' ' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn unknown_command_text_matches_redis() {
        let argv = [Bytes::from_static(b"foo"), Bytes::from_static(b"a"), Bytes::from_static(b"b")];
        assert_eq!(
            unknown_command(&argv).text(),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
        assert_eq!(
            unknown_command(&argv[..1]).text(),
            "ERR unknown command 'foo', with args beginning with: "
        );
    }

    #[test]
    fn codes() {
        assert_eq!(WRONGTYPE.code(), "WRONGTYPE");
        assert_eq!(SYNTAX.code(), "ERR");
        assert_eq!(wrong_arity("GET").text(), "ERR wrong number of arguments for 'get' command");
    }
}
