//! `lifeline export fhir --episode ID --out DIR`: an emergency episode as FHIR R4 NDJSON files
//! in the Bulk Data layout (one file per resource type and a manifest).

use std::path::PathBuf;

use clap::Subcommand;

use crate::fhir::{self, Export};
use crate::i18n::width::pad;
use crate::i18n::{Lang, tr};

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Patient, Encounter, MedicationRequest, ChargeItem, Invoice and Provenance resources of
    /// one episode, each tagged with it.
    Fhir {
        #[arg(long, short = 'c', default_value = "node.toml")]
        config: PathBuf,
        /// The episode's id (YJ-...).
        #[arg(long)]
        episode: String,
        /// The directory to write the files into (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run(cmd: ExportCommand, l: Lang) -> anyhow::Result<()> {
    let ExportCommand::Fhir {
        config,
        episode,
        out,
    } = cmd;
    let (config, client) = super::admin_client(&config)?;
    let export: Export = client.get(&format!("/admin/export/fhir?episode={}", episode.trim()))?;
    let manifest = fhir::write(&export, &out, config.hospital.utc_offset)?;
    for f in &manifest.output {
        let count = tr(l, "cli-export-resources", &[("n", f.count.into())]);
        println!(
            "{} {}  {}",
            pad(&f.kind, 20),
            crate::i18n::width::pad_left(&count, 12),
            out.join(&f.url).display()
        );
    }
    let manifest = out.join("manifest.json").display().to_string();
    println!(
        "{}",
        tr(l, "cli-export-manifest", &[("path", manifest.into())])
    );
    Ok(())
}
