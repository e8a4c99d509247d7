//! OpenAPI schemas for the value types whose JSON is a string: the
//! standard library's and ipnet's addresses (which `build.rs` aliases to
//! the markers here, since their crates cannot implement utoipa's traits),
//! and a helper for this crate's own string-valued types.

use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::RefOr;

/// A string schema with a description, and a pattern or format where one
/// is worth checking.
pub(crate) fn text(description: &str, pattern: Option<&str>, format: Option<KnownFormat>) -> RefOr<Schema> {
    let mut b = ObjectBuilder::new().schema_type(Type::String).description(Some(description));
    if let Some(p) = pattern {
        b = b.pattern(Some(p));
    }
    if let Some(f) = format {
        b = b.format(Some(SchemaFormat::KnownFormat(f)));
    }
    RefOr::T(Schema::Object(b.build()))
}

/// Declares a marker whose schema is a string with the given description,
/// pattern and format.
macro_rules! string_schema {
    ($(#[$doc:meta])* $name:ident, $description:expr, $pattern:expr, $format:expr) => {
        $(#[$doc])*
        pub(crate) struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                text($description, $pattern, $format)
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

string_schema!(
    /// `std::net::Ipv4Addr`.
    Ipv4,
    "An IPv4 address.",
    None,
    Some(KnownFormat::Ipv4)
);
string_schema!(
    /// `std::net::Ipv6Addr`.
    Ipv6,
    "An IPv6 address.",
    None,
    Some(KnownFormat::Ipv6)
);
string_schema!(
    /// A request body of raw bytes (an ISO).
    Binary,
    "Raw bytes.",
    None,
    Some(KnownFormat::Binary)
);
string_schema!(
    /// `std::net::IpAddr`.
    IpAddress,
    "An IPv4 or IPv6 address.",
    None,
    None
);
string_schema!(
    /// `ipnet::Ipv4Net`.
    Ipv4Subnet,
    "An IPv4 network in CIDR notation (`10.0.0.0/24`).",
    Some(r"^[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}$"),
    None
);
/// Gives one of this crate's string-valued types (its JSON is its
/// `Display`) a string schema: `string_valued!(Mac, "...", Some(pattern))`.
macro_rules! string_valued {
    ($ty:ty, $description:expr, $pattern:expr) => {
        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::types::schema::text($description, $pattern, None)
            }
        }

        impl utoipa::ToSchema for $ty {}
    };
}
pub(crate) use string_valued;
