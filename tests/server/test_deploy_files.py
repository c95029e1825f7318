"""The cluster deployment recipe (deploy/, issue 16) agrees with the code it deploys.

No container image can be pulled here, so the files are checked as text and YAML against the
real command line: every ``sintonia serve`` flag they use is one ``python -m server.cli serve
--help`` lists and the real parser accepts with those values; the proxy's upstreams are exactly
the workers (names and ports); WebSocket upgrades are forwarded; nothing pins a client to a
worker (no sticky sessions); health checks ask ``/api/health``; every ``SINTONIA_*`` variable
named is one the server reads.
"""

from __future__ import annotations

import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from server.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
NGINX = DEPLOY / "nginx.conf"
UNIT = DEPLOY / "systemd" / "sintonia@.service"
NGINX_SYSTEMD = DEPLOY / "systemd" / "nginx-sintonia.conf"
CADDY_SYSTEMD = DEPLOY / "systemd" / "Caddyfile"
ENV_EXAMPLE = DEPLOY / "systemd" / "sintonia.env.example"
DOC = ROOT / "docs" / "deploy-cluster.md"


@cache
def _serve_flags() -> frozenset[str]:
    """Long options of ``sintonia serve``, read from its real ``--help``."""
    out = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve", "--help"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=120,
    ).stdout
    return frozenset(re.findall(r"(?<![\w-])--[a-z][a-z-]*", out))


def _check_serve_args(args: list[str]) -> None:
    """Every flag exists in ``serve --help`` and the real parser accepts the arguments."""
    assert args[0] == "serve", args
    flags = {a.split("=", 1)[0] for a in args if a.startswith("--")}
    unknown = flags - _serve_flags()
    assert not unknown, f"flags not in `sintonia serve --help`: {sorted(unknown)}"
    parsed = build_parser().parse_args(args)  # SystemExit on a bad value
    assert parsed.func.__name__ == "_serve"


def _flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def _upstreams(conf: str) -> list[str]:
    block = re.search(r"upstream\s+(\w+)\s*\{(.*?)\}", conf, re.S)
    assert block is not None, "no upstream block"
    return re.findall(r"^\s*server\s+(\S+?)(?:\s[^;]*)?;", block.group(2), re.M)


def _code(conf: str) -> str:
    """The configuration without its comments."""
    return "\n".join(line.split("#", 1)[0] for line in conf.splitlines())


def _check_nginx(conf: str) -> None:
    """WebSocket upgrade forwarded, no stickiness, the upstream used, the Host header kept."""
    name = re.search(r"upstream\s+(\w+)", conf)
    assert name is not None
    assert re.search(rf"proxy_pass\s+http://{name.group(1)}\s*;", conf)
    assert re.search(r"proxy_http_version\s+1\.1\s*;", conf)
    assert re.search(r"proxy_set_header\s+Upgrade\s+\$http_upgrade\s*;", conf)
    assert re.search(r"proxy_set_header\s+Connection\s+\$connection_upgrade\s*;", conf)
    assert re.search(
        r"map\s+\$http_upgrade\s+\$connection_upgrade\s*\{[^}]*default\s+upgrade", conf
    )
    assert re.search(r"proxy_set_header\s+Host\s+\$host\s*;", conf)  # --allowed-host checks it
    assert re.search(r"proxy_set_header\s+X-Forwarded-Proto\s+\$scheme\s*;", conf)
    code = _code(conf)
    for sticky in ("ip_hash", "sticky", "hash "):
        assert sticky not in code, f"{sticky!r}: the workers need no sticky sessions"
    assert re.search(r"listen\s+443\s+ssl", code), "TLS ends at the proxy"
    assert "proxy_read_timeout" in code  # live WebSockets outlive nginx's 60 s default


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed in this environment")
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def _workers(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose["services"]
    return {
        name: svc
        for name, svc in services.items()
        if isinstance(svc.get("command"), list) and svc["command"][:1] == ["serve"]
    }


def test_compose_runs_postgres_redis_a_proxy_and_two_or_more_workers(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert {"postgres", "redis", "nginx"} <= set(services)
    workers = _workers(compose)
    assert len(workers) >= 2
    for name, svc in workers.items():
        args = [str(a) for a in svc["command"]]
        _check_serve_args(args)
        assert _flag(args, "--database-url").startswith("postgresql+psycopg://"), name
        assert _flag(args, "--database-url").split("@", 1)[1].startswith("postgres:")
        assert _flag(args, "--broker-url").startswith("redis://redis:"), name
        assert "--proxy-headers" in args
        assert "--allow-remote" in args
        volumes = svc.get("volumes", [])
        assert any(str(v).endswith(":/var/lib/sintonia") for v in volumes), name
        assert svc["environment"]["SINTONIA_DATA_DIR"] == "/var/lib/sintonia"
    # the workers share one data directory (one access token)
    assert len({tuple(svc["volumes"]) for svc in workers.values()}) == 1


def test_compose_trusts_forwarded_headers_from_the_proxy_address_only(
    compose: dict[str, Any],
) -> None:
    nginx = compose["services"]["nginx"]
    (net, conf), *_ = nginx["networks"].items()
    proxy_ip = conf["ipv4_address"]
    subnet = compose["networks"][net]["ipam"]["config"][0]["subnet"]
    assert proxy_ip.rsplit(".", 1)[0] == subnet.split("/")[0].rsplit(".", 1)[0]
    for name, svc in _workers(compose).items():
        args = [str(a) for a in svc["command"]]
        assert _flag(args, "--forwarded-allow-ips") == proxy_ip, name
        assert svc["networks"] == [net], name
        assert "ports" not in svc, f"{name}: only the proxy is published"
    assert [p for p in nginx["ports"]] == ["443:443"]


def test_nginx_upstreams_are_the_compose_workers_on_their_ports(compose: dict[str, Any]) -> None:
    conf = NGINX.read_text()
    _check_nginx(conf)
    expected = {
        f"{name}:{_flag([str(a) for a in svc['command']], '--port')}"
        for name, svc in _workers(compose).items()
    }
    ups = _upstreams(conf)
    assert len(ups) == len(set(ups))
    assert set(ups) == expected
    mounted = compose["services"]["nginx"]["volumes"]
    assert any(str(v).startswith("./nginx.conf:") for v in mounted)


def test_compose_health_checks_ask_api_health_on_the_worker_port(compose: dict[str, Any]) -> None:
    for name, svc in _workers(compose).items():
        port = _flag([str(a) for a in svc["command"]], "--port")
        test = " ".join(str(x) for x in svc["healthcheck"]["test"])
        assert f"http://127.0.0.1:{port}/api/health" in test, name
        assert "database_ok" in test
        assert "broker_ok" in test
    # the health fields the checks read are the ones the API reports
    from server.models import HealthOut

    assert {"database_ok", "broker_ok", "leases_held"} <= set(HealthOut.model_fields)


def test_systemd_unit_runs_serve_with_existing_flags_on_its_instance_port() -> None:
    unit = UNIT.read_text()
    exec_start = re.search(r"^ExecStart=(.*?)(?<!\\)$", unit, re.S | re.M)
    assert exec_start is not None
    argv = exec_start.group(1).replace("\\\n", " ").split()
    assert argv[0].endswith("/sintonia")
    args = argv[1:]
    assert _flag(args, "--port") == "%i"
    _check_serve_args([a.replace("%i", "8761") for a in args])
    assert "Restart=always" in unit
    # SINTONIA_DATABASE_URL and SINTONIA_BROKER_URL come from the environment file
    env = ENV_EXAMPLE.read_text()
    assert re.search(r"^SINTONIA_DATABASE_URL=postgresql\+psycopg://", env, re.M)
    assert re.search(r"^SINTONIA_BROKER_URL=redis://", env, re.M)


def test_systemd_proxies_balance_exactly_the_enabled_instances() -> None:
    unit = UNIT.read_text()
    enable = re.search(r"systemctl enable --now (.*)", unit)
    assert enable is not None
    ports = {m for m in re.findall(r"sintonia@(\d+)", enable.group(1))}
    assert len(ports) >= 2
    nginx = NGINX_SYSTEMD.read_text()
    _check_nginx(nginx)
    assert set(_upstreams(nginx)) == {f"127.0.0.1:{p}" for p in ports}
    caddy = _code(CADDY_SYSTEMD.read_text())
    proxy = re.search(r"reverse_proxy\s+([^{\n]+)\{", caddy)
    assert proxy is not None
    assert set(proxy.group(1).split()) == {f"127.0.0.1:{p}" for p in ports}
    assert re.search(r"health_uri\s+/api/health", caddy)
    assert "lb_policy least_conn" in caddy
    assert "sticky" not in caddy
    assert "cookie" not in caddy


def test_every_sintonia_variable_named_is_read_by_the_server_or_the_benchmark() -> None:
    readers = [*(ROOT / "server").rglob("*.py"), ROOT / "benchmarks" / "cluster.py"]
    source = "\n".join(p.read_text() for p in readers)
    files = [COMPOSE, UNIT, ENV_EXAMPLE, DEPLOY / "Dockerfile", DOC]
    names = {n for f in files for n in re.findall(r"SINTONIA_[A-Z_]+", f.read_text())}
    assert names, "no SINTONIA_ variable at all: the pattern is wrong"
    unknown = {n for n in names if f'"{n}"' not in source}
    assert not unknown, f"variables the server does not read: {sorted(unknown)}"


def test_the_guide_uses_existing_serve_flags_and_names_the_files() -> None:
    doc = DOC.read_text()
    for rel in ("deploy/compose.yaml", "deploy/nginx.conf", "deploy/systemd/sintonia@.service"):
        assert rel in doc, rel
        assert (ROOT / rel).exists(), rel
    flags = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", " ".join(_serve_lines(doc))))
    assert flags, "the guide shows no `sintonia serve` command"
    assert not flags - _serve_flags(), sorted(flags - _serve_flags())


def _serve_lines(doc: str) -> list[str]:
    """The `sintonia serve ...` commands of the guide, continuation lines joined."""
    text = doc.replace("\\\n", " ")
    return [line for line in text.splitlines() if "sintonia serve" in line]
