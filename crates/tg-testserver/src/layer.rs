//! Clients at other layers: their requests and our answers re-encoded
//! between the layer a client declares with `invokeWithLayer` and the
//! layer-230 types the server is written in.
//!
//! Telegram answers every client at the layer it asked for. A test server
//! that spoke only grammers' layer would shut out other MTProto clients,
//! such as the Python mautrix-telegram's Telethon at layer 204. Between 204
//! and 230 about 113 constructors changed ID but kept their name, mostly
//! because fields were added. So rather than a second set of generated
//! types, both schemas are read once and a value is re-encoded field by
//! field, matching constructors and fields by name:
//! - a field the target layer lacks is dropped;
//! - a flag-guarded field the source lacks stays unset;
//! - a required field the source lacks gets its zero value;
//! - in a vector, an element whose constructor the target layer lacks is
//!   left out, as Telegram leaves out updates an old client cannot read.

use std::collections::HashMap;
use std::sync::LazyLock;

use grammers_tl_parser::tl::{Category, Definition, ParameterType, Type};

/// The layer of grammers-tl-types, in which requests are parsed and
/// answers built.
pub const SERVER_LAYER: i32 = grammers_tl_types::LAYER;

const VECTOR: u32 = 0x1cb5c415;
const BOOL_FALSE: u32 = 0xbc799737;
const BOOL_TRUE: u32 = 0x997275b5;

static LAYER_230: LazyLock<Schema> =
    LazyLock::new(|| Schema::parse(include_str!("../tl/api-230.tl")));
static LAYER_204: LazyLock<Schema> =
    LazyLock::new(|| Schema::parse(include_str!("../tl/api-204.tl")));

/// Why a value could not be re-encoded.
#[derive(Debug, PartialEq, Eq)]
pub struct Error(pub String);

type Result<T> = std::result::Result<T, Error>;

fn fail<T>(what: impl Into<String>) -> Result<T> {
    Err(Error(what.into()))
}

/// A TL type as far as encoding goes.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ty {
    Int,
    Long,
    Double,
    Int128,
    Int256,
    /// `string` and `bytes`, which encode alike.
    Bytes,
    Bool,
    /// A flag's bit and nothing else on the wire.
    True,
    Vector(Box<Ty>),
    /// A boxed type by full name, such as `messages.Messages`.
    Boxed(String),
    /// `!X`, `X` or `Object`: any boxed value, told by its constructor.
    Any,
}

impl Ty {
    fn of(ty: &Type) -> Ty {
        if ty.generic_ref {
            return Ty::Any;
        }
        let mut name = ty.namespace.join(".");
        if !name.is_empty() {
            name.push('.');
        }
        name.push_str(&ty.name);
        match name.as_str() {
            "int" => Ty::Int,
            "long" => Ty::Long,
            "double" => Ty::Double,
            "int128" => Ty::Int128,
            "int256" => Ty::Int256,
            "string" | "bytes" => Ty::Bytes,
            "Bool" => Ty::Bool,
            "true" => Ty::True,
            "X" | "Object" => Ty::Any,
            "Vector" | "vector" => match &ty.generic_arg {
                Some(inner) => Ty::Vector(Box::new(Ty::of(inner))),
                None => Ty::Any,
            },
            _ => Ty::Boxed(name),
        }
    }
}

#[derive(Debug)]
enum Param {
    Flags(String),
    Value {
        name: String,
        ty: Ty,
        /// The flags field and bit that say whether it is there.
        flag: Option<(String, u32)>,
    },
}

#[derive(Debug)]
struct Def {
    id: u32,
    name: String,
    params: Vec<Param>,
    /// The type it constructs, or a function's result.
    ty: Ty,
}

impl Def {
    fn value_type(&self, field: &str) -> Option<&Ty> {
        self.params.iter().find_map(|p| match p {
            Param::Value { name, ty, .. } if name == field => Some(ty),
            _ => None,
        })
    }
}

/// One layer's constructors and functions.
pub struct Schema {
    layer: i32,
    by_id: HashMap<u32, Def>,
    by_name: HashMap<String, u32>,
    /// Constructors by the type they build, for a zero value.
    by_type: HashMap<String, Vec<u32>>,
}

impl Schema {
    fn parse(text: &str) -> Schema {
        let layer = text
            .lines()
            .find_map(|l| l.strip_prefix("// LAYER "))
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or_default();
        let mut schema = Schema {
            layer,
            by_id: HashMap::new(),
            by_name: HashMap::new(),
            by_type: HashMap::new(),
        };
        for def in grammers_tl_parser::parse_tl_file(text).filter_map(|d| d.ok()) {
            schema.add(def);
        }
        schema
    }

    fn add(&mut self, def: Definition) {
        let params = def
            .params
            .iter()
            .map(|p| match &p.ty {
                ParameterType::Flags => Param::Flags(p.name.clone()),
                ParameterType::Normal { ty, flag } => Param::Value {
                    name: p.name.clone(),
                    ty: Ty::of(ty),
                    flag: flag.as_ref().map(|f| (f.name.clone(), f.index as u32)),
                },
            })
            .collect();
        let name = def.full_name();
        let ty = Ty::of(&def.ty);
        if def.category == Category::Types {
            if let Ty::Boxed(ty) = &ty {
                self.by_type.entry(ty.clone()).or_default().push(def.id);
            }
        }
        self.by_name.insert(name.clone(), def.id);
        self.by_id.insert(
            def.id,
            Def {
                id: def.id,
                name,
                params,
                ty,
            },
        );
    }

    fn named(&self, name: &str) -> Option<&Def> {
        self.by_id.get(self.by_name.get(name)?)
    }
}

/// The schema of a layer the server speaks, if it speaks it.
pub fn schema(layer: i32) -> Option<&'static Schema> {
    match layer {
        204 => Some(&LAYER_204),
        SERVER_LAYER => Some(&LAYER_230),
        _ => None,
    }
}

/// Re-encodes between a client's layer and the server's.
#[derive(Clone, Copy)]
pub struct Codec {
    client: &'static Schema,
    server: &'static Schema,
}

impl Codec {
    /// The codec for a client at `layer`; `None` if it is the server's own
    /// layer (nothing to do) or one the server does not know.
    pub fn for_layer(layer: i32) -> Option<Codec> {
        if layer == SERVER_LAYER {
            return None;
        }
        Some(Codec {
            client: schema(layer)?,
            server: schema(SERVER_LAYER)?,
        })
    }

    /// A request from the client, as the server's layer encodes it.
    pub fn request(&self, body: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(body.len());
        Recode::new(self.client, self.server).any(&mut Reader::new(body), &mut out)?;
        Ok(out)
    }

    /// The answer to `function` (a constructor ID at the server's layer),
    /// as the client's layer encodes it.
    pub fn answer(&self, function: u32, result: &[u8]) -> Result<Vec<u8>> {
        let def = self
            .server
            .by_id
            .get(&function)
            .ok_or_else(|| Error(format!("no function #{function:08x}")))?;
        let to = self
            .client
            .named(&def.name)
            .map_or(&def.ty, |client_def| &client_def.ty);
        let mut out = Vec::with_capacity(result.len());
        Recode::new(self.server, self.client).value(
            &mut Reader::new(result),
            &def.ty,
            to,
            &mut out,
        )?;
        Ok(out)
    }

    /// Pushed `Updates`, as the client's layer encodes them.
    pub fn updates(&self, updates: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(updates.len());
        Recode::new(self.server, self.client).any(&mut Reader::new(updates), &mut out)?;
        Ok(out)
    }
}

/// A read position in an encoded value.
struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, at: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.buf.len());
        let Some(end) = end else {
            return fail(format!("the value ends at byte {}", self.buf.len()));
        };
        let out = &self.buf[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn peek_u32(&self) -> Result<u32> {
        Reader::new(&self.buf[self.at..]).u32()
    }

    /// A `string` or `bytes`, whole: its length prefix, body and padding.
    fn bytes(&mut self) -> Result<&'a [u8]> {
        let start = self.at;
        let first = *self.take(1)?.first().unwrap_or(&0);
        let (head, len) = if first < 254 {
            (1, usize::from(first))
        } else {
            let b = self.take(3)?;
            (
                4,
                usize::from(b[0]) | usize::from(b[1]) << 8 | usize::from(b[2]) << 16,
            )
        };
        let padded = (head + len).div_ceil(4) * 4;
        self.take(padded - head)?;
        Ok(&self.buf[start..self.at])
    }
}

/// What was read of one field of a constructor.
enum Field {
    /// A `true` flag that was set.
    Set,
    /// The field, already encoded for the target layer.
    Encoded(Vec<u8>),
}

/// One re-encoding, from one schema to another.
struct Recode<'s> {
    from: &'s Schema,
    to: &'s Schema,
}

impl<'s> Recode<'s> {
    fn new(from: &'s Schema, to: &'s Schema) -> Self {
        Recode { from, to }
    }

    fn value(&self, r: &mut Reader, from: &Ty, to: &Ty, out: &mut Vec<u8>) -> Result<()> {
        match (from, to) {
            (Ty::Int, Ty::Long) => {
                let v = r.u32()? as i32;
                out.extend(i64::from(v).to_le_bytes());
            }
            (Ty::Long, Ty::Int) => {
                let b = r.take(8)?;
                let v = i64::from_le_bytes(b.try_into().unwrap_or_default());
                let v = i32::try_from(v).map_err(|_| Error(format!("{v} does not fit an int")))?;
                out.extend(v.to_le_bytes());
            }
            (Ty::Int, _) => out.extend(r.take(4)?),
            (Ty::Long | Ty::Double, _) => out.extend(r.take(8)?),
            (Ty::Int128, _) => out.extend(r.take(16)?),
            (Ty::Int256, _) => out.extend(r.take(32)?),
            (Ty::Bytes, _) => out.extend(r.bytes()?),
            (Ty::Bool, _) => match r.u32()? {
                id @ (BOOL_TRUE | BOOL_FALSE) => out.extend(id.to_le_bytes()),
                id => return fail(format!("#{id:08x} is not a Bool")),
            },
            (Ty::True, _) => {}
            (Ty::Vector(from_item), to) => {
                let to_item = match to {
                    Ty::Vector(item) => item.as_ref(),
                    _ => from_item.as_ref(),
                };
                self.vector(r, from_item, to_item, out)?;
            }
            (Ty::Boxed(_) | Ty::Any, _) => self.any(r, out)?,
        }
        Ok(())
    }

    fn vector(&self, r: &mut Reader, from: &Ty, to: &Ty, out: &mut Vec<u8>) -> Result<()> {
        if r.u32()? != VECTOR {
            return fail("a vector without its constructor");
        }
        let count = r.u32()?;
        let count_at = out.len() + 4;
        out.extend(VECTOR.to_le_bytes());
        out.extend(count.to_le_bytes());
        let mut kept = 0u32;
        for _ in 0..count {
            if matches!(from, Ty::Boxed(_) | Ty::Any) && !self.target_has(r.peek_u32()?) {
                self.skip(r, from)?;
                continue;
            }
            self.value(r, from, to, out)?;
            kept += 1;
        }
        out[count_at..count_at + 4].copy_from_slice(&kept.to_le_bytes());
        Ok(())
    }

    /// Whether the constructor `id` of the source layer has a namesake in
    /// the target layer.
    fn target_has(&self, id: u32) -> bool {
        id == VECTOR
            || self
                .from
                .by_id
                .get(&id)
                .is_some_and(|def| self.to.by_name.contains_key(&def.name))
    }

    /// Reads past a value of the source layer.
    fn skip(&self, r: &mut Reader, ty: &Ty) -> Result<()> {
        Recode::new(self.from, self.from).value(r, ty, ty, &mut Vec::new())
    }

    /// A boxed value, told by its constructor.
    fn any(&self, r: &mut Reader, out: &mut Vec<u8>) -> Result<()> {
        let id = r.peek_u32()?;
        if id == VECTOR {
            // A vector as a value of `X`: its items are boxed.
            return self.vector(r, &Ty::Any, &Ty::Any, out);
        }
        r.u32()?;
        let Some(from) = self.from.by_id.get(&id) else {
            return fail(format!(
                "no constructor #{id:08x} at layer {}",
                self.from.layer
            ));
        };
        let Some(to) = self.to.named(&from.name) else {
            return fail(format!("no {} at layer {}", from.name, self.to.layer));
        };
        let fields = self.read_fields(r, from, to)?;
        self.write_fields(to, &fields, out)
    }

    fn read_fields(&self, r: &mut Reader, from: &Def, to: &Def) -> Result<HashMap<String, Field>> {
        let mut flags: HashMap<&str, u32> = HashMap::new();
        let mut fields = HashMap::new();
        for param in &from.params {
            let (name, ty, flag) = match param {
                Param::Flags(name) => {
                    flags.insert(name, r.u32()?);
                    continue;
                }
                Param::Value { name, ty, flag } => (name, ty, flag),
            };
            if let Some((field, bit)) = flag {
                if flags.get(field.as_str()).copied().unwrap_or(0) & (1 << bit) == 0 {
                    continue;
                }
            }
            if *ty == Ty::True {
                if to
                    .value_type(name)
                    .is_some_and(|to_ty| compatible(ty, to_ty))
                {
                    fields.insert(name.clone(), Field::Set);
                }
                continue;
            }
            match to.value_type(name).filter(|to_ty| compatible(ty, to_ty)) {
                Some(to_ty) => {
                    let mut encoded = Vec::new();
                    self.value(r, ty, to_ty, &mut encoded)
                        .map_err(|e| Error(format!("{}.{name}: {}", from.name, e.0)))?;
                    fields.insert(name.clone(), Field::Encoded(encoded));
                }
                None => self.skip(r, ty)?,
            }
        }
        Ok(fields)
    }

    fn write_fields(
        &self,
        to: &Def,
        fields: &HashMap<String, Field>,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        out.extend(to.id.to_le_bytes());
        for param in &to.params {
            match param {
                Param::Flags(flags_name) => {
                    let bits = to.params.iter().fold(0u32, |bits, p| match p {
                        Param::Value {
                            name,
                            flag: Some((of, bit)),
                            ..
                        } if of == flags_name && fields.contains_key(name) => bits | 1 << bit,
                        _ => bits,
                    });
                    out.extend(bits.to_le_bytes());
                }
                Param::Value { name, ty, flag } => match (fields.get(name), ty) {
                    (_, Ty::True) => {}
                    (Some(Field::Encoded(encoded)), _) => out.extend(encoded),
                    // A set flag read for a `Bool` (the only other type
                    // `compatible` lets a `true` become).
                    (Some(Field::Set), _) => out.extend(BOOL_TRUE.to_le_bytes()),
                    (None, _) if flag.is_some() => {}
                    (None, ty) => self.zero(ty, out).map_err(|e| {
                        Error(format!(
                            "{}.{name} is required at layer {}: {}",
                            to.name, self.to.layer, e.0
                        ))
                    })?,
                },
            }
        }
        Ok(())
    }

    /// The zero value of a type of the target layer, for a required field
    /// the source layer does not have.
    fn zero(&self, ty: &Ty, out: &mut Vec<u8>) -> Result<()> {
        match ty {
            Ty::Int => out.extend([0; 4]),
            Ty::Long | Ty::Double => out.extend([0; 8]),
            Ty::Int128 => out.extend([0; 16]),
            Ty::Int256 => out.extend([0; 32]),
            Ty::Bytes => out.extend([0; 4]),
            Ty::Bool => out.extend(BOOL_FALSE.to_le_bytes()),
            Ty::True => {}
            Ty::Vector(_) => {
                out.extend(VECTOR.to_le_bytes());
                out.extend(0u32.to_le_bytes());
            }
            Ty::Boxed(name) => {
                // A constructor of the type with nothing required, such as
                // `peerColorEmpty` or a struct of flags alone.
                let def = self
                    .to
                    .by_type
                    .get(name)
                    .into_iter()
                    .flatten()
                    .filter_map(|id| self.to.by_id.get(id))
                    .find(|def| {
                        def.params.iter().all(|p| {
                            matches!(p, Param::Flags(_) | Param::Value { flag: Some(_), .. })
                        })
                    });
                let Some(def) = def else {
                    return fail(format!("{name} has no empty constructor"));
                };
                self.write_fields(def, &HashMap::new(), out)?;
            }
            Ty::Any => return fail("no zero value for any type"),
        }
        Ok(())
    }
}

/// Whether a value of `from` can be written as `to`: the same kind, or an
/// int widened or narrowed. A field whose type changed otherwise (layer
/// 230's `stories_max_id` went from an int to a `RecentStory`) is dropped.
fn compatible(from: &Ty, to: &Ty) -> bool {
    match (from, to) {
        (Ty::Int | Ty::Long, Ty::Int | Ty::Long) => true,
        (Ty::Boxed(_) | Ty::Any, Ty::Boxed(_) | Ty::Any) => true,
        (Ty::Vector(from), Ty::Vector(to)) => compatible(from, to),
        (Ty::True, Ty::True | Ty::Bool) => true,
        (from, to) => from == to,
    }
}

#[cfg(test)]
#[path = "layer_tests.rs"]
mod tests;
