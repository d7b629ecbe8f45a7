//! The on-disk cache of compiled components: in a per-user cache directory, each compiled
//! form named by a hash of the component's bytes and of the engine's settings, pruned to the
//! newest few of each name.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::Error;

/// Names the directory for compiled forms, instead of the per-user default.
pub(crate) const CACHE_DIR_ENV: &str = "ALORE_SOCKET_CACHE_DIR";

/// Where compiled forms are kept: `$ALORE_SOCKET_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/alore-socket`, else `$HOME/.cache/alore-socket`; `None` (compile every
/// time) when none is set. Never beside a component, whose directory the user may not own.
pub(crate) fn user_cache_dir() -> Option<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var(CACHE_DIR_ENV)
        .or_else(|| var("XDG_CACHE_HOME").map(|dir| dir.join("alore-socket")))
        .or_else(|| var("HOME").map(|home| home.join(".cache").join("alore-socket")))
}

/// Compile `wasm` (`what` names it in errors), or load its compiled form from `dir`, where it
/// is `NAME.HASH.cwasm`. The hash is a SHA-256 of the component's bytes and of the engine's
/// compatibility hash (wasmtime version, target, settings), so a rebuilt component or a new
/// wasmtime misses.
pub(crate) fn load_cached(
    engine: &Engine,
    dir: Option<&Path>,
    name: &str,
    what: &str,
    wasm: &[u8],
) -> Result<Component, Error> {
    let cache = dir.map(|dir| cache_path(engine, &dir.join(name), wasm));
    if let Some(compiled) = cache.as_ref().and_then(|cache| std::fs::read(cache).ok()) {
        // SAFETY: wasmtime requires these bytes to be the unmodified output of
        // `precompile_component` by a compatible engine. This file was written only by the
        // code below, from `engine.precompile_component`, under a temporary name and then
        // renamed into place, so it is never seen half-written; its name binds it to these
        // exact component bytes and this engine's compatibility hash, and wasmtime itself
        // rejects a header from an incompatible engine. The directory is the user's own
        // cache: whoever could replace this file could as well replace the host binary of
        // the same user, so it is trusted as much as the host is. The bytes are read into
        // memory, so later changes to the file cannot affect the loaded code.
        #[allow(unsafe_code)]
        if let Ok(component) = unsafe { Component::deserialize(engine, &compiled) } {
            return Ok(component);
        }
    }
    let compiled = engine
        .precompile_component(wasm)
        .map_err(|e| Error::load(what, format!("not a component wasmtime can compile: {e:#}")))?;
    if let Some(cache) = &cache {
        store_in_cache(cache, &compiled);
    }
    // SAFETY: `compiled` was produced by `precompile_component` of this very engine just now.
    #[allow(unsafe_code)]
    unsafe { Component::deserialize(engine, &compiled) }
        .map_err(|e| Error::load(what, format!("{e:#}")))
}

fn cache_path(engine: &Engine, path: &Path, wasm: &[u8]) -> PathBuf {
    /// Feeds `Hash` values into SHA-256, which, unlike `DefaultHasher`, is stable across runs
    /// and Rust versions.
    struct Sha(Sha256);
    impl Hasher for Sha {
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
        fn finish(&self) -> u64 {
            let digest = self.0.clone().finalize();
            u64::from_le_bytes(digest[..8].try_into().expect("SHA-256 has 32 bytes"))
        }
    }
    let mut sha = Sha(Sha256::new());
    sha.write(wasm);
    engine.precompile_compatibility_hash().hash(&mut sha);
    let digest = sha.0.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!("{stem}.{hex}.cwasm"))
}

/// Best effort: a directory that cannot be made or written just means compiling every time.
fn store_in_cache(cache: &Path, compiled: &[u8]) {
    if let Some(dir) = cache.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let temporary = cache.with_extension(format!("tmp{}", std::process::id()));
    if std::fs::write(&temporary, compiled).is_ok() && std::fs::rename(&temporary, cache).is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    prune_cache(cache);
}

/// How many compiled forms of one name the cache keeps, newest first. Components compiled
/// from bytes (compositions) share one name, and a test run or a host that runs a dozen
/// applications must not evict one it is about to run again (a large one takes seconds to
/// compile); a debug and a release host and a rebuild or two of the component itself fit
/// too. Older files go, so no build leaves megabytes behind for good.
const MAX_CACHED_PER_NAME: usize = 12;

/// Delete all but the newest [`MAX_CACHED_PER_NAME`] `NAME.HASH.cwasm` files beside `cache`.
/// Loads read a cache file into memory, so deleting one never disturbs a running process.
fn prune_cache(cache: &Path) {
    let Some((dir, name)) = cache
        .parent()
        .zip(cache.file_name().and_then(|n| n.to_str()))
    else {
        return;
    };
    let Some((stem, _hash)) = name.strip_suffix(".cwasm").and_then(|n| n.rsplit_once('.')) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut cached: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let hashed = name.strip_suffix(".cwasm").and_then(|n| n.rsplit_once('.'));
            hashed.is_some_and(|(other, _)| other == stem)
        })
        .filter_map(|entry| Some((entry.metadata().ok()?.modified().ok()?, entry.path())))
        .collect();
    cached.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
    for (_, old) in cached.into_iter().skip(MAX_CACHED_PER_NAME) {
        let _ = std::fs::remove_file(old);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use wasmtime::Config;

    use super::*;

    #[test]
    fn the_cache_key_follows_the_component_bytes() {
        let engine = Engine::default();
        let path = Path::new("/x/alore_socket.wasm");
        let a = cache_path(&engine, path, b"component a");
        assert_eq!(a, cache_path(&engine, path, b"component a"), "stable");
        assert_ne!(
            a,
            cache_path(&engine, path, b"component b"),
            "a rebuild misses"
        );
        assert!(a.starts_with("/x") && a.extension().is_some_and(|e| e == "cwasm"));
    }

    #[test]
    fn the_cache_keeps_only_the_newest_few_of_each_name() {
        let dir = tempfile::tempdir().unwrap();
        let base = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        for (i, name) in ["app.{}.cwasm", "other.{}.cwasm"].iter().enumerate() {
            // Two more than are kept.
            for age in 0..MAX_CACHED_PER_NAME as u64 + 2 {
                let path = dir
                    .path()
                    .join(name.replace("{}", &format!("{i}{age:031}")));
                std::fs::write(&path, b"x").unwrap();
                let file = std::fs::File::options().write(true).open(&path).unwrap();
                file.set_modified(base + Duration::from_secs(age)).unwrap();
            }
        }
        std::fs::write(dir.path().join("app.wasm"), b"keep").unwrap();
        prune_cache(&dir.path().join("app.0x.cwasm"));
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let apps: Vec<&String> = left.iter().filter(|n| n.starts_with("app.0")).collect();
        assert_eq!(apps.len(), MAX_CACHED_PER_NAME, "{left:?}");
        assert!(
            apps.iter()
                .all(|n| !n.ends_with("0000.cwasm") && !n.ends_with("0001.cwasm")),
            "the oldest went: {left:?}"
        );
        assert_eq!(
            left.iter().filter(|n| n.starts_with("other.")).count(),
            MAX_CACHED_PER_NAME + 2,
            "other names untouched"
        );
        assert!(left.contains(&"app.wasm".to_owned()), "only cache files go");
    }

    #[test]
    fn the_cache_key_follows_the_engine_settings() {
        let mut config = Config::new();
        config.cranelift_opt_level(wasmtime::OptLevel::None);
        let other = Engine::new(&config).unwrap();
        let path = Path::new("/x/alore_socket.wasm");
        let bytes = b"the same component";
        assert_ne!(
            cache_path(&Engine::default(), path, bytes),
            cache_path(&other, path, bytes)
        );
    }
}
