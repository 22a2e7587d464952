//! Persistence in Redis 7.0's RDB format (version 10): the stream's building blocks
//! ([`rdb`]), Redis's packed encodings inside it ([`pack`]), values to and from it
//! ([`value`]), and DUMP/RESTORE payloads ([`dump`], [`restore`]).

pub mod lzf;
pub mod pack;
pub mod rdb;
pub mod snapshot;
pub mod value;

use crate::storage::{Encodings, ValueRef};
pub use value::Loaded;

/// `DUMP`'s payload: the value's RDB type and payload, the RDB version (2 bytes, LE),
/// and the CRC64 of all that (8 bytes, LE) — exactly Redis's `createDumpPayload`.
pub fn dump(value: &ValueRef<'_>, compress: bool) -> Vec<u8> {
    let mut w = rdb::Writer::new(Vec::new(), compress);
    let written = w
        .byte(value::rdb_type(value))
        .and_then(|_| value::write(&mut w, value))
        .and_then(|_| w.raw(&rdb::RDB_VERSION.to_le_bytes()))
        .and_then(|_| w.finish(true));
    written.expect("writing to memory cannot fail")
}

/// The bytes `value` takes in an RDB file (DEBUG OBJECT's `serializedlength`, Redis's
/// `rdbSavedObjectLen`).
pub fn saved_len(value: &ValueRef<'_>, compress: bool) -> u64 {
    let mut w = rdb::Writer::new(std::io::sink(), compress);
    value::write(&mut w, value).expect("writing to a sink cannot fail");
    w.written()
}

/// Why a RESTORE payload was refused, in Redis's words.
#[derive(Debug, PartialEq)]
pub enum RestoreError {
    /// `-ERR DUMP payload version or checksum are wrong`
    VersionOrChecksum,
    /// `-ERR Bad data format`
    BadFormat,
}

/// Reads a `DUMP` payload back (`verifyDumpPayload`, then the value). `Ok(None)` for
/// an empty collection, which RESTORE refuses as bad data.
pub fn restore(payload: &[u8], enc: &Encodings) -> Result<Loaded, RestoreError> {
    if payload.len() < 10 {
        return Err(RestoreError::VersionOrChecksum);
    }
    let (body, footer) = payload.split_at(payload.len() - 10);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let crc = u64::from_le_bytes(footer[2..].try_into().expect("8 bytes"));
    if version > rdb::RDB_VERSION || rdb::CRC64.checksum(&payload[..payload.len() - 8]) != crc {
        return Err(RestoreError::VersionOrChecksum);
    }
    let mut r = rdb::Reader::new(body, body.len() as u64);
    let kind = r.byte().map_err(|_| RestoreError::BadFormat)?;
    let loaded = value::read(&mut r, kind, enc).map_err(|_| RestoreError::BadFormat)?;
    if r.offset() != body.len() as u64 {
        return Err(RestoreError::BadFormat);
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Collection, Hash, List, Object, Set, ZSet};

    fn round_trip(o: Object) -> Object {
        let enc = Encodings::default();
        let payload = dump(&ValueRef::Obj(&o), true);
        match restore(&payload, &enc) {
            Ok(Loaded::Obj(back)) => back,
            _ => panic!("{} did not come back", o.type_name()),
        }
    }

    #[test]
    fn every_type_and_encoding_round_trips_through_a_dump_payload() {
        let enc = Encodings::default();
        for n in [3usize, 1000] {
            let mut l = List::default();
            let items: Vec<Vec<u8>> = (0..n).map(|i| format!("item-{i}").into_bytes()).collect();
            l.push(&items, false, &enc);
            l.push(&[b"12345".to_vec(), vec![b'z'; 20_000]], false, &enc);
            let o = l.into_object();
            assert_eq!(round_trip(o.clone()), o);

            let mut h = Hash::default();
            for i in 0..n {
                h.set(format!("f{i}").as_bytes(), format!("{i}").as_bytes(), &enc);
            }
            let o = h.into_object();
            assert_eq!(round_trip(o.clone()).encoding_name(), o.encoding_name());
            let Object::Hash(back) = round_trip(o.clone()) else { panic!() };
            let Object::Hash(h) = o else { panic!() };
            let mut a: Vec<_> = h.iter().collect();
            let mut b: Vec<_> = back.iter().collect();
            a.sort();
            b.sort();
            assert_eq!(a, b);

            for members in [
                (0..n as i64).map(|i| (i * 7 - 100).to_string().into_bytes()).collect::<Vec<_>>(),
                (0..n).map(|i| format!("m{i}").into_bytes()).collect(),
            ] {
                let mut s = Set::for_members(&members, &enc);
                for m in &members {
                    s.add(m, &enc);
                }
                let o = s.into_object();
                let Object::Set(back) = round_trip(o.clone()) else { panic!() };
                let Object::Set(s) = o else { panic!() };
                assert_eq!(back.encoding_name(), s.encoding_name());
                let mut a: Vec<_> = s.iter().map(|m| m.to_vec()).collect();
                let mut b: Vec<_> = back.iter().map(|m| m.to_vec()).collect();
                a.sort();
                b.sort();
                assert_eq!(a, b);
            }

            let mut z = ZSet::with_capacity(n, 8, &enc);
            for i in 0..n {
                z.set(format!("z{i}").as_bytes(), i as f64 * 1.5 - 3.0, &enc);
            }
            z.set(b"inf", f64::INFINITY, &enc);
            let o = z.into_object();
            let Object::ZSet(back) = round_trip(o.clone()) else { panic!() };
            let Object::ZSet(z) = o else { panic!() };
            assert_eq!(back.encoding_name(), z.encoding_name());
            let a: Vec<_> = z.range(0, z.len(), false).collect();
            let b: Vec<_> = back.range(0, back.len(), false).collect();
            assert_eq!(a, b);
        }
        for s in [&b"hello"[..], b"12", b"", &[b'q'; 1000]] {
            let payload = dump(&ValueRef::Str(s), true);
            assert!(matches!(restore(&payload, &enc), Ok(Loaded::Str(ref back)) if back == s));
        }
        let payload = dump(&ValueRef::Int(-7_000_000_000), true);
        assert!(matches!(restore(&payload, &enc), Ok(Loaded::Str(ref back)) if back == b"-7000000000"));
    }

    #[test]
    fn redis_made_payloads_restore_and_bad_ones_are_refused() {
        let enc = Encodings::default();
        // DUMP of SET k "hello" on Redis 7.0.15.
        let hello = b"\x00\x05hello\x0a\x00cr\xdfve4 \x0a";
        assert_eq!(dump(&ValueRef::Str(b"hello"), true), hello);
        assert!(matches!(restore(hello, &enc), Ok(Loaded::Str(ref v)) if v == b"hello"));
        let mut bad = hello.to_vec();
        bad[3] = b'j';
        assert_eq!(restore(&bad, &enc).err(), Some(RestoreError::VersionOrChecksum));
        let mut newer = hello.to_vec();
        newer[7] = 11;
        assert_eq!(restore(&newer, &enc).err(), Some(RestoreError::VersionOrChecksum));
        // A valid trailer around a value that does not parse.
        let mut w = rdb::Writer::new(Vec::new(), false);
        w.raw(&[rdb::TYPE_SET_INTSET, 0x03, 1, 2, 3, 0x0a, 0x00]).unwrap();
        let garbage = w.finish(true).unwrap();
        assert_eq!(restore(&garbage, &enc).err(), Some(RestoreError::BadFormat));
    }
}
