//! Ignition's config merge (`config/merge` upstream): a child config is
//! laid over a parent.
//!
//! * Set scalars of the child replace the parent's (unset leaves them).
//! * Keyed lists merge entry by entry, new keys are appended in order:
//!   files, directories and links share one key space (`path`) — a child
//!   node replaces a parent node of another kind at the same path; units
//!   and drop-ins by `name`, users and groups by `name`, CAs and merge
//!   entries by `source`, HTTP headers by `name` (a child header without a
//!   value deletes the parent's).
//! * String lists keyed by value (`sshAuthorizedKeys`, `groups`,
//!   `noProxy`) are unions; `append` fragments are concatenated.

use crate::config::*;

/// Returns `parent` with `child` merged over it.
pub fn merge(mut parent: Config, child: Config) -> Config {
    let p = &mut parent;
    let c = child;
    merge_ignition(&mut p.ignition, c.ignition);
    merge_storage(&mut p.storage, c.storage);
    keyed(
        &mut p.systemd.units,
        c.systemd.units,
        |u| Some(u.name.clone()),
        merge_unit,
    );
    keyed(
        &mut p.passwd.users,
        c.passwd.users,
        |u| Some(u.name.clone()),
        merge_user,
    );
    keyed(
        &mut p.passwd.groups,
        c.passwd.groups,
        |g| Some(g.name.clone()),
        merge_group,
    );
    if c.kernel_arguments.is_some() {
        p.kernel_arguments = c.kernel_arguments;
    }
    parent
}

/// The `ignition` section: version, config merge/replace, timeouts, CAs, proxy.
fn merge_ignition(p: &mut Ignition, c: Ignition) {
    set(&mut p.version, c.version);
    keyed(
        &mut p.config.merge,
        c.config.merge,
        |r| r.source.clone(),
        merge_resource,
    );
    merge_resource(&mut p.config.replace, c.config.replace);
    set(
        &mut p.timeouts.http_response_headers,
        c.timeouts.http_response_headers,
    );
    set(&mut p.timeouts.http_total, c.timeouts.http_total);
    keyed(
        &mut p.security.tls.certificate_authorities,
        c.security.tls.certificate_authorities,
        |r| r.source.clone(),
        merge_resource,
    );
    set(&mut p.proxy.http_proxy, c.proxy.http_proxy);
    set(&mut p.proxy.https_proxy, c.proxy.https_proxy);
    union(&mut p.proxy.no_proxy, c.proxy.no_proxy);
}

/// The `storage` section: the unsupported lists are concatenated; files,
/// directories and links share one key space (`path`), so a child node
/// replaces a parent node of another kind at its path.
fn merge_storage(s: &mut Storage, c: Storage) {
    s.disks.extend(c.disks);
    s.raid.extend(c.raid);
    s.filesystems.extend(c.filesystems);
    s.luks.extend(c.luks);
    for f in c.files {
        remove_path(&mut s.directories, &f.path, |d| &d.path);
        remove_path(&mut s.links, &f.path, |l| &l.path);
        keyed(&mut s.files, vec![f], |f| Some(f.path.clone()), merge_file);
    }
    for d in c.directories {
        remove_path(&mut s.files, &d.path, |f| &f.path);
        remove_path(&mut s.links, &d.path, |l| &l.path);
        keyed(
            &mut s.directories,
            vec![d],
            |d| Some(d.path.clone()),
            merge_directory,
        );
    }
    for l in c.links {
        remove_path(&mut s.files, &l.path, |f| &f.path);
        remove_path(&mut s.directories, &l.path, |d| &d.path);
        keyed(&mut s.links, vec![l], |l| Some(l.path.clone()), merge_link);
    }
}

fn set<T>(p: &mut Option<T>, c: Option<T>) {
    if c.is_some() {
        *p = c;
    }
}

fn union(p: &mut Vec<String>, c: Vec<String>) {
    for s in c {
        if !p.contains(&s) {
            p.push(s);
        }
    }
}

fn remove_path<T>(list: &mut Vec<T>, path: &str, key: impl Fn(&T) -> &String) {
    list.retain(|x| key(x) != path);
}

/// Merges `child` entries into `parent` by key; entries without a key are
/// appended.
fn keyed<T, K: PartialEq>(
    parent: &mut Vec<T>,
    child: Vec<T>,
    key: impl Fn(&T) -> Option<K>,
    merge_entry: impl Fn(&mut T, T),
) {
    for c in child {
        let k = key(&c);
        match k.and_then(|k| parent.iter_mut().find(|p| key(p).as_ref() == Some(&k))) {
            Some(p) => merge_entry(p, c),
            None => parent.push(c),
        }
    }
}

fn merge_resource(p: &mut Resource, c: Resource) {
    set(&mut p.source, c.source);
    set(&mut p.compression, c.compression);
    for h in c.http_headers {
        match h.value {
            None => p.http_headers.retain(|x| x.name != h.name),
            Some(_) => keyed(
                &mut p.http_headers,
                vec![h],
                |h| Some(h.name.clone()),
                |p, c| *p = c,
            ),
        }
    }
    set(&mut p.verification.hash, c.verification.hash);
}

fn merge_owner(p: &mut NodeOwner, c: NodeOwner) {
    set(&mut p.id, c.id);
    set(&mut p.name, c.name);
}

fn merge_file(p: &mut File, c: File) {
    set(&mut p.overwrite, c.overwrite);
    merge_owner(&mut p.user, c.user);
    merge_owner(&mut p.group, c.group);
    merge_resource(&mut p.contents, c.contents);
    p.append.extend(c.append);
    set(&mut p.mode, c.mode);
}

fn merge_directory(p: &mut Directory, c: Directory) {
    set(&mut p.overwrite, c.overwrite);
    merge_owner(&mut p.user, c.user);
    merge_owner(&mut p.group, c.group);
    set(&mut p.mode, c.mode);
}

fn merge_link(p: &mut Link, c: Link) {
    set(&mut p.overwrite, c.overwrite);
    merge_owner(&mut p.user, c.user);
    merge_owner(&mut p.group, c.group);
    set(&mut p.target, c.target);
    set(&mut p.hard, c.hard);
}

fn merge_unit(p: &mut Unit, c: Unit) {
    set(&mut p.enabled, c.enabled);
    set(&mut p.mask, c.mask);
    set(&mut p.contents, c.contents);
    keyed(
        &mut p.dropins,
        c.dropins,
        |d| Some(d.name.clone()),
        |p, c| set(&mut p.contents, c.contents),
    );
}

fn merge_user(p: &mut User, c: User) {
    set(&mut p.password_hash, c.password_hash);
    union(&mut p.ssh_authorized_keys, c.ssh_authorized_keys);
    set(&mut p.uid, c.uid);
    set(&mut p.gecos, c.gecos);
    set(&mut p.home_dir, c.home_dir);
    set(&mut p.no_create_home, c.no_create_home);
    set(&mut p.primary_group, c.primary_group);
    union(&mut p.groups, c.groups);
    set(&mut p.no_user_group, c.no_user_group);
    set(&mut p.no_log_init, c.no_log_init);
    set(&mut p.shell, c.shell);
    set(&mut p.system, c.system);
    set(&mut p.should_exist, c.should_exist);
}

fn merge_group(p: &mut Group, c: Group) {
    set(&mut p.gid, c.gid);
    set(&mut p.password_hash, c.password_hash);
    set(&mut p.system, c.system);
    set(&mut p.should_exist, c.should_exist);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(v: serde_json::Value) -> Config {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn keyed_lists_and_shared_node_keys() {
        let parent = cfg(json!({
            "ignition": {"version": "3.0.0"},
            "storage": {
                "files": [{"path": "/a", "mode": 420, "contents": {"source": "data:,p"}}, {"path": "/b"}],
                "links": [{"path": "/c", "target": "/x"}]
            },
            "passwd": {"users": [{"name": "core", "sshAuthorizedKeys": ["k1"], "shell": "/bin/sh"}]},
            "systemd": {"units": [{"name": "a.service", "enabled": true, "dropins": [{"name": "x.conf", "contents": "1"}]}]}
        }));
        let child = cfg(json!({
            "ignition": {"version": "3.4.0"},
            "storage": {
                "files": [{"path": "/a", "contents": {"source": "data:,c"}, "append": [{"source": "data:,z"}]}, {"path": "/c"}],
                "directories": [{"path": "/b"}]
            },
            "passwd": {"users": [{"name": "core", "sshAuthorizedKeys": ["k1", "k2"]}, {"name": "u2"}]},
            "systemd": {"units": [{"name": "a.service", "enabled": false, "dropins": [{"name": "y.conf"}]}]}
        }));
        let m = merge(parent, child);
        assert_eq!(m.ignition.version.as_deref(), Some("3.4.0"));
        let files: Vec<&str> = m.storage.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            files,
            ["/a", "/c"],
            "file /b became a directory, link /c a file"
        );
        assert_eq!(m.storage.files[0].mode, Some(420));
        assert_eq!(
            m.storage.files[0].contents.source.as_deref(),
            Some("data:,c")
        );
        assert_eq!(m.storage.files[0].append.len(), 1);
        assert!(m.storage.links.is_empty());
        assert_eq!(m.storage.directories[0].path, "/b");
        assert_eq!(m.passwd.users[0].ssh_authorized_keys, ["k1", "k2"]);
        assert_eq!(m.passwd.users[0].shell.as_deref(), Some("/bin/sh"));
        assert_eq!(m.passwd.users.len(), 2);
        assert_eq!(m.systemd.units[0].enabled, Some(false));
        assert_eq!(m.systemd.units[0].dropins.len(), 2);
    }

    #[test]
    fn header_without_value_deletes() {
        let p = cfg(
            json!({"ignition": {"config": {"replace": {"source": "http://a", "httpHeaders": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}}}}),
        );
        let c = cfg(
            json!({"ignition": {"config": {"replace": {"httpHeaders": [{"name": "A"}, {"name": "B", "value": "3"}]}}}}),
        );
        let m = merge(p, c);
        let h = &m.ignition.config.replace.http_headers;
        assert_eq!(h.len(), 1);
        assert_eq!(
            (h[0].name.as_str(), h[0].value.as_deref()),
            ("B", Some("3"))
        );
    }
}
