"""The real nginx running docker/nginx/nginx.conf in front of two real instances.

What compose would run, minus Docker: the project's nginx configuration, with only
the addresses changed (upstreams, listen port, certificate and pid paths, temp
directories), terminates TLS with a certificate made here by the `openssl` CLI and
proxies to two real server processes sharing one real redis-server. Everything
is checked over HTTPS: a whole checkout, the security headers, the TLS versions,
the body limit, the hidden routes and the session hashing of the upstream.
"""

from __future__ import annotations

import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests import acp_schema
from tests.e2e.server import Server, free_port, running_server
from tests.redis_server import RedisServer, redis_server
from tests.waiting import poll

pytestmark = pytest.mark.slow

NGINX_CONF = Path(__file__).resolve().parents[2] / "docker" / "nginx" / "nginx.conf"
VERSION = "2026-04-17"
HEADERS = {"Authorization": "Bearer api_key_demo_123", "API-Version": VERSION}
ADMIN_KEY = "admin_key_nginx_tls_test"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}
INTERNAL_SECRET = "internal-secret-of-the-nginx-test"
MAX_BODY = 1024 * 1024  # client_max_body_size 1m
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
TIMEOUT = 30.0  # per request: generous, the machine may be busy with other suites
ADDRESS = {
    "name": "Jane Doe",
    "line_one": "1 Market St",
    "city": "San Francisco",
    "state": "CA",
    "country": "US",
    "postal_code": "94105",
}
HTTP2_DIRECTIVE = (1, 25, 1)  # `http2 on;` exists from this nginx version on


# --------------------------------------------------------------------------- the stack


@dataclass
class Stack:
    nginx_url: str
    port: int
    cert: Path
    conf: str  # the configuration nginx runs (the project's, addresses changed)
    instances: tuple[Server, Server]

    def client(self) -> httpx.Client:
        context = ssl.create_default_context(cafile=str(self.cert))
        return httpx.Client(
            base_url=self.nginx_url, headers=HEADERS, verify=context, timeout=TIMEOUT
        )


def tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    assert path, f"{name} missing: scripts/test installs Debian's {name} package"
    return path


def nginx_version(nginx: str) -> tuple[int, ...]:
    result = subprocess.run([nginx, "-v"], capture_output=True, text=True, timeout=30)
    found = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", result.stderr + result.stdout)
    assert found, result.stderr
    return tuple(int(part) for part in found.groups())


def make_certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "server.crt", directory / "server.key"
    result = subprocess.run(
        [
            tool("openssl"),
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode()
    return cert, key


def replace_once(text: str, pattern: str, replacement: str) -> str:
    """One regex substitution that must match exactly once: if the project's
    configuration changes shape, this test says so instead of testing something else."""
    changed, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    assert count == 1, f"{pattern!r} matched {count} times in docker/nginx/nginx.conf"
    return changed


def adapt_config(
    text: str,
    *,
    upstreams: dict[str, int],
    port: int,
    cert: Path,
    key: Path,
    prefix: Path,
    version: tuple[int, ...],
) -> str:
    """The project's nginx.conf with the compose addresses swapped for local ones."""
    for host, upstream_port in upstreams.items():
        text = replace_once(
            text, rf"^(\s*server ){re.escape(host)}:8080\b", rf"\g<1>127.0.0.1:{upstream_port}"
        )
    listen = f"listen 127.0.0.1:{port} ssl"
    if version < HTTP2_DIRECTIVE:  # an older distribution nginx: the same, spelled its way
        text = replace_once(text, r"^\s*http2 on;\n", "")
        listen += " http2"
    text = replace_once(text, r"\blisten 443 ssl\b", listen)
    text = replace_once(text, r"/etc/nginx/certs/server\.crt", str(cert))
    text = replace_once(text, r"/etc/nginx/certs/server\.key", str(key))
    text = replace_once(text, r"^pid [^;]+;", f"pid {prefix / 'nginx.pid'};")
    # Distribution builds compile in temp paths under /var/lib/nginx: use our own.
    temp_paths = "".join(
        f"  {kind}_temp_path {prefix / 'temp' / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return replace_once(text, r"^http \{\n", "http {\n" + temp_paths)


@contextmanager
def running_nginx(conf: Path, prefix: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    nginx = tool("nginx")
    command = [nginx, "-p", str(prefix), "-e", "stderr", "-c", str(conf)]
    checked = subprocess.run([*command, "-t"], capture_output=True, timeout=60)
    assert checked.returncode == 0, checked.stderr.decode()
    log_path = prefix / "nginx.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "-g", "daemon off; error_log stderr;"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_listening(process, port, log_path)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGQUIT)  # graceful: workers finish, then exit
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT)


def wait_listening(process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited with {process.returncode}: {log_path.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nginx did not listen: {log_path.read_text()}")


def instance_env(redis: RedisServer) -> dict[str, str]:
    internal_port = free_port()
    return {
        "REDIS_URL": redis.url,
        "INSTANCE_URL": f"http://127.0.0.1:{internal_port}",
        "INTERNAL_PORT": str(internal_port),
        "INTERNAL_SECRET": INTERNAL_SECRET,
        "ADMIN_API_KEY": ADMIN_KEY,
    }


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with ExitStack() as exits:
        prefix = Path(tempfile.mkdtemp(prefix="acs-nginx-"))
        exits.callback(shutil.rmtree, prefix, True)
        (prefix / "temp").mkdir()  # nginx makes the temp dirs, not their parent
        prefix.chmod(0o755)  # run as root, nginx's workers are `nobody` and use temp/
        redis = exits.enter_context(redis_server())
        first = exits.enter_context(running_server(**instance_env(redis)))
        second = exits.enter_context(running_server(**instance_env(redis)))
        cert, key = make_certificate(prefix)
        port = free_port()
        conf = adapt_config(
            NGINX_CONF.read_text(),
            upstreams={"app1": port_of(first), "app2": port_of(second)},
            port=port,
            cert=cert,
            key=key,
            prefix=prefix,
            version=nginx_version(tool("nginx")),
        )
        conf_path = prefix / "nginx.conf"
        conf_path.write_text(conf)
        exits.enter_context(running_nginx(conf_path, prefix, port))
        result = Stack(f"https://127.0.0.1:{port}", port, cert, conf, (first, second))
        with result.client() as client:
            wait_until(lambda: client.get("/health").status_code == 200, "nginx proxies")
        yield result


def port_of(server: Server) -> int:
    return int(server.base_url.rsplit(":", 1)[1])


def wait_until(condition: Callable[[], bool], what: str, timeout: float = START_TIMEOUT) -> None:
    try:
        poll(condition, timeout, ignoring=(httpx.TransportError,))
    except TimeoutError:
        raise TimeoutError(what) from None


def post_headers() -> dict[str, str]:
    return {"Idempotency-Key": f"idem_{uuid.uuid4().hex}"}


def directive(conf: str, name: str) -> list[str]:
    """The values of every `name ...;` line of the configuration."""
    return re.findall(rf"^\s*{name}\s+([^;]+);", conf, re.MULTILINE)


def security_headers(conf: str) -> dict[str, str]:
    """The `add_header Name "value" always;` lines of the configuration."""
    found = re.findall(r'^\s*add_header\s+(\S+)\s+"([^"]*)"(\s+always)?\s*;', conf, re.MULTILINE)
    assert len(found) == len(re.findall(r"^\s*add_header\b", conf, re.MULTILINE))
    for name, _, always in found:
        assert always, f"add_header {name} without `always`: missing on error answers"
    return {name: value for name, value, _ in found}


def assert_security_headers(stack: Stack, response: httpx.Response) -> None:
    expected = security_headers(stack.conf)
    assert "Strict-Transport-Security" in expected
    for name, value in expected.items():
        assert response.headers.get_list(name) == [value], (name, response.headers)
    assert response.headers["server"] == "nginx"  # server_tokens off: no version


# --------------------------------------------------------------------------- the checkout


def test_a_whole_checkout_over_https(stack: Stack) -> None:
    with stack.client() as client:
        created = client.post(
            "/checkout_sessions",
            headers=post_headers(),
            json={
                "currency": "usd",
                "capabilities": {},
                "line_items": [{"id": "item_123", "quantity": 2}],
            },
        )
        assert created.status_code == 201, created.text
        acp_schema.assert_checkout_session(VERSION, created.json())
        assert created.json()["status"] == "not_ready_for_payment"
        assert_security_headers(stack, created)
        session_id = created.json()["id"]
        path = f"/checkout_sessions/{session_id}"

        addressed = client.post(
            path,
            headers=post_headers(),
            json={"fulfillment_details": {"name": ADDRESS["name"], "address": ADDRESS}},
        )
        assert addressed.status_code == 200, addressed.text
        acp_schema.assert_checkout_session(VERSION, addressed.json())
        assert addressed.json()["status"] == "ready_for_payment"
        options = [o["id"] for o in addressed.json()["fulfillment_options"]]
        assert "shipping_express" in options

        chosen = client.post(
            path,
            headers=post_headers(),
            json={
                "selected_fulfillment_options": [
                    {"type": "shipping", "option_id": "shipping_express", "item_ids": ["item_123"]}
                ]
            },
        )
        assert chosen.status_code == 200, chosen.text
        acp_schema.assert_checkout_session(VERSION, chosen.json())
        assert chosen.json()["status"] == "ready_for_payment"

        read = client.get(path)
        assert read.status_code == 200
        acp_schema.assert_checkout_session(VERSION, read.json())

        completed = client.post(
            f"{path}/complete",
            headers=post_headers(),
            json={
                "payment_data": {
                    "handler_id": "card_tokenized",
                    "instrument": {
                        "type": "card",
                        "credential": {"type": "spt", "token": "tok_test_ok"},
                    },
                }
            },
        )
        assert completed.status_code == 200, completed.text
        body = completed.json()
        acp_schema.assert_checkout_session(VERSION, body)
        assert body["status"] == "completed"
        assert body["order"]["checkout_session_id"] == session_id
        assert_security_headers(stack, completed)
        # Proxied answers keep the app's own headers.
        assert completed.headers["cache-control"] == "no-store"
        assert completed.headers["request-id"]


# --------------------------------------------------------------------------- TLS


def handshake(
    stack: Stack, version: ssl.TLSVersion, port: int | None = None
) -> tuple[str | None, str | None, str | None]:
    """A TLS handshake offering only `version`: (protocol, cipher, ALPN protocol)."""
    context = ssl.create_default_context(cafile=str(stack.cert))
    with warnings.catch_warnings():  # the ssl module deprecates TLS 1.0 and 1.1
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = version
        context.maximum_version = version
    if version < ssl.TLSVersion.TLSv1_2:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the local OpenSSL offer it
    context.set_alpn_protocols(["h2", "http/1.1"])
    with (
        socket.create_connection(("127.0.0.1", port or stack.port), timeout=TIMEOUT) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        cipher = tls.cipher()
        return tls.version(), cipher[0] if cipher else None, tls.selected_alpn_protocol()


def test_tls_1_2_and_1_3_handshakes_succeed_with_http2(stack: Stack) -> None:
    protocol, cipher, alpn = handshake(stack, ssl.TLSVersion.TLSv1_2)
    assert protocol == "TLSv1.2"
    assert cipher in directive(stack.conf, "ssl_ciphers")[0].split(":")
    assert alpn == "h2"  # `http2 on`
    protocol, _, alpn = handshake(stack, ssl.TLSVersion.TLSv1_3)
    assert protocol == "TLSv1.3"
    assert alpn == "h2"


def local_openssl_speaks(stack: Stack, version: ssl.TLSVersion) -> bool:
    """Whether this machine's OpenSSL can do a `version` handshake at all: tried
    against a Python TLS server on loopback that accepts only that version."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(stack.cert, stack.cert.parent / "server.key")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            server.minimum_version = version
            server.maximum_version = version
        server.set_ciphers("DEFAULT:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        return False
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TIMEOUT)

        def serve() -> None:
            try:
                connection, _ = listener.accept()
                with connection, server.wrap_socket(connection, server_side=True):
                    pass
            except OSError:
                pass

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            protocol, _, _ = handshake(stack, version, listener.getsockname()[1])
        except OSError:
            return False
        finally:
            thread.join(timeout=TIMEOUT)
    return protocol is not None


def test_only_tls_1_2_and_1_3_are_configured(stack: Stack) -> None:
    assert set(directive(stack.conf, "ssl_protocols")[0].split()) == {"TLSv1.2", "TLSv1.3"}


@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
def test_tls_before_1_2_is_refused(stack: Stack, version: str) -> None:
    old = ssl.TLSVersion[version]
    if not local_openssl_speaks(stack, old):
        pytest.skip(f"the local OpenSSL cannot offer {version} (ssl_protocols is checked)")
    with pytest.raises(ssl.SSLError):
        handshake(stack, old)
    assert handshake(stack, ssl.TLSVersion.TLSv1_3)[0] == "TLSv1.3"  # nginx still serves


# --------------------------------------------------------------------------- limits, routes


def metric_total(server: Server, name: str, **labels: str) -> float:
    """The sum of `name`'s samples on one instance (scraped directly) matching `labels`."""
    text = httpx.get(f"{server.base_url}/metrics", timeout=TIMEOUT).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def test_a_body_over_1_mib_is_refused_by_nginx(stack: Stack) -> None:
    app_413s = sum(
        metric_total(server, "acs_http_requests_total", status="413") for server in stack.instances
    )
    with stack.client() as client:
        too_big = client.post(
            "/checkout_sessions",
            headers={**post_headers(), "Content-Type": "application/json"},
            content=b" " * (MAX_BODY + 1),
        )
        assert too_big.status_code == 413
        assert too_big.headers["content-type"].startswith("text/html")  # nginx's page
        assert_security_headers(stack, too_big)
        # At the limit nginx passes it on (buffered in its temp directory): the app answers.
        padding = b" " * (MAX_BODY - 2)
        at_limit = client.post(
            "/checkout_sessions",
            headers={**post_headers(), "Content-Type": "application/json"},
            content=b"{" + padding + b"}",
        )
        assert at_limit.status_code == 400, at_limit.text
        acp_schema.assert_error(VERSION, at_limit.json())
    after = sum(
        metric_total(server, "acs_http_requests_total", status="413") for server in stack.instances
    )
    assert after == app_413s  # the oversized body never reached an instance


HIDDEN_ROUTES = {
    "/metrics": ["/metrics", "/metrics?format=text", "/%6Detrics", "/%2Fmetrics"],
    "/internal/sessions/cs_1": ["/internal/sessions/cs_1", "/%69nternal/sessions/cs_1"],
}


@pytest.mark.parametrize("route", sorted(HIDDEN_ROUTES))
def test_internal_routes_are_not_reachable_through_nginx(stack: Stack, route: str) -> None:
    direct = httpx.request(
        "POST" if "internal" in route else "GET",
        f"{stack.instances[0].base_url}{route}",
        timeout=TIMEOUT,
    )
    assert direct.status_code in (200, 403), direct.text  # the instance has the route...
    with stack.client() as client:
        for path in HIDDEN_ROUTES[route]:
            for method in ("GET", "POST"):
                answer = client.request(method, path, content=b"{}")
                # ...the front door answers itself (its HTML page, not the app's JSON)
                assert answer.status_code == 404, (method, path, answer.text)
                assert answer.headers["content-type"].startswith("text/html"), (method, path)
                assert_security_headers(stack, answer)


# --------------------------------------------------------------------------- hashing


def answered_by(stack: Stack) -> list[float]:
    """Per instance: the requests it answered on `/checkout_sessions/<id>` (GET and POST)."""
    return [
        metric_total(server, "acs_http_requests_total", route="/checkout_sessions/<session_id>")
        for server in stack.instances
    ]


def session_actor_hosts(stack: Stack, session_id: str) -> int:
    hosts = 0
    for server in stack.instances:
        listing = httpx.get(
            f"{server.base_url}/admin/actors",
            params={"kind": "session"},
            headers=ADMIN_HEADERS,
            timeout=TIMEOUT,
        )
        assert listing.status_code == 200, listing.text
        hosts += any(actor["id"] == session_id for actor in listing.json()["actors"])
    return hosts


def test_a_sessions_requests_are_hashed_to_one_instance(stack: Stack) -> None:
    """`hash $acs_session_key consistent`: every request naming a session reaches the
    same instance (creates are spread by request id)."""
    reads = 4
    with stack.client() as client:
        for _ in range(4):  # sessions
            created = client.post(
                "/checkout_sessions",
                headers=post_headers(),
                json={"currency": "usd", "capabilities": {}, "line_items": [{"id": "item_123"}]},
            )
            assert created.status_code == 201, created.text
            session_id = created.json()["id"]
            before = answered_by(stack)
            addressed = client.post(
                f"/checkout_sessions/{session_id}",
                headers=post_headers(),
                json={"fulfillment_details": {"name": ADDRESS["name"], "address": ADDRESS}},
            )
            assert addressed.status_code == 200, addressed.text
            for _ in range(reads):
                read = client.get(f"/checkout_sessions/{session_id}")
                assert read.status_code == 200
                acp_schema.assert_checkout_session(VERSION, read.json())
            after = answered_by(stack)
            deltas = sorted(a - b for a, b in zip(after, before, strict=True))
            assert deltas == [0, reads + 1], (session_id, before, after)
            # The actor lives on one instance: the other forwarded to it, or never saw it.
            assert session_actor_hosts(stack, session_id) == 1
