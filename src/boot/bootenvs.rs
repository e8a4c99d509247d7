//! The boot environments compiled into the binary (`bootenvs/*.toml`) and
//! their seeding into the store at start-up. A shipped bootenv is added
//! only when no bootenv of that name exists, so an operator's edits win.

use crate::state::model::Bootenv;
use crate::state::{State, StateError};

/// `(file name, text)` of every shipped bootenv.
const SHIPPED: [(&str, &str); 3] = [
    ("local.toml", include_str!("../../bootenvs/local.toml")),
    ("discovery.toml", include_str!("../../bootenvs/discovery.toml")),
    ("ubuntu-24.04.toml", include_str!("../../bootenvs/ubuntu-24.04.toml")),
];

/// Parses the shipped bootenvs.
pub fn shipped() -> Result<Vec<Bootenv>, String> {
    SHIPPED
        .iter()
        .map(|(file, text)| toml::from_str::<Bootenv>(text).map_err(|e| format!("bootenvs/{file}: {e}")))
        .collect()
}

/// Adds every shipped bootenv the store does not have yet, in one write.
pub async fn seed(state: &State) -> Result<usize, StateError> {
    let envs = shipped().map_err(StateError::store)?;
    for env in &envs {
        super::render::validate(env)?;
    }
    state
        .write(move |txn| {
            let mut added = 0;
            for env in envs {
                if txn.world().bootenv(&env.name).is_none() {
                    txn.put_bootenv(env)?;
                    added += 1;
                }
            }
            Ok(added)
        })
        .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn shipped_bootenvs_parse_and_compile() {
        let envs = super::shipped().unwrap();
        let names: Vec<&str> = envs.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["local", "discovery", "ubuntu-24.04"]);
        for env in &envs {
            crate::boot::render::validate(env).unwrap();
        }
    }
}
