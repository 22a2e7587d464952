//! Value types: what a handler passes in ([`NewValue`]), reads back ([`ValueRef`]),
//! and the heap objects behind non-inline values ([`Object`]).

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
}

impl Object {
    pub fn type_name(&self) -> &'static str {
        match self {
            Object::Str(_) => "string",
        }
    }

    pub fn encoding_name(&self) -> &'static str {
        match self {
            Object::Str(_) => "raw",
        }
    }

    pub fn heap_size(&self) -> usize {
        std::mem::size_of::<Object>()
            + match self {
                Object::Str(v) => v.capacity(),
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
        }
    }
}
