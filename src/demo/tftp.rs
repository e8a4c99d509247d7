//! A minimal TFTP read client (RFC 1350 with the blksize and tsize options
//! of RFC 2347-2349), just enough for the demo's simulated firmware to
//! fetch its loader the way a PXE ROM does. Tests use real clients.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use tokio::net::UdpSocket;
use tokio::time::timeout;

/// What a download brought back.
pub(crate) struct Download {
    pub(crate) bytes: Vec<u8>,
    pub(crate) tsize: Option<u64>,
    pub(crate) blksize: u16,
}

fn rrq(file: &str, blksize: u16) -> Vec<u8> {
    let mut p = vec![0, 1];
    for part in [file, "octet", "blksize", &blksize.to_string(), "tsize", "0"] {
        p.extend_from_slice(part.as_bytes());
        p.push(0);
    }
    p
}

fn ack(block: u16) -> [u8; 4] {
    let b = block.to_be_bytes();
    [0, 4, b[0], b[1]]
}

/// Reads `file` from `server`, sending from `local`.
pub(crate) async fn fetch(local: SocketAddr, server: SocketAddr, file: &str, blksize: u16) -> anyhow::Result<Download> {
    let sock = UdpSocket::bind(local).await.context("tftp client bind")?;
    sock.send_to(&rrq(file, blksize), server).await?;
    let mut out = Download { bytes: Vec::new(), tsize: None, blksize: 512 };
    let mut expect: u16 = 1;
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, peer) = timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
            .await
            .map_err(|_| anyhow!("tftp: no answer from {server} for {file}"))??;
        let pkt = &buf[..n];
        let opcode = u16::from_be_bytes([*pkt.first().unwrap_or(&0), *pkt.get(1).unwrap_or(&0)]);
        match opcode {
            6 => {
                let fields: Vec<&[u8]> = pkt[2..].split(|b| *b == 0).collect();
                for pair in fields.chunks(2) {
                    if let [k, v] = pair {
                        let (k, v) =
                            (String::from_utf8_lossy(k).to_lowercase(), String::from_utf8_lossy(v).to_string());
                        match k.as_str() {
                            "blksize" => out.blksize = v.parse().context("blksize in OACK")?,
                            "tsize" => out.tsize = Some(v.parse().context("tsize in OACK")?),
                            _ => {}
                        }
                    }
                }
                sock.send_to(&ack(0), peer).await?;
            }
            3 if n >= 4 => {
                let block = u16::from_be_bytes([pkt[2], pkt[3]]);
                if block == expect {
                    out.bytes.extend_from_slice(&pkt[4..]);
                    expect = expect.wrapping_add(1);
                }
                sock.send_to(&ack(block), peer).await?;
                if n - 4 < usize::from(out.blksize) {
                    return Ok(out);
                }
            }
            5 => bail!(
                "tftp error for {file}: {}",
                String::from_utf8_lossy(pkt.get(4..).unwrap_or_default()).trim_end_matches('\0')
            ),
            _ => bail!("tftp: unexpected packet (opcode {opcode})"),
        }
    }
}
