//! `lifeline-fhir-r4-check DIR`: every line of every NDJSON file a Bulk Data manifest lists
//! parses as the R4 resource it says it is (required elements present, types right), passes
//! the model's primitive-format validation and writes back identically (so no element is
//! misspelled or unknown to R4). Exits 1 naming the first file, line and reason that fails.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use fhir_r4::resources::Resource;
use fhir_r4::validate::Validate;
use serde_json::Value;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: lifeline-fhir-r4-check DIR (a directory with manifest.json)");
        return ExitCode::from(2);
    };
    match check(&dir) {
        Ok(counts) => {
            let total: usize = counts.iter().map(|(_, n)| n).sum();
            let listed: Vec<String> = counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
            println!(
                "{}: {total} resources valid FHIR R4 ({})",
                dir.display(),
                listed.join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {e}", dir.display());
            ExitCode::FAILURE
        }
    }
}

/// Checks every file the manifest lists; answers the resource count per type.
fn check(dir: &Path) -> Result<Vec<(String, usize)>, String> {
    let manifest: Value = read_json(&dir.join("manifest.json"))?;
    let output = manifest["output"]
        .as_array()
        .ok_or("manifest.json has no `output` list")?;
    if output.is_empty() {
        return Err("manifest.json lists no files".into());
    }
    let mut counts = Vec::new();
    for file in output {
        let (Some(kind), Some(url)) = (file["type"].as_str(), file["url"].as_str()) else {
            return Err(format!("a manifest entry without type or url: {file}"));
        };
        let path = dir.join(url);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut n = 0;
        for (i, line) in text.lines().enumerate() {
            let at = format!("{url} line {}", i + 1);
            let json: Value =
                serde_json::from_str(line).map_err(|e| format!("{at}: not JSON: {e}"))?;
            if json["resourceType"] != kind {
                return Err(format!("{at}: resourceType is not {kind}"));
            }
            let parsed: Resource = serde_json::from_value(json.clone())
                .map_err(|e| format!("{at}: not a valid R4 {kind}: {e}\n{json:#}"))?;
            let issues = parsed.validate();
            if !issues.is_empty() {
                return Err(format!("{at}: {issues:?}\n{json:#}"));
            }
            let back = serde_json::to_value(&parsed).map_err(|e| format!("{at}: {e}"))?;
            if back != json {
                return Err(format!(
                    "{at}: does not write back the same (an element unknown to R4)\n\
                     read:    {json}\nwritten: {back}"
                ));
            }
            n += 1;
        }
        if file["count"].as_u64() != Some(n as u64) {
            return Err(format!(
                "{url} holds {n} lines, the manifest says {}",
                file["count"]
            ));
        }
        counts.push((kind.to_string(), n));
    }
    Ok(counts)
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))
}
