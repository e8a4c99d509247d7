//! The one set of naming rules: record names (networks, bootenvs, roles,
//! deployments), node FQDNs, DNS domains and interface names. Every domain
//! and the config check names here, so a name is accepted or refused the
//! same way wherever it appears.

use super::field::FieldError;

/// Longest record name.
const NAME_MAX: usize = 63;
/// Longest DNS name (RFC 1035 section 2.3.4, without the trailing dot).
const FQDN_MAX: usize = 253;
/// Longest DNS label.
const LABEL_MAX: usize = 63;
/// Longest Linux interface name (IFNAMSIZ - 1).
const IFNAME_MAX: usize = 15;

/// A record name: 1 to 63 of `A-Z a-z 0-9 - _ .`, starting with a letter
/// or digit, so that it is safe in URLs, file names and tables.
pub(crate) fn check_name(field: &str, name: &str) -> Result<(), FieldError> {
    let ok = (1..=NAME_MAX).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("`{name}` must be 1-{NAME_MAX} characters of a-z, 0-9, '-', '_' or '.', starting with a letter or digit"),
        ))
    }
}

/// Why `labels` is not a DNS name, if it is not one: lower-case letters,
/// digits and inner hyphens, 1 to 63 characters a label.
fn label_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() || name.len() > FQDN_MAX {
        return Some("length must be 1..=253");
    }
    if name != name.to_ascii_lowercase() {
        return Some("must be lower-case");
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > LABEL_MAX {
            return Some("each label must be 1..=63 characters");
        }
        if !label.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return Some("only a-z, 0-9 and '-' are allowed");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Some("a label may not start or end with '-'");
        }
    }
    None
}

/// A node's fully qualified name: a DNS name of at least two labels, as
/// stored (lower-case, no trailing dot).
pub(crate) fn check_fqdn(field: &str, name: &str) -> Result<(), FieldError> {
    let why = label_problem(name).or_else(|| (!name.contains('.')).then_some("needs a domain (at least two labels)"));
    match why {
        None => Ok(()),
        Some(why) => Err(FieldError::new(field, format!("`{name}` is not a valid FQDN: {why}"))),
    }
}

/// A DNS domain a network's nodes are named in (one label or more).
pub(crate) fn check_domain(field: &str, domain: &str) -> Result<(), FieldError> {
    // Room for at least a one-letter host in front of it.
    match label_problem(domain).or_else(|| (domain.len() > FQDN_MAX - 2).then_some("too long for any host name")) {
        None => Ok(()),
        Some(why) => Err(FieldError::new(field, format!("`{domain}` is not a valid DNS domain: {why}"))),
    }
}

/// A network interface name as Linux allows it.
pub(crate) fn check_interface(field: &str, name: &str) -> Result<(), FieldError> {
    let ok = (1..=IFNAME_MAX).contains(&name.len())
        && !name.contains(['/', ':'])
        && !name.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(field, format!("`{name}` is not an interface name")))
    }
}

/// A boot loader's file name under the TFTP root (`ipxe.efi`,
/// `x86_64/snponly.efi`): 1 to 128 characters of letters, digits and
/// `._-/`, relative, no `..`.
pub(crate) fn check_loader(field: &str, name: &str) -> Result<(), FieldError> {
    let chars_ok = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'));
    let ok = (1..=128).contains(&name.len())
        && chars_ok
        && !name.starts_with('/')
        && name.split('/').all(|part| !part.is_empty() && part != "..");
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(field, format!("`{name}` is not a loader file name under the TFTP root (like `ipxe.efi`)")))
    }
}

/// A node param's name: a lower-case letter, then up to 63 lower-case
/// letters, digits and `_`, so templates can say `params.ssh_key`.
pub(crate) fn check_param(field: &str, name: &str) -> Result<(), FieldError> {
    let mut chars = name.chars();
    let ok = name.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("`{name}` is not a param name (a lower-case letter, then letters, digits and `_`, at most 64)"),
        ))
    }
}

/// The host part (first label) of an FQDN.
pub(crate) fn host_part(fqdn: &str) -> &str {
    fqdn.split('.').next().unwrap_or(fqdn)
}

/// The proper ancestors of a DNS name, nearest first: `a.b.example`
/// gives `b.example`, `example`.
pub(crate) fn ancestors(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices('.').map(move |(i, _)| &name[i + 1..])
}

/// How many names lie below each name: what tells an empty non-terminal
/// (a name with nothing of its own but names under it, which DNS answers
/// with NODATA, not NXDOMAIN) from a name that does not exist. A
/// persistent map, so an index holding it clones in O(1).
#[derive(Clone, Debug, Default)]
pub(crate) struct Descendants(imbl::HashMap<String, u32>);

impl Descendants {
    /// `name` was added.
    pub(crate) fn add(&mut self, name: &str) {
        for a in ancestors(name) {
            *self.0.entry(a.to_string()).or_insert(0) += 1;
        }
    }

    /// `name` was removed.
    pub(crate) fn remove(&mut self, name: &str) {
        for a in ancestors(name) {
            match self.0.get(a).copied() {
                Some(n) if n > 1 => {
                    self.0.insert(a.to_string(), n - 1);
                }
                Some(_) => {
                    self.0.remove(a);
                }
                None => {}
            }
        }
    }

    /// Whether any name lies below `name`.
    pub(crate) fn has_below(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}
