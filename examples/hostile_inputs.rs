//! Writes the hostile benchmark's inputs into a directory: one capture per attack, the rules
//! that make them expensive, and the configs and tuning files that stress rule loading.
//! `scripts/bench-hostile.sh` runs the sensor on each.
//!
//! Run: `cargo run --release --example hostile_inputs -- OUT_DIR`.

use std::path::PathBuf;

use sekimori::testgen::hostile;
use sekimori::testgen::synth::write_pcap;

const T0: i64 = 1_764_000_000_000_000;

fn main() -> std::io::Result<()> {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "hostile".into()));
    std::fs::create_dir_all(&out)?;
    let pcap = |name: &str, frames: Vec<(i64, Vec<u8>)>| write_pcap(&out.join(name), &frames);
    pcap(
        "syn-flood.pcap",
        hostile::syn_flood(1_000_000, T0, 2).collect(),
    )?;
    pcap(
        "fragment-flood.pcap",
        hostile::fragment_flood(200_000, T0, 5).collect(),
    )?;
    pcap(
        "pcre-stream.pcap",
        hostile::backtracking_stream(3000, 1400, T0),
    )?;
    pcap(
        "nul-flood.pcap",
        hostile::repeated_byte_stream(0, 3000, 1400, T0),
    )?;
    pcap("header-flood.pcap", hostile::header_flood(100_000, 20, T0))?;
    pcap(
        "overlap-flood.pcap",
        hostile::overlap_flood(12_000, 20, 1000, T0),
    )?;
    std::fs::write(out.join("hostile.rules"), hostile::BACKTRACKING_RULES)?;
    std::fs::write(
        out.join("home-net-1000.toml"),
        format!(
            "[vars.address]\nHOME_NET = \"{}\"\n",
            hostile::big_address_list(1000)
        ),
    )?;
    std::fs::write(out.join("tuning-100k.toml"), hostile::big_tuning(100_000))?;
    println!("wrote hostile inputs to {}", out.display());
    Ok(())
}
