//! Shared by the fuzz targets that run a worker: the detection engine, built once per
//! process from the target's rules.

use std::sync::{Arc, OnceLock};

use sekimori::detect::rules::classification::Classifications;
use sekimori::detect::rules::{parse::parse_rule, Vars};
use sekimori::detect::Engine;

/// The engine for `rules` (the first call's rules; each fuzz binary has one set).
pub fn engine(rules: &[&str]) -> Arc<Engine> {
    static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let vars = Vars::suricata_defaults();
            let rules = rules
                .iter()
                .map(|r| parse_rule(r, &vars).unwrap())
                .collect();
            Arc::new(Engine::build(rules, &Classifications::bundled()).unwrap())
        })
        .clone()
}
