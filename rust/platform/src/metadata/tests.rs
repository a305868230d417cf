//! The metadata agent against the emulated EC2 and OpenStack services on
//! 127.0.0.1 and config drive images: attributes, 404s, retries, keys.

use super::*;
use crate::configdrive::tests::{fake_machine, iso, NOVA_FLAGS};
use crate::providers::tests::context;
use metalos_tests::metadata_service::{
    openstack_meta_data, MetadataService, Tokens, EC2_VALUES, KEY1, KEY2, KEY3, OPENSTACK_UUID,
};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

const ALL: Wanted = Wanted {
    attributes: true,
    ssh_keys: true,
    hostname: true,
};

fn ctx_for(url: &str, dir: &Path) -> crate::FetchContext {
    let (mut ctx, _) = context(url, dir, Duration::from_secs(30));
    ctx.deadline = None;
    ctx
}

fn ec2_attributes() -> BTreeMap<String, String> {
    let keys = [
        "AWS_INSTANCE_ID",
        "AWS_INSTANCE_TYPE",
        "AWS_IPV4_LOCAL",
        "AWS_IPV4_PUBLIC",
        "AWS_IPV6",
        "AWS_AVAILABILITY_ZONE",
        "AWS_AVAILABILITY_ZONE_ID",
        "AWS_HOSTNAME",
        "AWS_PUBLIC_HOSTNAME",
    ];
    let mut m: BTreeMap<String, String> = keys
        .iter()
        .zip(EC2_VALUES)
        .map(|(k, (_, v))| (k.to_string(), v.to_string()))
        .collect();
    m.insert("AWS_REGION".into(), "eu-west-3".into());
    m
}

#[test]
fn ec2_imdsv2_required_and_v1_only_give_the_same_metadata() {
    let dir = tempfile::tempdir().unwrap();
    for tokens in [Tokens::Required, Tokens::V1Only] {
        let imds = MetadataService::ec2(tokens, &[("laptop", KEY1), ("ci", KEY3)]);
        let m = fetch_metadata(Provider::Aws, &ctx_for(&imds.url, dir.path()), ALL).unwrap();
        assert_eq!(m.attributes, ec2_attributes(), "{tokens:?}");
        assert_eq!(m.ssh_keys, [KEY1, KEY3]);
        assert_eq!(m.hostname.as_deref(), Some(EC2_VALUES[7].1));
        assert_eq!(m.source, format!("{}/2021-01-03", imds.url));
        let requests = imds.requests();
        assert_eq!(requests[0], "PUT /latest/api/token");
        let with_token = tokens == Tokens::Required;
        assert!(
            requests[1..]
                .iter()
                .all(|r| r.ends_with(" token") == with_token),
            "{requests:?}"
        );
    }
}

#[test]
fn ec2_404s_are_left_out_and_no_keys_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let imds = MetadataService::ec2(Tokens::Optional, &[]);
    imds.remove("/latest/meta-data/ipv6")
        .remove("/latest/meta-data/public-ipv4")
        .remove("/latest/dynamic/instance-identity/document");
    let m = fetch_metadata(Provider::Aws, &ctx_for(&imds.url, dir.path()), ALL).unwrap();
    let mut want = ec2_attributes();
    for k in ["AWS_IPV6", "AWS_IPV4_PUBLIC", "AWS_REGION"] {
        want.remove(k);
    }
    assert_eq!(m.attributes, want);
    assert!(m.ssh_keys.is_empty());
    // Only what is wanted is fetched.
    let before = imds.requests().len();
    let wanted = Wanted {
        ssh_keys: true,
        ..Wanted::default()
    };
    let m = fetch_metadata(Provider::Aws, &ctx_for(&imds.url, dir.path()), wanted).unwrap();
    assert!(m.attributes.is_empty() && m.hostname.is_none());
    assert_eq!(
        imds.requests().len() - before,
        2,
        "the token and the key listing"
    );
}

#[test]
fn ec2_500_then_200_and_a_failing_token() {
    let dir = tempfile::tempdir().unwrap();
    let imds = MetadataService::ec2(Tokens::Optional, &[("a", KEY2)]);
    imds.fail_next(4, 500);
    let m = fetch_metadata(Provider::Aws, &ctx_for(&imds.url, dir.path()), ALL).unwrap();
    assert_eq!(m.attributes, ec2_attributes());
    assert_eq!(m.ssh_keys, [KEY2]);
    // A token endpoint that keeps failing: afterburn goes on with IMDSv1.
    let puts = |imds: &MetadataService| {
        imds.requests()
            .iter()
            .filter(|r| r.starts_with("PUT"))
            .count()
    };
    let before = puts(&imds);
    imds.set_status("/latest/api/token", 500);
    let (ctx, log) = context(&imds.url, dir.path(), Duration::from_secs(30));
    let m = fetch_metadata(Provider::Aws, &ctx, ALL).unwrap();
    assert_eq!(m.ssh_keys, [KEY2]);
    let log = log.lock().unwrap();
    assert!(
        log.iter().any(|l| l.contains("going on with IMDSv1")),
        "{log:?}"
    );
    assert_eq!(puts(&imds) - before, 11, "a try and 10 retries");
}

#[test]
fn retries_are_bounded_and_the_error_names_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let imds = MetadataService::ec2(Tokens::V1Only, &[]);
    imds.set_status("/latest/meta-data/instance-id", 500);
    let mut ctx = ctx_for(&imds.url, dir.path());
    ctx.metadata_retry.retries = Some(3);
    let e = fetch_metadata(Provider::Aws, &ctx, ALL)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!(
            "GET {}/2021-01-03/meta-data/instance-id: HTTP 500 Internal Server Error (after 4 attempts)",
            imds.url
        )
    );
    // A 401 is retried too (afterburn retries every status but 404).
    imds.set_status("/latest/meta-data/instance-id", 401);
    let e = fetch_metadata(Provider::Aws, &ctx, ALL)
        .unwrap_err()
        .to_string();
    assert!(
        e.ends_with("HTTP 401 Unauthorized (after 4 attempts)"),
        "{e}"
    );
}

#[test]
fn bad_keys_and_listings_fail_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let imds = MetadataService::ec2(Tokens::V1Only, &[("bad", "ssh-ed25519 notbase64!")]);
    let ctx = ctx_for(&imds.url, dir.path());
    let e = fetch_metadata(Provider::Aws, &ctx, ALL)
        .unwrap_err()
        .to_string();
    let url = format!(
        "{}/2021-01-03/meta-data/public-keys/0/openssh-key",
        imds.url
    );
    assert!(
        e.starts_with(&format!("{url}: not an SSH public key: ")),
        "{e}"
    );
    imds.set("/latest/meta-data/public-keys", "garbage");
    let e = fetch_metadata(Provider::Aws, &ctx, ALL)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("not an `<index>=<name>` line: \"garbage\""),
        "{e}"
    );
    imds.set("/latest/meta-data/public-keys", "0=a\n1=b");
    imds.set("/latest/meta-data/public-keys/0/openssh-key", KEY1);
    let e = fetch_metadata(Provider::Aws, &ctx, ALL)
        .unwrap_err()
        .to_string();
    assert!(
        e.ends_with("public-keys/1/openssh-key: missing ssh key (404)"),
        "{e}"
    );
}

fn openstack_attributes() -> BTreeMap<String, String> {
    [
        ("OPENSTACK_HOSTNAME", "metalos-vm.novalocal"),
        ("OPENSTACK_INSTANCE_ID", "i-0000a1b2"),
        ("OPENSTACK_INSTANCE_TYPE", "m1.small"),
        ("OPENSTACK_INSTANCE_UUID", OPENSTACK_UUID),
        ("OPENSTACK_IPV4_LOCAL", "10.0.151.35"),
        ("OPENSTACK_IPV4_PUBLIC", "198.51.100.7"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[test]
fn openstack_metadata_service() {
    let dir = tempfile::tempdir().unwrap();
    fake_machine(dir.path(), &[]);
    let nova = MetadataService::openstack(&[("mykey", KEY1), ("other", KEY2)]);
    for provider in [Provider::Openstack, Provider::OpenstackMetadata] {
        let m = fetch_metadata(provider, &ctx_for(&nova.url, dir.path()), ALL).unwrap();
        assert_eq!(m.attributes, openstack_attributes());
        assert_eq!(m.ssh_keys, [KEY1, KEY2]);
        assert_eq!(m.hostname.as_deref(), Some("metalos-vm.novalocal"));
    }
    // No keys (404 on public-keys) and no nova JSON: fine.
    nova.set_keys(&[])
        .remove("/openstack/2012-08-10/meta_data.json");
    let m = fetch_metadata(Provider::Openstack, &ctx_for(&nova.url, dir.path()), ALL).unwrap();
    assert!(m.ssh_keys.is_empty());
    assert!(!m.attributes.contains_key("OPENSTACK_INSTANCE_UUID"));
}

#[test]
fn openstack_config_drive_first() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("openstack/latest")).unwrap();
    std::fs::create_dir_all(tree.join("ec2/latest")).unwrap();
    std::fs::write(
        tree.join("openstack/latest/meta_data.json"),
        openstack_meta_data(&[("zeta", KEY3), ("alpha", KEY1)]),
    )
    .unwrap();
    std::fs::write(
        tree.join("ec2/latest/meta-data.json"),
        r#"{"instance-id":"i-0000a1b2","instance-type":"m1.small","local-ipv4":"10.0.151.35","public-ipv4":"198.51.100.7"}"#,
    )
    .unwrap();
    let image = dir.path().join("cd.iso");
    iso(&tree, &image, "config-2", NOVA_FLAGS);
    let (_, dev) = fake_machine(dir.path(), &[("sr0", &image)]);
    // The service would give other keys: the drive wins.
    let nova = MetadataService::openstack(&[("svc", KEY2)]);
    let ctx = ctx_for(&nova.url, dir.path());
    let m = fetch_metadata(Provider::Openstack, &ctx, ALL).unwrap();
    assert_eq!(m.attributes, openstack_attributes());
    assert_eq!(m.ssh_keys, [KEY1, KEY3], "by key name");
    assert_eq!(m.source, dev.join("sr0").display().to_string());
    assert!(nova.requests().is_empty());
    // openstack-metadata ignores the drive.
    let m = fetch_metadata(Provider::OpenstackMetadata, &ctx, ALL).unwrap();
    assert_eq!(m.ssh_keys, [KEY2]);
    // Without the ec2 file: only the hostname and uuid.
    std::fs::remove_file(tree.join("ec2/latest/meta-data.json")).unwrap();
    iso(&tree, &image, "config-2", NOVA_FLAGS);
    std::fs::copy(&image, dev.join("sr0")).unwrap();
    let m = fetch_metadata(Provider::Openstack, &ctx, ALL).unwrap();
    assert_eq!(
        m.attributes.keys().collect::<Vec<_>>(),
        ["OPENSTACK_HOSTNAME", "OPENSTACK_INSTANCE_UUID"]
    );
}

#[test]
fn provider_names() {
    assert_eq!(Provider::parse("ec2").unwrap(), Provider::Aws);
    assert_eq!(
        Provider::parse("openstack-metadata").unwrap().name(),
        "openstack-metadata"
    );
    let e = Provider::parse("metal").unwrap_err().to_string();
    assert!(
        e.starts_with("platform \"metal\" has no metadata service"),
        "{e}"
    );
    let e = Provider::parse("bogus").unwrap_err().to_string();
    assert!(
        e.starts_with("unknown platform id \"bogus\" (from --provider)"),
        "{e}"
    );
}

#[test]
fn attribute_and_hostname_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run/metadata/afterburn");
    let mut attrs = BTreeMap::new();
    attrs.insert("B".to_string(), "2".to_string());
    attrs.insert("A".to_string(), "x=y".to_string());
    write_attributes(&path, &attrs).unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "AFTERBURN_A=x=y\nAFTERBURN_B=2\n"
    );
    write_attributes(&path, &BTreeMap::new()).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temp files left");
    let host = dir.path().join("hostname");
    write_hostname(&host, "node-1.example.org").unwrap();
    assert_eq!(
        std::fs::read_to_string(&host).unwrap(),
        "node-1.example.org\n"
    );
    let long = format!("{}.example.org", "a".repeat(70));
    assert_eq!(truncate_hostname(&long), "a".repeat(64));
    let long = format!("{}.{}", "b".repeat(40), "c".repeat(40));
    assert_eq!(truncate_hostname(&long), "b".repeat(40));
}

#[test]
fn ssh_keys_fragment_written_replaced_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    // The temp dir is ours: its owner is this process's user.
    let meta = std::fs::metadata(dir.path()).unwrap();
    let (uid, gid) = (meta.uid(), meta.gid());
    let user = metalos_sshkeys::User {
        name: "core".into(),
        uid,
        gid,
        home: dir.path().to_path_buf(),
    };
    let ssh = dir.path().join(".ssh");
    let fragment = ssh.join("authorized_keys.d").join(FRAGMENT);
    let keys = vec![KEY1.to_string(), KEY2.to_string()];
    let out = apply_ssh_keys(&user, &keys).unwrap();
    assert_eq!(
        out,
        SshKeysOutcome::Wrote {
            fragment: fragment.clone(),
            keys: 2
        }
    );
    assert_eq!(
        std::fs::read_to_string(&fragment).unwrap(),
        format!("{KEY1}\n{KEY2}\n")
    );
    let ak = std::fs::read_to_string(ssh.join("authorized_keys")).unwrap();
    assert_eq!(ak, format!("{}\n{KEY1}\n{KEY2}\n", metalos_sshkeys::HEADER));
    // Disabled locally: re-applied anyway (as on Flatcar, every boot).
    std::fs::write(&fragment, "").unwrap();
    apply_ssh_keys(&user, &keys[..1]).unwrap();
    assert_eq!(
        std::fs::read_to_string(&fragment).unwrap(),
        format!("{KEY1}\n")
    );
    // Another set stays; the platform's keys go when the metadata has none.
    std::fs::write(ssh.join("authorized_keys.d/ignition"), format!("{KEY3}\n")).unwrap();
    assert_eq!(
        apply_ssh_keys(&user, &[]).unwrap(),
        SshKeysOutcome::Removed {
            fragment: fragment.clone()
        }
    );
    let ak = std::fs::read_to_string(ssh.join("authorized_keys")).unwrap();
    assert_eq!(ak, format!("{}\n{KEY3}\n", metalos_sshkeys::HEADER));
    assert_eq!(apply_ssh_keys(&user, &[]).unwrap(), SshKeysOutcome::Nothing);
    // The last set gone: authorized_keys keeps only its header.
    std::fs::remove_file(ssh.join("authorized_keys.d/ignition")).unwrap();
    apply_ssh_keys(&user, &keys).unwrap();
    apply_ssh_keys(&user, &[]).unwrap();
    let ak = std::fs::read_to_string(ssh.join("authorized_keys")).unwrap();
    assert_eq!(ak, format!("{}\n", metalos_sshkeys::HEADER));
}
