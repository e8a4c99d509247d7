//! Just enough of ELF to tell a static program from one that needs a
//! dynamic loader (a `PT_INTERP` program header): the discovery image
//! carries no libraries.

/// Why a file is not a program the image can carry.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NotStatic {
    #[error("not a 64-bit little-endian ELF program")]
    NotElf,
    #[error("built for another machine (ELF e_machine {0}); the image is x86-64")]
    WrongMachine(u16),
    #[error("dynamically linked (it needs {0}); build it static")]
    Dynamic(String),
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// ELF `e_machine` for x86-64, the only machine the image is built for.
const EM_X86_64: u16 = 62;

/// Checks that `bytes` is a static x86-64 program. Every offset the file
/// gives is checked: a truncated or hostile file is `NotElf`, never a
/// panic.
pub(crate) fn check_static(bytes: &[u8]) -> Result<(), NotStatic> {
    if bytes.get(..6) != Some(b"\x7fELF\x02\x01") {
        return Err(NotStatic::NotElf);
    }
    let machine = u16_at(bytes, 0x12).ok_or(NotStatic::NotElf)?;
    if machine != EM_X86_64 {
        return Err(NotStatic::WrongMachine(machine));
    }
    let phoff = u64_at(bytes, 0x20).and_then(|o| usize::try_from(o).ok()).ok_or(NotStatic::NotElf)?;
    let size = usize::from(u16_at(bytes, 0x36).ok_or(NotStatic::NotElf)?);
    let count = usize::from(u16_at(bytes, 0x38).ok_or(NotStatic::NotElf)?);
    for i in 0..count {
        let h = i.checked_mul(size).and_then(|o| o.checked_add(phoff)).ok_or(NotStatic::NotElf)?;
        let kind = bytes.get(h..h.checked_add(4).ok_or(NotStatic::NotElf)?).ok_or(NotStatic::NotElf)?;
        if kind == 3u32.to_le_bytes() {
            // PT_INTERP: p_offset at +8, p_filesz at +32.
            let (off, len) = (u64_at(bytes, h + 8), u64_at(bytes, h + 32));
            let interp = off
                .zip(len)
                .and_then(|(o, l)| bytes.get(usize::try_from(o).ok()?..usize::try_from(o.checked_add(l)?).ok()?))
                .map(|s| String::from_utf8_lossy(s).trim_end_matches('\0').to_string())
                .unwrap_or_else(|| "a dynamic loader".into());
            return Err(NotStatic::Dynamic(interp));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_static_from_dynamic() {
        // This test program is dynamically linked; busybox-static is not.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(matches!(check_static(&me), Err(NotStatic::Dynamic(i)) if i.contains("ld-linux")));
        assert_eq!(check_static(b"#!/bin/sh\n"), Err(NotStatic::NotElf));
        assert_eq!(check_static(b"\x7fELF\x02\x01"), Err(NotStatic::NotElf));
        // Another machine (aarch64, 183) is named, not taken.
        let mut arm = me.clone();
        arm[0x12..0x14].copy_from_slice(&183u16.to_le_bytes());
        assert_eq!(check_static(&arm), Err(NotStatic::WrongMachine(183)));
        // Offsets that overflow are refused, not added.
        let mut hostile = me.clone();
        hostile[0x20..0x28].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(check_static(&hostile), Err(NotStatic::NotElf));
        if let Ok(b) = std::fs::read("/bin/busybox") {
            assert_eq!(check_static(&b), Ok(()));
        }
    }
}
