//! Images Fulcrum builds for the machines it boots, on the admin node,
//! from Debian packages only: today the discovery image (kernel,
//! initramfs with busybox, the NIC and disk drivers, and the agent).
//!
//! - [`discovery`]: `fulcrum image build discovery`;
//! - [`archive`]: a reproducible gzip'd newc initramfs from a directory;
//! - [`elf`]: whether a program is static (the image has no libraries).

pub(crate) mod archive;
pub(crate) mod discovery;
pub(crate) mod elf;
