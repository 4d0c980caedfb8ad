//! Exact decimals as the HIS keeps money and quantities (NUMERIC, yuan with two or four
//! decimals), and yuan into fen without ever passing through a float.

use std::fmt;
use std::str::FromStr;

use lifeline_core::Fen;
use serde::{Deserialize, Serialize};

/// An exact decimal: `units` × 10^-`scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decimal {
    pub units: i128,
    pub scale: u32,
}

/// Most decimals kept (PostgreSQL NUMERIC allows more; money never needs them).
pub const MAX_SCALE: u32 = 18;

/// Text that is not an exact decimal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a decimal number")]
pub struct DecimalError {
    pub text: String,
}

impl FromStr for Decimal {
    type Err = DecimalError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = || DecimalError {
            text: text.to_owned(),
        };
        let t = text.trim();
        let (negative, digits) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty() && fraction.is_empty() {
            return Err(err());
        }
        if !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
        {
            return Err(err());
        }
        let scale = u32::try_from(fraction.len()).map_err(|_| err())?;
        if scale > MAX_SCALE {
            return Err(err());
        }
        let mut units: i128 = 0;
        for b in whole.bytes().chain(fraction.bytes()) {
            units = units
                .checked_mul(10)
                .and_then(|u| u.checked_add(i128::from(b - b'0')))
                .ok_or_else(err)?;
        }
        Ok(Decimal {
            units: if negative { -units } else { units },
            scale,
        })
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.units < 0 { "-" } else { "" };
        let abs = self.units.unsigned_abs();
        if self.scale == 0 {
            return write!(f, "{sign}{abs}");
        }
        let pow = 10u128.pow(self.scale);
        write!(
            f,
            "{sign}{}.{:0width$}",
            abs / pow,
            abs % pow,
            width = self.scale as usize
        )
    }
}

impl Serialize for Decimal {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Decimal {
    pub fn from_int(v: i64) -> Decimal {
        Decimal {
            units: i128::from(v),
            scale: 0,
        }
    }

    /// The whole number this is, if it is one.
    pub fn whole(self) -> Option<i128> {
        let pow = 10i128.checked_pow(self.scale)?;
        (self.units % pow == 0).then_some(self.units / pow)
    }

    /// The same value with `scale` decimals, if none is lost.
    pub fn rescaled(self, scale: u32) -> Option<Decimal> {
        if scale >= self.scale {
            let pow = 10i128.checked_pow(scale - self.scale)?;
            Some(Decimal {
                units: self.units.checked_mul(pow)?,
                scale,
            })
        } else {
            let pow = 10i128.checked_pow(self.scale - scale)?;
            (self.units % pow == 0).then_some(Decimal {
                units: self.units / pow,
                scale,
            })
        }
    }
}

/// What to do with a price that has a fraction of a fen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubFen {
    /// Round half away from zero (四舍五入).
    RoundHalfUp,
    /// Refuse the row.
    Refuse,
}

/// Yuan into fen, exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    pub fen: Fen,
    /// A fraction of a fen was rounded away.
    pub rounded: bool,
}

/// Why an amount in yuan cannot become fen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("{yuan} yuan has a fraction of a fen (the mapping refuses those)")]
    SubFen { yuan: Decimal },
    #[error("{yuan} yuan is too large")]
    TooLarge { yuan: Decimal },
}

/// `yuan` as fen, by `rule` when it has a fraction of a fen.
pub fn yuan_to_fen(yuan: Decimal, rule: SubFen) -> Result<Converted, MoneyError> {
    let too_large = || MoneyError::TooLarge { yuan };
    if let Some(exact) = yuan.rescaled(2) {
        let fen = i64::try_from(exact.units).map_err(|_| too_large())?;
        return Ok(Converted {
            fen: Fen(fen),
            rounded: false,
        });
    }
    if rule == SubFen::Refuse {
        return Err(MoneyError::SubFen { yuan });
    }
    // scale > 2 here: drop the extra decimals, rounding half away from zero.
    let pow = 10i128.checked_pow(yuan.scale - 2).ok_or_else(too_large)?;
    let (q, r) = (yuan.units / pow, yuan.units % pow);
    let up = r.unsigned_abs() * 2 >= pow.unsigned_abs();
    let fen = if up { q + yuan.units.signum() } else { q };
    Ok(Converted {
        fen: Fen(i64::try_from(fen).map_err(|_| too_large())?),
        rounded: true,
    })
}

/// Fen as yuan with two decimals, for the HIS.
pub fn fen_to_yuan(fen: Fen) -> Decimal {
    Decimal {
        units: i128::from(fen.0),
        scale: 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().expect("decimal")
    }

    #[test]
    fn decimals_parse_exactly_and_print_back() {
        assert_eq!(
            d("12.80"),
            Decimal {
                units: 1280,
                scale: 2
            }
        );
        assert_eq!(d("-0.05").to_string(), "-0.05");
        assert_eq!(d("22.5250").to_string(), "22.5250");
        assert_eq!(d("7").whole(), Some(7));
        assert_eq!(d("2.00").whole(), Some(2));
        assert_eq!(d("1.50").whole(), None);
        for bad in ["", ".", "1.2.3", "1e5", "abc", "NaN", "- 1"] {
            assert!(bad.parse::<Decimal>().is_err(), "{bad}");
        }
    }

    #[test]
    fn yuan_become_fen_exactly_and_sub_fen_is_a_rule() {
        let fen = |s: &str, rule| yuan_to_fen(d(s), rule).map(|c| (c.fen.0, c.rounded));
        assert_eq!(fen("12.80", SubFen::Refuse), Ok((1280, false)));
        assert_eq!(fen("12.8000", SubFen::Refuse), Ok((1280, false)));
        assert_eq!(fen("30", SubFen::Refuse), Ok((3000, false)));
        // 0.1 + 0.2 in floating point is 0.30000000000000004: not here.
        assert_eq!(fen("0.3000", SubFen::Refuse), Ok((30, false)));
        assert_eq!(fen("22.5250", SubFen::RoundHalfUp), Ok((2253, true)));
        assert_eq!(fen("22.5249", SubFen::RoundHalfUp), Ok((2252, true)));
        assert_eq!(fen("-22.5250", SubFen::RoundHalfUp), Ok((-2253, true)));
        assert!(matches!(
            yuan_to_fen(d("22.5250"), SubFen::Refuse),
            Err(MoneyError::SubFen { .. })
        ));
        assert!(yuan_to_fen(d("999999999999999999999999.99"), SubFen::Refuse).is_err());
        assert_eq!(fen_to_yuan(Fen(1280)).to_string(), "12.80");
    }
}
