//! The guest's initramfs: an uncompressed newc cpio archive with busybox, `/init`,
//! the project's static binaries and the kernel modules. The kernel unpacks an
//! uncompressed archive without any decompressor option.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// busybox from the `busybox-static` package.
pub const HOST_BUSYBOX: &str = "/bin/busybox";

/// The guest's `/init`.
const INIT_SCRIPT: &str = include_str!("init.sh");

/// The demo the `demo` scenario runs, installed as `/usr/share/vtty/demo.sh`.
const DEMO_SCRIPT: &str = include_str!("demo.sh");

/// Folder of the guest's kernel modules; `/init` loads `vtty.ko` from there.
pub const MODULES_DIR: &str = "lib/modules";

/// Files that go into the archive besides busybox and `/init`.
pub struct Contents {
    /// A static busybox, installed as `/bin/busybox`.
    pub busybox: PathBuf,
    /// Static executables installed in `/usr/bin`, by name.
    pub binaries: Vec<(String, PathBuf)>,
    /// Kernel modules installed in `/lib/modules`.
    pub modules: Vec<PathBuf>,
}

/// The file type bits of `st_mode`.
const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFCHR: u32 = 0o020_000;

/// Writes the archive to `path`.
pub fn write(path: &Path, contents: &Contents) -> Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut archive = Archive {
        out: BufWriter::new(file),
        next_inode: 1,
    };
    for dir in [
        "bin",
        "dev",
        "etc",
        "lib",
        MODULES_DIR,
        "proc",
        "root",
        "run",
        "sbin",
        "sys",
        "tmp",
        "usr",
        "usr/bin",
        "usr/sbin",
        "usr/share",
        "usr/share/vtty",
    ] {
        archive.directory(dir)?;
    }
    // The kernel opens /dev/console for init's standard streams before /init mounts
    // devtmpfs, so the node must be in the archive.
    archive.char_device("dev/console", 0o600, 5, 1)?;
    archive.file("init", 0o755, INIT_SCRIPT.as_bytes())?;
    archive.file("usr/share/vtty/demo.sh", 0o755, DEMO_SCRIPT.as_bytes())?;
    archive.file("etc/passwd", 0o644, b"root:x:0:0:root:/root:/bin/sh\n")?;
    archive.file("etc/group", 0o644, b"root:x:0:\n")?;

    let busybox = read_static_executable(&contents.busybox)?;
    archive.file("bin/busybox", 0o755, &busybox)?;
    for (name, source) in &contents.binaries {
        let data = read_static_executable(source)?;
        archive.file(&format!("usr/bin/{name}"), 0o755, &data)?;
    }
    for module in &contents.modules {
        let Some(name) = module.file_name() else {
            bail!("{} has no file name", module.display());
        };
        let data = fs::read(module).with_context(|| format!("reading {}", module.display()))?;
        archive.file(
            &format!("{MODULES_DIR}/{}", name.to_string_lossy()),
            0o644,
            &data,
        )?;
    }
    let out =
        cpio::newc::trailer(archive.out).with_context(|| format!("writing {}", path.display()))?;
    out.into_inner()
        .map_err(|error| error.into_error())
        .and_then(|file| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

struct Archive {
    out: BufWriter<File>,
    next_inode: u32,
}

impl Archive {
    fn entry(&mut self, name: &str, mode: u32) -> cpio::newc::Builder {
        let inode = self.next_inode;
        self.next_inode += 1;
        cpio::newc::Builder::new(name)
            .ino(inode)
            .mode(mode)
            .uid(0)
            .gid(0)
            .nlink(1)
    }

    fn directory(&mut self, name: &str) -> Result<()> {
        let builder = self.entry(name, S_IFDIR | 0o755).nlink(2);
        builder
            .write(&mut self.out, 0)
            .finish()
            .with_context(|| format!("writing the directory {name}"))?;
        Ok(())
    }

    fn char_device(&mut self, name: &str, permissions: u32, major: u32, minor: u32) -> Result<()> {
        let builder = self
            .entry(name, S_IFCHR | permissions)
            .rdev_major(major)
            .rdev_minor(minor);
        builder
            .write(&mut self.out, 0)
            .finish()
            .with_context(|| format!("writing the device node {name}"))?;
        Ok(())
    }

    fn file(&mut self, name: &str, permissions: u32, data: &[u8]) -> Result<()> {
        let Ok(size) = u32::try_from(data.len()) else {
            bail!(
                "{name} is {} bytes; a newc archive holds files below 4 GiB",
                data.len()
            );
        };
        let builder = self.entry(name, S_IFREG | permissions);
        let mut writer = builder.write(&mut self.out, size);
        writer
            .write_all(data)
            .and_then(|()| writer.finish().map(|_| ()))
            .with_context(|| format!("writing {name} into the initramfs"))?;
        Ok(())
    }
}

/// Reads an executable and checks that it is a statically linked ELF file, since
/// the initramfs has no dynamic loader or libraries.
fn read_static_executable(path: &Path) -> Result<Vec<u8>> {
    let data = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    match elf_has_interpreter(&data) {
        Some(false) => Ok(data),
        Some(true) => bail!(
            "{} is dynamically linked; the guest has no dynamic loader (for busybox install busybox-static, for Rust build for x86_64-unknown-linux-musl)",
            path.display()
        ),
        None => bail!(
            "{} is not a 64-bit little-endian ELF executable",
            path.display()
        ),
    }
}

/// Tells whether an ELF64 little-endian file has a `PT_INTERP` program header,
/// or `None` when the data is not such a file.
fn elf_has_interpreter(data: &[u8]) -> Option<bool> {
    const PT_INTERP: u32 = 3;
    if data.get(0..4)? != b"\x7fELF" || *data.get(4)? != 2 || *data.get(5)? != 1 {
        return None;
    }
    let read_u16 = |offset: usize| -> Option<usize> {
        Some(usize::from(u16::from_le_bytes(
            data.get(offset..offset + 2)?.try_into().ok()?,
        )))
    };
    let program_headers =
        usize::try_from(u64::from_le_bytes(data.get(0x20..0x28)?.try_into().ok()?)).ok()?;
    let entry_size = read_u16(0x36)?;
    let count = read_u16(0x38)?;
    for index in 0..count {
        let offset = program_headers.checked_add(index.checked_mul(entry_size)?)?;
        let kind = u32::from_le_bytes(data.get(offset..offset + 4)?.try_into().ok()?);
        if kind == PT_INTERP {
            return Some(true);
        }
    }
    Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds an ELF64 little-endian header with one program header of `kind`.
    fn elf_with_program_header(kind: u32) -> Vec<u8> {
        let mut data = vec![0u8; 0x40 + 0x38];
        data[0..4].copy_from_slice(b"\x7fELF");
        data[4] = 2;
        data[5] = 1;
        data[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
        data[0x36..0x38].copy_from_slice(&0x38u16.to_le_bytes());
        data[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        data[0x40..0x44].copy_from_slice(&kind.to_le_bytes());
        data
    }

    #[test]
    fn elf_load_segment_is_static() {
        assert_eq!(
            elf_has_interpreter(&elf_with_program_header(1)),
            Some(false)
        );
    }

    #[test]
    fn elf_interp_segment_is_dynamic() {
        assert_eq!(elf_has_interpreter(&elf_with_program_header(3)), Some(true));
    }

    #[test]
    fn elf_truncated_header() {
        let data = elf_with_program_header(1);
        assert_eq!(elf_has_interpreter(&data[..0x3c]), None);
    }

    #[test]
    fn text_is_not_elf() {
        assert_eq!(elf_has_interpreter(b"#!/bin/sh\n"), None);
    }

    fn scratch_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("vtty-initramfs-{name}-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn entry_names(data: &[u8]) -> Vec<String> {
        let mut names = Vec::new();
        let mut rest = data;
        loop {
            let reader = cpio::newc::Reader::new(rest).unwrap();
            if reader.entry().is_trailer() {
                break;
            }
            names.push(reader.entry().name().to_owned());
            rest = reader.finish().unwrap();
        }
        names
    }

    #[test]
    fn archive_has_init_console_and_modules() {
        let dir = scratch_dir("archive");
        let busybox = dir.join("busybox");
        fs::write(&busybox, elf_with_program_header(1)).unwrap();
        let module = dir.join("sample.ko");
        fs::write(&module, b"module").unwrap();
        let path = dir.join("initramfs.cpio");
        let contents = Contents {
            busybox: busybox.clone(),
            binaries: vec![("tool".to_owned(), busybox)],
            modules: vec![module],
        };
        write(&path, &contents).unwrap();
        let names = entry_names(&fs::read(&path).unwrap());
        for expected in [
            "init",
            "dev/console",
            "bin/busybox",
            "usr/bin/tool",
            "lib/modules/sample.ko",
        ] {
            assert!(
                names.iter().any(|name| name == expected),
                "{expected} missing from {names:?}"
            );
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn archive_rejects_dynamic_binary() {
        let dir = scratch_dir("dynamic");
        let busybox = dir.join("busybox");
        fs::write(&busybox, elf_with_program_header(1)).unwrap();
        let dynamic = dir.join("dynamic");
        fs::write(&dynamic, elf_with_program_header(3)).unwrap();
        let contents = Contents {
            busybox,
            binaries: vec![("dynamic".to_owned(), dynamic)],
            modules: Vec::new(),
        };
        let error = write(&dir.join("initramfs.cpio"), &contents).unwrap_err();
        assert!(error.to_string().contains("dynamically linked"), "{error}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
