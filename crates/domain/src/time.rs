//! Instants: UTC only, stored as integer microseconds since the Unix epoch, shown as RFC 3339.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A UTC instant with microsecond precision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_unix_micros(micros: i64) -> Self {
        Self(micros)
    }

    pub const fn unix_micros(self) -> i64 {
        self.0
    }

    /// This instant plus `seconds`, saturating at the representable range.
    pub fn plus_seconds(self, seconds: i64) -> Self {
        Self(self.0.saturating_add(seconds.saturating_mul(1_000_000)))
    }

    /// This instant plus `micros`, saturating at the representable range.
    pub fn plus_micros(self, micros: i64) -> Self {
        Self(self.0.saturating_add(micros))
    }

    /// The calendar year in UTC.
    pub fn year(self) -> i16 {
        self.to_rfc3339()
            .get(..4)
            .and_then(|y| y.parse().ok())
            .unwrap_or(1970)
    }

    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000;
        OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| "invalid-timestamp".to_owned())
    }

    pub fn parse_rfc3339(value: &str) -> Option<Self> {
        let parsed = OffsetDateTime::parse(value, &Rfc3339).ok()?;
        let micros = parsed.unix_timestamp_nanos() / 1_000;
        i64::try_from(micros).ok().map(Self)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse_rfc3339(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("'{text}' is not an RFC 3339 timestamp"))
        })
    }
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::DateTime,
            )))
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

/// The source of "now". Production uses the system clock; tests inject a manual one so that
/// expiry, scheduling and retention can be driven deterministically.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Timestamp;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000;
        Timestamp(i64::try_from(nanos).unwrap_or(i64::MAX))
    }
}

/// A clock that only moves when told to.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self(Arc::new(AtomicI64::new(start.0)))
    }

    pub fn advance_seconds(&self, seconds: i64) {
        self.0
            .fetch_add(seconds.saturating_mul(1_000_000), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_with_microseconds() {
        let t = Timestamp::from_unix_micros(1_764_000_000_123_456);
        let text = t.to_rfc3339();
        assert_eq!(text, "2025-11-24T16:00:00.123456Z");
        assert_eq!(Timestamp::parse_rfc3339(&text), Some(t));
        assert_eq!(Timestamp::parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let clock = ManualClock::new(Timestamp::from_unix_micros(0));
        assert_eq!(clock.now().unix_micros(), 0);
        clock.advance_seconds(90);
        assert_eq!(clock.now().unix_micros(), 90_000_000);
    }
}
