//! The wire: request decoding ([`request`]), argument parsing ([`args`]) and the reply
//! writer ([`reply`]).

pub mod args;
pub mod reply;
pub mod request;

pub use reply::Reply;
pub use request::{DecodeError, Limits, RequestParser};
