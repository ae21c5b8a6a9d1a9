"""Article section 3: a three-server Consul cluster with DNS on port 53, and a three-node Nomad
cluster (server + client on every node) that finds itself through Consul."""
from lab.claims import claim, stack_state
from lab.stack import consul, host, nomad


@claim("C1")
def test_C1_three_voting_servers_and_exactly_one_leader(node, consul_cluster):
    peers = consul.raft_peers(node)
    assert sorted(p.address for p in peers) == sorted(f"{n.hostonly_ip}:8300" for n in consul_cluster.nodes.values())
    assert all(p.voter for p in peers), peers
    assert [p.state for p in peers].count("leader") == 1, peers
    assert {p.node for p in peers} == {"consul-1", "consul-2", "consul-3"}


@claim("C1")
def test_C1_every_node_sees_the_same_leader(consul_cluster, nodes):
    leaders = {n.name: consul.leader(n) for n in nodes}
    assert len(set(leaders.values())) == 1, leaders
    assert next(iter(leaders.values())) in {f"{n.hostonly_ip}:8300" for n in nodes}


@claim("C2")
def test_C2_node_resolves_consul_names_through_its_resolver(node, consul_cluster, nodes):
    servers = sorted(n.hostonly_ip for n in nodes)
    assert sorted(host.resolve(node, "consul.service.consul")) == servers
    assert sorted(host.resolve(node, "consul.service.dc1.consul")) == servers


@claim("C2")
def test_C2_every_server_answers_dns_on_port_53(pair, consul_cluster, nodes):
    client, server = pair
    assert consul.dig_addresses(client, "consul.service.consul", server.hostonly_ip) == sorted(
        n.hostonly_ip for n in nodes)


@claim("C2")
def test_C2_nodes_keep_their_other_name_resolution(pair, consul_cluster):
    a, b = pair
    assert host.resolve(a, b.name) == [b.hostonly_ip]


@claim("C2")
def test_C2_unknown_consul_names_do_not_resolve(node, consul_cluster, nodes):
    # Positive control first, in the same test: the resolver answers for a name consul knows.
    assert sorted(host.resolve(node, "consul.service.consul")) == sorted(n.hostonly_ip for n in nodes)
    assert host.resolve(node, "no-such-service.service.consul") == []


@claim("N1")
@stack_state  # nomad agents are restarted by the section 5 tests
def test_N1_three_servers_alive_and_exactly_one_leader(node, nomad_cluster, nodes):
    members = nomad.server_members(node)
    assert sorted(str(m.address) for m in members) == sorted(str(n.hostonly_ip) for n in nodes)
    assert all(m.status == "alive" for m in members), members
    assert [m.leader for m in members].count(True) == 1, members


@claim("N1")
@stack_state
def test_N1_three_raft_voters(node, nomad_cluster, nodes):
    peers = nomad.raft_peers(node)
    assert sorted(p.address for p in peers) == sorted(f"{n.hostonly_ip}:4647" for n in nodes)
    assert all(p.voter for p in peers) and [p.state for p in peers].count("leader") == 1, peers
