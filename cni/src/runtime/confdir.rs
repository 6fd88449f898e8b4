//! Loading network configurations from a directory the way runtimes do: files ending in
//! `.conf`, `.conflist` or `.json`, in lexical order; `.conflist` files are looked at first and
//! single-plugin files are lifted into one-plugin lists (CFG-19). Unless
//! `loadOnlyInlinedPlugins` is set, plugin objects from `<dir>/<network name>/*.conf` are
//! appended after the inlined ones (CFG-7).

use std::fs;
use std::path::{Path, PathBuf};

use crate::config::{validate_plugin_object, ConfigError, NetConfList};

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file or the directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// A file holds no valid configuration.
    #[error("{path}: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: ConfigError,
    },
    /// No file of the directory configures a network of that name.
    #[error("no network configuration named {name:?} in {dir}")]
    NotFound {
        /// The network asked for.
        name: String,
        /// The directory searched.
        dir: PathBuf,
    },
}

/// Configuration files of `dir` with one of `extensions`, sorted by file name.
pub fn conf_files(dir: &Path, extensions: &[&str]) -> Result<Vec<PathBuf>, LoadError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(LoadError::Io {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| extensions.contains(&e))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Reads one file: a `.conflist` as a list, anything else as a single config lifted into a list.
pub fn load_file(path: &Path) -> Result<NetConfList, LoadError> {
    let bytes = fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let invalid = |source| LoadError::Invalid {
        path: path.to_path_buf(),
        source,
    };
    let mut list = if path.extension().is_some_and(|e| e == "conflist") {
        crate::config::from_json::<NetConfList>(&bytes).map_err(invalid)?
    } else {
        NetConfList::from_single(&bytes).map_err(invalid)?
    };
    if !list.load_only_inlined_plugins {
        let extra_dir = path.parent().unwrap_or(Path::new(".")).join(&list.name);
        if crate::config::is_valid_identifier(&list.name) && extra_dir.is_dir() {
            let plugins = list.plugins.get_or_insert_with(Vec::new);
            for file in conf_files(&extra_dir, &["conf"])? {
                let raw = fs::read(&file).map_err(|source| LoadError::Io {
                    path: file.clone(),
                    source,
                })?;
                let obj: serde_json::Map<String, serde_json::Value> =
                    crate::config::from_json(&raw).map_err(|source| LoadError::Invalid {
                        path: file.clone(),
                        source,
                    })?;
                validate_plugin_object(&obj).map_err(|source| LoadError::Invalid {
                    path: file.clone(),
                    source,
                })?;
                plugins.push(obj);
            }
        }
    }
    if list.plugins().is_empty() && !list.load_only_inlined_plugins {
        list.plugins = Some(Vec::new());
    }
    list.validate().map_err(invalid)?;
    Ok(list)
}

/// Finds the network called `name` in `dir`: `.conflist` files first, then `.conf`/`.json`,
/// each in lexical order; the first file with that name wins (CFG-3).
pub fn load_by_name(dir: &Path, name: &str) -> Result<NetConfList, LoadError> {
    for exts in [&["conflist"][..], &["conf", "json"][..]] {
        for file in conf_files(dir, exts)? {
            // Files that do not parse are skipped while searching, as libcni does.
            let Ok(bytes) = fs::read(&file) else { continue };
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
                continue;
            };
            if v.get("name").and_then(|n| n.as_str()) == Some(name) {
                return load_file(&file);
            }
        }
    }
    Err(LoadError::NotFound {
        name: name.to_string(),
        dir: dir.to_path_buf(),
    })
}

/// One file of a directory and what loading it gave.
pub type LoadedFile = (PathBuf, Result<NetConfList, LoadError>);

/// Every loadable network of `dir`, in lexical file order, with the files that failed.
pub fn load_all(dir: &Path) -> Result<Vec<LoadedFile>, LoadError> {
    Ok(conf_files(dir, &["conf", "conflist", "json"])?
        .into_iter()
        .map(|p| {
            let r = load_file(&p);
            (p, r)
        })
        .collect())
}
