//! One HIS row read through the mapping: each Lifeline field from its column, converted with
//! a message naming the field and the column when the row holds something Lifeline cannot
//! take (a date of 0000-00-00, money as a float, a code the mapping does not know).

use lifeline_core::{Date, Fen, UnixMs};

use super::db::{Row, Value};
use super::mapping::{Codes, Columns};
use super::money::{Decimal, SubFen, yuan_to_fen};

/// A row and the mapping of its section.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a> {
    pub row: &'a Row,
    pub columns: &'a Columns,
    pub codes: &'a Codes,
    /// The hospital's offset from UTC in minutes: HIS timestamps are local.
    pub utc_offset_min: i32,
}

/// Why a field of a row cannot be read.
pub type FieldError = String;

impl<'a> Fields<'a> {
    fn column(&self, field: &str) -> Option<&'a str> {
        self.columns.get(field).map(String::as_str)
    }

    fn fail(&self, field: &str, why: impl std::fmt::Display) -> FieldError {
        match self.column(field) {
            Some(c) if c != field => format!("{field} (column {c}): {why}"),
            _ => format!("{field}: {why}"),
        }
    }

    /// The field's value; `None` when the field is not mapped or is null.
    pub fn value(&self, field: &str) -> Result<Option<&'a Value>, FieldError> {
        let Some(column) = self.column(field) else {
            return Ok(None);
        };
        match self.row.get(column) {
            None => Err(self.fail(field, "the query's result has no such column")),
            Some(Value::Null) => Ok(None),
            Some(v) => Ok(Some(v)),
        }
    }

    /// Text, trimmed; empty text is absent.
    pub fn text(&self, field: &str) -> Result<Option<String>, FieldError> {
        Ok(self
            .value(field)?
            .and_then(Value::as_text)
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty()))
    }

    pub fn required_text(&self, field: &str) -> Result<String, FieldError> {
        self.text(field)?
            .ok_or_else(|| self.fail(field, "is empty"))
    }

    /// The field's code as the mapping turns it into Lifeline's value (a field without codes
    /// keeps the HIS's value). `None`: absent; `Some(Err)`: a code the mapping does not know.
    pub fn code(&self, field: &str) -> Result<Option<Result<String, String>>, FieldError> {
        let Some(raw) = self.text(field)? else {
            return Ok(None);
        };
        Ok(Some(match self.codes.get(field) {
            None => Ok(raw),
            Some(map) => map.get(&raw).cloned().ok_or(raw),
        }))
    }

    /// A coded field that must be present and known.
    pub fn required_code(&self, field: &str) -> Result<String, FieldError> {
        match self.code(field)? {
            None => Err(self.fail(field, "is empty")),
            Some(Ok(v)) => Ok(v),
            Some(Err(raw)) => {
                Err(self.fail(field, format!("the code {raw:?} is not in the mapping")))
            }
        }
    }

    /// An exact decimal; a float is refused (money must not pass through one).
    pub fn decimal(&self, field: &str) -> Result<Option<Decimal>, FieldError> {
        match self.value(field)? {
            None => Ok(None),
            Some(Value::Decimal(d)) => Ok(Some(*d)),
            Some(Value::Int(i)) => Ok(Some(Decimal::from_int(*i))),
            Some(Value::Text(t)) => t.parse().map(Some).map_err(|e| self.fail(field, e)),
            Some(v) => Err(self.fail(
                field,
                format!(
                    "{} is not an exact decimal (use NUMERIC, or cast to text)",
                    v.kind()
                ),
            )),
        }
    }

    /// Money in yuan as fen, by the mapping's rule for fractions of a fen. `rounded` counts
    /// the amounts rounded.
    pub fn money(
        &self,
        field: &str,
        rule: SubFen,
        rounded: &mut usize,
    ) -> Result<Option<Fen>, FieldError> {
        let Some(yuan) = self.decimal(field)? else {
            return Ok(None);
        };
        let converted = yuan_to_fen(yuan, rule).map_err(|e| self.fail(field, e))?;
        if converted.fen < Fen::ZERO {
            return Err(self.fail(field, format!("{yuan} is negative")));
        }
        if converted.rounded {
            *rounded += 1;
        }
        Ok(Some(converted.fen))
    }

    /// A count of units: a whole number from 1 to 100000.
    pub fn quantity(&self, field: &str) -> Result<u32, FieldError> {
        let d = self
            .decimal(field)?
            .ok_or_else(|| self.fail(field, "is empty"))?;
        d.whole()
            .and_then(|w| u32::try_from(w).ok())
            .filter(|q| (1..=100_000).contains(q))
            .ok_or_else(|| {
                self.fail(
                    field,
                    format!("{d} is not a whole quantity from 1 to 100000"),
                )
            })
    }

    /// A date: a date column, a timestamp's day, or `YYYY-MM-DD` text.
    pub fn date(&self, field: &str) -> Result<Option<Date>, FieldError> {
        match self.value(field)? {
            None => Ok(None),
            Some(Value::Date(d)) => Ok(Some(*d)),
            Some(Value::Timestamp(us)) => Ok(Some(Date::at(us.div_euclid(1000), 0))),
            Some(Value::Text(t)) => t
                .trim()
                .parse::<Date>()
                .map(Some)
                .map_err(|e| self.fail(field, e)),
            Some(v) => Err(self.fail(field, format!("{} is not a date", v.kind()))),
        }
    }

    /// A local timestamp of the HIS as milliseconds since the epoch.
    pub fn time_ms(&self, field: &str) -> Result<Option<UnixMs>, FieldError> {
        let local_us = match self.value(field)? {
            None => return Ok(None),
            Some(Value::Timestamp(us)) => *us,
            Some(Value::Date(d)) => d.days_since_epoch() * super::db::MICROS_PER_DAY,
            Some(v) => return Err(self.fail(field, format!("{} is not a timestamp", v.kind()))),
        };
        Ok(Some(
            local_us.div_euclid(1000) - i64::from(self.utc_offset_min) * 60_000,
        ))
    }

    /// The row's change mark, as the HIS orders its changes: a timestamp's microseconds or
    /// an integer version; `None` for anything else (nothing to order by).
    pub fn change_mark(&self, field: &str) -> Result<Option<i64>, FieldError> {
        Ok(match self.value(field)? {
            Some(Value::Timestamp(us)) => Some(*us),
            Some(Value::Int(version)) => Some(*version),
            _ => None,
        })
    }

    pub fn required_time_ms(&self, field: &str) -> Result<UnixMs, FieldError> {
        self.time_ms(field)?
            .ok_or_else(|| self.fail(field, "is empty"))
    }

    /// A boolean coded field (`true`/`false` after the mapping); `default` when absent.
    pub fn flag(&self, field: &str, default: bool) -> Result<bool, FieldError> {
        match self.code(field)? {
            None => Ok(default),
            Some(Ok(v)) if v == "true" => Ok(true),
            Some(Ok(v)) if v == "false" => Ok(false),
            Some(Ok(v) | Err(v)) => {
                Err(self.fail(field, format!("the code {v:?} is not in the mapping")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn row(values: Vec<(&str, Value)>) -> Row {
        Row {
            columns: Arc::new(values.iter().map(|(c, _)| (*c).to_owned()).collect()),
            values: values.into_iter().map(|(_, v)| v).collect(),
        }
    }

    #[test]
    fn fields_are_read_and_bad_values_named() {
        let r = row(vec![
            ("price", Value::Decimal("22.5250".parse().expect("d"))),
            ("neg", Value::Decimal("-1".parse().expect("d"))),
            ("f", Value::Float(1.5)),
            ("born", Value::Text("0000-00-00".into())),
            ("sex", Value::Text("1".into())),
            ("odd", Value::Text("7".into())),
            ("qty", Value::Decimal("2.00".parse().expect("d"))),
            ("half", Value::Decimal("1.50".parse().expect("d"))),
            ("at", Value::Timestamp(1_795_593_600_000_000)),
        ]);
        let columns: Columns = [
            ("price", "price"),
            ("negative", "neg"),
            ("float", "f"),
            ("birth_date", "born"),
            ("sex", "sex"),
            ("odd", "odd"),
            ("quantity", "qty"),
            ("half", "half"),
            ("at", "at"),
            ("missing", "nowhere"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
        let mut codes = Codes::new();
        codes.insert(
            "sex".into(),
            [("1".to_owned(), "male".to_owned())].into_iter().collect(),
        );
        codes.insert("odd".into(), Default::default());
        let f = Fields {
            row: &r,
            columns: &columns,
            codes: &codes,
            utc_offset_min: 480,
        };
        let mut rounded = 0;
        assert_eq!(
            f.money("price", SubFen::RoundHalfUp, &mut rounded),
            Ok(Some(Fen(2253)))
        );
        assert_eq!(rounded, 1);
        assert!(f.money("price", SubFen::Refuse, &mut rounded).is_err());
        let neg = f
            .money("negative", SubFen::Refuse, &mut rounded)
            .expect_err("negative");
        assert!(
            neg.contains("negative") && neg.contains("column neg"),
            "{neg}"
        );
        assert!(
            f.decimal("float")
                .expect_err("float")
                .contains("floating-point")
        );
        assert!(
            f.date("birth_date")
                .expect_err("0000-00-00")
                .contains("0000-00-00")
        );
        assert_eq!(f.required_code("sex"), Ok("male".into()));
        assert!(
            f.required_code("odd")
                .expect_err("unknown")
                .contains("\"7\"")
        );
        assert_eq!(f.quantity("quantity"), Ok(2));
        assert!(f.quantity("half").is_err());
        // 2026-11-25 08:00 local (UTC+8) is 00:00 UTC.
        assert_eq!(f.time_ms("at"), Ok(Some(1_795_564_800_000)));
        assert!(
            f.text("missing")
                .expect_err("no column")
                .contains("nowhere")
        );
        assert_eq!(f.text("unmapped"), Ok(None));
    }
}
