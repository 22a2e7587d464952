//! Value types: what a handler passes in ([`NewValue`]), reads back ([`ValueRef`]),
//! and the heap objects behind non-inline values ([`Object`]).

pub use super::hash::Hash;
pub use super::list::List;
pub use super::set::Set;
pub use super::zset::ZSet;

/// A value to store. Strings are copied into the entry's block.
pub enum NewValue<'a> {
    Str(&'a [u8]),
    Int(i64),
    Obj(Box<Object>),
}

/// A stored value, borrowed.
pub enum ValueRef<'a> {
    /// A string stored inline in the entry.
    Str(&'a [u8]),
    /// A string that is a canonical integer, stored as one.
    Int(i64),
    Obj(&'a Object),
}

/// Values that live in their own allocation.
#[derive(Clone, Debug, PartialEq)]
pub enum Object {
    /// A string that grows in place (APPEND, SETRANGE), with amortised capacity:
    /// Redis's "raw" encoding.
    Str(Vec<u8>),
    Hash(Hash),
    List(List),
    Set(Set),
    ZSet(ZSet),
}

impl Object {
    pub fn type_name(&self) -> &'static str {
        match self {
            Object::Str(_) => "string",
            Object::Hash(_) => "hash",
            Object::List(_) => "list",
            Object::Set(_) => "set",
            Object::ZSet(_) => "zset",
        }
    }

    pub fn encoding_name(&self) -> &'static str {
        match self {
            Object::Str(_) => "raw",
            Object::Hash(h) => h.encoding_name(),
            Object::List(l) => l.encoding_name(),
            Object::Set(s) => s.encoding_name(),
            Object::ZSet(z) => z.encoding_name(),
        }
    }

    /// Bytes held; collections estimate their elements from `samples` of them (0: all).
    pub fn heap_size(&self, samples: usize) -> usize {
        std::mem::size_of::<Object>()
            + match self {
                Object::Str(v) => v.capacity(),
                Object::Hash(h) => h.heap_size(samples),
                Object::List(l) => l.heap_size(samples),
                Object::Set(s) => s.heap_size(samples),
                Object::ZSet(z) => z.heap_size(samples),
            }
    }

    /// Elements of a collection (1 for a string), for eviction's and MEMORY's
    /// purposes.
    pub fn len(&self) -> usize {
        match self {
            Object::Str(_) => 1,
            Object::Hash(h) => h.len(),
            Object::List(l) => l.len(),
            Object::Set(s) => s.len(),
            Object::ZSet(z) => z.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// When small collections leave their packed forms: Redis's `*-max-listpack-*` and
/// `set-max-intset-entries` settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Encodings {
    pub hash_entries: usize,
    pub hash_value: usize,
    pub set_intset_entries: usize,
    pub set_listpack_entries: usize,
    pub set_listpack_value: usize,
    pub zset_entries: usize,
    pub zset_value: usize,
    /// `list-max-listpack-size`: positive = entries, -1..-5 = 4..64 KiB.
    pub list_size: i64,
}

impl Default for Encodings {
    fn default() -> Encodings {
        Encodings {
            hash_entries: 128,
            hash_value: 64,
            set_intset_entries: 512,
            set_listpack_entries: 128,
            set_listpack_value: 64,
            zset_entries: 128,
            zset_value: 64,
            list_size: -2,
        }
    }
}

impl ValueRef<'_> {
    pub fn type_name(&self) -> &'static str {
        match self {
            ValueRef::Str(_) | ValueRef::Int(_) => "string",
            ValueRef::Obj(o) => o.type_name(),
        }
    }

    /// The string bytes of a string value (integers formatted into `scratch`), or None
    /// for other types.
    pub fn as_str<'b>(&'b self, scratch: &'b mut itoa::Buffer) -> Option<&'b [u8]> {
        match self {
            ValueRef::Str(s) => Some(s),
            ValueRef::Int(i) => Some(scratch.format(*i).as_bytes()),
            ValueRef::Obj(Object::Str(v)) => Some(v),
            ValueRef::Obj(_) => None,
        }
    }
}

/// A collection type stored as an [`Object`]: how handlers get at it by type.
pub trait Collection: Default {
    fn of(o: &Object) -> Option<&Self>;
    fn of_mut(o: &mut Object) -> Option<&mut Self>;
    fn into_object(self) -> Object;
    fn is_empty(&self) -> bool;
}

macro_rules! collection {
    ($t:ident) => {
        impl Collection for $t {
            fn of(o: &Object) -> Option<&$t> {
                if let Object::$t(c) = o { Some(c) } else { None }
            }
            fn of_mut(o: &mut Object) -> Option<&mut $t> {
                if let Object::$t(c) = o { Some(c) } else { None }
            }
            fn into_object(self) -> Object {
                Object::$t(self)
            }
            fn is_empty(&self) -> bool {
                $t::is_empty(self)
            }
        }
    };
}

collection!(Hash);
collection!(List);
collection!(Set);
collection!(ZSet);
