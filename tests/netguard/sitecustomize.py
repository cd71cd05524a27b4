"""Network guard for tests: any connection outside loopback fails and is logged.

Put this folder first on PYTHONPATH and set FOLEYFLOW_NETGUARD_LOG to a file:
every Python process started with that environment (the CLI, Prefect's
ephemeral server, its workers) refuses connections and name look-ups that
leave the machine, and appends one line per attempt to the log, so a test can
fail even when the attempt happened in a subprocess and was swallowed there.
"""

import ipaddress
import os
import socket

_LOG = os.environ.get("FOLEYFLOW_NETGUARD_LOG")
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


def _is_local(host) -> bool:
    if host is None:
        return True
    host = host.decode() if isinstance(host, bytes) else str(host)
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _violation(what: str) -> OSError:
    if _LOG:
        with open(_LOG, "a") as fh:
            fh.write(f"{os.getpid()} {what}\n")
    return ConnectionRefusedError(f"netguard: outbound connection blocked: {what}")


if _LOG:
    _connect, _connect_ex, _getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
            raise _violation(f"connect {address}")
        return _connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
            _violation(f"connect_ex {address}")
            return 111
        return _connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if not _is_local(host):
            raise socket.gaierror(socket.EAI_NONAME, str(_violation(f"getaddrinfo {host!r}")))
        return _getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
