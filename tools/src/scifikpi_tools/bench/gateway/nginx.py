"""nginx as the reference proxy: the same upstream behind a generated config, in the foreground.

One worker (the gateway has one process too), HTTP/1.1 to a keep-alive upstream pool of 64
connections, the /api/v1 prefix stripped as the gateway strips it, no access log (the gateway
as `make run` configures it writes no line per request either). `keepalive_requests` is raised on
both sides because uvicorn and the gateway never close a keep-alive connection after N requests;
nginx's default (1000) would make it reconnect where the others do not.
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path

from scifikpi_tools.bench.gateway.procs import Server, start

CONFIG = """\
daemon off;
master_process on;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    keepalive_requests 1000000;
    upstream bench_upstream {{
        server 127.0.0.1:{upstream_port};
        keepalive 64;
        keepalive_requests 1000000;
    }}
    server {{
        listen 127.0.0.1:{port};
        location /api/v1/ {{
            proxy_pass http://bench_upstream/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
        }}
    }}
}}
"""


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).is_file()), None
    )


def start_nginx(binary: str, port: int, upstream_port: int, stack: ExitStack) -> Server:
    """nginx on 127.0.0.1:`port` in a temporary prefix that `stack` removes."""
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-nginx-")))
    tmp.chmod(0o755)  # a worker running as `nobody` (nginx started as root) reads from here
    conf = tmp / "nginx.conf"
    conf.write_text(CONFIG.format(tmp=tmp, port=port, upstream_port=upstream_port))
    cmd = [binary, "-p", str(tmp), "-c", str(conf), "-e", str(tmp / "error.log")]
    return start("nginx", cmd, {}, stack)
