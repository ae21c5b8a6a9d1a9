"""Facts the article states, in one place: address ranges, subnets, the service and its answer."""
import ipaddress

# The article's three hosts: the claims and the test fixtures (u1, u2, u3) are about these.
NODES = ("u1", "u2", "u3")

# Section 2: weave's default IPAM range.
WEAVE_RANGE = ipaddress.IPv4Network("10.32.0.0/12")
# Section 5: the range split into subnets, the default one, and the isolated one.
ISOLATION_RANGE = ipaddress.IPv4Network("10.32.0.0/16")
DEFAULT_SUBNET = ipaddress.IPv4Network("10.32.0.0/24")
OTHER_SUBNET = ipaddress.IPv4Network("10.32.1.0/24")
OTHER_SUBNET_CIDR = f"net:{OTHER_SUBNET}"
# Docker's default bridge, where proxy-attached containers keep their eth0.
DOCKER_BRIDGE = ipaddress.IPv4Network("172.17.0.0/16")
# Section 4: the service and what it answers (bigwhite/httpbackendservice:v1.0.0).
SERVICE = "httpbackend"
SERVICE_PORT = 8081
SERVICE_BODY = "this is httpbackendservice, version: v1.0.0"
