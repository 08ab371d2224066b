//! The JSON shapes, walked with serde visitors so that only one item is held at a time.

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{FeedError, Position, RawItem};

type Sink<'s> = dyn FnMut(RawItem, Position) -> bool + 's;

struct Ctx<'c, 's> {
    sink: &'c mut Sink<'s>,
    items: u64,
    found: bool,
    stopped: bool,
}

/// Reads every item of `reader`, handing each to `sink` with its number. Returns how many.
pub(super) fn read(reader: impl Read, path: &Path, sink: &mut Sink<'_>) -> Result<u64, FeedError> {
    let mut ctx = Ctx {
        sink,
        items: 0,
        found: false,
        stopped: false,
    };
    let mut de = serde_json::Deserializer::from_reader(reader);
    let walked = Root(&mut ctx).deserialize(&mut de).and_then(|()| de.end());
    if ctx.stopped {
        return Ok(ctx.items);
    }
    let malformed = |reason: String| FeedError::Malformed {
        path: path.to_path_buf(),
        reason,
    };
    if let Err(e) = walked {
        return Err(if e.is_io() {
            malformed(format!("reading failed: {e}"))
        } else {
            malformed(format!("not valid JSON: {e}"))
        });
    }
    if !ctx.found {
        return Err(malformed(
            "no items: expected an array of items or an object with \"items\": {\"item\": [...]}"
                .to_string(),
        ));
    }
    Ok(ctx.items)
}

/// The document: an array of items, or an object with `items` (possibly under `response.body`).
struct Root<'a, 'c, 's>(&'a mut Ctx<'c, 's>);

impl<'de> DeserializeSeed<'de> for Root<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Root<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of items or an object with \"items\"")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        ItemList(self.0).visit_seq(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "items" => map.next_value_seed(Items(&mut *self.0))?,
                "response" | "body" => map.next_value_seed(Root(&mut *self.0))?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// The value of `items`: `{"item": [...]}`, `{"item": {...}}`, an array, or empty (no results).
struct Items<'a, 'c, 's>(&'a mut Ctx<'c, 's>);

impl<'de> DeserializeSeed<'de> for Items<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Items<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object with \"item\", or an array of items")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        ItemList(self.0).visit_seq(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.0.found = true;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "item" {
                map.next_value_seed(ItemList(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.0.found = true;
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.0.found = true;
        Ok(())
    }
}

/// The items themselves (an array, or one object), each handed to the sink as it is read.
struct ItemList<'a, 'c, 's>(&'a mut Ctx<'c, 's>);

impl ItemList<'_, '_, '_> {
    fn give<E: de::Error>(&mut self, item: RawItem) -> Result<(), E> {
        self.0.items += 1;
        if (self.0.sink)(item, Position::Item(self.0.items)) {
            Ok(())
        } else {
            self.0.stopped = true;
            Err(E::custom("the consumer stopped"))
        }
    }
}

impl<'de> DeserializeSeed<'de> for ItemList<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ItemList<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of items or one item")
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        self.0.found = true;
        while let Some(ItemOrJunk(item)) = seq.next_element::<ItemOrJunk>()? {
            self.give(item)?;
        }
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(mut self, map: A) -> Result<(), A::Error> {
        self.0.found = true;
        let item = RawItem::deserialize(MapAccessDeserializer::new(map))?;
        self.give(item)
    }
}

/// An array element: an item, or (anything but an object) an item marked as not one.
struct ItemOrJunk(RawItem);

impl<'de> Deserialize<'de> for ItemOrJunk {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ItemOrJunk, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ItemOrJunk;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an item object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ItemOrJunk, A::Error> {
                RawItem::deserialize(MapAccessDeserializer::new(map)).map(ItemOrJunk)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ItemOrJunk, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(junk())
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<ItemOrJunk, E> {
                Ok(junk())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<ItemOrJunk, E> {
                Ok(junk())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<ItemOrJunk, E> {
                Ok(junk())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<ItemOrJunk, E> {
                Ok(junk())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<ItemOrJunk, E> {
                Ok(junk())
            }
            fn visit_unit<E: de::Error>(self) -> Result<ItemOrJunk, E> {
                Ok(junk())
            }
        }
        fn junk() -> ItemOrJunk {
            ItemOrJunk(RawItem {
                not_an_object: true,
                ..RawItem::default()
            })
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::Scalar;

    fn ids(doc: &str) -> Result<Vec<(u64, Option<Scalar>)>, FeedError> {
        let mut got = Vec::new();
        let mut sink = |item: RawItem, at: Position| {
            got.push((at.number(), item.stat_id));
            true
        };
        read(doc.as_bytes(), Path::new("t.json"), &mut sink)?;
        Ok(got)
    }

    fn text(s: &str) -> Option<Scalar> {
        Some(Scalar::Text(s.to_string()))
    }

    #[test]
    fn every_accepted_shape_yields_its_items_in_order() {
        let body = r#"{"resultMsg":"NORMAL SERVICE.","totalCount":2,"items":{"item":[{"statId":"ME1","lat":"37.5"},{"statId":"ME2"}]},"pageNo":1}"#;
        assert_eq!(ids(body).unwrap(), [(1, text("ME1")), (2, text("ME2"))]);
        let envelope = r#"{"response":{"header":{"resultCode":"00"},"body":{"items":{"item":{"statId":"ME3"}}}}}"#;
        assert_eq!(ids(envelope).unwrap(), [(1, text("ME3"))]);
        assert_eq!(
            ids(r#"[{"statId":5}, 7]"#).unwrap(),
            [(1, text("5")), (2, None)]
        );
        assert_eq!(ids(r#"{"items":""}"#).unwrap(), []);
    }

    #[test]
    fn a_broken_or_itemless_document_is_refused_whole() {
        let err = ids(r#"{"items":{"item":[{"statId":"ME1"},"#).unwrap_err();
        assert!(err.to_string().contains("not valid JSON"), "{err}");
        let err = ids(r#"{"resultCode":"00"}"#).unwrap_err();
        assert!(err.to_string().contains("no items"), "{err}");
    }
}
