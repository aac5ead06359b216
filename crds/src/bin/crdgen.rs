//! `crdgen`: prints every HyperFleet CRD as YAML, or with `--out DIR` writes one
//! `<plural>.yaml` per CRD there (what is committed under `crds/`).

use std::{path::PathBuf, process::ExitCode};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let out = match (args.next().as_deref(), args.next()) {
        (None, _) => None,
        (Some("--out"), Some(dir)) => Some(PathBuf::from(dir)),
        _ => {
            eprintln!("usage: crdgen [--out DIR]\n  prints every CRD as YAML, or writes DIR/<plural>.yaml");
            return ExitCode::FAILURE;
        }
    };
    for crd in hyperfleet_crds::crds() {
        let yaml = match hyperfleet_crds::to_yaml(&crd) {
            Ok(yaml) => yaml,
            Err(err) => {
                eprintln!("crdgen: cannot render {}: {err}", crd.spec.names.plural);
                return ExitCode::FAILURE;
            }
        };
        match &out {
            None => print!("---\n{yaml}"),
            Some(dir) => {
                let path = dir.join(format!("{}.yaml", crd.spec.names.plural));
                if let Err(err) = std::fs::write(&path, yaml) {
                    eprintln!("crdgen: cannot write {}: {err}", path.display());
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    ExitCode::SUCCESS
}
