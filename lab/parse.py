"""Parsers for the text printed by the commands the lab runs on its VMs.

Each public function takes one command's output and returns plain data (frozen
dataclasses, ints, strs, ``ipaddress`` objects).  Text that is not of the expected
kind (empty, a header missing, a line that fits no known format) raises
``ValueError`` naming what was expected and the first offending line; an output
that is empty but valid (``weave status connections`` with no peers, an empty
``ip route``) gives an empty list.

The tables printed by Consul and Nomad are read by column name, never by
position (see ``_table``), so added or missing columns across versions are fine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

__all__ = [
    "Allocation",
    "HttpResponse",
    "JobStatus",
    "PingResult",
    "RaftPeer",
    "Route",
    "ServerMember",
    "WeaveConnection",
    "WeaveStatus",
    "busybox_nslookup",
    "http_response",
    "ip_addrs",
    "nomad_job_status",
    "nomad_server_members",
    "ping",
    "raft_peers",
    "routes",
    "weave_connections",
    "weave_status",
]


# ----------------------------------------------------------------------------- helpers

def _lines(text: str) -> list[str]:
    """Non-blank lines, right-stripped (sample texts keep their trailing spaces)."""
    return [line.rstrip() for line in text.splitlines() if line.strip()]


# Nomad 1.10+ ends some outputs with a hint after a blank line, e.g.
# "==> View and manage Nomad servers in the Web UI: http://127.0.0.1:4646/ui/servers"
# (on stderr, which a terminal or `2>&1` merges in), coloured when the CLI colours.
_UI_HINT = re.compile(r"^==> .* in the Web UI: \S+$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _without_cli_hints(text: str) -> str:
    """The text without colour codes and without Nomad's "... in the Web UI: URL" hint lines."""
    plain = _ANSI.sub("", text)
    return "\n".join(line for line in plain.splitlines() if not _UI_HINT.match(line.strip()))


def _fail(expected: str, line: str | None) -> ValueError:
    shown = "<empty text>" if line is None else repr(line)
    return ValueError(f"expected {expected}; first offending line: {shown}")


def _bool(value: str, line: str) -> bool:
    if value not in ("true", "false"):
        raise _fail("'true' or 'false'", line)
    return value == "true"


def _split_header(header: str, phrases: tuple[str, ...]) -> list[str]:
    """Column names of a header whose runs of spaces were collapsed to one."""
    tokens, names, i = header.split(), [], 0
    while i < len(tokens):
        for phrase in phrases:
            words = phrase.split()
            if tokens[i:i + len(words)] == words:
                names.append(phrase)
                i += len(words)
                break
        else:
            names.append(tokens[i])
            i += 1
    return names


def _table(lines: list[str], phrases: tuple[str, ...] = (), required: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """Rows of a ``columnize`` table (Consul, Nomad) as dicts keyed by header name.

    ``lines[0]`` is the header.  As printed by the CLIs, columns are separated by
    two or more spaces: each row is cut at the header's column offsets (so empty
    cells and values with spaces such as ``5m ago`` are fine).  Text copied from a
    web page often has its runs of spaces collapsed to one; then the header is split
    on spaces, ``phrases`` naming its multi-word column names, each row is split on
    spaces, a token ``ago`` is joined to the one before it (Nomad's ``54s ago``) and
    surplus tokens go to the last column (Consul's ``0 commits``).
    """
    header, rows = lines[0], lines[1:]
    aligned = re.search(r"\S\s{2,}\S", header) is not None
    if aligned:  # a column name is words joined by single spaces
        columns = list(re.finditer(r"\S+(?: \S+)*", header))
        starts, names = [m.start() for m in columns], [m.group() for m in columns]
    else:
        names = _split_header(header, phrases)
    missing = [name for name in required if name not in names]
    if missing:
        raise _fail(f"a table header with column(s) {', '.join(missing)}", header)
    table = []
    for row in rows:
        if aligned:
            if any(0 < start < len(row) and not row[start - 1].isspace() for start in starts[1:]):
                raise _fail(f"a row aligned with the header {header!r}", row)
            ends = starts[1:] + [len(row)]
            cells = [row[start:end].strip() for start, end in zip(starts, ends)]
        else:
            cells = []
            for token in row.split():
                if token == "ago" and cells:
                    cells[-1] += " ago"
                else:
                    cells.append(token)
            if len(cells) < len(names):
                raise _fail(f"{len(names)} cells under the header {header!r}", row)
            cells = cells[:len(names) - 1] + [" ".join(cells[len(names) - 1:])]
        table.append(dict(zip(names, cells)))
    return table


# ----------------------------------------------------------------------------- ping

@dataclass(frozen=True)
class PingResult:
    transmitted: int
    received: int
    loss_percent: float
    rtt_avg_ms: float | None  # None when nothing came back (no rtt line)


_PING_SUMMARY = re.compile(
    r"(\d+) packets transmitted, (\d+) (?:packets )?received,.*?([\d.]+)% (?:packet loss|lost)")
_PING_RTT = re.compile(r"^(?:rtt|round-trip) min/avg/max(?:/\w+)? = [\d.]+/([\d.]+)/")


def ping(text: str) -> PingResult:
    """Summary of one ``ping`` run.

    Accepts iputils (``3 packets transmitted, 3 received, 0% packet loss, time 2003ms``,
    with ``+N errors``/``+N duplicates``, fractional loss, a ``pipe N`` tail, and the
    ``rtt min/avg/max/mdev = ...`` line) and BusyBox (``3 packets transmitted,
    3 packets received, 0% packet loss`` and ``round-trip min/avg/max = ...``).
    Per-packet lines are ignored.  Raises on text with no summary line or several.
    """
    lines = _lines(text)
    summaries = [(line, m) for line in lines if (m := _PING_SUMMARY.search(line))]
    if len(summaries) != 1:
        where = summaries[1][0] if summaries else (lines[0] if lines else None)
        raise _fail("exactly one ping summary line 'N packets transmitted, M received, X% packet loss'", where)
    m = summaries[0][1]
    rtts = [float(r.group(1)) for line in lines if (r := _PING_RTT.match(line.strip()))]
    return PingResult(int(m.group(1)), int(m.group(2)), float(m.group(3)), rtts[0] if rtts else None)


# ----------------------------------------------------------------------------- ip addr

_IFACE_LINE = re.compile(r"^\d+:\s+([^\s:@]+)(?:@\S+?)?:?(?:\s+(.*))?$")
_INET = re.compile(r"(?:^|\s)inet\s+(\d+\.\d+\.\d+\.\d+(?:/\d+)?)")


def ip_addrs(text: str) -> dict[str, list[IPv4Interface]]:
    """IPv4 addresses per interface, from ``ip addr``, ``ip -4 addr`` or ``ip -o addr``.

    Works for iproute2 and BusyBox ``ip a`` (indented or not).  Names such as
    ``ethwe0@if30`` give ``ethwe0``.  An interface listed without an IPv4 address
    maps to ``[]`` (``ip -o -4 addr`` does not list such interfaces at all).  IPv6
    (``inet6``) lines are ignored.  A point-to-point ``inet A peer B/32`` gives ``A/32``.
    """
    lines = _lines(text)
    if not lines:
        raise _fail("'ip addr' output starting with 'N: <interface>'", None)
    result: dict[str, list[IPv4Interface]] = {}
    current = None
    for line in lines:
        iface = _IFACE_LINE.match(line.strip())
        if iface:
            current = iface.group(1)
            result.setdefault(current, [])
            rest = iface.group(2) or ""
        elif current is None:
            raise _fail("'ip addr' output starting with 'N: <interface>'", line)
        else:
            rest = line
        inet = _INET.search(rest)
        if inet:
            result[current].append(IPv4Interface(inet.group(1)))
    return result


# ----------------------------------------------------------------------------- ip route

@dataclass(frozen=True)
class Route:
    dst: IPv4Network  # 0.0.0.0/0 for 'default'
    dev: str | None  # None for e.g. 'blackhole' routes
    via: IPv4Address | None
    src: IPv4Address | None
    type: str = "unicast"  # or blackhole, unreachable, prohibit, local, broadcast, ...

    @property
    def is_default(self) -> bool:
        return self.dst.prefixlen == 0


_ROUTE_TYPES = {"unicast", "local", "broadcast", "multicast", "throw", "unreachable", "prohibit", "blackhole",
                "nat", "anycast"}


def routes(text: str) -> list[Route]:
    """IPv4 routes from ``ip route`` (iproute2 or BusyBox); empty output gives ``[]``.

    Keeps the destination, ``via``, ``dev`` and ``src``; other attributes (``proto``,
    ``scope``, ``metric``...) are skipped.  IPv6 destinations and multipath
    ``nexthop`` lines raise ``ValueError``.
    """
    result = []
    for line in _lines(text):
        tokens = line.split()
        kind = tokens.pop(0) if tokens[0] in _ROUTE_TYPES else "unicast"
        if not tokens:
            raise _fail("'[type] destination [via A] [dev D] [src S] ...'", line)
        try:
            dst = IPv4Network("0.0.0.0/0" if tokens[0] == "default" else tokens[0])
            attrs = {key: tokens[i + 1] for i, key in enumerate(tokens[:-1]) if key in ("via", "dev", "src")}
            via = IPv4Address(attrs["via"]) if "via" in attrs else None
            src = IPv4Address(attrs["src"]) if "src" in attrs else None
        except ValueError as error:
            raise _fail(f"an IPv4 route ({error})", line) from None
        result.append(Route(dst, attrs.get("dev"), via, src, kind))
    return result


# ----------------------------------------------------------------------------- weave

@dataclass(frozen=True)
class WeaveConnection:
    direction: str  # 'in' (<-) or 'out' (->)
    address: str  # remote 'ip:port'
    state: str  # established, pending, connecting, retrying, failed, ...
    mode: str | None  # fastdp, sleeve, ... for established/pending connections
    peer_name: str | None  # MAC-like peer name
    peer_nickname: str | None
    mtu: int | None
    info: str  # everything after the state, verbatim (e.g. the failure reason)


_CONNECTION = re.compile(r"^(<-|->)\s+(\S+)\s+(\S+)\s*(.*)$")
_PEER = re.compile(r"\b([0-9a-f]{2}(?::[0-9a-f]{2}){5})\(([^)]*)\)")


def weave_connections(text: str) -> list[WeaveConnection]:
    """Connections from ``weave status connections`` (Weave Net 1.2 to 2.x).

    Lines look like ``<- 192.168.56.4:54715 established fastdp 8e:d8:ad:a8:32:eb(u2) mtu=1376``,
    ``-> 10.0.0.1:6783 established encrypted   sleeve ...(host) encrypted=truemtu=1314``,
    ``-> 192.168.48.14:6783 failed      cannot connect to ourself, retry: never``.
    No output (no peers) gives ``[]``.
    """
    result = []
    for line in _lines(text):
        m = _CONNECTION.match(line.strip())
        if not m:
            raise _fail("'<-|-> address state info' (weave status connections)", line)
        direction, address, state, info = m.groups()
        peer = _PEER.search(info)
        words = [w for w in info.split() if w not in ("encrypted", "unencrypted")]
        mode = words[0] if state in ("established", "pending") and words and not _PEER.match(words[0]) else None
        if mode == "none":  # weave prints 'none' while no overlay is chosen yet
            mode = None
        mtu = re.search(r"mtu=(\d+)", info)
        result.append(WeaveConnection(
            "in" if direction == "<-" else "out", address, state, mode,
            peer.group(1) if peer else None, peer.group(2) if peer else None,
            int(mtu.group(1)) if mtu else None, info))
    return result


@dataclass(frozen=True)
class WeaveStatus:
    sections: dict[str, dict[str, str]]  # {'router': {'Peers': '3 (with 6 ...)'}, 'ipam': {...}}
    version: str | None  # '2.5.1'
    peers: int
    established_connections: int  # from 'Peers: 3 (with 6 established connections)'
    connections: int | None  # from 'Connections: 3 (2 established, 1 failed)'
    connection_states: dict[str, int]  # {'established': 2, 'failed': 1}


_FIELD = re.compile(r"^([A-Za-z]+):(?:\s+(.*))?$")


def weave_status(text: str) -> WeaveStatus:
    """``weave status`` (Weave Net 1.3 to 2.x): ``Key: value`` lines grouped by ``Service:``.

    Sections are keyed by the service name as printed (``router``, ``ipam``,
    ``dns``, ``proxy``, ``plugin (legacy)``...); only ``Version`` may come before
    the first ``Service``.  A ``router`` section with ``Peers`` is required.
    """
    lines = _lines(text)
    sections: dict[str, dict[str, str]] = {}
    version, current = None, None
    for line in lines:
        m = _FIELD.match(line.strip())
        if not m:
            raise _fail("'Key: value' lines (weave status)", line)
        key, value = m.group(1), m.group(2) or ""
        if key == "Service":
            current = sections.setdefault(value, {})
        elif current is not None:
            current[key] = value
        elif key == "Version":
            version = value.split()[0] if value else None
        else:
            raise _fail("'Version:' or 'Service:' before other fields", line)
    peers_field = sections.get("router", {}).get("Peers")
    if peers_field is None or not re.match(r"\d+", peers_field):
        raise _fail("a 'Service: router' section with 'Peers: N'", lines[0] if lines else None)
    established = re.search(r"(\d+) established", peers_field)
    connections_field = sections["router"].get("Connections", "")
    total = re.match(r"\d+", connections_field)
    return WeaveStatus(
        sections, version, int(re.match(r"\d+", peers_field).group()),
        int(established.group(1)) if established else 0,
        int(total.group()) if total else None,
        {state: int(n) for n, state in re.findall(r"(\d+) (\w+)", connections_field.partition("(")[2])})


# ----------------------------------------------------------------------------- consul / nomad

@dataclass(frozen=True)
class RaftPeer:
    node: str
    id: str
    address: str  # 'ip:port'
    state: str  # leader / follower
    voter: bool


def raft_peers(text: str) -> list[RaftPeer]:
    """``consul operator raft list-peers`` or ``nomad operator raft list-peers``.

    Read by column name: ``Node ID Address State Voter`` must be there; later
    columns (``RaftProtocol``, Consul 1.16+'s ``Commit Index`` and ``Trails Leader
    By``) are ignored; so is Nomad 1.10+'s trailing Web UI hint.
    """
    lines = _lines(_without_cli_hints(text))
    if not lines:
        raise _fail("a 'Node ID Address State Voter' header", None)
    rows = _table(lines, ("Commit Index", "Trails Leader By"), ("Node", "ID", "Address", "State", "Voter"))
    return [RaftPeer(r["Node"], r["ID"], r["Address"], r["State"], _bool(r["Voter"], line))
            for r, line in zip(rows, lines[1:])]


@dataclass(frozen=True)
class ServerMember:
    name: str
    address: IPv4Address
    port: int
    status: str  # alive, failed, left
    leader: bool


def nomad_server_members(text: str) -> list[ServerMember]:
    """``nomad server members`` of Nomad 0.x (``... Leader Protocol Build ...``) and
    1.x (``... Leader Raft Version Build ...``, ``-verbose`` adds ``Protocol`` and
    ``Tags``), read by column name.  Nomad 1.10+'s trailing Web UI hint is ignored."""
    lines = _lines(_without_cli_hints(text))
    if not lines:
        raise _fail("a 'Name Address Port Status Leader' header", None)
    rows = _table(lines, ("Raft Version",), ("Name", "Address", "Port", "Status", "Leader"))
    result = []
    for r, line in zip(rows, lines[1:]):
        try:
            address, port = IPv4Address(r["Address"]), int(r["Port"])
        except ValueError as error:
            raise _fail(f"an IPv4 address and a port ({error})", line) from None
        result.append(ServerMember(r["Name"], address, port, r["Status"], _bool(r["Leader"], line)))
    return result


@dataclass(frozen=True)
class Allocation:
    id: str
    node_id: str | None  # None when the column is absent or shows '<none>'
    task_group: str
    version: int | None  # None when the column is absent (Nomad < 0.6)
    desired: str
    status: str


@dataclass(frozen=True)
class JobStatus:
    id: str
    name: str
    type: str
    status: str
    summary: dict[str, dict[str, int]]  # {task group: {'Queued': 0, 'Running': 3, ...}}
    allocations: list[Allocation]


def _blocks(text: str) -> list[list[str]]:
    """Groups of consecutive non-blank lines."""
    blocks: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.strip():
            blocks[-1].append(line.rstrip())
        elif blocks[-1]:
            blocks.append([])
    return [block for block in blocks if block]


_KEY_VALUE = re.compile(r"^\s*(\S[^=]*?)\s*=\s*(.*)$")


def nomad_job_status(text: str) -> JobStatus:
    """``nomad job status <job>`` (also ``nomad status <job>``) of Nomad 0.5 to 1.x.

    Reads the ``Key = value`` block, the ``Summary`` table and the ``Allocations``
    table (``No allocations placed`` gives ``[]``) by column name; other sections
    (``Latest Deployment``, ``Deployed``, ``Evaluations``, ``Placement Failure``,
    ``Actions``...) are skipped.  Section titles may carry the old ``==> `` prefix;
    Nomad 1.10+'s trailing Web UI hint is ignored.
    """
    blocks = _blocks(_without_cli_hints(text))
    if not blocks:
        raise _fail("'ID = <job>' lines (nomad job status)", None)
    fields = {}
    for line in blocks[0]:
        m = _KEY_VALUE.match(line)
        if not m:
            raise _fail("'Key = value' lines (nomad job status)", line)
        fields[m.group(1)] = m.group(2)
    missing = [key for key in ("ID", "Name", "Type", "Status") if key not in fields]
    if missing:
        raise _fail(f"'{missing[0]} = ...' among the job fields", blocks[0][0])
    summary: dict[str, dict[str, int]] = {}
    allocations: list[Allocation] = []
    for block in blocks[1:]:
        title, body = block[0].strip().removeprefix("==> ").strip(), block[1:]
        if title == "Summary" and body:
            for row, line in zip(_table(body, ("Task Group",), ("Task Group",)), body[1:]):
                group = row.pop("Task Group")
                try:
                    summary[group] = {column: int(value) for column, value in row.items()}
                except ValueError:
                    raise _fail("integer counts in the Summary table", line) from None
        elif title == "Allocations" and body and body[0].strip() != "No allocations placed":
            required = ("ID", "Task Group", "Desired", "Status")
            for row, line in zip(_table(body, ("Node ID", "Task Group", "Eval ID", "Node Name"), required), body[1:]):
                version = row.get("Version")
                if version is not None and not version.isdigit():
                    raise _fail("an integer Version", line)
                node_id = row.get("Node ID")
                allocations.append(Allocation(
                    row["ID"], None if node_id in (None, "<none>") else node_id, row["Task Group"],
                    None if version is None else int(version), row["Desired"], row["Status"]))
    return JobStatus(fields["ID"], fields["Name"], fields["Type"], fields["Status"], summary, allocations)


_COMMAND_HEADING = re.compile(r"^(?:[A-Z][a-z]+ commands|Subcommands):$")
_COMMAND_LINE = re.compile(r"^\s+([a-z][a-z0-9-]*)\s{2,}\S")


def cli_commands(text: str) -> set[str]:
    """The (sub)commands a HashiCorp-style ``-help`` lists under ``Common commands:``,
    ``Other commands:`` or ``Subcommands:`` (nomad, consul: ``name   description`` lines)."""
    commands: set[str] = set()
    listing = False
    for line in text.splitlines():
        if _COMMAND_HEADING.match(line.strip()):
            listing = True
        elif listing and (m := _COMMAND_LINE.match(line)):
            commands.add(m.group(1))
        elif line.strip():
            listing = False
    if not commands:
        raise _fail("'Subcommands:' or '... commands:' followed by '  name   description' lines",
                    (_lines(text) or [None])[0])
    return commands


# ----------------------------------------------------------------------------- inside containers

_NSLOOKUP_ANSWER = re.compile(r"^Address(?: \d+)?:\s+(\d+\.\d+\.\d+\.\d+)$")


def busybox_nslookup(text: str) -> list[IPv4Address]:
    """IPv4 answers of BusyBox ``nslookup NAME``: the ``Address:`` lines after a ``Name:``
    (the first ``Address:`` is the server's own, ``127.0.0.11:53`` in a Docker network).
    ``** server can't find NAME: NXDOMAIN`` gives ``[]``; text without a ``Server:`` line raises."""
    lines = _lines(text)
    if not lines or not lines[0].startswith("Server:"):
        raise _fail("'Server: <address>' first (BusyBox nslookup)", lines[0] if lines else None)
    answers: list[IPv4Address] = []
    named = False
    for line in lines[1:]:
        if line.startswith("Name:"):
            named = True
        elif named and (m := _NSLOOKUP_ANSWER.match(line.strip())):
            answers.append(IPv4Address(m.group(1)))
    return answers


@dataclass(frozen=True)
class HttpResponse:
    status: int
    reason: str
    headers: dict[str, str]
    body: str


_STATUS_LINE = re.compile(r"^HTTP/\d\.\d (\d{3})(?: (.*))?$")


def http_response(text: str) -> HttpResponse:
    """A raw HTTP/1.x response (what ``nc`` prints for a hand-written request): status line,
    headers up to the blank line, then the body. An empty text (nothing answered) raises."""
    head, separator, body = text.replace("\r\n", "\n").partition("\n\n")
    lines = head.splitlines()
    status = _STATUS_LINE.match(lines[0]) if lines else None
    if not status or not separator:
        raise _fail("'HTTP/1.x NNN reason', headers and a blank line (an HTTP response)",
                    lines[0] if lines else None)
    headers = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            raise _fail("'Name: value' header lines", line)
        headers[name.strip().lower()] = value.strip()
    return HttpResponse(int(status.group(1)), status.group(2) or "", headers, body)
