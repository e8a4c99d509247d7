//! The agent's settings, from `fulcrum.*` words on the kernel command
//! line (or the program's arguments).

use std::time::Duration;

/// What the agent was told at boot.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Fulcrum's boot listener, `http://ADDR:PORT` (no trailing slash).
    pub(crate) api: String,
    /// The MAC the machine booted from, lower case with colons.
    pub(crate) mac: String,
    /// How long to listen for LLDP frames (`fulcrum.lldp=SECONDS`).
    pub(crate) lldp_wait: Duration,
    /// How long to wait between questions when there is nothing to do.
    pub(crate) poll: Duration,
    /// Whether `fulcrum.poll` set it (then it wins over the server's
    /// suggestion).
    pub(crate) poll_set: bool,
    /// Where `/sys`, `/proc` and `/dev` are (`/`; tests point elsewhere).
    pub(crate) root: String,
    /// Report once and exit (`fulcrum.once=1`).
    pub(crate) once: bool,
}

/// A word the agent cannot use; names it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BadSetting(pub(crate) String);

impl std::fmt::Display for BadSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn seconds(key: &str, v: &str) -> Result<Duration, BadSetting> {
    v.parse::<u64>()
        .ok()
        .filter(|s| *s <= 3600)
        .map(Duration::from_secs)
        .ok_or_else(|| BadSetting(format!("{key}={v}: expected whole seconds, at most 3600")))
}

impl Settings {
    /// Reads `fulcrum.api`, `fulcrum.mac` (both required), `fulcrum.lldp`
    /// (default 31 s: one whole LLDP interval), `fulcrum.poll` (5 s),
    /// `fulcrum.root` and `fulcrum.once`; other words are ignored.
    pub(crate) fn from_words(words: &[String]) -> Result<Settings, BadSetting> {
        let (mut api, mut mac) = (None, None);
        let mut s = Settings {
            api: String::new(),
            mac: String::new(),
            lldp_wait: Duration::from_secs(31),
            poll: Duration::from_secs(5),
            poll_set: false,
            root: "/".into(),
            once: false,
        };
        for word in words {
            let Some((key, v)) = word.split_once('=') else { continue };
            match key {
                "fulcrum.api" => {
                    if !v.starts_with("http://") {
                        return Err(BadSetting(format!("fulcrum.api={v}: expected an http:// URL")));
                    }
                    api = Some(v.trim_end_matches('/').to_string());
                }
                "fulcrum.mac" => {
                    let m = v.to_ascii_lowercase().replace('-', ":");
                    let parts: Vec<&str> = m.split(':').collect();
                    if parts.len() != 6 || !parts.iter().all(|p| p.len() == 2 && u8::from_str_radix(p, 16).is_ok()) {
                        return Err(BadSetting(format!("fulcrum.mac={v}: expected a MAC address")));
                    }
                    mac = Some(m);
                }
                "fulcrum.lldp" => s.lldp_wait = seconds(key, v)?,
                "fulcrum.poll" => {
                    s.poll = seconds(key, v)?.max(Duration::from_secs(1));
                    s.poll_set = true;
                }
                "fulcrum.root" => s.root = v.to_string(),
                "fulcrum.once" => s.once = v == "1",
                _ => {}
            }
        }
        s.api = api.ok_or_else(|| BadSetting("no fulcrum.api= on the command line".into()))?;
        s.mac = mac.ok_or_else(|| BadSetting("no fulcrum.mac= on the command line".into()))?;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn reads_the_kernel_command_line() {
        let s = Settings::from_words(&words(
            "BOOT_IMAGE=vmlinuz console=ttyS0 fulcrum.api=http://10.0.0.1:8080/ fulcrum.mac=52-54-00-AB-CD-EF fulcrum.lldp=2",
        ))
        .unwrap();
        assert_eq!(s.api, "http://10.0.0.1:8080");
        assert_eq!(s.mac, "52:54:00:ab:cd:ef");
        assert_eq!(s.lldp_wait, Duration::from_secs(2));
        assert_eq!(s.poll, Duration::from_secs(5));
    }

    #[test]
    fn names_what_is_wrong() {
        let e = Settings::from_words(&words("fulcrum.mac=52:54:00:ab:cd:ef")).unwrap_err();
        assert_eq!(e.0, "no fulcrum.api= on the command line");
        let e = Settings::from_words(&words("fulcrum.api=http://x fulcrum.mac=zz")).unwrap_err();
        assert!(e.0.starts_with("fulcrum.mac=zz"), "{e}");
        let e = Settings::from_words(&words("fulcrum.api=https://x fulcrum.mac=52:54:00:ab:cd:ef")).unwrap_err();
        assert!(e.0.contains("http://"), "{e}");
        let e = Settings::from_words(&words("fulcrum.api=http://x fulcrum.mac=52:54:00:ab:cd:ef fulcrum.lldp=-1"))
            .unwrap_err();
        assert!(e.0.starts_with("fulcrum.lldp=-1"), "{e}");
    }
}
