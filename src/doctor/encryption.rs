//! Encryption at rest: does `data_dir` sit on a dm-crypt (LUKS) device?
//!
//! The ring and the spill hold raw logs on disk; linerate does not encrypt them itself. The
//! block device holding `data_dir` (its `st_dev`) is looked up in sysfs: a device-mapper
//! device whose `dm/uuid` starts with `CRYPT-` (LUKS1/2, plain, TrueCrypt, BitLocker; not
//! `CRYPT-VERITY` or `CRYPT-INTEGRITY`, which authenticate without encrypting) is encrypted;
//! any other device is encrypted when everything under it is (`slaves/`: LVM or md RAID on top
//! of LUKS). The sysfs root is a parameter so the logic is tested on a fake tree.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::Check;
use crate::config::Config;

/// Device layers followed down through `slaves/` before giving up (LVM on md on LUKS is 3).
pub const SLAVE_DEPTH_MAX: usize = 8;

/// `dm/uuid` prefixes of dm-crypt targets that authenticate but do not encrypt.
const NOT_ENCRYPTING: [&str; 2] = ["CRYPT-VERITY", "CRYPT-INTEGRITY"];

/// What sysfs says about a block device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encryption {
    /// Every path down to the disks goes through dm-crypt; the encrypting layers, e.g.
    /// `dm-0 (luks-1234, LUKS2)`.
    Encrypted(Vec<String>),
    /// The named device, or one under it, is not encrypted.
    Plain(String),
    /// sysfs does not answer (not a block device, no such entry); why.
    Unknown(String),
}

/// The `MAJOR:MINOR` of the device holding `path` (`st_dev`).
pub fn device_of(path: &Path) -> std::io::Result<String> {
    let dev = std::fs::metadata(path)?.dev();
    Ok(format!("{}:{}", libc::major(dev), libc::minor(dev)))
}

/// Whether block device `devno` (`MAJOR:MINOR`) is encrypted, read from the sysfs mounted
/// at `sysfs` (`/sys` on a host).
pub fn classify(sysfs: &Path, devno: &str) -> Encryption {
    let dir = sysfs.join("dev/block").join(devno);
    if !dir.exists() {
        return Encryption::Unknown(format!(
            "device {devno} is not a block device in {} (tmpfs, overlay or a btrfs subvolume?)",
            sysfs.display()
        ));
    }
    let mut layers = Vec::new();
    match walk(sysfs, &dir, 0, &mut layers) {
        Ok(()) => Encryption::Encrypted(layers),
        Err(Walk::Plain(name)) => Encryption::Plain(name),
        Err(Walk::Unknown(why)) => Encryption::Unknown(why),
    }
}

enum Walk {
    Plain(String),
    Unknown(String),
}

/// Ok when `dir`'s device is encrypted or every slave under it is.
fn walk(sysfs: &Path, dir: &Path, depth: usize, layers: &mut Vec<String>) -> Result<(), Walk> {
    if depth > SLAVE_DEPTH_MAX {
        return Err(Walk::Unknown(format!(
            "more than {SLAVE_DEPTH_MAX} device layers under {}",
            dir.display()
        )));
    }
    let name = device_name(dir);
    let uuid = read_trimmed(&dir.join("dm/uuid")).unwrap_or_default();
    if uuid.starts_with("CRYPT-") && !NOT_ENCRYPTING.iter().any(|p| uuid.starts_with(p)) {
        let kind = uuid
            .trim_start_matches("CRYPT-")
            .split('-')
            .next()
            .unwrap_or("")
            .to_string();
        let dm_name = read_trimmed(&dir.join("dm/name")).unwrap_or_default();
        layers.push(if dm_name.is_empty() {
            format!("{name} ({kind})")
        } else {
            format!("{name} ({dm_name}, {kind})")
        });
        return Ok(());
    }
    let slaves: Vec<PathBuf> = match std::fs::read_dir(dir.join("slaves")) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(_) => Vec::new(),
    };
    if slaves.is_empty() {
        return Err(Walk::Plain(name));
    }
    for slave in slaves {
        // Each slave names its own `dev` (MAJOR:MINOR); follow it through dev/block so a
        // symlinked real sysfs and a plain fake tree read the same way.
        let Some(devno) = read_trimmed(&slave.join("dev")) else {
            return Err(Walk::Unknown(format!("no dev in {}", slave.display())));
        };
        walk(
            sysfs,
            &sysfs.join("dev/block").join(devno),
            depth + 1,
            layers,
        )?;
    }
    Ok(())
}

/// `DEVNAME` of the device's uevent (`dm-0`, `sda1`), else its directory name.
fn device_name(dir: &Path) -> String {
    read_trimmed(&dir.join("uevent"))
        .and_then(|u| {
            u.lines()
                .find_map(|l| l.strip_prefix("DEVNAME="))
                .map(str::to_string)
        })
        .unwrap_or_else(|| {
            dir.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        })
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// The doctor's line for `cfg`'s `data_dir`, against the host's `/sys`.
pub fn check(cfg: &Config) -> Check {
    check_in(cfg, Path::new("/sys"))
}

/// [`check`] against the sysfs at `sysfs`.
pub fn check_in(cfg: &Config, sysfs: &Path) -> Check {
    const NAME: &str = "data_dir encryption at rest";
    let dir = &cfg.buffer.data_dir;
    let Some(base) = super::storage::existing_ancestor(dir) else {
        return Check::skip(NAME, "no existing ancestor of data_dir");
    };
    let devno = match device_of(&base) {
        Ok(d) => d,
        Err(e) => return Check::skip(NAME, format!("stat {}: {e}", base.display())),
    };
    let want = "a dm-crypt (LUKS) device: linerate does not encrypt the ring and spill itself";
    match classify(sysfs, &devno) {
        Encryption::Encrypted(layers) => Check::pass(
            NAME,
            format!(
                "{} on {devno}, encrypted by {}",
                base.display(),
                layers.join(" + ")
            ),
            want,
        ),
        Encryption::Plain(device) => Check::warn(
            NAME,
            format!(
                "{} on {devno} ({device}): not encrypted, raw logs rest in clear",
                base.display()
            ),
            want,
            "move [buffer] data_dir to a LUKS volume (cryptsetup luksFormat; README \"Deploy\")",
        ),
        Encryption::Unknown(why) => Check::skip(NAME, why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake sysfs: `dev/block/MAJ:MIN/` per device, with `uevent`, `dm/uuid`, `dm/name`
    /// and `slaves/NAME/dev` as the kernel lays them out.
    struct FakeSys(tempfile::TempDir);

    impl FakeSys {
        fn new() -> Self {
            Self(tempfile::tempdir().unwrap())
        }
        fn root(&self) -> &Path {
            self.0.path()
        }
        fn device(
            &self,
            devno: &str,
            name: &str,
            dm: Option<(&str, &str)>,
            slaves: &[(&str, &str)],
        ) {
            let dir = self.root().join("dev/block").join(devno);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("uevent"), format!("MAJOR=x\nDEVNAME={name}\n")).unwrap();
            std::fs::write(dir.join("dev"), format!("{devno}\n")).unwrap();
            if let Some((uuid, dm_name)) = dm {
                std::fs::create_dir_all(dir.join("dm")).unwrap();
                std::fs::write(dir.join("dm/uuid"), format!("{uuid}\n")).unwrap();
                std::fs::write(dir.join("dm/name"), format!("{dm_name}\n")).unwrap();
            }
            for (slave_name, slave_devno) in slaves {
                let s = dir.join("slaves").join(slave_name);
                std::fs::create_dir_all(&s).unwrap();
                std::fs::write(s.join("dev"), format!("{slave_devno}\n")).unwrap();
            }
        }
    }

    #[test]
    fn luks_directly_is_encrypted() {
        let sys = FakeSys::new();
        sys.device("8:2", "sda2", None, &[]);
        sys.device(
            "253:0",
            "dm-0",
            Some((
                "CRYPT-LUKS2-8b3e5a0c6d7f4e1a9b2c3d4e5f6a7b8c-luks-data",
                "luks-data",
            )),
            &[("sda2", "8:2")],
        );
        assert_eq!(
            classify(sys.root(), "253:0"),
            Encryption::Encrypted(vec!["dm-0 (luks-data, LUKS2)".into()])
        );
    }

    #[test]
    fn lvm_on_luks_is_encrypted_through_its_slaves() {
        let sys = FakeSys::new();
        sys.device("259:1", "nvme0n1p3", None, &[]);
        sys.device(
            "253:0",
            "dm-0",
            Some(("CRYPT-LUKS1-0123-cryptroot", "cryptroot")),
            &[("nvme0n1p3", "259:1")],
        );
        sys.device(
            "253:1",
            "dm-1",
            Some(("LVM-abcdefVolGroupData", "vg-data")),
            &[("dm-0", "253:0")],
        );
        assert_eq!(
            classify(sys.root(), "253:1"),
            Encryption::Encrypted(vec!["dm-0 (cryptroot, LUKS1)".into()])
        );
    }

    #[test]
    fn a_plain_partition_or_lvm_on_one_is_not() {
        let sys = FakeSys::new();
        sys.device("8:1", "sda1", None, &[]);
        assert_eq!(
            classify(sys.root(), "8:1"),
            Encryption::Plain("sda1".into())
        );
        sys.device(
            "253:3",
            "dm-3",
            Some(("LVM-xyz", "vg-plain")),
            &[("sda1", "8:1")],
        );
        assert_eq!(
            classify(sys.root(), "253:3"),
            Encryption::Plain("sda1".into())
        );
    }

    #[test]
    fn raid_is_encrypted_only_when_every_member_is() {
        let sys = FakeSys::new();
        sys.device("8:1", "sda1", None, &[]);
        sys.device("8:17", "sdb1", None, &[]);
        sys.device(
            "253:0",
            "dm-0",
            Some(("CRYPT-LUKS2-a-c0", "c0")),
            &[("sda1", "8:1")],
        );
        sys.device(
            "253:1",
            "dm-1",
            Some(("CRYPT-LUKS2-b-c1", "c1")),
            &[("sdb1", "8:17")],
        );
        sys.device("9:0", "md0", None, &[("dm-0", "253:0"), ("dm-1", "253:1")]);
        match classify(sys.root(), "9:0") {
            Encryption::Encrypted(mut l) => {
                l.sort();
                assert_eq!(l, ["dm-0 (c0, LUKS2)", "dm-1 (c1, LUKS2)"]);
            }
            other => panic!("{other:?}"),
        }
        // One member in clear: the array is not encrypted.
        sys.device("9:1", "md1", None, &[("dm-0", "253:0"), ("sdb1", "8:17")]);
        assert_eq!(
            classify(sys.root(), "9:1"),
            Encryption::Plain("sdb1".into())
        );
    }

    #[test]
    fn verity_and_integrity_do_not_count_and_unknown_devices_say_why() {
        let sys = FakeSys::new();
        sys.device("8:1", "sda1", None, &[]);
        sys.device(
            "253:0",
            "dm-0",
            Some(("CRYPT-VERITY-abc-root", "root")),
            &[("sda1", "8:1")],
        );
        assert_eq!(
            classify(sys.root(), "253:0"),
            Encryption::Plain("sda1".into())
        );
        sys.device(
            "253:1",
            "dm-1",
            Some(("CRYPT-INTEGRITY-abc-x", "x")),
            &[("sda1", "8:1")],
        );
        assert_eq!(
            classify(sys.root(), "253:1"),
            Encryption::Plain("sda1".into())
        );
        match classify(sys.root(), "0:42") {
            Encryption::Unknown(why) => assert!(why.contains("not a block device"), "{why}"),
            other => panic!("{other:?}"),
        }
        // A loop of slaves (a broken tree) ends at the depth bound.
        sys.device(
            "253:9",
            "dm-9",
            Some(("LVM-loop", "loop")),
            &[("dm-9", "253:9")],
        );
        match classify(sys.root(), "253:9") {
            Encryption::Unknown(why) => assert!(why.contains("device layers"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_check_reads_data_dirs_device() {
        let data = tempfile::tempdir().unwrap();
        let devno = device_of(data.path()).unwrap();
        let sys = FakeSys::new();
        let mut cfg = Config::default();
        cfg.buffer.data_dir = data.path().join("not-yet-created");
        // Not in the fake sysfs: SKIP with the reason.
        let c = check_in(&cfg, sys.root());
        assert_eq!(c.status, super::super::Status::Skip, "{c}");
        sys.device(&devno, "sdz1", None, &[]);
        let c = check_in(&cfg, sys.root());
        assert_eq!(c.status, super::super::Status::Warn, "{c}");
        assert!(c.to_string().contains("not encrypted"), "{c}");
        assert!(c.to_string().contains("linerate does not encrypt"), "{c}");
        let sys = FakeSys::new();
        sys.device("8:1", "sdz1", None, &[]);
        sys.device(
            &devno,
            "dm-5",
            Some(("CRYPT-LUKS2-u-data", "data")),
            &[("sdz1", "8:1")],
        );
        let c = check_in(&cfg, sys.root());
        assert_eq!(c.status, super::super::Status::Pass, "{c}");
        assert!(c.to_string().contains("dm-5 (data, LUKS2)"), "{c}");
    }
}
