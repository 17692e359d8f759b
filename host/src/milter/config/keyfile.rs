//! Private key files: read only when no other user can read them, or
//! remove them or put another in their place.
//!
//! What a key file's own mode cannot tell is the danger in the folders on
//! the way to it: a folder that another user may write to (they can remove
//! the key, so the domain's mail goes unsigned, or put a link to another key
//! of root's or the milter's in its place: a file of their own would fail
//! the owner check), or one that belongs to another user (who can give
//! themselves that right). OpenDKIM's `RequireSafeKeys` checks the folders
//! of the resolved path; this check differs where `check_path` says.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use waxseal_core::PrivateKey;

use crate::crypto::NativeKey;

/// Reads a private key file, refusing one that others can read or replace:
/// a regular file whose mode gives group and others nothing, owned by the
/// user the milter runs as or by root (a milter run as root could
/// otherwise use a key another user owns, which that user can read and
/// replace), reached through folders and links only that user and root
/// can change (on Unix; see `check_path`). The file's checks and the read
/// are of one open file, and the folders are checked on the way to that
/// same file.
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
        let reached = check_path(file, me).map_err(|e| anyhow!("{}: {e:#}", file.display()))?;
        if (reached.dev(), reached.ino()) != (meta.dev(), meta.ino()) {
            bail!(
                "{}: the file changed while it was being checked; try again",
                file.display()
            );
        }
    }
    let mut data = Vec::new();
    f.read_to_end(&mut data).with_context(cannot)?;
    let key = PrivateKey::parse(&data).map_err(|e| anyhow!("{}: {e}", file.display()))?;
    NativeKey::from_core(key)
}

/// Symbolic links followed at most on the way to a key (Linux's limit).
#[cfg(unix)]
const MAX_LINKS: usize = 40;

/// Follows `file` as the kernel does, a name at a time (links included),
/// and checks each folder a name is looked up in with [`folder_rule`];
/// in a sticky folder others may write to, the entry looked up must also
/// belong to root or `me`. Returns what the path leads to (not a link).
///
/// A folder that neither group nor others may enter hides what is below
/// it: no check there, until `..` or a link leads out of it again.
///
/// Design note: OpenDKIM checks only the resolved path, so a link in a
/// folder others may write to (or one of a chain of links) escapes it;
/// and it allows a group-writable folder when no other user is in its
/// group, which takes the user and group databases: waxseal refuses it,
/// and the message says how to fix it. OpenDKIM refuses `/tmp`-like sticky
/// folders, which waxseal allows (with the entry's owner checked).
/// Outside any check: a folder below a private one that is also mounted
/// elsewhere (a bind mount), and handles other processes opened before a
/// folder's mode was tightened.
#[cfg(unix)]
fn check_path(file: &Path, me: u32) -> Result<std::fs::Metadata> {
    use std::collections::VecDeque;
    use std::ffi::OsString;
    use std::os::unix::fs::MetadataExt;
    use std::path::{Component, PathBuf};

    /// A path's parts, as owned values.
    enum Part {
        Root,
        Up,
        Name(OsString),
    }
    fn parts(p: &Path) -> impl Iterator<Item = Part> + '_ {
        p.components().filter_map(|c| match c {
            Component::RootDir => Some(Part::Root),
            Component::ParentDir => Some(Part::Up),
            Component::Normal(n) => Some(Part::Name(n.to_owned())),
            Component::CurDir | Component::Prefix(_) => None,
        })
    }

    let start = std::path::absolute(file).context("cannot make the path absolute")?;
    let mut todo: VecDeque<Part> = parts(&start).collect();
    let mut at = PathBuf::from("/");
    // the private folder `at` is in, if any
    let mut hidden_in: Option<PathBuf> = None;
    let mut links = 0;
    let mut last = None;
    while let Some(part) = todo.pop_front() {
        let name = match part {
            Part::Root => {
                at = PathBuf::from("/");
                hidden_in = None;
                continue;
            }
            Part::Up => {
                at.pop();
                if hidden_in.as_ref().is_some_and(|h| !at.starts_with(h)) {
                    hidden_in = None;
                }
                continue;
            }
            Part::Name(n) => n,
        };
        // `name` is looked up in folder `at`
        let mut sticky_open = false;
        if hidden_in.is_none() {
            let m = std::fs::metadata(&at)
                .with_context(|| format!("cannot read folder {}", at.display()))?;
            match folder_rule(m.mode(), m.uid(), me) {
                Folder::Refused(why) => bail!("folder {} {why}", at.display()),
                Folder::Hidden => hidden_in = Some(at.clone()),
                Folder::Open { sticky } => sticky_open = sticky,
            }
        }
        let next = at.join(&name);
        let m = std::fs::symlink_metadata(&next)
            .with_context(|| format!("cannot read {}", next.display()))?;
        if sticky_open && m.uid() != me && m.uid() != 0 {
            bail!(
                "{} belongs to uid {}, in folder {} that others may write to: that user can replace it (move the key to a folder of its own)",
                next.display(),
                m.uid(),
                at.display()
            );
        }
        if m.file_type().is_symlink() {
            links += 1;
            if links > MAX_LINKS {
                bail!("more than {MAX_LINKS} symbolic links on the way");
            }
            let target = std::fs::read_link(&next)
                .with_context(|| format!("cannot read link {}", next.display()))?;
            for p in parts(&target).collect::<Vec<_>>().into_iter().rev() {
                todo.push_front(p);
            }
            last = None;
        } else {
            at = next;
            last = Some(m);
        }
    }
    last.ok_or_else(|| anyhow!("the path leads to no file"))
}

/// What a folder on a key's path allows, from its mode and owner.
#[cfg(unix)]
#[derive(Debug, PartialEq, Eq)]
enum Folder {
    /// Refused, and why (the folder's name goes before it).
    Refused(String),
    /// Only its owner (root or the milter's user) may enter it: nothing
    /// below it needs checking.
    Hidden,
    /// Checked; `sticky` when others may write to it but the sticky bit
    /// keeps them from renaming or removing entries they do not own.
    Open { sticky: bool },
}

/// The rule for one folder: it must belong to root or `me`, and give group
/// and others no write access unless it is sticky.
#[cfg(unix)]
fn folder_rule(mode: u32, owner: u32, me: u32) -> Folder {
    let mode = mode & 0o7777;
    if owner != me && owner != 0 {
        return Folder::Refused(format!(
            "belongs to uid {owner}, who can replace the key in it; the folders on a key's path must belong to root or to the milter's user (uid {me}): chown the folder, or move the key"
        ));
    }
    let writable = mode & 0o022 != 0;
    let sticky = mode & 0o1000 != 0;
    if writable && !sticky {
        return Folder::Refused(format!(
            "(mode {mode:04o}) lets other users replace the key in it: chmod go-w the folder, or move the key to a folder of its own"
        ));
    }
    if mode & 0o011 == 0 {
        return Folder::Hidden;
    }
    Folder::Open {
        sticky: writable && sticky,
    }
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
    use std::path::Path;

    use super::{Folder, folder_rule, load_private_key};

    #[test]
    fn the_folder_rule() {
        let me = 1000;
        for (mode, owner, want) in [
            (0o755, 0, Folder::Open { sticky: false }),
            (0o755, me, Folder::Open { sticky: false }),
            (0o711, me, Folder::Open { sticky: false }),
            // the group may enter: what is below still counts
            (0o710, me, Folder::Open { sticky: false }),
            (0o701, 0, Folder::Open { sticky: false }),
            (0o700, me, Folder::Hidden),
            (0o500, 0, Folder::Hidden),
            // sticky: others may add entries, not rename or remove others'
            (0o1777, 0, Folder::Open { sticky: true }),
            (0o1770, 0, Folder::Open { sticky: true }),
            (0o1700, me, Folder::Hidden),
            (0o1755, 0, Folder::Open { sticky: false }),
        ] {
            assert_eq!(folder_rule(0o40000 | mode, owner, me), want, "{mode:o}");
        }
        for (mode, owner, says) in [
            (0o777, 0, "(mode 0777) lets other users replace the key"),
            (0o775, me, "(mode 0775)"),
            (0o757, me, "(mode 0757)"),
            (0o2775, 0, "(mode 2775)"),
            (0o755, 1001, "belongs to uid 1001"),
            (0o700, 1001, "belongs to uid 1001"),
            (0o1777, 1001, "belongs to uid 1001"),
        ] {
            match folder_rule(mode, owner, me) {
                Folder::Refused(why) => assert!(why.contains(says), "{mode:o}: {why}"),
                other => panic!("{mode:o} uid {owner}: {other:?}"),
            }
        }
        // root's own folders are fine for a milter run as another user
        assert_eq!(folder_rule(0o755, 0, 0), Folder::Open { sticky: false });
    }

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
            .map(|e| format!("{e:#}"))
            .unwrap_or_default()
    }

    fn folder(p: &Path, mode: u32) {
        std::fs::create_dir(p).unwrap();
        chmod(p, mode);
    }

    #[test]
    fn keys_others_could_replace_through_a_folder_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let me = rustix::process::geteuid().as_raw();
        // the cases below need a test folder others may reach, under
        // folders that pass (not so where TMPDIR is in a private home)
        for a in t.path().ancestors().skip(1) {
            let m = std::fs::metadata(a).unwrap();
            if !matches!(folder_rule(m.mode(), m.uid(), me), Folder::Open { .. }) {
                eprintln!("skipped: {} is not a folder others may pass", a.display());
                return;
            }
        }
        // others may enter the test's folder, so what is below it counts
        chmod(t.path(), 0o755);
        let open = t.path().join("open");
        folder(&open, 0o755);
        let key = open.join("k.private");
        write_key(&key);
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
        // others' reach; one the group may enter is not
        chmod(&open, 0o777);
        chmod(t.path(), 0o700);
        assert!(load_private_key(&key).is_ok(), "{}", refused(&key));
        chmod(t.path(), 0o710);
        assert!(refused(&key).contains("(mode 0777)"));
        chmod(t.path(), 0o755);

        // `..` or an absolute link out of a private folder: what follows
        // counts again
        let private = t.path().join("private");
        folder(&private, 0o700);
        folder(&private.join("sub"), 0o755);
        symlink(&key, private.join("link")).unwrap();
        let up = private.join("sub/../../open/k.private");
        for p in [&up, &private.join("link")] {
            let e = refused(p);
            assert!(
                e.contains(&format!("folder {} (mode 0777)", open.display())),
                "{}: {e}",
                p.display()
            );
        }
        chmod(&open, 0o755);
        assert!(load_private_key(&up).is_ok(), "{}", refused(&up));

        // a link to a safe key, in a folder others may write to: they can
        // point the link elsewhere
        let links = t.path().join("links");
        folder(&links, 0o777);
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

        // a chain of links, the middle one in a folder others may write
        // to (neither on the path as given nor on the resolved one), with
        // a relative target
        let middle = t.path().join("middle");
        folder(&middle, 0o777);
        symlink("../open/k.private", middle.join("k2")).unwrap();
        let chain = t.path().join("chain");
        folder(&chain, 0o755);
        symlink(middle.join("k2"), chain.join("k")).unwrap();
        let e = refused(&chain.join("k"));
        assert!(e.contains(&format!("folder {}", middle.display())), "{e}");
        chmod(&middle, 0o1777);
        let k = chain.join("k");
        assert!(load_private_key(&k).is_ok(), "{}", refused(&k));

        // entries of others in a sticky folder, and folders of others:
        // they may change them at will (root can make both)
        let other = if me == 65534 { 65533 } else { 65534 };
        if std::os::unix::fs::lchown(middle.join("k2"), Some(other), None).is_ok() {
            let e = refused(&k);
            assert!(e.contains(&format!("k2 belongs to uid {other}")), "{e}");
            std::os::unix::fs::chown(&open, Some(other), None).unwrap();
            let e = refused(&key);
            assert!(
                e.contains(&format!("folder {} belongs to uid {other}", open.display())),
                "{e}"
            );
        } else {
            // the rule itself is tested in `the_folder_rule`
            eprintln!("cannot chown: the cases of other users' entries need root");
        }
    }
}
