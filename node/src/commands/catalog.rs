//! `lifeline catalog import`: reference data from CSV, on central.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use serde_json::Value;

use super::ca::path_words;
use crate::api::admin::CatalogCsv;
use crate::i18n::{Lang, t, tr};

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

fn read(path: Option<PathBuf>, l: Lang) -> anyhow::Result<Option<String>> {
    path.map(|p| std::fs::read_to_string(&p).with_context(|| path_words(l, "cli-cannot-read", &p)))
        .transpose()
}

pub fn run(cmd: CatalogCommand, l: Lang) -> anyhow::Result<()> {
    let CatalogCommand::Import {
        config,
        drugs,
        services,
        departments,
    } = cmd;
    let body = CatalogCsv {
        drugs_csv: read(drugs, l)?,
        services_csv: read(services, l)?,
        departments_csv: read(departments, l)?,
    };
    if body.drugs_csv.is_none() && body.services_csv.is_none() && body.departments_csv.is_none() {
        anyhow::bail!("{}", t(l, "cli-catalog-nothing"));
    }
    let (_, client) = super::admin_client(&config)?;
    let answer: Value = client.post("/admin/catalog/import", &body)?;
    println!(
        "{}",
        tr(
            l,
            "cli-catalog-saved",
            &[
                (
                    "drugs",
                    answer["value"]["drug_catalog_version"].to_string().into()
                ),
                (
                    "services",
                    answer["value"]["service_catalog_version"]
                        .to_string()
                        .into()
                ),
            ],
        )
    );
    Ok(())
}
