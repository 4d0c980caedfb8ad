//! `lifeline catalog import`: reference data from CSV, on central.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use serde_json::Value;

use crate::api::admin::CatalogCsv;

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Import drugs.csv, services.csv and departments.csv (any of them) into the catalogs.
    Import {
        #[arg(long, short = 'c', default_value = "node.toml")]
        config: PathBuf,
        #[arg(long)]
        drugs: Option<PathBuf>,
        #[arg(long)]
        services: Option<PathBuf>,
        #[arg(long)]
        departments: Option<PathBuf>,
    },
}

fn read(path: Option<PathBuf>) -> anyhow::Result<Option<String>> {
    path.map(|p| {
        std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))
    })
    .transpose()
}

pub fn run(cmd: CatalogCommand) -> anyhow::Result<()> {
    let CatalogCommand::Import {
        config,
        drugs,
        services,
        departments,
    } = cmd;
    let body = CatalogCsv {
        drugs_csv: read(drugs)?,
        services_csv: read(services)?,
        departments_csv: read(departments)?,
    };
    if body.drugs_csv.is_none() && body.services_csv.is_none() && body.departments_csv.is_none() {
        anyhow::bail!("nothing to import: give --drugs, --services and/or --departments");
    }
    let (_, client) = super::admin_client(&config)?;
    let answer: Value = client.post("/admin/catalog/import", &body)?;
    println!(
        "catalogs saved: drug catalog version {}, service catalog version {}",
        answer["value"]["drug_catalog_version"], answer["value"]["service_catalog_version"]
    );
    Ok(())
}
