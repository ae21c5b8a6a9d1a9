"""Every rendered config file parses and says what the article's setup needs."""
import hcl  # pyhcl: HCL1, what consul, Nomad agents and Nomad < 1.9 jobs read
import hcl2  # python-hcl2: the HCL2 of current Nomad job files
import pytest

from lab import topology
from lab.stack import consul, docker, nomad

TOPO = topology.load()


@pytest.mark.parametrize("name", TOPO.node_names)
def test_consul_config_is_the_articles_flags(name):
    config = hcl.loads(consul.render_config(TOPO, name))
    node = TOPO.node(name)
    assert config["server"] is True and config["bootstrap_expect"] == 3
    assert config["datacenter"] == "dc1"
    assert config["node_name"] == f"consul-{TOPO.node_names.index(name) + 1}"
    assert config["bind_addr"] == config["advertise_addr"] == str(node.hostonly_ip)
    assert sorted(config["retry_join"]) == sorted(str(n.hostonly_ip) for n in TOPO.nodes if n.name != name)
    assert config["ports"]["dns"] == 53
    assert config["addresses"]["dns"].split() == ["127.0.0.1", str(node.hostonly_ip)]
    assert config["client_addr"] == "127.0.0.1"  # the HTTP API is not exposed
    assert config["disable_update_check"] is True
    assert "recursors" not in config  # nothing is forwarded off the machine


def test_consul_gossips_and_heartbeats_slower_on_emulated_guests():
    config = hcl.loads(consul.render_config(TOPO, "u1"))
    assert config["performance"] == {"raft_multiplier": 10}
    assert config["gossip_lan"] == {"gossip_interval": "1s", "probe_interval": "5s", "probe_timeout": "3s"}
    assert config["gossip_wan"]["probe_interval"] == "10s"


def test_consul_forwards_other_names_only_where_asked():
    config = hcl.loads(consul.render_config(TOPO, "u1", recursors=["192.168.56.1"]))
    assert config["recursors"] == ["192.168.56.1"]


def test_resolv_conf_points_at_the_consul_servers():
    text = consul.render_resolv_conf(TOPO)
    assert [line.split()[1] for line in text.splitlines() if line.startswith("nameserver")] == [
        "192.168.56.3", "192.168.56.4", "192.168.56.5"]
    assert "options timeout:2 attempts:3 rotate" in text


@pytest.mark.parametrize("name", TOPO.node_names)
def test_nomad_0_8_agent_uses_the_client_option_for_the_docker_endpoint(name):
    config = hcl.loads(nomad.render_agent_config(TOPO, name, "0.8.7", nomad.WEAVE_PROXY_SOCKET))
    assert config["bind_addr"] == str(TOPO.node(name).hostonly_ip)
    assert config["server"] == {"enabled": True, "bootstrap_expect": 3}
    assert config["client"]["enabled"] is True
    assert config["client"]["network_interface"] == "@HOSTONLY_IF@"  # filled in on the node
    assert config["client"]["options"] == {"docker.endpoint": "unix:///var/run/weave/weave.sock",
                                           "docker.cleanup.image": "false",
                                           "fingerprint.blacklist": "env_aws,env_gce,env_azure,env_digitalocean"}
    assert "plugin" not in config
    assert config["disable_update_check"] is True


def test_current_nomad_agent_uses_the_docker_plugin_block():
    config = hcl.loads(nomad.render_agent_config(TOPO, "u2", "1.11.3", nomad.DOCKER_SOCKET))
    assert config["client"]["options"] == {"fingerprint.denylist": "env_aws,env_gce,env_azure,env_digitalocean"}
    assert config["plugin"]["docker"]["config"]["endpoint"] == "unix:///var/run/docker.sock"
    assert config["consul"]["address"] == "127.0.0.1:8500"


@pytest.mark.parametrize("version", ["0.8.7", "1.11.3"])
def test_nomad_collects_resource_stats_once_a_minute_not_every_second(version):
    config = hcl.loads(nomad.render_agent_config(TOPO, "u3", version, nomad.DOCKER_SOCKET))
    assert config["telemetry"] == {"collection_interval": "60s"}


@pytest.mark.parametrize("version", ["0.8.7", "0.9.0", "1.11.3"])
def test_nomad_never_removes_the_lab_images(version):
    # Nomad removes an image 3 minutes after its last task stops; the lab's test images are built
    # on the node and cannot be pulled back (0.8: client option, parsed with strconv.ParseBool;
    # 0.9+: the docker plugin's gc block).
    config = hcl.loads(nomad.render_agent_config(TOPO, "u1", version, nomad.DOCKER_SOCKET))
    if version == "0.8.7":
        assert config["client"]["options"]["docker.cleanup.image"] == "false"
    else:
        assert config["plugin"]["docker"]["config"]["gc"] == {"image": False}
        assert "docker.cleanup.image" not in config["client"]["options"]


def job_hcl1(**kwargs):
    return hcl.loads(nomad.render_job(TOPO, 1, image=docker.HTTPBACKEND, **kwargs))["job"]["httpbackend"]


def plain(value):
    """python-hcl2 keeps string quotes and block markers; the tests compare values."""
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def parse_hcl2(text):
    return plain(hcl2.loads(text))


def job_hcl2(**kwargs):
    return parse_hcl2(nomad.render_job(TOPO, 2, image=docker.HTTPBACKEND, **kwargs))["job"][0]["httpbackend"]


def _hcl2_block(blocks, label):
    return blocks[0][label]


def test_article_job_in_hcl1_is_the_article_file():
    job = job_hcl1()
    task = job["group"]["httpbackend"]["task"]["httpbackend"]
    assert job["type"] == "service" and job["datacenters"] == ["dc1"]
    assert job["group"]["httpbackend"]["count"] == 3
    assert task["driver"] == "docker"
    assert task["config"]["network_mode"] == "weave"
    assert task["config"]["dns_servers"] == ["192.168.56.3", "192.168.56.4", "192.168.56.5"]
    assert task["resources"]["network"]["mbits"] == 10
    assert task["service"] == {"name": "httpbackend"}
    assert "env" not in task


def test_article_job_in_hcl2_drops_the_task_network_resources():
    job = job_hcl2()
    group = _hcl2_block(job["group"], "httpbackend")
    task = _hcl2_block(group["task"], "httpbackend")
    assert group["count"] == 3
    assert task["config"][0]["network_mode"] == "weave"
    assert task["config"][0]["dns_servers"] == ["192.168.56.3", "192.168.56.4", "192.168.56.5"]
    assert "resources" not in task
    assert task["service"][0]["name"] == "httpbackend" and task["service"][0]["provider"] == "consul"


@pytest.mark.parametrize("hcl_version", [1, 2])
def test_another_subnet_job_sets_weave_cidr_and_no_network_mode(hcl_version):
    kwargs = dict(network_mode=None, weave_cidr="net:10.32.1.0/24", address_mode="driver", job="hb-i6")
    if hcl_version == 1:
        job = hcl.loads(nomad.render_job(TOPO, 1, image=docker.HTTPBACKEND, **kwargs))["job"]["hb-i6"]
        task = job["group"]["httpbackend"]["task"]["httpbackend"]
        config, env, service = task["config"], task["env"], task["service"]
    else:
        job = parse_hcl2(nomad.render_job(TOPO, 2, image=docker.HTTPBACKEND, **kwargs))["job"][0]["hb-i6"]
        task = _hcl2_block(_hcl2_block(job["group"], "httpbackend")["task"], "httpbackend")
        config, env, service = task["config"][0], task["env"][0], task["service"][0]
    assert "network_mode" not in config
    assert env == {"WEAVE_CIDR": "net:10.32.1.0/24"}
    assert service["address_mode"] == "driver"


def test_job_rendering_refuses_an_unknown_hcl_version():
    with pytest.raises(ValueError, match="hcl must be 1 or 2"):
        nomad.render_job(TOPO, 3, image="x")
