"""The suite may only reach loopback; prove the guard is armed."""

from __future__ import annotations

import socket

import pytest
import pytest_socket


def test_guard_is_armed_for_every_test() -> None:
    assert socket.socket.connect is not pytest_socket._true_connect


@pytest.mark.filterwarnings("ignore:A test tried to use socket:UserWarning")
def test_non_loopback_connection_is_refused_before_any_packet() -> None:
    # The guard raises inside connect() before the system call, so nothing leaves the machine.
    assert socket.socket.connect is not pytest_socket._true_connect
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with sock, pytest.raises(pytest_socket.SocketConnectBlockedError):
        sock.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed


def test_loopback_connection_is_allowed() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname()) as client:
            assert client.getpeername() == server.getsockname()
