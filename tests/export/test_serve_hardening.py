"""bert_tf.serve against hostile clients on 127.0.0.1: stalled bodies, too many connections,
deep nesting, lone surrogates, odd Content-Length values; and bad --host/--port caught before
the model loads. Every loop here is bounded in count and time."""

import socket
import subprocess
import sys
import threading
import time

import pytest

from export.conftest import MAX_CONNECTIONS, READ_TIMEOUT_S, _assert_serving, _post, _raw


def test_a_stalled_body_gets_408_after_the_read_timeout(server, tiny_model):
    started = time.monotonic()
    status, reply = _post(server, b"{}", content_length="100")  # says 100, sends 2
    waited = time.monotonic() - started
    assert status == 408 and "Content-Length 100" in reply["error"]
    assert READ_TIMEOUT_S * 0.9 <= waited < READ_TIMEOUT_S + 5
    _assert_serving(server, tiny_model)


def test_connections_over_the_cap_get_503_and_the_server_recovers(start_server, tiny_model):
    server = start_server(read_timeout=30.0)  # the held slots stay held while we knock
    idle = [socket.create_connection(("127.0.0.1", server), timeout=10)
            for _ in range(MAX_CONNECTIONS)]
    try:
        for sock in idle:  # half a request each: every slot is now held
            sock.sendall(b"POST /predict HTTP/1.1\r\n")
        time.sleep(0.2)
        busy = [_raw(server, b"GET /health HTTP/1.1\r\n\r\n") for _ in range(5)]
        assert all(status == 503 for status, _ in busy)
        assert "too many connections" in busy[0][1]["error"]
        assert threading.active_count() < 40  # no thread per refused connection
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + 20
    while True:  # the held slots come back once their clients close
        try:
            _assert_serving(server, tiny_model)
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.parametrize("body, length, status, says", [
    (b"[" * 5000, None, 400, "nested too deeply"),
    (b'{"instances": [{"sentence": "\\ud800", "sentence_b": "x"}]}', None, 400, "lone surrogate"),
    (b"{}", "\u00b2", 400, "Content-Length"),
    (b"{}", "-2", 400, "Content-Length"),
    (b"{}", "1e3", 400, "Content-Length"),
    (b"{}", "99999999999999999999", 400, "Content-Length"),
])
def test_hostile_bodies_get_400_and_the_server_keeps_serving(server, tiny_model, body, length,
                                                             status, says):
    got, reply = _post(server, body, content_length=length)
    assert got == status and says in reply["error"]
    _assert_serving(server, tiny_model)


@pytest.mark.parametrize("args, says", [
    (["--port", "99999"], "--port"),
    (["--port", "http"], "--port"),
    (["--host", "no-such-host.invalid"], "--host"),
    (["--max_connections", "0"], "--max_connections"),
    (["--read_timeout", "nan"], "--read_timeout"),
])
def test_bad_host_and_port_fail_in_one_line_before_the_model_loads(tmp_path, args, says):
    # The model folder does not exist: an error about it would mean it was loaded first.
    done = subprocess.run([sys.executable, "-m", "bert_tf.serve", "--model",
                           str(tmp_path / "missing")] + args,
                          capture_output=True, text=True, timeout=120)
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and says in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_a_port_in_use_is_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "bert_tf.serve", "--model",
                               str(tmp_path / "missing"), "--port", str(port)],
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
