//! Client subcommands for DNS: operator records, the zones and their
//! serials, and what Fulcrum would answer to a name now.

use clap::Subcommand;
use reqwest::Method;

use super::client::Client;
use super::{print, table};
use crate::api::wire::dns::{AnswerView, NewRecord, RecordView, ZoneView};

/// `fulcrum dns ...`
#[derive(Debug, Subcommand)]
pub(crate) enum DnsCmd {
    /// Operator records (names that are not nodes).
    #[command(subcommand)]
    Record(RecordCmd),
    /// The zones Fulcrum serves and their serials.
    Zones,
    /// What Fulcrum would answer to NAME now.
    Show {
        name: String,
        /// The record type asked for.
        #[arg(long = "type", default_value = "A")]
        qtype: String,
    },
}

/// `fulcrum dns record ...`
#[derive(Debug, Subcommand)]
pub(crate) enum RecordCmd {
    /// List operator records.
    List,
    /// Add a record: `add vip.cluster.example A 10.0.0.5`, `add www.cluster.example
    /// CNAME vip.cluster.example`, `add _ldap._tcp.cluster.example SRV 0 5 389 ldap.cluster.example`,
    /// `add cluster.example MX 10 mail.cluster.example`, `add cluster.example TXT "v=spf1 -all"`.
    Add {
        name: String,
        /// A, AAAA, CNAME, SRV, TXT or MX.
        #[arg(value_name = "TYPE")]
        rtype: String,
        /// The type's data, as in a zone file.
        #[arg(required = true, num_args = 1..)]
        data: Vec<String>,
        /// TTL in seconds (default: the server's).
        #[arg(long)]
        ttl: Option<u32>,
    },
    /// Delete a record by id.
    Delete { id: String },
}

/// The record body for TYPE and its zone-file data, as JSON the API parses
/// (its error names the field).
fn body(name: String, rtype: &str, data: &[String], ttl: Option<u32>) -> anyhow::Result<NewRecord> {
    let t = rtype.to_ascii_uppercase();
    let want = |n: usize, form: &str| -> anyhow::Result<()> {
        anyhow::ensure!(data.len() == n, "{t} takes {form}");
        Ok(())
    };
    let num = |s: &str, what: &str| -> anyhow::Result<u64> {
        s.parse().map_err(|_| anyhow::anyhow!("{t}: {what} `{s}` is not a number"))
    };
    let fields = match t.as_str() {
        "A" | "AAAA" => {
            want(1, "one address")?;
            serde_json::json!({"address": data[0]})
        }
        "CNAME" => {
            want(1, "one target name")?;
            serde_json::json!({"target": data[0]})
        }
        "MX" => {
            want(2, "PREFERENCE EXCHANGE")?;
            serde_json::json!({"preference": num(&data[0], "preference")?, "exchange": data[1]})
        }
        "SRV" => {
            want(4, "PRIORITY WEIGHT PORT TARGET")?;
            serde_json::json!({
                "priority": num(&data[0], "priority")?, "weight": num(&data[1], "weight")?,
                "port": num(&data[2], "port")?, "target": data[3],
            })
        }
        "TXT" => serde_json::json!({"text": data}),
        other => anyhow::bail!("`{other}` is not a type Fulcrum serves; use A, AAAA, CNAME, SRV, TXT or MX"),
    };
    let mut v = fields;
    v["name"] = name.into();
    v["type"] = t.clone().into();
    if let Some(ttl) = ttl {
        v["ttl"] = ttl.into();
    }
    serde_json::from_value(v).map_err(|e| anyhow::anyhow!("{t}: {e}"))
}

fn record_table(rs: &[RecordView]) -> String {
    table::render(&["ID", "RECORD"], rs, |r| vec![r.id.clone(), r.line.clone()])
}

fn answer_text(a: &AnswerView) -> String {
    let mut out =
        format!("{} {}: {}{}\n", a.name, a.qtype, a.rcode, if a.authoritative { " (authoritative)" } else { "" });
    for (section, lines) in [("answer", &a.answer), ("authority", &a.authority), ("additional", &a.additional)] {
        if !lines.is_empty() {
            out.push_str(&format!(";; {section}\n"));
            for l in lines {
                out.push_str(l);
                out.push('\n');
            }
        }
    }
    out.trim_end().to_string()
}

/// Runs `fulcrum dns ...`.
pub(crate) async fn dns(c: &Client, json_out: bool, cmd: DnsCmd) -> anyhow::Result<()> {
    match cmd {
        DnsCmd::Record(RecordCmd::List) => {
            print(json_out, &c.get::<Vec<RecordView>>("/api/v1/dns/records").await?, |v| record_table(v))
        }
        DnsCmd::Record(RecordCmd::Add { name, rtype, data, ttl }) => {
            let b = body(name, &rtype, &data, ttl)?;
            let r = c.send::<_, RecordView>(Method::POST, "/api/v1/dns/records", Some(&b)).await?;
            print(json_out, &r, |r| record_table(std::slice::from_ref(r)))
        }
        DnsCmd::Record(RecordCmd::Delete { id }) => {
            c.send_empty(Method::DELETE, &format!("/api/v1/dns/records/{id}")).await?;
            if !json_out {
                println!("deleted record {id}");
            }
        }
        DnsCmd::Zones => print(json_out, &c.get::<Vec<ZoneView>>("/api/v1/dns/zones").await?, |v| {
            table::render(&["ZONE", "SERIAL"], v, |z| vec![z.zone.clone(), z.serial.to_string()])
        }),
        DnsCmd::Show { name, qtype } => {
            let q = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
            let a = c.get::<AnswerView>(&format!("/api/v1/dns/answer?name={}&type={}", q(&name), q(&qtype))).await?;
            print(json_out, &a, answer_text)
        }
    }
    Ok(())
}
