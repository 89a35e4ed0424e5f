//! placeholder
pub fn run(_smoke: bool) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
