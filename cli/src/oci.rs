//! `image`: a composed application as an OCI image layout tarball, carrying the policy it must
//! run under, in the two forms a containerd node takes (`docs/cluster.md`):
//!
//! - [`Form::Plain`]: one plain tar layer holding `/app.wasm` and the policy document at
//!   [`POLICY_FILE`]; the config's entrypoint is `/app.wasm`. containerd 1.6 imports it.
//! - [`Form::Wasm`]: the Wasm OCI artifact (`application/wasm` layer,
//!   `application/vnd.wasm.config.v0+json` config), as runwasi, Spin, wasmCloud and `wkg`
//!   pull, with the policy document as a second layer of [`POLICY_MEDIA_TYPE`]. containerd
//!   ≥ 1.6.25 / 1.7.7 imports it.
//!
//! Both repeat the document in the manifest's [`POLICY_ANNOTATION`], which is where
//! `network-policy` reads it back. Every tar is written here, in the POSIX ustar format,
//! byte for byte the same for the same inputs (no times, owners or modes of this machine).

use alore_socket_host::flags::{POLICY_ANNOTATION, POLICY_FILE, POLICY_MEDIA_TYPE, PolicyDocument};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The component's path in a plain-layer image, and its entrypoint.
const APP_PATH: &str = "/app.wasm";

/// Which form of image to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Form {
    /// One plain tar layer (containerd 1.6 and later).
    Plain,
    /// The Wasm OCI artifact (containerd 1.6.25 / 1.7.7 and later; registries; wkg).
    Wasm,
}

/// The image of `composed` (a composed `wasi:cli` command) under `document`, named `name`
/// (a reference such as `localhost/app:1`), as an OCI image layout tarball.
pub(crate) fn image(
    composed: &[u8],
    document: &PolicyDocument,
    name: &str,
    form: Form,
) -> Result<Vec<u8>> {
    let policy = document.to_json();
    let mut blobs = Blobs::default();
    let (config, layers) = match form {
        Form::Plain => {
            let mut layer = Tar::default();
            layer.file(APP_PATH, composed)?;
            let dir = POLICY_FILE.rsplit_once('/').map_or("", |(dir, _)| dir);
            layer.dir(dir)?;
            layer.file(POLICY_FILE, policy.as_bytes())?;
            let layer = layer.finish();
            let digest = sha256(&layer);
            let config = json!({
                "architecture": "wasm",
                "os": "wasip2",
                "config": {
                    "Entrypoint": [APP_PATH],
                    "Labels": { POLICY_ANNOTATION: policy },
                },
                // An uncompressed layer's diff ID is its digest.
                "rootfs": { "type": "layers", "diff_ids": [digest] },
            });
            let config = blobs.add(
                "application/vnd.oci.image.config.v1+json",
                config.to_string().into_bytes(),
            );
            let layer = blobs.add("application/vnd.oci.image.layer.v1.tar", layer);
            (config, vec![layer])
        }
        Form::Wasm => {
            let component = blobs.add("application/wasm", composed.to_vec());
            let document = blobs.add(POLICY_MEDIA_TYPE, policy.clone().into_bytes());
            // The config `wkg` writes: what the component targets, and its layers.
            let config = json!({
                "architecture": "wasm",
                "os": "wasip2",
                "layerDigests": [component["digest"]],
            });
            let config = blobs.add(
                "application/vnd.wasm.config.v0+json",
                config.to_string().into_bytes(),
            );
            (config, vec![component, document])
        }
    };
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": layers,
        "annotations": { POLICY_ANNOTATION: policy },
    });
    let mut manifest = blobs.add(
        "application/vnd.oci.image.manifest.v1+json",
        manifest.to_string().into_bytes(),
    );
    let tag = name
        .rsplit_once(':')
        .filter(|(_, tag)| !tag.contains('/'))
        .map_or("latest", |(_, tag)| tag);
    manifest["annotations"] = json!({
        // containerd names the imported image by the first; the OCI layout's own is the tag.
        "io.containerd.image.name": name,
        "org.opencontainers.image.ref.name": tag,
    });
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [manifest],
    });
    let mut layout = Tar::default();
    layout.file(
        "oci-layout",
        json!({ "imageLayoutVersion": "1.0.0" })
            .to_string()
            .as_bytes(),
    )?;
    layout.file("index.json", index.to_string().as_bytes())?;
    layout.dir("blobs")?;
    layout.dir("blobs/sha256")?;
    for (digest, bytes) in &blobs.0 {
        layout.file(
            &format!("blobs/sha256/{}", &digest["sha256:".len()..]),
            bytes,
        )?;
    }
    Ok(layout.finish())
}

/// The policy document an image carries (its manifest's annotation), read from a tarball
/// [`image`] wrote, or any OCI layout tarball with one image that has the annotation.
pub(crate) fn policy_of(tarball: &[u8]) -> Result<PolicyDocument> {
    let files = read_tar(tarball)?;
    let file = |path: &str| {
        files
            .iter()
            .find(|(name, _)| name.trim_start_matches("./") == path)
            .map(|(_, bytes)| *bytes)
            .with_context(|| format!("not an OCI image layout tarball: no {path}"))
    };
    let index: Value =
        serde_json::from_slice(file("index.json")?).context("index.json is not JSON")?;
    let manifests = index["manifests"]
        .as_array()
        .context("index.json lists no manifests")?;
    let [manifest] = manifests.as_slice() else {
        bail!(
            "the image layout holds {} images; expected one",
            manifests.len()
        );
    };
    let digest = manifest["digest"]
        .as_str()
        .context("the manifest has no digest")?;
    let hex = digest
        .strip_prefix("sha256:")
        .context("the manifest's digest is not SHA-256")?;
    let manifest: Value = serde_json::from_slice(file(&format!("blobs/sha256/{hex}"))?)
        .context("the manifest is not JSON")?;
    let text = manifest["annotations"][POLICY_ANNOTATION]
        .as_str()
        .with_context(|| format!("the image carries no policy ({POLICY_ANNOTATION}): the shim would deny it everything"))?;
    Ok(PolicyDocument::from_json(text.as_bytes())?)
}

/// The blobs of an image, each with its digest, and their descriptors.
#[derive(Default)]
struct Blobs(Vec<(String, Vec<u8>)>);

impl Blobs {
    /// Keep `bytes`; their descriptor.
    fn add(&mut self, media_type: &str, bytes: Vec<u8>) -> Value {
        let digest = sha256(&bytes);
        let descriptor = json!({ "mediaType": media_type, "digest": digest, "size": bytes.len() });
        if !self.0.iter().any(|(d, _)| *d == digest) {
            self.0.push((digest, bytes));
        }
        descriptor
    }
}

fn sha256(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut text = String::with_capacity(7 + 64);
    text.push_str("sha256:");
    for byte in hash {
        text.push_str(&format!("{byte:02x}"));
    }
    text
}

/// A tar block: headers and the padding of contents come in these.
const BLOCK: usize = 512;
/// The longest name a ustar header holds without the prefix field (ours are all shorter).
const MAX_NAME: usize = 100;
/// The largest entry: a ustar size field holds 11 octal digits.
const MAX_ENTRY: usize = 0o77_777_777_777;

/// A tar archive being written: POSIX ustar, deterministic.
#[derive(Default)]
struct Tar(Vec<u8>);

impl Tar {
    fn file(&mut self, path: &str, bytes: &[u8]) -> Result<()> {
        self.entry(path.trim_start_matches('/'), b'0', 0o644, bytes)
    }

    fn dir(&mut self, path: &str) -> Result<()> {
        self.entry(
            &format!("{}/", path.trim_start_matches('/')),
            b'5',
            0o755,
            &[],
        )
    }

    fn entry(&mut self, name: &str, kind: u8, mode: u32, bytes: &[u8]) -> Result<()> {
        if name.len() > MAX_NAME || bytes.len() > MAX_ENTRY {
            bail!(
                "cannot put {name} ({} bytes) in a ustar archive",
                bytes.len()
            );
        }
        let mut header = [0u8; BLOCK];
        header[..name.len()].copy_from_slice(name.as_bytes());
        let mut octal = |at: usize, width: usize, value: u64| {
            let text = format!("{value:0w$o}", w = width - 1);
            header[at..at + width - 1].copy_from_slice(text.as_bytes());
        };
        octal(100, 8, u64::from(mode));
        octal(108, 8, 0); // uid
        octal(116, 8, 0); // gid
        octal(124, 12, bytes.len() as u64);
        octal(136, 12, 0); // mtime: none, so the same inputs make the same bytes
        header[156] = kind;
        header[257..263].copy_from_slice(b"ustar\0");
        header[263..265].copy_from_slice(b"00");
        // The checksum is computed with its own field as spaces.
        header[148..156].fill(b' ');
        let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
        header[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        self.0.extend_from_slice(&header);
        self.0.extend_from_slice(bytes);
        self.0.resize(self.0.len().next_multiple_of(BLOCK), 0);
        Ok(())
    }

    /// The archive, with its end: two zero blocks.
    fn finish(mut self) -> Vec<u8> {
        self.0.resize(self.0.len() + 2 * BLOCK, 0);
        self.0
    }
}

/// The regular files of a ustar archive, by name (borrowed from `tar`).
fn read_tar(tar: &[u8]) -> Result<Vec<(String, &[u8])>> {
    let mut files = Vec::new();
    let mut at = 0;
    while at + BLOCK <= tar.len() {
        let header = &tar[at..at + BLOCK];
        if header.iter().all(|&b| b == 0) {
            break;
        }
        let field = |from: usize, to: usize| {
            let raw = &header[from..to];
            let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
            String::from_utf8_lossy(&raw[..end]).trim().to_owned()
        };
        let size = usize::from_str_radix(&field(124, 136), 8)
            .context("a tar header's size is not octal")?;
        let mut name = field(0, 100);
        let prefix = field(345, 500);
        if !prefix.is_empty() {
            name = format!("{prefix}/{name}");
        }
        let start = at + BLOCK;
        let end = start
            .checked_add(size)
            .filter(|&end| end <= tar.len())
            .context("the tar archive is cut short")?;
        if matches!(header[156], b'0' | 0) {
            files.push((name, &tar[start..end]));
        }
        at = end.next_multiple_of(BLOCK);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alore_socket_host::flags::PolicyFlags;

    fn document() -> PolicyDocument {
        let flags =
            PolicyFlags::parse_args(["--allow", "127.0.0.1:7000", "--allow-lookup"]).unwrap();
        PolicyDocument::new(&flags).unwrap()
    }

    /// Every blob the index reaches is in the layout under its own digest, and the policy
    /// reads back, in both forms; the same inputs make the same bytes.
    #[test]
    fn both_forms_are_consistent_layouts_that_carry_the_policy() {
        for form in [Form::Plain, Form::Wasm] {
            let tarball = image(b"\0asm component", &document(), "localhost/app:1", form).unwrap();
            assert_eq!(
                tarball,
                image(b"\0asm component", &document(), "localhost/app:1", form).unwrap()
            );
            let files = read_tar(&tarball).unwrap();
            for (name, bytes) in &files {
                if let Some(hex) = name.strip_prefix("blobs/sha256/") {
                    assert_eq!(sha256(bytes), format!("sha256:{hex}"));
                }
            }
            let blob = |digest: &Value| {
                let hex = &digest.as_str().unwrap()["sha256:".len()..];
                let (_, bytes) = files
                    .iter()
                    .find(|(n, _)| *n == format!("blobs/sha256/{hex}"))
                    .unwrap();
                *bytes
            };
            let index: Value =
                serde_json::from_slice(files.iter().find(|(n, _)| n == "index.json").unwrap().1)
                    .unwrap();
            assert_eq!(
                index["manifests"][0]["annotations"]["io.containerd.image.name"],
                "localhost/app:1"
            );
            let manifest: Value =
                serde_json::from_slice(blob(&index["manifests"][0]["digest"])).unwrap();
            let layers = manifest["layers"].as_array().unwrap();
            match form {
                Form::Plain => {
                    let layer = read_tar(blob(&layers[0]["digest"])).unwrap();
                    let names: Vec<&str> = layer.iter().map(|(n, _)| n.as_str()).collect();
                    assert_eq!(names, ["app.wasm", "alore-socket/policy.json"]);
                    assert_eq!(layer[0].1, b"\0asm component");
                    let config: Value =
                        serde_json::from_slice(blob(&manifest["config"]["digest"])).unwrap();
                    assert_eq!(config["config"]["Entrypoint"][0], APP_PATH);
                    assert_eq!(config["rootfs"]["diff_ids"][0], layers[0]["digest"]);
                }
                Form::Wasm => {
                    assert_eq!(
                        manifest["config"]["mediaType"],
                        "application/vnd.wasm.config.v0+json"
                    );
                    assert_eq!(layers[0]["mediaType"], "application/wasm");
                    assert_eq!(blob(&layers[0]["digest"]), b"\0asm component");
                    assert_eq!(layers[1]["mediaType"], POLICY_MEDIA_TYPE);
                    PolicyDocument::from_json(blob(&layers[1]["digest"])).unwrap();
                }
            }
            let read = policy_of(&tarball).unwrap().policy().unwrap();
            assert!(read.allows_connect("127.0.0.1:7000".parse().unwrap()));
            assert!(!read.allows_connect("127.0.0.1:7001".parse().unwrap()));
        }
    }

    #[test]
    fn what_is_not_an_image_says_so() {
        let e = policy_of(b"not a tar").unwrap_err().to_string();
        assert!(e.contains("no index.json"), "{e}");
    }
}
