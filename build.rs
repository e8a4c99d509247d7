//! Build script: tells utoipa's derives (through `utoipa-config`) which
//! schema to use for address types from crates that cannot implement
//! utoipa's traits (the markers live in `src/types/schema.rs`), and what a
//! type alias the derives cannot see through stands for.

fn main() {
    utoipa_config::Config::new()
        .alias_for("Ipv4Addr", "crate::types::schema::Ipv4")
        .alias_for("Ipv6Addr", "crate::types::schema::Ipv6")
        .alias_for("IpAddr", "crate::types::schema::IpAddress")
        .alias_for("Ipv4Net", "crate::types::schema::Ipv4Subnet")
        // The engine's attribute maps: any JSON under each key.
        .alias_for("Attribs", "std::collections::BTreeMap<String, serde_json::Value>")
        .write_to_file();
    println!("cargo::rerun-if-changed=build.rs");
}
