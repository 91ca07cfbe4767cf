//! Event time: UTC microseconds since the Unix epoch, parsed from the many
//! shapes gateways write (seconds, milliseconds, microseconds, RFC 3339).

use std::fmt;

/// An instant in event time, UTC, microsecond resolution.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct EventTime(pub i64);

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TimeError {
    #[error("timestamp {0:?} is not RFC 3339 nor a number")]
    Unparsable(String),
    #[error("timestamp {0} is out of range")]
    OutOfRange(f64),
}

impl EventTime {
    pub const MIN: EventTime = EventTime(i64::MIN);
    pub const MAX: EventTime = EventTime(i64::MAX);

    pub fn from_secs(s: i64) -> Self {
        EventTime(s.saturating_mul(1_000_000))
    }
    pub fn as_secs(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }
    pub fn as_millis(self) -> i64 {
        self.0.div_euclid(1_000)
    }
    pub fn plus_secs(self, s: i64) -> Self {
        EventTime(self.0.saturating_add(s.saturating_mul(1_000_000)))
    }
    pub fn minus_secs(self, s: i64) -> Self {
        EventTime(self.0.saturating_sub(s.saturating_mul(1_000_000)))
    }
    /// Seconds from `self` to `later` (may be negative), as a float.
    pub fn secs_until(self, later: EventTime) -> f64 {
        (later.0 as f64 - self.0 as f64) / 1e6
    }

    /// A numeric epoch timestamp; the unit is chosen by magnitude (seconds up
    /// to year 5138, then milliseconds, microseconds, nanoseconds).
    pub fn from_epoch_number(n: f64) -> Result<Self, TimeError> {
        if !n.is_finite() || n < 0.0 {
            return Err(TimeError::OutOfRange(n));
        }
        let micros = if n < 1e11 {
            n * 1e6
        } else if n < 1e14 {
            n * 1e3
        } else if n < 1e17 {
            n
        } else if n < 1e20 {
            n / 1e3
        } else {
            return Err(TimeError::OutOfRange(n));
        };
        Ok(EventTime(micros.round() as i64))
    }

    /// RFC 3339 (`2026-11-29T10:00:00.123Z`, offsets allowed), or a number
    /// written as a string.
    ///
    /// ```
    /// use tokenhound::model::EventTime;
    /// let a = EventTime::parse("2026-11-02T09:00:00+01:00").unwrap();
    /// let b = EventTime::parse("1793606400000").unwrap(); // epoch ms
    /// assert_eq!(a, b);
    /// assert_eq!(a.to_rfc3339(), "2026-11-02T08:00:00.000Z");
    /// ```
    pub fn parse(s: &str) -> Result<Self, TimeError> {
        let t = s.trim();
        if let Ok(n) = t.parse::<f64>() {
            return Self::from_epoch_number(n);
        }
        chrono::DateTime::parse_from_rfc3339(t)
            .map(|d| EventTime(d.timestamp_micros()))
            .map_err(|_| TimeError::Unparsable(truncate(s, 64)))
    }

    /// RFC 3339 with millisecond precision, UTC.
    pub fn to_rfc3339(self) -> String {
        match chrono::DateTime::from_timestamp_micros(self.0) {
            Some(d) => d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            None => format!("@{}us", self.0),
        }
    }
}

impl fmt::Debug for EventTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl fmt::Display for EventTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// Cut a string for an error message, on a char boundary.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_by_magnitude() {
        let s = EventTime::from_epoch_number(1_700_000_000.0).unwrap();
        let ms = EventTime::from_epoch_number(1_700_000_000_000.0).unwrap();
        let us = EventTime::from_epoch_number(1_700_000_000_000_000.0).unwrap();
        let ns = EventTime::from_epoch_number(1_700_000_000_000_000_000.0).unwrap();
        assert_eq!(s, ms);
        assert_eq!(ms, us);
        assert_eq!(us, ns);
        assert_eq!(s.as_secs(), 1_700_000_000);
        let frac = EventTime::from_epoch_number(1_700_000_000.25).unwrap();
        assert_eq!(frac.0 - s.0, 250_000);
    }

    #[test]
    fn rfc3339_and_errors() {
        let t = EventTime::parse("2023-11-14T22:13:20.5+01:00").unwrap();
        assert_eq!(t.0, 1_699_996_400_500_000);
        assert_eq!(t.to_rfc3339(), "2023-11-14T21:13:20.500Z");
        assert!(matches!(EventTime::parse("yesterday"), Err(TimeError::Unparsable(_))));
        assert!(EventTime::from_epoch_number(-1.0).is_err());
        assert!(EventTime::from_epoch_number(f64::NAN).is_err());
    }
}
