//! Private key files: read only when no other user can read them or put
//! another key in their place.
//!
//! A key that another user can replace is as bad as one they can read:
//! they choose the key the milter signs with, so mail they wrote passes as
//! the domain's once they publish the matching record, or the domain's mail
//! stops passing. What a file's own mode cannot tell is where the danger
//! usually is: a folder on the way to it that someone else may write to
//! (they rename the key away and put theirs in its place), or that belongs
//! to someone else (who can give themselves that right). OpenDKIM's
//! `RequireSafeKeys` checks the same; this check differs where noted.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use waxseal_core::PrivateKey;

use crate::crypto::NativeKey;

/// Reads a private key file, refusing one that others can read or replace:
/// a regular file whose mode gives group and others nothing, owned by the
/// user the milter runs as or by root (a milter run as root could
/// otherwise use a key another user owns, which that user can read and
/// replace), in folders only that user and root can change (see
/// [`check_folders`]). The file's checks and the read are of one open file,
/// so the path cannot be swapped in between; the folders are checked on
/// the path that leads to that same file.
pub fn load_private_key(file: &Path) -> Result<NativeKey> {
    use std::io::Read;
    let cannot = || format!("cannot read {}", file.display());
    let mut f = std::fs::File::open(file).with_context(cannot)?;
    let meta = f.metadata().with_context(cannot)?;
    if !meta.is_file() {
        bail!("{}: not a regular file", file.display());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            bail!(
                "{}: mode {mode:04o}; a private key must be readable by its owner only (chmod 600)",
                file.display()
            );
        }
        let (owner, me) = (meta.uid(), rustix::process::geteuid().as_raw());
        if owner != me && owner != 0 {
            bail!(
                "{}: owned by uid {owner}, and this process runs as uid {me}: a private key must belong to the milter's user or to root (chown it to the milter's user, and run --check as that user)",
                file.display()
            );
        }
        check_folders(file, &meta, me).map_err(|e| anyhow!("{}: {e}", file.display()))?;
    }
    let mut data = Vec::new();
    f.read_to_end(&mut data).with_context(cannot)?;
    let key = PrivateKey::parse(&data).map_err(|e| anyhow!("{}: {e}", file.display()))?;
    NativeKey::from_core(key)
}

/// Checks every folder in which a name on the way to the key is looked up,
/// on the path as given (where a symbolic link may sit) and on the path
/// with the links resolved (where the file is): each must belong to root
/// or to `me`, and give group and others no write access unless it is
/// sticky (`/tmp`: then only an entry's owner may rename or remove it, and
/// the entry below is checked in turn). Nothing under a folder that only
/// its owner may enter can be reached by others, so the check stops there.
///
/// Design note: OpenDKIM allows a group-writable folder when no other user
/// is in its group, which takes the user and group databases; waxseal
/// refuses it, and the message says how to fix it. OpenDKIM refuses
/// `/tmp`-like sticky folders that waxseal allows, and checks only the
/// resolved path.
#[cfg(unix)]
fn check_folders(file: &Path, opened: &std::fs::Metadata, me: u32) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let real = std::fs::canonicalize(file).context("cannot resolve its path")?;
    let at_real = std::fs::metadata(&real).context("cannot resolve its path")?;
    if (at_real.dev(), at_real.ino()) != (opened.dev(), opened.ino()) {
        bail!("the file changed while it was being checked; try again");
    }
    let given = std::path::absolute(file).context("cannot resolve its path")?;
    check_path(&given, me)?;
    check_path(&real, me)
}

/// [`check_folders`] on one path: each folder is checked before a name in
/// it is looked up (none for `..`, which its folder's writers cannot
/// change).
#[cfg(unix)]
fn check_path(path: &Path, me: u32) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    use std::path::{Component, PathBuf};
    let mut at = PathBuf::new();
    for c in path.components() {
        if let Component::Normal(_) = c {
            let m = std::fs::metadata(&at)
                .with_context(|| format!("cannot read folder {}", at.display()))?;
            let mode = m.mode() & 0o7777;
            let owner = m.uid();
            if owner != me && owner != 0 {
                bail!(
                    "folder {} belongs to uid {owner}, who can replace the key in it; the folders on a key's path must belong to root or to the milter's user (uid {me})",
                    at.display()
                );
            }
            if mode & 0o022 != 0 && mode & 0o1000 == 0 {
                bail!(
                    "folder {} (mode {mode:04o}) lets other users replace the key in it (chmod go-w {})",
                    at.display(),
                    at.display()
                );
            }
            if mode & 0o011 == 0 {
                return Ok(());
            }
        }
        at.push(c);
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::os::unix::fs::{PermissionsExt, symlink};
    use std::path::Path;

    use super::load_private_key;

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn write_key(p: &Path) {
        let k = waxseal_core::PrivateKey::generate_ed25519(&mut rand::rng()).unwrap();
        std::fs::write(p, k.to_pkcs8_pem().unwrap().as_bytes()).unwrap();
        chmod(p, 0o600);
    }

    fn refused(p: &Path) -> String {
        load_private_key(p)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn keys_others_could_replace_through_a_folder_are_refused() {
        let t = tempfile::tempdir().unwrap();
        // others may enter the test's folder, so what is below it counts
        chmod(t.path(), 0o755);
        let open = t.path().join("open");
        std::fs::create_dir(&open).unwrap();
        let key = open.join("k.private");
        write_key(&key);
        chmod(&open, 0o755);
        assert!(load_private_key(&key).is_ok(), "{}", refused(&key));

        // writable by others, or by the group: refused, with the fix
        for mode in [0o777, 0o757, 0o775] {
            chmod(&open, mode);
            let e = refused(&key);
            assert!(
                e.contains(&format!("folder {} (mode {mode:04o})", open.display()))
                    && e.contains("chmod go-w"),
                "{mode:o}: {e}"
            );
        }
        // sticky, as /tmp is: only the key's owner may rename it
        chmod(&open, 0o1777);
        assert!(load_private_key(&key).is_ok(), "{}", refused(&key));

        // a writable folder under one only its owner may enter is out of
        // others' reach
        chmod(&open, 0o777);
        chmod(t.path(), 0o700);
        assert!(load_private_key(&key).is_ok(), "{}", refused(&key));
        chmod(t.path(), 0o755);

        // a link to a safe key, in a folder others may write to: they can
        // point the link elsewhere
        chmod(&open, 0o755);
        let links = t.path().join("links");
        std::fs::create_dir(&links).unwrap();
        chmod(&links, 0o777);
        let link = links.join("k.private");
        symlink(&key, &link).unwrap();
        let e = refused(&link);
        assert!(e.contains(&format!("folder {}", links.display())), "{e}");
        chmod(&links, 0o755);
        assert!(load_private_key(&link).is_ok(), "{}", refused(&link));

        // a safe link to a key in a folder others may write to
        chmod(&open, 0o777);
        let e = refused(&link);
        assert!(e.contains(&format!("folder {}", open.display())), "{e}");
        chmod(&open, 0o755);

        // a folder another user owns: they may change its mode at will
        let other = if rustix::process::geteuid().as_raw() == 65534 {
            65533
        } else {
            65534
        };
        match std::os::unix::fs::chown(&open, Some(other), None) {
            Ok(()) => {
                let e = refused(&key);
                assert!(
                    e.contains(&format!("folder {} belongs to uid {other}", open.display())),
                    "{e}"
                );
            }
            Err(e) => eprintln!("cannot chown the test folder ({e}): that case needs root"),
        }
    }
}
