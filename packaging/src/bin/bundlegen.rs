//! `bundlegen`: writes the OLM bundle (`bundle/`, `bundle.Dockerfile`) generated from the chart.
//! Needs `HYPERFLEET_HELM_PYTHON` (`export HYPERFLEET_HELM_PYTHON=$(hack/helm-env.sh)`).

use std::process::ExitCode;

fn main() -> ExitCode {
    let files = match hyperfleet_packaging::bundle::generate() {
        Ok(files) => files,
        Err(err) => {
            eprintln!("bundlegen: {err}");
            return ExitCode::FAILURE;
        }
    };
    let root = hyperfleet_packaging::repo_root();
    for (path, content) in files {
        let path = root.join(path);
        if let Some(dir) = path.parent()
            && let Err(err) = std::fs::create_dir_all(dir)
        {
            eprintln!("bundlegen: {}: {err}", dir.display());
            return ExitCode::FAILURE;
        }
        if let Err(err) = std::fs::write(&path, content) {
            eprintln!("bundlegen: {}: {err}", path.display());
            return ExitCode::FAILURE;
        }
        println!("wrote {}", path.display());
    }
    ExitCode::SUCCESS
}
