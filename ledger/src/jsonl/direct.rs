//! RFC 8785 (JCS) bytes written straight from a `Serialize` value, without building a
//! `serde_json::Value` first.
//!
//! [`super::canonical_json`] (every event's Merkle leaf) used to build the event's `Value` – a
//! `String` for every key and text, a `BTreeMap` node for every object – only to write it out again:
//! half of the leaf's cost, and the leaf was a fifth of an import's CPU (BENCHMARKS.md, session 19).
//! Here every object's members are written into a buffer of their own, then sorted by their keys in
//! UTF-16 order (RFC 8785 §3.2.3) and copied out; keys of structs are the `&'static str` serde gives.
//!
//! It gives exactly what `serde_json::to_value` followed by [`super::canonical_value`] gives, or
//! refuses, and the caller then takes that way: it refuses every float and every integer beyond
//! 2^53 (RFC 8785 prints those in ECMAScript's number form; the crate does it), a key that is not a
//! string or an integer, two members with the same key (`to_value` would keep the last), and
//! serde_json's private raw-value and number structs. Strings are escaped by serde_json's writer,
//! whose escapes are JCS's (see [`super::canonical_value`]). A property test holds it equal to the
//! crate on random values, and a test over every event type of the golden file holds it equal to
//! the `Value` path.

use std::cmp::Ordering;
use std::fmt::Display;

use serde::ser::{self, Impossible, Serialize};

/// The largest integer magnitude RFC 8785 (ECMAScript) prints as plain digits that are exact.
const EXACT: u64 = 1 << 53;

/// The canonical bytes of `value`, or `None` where this writer does not decide them (module docs).
pub(crate) fn to_vec<T: Serialize + ?Sized>(value: &T) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(512);
    value.serialize(Canon { out: &mut out }).ok()?;
    Some(out)
}

/// Why the direct writer stopped: the caller takes the `Value` way instead.
#[derive(Debug)]
pub(crate) struct Refused;

impl Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not written directly")
    }
}

impl std::error::Error for Refused {}

impl ser::Error for Refused {
    fn custom<T: Display>(_: T) -> Self {
        Refused
    }
}

/// `a` against `b` by UTF-16 code units.
fn utf16_cmp(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() { a.as_bytes().cmp(b.as_bytes()) } else { a.encode_utf16().cmp(b.encode_utf16()) }
}

fn write_str(out: &mut Vec<u8>, text: &str) -> Result<(), Refused> {
    serde_json::to_writer(out, text).map_err(|_| Refused)
}

fn write_unsigned(out: &mut Vec<u8>, n: u64) -> Result<(), Refused> {
    if n > EXACT {
        return Err(Refused);
    }
    serde_json::to_writer(out, &n).map_err(|_| Refused)
}

fn write_signed(out: &mut Vec<u8>, n: i64) -> Result<(), Refused> {
    if n.unsigned_abs() > EXACT {
        return Err(Refused);
    }
    serde_json::to_writer(out, &n).map_err(|_| Refused)
}

/// Structs serde_json gives a meaning of its own (`RawValue`, arbitrary-precision numbers).
fn is_serde_json_private(name: &str) -> bool {
    name.starts_with("$serde_json")
}

/// The serializer of one value, into `out`.
struct Canon<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> ser::Serializer for Canon<'a> {
    type Ok = ();
    type Error = Refused;
    type SerializeSeq = Seq<'a>;
    type SerializeTuple = Seq<'a>;
    type SerializeTupleStruct = Seq<'a>;
    type SerializeTupleVariant = Seq<'a>;
    type SerializeMap = Object<'a>;
    type SerializeStruct = Object<'a>;
    type SerializeStructVariant = Object<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Refused> {
        self.out.extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result<(), Refused> {
        write_signed(self.out, v.into())
    }

    fn serialize_i16(self, v: i16) -> Result<(), Refused> {
        write_signed(self.out, v.into())
    }

    fn serialize_i32(self, v: i32) -> Result<(), Refused> {
        write_signed(self.out, v.into())
    }

    fn serialize_i64(self, v: i64) -> Result<(), Refused> {
        write_signed(self.out, v)
    }

    fn serialize_u8(self, v: u8) -> Result<(), Refused> {
        write_unsigned(self.out, v.into())
    }

    fn serialize_u16(self, v: u16) -> Result<(), Refused> {
        write_unsigned(self.out, v.into())
    }

    fn serialize_u32(self, v: u32) -> Result<(), Refused> {
        write_unsigned(self.out, v.into())
    }

    fn serialize_u64(self, v: u64) -> Result<(), Refused> {
        write_unsigned(self.out, v)
    }

    fn serialize_f32(self, _: f32) -> Result<(), Refused> {
        Err(Refused)
    }

    fn serialize_f64(self, _: f64) -> Result<(), Refused> {
        Err(Refused)
    }

    fn serialize_char(self, v: char) -> Result<(), Refused> {
        write_str(self.out, v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, v: &str) -> Result<(), Refused> {
        write_str(self.out, v)
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), Refused> {
        // `to_value` makes an array of numbers of bytes.
        use ser::SerializeSeq;
        let mut seq = self.serialize_seq(Some(v.len()))?;
        for byte in v {
            seq.serialize_element(byte)?;
        }
        seq.end()
    }

    fn serialize_none(self) -> Result<(), Refused> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Refused> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Refused> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Refused> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), Refused> {
        write_str(self.out, variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, name: &'static str, value: &T) -> Result<(), Refused> {
        if is_serde_json_private(name) {
            return Err(Refused);
        }
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Refused> {
        // One member: nothing to sort.
        self.out.push(b'{');
        write_str(self.out, variant)?;
        self.out.push(b':');
        value.serialize(Canon { out: &mut *self.out })?;
        self.out.push(b'}');
        Ok(())
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Seq<'a>, Refused> {
        self.out.push(b'[');
        Ok(Seq { out: self.out, first: true, variant: false })
    }

    fn serialize_tuple(self, len: usize) -> Result<Seq<'a>, Refused> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Seq<'a>, Refused> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Seq<'a>, Refused> {
        self.out.push(b'{');
        write_str(self.out, variant)?;
        self.out.extend_from_slice(b":[");
        Ok(Seq { out: self.out, first: true, variant: true })
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Object<'a>, Refused> {
        Ok(Object::new(self.out, len.unwrap_or(0), None))
    }

    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Object<'a>, Refused> {
        if is_serde_json_private(name) {
            return Err(Refused);
        }
        Ok(Object::new(self.out, len, None))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Object<'a>, Refused> {
        Ok(Object::new(self.out, len, Some(variant)))
    }

    fn serialize_i128(self, v: i128) -> Result<(), Refused> {
        write_signed(self.out, i64::try_from(v).map_err(|_| Refused)?)
    }

    fn serialize_u128(self, v: u128) -> Result<(), Refused> {
        write_unsigned(self.out, u64::try_from(v).map_err(|_| Refused)?)
    }
}

/// An array being written (in a one-member object for a tuple variant).
struct Seq<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
    variant: bool,
}

impl Seq<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Refused> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        value.serialize(Canon { out: &mut *self.out })
    }

    fn close(self) -> Result<(), Refused> {
        self.out.extend_from_slice(if self.variant { b"]}" } else { b"]" });
        Ok(())
    }
}

impl ser::SerializeSeq for Seq<'_> {
    type Ok = ();
    type Error = Refused;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Refused> {
        self.element(value)
    }

    fn end(self) -> Result<(), Refused> {
        self.close()
    }
}

impl ser::SerializeTuple for Seq<'_> {
    type Ok = ();
    type Error = Refused;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Refused> {
        self.element(value)
    }

    fn end(self) -> Result<(), Refused> {
        self.close()
    }
}

impl ser::SerializeTupleStruct for Seq<'_> {
    type Ok = ();
    type Error = Refused;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Refused> {
        self.element(value)
    }

    fn end(self) -> Result<(), Refused> {
        self.close()
    }
}

impl ser::SerializeTupleVariant for Seq<'_> {
    type Ok = ();
    type Error = Refused;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Refused> {
        self.element(value)
    }

    fn end(self) -> Result<(), Refused> {
        self.close()
    }
}

/// A member's key: a struct's field name as serde gives it, or a map's key as written.
enum Key {
    Static(&'static str),
    Owned(String),
}

impl Key {
    fn as_str(&self) -> &str {
        match self {
            Key::Static(key) => key,
            Key::Owned(key) => key,
        }
    }
}

/// An object being written: its members' values go to `values`, one after the other, and are
/// copied to `out` in their keys' order when it ends.
struct Object<'a> {
    out: &'a mut Vec<u8>,
    values: Vec<u8>,
    members: Vec<(Key, usize, usize)>,
    pending: Option<Key>,
    /// The variant of a struct variant, the one key of the object around it.
    variant: Option<&'static str>,
}

impl<'a> Object<'a> {
    fn new(out: &'a mut Vec<u8>, len: usize, variant: Option<&'static str>) -> Self {
        Object { out, values: Vec::with_capacity(len * 24), members: Vec::with_capacity(len), pending: None, variant }
    }

    fn member<T: Serialize + ?Sized>(&mut self, key: Key, value: &T) -> Result<(), Refused> {
        let start = self.values.len();
        value.serialize(Canon { out: &mut self.values })?;
        self.members.push((key, start, self.values.len()));
        Ok(())
    }

    fn close(mut self) -> Result<(), Refused> {
        self.members.sort_unstable_by(|(a, ..), (b, ..)| utf16_cmp(a.as_str(), b.as_str()));
        if self.members.windows(2).any(|pair| pair[0].0.as_str() == pair[1].0.as_str()) {
            return Err(Refused);
        }
        if let Some(variant) = self.variant {
            self.out.push(b'{');
            write_str(self.out, variant)?;
            self.out.push(b':');
        }
        self.out.push(b'{');
        for (i, (key, start, end)) in self.members.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            write_str(self.out, key.as_str())?;
            self.out.push(b':');
            self.out.extend_from_slice(&self.values[*start..*end]);
        }
        self.out.push(b'}');
        if self.variant.is_some() {
            self.out.push(b'}');
        }
        Ok(())
    }
}

impl ser::SerializeMap for Object<'_> {
    type Ok = ();
    type Error = Refused;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Refused> {
        self.pending = Some(Key::Owned(key.serialize(KeyText)?));
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Refused> {
        let key = self.pending.take().ok_or(Refused)?;
        self.member(key, value)
    }

    fn end(self) -> Result<(), Refused> {
        if self.pending.is_some() {
            return Err(Refused);
        }
        self.close()
    }
}

impl ser::SerializeStruct for Object<'_> {
    type Ok = ();
    type Error = Refused;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Refused> {
        self.member(Key::Static(key), value)
    }

    fn end(self) -> Result<(), Refused> {
        self.close()
    }
}

impl ser::SerializeStructVariant for Object<'_> {
    type Ok = ();
    type Error = Refused;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Refused> {
        self.member(Key::Static(key), value)
    }

    fn end(self) -> Result<(), Refused> {
        self.close()
    }
}

/// A map's key as the text `to_value` makes of it: a string as it is, an integer in digits, a unit
/// variant by its name. Anything else is refused (the `Value` way then decides).
struct KeyText;

impl ser::Serializer for KeyText {
    type Ok = String;
    type Error = Refused;
    type SerializeSeq = Impossible<String, Refused>;
    type SerializeTuple = Impossible<String, Refused>;
    type SerializeTupleStruct = Impossible<String, Refused>;
    type SerializeTupleVariant = Impossible<String, Refused>;
    type SerializeMap = Impossible<String, Refused>;
    type SerializeStruct = Impossible<String, Refused>;
    type SerializeStructVariant = Impossible<String, Refused>;

    fn serialize_bool(self, _: bool) -> Result<String, Refused> {
        Err(Refused)
    }

    fn serialize_i8(self, v: i8) -> Result<String, Refused> {
        Ok(v.to_string())
    }

    fn serialize_i16(self, v: i16) -> Result<String, Refused> {
        Ok(v.to_string())
    }

    fn serialize_i32(self, v: i32) -> Result<String, Refused> {
        Ok(v.to_string())
    }

    fn serialize_i64(self, v: i64) -> Result<String, Refused> {
        Ok(v.to_string())
    }

    fn serialize_u8(self, v: u8) -> Result<String, Refused> {
        Ok(v.to_string())
    }

    fn serialize_u16(self, v: u16) -> Result<String, Refused> {
        Ok(v.to_string())
    }

    fn serialize_u32(self, v: u32) -> Result<String, Refused> {
        Ok(v.to_string())
    }

    fn serialize_u64(self, v: u64) -> Result<String, Refused> {
        Ok(v.to_string())
    }

    fn serialize_f32(self, _: f32) -> Result<String, Refused> {
        Err(Refused)
    }

    fn serialize_f64(self, _: f64) -> Result<String, Refused> {
        Err(Refused)
    }

    fn serialize_char(self, v: char) -> Result<String, Refused> {
        Ok(v.to_string())
    }

    fn serialize_str(self, v: &str) -> Result<String, Refused> {
        Ok(v.to_owned())
    }

    fn serialize_bytes(self, _: &[u8]) -> Result<String, Refused> {
        Err(Refused)
    }

    fn serialize_none(self) -> Result<String, Refused> {
        Err(Refused)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<String, Refused> {
        Err(Refused)
    }

    fn serialize_unit(self) -> Result<String, Refused> {
        Err(Refused)
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<String, Refused> {
        Err(Refused)
    }

    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<String, Refused> {
        Ok(variant.to_owned())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<String, Refused> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String, Refused> {
        Err(Refused)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Refused> {
        Err(Refused)
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Refused> {
        Err(Refused)
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, Refused> {
        Err(Refused)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Refused> {
        Err(Refused)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Refused> {
        Err(Refused)
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Refused> {
        Err(Refused)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Refused> {
        Err(Refused)
    }
}
