//! PostgreSQL's binary formats for [`Value`]s: NUMERIC decoded and encoded exactly (no float
//! on the way), dates and timestamps from PostgreSQL's 2000-01-01 epoch, text of every
//! character type, JSON. A parameter takes the type the server expects for it, so the
//! mapping's SQL needs no casts.

use std::error::Error;

use bytes::{BufMut, BytesMut};
use lifeline_core::Date;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

use super::{MICROS_PER_DAY, Value};
use crate::his::money::{Decimal, MAX_SCALE};

type BoxError = Box<dyn Error + Sync + Send>;

/// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_DAYS: i64 = 10_957;
const PG_EPOCH_MICROS: i64 = PG_EPOCH_DAYS * MICROS_PER_DAY;

const NUMERIC_POS: u16 = 0x0000;
const NUMERIC_NEG: u16 = 0x4000;

/// A value read from a row, with whether it was a timestamp with a time zone (UTC, to be
/// moved to the hospital's local time by the caller).
#[derive(Debug)]
pub(super) struct Decoded {
    pub value: Value,
    pub utc: bool,
}

fn text_type(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN
    )
}

impl<'a> FromSql<'a> for Decoded {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let plain = |value| Decoded { value, utc: false };
        Ok(match *ty {
            Type::BOOL => plain(Value::Bool(bool::from_sql(ty, raw)?)),
            Type::INT2 => plain(Value::Int(i64::from(i16::from_sql(ty, raw)?))),
            Type::INT4 => plain(Value::Int(i64::from(i32::from_sql(ty, raw)?))),
            Type::INT8 => plain(Value::Int(i64::from_sql(ty, raw)?)),
            Type::OID => plain(Value::Int(i64::from(u32::from_sql(ty, raw)?))),
            Type::FLOAT4 => plain(Value::Float(f64::from(f32::from_sql(ty, raw)?))),
            Type::FLOAT8 => plain(Value::Float(f64::from_sql(ty, raw)?)),
            Type::NUMERIC => plain(Value::Decimal(decode_numeric(raw)?)),
            Type::CHAR => plain(Value::Text(
                char::from(raw.first().copied().unwrap_or(0)).to_string(),
            )),
            Type::DATE => {
                let days = i32::from_sql(ty, raw)?;
                if days == i32::MAX || days == i32::MIN {
                    return Err("an infinite date".into());
                }
                let epoch = Date::new(1970, 1, 1).ok_or("the epoch is a date")?;
                plain(Value::Date(epoch.add_days(i64::from(days) + PG_EPOCH_DAYS)))
            }
            Type::TIMESTAMP | Type::TIMESTAMPTZ => {
                let us = i64::from_sql(&Type::INT8, raw)?;
                if us == i64::MAX || us == i64::MIN {
                    return Err("an infinite timestamp".into());
                }
                Decoded {
                    value: Value::Timestamp(us.saturating_add(PG_EPOCH_MICROS)),
                    utc: *ty == Type::TIMESTAMPTZ,
                }
            }
            Type::JSON => plain(Value::Json(serde_json::from_slice(raw)?)),
            Type::JSONB => {
                let body = raw.strip_prefix(&[1u8]).ok_or("an unknown jsonb version")?;
                plain(Value::Json(serde_json::from_slice(body)?))
            }
            _ if text_type(ty) => plain(Value::Text(String::from_utf8(raw.to_vec())?)),
            _ => return Err(format!("columns of type {ty} are not read by the bridge").into()),
        })
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(Decoded {
            value: Value::Null,
            utc: false,
        })
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// PostgreSQL's binary NUMERIC: digit count, weight, sign, display scale, then base-10000
/// digits, the first worth 10000^weight.
fn decode_numeric(raw: &[u8]) -> Result<Decimal, BoxError> {
    let word = |i: usize| -> Result<u16, BoxError> {
        raw.get(i..i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "a truncated numeric".into())
    };
    let ndigits = usize::from(word(0)?);
    let weight = i64::from(word(2)? as i16);
    let sign = word(4)?;
    let dscale = u32::from(word(6)?);
    if sign != NUMERIC_POS && sign != NUMERIC_NEG {
        return Err("NaN or an infinite numeric".into());
    }
    if dscale > MAX_SCALE {
        return Err(format!("a numeric with {dscale} decimals (at most {MAX_SCALE})").into());
    }
    let overflow = || -> BoxError { "a numeric too large for the bridge".into() };
    let mut units: i128 = 0;
    for i in 0..ndigits {
        let digit = i128::from(word(8 + 2 * i)?);
        // This digit is worth 10000^(weight - i) = 10^(4 (weight - i)); in units of
        // 10^-dscale, 10^(4 (weight - i) + dscale).
        let exp = 4 * (weight - i as i64) + i64::from(dscale);
        if exp >= 0 {
            let pow = 10i128
                .checked_pow(u32::try_from(exp).map_err(|_| overflow())?)
                .ok_or_else(overflow)?;
            units = digit
                .checked_mul(pow)
                .and_then(|v| units.checked_add(v))
                .ok_or_else(overflow)?;
        } else {
            // Digits past the display scale: PostgreSQL writes them only as zeros.
            let pow = 10i128
                .checked_pow(u32::try_from(-exp).map_err(|_| overflow())?)
                .unwrap_or(i128::MAX);
            if digit % pow != 0 {
                return Err("a numeric with more digits than its scale".into());
            }
            units = units.checked_add(digit / pow).ok_or_else(overflow)?;
        }
    }
    if sign == NUMERIC_NEG {
        units = -units;
    }
    Ok(Decimal {
        units,
        scale: dscale,
    })
}

/// Writes `d` in PostgreSQL's binary NUMERIC.
fn encode_numeric(d: Decimal, out: &mut BytesMut) -> Result<(), BoxError> {
    // Bring the scale to a multiple of 4 so that the fraction splits into whole base-10000
    // digits; the display scale stays d.scale.
    let padded = d.scale.div_ceil(4) * 4;
    let value = d.rescaled(padded).ok_or("a numeric too large to write")?;
    let mut abs = value.units.unsigned_abs();
    let mut groups = Vec::new();
    while abs > 0 {
        groups.push(u16::try_from(abs % 10_000).unwrap_or(0));
        abs /= 10_000;
    }
    groups.reverse();
    let frac_groups = (padded / 4) as i64;
    let weight = groups.len() as i64 - 1 - frac_groups;
    // Trailing zero digits are not written.
    while groups.last() == Some(&0) {
        groups.pop();
    }
    let sign = if value.units < 0 {
        NUMERIC_NEG
    } else {
        NUMERIC_POS
    };
    out.put_u16(u16::try_from(groups.len())?);
    out.put_i16(if groups.is_empty() {
        0
    } else {
        i16::try_from(weight)?
    });
    out.put_u16(sign);
    out.put_u16(u16::try_from(d.scale)?);
    for g in groups {
        out.put_u16(g);
    }
    Ok(())
}

/// A parameter: the value written in the type the server expects.
#[derive(Debug)]
pub(super) struct Param<'a> {
    pub value: &'a Value,
    /// The hospital's offset from UTC in minutes, for timestamps with a time zone.
    pub utc_offset_min: i32,
}

fn mismatch(value: &Value, ty: &Type) -> BoxError {
    format!("cannot write {} into a {ty} parameter", value.kind()).into()
}

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let v = self.value;
        if v.is_null() {
            return Ok(IsNull::Yes);
        }
        match (*ty).clone() {
            Type::BOOL => match v {
                Value::Bool(b) => b.to_sql(ty, out),
                Value::Text(t) if t == "true" || t == "false" => (t == "true").to_sql(ty, out),
                _ => Err(mismatch(v, ty)),
            },
            Type::INT2 | Type::INT4 | Type::INT8 => {
                let n = match v {
                    Value::Int(i) => *i,
                    Value::Text(t) => t.trim().parse().map_err(|_| mismatch(v, ty))?,
                    Value::Decimal(d) => i64::try_from(d.whole().ok_or_else(|| mismatch(v, ty))?)?,
                    Value::Lowest => i64::MIN,
                    _ => return Err(mismatch(v, ty)),
                };
                match *ty {
                    Type::INT2 => i16::try_from(n.max(i64::from(i16::MIN)))?.to_sql(ty, out),
                    Type::INT4 => i32::try_from(n.max(i64::from(i32::MIN)))?.to_sql(ty, out),
                    _ => n.to_sql(ty, out),
                }
            }
            Type::NUMERIC => {
                let d = match v {
                    Value::Decimal(d) => *d,
                    Value::Int(i) => Decimal::from_int(*i),
                    Value::Text(t) => t.parse()?,
                    _ => return Err(mismatch(v, ty)),
                };
                encode_numeric(d, out)?;
                Ok(IsNull::No)
            }
            Type::DATE => match v {
                Value::Lowest => i32::MIN.to_sql(&Type::INT4, out),
                Value::Date(d) => {
                    let days = i32::try_from(d.days_since_epoch() - PG_EPOCH_DAYS)?;
                    days.to_sql(&Type::INT4, out)
                }
                _ => Err(mismatch(v, ty)),
            },
            Type::TIMESTAMP | Type::TIMESTAMPTZ => {
                let local = match v {
                    Value::Timestamp(us) => *us,
                    Value::Date(d) => d.days_since_epoch() * MICROS_PER_DAY,
                    // -infinity, before every timestamp.
                    Value::Lowest => return i64::MIN.to_sql(&Type::INT8, out),
                    _ => return Err(mismatch(v, ty)),
                };
                let us = if *ty == Type::TIMESTAMPTZ {
                    local - i64::from(self.utc_offset_min) * 60_000_000
                } else {
                    local
                };
                (us - PG_EPOCH_MICROS).to_sql(&Type::INT8, out)
            }
            Type::JSON | Type::JSONB => {
                let text = match v {
                    Value::Json(j) => j.to_string(),
                    Value::Text(t) => t.clone(),
                    _ => return Err(mismatch(v, ty)),
                };
                if *ty == Type::JSONB {
                    out.put_u8(1);
                }
                out.put_slice(text.as_bytes());
                Ok(IsNull::No)
            }
            Type::CHAR => match v.as_text() {
                Some(t) if t.len() == 1 => {
                    out.put_u8(t.as_bytes()[0]);
                    Ok(IsNull::No)
                }
                _ => Err(mismatch(v, ty)),
            },
            _ if text_type(ty) => {
                let text = match v {
                    Value::Lowest => String::new(),
                    other => other.as_text().unwrap_or_default(),
                };
                out.put_slice(text.as_bytes());
                Ok(IsNull::No)
            }
            _ => Err(format!("the bridge does not write {ty} parameters").into()),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        let d: Decimal = text.parse().expect("decimal");
        let mut out = BytesMut::new();
        encode_numeric(d, &mut out).expect("encode");
        decode_numeric(&out).expect("decode").to_string()
    }

    #[test]
    fn numerics_cross_exactly() {
        for text in [
            "0",
            "12.80",
            "-0.05",
            "22.5250",
            "10000",
            "123456789.0123",
            "0.0001",
            "-99999.99",
        ] {
            assert_eq!(round_trip(text), text);
        }
        // 12.80 as PostgreSQL sends it: 2 digits, weight 0, positive, scale 2: 12, 8000.
        let raw = [0, 2, 0, 0, 0, 0, 0, 2, 0, 12, 0x1f, 0x40];
        assert_eq!(decode_numeric(&raw).expect("decode").to_string(), "12.80");
        let nan = [0, 0, 0, 0, 0xc0, 0, 0, 0];
        assert!(decode_numeric(&nan).is_err());
        assert!(decode_numeric(&[0, 1]).is_err(), "truncated");
    }
}
