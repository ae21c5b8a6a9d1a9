"""lab.parse against real recorded outputs (see samples/SOURCES.md for where each came from)."""

from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path

import pytest

from lab import parse

SAMPLES = Path(__file__).parent / "samples"


def sample(path: str) -> str:
    return (SAMPLES / path).read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- ping

@pytest.mark.parametrize(
    "path, transmitted, received, loss, avg",
    [
        pytest.param("ping/article-busybox-3of3.txt", 3, 3, 0.0, 1.507, id="article-busybox"),
        pytest.param("ping/article-busybox-ctrl-c.txt", 1, 1, 0.0, 0.345, id="article-busybox-ctrl-c"),
        pytest.param("ping/article-iputils-100-loss.txt", 4, 0, 100.0, None, id="article-iputils-100-loss"),
        pytest.param("ping/article-iputils-3of3.txt", 3, 3, 0.0, 2.228, id="article-iputils"),
        pytest.param("ping/kubeadm-transcripts-100-loss.txt", 5, 0, 100.0, None, id="kubeadm-transcripts-100-loss"),
        pytest.param("ping/kubeadm-transcripts-5of5.txt", 5, 5, 0.0, 0.039, id="kubeadm-transcripts"),
        pytest.param("ping/iputils-issue500-errors.txt", 5, 0, 100.0, None, id="iputils-issue500-errors"),
        pytest.param("ping/iputils-issue484-fractional-loss.txt", 8, 1, 87.5, 76.424, id="iputils-issue484"),
        pytest.param("ping/iputils-issue583-flood-lost.txt", 1751, 1750, 0.0, 1.030, id="iputils-issue583-flood"),
        pytest.param("ping/tmo-monitor-pr46-busybox.txt", 2, 2, 0.0, 0.801, id="tmo-monitor-busybox"),
    ],
)
def test_ping(path, transmitted, received, loss, avg):
    assert parse.ping(sample(path)) == parse.PingResult(transmitted, received, loss, avg)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(sample("ping/haos-pr4854-busybox-no-fancy-ping.txt"), id="haos-busybox-without-fancy-ping"),
        pytest.param("", id="empty"),
        pytest.param(sample("ping/article-busybox-3of3.txt") + sample("ping/article-busybox-ctrl-c.txt"),
                     id="two-runs"),
        pytest.param(sample("routes/article-after-expose.txt"), id="ip-route-text"),
    ],
)
def test_ping_rejects(text):
    with pytest.raises(ValueError, match="ping summary"):
        parse.ping(text)


# ----------------------------------------------------------------------------- ip addr

def net(*cidrs):
    return [IPv4Interface(c) for c in cidrs]


@pytest.mark.parametrize(
    "path, expected",
    [
        pytest.param("ip_addrs/article-busybox-container.txt",
                     {"lo": net("127.0.0.1/8"), "ethwe0": net("10.40.0.0/12"), "eth0": net("172.18.0.2/16")},
                     id="article-busybox"),
        pytest.param("ip_addrs/article-host-weave-exposed.txt", {"weave": net("10.40.0.1/12")},
                     id="article-host-after-expose"),
        pytest.param("ip_addrs/article-container-weave-proxy.txt",
                     {"lo": net("127.0.0.1/8"), "eth0": net("172.17.0.2/16"), "ethwe": net("10.32.1.192/24")},
                     id="article-weave-proxy-subnet"),
        pytest.param("ip_addrs/blogwiki-issue65-iproute2.txt",
                     {"lo": net("127.0.0.1/8"), "eno1np0": [], "eno3": net("172.16.33.50/24"), "eno2np1": [],
                      "eno4": [], "docker0": []},
                     id="blogwiki-issue65"),
        pytest.param("ip_addrs/k8s-exec-plugin-issue109-container.txt",
                     {"lo": net("127.0.0.1/8"), "eth0": net("192.168.0.0/32")}, id="calico-k8s-exec-plugin-issue109"),
        pytest.param("ip_addrs/weave-issue3599-ip-4-o.txt",
                     {"lo": net("127.0.0.1/8"), "eth1": net("172.19.188.11/27"), "tun8": net("10.0.0.3/32"),
                      "docker0": net("172.17.0.1/16"), "wg0": net("172.16.55.11/24"), "weave": net("10.32.0.1/12")},
                     id="weave-issue3599-oneline"),
        pytest.param("ip_addrs/weave-issue3743-ip-4-o-secondary.txt",
                     {"lo": net("127.0.0.1/8"), "eth0": net("10.250.130.7/16"), "docker0": net("172.17.0.1/16"),
                      "weave": net("10.32.0.1/12", "10.44.0.0/12")},
                     id="weave-issue3743-oneline-secondary"),
        pytest.param("ip_addrs/linux-ip-net-tristan.txt",
                     {"lo": net("127.0.0.1/8"), "eth0": net("192.168.99.35/24")}, id="linux-ip-net-old-iproute2"),
        pytest.param("ip_addrs/iproute2-6.1-bridge-without-address.txt", {"nwl-test": []},
                     id="iproute2-6.1-bridge-without-address"),
        pytest.param("ip_addrs/iproute2-6.1-bridge-with-address.txt", {"nwl-test": net("10.32.0.7/12")},
                     id="iproute2-6.1-bridge-with-address"),
        pytest.param("ip_addrs/linux-ip-net-ppp0-peer.txt", {"ppp0": net("67.38.163.197/32")},
                     id="linux-ip-net-peer"),
        pytest.param("ip_addrs/lab-box-debian12-ip-addrs-device.txt", {"nwl-test": []},
                     id="lab-bridge-without-address"),
    ],
)
def test_ip_addrs(path, expected):
    assert parse.ip_addrs(sample(path)) == expected


def test_ip_addrs_article_container_is_in_the_weave_range():
    # The article's claim: the container on the weave network gets an address in 10.32.0.0/12.
    (ethwe0,) = parse.ip_addrs(sample("ip_addrs/article-busybox-container.txt"))["ethwe0"]
    assert ethwe0.ip in IPv4Network("10.32.0.0/12")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param(sample("routes/article-after-expose.txt"), id="ip-route-text"),
        pytest.param(sample("weave_status/article.txt"), id="weave-status-text"),
    ],
)
def test_ip_addrs_rejects(text):
    with pytest.raises(ValueError, match="'ip addr' output"):
        parse.ip_addrs(text)


# ----------------------------------------------------------------------------- ip route

def test_routes_article_before_expose_has_no_route_to_the_weave_range():
    table = parse.routes(sample("routes/article-before-expose.txt"))
    assert len(table) == 5
    assert table[0] == parse.Route(IPv4Network("0.0.0.0/0"), "enp0s8", IPv4Address("10.0.3.2"), None)
    assert table[0].is_default and not table[1].is_default
    assert table[1] == parse.Route(IPv4Network("10.0.3.0/24"), "enp0s8", None, IPv4Address("10.0.3.15"))
    assert not any(IPv4Address("10.40.0.0") in r.dst for r in table if not r.is_default)


def test_routes_article_after_expose_routes_the_weave_range_via_the_bridge():
    table = parse.routes(sample("routes/article-after-expose.txt"))
    assert len(table) == 6
    assert parse.Route(IPv4Network("10.32.0.0/12"), "weave", None, IPv4Address("10.40.0.1")) in table


@pytest.mark.parametrize(
    "path, count, expected",
    [
        pytest.param("routes/weave-issue3599.txt", 7,
                     [parse.Route(IPv4Network("0.0.0.0/0"), "eth1", IPv4Address("172.19.188.1"), None),
                      parse.Route(IPv4Network("10.0.0.0/24"), "tun8", None, None),
                      parse.Route(IPv4Network("169.254.0.0/16"), "eth1", None, None)],
                     id="weave-issue3599"),
        pytest.param("routes/weave-issue3743-metric.txt", 4,
                     [parse.Route(IPv4Network("0.0.0.0/0"), "eth0", IPv4Address("10.250.130.1"), None),
                      parse.Route(IPv4Network("10.250.0.0/16"), "eth0", None, IPv4Address("10.250.130.7"))],
                     id="weave-issue3743-metric"),
        pytest.param("routes/weave-issue3588-blackhole.txt", 9,
                     [parse.Route(IPv4Network("169.254.169.254/32"), "eth0", IPv4Address("192.168.0.1"), None),
                      parse.Route(IPv4Network("192.169.45.0/26"), None, None, None, "blackhole"),
                      parse.Route(IPv4Network("10.32.0.0/16"), "weave", None, IPv4Address("10.32.0.1"))],
                     id="weave-issue3588-blackhole"),
    ],
)
def test_routes(path, count, expected):
    table = parse.routes(sample(path))
    assert len(table) == count
    for route in expected:
        assert route in table


def test_routes_empty_output_is_an_empty_table():
    assert parse.routes("") == []


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(sample("ip_addrs/article-busybox-container.txt"), id="ip-addr-text"),
        pytest.param(sample("ping/article-iputils-3of3.txt"), id="ping-text"),
    ],
)
def test_routes_rejects(text):
    with pytest.raises(ValueError, match="route"):
        parse.routes(text)


# ----------------------------------------------------------------------------- weave status connections

def test_weave_connections_article():
    conns = parse.weave_connections(sample("weave_connections/article.txt"))
    assert [c.direction for c in conns] == ["in", "in"]
    assert {c.mode for c in conns} == {"fastdp"} and {c.mtu for c in conns} == {1376}
    assert [c.peer_nickname for c in conns] == ["u2", "u3"]
    assert conns[0] == parse.WeaveConnection("in", "192.168.56.4:54715", "established", "fastdp",
                                             "8e:d8:ad:a8:32:eb", "u2", 1376, "fastdp 8e:d8:ad:a8:32:eb(u2) mtu=1376")


def test_weave_connections_lab_2_8_1_endpoint():
    # /status/connections on u2 of this lab: the router's own text, same line format as the CLI
    conns = parse.weave_connections(sample("weave_connections/lab-weave-2.8.1-weave-status-connections.txt"))
    assert [(c.direction, c.state, c.mode, c.peer_nickname, c.mtu) for c in conns] == [
        ("in", "established", "fastdp", "u1", 1376), ("in", "established", "fastdp", "u3", 1376)]


def test_weave_connections_kubeadm_transcripts_failed_self_connection():
    conns = parse.weave_connections(sample("weave_connections/kubeadm-transcripts-2.0.1.txt"))
    assert [(c.direction, c.state) for c in conns] == [("in", "established")] * 3 + [("out", "failed")]
    assert [c.peer_nickname for c in conns[:3]] == ["kube1", "kube2", "kube3"]
    assert conns[3] == parse.WeaveConnection("out", "192.168.125.100:6783", "failed", None, None, None, None,
                                             "cannot connect to ourself, retry: never")


def test_weave_connections_sleeve_and_encrypted():
    sleeve = parse.weave_connections(sample("weave_connections/weave-issue3207-sleeve.txt"))
    assert [c.mode for c in sleeve] == ["sleeve"] * 4 + [None]
    assert [c.mtu for c in sleeve] == [1438] * 4 + [None]
    assert sleeve[4].info == "cannot connect to ourself, retry: never"
    encrypted = parse.weave_connections(sample("weave_connections/weave-issue3207-encrypted.txt"))
    assert [(c.mode, c.mtu, c.peer_nickname) for c in encrypted] == [
        ("fastdp", 1376, "host1010051034221"), ("fastdp", 1376, "host1010051034222")]


def test_weave_connections_pending():
    conns = parse.weave_connections(sample("weave_connections/weave-issue3595-pending.txt"))
    assert {c.state for c in conns} == {"pending"}
    assert [c.direction for c in conns].count("in") == 1
    assert conns[0].mode is None and conns[0].mtu is None  # weave printed 'none': no overlay chosen yet
    assert conns[0].peer_nickname == "ip-172-20-33-99.us-west-2.compute.internal"
    assert [c.mode for c in conns[1:]] == ["fastdp"] * 5 and {c.mtu for c in conns[1:]} == {8912}


def test_weave_connections_docs_every_state():
    conns = parse.weave_connections(sample("weave_connections/weave-docs-troubleshooting.txt"))
    assert [c.state for c in conns] == ["established", "pending", "retrying", "failed", "connecting"]
    assert [c.mode for c in conns] == ["fastdp", "fastdp", None, None, None]
    assert conns[2].info == "dial tcp4 192.168.48.14:6783: no route to host"
    assert conns[4].info == ""


def test_weave_connections_1_2_vxlan():
    established, connecting = parse.weave_connections(sample("weave_connections/weave-pr1513-vxlan.txt"))
    assert (established.mode, established.peer_nickname) == ("vxlan", "host2")
    assert (connecting.state, connecting.mode, connecting.info) == ("connecting", None, "undetermined")


def test_weave_connections_no_peers_is_empty():
    assert parse.weave_connections("") == []


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(sample("weave_status/article.txt"), id="weave-status-text"),
        pytest.param(sample("ping/article-busybox-3of3.txt"), id="ping-text"),
    ],
)
def test_weave_connections_rejects(text):
    with pytest.raises(ValueError, match="weave status connections"):
        parse.weave_connections(text)


# ----------------------------------------------------------------------------- weave status

@pytest.mark.parametrize(
    "path, version, peers, established, connections, states",
    [
        pytest.param("weave_status/article.txt", "2.5.1", 3, 6, 3, {"established": 2, "failed": 1}, id="article"),
        pytest.param("weave_status/kubeadm-transcripts-2.0.1.txt", "2.0.1", 4, 12, 4,
                     {"established": 3, "failed": 1}, id="kubeadm-transcripts"),
        pytest.param("weave_status/weave-issue2377-1.4.6.txt", "1.4.6", 1, 0, 1, {"failed": 1}, id="weave-issue2377"),
        pytest.param("weave_status/weave-issue1744-1.3.1.txt", "1.3.1", 4, 8, 3,
                     {"established": 2, "connecting": 1}, id="weave-issue1744"),
        pytest.param("weave_status/weave-docs-troubleshooting.txt", "1.1.0", 3, 5, 5,
                     {"established": 1, "pending": 1, "retrying": 1, "failed": 1, "connecting": 1},
                     id="weave-docs"),
        pytest.param("weave_status/lab-2.8.1-u1-mesh-incomplete.txt", "2.8.1", 2, 2, 2,
                     {"established": 1, "failed": 1}, id="lab-2.8.1-under-load"),
        pytest.param("weave_status/lab-weave-2.8.1-weave-status.txt", "2.8.1", 3, 6, 2, {"established": 2},
                     id="lab-2.8.1-endpoint-full-mesh"),
    ],
)
def test_weave_status(path, version, peers, established, connections, states):
    status = parse.weave_status(sample(path))
    assert (status.version, status.peers, status.established_connections) == (version, peers, established)
    assert (status.connections, status.connection_states) == (connections, states)


def test_weave_status_article_sections():
    status = parse.weave_status(sample("weave_status/article.txt"))
    assert list(status.sections) == ["router", "ipam", "dns", "proxy", "plugin (legacy)"]
    assert status.sections["ipam"]["Range"] == "10.32.0.0/12"
    assert status.sections["router"]["Name"] == "f6:58:43:5c:68:d7(u3)"
    assert status.sections["dns"]["Upstream"] == "10.0.3.3"
    assert status.sections["proxy"]["Address"] == "unix:///var/run/weave/weave.sock"


def test_weave_status_older_sections():
    assert parse.weave_status(sample("weave_status/weave-issue1744-1.3.1.txt")).sections["ipam"] == {
        "Consensus": "achieved", "Range": "172.16.0.0-172.16.255.255", "DefaultSubnet": "172.16.0.0/16"}
    assert parse.weave_status(sample("weave_status/weave-issue2377-1.4.6.txt")).sections["ipam"]["Status"] == "idle"
    assert parse.weave_status(sample("weave_status/kubeadm-transcripts-2.0.1.txt")).sections.keys() == {"router",
                                                                                                       "ipam"}


@pytest.mark.parametrize(
    "text, message",
    [
        pytest.param("", "Service: router", id="empty"),
        pytest.param(sample("weave_connections/article.txt"), "Key: value", id="connections-text"),
        pytest.param(sample("ip_addrs/article-host-weave-exposed.txt"), "Key: value", id="ip-addr-text"),
    ],
)
def test_weave_status_rejects(text, message):
    with pytest.raises(ValueError, match=message):
        parse.weave_status(text)


# ----------------------------------------------------------------------------- raft list-peers

@pytest.mark.parametrize(
    "path, nodes, leader, voter",
    [
        pytest.param("raft_peers/article-consul-1.4.4.txt", ["consul-1", "consul-2", "consul-3"], "consul-1", True,
                     id="article-consul"),
        pytest.param("raft_peers/article-nomad-0.8.7.txt", ["u3.global", "u2.global", "u1.global"], "u2.global", True,
                     id="article-nomad"),
        pytest.param("raft_peers/sev1-playbooks-consul-stale.txt",
                     ["i-006f96f15d330d331", "i-0a7bdf09286c03903", "i-0659d454cd54e6031"], None, False,
                     id="sev1-playbooks-consul"),
        pytest.param("raft_peers/nomad-docs-list-peers.txt",
                     ["nomad-server01.global", "nomad-server02.global", "nomad-server03.global"],
                     "nomad-server02.global", True, id="nomad-docs"),
        pytest.param("raft_peers/consul-docs-commit-index.txt", ["alice", "bob", "carol"], "bob", True,
                     id="consul-docs-commit-index"),
    ],
)
def test_raft_peers(path, nodes, leader, voter):
    peers = parse.raft_peers(sample(path))
    assert [p.node for p in peers] == nodes
    assert [p.node for p in peers if p.state == "leader"] == ([leader] if leader else [])
    assert {p.voter for p in peers} == {voter}


def test_raft_peers_article_addresses():
    consul = parse.raft_peers(sample("raft_peers/article-consul-1.4.4.txt"))
    assert consul[0] == parse.RaftPeer("consul-1", "db838e7c-2b02-949b-763b-a6646ee51981", "192.168.56.3:8300",
                                       "leader", True)
    nomad = parse.raft_peers(sample("raft_peers/article-nomad-0.8.7.txt"))
    assert [(p.id, p.address) for p in nomad][1] == ("192.168.56.4:4647", "192.168.56.4:4647")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param(sample("nomad_server_members/article-0.8.7.txt"), id="server-members-text"),
    ],
)
def test_raft_peers_rejects(text):
    with pytest.raises(ValueError, match="Node"):
        parse.raft_peers(text)


# ----------------------------------------------------------------------------- nomad server members

@pytest.mark.parametrize(
    "path, count, leader",
    [
        pytest.param("nomad_server_members/article-0.8.7.txt", 3,
                     parse.ServerMember("u2.global", IPv4Address("192.168.56.4"), 4648, "alive", True),
                     id="article-0.8.7"),
        pytest.param("nomad_server_members/nomad-issue4916-0.8.6.txt", 1,
                     parse.ServerMember("ip-172-31-43-72.global", IPv4Address("172.31.43.72"), 4648, "alive", True),
                     id="nomad-issue4916-0.8.6"),
        pytest.param("nomad_server_members/hashi-ui-pr41-0.4.0.txt", 1,
                     parse.ServerMember("ibook.global", IPv4Address("127.0.0.1"), 4648, "alive", True),
                     id="hashi-ui-pr41-0.4.0"),
        pytest.param("nomad_server_members/nomad-docs-1.3.0.txt", 3,
                     parse.ServerMember("server-1.global", IPv4Address("10.0.0.8"), 4648, "alive", True),
                     id="nomad-docs-1.3.0"),
        pytest.param("nomad_server_members/nomad-docs-1.3.0-verbose.txt", 3,
                     parse.ServerMember("server-1.global", IPv4Address("10.0.0.8"), 4648, "alive", True),
                     id="nomad-docs-1.3.0-verbose"),
        pytest.param("nomad_server_members/rtk-devops-1.11.3-ui-hint.txt", 3,
                     parse.ServerMember("nomad-compute-3.global", IPv4Address("10.130.0.13"), 4648, "alive", True),
                     id="1.11.3-with-web-ui-hint"),
        pytest.param("nomad_server_members/cluster-assessment-1.10.2-ui-hint.txt", 3,
                     parse.ServerMember("nomad-server-2.global", IPv4Address("192.168.11.12"), 4648, "alive", True),
                     id="1.10.2-with-web-ui-hint"),
    ],
)
def test_nomad_server_members(path, count, leader):
    members = parse.nomad_server_members(sample(path))
    assert len(members) == count
    assert [m for m in members if m.leader] == [leader]
    assert {m.status for m in members} == {"alive"}


def test_nomad_server_members_ignores_a_coloured_web_ui_hint():
    # On a colour terminal Nomad 1.10+ wraps the hint in ANSI codes (command/meta.go formatUIHint).
    text = sample("nomad_server_members/rtk-devops-1.11.3-ui-hint.txt").replace(
        "==> View and manage Nomad servers in the Web UI: ",
        "\x1b[1m\x1b[35m==> View and manage Nomad servers in the Web UI:\x1b[0m \x1b[34m") + "\x1b[0m"
    assert len(parse.nomad_server_members(text)) == 3


def test_nomad_job_status_ignores_a_web_ui_hint():
    # Nomad 1.10+ prints "\n\n==> View job details and metrics in the Web UI: <url>" after the job.
    text = sample("nomad_job_status/nomad-docs-full.txt") + (
        "\n\n==> View job details and metrics in the Web UI: http://127.0.0.1:4646/ui/jobs/example@default\n")
    assert parse.nomad_job_status(text) == parse.nomad_job_status(sample("nomad_job_status/nomad-docs-full.txt"))


def test_nomad_server_members_article_addresses():
    members = parse.nomad_server_members(sample("nomad_server_members/article-0.8.7.txt"))
    assert [str(m.address) for m in members] == ["192.168.56.3", "192.168.56.4", "192.168.56.5"]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param(sample("raft_peers/article-consul-1.4.4.txt"), id="raft-peers-text"),
    ],
)
def test_nomad_server_members_rejects(text):
    with pytest.raises(ValueError, match="Name"):
        parse.nomad_server_members(text)


# ----------------------------------------------------------------------------- nomad job status

def test_nomad_job_status_article():
    job = parse.nomad_job_status(sample("nomad_job_status/article-0.8.7.txt"))
    assert (job.id, job.name, job.type, job.status) == ("httpbackend", "httpbackend", "service", "running")
    assert job.summary == {"httpbackend": {"Queued": 0, "Starting": 0, "Running": 3, "Failed": 0, "Complete": 0,
                                           "Lost": 0}}
    assert job.allocations[0] == parse.Allocation("6e06be74", "11212ed9", "httpbackend", 0, "run", "running")
    assert [a.node_id for a in job.allocations] == ["11212ed9", "aa5a06fe", "fe7a7e9c"]
    assert {(a.desired, a.status) for a in job.allocations} == {("run", "running")}


def test_nomad_job_status_lab_0_8_7_just_submitted():
    job = parse.nomad_job_status(sample("nomad_job_status/lab-nomad-0.8.7-nomad-job-status.txt"))
    assert (job.status, job.summary["httpbackend"]["Starting"], job.summary["httpbackend"]["Running"]) == (
        "running", 3, 0)
    assert {(a.desired, a.status) for a in job.allocations} == {("run", "pending")}


@pytest.mark.parametrize(
    "path, job_id, summary, allocations",
    [
        pytest.param("nomad_job_status/nomad-docs-full.txt", "example",
                     {"cache": {"Queued": 0, "Starting": 0, "Running": 1, "Failed": 0, "Complete": 0, "Lost": 0}},
                     [parse.Allocation("478ce836", "5ed166e8", "cache", 0, "run", "running")],
                     id="nomad-docs-full"),
        pytest.param("nomad_job_status/nomad-docs-evals.txt", "example",
                     {"cache": {"Queued": 1, "Starting": 0, "Running": 4, "Failed": 0, "Complete": 0, "Lost": 0}},
                     [parse.Allocation(i, "3f38ecb4", "cache", 0, "run", "running")
                      for i in ("048c1e9e", "250f9dec", "2eb772a1", "a17b7d3d")],
                     id="nomad-docs-evals"),
        pytest.param("nomad_job_status/portainer-issue8801.txt", "home-heimdall",
                     {"heimdall": {"Queued": 0, "Starting": 0, "Running": 1, "Failed": 1, "Complete": 17, "Lost": 2,
                                   "Unknown": 0}},
                     [parse.Allocation("5abcf919", "41503e45", "heimdall", 3, "run", "running")],
                     id="portainer-issue8801"),
        pytest.param("nomad_job_status/nomadproject-0.x-inspecting-state.txt", "docs",
                     {"example": {"Queued": 0, "Starting": 0, "Running": 3, "Failed": 0, "Complete": 0, "Lost": 0}},
                     [parse.Allocation("04d9627d", "a1f934c9", "example", None, "run", "running"),
                      parse.Allocation("e7b8d4f5", "012ea79b", "example", None, "run", "running"),
                      parse.Allocation("5cbf23a1", "1e1aa1e0", "example", None, "run", "running")],
                     id="nomadproject-0.x-guide"),
    ],
)
def test_nomad_job_status(path, job_id, summary, allocations):
    job = parse.nomad_job_status(sample(path))
    assert (job.id, job.type, job.status) == (job_id, "service", "running")
    assert job.summary == summary
    assert job.allocations == allocations


@pytest.mark.parametrize(
    "text, message",
    [
        pytest.param("", "ID = ", id="empty"),
        pytest.param(sample("nomad_server_members/article-0.8.7.txt"), "Key = value", id="server-members-text"),
        pytest.param(sample("weave_status/article.txt"), "Key = value", id="weave-status-text"),
    ],
)
def test_nomad_job_status_rejects(text, message):
    with pytest.raises(ValueError, match=message):
        parse.nomad_job_status(text)


# ----------------------------------------------------------------------------- inside containers

def test_busybox_nslookup_gives_the_answers_not_the_server():
    assert parse.busybox_nslookup(sample("busybox_nslookup/lab-busybox-1.35-three-answers.txt")) == [
        IPv4Address("10.34.0.1"), IPv4Address("10.40.0.2"), IPv4Address("10.32.0.3")]


def test_busybox_nslookup_nxdomain_is_no_answer():
    assert parse.busybox_nslookup(sample("busybox_nslookup/lab-busybox-1.35-nxdomain.txt")) == []


@pytest.mark.parametrize("text", ["", sample("ping/article-busybox-3of3.txt")], ids=["empty", "ping-text"])
def test_busybox_nslookup_rejects(text):
    with pytest.raises(ValueError, match="Server:"):
        parse.busybox_nslookup(text)


def test_http_response_of_busybox_httpd():
    response = parse.http_response(sample("http_response/lab-busybox-httpd-1.35-200.txt"))
    assert (response.status, response.reason) == (200, "OK")
    assert response.headers["content-length"] == "44" and response.headers["connection"] == "close"
    assert response.body == "this is httpbackendservice, version: v1.0.0\n"


def test_http_response_not_found():
    response = parse.http_response(sample("http_response/lab-busybox-httpd-1.35-404.txt"))
    assert response.status == 404 and "404 Not Found" in response.body


@pytest.mark.parametrize("text", ["", "nc: timed out\n", sample("weave_status/article.txt")],
                         ids=["nothing-answered", "nc-error", "weave-status-text"])
def test_http_response_rejects(text):
    with pytest.raises(ValueError, match="HTTP response"):
        parse.http_response(text)


# ----------------------------------------------------------------------------- cli -help listings

def test_cli_commands_nomad_0_8_7_top_level_lists_common_and_other_commands():
    commands = parse.cli_commands(sample("cli_commands/lab-nomad-0.8.7-help.txt"))
    assert {"run", "job", "agent"} <= commands and {"operator", "server", "version"} <= commands
    assert len(commands) == 18


def test_cli_commands_nomad_0_8_7_subcommands_only_not_the_usage_examples():
    assert parse.cli_commands(sample("cli_commands/lab-nomad-0.8.7-help-operator-raft.txt")) == {
        "list-peers", "remove-peer"}


def test_cli_commands_rejects_text_without_a_command_listing():
    for text in ("", sample("nomad_server_members/article-0.8.7.txt")):
        with pytest.raises(ValueError, match="Subcommands"):
            parse.cli_commands(text)
