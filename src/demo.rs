//! demo placeholder
pub async fn run(_n: u8) -> anyhow::Result<()> {
    Ok(())
}
