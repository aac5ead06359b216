//! `crdgen`: prints every HyperFleet CRD as YAML, or with `--out DIR` (repeatable) writes one
//! `<plural>.yaml` per CRD into each DIR (what is committed under `crds/` and
//! `charts/hyperfleet/crds/`).

use std::{path::PathBuf, process::ExitCode};

fn usage() -> ExitCode {
    eprintln!(
        "usage: crdgen [--out DIR]...\n  prints every CRD as YAML, or writes DIR/<plural>.yaml into each DIR"
    );
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    let mut outs = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--out", Some(dir)) => outs.push(PathBuf::from(dir)),
            _ => return usage(),
        }
    }
    for crd in hyperfleet_crds::crds() {
        let yaml = match hyperfleet_crds::to_yaml(&crd) {
            Ok(yaml) => yaml,
            Err(err) => {
                eprintln!("crdgen: cannot render {}: {err}", crd.spec.names.plural);
                return ExitCode::FAILURE;
            }
        };
        if outs.is_empty() {
            print!("---\n{yaml}");
        }
        for dir in &outs {
            let path = dir.join(format!("{}.yaml", crd.spec.names.plural));
            if let Err(err) = std::fs::write(&path, &yaml) {
                eprintln!("crdgen: cannot write {}: {err}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
