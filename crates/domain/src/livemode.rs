//! `livemode` on every object: whether it belongs to a live workspace (`true`) or a sandbox
//! (`false`), as Stripe's objects say.
//!
//! Objects do not carry the field themselves: a workspace's mode is known where an answer is
//! written, not where an object is built. [`to_writer`] writes JSON with `"livemode": <bool>`
//! right after the `object` field of every struct that has one, nested ones included (and a
//! struct flattened into another), while serializing, so an answer is never parsed again.
//! Maps (metadata, free-form JSON) are left as they are, whatever their keys. Event payloads
//! are stored JSON: [`mark_event_data`] marks the object they carry.

use serde::ser::{self, Serialize, Serializer};

/// The name of the field, added after each `object` field.
pub const FIELD: &str = "livemode";

/// Writes `value` as JSON with `livemode: live` on every object in it.
pub fn to_writer<W: std::io::Write, T: Serialize + ?Sized>(
    writer: W,
    value: &T,
    live: bool,
) -> serde_json::Result<()> {
    let mut json = serde_json::Serializer::new(writer);
    value.serialize(Livemode {
        inner: &mut json,
        live,
    })
}

/// [`to_writer`] into a string.
pub fn to_string<T: Serialize + ?Sized>(value: &T, live: bool) -> serde_json::Result<String> {
    let mut bytes = Vec::with_capacity(128);
    to_writer(&mut bytes, value, live)?;
    String::from_utf8(bytes).map_err(ser::Error::custom)
}

/// `value` as JSON (for answers assembled from parts), with `livemode: live` on every object.
pub fn to_value<T: Serialize + ?Sized>(
    value: &T,
    live: bool,
) -> serde_json::Result<serde_json::Value> {
    value.serialize(Livemode {
        inner: serde_json::value::Serializer,
        live,
    })
}

/// Adds `livemode` to the object an event's payload carries (`payload.object`), when it is one
/// (it has an `object` field).
pub fn mark_event_data(payload: &mut serde_json::Value, live: bool) {
    if let Some(serde_json::Value::Object(object)) = payload.get_mut("object") {
        if object.contains_key("object") {
            object.insert(FIELD.to_owned(), serde_json::Value::Bool(live));
        }
    }
}

/// A serializer that adds `livemode` after every struct's `object` field, around another.
struct Livemode<S> {
    inner: S,
    live: bool,
}

/// A value serialized through [`Livemode`].
struct Marked<'a, T: ?Sized> {
    value: &'a T,
    live: bool,
}

impl<T: Serialize + ?Sized> Serialize for Marked<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(Livemode {
            inner: serializer,
            live: self.live,
        })
    }
}

/// The compound (struct, map, sequence) being written, whose values are marked too.
struct Compound<C> {
    inner: C,
    live: bool,
    /// A map of unknown length: how serde writes a struct with a flattened field, whose
    /// `object` entry gets `livemode` too. Maps of data (metadata) know their length.
    flattened: bool,
}

impl<C> Compound<C> {
    fn mark<'a, T: ?Sized>(&self, value: &'a T) -> Marked<'a, T> {
        Marked {
            value,
            live: self.live,
        }
    }
}

macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(fn $method(self, $($arg: $ty),*) -> Result<S::Ok, S::Error> {
            self.inner.$method($($arg),*)
        })*
    };
}

impl<S: Serializer> Serializer for Livemode<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Compound<S::SerializeSeq>;
    type SerializeTuple = Compound<S::SerializeTuple>;
    type SerializeTupleStruct = Compound<S::SerializeTupleStruct>;
    type SerializeTupleVariant = Compound<S::SerializeTupleVariant>;
    type SerializeMap = Compound<S::SerializeMap>;
    type SerializeStruct = Compound<S::SerializeStruct>;
    type SerializeStructVariant = Compound<S::SerializeStructVariant>;

    forward! {
        serialize_bool(v: bool);
        serialize_i8(v: i8);
        serialize_i16(v: i16);
        serialize_i32(v: i32);
        serialize_i64(v: i64);
        serialize_i128(v: i128);
        serialize_u8(v: u8);
        serialize_u16(v: u16);
        serialize_u32(v: u32);
        serialize_u64(v: u64);
        serialize_u128(v: u128);
        serialize_f32(v: f32);
        serialize_f64(v: f64);
        serialize_char(v: char);
        serialize_str(v: &str);
        serialize_bytes(v: &[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(name: &'static str);
        serialize_unit_variant(name: &'static str, index: u32, variant: &'static str);
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        let live = self.live;
        self.inner.serialize_some(&Marked { value, live })
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let live = self.live;
        self.inner
            .serialize_newtype_struct(name, &Marked { value, live })
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let live = self.live;
        self.inner
            .serialize_newtype_variant(name, index, variant, &Marked { value, live })
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        let live = self.live;
        Ok(compound(self.inner.serialize_seq(len)?, live))
    }

    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        let live = self.live;
        Ok(compound(self.inner.serialize_tuple(len)?, live))
    }

    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        let live = self.live;
        Ok(compound(
            self.inner.serialize_tuple_struct(name, len)?,
            live,
        ))
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        let inner = self
            .inner
            .serialize_tuple_variant(name, index, variant, len)?;
        Ok(Compound {
            inner,
            live: self.live,
            flattened: false,
        })
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        let live = self.live;
        let inner = self.inner.serialize_map(len)?;
        Ok(Compound {
            inner,
            live,
            flattened: len.is_none(),
        })
    }

    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        let live = self.live;
        Ok(compound(self.inner.serialize_struct(name, len)?, live))
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        let inner = self
            .inner
            .serialize_struct_variant(name, index, variant, len)?;
        Ok(Compound {
            inner,
            live: self.live,
            flattened: false,
        })
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

fn compound<C>(inner: C, live: bool) -> Compound<C> {
    Compound {
        inner,
        live,
        flattened: false,
    }
}

impl<C: ser::SerializeSeq> ser::SerializeSeq for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        let marked = self.mark(value);
        self.inner.serialize_element(&marked)
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: ser::SerializeTuple> ser::SerializeTuple for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        let marked = self.mark(value);
        self.inner.serialize_element(&marked)
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: ser::SerializeTupleStruct> ser::SerializeTupleStruct for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        let marked = self.mark(value);
        self.inner.serialize_field(&marked)
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: ser::SerializeTupleVariant> ser::SerializeTupleVariant for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        let marked = self.mark(value);
        self.inner.serialize_field(&marked)
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: ser::SerializeMap> ser::SerializeMap for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), C::Error> {
        self.inner.serialize_key(key)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        let marked = self.mark(value);
        self.inner.serialize_value(&marked)
    }

    fn serialize_entry<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &mut self,
        key: &K,
        value: &V,
    ) -> Result<(), C::Error> {
        let marked = self.mark(value);
        self.inner.serialize_entry(key, &marked)?;
        if self.flattened && is_object_key(key) {
            self.inner.serialize_entry(FIELD, &self.live)?;
        }
        Ok(())
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: ser::SerializeStruct> ser::SerializeStruct for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), C::Error> {
        let marked = self.mark(value);
        self.inner.serialize_field(key, &marked)?;
        if key == "object" {
            self.inner.serialize_field(FIELD, &self.live)?;
        }
        Ok(())
    }

    fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
        self.inner.skip_field(key)
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: ser::SerializeStructVariant> ser::SerializeStructVariant for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), C::Error> {
        let marked = self.mark(value);
        self.inner.serialize_field(key, &marked)?;
        if key == "object" {
            self.inner.serialize_field(FIELD, &self.live)?;
        }
        Ok(())
    }

    fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
        self.inner.skip_field(key)
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

/// Whether a map key is the string `object` (only asked of flattened structs' entries).
fn is_object_key<K: Serialize + ?Sized>(key: &K) -> bool {
    serde_json::to_value(key).is_ok_and(|k| k == "object")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;
    use serde_json::{json, Value};

    use super::*;

    #[derive(Serialize)]
    struct Line {
        id: &'static str,
        object: &'static str,
    }

    #[derive(Serialize)]
    struct Invoice {
        id: &'static str,
        object: &'static str,
        lines: Vec<Line>,
        first: Option<Line>,
        metadata: BTreeMap<&'static str, &'static str>,
        data: Value,
        kind: Kind,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "snake_case", tag = "type")]
    enum Kind {
        Tagged { object: &'static str },
    }

    #[derive(Serialize)]
    struct WithKey {
        #[serde(flatten)]
        line: Line,
        key: &'static str,
    }

    #[derive(Serialize)]
    struct Plain {
        id: &'static str,
    }

    fn written<T: Serialize>(value: &T, live: bool) -> Value {
        serde_json::from_str(&to_string(value, live).unwrap()).unwrap()
    }

    #[test]
    fn every_struct_with_an_object_field_says_its_mode_and_nothing_else_changes() {
        let invoice = Invoice {
            id: "in_1",
            object: "invoice",
            lines: vec![Line {
                id: "il_1",
                object: "line_item",
            }],
            first: Some(Line {
                id: "il_1",
                object: "line_item",
            }),
            metadata: [("object", "user data")].into_iter().collect(),
            data: json!({"object": "free-form"}),
            kind: Kind::Tagged { object: "tag" },
        };
        let json = written(&invoice, false);
        assert_eq!(json["livemode"], false);
        assert_eq!(json["lines"][0]["livemode"], false);
        assert_eq!(json["first"]["livemode"], false);
        assert_eq!(json["kind"]["livemode"], false);
        assert_eq!(
            json["metadata"],
            json!({"object": "user data"}),
            "maps are data"
        );
        assert_eq!(
            json["data"],
            json!({"object": "free-form"}),
            "so is free-form JSON"
        );
        assert_eq!(written(&invoice, true)["lines"][0]["livemode"], true);
        let text = to_string(
            &Line {
                id: "x",
                object: "thing",
            },
            true,
        )
        .unwrap();
        assert_eq!(text, r#"{"id":"x","object":"thing","livemode":true}"#);
        let flattened = written(
            &WithKey {
                line: Line {
                    id: "x",
                    object: "license",
                },
                key: "k",
            },
            false,
        );
        assert_eq!(
            flattened,
            json!({"id": "x", "object": "license", "livemode": false, "key": "k"})
        );
        assert_eq!(
            to_string(&Plain { id: "p" }, true).unwrap(),
            r#"{"id":"p"}"#
        );
        assert_eq!(to_string(&vec![1, 2], true).unwrap(), "[1,2]");
    }

    #[test]
    fn an_event_payload_marks_the_object_it_carries() {
        let mut payload = json!({"object": {"id": "cus_1", "object": "customer"}, "previous_attributes": {"name": "A"}});
        mark_event_data(&mut payload, true);
        assert_eq!(payload["object"]["livemode"], true);
        assert!(payload["previous_attributes"].get("livemode").is_none());
        let mut plain = json!({"object": {"id": "x"}, "created": []});
        mark_event_data(&mut plain, false);
        assert_eq!(plain, json!({"object": {"id": "x"}, "created": []}));
    }
}
