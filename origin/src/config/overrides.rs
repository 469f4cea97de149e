//! The configuration file's keys merged with `PORTALDM_<KEY>` overrides, read as the type each
//! key has in [`Config`](super::Config): an override is text, parsed only once the field asks
//! for a number, a flag or a string, so `PORTALDM_AUDIENCE=1234` stays the string "1234".

use serde::de::value::{Error, MapDeserializer};
use serde::de::{self, Deserializer, Error as _, IntoDeserializer, Visitor};

/// One key of the merged configuration and where its value came from.
pub struct Entry {
    key: String,
    value: Source,
}

enum Source {
    File(toml::Value),
    /// An environment override: its variable's name and text.
    Env(String, String),
}

/// The file's table with the overrides (`(variable, text)` pairs, `PORTALDM_CONFIG` and other
/// names without the prefix left out) laid over it.
pub fn merge(table: toml::Table, vars: impl IntoIterator<Item = (String, String)>) -> Vec<Entry> {
    let mut entries: Vec<Entry> = table.into_iter().map(|(key, v)| Entry { key, value: Source::File(v) }).collect();
    for (var, text) in vars {
        let Some(key) = var.strip_prefix("PORTALDM_") else { continue };
        if key == "CONFIG" {
            continue;
        }
        let key = key.to_ascii_lowercase();
        entries.retain(|e| e.key != key);
        entries.push(Entry { key, value: Source::Env(var, text) });
    }
    entries
}

/// Deserializes `T` from merged entries.
pub fn deserialize<T: de::DeserializeOwned>(entries: Vec<Entry>) -> Result<T, Error> {
    T::deserialize(MapDeserializer::new(entries.into_iter().map(|e| (e.key.clone(), e))))
}

impl Entry {
    /// The error `e` of this key's value, naming the key (or the variable that set it).
    fn named(&self, e: impl std::fmt::Display) -> Error {
        match &self.value {
            Source::File(_) => Error::custom(format_args!("{}: {}", self.key, e.to_string().trim_end())),
            Source::Env(var, _) => Error::custom(format_args!("{var}: {e}")),
        }
    }

    /// The override's text parsed as `T`, or an error naming the variable and what was expected.
    fn parse<T: std::str::FromStr>(&self, text: &str, expected: &str) -> Result<T, Error> {
        text.parse().map_err(|_| self.named(format_args!("{text:?} is not {expected}")))
    }
}

impl IntoDeserializer<'_, Error> for Entry {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

/// A typed read of one key: the file's value through toml's own deserializer, an override's
/// text parsed as the field asks.
macro_rules! typed {
    ($($method:ident: $ty:ty as $visit:ident, $expected:literal;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let text = match &self.value {
                Source::File(_) => return self.deserialize_any(visitor),
                Source::Env(_, text) => text,
            };
            let v: $ty = self.parse(text, $expected)?;
            visitor.$visit::<Error>(v).map_err(|e| self.named(e))
        }
    )*};
}

impl<'de> Deserializer<'de> for Entry {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Source::File(ref v) => v.clone().deserialize_any(visitor).map_err(|e| self.named(e)),
            Source::Env(_, ref text) => visitor.visit_str::<Error>(text).map_err(|e| self.named(e)),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Source::File(ref v) => v.clone().deserialize_option(visitor).map_err(|e| self.named(e)),
            Source::Env(..) => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Source::File(ref v) => v.clone().deserialize_newtype_struct(name, visitor).map_err(|e| self.named(e)),
            Source::Env(..) => visitor.visit_newtype_struct(self),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.value {
            Source::File(ref v) => v.clone().deserialize_enum(name, variants, visitor).map_err(|e| self.named(e)),
            Source::Env(_, ref text) => {
                let text: de::value::StrDeserializer<'_, Error> = text.as_str().into_deserializer();
                visitor.visit_enum(text).map_err(|e: Error| self.named(e))
            }
        }
    }

    typed! {
        deserialize_bool: bool as visit_bool, "true or false";
        deserialize_u8: u64 as visit_u64, "an unsigned integer";
        deserialize_u16: u64 as visit_u64, "an unsigned integer";
        deserialize_u32: u64 as visit_u64, "an unsigned integer";
        deserialize_u64: u64 as visit_u64, "an unsigned integer";
        deserialize_i8: i64 as visit_i64, "an integer";
        deserialize_i16: i64 as visit_i64, "an integer";
        deserialize_i32: i64 as visit_i64, "an integer";
        deserialize_i64: i64 as visit_i64, "an integer";
        deserialize_f32: f64 as visit_f64, "a number";
        deserialize_f64: f64 as visit_f64, "a number";
    }

    serde::forward_to_deserialize_any! {
        i128 u128 char str string bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}
