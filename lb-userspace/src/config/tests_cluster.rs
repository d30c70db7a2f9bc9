//! `[cluster]`: accepted forms, defaults, and refusals with line and key.

use std::{path::Path, time::Duration};

use super::{
    tests_errors::{fails, with_daemon},
    *,
};

fn with_cluster(section: &str) -> String {
    // [cluster] starts at line 3.
    with_daemon(&format!("[cluster]\n{section}"))
}

#[test]
fn no_cluster_section_means_one_node() {
    let c = parse(&with_daemon(""), Path::new("/etc/lb.toml")).unwrap();
    assert_eq!(c.cluster, None);
}

#[test]
fn cluster_with_defaults_and_bgp() {
    let text = with_cluster(
        "node = \"lb-1\"\netcd = [\"http://192.0.2.50:2379\", \"http://[2001:db8::50]:2379\"]\n\
         [cluster.bgp]\ninclude = \"/run/lb/vips.conf\"\n",
    );
    let c = parse(&text, Path::new("/etc/lb.toml"))
        .unwrap()
        .cluster
        .unwrap();
    assert_eq!(c.node.as_str(), "lb-1");
    assert_eq!(c.etcd.len(), 2);
    assert_eq!(c.prefix.as_str(), "/lb");
    assert_eq!(c.lease_ttl, Duration::from_secs(5));
    let bgp = c.bgp.unwrap();
    assert_eq!(bgp.socket, Path::new("/run/bird/bird.ctl"));
    assert_eq!(bgp.include, Path::new("/run/lb/vips.conf"));
    assert_eq!(bgp.protocol, "lb_vips");

    let text = with_cluster(
        "node = \"lb-2\"\netcd = [\"http://etcd-1:2379\"]\nprefix = \"/prod/lb\"\nlease_ttl = \"3s\"\n",
    );
    let c = parse(&text, Path::new("/etc/lb.toml"))
        .unwrap()
        .cluster
        .unwrap();
    assert_eq!(c.prefix.as_str(), "/prod/lb");
    assert_eq!(c.lease_ttl, Duration::from_secs(3));
    assert_eq!(c.bgp, None);
}

#[test]
fn cluster_refusals_name_line_and_key() {
    let etcd = "etcd = [\"http://192.0.2.50:2379\"]\n";
    fails(
        &with_cluster(etcd),
        3,
        "cluster.node",
        "required key is missing",
    );
    fails(
        &with_cluster(&format!("node = \"lb/1\"\n{etcd}")),
        4,
        "cluster.node",
        "node name",
    );
    fails(
        &with_cluster("node = \"lb-1\"\netcd = []\n"),
        5,
        "cluster.etcd",
        "at least one endpoint",
    );
    fails(
        &with_cluster("node = \"lb-1\"\netcd = [\"http://a:2379\", \"192.0.2.50:2379\"]\n"),
        5,
        "cluster.etcd[1]",
        "http://",
    );
    fails(
        &with_cluster("node = \"lb-1\"\netcd = [\"https://a:2379\"]\n"),
        5,
        "cluster.etcd[0]",
        "TLS",
    );
    fails(
        &with_cluster("node = \"lb-1\"\netcd = [\"http://a:2379/v3\"]\n"),
        5,
        "cluster.etcd[0]",
        "no path",
    );
    fails(
        &with_cluster(&format!("node = \"lb-1\"\n{etcd}prefix = \"lb/\"\n")),
        6,
        "cluster.prefix",
        "key prefix",
    );
    fails(
        &with_cluster(&format!("node = \"lb-1\"\n{etcd}lease_ttl = \"1500ms\"\n")),
        6,
        "cluster.lease_ttl",
        "whole seconds",
    );
    fails(
        &with_cluster(&format!("node = \"lb-1\"\n{etcd}lease_ttl = \"1s\"\n")),
        6,
        "cluster.lease_ttl",
        "from 2s to 60s",
    );
    fails(
        &with_cluster(&format!("node = \"lb-1\"\n{etcd}zone = \"a\"\n")),
        6,
        "cluster.zone",
        "unknown field",
    );
    let bgp = format!("node = \"lb-1\"\n{etcd}[cluster.bgp]\n");
    fails(
        &with_cluster(&format!("{bgp}include = \"vips.conf\"\n")),
        7,
        "cluster.bgp.include",
        "absolute path",
    );
    fails(
        &with_cluster(&format!("{bgp}include = \"/x\"\nprotocol = \"lb-vips\"\n")),
        8,
        "cluster.bgp.protocol",
        "BIRD protocol name",
    );
}
